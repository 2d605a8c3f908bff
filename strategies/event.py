"""``event``: WMS and ERP emit stock and order events onto the bus; one consumer per channel.

Change data capture publishes every WMS movement (with the record after it), every ERP
cancellation and every accepted order line (from each channel's order webhook) on the bus,
keyed by SKU. Each channel has its own consumer group that builds a ``StockView`` from the
events and writes the SKUs that changed to its channel (paged and throttled by the channel's
API): once a change is waiting it gathers changes for ``flush_interval`` more, then writes
them; with nothing changed it sleeps (it does not poll). An importer group takes accepted
orders into the ERP.

``idempotent`` (event-id dedupe and per-SKU-location versions) is a parameter, so a run on a
bus with duplicates and reordering shows what idempotence buys.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.fields import Count, Flag, Interval, Retries
from strategies.base import SyncStrategy
from strategies.kit import (
    TOPIC,
    Bundles,
    ClientStats,
    Dirty,
    FulfillmentSync,
    IncomingSync,
    Publisher,
    StockEvent,
    StockView,
    import_until_taken,
    push_availability,
    queue_record,
)

if TYPE_CHECKING:
    import simpy

    from sim.contract import Message, Snapshot, Systems
    from sim.ledger import Order

__all__ = ["ChannelConsumer", "EventParams", "EventStrategy", "OrderImporter"]


@dataclass(frozen=True)
class EventParams:
    idempotent: Flag = True
    flush_interval: Interval = 5.0
    dlq_replay: Flag = True
    safety_stock: Count = 0
    max_retries: Retries = 8


class OrderImporter:
    """A consumer group importing accepted orders into the ERP, each order once."""

    def __init__(
        self, env: simpy.Environment, systems: Systems, stats: ClientStats, max_retries: int
    ) -> None:
        self.env = env
        self.systems = systems
        self.stats = stats
        self.max_retries = max_retries
        self.imported: set[int] = set()
        self.failed = 0
        self.swept = 0  # orders imported by a sweep, not from their event
        self.down = False
        self.group = systems.bus.subscribe(TOPIC, "erp-import", self.handle)
        systems.fault_targets["consumer:erp-import"] = self.set_down

    def set_down(self, down: bool) -> None:
        """A crash (True) or a restart (False); on restart, dead letters are replayed."""
        self.down = down
        if not down:
            self.group.replay_dlq()

    def handle(self, msg: Message) -> bool:
        if self.down:
            return False
        ev: StockEvent = msg.payload
        order = ev.order
        if ev.kind == "accepted" and order is not None and order.id not in self.imported:
            self.imported.add(order.id)
            self.env.process(self.import_order(order))
        return True

    def import_order(self, order: Order) -> Generator[Any, Any, None]:
        """SimPy process: import one order (parked and retried if the ERP refuses)."""
        yield from import_until_taken(
            self.env, self.systems.erp, order, self.systems.rng, self.stats,
            max_retries=self.max_retries, on_parked=self._parked,
        )  # fmt: skip

    def _parked(self) -> None:
        self.failed += 1


class ChannelConsumer:
    """One channel's consumer group: an event-built view, flushed to the channel."""

    def __init__(
        self, strategy: EventStrategy, systems: Systems, c: int, snapshot: Snapshot
    ) -> None:
        p: EventParams = strategy.params
        self.strategy = strategy
        self.env = strategy.env
        self.systems = systems
        self.c = c
        self.channel = systems.channels[c]
        self.view = StockView(systems, f"event/{self.channel.name}", p.idempotent, snapshot)
        self.dirty = Dirty(self.env)
        self.bundles = Bundles(systems.catalogue)
        self.down = False
        name = f"channel/{self.channel.name}"
        self.group = systems.bus.subscribe(TOPIC, name, self.handle)
        systems.fault_targets[f"consumer:{name}"] = self.set_down
        self.env.process(self.flusher())

    def set_down(self, down: bool) -> None:
        """A crash (True): deliveries are refused, so the bus retries and finally
        dead-letters them. A restart (False): dead letters are replayed unless
        ``dlq_replay`` is off, in which case what went there is lost, and counted."""
        self.down = down
        if not down and self.strategy.params.dlq_replay:
            self.group.replay_dlq()

    def handle(self, msg: Message) -> bool:
        if self.down:
            return False
        sku = self.view.apply(msg.payload, self.env.now, msg.delivery)
        if sku is not None:
            self.dirty.add(sku)
        return True

    def flusher(self) -> Generator[Any, Any, None]:
        """Wait for a change, gather changes for ``flush_interval``, write them; repeat."""
        p: EventParams = self.strategy.params
        env = self.env
        while True:
            skus = yield from self.dirty.gather(p.flush_interval)
            skus = self.bundles.affected(skus)  # and the bundles they are part of
            values, as_of = self.view.available(self.c, skus, env.now)
            self.bundles.compose(
                skus, values, as_of, lambda comps: self.view.available(self.c, comps, env.now)
            )
            values = np.maximum(values - p.safety_stock, 0)
            yield from push_availability(
                env, self.channel, skus, values, as_of, self.systems.rng,
                self.strategy.stats, max_retries=p.max_retries,
            )  # fmt: skip


class EventStrategy(SyncStrategy):
    """Event-driven sync: CDC onto the bus, one consumer per channel."""

    name = "event"
    Params = EventParams

    def __init__(self, params: EventParams | None = None) -> None:
        super().__init__(params)
        self.stats = ClientStats()
        self.fulfillment = FulfillmentSync()
        self.incoming = IncomingSync()
        self.consumers: list[ChannelConsumer] = []

    def start(self, env: simpy.Environment, systems: Systems) -> None:
        self.env = env
        self.publisher = Publisher(env, systems)
        self.importer = OrderImporter(env, systems, self.stats, self.params.max_retries)
        snapshot = systems.wms.initial_stock()  # the go-live load a consumer is seeded from
        self.consumers = [
            ChannelConsumer(self, systems, c, snapshot) for c in range(len(systems.channels))
        ]
        self.fulfillment.start(env, systems, self.stats)
        self.incoming.start(env, systems, self.stats)

    def queues(self) -> list[Any]:
        """Total-queue records: every consumer must apply every published event once."""
        return [queue_record(c.group.name, self.publisher, c.view, c.group) for c in self.consumers]

    def metrics(self) -> dict[str, float]:
        views = [c.view for c in self.consumers]
        return {
            "event_applied": sum(v.applied for v in views),
            "event_duplicate_applications": sum(v.duplicate_applications for v in views),
            "event_duplicates_skipped": sum(v.duplicates_skipped for v in views),
            "event_stale_skipped": sum(v.stale_skipped for v in views),
            "event_imports_failed": self.importer.failed,
            "event_recovered": sum(v.recovered for v in views),
            "event_dlq": sum(len(c.group.dlq) for c in self.consumers),
            "event_webhook_repeats": self.publisher.webhook_repeats,
        }
