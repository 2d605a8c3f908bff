"""The WMS: execution truth for physical movements.

Released order lines are picked after the location's pick delay (a short pick when the shelf
has less than the line needs; the bin is then counted) and shipped after its ship delay.
Releasing stock for a line dedicates it to the line in the truth too (``Ledger.release``).
Purchase orders are received, transfers travel between locations, returns arrive into
quality hold and are released or scrapped after QC, shrink silently removes stock until a
cycle count finds it. Every movement goes to the ERP's posting process and to the WMS's
stock-event subscribers.

The WMS record equals the physical stock except where shrink has not been counted yet and,
under ``returns.counted = "at_receipt"``, where returns were booked into stock before QC.
Integration API: ``read_stock`` (through the WMS's ``ApiServer``) and ``subscribe``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, Protocol

import numpy as np

from mocks.api import ApiServer
from mocks.clock import OwnClock
from sim.contract import Movement, Snapshot
from sim.faults import ActiveFault
from sim.ledger import ALL_VIEWS, KNOWN_TO_WMS, Ledger, Line
from sim.schema import Location, Returns, Shrink

__all__ = ["Books", "Movement", "Outsourced", "Wms"]


class Outsourced(Protocol):
    """Locations run by partners (``mocks.partner``): the WMS executes their physical work
    in the truth, but holds no record of it. Their orders go through the partner's order
    channel (``order``, which calls ``Wms.schedule_pick`` when the partner has them) and
    their movements go to the partner (``movement``), never to the ERP or subscribers."""

    def takes(self, loc: int) -> bool: ...
    def order(self, line: Line, loc: int, qty: int) -> None: ...
    def movement(self, mv: Movement) -> None: ...


class Books(Protocol):
    """Where the ERP's record is off through wrong master data (``mocks.records``): a cycle
    count of such a pair is posted even when the WMS finds nothing to adjust, since the ERP
    posts the counted quantity against its own book."""

    def wrong(self) -> np.ndarray: ...
    def wrong_at(self, loc: int, sku: int) -> bool: ...


class Wms(OwnClock):
    """Warehouse execution: pick, ship, receive, transfer, returns and QC, counts."""

    def __init__(
        self,
        env: Any,
        ledger: Ledger,
        locations: Sequence[Location],
        post: Callable[[Movement], None],
        api: ApiServer,
        rng: np.random.Generator,
        returns: Returns,
        shrink: Shrink,
        return_rates: Sequence[float],
    ) -> None:
        self.env = env
        self.ledger = ledger
        self.locations = list(locations)
        self.post = post  # hands every movement to the ERP's posting
        self.api = api
        self.rng = rng
        self.returns = returns
        self.shrink_spec = shrink
        self.return_rates = list(return_rates)  # per channel index
        shape = ledger.initial.shape
        self.picked = np.zeros(shape, np.int64)  # picked, not yet shipped
        self.released = np.zeros(shape, np.int64)  # released, not yet shipped or shorted
        self.uncounted = np.zeros(shape, np.int64)  # shrink not yet found
        self.unheld = np.zeros(shape, np.int64)  # returns on hold that the record counts as stock
        self.version = np.zeros(shape, np.int64)  # per (loc, sku) record version
        self._shrink_seqs: dict[int, list[int]] = {}
        self.view = ledger.views["wms"]
        self.subscribers: list[Callable[[Movement], None]] = []
        self.clock_offset = 0.0  # the WMS's clock minus true time (clock-skew faults)
        self.skews: list[ActiveFault] = []
        self.movements = 0
        #: partner locations (none by default) and their own delay streams, by location
        self.partners: Outsourced | None = None
        self.loc_rng: dict[int, np.random.Generator] = {}
        #: the ERP's record errors a count corrects (none: counts follow shrink only)
        self.books: Books | None = None

    # -- records ----------------------------------------------------------------------------
    @property
    def record_on_hand(self) -> np.ndarray:
        """What the WMS believes is on hand: physical plus shrink it has not found."""
        return self.ledger.on_hand + self.uncounted

    @property
    def record_hold(self) -> np.ndarray:
        """What the WMS record keeps in quality hold: returns not yet booked into stock."""
        return self.ledger.hold - self.unheld

    def snapshot(self, sel: np.ndarray | None = None) -> Snapshot:
        now = self.env.now
        cols: Any
        if sel is None:
            skus, cols, as_of = np.arange(self.ledger.n_sku), slice(None), self.view.as_of(now)
        else:
            skus = cols = sel
            as_of = self.view.as_of_for(np.arange(self.ledger.n_loc), sel, now)
        released = self.released[:, cols].copy()
        snap = Snapshot(
            skus=skus,
            on_hand=self.record_on_hand[:, cols],
            committed=np.zeros_like(released),  # the ERP's to know
            released=released,
            hold=self.record_hold[:, cols],
            in_transit=self.ledger.in_transit[:, cols].copy(),
            as_of=as_of,
            at=now,
        )
        if self.partners is not None:  # the partners' stock is no part of the WMS record
            for loc in range(self.ledger.n_loc):
                if self.partners.takes(loc):
                    for rows in (snap.on_hand, snap.released, snap.hold, snap.in_transit):
                        rows[loc] = 0
        return snap

    # -- integration API --------------------------------------------------------------------
    def read_stock(self, skus: Any = None) -> Any:
        """The WMS stock record (one call costing per item)."""
        sel = None if skus is None else np.atleast_1d(np.asarray(skus, np.int64))
        n = self.ledger.n_sku if sel is None else sel.size
        return self.api.call(n, lambda: self.snapshot(sel), op="read_stock")

    def initial_stock(self) -> Snapshot:
        """The go-live load: the WMS record at t = 0, as a consumer or a middleware is seeded
        from a one-time bulk export before it goes live (outside the measured window, so it
        costs no capacity). Later reads go through ``read_stock``."""
        if self.env.now > 0:
            raise RuntimeError(
                f"wms.initial_stock() is the go-live load, at t = 0 only (now t={self.env.now}); "
                "use wms.read_stock()"
            )
        return self.snapshot()

    def subscribe(self, fn: Callable[[Movement], None]) -> None:
        """Stock events: ``fn(movement)`` for every movement, when it happens."""
        self.subscribers.append(fn)

    # -- order execution --------------------------------------------------------------------
    def schedule_release(self, line: Line, loc: int, qty: int) -> None:
        """Release after the location's release delay (a partner location: send it to
        the partner, which releases it when it has it), and not before a credit hold on the
        line's order is lifted (``Order.credit_until``)."""
        partners = self.partners
        if partners is not None and partners.takes(loc):
            held = line.order.credit_until - self.env.now
            if held > 0:
                send = partners.order
                self.env.timeout(held).callbacks.append(lambda _: send(line, loc, qty))
            else:
                partners.order(line, loc, qty)
            return
        self.schedule_pick(line, loc, qty)

    def schedule_pick(self, line: Line, loc: int, qty: int) -> None:
        """Release ``qty`` of ``line`` at ``loc`` after the location's release delay, and
        not before a credit hold is lifted."""
        rng = self.loc_rng.get(loc, self.rng)
        delay = float(self.locations[loc].release_delay.sample(rng))
        held = line.order.credit_until - self.env.now
        if held > delay:
            delay = held
        if delay <= 0:
            self.release(line, loc, qty)
        else:
            self.env.timeout(delay).callbacks.append(lambda _: self.release(line, loc, qty))

    def release(self, line: Line, loc: int, qty: int) -> None:
        """The ERP released ``qty`` of ``line`` to location ``loc`` for picking: the stock is
        dedicated to the line there, in the truth too (``Ledger.release``). The ERP allocated
        it and the WMS released it, so every system's record knows it; strategies learn it
        from the release movement, which carries the truth changes."""
        if not line.released:
            line.released = True
            self.view.include(line.accept_seqs)
        self.released[loc, line.sku] += qty
        seqs = self.ledger.release(line, loc, qty, ALL_VIEWS)
        mv = Movement("release", loc, line.sku, qty, self.env.now, seqs, line=line)
        self._emit(mv, post=False)
        rng = self.loc_rng.get(loc, self.rng)
        self._after(self.locations[loc].pick_delay, self._pick, line, loc, qty, rng=rng)

    def _pick(self, line: Line, loc: int, qty: int) -> None:
        sku = line.sku
        shelf = int(self.ledger.on_hand[loc, sku] - self.ledger.hold[loc, sku])
        got = max(0, min(qty, shelf - int(self.picked[loc, sku])))
        if got < qty:
            self.count(loc, sku)  # a short pick triggers a count of the bin, posted first
            self.released[loc, sku] -= qty - got
            self.ledger.short(line, loc, qty - got)
            self._emit(Movement("short", loc, sku, qty - got, self.env.now, line=line))
        if got:
            self.picked[loc, sku] += got
            rng = self.loc_rng.get(loc, self.rng)
            self._after(self.locations[loc].ship_delay, self._ship, line, loc, got, rng=rng)

    def _ship(self, line: Line, loc: int, qty: int) -> None:
        sku = line.sku
        self.picked[loc, sku] -= qty
        self.released[loc, sku] -= qty
        seqs = self.ledger.ship(line, loc, qty, KNOWN_TO_WMS)
        self._emit(Movement("ship", loc, sku, qty, self.env.now, seqs, line=line))
        ret = self.returns
        if ret.enabled:
            rate = self.return_rates[line.channel]
            back = int(self.rng.binomial(qty, rate)) if rate > 0 else 0
            if back:
                self._after(ret.delay, self._return_arrives, loc, sku, back)

    # -- inbound and internal movements ------------------------------------------------------
    def receive(self, loc: int, sku: int, qty: int) -> None:
        """A supplier delivery is received onto the shelf."""
        seqs = self.ledger.receive(loc, sku, qty, KNOWN_TO_WMS)
        self._emit(Movement("receipt", loc, sku, qty, self.env.now, seqs))

    def transfer(self, src: int, dst: int, sku: int, qty: int, lead: float) -> int:
        """Dispatch up to ``qty`` of the shelf's free stock from ``src`` to ``dst``."""
        ledger = self.ledger
        # stock on the shelf that no released line is waiting for (released includes picked)
        spare = int(ledger.on_hand[src, sku] - ledger.hold[src, sku] - self.released[src, sku])
        q = min(qty, spare)
        if q <= 0:
            return 0
        seqs = ledger.transfer_out(src, dst, sku, q, KNOWN_TO_WMS)
        now = self.env.now
        self._emit(Movement("transfer_out", src, sku, q, now, seqs, dst=dst, eta=now + lead))
        self.env.timeout(lead).callbacks.append(lambda _: self._transfer_arrives(dst, sku, q))
        return q

    def relocate(self, src: int, dst: int, sku: int, qty: int) -> list[Movement]:
        """Move up to ``qty`` of the shelf's free stock of ``sku`` from ``src`` to ``dst``
        at once (a new home location: a catalogue change): a transfer out and in, published
        to subscribers but not sent to the ERP's posting; returns the two movements (none
        if nothing is free)."""
        ledger = self.ledger
        spare = int(ledger.on_hand[src, sku] - ledger.hold[src, sku] - self.released[src, sku])
        q = min(qty, spare)
        if q <= 0:
            return []
        now = self.env.now
        seqs = ledger.transfer_out(src, dst, sku, q, KNOWN_TO_WMS)
        out = Movement("transfer_out", src, sku, q, now, seqs, dst=dst, eta=now)
        self._emit(out, post=False)
        seqs = ledger.transfer_in(dst, sku, q, KNOWN_TO_WMS)
        into = Movement("transfer_in", dst, sku, q, now, seqs)
        self._emit(into, post=False)
        return [out, into]

    def _transfer_arrives(self, dst: int, sku: int, qty: int) -> None:
        seqs = self.ledger.transfer_in(dst, sku, qty, KNOWN_TO_WMS)
        self._emit(Movement("transfer_in", dst, sku, qty, self.env.now, seqs))

    def _return_arrives(self, loc: int, sku: int, qty: int) -> None:
        self.ledger.return_in(loc, sku, qty)
        self._emit(Movement("return", loc, sku, qty, self.env.now))
        if self.returns.counted == "at_receipt":
            # the record books the return straight into stock; the truth keeps it on hold
            self.unheld[loc, sku] += qty
            self._emit(Movement("qc_release", loc, sku, qty, self.env.now))
        self._after(self.returns.qc_delay, self._qc, loc, sku, qty)

    def _qc(self, loc: int, sku: int, qty: int) -> None:
        good = int(self.rng.binomial(qty, self.returns.restock_fraction))
        if self.returns.counted == "at_receipt":
            self._qc_booked(loc, sku, qty, good)
            return
        if good:
            seqs = self.ledger.qc_release(loc, sku, good, KNOWN_TO_WMS)
            self._emit(Movement("qc_release", loc, sku, good, self.env.now, seqs))
        if qty - good:
            self.ledger.scrap(loc, sku, qty - good)
            self._emit(Movement("scrap", loc, sku, qty - good, self.env.now))

    def _qc_booked(self, loc: int, sku: int, qty: int, good: int) -> None:
        """QC of a return the record already booked as stock: the truth releases the good
        units (a movement of 0 units carries that change to the records) and the record
        writes the scrapped ones off with an adjustment."""
        self.unheld[loc, sku] -= qty
        if good:
            seqs = self.ledger.qc_release(loc, sku, good, KNOWN_TO_WMS)
            self._emit(Movement("qc_release", loc, sku, 0, self.env.now, seqs))
        if qty - good:
            self.ledger.scrap(loc, sku, qty - good)
            self._emit(Movement("count", loc, sku, good - qty, self.env.now))

    # -- shrink and cycle counts ------------------------------------------------------------
    def run_shrink(self) -> Generator[Any, Any, None]:
        """SimPy process: silent losses from shelf stock, at ``rate_per_day`` per unit."""
        spec = self.shrink_spec
        ledger = self.ledger
        while True:
            yield self.env.timeout(spec.interval)
            shelf = np.maximum(ledger.on_hand - ledger.hold - self.picked, 0)
            lam = shelf * spec.rate_per_day * spec.interval / 86400.0
            lost = np.minimum(self.rng.poisson(lam), shelf)
            locs, skus = np.nonzero(lost)
            for loc, sku in zip(locs.tolist(), skus.tolist(), strict=True):
                q = int(lost[loc, sku])
                seqs = ledger.shrink(loc, sku, q)
                self.uncounted[loc, sku] += q
                self._shrink_seqs.setdefault(loc * ledger.n_sku + sku, []).extend(seqs)

    def run_counts(self) -> Generator[Any, Any, None]:
        """SimPy process: count a random fraction of SKU-locations; post what is found."""
        spec = self.shrink_spec
        while True:
            yield self.env.timeout(spec.count_interval)
            counted = self.rng.random(self.uncounted.shape) < spec.count_fraction
            found = self.uncounted > 0
            if self.books is not None:
                found |= self.books.wrong()
            locs, skus = np.nonzero(counted & found)
            for loc, sku in zip(locs.tolist(), skus.tolist(), strict=True):
                self.count(loc, sku)

    def count(self, loc: int, sku: int) -> None:
        """A cycle count at (loc, sku): the record is set to the physical quantity (and the
        count goes to the ERP, which corrects its own book of the pair, ``Books``)."""
        diff = int(self.uncounted[loc, sku])
        if not diff and (self.books is None or not self.books.wrong_at(loc, sku)):
            return
        self.uncounted[loc, sku] = 0
        seqs = self._shrink_seqs.pop(loc * self.ledger.n_sku + sku, [])
        self.view.include(seqs)
        self.ledger.views["records"].include(seqs)
        self._emit(Movement("count", loc, sku, -diff, self.env.now, seqs))

    # -- plumbing ---------------------------------------------------------------------------
    def _after(
        self, dist: Any, fn: Callable[..., None], *args: Any, rng: np.random.Generator | None = None
    ) -> None:
        delay = float(dist.sample(self.rng if rng is None else rng))
        if delay <= 0:
            fn(*args)
        else:
            self.env.timeout(delay, args).callbacks.append(lambda ev: fn(*ev.value))

    def _emit(self, mv: Movement, post: bool = True) -> None:
        loc, sku = mv.loc, mv.sku
        if self.partners is not None and self.partners.takes(loc):
            self.partners.movement(mv)  # the partner's, not in the WMS record
            return
        self.version[loc, sku] += 1
        mv.version = int(self.version[loc, sku])
        mv.on_hand = int(self.ledger.on_hand[loc, sku] + self.uncounted[loc, sku])
        mv.hold = int(self.ledger.hold[loc, sku] - self.unheld[loc, sku])
        mv.released = int(self.released[loc, sku])
        if self.skews:
            mv.t += self.clock_offset
            for f in self.skews:
                f.hit()
        self.movements += 1
        if post:
            self.post(mv)
        for fn in self.subscribers:
            fn(mv)
