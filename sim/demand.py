"""Customers: the demand that arrives at each channel.

Order arrivals per channel are a non-homogeneous Poisson process with rate
``orders_per_hour * calendar.multiplier(t)``, sampled by thinning one simulated day at a time
(vectorised: candidates at the day's maximum rate, each kept with probability
rate(t) / max rate). Each order has a geometric number of lines (mean ``lines_per_order``),
each line a SKU drawn by the channel's popularity (Zipf, or the catalogue file's shares) and a
geometric quantity (mean ``units_per_line``; B2B portals set large means); a channel with an
empirical ``lines_law`` or ``units_law`` draws from it instead. A channel's ``hour_of_week``
weights replace the scenario's daily x weekly profile for it. One SimPy timeout per order, no
process per SKU.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sim.calendar import DAY, Calendar
from sim.schema import Channel as ChannelSpec
from sim.schema import CountLaw, Scenario, ScriptedOrder


class Storefront(Protocol):
    """What customers need of a channel: its specification and its counter."""

    name: str
    spec: ChannelSpec

    def place(self, skus: Sequence[int], qtys: Sequence[int]) -> Any:
        """A customer wants ``qtys[i]`` of ``skus[i]``."""


__all__ = [
    "ChannelDemand",
    "Counts",
    "DemandDay",
    "Storefront",
    "channel_demands",
    "customers",
    "draw_day",
    "scripted_customers",
]


class DemandDay:
    """One day of a channel's demand: arrival times and, per order, its lines."""

    __slots__ = ("bounds", "qtys", "skus", "times")

    def __init__(
        self, times: np.ndarray, bounds: np.ndarray, skus: np.ndarray, qtys: np.ndarray
    ) -> None:
        self.times = times
        self.bounds = bounds  # order k has lines bounds[k]:bounds[k+1]
        self.skus = skus
        self.qtys = qtys


def _geometric(rng: np.random.Generator, mean: float, size: int) -> np.ndarray:
    if mean <= 1.0:
        return np.ones(size, np.int64)
    return rng.geometric(1.0 / mean, size).astype(np.int64)


class Counts:
    """A law of whole numbers >= 1: geometric with a mean, or an empirical ``CountLaw``."""

    __slots__ = ("_cdf", "_values", "mean")

    def __init__(self, mean: float, law: CountLaw | None = None) -> None:
        self.mean = law.mean if law is not None else mean
        self._values: np.ndarray | None = None
        self._cdf = np.zeros(0)
        if law is not None:
            self._values = np.asarray(law.values, np.int64)
            cdf = np.cumsum(np.asarray(law.weights, float))
            self._cdf = cdf / cdf[-1]

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self._values is None:
            return _geometric(rng, self.mean, size)
        i = np.searchsorted(self._cdf, rng.random(size), side="right")
        return self._values[np.minimum(i, self._values.size - 1)]


def draw_day(
    rng: np.random.Generator,
    calendar: Calendar,
    start: float,
    end: float,
    orders_per_hour: float,
    lines: Counts,
    units: Counts,
    popularity_cdf: np.ndarray,
) -> DemandDay:
    """Arrivals in [start, end) by thinning, with their lines."""
    base = orders_per_hour / 3600.0
    bound = calendar.max_multiplier(start, end) * base
    n = int(rng.poisson(bound * (end - start))) if bound > 0 else 0
    t = np.sort(rng.uniform(start, end, n))
    if n:
        keep = rng.random(n) * bound < calendar.multiplier(t) * base
        t = t[keep]
    k = t.size
    n_lines = lines.draw(rng, k)
    bounds = np.zeros(k + 1, np.int64)
    np.cumsum(n_lines, out=bounds[1:])
    total = int(bounds[-1])
    u = rng.random(total)
    skus = np.minimum(np.searchsorted(popularity_cdf, u, side="right"), popularity_cdf.size - 1)
    qtys = units.draw(rng, total)
    return DemandDay(t, bounds, skus.astype(np.int64), qtys)


@dataclass(frozen=True)
class ChannelDemand:
    """What one channel's customers are drawn from: its rate, its calendar (the scenario's,
    or its own hour-of-week weights), its SKU popularity and its order-size laws."""

    orders_per_hour: float
    calendar: Calendar
    popularity_cdf: np.ndarray
    lines: Counts
    units: Counts

    def day(self, rng: np.random.Generator, start: float, end: float) -> DemandDay:
        return draw_day(
            rng, self.calendar, start, end, self.orders_per_hour, self.lines, self.units,
            self.popularity_cdf,
        )  # fmt: skip


def channel_demands(
    sc: Scenario, calendar: Calendar, popularity: Sequence[np.ndarray]
) -> list[ChannelDemand]:
    """Each channel's ``ChannelDemand`` (``popularity[c]``: channel c's SKU weights)."""
    out = []
    for ch, weights in zip(sc.channels, popularity, strict=True):
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]
        cal = calendar if ch.hour_of_week is None else calendar.for_week(ch.hour_of_week)
        lines = Counts(ch.lines_per_order, ch.lines_law)
        units = Counts(ch.units_per_line, ch.units_law)
        out.append(ChannelDemand(ch.orders_per_hour, cal, cdf, lines, units))
    return out


def customers(
    env: Any,
    channel: Storefront,
    demand: ChannelDemand,
    rng: np.random.Generator,
    duration: float,
) -> Generator[Any, Any, None]:
    """SimPy process: the customers of one channel, until ``duration``."""
    day_start = 0.0
    while day_start < duration:
        day_end = min(day_start + DAY, duration)
        day = demand.day(rng, day_start, day_end)
        skus = day.skus.tolist()
        qtys = day.qtys.tolist()
        b = day.bounds.tolist()
        for k, t in enumerate(day.times.tolist()):
            yield env.timeout(t - env.now)
            channel.place(skus[b[k] : b[k + 1]], qtys[b[k] : b[k + 1]])
        yield env.timeout(max(0.0, day_end - env.now))
        day_start = day_end


def scripted_customers(
    env: Any, channels: Sequence[Storefront], script: Sequence[ScriptedOrder]
) -> Generator[Any, Any, None]:
    """SimPy process: order lines placed at exact times (from ``demand.scripted``)."""
    by_name = {ch.name: ch for ch in channels}
    for item in sorted(script, key=lambda o: o.at):
        yield env.timeout(max(0.0, item.at - env.now))
        by_name[item.channel].place([item.sku], [item.quantity])
