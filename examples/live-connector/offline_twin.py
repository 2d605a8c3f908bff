"""The offline twin of ``connector.py``: the same sync, as a syncsim strategy in simulated time.

What the live connector does over HTTP from its own process, this does in-process through
the integration APIs (``docs/writing-a-strategy.md``), so the two can be compared: a live
run of the connector is one draw of what this strategy gives on the same scenario and seed,
up to the timing the wall clock adds.

- every ``poll_interval`` simulated seconds, on a fixed schedule from t = 0 (a round that
  runs late skips the ticks it missed), export every SKU's availability from the ERP and
  write to ``channel`` the sum over its locations of ``max(0, on_hand - committed - hold)``
  less ``safety_stock`` (never below 0), with the export's ``as_of``, in pages of the
  channel's bulk limit (``push_availability``: 429 waited as asked, other failures
  retried with backoff; a page still failing after ``max_retries`` waits for the next
  round);
- every order the channel's webhook delivers (``subscribe_orders``; once per order id) is
  queued, and an import process takes what is queued, at most ``max_batch`` at a time, and
  imports it into the ERP until the ERP takes it;
- on the same schedule, the other channels' handed-off orders are read page by page
  (``fetch_orders`` from a cursor) and imported: an ERP that never hears of an order never
  commits its stock, so without them the export (and the sync) would not see those sales,
  and the run's liveness check counts them lost.

Nothing else: the other channels' availability is not written, shipments are not reported
back (as the connector). ``push = false`` leaves the channel's availability alone too and
only imports orders: the control that shows what the sync itself is worth.

Run it (the folder's name is not a module name, so put the folder on the path)::

    PYTHONPATH=examples/live-connector syncsim run peak_week -s offline_twin:Twin \\
        --set strategies.live-twin.poll_interval=5m
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import simpy

from strategies.base import SyncStrategy
from strategies.kit import (
    ClientStats,
    Count,
    Flag,
    Interval,
    Positive,
    Retries,
    Systems,
    call_with_retry,
    push_availability,
)

__all__ = ["Twin", "TwinParams"]


@dataclass(frozen=True)
class TwinParams:
    """``[strategies.live-twin]``: the connector's options, in simulated seconds."""

    channel: str = "shop-main"
    poll_interval: Interval = 300.0
    safety_stock: Count = 0
    max_batch: Positive = 1000
    max_retries: Retries = 8
    retry_wait: Interval = 60.0  # between two imports of a batch the ERP did not take
    push: Flag = True  # false: import orders only (the control)


class Twin(SyncStrategy):
    """``connector.py`` in simulated time (module docstring)."""

    name = "live-twin"
    Params = TwinParams

    def __init__(self, params: TwinParams | None = None) -> None:
        super().__init__(params)
        self.stats = ClientStats()
        self.exports = 0
        self.polls_skipped = 0
        self.orders_received = 0
        self.orders_imported = 0
        self.imports_failed = 0

    def start(self, env: simpy.Environment, systems: Systems) -> None:
        p: TwinParams = self.params
        names = [ch.name for ch in systems.channels]
        if p.channel not in names:
            raise ValueError(f"live-twin: no channel {p.channel!r} (channels: {names})")
        c = names.index(p.channel)
        queue: simpy.Store = simpy.Store(env)
        seen: set[int] = set()

        def on_order(order: Any) -> None:
            if order.id not in seen:  # webhooks are at least once
                seen.add(order.id)
                self.orders_received += 1
                queue.put(order)

        systems.channels[c].subscribe_orders(on_order)
        if p.push:
            env.process(self._polls(env, systems, c))
        env.process(self._imports(env, systems, queue))
        for other in range(len(names)):
            if other != c:
                env.process(self._sweeps(env, systems, other))

    def _polls(self, env: simpy.Environment, systems: Systems, c: int) -> Generator[Any, Any, None]:
        p: TwinParams = self.params
        erp, ch, rng, serve = systems.erp, systems.channels[c], systems.rng, systems.serve(c)
        due = 0.0
        while True:
            yield env.timeout(max(0.0, due - env.now))
            reply = yield from call_with_retry(
                env, erp.export_availability, rng, self.stats, max_retries=p.max_retries
            )
            if reply.ok:
                self.exports += 1
                snap = reply.value
                avail = np.maximum(snap.available[serve], 0).sum(axis=0)
                values = np.maximum(avail - p.safety_stock, 0)
                as_of = snap.as_of[serve].min(axis=0)
                yield from push_availability(
                    env, ch, snap.skus, values, as_of, rng, self.stats, max_retries=p.max_retries
                )
            due += p.poll_interval
            if due <= env.now:
                missed = int((env.now - due) // p.poll_interval) + 1
                self.polls_skipped += missed
                due += missed * p.poll_interval

    def _imports(
        self, env: simpy.Environment, systems: Systems, queue: simpy.Store
    ) -> Generator[Any, Any, None]:
        p: TwinParams = self.params
        erp, rng = systems.erp, systems.rng
        while True:
            batch = [(yield queue.get())]
            while queue.items and len(batch) < p.max_batch:
                batch.append((yield queue.get()))
            while True:
                reply = yield from call_with_retry(
                    env, partial(erp.import_orders, batch), rng, self.stats,
                    max_retries=p.max_retries,
                )  # fmt: skip
                if reply.ok:
                    break
                self.imports_failed += 1
                yield env.timeout(p.retry_wait)
            self.orders_imported += len(batch)

    def _sweeps(
        self, env: simpy.Environment, systems: Systems, c: int
    ) -> Generator[Any, Any, None]:
        """Every ``poll_interval``, the channel's new orders, page by page, into the ERP."""
        p: TwinParams = self.params
        erp, ch, rng = systems.erp, systems.channels[c], systems.rng
        cursor = 0
        while True:
            yield env.timeout(p.poll_interval)
            while True:
                page = yield from call_with_retry(
                    env, partial(ch.fetch_orders, cursor), rng, self.stats,
                    max_retries=p.max_retries,
                )  # fmt: skip
                if not page.ok or not page.value.orders:
                    break
                orders = page.value.orders
                reply = yield from call_with_retry(
                    env, partial(erp.import_orders, orders), rng, self.stats,
                    max_retries=p.max_retries,
                )  # fmt: skip
                if not reply.ok:
                    self.imports_failed += 1
                    break  # the cursor stays: these orders are read again next time
                self.orders_imported += len(orders)
                cursor = page.value.cursor

    def metrics(self) -> dict[str, float]:
        return {
            "twin_exports": float(self.exports),
            "twin_polls_skipped": float(self.polls_skipped),
            "twin_skus_written": float(self.stats.skus_written),
            "twin_orders_received": float(self.orders_received),
            "twin_orders_imported": float(self.orders_imported),
            "twin_imports_failed": float(self.imports_failed),
        }
