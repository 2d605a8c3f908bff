"""The correctness checks pass on honest runs and fail, naming the cause, when broken."""

from __future__ import annotations

import pytest

from sim.assembly.runner import collect, simulate
from sim.checks import CheckFailure, run_checks
from sim.registry import build_strategy
from sim.scenario import load_scenario


@pytest.fixture(scope="module")
def finished() -> tuple:
    sc = load_scenario("smoke", {"shrink.enabled": True, "shrink.rate_per_day": 0.05})
    strat = build_strategy("batch", sc)
    return simulate(sc, strat, 1)


def test_all_checks_pass_with_every_mechanism_on(finished: tuple) -> None:
    world, _strat, _wall = finished
    checks = run_checks(world)
    assert checks["ok"], checks
    assert world.ledger.totals["shrink"].sum() > 0
    assert world.ledger.totals["return"].sum() > 0
    assert world.ledger.totals["transfer_in"].sum() > 0
    assert world.ledger.totals["receipt"].sum() > 0


def test_a_unit_appearing_from_nowhere_breaks_conservation(finished: tuple) -> None:
    world, strat, wall = finished
    world.ledger.on_hand[0, 5] += 1
    try:
        checks = run_checks(world)
        assert not checks["conservation_units"]["ok"]
        assert "SKU 5" in checks["conservation_units"]["detail"]
        assert not checks["ledger_balances"]["ok"]
        with pytest.raises(CheckFailure, match="conservation_units"):
            collect(world, strat, wall)
    finally:
        world.ledger.on_hand[0, 5] -= 1


def test_a_forgotten_claim_breaks_the_invariants(finished: tuple) -> None:
    world, _, _ = finished
    world.ledger.committed[1, 3] += 2
    try:
        checks = run_checks(world)
        assert not checks["invariants"]["ok"]
        assert "open claims" in checks["invariants"]["detail"]
    finally:
        world.ledger.committed[1, 3] -= 2


def test_an_erp_record_drifting_from_the_wms_is_caught(finished: tuple) -> None:
    world, _, _ = finished
    world.erp.on_hand[0, 0] -= 1
    try:
        assert not run_checks(world)["ledger_balances"]["ok"]
    finally:
        world.erp.on_hand[0, 0] += 1


def test_a_lost_order_line_breaks_order_conservation(finished: tuple) -> None:
    world, _, _ = finished
    line = world.ledger.lines[0]
    line.shipped += 1
    try:
        checks = run_checks(world)
        assert not checks["conservation_orders"]["ok"]
    finally:
        line.shipped -= 1
