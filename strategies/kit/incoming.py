"""Future availability for channels that take pre-orders: the ERP's dated ATP pushed out.

``IncomingSync`` listens to the ERP's inbound-supply events (``subscribe_inbound``:
purchase orders placed, re-dated, received; transfers dispatched, arrived); every
``interval`` it asks the ERP for dated ATP of the SKUs those events named (one
``available_to_promise`` call per pre-order channel) and writes the future part to the
channel (``set_incoming``). SKUs it has seen inbound supply for are refreshed every
``refresh`` as well, because sales elsewhere and backorders eat into what inbound supply
can still promise. Channels that take no pre-orders cost nothing.

``shape(c, atp)`` decides what is written (the ERP's ``later`` by default); a middleware that
owns promises centrally overrides it with what its own pool still allows.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from strategies.kit.calls import ClientStats, call_with_retry

if TYPE_CHECKING:
    import simpy

    from sim.contract import Atp, ChannelApi, Systems

__all__ = ["IncomingSync"]


class IncomingSync:
    """ERP inbound-supply events -> dated ATP -> ``channel.set_incoming`` (batched)."""

    def __init__(
        self,
        interval: float = 60.0,
        refresh: float = 3600.0,
        max_retries: int = 8,
        shape: Callable[[int, Atp], np.ndarray] | None = None,
    ) -> None:
        self.interval = interval
        self.refresh = refresh
        self.max_retries = max_retries
        self.shape = shape
        self.dirty: set[int] = set()
        self.tracked: set[int] = set()
        self.writes = 0

    def start(self, env: simpy.Environment, systems: Systems, stats: ClientStats) -> None:
        """Start for every channel that ``takes_preorders`` (nothing if none does)."""
        channels = [ch for ch in systems.channels if ch.takes_preorders]
        if not channels:
            return
        systems.erp.subscribe_inbound(self.mark)
        env.process(self._loop(env, systems, channels, stats))

    def mark(self, sku: int) -> None:
        """``sku``'s future availability is to be written again."""
        self.dirty.add(sku)
        self.tracked.add(sku)

    def _loop(
        self,
        env: simpy.Environment,
        systems: Systems,
        channels: list[ChannelApi],
        stats: ClientStats,
    ) -> Generator[Any, Any, None]:
        last_refresh = 0.0
        while True:
            yield env.timeout(self.interval)
            if env.now - last_refresh >= self.refresh:
                self.dirty |= self.tracked
                last_refresh = env.now
            if not self.dirty:
                continue
            skus = np.array(sorted(self.dirty), np.int64)
            self.dirty.clear()
            for ch in channels:
                ok = yield from self.push(env, systems, ch, skus, stats)
                if not ok:
                    self.dirty.update(skus.tolist())  # again next round

    def push(
        self,
        env: simpy.Environment,
        systems: Systems,
        channel: ChannelApi,
        skus: np.ndarray,
        stats: ClientStats,
    ) -> Generator[Any, Any, bool]:
        """One dated-ATP call and the writes of its future part; whether all succeeded."""
        reply = yield from call_with_retry(
            env,
            partial(systems.erp.available_to_promise, skus, channel.index),
            systems.rng,
            stats,
            max_retries=self.max_retries,
        )
        if not reply.ok:
            return False
        atp: Atp = reply.value
        values = self.shape(channel.index, atp) if self.shape is not None else atp.later
        size = channel.bulk_limit
        ok = True
        for i in range(0, atp.skus.size, size):
            s, v, a = atp.skus[i : i + size], values[i : i + size], atp.by[i : i + size]
            r = yield from call_with_retry(
                env,
                partial(channel.set_incoming, s, v, a),
                systems.rng,
                stats,
                max_retries=self.max_retries,
            )
            if r.ok:
                self.writes += s.size
            else:
                stats.failed_pages += 1
                ok = False
        return ok
