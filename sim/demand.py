"""Customers: the demand that arrives at each channel.

Order arrivals per channel are a non-homogeneous Poisson process with rate
``orders_per_hour * calendar.multiplier(t)``, sampled by thinning one simulated day at a time
(vectorised: candidates at the day's maximum rate, each kept with probability
rate(t) / max rate). Each order has a geometric number of lines (mean ``lines_per_order``),
each line a SKU drawn by Zipf popularity and a geometric quantity (mean ``units_per_line``;
B2B portals set large means). One SimPy timeout per order, no process per SKU.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, Protocol

import numpy as np

from sim.calendar import DAY, Calendar
from sim.schema import Channel as ChannelSpec
from sim.schema import ScriptedOrder


class Storefront(Protocol):
    """What customers need of a channel: its specification and its counter."""

    name: str
    spec: ChannelSpec

    def place(self, skus: Sequence[int], qtys: Sequence[int]) -> Any:
        """A customer wants ``qtys[i]`` of ``skus[i]``."""


__all__ = ["DemandDay", "Storefront", "customers", "draw_day", "scripted_customers"]


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


def draw_day(
    rng: np.random.Generator,
    calendar: Calendar,
    start: float,
    end: float,
    orders_per_hour: float,
    lines_per_order: float,
    units_per_line: float,
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
    n_lines = _geometric(rng, lines_per_order, k)
    bounds = np.zeros(k + 1, np.int64)
    np.cumsum(n_lines, out=bounds[1:])
    total = int(bounds[-1])
    u = rng.random(total)
    skus = np.minimum(np.searchsorted(popularity_cdf, u, side="right"), popularity_cdf.size - 1)
    qtys = _geometric(rng, units_per_line, total)
    return DemandDay(t, bounds, skus.astype(np.int64), qtys)


def customers(
    env: Any,
    channel: Storefront,
    calendar: Calendar,
    popularity: np.ndarray,
    rng: np.random.Generator,
    duration: float,
) -> Generator[Any, Any, None]:
    """SimPy process: the customers of one channel, until ``duration``."""
    spec = channel.spec
    cdf = np.cumsum(popularity)
    cdf /= cdf[-1]
    day_start = 0.0
    while day_start < duration:
        day_end = min(day_start + DAY, duration)
        day = draw_day(
            rng,
            calendar,
            day_start,
            day_end,
            spec.orders_per_hour,
            spec.lines_per_order,
            spec.units_per_line,
            cdf,
        )
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
