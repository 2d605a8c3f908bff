"""What a scenario will cost to simulate, estimated before anything is allocated.

A scenario file can ask for more than a machine has: a billion orders an hour, a billion
SKUs, a sampling interval of a millisecond over a week. ``estimate(scenario)`` predicts the
expected order lines (the demand integral over the calendar, peaks included), the size of
the per-(location, SKU) and per-(channel, SKU) state, the time-series rows and the memory
all of that takes; ``check_resources`` refuses (``ResourceError``, one line, exit code 2) a
scenario past any limit unless the caller says it really means it (``--allow-large``).

The memory model is deliberately simple and errs high: 8 bytes per state cell times the
number of arrays each cell has across the systems, the strategies' views and the recorders,
plus a per-line cost measured on peak_week (about 8 kB per accepted order line with the
operation history, bus messages and lag samples it drives), plus the time-series rows.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from sim.calendar import DAY, HOUR, Calendar
from sim.fields import MAX_COUNT
from sim.scenario import ScenarioError
from sim.schema import Scenario

__all__ = ["LIMITS", "Estimate", "Limits", "ResourceError", "check_resources", "estimate"]

#: bytes per accepted order line (objects, logs, history, bus messages; measured high)
_PER_LINE = 8_000
#: arrays per (location, SKU) cell: ledger, ERP and WMS records, provenance, views
_PER_LOC_CELL = 40
#: and per (channel, SKU) cell: shown counts, recorders, strategy state
_PER_CHANNEL_CELL = 16
#: per (location, SKU, channel): an event consumer's view of every location
_PER_VIEW_CELL = 8
#: bytes per time-series row and per thinning candidate of one day of demand
_PER_SAMPLE = 150
_PER_CANDIDATE = 40


def _physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        return 16e9


@dataclass(frozen=True)
class Limits:
    """What a run may ask for without ``--allow-large``."""

    memory_bytes: float
    order_lines: float = 20e6
    state_cells: float = 200e6
    samples: float = 50e6


LIMITS = Limits(memory_bytes=0.5 * _physical_memory())


@dataclass(frozen=True)
class Estimate:
    """Expected size of one run of a scenario."""

    order_lines: float
    state_cells: int
    samples: int
    candidates_per_day: float
    memory_bytes: float
    max_units: float = 0.0

    def describe(self) -> str:
        return (
            f"about {_size(self.memory_bytes)} of memory for {self.order_lines:,.0f} expected "
            f"order lines, {self.state_cells:,} SKU x location x channel cells and "
            f"{self.samples:,} time-series rows"
        )


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / 1e3:,.0f} kB"


def estimate(sc: Scenario) -> Estimate:
    """The expected size of one run of ``sc`` (see the module docstring)."""
    d = sc.demand
    cal = Calendar(sc.scenario.start, d.daily_profile, d.weekly_profile, d.peaks)
    T = sc.duration
    hours = np.arange(0.0, T, HOUR)
    widths = np.minimum(hours + HOUR, T) - hours
    mult = cal.multiplier(hours + widths / 2)
    demand_hours = float((mult * widths).sum()) / HOUR  # hours of mean-rate demand
    lines = 0.0
    peak_day = 0.0
    if d.enabled:
        max_mult = max(cal.max_multiplier(a, min(a + DAY, T)) for a in np.arange(0.0, T, DAY))
        for ch in sc.channels:
            lines += ch.orders_per_hour * demand_hours * ch.lines_per_order
            peak_day += max_mult * ch.orders_per_hour * min(T, DAY) / HOUR
    lines += len(d.scripted)
    # the most units one SKU may start with (or be replenished to) at one location, with the
    # whole demand on that SKU: stock is drawn as days of cover of the expected demand
    daily_units = sum(
        ch.orders_per_hour * 24 * ch.lines_per_order * ch.units_per_line for ch in sc.channels
    )
    st, rep = sc.stock, sc.erp.replenishment
    top = max(st.cover_days_high, rep.order_up_to_days if rep.enabled else 0.0, 1.0)
    max_units = float(st.fixed_units) if st.fixed_units is not None else daily_units * top
    n_sku, n_loc, n_ch = sc.catalogue.skus, len(sc.locations), len(sc.channels)
    cells = n_sku * n_loc * max(n_ch, 1)
    series = 10 + 8 * n_ch
    samples = int(math.ceil(T / sc.scenario.sample_interval) + 1) * series
    memory = (
        8.0 * n_sku * (n_loc * _PER_LOC_CELL + n_ch * _PER_CHANNEL_CELL)
        + 8.0 * cells * _PER_VIEW_CELL
        + lines * _PER_LINE
        + samples * _PER_SAMPLE
        + peak_day * _PER_CANDIDATE
    )
    return Estimate(lines, cells, samples, peak_day, memory, max_units)


class ResourceError(ScenarioError):
    """A scenario asks for more than the limits allow; ``str()`` is one line."""


def check_resources(
    sc: Scenario, allow_large: bool = False, source: str = "", limits: Limits = LIMITS
) -> Estimate:
    """``estimate(sc)``, or ``ResourceError`` naming what is too large (unless
    ``allow_large``)."""
    est = estimate(sc)
    where = f"{source or sc.id}: "
    if est.max_units * max(len(sc.locations), 1) > MAX_COUNT:  # not a matter of size: of int64
        raise ResourceError(
            f"{where}stock of one SKU could reach {est.max_units:.3g} units per location "
            f"(days of cover x expected daily units), more than {MAX_COUNT:.0e}; lower "
            "stock.cover_days_high, erp.replenishment.order_up_to_days or the demand"
        )
    if allow_large:
        return est
    hint = "; reduce it or pass --allow-large if you really mean it"
    if est.memory_bytes > limits.memory_bytes:
        raise ResourceError(
            f"{where}would need {est.describe()}, more than the limit of "
            f"{_size(limits.memory_bytes)} (half this machine's memory){hint}"
        )
    if est.order_lines > limits.order_lines:
        raise ResourceError(
            f"{where}{est.order_lines:,.0f} expected order lines, more than the limit of "
            f"{limits.order_lines:,.0f} (hours of simulation){hint}"
        )
    if est.state_cells > limits.state_cells:
        raise ResourceError(
            f"{where}{est.state_cells:,} SKU x location x channel cells, more than the "
            f"limit of {limits.state_cells:,.0f}{hint}"
        )
    if est.samples > limits.samples:
        raise ResourceError(
            f"{where}{est.samples:,} time-series rows (duration / sample_interval x series), "
            f"more than the limit of {limits.samples:,.0f}; raise scenario.sample_interval"
            " or pass --allow-large"
        )
    return est
