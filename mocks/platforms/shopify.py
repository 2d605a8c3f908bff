"""Shopify: inventory states, compare-and-swap, idempotent adjustments, order webhooks.

Preset (``Shopify``): REST leaky bucket (40, leaking 2/s Standard, 4/s Advanced, 20/s Plus)
or the GraphQL cost bucket (1,000 points restored 100/200/1,000 per second); webhooks at
least once, duplicated, unordered, retried 8 times over 4 hours with the original payload,
5-second timeout.

Semantics (``ShopifyChannel``): states available / committed / reserved / on_hand (an order
moves units from available to committed; a fulfillment takes them out of committed and on
hand); ``set_inventory(..., name="on_hand")`` sets on hand and leaves available = on hand -
committed - reserved; compare-and-swap as ``changeFromQuantity``; ``adjust`` with an
idempotency key (a reused key returns the first answer and changes nothing); order webhooks
(``ShopifyWebhooks``) retried on the receiver's failure with the original payload.

HTTP shape: the GraphQL Admin API (``inventorySetQuantities`` with ``changeFromQuantity``,
``inventoryAdjustQuantities`` with an idempotency key; a served mutation whose items are
refused one by one keeps its ``inventoryAdjustmentGroup`` and names each refused quantity in
``userErrors``) or REST (``inventory_levels/set``: a refused item is a 422 naming it),
REST ``inventory_levels.json`` (the available quantity of the comma-separated
``inventory_item_ids``, or of every item at ``location_ids``; one page: the whole selection,
each level's ``as_of`` in the ``X-Syncsim-As-Of`` header), ``orders.json`` paged by
``page_info``, ``fulfillments.json``;
``X-Shopify-Shop-Api-Call-Limit`` and ``Retry-After`` on REST, GraphQL ``THROTTLED`` errors
with the cost extension; order webhooks over HTTP (``ShopifyWebhookSender``) with the same
bytes on every retry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Callable
from typing import Any, Literal

import httpx
import numpy as np
import respx
from pydantic import Field

from mocks.api import CostBucket, LeakyBucket, Reply
from mocks.channel import ItemErrors, StaleWrite, Webhooks
from mocks.http import (
    as_of_headers,
    as_of_of,
    channel_inventory,
    channel_orders,
    codes_of,
    retry_after_headers,
    router_base,
    wait,
)
from mocks.platforms.base import Auth, FulfillingChannel, Platform, lognormal, refuse
from sim.bridge import SimRuntime, sku_code, sku_index
from sim.capacity import CostBucketLimit, EffectiveChannelApi, LeakyBucketLimit, Limit
from sim.dists import Dist, Duration, Uniform
from sim.fields import Int, Real
from sim.ledger import Order
from sim.platforms import ChannelPreset

__all__ = [
    "PLATFORM",
    "SHOPIFY_VERSION",
    "Shopify",
    "ShopifyChannel",
    "ShopifyWebhookSender",
    "ShopifyWebhooks",
    "order_json",
    "routes",
    "webhook_body",
    "webhook_headers",
]

SHOPIFY_VERSION = "2024-10"


# -- preset -----------------------------------------------------------------------------------
class Shopify(ChannelPreset):
    """REST leaky bucket (40, leak 2/s Standard, 4/s Advanced, 20/s Plus) or GraphQL cost
    bucket (1000 points, restore 100/200/1000 per second); states available, committed,
    reserved, on_hand; set quantities with compare-and-swap; adjust with an idempotency key;
    webhooks at least once, duplicated, unordered, retried 8 times over 4 hours with the
    original payload, 5-second timeout."""

    platform: Literal["shopify"]
    plan: Literal["standard", "advanced", "plus"] = "standard"
    api: Literal["graphql", "rest"] = "graphql"
    bucket_size: Int = Field(40, ge=1, le=10**9)
    graphql_capacity: Int = Field(1000, ge=1, le=10**9)
    graphql_mutation_cost: Int = Field(10, ge=1, le=10**9)
    latency: Dist = Field(default_factory=lambda: lognormal(0.15))
    webhook_duplicate_rate: Real = Field(0.01, ge=0, le=1)
    webhook_jitter: Dist = Field(
        default_factory=lambda: Uniform.model_validate({"dist": "uniform", "low": 0, "high": 10})
    )
    webhook_retries: Int = Field(8, ge=0, le=100)
    webhook_retry_window: Duration = 4 * 3600.0
    webhook_timeout: Duration = 5.0

    @property
    def leak_rate(self) -> float:
        return {"standard": 2.0, "advanced": 4.0, "plus": 20.0}[self.plan]

    @property
    def restore_rate(self) -> float:
        return {"standard": 100.0, "advanced": 200.0, "plus": 1000.0}[self.plan]

    def platform_api(self) -> EffectiveChannelApi:
        """REST: the leaky bucket, one item per ``inventory_levels/set`` request. GraphQL:
        the cost bucket, a mutation costing ``graphql_mutation_cost`` + 1 point per 10
        items, 250 quantities per ``inventorySetQuantities``."""
        if self.api == "rest":
            bucket: Limit = LeakyBucketLimit(capacity=self.bucket_size, rate=self.leak_rate)
            return EffectiveChannelApi(latency=self.latency, limits=(bucket,), bulk_limit=1)
        points = CostBucketLimit(
            capacity=self.graphql_capacity,
            rate=self.restore_rate,
            query_cost=self.graphql_mutation_cost,
        )
        return EffectiveChannelApi(latency=self.latency, limits=(points,), bulk_limit=250)


# -- semantics --------------------------------------------------------------------------------
class ShopifyWebhooks(Webhooks):
    """Shopify order webhooks: each delivery comes after a random delay (no ordering),
    a share are duplicated, and a delivery the receiver fails (returns ``False``) is retried
    ``retries`` times over ``retry_window`` seconds (doubling gaps), with the original
    payload."""

    def __init__(self, env: Any, rng: np.random.Generator, preset: Shopify) -> None:
        super().__init__(env, rng)
        self.preset = preset
        n = preset.webhook_retries
        first = preset.webhook_retry_window / (2**n - 1) if n else 0.0
        #: seconds after the first attempt at which each retry is made
        self.schedule = [first * (2 ** (i + 1) - 1) for i in range(n)]
        self.duplicated = 0
        self.failed = 0
        self.gave_up = 0
        self.attempts: list[tuple[float, int, int]] = []  # (t, order id, attempt)

    def deliver(self, fn: Callable[[Order], Any], order: Order) -> None:
        self.delivered += 1
        delay = float(self.preset.webhook_jitter.sample(self.rng))
        late = self.faults[-1].webhook_delay(self.rng) if self.faults else None
        if late is not None:
            delay += late
        self._attempt(fn, order, delay, 0)
        if self.rng.random() < self.preset.webhook_duplicate_rate:
            self.duplicated += 1
            self._attempt(fn, order, delay + float(self.preset.webhook_jitter.sample(self.rng)), 0)

    def _attempt(self, fn: Callable[[Order], Any], order: Order, at: float, n: int) -> None:
        def fire(_: Any) -> None:
            self.attempts.append((self.env.now, order.id, n))
            if fn(order) is not False:
                return
            self.failed += 1
            if n < len(self.schedule):
                self.retried += 1
                gap = self.schedule[n] - (self.schedule[n - 1] if n else 0.0)
                self._attempt(fn, order, gap, n + 1)
            else:
                self.gave_up += 1

        self.env.timeout(at).callbacks.append(fire)


class ShopifyChannel(FulfillingChannel):
    """Shopify's inventory states, compare-and-swap, idempotent adjustments and webhooks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        preset = self.spec.preset
        assert isinstance(preset, Shopify)
        self.preset = preset
        self.committed = np.zeros(self.n_sku, np.int64)
        self.reserved = np.zeros(self.n_sku, np.int64)
        self.webhooks = ShopifyWebhooks(self.env, self.rng, preset)
        self.accept_listeners.append(self._commit)
        self._idempotent: dict[str, Any] = {}
        self.idempotent_replays = 0

    def _commit(self, order: Order) -> None:
        for ln in order.lines:
            self.committed[ln.sku] += ln.qty

    def _fulfilled(self, line_id: int, sku: int, qty: int, kind: str) -> None:
        # a fulfillment takes the units out of committed (and on hand); a cancellation
        # without restock only releases the commitment
        self.committed[sku] = max(0, self.committed[sku] - qty)

    def states(self, skus: Any = None) -> dict[str, np.ndarray]:
        """Quantities by state: available, committed, reserved, on_hand."""
        sel = np.arange(self.n_sku) if skus is None else np.atleast_1d(np.asarray(skus, np.int64))
        available = np.maximum(self.count[sel], 0)
        on_hand = available + self.committed[sel] + self.reserved[sel]
        return {
            "available": available,
            "committed": self.committed[sel].copy(),
            "reserved": self.reserved[sel].copy(),
            "on_hand": on_hand,
        }

    def set_inventory(
        self, skus: Any, values: Any, as_of: Any, expected: Any = None, name: str = "available"
    ) -> Any:
        """``inventorySetQuantities``: set the ``available`` or ``on_hand`` quantity (with
        ``expected`` as ``changeFromQuantity`` of that same quantity)."""
        if name not in ("available", "on_hand"):
            return refuse(self.env, self.api, 400, f"INVALID_NAME: {name!r}")
        if name == "on_hand":
            sel = np.atleast_1d(np.asarray(skus, np.int64))
            held = self.committed[sel] + self.reserved[sel]
            values = np.array(values, np.int64, ndmin=1) - held
            if expected is not None:
                expected = np.array(expected, np.int64, ndmin=1) - held
        return super().set_inventory(skus, values, as_of, expected)

    def adjust(self, skus: Any, deltas: Any, as_of: Any, key: str | None = None) -> Any:
        """``inventoryAdjustQuantities`` on available: add ``deltas``; with an idempotency
        ``key`` a repeated request returns the first answer and changes nothing."""
        sel = np.atleast_1d(np.asarray(skus, np.int64))
        if sel.size > self.bulk_limit:
            return refuse(self.env, self.api, 400, f"too many items: {sel.size}")
        d = np.array(deltas, np.int64, ndmin=1)
        aso = float(np.min(as_of))

        def effect() -> np.ndarray:
            if key is not None and key in self._idempotent:
                self.idempotent_replays += 1
                return self._idempotent[key]
            new = np.maximum(self.count[sel], 0) + d
            self._apply(sel, new, np.full(sel.shape, aso))
            result = np.maximum(new, 0)
            if key is not None:
                self._idempotent[key] = result
            return result

        return self.api.call(sel.size, effect, op="adjust_inventory")


# -- HTTP shape -------------------------------------------------------------------------------
def _gid(kind: str, i: int) -> str:
    return f"gid://shopify/{kind}/{i}"


def _gid_index(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


def routes(router: respx.Router, ch: ShopifyChannel, rt: SimRuntime) -> None:
    """The Admin API endpoints of the module docstring."""
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
                avail = lim.available_at(ch.env.now)
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
        headers = {**call_limit(), **retry_after_headers(reply)}
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
            return httpx.Response(200, json=body, headers=retry_after_headers(reply))
        return httpx.Response(
            reply.status,
            json={"errors": [{"message": reply.error or "Internal error"}]},
            headers=retry_after_headers(reply),
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
            aso = as_of_of(request, skus.size, ch.env.now)
            requested = float(api.cost(skus.size)) if api.cost else 10.0
            if skus.size > ch.bulk_limit:
                msg = f"quantities: at most {ch.bulk_limit} items per request, got {skus.size}"
                errors = [{"field": ["input", "quantities"], "message": msg, "code": "INVALID"}]
                return httpx.Response(200, json={"data": {op: {"userErrors": errors}}})
            reply = wait(rt, ch.set_inventory(skus, values, aso, expected, name=inp["name"]))
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
            errors = []
            if isinstance(reply.value, ItemErrors):  # served; these items refused one by one
                refused = set(reply.value.skus.tolist())
                errors = [
                    {
                        "field": ["input", "quantities", str(i), "inventoryItemId"],
                        "message": "The quantity of this inventory item was not set.",
                        "code": reply.value.error,
                    }
                    for i, s in enumerate(skus.tolist())
                    if s in refused
                ]
            group = {"reason": inp.get("reason", "correction"), "changes": len(qs) - len(errors)}
            data = {op: {"inventoryAdjustmentGroup": group, "userErrors": errors}}
            return httpx.Response(200, json={"data": data, "extensions": cost_extension(requested)})
        if op == "inventoryAdjustQuantities":
            inp = var["input"]
            changes = inp["changes"]
            skus = np.array([_gid_index(c["inventoryItemId"]) for c in changes], np.int64)
            deltas = [c["delta"] for c in changes]
            aso = as_of_of(request, skus.size, ch.env.now)
            key = var.get("idempotencyKey")
            reply = wait(rt, ch.adjust(skus, deltas, aso, key=key))
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
        aso = as_of_of(request, 1, ch.env.now)
        reply = wait(rt, ch.set_inventory([sku], [body["available"]], aso))
        if not reply.ok:
            return rest_error(reply)
        if isinstance(reply.value, ItemErrors):  # the one item was refused
            errors = {"inventory_item_id": [reply.value.error]}
            return httpx.Response(422, json={"errors": errors}, headers=call_limit())
        level = {
            "inventory_item_id": sku,
            "location_id": body.get("location_id", 1),
            "available": int(body["available"]),
        }
        return httpx.Response(200, json={"inventory_level": level}, headers=call_limit())

    def rest_levels(request: httpx.Request) -> httpx.Response:
        ids = codes_of(request.url.params.get("inventory_item_ids"))
        skus = None if ids is None else np.array([int(i) for i in ids], np.int64)
        reply = channel_inventory(ch, rt, skus)
        if not reply.ok:
            return rest_error(reply)
        page = reply.value
        location = int(request.url.params.get("location_ids", "1").split(",")[0])
        levels = [
            {
                "inventory_item_id": s,
                "location_id": location,
                "available": int(v),
                "admin_graphql_api_id": f"{_gid('InventoryLevel', location)}?inventory_item_id={s}",
            }
            for s, v in zip(page.skus.tolist(), page.shown.tolist(), strict=True)
        ]
        return httpx.Response(
            200, json={"inventory_levels": levels}, headers={**call_limit(), **as_of_headers(page)}
        )

    def orders(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        cursor = int(q.get("page_info", 0))
        reply = channel_orders(ch, rt, cursor, int(q["limit"]) if "limit" in q else None)
        if not reply.ok:
            return rest_error(reply)
        page = reply.value
        body = {"orders": [order_json(o) for o in page.orders]}
        link = f'<{router_base(router)}{prefix}/orders.json?page_info={page.cursor}>; rel="next"'
        return httpx.Response(200, json=body, headers={**call_limit(), "Link": link})

    def fulfillments(request: httpx.Request) -> httpx.Response:
        f = json.loads(request.content)["fulfillment"]
        kind = "cancelled" if f.get("status") == "cancelled" else "shipped"
        oid = int(f["order_id"])
        lines = [
            (oid, li["id"], sku_index(li["sku"]), li["quantity"], kind) for li in f["line_items"]
        ]
        reply = wait(rt, ch.fulfill(lines))
        if not reply.ok:
            return rest_error(reply)
        return httpx.Response(
            201, json={"fulfillment": {"status": "success"}}, headers=call_limit()
        )

    router.post(f"{prefix}/graphql.json", name="graphql").mock(side_effect=graphql)
    router.post(f"{prefix}/inventory_levels/set.json", name="inventory_levels_set").mock(
        side_effect=rest_set
    )
    router.get(f"{prefix}/inventory_levels.json", name="inventory_levels").mock(
        side_effect=rest_levels
    )
    router.get(f"{prefix}/orders.json", name="orders").mock(side_effect=orders)
    router.post(f"{prefix}/fulfillments.json", name="fulfillments").mock(side_effect=fulfillments)


def order_json(o: Order) -> dict[str, Any]:
    """An order as the REST Admin API and the order webhooks show it."""
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
            body = webhook_body(order)
            self._payloads[order.id] = body
        headers = webhook_headers(self.ch.name, order, body, self.secret)
        response = self.client.post(self.url, content=body, headers=headers)
        return response.is_success


def webhook_body(order: Order) -> bytes:
    """An ``orders/create`` webhook's payload (serialized once; retries send these bytes)."""
    return json.dumps(order_json(order), sort_keys=True).encode()


def webhook_headers(shop: str, order: Order, body: bytes, secret: bytes) -> dict[str, str]:
    """The headers of an ``orders/create`` delivery: ``X-Shopify-Hmac-Sha256`` is the
    base64 HMAC-SHA256 of the raw body with the app's secret, as Shopify signs it."""
    digest = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": f"wh-{order.id}",
        "X-Shopify-Shop-Domain": f"{shop}.myshopify.com",
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Triggered-At": repr(order.visible_at),
    }


PLATFORM = Platform(
    name="shopify",
    kind="channel",
    preset=Shopify,
    routes=routes,
    base_url="https://{name}.myshopify.com",
    channel_class=ShopifyChannel,
    auth=Auth(
        header="X-Shopify-Access-Token",
        scheme="",
        body={
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
        },
    ),
    webhook_path=f"/admin/api/{SHOPIFY_VERSION}/webhooks.json",
)
