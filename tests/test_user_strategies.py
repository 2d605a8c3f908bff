"""User strategies: loading by module:Class and entry point, the function-wrapping strategy,
and what happens when one raises, never yields or writes outside its APIs (one line naming
the strategy and what it did; partial results kept, marked failed; exit code 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import broken_strategies
import pandas as pd
import pytest

from sim.assembly.runner import StrategyRuntimeError, run
from sim.registry import (
    BUILTIN_ORDER,
    StrategyError,
    build_strategy,
    resolve_strategy,
    strategy_label,
    strategy_name,
    strategy_origins,
)
from sim.tools.conformance import check_scenario
from strategies.base import FunctionStrategy
from tests.conftest import cli


@pytest.fixture(scope="module")
def short() -> Any:
    """Two busy hours of smoke: ~185 lines, ~0.1 s a run."""
    return check_scenario("smoke", "2h")


def test_module_class_path_and_entry_points_resolve_to_classes() -> None:
    cls = resolve_strategy("broken_strategies:WallClockBatch")
    assert cls is broken_strategies.WallClockBatch
    assert resolve_strategy("batch").__name__ == "BatchStrategy"
    origins = strategy_origins()
    assert list(origins)[:6] == ["oracle", "perfect", "batch", "api", "event", "orchestrated"]
    assert list(origins)[:6] == list(BUILTIN_ORDER)
    assert origins["event"] == ("strategies.event:EventStrategy", "built-in")
    with pytest.raises(StrategyError, match="nope: unknown strategy"):
        resolve_strategy("nope")
    with pytest.raises(StrategyError, match="has no 'Nope'"):
        resolve_strategy("broken_strategies:Nope")


def test_a_strategy_goes_by_its_name_and_is_found_again_by_its_label() -> None:
    class Nameless:
        def start(self, env: Any, systems: Any) -> None: ...

    cls = resolve_strategy("batch")
    for ref in ("batch", "broken_strategies:WallClockBatch"):  # text is its own name, label
        assert strategy_name(ref) == strategy_label(ref) == ref
    assert strategy_name(cls) == strategy_name(cls()) == "batch"
    assert strategy_label(cls) == strategy_label(cls()) == "strategies.batch:BatchStrategy"
    fn = FunctionStrategy(lambda env, systems: None, "mine")
    assert (strategy_name(fn), strategy_label(fn)) == ("mine", "strategies.base:FunctionStrategy")
    assert strategy_name(Nameless) == strategy_name(Nameless()) == "Nameless"
    assert strategy_label(Nameless).endswith(":test_a_strategy_goes_by_its_name_and_is_found_"
                                            "again_by_its_label.<locals>.Nameless")  # fmt: skip


def test_scenario_table_keyed_by_module_class_sets_the_parameters(short: Any) -> None:
    from sim.scenario import with_overrides

    sc = with_overrides(short, {"strategies.broken_strategies:Raises.interval": 600})
    strat = build_strategy("broken_strategies:Raises", sc)
    assert strat.params.interval == 600.0
    with pytest.raises(StrategyError, match="unknown parameter"):
        build_strategy("broken_strategies:Raises", sc, {"intervall": 3})


def test_function_strategy_runs_a_plain_function(short: Any) -> None:
    pushed: list[float] = []

    def push_zero_once(env: Any, systems: Any) -> None:
        def go() -> Any:
            yield env.timeout(600)
            for ch in systems.channels:
                reply = yield ch.set_inventory([0], [0], env.now)
                assert reply.ok
            pushed.append(env.now)

        env.process(go())

    result = run(short, FunctionStrategy(push_zero_once), 1, check=False)
    assert result.strategy == "push_zero_once"
    assert pushed
    assert pushed[0] >= 600
    assert result.metrics["channel_calls"] == 3  # one set_inventory per channel
    # it never imports an order: every order handed off is lost, and the run fails for it
    for name in ("conservation_units", "conservation_orders", "invariants"):
        assert result.checks[name]["ok"]
    loss = result.checks["liveness"]["loss"]
    assert loss["lost_orders"] == result.checks["conservation_orders"]["orders"]["lost"] > 0
    assert not result.ok


@pytest.mark.parametrize(
    ("cls", "at", "says"),
    [
        (broken_strategies.Raises, 5400.0, "KeyError: 'sku-42' (broken_strategies.py:"),
        (broken_strategies.NeverYields, 3600.0, "did not yield for 0.5 s of wall time"),
        (broken_strategies.WritesShownCount, 3600.0, "read-only system state array outside"),
        (broken_strategies.CallsApplyWrite, 3600.0, "wrote channel 'webshop' availability"),
    ],
)
def test_misbehaving_strategy_fails_with_one_line_and_partial_result(
    short: Any, cls: type, at: float, says: str
) -> None:
    with pytest.raises(StrategyRuntimeError) as info:
        run(short, cls, 1, step_budget=0.5)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"strategy {cls.name!r} failed at t={at:.1f}s: ")  # type: ignore[attr-defined]
    assert says in msg
    partial = info.value.result
    assert partial is not None
    assert partial.ok is False
    assert partial.error == msg
    assert partial.sim_seconds == at
    assert 0 < partial.metrics["lines_accepted"] < 185


def test_cli_keeps_partial_results_marked_failed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "res"
    args = ["run", "smoke", "-s", "oracle", "-s", "broken_strategies:Raises", "--out", str(out)]
    code, _, err = cli([*args, "--set", "scenario.duration=3h"], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("syncsim: run failed: strategy 'raises' failed at t=5400.0s:")
    assert "Traceback" not in err
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs["strategy"]) == ["oracle", "raises"]
    assert list(runs["ok"]) == [True, False]
    assert runs["error"].iloc[1].startswith("strategy 'raises' failed")
    assert json.loads((out / "manifest.json").read_text())["seeds"]
    assert not list(tmp_path.glob("res.*"))  # nothing half-written next to it


def test_strategies_command_shows_origin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["strategies"], capsys)
    assert code == 0
    assert "origin" in out
    assert out.count("built-in") >= 5


def test_validate_checks_a_table_keyed_by_module_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    smoke = Path(__file__).parent.parent / "scenarios" / "smoke.toml"
    bad = tmp_path / "mine.toml"
    bad.write_text(smoke.read_text() + '\n[strategies."broken_strategies:Raises"]\nintervall = 5\n')
    code, _, err = cli(["validate", str(bad)], capsys)
    assert code == 2
    assert err.strip().startswith(
        f"syncsim: error: {bad}: strategies.broken_strategies:Raises.intervall: unknown "
        "parameter (allowed: first_export, interval, "
    )


def test_tampering_with_the_erp_record_is_caught_by_the_audit() -> None:
    def poke(env: Any, systems: Any) -> None:
        def go() -> Any:
            yield env.timeout(600)
            systems.erp.on_hand[0, 3] += 5  # no API, no movement: the ERP now disagrees

        env.process(go())

    result = run(check_scenario("smoke", "1h"), FunctionStrategy(poke), 1, check=False)
    assert not result.ok
    assert result.checks["ledger_balances"]["detail"] == (
        "ERP record + unposted movements != WMS record at location 0, SKU 3 (on hand 41 vs 36)"
    )
    assert result.checks["conservation_units"]["ok"]  # no physical unit moved
