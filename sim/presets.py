"""Platform presets as scenario data: what real platforms do to a sync integration.

A channel may say ``preset = "shopify"`` (or a table with parameters,
``preset = { platform = "shopify", plan = "plus" }``), an ERP ``preset = "netsuite"``. Every
limit below is a parameter whose default is the platform's documented value (DESIGN §6); API
fields set explicitly in the scenario's ``api`` table win over the preset's. The behaviour
(inventory states, reservations, asynchronous writes, feeds, webhooks) lives in
``mocks.platforms``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from sim.dists import Dist, Duration, Fixed, LogNormal, Uniform
from sim.fields import Int, Interval, Real, SpecModel

__all__ = [
    "AdobeCommerce",
    "Amazon",
    "BigCommerce",
    "ChannelPreset",
    "Dynamics",
    "ErpPreset",
    "NetSuite",
    "Shopify",
]


class _Preset(SpecModel):
    """A platform's parameters (strict scalars, finite numbers; ``sim.fields``)."""


def _lognormal(mean: float, cv: float = 0.5) -> Any:
    return LogNormal.model_validate({"dist": "lognormal", "mean": mean, "cv": cv})


class Shopify(_Preset):
    """REST leaky bucket (40, leak 2/s Standard, 4/s Advanced, 20/s Plus) or GraphQL cost
    bucket (1000 points, restore 100/200/1000 per second); states available, committed,
    reserved, on_hand; set quantities with compare-and-swap; adjust with an idempotency key;
    webhooks at least once, duplicated, unordered, retried 8 times over 4 hours with the
    original payload, 5-second timeout."""

    platform: Literal["shopify"]
    plan: Literal["standard", "advanced", "plus"] = "standard"
    api: Literal["graphql", "rest"] = "graphql"
    bucket_size: Int = Field(40, ge=1, le=10**9)
    graphql_capacity: Int = Field(1000, ge=1, le=10**9)
    graphql_mutation_cost: Int = Field(10, ge=1, le=10**9)
    latency: Dist = Field(default_factory=lambda: _lognormal(0.15))
    webhook_duplicate_rate: Real = Field(0.01, ge=0, le=1)
    webhook_jitter: Dist = Field(
        default_factory=lambda: Uniform.model_validate({"dist": "uniform", "low": 0, "high": 10})
    )
    webhook_retries: Int = Field(8, ge=0, le=100)
    webhook_retry_window: Duration = 4 * 3600.0
    webhook_timeout: Duration = 5.0

    @property
    def leak_rate(self) -> float:
        return {"standard": 2.0, "advanced": 4.0, "plus": 20.0}[self.plan]

    @property
    def restore_rate(self) -> float:
        return {"standard": 100.0, "advanced": 200.0, "plus": 1000.0}[self.plan]


class AdobeCommerce(_Preset):
    """Magento MSI: an order appends a reservation (-qty); shipping or cancelling it appends a
    compensation (+qty); salable = source quantity - out-of-stock threshold + reservations.
    An integration that writes a quantity that already nets open orders out, or that does not
    sync shipments back, deducts them twice."""

    platform: Literal["adobe_commerce"]
    out_of_stock_threshold: Int = Field(0, ge=0, le=10**9)
    bulk_limit: Int = Field(500, ge=1, le=10**9)
    latency: Dist = Field(default_factory=lambda: _lognormal(0.4))


class BigCommerce(_Preset):
    """Inventory writes are asynchronous (a transaction id now, applied after a delay);
    absolute adjustments batched up to 2,000 items; a quota of 150 requests per 30 seconds
    shared by every app installed on the store."""

    platform: Literal["bigcommerce"]
    quota: Int = Field(150, ge=1, le=10**9)
    window: Interval = 30.0
    other_apps_share: Real = Field(0.0, ge=0, lt=1, description="quota used by other apps")
    bulk_limit: Int = Field(2000, ge=1, le=10**9)
    apply_delay: Dist = Field(
        default_factory=lambda: Uniform.model_validate({"dist": "uniform", "low": 2, "high": 30})
    )
    latency: Dist = Field(default_factory=lambda: _lognormal(0.3))


class Amazon(_Preset):
    """Listings feeds: createFeed about once per 2 minutes (burst 15), at most 5 listings
    feeds per 5 minutes, up to 25,000 items per feed, processed one after the other with
    minutes of delay; orders pending (stock reserved) before the seller is told."""

    platform: Literal["amazon"]
    feed_rate: Real = Field(1 / 120, gt=0, le=1e6, description="createFeed requests per second")
    feed_burst: Int = Field(15, ge=1, le=10**9)
    submissions: Int = Field(5, ge=1, le=10**9)
    submissions_window: Interval = 300.0
    max_items: Int = Field(25_000, ge=1, le=10**9)
    processing: Dist = Field(default_factory=lambda: _lognormal(300.0, 0.5))
    pending_period: Dist = Field(default_factory=lambda: _lognormal(900.0, 0.8))
    latency: Dist = Field(default_factory=lambda: _lognormal(0.5))


class NetSuite(_Preset):
    """Account concurrency limit: 5 + 10 per SuiteCloud Plus licence (15 by default); past it
    a request is refused at once with SSS_REQUEST_LIMIT_EXCEEDED; no queueing."""

    platform: Literal["netsuite"]
    base_concurrency: Int = Field(5, ge=1, le=10**9)
    licences: Int = Field(1, ge=0, le=10**9, description="SuiteCloud Plus licences (+10 each)")
    service_time: Dist = Field(default_factory=lambda: _lognormal(1.0, 0.6))
    error_code: str = "SSS_REQUEST_LIMIT_EXCEEDED"

    @property
    def concurrency(self) -> int:
        return self.base_concurrency + 10 * self.licences


class Dynamics(_Preset):
    """Per-user service protection limits over a sliding 5 minutes: 6,000 requests, 1,200
    seconds of combined execution time, 52 concurrent requests; past any, 429 with
    Retry-After; ExecuteMultiple batches of at most 1,000 operations."""

    platform: Literal["dynamics"]
    window: Interval = 300.0
    requests: Int = Field(6000, ge=1, le=10**9)
    execution_seconds: Duration = 1200.0
    concurrency: Int = Field(52, ge=1, le=10**9)
    max_batch: Int = Field(1000, ge=1, le=10**9)
    service_time: Dist = Field(default_factory=lambda: _lognormal(0.3, 0.6))


def _named(value: Any) -> Any:
    return {"platform": value} if isinstance(value, str) else value


ChannelPreset = Annotated[
    Annotated[Shopify | AdobeCommerce | BigCommerce | Amazon, Field(discriminator="platform")],
    BeforeValidator(_named),
]
"""A channel platform: ``shopify``, ``adobe_commerce``, ``bigcommerce`` or ``amazon``."""

ErpPreset = Annotated[
    Annotated[NetSuite | Dynamics, Field(discriminator="platform")], BeforeValidator(_named)
]
"""An ERP platform: ``netsuite`` or ``dynamics``."""

_ = Fixed  # distributions of every kind may appear in preset tables
