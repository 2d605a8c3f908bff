"""The decision engine's statistics on cheap synthetic runs with a known truth: the error rate
with equal strategies, the coverage of the paired interval, the domain of every interval,
constraints, costs and the sequential rule."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.schema import Costs, IntegrationCost
from sim.tools.decide import (
    TOTAL_COST,
    Constraint,
    Objective,
    cost_frame,
    decide,
    load_verdict,
    looks_for,
    replicate_until,
    write_verdict,
)

SCORE = Objective("score", "min")


def synthetic(
    rng: np.random.Generator,
    means: dict[str, float],
    seeds: list[int],
    noise: float = 1.0,
    common: float = 3.0,
) -> pd.DataFrame:
    """Runs of strategies whose ``score`` has the given means, a per-seed effect shared by
    all of them (common random numbers) and independent noise."""
    rows = []
    for s in seeds:
        shared = rng.normal(0.0, common)
        for name, mu in means.items():
            rows.append(
                {
                    "scenario": "synthetic",
                    "strategy": name,
                    "seed": s,
                    "sim_seconds": 7 * 86_400.0,
                    "score": mu + shared + rng.normal(0.0, noise),
                    "ok": True,
                }
            )
    return pd.DataFrame(rows)


def test_two_equal_strategies_get_no_winner_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(11)
    trials = 600
    wins = sum(
        decide(synthetic(rng, {"a": 10.0, "b": 10.0}, list(range(8))), SCORE).winner is not None
        for _ in range(trials)
    )
    rate = wins / trials
    # 5% nominal; three binomial standard errors either side (a test that never declares
    # a winner fails the lower bound, one that ignores the interval fails the upper)
    se = math.sqrt(0.05 * 0.95 / trials)
    assert 0.05 - 3 * se <= rate <= 0.05 + 3 * se, rate


def test_four_equal_strategies_keep_the_familywise_rate() -> None:
    rng = np.random.default_rng(12)
    trials = 300
    means = {"a": 5.0, "b": 5.0, "c": 5.0, "d": 5.0}
    wins = sum(
        decide(synthetic(rng, means, list(range(6))), SCORE).winner is not None
        for _ in range(trials)
    )
    assert wins / trials <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)


def test_the_paired_interval_covers_a_known_difference_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(13)
    trials, covered, found = 600, 0, 0
    for _ in range(trials):
        v = decide(synthetic(rng, {"a": 10.0, "b": 12.0}, list(range(10))), SCORE)
        (c,) = v.comparisons
        assert c.low is not None and c.high is not None
        diff = -2.0 if (c.a, c.b) == ("a", "b") else 2.0
        covered += c.low <= diff <= c.high
        found += v.winner == "a"
    se = math.sqrt(0.05 * 0.95 / trials)
    assert 0.95 - 3 * se <= covered / trials <= 0.95 + 3 * se
    assert found / trials > 0.9  # a real difference is found: pairing removes the seed effect


def test_pairing_finds_what_unpaired_intervals_would_miss() -> None:
    rng = np.random.default_rng(14)
    runs = synthetic(rng, {"a": 10.0, "b": 11.0}, list(range(6)), noise=0.3, common=20.0)
    v = decide(runs, SCORE)
    assert v.winner == "a" and v.status == "winner"
    e = v.estimates
    assert e["a"].low is not None and e["b"].high is not None
    assert e["a"].high is not None and e["a"].high > e["b"].low  # type: ignore[operator]


def test_a_tie_names_both_and_the_replications_that_would_separate_them() -> None:
    rng = np.random.default_rng(15)
    runs = synthetic(rng, {"a": 10.0, "b": 10.3, "c": 30.0}, list(range(4)), noise=1.0)
    v = decide(runs, SCORE)
    assert v.status == "tie" and v.winner is None
    assert set(v.tied) == {"a", "b"} and "c" not in v.tied
    assert "No significant difference between" in v.summary
    (ab,) = [c for c in v.comparisons if {c.a, c.b} == {"a", "b"}]
    assert ab.needed_replications is not None and ab.needed_replications > 4
    assert any("replications would separate" in line for line in v.lines())


def test_one_replication_gives_no_interval_and_no_verdict() -> None:
    runs = synthetic(np.random.default_rng(1), {"a": 1.0, "b": 50.0}, [1])
    v = decide(runs, SCORE)
    assert v.status == "no_verdict" and v.winner is None
    assert all(e.low is None and e.high is None for e in v.estimates.values())


def test_intervals_stay_in_the_metric_domain() -> None:
    rows = []
    for s, (count, rate) in enumerate([(0, 0.0), (0, 0.0), (0, 0.99), (40, 1.0)]):
        for name in ("a", "b"):
            rows.append(
                {"scenario": "x", "strategy": name, "seed": s, "sim_seconds": 3600.0,
                 "oversold_lines": count, "oversell_rate": rate, "ok": True}
            )  # fmt: skip
    runs = pd.DataFrame(rows)
    for metric in ("oversold_lines", "oversell_rate"):
        v = decide(runs, Objective(metric, "min"))
        for e in v.estimates.values():
            assert e.low is not None and e.high is not None
            assert e.low >= 0.0
            if metric == "oversell_rate":
                assert e.high <= 1.0


def test_constraints_define_the_feasible_set_before_the_objective() -> None:
    rng = np.random.default_rng(16)
    runs = synthetic(rng, {"a": 1.0, "b": 5.0, "c": 9.0}, list(range(5)), noise=0.1)
    runs["oversell_rate"] = runs["strategy"].map({"a": 0.02, "b": 0.0005, "c": 0.0001})
    v = decide(runs, SCORE, ["oversell_rate<=0.1%"])
    assert v.feasibility["a"]["feasible"] is False and v.candidates == ["b", "c"]
    assert v.winner == "b"  # the cheapest that meets the bound, not the cheapest
    none = decide(runs, SCORE, ["oversell_rate<=0.00001"])
    assert none.status == "infeasible" and none.winner is None


def test_constraint_parsing() -> None:
    assert Constraint.parse("oversell_rate<=0.1%") == Constraint("oversell_rate", "<=", 0.001)
    assert Constraint.parse(" erp_utilization >= 0.7 ").op == ">="
    for bad in ("oversell_rate<0.1", "rate<=abc", "<=3", "x<=inf"):
        with pytest.raises(ValueError, match="constraint"):
            Constraint.parse(bad)


def test_the_floors_are_references_and_failed_runs_are_excluded() -> None:
    rng = np.random.default_rng(17)
    runs = synthetic(rng, {"oracle": 0.0, "a": 3.0, "b": 8.0, "c": 1.0}, list(range(5)), 0.1)
    runs.loc[runs["strategy"] == "c", "ok"] = False
    v = decide(runs, SCORE)
    assert "oracle" not in v.candidates and "oracle" in v.floors
    assert "c" in v.excluded and "c" not in v.candidates
    assert v.winner == "a"


def test_the_total_cost_adds_the_integration_and_scales_to_a_week() -> None:
    day = pd.DataFrame(
        [
            {"scenario": "x", "strategy": "event", "seed": 1, "sim_seconds": 86_400.0,
             "oversold_lines": 10, "lost_sale_value": 1000.0, "erp_calls": 500,
             "channel_calls": 100},
        ]
    )  # fmt: skip
    c = Costs(
        oversell_cost_per_line=20.0, lost_margin_rate=0.5, reconciliation_minutes_per_line=6.0,
        hourly_rate=60.0,
        integration={"event": IntegrationCost(monthly=52_000 / 12, build=0, per_erp_call=0.01)},
    )  # fmt: skip
    row = cost_frame(day, c).iloc[0]
    assert row["oversell_cost"] == pytest.approx(10 * 20.0 * 7)
    assert row["lost_margin"] == pytest.approx(500.0 * 7)
    assert row["reconciliation_cost"] == pytest.approx(10 * 0.1 * 60.0 * 7)
    assert row["integration_cost"] == pytest.approx(1000.0 + 500 * 0.01 * 7)
    assert row[TOTAL_COST] == pytest.approx(1400 + 3500 + 420 + 1035)
    # a built-in with no integration table gets its default, and the verdict says so
    runs = pd.concat(
        [day.assign(seed=s) for s in (1, 2)] + [day.assign(strategy="api", seed=s) for s in (1, 2)]
    )
    v = decide(runs, costs=Costs())
    assert "integration.event" in v.cost_defaults and "oversell_cost_per_line" in v.cost_defaults


def test_the_verdict_round_trips_through_verdict_json(tmp_path: Path) -> None:
    runs = synthetic(np.random.default_rng(18), {"a": 1.0, "b": 2.0}, list(range(5)), 0.1)
    v = decide(runs, SCORE)
    write_verdict(tmp_path, v)
    data = load_verdict(tmp_path)
    assert data == json.loads(json.dumps(v.to_dict()))
    assert data is not None and data["winner"] == "a" and data["objective"]["metric"] == "score"


def test_the_sequential_rule_stops_when_resolved_and_at_the_cap() -> None:
    rng = np.random.default_rng(19)
    asked: list[list[int]] = []

    def clear(seeds: list[int]) -> pd.DataFrame:
        asked.append(seeds)
        return synthetic(rng, {"a": 10.0, "b": 20.0}, seeds, noise=0.5)

    runs, v = replicate_until(
        clear, 1, start=3, max_replications=24, precision=0.05, objective=SCORE
    )
    assert v.resolved and v.winner == "a" and asked == [[1, 2, 3]]
    assert sorted(runs["seed"].unique()) == [1, 2, 3] and "Stopped after 3" in v.stop_reason

    def equal_but_noisy(seeds: list[int]) -> pd.DataFrame:
        return synthetic(rng, {"a": 10.0, "b": 10.0}, seeds, noise=5.0)

    runs, v = replicate_until(
        equal_but_noisy, 1, start=3, max_replications=12, precision=0.01, objective=SCORE
    )
    assert not v.resolved and v.replications == 12 and "--max-replications 12" in v.stop_reason
    assert sorted(runs["seed"].unique()) == list(range(1, 13))  # 3, 6, 12: doubling
    assert looks_for(3, 12) == 3

    def equal_and_quiet(seeds: list[int]) -> pd.DataFrame:
        return synthetic(rng, {"a": 100.0, "b": 100.0}, seeds, noise=0.5)

    _, v = replicate_until(
        equal_and_quiet, 1, start=3, max_replications=48, precision=0.05, objective=SCORE
    )
    assert v.resolved and v.winner is None and v.replications < 48  # equal within 5%: stops


def test_one_candidate_is_not_a_winner() -> None:
    runs = synthetic(np.random.default_rng(20), {"oracle": 0.0, "a": 3.0}, list(range(4)))
    v = decide(runs, SCORE)
    assert v.status == "no_verdict" and v.winner is None and "Only one" in v.summary
