"""Deliberately broken strategies, for testing the testers (chaos, determinism, checker)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

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
    """Batch sync whose interval depends on state outside the run, as if it read the wall
    clock: the same seed twice gives two different runs. The jitter comes from one stream
    with a fixed seed shared by every instance (the bug: state carried from run to run), so
    the tests that catch it are deterministic: every run gets the next, different, draw."""

    name = "wall-clock"
    Params = BatchParams
    _outside = np.random.default_rng(997)  # shared by every run in the process, on purpose

    def start(self, env: Any, systems: Any) -> None:
        jitter = 1.0 + float(self._outside.uniform(0.0, 99.0))
        self.params = BatchParams(interval=self.params.interval + jitter)
        super().start(env, systems)


class LeaksUnits(BatchStrategy):
    """Batch sync that, every hour, takes one unit of its busiest SKU out of the physical
    stock behind every API's back: units leak, conservation must catch it."""

    name = "leaks-units"
    Params = BatchParams

    def start(self, env: Any, systems: Any) -> None:
        super().start(env, systems)
        env.process(self._leak(env, systems.wms))

    def _leak(self, env: Any, wms: Any) -> Generator[Any, Any, None]:
        while True:
            yield env.timeout(3600)
            on_hand = wms.ledger.on_hand
            loc, sku = divmod(int(on_hand.argmax()), on_hand.shape[1])
            on_hand[loc, sku] -= 1


class Raises(BatchStrategy):
    """Batch sync that raises after an hour and a half."""

    name = "raises"
    Params = BatchParams

    def start(self, env: Any, systems: Any) -> None:
        super().start(env, systems)
        env.process(self._boom(env))

    def _boom(self, env: Any) -> Generator[Any, Any, None]:
        yield env.timeout(5400)
        raise KeyError("sku-42")


class NeverYields(BatchStrategy):
    """Batch sync that, after an hour, busy-waits for a change without ever yielding."""

    name = "never-yields"
    Params = BatchParams

    def start(self, env: Any, systems: Any) -> None:
        super().start(env, systems)
        env.process(self._spin(env, systems.channels[0]))

    def _spin(self, env: Any, channel: Any) -> Generator[Any, Any, None]:
        yield env.timeout(3600)
        while channel.shown(0) >= 0:  # simulated time cannot move on: never true again
            pass


class WritesShownCount(BatchStrategy):
    """Batch sync that, after an hour, sets a channel's shown count directly (no API call)."""

    name = "writes-shown"
    Params = BatchParams

    def start(self, env: Any, systems: Any) -> None:
        super().start(env, systems)
        env.process(self._poke(env, systems.channels[0]))

    def _poke(self, env: Any, channel: Any) -> Generator[Any, Any, None]:
        yield env.timeout(3600)
        channel.count[0] = 99


class CallsApplyWrite(WritesShownCount):
    """Batch sync that uses the channel's privileged write instead of its API."""

    name = "calls-apply-write"

    def _poke(self, env: Any, channel: Any) -> Generator[Any, Any, None]:
        yield env.timeout(3600)
        channel.apply_write_one(0, 99, env.now)
