"""B2B customer allocations (issue 21): contract stock reserved for trade customers, credit
holds and customer accept rules. Each test asserts the direction the domain says a metric
must move, on the same seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import sim
from sim.contracts import Contracts
from sim.ledger import Ledger

#: b2b_contracts, shorter (one restore of the wholesaler's allocations)
SHORT = {"scenario.duration": "4d"}
WEB = ("webshop", "marketplace")


class _Env:
    now = 0.0


def _run(strategy: str, overrides: dict[str, Any] | None = None, seed: int = 1) -> Any:
    r = sim.run(
        "b2b_contracts", strategy, seed, overrides={**SHORT, **(overrides or {})},
        keep_history=False,
    )  # fmt: skip
    assert r.ok, r.checks
    return r


def _web_breaches(r: Any) -> int:
    return sum(int(r.per_channel[c]["allocation_breaches"]) for c in WEB)


def _contracts(allocation: int, stock: int) -> tuple[Ledger, Contracts]:
    """One location, SKU 0 with ``stock`` units; a web channel and a B2B channel whose one
    customer holds ``allocation`` units of SKU 0."""
    sc = sim.load_scenario(
        "b2b_contracts",
        {
            "channels.2.customers": [{"name": "acme", "allocations": {"0": allocation}}],
            "channels.1.locations": ["DC-Main"],
            "channels.0.locations": ["DC-Main"],
            "channels.2.locations": ["DC-Main"],
        },
    )
    ledger = Ledger(_Env(), np.array([[stock, 0], [0, 0]], np.int64), [[0], [0], [0]])
    return ledger, Contracts(sc, ledger)


def test_a_line_breaches_only_the_contract_stock_it_takes() -> None:
    """10 units, 6 reserved for a customer: a web line of 4 leaves the reserve whole, the
    next unit sold on the web takes one reserved unit, the customer's own purchase of its
    reserve breaches nothing, and once its allocation is used the web may sell the rest."""
    ledger, contracts = _contracts(allocation=6, stock=10)
    web = ledger.new_order(0)
    assert contracts.check(ledger.accept(web, 0, 4)) == 0
    assert contracts.check(ledger.accept(web, 0, 1)) == 1
    assert (contracts.breaches[0], contracts.breach_units[0]) == (1, 1)
    trade = ledger.new_order(2)
    trade.customer = 0
    drawn = contracts.draw(0, 0, 5)
    assert drawn == 5 and contracts.check(ledger.accept(trade, 0, 5), drawn) == 0
    assert contracts.remaining[0, 0] == 1
    assert contracts.check(ledger.accept(web, 0, 1)) == 0  # 0 free, 1 reserved: oversold
    contracts.restore(0)
    assert contracts.remaining[0, 0] == 6 and contracts.erp_remaining[0, 0] == 6


def test_the_erp_record_draws_on_an_allocation_when_the_order_is_taken_in() -> None:
    ledger, contracts = _contracts(allocation=6, stock=10)
    seen: list[list[int]] = []
    contracts.listeners.append(lambda skus: seen.append(skus.tolist()))
    trade = ledger.new_order(2)
    trade.customer = 0
    contracts.draw(0, 0, 4)
    ledger.accept(trade, 0, 4)
    assert contracts.outstanding([0], 0).tolist() == [6]  # not taken in yet
    contracts.taken_in(trade)
    assert contracts.outstanding([0], 0).tolist() == [2] and seen == [[0]]
    assert contracts.outstanding([0], 2).tolist() == [0]  # the portal itself is not kept from


def test_orchestrated_with_allocations_keeps_web_channels_out_of_contract_stock() -> None:
    """Every strategy that ignores allocations lets web demand into contract stock; the
    orchestrated middleware that keeps the ERP's record out of the web channels' pools does
    not, and pays for it in lost web sales, never in more breaches."""
    on = _run("orchestrated")
    off = _run("orchestrated", {"strategies.orchestrated.allocations": False})
    ignoring = {s: _run(s) for s in ("batch", "api", "event")}
    ignoring["orchestrated without allocations"] = off
    for name, r in ignoring.items():
        assert _web_breaches(r) > 100, name
    assert _web_breaches(on) <= 2
    assert on.metrics["allocation_breaches"] < off.metrics["allocation_breaches"] / 2
    for c in WEB:
        assert on.per_channel[c]["lost_sale_units"] > off.per_channel[c]["lost_sale_units"]
    assert on.metrics["mw_allocation_reads"] > 0
    assert off.metrics["mw_allocation_reads"] == 0


def test_a_larger_allocation_is_breached_more_by_a_strategy_that_ignores_it() -> None:
    base = _run("batch")
    more = _run(
        "batch",
        {
            "channels.2.customers.0.allocations": {"0": 320, "1": 240, "2": 200, "3": 200},
            "channels.2.customers.1.allocations": {"0": 240, "2": 200, "5": 200, "6": 160},
        },
    )
    assert _web_breaches(more) > 1.5 * _web_breaches(base)


def test_a_credit_hold_delays_delivery_by_about_the_hold() -> None:
    """Every trade order held one day for credit: its median delivery moves by the day
    less the few minutes the order took to reach the ERP (which a hold overlaps)."""
    everyone = {f"channels.2.customers.{k}.credit_hold_rate": 1.0 for k in range(3)}
    hold = {f"channels.2.customers.{k}.credit_hold": "1d" for k in range(3)}
    free = {f"channels.2.customers.{k}.credit_hold_rate": 0.0 for k in range(3)}
    held, released = _run("oracle", {**everyone, **hold}), _run("oracle", free)
    shift = (
        held.per_channel["trade"]["delivery_time_p50_s"]
        - released.per_channel["trade"]["delivery_time_p50_s"]
    )
    assert 0.9 * 86400 < shift < 1.02 * 86400
    web_shift = (
        held.per_channel["webshop"]["delivery_time_p50_s"]
        - released.per_channel["webshop"]["delivery_time_p50_s"]
    )
    assert abs(web_shift) < 0.05 * 86400


def test_a_customers_own_accept_rule_replaces_the_channels() -> None:
    """The portal accepts only what it shows ("full"); accounts that take backorders accept
    beyond it, so they are refused nothing and, under a lagging batch, oversell more."""
    rules = {
        rule: _run("batch", {f"channels.2.customers.{k}.accept_rule": rule for k in range(3)})
        for rule in ("full", "backorder")
    }
    full, backorder = rules["full"].per_channel["trade"], rules["backorder"].per_channel["trade"]
    assert backorder["lines_accepted"] > full["lines_accepted"] + 20
    assert backorder["oversold_lines"] > full["oversold_lines"] + 20
    assert backorder["lost_sale_units"] == 0


def test_customer_accounts_need_a_b2b_channel_and_known_skus() -> None:
    with pytest.raises(sim.ScenarioError, match="only a b2b channel has accounts"):
        sim.load_scenario("b2b_contracts", {"channels.0.customers": [{"name": "x"}]})
    with pytest.raises(sim.ScenarioError, match=r"allocations: SKU 999 >= catalogue.skus"):
        sim.load_scenario("b2b_contracts", {"channels.2.customers.0.allocations": {"999": 1}})
    with pytest.raises(sim.ScenarioError, match="names must be unique"):
        sim.load_scenario("b2b_contracts", {"channels.2.customers.1.name": "wholesaler"})
    with pytest.raises(sim.ScenarioError, match="allocation of SKU 0: 0 units"):
        sim.load_scenario("b2b_contracts", {"channels.2.customers.0.allocations": {"0": 0}})
    with pytest.raises(sim.ScenarioError, match="not a SKU number"):
        sim.load_scenario("b2b_contracts", {"channels.2.customers.0.allocations": {"x": 1}})
