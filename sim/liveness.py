"""Liveness and history checks, and recovery after faults.

Safety checks (``sim.checks``) fail a run at once. The checks here ask whether everything
that should have come through did: reported in ``checks["liveness"]`` of every run. Loss
fails a plain run too (``liveness["ok"]`` is part of ``checks["ok"]``): an order handed off
that never reached the ERP, or a bus message a consumer group never got, unless the
scenario makes loss legitimate (a non-durable bus with a loss rate or a ``bus_loss``
fault), in which case ``liveness["loss"]`` reports it and says why it is allowed.
Duplicates are reported, not failed (at-least-once delivery makes them normal);
``syncsim chaos`` and the conformance checker require none of either.

- ``orders``: a total queue from channels to the ERP: every order handed off before
  ``end - grace`` is in the ERP exactly once;
- ``queues``: the strategy's own queues (``strategy.queues()``: each consumer must apply
  every published event once);
- ``erp_imports``: the orders in the ERP lie between those whose import was acknowledged and
  those whose import was attempted (or taken in by a privileged reference);
- ``bus``: per consumer group, messages never delivered (lost at publish, expired, skipped);
- ``loss``: lost orders and lost messages, and whether the scenario allows loss;
- ``faults``: whether each planned fault fired (touched at least one call, message or
  component); reported, not part of ``ok`` (ERP maintenance cannot touch the oracle).

``time_to_recovery`` (DESIGN §8), exact to the event: let D(t) be the run-wide
divergence_mean_abs of the run with faults (a step function: it changes at events) and B(t)
that of its no-fault twin (the same scenario and seed without faults). With w = the
scenario's ``sample_interval``, D_w and B_w are their moving averages over [t - w, t]
(piecewise linear; before t = 0 a step function keeps its initial value). The band at t is
what the strategy shows without faults around that time: ``1.2 x`` the highest B_w within
``ENVELOPE`` (one hour) either side of t, plus a floor, the larger of 2% of B's mean and one
unit on one (channel, SKU) pair. The envelope matters: after a fault the run's state drifts
from its twin's (other orders, other shortages at other moments), so the two are not
comparable instant by instant hours later; a pointwise band made a late random excursion
"the recovery" (batch back within 30 minutes of an ERP window reported 8 hours). The run
has recovered at t_r, the end of the last *excursion* of D_w above the band that counts:
the first one, if it starts within the hour after the last fault (the recovery itself:
effects lag their cause), any later one that
lasts an hour (``DWELL``) or more, and one still going at the end of the run (then the
run has not recovered). A later excursion shorter than an hour is chance, not a relapse:
the two runs have drifted apart, and brief differences between them are noise (on chaos
seed 7 of peak_week a 40-minute blip 3% above the band, a day after the real return, would
otherwise have added a day). ``time_to_recovery_s = t_r - end of the last fault``, with
every crossing solved exactly on its segment (D_w is linear between breakpoints, the band
is taken linear between them), so it is not a multiple of any sample grid. Without a twin
(a strategy passed as an instance) the band is a constant from the part before the first
fault: 1.2 x the time-weighted 95% quantile of D there + the same floor. A run still
outside the band at its end has not recovered: its ``time_to_recovery_s`` is censored at
(end of run - end of the last fault) and the metric ``recovered`` is 0 (1 otherwise, and
for runs without faults).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from sim.checks import GRACE
from sim.history import QueueRecord, total_queue
from sim.recorder import TracedDivergence

__all__ = [
    "Recovery",
    "divergence_steps",
    "envelope",
    "liveness_checks",
    "loss_allowed",
    "moving_average",
    "recovery_time",
    "time_to_recovery",
]

BAND_FACTOR = 1.2  # the band: 20% above the no-fault moving average's envelope ...
BAND_FLOOR = 0.02  # ... plus 2% of its mean over the run (or one unit on one pair, if more)
ENVELOPE = 3600.0  # seconds either side of t over which the no-fault envelope is taken
DWELL = 3600.0  # a later excursion above the band shorter than this is chance, not a relapse
QUANTILE = 0.95  # without a twin: the level of the pre-fault part


def loss_allowed(scenario: Any) -> str | None:
    """Why the scenario makes message loss legitimate, or None if it does not."""
    bus = scenario.bus
    if bus.durable:
        return None
    if bus.loss_rate > 0:
        return f"non-durable bus with loss_rate {bus.loss_rate:g}"
    for f in scenario.faults:
        if f.loses_messages:
            return f"non-durable bus with a {f.kind} fault"
    return None


def liveness_checks(world: Any, strategy: Any, grace: float = GRACE) -> dict[str, Any]:
    led, erp = world.ledger, world.erp
    end = float(world.env.now)
    handed = [o.id for o in led.orders]
    late = {o.id for o in led.orders if o.visible_at > end - grace}  # may still be in flight
    dequeued = [oid for oid, n in erp.intakes.items() for _ in range(n) if oid in erp.imported]
    attempts_failed = erp.import_attempted - erp.import_acknowledged
    recovered = len(attempts_failed & erp.imported)
    orders = total_queue(QueueRecord("orders", handed, dequeued, late, recovered))
    # an ERP intake of an order already there is a duplicate *attempt*, harmless by design
    orders["duplicate_imports"] = orders.pop("duplicated")
    orders["ok"] = orders["lost"] == 0 and orders["unexpected"] == 0
    missing_acked = len(erp.import_acknowledged - erp.imported)
    unexplained = len(erp.imported - erp.import_attempted - erp.privileged)
    imports = {
        "ok": missing_acked == 0 and unexplained == 0,
        "acknowledged": len(erp.import_acknowledged),
        "actual": len(erp.imported),
        "attempted": len(erp.import_attempted | erp.privileged),
        "acknowledged_missing": missing_acked,
        "unexplained": unexplained,
    }
    queues_fn = getattr(strategy, "queues", None)
    queues = {q.name: total_queue(q) for q in (queues_fn() if callable(queues_fn) else [])}
    faults = world.faults.report()
    bus_lost = {name: acc["lost"] for name, acc in world.bus.accounting().items()}
    lost_messages = sum(bus_lost.values()) + sum(q["lost"] for q in queues.values())
    allowed = loss_allowed(world.scenario)
    loss: dict[str, Any] = {
        "ok": (orders["lost"] == 0 and lost_messages == 0) or allowed is not None,
        "lost_orders": orders["lost"],
        "lost_messages": lost_messages,
        "allowed": allowed,
    }
    if not loss["ok"]:
        loss["detail"] = (
            f"{orders['lost']} orders never reached the ERP, {lost_messages} messages never "
            "reached a consumer"
        )
    out: dict[str, Any] = {
        "orders": orders,
        "erp_imports": imports,
        "queues": queues,
        "bus": {"lost": bus_lost},
        "loss": loss,
        "faults": {"ok": all(f["fired"] for f in faults), "planned": faults},
        "history": world.history.counts(),
    }
    # fault coverage is reported, not required: a fault may not apply to a strategy
    out["ok"] = loss["ok"] and orders["unexpected"] == 0 and imports["ok"]
    if not out["ok"]:
        out["detail"] = loss.get("detail") or (
            f"{orders['unexpected']} unexpected orders in the ERP"
            if orders["unexpected"]
            else f"ERP imports outside [acknowledged, attempted]: {imports}"
        )
    return out


Steps = tuple[np.ndarray, np.ndarray]


class Recovery(NamedTuple):
    """``seconds`` after the end of the last fault; ``recovered`` False when censored."""

    seconds: float
    recovered: bool


def divergence_steps(world: Any) -> Steps | None:
    """The run-wide divergence_mean_abs of a finished world as a step function (times,
    values), if the world traced it (``World(trace_divergence=...)``)."""
    div = world.divergence
    if not isinstance(div, TracedDivergence):
        return None
    t, v = div.steps()
    return t, v / div.d.size


def _integral(steps: Steps, x: np.ndarray) -> np.ndarray:
    """The signed integral of a step function from its first time to each ``x`` (before its
    first time it holds its first value); only differences of it are used."""
    t, v = steps
    cum = np.concatenate(([0.0], np.cumsum(v[:-1] * np.diff(t))))
    i = np.clip(np.searchsorted(t, x, side="right") - 1, 0, None)
    return cum[i] + v[i] * (x - t[i])


def moving_average(steps: Steps, w: float, x: np.ndarray) -> np.ndarray:
    """The mean of a step function over [x - w, x], at each ``x`` (exact)."""
    x = np.asarray(x, float)
    return (_integral(steps, x) - _integral(steps, x - w)) / w


def _time_mean(steps: Steps, a: float, b: float) -> float:
    if b <= a:
        return float(steps[1][0])
    ends = np.array([a, b])
    lo, hi = _integral(steps, ends)
    return float((hi - lo) / (b - a))


def _time_quantile(steps: Steps, a: float, b: float, q: float) -> float:
    """The time-weighted ``q`` quantile of a step function over [a, b)."""
    t, v = steps
    if b <= a:
        return float(v[0])
    edges = np.clip(np.concatenate((t, [np.inf])), a, b)
    dur = np.diff(edges)
    keep = dur > 0
    vals, dur = v[keep], dur[keep]
    order = np.argsort(vals, kind="stable")
    cum = np.cumsum(dur[order])
    k = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(vals[order][min(k, vals.size - 1)])


def envelope(x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    """For sorted times ``x``: the largest ``y`` among the points within ``half`` seconds
    either side of each x (a sliding maximum over the points, in C through pandas)."""
    if half <= 0 or x.size == 0:
        return y
    s = pd.Series(y, index=pd.to_datetime(x, unit="s"))
    win = s.rolling(pd.Timedelta(seconds=2 * half), center=True, closed="both").max()
    return win.to_numpy(float)


def recovery_time(
    d: Steps,
    band: Steps | float,
    w: float,
    t_fault: float,
    t_end: float,
    unit: float = 0.0,
    half: float = ENVELOPE,
    dwell: float = DWELL,
) -> Recovery:
    """When the moving average of ``d`` over ``w`` is back within the band for good.

    ``d`` is a step function (times ascending, values); the band is ``BAND_FACTOR`` x the
    envelope (``half`` seconds either side) of the moving average of the step function
    ``band`` over ``w``, plus the larger of ``BAND_FLOOR`` x its time mean over [0, t_end]
    and ``unit``; or a constant. D_w is piecewise linear between the breakpoints (each step
    time, and each step time + w), the band is taken linear between them, so every crossing
    is solved exactly on its segment. An *excursion* is a stretch where D_w is above the
    band; it counts when it is the first one and starts within ``dwell`` of ``t_fault`` (the
    recovery itself: effects lag their cause), lasts ``dwell`` seconds or more, or is still
    going at ``t_end``; shorter ones later are chance (the run has drifted from its twin).
    Returns the time from ``t_fault`` to the end of the last excursion that counts (0 if
    none); censored (``recovered`` False, ``t_end - t_fault``)
    when one is still going at ``t_end``.
    """
    if t_end <= t_fault:
        return Recovery(0.0, False)
    pts = [d[0], d[0] + w]
    if not isinstance(band, float | int):
        pts += [band[0], band[0] + w]
    x = np.unique(np.concatenate([np.asarray(p, float) for p in pts]))
    x = np.concatenate(([t_fault], x[(x > t_fault) & (x < t_end)], [t_end]))
    if isinstance(band, float | int):
        limit = np.full(x.shape, float(band))
    else:
        floor = max(BAND_FLOOR * _time_mean(band, 0.0, t_end), unit)
        # the envelope needs the twin's breakpoints within ``half`` before t_fault too
        bx = np.unique(np.concatenate((band[0], band[0] + w, x)))
        bx = bx[(bx >= t_fault - half) & (bx <= t_end)]
        env = envelope(bx, moving_average(band, w, bx), half)
        limit = BAND_FACTOR * env[np.searchsorted(bx, x)] + floor
    f = moving_average(d, w, x) - limit
    tol = 1e-12 * max(1.0, float(np.abs(limit).max()))
    above = f > tol
    if above[-1]:
        return Recovery(t_end - t_fault, False)
    recovered_at = t_fault
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))  # k: above changes on [x_k, x_k+1]
    start = t_fault if above[0] else None
    for k in edges.tolist():
        f0, f1 = float(f[k]), float(f[k + 1])
        t = float(x[k]) + (f0 - tol) / (f0 - f1) * float(x[k + 1] - x[k])  # the crossing
        t = min(max(t, float(x[k])), float(x[k + 1]))
        if not above[k]:  # an excursion starts
            start = t
        elif start is not None:  # it ends at t
            first = recovered_at == t_fault and start < t_fault + dwell
            if first or t - start >= dwell:
                recovered_at = t
            start = None
    return Recovery(recovered_at - t_fault, True)


def time_to_recovery(world: Any, baseline: Steps | None = None) -> Recovery:
    """``Recovery`` of a finished world with faults (see the module docstring); ``baseline``
    is ``divergence_steps`` of its no-fault twin, if there is one. No faults: (0, True)."""
    windows = world.faults.windows()
    if not windows:
        return Recovery(0.0, True)
    first = min(s for s, _ in windows)
    last = max(e for _, e in windows)
    end = float(world.env.now)
    d = divergence_steps(world)
    if d is None:
        raise ValueError("time_to_recovery needs World(trace_divergence=True)")
    w = float(world.scenario.scenario.sample_interval)
    unit = 1.0 / world.divergence.d.size  # one unit on one (channel, SKU) pair
    if baseline is not None:
        return recovery_time(d, baseline, w, last, end, unit)
    cut = min(first, end)
    level = _time_quantile(d, 0.0, cut, QUANTILE)
    band = BAND_FACTOR * level + max(BAND_FLOOR * _time_mean(d, 0.0, cut), unit)
    return recovery_time(d, band, w, last, end, unit)
