"""HTTP facades: each mock system served in its platform's own HTTP shape, through respx.

``facade_for(system, runtime)`` returns a ``respx.Router`` whose routes answer like the
platform does (paths, payloads, status codes, rate-limit headers, error bodies), backed by the
very mock objects the simulation runs: a request becomes a call of the mock's integration API
(with its latency, limits and faults, in simulated time, see ``sim.bridge``) and the call's
``Reply`` becomes the platform's response. ``client_for`` mounts it on an ``httpx.Client``.
The routes of each platform live in its module of ``mocks.platforms`` (``Platform.routes``);
this module holds what they share: waiting for a mock's reply, request and JSON helpers, and
``ErpOps``, the ERP operations every ERP shape serves.

Provenance travels in the ``X-Syncsim-As-Of`` header (``sim.bridge``): on a write's request
(``as_of_of``) and on the answer to a channel's inventory read (``as_of_headers``), where it
gives the ``as_of`` of each SKU's last write, in the order of the answer's items.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import respx

from mocks.api import Reply
from mocks.channel import Channel, InventoryPage
from mocks.erp import ChangeFeed, Erp, Snapshot
from mocks.platforms.registry import platform_for
from sim.bridge import (
    AS_OF_HEADER,
    SimRuntime,
    decode_as_of,
    encode_as_of,
    sku_code,
    sku_index,
)
from sim.ledger import Ledger, Order

__all__ = [
    "ErpOps",
    "as_of_headers",
    "as_of_of",
    "change_feed_json",
    "channel_inventory",
    "channel_orders",
    "client_for",
    "codes_of",
    "facade_for",
    "import_json",
    "orders_from",
    "retry_after_headers",
    "router_base",
    "skus_of",
    "snapshot_json",
    "wait",
]


def wait(rt: SimRuntime, event: Any) -> Reply:
    """The ``Reply`` of a mock's API call, once served in simulated time."""
    reply: Reply = rt.wait(event)
    return reply


def retry_after_headers(reply: Reply) -> dict[str, str]:
    """``Retry-After`` (exact seconds) when the reply says when to come back."""
    if reply.retry_after is None:
        return {}
    return {"Retry-After": repr(float(reply.retry_after))}


def skus_of(codes: list[str]) -> np.ndarray:
    """SKU indexes of SKU codes."""
    return np.array([sku_index(c) for c in codes], np.int64)


def as_of_of(request: httpx.Request, n: int, now: float) -> np.ndarray:
    """The ``as_of`` of a write's ``n`` items, from its header (none: current to ``now``)."""
    raw = request.headers.get(AS_OF_HEADER)
    if raw is None:
        return np.full(n, now)
    got = decode_as_of(raw)
    return got if got.size == n else np.full(n, float(got.min()))


def as_of_headers(page: InventoryPage) -> dict[str, str]:
    """The provenance header of an inventory read's answer: each SKU's ``as_of``, in the order
    of the answer's items."""
    return {AS_OF_HEADER: encode_as_of(page.as_of)}


def codes_of(value: str | None) -> list[str] | None:
    """SKU codes (or platform ids) of a comma-separated query parameter; None if absent."""
    return None if value is None else [c for c in value.split(",") if c]


def channel_inventory(ch: Channel, rt: SimRuntime, skus: np.ndarray | list[str] | None) -> Reply:
    """What a channel shows now (an ``InventoryPage``) of ``skus`` (indexes, or SKU codes
    as a request names them), or of every SKU: one call of the mock's API, as a direct
    ``read_inventory`` is."""
    if isinstance(skus, list):
        skus = skus_of(skus)
    return wait(rt, ch.read_inventory(skus))


def channel_orders(ch: Channel, rt: SimRuntime, cursor: int, limit: int | None) -> Reply:
    """One page of a channel's handed-off orders, from position ``cursor``."""
    return wait(rt, ch.fetch_orders(cursor, limit))


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """An ERP stock export as JSON (exact floats for ``as_of``)."""
    return {
        "skus": [sku_code(s) for s in snap.skus.tolist()],
        "on_hand": snap.on_hand.tolist(),
        "committed": snap.committed.tolist(),
        "hold": snap.hold.tolist(),
        "in_transit": snap.in_transit.tolist(),
        "as_of": snap.as_of.tolist(),
        "at": snap.at,
    }


def change_feed_json(feed: ChangeFeed) -> dict[str, Any]:
    """The ERP's change feed as JSON: SKUs changed after the cursor, the ERP's change stamp
    of each, and the ERP's clock when it answered (the next cursor)."""
    return {
        "skus": [sku_code(s) for s in feed.skus.tolist()],
        "stamps": feed.stamps.tolist(),
        "clock": feed.clock,
    }


def orders_from(ledger: Ledger, ids: list[int]) -> list[Order] | None:
    """The orders with ``ids``; None if any is unknown."""
    if any(not isinstance(i, int) or not 0 <= i < len(ledger.orders) for i in ids):
        return None
    return [ledger.orders[i] for i in ids]


def import_json(reply: Reply) -> list[dict[str, Any]]:
    """The ERP's answer to an order import, per order."""
    return [
        {"order": r.order_id, "duplicate": r.duplicate, "allocated": r.allocated,
         "cancelled": r.cancelled}
        for r in reply.value
    ]  # fmt: skip


class ErpOps:
    """The ERP operations a sync connector uses, served by every ERP shape: a stock export
    (of every SKU or of some), the change feed, an ATP check for a channel, order import.
    Each waits for the ERP's API in simulated time."""

    def __init__(self, erp: Erp, rt: SimRuntime) -> None:
        self.erp = erp
        self.rt = rt

    def export(self, codes: list[str] | None) -> Reply:
        skus = None if codes is None else skus_of(codes)
        return wait(self.rt, self.erp.export_availability(skus))

    def changes(self, since: float) -> Reply:
        return wait(self.rt, self.erp.changes(since))

    def check_atp(self, codes: list[str], channel: int) -> Reply:
        return wait(self.rt, self.erp.check_atp(skus_of(codes).tolist(), channel))

    def import_orders(self, ids: list[int]) -> Reply | None:
        """None if an id is not an order the ERP could know."""
        orders = orders_from(self.erp.ledger, ids)
        if orders is None:
            return None
        return wait(self.rt, self.erp.import_orders(orders))


def router_base(router: respx.Router) -> str:
    """The base URL a facade answers at."""
    return str(getattr(router, "syncsim_base", ""))


def facade_for(system: Channel | Erp, runtime: SimRuntime) -> respx.Router:
    """A respx router serving ``system`` (a channel or the ERP) in its platform's shape."""
    p = platform_for(system.spec)
    base = p.base_url.format(name=getattr(system, "name", "erp"))
    router = respx.Router(base_url=base, assert_all_called=False, assert_all_mocked=True)
    router.syncsim_base = base  # type: ignore[attr-defined]
    p.routes(router, system, runtime)
    return router


def client_for(system: Channel | Erp, runtime: SimRuntime) -> httpx.Client:
    """An ``httpx.Client`` whose requests are served by ``system``'s facade."""
    router = facade_for(system, runtime)
    return httpx.Client(transport=httpx.MockTransport(router.handler), base_url=router_base(router))
