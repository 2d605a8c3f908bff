"""``delta-sync``: every ``interval``, export what changed in the ERP and push it, less a
buffer, to every channel; import every channel's new orders on the same schedule.

Everything goes through the systems' integration APIs (each call costs simulated time and
capacity and may fail): ``erp.changed_skus``, ``erp.export_availability``,
``channel.set_inventory``, ``channel.fetch_orders`` and ``erp.import_orders``, typed by the
contract (``Systems``, ``ErpApi``, ``ChannelApi``) and retried with the public kit's
``call_with_retry`` (429 Retry-After honoured, other failures backed off with jitter). Each value
pushed carries the ``as_of`` of the export it was computed from, so syncsim can measure the
lag of every change. SKUs whose push failed are pushed again in the next round, and orders
whose import failed are fetched again, so the strategy recovers after faults.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import simpy

from strategies.base import SyncStrategy
from strategies.kit import ChannelApi, ClientStats, ErpApi, Systems, call_with_retry

__all__ = ["DeltaParams", "DeltaSyncStrategy"]


@dataclass(frozen=True)
class DeltaParams:
    """``[strategies.delta-sync]`` in a scenario file; durations in seconds."""

    interval: float = 300.0
    buffer: int = 1


class DeltaSyncStrategy(SyncStrategy):
    """Delta exports from the ERP, pushed less a buffer; orders imported on a schedule."""

    name = "delta-sync"
    Params = DeltaParams

    def __init__(self, params: DeltaParams | None = None) -> None:
        super().__init__(params)
        self.rounds = 0
        self.skus_pushed = 0
        self.failed_pushes = 0
        self.stats = ClientStats()

    def start(self, env: simpy.Environment, systems: Systems) -> None:
        env.process(self._sync_stock(env, systems))
        for channel in systems.channels:
            env.process(self._import_orders(env, channel, systems.erp))

    def _sync_stock(self, env: simpy.Environment, systems: Systems) -> Generator[Any, Any, None]:
        p: DeltaParams = self.params
        erp = systems.erp
        since = 0.0
        retry = np.zeros(0, np.int64)  # SKUs whose last push failed somewhere
        while True:
            yield env.timeout(p.interval)
            asked = env.now
            changed = yield erp.changed_skus(since)
            if not changed.ok:
                continue  # the ERP is down or busy: ask again next round, from the same time
            skus = np.union1d(changed.value, retry).astype(np.int64)
            since = asked
            if skus.size == 0:
                continue
            export = yield erp.export_availability(skus)
            if not export.ok:
                retry = skus
                continue
            snap = export.value
            self.rounds += 1
            failed: list[np.ndarray] = []
            for c, channel in enumerate(systems.channels):
                serve = systems.serve(c)
                values = np.maximum(snap.available[serve], 0).sum(axis=0) - p.buffer
                values = np.maximum(values, 0)
                as_of = snap.as_of[serve].min(axis=0)
                for lo in range(0, snap.skus.size, channel.bulk_limit):
                    page = slice(lo, lo + channel.bulk_limit)
                    write = partial(
                        channel.set_inventory, snap.skus[page], values[page], as_of[page]
                    )
                    reply = yield from call_with_retry(
                        env, write, systems.rng, self.stats, max_retries=2
                    )
                    if reply.ok:
                        self.skus_pushed += int(snap.skus[page].size)
                    else:
                        self.failed_pushes += 1
                        failed.append(snap.skus[page])
            retry = np.unique(np.concatenate(failed)) if failed else np.zeros(0, np.int64)

    def _import_orders(
        self, env: simpy.Environment, channel: ChannelApi, erp: ErpApi
    ) -> Generator[Any, Any, None]:
        cursor = 0
        while True:
            yield env.timeout(self.params.interval)
            while True:
                page = yield channel.fetch_orders(cursor)
                if not page.ok or not page.value.orders:
                    break
                imported = yield erp.import_orders(page.value.orders)
                if not imported.ok:
                    break  # keep the cursor: fetched and imported again next round
                cursor = page.value.cursor

    def metrics(self) -> dict[str, float]:
        return {
            "delta_rounds": self.rounds,
            "delta_skus_pushed": self.skus_pushed,
            "delta_failed_pushes": self.failed_pushes,
            "delta_retries": self.stats.retries,
        }
