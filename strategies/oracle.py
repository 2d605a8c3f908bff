"""``oracle``: every view updated instantly and consistently from the WMS record.

The floor that the other strategies are measured against. Through the world's privileged
``systems.oracle`` feed (zero latency, zero cost, no capacity) it rewrites a channel's shown
availability the moment the WMS record or any channel's commitments change, and imports every
order into the ERP the moment it is accepted. Its oversells are only those that sync cannot
prevent (shrink the WMS has not counted yet); its lag is zero.
"""

from __future__ import annotations

from typing import Any

from strategies.base import SyncStrategy

__all__ = ["OracleStrategy"]


class OracleStrategy(SyncStrategy):
    """Instant, free, perfectly consistent sync: the reference floor."""

    name = "oracle"

    def start(self, env: Any, systems: Any) -> None:
        feed = systems.oracle
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
