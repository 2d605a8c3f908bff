"""The scenario schema: what a scenario file may say, validated by pydantic.

A scenario is pure data (STYLE 3): frozen models, no SimPy objects. ``sim.assembly.world``
builds the world from it. Every mechanism can be switched off or set to zero, so that a
scenario can be as small as one SKU, one location and two channels and be checked against
closed forms.
All times are seconds of simulated time (see ``sim.dists`` for the accepted spellings).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sim.capacity import (
    EffectiveChannel,
    EffectiveChannelApi,
    EffectiveErp,
    EffectiveErpApi,
    LeakyBucketLimit,
    Limit,
    WindowLimit,
)
from sim.dists import Dist, Duration, Fixed
from sim.faults import FaultError, PlannedFault
from sim.fields import MAX_COUNT, MAX_HORIZON, Count, Flag, Int, Interval, Real, SpecModel
from sim.platforms import ChannelPresetField, ErpPresetField

__all__ = [
    "DEFAULT_INTEGRATION",
    "Bundle",
    "Bus",
    "Catalogue",
    "Channel",
    "ChannelApi",
    "Costs",
    "CountLaw",
    "Customer",
    "Demand",
    "Erp",
    "ErpApi",
    "IntegrationCost",
    "Location",
    "Observability",
    "Partner",
    "Peak",
    "Posting",
    "PurchaseOrder",
    "Region",
    "Replenishment",
    "Returns",
    "Scenario",
    "ScenarioMeta",
    "ScriptedOrder",
    "Shrink",
    "Stock",
    "Trace",
    "Transfers",
    "Window",
]


class _Model(SpecModel):
    """A frozen part of a scenario (strict scalars, finite numbers; ``sim.fields``)."""


def _zero() -> Fixed:
    return Fixed(value=0.0)


class ScenarioMeta(_Model):
    id: str = Field(pattern=r"^[a-z0-9_]+-v[0-9]+$", description="versioned id, e.g. peak_week-v1")
    description: str = ""
    start: dt.datetime = dt.datetime(2026, 11, 23)
    duration: Interval = Field(
        86400.0, le=MAX_HORIZON, description="simulated seconds (at most three years)"
    )
    sample_interval: Interval = Field(300.0, description="time-series sampling period")


def _sku_keys(v: Any, what: str) -> Any:
    """A table keyed by SKU as TOML writes it (string keys) -> keyed by int."""
    if not isinstance(v, dict):
        return v
    out: dict[Any, Any] = {}
    for key, units in v.items():
        if isinstance(key, str):
            if not key.strip().isdigit():
                raise ValueError(f"{what} {key!r} is not a SKU number")
            key = int(key)
        out[key] = units
    return out


class Bundle(_Model):
    """A bundle or kit: a SKU sold as a set of other SKUs. It holds no stock of its own;
    selling one claims ``components`` (component SKU -> units per bundle)."""

    sku: Int = Field(ge=0, description="the bundle's SKU")
    components: dict[Int, Int] = Field(
        min_length=1, description="component SKU -> units of it per bundle (at least 1)"
    )

    @field_validator("components", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        """TOML keys are strings: ``{ 10 = 1 }`` names SKU 10."""
        return _sku_keys(v, "component")

    @field_validator("components")
    @classmethod
    def _units(cls, v: dict[int, int]) -> dict[int, int]:
        for sku, units in v.items():
            if sku < 0:
                raise ValueError(f"component SKU {sku} is negative")
            if units < 1:
                raise ValueError(f"component {sku}: {units} units per bundle (at least 1)")
        return v


class Catalogue(_Model):
    """The SKUs: drawn (Zipf popularity, log-uniform prices), or a distributor's own
    catalogue file (``sim.business``: one row per SKU with its code, and optionally name,
    price and popularity weights per channel), which then gives codes, names, prices and
    popularity; ``skus`` must then be its row count."""

    skus: Int = Field(ge=1, le=10_000_000)
    zipf: Real = Field(1.0, ge=0, le=10, description="popularity exponent; 0 = uniform")
    price_low: Real = Field(5.0, gt=0, le=1e9)
    price_high: Real = Field(250.0, gt=0, le=1e9)
    categories: Int = Field(12, ge=1, le=100_000)
    file: str | None = Field(
        None,
        description="CSV or Parquet: code[, name, price, share, share:CHANNEL]; "
        "relative to the scenario file",
    )
    bundles: list[Bundle] = Field(
        default_factory=list,
        description="bundles and kits: SKUs sold as sets of component SKUs (no own stock)",
    )


class Partner(_Model):
    """A partner location's terms (``docs/partners.md``): how its stock reaches the ERP (a
    full inventory file snapshotted every ``feed_interval``, landing ``feed_lag`` after its
    snapshot) and how it receives the orders the ERP routes to it (``edi``: a batch every
    ``order_interval``; ``api``: each allocation, ``order_latency`` after it)."""

    feed_interval: Interval = Field(
        4 * 3600.0, description="time between the partner's inventory snapshots (full files)"
    )
    feed_lag: Dist = Field(
        default_factory=lambda: Fixed(value=1800.0),
        description="time from a snapshot to its file landing in the ERP",
    )
    orders: Literal["edi", "api"] = Field(
        "edi", description="how the partner receives orders: EDI batches, or per order by API"
    )
    order_interval: Interval = Field(
        3600.0, description="edi: time between the order batches sent to the partner"
    )
    order_latency: Dist = Field(
        default_factory=lambda: Fixed(value=5.0),
        description="api: time from the ERP's allocation to the partner receiving the order",
    )
    restock_interval: Interval = Field(
        86400.0,
        description="dropship: the vendor brings every SKU back to its initial stock this often "
        "(its own supply, which only its feed reveals)",
    )


class Location(_Model):
    name: str = Field(min_length=1)
    kind: Literal["own", "3pl", "dropship"] = Field(
        "own",
        description="own (the company's WMS), 3pl (a third-party warehouse the company "
        "replenishes) or dropship (a vendor's own stock); a partner's stock is known only "
        "through its feed",
    )
    partner: Partner | None = Field(
        None, description="a 3pl's or dropship's feed and order terms (defaults if omitted)"
    )
    release_delay: Dist = Field(default_factory=_zero)
    pick_delay: Dist = Field(default_factory=_zero)
    ship_delay: Dist = Field(default_factory=_zero)
    transit: dict[str, Duration] = Field(
        default_factory=dict,
        description="carrier transit time from here to each customer region (scenario "
        "regions); a region not listed: 0",
    )
    ship_cost: dict[str, Real] = Field(
        default_factory=dict,
        description="shipping cost per unit from here to each customer region; not listed: 0",
    )

    @model_validator(mode="after")
    def _partner_kind(self) -> Location:
        if self.partner is not None and self.kind == "own":
            raise ValueError('a [partner] table needs kind = "3pl" or "dropship"')
        return self

    @property
    def is_partner(self) -> bool:
        """A 3PL or a drop-ship vendor: stock known only through the partner's feed."""
        return self.kind != "own"

    @property
    def terms(self) -> Partner:
        """The partner's feed and order terms (the defaults if the file gives none)."""
        return self.partner if self.partner is not None else Partner()


class Region(_Model):
    """A customer region: orders draw one, with probability proportional to ``weight``."""

    name: str = Field(min_length=1)
    weight: Real = Field(1.0, gt=0, le=1e9)


class Window(_Model):
    """A period of simulated time, as an offset from the scenario start."""

    start: Duration
    duration: Duration = Field(gt=0)

    @property
    def end(self) -> float:
        return self.start + self.duration


class ChannelApi(_Model):
    """The channel's inventory API: latency, a leaky bucket and a bulk limit."""

    latency: Dist = Field(default_factory=lambda: Fixed(value=0.2))
    bucket_size: Int = Field(
        40, ge=0, le=10**9, description="requests the bucket holds; 0: no rate limit"
    )
    leak_rate: Real = Field(2.0, gt=0, le=1e6, description="requests per second restored")
    bulk_limit: Int = Field(250, ge=1, le=10**7, description="items per inventory write")


class CountLaw(_Model):
    """An empirical law of whole numbers >= 1 (lines per order, units per line): each of
    ``values`` with probability proportional to its weight."""

    values: list[Int] = Field(min_length=1, max_length=100_000)
    weights: list[Real] = Field(min_length=1, max_length=100_000)

    @model_validator(mode="after")
    def _consistent(self) -> CountLaw:
        if len(self.values) != len(self.weights):
            raise ValueError(
                f"values and weights differ in length ({len(self.values)}, {len(self.weights)})"
            )
        if any(v < 1 for v in self.values):
            raise ValueError("values must be whole numbers >= 1")
        if any(b <= a for a, b in zip(self.values, self.values[1:], strict=False)):
            raise ValueError("values must be strictly increasing")
        if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ValueError("weights must be >= 0 with a positive sum")
        return self

    @property
    def mean(self) -> float:
        total = sum(self.weights)
        return sum(v * w for v, w in zip(self.values, self.weights, strict=True)) / total


class Customer(_Model):
    """A customer account on a B2B channel: its share of the channel's orders, its contract
    allocations (units of each SKU reserved for it, restored every ``period``), its credit
    holds and its own accept rule."""

    name: str = Field(min_length=1)
    share: Real = Field(1.0, gt=0, le=1e9, description="weight of the channel's orders it places")
    allocations: dict[Int, Int] = Field(
        default_factory=dict,
        description="contract allocation: SKU -> units reserved for this customer, restored "
        "to this quantity at the start and every period (held at the channel's locations)",
    )
    period: Interval = Field(7 * 86400.0, description="how often the allocations are restored")
    contract_share: Real = Field(
        0.8, ge=0, le=1, description="share of its order lines for SKUs it has an allocation of"
    )
    credit_hold_rate: Real = Field(
        0.0, ge=0, le=1, description="share of its orders held for credit approval"
    )
    credit_hold: Dist = Field(
        default_factory=lambda: Fixed(value=4 * 3600.0),
        description="how long a held order waits for approval before the warehouse may pick it",
    )
    accept_rule: Literal["full", "partial", "backorder"] | None = Field(
        None, description="this customer's accept rule (none: the channel's)"
    )

    @field_validator("allocations", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        """TOML keys are strings: ``{ 10 = 50 }`` reserves 50 units of SKU 10."""
        return _sku_keys(v, "allocation")

    @field_validator("allocations")
    @classmethod
    def _units(cls, v: dict[int, int]) -> dict[int, int]:
        for sku, units in v.items():
            if sku < 0:
                raise ValueError(f"allocation SKU {sku} is negative")
            if not 1 <= units <= MAX_COUNT:
                raise ValueError(f"allocation of SKU {sku}: {units} units (1 to {MAX_COUNT})")
        return v


class Channel(_Model):
    name: str = Field(min_length=1)
    kind: Literal["storefront", "marketplace", "b2b"]
    locations: list[str] = Field(min_length=1, description="locations serving it, in priority")
    orders_per_hour: Real = Field(ge=0, le=1e6, description="mean rate before profiles and peaks")
    lines_per_order: Real = Field(1.3, ge=1, le=1000, description="mean of a geometric law")
    units_per_line: Real = Field(1.2, ge=1, le=1e6, description="mean of a geometric law")
    lines_law: CountLaw | None = Field(
        None, description="an empirical law of lines per order, instead of the geometric"
    )
    units_law: CountLaw | None = Field(
        None, description="an empirical law of units per line, instead of the geometric"
    )
    hour_of_week: list[Real] | None = Field(
        None,
        description="168 rate weights from Monday 00:00 (normalised to mean 1), instead of "
        "demand.daily_profile x demand.weekly_profile",
    )
    accept_rule: Literal["full", "partial", "backorder"] = "full"
    routing: Literal["priority", "nearest", "cost"] = Field(
        "priority",
        description="how the ERP picks the location of a line: the locations' order, the "
        "shortest transit to the order's region, or the lowest shipping cost to it",
    )
    allow_splits: Flag = Field(
        True, description="a line may ship from several locations; false: one location or wait"
    )
    promise_horizon: Duration = Field(
        0.0,
        description="0: no dated promises (backorders wait erp.backorder_timeout); > 0: every "
        "accepted line is promised a ship date, a backorder waits for supply due within this "
        "horizon (else it is cancelled)",
    )
    ship_promise: Duration = Field(
        86400.0, description="promised time from acceptance (or from supply's ETA) to shipping"
    )
    preorders: Flag = Field(
        False,
        description="accept beyond stock on hand against future availability the channel "
        "shows (inbound supply due within promise_horizon)",
    )
    handoff_delay: Dist = Field(default_factory=_zero)
    pending_period: Dist = Field(default_factory=_zero)
    api: ChannelApi = Field(default_factory=ChannelApi)
    customers: list[Customer] = Field(
        default_factory=list,
        description="customer accounts of a B2B channel (contract allocations, credit holds, "
        "own accept rules); each order is placed by one, drawn by share",
    )
    preset: ChannelPresetField | None = Field(
        None,
        description="platform behaviour and limits (a name or a table with parameters: "
        "shopify, adobe_commerce, bigcommerce, amazon, or a plug-in's); fields set in [api] win",
    )

    @field_validator("hour_of_week")
    @classmethod
    def _week(cls, v: list[float] | None) -> list[float] | None:
        if v is not None:
            if len(v) != 168:
                raise ValueError(f"needs 168 hourly weights (7 x 24), got {len(v)}")
            if min(v) < 0 or sum(v) <= 0:
                raise ValueError("weights must be >= 0 with a positive sum")
        return v

    @property
    def mean_lines(self) -> float:
        """Mean lines per order of the law a run draws from."""
        return self.lines_law.mean if self.lines_law is not None else self.lines_per_order

    @property
    def mean_units(self) -> float:
        """Mean units per line of the law a run draws from."""
        return self.units_law.mean if self.units_law is not None else self.units_per_line

    @model_validator(mode="after")
    def _preset_fits_kind(self) -> Channel:
        preset = self.preset
        if preset is not None and preset.channel_kinds and self.kind not in preset.channel_kinds:
            want = " or ".join(repr(k) for k in preset.channel_kinds)
            raise ValueError(f"preset {preset.platform} needs kind = {want}, not {self.kind!r}")
        return self

    def effective(self) -> EffectiveChannel:
        """The channel as a run builds it: its preset's values with the fields set explicitly
        in ``[api]`` (and ``pending_period``) winning. An explicit rate limit
        (``bucket_size`` or ``leak_rate``) replaces the preset's whole capacity model (its
        limits, request costs and bulk limit) by the ``[api]`` table's. Computed on demand:
        the model keeps only what the file says, so a preset's defaults stay defaults
        through ``sim.scenario.with_overrides``."""
        api, explicit, preset = self.api, self.api.model_fields_set, self.preset
        own: tuple[Limit, ...] = ()
        if api.bucket_size:
            own = (LeakyBucketLimit(capacity=api.bucket_size, rate=api.leak_rate),)
        pending = self.pending_period
        if preset is None:
            eff = EffectiveChannelApi(latency=api.latency, limits=own, bulk_limit=api.bulk_limit)
            return EffectiveChannel(platform="channel", api=eff, pending_period=pending)
        eff = preset.platform_api()
        if "bucket_size" in explicit or "leak_rate" in explicit:
            eff = EffectiveChannelApi(latency=eff.latency, limits=own, bulk_limit=api.bulk_limit)
        update: dict[str, Any] = {}
        if "latency" in explicit:
            update["latency"] = api.latency
        if "bulk_limit" in explicit:
            update["bulk_limit"] = api.bulk_limit
        if "pending_period" not in self.model_fields_set:
            pending = preset.platform_pending_period() or pending
        return EffectiveChannel(
            platform=preset.platform, api=eff.model_copy(update=update), pending_period=pending
        )


class Peak(_Model):
    start: Duration
    duration: Duration = Field(gt=0)
    multiplier: Real = Field(gt=0, le=1000)


class ScriptedOrder(_Model):
    """One order line placed at an exact time (for closed-form tests and incident replays)."""

    at: Duration
    channel: str
    sku: Int = Field(ge=0)
    quantity: Int = Field(1, ge=1, le=MAX_COUNT)


class Trace(_Model):
    """Historical orders replayed exactly (``demand.source = "trace"``; ``sim.trace``)."""

    file: str = Field(
        min_length=1,
        description="CSV or Parquet of order lines: order_id, created, channel, sku, quantity "
        "(relative to the scenario file)",
    )
    scale: Real = Field(
        1.0, gt=0, le=100, description="<1 keeps each order with this probability; >1 adds copies"
    )
    jitter: Duration = Field(
        900.0, description="an added copy is placed up to this much before or after its original"
    )


class Demand(_Model):
    source: Literal["synthetic", "trace"] = Field(
        "synthetic", description="synthetic demand, or the orders of [demand.trace] replayed"
    )
    trace: Trace | None = None
    enabled: Flag = True
    daily_profile: list[Real] = Field(default_factory=lambda: [1.0] * 24)
    weekly_profile: list[Real] = Field(default_factory=lambda: [1.0] * 7)
    peaks: list[Peak] = Field(default_factory=list)
    scripted: list[ScriptedOrder] = Field(default_factory=list)

    @field_validator("daily_profile")
    @classmethod
    def _daily(cls, v: list[float]) -> list[float]:
        if len(v) != 24 or any(x < 0 for x in v) or sum(v) == 0:
            raise ValueError("expected 24 non-negative hourly weights, not all zero")
        return v

    @field_validator("weekly_profile")
    @classmethod
    def _weekly(cls, v: list[float]) -> list[float]:
        if len(v) != 7 or any(x < 0 for x in v) or sum(v) == 0:
            raise ValueError("expected 7 non-negative daily weights (Monday first), not all zero")
        return v

    @model_validator(mode="after")
    def _traced(self) -> Demand:
        if self.source == "trace" and self.trace is None:
            raise ValueError('source = "trace" needs a [demand.trace] table with its file')
        return self


class ErpApi(_Model):
    """Capacity of the ERP's integration API."""

    concurrency: Int = Field(10, ge=1, le=10**6, description="calls served at once")
    overflow: Literal["queue", "reject", "throttle"] = "queue"
    service_time: Dist = Field(default_factory=lambda: Fixed(value=0.25))
    per_item: Duration = Field(0.0005, description="extra service seconds per item in a call")
    reject_latency: Duration = 0.05
    window: Interval = Field(300.0, description="rate window for overflow = throttle")
    window_requests: Int = Field(0, ge=0, le=10**9, description="requests per window; 0: no window")
    maintenance: list[Window] = Field(default_factory=list)
    error_code: str = "REQUEST_LIMIT_EXCEEDED"


class Posting(_Model):
    """How WMS movements reach the ERP record."""

    mode: Literal["realtime", "delay", "batch"] = "realtime"
    delay: Dist = Field(default_factory=_zero)
    interval: Interval = 900.0


class Replenishment(_Model):
    enabled: Flag = True
    review_interval: Interval = 86400.0
    lead_time: Dist = Field(default_factory=lambda: Fixed(value=4 * 86400.0))
    slip_rate: Real = Field(
        0.0, ge=0, le=1, description="share of purchase orders that arrive after their ETA"
    )
    slip_delay: Dist = Field(
        default_factory=lambda: Fixed(value=2 * 86400.0), description="how late a slip arrives"
    )
    reorder_cover_days: Real = Field(5.0, ge=0, le=3650)
    order_up_to_days: Real = Field(12.0, ge=0, le=3650)


class PurchaseOrder(_Model):
    """A purchase order placed at ``at`` for ``qty`` of ``sku`` to ``location``, due ``lead``
    later (its ETA), and arriving ``slip`` after its ETA (the ERP learns of a slip at the ETA).
    """

    sku: Int = Field(ge=0)
    location: str
    qty: Int = Field(ge=1, le=MAX_COUNT)
    at: Duration = 0.0
    lead: Duration = 4 * 86400.0
    slip: Duration = 0.0


class Erp(_Model):
    backorder_timeout: Duration = Field(
        0.0, description="how long an unallocatable line waits for stock before it is cancelled"
    )
    purchase_orders: list[PurchaseOrder] = Field(
        default_factory=list, description="scripted purchase orders, beside replenishment's"
    )
    api: ErpApi = Field(default_factory=ErpApi)
    posting: Posting = Field(default_factory=Posting)
    replenishment: Replenishment = Field(default_factory=Replenishment)
    preset: ErpPresetField | None = Field(
        None,
        description="platform limits (a name or a table with parameters: netsuite, dynamics, "
        "or a plug-in's); fields set in [erp.api] win",
    )

    def effective(self) -> EffectiveErp:
        """The ERP's API as a run builds it: the preset's capacity model with the fields set
        explicitly in ``[erp.api]`` (concurrency, overflow, service_time, error_code)
        winning; ``window_requests`` adds a window limit when set explicitly, or always
        without a preset. Computed on demand (see ``Channel.effective``)."""
        api, explicit, preset = self.api, self.api.model_fields_set, self.preset
        if preset is None:
            eff = EffectiveErpApi(
                concurrency=api.concurrency, overflow=api.overflow,
                service_time=api.service_time, error_code=api.error_code,
            )  # fmt: skip
        else:
            eff = preset.platform_api()
        update: dict[str, Any] = {
            name: getattr(api, name)
            for name in ("concurrency", "overflow", "service_time", "error_code")
            if name in explicit
        }
        if api.window_requests and (preset is None or "window_requests" in explicit):
            own = WindowLimit(limit=api.window_requests, window=api.window)
            update["limits"] = (*eff.limits, own)
        platform = preset.platform if preset is not None else "erp"
        return EffectiveErp(platform=platform, api=eff.model_copy(update=update))


class Stock(_Model):
    """Initial stock: days of expected demand, drawn uniformly per SKU and location; or a
    stock snapshot file (``sim.business``: sku, location, on_hand; a pair it does not list
    starts at 0)."""

    cover_days_low: Real = Field(3.0, ge=0, le=3650)
    cover_days_high: Real = Field(15.0, ge=0, le=3650)
    min_units: Count = 1
    fixed_units: Count | None = Field(None, description="same quantity everywhere")
    snapshot: str | None = Field(
        None,
        description="CSV or Parquet: sku, location, on_hand; relative to the scenario file",
    )
    launch_skus: list[Int] = Field(
        default_factory=list,
        description="new SKUs: no stock anywhere at the start, and no replenishment (their "
        "supply is erp.purchase_orders)",
    )


class Returns(_Model):
    """Customer returns: they arrive ``delay`` after shipping, wait ``qc_delay`` in quality
    hold, then ``restock_fraction`` goes back to stock and the rest is scrapped.

    ``counted`` is the record-keeping policy: ``after_qc`` (the WMS record keeps returns in
    quality hold until QC releases them) or ``at_receipt`` (the record books them straight
    into sellable stock when they arrive and writes scrapped units off after QC; the truth
    still cannot sell them before QC, so every system over-shows them meanwhile).
    """

    enabled: Flag = False
    counted: Literal["after_qc", "at_receipt"] = "after_qc"
    rate: dict[str, Real] = Field(
        default_factory=lambda: {"storefront": 0.08, "marketplace": 0.05, "b2b": 0.02},
        description="share of shipped units returned, by channel kind or channel name",
    )
    delay: Dist = Field(default_factory=lambda: Fixed(value=5 * 86400.0))
    qc_delay: Dist = Field(default_factory=lambda: Fixed(value=86400.0))
    restock_fraction: Real = Field(0.8, ge=0, le=1)

    @field_validator("rate")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        for key, r in v.items():
            if not 0 <= r <= 1:
                raise ValueError(f"return rate for {key} must be in [0, 1], got {r}")
        return v

    def rate_of(self, channel: Channel) -> float:
        """The channel's return rate: by its name if ``rate`` names it, else by its kind."""
        return self.rate.get(channel.name, self.rate.get(channel.kind, 0.0))


class Transfers(_Model):
    enabled: Flag = False
    interval: Interval = 86400.0
    lead_time: Dist = Field(default_factory=lambda: Fixed(value=2 * 86400.0))


class Shrink(_Model):
    enabled: Flag = False
    rate_per_day: Real = Field(
        0.001, ge=0, le=1e4, description="units lost per unit of shelf stock per day (a rate)"
    )
    interval: Interval = 3600.0
    count_interval: Interval = 86400.0
    count_fraction: Real = Field(0.1, ge=0, le=1)


class Observability(_Model):
    """What the run's monitoring signals measure against (docs/observability.md)."""

    divergence_threshold: Int = Field(
        2,
        ge=0,
        le=MAX_COUNT,
        description="a (channel, SKU) pair breaches while |shown - true| exceeds this many units",
    )


class Bus(_Model):
    """The message bus used by event-driven strategies (Kafka-like).

    Topics have ``partitions`` keyed by SKU; order is kept within a partition. Delivery is
    at-least-once: ``duplicate_rate`` of deliveries are delivered again ``duplicate_delay``
    later; ``reorder_jitter`` adds independent random delay per message so that messages of
    different partitions overtake each other; in non-durable mode ``loss_rate`` of published
    messages are dropped. Unacknowledged messages are redelivered after ``ack_timeout``; a
    message that fails ``max_deliveries`` times goes to the group's dead-letter queue.
    """

    partitions: Int = Field(16, ge=1, le=10_000)
    latency: Dist = Field(default_factory=lambda: Fixed(value=0.05))
    reorder_jitter: Dist = Field(default_factory=_zero)
    duplicate_rate: Real = Field(0.0, ge=0, le=1)
    duplicate_delay: Dist = Field(default_factory=lambda: Fixed(value=30.0))
    durable: Flag = True
    loss_rate: Real = Field(0.0, ge=0, le=1)
    retention: Interval = 7 * 86400.0
    ack_timeout: Interval = 30.0
    max_deliveries: Int = Field(5, ge=1, le=1000)

    @model_validator(mode="after")
    def _durable_loses_nothing(self) -> Bus:
        if self.durable and self.loss_rate > 0:
            raise ValueError("loss_rate must be 0 on a durable bus (set durable = false)")
        return self


class IntegrationCost(_Model):
    """What an integration itself costs: subscriptions and licences, its build amortized,
    and per-call fees. ``sim.tools.decide`` turns it into a cost per week."""

    monthly: Real = Field(
        0.0, ge=0, le=1e9, description="licences, subscriptions, middleware, hosting per month"
    )
    build: Real = Field(0.0, ge=0, le=1e10, description="one-off build cost, amortized")
    amortize_months: Real = Field(36.0, gt=0, le=600, description="months the build is spread over")
    per_erp_call: Real = Field(0.0, ge=0, le=1e6, description="fee per ERP API call")
    per_channel_call: Real = Field(0.0, ge=0, le=1e6, description="fee per channel API call")


#: what each built-in integration costs when the scenario says nothing (illustrative list
#: prices in the scenario's currency, shown as defaults wherever they are used): batch is a
#: scheduled export; api a connector per channel; event a managed event bus; orchestrated an
#: integration-platform licence. The floors cost nothing: they are not integrations.
DEFAULT_INTEGRATION: dict[str, IntegrationCost] = {
    "batch": IntegrationCost(monthly=300.0, build=15_000.0),
    "api": IntegrationCost(monthly=600.0, build=35_000.0),
    "event": IntegrationCost(monthly=2_000.0, build=60_000.0),
    "orchestrated": IntegrationCost(monthly=4_000.0, build=40_000.0),
}


class Costs(_Model):
    """What the business feels, per scenario: turns metrics into money and hours."""

    currency: str = Field("USD", min_length=1, max_length=8)
    oversell_cost_per_line: Real = Field(
        25.0, ge=0, le=1e9, description="handling, service, penalty"
    )
    lost_margin_rate: Real = Field(0.3, ge=0, le=1, description="margin share of a lost sale")
    reconciliation_minutes_per_line: Real = Field(
        6.0, ge=0, le=1e6, description="manual fix-up work"
    )
    hourly_rate: Real = Field(45.0, ge=0, le=1e9)
    allocation_breach_cost_per_unit: Real = Field(
        0.0,
        ge=0,
        le=1e9,
        description="contract penalty or service credit per reserved unit sold to someone "
        "else (allocation_breach_units; B2B customer allocations)",
    )
    integration: dict[str, IntegrationCost] = Field(
        default_factory=dict,
        description="per strategy name: [costs.integration.NAME] (defaults for the built-ins)",
    )

    def integration_for(self, strategy: str) -> tuple[IntegrationCost, bool]:
        """The integration cost of ``strategy`` (a name, ``module:Class`` or a sweep label
        ``name[...] @ ...``) and whether it is the built-in default rather than the scenario's."""
        if strategy in self.integration:
            return self.integration[strategy], False
        base = strategy.split(" @ ", 1)[0].split("[", 1)[0]
        if base in self.integration:
            return self.integration[base], False
        return DEFAULT_INTEGRATION.get(base, IntegrationCost()), True

    def defaults(self) -> list[str]:
        """The cost parameters the scenario did not set (their defaults are used)."""
        fields = [k for k in type(self).model_fields if k != "integration"]
        return [k for k in fields if k not in self.model_fields_set]


class Scenario(_Model):
    """A validated scenario. ``strategies`` holds per-strategy parameter tables, checked
    against each strategy's own parameter dataclass when the strategy is built."""

    scenario: ScenarioMeta
    catalogue: Catalogue
    locations: list[Location] = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)
    regions: list[Region] = Field(
        default_factory=list,
        description="customer regions (each order draws one); none: orders have no region",
    )
    demand: Demand = Field(default_factory=Demand)
    stock: Stock = Field(default_factory=Stock)
    erp: Erp = Field(default_factory=Erp)
    returns: Returns = Field(default_factory=Returns)
    transfers: Transfers = Field(default_factory=Transfers)
    shrink: Shrink = Field(default_factory=Shrink)
    observability: Observability = Field(default_factory=Observability)
    bus: Bus = Field(default_factory=Bus)
    faults: list[PlannedFault] = Field(
        default_factory=list,
        description="the fault plan: tables validated by their kind's class (sim.faults)",
    )
    costs: Costs = Field(default_factory=Costs)
    strategies: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        names = [loc.name for loc in self.locations]
        if len(set(names)) != len(names):
            raise ValueError(f"location names must be unique, got {names}")
        chans = [c.name for c in self.channels]
        if len(set(chans)) != len(chans):
            raise ValueError(f"channel names must be unique, got {chans}")
        for i, ch in enumerate(self.channels):
            for loc in ch.locations:
                if loc not in names:
                    raise ValueError(
                        f"channels.{i}.locations: unknown location {loc!r} (known: {names})"
                    )
        regions = [r.name for r in self.regions]
        if len(set(regions)) != len(regions):
            raise ValueError(f"region names must be unique, got {regions}")
        for i, place in enumerate(self.locations):
            for field in ("transit", "ship_cost"):
                for key in getattr(place, field):
                    if key not in regions:
                        raise ValueError(
                            f"locations.{i}.{field}: unknown region {key!r} (known: {regions})"
                        )
        bundled = {b.sku for b in self.catalogue.bundles}
        for i, ch in enumerate(self.channels):
            if ch.routing != "priority" and not regions:
                raise ValueError(f"channels.{i}.routing: {ch.routing!r} needs [[regions]]")
            if ch.preorders and ch.promise_horizon <= 0:
                raise ValueError(f"channels.{i}.preorders: needs a promise_horizon > 0")
            if ch.customers and ch.kind != "b2b":
                raise ValueError(f"channels.{i}.customers: only a b2b channel has accounts")
            accounts = [a.name for a in ch.customers]
            if len(set(accounts)) != len(accounts):
                raise ValueError(f"channels.{i}.customers: names must be unique, got {accounts}")
            for j, acc in enumerate(ch.customers):
                for sku in acc.allocations:
                    where = f"channels.{i}.customers.{j}.allocations"
                    if sku >= self.catalogue.skus:
                        raise ValueError(f"{where}: SKU {sku} >= catalogue.skus")
                    if sku in bundled:
                        raise ValueError(f"{where}: SKU {sku} is a bundle (allocate components)")
        for i, po in enumerate(self.erp.purchase_orders):
            if po.sku in bundled:
                raise ValueError(f"erp.purchase_orders.{i}.sku: {po.sku} is a bundle (no stock)")
            if po.location not in names:
                raise ValueError(
                    f"erp.purchase_orders.{i}.location: unknown location {po.location!r}"
                )
            if self.locations[names.index(po.location)].kind == "dropship":
                raise ValueError(
                    f"erp.purchase_orders.{i}.location: {po.location!r} is a drop-ship vendor "
                    "(its stock is its own)"
                )
            if po.sku >= self.catalogue.skus:
                raise ValueError(f"erp.purchase_orders.{i}.sku: {po.sku} >= catalogue.skus")
        n_sku = self.catalogue.skus
        if len(bundled) != len(self.catalogue.bundles):
            raise ValueError("catalogue.bundles: a SKU is defined as a bundle twice")
        for i, b in enumerate(self.catalogue.bundles):
            if b.sku >= n_sku:
                raise ValueError(f"catalogue.bundles.{i}.sku: {b.sku} >= catalogue.skus")
            for sku in b.components:
                if sku >= n_sku:
                    raise ValueError(f"catalogue.bundles.{i}.components: {sku} >= catalogue.skus")
                if sku in bundled:
                    raise ValueError(f"catalogue.bundles.{i}.components: {sku} is a bundle itself")
        for i, k in enumerate(self.stock.launch_skus):
            if not 0 <= k < self.catalogue.skus:
                raise ValueError(f"stock.launch_skus.{i}: {k} is not a SKU of the catalogue")
        for key in self.returns.rate:
            if key not in ("storefront", "marketplace", "b2b") and key not in chans:
                raise ValueError(
                    f"returns.rate: {key!r} is neither a channel kind nor a channel ({chans})"
                )
        for i, o in enumerate(self.demand.scripted):
            if o.channel not in chans:
                raise ValueError(f"demand.scripted.{i}.channel: unknown channel {o.channel!r}")
            if o.sku >= self.catalogue.skus:
                raise ValueError(f"demand.scripted.{i}.sku: {o.sku} >= catalogue.skus")
        if self.catalogue.price_high < self.catalogue.price_low:
            raise ValueError("catalogue.price_high must be >= catalogue.price_low")
        if self.stock.cover_days_high < self.stock.cover_days_low:
            raise ValueError("stock.cover_days_high must be >= stock.cover_days_low")
        for i, f in enumerate(self.faults):
            if f.end > self.scenario.duration:
                raise ValueError(f"faults.{i}: ends after the scenario (no healed phase)")
            try:
                f.check(self)
            except FaultError as exc:
                where = f"faults.{i}.{exc.field}" if exc.field else f"faults.{i}"
                raise ValueError(f"{where}: {exc.why}") from None
        return self

    @property
    def id(self) -> str:
        return self.scenario.id

    def resolved(self) -> dict[str, Any]:
        """The scenario as a run uses it, as plain data: every default filled in, every
        preset with all its parameters, and each channel's and the ERP's ``effective``
        values (``Channel.effective``, ``Erp.effective``): what the world is built from."""
        out = self.model_dump(mode="json", by_alias=True)
        for raw, ch in zip(out["channels"], self.channels, strict=True):
            raw["effective"] = ch.effective().model_dump(mode="json", by_alias=True)
        out["erp"]["effective"] = self.erp.effective().model_dump(mode="json", by_alias=True)
        return out

    @property
    def duration(self) -> float:
        return self.scenario.duration

    def location_index(self, name: str) -> int:
        return [loc.name for loc in self.locations].index(name)
