"""The conformance checker: passes the built-ins, fails deliberately broken strategies and
names the failing check. One built-in goes through every check in the default run; the full
matrix of built-ins is ``slow``."""

from __future__ import annotations

import broken_strategies
import pytest

from sim.cli import main
from sim.faults import BUILTIN_KINDS
from sim.tools.conformance import check

CHECKS = ["runs", "determinism", "conservation", "invariants", "bus_accounting"]


def test_batch_passes_every_check() -> None:
    report = check("batch", horizon="2h", chaos_seeds=1)
    assert [o.name for o in report.outcomes] == [
        *CHECKS, *(f"fault:{k}" for k in BUILTIN_KINDS), "chaos"
    ]  # fmt: skip
    assert report.ok, str(report)
    assert report.failed == []
    assert report.outcome("runs").detail == "185 lines accepted"
    # ERP maintenance (30 min from 08:30) holds the exports back; they recover
    assert report.outcome("fault:erp_maintenance").detail.startswith("recovered in ")


def test_nondeterministic_strategy_fails_determinism_only() -> None:
    report = check(broken_strategies.WallClockBatch, horizon="2h", kinds=(), chaos_seeds=0)
    assert report.failed == ["determinism"]
    detail = report.outcome("determinism").detail
    assert detail.startswith("seed 1 twice: trace ")
    assert report.strategy == "broken_strategies:WallClockBatch"


def test_unit_leaking_strategy_fails_conservation_and_balances() -> None:
    report = check(broken_strategies.LeaksUnits, horizon="2h", kinds=("erp_slowdown",),
                   chaos_seeds=0)  # fmt: skip
    assert report.failed == ["conservation", "invariants", "fault:erp_slowdown"]
    assert report.outcome("conservation").detail.startswith("conservation_units: SKU ")
    assert "ledger_balances: movement log sums to" in report.outcome("invariants").detail
    assert report.outcome("determinism").ok  # it leaks the same units every time


def test_crashing_strategy_fails_runs_and_every_fault() -> None:
    report = check(broken_strategies.Raises, horizon="2h", kinds=("throttle",), chaos_seeds=0)
    assert report.failed == ["runs", "determinism", "fault:throttle"]
    assert "KeyError: 'sku-42'" in report.outcome("runs").detail
    assert "KeyError" in report.outcome("fault:throttle").detail


def test_cli_check_prints_a_table_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "broken_strategies:WallClockBatch", "--horizon", "1h", "--chaos-seeds", "0"]
    with pytest.raises(SystemExit) as info:
        main([*args, "--workers", "1"])
    out, err = capsys.readouterr()
    assert info.value.code == 1
    assert "conformance: broken_strategies:WallClockBatch on smoke-v1: FAIL" in out
    assert "determinism" in out
    assert "fault:clock_skew" in out
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("syncsim: check failed: broken_strategies:WallClockBatch: determinism")
    )


def test_cli_check_bad_strategy_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check", "no_such_module:X"])
    _, err = capsys.readouterr()
    assert info.value.code == 2
    assert err.strip() == (
        "syncsim: error: no_such_module:X: cannot import module 'no_such_module': "
        "No module named 'no_such_module'"
    )


BUILTINS = ["oracle", "perfect", "batch", "api", "event", "orchestrated"]


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_passes_the_full_checker(name: str) -> None:
    report = check(name)  # smoke from 08:00 for 6 h, every fault kind, 3 chaos seeds
    assert report.ok, str(report)
