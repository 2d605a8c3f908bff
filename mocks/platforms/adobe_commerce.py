"""Adobe Commerce (Magento MSI): source quantities, append-only reservations, salable quantity.

Preset (``AdobeCommerce``): an out-of-stock threshold, 500 source items per request.

Semantics (``AdobeChannel``): the channel sells its *salable* quantity = source quantity -
out-of-stock threshold + the sum of the append-only reservations (an order appends -qty; a
shipment or cancellation synced back appends the compensation +qty). Writes set the
*source* quantity, so a value that already nets out open orders deducts them twice.

HTTP shape: ``POST /rest/V1/inventory/source-items``, ``GET /rest/V1/inventory/source-items``
(a ``searchCriteria`` filter ``sku`` ``in`` the comma-separated codes, or every item; each
item's source ``quantity`` and ``status``, and what the channel sells, its salable quantity,
as ``extension_attributes.salable_qty``; one page: the whole selection, each item's
``as_of`` in the ``X-Syncsim-As-Of`` header), ``GET /rest/V1/orders``,
``POST /rest/V1/order/{id}/ship`` and ``/rest/V1/orders/{id}/cancel``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import httpx
import numpy as np
import respx
from pydantic import Field

from mocks.api import Reply
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
from mocks.platforms.base import Auth, FulfillingChannel, Platform, lognormal, write_args
from sim.bridge import SimRuntime, sku_code, sku_index
from sim.capacity import EffectiveChannelApi
from sim.dists import Dist
from sim.fields import Int
from sim.ledger import Order
from sim.platforms import ChannelPreset

__all__ = ["PLATFORM", "SKU_FILTER", "AdobeChannel", "AdobeCommerce", "routes"]

SKU_FILTER = "searchCriteria[filter_groups][0][filters][0]"
"""The query prefix of a search's first filter (``[field]``, ``[value]``, ``[condition_type]``)."""


# -- preset -----------------------------------------------------------------------------------
class AdobeCommerce(ChannelPreset):
    """Magento MSI: an order appends a reservation (-qty); shipping or cancelling it appends a
    compensation (+qty); salable = source quantity - out-of-stock threshold + reservations.
    An integration that writes a quantity that already nets open orders out, or that does not
    sync shipments back, deducts them twice."""

    platform: Literal["adobe_commerce"]
    out_of_stock_threshold: Int = Field(0, ge=0, le=10**9)
    bulk_limit: Int = Field(500, ge=1, le=10**9)
    latency: Dist = Field(default_factory=lambda: lognormal(0.4))

    def platform_api(self) -> EffectiveChannelApi:
        """No rate limit; ``bulk_limit`` source items per request."""
        return EffectiveChannelApi(latency=self.latency, bulk_limit=self.bulk_limit)


# -- semantics --------------------------------------------------------------------------------
class AdobeChannel(FulfillingChannel):
    """Adobe Commerce MSI: source quantities, append-only reservations, salable quantity."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        preset = self.spec.preset
        assert isinstance(preset, AdobeCommerce)
        self.threshold = preset.out_of_stock_threshold
        self.source = self.count + self.threshold
        self.reservations = np.zeros(self.n_sku, np.int64)  # sum of the log per SKU
        #: the append-only reservation log: (t, sku, quantity, reason, line id)
        self.log: list[tuple[float, int, int, str, int]] = []
        self.accept_listeners.append(self._reserve)

    #: a read-back shows the salable quantity, not the source quantity written
    shows_what_is_written = False

    def _reserve(self, order: Order) -> None:
        now = self.env.now
        for ln in order.lines:
            self.reservations[ln.sku] -= ln.qty
            self.log.append((now, ln.sku, -ln.qty, "order_placed", ln.id))

    def _fulfilled(self, line_id: int, sku: int, qty: int, kind: str) -> None:
        self.reservations[sku] += qty
        self.log.append((self.env.now, sku, qty, f"order_{kind}", line_id))
        if kind == "shipped":
            self.source[sku] -= qty  # the source deduction: salable is unchanged
        else:
            self._set_shown(sku, int(self.salable(sku)))

    def salable(self, skus: Any) -> Any:
        return np.maximum(self.source[skus] - self.threshold + self.reservations[skus], 0)

    @property
    def open_reservations(self) -> np.ndarray:
        """Units reserved by orders not yet shipped or cancelled, per SKU."""
        return -self.reservations

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        """``POST /V1/inventory/source-items``: set source quantities; the channel then
        sells source - threshold + reservations."""
        args = write_args(self, skus, values, as_of, expected, (400, "too many items"))
        if not isinstance(args, tuple):
            return args
        sel, vals, aso = args

        def effect() -> None:
            self.source[sel] = vals
            self._apply(sel, self.salable(sel), aso)

        return self.api.call(sel.size, effect, op="source_items_save")


# -- HTTP shape -------------------------------------------------------------------------------
def routes(router: respx.Router, ch: AdobeChannel, rt: SimRuntime) -> None:
    """The REST endpoints of the module docstring."""

    def error(reply: Reply) -> httpx.Response:
        return httpx.Response(
            reply.status,
            json={"message": reply.error or "Error"},
            headers=retry_after_headers(reply),
        )

    def source_items(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["sourceItems"]
        skus = skus_of([i["sku"] for i in items])
        aso = as_of_of(request, skus.size, ch.env.now)
        reply = wait(rt, ch.set_inventory(skus, [i["quantity"] for i in items], aso))
        return httpx.Response(200, json=[]) if reply.ok else error(reply)

    def source_items_list(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        by_sku = q.get(f"{SKU_FILTER}[field]") == "sku"
        codes = codes_of(q.get(f"{SKU_FILTER}[value]")) if by_sku else None
        reply = channel_inventory(ch, rt, codes)
        if not reply.ok:
            return error(reply)
        page = reply.value
        items = [
            {
                "sku": sku_code(s),
                "source_code": "default",
                "quantity": int(src),
                "status": int(src > 0),
                "extension_attributes": {"salable_qty": int(v)},
            }
            for s, src, v in zip(page.skus.tolist(), ch.source[page.skus].tolist(),
                               page.shown.tolist(), strict=True)
        ]  # fmt: skip
        body = {"items": items, "search_criteria": {}, "total_count": len(items)}
        return httpx.Response(200, json=body, headers=as_of_headers(page))

    def orders(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        size = int(q.get("searchCriteria[pageSize]", ch.page_size))
        cursor = int(q.get("searchCriteria[currentPage]", 0))
        reply = channel_orders(ch, rt, cursor, size)
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
            reply = wait(rt, ch.fulfill(lines))
            return httpx.Response(200, json=int(order_id)) if reply.ok else error(reply)

        return handler

    router.post("/rest/V1/inventory/source-items", name="source_items").mock(
        side_effect=source_items
    )
    router.get("/rest/V1/inventory/source-items", name="source_items_list").mock(
        side_effect=source_items_list
    )
    router.get("/rest/V1/orders", name="orders").mock(side_effect=orders)
    router.post(path__regex=r"^/rest/V1/order/(?P<order_id>\d+)/ship$", name="ship").mock(
        side_effect=done("shipped")
    )
    router.post(path__regex=r"^/rest/V1/orders/(?P<order_id>\d+)/cancel$", name="cancel").mock(
        side_effect=done("cancelled")
    )


PLATFORM = Platform(
    name="adobe_commerce",
    kind="channel",
    preset=AdobeCommerce,
    routes=routes,
    base_url="https://{name}.magento.syncsim.test",
    channel_class=AdobeChannel,
    auth=Auth(
        body={
            "message": "The consumer isn't authorized to access %resources.",
            "parameters": {"resources": "Magento_InventoryApi::source"},
        }
    ),
)
