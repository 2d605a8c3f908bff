"""syncsim: a discrete-event testbed for inventory sync between ERP, WMS and sales channels.

The public Python API (notebooks and other tools use these names):

- ``run(scenario, strategy, seed, ...)`` -> ``RunResult`` (``sim.assembly.runner``);
- ``run_many(scenario, strategies, seeds)`` -> list of ``RunResult``;
- ``batch_run(scenario, strategies, parameters=grid, seeds=5, processes=2)`` -> a
  ``BatchResult`` (``.runs()``: one row per run with its grid values), Mesa style;
- ``load_scenario(ref, overrides)`` -> ``Scenario`` and ``with_overrides`` (``sim.scenario``);
- ``write_results(dir, results)``, the frames of ``sim.tools.results`` and ``load_runs(dir)``;
- ``write_report(dir)``: ``report.html`` and the PNGs of a results directory
  (``sim.tools.report``);
- ``decide(runs, objective, constraints, costs=...)`` -> ``Verdict``: the decision engine
  (``sim.tools.decide``: paired comparisons on common seeds, total cost per week),
  ``cost_frame``, ``replicate_until``, ``response`` (a metric against a grid value, with
  the optimum and the values not separable from it), ``Constraint``, ``Objective``.

Names are imported on first use (PEP 562), so ``import sim.ledger`` loads the kernel core
alone, not the assembly, the tools and matplotlib with it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Constraint",
    "Objective",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "batch_run",
    "cost_frame",
    "decide",
    "lags_frame",
    "load_runs",
    "load_scenario",
    "per_channel_frame",
    "replicate_until",
    "response",
    "run",
    "run_many",
    "runs_frame",
    "summary_frame",
    "timeseries_frame",
    "with_overrides",
    "write_report",
    "write_results",
]

_HOME = {
    "RunResult": "sim.assembly.runner",
    "run": "sim.assembly.runner",
    "run_many": "sim.assembly.executor",
    "Scenario": "sim.schema",
    "ScenarioError": "sim.scenario",
    "load_scenario": "sim.scenario",
    "with_overrides": "sim.scenario",
    "lags_frame": "sim.tools.results",
    "load_runs": "sim.tools.results",
    "per_channel_frame": "sim.tools.results",
    "runs_frame": "sim.tools.results",
    "summary_frame": "sim.tools.results",
    "timeseries_frame": "sim.tools.results",
    "write_results": "sim.tools.results",
    "write_report": "sim.tools.report",
    "batch_run": "sim.tools.batch",
    "Constraint": "sim.tools.decide",
    "Objective": "sim.tools.decide",
    "cost_frame": "sim.tools.decide",
    "decide": "sim.tools.decide",
    "replicate_until": "sim.tools.decide",
    "response": "sim.tools.decide",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
