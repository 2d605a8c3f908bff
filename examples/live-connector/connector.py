"""A standalone inventory connector for ``syncsim serve``: one Shopify channel and the ERP.

It is what a team's own integration looks like from the outside: a separate process that
knows nothing of syncsim's internals and talks to the platforms' HTTP APIs only, with
``requests`` and the standard library.

- **Orders**: at start it registers a Shopify ``orders/create`` webhook pointing at its own
  receiver (``http.server`` in a thread), checks each delivery's ``X-Shopify-Hmac-Sha256``
  (base64 HMAC-SHA256 of the raw body with the webhook secret; a bad or missing signature
  gets 401), answers 200 at once and queues the order; an import thread takes what is
  queued (at most ``--max-batch`` at a time) and imports it into the ERP: Dynamics 365's
  OData ``$batch`` of ``salesorders``, or the generic ERP's ``POST /erp/orders``. An
  import is retried until the ERP takes it (imports are idempotent by order id, so a
  duplicated webhook costs nothing).
- **Availability**: every ``--poll`` wall seconds it exports availability from the ERP
  (Dynamics ``syncsim_availabilities``, generic ``POST /erp/availability``), computes what
  the channel should show, per SKU the sum over the channel's locations of
  ``max(0, on_hand - committed - hold)`` less ``--safety-stock`` (never below 0), and
  writes every SKU to Shopify: GraphQL ``inventorySetQuantities`` with at most
  ``--bulk`` (250) quantities per mutation, or REST ``inventory_levels/set.json`` one
  item per request (``--shopify-api rest``).
- **The other channels' orders**: on the same schedule, each other channel's order list
  (Shopify ``orders.json``, Adobe Commerce ``/rest/V1/orders``, Amazon ``getOrders``, the
  generic ``/orders``) is read from a cursor, page by page, into the ERP (``--no-sweep``
  to skip): an ERP that never hears of an order never commits its stock, so its export
  would overstate what the channel can sell, and syncsim counts the order lost.
- **Limits and faults**: a 429 (or a GraphQL ``THROTTLED`` error) waits ``Retry-After``
  (syncsim gives it in wall seconds); a 5xx waits its ``Retry-After`` if it has one (a
  maintenance window), else, as a timeout, a full-jitter exponential backoff
  (``--backoff`` doubling up to ``--backoff-cap``); an export or a write page that still
  fails after ``--retries`` is left for the next poll.
- **The end**: a 503 whose body says ``the run has ended``, the connection refused for
  ``--give-up`` seconds, or SIGTERM / SIGINT: it stops its threads and exits 0 (2 if
  syncsim was never reachable).

Which locations sell on the channel, and the ERP export's row order, come from syncsim's
``GET /`` index (no token). SKU codes are ``SKU-000123``; Shopify's inventory item id of a
SKU is its number (``gid://shopify/InventoryItem/123``), the mapping a real connector reads
from the products API. Each write carries syncsim's provenance header ``X-Syncsim-As-Of``
(the export's ``as_of`` of each value), so the lag syncsim measures is the connector's
own; a real platform ignores it.

Run ``python connector.py --help``; README.md in this folder shows a whole session.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import logging
import os
import queue
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

log = logging.getLogger("live-connector")

SHOPIFY_VERSION = "2024-10"
DYNAMICS_PREFIX = "/api/data/v9.2"
WEBHOOK_PATH = "/webhooks/orders-create"
AS_OF_HEADER = "X-Syncsim-As-Of"
ENDED = "the run has ended"

SET_QUANTITIES = """mutation inventorySetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason changes { name delta } }
    userErrors { code field message }
  }
}"""


class RunEnded(Exception):
    """syncsim answered that the run has ended, or has been unreachable for too long."""


class Stopped(Exception):
    """The connector was asked to stop (SIGTERM, SIGINT)."""


class Unreachable(Exception):
    """syncsim was never reachable."""


@dataclass(frozen=True)
class Config:
    base_url: str
    token: str
    secret: str
    poll: float = 5.0
    channel: str = "shop-main"
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    webhook_url: str | None = None
    shopify_api: str = "graphql"
    bulk: int = 250
    max_batch: int = 1000
    safety_stock: int = 0
    retries: int = 8
    backoff: float = 0.5
    backoff_cap: float = 30.0
    give_up: float = 10.0
    timeout: float = 60.0
    sweep: bool = True


class Tally:
    """Counters shared by the connector's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n


class Http:
    """A ``requests`` session with the connector's waiting rules (module docstring).

    ``call`` returns the response once it is neither a 429 nor a 5xx, or the last response
    after ``attempts`` tries (None: until it works); it raises ``RunEnded`` at the end of
    the run and ``Stopped`` when asked to stop."""

    def __init__(self, cfg: Config, stop: threading.Event, stats: Tally) -> None:
        self.cfg = cfg
        self.stop = stop
        self.stats = stats
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "syncsim-live-connector/1"
        self.lock = threading.Lock()
        self.refused_since: float | None = None
        self.ever_connected = False

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff, in wall seconds."""
        return random.uniform(0.0, min(self.cfg.backoff_cap, self.cfg.backoff * 2.0**attempt))

    def sleep(self, seconds: float) -> None:
        if self.stop.wait(max(seconds, 0.0)):
            raise Stopped

    def _refused(self) -> None:
        now = time.monotonic()
        with self.lock:
            if self.refused_since is None:
                self.refused_since = now
            gone = now - self.refused_since > self.cfg.give_up
        if gone:
            if self.ever_connected:
                raise RunEnded(f"syncsim unreachable for {self.cfg.give_up:g} s")
            raise Unreachable(f"cannot reach syncsim at {self.cfg.base_url}")

    def call(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        attempts: int | None = None,
        what: str = "request",
    ) -> requests.Response:
        attempt = 0
        while True:
            if self.stop.is_set():
                raise Stopped
            r: requests.Response | None
            try:
                r = self.session.request(
                    method, url, headers=dict(headers or {}), json=json_body, params=params,
                    timeout=self.cfg.timeout,
                )  # fmt: skip
            except requests.ConnectionError:
                self.stats.add("connection_errors")
                self._refused()
                self.sleep(min(0.2, self.cfg.give_up / 10))
                continue
            except requests.Timeout:
                self.stats.add("timeouts")
                r = None
            if r is not None:
                with self.lock:
                    self.refused_since = None
                    self.ever_connected = True
                if r.status_code == 503 and _ended(r):
                    raise RunEnded(ENDED)
                if r.status_code < 500 and r.status_code != 429:
                    return r
            attempt += 1
            if attempts is not None and attempt >= attempts:
                if r is None:
                    raise requests.Timeout(f"{what}: no answer in {self.cfg.timeout:g} s")
                return r
            if r is not None and r.status_code == 429:
                self.stats.add("throttled")
                wait = retry_after(r)
                self.sleep(wait if wait is not None else self.backoff(attempt))
            else:
                self.stats.add("server_errors")
                code = "timeout" if r is None else r.status_code
                log.debug("%s: %s, retry %d", what, code, attempt)
                wait = None if r is None else retry_after(r)
                self.sleep(wait if wait is not None else self.backoff(attempt))


def _ended(r: requests.Response) -> bool:
    try:
        body = r.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == ENDED


def retry_after(r: requests.Response) -> float | None:
    """``Retry-After`` in seconds, if the response has a numeric one."""
    raw = r.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return None


def sku_number(code: str) -> int:
    """``SKU-000123`` -> 123 (the Shopify inventory item id here)."""
    return int(code.rsplit("-", 1)[1])


def channel_levels(
    export: Mapping[str, Any], rows: Sequence[int], safety_stock: int = 0
) -> tuple[list[str], list[int], list[float]]:
    """SKUs, what the channel should show, and the ``as_of`` of each value, from an ERP
    export (arrays per location row, then per SKU): the sum over ``rows`` of
    ``max(0, on_hand - committed - hold)``, less ``safety_stock``, never below 0; the
    ``as_of`` is the oldest of the rows'."""
    skus: list[str] = list(export["skus"])
    on_hand, committed, hold = export["on_hand"], export["committed"], export["hold"]
    as_of = export["as_of"]
    values: list[int] = []
    stamps: list[float] = []
    for j in range(len(skus)):
        avail = sum(max(0, on_hand[r][j] - committed[r][j] - hold[r][j]) for r in rows)
        values.append(max(0, int(avail) - safety_stock))
        stamps.append(min(float(as_of[r][j]) for r in rows))
    return skus, values, stamps


# -- the ERP ----------------------------------------------------------------------------------
class Erp:
    """The ERP's export and order import: Dynamics 365 (``dynamics``) or generic (``erp``)."""

    def __init__(self, http: Http, base: str, platform: str, cfg: Config) -> None:
        if platform not in ("dynamics", "erp"):
            raise SystemExit(f"connector: ERP platform {platform!r} not supported here")
        self.http = http
        self.base = base
        self.platform = platform
        self.cfg = cfg
        self.auth = {"Authorization": f"Bearer {cfg.token}"}

    def export(self) -> dict[str, Any] | None:
        """Availability of every SKU, or None after ``retries`` failed tries."""
        if self.platform == "dynamics":
            url = f"{self.base}{DYNAMICS_PREFIX}/syncsim_availabilities"
            r = self.http.call("GET", url, headers=self.auth, attempts=self.cfg.retries + 1,
                               what="export")  # fmt: skip
        else:
            url = f"{self.base}/erp/availability"
            r = self.http.call("POST", url, headers=self.auth, json_body={},
                               attempts=self.cfg.retries + 1, what="export")  # fmt: skip
        if not r.ok:
            log.warning("export failed: %s %s", r.status_code, r.text[:200])
            return None
        body: dict[str, Any] = r.json()
        return body["value"] if self.platform == "dynamics" else body

    def import_orders(self, orders: Sequence[Mapping[str, Any]]) -> bool:
        """Import Shopify orders (webhook JSON); True once the ERP took them."""
        docs = [
            {"id": int(o["id"]),
             "lines": [{"id": li["id"], "sku": li["sku"], "quantity": li["quantity"]}
                       for li in o["line_items"]]}
            for o in orders
        ]  # fmt: skip
        if self.platform == "dynamics":
            requests_ = [
                {"id": str(i + 1), "method": "POST", "url": "salesorders",
                 "body": {"syncsim_orderid": d["id"], "lines": d["lines"]}}
                for i, d in enumerate(docs)
            ]  # fmt: skip
            r = self.http.call(
                "POST", f"{self.base}{DYNAMICS_PREFIX}/$batch", headers=self.auth,
                json_body={"requests": requests_}, attempts=self.cfg.retries + 1, what="import",
            )  # fmt: skip
        else:
            r = self.http.call(
                "POST", f"{self.base}/erp/orders", headers=self.auth,
                json_body={"orders": docs}, attempts=self.cfg.retries + 1, what="import",
            )  # fmt: skip
        if not r.ok:
            log.warning("import of %d orders failed: %s %s", len(docs), r.status_code,
                        r.text[:200])  # fmt: skip
        return bool(r.ok)


# -- Shopify ----------------------------------------------------------------------------------
class Shopify:
    """One Shopify channel's Admin API: webhooks and inventory writes."""

    def __init__(self, http: Http, base: str, cfg: Config, stats: Tally) -> None:
        self.http = http
        self.prefix = f"{base}/admin/api/{SHOPIFY_VERSION}"
        self.cfg = cfg
        self.stats = stats
        self.auth = {"X-Shopify-Access-Token": cfg.token}

    def register_webhook(self, address: str) -> None:
        body = {"webhook": {"topic": "orders/create", "address": address, "format": "json"}}
        r = self.http.call("POST", f"{self.prefix}/webhooks.json", headers=self.auth,
                           json_body=body, what="webhook")  # fmt: skip
        if r.status_code != 201:
            raise SystemExit(f"connector: webhook not registered: {r.status_code} {r.text}")
        log.info("webhook registered: orders/create -> %s", address)

    def write(self, skus: Sequence[str], values: Sequence[int], as_of: Sequence[float]) -> None:
        """Write every SKU's level: GraphQL pages of ``bulk``, or REST one by one."""
        if self.cfg.shopify_api == "rest":
            for s, v, a in zip(skus, values, as_of, strict=True):
                self._rest(s, v, a)
            return
        for i in range(0, len(skus), self.cfg.bulk):
            j = i + self.cfg.bulk
            self._graphql(skus[i:j], values[i:j], as_of[i:j])

    def _graphql(self, skus: Sequence[str], values: Sequence[int], as_of: Sequence[float]) -> None:
        quantities = [
            {"inventoryItemId": f"gid://shopify/InventoryItem/{sku_number(s)}",
             "locationId": "gid://shopify/Location/1", "quantity": int(v)}
            for s, v in zip(skus, values, strict=True)
        ]  # fmt: skip
        body = {
            "query": SET_QUANTITIES,
            "operationName": "inventorySetQuantities",
            "variables": {"input": {"name": "available", "reason": "correction",
                                    "ignoreCompareQuantity": True, "quantities": quantities}},
        }  # fmt: skip
        headers = {**self.auth, AS_OF_HEADER: ",".join(repr(float(a)) for a in as_of)}
        for attempt in range(self.cfg.retries + 1):
            r = self.http.call("POST", f"{self.prefix}/graphql.json", headers=headers,
                               json_body=body, attempts=self.cfg.retries + 1,
                               what="inventorySetQuantities")  # fmt: skip
            if not r.ok:
                break
            out = r.json()
            errors = out.get("errors") or []
            if any(e.get("extensions", {}).get("code") == "THROTTLED" for e in errors):
                self.stats.add("throttled")
                wait = retry_after(r)
                self.http.sleep(wait if wait is not None else self.http.backoff(attempt))
                continue
            if errors:
                log.warning("inventorySetQuantities: %s", errors[0].get("message"))
                break
            user_errors = out["data"]["inventorySetQuantities"]["userErrors"]
            if user_errors:
                log.warning("inventorySetQuantities: %s", user_errors[0])
                break
            self.stats.add("skus_written", len(skus))
            self.stats.add("writes")
            return
        self.stats.add("failed_pages")

    def _rest(self, sku: str, value: int, as_of: float) -> None:
        body = {"location_id": 1, "inventory_item_id": sku_number(sku), "available": int(value)}
        headers = {**self.auth, AS_OF_HEADER: repr(float(as_of))}
        r = self.http.call("POST", f"{self.prefix}/inventory_levels/set.json", headers=headers,
                           json_body=body, attempts=self.cfg.retries + 1,
                           what="inventory_levels/set")  # fmt: skip
        if r.ok:
            self.stats.add("skus_written")
            self.stats.add("writes")
        else:
            self.stats.add("failed_pages")


# -- the other channels' orders ---------------------------------------------------------------
def _auth(platform: str, token: str) -> dict[str, str]:
    header = {"shopify": "X-Shopify-Access-Token", "amazon": "x-amz-access-token"}.get(platform)
    return {header: token} if header else {"Authorization": f"Bearer {token}"}


def _line(lid: Any, sku: Any, qty: Any) -> dict[str, Any]:
    return {"id": int(lid), "sku": str(sku), "quantity": int(qty)}


class OrderList:
    """One channel's handed-off orders, read page by page from a cursor through its
    platform's order list (Shopify ``orders.json``, Adobe Commerce ``/rest/V1/orders``,
    Amazon ``getOrders``, the generic ``/orders``), as Shopify-shaped order dicts."""

    PLATFORMS = ("shopify", "adobe_commerce", "amazon", "channel")

    def __init__(self, http: Http, name: str, platform: str, base: str, cfg: Config) -> None:
        self.http = http
        self.name = name
        self.platform = platform
        self.base = base
        self.cfg = cfg
        self.auth = _auth(platform, cfg.token)
        self.cursor = 0
        self.next = 0

    def page(self) -> list[dict[str, Any]] | None:
        """The orders after the cursor (one page), or None if the read failed."""
        path, params = {
            "shopify": (f"/admin/api/{SHOPIFY_VERSION}/orders.json", {"page_info": self.cursor}),
            "adobe_commerce": ("/rest/V1/orders", {"searchCriteria[currentPage]": self.cursor}),
            "amazon": ("/orders/v0/orders", {"NextToken": self.cursor}),
            "channel": ("/orders", {"cursor": self.cursor}),
        }[self.platform]
        r = self.http.call("GET", self.base + path, headers=self.auth,
                           params={k: str(v) for k, v in params.items()},
                           attempts=self.cfg.retries + 1, what=f"{self.name} orders")  # fmt: skip
        if not r.ok:
            log.warning("%s: orders: %s %s", self.name, r.status_code, r.text[:200])
            return None
        body = r.json()
        if self.platform == "shopify":
            orders = body["orders"]
            nxt = r.links.get("next", {}).get("url", "")
            self.next = int(nxt.rsplit("page_info=", 1)[1]) if "page_info=" in nxt else self.cursor
        elif self.platform == "adobe_commerce":
            orders = [
                {"id": o["entity_id"],
                 "line_items": [_line(i["item_id"], i["sku"], i["qty_ordered"])
                                for i in o["items"]]}
                for o in body["items"]
            ]  # fmt: skip
            self.next = int(body["search_criteria"]["current_page"])
        elif self.platform == "amazon":
            payload = body["payload"]
            orders = [
                {"id": o["AmazonOrderId"],
                 "line_items": [_line(i["OrderItemId"], i["SellerSKU"], i["QuantityOrdered"])
                                for i in o["OrderItems"]]}
                for o in payload["Orders"]
            ]  # fmt: skip
            self.next = int(payload["NextToken"])
        else:
            orders = [
                {"id": o["id"],
                 "line_items": [_line(i["id"], i["sku"], i["quantity"]) for i in o["lines"]]}
                for o in body["orders"]
            ]  # fmt: skip
            self.next = int(body["cursor"])
        return list(orders)

    def advance(self) -> None:
        """Move past the page read last (once the ERP took its orders)."""
        self.cursor = self.next


# -- the webhook receiver ---------------------------------------------------------------------
def signature(secret: str, body: bytes) -> str:
    """Shopify's ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class Receiver(ThreadingHTTPServer):
    """Receives ``orders/create`` deliveries; verified orders go on ``orders`` once each."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], secret: str, stats: Tally) -> None:
        super().__init__(address, _Handler)
        self.secret = secret
        self.stats = stats
        self.orders: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: set[int] = set()
        self.lock = threading.Lock()

    def take(self, body: bytes, sig: str | None) -> int:
        """The status to answer a delivery with (401: bad signature, 400: not an order)."""
        if sig is None or not hmac.compare_digest(sig, signature(self.secret, body)):
            self.stats.add("bad_signatures")
            return 401
        try:
            order = json.loads(body)
            oid = int(order["id"])
        except (ValueError, KeyError, TypeError):
            return 400
        with self.lock:
            self.stats.add("webhooks_received")
            if oid in self.seen:
                self.stats.add("webhooks_duplicated")
                return 200
            self.seen.add(oid)
        self.orders.put(order)
        return 200


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.split("?", 1)[0] != WEBHOOK_PATH:
            status = 404
        else:
            status = self.server.take(body, self.headers.get("X-Shopify-Hmac-Sha256"))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("receiver: " + format, *args)


# -- the connector ----------------------------------------------------------------------------
class Connector:
    """The whole connector (module docstring): ``run()`` returns the exit status."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.stop = threading.Event()
        self.stats = Tally()
        self.http = Http(cfg, self.stop, self.stats)
        self.reason = ""
        self.status = 0

    def finish(self, reason: str, status: int = 0) -> None:
        """Stop every thread; the first reason given is the one reported."""
        if not self.stop.is_set():
            self.reason, self.status = reason, status
        self.stop.set()

    def run(self) -> int:
        log.info("connector for %s at %s", self.cfg.channel, self.cfg.base_url)
        try:
            index = self._index()
        except Unreachable as exc:
            log.error("%s", exc)
            return 2
        except (RunEnded, Stopped):
            log.info("stopped before starting")
            return 0
        channel, erp_info = index.get(self.cfg.channel), index.get("erp")
        if channel is None or channel.get("platform") != "shopify" or erp_info is None:
            log.error("no Shopify channel %r and ERP at %s", self.cfg.channel, self.cfg.base_url)
            return 2
        erp_rows = list(erp_info["locations"])
        rows = [erp_rows.index(n) for n in channel["locations"]]
        self.erp = Erp(self.http, erp_info["base_url"], erp_info["platform"], self.cfg)
        self.shop = Shopify(self.http, channel["base_url"], self.cfg, self.stats)
        receiver = Receiver((self.cfg.listen_host, self.cfg.listen_port), self.cfg.secret,
                            self.stats)  # fmt: skip
        threading.Thread(target=receiver.serve_forever, name="receiver", daemon=True).start()
        host, port = receiver.server_address[:2]
        address = self.cfg.webhook_url or f"http://{host!s}:{port}{WEBHOOK_PATH}"
        lists = self._order_lists(index) if self.cfg.sweep else []
        workers = [
            threading.Thread(target=self._guard(lambda: self._imports(receiver)),
                             name="importer", daemon=True),
            threading.Thread(target=self._guard(lambda: self._sweeps(lists)),
                             name="sweeper", daemon=True),
        ]  # fmt: skip
        try:
            self._guard(lambda: self.shop.register_webhook(address))()
            if not self.stop.is_set():
                for w in workers:
                    w.start()
                self._guard(lambda: self._polls(rows))()
        finally:
            self.stop.set()
            receiver.shutdown()
            receiver.server_close()
            for w in workers:
                if w.is_alive():
                    w.join(self.cfg.timeout)
            self.stats.add("orders_pending_at_end", receiver.orders.qsize())
            log.info("stopped: %s", self.reason or "done")
            log.info("summary: %s", json.dumps(dict(sorted(self.stats.counts.items()))))
        return self.status

    def _index(self) -> dict[str, Any]:
        r = self.http.call("GET", f"{self.cfg.base_url}/", what="index")
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        """``fn`` run until the end: the run's end or a stop ends the connector cleanly,
        anything else ends it with status 1."""

        def go() -> None:
            try:
                fn()
            except RunEnded as exc:
                self.finish(str(exc))
            except Stopped:
                self.finish("asked to stop")
            except Exception as exc:
                log.exception("connector failed")
                self.finish(f"{type(exc).__name__}: {exc}", 1)

        return go

    def _polls(self, rows: list[int]) -> None:
        """Every ``poll`` wall seconds (on a fixed schedule; a late round skips the ticks it
        missed): export, then write every SKU."""
        due = time.monotonic()
        while not self.stop.is_set():
            export = self.erp.export()
            self.stats.add("polls")
            if export is not None:
                self.stats.add("exports")
                skus, values, as_of = channel_levels(export, rows, self.cfg.safety_stock)
                self.shop.write(skus, values, as_of)
            due += self.cfg.poll
            now = time.monotonic()
            if due <= now:
                missed = int((now - due) // self.cfg.poll) + 1
                self.stats.add("polls_skipped", missed)
                due += missed * self.cfg.poll
            self.http.sleep(due - now)

    def _order_lists(self, index: Mapping[str, Any]) -> list[OrderList]:
        out = []
        for name, info in index.items():
            if name in ("erp", self.cfg.channel):
                continue
            if info["platform"] not in OrderList.PLATFORMS:
                log.warning("%s: orders of platform %r not read here", name, info["platform"])
                continue
            out.append(OrderList(self.http, name, info["platform"], info["base_url"], self.cfg))
        return out

    def _sweeps(self, lists: Sequence[OrderList]) -> None:
        """Every ``poll`` wall seconds, each other channel's new orders into the ERP."""
        due = time.monotonic()
        while lists and not self.stop.is_set():
            due += self.cfg.poll
            self.http.sleep(due - time.monotonic())
            for src in lists:
                while (orders := src.page()) and self.erp.import_orders(orders):
                    src.advance()
                    self.stats.add("orders_imported", len(orders))
                    self.stats.add("sweep_imports")

    def _imports(self, receiver: Receiver) -> None:
        """Import what the webhooks queued, in batches, until the ERP takes each."""
        while not self.stop.is_set():
            try:
                first = receiver.orders.get(timeout=0.1)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.cfg.max_batch:
                try:
                    batch.append(receiver.orders.get_nowait())
                except queue.Empty:
                    break
            attempt = 0
            while not self.erp.import_orders(batch):
                self.stats.add("imports_failed")
                attempt += 1
                self.http.sleep(self.http.backoff(attempt))
            self.stats.add("orders_imported", len(batch))
            self.stats.add("imports")


def parse_args(argv: Sequence[str] | None = None) -> Config:
    env = os.environ.get
    p = argparse.ArgumentParser(
        description="Sync one Shopify channel with the ERP served by `syncsim serve`."
    )
    p.add_argument(
        "--base-url",
        default=env("SYNCSIM_URL", "http://127.0.0.1:8765"),
        help="syncsim's URL (the 'ready:' line; env SYNCSIM_URL)",
    )
    p.add_argument(
        "--token",
        default=env("SYNCSIM_TOKEN"),
        help="access token (the 'token:' line; env SYNCSIM_TOKEN)",
    )
    p.add_argument(
        "--secret",
        default=env("SYNCSIM_SECRET"),
        help="webhook secret (the 'webhook secret:' line; env SYNCSIM_SECRET)",
    )
    p.add_argument(
        "--poll",
        type=float,
        default=float(env("SYNCSIM_POLL", "5")),
        help="wall seconds between two exports (env SYNCSIM_POLL; default 5)",
    )
    p.add_argument(
        "--channel",
        default=env("SYNCSIM_CHANNEL", "shop-main"),
        help="the Shopify channel to sync (default shop-main)",
    )
    p.add_argument(
        "--listen",
        default="127.0.0.1:0",
        help="HOST:PORT of the webhook receiver (port 0: a free one)",
    )
    p.add_argument(
        "--webhook-url",
        default=None,
        help="address to register, if syncsim reaches the receiver otherwise",
    )
    p.add_argument("--shopify-api", choices=("graphql", "rest"), default="graphql")
    p.add_argument("--bulk", type=int, default=250, help="quantities per GraphQL mutation")
    p.add_argument("--max-batch", type=int, default=1000, help="orders per ERP import")
    p.add_argument("--safety-stock", type=int, default=0)
    p.add_argument("--retries", type=int, default=8, help="retries of an export or a page")
    p.add_argument(
        "--backoff",
        type=float,
        default=0.5,
        help="first backoff, wall seconds (doubles up to --backoff-cap)",
    )
    p.add_argument("--backoff-cap", type=float, default=30.0)
    p.add_argument(
        "--give-up",
        type=float,
        default=10.0,
        help="wall seconds of refused connections before exiting",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="wall seconds per request")
    p.add_argument(
        "--no-sweep",
        action="store_true",
        help="do not import the other channels' orders (read from their order lists)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    if not a.token or not a.secret:
        p.error("--token and --secret are required (or SYNCSIM_TOKEN and SYNCSIM_SECRET)")
    if a.poll <= 0 or a.bulk < 1 or a.max_batch < 1:
        p.error("--poll, --bulk and --max-batch must be positive")
    host, _, port = a.listen.rpartition(":")
    logging.basicConfig(
        level=logging.DEBUG if a.verbose else logging.INFO,
        format="%(asctime)s connector %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    return Config(
        base_url=a.base_url.rstrip("/"), token=a.token, secret=a.secret, poll=a.poll,
        channel=a.channel, listen_host=host or "127.0.0.1", listen_port=int(port or 0),
        webhook_url=a.webhook_url, shopify_api=a.shopify_api, bulk=a.bulk,
        max_batch=a.max_batch, safety_stock=a.safety_stock, retries=a.retries,
        backoff=a.backoff, backoff_cap=a.backoff_cap, give_up=a.give_up, timeout=a.timeout,
        sweep=not a.no_sweep,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    connector = Connector(cfg)

    def on_signal(signum: int, frame: Any) -> None:
        connector.finish(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return connector.run()


if __name__ == "__main__":
    sys.exit(main())
