"""What real platforms do to a sync integration: the behaviour behind ``sim.presets``.

A channel with a ``preset`` is built as one of the channel classes below (a ``Channel`` with
its platform's semantics); an ERP preset only changes the capacity model of the ERP's API.

- ``ShopifyChannel``: states available / committed / reserved / on_hand (an order moves
  units from available to committed; a fulfillment takes them out of committed and on hand);
  ``set_inventory(..., name="on_hand")`` sets on hand and leaves available = on hand -
  committed - reserved; compare-and-swap as ``changeFromQuantity``; ``adjust`` with an
  idempotency key (a reused key returns the first answer and changes nothing); order webhooks
  at least once, with duplicates and no ordering, retried 8 times over 4 hours with the
  original payload when the receiver fails.
- ``AdobeChannel``: MSI. The channel sells its *salable* quantity = source quantity -
  out-of-stock threshold + the sum of the append-only reservations (an order appends -qty; a
  shipment or cancellation synced back appends the compensation +qty). Writes set the
  *source* quantity, so a value that already nets out open orders deducts them twice.
- ``BigCommerceChannel``: writes are asynchronous: the call answers with a transaction id and
  the quantities apply later, in submission order.
- ``AmazonChannel``: writes are listings feeds: one createFeed request carries up to 25,000
  items, feeds are processed one after the other, each taking minutes.

``channel_api_kwargs`` and ``erp_api_kwargs`` turn a preset into the ``ApiServer`` capacity
model (limiters, service time, batch limits), with the fields set explicitly in the
scenario's ``api`` tables winning over the preset's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mocks.api import CostBucket, ExecutionBudget, LeakyBucket, Limiter, Reply, WindowQuota
from mocks.channel import Channel, Webhooks
from sim.ledger import Order
from sim.presets import AdobeCommerce, Amazon, BigCommerce, Dynamics, NetSuite, Shopify
from sim.schema import Channel as ChannelSpec
from sim.schema import Erp as ErpSpec

__all__ = [
    "AdobeChannel",
    "AmazonChannel",
    "BigCommerceChannel",
    "Feed",
    "ShopifyChannel",
    "ShopifyWebhooks",
    "channel_api_kwargs",
    "channel_class",
    "erp_api_kwargs",
]


class _Coded:
    """A limiter whose 429 carries the platform's error code."""

    code = "THROTTLED"


class _CodedWindow(WindowQuota, _Coded):
    pass


class _CodedBudget(ExecutionBudget, _Coded):
    pass


# -- capacity models ------------------------------------------------------------------------
def channel_api_kwargs(spec: ChannelSpec) -> dict[str, Any]:
    """``ApiServer`` arguments for a channel: its ``api`` table, or its preset's limits for
    every field the table does not set explicitly."""
    api = spec.api
    explicit = api.model_fields_set
    preset = spec.preset
    limiters: list[Limiter] = []
    kwargs: dict[str, Any] = {"service_time": api.latency, "limiters": limiters}
    bulk_limit = api.bulk_limit
    if preset is not None and "latency" not in explicit:
        kwargs["service_time"] = preset.latency
    rate_set = "bucket_size" in explicit or "leak_rate" in explicit
    if preset is None or rate_set:
        if api.bucket_size:
            limiters.append(LeakyBucket(api.bucket_size, api.leak_rate))
    elif isinstance(preset, Shopify):
        if preset.api == "rest":
            limiters.append(LeakyBucket(preset.bucket_size, preset.leak_rate))
            bulk_limit = 1  # inventory_levels/set.json: one item per request
        else:
            limiters.append(CostBucket(preset.graphql_capacity, preset.restore_rate))
            cost = preset.graphql_mutation_cost
            kwargs["cost"] = lambda items: cost + items // 10
            bulk_limit = 250  # inventorySetQuantities: 250 quantities per mutation
    elif isinstance(preset, BigCommerce):
        limiters.append(
            WindowQuota(int(preset.quota * (1 - preset.other_apps_share)), preset.window)
        )
        bulk_limit = preset.bulk_limit
    elif isinstance(preset, Amazon):
        # createFeed: a token bucket of 15 refilled once per 2 minutes (a leaky bucket of the
        # same size and rate), and at most 5 listings feeds per 5 minutes
        limiters.append(LeakyBucket(preset.feed_burst, preset.feed_rate))
        limiters.append(WindowQuota(preset.submissions, preset.submissions_window))
        kwargs["limited_ops"] = frozenset({"create_feed"})  # getFeed has its own, ample rate
        bulk_limit = preset.max_items
    elif isinstance(preset, AdobeCommerce):
        bulk_limit = preset.bulk_limit
    if "bulk_limit" in explicit:
        bulk_limit = api.bulk_limit
    kwargs["bulk_limit"] = bulk_limit
    return kwargs


def erp_api_kwargs(spec: ErpSpec) -> dict[str, Any]:
    """``ApiServer`` arguments for the ERP: ``[erp.api]``, completed by the preset."""
    api = spec.api
    explicit = api.model_fields_set
    limiters: list[Limiter] = []
    kw: dict[str, Any] = {
        "concurrency": api.concurrency,
        "overflow": api.overflow,
        "service_time": api.service_time,
        "error_code": api.error_code,
        "limiters": limiters,
    }
    preset = spec.preset
    if isinstance(preset, NetSuite):
        kw.update(concurrency=preset.concurrency, overflow="reject", error_code=preset.error_code)
        kw["service_time"] = preset.service_time
    elif isinstance(preset, Dynamics):
        kw.update(concurrency=preset.concurrency, overflow="throttle", error_code="0x80072326")
        kw["service_time"] = preset.service_time
        window = _CodedWindow(preset.requests, preset.window)
        window.code = "0x80072322"  # number of requests exceeded the limit
        budget = _CodedBudget(preset.execution_seconds, preset.window)
        budget.code = "0x80072321"  # combined execution time exceeded the limit
        limiters += [window, budget]
        kw.update(max_items=preset.max_batch, batch_ops=frozenset({"import_orders"}))
    for name in ("concurrency", "overflow", "service_time", "error_code"):
        if name in explicit:
            kw[name] = getattr(api, name)
    if api.window_requests and (preset is None or "window_requests" in explicit):
        limiters.append(WindowQuota(api.window_requests, api.window))
    return kw


def channel_class(spec: ChannelSpec) -> Callable[..., Channel]:
    """The class that builds a channel with ``spec``'s platform behaviour."""
    return {
        None: Channel,
        "shopify": ShopifyChannel,
        "adobe_commerce": AdobeChannel,
        "bigcommerce": BigCommerceChannel,
        "amazon": AmazonChannel,
    }[spec.preset.platform if spec.preset is not None else None]


# -- channels -------------------------------------------------------------------------------
def _refuse(env: Any, api: Any, status: int, error: str) -> Any:
    api.stats.calls += 1
    api.stats.invalid += 1
    return env.timeout(0.0, Reply(status, error=error))


def _write_args(
    ch: Channel, skus: Any, values: Any, as_of: Any, expected: Any, too_many: tuple[int, str]
) -> Any:
    """A platform write's arrays ``(skus, values, as_of)``, or the refusal event when the
    platform has no compare-and-swap or the write is over its bulk limit."""
    sel = np.atleast_1d(np.asarray(skus, np.int64))
    if expected is not None:
        return _refuse(ch.env, ch.api, 400, "compare-and-swap is not supported")
    if sel.size > ch.bulk_limit:
        status, error = too_many
        return _refuse(ch.env, ch.api, status, f"{error}: {sel.size}")
    aso = np.array(as_of, float, ndmin=1)
    if aso.shape != sel.shape:
        aso = np.full(sel.shape, float(aso[0]))
    return sel, np.array(values, np.int64, ndmin=1), aso


class _Fulfilling(Channel):
    """A channel that wants shipments and cancellations synced back (``fulfill``)."""

    needs_fulfillment = True

    def fulfill(self, lines: Sequence[tuple[int, int, int, int, str]]) -> Any:
        """Tell the channel that order lines ``(order_id, line_id, sku, qty, kind)`` were
        ``shipped`` or ``cancelled`` by the seller (one request)."""
        done = list(lines)

        def effect() -> int:
            for _order_id, line_id, sku, qty, kind in done:
                self._fulfilled(line_id, int(sku), int(qty), kind)
            return len(done)

        return self.api.call(max(1, len(done)), effect, op="fulfill")

    def _fulfilled(self, line_id: int, sku: int, qty: int, kind: str) -> None:
        raise NotImplementedError

    def _set_shown(self, sku: int, value: int) -> None:
        """A platform-side change of what is shown (not a write: ``as_of`` is unchanged)."""
        self._count[sku] = max(0, value)
        for on_shown in self.shown_listeners:
            on_shown(self.index, sku)


class ShopifyWebhooks(Webhooks):
    """Shopify order webhooks: each delivery comes after a random delay (no ordering),
    a share are duplicated, and a delivery the receiver fails (returns ``False``) is retried
    ``retries`` times over ``retry_window`` seconds (doubling gaps), with the original
    payload."""

    def __init__(self, env: Any, rng: np.random.Generator, preset: Shopify) -> None:
        super().__init__(env, rng)
        self.preset = preset
        n = preset.webhook_retries
        first = preset.webhook_retry_window / (2**n - 1) if n else 0.0
        #: seconds after the first attempt at which each retry is made
        self.schedule = [first * (2 ** (i + 1) - 1) for i in range(n)]
        self.duplicated = 0
        self.failed = 0
        self.gave_up = 0
        self.attempts: list[tuple[float, int, int]] = []  # (t, order id, attempt)

    def deliver(self, fn: Callable[[Order], Any], order: Order) -> None:
        self.delivered += 1
        delay = float(self.preset.webhook_jitter.sample(self.rng))
        late = self.faults[-1].webhook_delay(self.rng) if self.faults else None
        if late is not None:
            delay += late
        self._attempt(fn, order, delay, 0)
        if self.rng.random() < self.preset.webhook_duplicate_rate:
            self.duplicated += 1
            self._attempt(fn, order, delay + float(self.preset.webhook_jitter.sample(self.rng)), 0)

    def _attempt(self, fn: Callable[[Order], Any], order: Order, at: float, n: int) -> None:
        def fire(_: Any) -> None:
            self.attempts.append((self.env.now, order.id, n))
            if fn(order) is not False:
                return
            self.failed += 1
            if n < len(self.schedule):
                self.retried += 1
                gap = self.schedule[n] - (self.schedule[n - 1] if n else 0.0)
                self._attempt(fn, order, gap, n + 1)
            else:
                self.gave_up += 1

        self.env.timeout(at).callbacks.append(fire)


class ShopifyChannel(_Fulfilling):
    """Shopify's inventory states, compare-and-swap, idempotent adjustments and webhooks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        preset = self.spec.preset
        assert isinstance(preset, Shopify)
        self.preset = preset
        self.committed = np.zeros(self.n_sku, np.int64)
        self.reserved = np.zeros(self.n_sku, np.int64)
        self.webhooks = ShopifyWebhooks(self.env, self.rng, preset)
        self.accept_listeners.append(self._commit)
        self._idempotent: dict[str, Any] = {}
        self.idempotent_replays = 0

    def _commit(self, order: Order) -> None:
        for ln in order.lines:
            self.committed[ln.sku] += ln.qty

    def _fulfilled(self, line_id: int, sku: int, qty: int, kind: str) -> None:
        # a fulfillment takes the units out of committed (and on hand); a cancellation
        # without restock only releases the commitment
        self.committed[sku] = max(0, self.committed[sku] - qty)

    def states(self, skus: Any = None) -> dict[str, np.ndarray]:
        """Quantities by state: available, committed, reserved, on_hand."""
        sel = np.arange(self.n_sku) if skus is None else np.atleast_1d(np.asarray(skus, np.int64))
        available = np.maximum(self.count[sel], 0)
        on_hand = available + self.committed[sel] + self.reserved[sel]
        return {
            "available": available,
            "committed": self.committed[sel].copy(),
            "reserved": self.reserved[sel].copy(),
            "on_hand": on_hand,
        }

    def set_inventory(
        self, skus: Any, values: Any, as_of: Any, expected: Any = None, name: str = "available"
    ) -> Any:
        """``inventorySetQuantities``: set the ``available`` or ``on_hand`` quantity (with
        ``expected`` as ``changeFromQuantity`` of that same quantity)."""
        if name not in ("available", "on_hand"):
            return _refuse(self.env, self.api, 400, f"INVALID_NAME: {name!r}")
        if name == "on_hand":
            sel = np.atleast_1d(np.asarray(skus, np.int64))
            held = self.committed[sel] + self.reserved[sel]
            values = np.array(values, np.int64, ndmin=1) - held
            if expected is not None:
                expected = np.array(expected, np.int64, ndmin=1) - held
        return super().set_inventory(skus, values, as_of, expected)

    def adjust(self, skus: Any, deltas: Any, as_of: Any, key: str | None = None) -> Any:
        """``inventoryAdjustQuantities`` on available: add ``deltas``; with an idempotency
        ``key`` a repeated request returns the first answer and changes nothing."""
        sel = np.atleast_1d(np.asarray(skus, np.int64))
        if sel.size > self.bulk_limit:
            return _refuse(self.env, self.api, 400, f"too many items: {sel.size}")
        d = np.array(deltas, np.int64, ndmin=1)
        aso = float(np.min(as_of))

        def effect() -> np.ndarray:
            if key is not None and key in self._idempotent:
                self.idempotent_replays += 1
                return self._idempotent[key]
            new = np.maximum(self.count[sel], 0) + d
            self._apply(sel, new, np.full(sel.shape, aso))
            result = np.maximum(new, 0)
            if key is not None:
                self._idempotent[key] = result
            return result

        return self.api.call(sel.size, effect, op="adjust_inventory")


class AdobeChannel(_Fulfilling):
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
        args = _write_args(self, skus, values, as_of, expected, (400, "too many items"))
        if not isinstance(args, tuple):
            return args
        sel, vals, aso = args

        def effect() -> None:
            self.source[sel] = vals
            self._apply(sel, self.salable(sel), aso)

        return self.api.call(sel.size, effect, op="source_items_save")


class BigCommerceChannel(Channel):
    """BigCommerce: absolute adjustments answered with a transaction id, applied later in
    submission order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        preset = self.spec.preset
        assert isinstance(preset, BigCommerce)
        self.preset = preset
        self.transactions: dict[str, str] = {}  # id -> "pending" | "applied"
        self._applies_at = 0.0

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        """``PUT /v3/inventory/adjustments/absolute``: queue the quantities; the reply's
        value is the transaction id."""
        args = _write_args(self, skus, values, as_of, expected, (422, "too many items"))
        if not isinstance(args, tuple):
            return args
        sel, vals, aso = args

        def effect() -> str:
            env = self.env
            txn = f"txn-{self.name}-{len(self.transactions) + 1}"
            self.transactions[txn] = "pending"
            at = max(env.now + float(self.preset.apply_delay.sample(self.rng)), self._applies_at)
            self._applies_at = at

            def apply(_: Any) -> None:
                self._apply(sel, vals, aso)
                self.transactions[txn] = "applied"

            env.timeout(at - env.now).callbacks.append(apply)
            return txn

        return self.api.call(sel.size, effect, op="inventory_adjustments_absolute")


class Feed:
    """One Amazon listings feed and its processing status."""

    __slots__ = ("done_at", "id", "items", "status", "submitted")

    def __init__(self, fid: str, items: int, submitted: float, done_at: float) -> None:
        self.id = fid
        self.items = items
        self.submitted = submitted
        self.done_at = done_at
        self.status = "IN_QUEUE"


class AmazonChannel(Channel):
    """Amazon: inventory goes in listings feeds, processed one after the other."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        preset = self.spec.preset
        assert isinstance(preset, Amazon)
        self.preset = preset
        self.feeds: dict[str, Feed] = {}
        if "pending_period" not in self.spec.model_fields_set:
            self.pending_period = preset.pending_period
        self._busy_until = 0.0

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        """``createFeed`` (JSON_LISTINGS_FEED): the reply's value is the feed id; the
        quantities apply when the feed has been processed."""
        args = _write_args(self, skus, values, as_of, expected, (400, "InvalidInput: messages"))
        if not isinstance(args, tuple):
            return args
        sel, vals, aso = args

        def effect() -> str:
            env = self.env
            start = max(env.now, self._busy_until)
            done = start + float(self.preset.processing.sample(self.rng))
            self._busy_until = done
            feed = Feed(f"feed-{self.name}-{len(self.feeds) + 1}", sel.size, env.now, done)
            self.feeds[feed.id] = feed

            def processed(_: Any) -> None:
                self._apply(sel, vals, aso)
                feed.status = "DONE"

            env.timeout(done - env.now).callbacks.append(processed)
            return feed.id

        return self.api.call(sel.size, effect, op="create_feed")

    def status_of(self, feed_id: str) -> str | None:
        """``processingStatus`` of a feed now (``IN_QUEUE``, ``IN_PROGRESS``, ``DONE``), or
        None for an unknown id."""
        feed = self.feeds.get(feed_id)
        if feed is None:
            return None
        if feed.status == "DONE":
            return "DONE"
        return "IN_PROGRESS" if self.env.now >= feed.done_at - 1e-9 else "IN_QUEUE"

    def feed_status(self, feed_id: str) -> Any:
        """``getFeed``: the feed's processing status (one call; not limited like createFeed).
        A feed is applied to the listings when its status is ``DONE``: feeds are processed one
        after the other, so a client that submits the next one before the last is done only
        queues it behind (``strategies._push.until_applied`` waits)."""

        def effect() -> str | None:
            return self.status_of(feed_id)

        def status(value: Any) -> tuple[int, str | None]:
            return (200, None) if value is not None else (404, f"feed {feed_id} not found")

        return self.api.call(1, effect, status_of=status, op="get_feed")
