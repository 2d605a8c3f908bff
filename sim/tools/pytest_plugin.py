"""The ``syncsim`` pytest plugin: regression tests for a strategy in a few lines.

Installed with syncsim (entry point ``pytest11``), so any repository can write::

    def test_my_connector(syncsim):
        result = syncsim.run("peak_week", strategy=MyStrategy, seeds=5)
        assert result.oversell_rate.upper < 0.001

``syncsim.run`` runs the strategy on ``seeds`` seeds (common random numbers: seeds 1..N)
and returns a ``Replications``: every metric is an attribute holding a ``MetricStat`` with
``mean``, ``lower`` and ``upper`` (95% confidence interval of the mean), ``min``, ``max``
and ``values`` (per seed); ``result.channel("webshop")`` gives the same per channel. The
numbers are floats that remember where they come from, so a failing assert reads::

    oversell_rate upper (95% CI) = 0.01234 is not < 0.001
      peak_week-v1 / mymod:MyStrategy over seeds 1..5: mean 0.0101 [0.0079, 0.01234]
      per seed: 1: 0.0099, 2: 0.0131, ...
      worst seed 2; replay: syncsim run peak_week --strategy mymod:MyStrategy --seed 2

``syncsim.check(strategy)`` is the conformance checker (``sim.tools.conformance``). Options:
``--syncsim-workers N`` runs seeds in parallel. Importing this module is cheap: the
simulator is imported when a test first asks for the fixture.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = [
    "MetricStat",
    "Replications",
    "SyncsimFixture",
    "Value",
    "pytest_addoption",
    "pytest_assertrepr_compare",
    "syncsim",
]


@dataclass(frozen=True)
class _Origin:
    """Where a number comes from: enough to explain it and to replay the worst seed."""

    metric: str
    statistic: str
    stat: MetricStat


class Value(float):
    """A float that remembers which metric and statistic it is (for assertion messages)."""

    origin: _Origin

    def __new__(cls, value: float, origin: _Origin) -> Value:
        obj = super().__new__(cls, value)
        obj.origin = origin
        return obj


@dataclass(frozen=True)
class MetricStat:
    """One metric over the seeds of a ``Replications``."""

    metric: str
    seeds: tuple[int, ...]
    raw: tuple[float, ...]
    scenario: str = ""
    strategy: str = ""
    replay: str = ""  # the command line, without the seed
    higher_is_worse: bool = True

    def _v(self, statistic: str, value: float) -> Value:
        return Value(value, _Origin(self.metric, statistic, self))

    @property
    def values(self) -> list[Value]:
        return [self._v(f"at seed {s}", v) for s, v in zip(self.seeds, self.raw, strict=True)]

    @property
    def n(self) -> int:
        return len(self.raw)

    @property
    def mean(self) -> Value:
        finite = [v for v in self.raw if math.isfinite(v)]
        return self._v("mean", sum(finite) / len(finite) if finite else math.nan)

    def _ci(self) -> tuple[float, float]:
        from sim.tools.results import confidence_interval

        return confidence_interval(list(self.raw))

    @property
    def lower(self) -> Value:
        return self._v("lower (95% CI)", self._ci()[0])

    @property
    def upper(self) -> Value:
        return self._v("upper (95% CI)", self._ci()[1])

    @property
    def min(self) -> Value:
        return self._v("min", min(self.raw))

    @property
    def max(self) -> Value:
        return self._v("max", max(self.raw))

    def worst_seed(self) -> int:
        pick = max if self.higher_is_worse else min
        return pick(zip(self.raw, self.seeds, strict=True))[1]

    def explain(self) -> list[str]:
        lo, hi = self._ci()
        seeds = f"seeds {self.seeds[0]}..{self.seeds[-1]}" if self.seeds else "no seeds"
        per = ", ".join(f"{s}: {v:.6g}" for s, v in zip(self.seeds, self.raw, strict=True))
        lines = [
            f"{self.scenario} / {self.strategy} over {seeds}: mean {float(self.mean):.6g} "
            f"[{lo:.6g}, {hi:.6g}]",
            f"per seed: {per}",
        ]
        if self.seeds:
            worst = self.worst_seed()
            lines.append(f"worst seed {worst}; replay: {self.replay} --seed {worst}")
        return lines


@dataclass
class Replications:
    """Results of one strategy on one scenario over several seeds; metrics as attributes."""

    scenario: str
    strategy: str
    seeds: list[int]
    results: list[Any] = field(repr=False)
    replay: str = ""
    channel_name: str | None = None

    def _metrics(self, r: Any) -> Mapping[str, float]:
        if self.channel_name is None:
            return r.metrics
        return r.per_channel[self.channel_name]

    @property
    def metric_names(self) -> list[str]:
        return list(self._metrics(self.results[0])) if self.results else []

    def __getattr__(self, name: str) -> MetricStat:
        if name.startswith("_") or name in ("results", "seeds"):
            raise AttributeError(name)
        names = self.metric_names
        if name not in names:
            raise AttributeError(f"no metric {name!r}; metrics: {', '.join(names)}")
        from sim.tools.baseline import LOWER_IS_WORSE

        where = f" [{self.channel_name}]" if self.channel_name else ""
        return MetricStat(
            metric=name + where,
            seeds=tuple(self.seeds),
            raw=tuple(float(self._metrics(r).get(name, math.nan)) for r in self.results),
            scenario=self.scenario,
            strategy=self.strategy,
            replay=self.replay,
            higher_is_worse=name not in LOWER_IS_WORSE,
        )

    def channel(self, name: str) -> Replications:
        """The same metrics for one channel."""
        if self.results and name not in self.results[0].per_channel:
            known = ", ".join(self.results[0].per_channel)
            raise KeyError(f"no channel {name!r}; channels: {known}")
        return Replications(self.scenario, self.strategy, self.seeds, self.results,
                            self.replay, name)  # fmt: skip


def _replay(scenario: Any, strategy: str, overrides: Mapping[str, Any]) -> str:
    ref = scenario if isinstance(scenario, str) else getattr(scenario, "id", "SCENARIO")
    sets = "".join(f" --set {k}={v}" for k, v in overrides.items())
    return f"syncsim run {ref} --strategy {strategy}{sets}"


class SyncsimFixture:
    """What the ``syncsim`` fixture gives a test."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    def run(
        self,
        scenario: Any,
        strategy: Any,
        seeds: int | Sequence[int] = 5,
        *,
        overrides: Mapping[str, Any] | None = None,
        strategy_params: Mapping[str, Any] | None = None,
        horizon: str | None = None,
    ) -> Replications:
        """Run ``strategy`` (name, ``module:Class``, class) on ``scenario`` (catalogue id,
        path or ``Scenario``) for ``seeds`` (a count from 1, or explicit seeds).
        ``horizon`` shortens the scenario (e.g. ``"6h"``). A failing safety check or a
        crashing strategy fails the test with one line and the replay command."""
        from sim.assembly.executor import Job, run_jobs
        from sim.assembly.runner import StrategyRuntimeError
        from sim.checks import CheckFailure
        from sim.registry import strategy_label, strategy_name
        from sim.scenario import load_scenario, with_overrides
        from sim.schema import Scenario

        over = dict(overrides or {})
        if horizon is not None:
            over["scenario.duration"] = horizon
        if isinstance(scenario, Scenario):
            sc = with_overrides(scenario, over) if over else scenario
        else:
            sc = load_scenario(scenario, over or None)
        seed_list = list(range(1, seeds + 1)) if isinstance(seeds, int) else list(seeds)
        label = strategy_label(strategy)
        params = {f"strategies.{strategy_name(strategy)}.{k}": v
                  for k, v in (strategy_params or {}).items()}  # fmt: skip
        replay = _replay(scenario, label, {**over, **params})
        opts = {"keep_history": False}
        jobs = [Job(sc, strategy, s, params=dict(strategy_params or {}), options=opts)
                for s in seed_list]  # fmt: skip
        try:
            results = run_jobs(jobs, self.workers)
        except (CheckFailure, StrategyRuntimeError) as exc:
            partial = getattr(exc, "result", None)
            seed = partial.seed if partial is not None else "?"
            pytest.fail(f"{exc}\nreplay: {replay} --seed {seed}", pytrace=False)
        return Replications(sc.id, label, seed_list, results, replay)

    def check(self, strategy: Any, **options: Any) -> Any:
        """The conformance report of ``strategy`` (``sim.tools.conformance.check``)."""
        from sim.tools.conformance import check

        options.setdefault("workers", self.workers)
        return check(strategy, **options)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("syncsim")
    group.addoption("--syncsim-workers", type=int, default=1,
                    help="parallel runs for the syncsim fixture (default 1)")  # fmt: skip


@pytest.fixture
def syncsim(request: pytest.FixtureRequest) -> SyncsimFixture:
    """Run strategies on scenarios over seeds; metrics with confidence intervals."""
    return SyncsimFixture(workers=int(request.config.getoption("--syncsim-workers")))


_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: Any, right: Any) -> Any:
    """Explain a failed comparison involving a syncsim metric: which metric and statistic,
    its value and the bound, per-seed values, and the command that replays the worst seed."""
    if op not in _OPS:
        return None
    value, bound, flipped = (left, right, False) if isinstance(left, Value) else (right, left, True)
    if not isinstance(value, Value):
        return None
    o = value.origin
    head = (
        f"{bound!r} {op} {o.metric} {o.statistic} = {float(value):.6g}"
        if flipped
        else f"{o.metric} {o.statistic} = {float(value):.6g} is not {op} {float(bound):.6g}"
    )
    if flipped:
        head += " is false"
    return [head, *(f"  {line}" for line in o.stat.explain())]
