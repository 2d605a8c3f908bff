"""A run's time series as OpenMetrics text, with simulated timestamps (docs/observability.md).

One file per run, ``openmetrics/<scenario>.<strategy>.seed<N>.om.gz`` in the results folder
(gzip: a week of a run is tens of MB of text). Every series of the run's time series
(``sim.recorder.Sampler``: divergence, backlogs, the operational signals of
``sim.signals``, a strategy's own probes) is one gauge family ``syncsim_<series>`` with
labels ``scenario``, ``strategy``, ``seed`` and ``channel`` (``*``: run-wide), one sample
per ``sample_interval`` stamped with calendar time: the scenario's start (UTC when it
names no zone) plus the simulated seconds at the end of the interval the sample covers.

Load a simulated incident into Prometheus with
``gunzip -k FILE.om.gz && promtool tsdb create-blocks-from openmetrics FILE.om DATA_DIR``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["HELP", "exposition", "file_name", "metric_name", "write_openmetrics"]

#: what each built-in series means, with its unit (the HELP line of its family)
HELP: dict[str, str] = {
    "divergence_mean_abs": "mean over SKUs of |shown - true available|, units (interval mean)",
    "divergence_over_frac": "share of SKUs shown above the truth (interval mean)",
    "divergence_under_frac": "share of SKUs shown below the truth (interval mean)",
    "divergence_over_frac_max": "share of SKUs shown above the truth (interval peak)",
    "divergence_under_frac_max": "share of SKUs shown below the truth (interval peak)",
    "divergence_breach_frac": "share of SKUs with |shown - true| above the threshold (mean)",
    "oversold_units": "units oversold since the start (cumulative)",
    "oversold_lines": "order lines oversold since the start (cumulative)",
    "orders_backlog": "orders accepted by a channel and not yet in the ERP (interval mean)",
    "orders_backlog_max": "orders accepted by a channel and not yet in the ERP (peak)",
    "postings_backlog": "WMS movements the ERP has not posted (interval mean)",
    "erp_utilization": "ERP calls in flight / concurrency limit (interval mean)",
    "erp_queue": "ERP calls waiting for a slot (interval mean)",
    "erp_queue_max": "ERP calls waiting for a slot (interval peak)",
    "bus_backlog": "consumer lag: unacknowledged (message, group) pairs (interval mean)",
    "bus_backlog_max": "consumer lag: unacknowledged (message, group) pairs (peak)",
    "record_accuracy": "share of (location, SKU) pairs with ERP on hand = physical (mean)",
    "faults_active": "planned faults active, time-weighted (interval mean)",
    "failed_updates_per_min": "inventory updates that did not land, per minute",
    "updates_refused_per_min": "inventory updates refused (4xx/5xx, items), per minute",
    "updates_throttled_per_min": "inventory updates throttled (429), per minute",
    "updates_timed_out_per_min": "inventory updates timed out (504), per minute",
    "updates_dead_lettered_per_min": "updates dead-lettered (bus or middleware), per minute",
    "api_error_rate": "API calls answered with a status >= 400 / calls completed",
    "erp_error_rate": "ERP API calls answered with a status >= 400 / calls completed",
    "reconciliation_exceptions_per_min": "drift found by a reconciler, per minute",
    "event_throughput_per_min": "bus deliveries (message, group), per minute",
    "backlog_growth_per_min": "change of orders + postings + bus backlogs, per minute",
    "lag_p95_s": "95th percentile of the sync lags completed in the interval, seconds",
}

_BAD = re.compile(r"[^a-zA-Z0-9_:]")
_FILE_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def metric_name(series: str) -> str:
    """The OpenMetrics family name of a series: ``syncsim_`` + the name, any character
    OpenMetrics does not allow replaced by ``_``."""
    return "syncsim_" + _BAD.sub("_", series)


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(v: float) -> str:
    return repr(float(v)) if v == v else "NaN"


def _epoch(start: str) -> float:
    when = dt.datetime.fromisoformat(start) if start else dt.datetime(2026, 11, 23)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def exposition(result: Any) -> str:
    """The OpenMetrics text of one run (a ``RunResult``): one gauge family per series,
    samples in time order within each labelled series, ``# EOF`` last."""
    rows: Sequence[tuple[float, str, str, float]] = result.timeseries
    base = _epoch(getattr(result, "calendar", {}).get("start", ""))
    fixed = (
        f'scenario="{_label(result.scenario)}",strategy="{_label(result.strategy)}",'
        f'seed="{result.seed}"'
    )
    by_series: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for t, channel, series, value in rows:
        by_series.setdefault(series, {}).setdefault(channel, []).append((t, value))
    out: list[str] = []
    for series in sorted(by_series):
        name = metric_name(series)
        out.append(f"# TYPE {name} gauge")
        out.append(f"# HELP {name} {HELP.get(series, 'a strategy probe (systems.probes)')}")
        for channel in sorted(by_series[series]):
            labels = f'{{{fixed},channel="{_label(channel)}"}}'
            for t, value in sorted(by_series[series][channel]):
                out.append(f"{name}{labels} {_number(value)} {base + t:.3f}")
    out.append("# EOF")
    return "\n".join(out) + "\n"


def file_name(result: Any) -> str:
    """``<scenario>.<strategy>.seed<N>.om.gz``, with characters unsafe in file names as
    ``_`` (a ``module:Class`` strategy)."""
    scenario = _FILE_BAD.sub("_", str(result.scenario))
    strategy = _FILE_BAD.sub("_", str(result.strategy))
    return f"{scenario}.{strategy}.seed{result.seed}.om.gz"


def write_openmetrics(folder: Path, results: Iterable[Any]) -> list[str]:
    """One gzip file per run with a time series under ``folder``; the names written,
    relative to ``folder``'s parent (``openmetrics/<file>``). Two runs with the same
    scenario, strategy and seed (parameters differ) get ``-2``, ``-3`` ... suffixes."""
    names: list[str] = []
    taken: set[str] = set()
    for r in results:
        if not r.timeseries:
            continue
        name = file_name(r)
        n = 1
        while name in taken:
            n += 1
            name = f"{file_name(r).removesuffix('.om.gz')}-{n}.om.gz"
        taken.add(name)
        folder.mkdir(exist_ok=True)
        # mtime fixed: the same run gives the same bytes
        with (
            open(folder / name, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh,
        ):
            fh.write(exposition(r).encode())
        names.append(f"{folder.name}/{name}")
    return names
