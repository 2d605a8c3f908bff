"""Connectors written with httpx, as a real integration is: one per platform shape.

Each connector speaks its platform's HTTP API (``mocks.facades`` serves those shapes from the
mocks) and offers the same integration methods a strategy calls on a system directly
(``set_inventory``, ``fetch_orders``, ``fulfill``; ``export_availability``, ``changed_skus``,
``import_orders``), each returning a SimPy event whose value is a ``Reply``. The HTTP code is
ordinary blocking httpx code; it runs as a task of the world's ``SimRuntime`` (``sim.bridge``),
so every request takes the simulated time and capacity the platform's mock charges.

``http_systems(systems)`` gives a strategy the same ``Systems`` with every channel and the
ERP replaced by their connectors: a strategy written against the direct API runs unchanged
in ``transport = "http"`` mode.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from mocks.api import Reply
from mocks.erp import Snapshot
from sim.bridge import AS_OF_HEADER, encode_as_of, sku_code, sku_index

__all__ = [
    "AdobeConnector",
    "AmazonConnector",
    "BigCommerceConnector",
    "ChannelConnector",
    "ErpConnector",
    "LineDoc",
    "OrderDoc",
    "OrdersPageDoc",
    "ShopifyConnector",
    "StaleDoc",
    "connector_for",
    "http_systems",
]


@dataclass(frozen=True, slots=True)
class LineDoc:
    id: int
    sku: int
    qty: int


@dataclass(frozen=True, slots=True)
class OrderDoc:
    """An order as a connector reads it from a channel's API."""

    id: int
    lines: tuple[LineDoc, ...]


@dataclass(frozen=True, slots=True)
class OrdersPageDoc:
    orders: list[OrderDoc]
    cursor: int


@dataclass(frozen=True, slots=True)
class StaleDoc:
    skus: np.ndarray
    actual: np.ndarray


def _snapshot(body: dict[str, Any]) -> Snapshot:
    """The ERP's export, as the direct API returns it."""
    return Snapshot(
        np.array([sku_index(s) for s in body["skus"]], np.int64),
        np.array(body["on_hand"], np.int64),
        np.array(body["committed"], np.int64),
        np.array(body["hold"], np.int64),
        np.array(body["in_transit"], np.int64),
        np.array(body["as_of"], float),
        float(body["at"]),
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    return float(value) if value is not None else None


def _error(response: httpx.Response, code: str | None = None) -> Reply:
    return Reply(response.status_code, error=code, retry_after=_retry_after(response))


def _as_of_header(as_of: Any, n: int) -> dict[str, str]:
    aso = np.array(as_of, float, ndmin=1)
    if aso.size != n:
        aso = np.full(n, float(aso[0]))
    return {AS_OF_HEADER: encode_as_of(aso)}


class _Connector:
    """A client for one system's HTTP API; calls run as tasks of the world's runtime."""

    _delegated: frozenset[str] = frozenset()

    def __init__(self, systems: Any, target: Any, client: httpx.Client) -> None:
        self._target = target
        self.client = client
        self.runtime = systems.runtime

    def _task(self, fn: Callable[[], Reply]) -> Any:
        return self.runtime.spawn(fn)

    def __getattr__(self, name: str) -> Any:
        # what is not an HTTP call (subscriptions, descriptive attributes) is the system's
        if name in self._delegated:
            return getattr(self._target, name)
        raise AttributeError(f"{type(self).__name__} has no {name!r} (not part of its API)")


class ChannelConnector(_Connector):
    """The generic channel JSON API (channels without a preset)."""

    _delegated = frozenset(
        {"name", "kind", "index", "bulk_limit", "page_size", "needs_fulfillment",
         "subscribe_orders", "set_checkout", "n_sku", "spec"}
    )  # fmt: skip

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        skus = np.atleast_1d(np.asarray(skus, np.int64))
        vals = np.array(values, np.int64, ndmin=1)
        exp = None if expected is None else np.broadcast_to(np.asarray(expected), skus.shape)

        def go() -> Reply:
            items = [
                {"sku": sku_code(s), "available": int(v)}
                for s, v in zip(skus.tolist(), vals.tolist(), strict=True)
            ]
            if exp is not None:
                for item, e in zip(items, exp.tolist(), strict=True):
                    item["expected"] = int(e)
            r = self.client.put(
                "/inventory", json={"items": items}, headers=_as_of_header(as_of, skus.size)
            )
            if r.status_code == 409:
                stale = r.json()["stale"]
                doc = StaleDoc(
                    np.array([sku_index(s["sku"]) for s in stale], np.int64),
                    np.array([s["actual"] for s in stale], np.int64),
                )
                return Reply(409, value=doc, error="STALE_QUANTITY")
            if r.is_error:
                return _error(r, r.json().get("error"))
            return Reply(200)

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        def go() -> Reply:
            params = {"cursor": cursor} | ({"limit": limit} if limit else {})
            r = self.client.get("/orders", params=params)
            if r.is_error:
                return _error(r, r.json().get("error"))
            body = r.json()
            orders = [_order(o["id"], o["lines"], "id", "sku", "quantity") for o in body["orders"]]
            return Reply(200, value=OrdersPageDoc(orders, int(body["cursor"])))

        return self._task(go)


def _order(oid: Any, lines: list[dict[str, Any]], lid: str, sku: str, qty: str) -> OrderDoc:
    return OrderDoc(
        int(oid), tuple(LineDoc(int(ln[lid]), sku_index(ln[sku]), int(ln[qty])) for ln in lines)
    )


SET_QUANTITIES = """mutation inventorySetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason changes { name delta } }
    userErrors { code field message }
  }
}"""

ADJUST_QUANTITIES = """mutation inventoryAdjustQuantities(
  $input: InventoryAdjustQuantitiesInput!, $idempotencyKey: String!
) {
  inventoryAdjustQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}"""


class ShopifyConnector(ChannelConnector):
    """Shopify Admin API: GraphQL ``inventorySetQuantities`` (or REST ``inventory_levels/set``
    one item per request), REST orders and fulfillments."""

    prefix = "/admin/api/2024-10"

    def __init__(self, systems: Any, target: Any, client: httpx.Client) -> None:
        super().__init__(systems, target, client)
        self.rest = target.preset.api == "rest"

    def set_inventory(
        self, skus: Any, values: Any, as_of: Any, expected: Any = None, name: str = "available"
    ) -> Any:
        skus = np.atleast_1d(np.asarray(skus, np.int64))
        vals = np.array(values, np.int64, ndmin=1)
        exp = None if expected is None else np.broadcast_to(np.asarray(expected), skus.shape)
        if self.rest:
            return self._task(lambda: self._rest_set(skus, vals, as_of))

        def go() -> Reply:
            quantities = []
            for i, (s, v) in enumerate(zip(skus.tolist(), vals.tolist(), strict=True)):
                q: dict[str, Any] = {
                    "inventoryItemId": f"gid://shopify/InventoryItem/{s}",
                    "locationId": "gid://shopify/Location/1",
                    "quantity": int(v),
                }
                if exp is not None:
                    q["changeFromQuantity"] = int(exp[i])
                quantities.append(q)
            variables = {
                "input": {
                    "name": name,
                    "reason": "correction",
                    "ignoreCompareQuantity": exp is None,
                    "quantities": quantities,
                }
            }
            body = {
                "query": SET_QUANTITIES,
                "operationName": "inventorySetQuantities",
                "variables": variables,
            }
            r = self.client.post(
                f"{self.prefix}/graphql.json",
                json=body,
                headers=_as_of_header(as_of, skus.size),
            )
            return self._graphql_reply(r, "inventorySetQuantities", skus)

        return self._task(go)

    def _graphql_reply(self, r: httpx.Response, op: str, skus: np.ndarray) -> Reply:
        if r.is_error:
            return _error(r, "HTTP_ERROR")
        body = r.json()
        for err in body.get("errors", []):
            if err.get("extensions", {}).get("code") == "THROTTLED":
                cost = body["extensions"]["cost"]
                status = cost["throttleStatus"]
                wait = (cost["requestedQueryCost"] - status["currentlyAvailable"]) / status[
                    "restoreRate"
                ]
                return Reply(429, error="THROTTLED", retry_after=max(wait, 0.0))
        if body.get("errors"):
            return Reply(400, error=body["errors"][0]["message"])
        user_errors = body["data"][op]["userErrors"]
        if any(e["code"] == "CHANGE_FROM_QUANTITY_STALE" for e in user_errors):
            stale = [skus[int(e["field"][2])] for e in user_errors]
            return Reply(409, value=StaleDoc(np.array(stale, np.int64), np.zeros(0, np.int64)),
                         error="STALE_QUANTITY")  # fmt: skip
        if user_errors:
            return Reply(400, error=user_errors[0]["code"])
        return Reply(200, value=body["data"][op])

    def _rest_set(self, skus: np.ndarray, vals: np.ndarray, as_of: Any) -> Reply:
        aso = np.array(as_of, float, ndmin=1)
        if skus.size != 1:
            return Reply(400, error="inventory_levels/set takes one item per request")
        body = {"location_id": 1, "inventory_item_id": int(skus[0]), "available": int(vals[0])}
        r = self.client.post(
            f"{self.prefix}/inventory_levels/set.json", json=body, headers=_as_of_header(aso, 1)
        )
        return (
            _error(r, "THROTTLED" if r.status_code == 429 else "ERROR")
            if r.is_error
            else Reply(200)
        )

    def adjust(self, skus: Any, deltas: Any, as_of: Any, key: str) -> Any:
        """``inventoryAdjustQuantities`` with an idempotency key."""
        skus = np.atleast_1d(np.asarray(skus, np.int64))
        d = np.array(deltas, np.int64, ndmin=1)

        def go() -> Reply:
            changes = [
                {"inventoryItemId": f"gid://shopify/InventoryItem/{s}",
                 "locationId": "gid://shopify/Location/1", "delta": int(x)}
                for s, x in zip(skus.tolist(), d.tolist(), strict=True)
            ]  # fmt: skip
            body = {
                "query": ADJUST_QUANTITIES,
                "operationName": "inventoryAdjustQuantities",
                "variables": {
                    "input": {"name": "available", "reason": "correction", "changes": changes},
                    "idempotencyKey": key,
                },
            }
            r = self.client.post(
                f"{self.prefix}/graphql.json", json=body, headers=_as_of_header(as_of, skus.size)
            )
            return self._graphql_reply(r, "inventoryAdjustQuantities", skus)

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        def go() -> Reply:
            params = {"page_info": cursor} | ({"limit": limit} if limit else {})
            r = self.client.get(f"{self.prefix}/orders.json", params=params)
            if r.is_error:
                return _error(r, "THROTTLED" if r.status_code == 429 else "ERROR")
            orders = [
                _order(o["id"], o["line_items"], "id", "sku", "quantity")
                for o in r.json()["orders"]
            ]
            nxt = r.links.get("next", {}).get("url", "")
            cursor_next = int(httpx.URL(nxt).params.get("page_info", cursor)) if nxt else cursor
            return Reply(200, value=OrdersPageDoc(orders, cursor_next))

        return self._task(go)

    def fulfill(self, lines: Sequence[tuple[int, int, int, int, str]]) -> Any:
        """One fulfillment (or cancellation) per order and kind."""

        def go() -> Reply:
            for (oid, kind), items in _by_order(lines).items():
                body = {
                    "fulfillment": {
                        "order_id": oid,
                        "status": "success" if kind == "shipped" else "cancelled",
                        "line_items": [
                            {"id": lid, "sku": sku_code(s), "quantity": q} for lid, s, q in items
                        ],
                    }
                }
                r = self.client.post(f"{self.prefix}/fulfillments.json", json=body)
                if r.is_error:
                    return _error(r, "ERROR")
            return Reply(200)

        return self._task(go)


def _by_order(
    lines: Sequence[tuple[int, int, int, int, str]],
) -> dict[tuple[int, str], list[tuple[int, int, int]]]:
    out: dict[tuple[int, str], list[tuple[int, int, int]]] = {}
    for oid, lid, sku, qty, kind in lines:
        out.setdefault((oid, kind), []).append((lid, sku, qty))
    return out


class AdobeConnector(ChannelConnector):
    """Adobe Commerce REST: source items, orders, ship / cancel."""

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        skus = np.atleast_1d(np.asarray(skus, np.int64))
        vals = np.array(values, np.int64, ndmin=1)

        def go() -> Reply:
            items = [
                {"sku": sku_code(s), "source_code": "default", "quantity": int(v), "status": 1}
                for s, v in zip(skus.tolist(), vals.tolist(), strict=True)
            ]
            r = self.client.post(
                "/rest/V1/inventory/source-items",
                json={"sourceItems": items},
                headers=_as_of_header(as_of, skus.size),
            )
            return _error(r, r.json().get("message")) if r.is_error else Reply(200)

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        def go() -> Reply:
            params = {"searchCriteria[currentPage]": cursor} | (
                {"searchCriteria[pageSize]": limit} if limit else {}
            )
            r = self.client.get("/rest/V1/orders", params=params)
            if r.is_error:
                return _error(r, r.json().get("message"))
            body = r.json()
            orders = [
                _order(o["entity_id"], o["items"], "item_id", "sku", "qty_ordered")
                for o in body["items"]
            ]
            return Reply(
                200, value=OrdersPageDoc(orders, int(body["search_criteria"]["current_page"]))
            )

        return self._task(go)

    def fulfill(self, lines: Sequence[tuple[int, int, int, int, str]]) -> Any:
        """``POST /V1/order/{id}/ship`` or ``/V1/orders/{id}/cancel`` per order."""

        def go() -> Reply:
            for (oid, kind), items in _by_order(lines).items():
                path = (
                    f"/rest/V1/order/{oid}/ship"
                    if kind == "shipped"
                    else (f"/rest/V1/orders/{oid}/cancel")
                )
                body = {
                    "items": [{"order_item_id": lid, "sku": sku_code(s), "qty": q}
                              for lid, s, q in items]
                }  # fmt: skip
                r = self.client.post(path, json=body)
                if r.is_error:
                    return _error(r, r.json().get("message"))
            return Reply(200)

        return self._task(go)


class BigCommerceConnector(ChannelConnector):
    """BigCommerce v3 absolute inventory adjustments (asynchronous) and v2 orders."""

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        skus = np.atleast_1d(np.asarray(skus, np.int64))
        vals = np.array(values, np.int64, ndmin=1)
        store = f"/stores/{self._target.name}"

        def go() -> Reply:
            items = [
                {"location_id": 1, "sku": sku_code(s), "quantity": int(v)}
                for s, v in zip(skus.tolist(), vals.tolist(), strict=True)
            ]
            r = self.client.put(
                f"{store}/v3/inventory/adjustments/absolute",
                json={"reason": "sync", "items": items},
                headers=_as_of_header(as_of, skus.size),
            )
            if r.is_error:
                return _error(r, r.json().get("title"))
            return Reply(200, value=r.json()["transaction_id"])

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        store = f"/stores/{self._target.name}"

        def go() -> Reply:
            params = {"page": cursor} | ({"limit": limit} if limit else {})
            r = self.client.get(f"{store}/v2/orders", params=params)
            if r.is_error:
                return _error(r, r.json().get("title"))
            orders = [_order(o["id"], o["products"], "id", "sku", "quantity") for o in r.json()]
            return Reply(200, value=OrdersPageDoc(orders, int(r.headers["X-Next-Page"])))

        return self._task(go)


class AmazonConnector(ChannelConnector):
    """Selling Partner API: JSON_LISTINGS_FEED through the Feeds API, Orders API v0."""

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        skus = np.atleast_1d(np.asarray(skus, np.int64))
        vals = np.array(values, np.int64, ndmin=1)

        def go() -> Reply:
            r = self.client.post(
                "/feeds/2021-06-30/documents", json={"contentType": "application/json"}
            )
            if r.is_error:
                return _error(r, "ERROR")
            doc = r.json()
            messages = [
                {
                    "messageId": i + 1,
                    "sku": sku_code(s),
                    "operationType": "PATCH",
                    "productType": "PRODUCT",
                    "patches": [{
                        "op": "replace",
                        "path": "/attributes/fulfillment_availability",
                        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": int(v)}],
                    }],
                }
                for i, (s, v) in enumerate(zip(skus.tolist(), vals.tolist(), strict=True))
            ]  # fmt: skip
            feed = {"header": {"sellerId": "SYNCSIM", "version": "2.0"}, "messages": messages}
            up = self.client.put(doc["url"], content=json.dumps(feed).encode())
            if up.is_error:
                return _error(up, "ERROR")
            r = self.client.post(
                "/feeds/2021-06-30/feeds",
                json={
                    "feedType": "JSON_LISTINGS_FEED",
                    "marketplaceIds": ["A1PA6795UKMFR9"],
                    "inputFeedDocumentId": doc["feedDocumentId"],
                },
                headers=_as_of_header(as_of, skus.size),
            )
            if r.is_error:
                return _error(r, r.json()["errors"][0]["code"])
            return Reply(202, value=r.json()["feedId"])

        return self._task(go)

    def feed_status(self, feed_id: str) -> Any:
        """``getFeed``: the feed's ``processingStatus``."""

        def go() -> Reply:
            r = self.client.get(f"/feeds/2021-06-30/feeds/{feed_id}")
            if r.is_error:
                return _error(r, r.json()["errors"][0]["code"])
            return Reply(200, value=r.json()["processingStatus"])

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        def go() -> Reply:
            r = self.client.get("/orders/v0/orders", params={"NextToken": cursor})
            if r.is_error:
                return _error(r, r.json()["errors"][0]["code"])
            payload = r.json()["payload"]
            orders = [
                _order(o["AmazonOrderId"], o["OrderItems"], "OrderItemId", "SellerSKU",
                       "QuantityOrdered")
                for o in payload["Orders"]
            ]  # fmt: skip
            return Reply(200, value=OrdersPageDoc(orders, int(payload["NextToken"])))

        return self._task(go)


class ErpConnector(_Connector):
    """The ERP's API in its platform's shape: the generic JSON API, a NetSuite RESTlet or
    the Dataverse Web API."""

    _delegated = frozenset({"serve", "subscribe", "subscribe_changes", "spec"})

    def __init__(self, systems: Any, target: Any, client: httpx.Client) -> None:
        super().__init__(systems, target, client)
        preset = target.spec.preset
        self.platform = preset.platform if preset is not None else "erp"

    def _reply(self, r: httpx.Response) -> Reply | None:
        if not r.is_error:
            return None
        body = r.json()
        err = body.get("error")
        code = err.get("code") if isinstance(err, dict) else err
        return _error(r, code)

    def export_availability(self, skus: Any = None) -> Any:
        codes = None if skus is None else [sku_code(s) for s in np.atleast_1d(skus).tolist()]

        def go() -> Reply:
            if self.platform == "netsuite":
                body: dict[str, Any] = {"action": "export"} | ({"items": codes} if codes else {})
                r = self.client.post(RESTLET, json=body, params=RESTLET_PARAMS)
                data = r.json()
            elif self.platform == "dynamics":
                params = {}
                if codes is not None:
                    params["$filter"] = (
                        "Microsoft.Dynamics.CRM.In(PropertyName='sku',PropertyValues="
                        f"{json.dumps(codes)})"
                    )
                r = self.client.get("/api/data/v9.2/syncsim_availabilities", params=params)
                data = r.json().get("value") if not r.is_error else None
            else:
                r = self.client.post("/erp/availability", json={"skus": codes} if codes else {})
                data = r.json()
            return self._reply(r) or Reply(200, value=_snapshot(data))

        return self._task(go)

    def changed_skus(self, since: float) -> Any:
        def go() -> Reply:
            if self.platform == "netsuite":
                body = {"action": "changes", "since": since}
                r = self.client.post(RESTLET, json=body, params=RESTLET_PARAMS)
                key = "items"
            elif self.platform == "dynamics":
                r = self.client.get("/api/data/v9.2/syncsim_changes", params={"since": repr(since)})
                key = "value"
            else:
                r = self.client.get("/erp/changes", params={"since": repr(since)})
                key = "skus"
            bad = self._reply(r)
            if bad is not None:
                return bad
            return Reply(200, value=np.array([sku_index(s) for s in r.json()[key]], np.int64))

        return self._task(go)

    def import_orders(self, orders: Sequence[Any]) -> Any:
        docs = [
            {"id": o.id, "lines": [{"id": ln.id, "sku": sku_code(ln.sku), "quantity": ln.qty}
                                   for ln in o.lines]}
            for o in orders
        ]  # fmt: skip

        def go() -> Reply:
            if self.platform == "netsuite":
                orders_ = [{"externalId": d["id"], "item": d["lines"]} for d in docs]
                body = {"action": "import_orders", "salesOrders": orders_}
                r = self.client.post(RESTLET, json=body, params=RESTLET_PARAMS)
            elif self.platform == "dynamics":
                requests = [
                    {"id": str(i + 1), "method": "POST", "url": "salesorders",
                     "body": {"syncsim_orderid": d["id"], "lines": d["lines"]}}
                    for i, d in enumerate(docs)
                ]  # fmt: skip
                r = self.client.post("/api/data/v9.2/$batch", json={"requests": requests})
            else:
                r = self.client.post("/erp/orders", json={"orders": docs})
            return self._reply(r) or Reply(200, value=r.json())

        return self._task(go)


RESTLET = "/app/site/hosting/restlet.nl"
RESTLET_PARAMS = {"script": "customscript_syncsim", "deploy": "1"}

_CHANNEL_CONNECTORS: dict[str | None, type[ChannelConnector]] = {
    None: ChannelConnector,
    "shopify": ShopifyConnector,
    "adobe_commerce": AdobeConnector,
    "bigcommerce": BigCommerceConnector,
    "amazon": AmazonConnector,
}


def connector_for(systems: Any, channel: Any) -> ChannelConnector:
    """The connector for a channel's platform, on the channel's HTTP facade."""
    preset = channel.spec.preset
    cls = _CHANNEL_CONNECTORS[preset.platform if preset is not None else None]
    return cls(systems, channel, systems.http(channel.name))


def http_systems(systems: Any) -> Any:
    """``systems`` with the channels and the ERP reached through their HTTP facades."""
    _ = systems.runtime  # one runtime, shared by the copy
    return dataclasses.replace(
        systems,
        channels=[connector_for(systems, ch) for ch in systems.channels],
        erp=ErpConnector(systems, systems.erp, systems.http("erp")),
    )
