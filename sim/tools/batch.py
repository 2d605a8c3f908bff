"""``batch_run``: many runs from a notebook in one call (as Mesa's ``batch_run``).

::

    from sim.tools.batch import batch_run

    batch = batch_run(
        "peak_week", ["batch", "event"],
        parameters={"strategies.batch.interval": ["5m", "15m", "30m"]},
        seeds=5, processes=2,
    )
    batch.runs()          # one row per run: grid columns (``grid.<path>``), parameters, metrics

The runs are the product strategies x parameter grid x seeds, planned exactly as a sweep
file plans them (``sim.tools.sweep``: a grid key under ``strategies.<name>.`` varies only
that strategy's runs; every run validated before the first starts), executed by the one
executor (``sim.assembly.executor``: this process, a pool of ``processes``, or Dask with
``scheduler``), with a progress bar unless ``progress=False``. The operation history is
not kept unless ``keep_history=True`` (it is large).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sim.assembly.executor import run_jobs
from sim.assembly.runner import RunResult
from sim.scenario import find_scenario, read_raw
from sim.schema import Scenario
from sim.tools.results import lags_frame, per_channel_frame, runs_frame, timeseries_frame
from sim.tools.sweep import SweepSpec, plan

__all__ = ["BatchResult", "batch_run"]


@dataclass
class BatchResult:
    """The runs of a ``batch_run``, in plan order, with the grid values of each."""

    results: list[RunResult]
    values: list[dict[str, Any]] = field(default_factory=list)

    def runs(self) -> pd.DataFrame:
        """One row per run: ``grid.<path>`` columns, scenario, strategy, seed, ``param.*``,
        every metric (``sim.tools.results.runs_frame``)."""
        frame = runs_frame(self.results)
        if not any(self.values):
            return frame
        grid = pd.DataFrame([{f"grid.{k}": v for k, v in vals.items()} for vals in self.values])
        return pd.concat([grid, frame], axis=1)

    def per_channel(self) -> pd.DataFrame:
        return per_channel_frame(self.results)

    def timeseries(self) -> pd.DataFrame:
        return timeseries_frame(self.results)

    def lags(self) -> pd.DataFrame:
        return lags_frame(self.results)


def _base(scenario: Scenario | str | Path) -> tuple[dict[str, Any], str]:
    if isinstance(scenario, Scenario):
        raw = scenario.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return raw, scenario.id
    path = find_scenario(scenario)
    return read_raw(path), str(path)


def batch_run(
    scenario: Scenario | str | Path,
    strategies: Sequence[Any],
    *,
    parameters: Mapping[str, Sequence[Any]] | None = None,
    seeds: int | Sequence[int] = 5,
    overrides: Mapping[str, Any] | None = None,
    processes: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
    keep_history: bool = False,
    **options: Any,
) -> BatchResult:
    """Run ``strategies`` x the ``parameters`` grid (dotted paths -> lists of values) x
    ``seeds`` (a count from 1, or a list) on ``scenario`` (see the module docstring);
    ``overrides`` apply to every run, ``options`` go to ``run``."""
    raw, source = _base(scenario)
    seed_list = tuple(range(1, seeds + 1)) if isinstance(seeds, int) else tuple(seeds)
    spec = SweepSpec(
        source=source,
        scenario=source,
        strategies=tuple(strategies),
        seeds=seed_list,
        fixed=dict(overrides or {}),
        grid={k: list(v) for k, v in (parameters or {}).items()},
    )
    runs = plan(spec, {"keep_history": keep_history, **options}, base=raw)
    jobs = [dataclasses.replace(r.job, capture_errors=False) for r in runs]
    with Progress(
        TextColumn("[bold]batch_run"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        disable=not progress, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("runs", total=len(jobs))
        results = run_jobs(jobs, processes, lambda i, r: bar.advance(task), scheduler)
    return BatchResult(results, [r.values for r in runs])
