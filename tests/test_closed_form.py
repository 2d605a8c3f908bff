"""Tiny worlds whose outcomes can be worked out by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.checks import failure_message, run_checks
from sim.registry import build_strategy
from sim.runner import run, simulate
from sim.scenario import load_scenario
from sim.world import World
from strategies._push import ClientStats, push_availability
from strategies.base import FunctionStrategy
from tests.conftest import script, tiny

IDLE = FunctionStrategy(lambda env, systems: None, name="idle")


def test_two_channels_race_for_the_last_units() -> None:
    """Stock 10; channel a sells 6 at t=100; b, still showing 10, sells 6 at t=200."""
    sc = tiny(demand=script((100, "a", 0, 6), (200, "b", 0, 6)))
    r = run(sc, IDLE, 1)
    m = r.metrics
    assert m["lines_accepted"] == 2
    assert m["oversold_units"] == 2
    assert m["oversold_lines"] == 1
    assert r.per_channel["b"]["oversold_lines"] == 1
    assert r.per_channel["a"]["oversold_lines"] == 0
    # a shows 4 = truth until t=200, then truth is 0: |diff| 4 over 800 s of 1000
    # b shows 10 vs truth 4 over [100, 200), then 4 vs 0 over [200, 1000)
    assert m["divergence_mean_abs"] == pytest.approx(((4 * 800) + (6 * 100 + 4 * 800)) / 2000)
    assert m["divergence_over_frac"] == pytest.approx((800 + 900) / 2000)
    assert m["divergence_under_frac"] == 0.0
    # two truth changes (the claims at t=100 and t=200), two channels, nothing ever synced
    assert m["unpropagated_changes"] == 4
    assert r.checks["ok"]


def test_lost_sale_when_channel_shows_less_than_truth() -> None:
    """Channel a is told 0 at t=50 while truth has 10; a customer wanting 2 is lost."""

    def zero_a(env: Any, systems: Any) -> None:
        def proc() -> Any:
            yield env.timeout(50)
            reply = yield systems.channels[0].set_inventory([0], [0], [50.0])
            assert reply.ok

        env.process(proc())

    sc = tiny(demand=script((100, "a", 0, 2), (100, "b", 0, 3)))
    r = run(sc, FunctionStrategy(zero_a), 1)
    assert r.metrics["lost_sale_units"] == 2
    assert r.per_channel["a"]["lost_sale_units"] == 2
    assert r.per_channel["b"]["lines_accepted"] == 1
    assert r.metrics["oversold_lines"] == 0


def test_partial_accept_rule_takes_what_is_shown() -> None:
    sc = tiny(
        {"channels.a.accept_rule": "partial"},
        demand=script((100, "a", 0, 15)),
    )
    r = run(sc, IDLE, 1)
    assert r.metrics["units_accepted"] == 10
    assert r.metrics["oversold_units"] == 0
    assert r.metrics["lost_sale_units"] == 0  # truth could not have served more either


def test_batch_lag_is_exact_when_every_delay_is_known() -> None:
    """Order at t=110 is imported at t=150 and exported at t=600: lag is exactly 490 s."""
    sc = tiny(
        {"strategies.batch.interval": 600, "strategies.batch.order_import_interval": 50},
        demand=script((110, "a", 0, 1)),
    )
    r = run(sc, "batch", 1)
    assert r.metrics["lag_p50_s"] == pytest.approx(490.0)
    assert r.metrics["lag_max_s"] == pytest.approx(490.0)
    assert r.metrics["unpropagated_changes"] == 0
    assert r.per_channel["b"]["lag_p50_s"] == pytest.approx(490.0)


def test_truth_claims_what_the_wms_releases_for_an_oversold_line() -> None:
    """Channel a takes 5 on backorder with 2 in stock: 3 oversold. 10 units arrive at t=200;
    the ERP allocates the 3 waiting units at once, the WMS releases them 50 s later. From
    then on the truth agrees with the ERP: 12 - 5 = 7 free, not 10 (DESIGN §3)."""
    sc = tiny(
        {
            "stock.fixed_units": 2,
            "channels.a.accept_rule": "backorder",
            "erp.backorder_timeout": 10_000,
        },
        locations=[{"name": "DC", "release_delay": 50, "pick_delay": 5000}],
    )
    world = World(sc, 1)
    world.start()
    env, led, erp = world.env, world.ledger, world.erp
    env.run(until=100)
    order = world.channels[0].place([0], [5])
    assert order is not None
    erp.intake(order)
    (line,) = order.lines
    assert (line.oversold, line.claims) == (3, {0: 2})
    env.run(until=200)
    world.wms.receive(0, 0, 10)
    assert erp.backordered_units() == 0
    env.run(until=249)
    assert led.true_available(0, 0) == 10  # allocated by the ERP, not released yet
    env.run(until=251)
    assert line.claims == {0: 5}
    assert led.true_available(0, 0) == 7
    assert int(erp.on_hand[0, 0] - erp.committed[0, 0]) == 7
    assert led.oversold_units == [3, 0]
    checks = run_checks(world)
    assert checks["ok"], failure_message(checks)


def test_oracle_lag_is_zero_and_channels_agree_with_truth() -> None:
    sc = tiny(demand=script((100, "a", 0, 6), (200, "b", 0, 6)))
    r = run(sc, "oracle", 1)
    assert r.metrics["oversold_lines"] == 0
    assert r.metrics["lag_max_s"] == 0.0
    assert r.metrics["divergence_mean_abs"] == 0.0
    # b saw the truth (4 left) and refused the customer who wanted 6: truth could not serve
    assert r.per_channel["b"]["lines_accepted"] == 0
    assert r.metrics["lost_sale_units"] == 0


def test_full_push_of_5000_skus_through_a_leaky_bucket_takes_2480_seconds() -> None:
    """One SKU per request, bucket 40 leaking 2/s, no latency: (5000 - 40) / 2 seconds."""
    sc = tiny(
        {
            "scenario.duration": 4000,
            "catalogue.skus": 5000,
            "channels.a.api.bucket_size": 40,
            "channels.a.api.leak_rate": 2,
        }
    )
    finished: list[float] = []
    stats = ClientStats()

    def push_all(env: Any, systems: Any) -> None:
        ch = systems.channels[0]
        skus = np.arange(5000)

        def proc() -> Any:
            yield from push_availability(
                env, ch, skus, np.ones(5000), np.zeros(5000), systems.rng, stats, page_size=1
            )
            finished.append(env.now)

        env.process(proc())

    r = run(sc, FunctionStrategy(push_all), 1)
    assert finished == [pytest.approx((5000 - 40) / 2)]
    assert stats.waits_for_retry_after == 5000 - 40
    assert r.per_channel["a"]["channel_calls"] == 5000 + (5000 - 40)
    assert r.per_channel["a"]["channel_throttled_calls"] == 5000 - 40


def test_batch_skips_a_round_while_a_slow_push_is_still_running() -> None:
    """A 2480-second push cannot finish inside a 30-minute interval: the next round skips."""
    sc = tiny(
        {
            "scenario.duration": 4000,
            "catalogue.skus": 5000,
            "channels.a.api.bucket_size": 40,
            "channels.a.api.leak_rate": 2,
            "channels.a.api.bulk_limit": 1,
            "strategies.batch.interval": 1800,
            "strategies.batch.first_export": 0,
        }
    )
    r = run(sc, "batch", 1)
    assert r.metrics["batch_pushes_skipped"] >= 1
    assert r.per_channel["a"]["channel_throttled_calls"] > 0


@pytest.mark.parametrize(
    ("posting", "wait"), [({}, 120.0), ({"mode": "batch", "interval": "10m"}, 300.0)]
)
def test_postings_backlog_is_the_mean_over_each_sample_and_obeys_littles_law(
    posting: dict[str, Any], wait: float
) -> None:
    """smoke posts each WMS movement 2 min after it happens: by Little's law the mean backlog
    is the posting rate times 120 s. Posting in 10-minute batches on the 10-minute sample
    grid, an instant read would always see an empty queue; the series is the mean over the
    interval, so it shows the ~300 s average wait."""
    over = {f"erp.posting.{k}": v for k, v in posting.items()}
    sc = load_scenario("smoke", over)
    world, _, _ = simulate(sc, build_strategy("oracle", sc), 1)
    rows = [r for r in world.sampler.rows if r[2] == "postings_backlog"]
    t_last = rows[-1][0]
    sampled_mean = sum(v for _, _, _, v in rows[1:]) / (len(rows) - 1)
    rate = world.erp.posted / world.env.now
    assert sampled_mean == pytest.approx(rate * wait, rel=0.08)
    assert t_last < world.env.now
    assert max(v for _, _, _, v in rows) > 0


def test_a_truth_change_that_leaves_true_available_as_it_was_starts_no_clock() -> None:
    """DESIGN §8: only changes of true_available(c, s) start lag clocks. 2 units arrive at
    t=5 (the ERP posts in batches: it does not know); a takes both on backorder at t=10;
    both are lost to shrink at t=20 (free -2); the ERP cannot allocate the line and cancels
    it at t=30 (free back to 0). The shrink and the cancellation are truth changes, but
    what a and b should show stays 0: only t=5 and t=10 start clocks."""
    sc = tiny(
        {
            "stock.fixed_units": 0,
            "channels.a.accept_rule": "backorder",
            "erp.backorder_timeout": 0,
            "erp.posting.mode": "batch",
            "erp.posting.interval": 100_000,
        }
    )
    world = World(sc, 1)
    world.start()
    env, led = world.env, world.ledger
    env.run(until=5)
    world.wms.receive(0, 0, 2)
    env.run(until=10)
    order = world.channels[0].place([0], [2])
    assert order is not None
    env.run(until=20)
    led.shrink(0, 0, 2)
    world.wms.uncounted[0, 0] += 2  # what Wms.run_shrink records for a silent loss
    assert led.free(0, 0) == -2
    env.run(until=30)
    n_changes = len(led.chg_t)
    world.erp.intake(order)
    assert order.lines[0].cancelled == 2
    assert len(led.chg_t) == n_changes + 1  # the claim ended: a truth change
    assert led.free(0, 0) == 0
    env.run(until=40)
    for ch in world.channels:
        ch.apply_write_one(0, 0, 40.0)
    for c in (0, 1):
        t0, lags, waiting = world.lag.samples(c)
        assert t0.tolist() == [5.0, 10.0]
        assert lags.tolist() == [35.0, 30.0]
        assert waiting == 0
