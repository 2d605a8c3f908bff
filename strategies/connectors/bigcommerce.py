"""BigCommerce's connector: v3 absolute inventory adjustments (asynchronous), v3 inventory
items (the read), v2 orders."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.bridge import sku_code, sku_index
from sim.contract import Reply
from strategies.connectors.base import (
    ChannelConnector,
    OrdersPageDoc,
    as_of_header,
    error_reply,
    inventory_page,
    order_doc,
    sku_codes,
)

__all__ = ["BigCommerceConnector"]


class BigCommerceConnector(ChannelConnector):
    """BigCommerce v3 absolute inventory adjustments (asynchronous), v3 inventory items and v2
    orders."""

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        if expected is not None:
            return self._unsupported("compare-and-swap")
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
                headers=as_of_header(as_of, skus.size),
            )
            if r.is_error:
                return error_reply(r, r.json().get("title"))
            return Reply(200, value=r.json()["transaction_id"])

        return self._task(go)

    def read_inventory(self, skus: Any = None) -> Any:
        """``GET /v3/inventory/items``: what the store sells of ``skus`` (``sku:in``), or of
        every item."""
        codes = sku_codes(skus)
        store = f"/stores/{self._target.name}"

        def go() -> Reply:
            params = {} if codes is None else {"sku:in": ",".join(codes)}
            r = self.client.get(f"{store}/v3/inventory/items", params=params)
            if r.is_error:
                return error_reply(r, r.json().get("title"))
            data = r.json()["data"]
            page = inventory_page(
                [sku_index(d["identity"]["sku"]) for d in data],
                [sum(loc["available_to_sell"] for loc in d["locations"]) for d in data],
                r,
            )
            return Reply(200, value=page)

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        store = f"/stores/{self._target.name}"

        def go() -> Reply:
            params = {"page": cursor} | ({"limit": limit} if limit else {})
            r = self.client.get(f"{store}/v2/orders", params=params)
            if r.is_error:
                return error_reply(r, r.json().get("title"))
            orders = [order_doc(o["id"], o["products"], "id", "sku", "quantity") for o in r.json()]
            return Reply(200, value=OrdersPageDoc(orders, int(r.headers["X-Next-Page"])))

        return self._task(go)
