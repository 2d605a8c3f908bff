"""Bundles and kits (issue 21): a bundle's truth is what its components make up, selling one
claims its components, and a strategy that pushes a stale bundle count oversells. Each
test asserts the direction the domain says a metric must move, on the same seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import sim
from sim.ledger import Ledger
from strategies.kit import Bundles

#: bundles, small
SMALL = {"scenario.duration": "3d"}


class _Env:
    now = 0.0


def _run(strategy: str, overrides: dict[str, Any], seed: int = 1) -> Any:
    r = sim.run("bundles", strategy, seed, overrides={**SMALL, **overrides}, keep_history=False)
    assert r.ok, r.checks
    return r


def test_a_bundles_truth_is_the_minimum_over_its_components() -> None:
    """Two units of A and one of B per set: 7 A and 5 B make 3 sets; a component sold alone
    lowers the set; a set sold claims its components, and oversells when one is short."""
    env = _Env()
    led = Ledger(env, np.array([[0, 4, 5], [0, 3, 0]], np.int64), [[0, 1]])
    led.set_bundles({0: [(1, 2), (2, 1)]})
    assert led.true_available(0, 0) == 3
    assert led.true_available_all()[0].tolist() == [3, 7, 5]
    order = led.new_order(0)
    led.accept(order, 1, 3)  # A sold alone: 4 left, 2 sets
    assert led.true_available(0, 0) == 2
    a, b = led.accept(order, 1, 4), led.accept(order, 2, 2)  # two sets, as components
    assert (a.oversold, b.oversold) == (0, 0) and led.true_available(0, 0) == 0
    assert led.accept(order, 1, 2).oversold == 2  # a third set: A is short


def test_the_oracle_never_oversells_a_bundle() -> None:
    r = _run("oracle", {})
    assert r.metrics["bundle_lines"] > 500
    assert r.metrics["bundle_oversold_lines"] == 0
    assert r.metrics["oversold_lines"] == 0
    assert r.metrics["lost_sale_units"] == 0


def _no_bundles(self: Bundles, catalogue: Any) -> None:
    """A strategy that treats a set as a SKU of its own: it exports the set's own record."""
    self.components, self.of = {}, {}


def _stale(mp: pytest.MonkeyPatch) -> None:
    """A strategy that computes a set from its components only when the set itself is
    named by a change, which no stock movement does: its count goes stale."""
    init = Bundles.__init__

    def stale_init(self: Bundles, catalogue: Any) -> None:
        init(self, catalogue)
        self.of = {}

    mp.setattr(Bundles, "__init__", stale_init)
    mp.setattr(Bundles, "affected", lambda self, skus: skus)


@pytest.mark.parametrize("strategy", ["api", "event", "orchestrated"])
def test_computing_bundles_from_components_oversells_fewer_than_a_stale_count(
    strategy: str,
) -> None:
    """Without ``Bundles.affected`` a set is not refreshed when its components change: the
    stale count oversells far more sets on the same seed."""
    fresh = _run(strategy, {})
    with pytest.MonkeyPatch.context() as mp:
        _stale(mp)
        stale = _run(strategy, {})
    assert fresh.metrics["bundle_lines"] > 500
    assert stale.metrics["bundle_oversold_lines"] > 3 * fresh.metrics["bundle_oversold_lines"] + 20


def test_batch_that_exports_a_bundles_own_record_shows_none_and_loses_sales() -> None:
    """Batch exports every SKU's record: a set's own is empty, so without the bundle step
    it shows 0, sells (almost) no sets and loses the sales its components could make."""
    fresh = _run("batch", {})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Bundles, "__init__", _no_bundles)
        blind = _run("batch", {})
    assert blind.metrics["bundle_lines"] < 0.05 * fresh.metrics["bundle_lines"]
    assert blind.metrics["lost_sale_units"] > fresh.metrics["lost_sale_units"] + 500


def test_a_slower_batch_oversells_more_sets() -> None:
    """Batch computes every set from its components at each export: between exports the
    count ages, so a longer interval oversells more sets on the same seed."""
    fast = _run("batch", {"strategies.batch.interval": "5m"})
    slow = _run("batch", {"strategies.batch.interval": "1h"})
    assert slow.metrics["bundle_oversold_lines"] > 2 * fast.metrics["bundle_oversold_lines"] + 5


def test_a_stale_bundle_count_oversells_more_as_its_components_sell_elsewhere() -> None:
    """The marketplace sells the components alone; with a stale set count on the webshop,
    more marketplace demand oversells more webshop sets."""

    def stale(factor: float) -> int:
        with pytest.MonkeyPatch.context() as mp:
            _stale(mp)
            r = _run("event", {"channels.1.orders_per_hour": 30 * factor})
        return int(r.per_channel["webshop"]["bundle_oversold_lines"])

    low, high = stale(0.5), stale(2.0)
    assert high > low + 10


def test_bundles_need_valid_components() -> None:
    with pytest.raises(sim.ScenarioError, match=r"components: 999 >= catalogue.skus"):
        sim.load_scenario("bundles", {"catalogue.bundles.0.components": {"999": 1}})
    with pytest.raises(sim.ScenarioError, match="is a bundle itself"):
        sim.load_scenario("bundles", {"catalogue.bundles.0.components": {"1": 1}})
    with pytest.raises(sim.ScenarioError, match="units per bundle"):
        sim.load_scenario("bundles", {"catalogue.bundles.0.components": {"10": 0}})
    with pytest.raises(sim.ScenarioError, match="not a SKU number"):
        sim.load_scenario("bundles", {"catalogue.bundles.0.components": {"ten": 1}})
