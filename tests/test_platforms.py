"""Platform presets and their HTTP facades (contract tests with respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from mocks.platforms.shopify import ShopifyWebhookSender
from sim import load_scenario, run, with_overrides
from sim.assembly.world import World
from sim.scenario import validate_raw

_RAW = load_scenario("smoke").model_dump(mode="json", by_alias=True, exclude_unset=True)
del _RAW["erp"]["api"]  # smoke sizes its ERP pool explicitly; presets must show here
SMOKE = validate_raw(_RAW, "smoke")


def world(overrides: dict[str, Any]) -> World:
    return World(with_overrides(SMOKE, {"scenario.duration": "1h", **overrides}), seed=3)


def in_sim(w: World, *fns: Any) -> list[Any]:
    """Run blocking client functions as tasks in simulated time; their results."""
    events = [w.systems.runtime.spawn(fn) for fn in fns]
    w.env.run(until=w.env.all_of(events))
    return [ev.value for ev in events]


GQL = "/admin/api/2024-10/graphql.json"


def set_quantities(qs: list[dict[str, Any]], cas: bool = True) -> dict[str, Any]:
    return {
        "operationName": "inventorySetQuantities",
        "query": "mutation inventorySetQuantities($input: InventorySetQuantitiesInput!) {...}",
        "variables": {"input": {"name": "available", "reason": "correction",
                                "ignoreCompareQuantity": not cas, "quantities": qs}},
    }  # fmt: skip


def item(sku: int, qty: int, change_from: int | None = None) -> dict[str, Any]:
    q: dict[str, Any] = {"inventoryItemId": f"gid://shopify/InventoryItem/{sku}",
                         "locationId": "gid://shopify/Location/1", "quantity": qty}  # fmt: skip
    if change_from is not None:
        q["changeFromQuantity"] = change_from
    return q


# -- presets --------------------------------------------------------------------------------
def test_presets_fill_limits_and_explicit_api_fields_win() -> None:
    w = world({"channels.webshop.preset": "shopify", "erp.preset": "netsuite"})
    web = w.channels[0]
    assert type(web).__name__ == "ShopifyChannel"
    assert web.bulk_limit == 250  # inventorySetQuantities
    assert w.erp_api.concurrency == 15 and w.erp_api.overflow == "reject"
    assert w.erp_api.error_code == "SSS_REQUEST_LIMIT_EXCEEDED"
    w2 = world({"channels.webshop.preset": {"platform": "shopify", "api": "rest", "plan": "plus"},
                "channels.webshop.api.bulk_limit": 7,
                "erp.preset": {"platform": "netsuite", "licences": 2}})  # fmt: skip
    lim = w2.channels[0].api.limiters[0]
    assert (lim.capacity, lim.rate) == (40, 20.0)  # plus: 20 per second
    assert w2.channels[0].bulk_limit == 7  # set explicitly: wins over the preset
    assert w2.erp_api.concurrency == 25


def test_amazon_preset_needs_a_marketplace() -> None:
    from sim.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="preset amazon needs kind"):
        with_overrides(SMOKE, {"channels.webshop.preset": "amazon"})


def test_shopify_states_and_on_hand_writes() -> None:
    w = world({"channels.webshop.preset": "shopify"})
    web = w.channels[0]
    web.apply_write_one(5, 10, 0.0)
    order = web.place([5], [3])
    assert order is not None
    st = web.states([5])
    assert (st["available"][0], st["committed"][0], st["on_hand"][0]) == (7, 3, 10)
    in_sim(w, lambda: w.systems.runtime.wait(web.set_inventory([5], [20], 0.0, name="on_hand")))
    assert web.states([5])["available"][0] == 17  # on hand 20 less 3 committed
    in_sim(w, lambda: w.systems.runtime.wait(web.fulfill([(order.id, 0, 5, 3, "shipped")])))
    assert web.states([5])["committed"][0] == 0


def test_adobe_double_deduction_and_compensation() -> None:
    """An ERP that pushes a quantity already net of open orders, while the MSI reservations
    for those orders are open, deducts them twice; the compensation at shipment ends it."""
    w = world({"channels.webshop.preset": "adobe_commerce"})
    web = w.channels[0]
    rt = w.systems.runtime
    in_sim(w, lambda: rt.wait(web.set_inventory([5], [10], 0.0)))
    order = web.place([5], [4])
    assert order is not None and web.shown(5) == 6  # salable = 10 - 0 + (-4)
    in_sim(w, lambda: rt.wait(web.set_inventory([5], [6], 0.0)))  # ERP: 10 - 4 committed
    assert web.shown(5) == 2  # the 4 units are deducted twice
    assert web.log[-1][2] == -4 and web.open_reservations[5] == 4
    in_sim(w, lambda: rt.wait(web.fulfill([(order.id, order.lines[0].id, 5, 4, "shipped")])))
    assert web.open_reservations[5] == 0 and web.shown(5) == 2  # source deducted too
    in_sim(w, lambda: rt.wait(web.set_inventory([5], [6], 0.0)))
    assert web.shown(5) == 6


def test_bigcommerce_writes_apply_later_in_order() -> None:
    w = world({"channels.webshop.preset": "bigcommerce"})
    web = w.channels[0]
    rt = w.systems.runtime
    [(t1, r1)] = in_sim(w, lambda: (w.env.now, rt.wait(web.set_inventory([1], [11], 0.0))))
    assert r1.ok and r1.value.startswith("txn-")
    assert (web.transactions[r1.value] == "pending" and web.shown(1) != 11) or web.count[1] != 11
    w.env.run(until=w.env.now + 60)
    assert web.transactions[r1.value] == "applied" and web.shown(1) == 11


# -- contract tests: the facades -------------------------------------------------------------
def test_generic_channel_contract() -> None:
    w = world({"channels.webshop.api.bucket_size": 2, "channels.webshop.api.leak_rate": 0.01})
    c = w.systems.http("webshop")
    body = {"items": [{"sku": "SKU-000001", "available": 5}]}
    rs = in_sim(w, *[lambda: c.put("/inventory", json=body) for _ in range(3)])
    assert [r.status_code for r in rs].count(429) == 1
    bad = next(r for r in rs if r.status_code == 429)
    assert float(bad.headers["Retry-After"]) > 0 and bad.json()["error"] == "THROTTLED"
    w.env.run(until=w.env.now + 500)
    stale = {"items": [{"sku": "SKU-000001", "available": 9, "expected": 4}]}
    [r] = in_sim(w, lambda: c.put("/inventory", json=stale))
    assert r.status_code == 409 and r.json()["stale"] == [{"sku": "SKU-000001", "actual": 5}]


def test_shopify_contract() -> None:
    w = world({"channels.webshop.preset": "shopify",
               "channels.b2b-portal.preset": {"platform": "shopify", "api": "rest"}})  # fmt: skip
    gql, rest = w.systems.http("webshop"), w.systems.http("b2b-portal")
    ch = w.channels[0]
    ch.apply_write_one(1, 5, 0.0)
    # stale changeFromQuantity: refused, nothing written
    [r] = in_sim(w, lambda: gql.post(GQL, json=set_quantities([item(1, 9, change_from=4)])))
    errors = r.json()["data"]["inventorySetQuantities"]["userErrors"]
    assert errors[0]["code"] == "CHANGE_FROM_QUANTITY_STALE" and ch.shown(1) == 5
    [r] = in_sim(w, lambda: gql.post(GQL, json=set_quantities([item(1, 9, change_from=5)])))
    assert r.json()["data"]["inventorySetQuantities"]["userErrors"] == [] and ch.shown(1) == 9
    # oversized: more than 250 quantities in one mutation
    big = set_quantities([item(i % 100, 1) for i in range(251)], cas=False)
    [r] = in_sim(w, lambda: gql.post(GQL, json=big))
    assert r.json()["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "INVALID"
    # a reused idempotency key returns the first answer and changes nothing
    adjust = {
        "operationName": "inventoryAdjustQuantities", "query": "mutation ...",
        "variables": {"idempotencyKey": "k-1", "input": {"name": "available", "changes": [
            {"inventoryItemId": "gid://shopify/InventoryItem/1", "delta": -2}]}},
    }  # fmt: skip
    [a] = in_sim(w, lambda: gql.post(GQL, json=adjust))
    [b] = in_sim(w, lambda: gql.post(GQL, json=adjust))
    assert a.json() == b.json() and ch.shown(1) == 7 and ch.idempotent_replays == 1
    # REST: 429 with Retry-After and the call-limit header once the bucket of 40 is full
    path = "/admin/api/2024-10/inventory_levels/set.json"

    def hammer() -> httpx.Response:
        for _ in range(200):
            r = rest.post(path, json={"inventory_item_id": 1, "location_id": 1, "available": 3})
            if r.status_code == 429:
                return r
        raise AssertionError("never throttled")

    [r] = in_sim(w, hammer)
    assert float(r.headers["Retry-After"]) > 0
    assert r.headers["X-Shopify-Shop-Api-Call-Limit"] == "40/40"
    # GraphQL: a THROTTLED error with the cost extension
    many = set_quantities([item(i % 100, 1) for i in range(250)], cas=False)

    def drain() -> httpx.Response:
        for _ in range(100):
            r = gql.post(GQL, json=many)
            if "errors" in r.json():
                return r
        raise AssertionError("never throttled")

    [r] = in_sim(w, drain)
    assert r.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert r.json()["extensions"]["cost"]["throttleStatus"]["restoreRate"] == 100.0


def test_shopify_webhook_retries_carry_the_original_payload() -> None:
    w = world({"channels.webshop.preset": "shopify"})
    ch = w.channels[0]
    seen: list[httpx.Request] = []
    receiver = respx.Router(base_url="https://connector.test")

    def receive(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500 if len(seen) <= 3 else 200)

    receiver.post("/hooks").mock(side_effect=receive)
    client = httpx.Client(transport=httpx.MockTransport(receiver.handler))
    ShopifyWebhookSender(ch, client, "https://connector.test/hooks", secret="s3cret")
    ch.apply_write_one(2, 10, 0.0)
    order = ch.place([2], [1])
    assert order is not None
    w.env.run(until=w.env.now + 30)
    order.lines[0].qty = 99  # the order changes after the first attempt: retries don't see it
    w.env.run(until=w.env.now + 4 * 3600)
    assert len(seen) == 4
    assert (
        len({r.content for r in seen}) == 1
        and json.loads(seen[0].content)["line_items"][0]["quantity"] == 1
    )
    assert len({r.headers["X-Shopify-Webhook-Id"] for r in seen}) == 1
    sched = ch.webhooks.schedule
    assert len(sched) == 8 and sched[-1] == pytest.approx(4 * 3600)


def test_adobe_and_bigcommerce_contracts() -> None:
    w = world({"channels.webshop.preset": "adobe_commerce",
               "channels.b2b-portal.preset": "bigcommerce"})  # fmt: skip
    adobe, bc = w.systems.http("webshop"), w.systems.http("b2b-portal")
    items = [{"sku": f"SKU-{i:06d}", "source_code": "default", "quantity": 1, "status": 1}
             for i in range(501)]  # fmt: skip
    [r] = in_sim(w, lambda: adobe.post("/rest/V1/inventory/source-items",
                                       json={"sourceItems": items}))  # fmt: skip
    assert r.status_code == 400 and "too many items" in r.json()["message"]
    path = "/stores/b2b-portal/v3/inventory/adjustments/absolute"
    big = {"items": [{"location_id": 1, "sku": f"SKU-{i:06d}", "quantity": 1} for i in range(2001)]}
    [r] = in_sim(w, lambda: bc.put(path, json=big))
    assert r.status_code == 422
    one = {"items": [{"location_id": 1, "sku": "SKU-000001", "quantity": 1}]}
    rs = in_sim(w, *[lambda: bc.put(path, json=one) for _ in range(160)])
    codes = [r.status_code for r in rs]
    assert codes.count(200) == 150 and codes.count(429) == 10
    bad = next(r for r in rs if r.status_code == 429)
    assert bad.headers["X-Rate-Limit-Requests-Left"] == "0"
    assert bad.headers["X-Rate-Limit-Requests-Quota"] == "150"
    assert int(bad.headers["X-Rate-Limit-Time-Reset-Ms"]) > 0


def test_amazon_contract() -> None:
    w = world({"channels.marketplace.preset": "amazon"})
    c = w.systems.http("marketplace")

    def feed(n: int) -> httpx.Response:
        doc = c.post("/feeds/2021-06-30/documents", json={"contentType": "application/json"}).json()
        msgs = [{"messageId": i, "sku": f"SKU-{i:06d}", "operationType": "PATCH",
                 "patches": [{"op": "replace", "path": "/attributes/fulfillment_availability",
                              "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 2}]}]}
                for i in range(n)]  # fmt: skip
        c.put(doc["url"], content=json.dumps({"messages": msgs}).encode())
        body = {"feedType": "JSON_LISTINGS_FEED", "inputFeedDocumentId": doc["feedDocumentId"]}
        return c.post("/feeds/2021-06-30/feeds", json=body)

    [r] = in_sim(w, lambda: feed(25_001))
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "InvalidInput"
    rs = in_sim(w, lambda: [feed(3) for _ in range(6)])[0]
    assert [r.status_code for r in rs] == [202] * 4 + [429] * 2 or [r.status_code for r in rs][
        -1
    ] == 429
    bad = rs[-1]
    assert bad.json()["errors"][0]["code"] == "QuotaExceeded"
    assert "x-amzn-RateLimit-Limit" in bad.headers
    fid = rs[0].json()["feedId"]
    [st] = in_sim(w, lambda: c.get(f"/feeds/2021-06-30/feeds/{fid}").json()["processingStatus"])
    assert st in ("IN_QUEUE", "IN_PROGRESS")
    w.env.run(until=w.env.now + 3 * 3600)
    [st] = in_sim(w, lambda: c.get(f"/feeds/2021-06-30/feeds/{fid}").json()["processingStatus"])
    assert st == "DONE" and w.channels[1].shown(1) == 2


def test_erp_contracts() -> None:
    w = world({"erp.preset": "netsuite"})
    c = w.systems.http("erp")
    rs = in_sim(w, *[lambda: c.post("/app/site/hosting/restlet.nl", json={"action": "export"})
                     for _ in range(20)])  # fmt: skip
    codes = [r.status_code for r in rs]
    assert codes.count(200) == 15 and codes.count(429) == 5  # no queueing past 15
    bad = next(r for r in rs if r.status_code == 429)
    assert bad.json()["error"]["code"] == "SSS_REQUEST_LIMIT_EXCEEDED"
    w = world({"erp.preset": "dynamics"})
    c = w.systems.http("erp")
    rs = in_sim(w, *[lambda: c.get("/api/data/v9.2/syncsim_changes", params={"since": "0"})
                     for _ in range(60)])  # fmt: skip
    bad = [r for r in rs if r.status_code == 429]
    assert len(bad) == 8 and float(bad[0].headers["Retry-After"]) > 0
    assert bad[0].json()["error"]["code"] == "0x80072326"
    reqs = [{"id": str(i), "method": "POST", "url": "salesorders", "body": {"syncsim_orderid": 0}}
            for i in range(1001)]  # fmt: skip
    w.ledger.new_order(0).lines.append(type("L", (), {})())  # one order to refer to
    [r] = in_sim(w, lambda: c.post("/api/data/v9.2/$batch", json={"requests": reqs}))
    assert r.status_code == 400 and "1000" in r.json()["error"]["message"]


# -- end to end (direct and http: tests/test_transport.py) ------------------------------------
@pytest.mark.parametrize("strategy", ["batch", "api", "event", "orchestrated"])
def test_amazon_feeds_make_marketplace_lag_minutes(strategy: str) -> None:
    sc = with_overrides(SMOKE, {"scenario.duration": "8h", "channels.marketplace.preset": "amazon"})
    r = run(sc, strategy, 1)
    mp = r.per_channel["marketplace"]
    assert mp["lag_p50_s"] >= 120, mp["lag_p50_s"]  # feeds are processed over minutes
    web = r.per_channel["webshop"]
    if strategy != "batch":
        assert web["lag_p50_s"] < mp["lag_p50_s"] / 2


def test_dynamics_erp_throttles_api_strategy_which_honours_retry_after() -> None:
    rush = {"scenario.start": "2026-11-27T17:00:00", "scenario.duration": "90m"}
    after = run(with_overrides(load_scenario("cloud_erp_migration"), rush), "api", 1)
    before = run(with_overrides(load_scenario("cloud_erp_migration_before"), rush), "api", 1)
    assert before.metrics["erp_rejected_calls"] == 0
    m = after.metrics
    assert m["erp_rejected_calls"] > 1000
    # every 429 carries Retry-After and the client waits it out instead of retrying blind
    assert m["api_waits_for_retry_after"] > 0.9 * m["erp_rejected_calls"]
    assert after.checks["ok"]
