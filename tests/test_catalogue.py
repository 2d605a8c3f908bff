"""The scenario catalogue: every file loads, validates, is versioned and documented, is
listed by ``syncsim scenarios``, and the new scenarios run for a tiny horizon."""

from __future__ import annotations

import re

import pytest

from sim import load_scenario, run
from sim.cli import main
from sim.cli.app import out_console
from sim.scenario import catalogue_dir, catalogue_entries, find_scenario, read_raw

CATALOGUE = {
    "peak_week", "flash_sale", "batch_vs_realtime", "erp_bottleneck", "erp_maintenance",
    "saas_outage", "middleware_outage", "channel_expansion", "returns_qc",
    "marketplace_pending", "record_accuracy", "smoke", "bus_faults", "webhook_storm",
    "preorder_launch", "regional_fulfillment", "bundles", "b2b_contracts",
    "dropship_3pl", "data_quality",
}  # fmt: skip
LATER = {"cloud_erp_migration", "cloud_erp_migration_before"}  # with the platform presets
NEW = ["flash_sale", "batch_vs_realtime", "channel_expansion", "returns_qc",
       "marketplace_pending", "record_accuracy", "preorder_launch",
       "regional_fulfillment", "bundles", "b2b_contracts",
       "dropship_3pl", "data_quality"]  # fmt: skip


def test_catalogue_holds_every_scenario_and_nothing_else() -> None:
    names = {name for name, *_ in catalogue_entries()}
    assert names >= CATALOGUE
    assert names - CATALOGUE <= LATER


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_scenario_validates_is_versioned_and_documented(name: str) -> None:
    path = find_scenario(name)
    assert path.parent == catalogue_dir()
    sc = load_scenario(name)
    assert re.fullmatch(rf"{name}-v\d+", sc.id), sc.id
    assert sc.scenario.description
    assert "\n" not in sc.scenario.description
    header = path.read_text().split("\n\n")[0]
    assert header.startswith(f"# {name} ")
    assert "What it represents" in header
    assert "What to look at" in header
    assert load_scenario(sc.id).id == sc.id  # reachable by its versioned id too


def test_scenarios_command_lists_each_with_its_description(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(out_console, "_width", 300)  # one table row per line
    main(["scenarios"])  # returns normally: exit code 0
    lines = capsys.readouterr().out.splitlines()
    for name, sid, desc, _ in catalogue_entries():
        (row,) = [ln for ln in lines if f" {name} " in ln]
        assert sid in row
        assert desc in row


@pytest.mark.parametrize("name", NEW)
def test_new_scenarios_run_checked_for_a_tiny_horizon(name: str) -> None:
    tiny: dict[str, object] = {"scenario.duration": "2h", "catalogue.skus": 100}
    if load_scenario(name).faults:  # a fault plan does not fit in 2 hours
        tiny["faults"] = []
    sc = load_scenario(name, tiny)
    for strategy in ("batch", "orchestrated"):
        r = run(sc, strategy, 1)
        assert r.ok, (strategy, r.checks)
        assert r.metrics["orders_accepted"] > 0


def test_peak_week_is_on_the_platforms_its_header_names() -> None:
    """v2: the Shopify main shop, the Adobe Commerce outlet and the Amazon marketplace are
    the platform presets, the ERP is Dynamics-like (52 concurrent calls, 429 past them)."""
    sc = load_scenario("peak_week")
    assert sc.id == "peak_week-v2"
    presets = {c.name: c.preset.platform if c.preset else None for c in sc.channels}
    assert presets == {
        "shop-main": "shopify", "shop-outlet": "adobe_commerce", "marketplace": "amazon",
        "b2b-portal": None,
    }  # fmt: skip
    assert sc.erp.preset is not None
    assert sc.erp.preset.platform == "dynamics"
    assert not {"concurrency", "overflow", "service_time"} & sc.erp.api.model_fields_set
    header = find_scenario("peak_week").read_text().split("\n\n")[0]
    for claim in ("Shopify", "Adobe Commerce", "Amazon", "Dynamics"):
        assert claim in header


def test_scenarios_derived_from_peak_week_keep_v1_as_their_base() -> None:
    """peak_week-v1 stays reachable (by id, under scenarios/base/) and the scenarios built
    on it keep its channels, without presets, so their numbers and versions do not move."""
    v1 = load_scenario("peak_week-v1")
    assert find_scenario("peak_week-v1").parent.name == "base"
    assert all(c.preset is None for c in v1.channels)
    for name in ("erp_maintenance", "middleware_outage", "saas_outage", "batch_vs_realtime"):
        raw = read_raw(find_scenario(name))
        assert all("preset" not in c for c in raw["channels"]), name
        assert "preset" not in raw["erp"], name


@pytest.mark.parametrize(
    ("name", "strategies"),
    [("bus_faults", ("event", "orchestrated")), ("webhook_storm", ("api", "event"))],
)
def test_fault_scenarios_run_checked_and_every_fault_fires(
    name: str, strategies: tuple[str, ...]
) -> None:
    """The new fault scenarios on a small catalogue, without the no-fault twin: safe, nothing
    lost (liveness), and every planned fault touched the strategies it is meant for."""
    sc = load_scenario(name, {"catalogue.skus": 80, "scenario.duration": "11h"})
    for strategy in strategies:
        r = run(sc, strategy, 1, recovery_baseline=False, keep_history=False)
        assert r.ok, (strategy, r.checks)
        assert r.checks["liveness"]["ok"], (strategy, r.checks["liveness"])
        assert all(f["fired"] for f in r.faults), (strategy, r.faults)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bus_faults", "webhook_storm", "peak_week"])
def test_every_builtin_runs_the_platform_and_fault_scenarios_checked(name: str) -> None:
    over = {"scenario.duration": "1d"} if name == "peak_week" else {}
    for strategy in ("oracle", "batch", "api", "event", "orchestrated"):
        r = run(name, strategy, 1, overrides=over, keep_history=False)
        assert r.ok, (name, strategy, r.checks)
        assert r.checks["liveness"]["orders"]["lost"] == 0, (name, strategy)


def test_bus_faults_show_what_idempotency_buys() -> None:
    """The same duplicates and rebalance, with and without event-id / version dedupe."""
    sc = load_scenario("bus_faults", {"catalogue.skus": 80, "scenario.duration": "11h"})
    out = {}
    for idempotent in (True, False):
        r = run(sc, "event", 1, strategy_params={"idempotent": idempotent},
                recovery_baseline=False, keep_history=False)  # fmt: skip
        assert r.ok
        out[idempotent] = r.metrics
    assert out[True]["event_duplicate_applications"] == 0
    assert out[False]["event_duplicate_applications"] > 100
    assert out[False]["divergence_mean_abs"] > 3 * out[True]["divergence_mean_abs"]


def test_channel_expansion_adds_channels_and_centres_to_peak_week() -> None:
    base, sc = load_scenario("peak_week"), load_scenario("channel_expansion")
    assert {c.name for c in base.channels} < {c.name for c in sc.channels}
    added = {c.kind for c in sc.channels if c.name not in {c.name for c in base.channels}}
    assert added == {"marketplace", "b2b"}
    new_locs = {loc.name for loc in sc.locations} - {loc.name for loc in base.locations}
    assert len(new_locs) == 2
    # the regional centres serve different channel sets (their own allocation rules)
    serves = {loc: {c.name for c in sc.channels if loc in c.locations} for loc in new_locs}
    a, b = serves.values()
    assert a != b
    assert a
    assert b


def test_flash_sale_peaks_at_about_an_order_per_second() -> None:
    sc = load_scenario("flash_sale")
    (peak,) = sc.demand.peaks
    assert peak.duration == 7200
    rate = sum(c.orders_per_hour for c in sc.channels) * peak.multiplier
    assert 3400 <= rate <= 3800


def test_returns_counted_at_receipt_oversells_what_qc_later_scraps() -> None:
    """Same seed, same returns: booking them as stock before QC over-shows and oversells."""
    raw = read_raw(find_scenario("returns_qc"))
    assert raw["returns"]["counted"] == "after_qc"
    knobs = {
        "returns.delay": "30m", "returns.qc_delay": "6h", "returns.restock_fraction": 0.3,
        "returns.rate": {"storefront": 0.4, "marketplace": 0.4, "b2b": 0.0},
    }  # fmt: skip
    out = {}
    for counted in ("after_qc", "at_receipt"):
        sc = load_scenario("smoke", {**knobs, "returns.counted": counted})
        r = run(sc, "batch", 1)
        assert r.ok, r.checks
        out[counted] = r.metrics
    assert out["at_receipt"]["oversold_lines"] > 3 * max(out["after_qc"]["oversold_lines"], 1)
    assert out["at_receipt"]["divergence_over_frac"] > 2 * out["after_qc"]["divergence_over_frac"]
    # the demand is the same; only the record-keeping differs
    assert out["at_receipt"]["orders_accepted"] >= out["after_qc"]["orders_accepted"]
