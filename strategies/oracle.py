"""``oracle``: every channel shows the system of record, instantly.

The floor for any sync of the system of record. Through the world's privileged
``systems.oracle`` feed (zero latency, zero cost, no capacity) it rewrites a channel's shown
availability the moment the WMS record or any channel's commitments change: per location,
the WMS record's on hand and quality hold less every accepted order's claim. It imports
every order into the ERP the moment it is accepted. Its lag is zero; it oversells exactly
where the record is wrong (shrink no cycle count has found yet, returns booked into stock at
receipt under ``returns.counted = "at_receipt"``), which no sync of that record can avoid.
The gap between it and ``perfect`` (physical truth) is the cost of record errors; the gap
between a strategy and it is the cost of the strategy's sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.contract import truth_feed
from strategies.base import SyncStrategy

if TYPE_CHECKING:
    import simpy

    from sim.contract import Systems, TruthFeed
    from sim.ledger import Order

__all__ = ["OracleStrategy", "follow_inbound"]


class OracleStrategy(SyncStrategy):
    """Instant, free, perfectly consistent sync of the WMS record: the floor for any sync."""

    name = "oracle"

    def start(self, env: simpy.Environment, systems: Systems) -> None:
        feed = truth_feed(systems)
        n_loc = len(systems.locations)
        by_loc = [
            [c for c in range(len(systems.channels)) if loc in systems.serve(c)]
            for loc in range(n_loc)
        ]

        def refresh(loc: int, sku: int) -> None:
            for c in by_loc[loc]:
                value, as_of = feed.record_available(c, sku)
                feed.write(c, sku, value, as_of)

        feed.on_change(refresh)
        feed.on_accept(feed.import_order)
        follow_inbound(feed, systems)


def follow_inbound(feed: TruthFeed, systems: Systems) -> None:
    """The floors' future availability: every pre-order channel shows, instantly, the
    purchase orders and transfers due within its horizon less the pre-orders already
    waiting for them, refreshed on every inbound-supply event and every accepted order."""
    preorder = [c for c, ch in enumerate(systems.channels) if ch.takes_preorders]
    if not preorder:
        return

    def refresh_incoming(sku: int) -> None:
        for c in preorder:
            value, at = feed.incoming(c, sku)
            feed.write_incoming(c, sku, value, at)

    def accepted(order: Order) -> None:  # pre-orders took some of it
        for ln in order.lines:
            refresh_incoming(ln.sku)

    feed.on_inbound(refresh_incoming)
    feed.on_accept(accepted)
