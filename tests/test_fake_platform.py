"""A new channel platform in one file: preset, semantics, HTTP shape and connector.

"Fakeshop" is a storefront platform that keeps a display buffer: whatever quantity an
integration writes, it shows ``display_buffer`` units fewer (its preset parameter), and its
API takes at most ``requests_per_minute`` requests in any minute. It speaks its own HTTP
API (``POST /fake/v1/stock``, ``GET /fake/v1/stock`` to read it back, ``GET /fake/v1/sales``).
Registered at run time with
``register_platform`` and ``register_connector`` (a plug-in package would declare the
``syncsim.platforms`` and ``syncsim.connectors`` entry points instead), a scenario names it
as ``preset = "fakeshop"`` and every strategy runs against it, directly and over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import httpx
import numpy as np
import pytest
import respx
from pydantic import Field

from mocks.api import Reply
from mocks.channel import Channel
from mocks.http import (
    as_of_headers,
    as_of_of,
    channel_inventory,
    channel_orders,
    codes_of,
    retry_after_headers,
    skus_of,
    wait,
)
from mocks.platforms import Platform, register_platform, unregister_platform
from sim import load_scenario, run, with_overrides
from sim.assembly.executor import run_differences
from sim.assembly.world import World
from sim.bridge import SimRuntime, sku_code, sku_index
from sim.capacity import EffectiveChannelApi, WindowLimit
from sim.dists import Dist, Fixed
from sim.fields import Int
from sim.platforms import ChannelPreset
from sim.scenario import ScenarioError
from strategies.connectors import ChannelConnector, register_connector, unregister_connector
from strategies.connectors.base import (
    OrdersPageDoc,
    as_of_header,
    error_reply,
    inventory_page,
    order_doc,
    sku_codes,
)


class Fakeshop(ChannelPreset):
    """The preset: a display buffer and a request quota, with the platform's defaults."""

    platform: Literal["fakeshop"]
    display_buffer: Int = Field(2, ge=0, le=1000)
    requests_per_minute: Int = Field(30, ge=1, le=10**6)
    latency: Dist = Field(default_factory=lambda: Fixed(value=0.3))

    def platform_api(self) -> EffectiveChannelApi:
        quota = WindowLimit(limit=self.requests_per_minute, window=60.0, code="SLOW_DOWN")
        return EffectiveChannelApi(latency=self.latency, limits=(quota,), bulk_limit=100)


class FakeshopChannel(Channel):
    """The twist: a written quantity shows ``display_buffer`` units fewer."""

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        preset = self.spec.preset
        assert isinstance(preset, Fakeshop)
        shown = np.maximum(np.array(values, np.int64, ndmin=1) - preset.display_buffer, 0)
        return super().set_inventory(skus, shown, as_of, expected)


def fakeshop_routes(router: respx.Router, ch: FakeshopChannel, rt: SimRuntime) -> None:
    def error(reply: Reply) -> httpx.Response:
        body = {"problem": reply.error or "ERROR"}
        return httpx.Response(reply.status, json=body, headers=retry_after_headers(reply))

    def stock(request: httpx.Request) -> httpx.Response:
        lines = json.loads(request.content)["lines"]
        skus = skus_of([ln["code"] for ln in lines])
        aso = as_of_of(request, skus.size, ch.env.now)
        reply = wait(rt, ch.set_inventory(skus, [ln["qty"] for ln in lines], aso))
        return httpx.Response(204) if reply.ok else error(reply)

    def stock_read(request: httpx.Request) -> httpx.Response:
        codes = codes_of(request.url.params.get("codes"))
        reply = channel_inventory(ch, rt, codes)
        if not reply.ok:
            return error(reply)
        page = reply.value
        lines = [{"code": sku_code(s), "qty": int(v)}
                 for s, v in zip(page.skus.tolist(), page.shown.tolist(), strict=True)]  # fmt: skip
        return httpx.Response(200, json={"lines": lines}, headers=as_of_headers(page))

    def sales(request: httpx.Request) -> httpx.Response:
        reply = channel_orders(ch, rt, int(request.url.params["after"]), None)
        if not reply.ok:
            return error(reply)
        sales = [
            {"ref": o.id, "items": [{"n": ln.id, "code": sku_code(ln.sku), "qty": ln.qty}
                                    for ln in o.lines]}
            for o in reply.value.orders
        ]  # fmt: skip
        return httpx.Response(200, json={"sales": sales, "next": reply.value.cursor})

    router.post("/fake/v1/stock").mock(side_effect=stock)
    router.get("/fake/v1/stock").mock(side_effect=stock_read)
    router.get("/fake/v1/sales").mock(side_effect=sales)


class FakeshopConnector(ChannelConnector):
    #: requests made through this connector (the test checks http really went over HTTP)
    requests: ClassVar[list[str]] = []

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        if expected is not None:
            return self._unsupported("compare-and-swap")
        skus = np.atleast_1d(np.asarray(skus, np.int64))
        vals = np.array(values, np.int64, ndmin=1)

        def go() -> Reply:
            lines = [{"code": sku_code(s), "qty": int(v)}
                     for s, v in zip(skus.tolist(), vals.tolist(), strict=True)]  # fmt: skip
            self.requests.append("stock")
            r = self.client.post(
                "/fake/v1/stock", json={"lines": lines}, headers=as_of_header(as_of, skus.size)
            )
            return error_reply(r, r.json()["problem"]) if r.is_error else Reply(200)

        return self._task(go)

    def read_inventory(self, skus: Any = None) -> Any:
        codes = sku_codes(skus)

        def go() -> Reply:
            self.requests.append("stock_read")
            params = {} if codes is None else {"codes": ",".join(codes)}
            r = self.client.get("/fake/v1/stock", params=params)
            if r.is_error:
                return error_reply(r, r.json()["problem"])
            lines = r.json()["lines"]
            page = inventory_page([sku_index(ln["code"]) for ln in lines],
                                  [ln["qty"] for ln in lines], r)  # fmt: skip
            return Reply(200, value=page)

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        def go() -> Reply:
            self.requests.append("sales")
            r = self.client.get("/fake/v1/sales", params={"after": cursor})
            if r.is_error:
                return error_reply(r, r.json()["problem"])
            body = r.json()
            orders = [order_doc(s["ref"], s["items"], "n", "code", "qty") for s in body["sales"]]
            return Reply(200, value=OrdersPageDoc(orders, int(body["next"])))

        return self._task(go)


FAKESHOP = Platform(
    name="fakeshop",
    kind="channel",
    preset=Fakeshop,
    routes=fakeshop_routes,
    base_url="https://{name}.fakeshop.test",
    channel_class=FakeshopChannel,
)


@pytest.fixture(autouse=True)
def fakeshop() -> Iterator[None]:
    register_platform(FAKESHOP)
    register_connector("fakeshop", FakeshopConnector)
    yield
    unregister_connector("fakeshop")
    unregister_platform("fakeshop")


def scenario(**overrides: Any) -> Any:
    return with_overrides(
        load_scenario("smoke"),
        {"scenario.duration": "6h", "channels.webshop.preset": "fakeshop", **overrides},
    )


def test_the_scenario_validates_and_resolves_the_fake_preset() -> None:
    sc = scenario(**{"channels.webshop.preset": {"platform": "fakeshop", "display_buffer": 5}})
    web = sc.channels[0]
    assert isinstance(web.preset, Fakeshop) and web.preset.display_buffer == 5
    eff = web.effective()
    assert eff.platform == "fakeshop" and eff.api.bulk_limit == 100
    assert eff.api.limits == (WindowLimit(limit=30, window=60.0, code="SLOW_DOWN"),)
    explicit = scenario(**{"channels.webshop.api.bulk_limit": 7}).channels[0].effective()
    assert explicit.api.bulk_limit == 7  # an explicit [api] field wins over the preset
    with pytest.raises(ScenarioError, match=r"channels\[webshop\]\.preset\.display_buffer: "):
        scenario(**{"channels.webshop.preset": {"platform": "fakeshop", "display_buffer": -1}})
    with pytest.raises(ScenarioError, match=r"unknown platform 'fakeshp' \(known: .*fakeshop"):
        scenario(**{"channels.webshop.preset": "fakeshp"})


def test_the_world_builds_the_fake_channel_and_its_facade_speaks_its_shape() -> None:
    w = World(scenario(), seed=1)
    web = w.channels[0]
    assert isinstance(web, FakeshopChannel)
    assert [type(lim).__name__ for lim in web.api.limiters] == ["WindowQuota"]
    client = w.systems.http("webshop")
    body = {"lines": [{"code": "SKU-000003", "qty": 10}]}
    events = [w.systems.runtime.spawn(lambda: client.post("/fake/v1/stock", json=body))
              for _ in range(31)]  # fmt: skip
    w.env.run(until=w.env.all_of(events))
    codes = [ev.value.status_code for ev in events]
    assert codes.count(204) == 30 and codes[-1] == 429  # 30 requests per minute
    assert events[-1].value.json() == {"problem": "SLOW_DOWN"}
    assert web.shown(3) == 8  # the display buffer: 10 written, 8 shown


@pytest.mark.parametrize("strategy", ["batch", "api", "event", "orchestrated"])
def test_every_strategy_runs_on_the_fake_platform_directly_and_over_http(strategy: str) -> None:
    sc = scenario()
    FakeshopConnector.requests.clear()
    direct = run(sc, strategy, 2, keep_history=False)
    assert not FakeshopConnector.requests
    http = run(sc, strategy, 2, keep_history=False, transport="http")
    assert "stock" in FakeshopConnector.requests  # the writes went through the facade
    if strategy == "orchestrated":  # and so did its channel audit's reads
        assert "stock_read" in FakeshopConnector.requests
    assert not run_differences(direct, http)
    web = direct.per_channel["webshop"]
    assert web["units_accepted"] > 0 and web["channel_calls"] > 0
    # the display buffer keeps the storefront below the truth: it under-shows, never over
    no_buffer = {"channels.webshop.preset": {"platform": "fakeshop", "display_buffer": 0}}
    plain = run(scenario(**no_buffer), strategy, 2, keep_history=False).per_channel["webshop"]
    assert web["divergence_under_frac"] > plain["divergence_under_frac"]
    assert web["divergence_over_frac"] <= plain["divergence_over_frac"]
