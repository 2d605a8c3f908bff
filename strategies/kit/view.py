"""Event-fed stock views, shared by the event-driven and orchestrated strategies.

``Publisher`` is the change-data-capture side: it turns WMS movements, ERP cancellations and
channel order webhooks into ``StockEvent`` messages on the bus topic ``inventory``, keyed by
SKU (so per-SKU order is kept). ``StockView`` is a consumer's picture of stock, built only
from those events:

    available(c, s) = sum over the locations of c of max(0, on_hand - hold - released)
                      - pending(s)

where ``released`` is what the WMS has released for picking and ``pending`` are accepted
lines not yet released (accepted minus released, plus short-picked, minus cancelled).

In ``idempotent`` mode an event id is applied once (duplicates skipped) and the WMS record
of a (location, SKU) is taken as the absolute values of the newest version seen (a stale
redelivery cannot roll it back). Otherwise every delivered event's delta is applied, so a
duplicate counts twice: the run shows what idempotence buys.

A partner location (3PL, drop-ship) is known through the ERP (``Erp.subscribe_partner``):
its order acknowledgements (``release``, ``short``) and its inventory files (``feed``: the
ERP's record of the (location, SKU), taken whole, the newest version winning, in either
mode: a full file is absolute by nature).

Provenance: each event carries the truth changes it conveys (``seqs``); the view takes them
in when it applies the event (or skips it as already reflected), so ``as_of`` is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.contract import ConsumerGroupApi, Movement, OrderEvent, Snapshot, Systems
    from sim.ledger import Order

import numpy as np
import simpy
from simpy.events import NORMAL

from sim.movements import MOVEMENTS, TRANSIT, apply

__all__ = ["TOPIC", "Dirty", "Publisher", "StockEvent", "StockView", "queue_record"]

TOPIC = "inventory"


@dataclass(frozen=True, slots=True)
class StockEvent:
    """One change, as published on the bus. WMS kinds carry the record after the change."""

    id: int
    kind: str  # a WMS movement kind, "accepted" (channel order) or "cancelled" (ERP)
    sku: int
    loc: int
    qty: int
    line: int
    channel: int
    t: float
    seqs: tuple[int, ...]
    version: int = 0
    on_hand: int = 0
    hold: int = 0
    released: int = 0
    dst: int = -1
    order: Order | None = None  # the accepted order, for the importer


class Publisher:
    """Publishes every WMS movement, ERP cancellation and accepted order line on the bus."""

    def __init__(self, env: simpy.Environment, systems: Systems) -> None:
        self.env = env
        self.bus = systems.bus
        self._next = 0
        self.published: list[int] = []  # every event id sent (lost ones included)
        self._orders: set[int] = set()  # orders whose webhook was already taken in
        self.webhook_repeats = 0  # late retries of a webhook already received (skipped)
        systems.wms.subscribe(self._movement)
        systems.erp.subscribe_partner(self._movement)  # partner locations: the ERP's word
        systems.erp.subscribe(self._order_event)
        for ch in systems.channels:
            ch.subscribe_orders(self._accepted)

    def _publish(self, sku: int, **fields: Any) -> None:
        ev = StockEvent(id=self._next, sku=sku, t=self.env.now, **fields)
        self._next += 1
        self.published.append(ev.id)
        self.bus.publish(TOPIC, sku, ev)

    def _movement(self, mv: Movement) -> None:
        self._publish(
            mv.sku, kind=mv.kind, loc=mv.loc, qty=mv.qty,
            line=mv.line.id if mv.line is not None else -1,
            channel=mv.line.channel if mv.line is not None else -1,
            seqs=tuple(mv.seqs), version=mv.version, on_hand=mv.on_hand, hold=mv.hold,
            released=mv.released, dst=mv.dst,
        )  # fmt: skip

    def _order_event(self, ev: OrderEvent) -> None:
        if ev.kind == "cancelled":
            line = ev.line
            self._publish(line.sku, kind="cancelled", loc=-1, qty=ev.qty, line=line.id,
                          channel=line.channel, seqs=ev.seqs)  # fmt: skip

    def _accepted(self, order: Order) -> None:
        # A webhook may arrive again (a stale retry with the original payload): the receiver
        # is idempotent by order id, or the retry's lines would count as new sales.
        if order.id in self._orders:
            self.webhook_repeats += 1
            return
        self._orders.add(order.id)
        for ln in order.lines:
            seqs = tuple(ln.accept_seqs)
            self._publish(ln.sku, kind="accepted", loc=-1, qty=ln.qty, line=ln.id,
                          channel=ln.channel, seqs=seqs, order=order)  # fmt: skip


def queue_record(name: str, publisher: Publisher, view: StockView, group: ConsumerGroupApi) -> Any:
    """The total-queue record of one consumer: events sent vs events applied."""
    from sim.history import QueueRecord

    in_flight = {m.payload.id for m in group.unacknowledged()}
    return QueueRecord(name, publisher.published, view.applied_ids, in_flight, view.recovered)


class Dirty:
    """SKUs changed since the last write, and a way to sleep until the first change comes:
    a writer waits for a change, gathers changes for its interval, then writes them.

    A sleeping writer is woken by work only, never by the clock: the first change triggers
    a wake event (``add``), and the wake starts the writer's interval. The wake's callback
    schedules the writer's flush ``interval`` later at the same moment, and so at the same
    place among simultaneous events, as a ``Timeout`` created by the writer resuming there
    would be, without resuming it: the writer runs only to write."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.skus: set[int] = set()
        self._wake: simpy.Event | None = None  # while the writer sleeps: the first change fires it

    def add(self, sku: int) -> None:
        self.skus.add(sku)
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.succeed()

    def update(self, skus: Any) -> None:
        for s in skus:
            self.add(int(s))

    def gather(self, interval: float) -> Generator[Any, Any, np.ndarray]:
        """Wait until something changed, then ``interval`` more; return the SKUs, sorted."""
        if self.skus:
            yield self.env.timeout(interval)
        else:
            flush = _Flush(self.env, interval)
            wake = self._wake = self.env.event()
            wake.callbacks.append(flush.start)
            yield flush
        skus = np.array(sorted(self.skus), np.int64)
        self.skus.clear()
        return skus


class _Flush(simpy.Event):
    """A timeout whose delay runs from ``start`` (a callback of the wake event), not from
    its creation: scheduled as ``env.timeout(delay)`` would be if created in ``start``."""

    def __init__(self, env: simpy.Environment, delay: float) -> None:
        super().__init__(env)
        self._delay = delay

    def start(self, _wake: simpy.Event) -> None:
        self._ok = True
        self._value = None
        self.env.schedule(self, NORMAL, self._delay)


class StockView:
    """A consumer's event-built picture of stock, with its own provenance view."""

    def __init__(self, systems: Systems, name: str, idempotent: bool, snapshot: Snapshot) -> None:
        self.idempotent = idempotent
        self.serve = systems.serve
        self.prov = systems.provenance.add_view(name)
        self.on_hand = np.array(snapshot.on_hand, np.int64)
        self.hold = np.array(snapshot.hold, np.int64)
        self.released = np.array(snapshot.released, np.int64)
        self.in_transit = np.array(snapshot.in_transit, np.int64)
        self.version = np.zeros_like(self.on_hand)
        self.pending = np.zeros(self.on_hand.shape[1], np.int64)
        self._lines: dict[int, int] = {}
        self._seen: set[int] = set()
        self.last_update = np.zeros(self.on_hand.shape)
        self.applied = 0
        self.applied_ids: list[int] = []  # for the total-queue check (repeats = duplicates)
        self.recovered = 0  # events first applied on a redelivery
        self.duplicates_skipped = 0
        self.duplicate_applications = 0
        self.stale_skipped = 0
        self.on_line_change: Callable[[StockEvent], None] | None = None

    def apply(self, ev: StockEvent, now: float, delivery: int = 1) -> int | None:
        """Apply one delivered event; returns the SKU it touched (None if skipped)."""
        if ev.id in self._seen:
            if self.idempotent:
                self.duplicates_skipped += 1
                return None
            self.duplicate_applications += 1
        elif delivery > 1:
            self.recovered += 1
        self._seen.add(ev.id)
        self.applied += 1
        self.applied_ids.append(ev.id)
        k, sku, q = ev.kind, ev.sku, ev.qty
        if k == "accepted":
            self._pend(ev.line, sku, q)
        elif k == "cancelled":
            self._pend(ev.line, sku, -q)
        else:
            loc = ev.loc
            if k == "release":
                self._pend(ev.line, sku, -q)
            elif k == "short":
                self._pend(ev.line, sku, q)
            if k == "feed":  # a partner's inventory file: the record comes whole, always
                self._take_record(ev, loc, sku)
            elif not self.idempotent:
                effect = MOVEMENTS[k].wms
                assert effect is not None  # every published kind changes the WMS record
                apply(effect, self, loc, sku, q, ev.dst)  # a duplicate counts twice
            else:
                # the record comes whole, the newest version wins; stock in transit is no
                # part of it: its change is applied
                effect = MOVEMENTS[k].wms
                assert effect is not None  # every published kind changes the WMS record
                apply(effect, self, loc, sku, q, ev.dst, only=TRANSIT)
                self._take_record(ev, loc, sku)
            self.last_update[loc, sku] = now
        if self.on_line_change is not None and ev.line >= 0:
            self.on_line_change(ev)
        self.prov.include(ev.seqs)
        return sku

    def _take_record(self, ev: StockEvent, loc: int, sku: int) -> None:
        """Take the record an event carries whole, if it is newer than the one held."""
        if ev.version > self.version[loc, sku]:
            self.version[loc, sku] = ev.version
            self.on_hand[loc, sku] = ev.on_hand
            self.hold[loc, sku] = ev.hold
            self.released[loc, sku] = ev.released
        else:
            self.stale_skipped += 1

    def _pend(self, line: int, sku: int, qty: int) -> None:
        self._lines[line] = self._lines.get(line, 0) + qty
        self.pending[sku] += qty

    def free(self, locs: list[int], skus: np.ndarray) -> np.ndarray:
        """Sum over ``locs`` of max(0, on_hand - hold - released) for ``skus``."""
        n_sku = self.on_hand.shape[1]
        flat = np.asarray(locs, np.int64)[:, None] * n_sku + np.asarray(skus, np.int64)
        f = self.on_hand.ravel()[flat] - self.hold.ravel()[flat] - self.released.ravel()[flat]
        out: np.ndarray = np.maximum(f, 0).sum(axis=0)
        return out

    def available(self, channel: int, skus: np.ndarray, now: float) -> tuple[Any, Any]:
        """(values, as_of) for ``channel``: free stock less pending lines, and provenance."""
        locs = self.serve(channel)
        if len(skus) > 8:
            values = np.maximum(self.free(locs, skus) - self.pending[skus], 0)
            return values, self.prov.min_as_of(locs, skus, now)
        # a handful of SKUs: plain Python beats numpy's per-call overhead
        on_hand, hold, released = self.on_hand.item, self.hold.item, self.released.item
        pending = self.pending.item
        vals = []
        for s in skus.tolist():
            free = 0
            for loc in locs:
                x = on_hand(loc, s) - hold(loc, s) - released(loc, s)
                if x > 0:
                    free += x
            vals.append(max(0, free - pending(s)))
        return np.array(vals, np.int64), self.prov.min_as_of(locs, skus, now)
