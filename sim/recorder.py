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
same way as ``Divergence``. ``Level`` does it for a count that changes at events (a backlog,
a queue). ``Sampler`` records the time series for plots: every sample is the time-weighted
mean (or the peak) over its interval, computed by differencing those integrals, never an
instant read (an instant read lands on whatever a periodic job just did at that instant).

Peaks (``*_max`` series) are the largest value *held for a positive time* in the interval:
a state that lasts zero simulated time (a transfer wave landing, then the same-instant sync
that undoes it) cannot be sold against, so it is not a peak.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np

from sim.ledger import Ledger

__all__ = [
    "Divergence",
    "LagTracker",
    "Level",
    "MeanOf",
    "RecordAccuracy",
    "Sampler",
    "TracedDivergence",
]

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
    ``threshold``: a pair *breaches* while |shown - true| > threshold units; the number of
    breaching pairs per channel is integrated like the rest (``breach_integral``).
    """

    def __init__(
        self, env: Any, ledger: Ledger, counts: Sequence[np.ndarray], threshold: int = 0
    ) -> None:
        self.env = env
        self.threshold = threshold
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
        self.n_breach = [int((np.abs(self.d[c]) > threshold).sum()) for c in range(n)]
        self.i_breach = [0.0] * n
        self.i_abs = [0.0] * n
        self.i_over = [0.0] * n
        self.i_under = [0.0] * n
        # the largest n_over / n_under held for a positive time since ``take_peaks``
        self.peak_over = [0] * n
        self.peak_under = [0] * n
        self._last = [0.0] * n
        ledger.available_listeners.append(self.on_truth)

    def _advance(self, c: int) -> None:
        now = self.env.now
        dt = now - self._last[c]
        if dt > 0:
            self.i_abs[c] += self.sumabs[c] * dt
            self.i_over[c] += self.n_over[c] * dt
            self.i_under[c] += self.n_under[c] * dt
            self.i_breach[c] += self.n_breach[c] * dt
            self._last[c] = now
            if self.n_over[c] > self.peak_over[c]:
                self.peak_over[c] = self.n_over[c]
            if self.n_under[c] > self.peak_under[c]:
                self.peak_under[c] = self.n_under[c]

    def _set(self, c: int, sku: int, new: int) -> None:
        old = self.d.item(c, sku)
        if new == old:
            return
        self._advance(c)
        self.sumabs[c] += abs(new) - abs(old)
        self.n_over[c] += (new > 0) - (old > 0)
        self.n_under[c] += (new < 0) - (old < 0)
        th = self.threshold
        self.n_breach[c] += (abs(new) > th) - (abs(old) > th)
        self.d[c, sku] = new

    def on_truth(self, loc: int, sku: int) -> None:
        ledger = self.ledger
        bundle = bool(ledger.components) and sku in ledger.components
        free = () if bundle else ledger.free_by_loc(sku)  # once for every channel of ``loc``
        ta_of = self.ta.item
        for c in ledger.channels_of_loc[loc]:
            if bundle:
                ta = ledger.true_available(c, sku)
            else:
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
        th = self.threshold
        self.n_breach[c] += int(
            np.count_nonzero(np.abs(new) > th) - np.count_nonzero(np.abs(old) > th)
        )
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

    def integral(self, c: int) -> tuple[float, float, float]:
        """The integrals over [0, now] of (sum abs, n over, n under) for channel ``c``
        (SKU-seconds): differenced over an interval, the time-weighted means."""
        self._advance(c)
        return self.i_abs[c], self.i_over[c], self.i_under[c]

    def breach_integral(self, c: int) -> float:
        """The integral over [0, now] of the number of channel ``c``'s SKUs with
        |shown - true| > ``threshold`` (SKU-seconds)."""
        self._advance(c)
        return self.i_breach[c]

    def take_peaks(self, c: int) -> tuple[int, int]:
        """The largest (n over, n under) of channel ``c`` held for a positive time since the
        previous call (or the start); starts the next interval."""
        self._advance(c)
        peaks = self.peak_over[c], self.peak_under[c]
        self.peak_over[c] = self.peak_under[c] = 0
        return peaks

    def total_abs(self) -> int:
        """Sum over channels and SKUs of |shown - true_available| now."""
        return sum(self.sumabs)


class TracedDivergence(Divergence):
    """``Divergence`` that also keeps the run-wide step function of the sum over (channel,
    SKU) of |shown - true_available|: ``steps()`` gives (times, values), the value holding
    from each time to the next. Several changes at one instant are coalesced into one step.
    Kept only in runs that need it (runs with faults and their no-fault twins, for
    ``time_to_recovery_s``): the plain class pays nothing for it."""

    def __init__(
        self, env: Any, ledger: Ledger, counts: Sequence[np.ndarray], threshold: int = 0
    ) -> None:
        super().__init__(env, ledger, counts, threshold)
        self._total = sum(self.sumabs)
        self._t = array("d", [float(env.now)])
        self._v = array("d", [float(self._total)])

    def _note(self) -> None:
        total = sum(self.sumabs)
        if total == self._total:
            return
        self._total = total
        now = float(self.env.now)
        if self._t[-1] == now:
            self._v[-1] = total
            if len(self._v) > 1 and self._v[-2] == total:  # back to where it was: no step
                self._t.pop()
                self._v.pop()
        else:
            self._t.append(now)
            self._v.append(total)

    def on_truth(self, loc: int, sku: int) -> None:
        super().on_truth(loc, sku)
        self._note()

    def on_shown(self, c: int, skus: Any) -> None:
        super().on_shown(c, skus)
        self._note()

    def steps(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, values): the run-wide sum of |shown - true| is ``values[i]`` on
        ``[times[i], times[i + 1])``, and ``values[-1]`` from ``times[-1]`` on."""
        return np.frombuffer(self._t, float).copy(), np.frombuffer(self._v, float).copy()


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

    def integral_now(self) -> float:
        """The integral over [0, now] of the fraction of pairs equal (seconds)."""
        now = self.env.now
        self.integral += self.n_equal * (now - self._last)
        self._last = now
        return self.integral / self.eq.size

    def time_weighted(self) -> float:
        now = self.env.now
        area = self.integral_now()
        return area / now if now > 0 else self.fraction_now()


class Level:
    """A count that changes at events (a backlog, a queue), with its time integral and its
    peak: ``add`` at every change; ``integral()`` differenced over an interval and divided by
    its length is the time-weighted mean there; ``take_peak()`` is the largest value held for
    a positive time since the previous call."""

    __slots__ = ("_t", "area", "env", "peak", "value")

    def __init__(self, env: Any, value: int = 0) -> None:
        self.env = env
        self.value = value
        self.area = 0.0  # unit-seconds since the start
        self.peak = 0
        self._t = float(env.now)

    def _advance(self) -> None:
        now = self.env.now
        dt = now - self._t
        if dt > 0:
            self.area += self.value * dt
            if self.value > self.peak:
                self.peak = self.value
            self._t = now

    def add(self, delta: int) -> None:
        now = self.env.now  # ``_advance()``, inline: one call per change, not two
        dt = now - self._t
        if dt > 0:
            self.area += self.value * dt
            if self.value > self.peak:
                self.peak = self.value
            self._t = now
        self.value += delta

    def integral(self) -> float:
        self._advance()
        return self.area

    def take_peak(self) -> int:
        self._advance()
        peak, self.peak = self.peak, 0
        return peak


class MeanOf:
    """The time-weighted mean of a quantity over the time since the previous call, from a
    callable giving its running integral (unit-seconds), divided by ``scale``."""

    __slots__ = ("_area", "_t", "env", "integral", "scale")

    def __init__(self, env: Any, integral: Callable[[], float], scale: float = 1.0) -> None:
        self.env = env
        self.integral = integral
        self.scale = scale
        self._t = float(env.now)
        self._area = integral()

    def __call__(self) -> float:
        now, area = float(self.env.now), self.integral()
        dt = now - self._t
        mean = (area - self._area) / (dt * self.scale) if dt > 0 else float("nan")
        self._t, self._area = now, area
        return mean


Probe = Callable[[], float]


class Sampler:
    """Time series for plots: one sample per ``interval`` of simulated time.

    The sample at time t covers the interval (t - interval, t] and is its time-weighted mean
    (``*_max`` series: the largest value held for a positive time in it); there is no sample
    at t = 0 (it would cover no time), and ``flush`` adds the last, possibly shorter,
    interval when the run ends. ``global_probes`` maps a series name to a callable;
    ``channel_probes`` maps a series name to a callable of the channel index. Each probe is
    called once per sample, at the end of the interval, and returns the value for the
    interval since its previous call (``MeanOf``, ``Level``, ``Divergence.take_peaks``).
    Probes a strategy registers (``systems.probes``) are its own and read as they are.
    A probe that returns NaN had nothing to measure in the interval (an error rate with no
    calls, a lag percentile with no lag): the interval has no row for it.
    Rows are (t, channel, series, value) with channel ``"*"`` for run-wide series.
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
        self.last = float(env.now)  # the end of the last sampled interval

    def sample(self) -> None:
        """One sample for (last, now]; nothing if no time has passed since the last."""
        t = float(self.env.now)
        if t <= self.last:
            return
        rows = self.rows
        for name, probe in self.global_probes.items():
            v = float(probe())
            if v == v:  # NaN: nothing to measure in the interval (no calls, no lags)
                rows.append((t, "*", name, v))
        for c, cname in enumerate(self.channel_names):
            for name, cprobe in self.channel_probes.items():
                v = float(cprobe(c))
                if v == v:
                    rows.append((t, cname, name, v))
        self.last = t

    def flush(self) -> None:
        """Sample the last interval, up to now (the end of the run)."""
        self.sample()

    def run(self) -> Generator[Any, Any, None]:
        while True:
            yield self.env.timeout(self.interval)
            self.sample()
