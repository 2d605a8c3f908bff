"""Amazon: inventory in listings feeds processed one after the other; pending orders.

Preset (``Amazon``): createFeed about once per 2 minutes (burst 15), at most 5 listings
feeds per 5 minutes, up to 25,000 items per feed, each processed with minutes of delay;
orders pending (stock reserved) before the seller is told. Marketplaces only.

Semantics (``AmazonChannel``): a write is a listings feed (one createFeed request carries up
to 25,000 items); feeds are processed one after the other, each taking minutes, and apply
when done (``feed_status``, getFeed, says when).

HTTP shape: Feeds API 2021-06-30 (``createFeedDocument``, upload, ``createFeed``,
``getFeed``), Listings Items API 2021-08-01 ``searchListingsItems``
(``GET /listings/2021-08-01/items/{sellerId}``: the ``fulfillmentAvailability`` of the
comma-separated ``identifiers`` with ``identifiersType=SKU``, or of every listing; one page:
the whole selection, each listing's ``as_of`` in the ``X-Syncsim-As-Of`` header), Orders API
v0 (``getOrders``, items inline), ``x-amzn-RateLimit-Limit``, ``QuotaExceeded``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

import httpx
import respx
from pydantic import Field

from mocks.api import Reply
from mocks.channel import Channel
from mocks.http import (
    as_of_headers,
    as_of_of,
    channel_inventory,
    channel_orders,
    codes_of,
    retry_after_headers,
    router_base,
    skus_of,
    wait,
)
from mocks.platforms.base import Auth, Platform, lognormal, write_args
from sim.bridge import SimRuntime, sku_code
from sim.capacity import EffectiveChannelApi, LeakyBucketLimit, Limit, WindowLimit
from sim.dists import Dist
from sim.fields import Int, Interval, Real
from sim.platforms import ChannelPreset

__all__ = ["PLATFORM", "Amazon", "AmazonChannel", "Feed", "routes"]


# -- preset -----------------------------------------------------------------------------------
class Amazon(ChannelPreset):
    """Listings feeds: createFeed about once per 2 minutes (burst 15), at most 5 listings
    feeds per 5 minutes, up to 25,000 items per feed, processed one after the other with
    minutes of delay; orders pending (stock reserved) before the seller is told."""

    platform: Literal["amazon"]
    channel_kinds: ClassVar[tuple[str, ...]] = ("marketplace",)
    feed_rate: Real = Field(1 / 120, gt=0, le=1e6, description="createFeed requests per second")
    feed_burst: Int = Field(15, ge=1, le=10**9)
    submissions: Int = Field(5, ge=1, le=10**9)
    submissions_window: Interval = 300.0
    max_items: Int = Field(25_000, ge=1, le=10**9)
    processing: Dist = Field(default_factory=lambda: lognormal(300.0, 0.5))
    pending_period: Dist = Field(default_factory=lambda: lognormal(900.0, 0.8))
    latency: Dist = Field(default_factory=lambda: lognormal(0.5))

    def platform_api(self) -> EffectiveChannelApi:
        """createFeed: a token bucket of ``feed_burst`` refilled at ``feed_rate`` (a leaky
        bucket of the same size and rate) and ``submissions`` listings feeds per
        ``submissions_window``; getFeed has its own, ample rate (not limited here)."""
        limits: tuple[Limit, ...] = (
            LeakyBucketLimit(capacity=self.feed_burst, rate=self.feed_rate),
            WindowLimit(limit=self.submissions, window=self.submissions_window),
        )
        return EffectiveChannelApi(
            latency=self.latency,
            limits=limits,
            limited_ops=("create_feed",),
            bulk_limit=self.max_items,
        )

    def platform_pending_period(self) -> Dist:
        """Orders stay pending (stock reserved, seller not told) this long."""
        return self.pending_period


# -- semantics --------------------------------------------------------------------------------
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
        self._busy_until = 0.0

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        """``createFeed`` (JSON_LISTINGS_FEED): the reply's value is the feed id; the
        quantities apply when the feed has been processed."""
        args = write_args(self, skus, values, as_of, expected, (400, "InvalidInput: messages"))
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
        queues it behind (``strategies.kit.calls.until_applied`` waits)."""

        def effect() -> str | None:
            return self.status_of(feed_id)

        def status(value: Any) -> tuple[int, str | None]:
            return (200, None) if value is not None else (404, f"feed {feed_id} not found")

        return self.api.call(1, effect, status_of=status, op="get_feed")


# -- HTTP shape -------------------------------------------------------------------------------
def routes(router: respx.Router, ch: AmazonChannel, rt: SimRuntime) -> None:
    """The Selling Partner API endpoints of the module docstring."""
    documents: dict[str, bytes | None] = {}
    base = router_base(router)

    def error(reply: Reply) -> httpx.Response:
        code = {429: "QuotaExceeded", 400: "InvalidInput", 503: "ServiceUnavailable"}
        message = (
            "You exceeded your quota for the requested resource."
            if reply.status == 429
            else reply.error or "Error"
        )
        headers = {
            "x-amzn-RateLimit-Limit": repr(ch.preset.feed_rate),
            **retry_after_headers(reply),
        }
        body = {"errors": [{"code": code.get(reply.status, "InternalFailure"), "message": message}]}
        return httpx.Response(reply.status, json=body, headers=headers)

    def create_document(request: httpx.Request) -> httpx.Response:
        doc = f"amzn1.tortuga.3.{ch.name}.{len(documents) + 1}"
        documents[doc] = None
        return httpx.Response(201, json={"feedDocumentId": doc, "url": f"{base}/upload/{doc}"})

    def upload(request: httpx.Request, doc: str) -> httpx.Response:
        if doc not in documents:
            return httpx.Response(404)
        documents[doc] = request.content
        return httpx.Response(200)

    def create_feed(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        content = documents.get(body.get("inputFeedDocumentId", ""))
        if content is None or body.get("feedType") != "JSON_LISTINGS_FEED":
            return error(Reply(400, error="inputFeedDocumentId: no uploaded JSON_LISTINGS_FEED"))
        messages = json.loads(content)["messages"]
        skus = skus_of([m["sku"] for m in messages])
        values = [
            m["patches"][0]["value"][0]["quantity"] for m in messages
        ]  # /attributes/fulfillment_availability
        aso = as_of_of(request, skus.size, ch.env.now)
        reply = wait(rt, ch.set_inventory(skus, values, aso))
        if not reply.ok:
            return error(reply)
        return httpx.Response(
            202, json={"feedId": reply.value},
            headers={"x-amzn-RateLimit-Limit": repr(ch.preset.feed_rate)},
        )  # fmt: skip

    def get_feed(request: httpx.Request, feed_id: str) -> httpx.Response:
        reply = wait(rt, ch.feed_status(feed_id))
        if not reply.ok:
            return error(reply)
        return httpx.Response(200, json={"feedId": feed_id, "processingStatus": reply.value})

    def search_listings(request: httpx.Request, seller_id: str) -> httpx.Response:
        q = request.url.params
        by_sku = q.get("identifiersType", "SKU") == "SKU"
        codes = codes_of(q.get("identifiers")) if by_sku else None
        reply = channel_inventory(ch, rt, codes)
        if not reply.ok:
            return error(reply)
        page = reply.value
        items = [
            {
                "sku": sku_code(s),
                "fulfillmentAvailability": [{"fulfillmentChannelCode": "DEFAULT",
                                             "quantity": int(v)}],
            }
            for s, v in zip(page.skus.tolist(), page.shown.tolist(), strict=True)
        ]  # fmt: skip
        body = {"numberOfResults": len(items), "items": items}
        return httpx.Response(200, json=body, headers=as_of_headers(page))

    def orders(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        reply = channel_orders(ch, rt, int(q.get("NextToken", 0)), None)
        if not reply.ok:
            return error(reply)
        payload = {
            "Orders": [
                {
                    "AmazonOrderId": str(o.id),
                    "PurchaseDate": o.t,
                    "OrderStatus": "Unshipped",
                    "OrderItems": [
                        {
                            "OrderItemId": str(ln.id),
                            "SellerSKU": sku_code(ln.sku),
                            "QuantityOrdered": ln.qty,
                        }
                        for ln in o.lines
                    ],
                }
                for o in reply.value.orders
            ],
            "NextToken": str(reply.value.cursor),
        }
        return httpx.Response(200, json={"payload": payload})

    router.post("/feeds/2021-06-30/documents", name="create_feed_document").mock(
        side_effect=create_document
    )
    router.put(path__regex=r"^/upload/(?P<doc>[^/]+)$", name="upload").mock(side_effect=upload)
    router.post("/feeds/2021-06-30/feeds", name="create_feed").mock(side_effect=create_feed)
    router.get(path__regex=r"^/feeds/2021-06-30/feeds/(?P<feed_id>[^/]+)$", name="get_feed").mock(
        side_effect=get_feed
    )
    router.get(
        path__regex=r"^/listings/2021-08-01/items/(?P<seller_id>[^/]+)$", name="search_listings"
    ).mock(side_effect=search_listings)
    router.get("/orders/v0/orders", name="orders").mock(side_effect=orders)


PLATFORM = Platform(
    name="amazon",
    kind="channel",
    preset=Amazon,
    routes=routes,
    base_url="https://sellingpartnerapi-eu.amazon.com",
    channel_class=AmazonChannel,
    auth=Auth(
        header="x-amz-access-token",
        scheme="",
        status=403,
        body={
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": "",
                }
            ]
        },
    ),
)
