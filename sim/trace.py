"""Trace-driven demand: a distributor's own order history replayed exactly.

With ``demand.source = "trace"`` the customers are not drawn: every order line of
``[demand.trace] file`` is placed on its channel at its own time, against the scenario's stock,
and the channel's accept rule applies as to synthetic demand (a line the channel cannot sell
becomes a lost sale). The file is CSV or Parquet, one row per order line:

- ``order_id``: lines with the same id (and channel) are one order, placed together;
- ``created``: a timestamp (ISO 8601, all in one time zone or all without one: naive times
  are read on the scenario's clock, ``scenario.start``), or seconds since the scenario start;
- ``channel``: a channel name of the scenario;
- ``sku``: a SKU code of the scenario's catalogue file (``sim.business``), or without one a
  SKU index (0 .. ``catalogue.skus`` - 1);
- ``quantity``: units, a whole number >= 1.

Other columns (customer names, prices) are ignored and never copied. Lines created before the
start or at or after the end of the horizon are left out (and counted). ``scale`` below 1
keeps each order with that probability (thinning); above 1, each order is placed
``floor(scale)`` times plus once more with probability ``scale - floor(scale)``, every added
copy shifted by a uniform time in [-``jitter``, +``jitter``] (superposition: "and at twice
the volume?"). Both draws come from the run's own stream ``demand/trace``.

Bad input is one line naming the file, the row (1 = the header of a CSV, so data starts at 2;
0-based for Parquet) and the column (``TraceError``, a ``ScenarioError``). A file is read once
per process and size/modification time (``load_trace`` caches it).

``synthetic_history(scenario, seed)`` writes down the orders the synthetic generator would
place in a run of that scenario and seed, in this format: replaying it reproduces that run.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.business import CatalogueFile, bad_rows, load_catalogue_file, read_table, sku_indexes
from sim.scenario import ScenarioError
from sim.schema import Scenario, Trace

__all__ = [
    "COLUMNS",
    "TraceError",
    "TraceOrders",
    "load_trace",
    "synthetic_history",
    "trace_customers",
]

COLUMNS = ("order_id", "created", "channel", "sku", "quantity")


class TraceError(ScenarioError):
    """The trace file is wrong; ``str()`` names the file, row and column."""


@dataclass(frozen=True)
class TraceOrders:
    """A trace as arrays, orders in time order: ``times`` (seconds since the scenario start),
    ``channels`` (index), ``bounds`` (order k's lines are ``bounds[k]:bounds[k+1]``),
    ``skus`` and ``qtys`` per line; ``outside`` lines fell outside the horizon."""

    times: np.ndarray
    channels: np.ndarray
    bounds: np.ndarray
    skus: np.ndarray
    qtys: np.ndarray
    outside: int


def _read(path: Path) -> tuple[pd.DataFrame, int]:
    """The frame and the row number of its first data row (2 for CSV, 0 for Parquet)."""
    return read_table(path, "trace", TraceError, {"order_id": str, "channel": str, "sku": str})


def _bad(path: Path, first: int, frame: pd.DataFrame, mask: Any, column: str, what: str) -> None:
    bad_rows(path, first, frame, mask, column, what, TraceError)


def _seconds(path: Path, first: int, frame: pd.DataFrame, start: dt.datetime) -> np.ndarray:
    col = frame["created"]
    if pd.api.types.is_numeric_dtype(col):
        t = col.to_numpy(float)
        _bad(path, first, frame, ~np.isfinite(t), "created", "not a number of seconds")
        return t
    text = col.astype(str)
    offsets = text.str.extract(r"(Z|[+-]\d\d:?\d\d)$")[0]
    aware = offsets.notna()
    if aware.any() and not aware.all():
        _bad(
            path, first, frame, ~aware, "created", "a time without a time zone among times with one"
        )
    if aware.any() and offsets.replace("Z", "+00:00").str.replace(":", "").nunique() > 1:
        norm = offsets.replace("Z", "+00:00").str.replace(":", "")
        _bad(path, first, frame, norm != norm.iloc[0], "created", "a time zone mix")
    parsed = pd.to_datetime(text, errors="coerce", utc=bool(aware.any()), format="ISO8601")
    _bad(path, first, frame, parsed.isna(), "created", "not a timestamp (ISO 8601)")
    if aware.any():
        parsed = parsed.dt.tz_convert(None)
    origin = pd.Timestamp(start.replace(tzinfo=None))
    return ((parsed - origin).dt.total_seconds()).to_numpy(float)


def _integers(path: Path, first: int, frame: pd.DataFrame, column: str, low: int) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | (values != np.floor(values)) | (values < low)
    _bad(path, first, frame, bad, column, f"expected a whole number >= {low}")
    return values.astype(np.int64)


@functools.lru_cache(maxsize=8)
def _load(
    path: str, _stamp: tuple[int, int], start: dt.datetime, duration: float,
    channels: tuple[str, ...], n_sku: int, codes: CatalogueFile | None,
) -> TraceOrders:  # fmt: skip
    p = Path(path)
    frame, first = _read(p)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise TraceError(
            f"{p}: missing column(s) {', '.join(missing)} (a trace needs {', '.join(COLUMNS)})"
        )
    if frame.empty:
        raise TraceError(f"{p}: no order lines")
    frame = frame.reset_index(drop=True)
    _bad(p, first, frame, frame["order_id"].isna(), "order_id", "missing")
    known = {name: i for i, name in enumerate(channels)}
    chan = frame["channel"].map(known)
    _bad(
        p,
        first,
        frame,
        chan.isna(),
        "channel",
        f"not a channel of the scenario ({', '.join(channels)})",
    )
    sku = sku_indexes(p, first, frame, "sku", n_sku, codes, TraceError)
    qty = _integers(p, first, frame, "quantity", 1)
    t = _seconds(p, first, frame, start)
    inside = (t >= 0) & (t < duration)
    lines = pd.DataFrame(
        {"order": frame["order_id"].astype(str).to_numpy(), "channel": chan.to_numpy(np.int64),
         "t": t, "sku": sku, "qty": qty}
    )[inside]  # fmt: skip
    # an order is its lines on one channel; placed at its first line's time, in time order
    keys = lines.groupby(["order", "channel"], sort=False).ngroup().to_numpy()
    lines = lines.assign(key=keys)
    order_t = lines.groupby("key")["t"].transform("min").to_numpy()
    lines = lines.assign(ot=order_t).sort_values(["ot", "key"], kind="stable")
    key = lines["key"].to_numpy()
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.zeros(0, int)
    bounds = np.r_[starts, key.size].astype(np.int64)
    return TraceOrders(
        times=lines["ot"].to_numpy(float)[starts],
        channels=lines["channel"].to_numpy(np.int64)[starts],
        bounds=bounds,
        skus=lines["sku"].to_numpy(np.int64),
        qtys=lines["qty"].to_numpy(np.int64),
        outside=int((~inside).sum()),
    )


def load_trace(sc: Scenario) -> TraceOrders:
    """The scenario's trace as arrays (``TraceError`` for a bad file); cached per file state."""
    trace = sc.demand.trace
    if trace is None:
        raise TraceError('demand.trace: no trace file (demand.source = "trace" needs one)')
    path = Path(trace.file)
    try:
        st = os.stat(path)
        stamp = (st.st_size, st.st_mtime_ns)
    except OSError:
        raise TraceError(f"{path}: trace file not found") from None
    names = tuple(ch.name for ch in sc.channels)
    return _load(
        str(path), stamp, sc.scenario.start, sc.scenario.duration, names, sc.catalogue.skus,
        load_catalogue_file(sc),
    )  # fmt: skip


def _schedule(
    orders: TraceOrders, trace: Trace, rng: np.random.Generator, duration: float
) -> list[tuple[float, int, int]]:
    """(time, channel, order index) of every placement after thinning or superposition."""
    n = orders.times.size
    whole = math.floor(trace.scale)
    extra = trace.scale - whole
    out: list[tuple[float, int, int]] = []
    keep = np.ones(n, bool) if whole >= 1 else rng.random(n) < trace.scale
    for k in np.flatnonzero(keep).tolist():
        out.append((float(orders.times[k]), int(orders.channels[k]), k))
    if trace.scale > 1:
        copies = whole - 1 + (rng.random(n) < extra)
        for k in np.flatnonzero(copies).tolist():
            shifts = rng.uniform(-trace.jitter, trace.jitter, int(copies[k]))
            for d in shifts.tolist():
                t = float(orders.times[k]) + d
                if 0.0 <= t < duration:
                    out.append((t, int(orders.channels[k]), k))
    out.sort(key=lambda x: x[0])
    return out


def trace_customers(
    env: Any,
    channels: Sequence[Any],
    orders: TraceOrders,
    trace: Trace,
    rng: np.random.Generator,
    duration: float,
) -> Generator[Any, Any, None]:
    """SimPy process: the trace's orders placed on their channels at their times."""
    skus, qtys, b = orders.skus.tolist(), orders.qtys.tolist(), orders.bounds.tolist()
    for t, c, k in _schedule(orders, trace, rng, duration):
        yield env.timeout(t - env.now)
        channels[c].place(skus[b[k] : b[k + 1]], qtys[b[k] : b[k + 1]])


def synthetic_history(
    sc: Scenario, seed: int, seconds: bool = False, own: CatalogueFile | None = None
) -> pd.DataFrame:
    """The order lines the synthetic demand places in a run of ``sc`` and ``seed`` (the same
    draws from the same streams as ``World``), as a trace: order_id, created, channel, sku,
    quantity. ``created`` is ISO 8601 on the scenario's clock (to the microsecond), or with
    ``seconds`` the exact seconds since the start: replaying that places the same orders at
    the very same times. ``own``: the catalogue file's content, given in memory instead of
    read from ``catalogue.file``."""
    from sim.calendar import DAY, Calendar
    from sim.demand import channel_demands
    from sim.products import Catalogue
    from sim.rng import Streams

    streams = Streams(seed)
    d = sc.demand
    calendar = Calendar(sc.scenario.start, d.daily_profile, d.weekly_profile, d.peaks)
    own = own if own is not None else load_catalogue_file(sc)
    catalogue = Catalogue(sc.catalogue, streams.stream("catalogue"), own)
    popularity = [catalogue.popularity_of(ch.name) for ch in sc.channels]
    codes = None if catalogue.own is None else np.asarray(catalogue.codes, dtype=object)
    demands = channel_demands(sc, calendar, popularity)
    frames = []
    for ch, demand in zip(sc.channels, demands, strict=True) if d.enabled else ():
        rng = streams.stream(f"demand/{ch.name}")
        day_start = 0.0
        while day_start < sc.scenario.duration:
            day_end = min(day_start + DAY, sc.scenario.duration)
            day = demand.day(rng, day_start, day_end)
            per_order = np.diff(day.bounds)
            ids = np.repeat(np.arange(day.times.size), per_order)
            frames.append(
                pd.DataFrame(
                    {
                        "order_id": [f"{ch.name}-{int(day_start)}-{i}" for i in ids.tolist()],
                        "t": np.repeat(day.times, per_order),
                        "channel": ch.name,
                        "sku": day.skus if codes is None else codes[day.skus],
                        "quantity": day.qtys,
                    }
                )
            )
            day_start = day_end
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    out = pd.concat(frames, ignore_index=True).sort_values("t", kind="stable")
    if seconds:
        created: Any = out["t"]
    else:
        start = pd.Timestamp(sc.scenario.start.replace(tzinfo=None))
        stamps = start + pd.to_timedelta(out["t"], unit="s")
        created = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    out.insert(1, "created", created)
    return out.drop(columns="t").reset_index(drop=True)
