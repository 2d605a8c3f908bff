"""syncsim: a discrete-event testbed for inventory sync between ERP, WMS and sales channels.

The public Python API (notebooks and other tools use these names):

- ``run(scenario, strategy, seed, ...)`` -> ``RunResult`` (``sim.runner``);
- ``run_many(scenario, strategies, seeds)`` -> list of ``RunResult``;
- ``load_scenario(ref, overrides)`` -> ``Scenario`` and ``with_overrides`` (``sim.scenario``);
- ``write_results(dir, results)`` and the frames of ``sim.results``.
"""

from sim.results import runs_frame, summary_frame, timeseries_frame, write_results
from sim.runner import RunResult, run, run_many
from sim.scenario import ScenarioError, load_scenario, with_overrides
from sim.schema import Scenario

__all__ = [
    "RunResult",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "run",
    "run_many",
    "runs_frame",
    "summary_frame",
    "timeseries_frame",
    "with_overrides",
    "write_results",
]
