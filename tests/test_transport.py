"""Transport is a run option: any strategy through the HTTP facades and httpx connectors
gives the same run as through the systems' Python APIs (metrics and trace hash), because
every request costs the same capacity and simulated time (``sim.bridge``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sim import load_scenario, run, with_overrides
from sim.assembly.executor import run_differences
from sim.assembly.runner import RunResult
from sim.assembly.world import World
from sim.contract import ItemErrors
from sim.registry import StrategyError
from strategies.base import FunctionStrategy
from strategies.connectors import ErpConnector
from strategies.orchestrated import OrchestratedStrategy
from tests.conftest import cli


def assert_same_run(direct: RunResult, http: RunResult) -> None:
    differ = run_differences(direct, http)
    assert not differ, {k: (direct.metrics.get(k), http.metrics.get(k)) for k in differ}


def both(sc: Any, strategy: Any, seed: int = 2) -> tuple[RunResult, RunResult]:
    direct = run(sc, strategy, seed, keep_history=False, transport="direct")
    http = run(sc, strategy, seed, keep_history=False, transport="http")
    return direct, http


SMOKE = with_overrides(load_scenario("smoke"), {"scenario.duration": "6h"})
PUSH_ATP = {"strategies.api.mode": "push", "strategies.api.atp_check": True}


@pytest.mark.parametrize(
    ("strategy", "overrides"),
    [("oracle", {}), ("perfect", {}), ("batch", {}), ("api", {}), ("api", PUSH_ATP),
     ("event", {}), ("orchestrated", {})],
    ids=["oracle", "perfect", "batch", "api-poll", "api-push-atp", "event", "orchestrated"],
)  # fmt: skip
def test_every_builtin_gives_the_same_run_over_http(strategy: str, overrides: dict) -> None:
    direct, http = both(with_overrides(SMOKE, overrides) if overrides else SMOKE, strategy)
    assert_same_run(direct, http)
    if strategy not in ("oracle", "perfect"):  # the floors make no API call at all
        assert direct.metrics["erp_calls"] > 20 and direct.metrics["channel_calls"] > 20


@pytest.mark.parametrize("strategy", ["batch", "event"])
def test_a_dynamics_erp_gives_the_same_run_over_http(strategy: str) -> None:
    """cloud_erp_migration: the Dataverse Web API shape, 429s with Retry-After."""
    sc = with_overrides(load_scenario("cloud_erp_migration"), {"scenario.duration": "6h"})
    assert_same_run(*both(sc, strategy, 1))


@pytest.mark.parametrize("strategy", ["api", "orchestrated"])
def test_every_channel_platform_gives_the_same_run_over_http(strategy: str) -> None:
    """peak_week: Shopify, Adobe Commerce (fulfillments synced back), Amazon feeds, and
    a Dynamics ERP."""
    sc = with_overrides(load_scenario("peak_week"), {"scenario.duration": "6h"})
    assert_same_run(*both(sc, strategy))


def test_a_user_strategy_runs_over_http_unchanged() -> None:
    seen: list[str] = []

    def hourly_full_sync(env: Any, systems: Any) -> None:
        seen.append(type(systems.erp).__name__)

        def orders(ch: Any) -> Any:
            cursor = 0
            while True:
                yield env.timeout(600)
                page = yield ch.fetch_orders(cursor)
                if page.ok and page.value.orders:
                    taken = yield systems.erp.import_orders(page.value.orders)
                    cursor = page.value.cursor if taken.ok else cursor

        def stock() -> Any:
            while True:
                yield env.timeout(3600)
                snap = yield systems.erp.export_availability()
                if not snap.ok:
                    continue
                for c, ch in enumerate(systems.channels):
                    avail = np.maximum(snap.value.available[systems.serve(c)], 0).sum(axis=0)
                    as_of = snap.value.as_of[systems.serve(c)].min(axis=0)
                    for i in range(0, avail.size, ch.bulk_limit):
                        page = slice(i, i + ch.bulk_limit)
                        yield ch.set_inventory(snap.value.skus[page], avail[page], as_of[page])

        env.process(stock())
        for ch in systems.channels:
            env.process(orders(ch))

    direct, http = both(SMOKE, FunctionStrategy(hourly_full_sync))
    assert seen == ["Erp", "ErpConnector"]
    assert_same_run(direct, http)
    assert direct.metrics["channel_calls"] >= 5 * 3


def test_transport_is_a_run_option_with_one_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="transport must be direct or http, not 'htp'"):
        run(SMOKE, "batch", 1, transport="htp")
    with pytest.raises(StrategyError, match=r"strategies\.batch\.transport: .*run option"):
        run(SMOKE, "batch", 1, strategy_params={"transport": "http"})
    code, out, err = cli(["run", "smoke", "--transport", "htp"], capsys)
    assert (code, out) == (2, "")
    assert err.strip().splitlines() == ["syncsim: error: --transport htp: expected direct or http"]


@pytest.mark.parametrize("preset", [None, "netsuite", "dynamics"])
def test_erp_connectors_answer_what_the_erp_answers(preset: str | None) -> None:
    """Every ERP shape serves the calls built-in strategies make: an export of some SKUs,
    the change feed (stamps and the ERP's clock), an ATP check, an order import."""
    fixed = {"erp.api.service_time": 0.5, "erp.api.per_item": 0.0, "erp.api.concurrency": 10}
    sc = with_overrides(SMOKE, {**fixed, **({"erp.preset": preset} if preset else {})})
    w = World(sc, seed=4)
    w.erp.clock_offset = 7.5  # a skewed ERP clock comes through exactly
    w.erp.changed_at[[3, 9]] = [12.25, 40.125]
    env, erp = w.env, w.systems.erp
    conn = w.strategy_systems("http").erp
    assert isinstance(conn, ErpConnector) and type(conn) is not type(erp)

    def calls(system: Any) -> list[Any]:
        return [system.changes(10.0), system.export_availability([3, 9]),
                system.check_atp([3, 9, 11], 1)]  # fmt: skip

    direct, http = calls(erp), calls(conn)  # at the same instant, served alike
    env.run(until=env.all_of(direct + http))
    assert all(ev.value.ok for ev in direct + http)
    (fd, sd, ad), (fh, sh, ah) = ([ev.value.value for ev in evs] for evs in (direct, http))
    assert fh.skus.tolist() == fd.skus.tolist() == [3, 9]
    assert fh.stamps.tolist() == fd.stamps.tolist() == [12.25, 40.125]
    assert fh.clock == fd.clock == 0.5 + 7.5
    for name in ("skus", "on_hand", "committed", "hold", "in_transit", "as_of"):
        assert np.array_equal(getattr(sh, name), getattr(sd, name)), name
    assert sh.at == sd.at and ah == ad and len(ah) == 3
    order = w.ledger.new_order(0)
    w.ledger.accept(order, 3, 1)
    ev = conn.import_orders([order])
    env.run(until=ev)
    assert ev.value.ok and [r.order_id for r in ev.value.value] == [order.id]
    assert w.erp.import_acknowledged == {order.id}


@pytest.mark.parametrize(
    "presets",
    [{}, {"webshop": "shopify", "marketplace": "amazon", "b2b-portal": "bigcommerce"},
     {"webshop": "adobe_commerce", "b2b-portal": {"platform": "shopify", "api": "rest"}}],
    ids=["generic", "shopify-amazon-bigcommerce", "adobe-shopify_rest"],
)  # fmt: skip
def test_channel_connectors_read_what_the_channel_shows(presets: dict[str, Any]) -> None:
    """Every channel shape serves the inventory read (of every SKU or of some): the SKUs,
    what the channel shows and each SKU's ``as_of``, as the direct read gives them."""
    sc = with_overrides(SMOKE, {f"channels.{n}.preset": p for n, p in presets.items()})
    w = World(sc, seed=4)
    env, channels = w.env, w.channels
    conns = w.strategy_systems("http").channels
    for ch in channels:
        ch.apply_write(np.array([3, 9]), np.array([7, 0]), np.array([12.25, 40.125]))

    def calls(ch: Any) -> list[Any]:
        return [ch.read_inventory(), ch.read_inventory([9, 3]), ch.read_inventory([])]

    direct = [calls(ch) for ch in channels]  # at the same instant, served alike
    http = [calls(conn) for conn in conns]
    assert all(type(conn) is not type(ch) for ch, conn in zip(channels, conns, strict=True))
    env.run(until=env.all_of([ev for evs in direct + http for ev in evs]))
    for ch, d, h in zip(channels, direct, http, strict=True):
        assert all(ev.value.ok for ev in d + h), ch.name
        for dev, hev in zip(d, h, strict=True):
            dp, hp = dev.value.value, hev.value.value
            for name in ("skus", "shown", "as_of"):
                got, want = getattr(hp, name), getattr(dp, name)
                assert got.dtype == want.dtype and np.array_equal(got, want), (ch.name, name)
        every, some, none = (ev.value.value for ev in h)
        assert every.skus.size == ch.n_sku and none.skus.size == 0
        assert some.skus.tolist() == [9, 3] and some.as_of.tolist() == [40.125, 12.25]


@pytest.mark.parametrize(
    ("preset", "skus"),
    [(None, [3, 5, 9]), ("shopify", [3, 5, 9]),
     ({"platform": "shopify", "api": "rest"}, [3]), ({"platform": "shopify", "api": "rest"}, [5])],
    ids=["generic", "shopify", "shopify_rest-refused", "shopify_rest-landed"],
)  # fmt: skip
def test_items_refused_one_by_one_come_back_over_http(preset: Any, skus: list[int]) -> None:
    """A write that lands for some SKUs and is refused item by item for unmapped ones
    (``ItemErrors``) answers the same over HTTP: the generic API's 207 with ``errors``,
    Shopify's ``userErrors`` of a served mutation, REST's 422 naming the one item."""
    sc = with_overrides(SMOKE, {"channels.webshop.preset": preset} if preset else {})
    w = World(sc, seed=4)
    env, ch = w.env, w.channels[0]
    conn = w.strategy_systems("http").channels[0]
    ch.unmap(np.array([3, 9]), SimpleNamespace(index=0, hit=lambda n: None), True)  # type: ignore[arg-type]
    replies = []
    for system, value in ((ch, 4), (conn, 6)):
        ev = system.set_inventory(skus, [value] * len(skus), 10.0)
        env.run(until=ev)
        replies.append(ev.value)
        assert ch.shown(3) != value and (5 not in skus or ch.shown(5) == value)
    direct, http = replies
    assert direct.status == http.status == 200
    if 3 in skus:
        assert isinstance(direct.value, ItemErrors) and isinstance(http.value, ItemErrors)
        assert (
            http.value.skus.tolist()
            == direct.value.skus.tolist()
            == [s for s in skus if s in (3, 9)]
        )
        assert http.value.error == direct.value.error == "UNMAPPED_SKU"
    else:
        assert direct.value is None and not isinstance(http.value, ItemErrors)


class _Landed(OrchestratedStrategy):
    """Orchestrated, keeping what its middleware believes landed on each channel at ``at``."""

    def __init__(self, at: float) -> None:
        super().__init__()
        self.at = at
        self.landed = np.zeros(0)

    def start(self, env: Any, systems: Any) -> None:
        super().start(env, systems)

        def keep() -> Any:
            yield env.timeout(self.at)
            self.landed = self.middleware.landed_at.copy()

        env.process(keep())


def test_orchestrated_runs_the_same_over_http_under_data_quality_faults() -> None:
    """data_quality's unmapped SKUs on the webshop (popular SKUs, early and short): the
    middleware learns over HTTP which items were refused, as it does directly (what it
    believes landed, while the fault is on), and the run is the same."""
    unmapped = {"kind": "unmapped_skus", "target": "webshop", "skus": list(range(6)),
                "start": "2h", "duration": "6h"}  # fmt: skip
    sc = with_overrides(load_scenario("data_quality"),
                        {"scenario.duration": "10h", "faults": [unmapped]})  # fmt: skip
    strategies = [_Landed(7 * 3600.0), _Landed(7 * 3600.0)]
    direct, http = (
        run(sc, s, 2, keep_history=False, transport=t, recovery_baseline=False)
        for s, t in zip(strategies, ["direct", "http"], strict=True)
    )
    assert_same_run(direct, http)
    assert direct.metrics["updates_refused"] > 0 and direct.metrics["mw_channel_audits"] > 0
    d, h = (s.landed for s in strategies)
    assert d.size and np.array_equal(d, h)
    assert (d[0, :6] < 2 * 3600.0 + 1).all()  # the unmapped SKUs never landed during the fault
