"""Results on disk: ``results/<run-id>/`` with long-format frames and a manifest.

- ``runs.parquet``: one row per run: scenario, strategy, seed, parameters (``param.*``
  columns and a JSON ``parameters`` column), every metric, ``ok``, ``trace_hash``;
- ``per_channel.parquet``: one row per run and channel;
- ``timeseries.parquet``: scenario, strategy, seed, t, channel (``*`` = run-wide), series, value;
- ``lags.parquet``: the lag distribution of each run per channel (``*`` = all channels) as a
  quantile grid (``sim.assembly.runner.LAG_QUANTILES``): scenario, strategy, seed, channel, n (lag
  samples), q, lag_s; enough for lag CDFs without keeping every sample;
- ``openmetrics/<scenario>.<strategy>.seed<N>.om.gz``: each run's time series as
  OpenMetrics text with simulated timestamps (``sim.tools.openmetrics``);
- ``summary.csv``: per scenario, strategy and metric: n, mean, std and a 95% confidence
  interval across replications (Student t);
- ``manifest.json``: versions, seeds, git commit, command line, and per scenario id its
  ``[costs]`` table (``costs``) for the report's business view and its calendar
  (``calendar``: start date-time, demand peaks, maintenance windows) for the plots' time axes.

Everything is written to a temporary directory first and renamed into place, so a failure
never leaves a half-written results directory.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.assembly.runner import LAG_QUANTILES
from sim.metrics import domain
from sim.tools.openmetrics import write_openmetrics
from sim.tools.outdir import MARKER, OutputError, check_out, discard, new_temp_dir, replace_dir

__all__ = [
    "confidence_interval",
    "history_frame",
    "lags_frame",
    "load_runs",
    "manifest",
    "new_run_dir",
    "per_channel_frame",
    "runs_frame",
    "summary_frame",
    "timeseries_frame",
    "write_results",
]


def confidence_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Two-sided Student-t interval for the mean; degenerate (mean, mean) for n < 2."""
    x = np.asarray(values, float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    mean = float(x.mean())
    if x.size < 2:
        return mean, mean
    from scipy.special import stdtrit  # Student t quantile; imported when first needed

    half = float(stdtrit(x.size - 1, 0.5 + level / 2) * x.std(ddof=1) / np.sqrt(x.size))
    return mean - half, mean + half


def _param_columns(rows: list[dict[str, Any]]) -> None:
    keys = {k for r in rows for k in r if k.startswith("param.")}
    for k in keys:
        vals = [r.get(k) for r in rows]
        numeric = all(v is None or isinstance(v, int | float) for v in vals)
        if not numeric:
            for r in rows:
                if r.get(k) is not None:
                    r[k] = str(r[k])


def runs_frame(results: Iterable[Any]) -> pd.DataFrame:
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "scenario": r.scenario,
            "strategy": r.strategy,
            "seed": r.seed,
            "sim_seconds": r.sim_seconds,
            "parameters": json.dumps(r.parameters, sort_keys=True, default=str),
        }
        for k, v in r.parameters.items():
            row[f"param.{k}"] = v
        row.update(r.metrics)
        row["faults"] = json.dumps(getattr(r, "faults", []))
        row["ok"] = r.ok
        row["error"] = getattr(r, "error", "")
        row["trace_hash"] = r.trace_hash
        rows.append(row)
    _param_columns(rows)
    return pd.DataFrame(rows)


def per_channel_frame(results: Iterable[Any]) -> pd.DataFrame:
    rows = []
    for r in results:
        for ch, m in r.per_channel.items():
            rows.append(
                {"scenario": r.scenario, "strategy": r.strategy, "seed": r.seed, "channel": ch, **m}
            )
    return pd.DataFrame(rows)


def timeseries_frame(results: Iterable[Any]) -> pd.DataFrame:
    frames = []
    for r in results:
        if not r.timeseries:
            continue
        t, ch, series, value = zip(*r.timeseries, strict=True)
        frames.append(
            pd.DataFrame(
                {
                    "scenario": r.scenario,
                    "strategy": r.strategy,
                    "seed": r.seed,
                    "t": t,
                    "channel": ch,
                    "series": series,
                    "value": value,
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["scenario", "strategy", "seed", "t", "channel", "series", "value"]
        )
    return pd.concat(frames, ignore_index=True)


def lags_frame(results: Iterable[Any]) -> pd.DataFrame:
    """Long format: one row per run, channel and quantile q of the run's lag samples."""
    rows = [
        (r.scenario, r.strategy, r.seed, ch, n, q, lag)
        for r in results
        for ch, (n, values) in getattr(r, "lags", {}).items()
        if values  # a channel without lag samples has no distribution
        for q, lag in zip(LAG_QUANTILES, values, strict=True)
    ]
    cols = ["scenario", "strategy", "seed", "channel", "n", "q", "lag_s"]
    return pd.DataFrame(rows, columns=cols)


def history_frame(results: Iterable[Any]) -> pd.DataFrame | None:
    """Operation histories of the runs that kept one, with the run's keys."""
    frames = [
        r.history.assign(scenario=r.scenario, strategy=r.strategy, seed=r.seed)
        for r in results
        if getattr(r, "history", None) is not None
    ]
    return pd.concat(frames, ignore_index=True) if frames else None


_ID_COLUMNS = {
    "scenario",
    "strategy",
    "seed",
    "sim_seconds",
    "parameters",
    "ok",
    "trace_hash",
    "faults",
}


def summary_frame(runs: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Long summary: one row per scenario, strategy, grid values (a sweep's ``sweep.*``
    columns: two grid values are never pooled) and numeric metric. The interval is a t
    interval clipped to the metric's domain (``sim.metrics.domain``), empty (NaN) for one
    replication."""
    metric_cols = [
        c
        for c in runs.columns
        if c not in _ID_COLUMNS
        and not c.startswith("param.")
        and pd.api.types.is_numeric_dtype(runs[c])
        and not pd.api.types.is_bool_dtype(runs[c])
    ]
    grid = [c for c in runs.columns if c.startswith("sweep.")]  # a sweep's grid values
    metric_cols = [c for c in metric_cols if c not in grid and c != "run_id"]
    rows = []
    keys = ["scenario", "strategy", *grid]
    for key, g in runs.groupby(keys, sort=False, dropna=False):
        scenario, strategy, *values = key
        for m in metric_cols:
            x = g[m].to_numpy(float)
            x = x[~np.isnan(x)]
            if x.size == 0:
                continue  # a metric another strategy reports
            lo, hi = confidence_interval(x, level) if x.size > 1 else (np.nan, np.nan)
            d_lo, d_hi = domain(m)
            rows.append(
                {
                    "scenario": scenario,
                    "strategy": strategy,
                    **dict(zip(grid, values, strict=True)),
                    "metric": m,
                    "n": int(x.size),
                    "mean": float(x.mean()),
                    "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
                    "ci95_low": max(lo, d_lo) if x.size > 1 else lo,
                    "ci95_high": min(hi, d_hi) if x.size > 1 else hi,
                }
            )
    return pd.DataFrame(rows)


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def manifest(results: Sequence[Any], command: Sequence[str] | None = None) -> dict[str, Any]:
    """The manifest of a results folder: syncsim's marker (``sim.tools.outdir``), versions, seeds,
    git commit, command line and every run's trace hash."""
    return {
        "syncsim": MARKER,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": list(command if command is not None else sys.argv),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "versions": {
            d: _version(d) for d in ("syncsim", "simpy", "numpy", "pandas", "pyarrow", "pydantic")
        },
        "scenarios": sorted({r.scenario for r in results}),
        "strategies": list(dict.fromkeys(r.strategy for r in results)),
        "seeds": sorted({r.seed for r in results}),
        "costs": {r.scenario: r.costs for r in results if getattr(r, "costs", None) is not None},
        "calendar": {r.scenario: r.calendar for r in results if getattr(r, "calendar", None)},
        "runs": [
            {
                "scenario": r.scenario,
                "strategy": r.strategy,
                "seed": r.seed,
                "ok": r.ok,
                "trace_hash": r.trace_hash,
            }
            for r in results
        ],
    }


def new_run_dir(root: Path, label: str) -> Path:
    """A fresh ``root/<label>-<timestamp>`` path (not created)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / f"{label}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{label}-{stamp}-{n}"
    return path


def write_results(
    out: Path,
    results: Sequence[Any],
    command: Sequence[str] | None = None,
    extra: Mapping[str, str] | None = None,
    verdict: Any = None,
    manifest_extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write every file for ``results`` into ``out`` atomically; returns ``out``.

    ``out`` follows ``sim.tools.outdir``'s rule: created if new, replaced only if syncsim wrote it
    (and then only syncsim's files are removed), refused otherwise (``OutputError``). A
    failure while writing (a full disk, no permission) raises ``OutputError`` with
    ``usage=False`` and leaves nothing behind. ``extra``: more files (name -> text), written
    with the rest; ``verdict``: a ``sim.tools.decide.Verdict``, written as ``verdict.json``;
    ``manifest_extra``: more keys for ``manifest.json`` (a live run's facts)."""
    out = check_out(Path(out))
    try:
        tmp = new_temp_dir(out)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the results folder ({exc.strerror})") from None
    try:
        runs = runs_frame(results)
        runs.to_parquet(tmp / "runs.parquet", index=False)
        per_channel_frame(results).to_parquet(tmp / "per_channel.parquet", index=False)
        timeseries_frame(results).to_parquet(tmp / "timeseries.parquet", index=False)
        lags_frame(results).to_parquet(tmp / "lags.parquet", index=False)
        history = history_frame(results)
        if history is not None:
            history.to_parquet(tmp / "history.parquet", index=False)
        summary_frame(runs).to_csv(tmp / "summary.csv", index=False)
        files = dict(extra or {})
        if verdict is not None:
            files["verdict.json"] = json.dumps(verdict.to_dict(), indent=2)
        for name, text in files.items():
            (tmp / name).write_text(text)
        exported = write_openmetrics(tmp / "openmetrics", results)
        meta = manifest(results, command)
        meta.update(manifest_extra or {})
        meta["files"] = [*sorted(p.name for p in tmp.iterdir()), *exported, "manifest.json"]
        (tmp / "manifest.json").write_text(json.dumps(meta, indent=2))
        replace_dir(tmp, out)
    except OSError as exc:
        discard(tmp)
        raise OutputError(
            f"{out}: could not write results ({exc.strerror or exc}); nothing was written",
            usage=False,
        ) from None
    except BaseException:
        discard(tmp)
        raise
    return out


def load_runs(results_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(Path(results_dir) / "runs.parquet")
