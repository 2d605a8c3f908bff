"""Partner locations (3PL, drop-ship; docs/partners.md): stock known only through feeds.

Direction, not motion: a missed feed hurts the partner's location and nothing else; a longer
feed interval makes the ERP's partner stock older, by the closed form of a sawtooth; the WMS
never moves a partner's stock (its ERP record changes only when a file lands); a bad
location kind or a partner fault aimed at an own location is refused in one line.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

import sim
from mocks.partner import time_weighted_quantile
from sim.assembly.runner import simulate
from sim.dists import parse_duration
from sim.registry import build_strategy
from sim.scenario import ScenarioError, load_scenario
from strategies.base import FunctionStrategy, SyncStrategy

#: dropship_3pl with each channel served by one location (the webshop by DC-Main, the
#: marketplace by 3PL-East, the outlet by Vendor-Direct), so that what happens at one cannot
#: move another through allocation
DISJOINT = {
    "channels.webshop.locations": ["DC-Main"],
    "channels.marketplace.locations": ["3PL-East"],
    "channels.outlet.locations": ["Vendor-Direct"],
}
#: a day of the 3PL's files missed, over the purchase orders received there on day 4 (what
#: the ERP allocated and saw shipped it accounts for without a file; a receipt it does not)
MISSED = [{"kind": "partner_feed_missed", "target": "3PL-East", "start": "70h", "duration": "30h"}]


class _RecordProbe(SyncStrategy):
    """Batch, plus a sampler of the ERP's on-hand record against physical stock per location
    (the mean over one-minute samples of the summed |ERP - physical| over SKUs)."""

    name = "batch"

    def __init__(self, inner: SyncStrategy) -> None:
        super().__init__()
        self.inner = inner
        self.error: np.ndarray = np.zeros(0)
        self.samples = 0

    def start(self, env: simpy.Environment, systems: Any) -> None:
        self.inner.start(env, systems)
        erp = systems.erp
        led = erp.ledger
        self.error = np.zeros(led.n_loc)

        def sample() -> Generator[Any, Any, None]:
            while True:
                yield env.timeout(60.0)
                self.error += np.abs(erp.on_hand - led.on_hand).sum(axis=1)
                self.samples += 1

        env.process(sample())


def _record_error(faults: list[dict[str, Any]]) -> np.ndarray:
    sc = load_scenario("dropship_3pl", {**DISJOINT, "faults": faults})
    probe = _RecordProbe(build_strategy("batch", sc))
    world, _, _ = simulate(sc, probe, 3, keep_history=False)
    assert world.partners is not None
    return probe.error / probe.samples


def test_a_missed_feed_raises_divergence_at_the_partner_only() -> None:
    calm = _record_error([])
    missed = _record_error(MISSED)
    loc = {name: i for i, name in enumerate(["DC-Main", "DC-Outlet", "3PL-East", "Vendor-Direct"])}
    # the 3PL's record is clearly worse: a day of files missed
    assert missed[loc["3PL-East"]] > 1.5 * calm[loc["3PL-East"]] + 1.0
    # the own location and the other partner: the same run, to within 1 %
    for name in ("DC-Main", "Vendor-Direct"):
        assert missed[loc[name]] == pytest.approx(calm[loc[name]], rel=0.01, abs=0.05), name


def test_a_missed_feed_shows_on_the_partners_channel_not_on_the_others() -> None:
    runs = {
        label: sim.run("dropship_3pl", "batch", 3, overrides={**DISJOINT, "faults": f},
                       keep_history=False, recovery_baseline=False)
        for label, f in (("calm", []), ("missed", MISSED))
    }  # fmt: skip
    div = {
        k: {c: m["divergence_mean_abs"] for c, m in r.per_channel.items()} for k, r in runs.items()
    }
    assert div["missed"]["marketplace"] > 5 * div["calm"]["marketplace"]
    for c in ("webshop", "outlet"):  # DC-Main's, and the vendor's
        assert div["missed"][c] == pytest.approx(div["calm"][c], rel=0.01), c
    age = {k: r.metrics["partner_feed_age_p95_s"] for k, r in runs.items()}
    assert age["missed"] > age["calm"]


#: one own warehouse and one 3PL, a fixed feed lag, no demand: the age of the 3PL's stock in
#: the ERP is a pure sawtooth
TINY = """
[scenario]
id = "tiny_partner-v1"
duration = "{days}d"
[catalogue]
skus = 3
[[locations]]
name = "own"
[[locations]]
name = "tpl"
kind = "3pl"
[locations.partner]
feed_interval = "{interval}"
feed_lag = "{lag}"
[[channels]]
name = "shop"
kind = "storefront"
locations = ["own", "tpl"]
orders_per_hour = 0
[demand]
enabled = false
"""


def _age(tmp_path: Any, interval: str, lag: str, days: int = 4) -> float:
    path = tmp_path / f"tiny_{interval}.toml"
    path.write_text(TINY.format(days=days, interval=interval, lag=lag))
    r = sim.run(path, "oracle", 1, keep_history=False)
    assert r.per_channel["shop"]["partner_feed_age_p95_s"] == r.metrics["partner_feed_age_p95_s"]
    return float(r.metrics["partner_feed_age_p95_s"])


def _sawtooth_p95(interval: float, lag: float, end: float) -> float:
    """The closed form, computed independently on a one-second grid: files snapshotted at
    k * interval land lag later; before the first lands the age is t (go-live at 0)."""
    t = np.arange(0.0, end, 1.0) + 0.5
    k = np.floor((t - lag) / interval)  # the last file landed by t
    ts = np.where(k >= 1, k * interval, 0.0)
    return float(np.percentile(t - ts, 95))


@pytest.mark.parametrize(("interval", "lag"), [("2h", "10m"), ("6h", "30m")])
def test_feed_age_p95_is_the_sawtooths(tmp_path: Any, interval: str, lag: str) -> None:
    i, lg = parse_duration(interval), parse_duration(lag)
    got = _age(tmp_path, interval, lag)
    assert got == pytest.approx(_sawtooth_p95(i, lg, 4 * 86400.0), abs=2.0)
    # and about lag + 0.95 x interval: the steady sawtooth is uniform on [lag, lag + interval]
    assert got == pytest.approx(lg + 0.95 * i, rel=0.08)


def test_a_longer_feed_interval_gives_older_partner_stock(tmp_path: Any) -> None:
    ages = [_age(tmp_path, iv, "15m") for iv in ("1h", "4h", "12h")]
    assert ages[0] < ages[1] < ages[2]
    assert ages[2] > 2.5 * ages[1]


def test_time_weighted_quantile_of_one_uniform_segment() -> None:
    lo, hi = np.array([10.0]), np.array([110.0])
    assert time_weighted_quantile(lo, hi, 0.95) == pytest.approx(105.0)
    # two segments from 0, of 100 s and 300 s: F(x) = (100 + x) / 400 above 100
    q = time_weighted_quantile(np.array([0.0, 0.0]), np.array([100.0, 300.0]), 0.75)
    assert q == pytest.approx(200.0)


def test_the_wms_never_moves_a_partners_stock() -> None:
    seen: dict[str, list[Any]] = {"wms": [], "erp": []}

    def watch(env: simpy.Environment, systems: Any) -> None:
        systems.wms.subscribe(lambda mv: seen["wms"].append((mv.kind, mv.loc)))
        systems.erp.on_hand_listeners.append(lambda loc, sku: seen["erp"].append((env.now, loc)))

    class Watched(SyncStrategy):
        name = "batch"

        def __init__(self) -> None:
            super().__init__()
            self.inner = build_strategy("batch", load_scenario("dropship_3pl"))

        def start(self, env: simpy.Environment, systems: Any) -> None:
            FunctionStrategy(watch).start(env, systems)
            self.inner.start(env, systems)

    sc = load_scenario("dropship_3pl", {"scenario.duration": "2d", "faults": []})
    world, _, _ = simulate(sc, Watched(), 1, keep_history=False)
    partners = world.partners
    assert partners is not None
    plocs = set(partners.sites)
    led = world.ledger
    shipped_at_partners = led.totals["ship"][sorted(plocs)].sum()
    assert shipped_at_partners > 0  # the partners did ship, in the truth
    assert {loc for _, loc in seen["wms"]}.isdisjoint(plocs)  # never through the WMS
    assert not world.wms.snapshot().on_hand[sorted(plocs)].any()  # nor in its record
    landings = {loc: {t for t, _ in site.landings} for loc, site in partners.sites.items()}
    at_partners = [(t, loc) for t, loc in seen["erp"] if loc in plocs]
    assert at_partners  # files did change the record
    # the ERP's record of a partner changes only when one of its files lands (or a short
    # pick it rejects is posted: no on-hand change)
    assert all(t in landings[loc] for t, loc in at_partners)
    for site in partners.sites.values():
        assert site.files_applied == len(site.landings) > 0


def test_a_bad_location_kind_is_one_line() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario("dropship_3pl", {"locations.3PL-East.kind": "warehouse"})
    msg = str(err.value)
    assert "\n" not in msg
    assert "kind: Input should be 'own', '3pl' or 'dropship'" in msg


def test_a_partner_table_on_an_own_location_is_one_line() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario("dropship_3pl", {"locations.3PL-East.kind": "own"})
    assert "\n" not in str(err.value)
    assert 'needs kind = "3pl" or "dropship"' in str(err.value)


@pytest.mark.parametrize("kind", ["partner_feed_missed", "partner_feed_lag", "partner_feed_errors"])
def test_a_partner_fault_aimed_at_an_own_location_is_one_line(kind: str) -> None:
    fault = {"kind": kind, "target": "DC-Main", "start": "1h", "duration": "1h"}
    with pytest.raises(ScenarioError) as err:
        load_scenario("dropship_3pl", {"faults": [fault]})
    msg = str(err.value)
    assert "\n" not in msg
    assert "faults.0.target: 'DC-Main' is not a partner location" in msg


def test_a_drop_ship_vendor_takes_no_purchase_orders() -> None:
    po = {"sku": 1, "qty": 10, "location": "Vendor-Direct", "at": "1h", "lead": "1d"}
    with pytest.raises(ScenarioError, match="is a drop-ship vendor") as err:
        load_scenario("dropship_3pl", {"erp.purchase_orders": [po]})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kind", ["partner_feed_lag", "partner_feed_errors"])
def test_late_or_wrong_files_fire_and_make_the_record_worse(kind: str) -> None:
    fault = {"kind": kind, "start": "12h", "duration": "24h"}
    if kind == "partner_feed_errors":
        fault["rate"] = 0.5
    calm = _record_error([])
    bad = _record_error([fault])
    assert bad[2] > 1.1 * calm[2]  # the 3PL and the vendor (target "partners": both)
    assert bad[3] > 1.02 * calm[3]
    assert bad[0] == pytest.approx(calm[0], rel=0.01, abs=0.05)  # DC-Main


@pytest.mark.parametrize("strategy", ["event", "orchestrated"])
def test_event_fed_views_hold_what_the_erp_holds_of_a_partner(strategy: str) -> None:
    """Through ``erp.subscribe_partner`` only: after four days (the 3PL received purchase
    orders on day 4, the vendor restocked on day 2), a consumer's view of each partner
    location is the ERP's record, and what it counts as released there is what the ERP
    sent the partner and has not seen shipped or rejected."""
    sc = load_scenario("dropship_3pl", {"scenario.duration": "98h", "faults": []})
    world, strat, _ = simulate(sc, build_strategy(strategy, sc), 1, keep_history=False)
    partners = world.partners
    assert partners is not None
    views = [c.view for c in strat.consumers] if strategy == "event" else [strat.middleware.view]
    plocs = sorted(partners.sites)
    assert world.ledger.totals["receipt"][plocs].sum() > 0  # there was something to learn
    for view in views:
        np.testing.assert_array_equal(view.on_hand[plocs], world.erp.on_hand[plocs])
        for loc in plocs:
            np.testing.assert_array_equal(view.released[loc], partners.sites[loc].released)
