"""Shopify's connector: the Admin API (GraphQL inventory mutations or REST), the REST
inventory levels read, orders and fulfillments, as ``mocks.platforms.shopify`` serves them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from mocks.platforms.shopify import SHOPIFY_VERSION
from sim.bridge import sku_code
from sim.contract import ItemErrors, Reply
from strategies.connectors.base import (
    ChannelConnector,
    OrdersPageDoc,
    StaleDoc,
    as_of_header,
    by_order,
    error_reply,
    inventory_page,
    order_doc,
)

__all__ = ["ADJUST_QUANTITIES", "SET_QUANTITIES", "ShopifyConnector"]

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
    one item per request), REST inventory levels, orders and fulfillments."""

    prefix = f"/admin/api/{SHOPIFY_VERSION}"

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
            if expected is not None:  # inventory_levels/set has no compare quantity
                return self._unsupported("compare-and-swap")
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
                headers=as_of_header(as_of, skus.size),
            )
            return self._graphql_reply(r, "inventorySetQuantities", skus)

        return self._task(go)

    def _graphql_reply(self, r: httpx.Response, op: str, skus: np.ndarray) -> Reply:
        if r.is_error:
            return error_reply(r, "HTTP_ERROR")
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
        if user_errors and body["data"][op].get("inventoryAdjustmentGroup") is not None:
            # served: the items named were refused one by one, the others applied
            refused = [skus[int(e["field"][2])] for e in user_errors]
            return Reply(200, value=ItemErrors(np.array(refused, np.int64), user_errors[0]["code"]))
        if user_errors:
            return Reply(400, error=user_errors[0]["code"])
        return Reply(200, value=body["data"][op])

    def _rest_set(self, skus: np.ndarray, vals: np.ndarray, as_of: Any) -> Reply:
        aso = np.array(as_of, float, ndmin=1)
        if skus.size != 1:
            return Reply(400, error="inventory_levels/set takes one item per request")
        body = {"location_id": 1, "inventory_item_id": int(skus[0]), "available": int(vals[0])}
        r = self.client.post(
            f"{self.prefix}/inventory_levels/set.json", json=body, headers=as_of_header(aso, 1)
        )
        if r.status_code == 422:  # the item was refused: served, as a write of one item
            errors = r.json()["errors"]
            if isinstance(errors, dict) and "inventory_item_id" in errors:
                return Reply(200, value=ItemErrors(skus, errors["inventory_item_id"][0]))
        return (
            error_reply(r, "THROTTLED" if r.status_code == 429 else "ERROR")
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
                f"{self.prefix}/graphql.json", json=body, headers=as_of_header(as_of, skus.size)
            )
            return self._graphql_reply(r, "inventoryAdjustQuantities", skus)

        return self._task(go)

    def read_inventory(self, skus: Any = None) -> Any:
        """REST ``inventory_levels.json``: the available quantity of the inventory items
        ``skus``, or of every item at the location."""
        ids = None if skus is None else np.atleast_1d(np.asarray(skus, np.int64)).tolist()

        def go() -> Reply:
            params: dict[str, Any] = {"location_ids": 1}
            if ids is not None:
                params["inventory_item_ids"] = ",".join(str(i) for i in ids)
            r = self.client.get(f"{self.prefix}/inventory_levels.json", params=params)
            if r.is_error:
                return error_reply(r, "THROTTLED" if r.status_code == 429 else "ERROR")
            levels = r.json()["inventory_levels"]
            page = inventory_page([lv["inventory_item_id"] for lv in levels],
                                  [lv["available"] for lv in levels], r)  # fmt: skip
            return Reply(200, value=page)

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        def go() -> Reply:
            params = {"page_info": cursor} | ({"limit": limit} if limit else {})
            r = self.client.get(f"{self.prefix}/orders.json", params=params)
            if r.is_error:
                return error_reply(r, "THROTTLED" if r.status_code == 429 else "ERROR")
            orders = [
                order_doc(o["id"], o["line_items"], "id", "sku", "quantity")
                for o in r.json()["orders"]
            ]
            nxt = r.links.get("next", {}).get("url", "")
            cursor_next = int(httpx.URL(nxt).params.get("page_info", cursor)) if nxt else cursor
            return Reply(200, value=OrdersPageDoc(orders, cursor_next))

        return self._task(go)

    def fulfill(self, lines: Sequence[tuple[int, int, int, int, str]]) -> Any:
        """One fulfillment (or cancellation) per order and kind."""

        def go() -> Reply:
            for (oid, kind), items in by_order(lines).items():
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
                    return error_reply(r, "ERROR")
            return Reply(200)

        return self._task(go)
