"""``batch``: scheduled stock exports pushed to every channel, orders imported on a schedule.

Every ``interval`` the strategy exports availability from the ERP (one export call, costing
ERP capacity per SKU; ``mode = "changed"`` first asks the ERP which SKUs changed since the
last export and exports only those), computes each channel's value as the sum over the
channel's locations of ``max(0, available)`` minus ``safety_stock``, and pushes it to every
channel through the channel's API, paged by its bulk limit and throttled by its rate limit.
A channel whose previous push is still running skips the round (a 5,000-SKU push at 2
requests per second takes most of an hour, and that must show). Independently, every
``order_import_interval`` each channel's handed-off orders are fetched and imported into the
ERP.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sim.dists import Duration
from sim.fields import Count, Interval, Positive, Retries
from strategies.base import SyncStrategy
from strategies.kit import (
    Bundles,
    ClientStats,
    FulfillmentSync,
    call_with_retry,
    push_availability,
    push_incoming,
)

if TYPE_CHECKING:
    import simpy

    from sim.contract import ChannelApi, ErpApi, Snapshot, Systems

__all__ = ["BatchParams", "BatchStrategy", "channel_values", "import_orders_loop"]


@dataclass(frozen=True)
class BatchParams:
    interval: Interval = 900.0
    mode: Literal["full", "changed"] = "full"
    order_import_interval: Interval = 300.0
    safety_stock: Count = 0
    first_export: Duration | None = None
    page_size: Positive | None = None
    max_retries: Retries = 8


def channel_values(
    snapshot: Snapshot, serve: list[int], safety_stock: int = 0, bundles: Bundles | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A channel's availability from a stock snapshot: the sum over its locations of
    ``max(0, available)``, less safety stock, and the minimum ``as_of`` of those inputs.
    With ``bundles``, a bundle's is what its components in the snapshot make up (read
    ``bundles.inputs`` of what you push; a component not read counts as 0)."""
    avail = np.maximum(snapshot.available[serve], 0).sum(axis=0)
    as_of = snapshot.as_of[serve].min(axis=0)
    if bundles:

        def unread(comps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return np.zeros(comps.size, np.int64), np.full(comps.size, snapshot.at)

        bundles.compose(np.asarray(snapshot.skus), avail, as_of, unread)
    return np.maximum(avail - safety_stock, 0), as_of


def import_orders_loop(
    env: simpy.Environment,
    channel: ChannelApi,
    erp: ErpApi,
    interval: float,
    rng: np.random.Generator,
    stats: ClientStats,
    max_retries: int = 8,
) -> Generator[Any, Any, None]:
    """SimPy process: every ``interval``, fetch a channel's new orders and import them."""
    cursor = 0
    while True:
        yield env.timeout(interval)
        while True:
            page = yield from call_with_retry(
                env, partial(channel.fetch_orders, cursor), rng, stats, max_retries=max_retries
            )
            if not page.ok or not page.value.orders:
                break
            orders = page.value.orders
            reply = yield from call_with_retry(
                env, partial(erp.import_orders, orders), rng, stats, max_retries=max_retries
            )
            if not reply.ok:
                break  # leave the cursor: these orders are fetched again next round
            cursor = page.value.cursor
            if len(orders) < channel.page_size:
                break


class BatchStrategy(SyncStrategy):
    """Scheduled full or changed-only exports from the ERP to every channel."""

    name = "batch"
    Params = BatchParams

    def __init__(self, params: BatchParams | None = None) -> None:
        super().__init__(params)
        self.stats = ClientStats()
        self.fulfillment = FulfillmentSync()
        self.exports = 0

    def start(self, env: simpy.Environment, systems: Systems) -> None:
        p: BatchParams = self.params
        env.process(self._exports(env, systems))
        for ch in systems.channels:
            env.process(
                import_orders_loop(
                    env,
                    ch,
                    systems.erp,
                    p.order_import_interval,
                    systems.rng,
                    self.stats,
                    p.max_retries,
                )
            )
        self.fulfillment.start(env, systems, self.stats)

    def _exports(self, env: simpy.Environment, systems: Systems) -> Generator[Any, Any, None]:
        p: BatchParams = self.params
        erp = systems.erp
        rng = systems.rng
        channels = systems.channels
        running: list[Any] = [None] * len(channels)
        bundles = Bundles(systems.catalogue)
        last_export = 0.0
        tick = p.first_export if p.first_export is not None else p.interval
        while True:
            yield env.timeout(max(0.0, tick - env.now))
            tick += p.interval
            skus: np.ndarray | None = None
            if p.mode == "changed":
                r = yield from call_with_retry(
                    env, partial(erp.changed_skus, last_export), rng, self.stats
                )
                if not r.ok:
                    continue
                skus = r.value
                if skus.size == 0:
                    last_export = env.now
                    continue
                skus = bundles.expand(skus)  # the bundles they are part of, and theirs
            started = env.now
            reply = yield from call_with_retry(
                env, partial(erp.export_availability, skus), rng, self.stats
            )
            if not reply.ok:
                continue
            snap = reply.value
            last_export = started
            self.exports += 1
            for c, ch in enumerate(channels):
                if running[c] is not None and running[c].is_alive:
                    self.stats.pushes_skipped += 1
                    continue
                values, as_of = channel_values(snap, systems.serve(c), p.safety_stock, bundles)
                running[c] = env.process(self._push(env, systems, ch, snap.skus, values, as_of))

    def _push(
        self,
        env: simpy.Environment,
        systems: Systems,
        ch: ChannelApi,
        skus: np.ndarray,
        values: np.ndarray,
        as_of: np.ndarray,
    ) -> Generator[Any, Any, None]:
        """One channel's share of an export: availability, then (a channel that takes
        pre-orders) the ERP's dated ATP of the same SKUs as future availability."""
        p: BatchParams = self.params
        rng = systems.rng
        yield from push_availability(
            env, ch, skus, values, as_of, rng, self.stats,
            page_size=p.page_size, max_retries=p.max_retries,
        )  # fmt: skip
        yield from push_incoming(
            env, systems.erp, ch, skus, rng, self.stats, max_retries=p.max_retries
        )

    def metrics(self) -> dict[str, float]:
        s = self.stats
        return {
            "batch_exports": self.exports,
            "batch_pushes_skipped": s.pushes_skipped,
            "batch_failed_pages": s.failed_pages,
            "batch_skus_written": s.skus_written,
        }
