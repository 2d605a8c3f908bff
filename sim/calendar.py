"""Calendar and demand profile: how busy each moment of simulated time is.

Simulated time is seconds since the scenario's ``start`` (a wall-calendar datetime, so that
t = 0 can be a Monday 00:00 or a Friday 18:00). The demand multiplier at time t is::

    daily[hour of day] * weekly[day of week] * product of active peak multipliers

with the daily and weekly weights normalised to mean 1, so a channel's ``orders_per_hour`` is
its long-run mean rate outside peaks. A channel with its own ``hour_of_week`` weights (168, from
Monday 00:00, normalised to mean 1) uses them instead of daily x weekly (``for_week``). The
multiplier is piecewise constant by the hour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from sim.schema import Peak

__all__ = ["Calendar"]

HOUR = 3600.0
DAY = 86400.0


class Calendar:
    """Maps simulated seconds to wall time and to a demand multiplier."""

    def __init__(
        self,
        start: dt.datetime,
        daily: Sequence[float],
        weekly: Sequence[float],
        peaks: Sequence[Peak] = (),
    ) -> None:
        self.start = start
        d = np.asarray(daily, dtype=float)
        w = np.asarray(weekly, dtype=float)
        # the hour-of-week weights, Monday 00:00 first
        self._week = np.outer(w / w.mean(), d / d.mean()).ravel()
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        # seconds from the Monday 00:00 of the start's week to t = 0
        self._offset = (start - midnight).total_seconds() + start.weekday() * DAY
        self._peaks = [(p.start, p.start + p.duration, p.multiplier) for p in peaks]

    def for_week(self, weights: Sequence[float]) -> Calendar:
        """This calendar (start, peaks) with its own 168 hour-of-week weights."""
        out = Calendar.__new__(Calendar)
        out.__dict__.update(self.__dict__)
        wk = np.asarray(weights, dtype=float)
        out._week = wk / wk.mean()
        return out

    def to_datetime(self, t: float) -> dt.datetime:
        return self.start + dt.timedelta(seconds=float(t))

    def multiplier(self, t: np.ndarray) -> np.ndarray:
        """Demand multiplier at each simulated time in ``t`` (vectorised)."""
        week_s = (np.asarray(t, dtype=float) + self._offset) % (7 * DAY)
        hour = (week_s // HOUR).astype(np.int64)
        m = self._week[hour]
        for a, b, mult in self._peaks:
            m = np.where((t >= a) & (t < b), m * mult, m)
        return m

    def max_multiplier(self, a: float, b: float) -> float:
        """An upper bound of the multiplier over [a, b), for thinning."""
        hours = np.arange(np.floor(a / HOUR) * HOUR, b, HOUR)
        if hours.size == 0:
            hours = np.array([a])
        week_s = (hours + self._offset) % (7 * DAY)
        hour = (week_s // HOUR).astype(np.int64)
        bound = float(self._week[hour].max())
        for pa, pb, mult in self._peaks:
            if pa < b and pb > a and mult > 1:
                bound *= mult
        return bound
