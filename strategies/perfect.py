"""``perfect``: every channel shows the physical truth, instantly.

The second floor. Through the world's privileged ``systems.oracle`` feed (zero latency, zero
cost, no capacity) it rewrites a channel's shown availability with ``true_available`` (the
ledger of truth: physical stock less claims and quality hold) the moment the truth changes,
current to now, and imports every order into the ERP the moment it is accepted. It sees what
no system records (shrink before a count, returns still in QC), so it never oversells and
never diverges: nothing real can reach it. Run it next to ``oracle`` (the system of record,
instantly) to separate record errors (``oracle`` - ``perfect``) from sync errors (a strategy
- ``oracle``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.contract import truth_feed
from strategies.base import SyncStrategy
from strategies.oracle import follow_inbound

if TYPE_CHECKING:
    import simpy

    from sim.contract import Systems

__all__ = ["PerfectStrategy"]


class PerfectStrategy(SyncStrategy):
    """Instant, free sync of the physical truth: the floor below every record."""

    name = "perfect"

    def start(self, env: simpy.Environment, systems: Systems) -> None:
        feed = truth_feed(systems)
        n_loc = len(systems.locations)
        by_loc = [
            [c for c in range(len(systems.channels)) if loc in systems.serve(c)]
            for loc in range(n_loc)
        ]

        def refresh(loc: int, sku: int) -> None:
            now = env.now
            for c in by_loc[loc]:
                feed.write(c, sku, feed.true_available(c, sku), now)

        feed.on_truth(refresh)
        feed.on_accept(feed.import_order)
        follow_inbound(feed, systems)
