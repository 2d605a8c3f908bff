"""The strategy contract: what a sync strategy is given, and what it may do with it.

A strategy's ``start(env, systems)`` receives a ``Systems``: the integration APIs of the ERP
(``ErpApi``), the WMS (``WmsApi``), each sales channel (``ChannelApi``) and, when the
scenario has one, the message bus (``BusApi``), plus the catalogue, the locations, the
strategy's own random stream and a few helpers. Every read and write on these APIs is a call
that costs simulated time and the system's capacity, and may be refused (a ``Reply`` with a
status, never an exception). The floors (``oracle``, ``perfect``) also get ``TruthFeed``:
instant, free, privileged hooks on the record and the truth (``FloorSystems``); no other
strategy does.

The records those calls answer with (``Reply``, ``Snapshot``, ``ChangeFeed``, ``OrderEvent``,
``ImportResult``, ``Movement``, ``StaleWrite``, ``OrdersPage``, ``InventoryPage``,
``Message``) live here, in the kernel, so that strategies and mocks share them without
importing each other. The protocols are structural (PEP 544): the mocks satisfy them without
inheriting, and so may a user's own fakes in a unit test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import numpy as np

from sim.ledger import Line, Order

if TYPE_CHECKING:
    import httpx
    import simpy

    from sim.bridge import SimRuntime
    from sim.products import Catalogue

__all__ = [
    "ApiError",
    "Atp",
    "BusApi",
    "Call",
    "ChangeFeed",
    "ChannelApi",
    "ConsumerGroupApi",
    "ContractAllocations",
    "ErpApi",
    "FloorSystems",
    "FulfillmentLine",
    "ImportResult",
    "InventoryPage",
    "ItemErrors",
    "Message",
    "Movement",
    "OrderEvent",
    "OrdersPage",
    "Provenance",
    "Reply",
    "Server",
    "SignalsApi",
    "Snapshot",
    "StaleWrite",
    "Systems",
    "TruthFeed",
    "WmsApi",
    "truth_feed",
]

Call: TypeAlias = "simpy.Event"
"""An integration call in flight: a SimPy event whose value is the call's ``Reply``
(``reply = yield call``)."""

FulfillmentLine: TypeAlias = tuple[int, int, int, int, str]
"""``(order_id, line_id, sku, qty, kind)``, ``kind`` ``"shipped"`` or ``"cancelled"``."""


# -- records ---------------------------------------------------------------------------------
@dataclass(slots=True)
class Reply:
    """The outcome of one integration call."""

    status: int = 200
    value: Any = None
    retry_after: float | None = None
    error: str | None = None
    latency: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status < 400

    def raise_for_status(self) -> Reply:
        if not self.ok:
            raise ApiError(self)
        return self


class ApiError(Exception):
    """Raised by ``Reply.raise_for_status`` for a refused or failed call."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.status} {reply.error or ''}".strip())
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Stock per (location, SKU) for ``skus``, as one system's record at time ``at``.

    ``committed`` is what the ERP has allocated to order lines, ``released`` what the WMS
    has released for picking and not yet shipped or shorted: each system keeps one of them
    (the other is zeros). ``available`` = on_hand - committed - released - hold, from either
    system's record; ``as_of`` is the truth time each value is current to (see
    ``sim.provenance``).
    """

    skus: np.ndarray
    on_hand: np.ndarray
    committed: np.ndarray
    released: np.ndarray
    hold: np.ndarray
    in_transit: np.ndarray
    as_of: np.ndarray
    at: float

    @property
    def available(self) -> np.ndarray:
        return self.on_hand - self.committed - self.released - self.hold


@dataclass(frozen=True, slots=True)
class Atp:
    """Available to promise with dates for one channel, per SKU of ``skus``: ``now`` units
    free at its locations (less backorders queued ahead), ``later`` further units that inbound
    supply due within the channel's promise horizon brings, all in by ``by`` (0 where
    ``later`` is 0), as the ERP knows it at time ``at``."""

    skus: np.ndarray
    now: np.ndarray
    later: np.ndarray
    by: np.ndarray
    at: float


@dataclass(frozen=True, slots=True)
class ContractAllocations:
    """B2B contract allocations as the ERP records them at time ``at``: per SKU of
    ``skus``, the units reserved for customers of other B2B channels that share a location
    with the channel asked about (``sim.contracts``): what that channel should not sell."""

    skus: np.ndarray
    reserved: np.ndarray
    at: float


@dataclass(frozen=True, slots=True)
class ChangeFeed:
    """The answer to a delta query: the SKUs changed after the cursor, the ERP's change
    stamp of each (its own clock), and the ERP's clock when it answered (the next cursor)."""

    skus: np.ndarray
    stamps: np.ndarray
    clock: float


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """An ERP order event: a line ``allocated`` to a location, ``shipped`` from it (posted)
    or ``cancelled`` (``qty`` units). ``seqs`` are the truth changes it carries (a
    cancellation releases claims)."""

    kind: str
    line: Line
    loc: int
    qty: int
    t: float
    seqs: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportResult:
    order_id: int
    duplicate: bool
    allocated: int
    cancelled: int


@dataclass(slots=True)
class Movement:
    """One WMS record change, as posted to the ERP and published to subscribers.

    Kinds: receipt, ship, short (a short pick), return, qc_release, scrap, transfer_out,
    transfer_in, count (a cycle-count adjustment) and release (a line released for picking;
    not posted, only published; its claim moves to the released stock in the truth); what
    each does per unit to the truth and to each record is ``sim.movements.MOVEMENTS``.
    ``seqs`` are the truth changes it carries (a system takes them in when it applies the
    movement). ``version``, ``on_hand``, ``hold`` and
    ``released`` are the WMS record of (loc, sku) right after the movement: the version
    increases by one with every change of that record. A transfer out carries its ``eta`` at
    ``dst`` (the shipping notice); other kinds have ``eta = -1``.
    """

    kind: str
    loc: int
    sku: int
    qty: int
    t: float
    seqs: list[int] = field(default_factory=list)
    line: Line | None = None
    dst: int = -1
    version: int = 0
    on_hand: int = 0
    hold: int = 0
    released: int = 0
    eta: float = -1.0


@dataclass(frozen=True, slots=True)
class StaleWrite:
    """A refused compare-and-swap: the SKUs whose shown quantity was not the expected one."""

    skus: np.ndarray
    actual: np.ndarray


@dataclass(frozen=True, slots=True)
class ItemErrors:
    """A write served (200) with some items refused one by one, as Shopify's ``userErrors``:
    ``skus`` did not land (``error`` says why, e.g. ``UNMAPPED_SKU``: the channel's listing
    has no mapping for them); every other item of the write applied."""

    skus: np.ndarray
    error: str


@dataclass(frozen=True, slots=True)
class OrdersPage:
    orders: list[Order]
    cursor: int


@dataclass(frozen=True, slots=True)
class InventoryPage:
    skus: np.ndarray
    shown: np.ndarray
    as_of: np.ndarray


@dataclass(slots=True)
class Message:
    """One published message; each delivery hands the handler a copy with ``delivery`` set.

    ``id`` counts publish calls (a lost message uses one too), ``t`` is the publish time and
    ``delivery`` is 1 for the first delivery to the group being called, 2.. for redeliveries
    (refusals, duplicates, restarts and replays); 0 on the bus's own record.
    """

    id: int
    topic: str
    partition: int
    offset: int
    key: int
    t: float
    payload: Any
    delivery: int = 0


# -- the integration APIs --------------------------------------------------------------------
class ErpApi(Protocol):
    """The ERP's integration API (one ``ApiServer``: its capacity, limits and faults)."""

    def export_availability(self, skus: Any = None) -> Call:
        """A stock export, a ``Snapshot`` (all SKUs by default); one call costing per item."""
        ...

    def changed_skus(self, since: float) -> Call:
        """SKUs whose availability changed after ``since`` on the ERP's clock (delta query)."""
        ...

    def changes(self, since: float) -> Call:
        """The delta query with each SKU's change stamp and the ERP's clock: a ``ChangeFeed``."""
        ...

    def check_atp(self, skus: Sequence[int], channel: int) -> Call:
        """Available to promise for ``channel`` per SKU now (a synchronous checkout call)."""
        ...

    def available_to_promise(self, skus: Any, channel: int) -> Call:
        """Available to promise with dates for ``channel``: an ``Atp`` (units free now, and
        units inbound supply brings within the channel's promise horizon, with their date)."""
        ...

    def push_read(self, skus: Any) -> Call:
        """The ERP reading its own record to push a change out (costs ERP capacity)."""
        ...

    def import_orders(self, orders: Sequence[Order]) -> Call:
        """Create sales orders (allocate, cancel what cannot be, release the rest); a list of
        ``ImportResult``. Importing an order twice is harmless (``duplicate``)."""
        ...

    def subscribe_changes(self, fn: Callable[[int], None]) -> None:
        """``fn(sku)`` whenever the ERP's availability of ``sku`` changes (a change event)."""
        ...

    def subscribe(self, fn: Callable[[OrderEvent], None]) -> None:
        """``fn(event)`` for every order event (allocated, shipped, cancelled)."""
        ...

    def subscribe_inbound(self, fn: Callable[[int], None]) -> None:
        """``fn(sku)`` whenever inbound supply of ``sku`` changes in the ERP (a purchase order
        placed, re-dated or received; a transfer dispatched or arrived)."""
        ...

    def contract_allocations(self, skus: Any, channel: int) -> Call:
        """B2B contract allocations ``channel`` should keep out of what it sells: a
        ``ContractAllocations`` (all SKUs by default); one call costing per item."""
        ...

    def subscribe_allocations(self, fn: Callable[[np.ndarray], None]) -> None:
        """``fn(skus)`` whenever the ERP's allocation record of ``skus`` changes (a contract
        period restored, a customer's order taken in)."""
        ...

    def subscribe_partner(self, fn: Callable[[Movement], None]) -> None:
        """``fn(movement)`` for what the ERP learns of a partner location (3PL, drop-ship;
        docs/partners.md): ``release`` and ``short`` as the partner acknowledges orders, and
        ``feed`` per SKU its inventory file changed (``on_hand``, ``hold``, ``released``: the
        ERP's record after it, ``version`` increasing per (location, SKU)). Partner
        locations' stock never comes through the WMS."""
        ...


class WmsApi(Protocol):
    """The WMS's integration API."""

    def read_stock(self, skus: Any = None) -> Call:
        """The WMS stock record, a ``Snapshot``; one call costing per item."""
        ...

    def subscribe(self, fn: Callable[[Movement], None]) -> None:
        """``fn(movement)`` for every stock movement, when it happens."""
        ...

    def initial_stock(self) -> Snapshot:
        """The go-live load: the WMS record at t = 0, as a consumer or middleware is seeded
        before it goes live (outside the measured window, so free). Only at t = 0."""
        ...


class ChannelApi(Protocol):
    """One sales channel's integration API (latency, rate limits, bulk limit)."""

    @property
    def index(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str:
        """``storefront``, ``marketplace`` or ``b2b``."""
        ...

    @property
    def bulk_limit(self) -> int:
        """SKUs one ``set_inventory`` may carry."""
        ...

    @property
    def page_size(self) -> int:
        """Orders one ``fetch_orders`` page holds by default."""
        ...

    @property
    def needs_fulfillment(self) -> bool:
        """Whether the platform holds stock against open orders until told they shipped or
        were cancelled (``fulfill``)."""
        ...

    @property
    def shows_what_is_written(self) -> bool:
        """Whether a read-back shows the quantity a write set (less the channel's own sales
        since); a platform that derives what it sells from it (Adobe Commerce's salable
        quantity: source less threshold and reservations) does not."""
        ...

    @property
    def takes_preorders(self) -> bool:
        """Whether the channel sells against future availability (``set_incoming``)."""
        ...

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Call:
        """Overwrite what is shown for up to ``bulk_limit`` SKUs, current to truth time
        ``as_of``; with ``expected``, a compare-and-swap (409 ``STALE_QUANTITY``)."""
        ...

    def set_incoming(self, skus: Any, values: Any, at: Any) -> Call:
        """Future availability of up to ``bulk_limit`` SKUs: ``values`` units available by
        time ``at`` (a pre-order channel sells them promised from that date)."""
        ...

    def read_inventory(self, skus: Any = None) -> Call:
        """What the channel shows now: an ``InventoryPage``."""
        ...

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Call:
        """Orders handed off to the integration from ``cursor``: an ``OrdersPage``."""
        ...

    def subscribe_orders(self, fn: Callable[[Order], Any]) -> None:
        """Order webhook: ``fn(order)`` when an order is handed off (at least once)."""
        ...

    def fulfill(self, lines: Sequence[FulfillmentLine]) -> Call:
        """Tell the channel order lines shipped or were cancelled (one request)."""
        ...

    def set_checkout(self, hook: Callable[[Any, list[int], list[int]], Any] | None) -> None:
        """A synchronous checkout hook ``hook(channel, skus, cart) -> event`` whose value is
        the accepted quantity per line (an ATP check at checkout); ``None`` removes it."""
        ...


class ConsumerGroupApi(Protocol):
    """One consumer group on one topic (``BusApi.subscribe``).

    A ``consumer_crash`` fault takes it down (``down``): deliveries are refused as if the
    handler returned ``False``, then, on restart, the dead letters are replayed unless
    ``replay_on_restart`` is set to ``False``. To crash it some other way, register a switch
    ``consumer:<group>`` in ``Systems.fault_targets``: the fault calls it instead."""

    replay_on_restart: bool

    @property
    def name(self) -> str: ...
    @property
    def down(self) -> bool:
        """Crashed by a fault, not restarted yet."""
        ...

    @property
    def dlq(self) -> list[Message]:
        """Dead letters: messages refused ``max_deliveries`` times."""
        ...

    def replay_dlq(self) -> int:
        """Deliver every dead letter once more now; how many were taken."""
        ...

    def unacknowledged(self) -> list[Message]:
        """Retained messages this group has not acknowledged yet."""
        ...

    def lag(self) -> int:
        """Messages published (not lost) and not yet acknowledged by this group."""
        ...


class BusApi(Protocol):
    """The message bus (Kafka-like; see ``mocks.bus``)."""

    def publish(self, topic: str, key: int, payload: Any) -> Message | None:
        """Append a message to partition ``key % partitions``; ``None`` if lost."""
        ...

    def subscribe(
        self, topic: str, group: str, handler: Callable[[Message], bool | None]
    ) -> ConsumerGroupApi:
        """Attach ``handler`` as consumer group ``group`` of ``topic``; ``False`` refuses a
        delivery (redelivered later, then dead-lettered)."""
        ...


class Server(Protocol):
    """A capacity-limited server of the strategy's own (a middleware's reservation API):
    ``call(items, effect)`` waits for a slot, holds it for its service time, then applies
    ``effect`` (its return value is the ``Reply``'s value)."""

    def call(self, items: int = 1, effect: Callable[[], Any] | None = None) -> Call: ...


class TruthFeed(Protocol):
    """Privileged, instant and free hooks on the record and the truth: the floors only."""

    def on_change(self, fn: Callable[[int, int], None]) -> None: ...
    def on_truth(self, fn: Callable[[int, int], None]) -> None: ...
    def on_accept(self, fn: Callable[[Order], None]) -> None: ...
    def record_available(self, channel: int, sku: int) -> tuple[int, float]: ...
    def true_available(self, channel: int, sku: int) -> int: ...
    def write(self, channel: int, sku: int, value: int, as_of: float) -> None: ...
    def import_order(self, order: Order) -> None: ...
    def on_inbound(self, fn: Callable[[int], None]) -> None: ...
    def incoming(self, channel: int, sku: int) -> tuple[int, float]: ...
    def write_incoming(self, channel: int, sku: int, value: int, at: float) -> None: ...


class Provenance(Protocol):
    """Provenance views of the strategy's own (see ``sim.provenance``)."""

    def add_view(self, name: str) -> Any: ...


class SignalsApi(Protocol):
    """Operational signals a strategy reports itself (``sim.signals``,
    docs/observability.md): the monitoring its team would see."""

    def count(self, name: str, channel: int | None = None, n: float = 1.0) -> None:
        """Add ``n`` to ``reconciliation_exceptions`` (drift a reconciler found),
        ``updates_dead_lettered`` (updates parked for good) or ``updates_refused`` (items
        a reply refused one by one) of channel ``channel`` (``None``: run-wide only)."""
        ...


class Systems(Protocol):
    """What ``SyncStrategy.start(env, systems)`` is given."""

    @property
    def env(self) -> simpy.Environment: ...
    @property
    def erp(self) -> ErpApi: ...
    @property
    def wms(self) -> WmsApi: ...
    @property
    def channels(self) -> Sequence[ChannelApi]: ...
    @property
    def bus(self) -> BusApi:
        """The message bus (its settings: the scenario's ``[bus]`` table)."""
        ...

    @property
    def catalogue(self) -> Catalogue: ...
    @property
    def locations(self) -> list[str]: ...
    @property
    def rng(self) -> np.random.Generator:
        """The strategy's own random stream (independent of every other)."""
        ...

    @property
    def provenance(self) -> Provenance: ...
    @property
    def probes(self) -> dict[str, Callable[[], float]]:
        """Extra time series: ``name -> fn()`` sampled every ``sample_interval``."""
        ...

    @property
    def fault_targets(self) -> dict[str, Callable[[bool], None]]:
        """Components of the strategy's own a fault plan may take down (``middleware``,
        ``consumer:<group>`` to replace the bus's own crash); ``fn(True)`` down."""
        ...

    @property
    def signals(self) -> SignalsApi:
        """Operational signals the strategy reports (reconciliation exceptions, dead
        letters): series, metrics and the OpenMetrics export (docs/observability.md)."""
        ...

    @property
    def runtime(self) -> SimRuntime:
        """Runs blocking (httpx) connector code in simulated time (``sim.bridge``)."""
        ...

    def http(self, system: str | int) -> httpx.Client:
        """An httpx client served by a system's HTTP facade (``"erp"``, a channel's index
        or name)."""
        ...

    def channel(self, name: str) -> ChannelApi: ...
    def serve(self, channel: int) -> list[int]:
        """Locations serving ``channel``, in priority order."""
        ...

    def server(self, name: str, *, concurrency: int | None, service_time: Any = None) -> Server:
        """A server of the strategy's own (queueing when every slot is busy)."""
        ...


def truth_feed(systems: Systems) -> TruthFeed:
    """The floors' privileged feed (``FloorSystems.oracle``); ``TypeError`` for any other
    strategy: real strategies read the systems through their integration APIs."""
    feed: TruthFeed | None = getattr(systems, "oracle", None)
    if feed is None:
        raise TypeError(
            "systems.oracle is the reference floors' privileged feed; a strategy reads the "
            "systems through their integration APIs"
        )
    return feed


class FloorSystems(Systems, Protocol):
    """What the floors (``oracle``, ``perfect``) are given: ``Systems`` and the truth feed."""

    @property
    def oracle(self) -> TruthFeed: ...
