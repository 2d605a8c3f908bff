"""Adobe Commerce's connector: REST source items (written, and read back with their salable
quantity), orders, ship and cancel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mocks.platforms.adobe_commerce import SKU_FILTER
from sim.bridge import sku_code, sku_index
from sim.contract import Reply
from strategies.connectors.base import (
    ChannelConnector,
    OrdersPageDoc,
    as_of_header,
    by_order,
    error_reply,
    inventory_page,
    order_doc,
    sku_codes,
)

__all__ = ["AdobeConnector"]


class AdobeConnector(ChannelConnector):
    """Adobe Commerce REST: source items (written and read), orders, ship / cancel."""

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        if expected is not None:
            return self._unsupported("compare-and-swap")
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
                headers=as_of_header(as_of, skus.size),
            )
            return error_reply(r, r.json().get("message")) if r.is_error else Reply(200)

        return self._task(go)

    def read_inventory(self, skus: Any = None) -> Any:
        """``GET /V1/inventory/source-items`` (``sku`` ``in`` the codes, or every item): what
        the channel sells is each item's salable quantity, not its source quantity."""
        codes = sku_codes(skus)

        def go() -> Reply:
            params = {} if codes is None else {
                f"{SKU_FILTER}[field]": "sku",
                f"{SKU_FILTER}[value]": ",".join(codes),
                f"{SKU_FILTER}[condition_type]": "in",
            }  # fmt: skip
            r = self.client.get("/rest/V1/inventory/source-items", params=params)
            if r.is_error:
                return error_reply(r, r.json().get("message"))
            items = r.json()["items"]
            page = inventory_page(
                [sku_index(i["sku"]) for i in items],
                [i["extension_attributes"]["salable_qty"] for i in items],
                r,
            )
            return Reply(200, value=page)

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        def go() -> Reply:
            params = {"searchCriteria[currentPage]": cursor} | (
                {"searchCriteria[pageSize]": limit} if limit else {}
            )
            r = self.client.get("/rest/V1/orders", params=params)
            if r.is_error:
                return error_reply(r, r.json().get("message"))
            body = r.json()
            orders = [
                order_doc(o["entity_id"], o["items"], "item_id", "sku", "qty_ordered")
                for o in body["items"]
            ]
            return Reply(
                200, value=OrdersPageDoc(orders, int(body["search_criteria"]["current_page"]))
            )

        return self._task(go)

    def fulfill(self, lines: Sequence[tuple[int, int, int, int, str]]) -> Any:
        """``POST /V1/order/{id}/ship`` or ``/V1/orders/{id}/cancel`` per order."""

        def go() -> Reply:
            for (oid, kind), items in by_order(lines).items():
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
                    return error_reply(r, r.json().get("message"))
            return Reply(200)

        return self._task(go)
