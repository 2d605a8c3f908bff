"""Operational signals: what a team's monitoring would chart, counted as the run goes.

The article's dashboards ("sync lag, failed updates by channel, event throughput, and
inventory divergence thresholds") as counters kept per channel and run-wide
(docs/observability.md):

- **failed updates**: inventory writes to a channel (``set_inventory``, ``set_incoming``)
  that did not land, by cause: ``updates_refused`` (answered 4xx/5xx other than 429 and
  504, including items the channel refused one by one, e.g. an unmapped SKU),
  ``updates_throttled`` (429), ``updates_timed_out`` (504: the client gave up) and
  ``updates_dead_lettered`` (given up for good: a bus dead letter or a page a middleware
  parked in its dead-letter queue);
- **API calls and errors**: every completed call of a channel's API (per channel) and of
  every system's (run-wide), and those answered with a status >= 400;
- **reconciliation exceptions**: drift a strategy's reconciler found between what a system
  holds and what it should (``systems.signals.count("reconciliation_exceptions", c)``).

``Signals.count`` is how a strategy reports its own (dead letters it parks, drift it
finds); the world counts the rest (``on_call`` is wired to the operation history, the bus
reports its dead letters). ``RateOf`` and ``RatioOf`` turn the running totals into the
per-interval series of ``sim.recorder.Sampler``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "COUNTERS",
    "FAILED_UPDATES",
    "WRITE_OPS",
    "RateOf",
    "RatioOf",
    "Signals",
]

#: the operations that update a channel's inventory: their failures are failed updates
WRITE_OPS = frozenset({"set_inventory", "set_incoming"})

#: the causes of a failed update, in the order the docs list them
FAILED_UPDATES = (
    "updates_refused",
    "updates_throttled",
    "updates_timed_out",
    "updates_dead_lettered",
)

#: every counter ``Signals`` keeps (per channel and run-wide)
COUNTERS = (*FAILED_UPDATES, "api_calls", "api_errors", "reconciliation_exceptions")

#: counters a strategy may report itself (the rest the world counts)
_REPORTABLE = frozenset({"updates_dead_lettered", "updates_refused", "reconciliation_exceptions"})


class Signals:
    """Running totals of the operational counters, per channel and run-wide.

    ``totals[name]`` has one slot per channel and a last slot for the whole run (which also
    counts what belongs to no channel: the ERP's and the WMS's calls, bus dead letters).
    """

    def __init__(self, channel_names: Sequence[str]) -> None:
        self.n_channels = len(channel_names)
        self._channel_of = {f"channel/{name}": c for c, name in enumerate(channel_names)}
        self.totals: dict[str, np.ndarray] = {
            name: np.zeros(self.n_channels + 1) for name in COUNTERS
        }
        self.erp_calls = 0
        self.erp_errors = 0

    def count(self, name: str, channel: int | None = None, n: float = 1.0) -> None:
        """Add ``n`` to counter ``name`` of ``channel`` (an index; ``None``: run-wide only).

        Strategies may report ``reconciliation_exceptions`` (drift found by a reconciler),
        ``updates_dead_lettered`` (updates parked for good) and ``updates_refused`` (items
        a reply refused one by one); anything else is a ``ValueError``."""
        if name not in _REPORTABLE:
            raise ValueError(
                f"signal {name!r} is not one a strategy reports: {', '.join(sorted(_REPORTABLE))}"
            )
        self._add(name, channel, n)

    def _add(self, name: str, channel: int | None, n: float) -> None:
        arr = self.totals[name]
        if channel is not None:
            if not 0 <= channel < self.n_channels:
                raise ValueError(f"signal {name!r}: no channel {channel}")
            arr[channel] += n
        arr[-1] += n

    def on_call(self, system: str, f: str, status: int) -> None:
        """A call completed (the operation history's listener): ``system`` is ``erp``,
        ``wms`` or ``channel/<name>``; anything else (the bus) is not an API call."""
        c = self._channel_of.get(system)
        if c is None:
            if system == "erp":
                self.erp_calls += 1
                self.erp_errors += status >= 400
            elif system != "wms":
                return
        totals = self.totals
        calls = totals["api_calls"]
        calls[-1] += 1
        if c is not None:
            calls[c] += 1
        if status < 400:
            return
        errors = totals["api_errors"]
        errors[-1] += 1
        if c is None:
            return
        errors[c] += 1
        if f in WRITE_OPS:
            cause = (
                "updates_throttled"
                if status == 429
                else "updates_timed_out"
                if status == 504
                else "updates_refused"
            )
            totals[cause][c] += 1
            totals[cause][-1] += 1

    def failed(self, slot: int) -> float:
        """Failed updates so far in ``slot`` (a channel; -1: run-wide), every cause."""
        return float(sum(self.totals[k][slot] for k in FAILED_UPDATES))

    def total(self, name: str, slot: int) -> float:
        return float(self.totals[name][slot])

    def metrics(self, slot: int) -> dict[str, float]:
        """The run's totals for ``slot`` as metrics (``SIGNAL_KEYS`` of ``sim.metrics``,
        but the divergence threshold's, which ``sim.recorder`` keeps)."""
        t = self.totals
        calls = t["api_calls"][slot]
        out = {k: float(t[k][slot]) for k in FAILED_UPDATES}
        out["failed_updates"] = self.failed(slot)
        out["api_error_rate"] = float(t["api_errors"][slot] / calls) if calls else 0.0
        out["reconciliation_exceptions"] = float(t["reconciliation_exceptions"][slot])
        return out


class RateOf:
    """Events per minute over the interval since the previous call, from a running total
    (a count only grows between samples: the difference is exact, not an instant read)."""

    __slots__ = ("_t", "_v", "env", "total")

    def __init__(self, env: Any, total: Callable[[], float]) -> None:
        self.env = env
        self.total = total
        self._t = float(env.now)
        self._v = total()

    def __call__(self) -> float:
        now, v = float(self.env.now), self.total()
        dt = now - self._t
        rate = (v - self._v) * 60.0 / dt if dt > 0 else float("nan")
        self._t, self._v = now, v
        return rate


class RatioOf:
    """The ratio of two running totals' increments since the previous call (errors per
    call); NaN when the denominator did not move (no calls: no error rate)."""

    __slots__ = ("_d", "_n", "den", "num")

    def __init__(self, num: Callable[[], float], den: Callable[[], float]) -> None:
        self.num, self.den = num, den
        self._n, self._d = num(), den()

    def __call__(self) -> float:
        n, d = self.num(), self.den()
        dn, dd = n - self._n, d - self._d
        self._n, self._d = n, d
        return dn / dd if dd > 0 else float("nan")
