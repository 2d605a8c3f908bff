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

``time_to_recovery`` (DESIGN §8): after the last fault ends, the time until the run-wide
divergence is back within the strategy's no-fault band for three samples in a row. The band
comes from a no-fault run of the same scenario and seed when one is given (common random
numbers make the two comparable sample by sample), else from the samples before the first
fault. NaN when it never comes back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.checks import GRACE
from sim.history import QueueRecord, total_queue

__all__ = ["divergence_series", "liveness_checks", "loss_allowed", "time_to_recovery"]

HOLD = 3  # samples in a row within the band


def loss_allowed(scenario: Any) -> str | None:
    """Why the scenario makes message loss legitimate, or None if it does not."""
    bus = scenario.bus
    if bus.durable:
        return None
    if bus.loss_rate > 0:
        return f"non-durable bus with loss_rate {bus.loss_rate:g}"
    if any(f.kind == "bus_loss" for f in scenario.faults):
        return "non-durable bus with a bus_loss fault"
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


def divergence_series(world: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = [
        (t, v) for t, ch, s, v in world.sampler.rows if ch == "*" and s == "divergence_mean_abs"
    ]
    if not rows:
        return np.zeros(0), np.zeros(0)
    t, v = zip(*rows, strict=True)
    return np.asarray(t, float), np.asarray(v, float)


def time_to_recovery(world: Any, baseline: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    windows = world.faults.windows()
    if not windows:
        return 0.0
    first = min(s for s, _ in windows)
    last = max(e for _, e in windows)
    t, v = divergence_series(world)
    if baseline is not None and baseline[0].size == t.size:
        b = baseline[1]
        band = b * 1.2 + 0.02 * max(float(b.mean()), 1e-6)
    else:
        pre = v[t < first]
        level = float(np.quantile(pre, 0.95)) if pre.size >= 3 else float(np.median(v))
        band = np.full(v.shape, level * 1.2 + 1e-9)
    within = v <= band
    for i in np.flatnonzero(t >= last):
        if i + HOLD <= within.size and within[i : i + HOLD].all():
            return float(t[i] - last)
    return float("nan")
