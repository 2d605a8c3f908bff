"""Amazon's connector: JSON_LISTINGS_FEED through the Feeds API (getFeed for the status),
searchListingsItems (the read), Orders API v0."""

from __future__ import annotations

import json
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

__all__ = ["MARKETPLACE", "SELLER", "AmazonConnector"]

SELLER = "SYNCSIM"
"""The seller id the connector writes and reads listings as."""
MARKETPLACE = "A1PA6795UKMFR9"
"""The marketplace it lists on."""


class AmazonConnector(ChannelConnector):
    """Selling Partner API: JSON_LISTINGS_FEED through the Feeds API, searchListingsItems,
    Orders API v0."""

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        if expected is not None:
            return self._unsupported("compare-and-swap")
        skus = np.atleast_1d(np.asarray(skus, np.int64))
        vals = np.array(values, np.int64, ndmin=1)

        def go() -> Reply:
            r = self.client.post(
                "/feeds/2021-06-30/documents", json={"contentType": "application/json"}
            )
            if r.is_error:
                return error_reply(r, "ERROR")
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
            feed = {"header": {"sellerId": SELLER, "version": "2.0"}, "messages": messages}
            up = self.client.put(doc["url"], content=json.dumps(feed).encode())
            if up.is_error:
                return error_reply(up, "ERROR")
            r = self.client.post(
                "/feeds/2021-06-30/feeds",
                json={
                    "feedType": "JSON_LISTINGS_FEED",
                    "marketplaceIds": [MARKETPLACE],
                    "inputFeedDocumentId": doc["feedDocumentId"],
                },
                headers=as_of_header(as_of, skus.size),
            )
            if r.is_error:
                return error_reply(r, r.json()["errors"][0]["code"])
            return Reply(202, value=r.json()["feedId"])

        return self._task(go)

    def feed_status(self, feed_id: str) -> Any:
        """``getFeed``: the feed's ``processingStatus``."""

        def go() -> Reply:
            r = self.client.get(f"/feeds/2021-06-30/feeds/{feed_id}")
            if r.is_error:
                return error_reply(r, r.json()["errors"][0]["code"])
            return Reply(200, value=r.json()["processingStatus"])

        return self._task(go)

    def read_inventory(self, skus: Any = None) -> Any:
        """``searchListingsItems`` with ``includedData=fulfillmentAvailability``: the quantity
        listed of ``skus`` (``identifiers``), or of every listing."""
        codes = sku_codes(skus)

        def go() -> Reply:
            params = {"marketplaceIds": MARKETPLACE, "includedData": "fulfillmentAvailability"}
            if codes is not None:
                params |= {"identifiers": ",".join(codes), "identifiersType": "SKU"}
            r = self.client.get(f"/listings/2021-08-01/items/{SELLER}", params=params)
            if r.is_error:
                return error_reply(r, r.json()["errors"][0]["code"])
            items = r.json()["items"]
            page = inventory_page(
                [sku_index(i["sku"]) for i in items],
                [sum(f["quantity"] for f in i["fulfillmentAvailability"]) for i in items],
                r,
            )
            return Reply(200, value=page)

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        def go() -> Reply:
            r = self.client.get("/orders/v0/orders", params={"NextToken": cursor})
            if r.is_error:
                return error_reply(r, r.json()["errors"][0]["code"])
            payload = r.json()["payload"]
            orders = [
                order_doc(o["AmazonOrderId"], o["OrderItems"], "OrderItemId", "SellerSKU",
                       "QuantityOrdered")
                for o in payload["Orders"]
            ]  # fmt: skip
            return Reply(200, value=OrdersPageDoc(orders, int(payload["NextToken"])))

        return self._task(go)
