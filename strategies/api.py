"""``api``: near-real-time point-to-point sync, every call through the ERP's API capacity.

Availability flows from the ERP to each channel in one of two modes:

- ``poll``: each channel's connector asks the ERP every ``poll_interval`` which SKUs changed
  since its last poll, exports those and writes them to the channel. The cursor is the
  ERP's own clock from its previous answer, and each query reaches ``poll_overlap`` behind
  it: a SKU is exported when its change stamp is one the connector has not seen, so a
  clock that steps back (a clock-skew fault stamps changes in the past) cannot hide a
  change, and the overlap costs no extra export;
- ``push``: the ERP pushes each change: every time a SKU's availability changes in the ERP,
  the SKU joins each channel's outbound queue (once: a SKU already waiting is not queued
  twice); ``push_workers`` workers per channel take SKUs from the queue, read each from the
  ERP (an API call) and write it to the channel (one SKU per request, as change-by-change
  integrations do). At peak the queue grows and lag with it.

Orders are imported one by one as each channel's order webhook fires. Optionally, checkout
runs a synchronous ATP check against the ERP with a timeout (storefronts and B2B portals;
a marketplace cannot call out): when the ERP answers, the channel accepts at most what the
ERP promises; when it does not answer in time (saturated, rejecting, in maintenance) the
``atp_fallback`` is taken: ``accept`` blind on what the channel shows, or ``reject``.
At peak the ERP becomes the bottleneck: utilization, rejections, latency, timeouts and
fallbacks show in the metrics.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import simpy
from pydantic import Field, Strict

from sim.dists import Duration
from sim.fields import Count, Flag, Interval, Retries
from strategies.base import SyncStrategy
from strategies.batch import channel_values
from strategies.kit import (
    Bundles,
    ClientStats,
    FulfillmentSync,
    IncomingSync,
    call_with_retry,
    import_until_taken,
    push_availability,
)

if TYPE_CHECKING:
    import simpy

    from sim.contract import ChannelApi, Systems
    from sim.ledger import Order

__all__ = ["ApiParams", "ApiStrategy"]


@dataclass(frozen=True)
class ApiParams:
    mode: Literal["poll", "push"] = "poll"
    poll_interval: Interval = 60.0
    poll_overlap: Duration = 600.0
    push_workers: Annotated[int, Strict(), Field(ge=1, le=1000)] = 4
    atp_check: Flag = False
    atp_timeout: Duration = 2.0
    atp_fallback: Literal["accept", "reject"] = "accept"
    atp_kinds: tuple[str, ...] = ("storefront", "b2b")
    safety_stock: Count = 0
    max_retries: Retries = 8


class ApiStrategy(SyncStrategy):
    """Point-to-point near-real-time sync through the ERP's API."""

    name = "api"
    Params = ApiParams

    def __init__(self, params: ApiParams | None = None) -> None:
        super().__init__(params)
        self.stats = ClientStats()
        self.fulfillment = FulfillmentSync()
        self.incoming = IncomingSync()
        self.atp_checks = 0
        self.atp_timeouts = 0
        self.atp_errors = 0
        self.atp_fallbacks = 0
        self.pushes = 0
        self.imports_failed = 0

    def start(self, env: simpy.Environment, systems: Systems) -> None:
        p: ApiParams = self.params
        self.env = env
        self.systems = systems
        self.bundles = Bundles(systems.catalogue)
        if p.mode == "poll":
            for c in range(len(systems.channels)):
                env.process(self._poll(c))
        else:
            self._queues = [simpy.Store(env) for _ in systems.channels]
            self._queued = [set[int]() for _ in systems.channels]
            for c in range(len(systems.channels)):
                for _ in range(p.push_workers):
                    env.process(self._push_worker(c))
            systems.erp.subscribe_changes(self._on_change)
        for ch in systems.channels:
            ch.subscribe_orders(lambda order: env.process(self._import(order)))
            if p.atp_check and ch.kind in p.atp_kinds:
                ch.set_checkout(self._atp_hook)

        # -- availability -----------------------------------------------------------------------
        self.fulfillment.start(env, systems, self.stats)
        self.incoming.start(env, systems, self.stats)

    def _poll(self, c: int) -> Generator[Any, Any, None]:
        p: ApiParams = self.params
        env, erp, rng = self.env, self.systems.erp, self.systems.rng
        ch = self.systems.channels[c]
        cursor = 0.0  # the ERP's clock at its last answer
        seen = np.full(self.systems.catalogue.n, -np.inf)  # change stamps already exported
        while True:
            yield env.timeout(p.poll_interval)
            since = cursor - p.poll_overlap if cursor > 0 else 0.0
            r = yield from call_with_retry(env, partial(erp.changes, since), rng, self.stats)
            if not r.ok:
                continue
            feed = r.value
            fresh = feed.stamps != seen[feed.skus]
            skus, stamps = feed.skus[fresh], feed.stamps[fresh]
            if skus.size == 0:
                cursor = feed.clock
                continue
            read = self.bundles.expand(skus)  # with the bundles they are part of, and theirs
            snap = yield from call_with_retry(
                env, partial(erp.export_availability, read), rng, self.stats
            )
            if not snap.ok:
                continue
            cursor = feed.clock
            seen[skus] = stamps
            values, as_of = channel_values(
                snap.value, self.systems.serve(c), p.safety_stock, self.bundles
            )
            yield from push_availability(
                env, ch, snap.value.skus, values, as_of, rng, self.stats, max_retries=p.max_retries
            )

    def _on_change(self, sku: int) -> None:
        for s in (sku, *self.bundles.of.get(sku, ())):  # and the bundles it is part of
            for c, queued in enumerate(self._queued):
                if s not in queued:
                    queued.add(s)
                    self._queues[c].put(s)

    def _push_worker(self, c: int) -> Generator[Any, Any, None]:
        p: ApiParams = self.params
        env, erp, rng = self.env, self.systems.erp, self.systems.rng
        ch = self.systems.channels[c]
        while True:
            sku = yield self._queues[c].get()
            self._queued[c].discard(sku)  # a change from now on queues it again
            self.pushes += 1
            skus = np.array([sku])
            read = self.bundles.inputs(skus)  # a bundle: its components
            snap = yield from call_with_retry(
                env, partial(erp.push_read, read), rng, self.stats, max_retries=p.max_retries
            )
            if snap.ok:
                values, as_of = channel_values(
                    snap.value, self.systems.serve(c), p.safety_stock, self.bundles
                )
                if read.size > 1:
                    at = int(np.searchsorted(read, sku))
                    values, as_of = values[at : at + 1], as_of[at : at + 1]
                yield from push_availability(
                    env, ch, skus, values, as_of, rng, self.stats, max_retries=p.max_retries
                )

    def queued(self) -> int:
        """SKU pushes waiting in the outbound queues (push mode)."""
        return sum(len(q) for q in getattr(self, "_queued", ()))

    # -- orders -----------------------------------------------------------------------------
    def _import(self, order: Order) -> Generator[Any, Any, None]:
        """Import one order from its webhook (parked and retried if the ERP refuses)."""
        yield from import_until_taken(
            self.env, self.systems.erp, order, self.systems.rng, self.stats,
            max_retries=self.params.max_retries, on_parked=self._parked,
        )  # fmt: skip

    def _parked(self) -> None:
        self.imports_failed += 1

    # -- checkout ---------------------------------------------------------------------------
    def _atp_hook(self, channel: ChannelApi, skus: list[int], cart: list[int]) -> Any:
        return self.env.process(self._atp(channel, skus, cart))

    def _atp(
        self, channel: ChannelApi, skus: list[int], cart: list[int]
    ) -> Generator[Any, Any, list[int]]:
        p: ApiParams = self.params
        env = self.env
        self.atp_checks += 1
        dated = channel.takes_preorders  # a pre-order channel asks for dated ATP
        erp = self.systems.erp
        call = (
            erp.available_to_promise(skus, channel.index)
            if dated
            else erp.check_atp(skus, channel.index)
        )
        timer = env.timeout(p.atp_timeout)
        done = yield call | timer
        if call in done and done[call].ok:
            value = done[call].value
            atp = (value.now + value.later).tolist() if dated else value
            return [min(c, max(0, a - p.safety_stock)) for c, a in zip(cart, atp, strict=True)]
        if call in done:
            self.atp_errors += 1
        else:
            self.atp_timeouts += 1
        self.atp_fallbacks += 1
        return list(cart) if p.atp_fallback == "accept" else [0] * len(cart)

    def metrics(self) -> dict[str, float]:
        return {
            "api_atp_checks": self.atp_checks,
            "api_atp_timeouts": self.atp_timeouts,
            "api_atp_errors": self.atp_errors,
            "api_atp_fallbacks": self.atp_fallbacks,
            "api_pushes": self.pushes,
            "api_waits_for_retry_after": self.stats.waits_for_retry_after,
            "api_retries": self.stats.retries,
            "api_push_queue_end": self.queued(),
            "api_imports_failed": self.imports_failed,
            "api_failed_pages": self.stats.failed_pages,
        }
