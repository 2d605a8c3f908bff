"""syncsim: a discrete-event testbed for inventory sync between ERP, WMS and sales channels.

The public Python API (notebooks and other tools use these names):

- ``run(scenario, strategy, seed, ...)`` -> ``RunResult`` (``sim.runner``);
- ``run_many(scenario, strategies, seeds)`` -> list of ``RunResult``;
- ``load_scenario(ref, overrides)`` -> ``Scenario`` and ``with_overrides`` (``sim.scenario``);
- ``write_results(dir, results)``, the frames of ``sim.results`` and ``load_runs(dir)``;
- ``write_report(dir)``: ``report.html`` and the PNGs of a results directory (``sim.report``).
"""

from pathlib import Path

from sim.results import (
    lags_frame,
    load_runs,
    per_channel_frame,
    runs_frame,
    summary_frame,
    timeseries_frame,
    write_results,
)
from sim.runner import RunResult, run, run_many
from sim.scenario import ScenarioError, load_scenario, with_overrides
from sim.schema import Scenario

__all__ = [
    "RunResult",
    "Scenario",
    "ScenarioError",
    "lags_frame",
    "load_runs",
    "load_scenario",
    "per_channel_frame",
    "run",
    "run_many",
    "runs_frame",
    "summary_frame",
    "timeseries_frame",
    "with_overrides",
    "write_report",
    "write_results",
]


def write_report(results_dir: str | Path) -> Path:
    """Write ``report.html`` and the PNGs into a results directory; returns the HTML path.
    (``sim.report`` and matplotlib are imported on first use, not with ``sim``.)"""
    from sim.report import write_report as _write_report

    return _write_report(Path(results_dir))
