"""The ERP: system of record for stock and orders.

The ERP's stock record changes only when WMS movements are *posted* (in real time, after a
posting delay, or in batches every N minutes), and its commitments only when orders are
*imported*. On import it allocates each line to the channel's locations in priority order on
its own view (``available = on_hand - committed - hold``); what it cannot allocate waits as a
backorder, allocated as soon as a posting brings stock, and is cancelled when still
unallocated after ``backorder_timeout`` (0: cancelled at once). Allocated lines are released
to the WMS after the location's release delay. A short pick posted by the WMS sends the
missing units back to allocation at the other locations (not where that line came up short,
until new stock arrives there), hence to backorder or cancellation.
Replenishment runs on the ERP's own lagging view: a periodic review orders up to a level when
the position falls to a reorder point, and the supplier delivers to the WMS after a lead time.

Inbound supply is state: every purchase order (replenishment's and the scenario's scripted
ones) is a record with its ETA; a share ``slip_rate`` arrives late by ``slip_delay``, and the
ERP learns the new ETA when the old one passes. A transfer between locations is inbound
supply at its destination from the posting of its dispatch (with the ETA of its shipping
notice) to the posting of its arrival. Available to promise with dates
(``available_to_promise``) counts free stock, the backorders queued ahead, and inbound supply
by ETA. On a channel with a ``promise_horizon``, a backordered line is promised the date at
which that supply covers it (and every accepted line a ship date), and it is cancelled only
if no supply due within the horizon covers it, or when the horizon has passed. Allocation
follows the order's route (``sim.routing``), and a channel without ``allow_splits`` takes a
line from one location only (the order's own location first), or waits.

Integration API (through the ERP's ``ApiServer``, so every call costs capacity):
``export_availability``, ``changed_skus``, ``check_atp``, ``available_to_promise``,
``import_orders``, ``push_read`` (the ERP's own outbound read when it pushes a change),
``contract_allocations`` (B2B customers' reserved units, ``sim.contracts``).
Subscriptions (free, as database triggers or CDC are): ``subscribe_changes`` (a SKU's
availability changed in the ERP), ``subscribe_inbound`` (a purchase order was placed,
re-dated or received) and ``subscribe`` (order events: allocated, cancelled).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, Protocol

import numpy as np

from mocks.api import ApiServer
from mocks.clock import OwnClock
from mocks.records import DOCUMENT, STOCK, BookErrors
from sim.contract import (
    Atp,
    ChangeFeed,
    ContractAllocations,
    ImportResult,
    Movement,
    OrderEvent,
    Reply,
    Snapshot,
)
from sim.contracts import Contracts
from sim.faults import ActiveFault
from sim.ledger import ALL_VIEWS, Ledger, Line, Order
from sim.movements import MOVEMENTS, apply
from sim.routing import Routing
from sim.schema import Channel as ChannelSpec
from sim.schema import Erp as ErpSpec
from sim.schema import PurchaseOrder


class Warehouse(Protocol):
    """What the ERP asks of the WMS: release a line's units for picking, receive goods."""

    def schedule_release(self, line: Line, loc: int, qty: int) -> None: ...
    def receive(self, loc: int, sku: int, qty: int) -> None: ...


__all__ = ["Atp", "ChangeFeed", "Erp", "ImportResult", "Inbound", "OrderEvent", "Snapshot",
           "Warehouse"]  # fmt: skip


class Inbound:
    """Inbound supply on its way: to ``loc``, ``qty`` of ``sku``, due at ``eta`` (what the
    ERP knows), arriving at ``arrives`` (the supplier's truth). A purchase order, or a
    transfer between the company's locations (``transfer``: ``id`` -1, recorded when the
    ERP posts its dispatch, with the shipping notice's ETA)."""

    __slots__ = ("arrives", "eta", "id", "loc", "qty", "sku", "transfer")

    def __init__(
        self, pid: int, loc: int, sku: int, qty: int, eta: float, arrives: float,
        transfer: bool = False,
    ):  # fmt: skip
        self.id, self.loc, self.sku, self.qty = pid, loc, sku, qty
        self.eta, self.arrives, self.transfer = eta, arrives, transfer


class Erp(OwnClock):
    """The system of record: posted stock, imported orders, allocation, replenishment."""

    def __init__(
        self,
        env: Any,
        spec: ErpSpec,
        ledger: Ledger,
        api: ApiServer,
        rng: np.random.Generator,
        reorder_point: np.ndarray,
        order_up_to: np.ndarray,
        warehouse: Warehouse,
    ) -> None:
        self.env = env
        self.spec = spec
        self.ledger = ledger
        self.api = api
        self.rng = rng
        self.serve = ledger.serve
        shape = ledger.initial.shape
        self.on_hand = ledger.initial.copy()
        self.hold = np.zeros(shape, np.int64)
        self.in_transit = np.zeros(shape, np.int64)
        self.committed = np.zeros(shape, np.int64)
        self.on_order = np.zeros(shape, np.int64)
        self.changed_at = np.zeros(shape[1])  # last time ERP availability of a SKU changed
        self.view = ledger.views["erp"]
        self.rop = reorder_point
        self.out = order_up_to
        self.imported: set[int] = set()
        self.import_listeners: list[Callable[[Order], None]] = []  # an order newly taken in
        self.allocations: dict[int, dict[int, int]] = {}  # line id -> {loc: qty}
        self.posted = 0
        self._unposted: dict[int, Movement] = {}  # received from the WMS, not yet posted
        self._unposted_t = 0.0  # last change of the unposted count, and its time integral
        self._unposted_area = 0.0
        self.clock_offset = 0.0  # the ERP's clock minus true time (clock-skew faults)
        self.skews: list[ActiveFault] = []
        self.import_attempted: set[int] = set()  # order ids in any import call invoked
        self.import_acknowledged: set[int] = set()  # order ids in import calls answered ok
        self.intakes: dict[int, int] = {}  # order id -> intakes (2+ = duplicate import)
        self.privileged: set[int] = set()  # order ids taken in by the oracle's free path
        self.shorted: dict[int, set[int]] = {}  # line id -> locations that short-picked it
        self.backorders: dict[int, list[list[Any]]] = {}  # sku -> [[line, qty waiting]]
        self.on_hand_listeners: list[Callable[[int, int], None]] = []
        self.change_listeners: list[Callable[[int], None]] = []
        self.order_listeners: list[Callable[[OrderEvent], None]] = []
        self.partner_listeners: list[Callable[[Movement], None]] = []  # mocks.partner
        self._post_queue: list[Movement] = []
        self.wms = warehouse
        self.inbound: dict[int, list[Inbound]] = {}  # sku -> purchase orders on their way
        self.purchase_orders = 0
        self.inbound_listeners: list[Callable[[int], None]] = []
        self.channels: Sequence[ChannelSpec] = ()
        self.routing: Routing | None = None
        self._slips: np.random.Generator | None = None
        self._overlap: list[list[bool]] = []
        # kit items (bundles): master data, kit -> [(component, units)]; their ATP is what
        # the components make up. Exports carry the records as they are (a kit has none)
        self.kits: dict[int, list[tuple[int, int]]] = ledger.components
        #: B2B customer allocations (master data and the record of what is drawn on them)
        self.contracts: Contracts | None = None
        #: the location map of postings and the errors wrong master data put in the record
        #: (``mocks.records``; data-quality faults)
        self.books = BookErrors(shape)

    def plan(
        self, channels: Sequence[ChannelSpec], routing: Routing, slips: np.random.Generator
    ) -> None:
        """The channels' routing and promise settings, and the stream of supplier slips."""
        self.channels = channels
        self.routing = routing
        self._slips = slips
        # whether two channels sell from a common location (share supply and backorders)
        self._overlap = [[bool(set(a).intersection(b)) for b in self.serve] for a in self.serve]

    # -- integration API --------------------------------------------------------------------
    def export_availability(self, skus: Any = None) -> Any:
        """A stock export (all SKUs by default); one call costing per item."""
        sel = None if skus is None else np.atleast_1d(np.asarray(skus, np.int64))
        n = self.on_hand.shape[1] if sel is None else sel.size
        return self.api.call(n, lambda: self.snapshot(sel), op="export_availability")

    def changed_skus(self, since: float) -> Any:
        """SKUs whose ERP availability changed after ``since`` (a cheap delta query)."""
        return self.api.call(1, lambda: np.flatnonzero(self.changed_at > since), op="changed_skus")

    def changes(self, since: float) -> Any:
        """The delta query with its stamps and the ERP's clock (a ``ChangeFeed``): the same
        call as ``changed_skus``, for clients that keep their cursor on the ERP's clock."""

        def effect() -> ChangeFeed:
            skus = np.flatnonzero(self.changed_at > since)
            return ChangeFeed(skus, self.changed_at[skus], self.env.now + self.clock_offset)

        return self.api.call(1, effect, op="changed_skus")

    def check_atp(self, skus: Sequence[int], channel: int) -> Any:
        """Available to promise for ``channel`` now, per SKU: the sum over its locations of
        ``max(0, available)`` on the ERP's view (for a kit, the kits its components make up
        at each location); a synchronous checkout call."""
        sel = np.asarray(skus, np.int64)
        locs = self.serve[channel]

        def effect() -> list[int]:
            avail = self.on_hand[locs][:, sel] - self.committed[locs][:, sel]
            avail -= self.hold[locs][:, sel]
            avail = np.maximum(avail, 0)
            if self.kits:  # a kit item: what its components make up, per location
                for i, sku in enumerate(sel.tolist()):
                    if sku in self.kits:
                        avail[:, i] = self._kits_at(locs, sku)
            return [int(x) for x in avail.sum(axis=0)]

        return self.api.call(max(1, sel.size), effect, op="check_atp")

    def contract_allocations(self, skus: Any, channel: int) -> Any:
        """Units the ERP's record reserves for B2B customers that ``channel`` should not
        sell (``sim.contracts``). One call costing per item; without customer accounts a
        400 at once."""
        c = self.contracts
        if c is None:  # no customer accounts: nothing to ask (400, no capacity used)
            return self.env.timeout(0.0, Reply(400, error="no customer allocations"))
        n_sku = self.on_hand.shape[1]
        sel = np.arange(n_sku) if skus is None else np.atleast_1d(np.asarray(skus, np.int64))

        def effect() -> ContractAllocations:
            return ContractAllocations(sel, c.outstanding(sel, channel), self.env.now)

        return self.api.call(max(1, sel.size), effect, op="contract_allocations")

    def subscribe_allocations(self, fn: Callable[[np.ndarray], None]) -> None:
        """``fn(skus)`` whenever the allocation record of ``skus`` changes."""
        if self.contracts is not None:
            self.contracts.listeners.append(fn)

    def _kits_at(self, locs: Sequence[int], kit: int) -> np.ndarray:
        """Per location of ``locs``: whole kits the ERP's free component stock makes up."""
        on, com, hold = self.on_hand, self.committed, self.hold
        return np.min(
            [
                np.maximum(on[locs, c] - com[locs, c] - hold[locs, c], 0) // k
                for c, k in self.kits[kit]
            ],
            axis=0,
        )

    def available_to_promise(self, skus: Any, channel: int) -> Any:
        """Available to promise with dates for ``channel`` (an ``Atp``): per SKU, the units
        free now at its locations (less the backorders queued ahead), and the further units
        that inbound supply (purchase orders and transfers) due within the channel's promise
        horizon brings, with the ETA by which all of them are in. One call costing per item."""
        sel = np.atleast_1d(np.asarray(skus, np.int64))

        def effect() -> Atp:
            now = np.zeros(sel.size, np.int64)
            later = np.zeros(sel.size, np.int64)
            by = np.zeros(sel.size)
            horizon = self.env.now + self.channels[channel].promise_horizon
            for i, sku in enumerate(sel.tolist()):
                if self.kits and sku in self.kits:  # what its components make up, no dates
                    now[i] = int(self._kits_at(self.serve[channel], sku).sum())
                    continue
                base, supply = self._atp(sku, channel)
                now[i] = max(0, base)
                total = base
                for eta, q in supply:
                    if eta > horizon:
                        break
                    total += q
                    if total > now[i]:
                        by[i] = eta
                later[i] = max(0, total) - now[i]
            return Atp(sel, now, later, by, self.env.now)

        return self.api.call(max(1, sel.size), effect, op="available_to_promise")

    def subscribe_inbound(self, fn: Callable[[int], None]) -> None:
        """``fn(sku)`` whenever a purchase order for ``sku`` is placed, re-dated or received,
        or a transfer of it is posted as dispatched or arrived."""
        self.inbound_listeners.append(fn)

    def push_read(self, skus: Any) -> Any:
        """The ERP reading its own record to push a change out (costs ERP capacity)."""
        return self.export_availability(skus)

    def subscribe_changes(self, fn: Callable[[int], None]) -> None:
        """``fn(sku)`` whenever the ERP's availability of ``sku`` changes."""
        self.change_listeners.append(fn)

    def subscribe(self, fn: Callable[[OrderEvent], None]) -> None:
        """``fn(event)`` for every order event (allocated, cancelled)."""
        self.order_listeners.append(fn)

    def subscribe_partner(self, fn: Callable[[Movement], None]) -> None:
        """``fn(movement)`` for what the ERP learns of a partner location (``mocks.partner``):
        a ``release`` or ``short`` when the partner acknowledges an order, a ``feed`` per
        SKU whose record a partner's inventory file changed. Each carries the ERP's record
        of the (location, SKU) after it, with a version of its own."""
        self.partner_listeners.append(fn)

    def import_orders(self, orders: Sequence[Order]) -> Any:
        """Create sales orders; allocate, cancel what cannot be allocated, release the rest.

        Importing an order twice is harmless: the second import reports ``duplicate``.
        """
        orders = list(orders)
        items = sum(len(o.lines) for o in orders) or 1
        ids = [o.id for o in orders]
        self.import_attempted.update(ids)
        ev = self.api.call(items, lambda: [self.intake(o) for o in orders], op="import_orders")
        ev.callbacks.append(lambda e: self.import_acknowledged.update(ids) if e.value.ok else None)
        return ev

    # -- internal behaviour -----------------------------------------------------------------
    def snapshot(self, sel: np.ndarray | None = None) -> Snapshot:
        now = self.env.now
        cols: Any
        if sel is None:
            skus, cols, as_of = np.arange(self.on_hand.shape[1]), slice(None), self.view.as_of(now)
        else:
            skus = cols = sel
            as_of = self.view.as_of_for(np.arange(self.on_hand.shape[0]), sel, now)
        committed = self.committed[:, cols].copy()
        return Snapshot(
            skus=skus,
            on_hand=self.on_hand[:, cols].copy(),
            committed=committed,
            released=np.zeros_like(committed),  # the WMS's to know
            hold=self.hold[:, cols].copy(),
            in_transit=self.in_transit[:, cols].copy(),
            as_of=as_of,
            at=now,
        )

    def intake(self, order: Order) -> ImportResult:
        """Take one order into the ERP (idempotent by order id)."""
        self.intakes[order.id] = self.intakes.get(order.id, 0) + 1
        if order.id in self.imported:
            return ImportResult(order.id, True, 0, 0)
        self.imported.add(order.id)
        for fn in self.import_listeners:
            fn(order)
        if order.customer >= 0 and self.contracts is not None:
            self.contracts.taken_in(order)
        allocated = cancelled = 0
        if self.channels and not self.channels[order.channel].allow_splits:
            order.route = [self._ship_from(order)]
        for line in order.lines:
            a, c = self._allocate(line)
            allocated += a
            cancelled += c
        return ImportResult(order.id, False, allocated, cancelled)

    def _touch(self, sku: int) -> None:
        """The ERP's availability of ``sku`` changed, or it took in a truth change about it.
        The change is stamped by the ERP's own clock (off under a clock-skew fault)."""
        self.changed_at[sku] = self.env.now + self.clock_offset
        for f in self.skews:
            f.hit()
        for fn in self.change_listeners:
            fn(sku)

    def _event(self, kind: str, line: Line, loc: int, qty: int, seqs: Sequence[int] = ()) -> None:
        if self.order_listeners:
            ev = OrderEvent(kind, line, loc, qty, self.env.now, tuple(seqs))
            for fn in self.order_listeners:
                fn(ev)

    def _allocate(self, line: Line) -> tuple[int, int]:
        self.view.include(line.accept_seqs)
        want = line.open  # (with no delays the WMS may ship part of it inside _assign)
        got = self._assign(line, want)
        if not got:
            self._touch(line.sku)  # nothing allocated, but the ERP now knows the order
        if want > got:
            self._backorder(line, want - got)
        return got, line.cancelled

    def _ship_from(self, order: Order) -> int:
        """The one location an order that may not be split ships from: the first of its
        route that has every line in full, else the one that has the most of its lines."""
        route = order.route if order.route is not None else self.serve[order.channel]
        best, best_n = route[0], -1
        for loc in route:
            n = sum(
                1
                for ln in order.lines
                if self.on_hand[loc, ln.sku] - self.committed[loc, ln.sku] - self.hold[loc, ln.sku]
                >= ln.open
            )
            if n == len(order.lines):
                return loc
            if n > best_n:
                best, best_n = loc, n
        return best

    def _locations(self, line: Line, qty: int) -> list[int]:
        """Where ``line`` may be allocated, in order: its order's route (without splits, the
        order's one location, and only if it has all ``qty``)."""
        route = line.order.route
        locs = route if route is not None else self.serve[line.channel]
        if not self.channels or self.channels[line.channel].allow_splits:
            return locs
        sku = line.sku
        return [
            loc
            for loc in locs
            if self.on_hand[loc, sku] - self.committed[loc, sku] - self.hold[loc, sku] >= qty
        ]

    def _assign(self, line: Line, qty: int) -> int:
        """Allocate up to ``qty`` of ``line`` on the ERP's view and release it to the WMS."""
        sku = line.sku
        alloc = self.allocations.setdefault(line.id, {})
        got = 0
        for loc in self._locations(line, qty):
            if got == qty:
                break
            if loc in self.shorted.get(line.id, ()):
                continue  # this location already came up short for this line
            a = self.on_hand[loc, sku] - self.committed[loc, sku] - self.hold[loc, sku]
            if a > 0:
                take = int(min(qty - got, a))
                self.committed[loc, sku] += take
                alloc[loc] = alloc.get(loc, 0) + take
                got += take
                self._event("allocated", line, loc, take)
                self.wms.schedule_release(line, loc, take)
        if got:
            self._touch(sku)
        return got

    def _backorder(self, line: Line, qty: int) -> None:
        ch = self.channels[line.channel] if self.channels else None
        if ch is not None and ch.promise_horizon > 0:
            self._promise_backorder(line, qty, ch)
            return
        timeout = self.spec.backorder_timeout
        if timeout <= 0:
            self._cancel(line, qty)
            return
        line.backordered = True
        entry = [line, qty]
        self.backorders.setdefault(line.sku, []).append(entry)
        self.env.timeout(timeout, entry).callbacks.append(self._expire)

    def _promise_backorder(self, line: Line, qty: int, ch: ChannelSpec) -> None:
        """Wait for supply due within the channel's horizon (the line keeps the date it was
        promised at acceptance, or gets the date that supply covers it); else cancel."""
        now = self.env.now
        base, supply = self._atp(line.sku, line.channel)
        due = None
        total = base
        for eta, q in supply:
            total += q
            if total >= qty:
                due = max(eta, now)
                break
        if due is None or due > now + ch.promise_horizon:
            self._cancel(line, qty)
            return
        line.backordered = True
        if line.promised < 0:
            line.promised = due + ch.ship_promise
        entry = [line, qty]
        self.backorders.setdefault(line.sku, []).append(entry)
        self.env.timeout(ch.promise_horizon, entry).callbacks.append(self._expire)

    def _atp(self, sku: int, channel: int) -> tuple[int, list[tuple[float, int]]]:
        """(free units at the channel's locations less the backorders queued ahead of a new
        one, [(eta, units)] of the supply inbound to those locations, by ETA)."""
        locs = self.serve[channel]
        free = self.on_hand[locs, sku] - self.committed[locs, sku] - self.hold[locs, sku]
        base = int(np.maximum(free, 0).sum())
        shared = set(locs)
        overlap = self._overlap[channel]
        for line, q in self.backorders.get(sku, ()):
            if q > 0 and overlap[line.channel]:
                base -= q
        supply = sorted((p.eta, p.qty) for p in self.inbound.get(sku, ()) if p.loc in shared)
        return base, supply

    def _expire(self, ev: Any) -> None:
        entry = ev.value
        line, qty = entry
        if qty > 0:
            entry[1] = 0
            self._cancel(line, qty)

    def _cancel(self, line: Line, qty: int) -> None:
        seqs = self.ledger.cancel(line, qty, ALL_VIEWS)
        self._event("cancelled", line, -1, qty, seqs)
        if line.open == 0 and not line.released:
            # cancelled before the WMS ever saw it: its claims are gone, nothing is pending
            self.ledger.views["wms"].include(line.accept_seqs)

    def _serve_backorders(self, sku: int, loc: int) -> None:
        """Stock came in at ``loc``: serve waiting lines, which may try ``loc`` again even
        where it came up short for them before."""
        waiting = self.backorders.get(sku)
        if not waiting:
            return
        for entry in waiting:
            line, qty = entry
            self.shorted.get(line.id, set()).discard(loc)
            if qty > 0:
                entry[1] = qty - self._assign(line, qty)
        self.backorders[sku] = [e for e in waiting if e[1] > 0]

    def backordered_units(self) -> int:
        return sum(e[1] for entries in self.backorders.values() for e in entries)

    def receive_movement(self, mv: Movement) -> None:
        """A WMS movement reaches the ERP's posting process."""
        self._integrate_unposted()
        self._unposted[id(mv)] = mv
        posting = self.spec.posting
        if posting.mode == "realtime":
            self.post(mv)
        elif posting.mode == "delay":
            delay = float(posting.delay.sample(self.rng))
            if delay <= 0:
                self.post(mv)
            else:
                self.env.timeout(delay, mv).callbacks.append(lambda ev: self.post(ev.value))
        else:
            self._post_queue.append(mv)

    def run_batch_posting(self) -> Generator[Any, Any, None]:
        """SimPy process: post the queued movements every ``posting.interval``."""
        interval = self.spec.posting.interval
        while True:
            yield self.env.timeout(interval)
            queue, self._post_queue = self._post_queue, []
            for mv in queue:
                self.post(mv)

    def post(self, mv: Movement) -> None:
        """Apply one WMS movement to the ERP record: the arithmetic of its kind
        (``sim.movements``), then what the kind does beyond it."""
        loc, sku, q = mv.loc, mv.sku, mv.qty
        kind = MOVEMENTS[mv.kind]
        effect = kind.erp
        if effect is None:  # pragma: no cover - the WMS posts only kinds the ERP posts
            raise ValueError(f"movement kind {mv.kind!r} is not posted to the ERP")
        books = self.books
        where = books.where(mv) if books.active else loc
        if where == loc:
            apply(effect, self, loc, sku, q, mv.dst)
        else:  # wrong master data: the stock part goes to another record, or nowhere
            apply(effect, self, loc, sku, q, mv.dst, only=DOCUMENT)
            if where >= 0:
                apply(effect, self, where, sku, q, mv.dst, only=STOCK)
            books.misposted(effect, mv, where)
        if mv.kind == "ship" and mv.line is not None:
            self._event("shipped", mv.line, loc, q)
        elif mv.kind == "short":
            self._reallocate_short(mv)
        elif mv.kind == "transfer_out":
            self._dispatched(mv)
        elif mv.kind == "transfer_in":
            self._transfer_landed(mv)
        self.posted += 1
        self._integrate_unposted()
        self._unposted.pop(id(mv), None)  # a partner's movement never was unposted here
        if effect.available or mv.seqs:
            self._touch(sku)
        if kind.serves_backorders:
            self._serve_backorders(sku, loc)
        if mv.seqs and where >= 0:
            self.view.include(mv.seqs)
        if effect.on_hand:
            for fn in self.on_hand_listeners:
                fn(loc, sku)
        if where != loc and where >= 0 and (effect.on_hand or effect.hold):
            for fn in self.on_hand_listeners:
                fn(where, sku)
            if kind.serves_backorders:
                self._serve_backorders(sku, where)
        if mv.kind == "count" and where == loc and books.wrong_at(loc, sku):
            self.correct(loc, sku)  # the ERP posts the count against its own book

    def correct(self, loc: int, sku: int) -> None:
        """The record of (loc, sku) put right (a count posted against the ERP's book, or
        its master data fixed and the pair re-read): the errors wrong master data left
        there (``mocks.records``) are taken out, the truth changes it missed taken in."""
        d_on, d_hold, d_transit, seqs = self.books.take(loc, sku)
        self.on_hand[loc, sku] -= d_on
        self.hold[loc, sku] -= d_hold
        self.in_transit[loc, sku] -= d_transit
        if seqs:
            self.view.include(seqs)
        self._touch(sku)
        if d_on or d_hold:
            for fn in self.on_hand_listeners:
                fn(loc, sku)
        if d_on - d_hold < 0:  # more available than the record said
            self._serve_backorders(sku, loc)

    def not_posted(self, movements: Sequence[Movement]) -> None:
        """WMS movements the ERP never receives (a relocation outside the interface): its
        record stays as it was, off by their stock effect until corrected."""
        for mv in movements:
            effect = MOVEMENTS[mv.kind].erp
            if effect is not None:
                self.books.unposted(effect, mv)

    def apply_feed(self, loc: int, skus: Sequence[int], on_hand: Sequence[int],
                   seqs: Sequence[Sequence[int]]) -> list[int]:  # fmt: skip
        """A partner's inventory file lands: the record of ``loc`` is overwritten with the
        file's on hand for ``skus`` (its movements up to the snapshot were posted first,
        ``mocks.partner``), and the file carries the truth changes ``seqs`` (per SKU).
        Returns the SKUs whose record changed."""
        changed = []
        for sku, value, carried in zip(skus, on_hand, seqs, strict=True):
            before = int(self.on_hand[loc, sku])
            self.on_hand[loc, sku] = value
            if carried:
                self.view.include(carried)
            if value != before or carried:
                self._touch(sku)
            if value != before:
                changed.append(sku)
                for fn in self.on_hand_listeners:
                    fn(loc, sku)
                if value > before:
                    self._serve_backorders(sku, loc)
        return changed

    def _reallocate_short(self, mv: Movement) -> None:
        """A short pick: the missing units go back to allocation at the line's other
        locations (not this one, until new stock arrives here), else to backorder."""
        line, loc, q = mv.line, mv.loc, mv.qty
        assert line is not None
        self.allocations[line.id][loc] -= q
        self.shorted.setdefault(line.id, set()).add(loc)
        got = self._assign(line, q)
        if got < q:
            self._backorder(line, q - got)

    @property
    def unposted(self) -> int:
        """Movements the WMS has made that the ERP has not posted yet."""
        return len(self._unposted)

    def _integrate_unposted(self) -> None:
        now = self.env.now
        self._unposted_area += len(self._unposted) * (now - self._unposted_t)
        self._unposted_t = now

    def unposted_area(self) -> float:
        """The time integral of ``unposted`` up to now (unit-seconds): the difference over an
        interval, divided by its length, is the mean backlog over that interval."""
        self._integrate_unposted()
        return self._unposted_area

    def unposted_movements(self) -> list[Movement]:
        return list(self._unposted.values())

    # -- replenishment ----------------------------------------------------------------------
    def run_replenishment(self) -> Generator[Any, Any, None]:
        """SimPy process: periodic review, order-up-to, supplier lead time to the WMS."""
        spec = self.spec.replenishment
        rng = self.rng
        while True:
            position = self.on_hand - self.committed - self.hold + self.on_order + self.in_transit
            locs, skus = np.nonzero((position <= self.rop) & (self.out > 0))
            qty = self.out[locs, skus] - position[locs, skus]
            keep = qty > 0
            locs, skus, qty = locs[keep], skus[keep], qty[keep]
            if qty.size:
                leads = np.asarray(spec.lead_time.sample(rng, qty.size), float)
                slips = np.zeros(qty.size)
                if spec.slip_rate > 0 and self._slips is not None:
                    late = self._slips.random(qty.size) < spec.slip_rate
                    if late.any():
                        slips[late] = np.asarray(
                            spec.slip_delay.sample(self._slips, int(late.sum())), float
                        )
                for lead, slip, loc, sku, q in zip(leads, slips, locs, skus, qty, strict=True):
                    self._place(int(loc), int(sku), int(q), float(lead), float(slip))
            yield self.env.timeout(spec.review_interval)

    def schedule_purchase_order(self, po: PurchaseOrder, loc: int) -> None:
        """A scripted purchase order: placed at ``po.at``."""
        self.env.timeout(po.at).callbacks.append(
            lambda _: self._place(loc, po.sku, po.qty, po.lead, po.slip)
        )

    def _place(self, loc: int, sku: int, qty: int, lead: float, slip: float) -> None:
        """Order ``qty`` of ``sku`` for ``loc`` from the supplier: due in ``lead``, arriving
        ``slip`` after that."""
        now = self.env.now
        self.on_order[loc, sku] += qty
        self.ledger.add_inbound(loc, sku, qty)
        po = Inbound(self.purchase_orders, loc, sku, qty, now + lead, now + lead + max(0, slip))
        self.purchase_orders += 1
        self.inbound.setdefault(sku, []).append(po)
        self.env.timeout(po.arrives - now, po).callbacks.append(self._deliver)
        if po.arrives > po.eta:
            self.env.timeout(lead, po).callbacks.append(self._redate)
        self._inbound_changed(sku)

    def _redate(self, ev: Any) -> None:
        """The ETA of a late purchase order has passed: the supplier gives the new one."""
        po = ev.value
        if po in self.inbound.get(po.sku, ()):
            po.eta = po.arrives
            self._inbound_changed(po.sku)

    def _inbound_changed(self, sku: int) -> None:
        for fn in self.inbound_listeners:
            fn(sku)

    def _deliver(self, ev: Any) -> None:
        po = ev.value
        self.inbound[po.sku].remove(po)
        self.wms.receive(po.loc, po.sku, po.qty)
        self._inbound_changed(po.sku)

    def _dispatched(self, mv: Movement) -> None:
        """A posted transfer out is inbound supply at its destination, due at the ETA of its
        shipping notice."""
        eta = mv.eta if mv.eta >= 0 else self.env.now
        arrival = Inbound(-1, mv.dst, mv.sku, mv.qty, eta, eta, transfer=True)
        self.inbound.setdefault(mv.sku, []).append(arrival)
        self._inbound_changed(mv.sku)

    def _transfer_landed(self, mv: Movement) -> None:
        """A posted transfer in: the transfer to that location due nearest its arrival is in."""
        here = [p for p in self.inbound.get(mv.sku, ()) if p.transfer and p.loc == mv.loc]
        if here:
            self.inbound[mv.sku].remove(min(here, key=lambda p: abs(p.eta - mv.t)))
            self._inbound_changed(mv.sku)

    def plan_transfers(self) -> list[tuple[int, int, int, int]]:
        """(src, dst, sku, qty) rebalancing moves, on the ERP's view: from the location with
        the most stock above its reorder point to the one furthest below its own."""
        avail = self.on_hand - self.committed - self.hold + self.in_transit
        if avail.shape[0] < 2:
            return []
        short = self.rop - avail
        spare = avail - self.rop
        dst = np.argmax(short, axis=0)
        src = np.argmax(spare, axis=0)
        cols = np.arange(avail.shape[1])
        qty = np.minimum(short[dst, cols], spare[src, cols])
        ok = (qty > 0) & (src != dst)
        return [(int(src[s]), int(dst[s]), int(s), int(qty[s])) for s in np.flatnonzero(ok)]
