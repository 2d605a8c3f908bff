"""The floors (oracle, perfect) and batch on catalogue scenarios: the numbers the core issue
asks for."""

from __future__ import annotations

import pytest

from sim.assembly.runner import run
from sim.scenario import load_scenario
from tests.conftest import cached_run

SEEDS = (1, 2, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_oracle_never_oversells_on_smoke_and_has_no_lag(seed: int) -> None:
    """smoke has no shrink and counts returns after QC: the record is right, and the
    oracle, the record shown instantly, is the truth."""
    r = cached_run("smoke", "oracle", seed)
    assert r.metrics["lines_accepted"] > 1000
    assert r.metrics["oversold_lines"] == 0
    assert r.metrics["lag_max_s"] == 0.0
    assert r.metrics["unpropagated_changes"] == 0
    assert r.metrics["divergence_mean_abs"] == 0.0
    assert r.metrics["lost_sale_units"] == 0


def test_oracle_never_oversells_on_peak_week() -> None:
    r = cached_run("peak_week", "oracle", 1)
    assert r.metrics["lines_accepted"] > 50_000
    assert r.metrics["oversold_lines"] == 0
    assert r.metrics["lag_p99_s"] == 0.0
    assert r.metrics["divergence_mean_abs"] == 0.0


@pytest.mark.parametrize(
    ("scenario", "overrides"),
    [
        ("record_accuracy", {}),
        ("returns_qc", {"returns.counted": "at_receipt", "scenario.duration": "1d"}),
    ],
    ids=["uncounted-shrink", "returns-counted-at-receipt"],
)
def test_oracle_oversells_where_the_record_is_wrong_and_perfect_never(
    scenario: str, overrides: dict[str, object]
) -> None:
    """Where the WMS record is wrong (shrink not yet counted; returns booked into stock
    before QC) the record is never below the shelf: the oracle shows at least the truth,
    so it oversells and never under-shows. ``perfect`` shows the truth itself: no oversell,
    no divergence, no lag, on the same seed."""
    oracle = run(scenario, "oracle", 1, overrides=overrides, keep_history=False).metrics
    perfect = run(scenario, "perfect", 1, overrides=overrides, keep_history=False).metrics
    assert oracle["oversold_lines"] > 0
    assert oracle["divergence_over_frac"] > 0
    assert oracle["divergence_under_frac"] == 0.0
    assert oracle["lost_sale_units"] == 0
    assert perfect["lines_accepted"] > 5000
    assert perfect["oversold_lines"] == 0
    assert perfect["divergence_mean_abs"] == 0.0
    assert perfect["lag_max_s"] == 0.0
    assert perfect["unpropagated_changes"] == 0
    assert perfect["lost_sale_units"] == 0


def test_batch_oversells_grow_with_the_interval_on_smoke() -> None:
    totals = {}
    for minutes in (5, 30, 60):
        totals[minutes] = sum(
            cached_run("smoke", "batch", s, interval=minutes * 60).metrics["oversold_lines"]
            for s in SEEDS
        )
    assert 0 < totals[5] < totals[30] < totals[60], totals


def test_batch_oversells_more_than_oracle_on_every_seed() -> None:
    for s in SEEDS:
        assert cached_run("smoke", "batch", s).metrics["oversold_lines"] > 0
        assert cached_run("smoke", "oracle", s).metrics["oversold_lines"] == 0


@pytest.mark.parametrize("minutes", [10, 30])
def test_batch_lag_p50_is_half_the_interval_plus_push_time(minutes: int) -> None:
    """With real-time posting, instant hand-off and frequent import, a change waits on
    average half an interval for the next export, then the export and the push."""
    interval = minutes * 60.0
    sc = load_scenario(
        "smoke",
        {
            "erp.posting.mode": "realtime",
            "channels.webshop.handoff_delay": 0,
            "channels.marketplace.handoff_delay": 0,
            "channels.marketplace.pending_period": 0,
            "strategies.batch.interval": interval,
            "strategies.batch.order_import_interval": 5,
        },
    )
    r = run(sc, "batch", 4)
    # export: 0.3 s + 120 items x 0.5 ms; push: one 0.2 s request; import: up to 5 s
    push_time = 0.3 + 120 * 0.0005 + 0.2
    expected = interval / 2 + push_time
    assert r.metrics["lag_p50_s"] == pytest.approx(expected, rel=0.1, abs=10.0)
    assert r.metrics["lag_max_s"] <= interval + push_time + 5 + 60


@pytest.mark.slow
def test_batch_oversells_grow_with_the_interval_on_peak_week() -> None:
    oversold = [
        cached_run("peak_week", "batch", 1, interval=m * 60).metrics["oversold_lines"]
        for m in (5, 30, 60)
    ]
    assert oversold[0] < oversold[1] < oversold[2], oversold


def test_per_channel_metrics_add_up_to_the_run() -> None:
    r = cached_run("smoke", "batch", 1)
    for key in ("orders_accepted", "lines_accepted", "oversold_lines", "lost_sale_units"):
        assert sum(m[key] for m in r.per_channel.values()) == r.metrics[key]
    mean_div = sum(m["divergence_mean_abs"] for m in r.per_channel.values()) / 3
    assert r.metrics["divergence_mean_abs"] == pytest.approx(mean_div)


def test_batch_costs_the_erp_and_the_channels_and_the_oracle_costs_nothing() -> None:
    b = cached_run("smoke", "batch", 1).metrics
    o = cached_run("smoke", "oracle", 1).metrics
    # one export every 15 minutes plus order imports every 5 minutes per channel
    assert b["erp_calls"] >= 24 * 4 + 24 * 12
    assert b["channel_calls"] >= 24 * 4 * 3
    assert b["erp_latency_p95_s"] > 0
    assert o["erp_calls"] == 0
    assert o["channel_calls"] == 0


def test_changed_only_push_writes_fewer_skus_than_full_push() -> None:
    full = run("smoke", "batch", 2, strategy_params={"mode": "full"})
    changed = run("smoke", "batch", 2, strategy_params={"mode": "changed"})
    assert changed.metrics["batch_skus_written"] < full.metrics["batch_skus_written"] / 2
    # the ERP is asked for its changes first, then exports only those SKUs
    assert changed.metrics["erp_calls"] > full.metrics["erp_calls"]
    assert changed.metrics["oversold_lines"] > 0


def test_safety_stock_trades_oversells_for_lost_sales() -> None:
    base = [cached_run("smoke", "batch", s) for s in SEEDS]
    safe = [cached_run("smoke", "batch", s, safety_stock=2) for s in SEEDS]
    assert sum(r.metrics["oversold_lines"] for r in safe) < sum(
        r.metrics["oversold_lines"] for r in base
    )
    assert sum(r.metrics["lost_sale_units"] for r in safe) > sum(
        r.metrics["lost_sale_units"] for r in base
    )
