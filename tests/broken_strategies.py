"""Deliberately broken strategies, for testing the testers (chaos, determinism, checker)."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from strategies.batch import BatchParams, BatchStrategy


class DropsOrdersOnError(BatchStrategy):
    """Batch sync whose order import gives up on a failed call and moves on: under ERP
    faults, orders are lost."""

    name = "drops-orders"
    Params = BatchParams

    def start(self, env: Any, systems: Any) -> None:
        env.process(self._exports(env, systems))
        for ch in systems.channels:
            env.process(self._careless_import(env, ch, systems.erp))

    def _careless_import(self, env: Any, channel: Any, erp: Any) -> Generator[Any, Any, None]:
        cursor = 0
        while True:
            yield env.timeout(self.params.order_import_interval)
            page = yield channel.fetch_orders(cursor)
            if not page.ok:
                continue
            yield erp.import_orders(page.value.orders)  # a failure is not retried
            cursor = page.value.cursor


class WallClockBatch(BatchStrategy):
    """Batch sync whose interval depends on the wall clock: not deterministic."""

    name = "wall-clock"
    Params = BatchParams

    def start(self, env: Any, systems: Any) -> None:
        jitter = (time.perf_counter_ns() % 997) / 10.0
        self.params = BatchParams(interval=self.params.interval + jitter)
        super().start(env, systems)
