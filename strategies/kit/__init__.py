"""The public strategy kit: what the built-in strategies are made of, for yours too.

Import from here (``from strategies.kit import call_with_retry, StockView, ...``); the
submodules are an implementation detail. Everything works on the ``sim.contract`` APIs, so a
strategy built from the kit runs the same directly and over HTTP (``--transport http``).

Calls (``strategies.kit.calls``)
    ``call_with_retry`` (429 Retry-After honoured exactly, other failures retried with
    full-jitter exponential ``backoff``), ``push_availability`` (pages of at most the
    channel's bulk limit, then ``until_applied`` for channels that apply writes later, as
    Amazon's feeds), ``push_incoming`` (future availability from the ERP's dated ATP to a
    channel that takes pre-orders), ``import_until_taken`` (an order import that never
    gives up: parked and retried), ``ClientStats`` (what the client side saw, for a
    strategy's ``metrics``).
Stock view (``strategies.kit.view``)
    ``Publisher`` (WMS movements, ERP cancellations and channel orders as ``StockEvent``
    messages on the bus topic ``TOPIC``), ``StockView`` (a consumer's picture of stock built
    from those events, idempotent or not, with exact provenance), ``Dirty`` (SKUs to flush,
    gathered over an interval) and ``queue_record`` (the view's queue for the no-loss check).
Fulfillment (``strategies.kit.fulfillment``)
    ``FulfillmentSync``: ERP ``shipped`` / ``cancelled`` events reported back to the channels
    that hold stock against open orders (Shopify, Adobe Commerce).
Future availability (``strategies.kit.incoming``)
    ``IncomingSync``: the ERP's inbound-supply events turned into dated ATP written to the
    channels that take pre-orders.
Bundles (``strategies.kit.bundles``)
    ``Bundles``: a bundle's availability from its components' (``affected``, ``inputs``,
    ``compose``); a strategy that skips it pushes stale bundle counts.
Contract and parameters
    ``Systems`` and the integration-API protocols, the ``Reply`` a call answers with, the
    records (``Snapshot``, ``OrderEvent``, ``Movement``, ``Message``...), ``Duration`` (a
    fixed number of seconds or a distribution) and the bounded parameter types of
    ``sim.fields`` (``Interval``, ``Count``, ``Retries``, ``Fraction``, ``Flag``) that give a
    ``[strategies.<name>]`` table one-line errors; ``QueueRecord`` for ``queues()``.
"""

from sim.contract import (
    ApiError,
    Atp,
    BusApi,
    Call,
    ChangeFeed,
    ChannelApi,
    ConsumerGroupApi,
    ErpApi,
    FloorSystems,
    ImportResult,
    InventoryPage,
    Message,
    Movement,
    OrderEvent,
    OrdersPage,
    Reply,
    Snapshot,
    StaleWrite,
    Systems,
    TruthFeed,
    WmsApi,
)
from sim.dists import Dist, Duration, Fixed
from sim.fields import Count, Flag, Fraction, Interval, Positive, Retries
from sim.history import QueueRecord
from strategies.kit.bundles import Bundles
from strategies.kit.calls import (
    FEED_POLL,
    MIN_RETRY_WAIT,
    PARKED_RETRY,
    ClientStats,
    backoff,
    call_with_retry,
    import_until_taken,
    push_availability,
    push_incoming,
    retry_wait,
    until_applied,
)
from strategies.kit.fulfillment import FulfillmentSync
from strategies.kit.incoming import IncomingSync
from strategies.kit.view import TOPIC, Dirty, Publisher, StockEvent, StockView, queue_record

__all__ = [
    "FEED_POLL",
    "MIN_RETRY_WAIT",
    "PARKED_RETRY",
    "TOPIC",
    "ApiError",
    "Atp",
    "Bundles",
    "BusApi",
    "Call",
    "ChangeFeed",
    "ChannelApi",
    "ClientStats",
    "ConsumerGroupApi",
    "Count",
    "Dirty",
    "Dist",
    "Duration",
    "ErpApi",
    "Fixed",
    "Flag",
    "FloorSystems",
    "Fraction",
    "FulfillmentSync",
    "ImportResult",
    "IncomingSync",
    "Interval",
    "InventoryPage",
    "Message",
    "Movement",
    "OrderEvent",
    "OrdersPage",
    "Positive",
    "Publisher",
    "QueueRecord",
    "Reply",
    "Retries",
    "Snapshot",
    "StaleWrite",
    "StockEvent",
    "StockView",
    "Systems",
    "TruthFeed",
    "WmsApi",
    "backoff",
    "call_with_retry",
    "import_until_taken",
    "push_availability",
    "push_incoming",
    "queue_record",
    "retry_wait",
    "until_applied",
]
