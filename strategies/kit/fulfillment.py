"""Shipments and cancellations synced back to the channels that want them.

Platforms that hold stock against open orders (Shopify's *committed*, Adobe Commerce's MSI
reservations) only release it when the seller tells them the order shipped or was
cancelled. ``FulfillmentSync`` listens to the ERP's order events (``shipped`` when the ERP
posts the shipment, ``cancelled``) and sends them to each such channel every ``interval``
seconds, one request per order (as the platforms take them), retried like every other call.
Channels without the need (no preset, BigCommerce, Amazon) cost nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from strategies.kit.calls import ClientStats, call_with_retry

if TYPE_CHECKING:
    import simpy

    from sim.contract import ChannelApi, OrderEvent, Systems

__all__ = ["FulfillmentSync"]


class FulfillmentSync:
    """ERP ``shipped`` / ``cancelled`` order events -> ``channel.fulfill`` (batched)."""

    def __init__(self, interval: float = 60.0, max_retries: int = 8) -> None:
        self.interval = interval
        self.max_retries = max_retries
        self.queues: dict[int, list[tuple[int, int, int, int, str]]] = {}
        self.sent = 0

    def start(
        self, env: simpy.Environment, systems: Systems, stats: ClientStats, channels: Any = None
    ) -> None:
        """Start syncing for every channel that ``needs_fulfillment`` (``channels``: the
        clients to call, by index; the channels themselves by default)."""
        clients = list(channels if channels is not None else systems.channels)
        for c, ch in enumerate(systems.channels):
            if ch.needs_fulfillment:
                self.queues[c] = []
        if not self.queues:
            return
        systems.erp.subscribe(self._on_event)
        for c in self.queues:
            env.process(self._loop(env, clients[c], c, systems.rng, stats))

    def _on_event(self, ev: OrderEvent) -> None:
        if ev.kind in ("shipped", "cancelled"):
            queue = self.queues.get(ev.line.channel)
            if queue is not None:
                queue.append((ev.line.order.id, ev.line.id, ev.line.sku, ev.qty, ev.kind))

    def _loop(
        self,
        env: simpy.Environment,
        client: ChannelApi,
        c: int,
        rng: np.random.Generator,
        stats: ClientStats,
    ) -> Generator[Any, Any, None]:
        queue = self.queues[c]
        while True:
            yield env.timeout(self.interval)
            # platforms take one fulfillment (or cancellation) per order: one request each
            groups: dict[tuple[int, str], list[tuple[int, int, int, int, str]]] = {}
            for item in queue:
                groups.setdefault((item[0], item[4]), []).append(item)
            queue.clear()
            for n, lines in enumerate(groups.values()):
                reply = yield from call_with_retry(
                    env, partial(client.fulfill, lines), rng, stats, max_retries=self.max_retries
                )
                if not reply.ok:  # kept, with everything after it: sent again next round
                    for rest in list(groups.values())[n:]:
                        queue.extend(rest)
                    break
                self.sent += len(lines)

    @property
    def backlog(self) -> int:
        return sum(len(q) for q in self.queues.values())
