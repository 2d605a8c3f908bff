"""HTTP facades: each mock system served in its platform's own HTTP shape, through respx.

``facade_for(system, runtime)`` returns a ``respx.Router`` whose routes answer like the
platform does (paths, payloads, status codes, rate-limit headers, error bodies), backed by the
very mock objects the simulation runs: a request becomes a call of the mock's integration API
(with its latency, limits and faults, in simulated time, see ``sim.bridge``) and the call's
``Reply`` becomes the platform's response. Mount it on a client with
``httpx.Client(transport=httpx.MockTransport(router.handler), base_url=router_base)``;
``client_for`` does that.

Shapes (the inventory and order endpoints a sync connector uses):

- generic channel / ERP (no preset): a small JSON API (``/inventory``, ``/orders``;
  ``/erp/availability``, ``/erp/changes``, ``/erp/orders``);
- shopify: GraphQL Admin API (``inventorySetQuantities`` with ``changeFromQuantity``,
  ``inventoryAdjustQuantities`` with an idempotency key) or REST (``inventory_levels/set``),
  ``orders.json`` paged by ``page_info``, ``fulfillments.json``; ``X-Shopify-Shop-Api-Call-Limit``
  and ``Retry-After`` on REST, GraphQL ``THROTTLED`` errors with the cost extension;
  order webhooks (``ShopifyWebhookSender``) with the original payload on every retry;
- adobe_commerce: ``POST /rest/V1/inventory/source-items``, ``GET /rest/V1/orders``,
  ``POST /rest/V1/order/{id}/ship`` and ``/rest/V1/orders/{id}/cancel``;
- bigcommerce: ``PUT /stores/{hash}/v3/inventory/adjustments/absolute`` (202-style
  transaction id), ``GET /stores/{hash}/v2/orders``, ``X-Rate-Limit-*`` headers;
- amazon: Feeds API 2021-06-30 (``createFeedDocument``, upload, ``createFeed``, ``getFeed``),
  Orders API v0 (``getOrders``, items inline), ``x-amzn-RateLimit-Limit``, ``QuotaExceeded``;
- netsuite: a RESTlet (``/app/site/hosting/restlet.nl``) with ``export``, ``changes`` and
  ``import_orders`` actions; ``SSS_REQUEST_LIMIT_EXCEEDED`` past the concurrency limit;
- dynamics: Dataverse Web API (``/api/data/v9.2/...``) with an OData JSON ``$batch`` for order
  import (at most 1,000 requests), 429 with ``Retry-After`` and the service-protection codes.

Provenance travels in the ``X-Syncsim-As-Of`` header (``sim.bridge``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import respx

from mocks.api import CostBucket, LeakyBucket, Reply, WindowQuota
from mocks.channel import Channel, StaleWrite
from mocks.erp import Erp, Snapshot
from mocks.platforms import AdobeChannel, AmazonChannel, BigCommerceChannel, ShopifyChannel
from sim.bridge import AS_OF_HEADER, SimRuntime, decode_as_of, sku_code, sku_index
from sim.ledger import Ledger, Order

__all__ = [
    "BASE_URLS",
    "ShopifyWebhookSender",
    "client_for",
    "facade_for",
    "order_json",
    "platform_of",
    "router_base",
    "snapshot_json",
]

SHOPIFY_VERSION = "2024-10"
BASE_URLS = {
    "channel": "https://{name}.channel.syncsim.test",
    "shopify": "https://{name}.myshopify.com",
    "adobe_commerce": "https://{name}.magento.syncsim.test",
    "bigcommerce": "https://api.bigcommerce.com",
    "amazon": "https://sellingpartnerapi-eu.amazon.com",
    "erp": "https://erp.syncsim.test",
    "netsuite": "https://1234567.restlets.api.netsuite.com",
    "dynamics": "https://org.crm4.dynamics.com",
}


def _wait(rt: SimRuntime, event: Any) -> Reply:
    reply: Reply = rt.wait(event)
    return reply


def _retry_after(reply: Reply) -> dict[str, str]:
    if reply.retry_after is None:
        return {}
    return {"Retry-After": repr(float(reply.retry_after))}


def _skus(codes: list[str]) -> np.ndarray:
    return np.array([sku_index(c) for c in codes], np.int64)


def _as_of(request: httpx.Request, n: int, now: float) -> np.ndarray:
    raw = request.headers.get(AS_OF_HEADER)
    if raw is None:
        return np.full(n, now)  # a write that says nothing is current to now
    got = decode_as_of(raw)
    return got if got.size == n else np.full(n, float(got.min()))


def order_json(order: Order) -> dict[str, Any]:
    """An order as the generic facade (and webhooks) show it."""
    return {
        "id": order.id,
        "channel": order.channel,
        "created_at": order.t,
        "lines": [{"id": ln.id, "sku": sku_code(ln.sku), "quantity": ln.qty} for ln in order.lines],
    }


def _generic_error(reply: Reply) -> httpx.Response:
    return httpx.Response(
        reply.status, json={"error": reply.error or "ERROR"}, headers=_retry_after(reply)
    )


# -- generic channel --------------------------------------------------------------------------
def _channel_orders(ch: Channel, rt: SimRuntime, cursor: int, limit: int | None) -> Any:
    reply = _wait(rt, ch.fetch_orders(cursor, limit))
    return reply


def _generic_channel(router: respx.Router, ch: Channel, rt: SimRuntime) -> None:
    def put_inventory(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        skus = _skus([i["sku"] for i in items])
        values = [i["available"] for i in items]
        expected = [i["expected"] for i in items] if items and "expected" in items[0] else None
        aso = _as_of(request, skus.size, ch.env.now)
        reply = _wait(rt, ch.set_inventory(skus, values, aso, expected))
        if reply.status == 409 and isinstance(reply.value, StaleWrite):
            stale = reply.value
            body = {
                "error": "STALE_QUANTITY",
                "stale": [
                    {"sku": sku_code(s), "actual": int(a)}
                    for s, a in zip(stale.skus, stale.actual, strict=True)
                ],
            }
            return httpx.Response(409, json=body)
        if not reply.ok:
            return _generic_error(reply)
        return httpx.Response(200, json={"written": int(skus.size)})

    def get_orders(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        limit = int(q["limit"]) if "limit" in q else None
        reply = _channel_orders(ch, rt, int(q.get("cursor", 0)), limit)
        if not reply.ok:
            return _generic_error(reply)
        page = reply.value
        return httpx.Response(
            200, json={"orders": [order_json(o) for o in page.orders], "cursor": page.cursor}
        )

    router.put("/inventory", name="inventory").mock(side_effect=put_inventory)
    router.get("/orders", name="orders").mock(side_effect=get_orders)


# -- shopify ----------------------------------------------------------------------------------
def _gid(kind: str, i: int) -> str:
    return f"gid://shopify/{kind}/{i}"


def _gid_index(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


def _shopify(router: respx.Router, ch: ShopifyChannel, rt: SimRuntime) -> None:
    preset = ch.preset
    api = ch.api
    prefix = f"/admin/api/{SHOPIFY_VERSION}"

    def call_limit() -> dict[str, str]:
        for lim in api.limiters:
            if isinstance(lim, LeakyBucket):
                used = math.ceil(lim.level_at(ch.env.now))
                return {"X-Shopify-Shop-Api-Call-Limit": f"{used}/{lim.capacity}"}
        return {}

    def cost_extension(requested: float) -> dict[str, Any]:
        for lim in api.limiters:
            if isinstance(lim, CostBucket):
                now = ch.env.now
                avail = min(lim.capacity, lim.available + (now - lim._last) * lim.rate)
                return {
                    "cost": {
                        "requestedQueryCost": requested,
                        "throttleStatus": {
                            "maximumAvailable": lim.capacity,
                            "currentlyAvailable": avail,  # exact: a connector's wait matches
                            "restoreRate": lim.rate,
                        },
                    }
                }
        return {}

    def rest_error(reply: Reply) -> httpx.Response:
        headers = {**call_limit(), **_retry_after(reply)}
        if reply.status == 429:
            msg = (
                "Exceeded 2 calls per second for api client. "
                "Reduce request rates to resume uninterrupted service."
            )
            return httpx.Response(429, json={"errors": msg}, headers=headers)
        return httpx.Response(reply.status, json={"errors": reply.error}, headers=headers)

    def graphql_error(reply: Reply, requested: float) -> httpx.Response:
        if reply.status == 429:  # GraphQL answers 200 with a THROTTLED error
            body = {
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                "extensions": cost_extension(requested),
            }
            return httpx.Response(200, json=body, headers=_retry_after(reply))
        return httpx.Response(
            reply.status,
            json={"errors": [{"message": reply.error or "Internal error"}]},
            headers=_retry_after(reply),
        )

    def graphql(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        op = body.get("operationName")
        var = body.get("variables", {})
        if op == "inventorySetQuantities":
            inp = var["input"]
            qs = inp["quantities"]
            skus = np.array([_gid_index(q["inventoryItemId"]) for q in qs], np.int64)
            values = [q["quantity"] for q in qs]
            cas = not inp.get("ignoreCompareQuantity", False)
            expected = [q.get("changeFromQuantity") for q in qs] if cas else None
            if expected is not None and any(e is None for e in expected):
                errors = [
                    {
                        "field": ["input", "quantities", str(i), "changeFromQuantity"],
                        "message": "changeFromQuantity is required",
                        "code": "CHANGE_FROM_QUANTITY_REQUIRED",
                    }
                    for i, e in enumerate(expected)
                    if e is None
                ]
                return httpx.Response(200, json={"data": {op: {"userErrors": errors}}})
            aso = _as_of(request, skus.size, ch.env.now)
            requested = float(api.cost(skus.size)) if api.cost else 10.0
            if skus.size > ch.bulk_limit:
                msg = f"quantities: at most {ch.bulk_limit} items per request, got {skus.size}"
                errors = [{"field": ["input", "quantities"], "message": msg, "code": "INVALID"}]
                return httpx.Response(200, json={"data": {op: {"userErrors": errors}}})
            reply = _wait(rt, ch.set_inventory(skus, values, aso, expected, name=inp["name"]))
            if reply.status == 409 and isinstance(reply.value, StaleWrite):
                stale = set(reply.value.skus.tolist())
                errors = [
                    {
                        "field": ["input", "quantities", str(i), "changeFromQuantity"],
                        "message": "The specified compare quantity does not match "
                        "the current quantity.",
                        "code": "CHANGE_FROM_QUANTITY_STALE",
                    }
                    for i, s in enumerate(skus.tolist())
                    if s in stale
                ]
                return httpx.Response(200, json={"data": {op: {"userErrors": errors}}})
            if not reply.ok:
                return graphql_error(reply, requested)
            group = {"reason": inp.get("reason", "correction"), "changes": len(qs)}
            data = {op: {"inventoryAdjustmentGroup": group, "userErrors": []}}
            return httpx.Response(200, json={"data": data, "extensions": cost_extension(requested)})
        if op == "inventoryAdjustQuantities":
            inp = var["input"]
            changes = inp["changes"]
            skus = np.array([_gid_index(c["inventoryItemId"]) for c in changes], np.int64)
            deltas = [c["delta"] for c in changes]
            aso = _as_of(request, skus.size, ch.env.now)
            key = var.get("idempotencyKey")
            reply = _wait(rt, ch.adjust(skus, deltas, aso, key=key))
            if not reply.ok:
                return graphql_error(reply, 10.0)
            group = {
                "reason": inp.get("reason", "correction"),
                "changes": [
                    {"item": _gid("InventoryItem", s), "quantityAfterChange": int(v)}
                    for s, v in zip(skus.tolist(), reply.value.tolist(), strict=True)
                ],
            }
            data = {op: {"inventoryAdjustmentGroup": group, "userErrors": []}}
            return httpx.Response(200, json={"data": data})
        return httpx.Response(200, json={"errors": [{"message": f"unsupported operation {op!r}"}]})

    def rest_set(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sku = _gid_index(f"x/{body['inventory_item_id']}")
        aso = _as_of(request, 1, ch.env.now)
        reply = _wait(rt, ch.set_inventory([sku], [body["available"]], aso))
        if not reply.ok:
            return rest_error(reply)
        level = {
            "inventory_item_id": sku,
            "location_id": body.get("location_id", 1),
            "available": int(body["available"]),
        }
        return httpx.Response(200, json={"inventory_level": level}, headers=call_limit())

    def orders(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        cursor = int(q.get("page_info", 0))
        reply = _channel_orders(ch, rt, cursor, int(q["limit"]) if "limit" in q else None)
        if not reply.ok:
            return rest_error(reply)
        page = reply.value
        body = {"orders": [_shopify_order(o) for o in page.orders]}
        link = f'<{router_base(router)}{prefix}/orders.json?page_info={page.cursor}>; rel="next"'
        return httpx.Response(200, json=body, headers={**call_limit(), "Link": link})

    def fulfillments(request: httpx.Request) -> httpx.Response:
        f = json.loads(request.content)["fulfillment"]
        kind = "cancelled" if f.get("status") == "cancelled" else "shipped"
        oid = int(f["order_id"])
        lines = [
            (oid, li["id"], sku_index(li["sku"]), li["quantity"], kind) for li in f["line_items"]
        ]
        reply = _wait(rt, ch.fulfill(lines))
        if not reply.ok:
            return rest_error(reply)
        return httpx.Response(
            201, json={"fulfillment": {"status": "success"}}, headers=call_limit()
        )

    _ = preset
    router.post(f"{prefix}/graphql.json", name="graphql").mock(side_effect=graphql)
    router.post(f"{prefix}/inventory_levels/set.json", name="inventory_levels_set").mock(
        side_effect=rest_set
    )
    router.get(f"{prefix}/orders.json", name="orders").mock(side_effect=orders)
    router.post(f"{prefix}/fulfillments.json", name="fulfillments").mock(side_effect=fulfillments)


def _shopify_order(o: Order) -> dict[str, Any]:
    return {
        "id": o.id,
        "admin_graphql_api_id": _gid("Order", o.id),
        "created_at": o.t,
        "line_items": [
            {"id": ln.id, "sku": sku_code(ln.sku), "quantity": ln.qty} for ln in o.lines
        ],
    }


class ShopifyWebhookSender:
    """Delivers a Shopify channel's ``orders/create`` webhooks over HTTP to ``url`` with
    ``client``: the payload is serialized once, at the first attempt, and every retry sends
    those same bytes (and the same ``X-Shopify-Webhook-Id``); a non-2xx answer is a failure,
    retried on the channel's schedule (``ShopifyWebhooks``)."""

    def __init__(self, ch: ShopifyChannel, client: httpx.Client, url: str, secret: str) -> None:
        self.ch = ch
        self.client = client
        self.url = url
        self.secret = secret.encode()
        self._payloads: dict[int, bytes] = {}
        ch.subscribe_orders(self._send)

    def _send(self, order: Order) -> bool:
        body = self._payloads.get(order.id)
        if body is None:
            body = json.dumps(_shopify_order(order), sort_keys=True).encode()
            self._payloads[order.id] = body
        digest = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": f"wh-{order.id}",
            "X-Shopify-Shop-Domain": f"{self.ch.name}.myshopify.com",
            "X-Shopify-Hmac-Sha256": digest,
            "X-Shopify-Triggered-At": repr(order.visible_at),
        }
        response = self.client.post(self.url, content=body, headers=headers)
        return response.is_success


# -- adobe commerce ---------------------------------------------------------------------------
def _adobe(router: respx.Router, ch: AdobeChannel, rt: SimRuntime) -> None:
    def error(reply: Reply) -> httpx.Response:
        return httpx.Response(
            reply.status, json={"message": reply.error or "Error"}, headers=_retry_after(reply)
        )

    def source_items(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["sourceItems"]
        skus = _skus([i["sku"] for i in items])
        aso = _as_of(request, skus.size, ch.env.now)
        reply = _wait(rt, ch.set_inventory(skus, [i["quantity"] for i in items], aso))
        return httpx.Response(200, json=[]) if reply.ok else error(reply)

    def orders(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        size = int(q.get("searchCriteria[pageSize]", ch.page_size))
        cursor = int(q.get("searchCriteria[currentPage]", 0))
        reply = _channel_orders(ch, rt, cursor, size)
        if not reply.ok:
            return error(reply)
        items = [
            {
                "entity_id": o.id,
                "created_at": o.t,
                "items": [
                    {"item_id": ln.id, "sku": sku_code(ln.sku), "qty_ordered": ln.qty}
                    for ln in o.lines
                ],
            }
            for o in reply.value.orders
        ]
        body = {"items": items, "search_criteria": {"current_page": reply.value.cursor}}
        return httpx.Response(200, json=body)

    def done(kind: str) -> Callable[[httpx.Request, str], httpx.Response]:
        def handler(request: httpx.Request, order_id: str) -> httpx.Response:
            items = json.loads(request.content).get("items", [])
            lines = [
                (int(order_id), i["order_item_id"], sku_index(i["sku"]), i["qty"], kind)
                for i in items
            ]
            reply = _wait(rt, ch.fulfill(lines))
            return httpx.Response(200, json=int(order_id)) if reply.ok else error(reply)

        return handler

    router.post("/rest/V1/inventory/source-items", name="source_items").mock(
        side_effect=source_items
    )
    router.get("/rest/V1/orders", name="orders").mock(side_effect=orders)
    router.post(path__regex=r"^/rest/V1/order/(?P<order_id>\d+)/ship$", name="ship").mock(
        side_effect=done("shipped")
    )
    router.post(path__regex=r"^/rest/V1/orders/(?P<order_id>\d+)/cancel$", name="cancel").mock(
        side_effect=done("cancelled")
    )


# -- bigcommerce ------------------------------------------------------------------------------
def _bigcommerce(router: respx.Router, ch: BigCommerceChannel, rt: SimRuntime) -> None:
    store = f"/stores/{ch.name}"
    quota = next((lim for lim in ch.api.limiters if isinstance(lim, WindowQuota)), None)

    def rate_headers() -> dict[str, str]:
        if quota is None:
            return {}
        now = ch.env.now
        times = [t for t in quota._times if t > now - quota.window]
        reset = (times[0] + quota.window - now) if times else 0.0
        return {
            "X-Rate-Limit-Requests-Quota": str(quota.limit),
            "X-Rate-Limit-Requests-Left": str(max(0, quota.limit - len(times))),
            "X-Rate-Limit-Time-Window-Ms": str(int(quota.window * 1000)),
            "X-Rate-Limit-Time-Reset-Ms": str(math.ceil(reset * 1000)),
        }

    def error(reply: Reply) -> httpx.Response:
        body = {"status": reply.status, "title": reply.error or "Error", "type": "about:blank"}
        if reply.status == 429:
            body["title"] = "Too many requests"
        return httpx.Response(
            reply.status, json=body, headers={**rate_headers(), **_retry_after(reply)}
        )

    def absolute(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        skus = _skus([i["sku"] for i in items])
        aso = _as_of(request, skus.size, ch.env.now)
        reply = _wait(rt, ch.set_inventory(skus, [i["quantity"] for i in items], aso))
        if not reply.ok:
            return error(reply)
        return httpx.Response(200, json={"transaction_id": reply.value}, headers=rate_headers())

    def orders(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        reply = _channel_orders(
            ch, rt, int(q.get("page", 0)), int(q["limit"]) if "limit" in q else None
        )
        if not reply.ok:
            return error(reply)
        body = [
            {
                "id": o.id,
                "date_created": o.t,
                "products": [
                    {"id": ln.id, "sku": sku_code(ln.sku), "quantity": ln.qty} for ln in o.lines
                ],
            }
            for o in reply.value.orders
        ]
        headers = {**rate_headers(), "X-Next-Page": str(reply.value.cursor)}
        return httpx.Response(200, json=body, headers=headers)

    router.put(f"{store}/v3/inventory/adjustments/absolute", name="absolute").mock(
        side_effect=absolute
    )
    router.get(f"{store}/v2/orders", name="orders").mock(side_effect=orders)


# -- amazon -----------------------------------------------------------------------------------
def _amazon(router: respx.Router, ch: AmazonChannel, rt: SimRuntime) -> None:
    documents: dict[str, bytes | None] = {}
    base = router_base(router)

    def error(reply: Reply) -> httpx.Response:
        code = {429: "QuotaExceeded", 400: "InvalidInput", 503: "ServiceUnavailable"}
        message = (
            "You exceeded your quota for the requested resource."
            if reply.status == 429
            else reply.error or "Error"
        )
        headers = {"x-amzn-RateLimit-Limit": repr(ch.preset.feed_rate), **_retry_after(reply)}
        body = {"errors": [{"code": code.get(reply.status, "InternalFailure"), "message": message}]}
        return httpx.Response(reply.status, json=body, headers=headers)

    def create_document(request: httpx.Request) -> httpx.Response:
        doc = f"amzn1.tortuga.3.{ch.name}.{len(documents) + 1}"
        documents[doc] = None
        return httpx.Response(201, json={"feedDocumentId": doc, "url": f"{base}/upload/{doc}"})

    def upload(request: httpx.Request, doc: str) -> httpx.Response:
        if doc not in documents:
            return httpx.Response(404)
        documents[doc] = request.content
        return httpx.Response(200)

    def create_feed(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        content = documents.get(body.get("inputFeedDocumentId", ""))
        if content is None or body.get("feedType") != "JSON_LISTINGS_FEED":
            return error(Reply(400, error="inputFeedDocumentId: no uploaded JSON_LISTINGS_FEED"))
        messages = json.loads(content)["messages"]
        skus = _skus([m["sku"] for m in messages])
        values = [
            m["patches"][0]["value"][0]["quantity"] for m in messages
        ]  # /attributes/fulfillment_availability
        aso = _as_of(request, skus.size, ch.env.now)
        reply = _wait(rt, ch.set_inventory(skus, values, aso))
        if not reply.ok:
            return error(reply)
        return httpx.Response(
            202, json={"feedId": reply.value},
            headers={"x-amzn-RateLimit-Limit": repr(ch.preset.feed_rate)},
        )  # fmt: skip

    def get_feed(request: httpx.Request, feed_id: str) -> httpx.Response:
        reply = _wait(rt, ch.feed_status(feed_id))
        if not reply.ok:
            return error(reply)
        return httpx.Response(200, json={"feedId": feed_id, "processingStatus": reply.value})

    def orders(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        reply = _channel_orders(ch, rt, int(q.get("NextToken", 0)), None)
        if not reply.ok:
            return error(reply)
        payload = {
            "Orders": [
                {
                    "AmazonOrderId": str(o.id),
                    "PurchaseDate": o.t,
                    "OrderStatus": "Unshipped",
                    "OrderItems": [
                        {
                            "OrderItemId": str(ln.id),
                            "SellerSKU": sku_code(ln.sku),
                            "QuantityOrdered": ln.qty,
                        }
                        for ln in o.lines
                    ],
                }
                for o in reply.value.orders
            ],
            "NextToken": str(reply.value.cursor),
        }
        return httpx.Response(200, json={"payload": payload})

    router.post("/feeds/2021-06-30/documents", name="create_feed_document").mock(
        side_effect=create_document
    )
    router.put(path__regex=r"^/upload/(?P<doc>[^/]+)$", name="upload").mock(side_effect=upload)
    router.post("/feeds/2021-06-30/feeds", name="create_feed").mock(side_effect=create_feed)
    router.get(path__regex=r"^/feeds/2021-06-30/feeds/(?P<feed_id>[^/]+)$", name="get_feed").mock(
        side_effect=get_feed
    )
    router.get("/orders/v0/orders", name="orders").mock(side_effect=orders)


# -- ERPs -------------------------------------------------------------------------------------
def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    return {
        "skus": [sku_code(s) for s in snap.skus.tolist()],
        "on_hand": snap.on_hand.tolist(),
        "committed": snap.committed.tolist(),
        "hold": snap.hold.tolist(),
        "in_transit": snap.in_transit.tolist(),
        "as_of": snap.as_of.tolist(),
        "at": snap.at,
    }


def _orders_from(ledger: Ledger, ids: list[int]) -> list[Order] | None:
    if any(not 0 <= i < len(ledger.orders) for i in ids):
        return None
    return [ledger.orders[i] for i in ids]


def _import_json(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"order": r.order_id, "duplicate": r.duplicate, "allocated": r.allocated,
         "cancelled": r.cancelled}
        for r in reply.value
    ]  # fmt: skip


class _ErpOps:
    """The three ERP operations a sync connector uses, shared by the ERP facades."""

    def __init__(self, erp: Erp, rt: SimRuntime) -> None:
        self.erp = erp
        self.rt = rt

    def export(self, codes: list[str] | None) -> Reply:
        skus = None if codes is None else _skus(codes)
        return _wait(self.rt, self.erp.export_availability(skus))

    def changes(self, since: float) -> Reply:
        return _wait(self.rt, self.erp.changed_skus(since))

    def import_orders(self, ids: list[int]) -> Reply | None:
        orders = _orders_from(self.erp.ledger, ids)
        if orders is None:
            return None
        return _wait(self.rt, self.erp.import_orders(orders))


def _generic_erp(router: respx.Router, erp: Erp, rt: SimRuntime) -> None:
    ops = _ErpOps(erp, rt)

    def availability(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        reply = ops.export(body.get("skus"))
        return (
            httpx.Response(200, json=snapshot_json(reply.value))
            if reply.ok
            else _generic_error(reply)
        )

    def changes(request: httpx.Request) -> httpx.Response:
        reply = ops.changes(float(request.url.params["since"]))
        if not reply.ok:
            return _generic_error(reply)
        return httpx.Response(200, json={"skus": [sku_code(s) for s in reply.value.tolist()]})

    def orders(request: httpx.Request) -> httpx.Response:
        ids = [o["id"] for o in json.loads(request.content)["orders"]]
        reply = ops.import_orders(ids)
        if reply is None:
            return httpx.Response(404, json={"error": "UNKNOWN_ORDER"})
        if not reply.ok:
            return _generic_error(reply)
        return httpx.Response(200, json={"results": _import_json(reply)})

    router.post("/erp/availability", name="availability").mock(side_effect=availability)
    router.get("/erp/changes", name="changes").mock(side_effect=changes)
    router.post("/erp/orders", name="orders").mock(side_effect=orders)


def _netsuite(router: respx.Router, erp: Erp, rt: SimRuntime) -> None:
    ops = _ErpOps(erp, rt)

    def error(reply: Reply) -> httpx.Response:
        code = reply.error or "UNEXPECTED_ERROR"
        message = (
            "Request blocked: concurrency limit for the account exceeded"
            if reply.status == 429
            else code
        )
        body = {"error": {"code": code, "message": message}}
        return httpx.Response(reply.status, json=body, headers=_retry_after(reply))

    def restlet(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        action = body.get("action")
        if action == "export":
            reply = ops.export(body.get("items"))
            return (
                httpx.Response(200, json=snapshot_json(reply.value)) if reply.ok else error(reply)
            )
        if action == "changes":
            reply = ops.changes(float(body["since"]))
            if not reply.ok:
                return error(reply)
            return httpx.Response(200, json={"items": [sku_code(s) for s in reply.value.tolist()]})
        if action == "import_orders":
            got = ops.import_orders([o["externalId"] for o in body["salesOrders"]])
            if got is None:
                return error(Reply(400, error="INVALID_KEY_OR_REF"))
            return (
                httpx.Response(200, json={"results": _import_json(got)}) if got.ok else error(got)
            )
        return error(Reply(400, error="INVALID_ACTION"))

    router.post("/app/site/hosting/restlet.nl", name="restlet").mock(side_effect=restlet)


_DYNAMICS_MESSAGES = {
    "0x80072322": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    "0x80072321": "Combined execution time of incoming requests exceeded limit of "
    "1,200,000 milliseconds over time window of 300 seconds.",
    "0x80072326": "Number of concurrent requests exceeded the limit of 52.",
}


def _dynamics(router: respx.Router, erp: Erp, rt: SimRuntime) -> None:
    ops = _ErpOps(erp, rt)
    prefix = "/api/data/v9.2"

    def error(reply: Reply) -> httpx.Response:
        code = reply.error or "0x80040216"
        message = _DYNAMICS_MESSAGES.get(code, code)
        if reply.status == 400 and code.startswith("BATCH_TOO_LARGE"):
            code, message = "0x80060891", "The number of requests in the batch exceeds 1000."
        body = {"error": {"code": code, "message": message}}
        return httpx.Response(reply.status, json=body, headers=_retry_after(reply))

    def availability(request: httpx.Request) -> httpx.Response:
        flt = request.url.params.get("$filter", "")
        codes = None
        if flt.startswith("Microsoft.Dynamics.CRM.In(PropertyName='sku',PropertyValues="):
            codes = json.loads(flt.split("PropertyValues=", 1)[1].rstrip(")"))
        reply = ops.export(codes)
        if not reply.ok:
            return error(reply)
        return httpx.Response(200, json={"value": snapshot_json(reply.value)})

    def changes(request: httpx.Request) -> httpx.Response:
        since = float(request.url.params["since"])
        reply = ops.changes(since)
        if not reply.ok:
            return error(reply)
        return httpx.Response(200, json={"value": [sku_code(s) for s in reply.value.tolist()]})

    def batch(request: httpx.Request) -> httpx.Response:
        requests = json.loads(request.content)["requests"]
        ids = [r["body"]["syncsim_orderid"] for r in requests]
        got = ops.import_orders(ids)
        if got is None:
            return error(Reply(400, error="0x80040217"))
        if not got.ok:
            return error(got)
        responses = [
            {"id": r["id"], "status": 204, "body": res}
            for r, res in zip(requests, _import_json(got), strict=True)
        ]
        return httpx.Response(200, json={"responses": responses})

    router.get(f"{prefix}/syncsim_availabilities", name="availability").mock(
        side_effect=availability
    )
    router.get(f"{prefix}/syncsim_changes", name="changes").mock(side_effect=changes)
    router.post(f"{prefix}/$batch", name="batch").mock(side_effect=batch)


# -- mounting ---------------------------------------------------------------------------------
def platform_of(system: Any) -> str:
    """The facade shape a system is served in."""
    if isinstance(system, Erp):
        preset = system.spec.preset
        return preset.platform if preset is not None else "erp"
    preset = system.spec.preset
    return preset.platform if preset is not None else "channel"


def router_base(router: respx.Router) -> str:
    return str(getattr(router, "syncsim_base", ""))


_BUILDERS: dict[str, Callable[[respx.Router, Any, SimRuntime], None]] = {
    "channel": _generic_channel,
    "shopify": _shopify,
    "adobe_commerce": _adobe,
    "bigcommerce": _bigcommerce,
    "amazon": _amazon,
    "erp": _generic_erp,
    "netsuite": _netsuite,
    "dynamics": _dynamics,
}


def facade_for(system: Any, runtime: SimRuntime) -> respx.Router:
    """A respx router serving ``system`` (a channel or the ERP) in its platform's shape."""
    platform = platform_of(system)
    base = BASE_URLS[platform].format(name=getattr(system, "name", "erp"))
    router = respx.Router(base_url=base, assert_all_called=False, assert_all_mocked=True)
    router.syncsim_base = base  # type: ignore[attr-defined]
    _BUILDERS[platform](router, system, runtime)
    return router


def client_for(system: Any, runtime: SimRuntime) -> httpx.Client:
    """An ``httpx.Client`` whose requests are served by ``system``'s facade."""
    router = facade_for(system, runtime)
    return httpx.Client(transport=httpx.MockTransport(router.handler), base_url=router_base(router))
