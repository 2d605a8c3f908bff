"""Live metric recorders: exact lag samples and time-weighted integrals kept as the run goes.

``Divergence`` keeps ``true_available(c, s)`` for every channel and SKU up to date on every
truth change, and per channel the sum over SKUs of |shown - true_available| and the number
of SKUs shown above (over) and below (under) the truth, and integrates them over simulated
time each time one of them changes: the time-weighted means are exact, not sampled. It
tells its ``listeners`` which (channel, SKU) pairs' ``true_available`` changed.

``LagTracker`` measures lag by provenance (DESIGN §8), fed by ``Divergence``: every change
of ``true_available(c, s)`` at t0 waits in a queue for (c, s) (a truth change that leaves
what c should show as it was, e.g. a claim ended where stock is in deficit, starts no
clock); the first write to (c, s) whose ``as_of`` is >= t0 takes it out and records
``now - t0``.
Writes are seen in time order, so this is exactly "the first time c shows a value computed
from information that includes the change"; changes still queued at the end were never
propagated. Memory holds only the changes not yet propagated.

``RecordAccuracy`` integrates "ERP on-hand equals physical" over (location, SKU) pairs the
same way as ``Divergence``. ``Sampler`` records the time series for plots.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np

from sim.ledger import Ledger

__all__ = ["Divergence", "LagTracker", "RecordAccuracy", "Sampler"]

_INF = float("inf")
_SCALAR = (int, np.integer)  # a tuple: ``int | np.integer`` builds a new union every call


class LagTracker:
    """Lag of every change of ``true_available(c, s)`` to channel c, measured online.

    Clocks are started by ``on_change`` (wire it to ``Divergence.listeners``) and stopped by
    ``on_write`` (wire it to every channel's write listeners).
    """

    def __init__(self, env: Any, n_channels: int, n_sku: int) -> None:
        self.env = env
        self.n_sku = n_sku
        self.head = np.full((n_channels, n_sku), _INF)  # oldest waiting t0
        self._queues: dict[int, deque[float]] = {}
        self.t0: list[list[float]] = [[] for _ in range(n_channels)]
        self.lag: list[list[float]] = [[] for _ in range(n_channels)]

    def on_change(self, c: int, sku: int) -> None:
        """``true_available(c, sku)`` changed now: start a clock for channel ``c``."""
        now = self.env.now
        key = c * self.n_sku + sku
        q = self._queues.get(key)
        if q is None:
            q = self._queues[key] = deque()
        if not q:
            self.head[c, sku] = now
        q.append(now)

    def on_write(self, c: int, skus: Any, as_of: Any) -> None:
        if isinstance(skus, _SCALAR):
            if self.head.item(c, skus) <= as_of:
                self._take(c, int(skus), float(as_of))
            return
        if len(skus) <= 16:
            head = self.head[c]
            for s, a in zip(skus.tolist(), as_of.tolist(), strict=True):
                if head[s] <= a:
                    self._take(c, s, a)
            return
        hits = np.flatnonzero(self.head[c][skus] <= as_of)
        for i in hits.tolist():
            self._take(c, int(skus[i]), float(as_of[i]))

    def _take(self, c: int, sku: int, as_of: float) -> None:
        q = self._queues[c * self.n_sku + sku]
        now = self.env.now
        t0s, lags = self.t0[c], self.lag[c]
        while q and q[0] <= as_of:
            t0 = q.popleft()
            t0s.append(t0)
            lags.append(now - t0)
        self.head[c, sku] = q[0] if q else _INF

    def samples(self, c: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(t0, lag) of propagated changes and the number never propagated, for ``c``."""
        waiting = sum(len(q) for key, q in self._queues.items() if key // self.n_sku == c)
        return np.asarray(self.t0[c], float), np.asarray(self.lag[c], float), waiting


class Divergence:
    """Exact time-weighted divergence between shown and true availability per channel.

    ``ta`` is ``true_available`` per (channel, SKU), kept current on every truth change;
    ``listeners`` are called ``fn(channel, sku)`` for every pair whose value changed (the
    lag clocks start there), in the order the channels are served by the changed location.
    """

    def __init__(self, env: Any, ledger: Ledger, counts: Sequence[np.ndarray]) -> None:
        self.env = env
        self.ledger = ledger
        self.counts = list(counts)
        self.listeners: list[Callable[[int, int], None]] = []
        self.ta = ledger.true_available_all().astype(np.int64)
        shown = np.stack([np.maximum(c, 0) for c in self.counts])
        self.d = shown - self.ta
        n = len(self.counts)
        self.sumabs = [int(np.abs(self.d[c]).sum()) for c in range(n)]
        self.n_over = [int((self.d[c] > 0).sum()) for c in range(n)]
        self.n_under = [int((self.d[c] < 0).sum()) for c in range(n)]
        self.i_abs = [0.0] * n
        self.i_over = [0.0] * n
        self.i_under = [0.0] * n
        self._last = [0.0] * n
        ledger.available_listeners.append(self.on_truth)

    def _advance(self, c: int) -> None:
        now = self.env.now
        dt = now - self._last[c]
        if dt > 0:
            self.i_abs[c] += self.sumabs[c] * dt
            self.i_over[c] += self.n_over[c] * dt
            self.i_under[c] += self.n_under[c] * dt
            self._last[c] = now

    def _set(self, c: int, sku: int, new: int) -> None:
        old = self.d.item(c, sku)
        if new == old:
            return
        self._advance(c)
        self.sumabs[c] += abs(new) - abs(old)
        self.n_over[c] += (new > 0) - (old > 0)
        self.n_under[c] += (new < 0) - (old < 0)
        self.d[c, sku] = new

    def on_truth(self, loc: int, sku: int) -> None:
        ledger = self.ledger
        free = ledger.free_by_loc(sku)  # once for every channel of ``loc``
        ta_of = self.ta.item
        for c in ledger.channels_of_loc[loc]:
            ta = 0
            for other in ledger.serve[c]:
                ta += free[other]
            if ta != ta_of(c, sku):
                self.ta[c, sku] = ta
                self._set(c, sku, max(0, self.counts[c].item(sku)) - ta)
                for fn in self.listeners:
                    fn(c, sku)

    def on_shown(self, c: int, skus: Any) -> None:
        if isinstance(skus, _SCALAR):
            self._set(c, int(skus), max(0, self.counts[c].item(skus)) - self.ta.item(c, skus))
            return
        if len(skus) <= 16:  # small writes: the scalar path is cheaper than numpy's overhead
            count, ta = self.counts[c].item, self.ta[c].item
            for s in skus.tolist():
                self._set(c, s, max(0, count(s)) - ta(s))
            return
        skus = np.asarray(skus, np.int64)
        if not (skus[1:] > skus[:-1]).all():  # bulk exports come sorted: skip the sort
            skus = np.unique(skus)
        d = self.d[c]
        new = np.maximum(self.counts[c][skus], 0) - self.ta[c][skus]
        old = d[skus]
        if np.array_equal(new, old):
            return
        # SKUs that did not move add the same to both sides: no need to select the moved
        self._advance(c)
        self.sumabs[c] += int(np.abs(new).sum() - np.abs(old).sum())
        self.n_over[c] += int(np.count_nonzero(new > 0) - np.count_nonzero(old > 0))
        self.n_under[c] += int(np.count_nonzero(new < 0) - np.count_nonzero(old < 0))
        d[skus] = new

    def now(self, c: int) -> tuple[float, float, float]:
        """Instantaneous (mean abs, over fraction, under fraction) for channel ``c``."""
        n = self.d.shape[1]
        return self.sumabs[c] / n, self.n_over[c] / n, self.n_under[c] / n

    def integrals(self) -> list[tuple[float, float, float]]:
        """Per channel, the integrals over [0, now] of (sum abs, n over, n under)."""
        for c in range(len(self.counts)):
            self._advance(c)
        return list(zip(self.i_abs, self.i_over, self.i_under, strict=True))


class RecordAccuracy:
    """Time-weighted fraction of (location, SKU) pairs where a record equals physical."""

    def __init__(self, env: Any, physical: np.ndarray, record: np.ndarray) -> None:
        self.env = env
        self.physical = physical
        self.record = record
        self.eq = physical == record
        self.n_equal = int(self.eq.sum())
        self.integral = 0.0
        self._last = 0.0

    def update(self, loc: int, sku: int) -> None:
        new = bool(self.physical[loc, sku] == self.record[loc, sku])
        if new == self.eq[loc, sku]:
            return
        now = self.env.now
        self.integral += self.n_equal * (now - self._last)
        self._last = now
        self.n_equal += 1 if new else -1
        self.eq[loc, sku] = new

    def fraction_now(self) -> float:
        return self.n_equal / self.eq.size

    def time_weighted(self) -> float:
        now = self.env.now
        self.integral += self.n_equal * (now - self._last)
        self._last = now
        return self.integral / (now * self.eq.size) if now > 0 else self.fraction_now()


Probe = Callable[[], float]


class Sampler:
    """Time series for plots: every ``interval`` of simulated time, read every probe.

    ``global_probes`` maps a series name to a callable; ``channel_probes`` maps a series name
    to a callable of the channel index. Rows are (t, channel, series, value) with channel
    ``"*"`` for run-wide series.
    """

    def __init__(
        self,
        env: Any,
        interval: float,
        channel_names: Sequence[str],
        global_probes: dict[str, Probe],
        channel_probes: dict[str, Callable[[int], float]],
    ) -> None:
        self.env = env
        self.interval = interval
        self.channel_names = list(channel_names)
        self.global_probes = global_probes
        self.channel_probes = channel_probes
        self.rows: list[tuple[float, str, str, float]] = []

    def sample(self) -> None:
        t = float(self.env.now)
        rows = self.rows
        for name, probe in self.global_probes.items():
            rows.append((t, "*", name, float(probe())))
        for c, cname in enumerate(self.channel_names):
            for name, cprobe in self.channel_probes.items():
                rows.append((t, cname, name, float(cprobe(c))))

    def run(self) -> Generator[Any, Any, None]:
        while True:
            self.sample()
            yield self.env.timeout(self.interval)
