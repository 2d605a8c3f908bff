"""The connector contract, and the connectors of the generic channel and ERP JSON APIs.

A connector is client code written with httpx, as a real integration is: it speaks one
platform's HTTP API (``mocks.http`` serves those shapes from the mocks) and offers the same
integration methods a strategy calls on the system directly, each returning a SimPy event
whose value is a ``Reply``. The HTTP code is ordinary blocking httpx code; it runs as a task
of the world's ``SimRuntime`` (``sim.bridge``), so every request takes the simulated time
and capacity the platform's mock charges, and a run through connectors gives the same
metrics and the same trace as a direct one.

- channels: ``set_inventory`` (a write served with items refused one by one answers 200
  with an ``ItemErrors``, as directly, where the platform's shape names them: the generic
  207, Shopify's ``userErrors``), ``read_inventory`` (what the channel shows, of every SKU
  or of some: one request), ``fetch_orders``; ``fulfill`` and ``feed_status`` where the
  platform has them (``strategies.connectors.<platform>``);
- the ERP: ``export_availability`` (of every SKU or of some), ``push_read`` (the same call:
  the ERP reading its own record to push a change out), ``changed_skus`` and ``changes``
  (the change feed with its stamps and the ERP's clock), ``check_atp`` and
  ``import_orders``. A platform's ERP connector overrides the request hooks ``_export``,
  ``_changes``, ``_atp`` and ``_import`` (one HTTP exchange each, returning a ``Reply``).

What is not a request is the system's own (``_delegated``): descriptive attributes (name,
kind, bulk limit, ...) and subscriptions. Subscriptions stay direct callbacks: order
webhooks, the ERP's change and order events, and the WMS's movements (change data capture)
model deliveries the systems *push* to the integration, not calls it makes; the WMS has no
HTTP facade and is reached directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import numpy as np

from sim.bridge import AS_OF_HEADER, decode_as_of, encode_as_of, sku_code, sku_index
from sim.contract import ChangeFeed, ImportResult, InventoryPage, ItemErrors, Reply, Snapshot

__all__ = [
    "ChannelConnector",
    "Connector",
    "ErpConnector",
    "LineDoc",
    "OrderDoc",
    "OrdersPageDoc",
    "StaleDoc",
    "as_of_header",
    "by_order",
    "change_feed_of",
    "error_reply",
    "imports_of",
    "inventory_page",
    "order_doc",
    "sku_codes",
    "snapshot_of",
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
    """A refused compare-and-swap: the stale SKUs and (where the API says) their values."""

    skus: np.ndarray
    actual: np.ndarray


def snapshot_of(body: dict[str, Any]) -> Snapshot:
    """The ERP's stock export, as the direct API returns it (the ERP keeps no released
    stock: zeros)."""
    committed = np.array(body["committed"], np.int64)
    return Snapshot(
        skus=np.array([sku_index(s) for s in body["skus"]], np.int64),
        on_hand=np.array(body["on_hand"], np.int64),
        committed=committed,
        released=np.zeros_like(committed),
        hold=np.array(body["hold"], np.int64),
        in_transit=np.array(body["in_transit"], np.int64),
        as_of=np.array(body["as_of"], float),
        at=float(body["at"]),
    )


def change_feed_of(codes: list[str], stamps: list[float], clock: float) -> ChangeFeed:
    """The ERP's change feed, as the direct API returns it."""
    return ChangeFeed(
        np.array([sku_index(s) for s in codes], np.int64), np.array(stamps, float), float(clock)
    )


def imports_of(results: list[dict[str, Any]]) -> list[ImportResult]:
    """The ERP's answer to an order import, as the direct API returns it."""
    return [
        ImportResult(int(r["order"]), bool(r["duplicate"]), int(r["allocated"]),
                     int(r["cancelled"]))
        for r in results
    ]  # fmt: skip


def error_reply(response: httpx.Response, code: str | None = None) -> Reply:
    """A failed response as a ``Reply``: its status, ``code`` and ``Retry-After``."""
    value = response.headers.get("Retry-After")
    return Reply(
        response.status_code, error=code, retry_after=float(value) if value is not None else None
    )


def as_of_header(as_of: Any, n: int) -> dict[str, str]:
    """The provenance header of a write of ``n`` items (``sim.bridge``)."""
    aso = np.array(as_of, float, ndmin=1)
    if aso.size != n:
        aso = np.full(n, float(aso[0]))
    return {AS_OF_HEADER: encode_as_of(aso)}


def sku_codes(skus: Any) -> list[str] | None:
    """The SKU codes of a read's selection; None for every SKU."""
    if skus is None:
        return None
    return [sku_code(s) for s in np.atleast_1d(np.asarray(skus, np.int64)).tolist()]


def inventory_page(skus: Sequence[int], shown: Sequence[int], r: httpx.Response) -> InventoryPage:
    """A channel's inventory read, as the direct API returns it: the SKUs (indexes) and the
    quantities of the answer's items, with their ``as_of`` from the provenance header
    (``sim.bridge``; NaN if the facade sent none)."""
    raw = r.headers.get(AS_OF_HEADER)
    as_of = np.full(len(skus), np.nan) if raw is None else decode_as_of(raw)
    return InventoryPage(np.array(skus, np.int64), np.array(shown, np.int64), as_of)


def order_doc(oid: Any, lines: list[dict[str, Any]], lid: str, sku: str, qty: str) -> OrderDoc:
    """An order from a platform's JSON, given the names of its line fields."""
    return OrderDoc(
        int(oid), tuple(LineDoc(int(ln[lid]), sku_index(ln[sku]), int(ln[qty])) for ln in lines)
    )


def by_order(
    lines: Sequence[tuple[int, int, int, int, str]],
) -> dict[tuple[int, str], list[tuple[int, int, int]]]:
    """Fulfillment lines ``(order, line, sku, qty, kind)`` grouped by order and kind."""
    out: dict[tuple[int, str], list[tuple[int, int, int]]] = {}
    for oid, lid, sku, qty, kind in lines:
        out.setdefault((oid, kind), []).append((lid, sku, qty))
    return out


class Connector:
    """A client for one system's HTTP API; calls run as tasks of the world's runtime.

    ``_delegated``: the names read from the system itself (see the module docstring);
    anything else that is not a method of the connector is not part of its API.
    """

    _delegated: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, systems: Any, target: Any, client: httpx.Client) -> None:
        self._target = target
        self.client = client
        self.runtime = systems.runtime

    def _task(self, fn: Callable[[], Reply]) -> Any:
        return self.runtime.spawn(fn)

    def _unsupported(self, what: str) -> Any:
        """The answer to a call the platform's API cannot express (no request is sent)."""
        return self._task(lambda: Reply(400, error=f"{what} is not supported"))

    def __getattr__(self, name: str) -> Any:
        if name in self._delegated:
            return getattr(self._target, name)
        raise AttributeError(f"{type(self).__name__} has no {name!r} (not part of its API)")


class ChannelConnector(Connector):
    """The generic channel JSON API (channels without a preset)."""

    _delegated = frozenset(
        {"name", "kind", "index", "bulk_limit", "page_size", "needs_fulfillment",
         "subscribe_orders", "set_checkout", "n_sku", "spec", "takes_preorders",
         "shows_what_is_written"}
    )  # fmt: skip

    def set_incoming(self, skus: Any, values: Any, at: Any) -> Any:
        """Future availability has no request in the platform APIs modelled here (a 400)."""
        return self._unsupported("future availability (pre-orders)")

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
                "/inventory", json={"items": items}, headers=as_of_header(as_of, skus.size)
            )
            if r.status_code == 409:
                stale = r.json()["stale"]
                doc = StaleDoc(
                    np.array([sku_index(s["sku"]) for s in stale], np.int64),
                    np.array([s["actual"] for s in stale], np.int64),
                )
                return Reply(409, value=doc, error="STALE_QUANTITY")
            if r.is_error:
                return error_reply(r, r.json().get("error"))
            if r.status_code == 207:  # served; some items refused one by one
                errors = r.json()["errors"]
                refused = np.array([sku_index(e["sku"]) for e in errors], np.int64)
                return Reply(200, value=ItemErrors(refused, errors[0]["error"]))
            return Reply(200)

        return self._task(go)

    def read_inventory(self, skus: Any = None) -> Any:
        """``GET /inventory`` (``skus``: comma-separated codes; none: every SKU)."""
        codes = sku_codes(skus)

        def go() -> Reply:
            params = {} if codes is None else {"skus": ",".join(codes)}
            r = self.client.get("/inventory", params=params)
            if r.is_error:
                return error_reply(r, r.json().get("error"))
            items = r.json()["items"]
            page = inventory_page([sku_index(i["sku"]) for i in items],
                                  [i["available"] for i in items], r)  # fmt: skip
            return Reply(200, value=page)

        return self._task(go)

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        def go() -> Reply:
            params = {"cursor": cursor} | ({"limit": limit} if limit else {})
            r = self.client.get("/orders", params=params)
            if r.is_error:
                return error_reply(r, r.json().get("error"))
            body = r.json()
            orders = [
                order_doc(o["id"], o["lines"], "id", "sku", "quantity") for o in body["orders"]
            ]
            return Reply(200, value=OrdersPageDoc(orders, int(body["cursor"])))

        return self._task(go)


class ErpConnector(Connector):
    """The ERP's integration API over HTTP; this class speaks the generic JSON API
    (``/erp/...``), platform connectors override the request hooks."""

    _delegated = frozenset({"serve", "subscribe", "subscribe_changes", "subscribe_inbound",
                            "subscribe_allocations", "subscribe_partner", "spec"})  # fmt: skip

    # -- the integration API ----------------------------------------------------------------
    def available_to_promise(self, skus: Any, channel: int) -> Any:
        """Dated ATP has no request in the platforms' APIs modelled here (a 400 reply)."""
        return self._unsupported("available to promise with dates")

    def contract_allocations(self, skus: Any, channel: int) -> Any:
        """Customer allocations have no request in the platforms' APIs modelled here (400)."""
        return self._unsupported("customer contract allocations")

    def export_availability(self, skus: Any = None) -> Any:
        codes = None if skus is None else [sku_code(s) for s in np.atleast_1d(skus).tolist()]
        return self._task(lambda: self._export(codes))

    def push_read(self, skus: Any) -> Any:
        return self.export_availability(skus)

    def changes(self, since: float) -> Any:
        return self._task(lambda: self._changes(since))

    def changed_skus(self, since: float) -> Any:
        def go() -> Reply:
            r = self._changes(since)
            return Reply(200, value=r.value.skus) if r.ok else r

        return self._task(go)

    def check_atp(self, skus: Sequence[int], channel: int) -> Any:
        codes = [sku_code(s) for s in np.asarray(skus, np.int64).tolist()]
        return self._task(lambda: self._atp(codes, int(channel)))

    def import_orders(self, orders: Sequence[Any]) -> Any:
        docs = [
            {"id": o.id, "lines": [{"id": ln.id, "sku": sku_code(ln.sku), "quantity": ln.qty}
                                   for ln in o.lines]}
            for o in orders
        ]  # fmt: skip
        return self._task(lambda: self._import(docs))

    # -- request hooks: one HTTP exchange each ----------------------------------------------
    def _failed(self, r: httpx.Response) -> Reply | None:
        """The ``Reply`` of an error response (its code from ``{"error": CODE}`` or
        ``{"error": {"code": CODE}}``), None for a success."""
        if not r.is_error:
            return None
        err = r.json().get("error")
        return error_reply(r, err.get("code") if isinstance(err, dict) else err)

    def _export(self, codes: list[str] | None) -> Reply:
        r = self.client.post("/erp/availability", json={} if codes is None else {"skus": codes})
        return self._failed(r) or Reply(200, value=snapshot_of(r.json()))

    def _changes(self, since: float) -> Reply:
        r = self.client.get("/erp/changes", params={"since": repr(float(since))})
        if (bad := self._failed(r)) is not None:
            return bad
        body = r.json()
        return Reply(200, value=change_feed_of(body["skus"], body["stamps"], body["clock"]))

    def _atp(self, codes: list[str], channel: int) -> Reply:
        r = self.client.post("/erp/atp", json={"channel": channel, "skus": codes})
        return self._failed(r) or Reply(200, value=[int(x) for x in r.json()["atp"]])

    def _import(self, docs: list[dict[str, Any]]) -> Reply:
        r = self.client.post("/erp/orders", json={"orders": docs})
        return self._failed(r) or Reply(200, value=imports_of(r.json()["results"]))
