"""The plain channel and the plain ERP: systems without a preset, and their small JSON API.

No preset model (``preset =`` cannot name them): a channel or an ERP without a preset is
built as ``mocks.channel.Channel`` / ``mocks.erp.Erp`` with the scenario's own ``api``
table. Their HTTP shape, for connectors written against a generic integration API:

- channel: ``PUT /inventory`` (items with ``sku``, ``available`` and optionally
  ``expected``: compare-and-swap, 409 ``STALE_QUANTITY`` naming the stale SKUs; 207 with
  ``errors``, ``{"sku", "error"}`` per item refused one by one, when the others applied),
  ``GET /inventory?skus=`` (what the channel shows: items with ``sku`` and ``available``, of
  the comma-separated SKU codes or, without ``skus``, of every SKU; their ``as_of`` in the
  ``X-Syncsim-As-Of`` header), ``GET /orders?cursor=&limit=``;
- ERP: ``POST /erp/availability`` (a stock export, of ``skus`` or of all),
  ``GET /erp/changes?since=`` (the change feed: SKUs, their change stamps, the ERP's clock),
  ``POST /erp/atp`` (available to promise of ``skus`` for ``channel``, an index),
  ``POST /erp/orders`` (import orders by id);
- WMS (served live by ``syncsim serve`` only; ``WMS``): ``GET /wms/stock?skus=`` (the WMS
  stock record, of the comma-separated SKU codes or of all, shaped as the ERP's export),
  and movement webhooks (``POST /wms/webhooks`` with ``{"topic": "movements", "address"}``:
  every stock movement POSTed there as ``movement_json``).

Errors are ``{"error": CODE}`` with the mock's status and ``Retry-After`` when it has one.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import respx

from mocks.api import Reply
from mocks.channel import Channel, ItemErrors, StaleWrite
from mocks.erp import Erp
from mocks.http import (
    ErpOps,
    as_of_headers,
    as_of_of,
    change_feed_json,
    channel_inventory,
    channel_orders,
    codes_of,
    import_json,
    retry_after_headers,
    skus_of,
    snapshot_json,
    wait,
)
from mocks.platforms.base import Platform
from mocks.wms import Wms
from sim.bridge import SimRuntime, sku_code
from sim.contract import Movement
from sim.ledger import Order

__all__ = [
    "CHANNEL",
    "ERP",
    "WMS",
    "channel_routes",
    "erp_routes",
    "error",
    "movement_json",
    "order_json",
    "wms_routes",
]


def order_json(order: Order) -> dict[str, Any]:
    """An order as the generic channel shows it."""
    return {
        "id": order.id,
        "channel": order.channel,
        "created_at": order.t,
        "lines": [{"id": ln.id, "sku": sku_code(ln.sku), "quantity": ln.qty} for ln in order.lines],
    }


def error(reply: Reply) -> httpx.Response:
    """A refused or failed call as the generic APIs answer it."""
    return httpx.Response(
        reply.status, json={"error": reply.error or "ERROR"}, headers=retry_after_headers(reply)
    )


def channel_routes(router: respx.Router, ch: Channel, rt: SimRuntime) -> None:
    """The generic channel JSON API (see the module docstring)."""

    def put_inventory(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        skus = skus_of([i["sku"] for i in items])
        values = [i["available"] for i in items]
        expected = [i["expected"] for i in items] if items and "expected" in items[0] else None
        aso = as_of_of(request, skus.size, ch.env.now)
        reply = wait(rt, ch.set_inventory(skus, values, aso, expected))
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
            return error(reply)
        if isinstance(reply.value, ItemErrors):  # served; these items refused one by one
            refused = reply.value
            errors = [{"sku": sku_code(s), "error": refused.error} for s in refused.skus.tolist()]
            return httpx.Response(
                207, json={"written": int(skus.size - refused.skus.size), "errors": errors}
            )
        return httpx.Response(200, json={"written": int(skus.size)})

    def get_inventory(request: httpx.Request) -> httpx.Response:
        codes = codes_of(request.url.params.get("skus"))
        reply = channel_inventory(ch, rt, codes)
        if not reply.ok:
            return error(reply)
        page = reply.value
        items = [
            {"sku": sku_code(s), "available": int(v)}
            for s, v in zip(page.skus.tolist(), page.shown.tolist(), strict=True)
        ]
        return httpx.Response(200, json={"items": items}, headers=as_of_headers(page))

    def get_orders(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        limit = int(q["limit"]) if "limit" in q else None
        reply = channel_orders(ch, rt, int(q.get("cursor", 0)), limit)
        if not reply.ok:
            return error(reply)
        page = reply.value
        return httpx.Response(
            200, json={"orders": [order_json(o) for o in page.orders], "cursor": page.cursor}
        )

    router.put("/inventory", name="inventory").mock(side_effect=put_inventory)
    router.get("/inventory", name="read_inventory").mock(side_effect=get_inventory)
    router.get("/orders", name="orders").mock(side_effect=get_orders)


def erp_routes(router: respx.Router, erp: Erp, rt: SimRuntime) -> None:
    """The generic ERP JSON API (see the module docstring)."""
    ops = ErpOps(erp, rt)

    def availability(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        reply = ops.export(body.get("skus"))
        return httpx.Response(200, json=snapshot_json(reply.value)) if reply.ok else error(reply)

    def changes(request: httpx.Request) -> httpx.Response:
        reply = ops.changes(float(request.url.params["since"]))
        return httpx.Response(200, json=change_feed_json(reply.value)) if reply.ok else error(reply)

    def atp(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        reply = ops.check_atp(body["skus"], int(body["channel"]))
        return httpx.Response(200, json={"atp": reply.value}) if reply.ok else error(reply)

    def orders(request: httpx.Request) -> httpx.Response:
        ids = [o["id"] for o in json.loads(request.content)["orders"]]
        reply = ops.import_orders(ids)
        if reply is None:
            return httpx.Response(404, json={"error": "UNKNOWN_ORDER"})
        if not reply.ok:
            return error(reply)
        return httpx.Response(200, json={"results": import_json(reply)})

    router.post("/erp/availability", name="availability").mock(side_effect=availability)
    router.get("/erp/changes", name="changes").mock(side_effect=changes)
    router.post("/erp/atp", name="atp").mock(side_effect=atp)
    router.post("/erp/orders", name="orders").mock(side_effect=orders)


def movement_json(mv: Movement) -> dict[str, Any]:
    """A WMS stock movement as its webhook carries it: the record of (location, SKU) right
    after it (``on_hand``, ``hold``, ``released``, ``version``)."""
    return {
        "kind": mv.kind,
        "location": mv.loc,
        "sku": sku_code(mv.sku),
        "qty": mv.qty,
        "t": mv.t,
        "version": mv.version,
        "on_hand": mv.on_hand,
        "hold": mv.hold,
        "released": mv.released,
        "dst": mv.dst,
        "eta": mv.eta,
    }


def wms_routes(router: respx.Router, wms: Wms, rt: SimRuntime) -> None:
    """The generic WMS JSON API (see the module docstring)."""

    def stock(request: httpx.Request) -> httpx.Response:
        codes = codes_of(request.url.params.get("skus"))
        reply = wait(rt, wms.read_stock(None if codes is None else skus_of(codes)))
        return httpx.Response(200, json=snapshot_json(reply.value)) if reply.ok else error(reply)

    router.get("/wms/stock", name="stock").mock(side_effect=stock)


CHANNEL = Platform(
    name="channel",
    kind="channel",
    preset=None,
    routes=channel_routes,
    base_url="https://{name}.channel.syncsim.test",
    channel_class=Channel,
    webhook_path="/webhooks",
)
"""A channel without a preset."""

ERP = Platform(
    name="erp",
    kind="erp",
    preset=None,
    routes=erp_routes,
    base_url="https://erp.syncsim.test",
)
"""An ERP without a preset."""

WMS = Platform(
    name="wms",
    kind="wms",
    preset=None,
    routes=wms_routes,
    base_url="https://wms.syncsim.test",
    webhook_path="/wms/webhooks",
)
"""The WMS (no preset, not registered: ``syncsim serve`` serves it live)."""
