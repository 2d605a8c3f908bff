"""The ledger of truth: every unit movement and every accepted order line, with its time.

The ledger holds the physical world (what is on the shelf, in quality hold, in transit) and
the truth of commitments. Mocks act on the world only through it; strategies never see it, so
no strategy can grade itself. Per (location, SKU)::

    on_hand      units physically in the building (quality hold included)
    hold         returns awaiting QC
    committed    truth-committed: claimed by accepted, unshipped, uncancelled lines
    in_transit   units travelling to this location (transfers)
    inbound      units on purchase orders and transfers due at this location (inbound
                 supply: what a pre-order may wait for)
    free         on_hand - committed - hold   (may be negative)

    true_available(c, s) = sum over the locations serving channel c of max(0, free)
    true_available(c, b) = min over the components s of bundle b of
                           true_available(c, s) // units of s per b

When a channel accepts a line, the line claims its quantity from ``free`` at the channel's
locations in priority order; what cannot be claimed is *oversold* (``oversold_units`` and
``Line.oversold`` are measured then, once) and stays *unbacked*. From then on the claim
follows the stock (DESIGN §3):

- when the WMS releases ``q`` units of a line at a location for picking (``release``), ``q``
  units of the line are claimed there: first what the line already claims there, then
  claims it holds at its other locations (they move), then its unbacked part (it becomes
  backed). Those units are *dedicated* (``Line.dedicated``) until they ship or the pick
  comes up short (``short``); a dedicated claim never moves;
- shipping consumes claims, at the shipping location first;
- cancelling ends the unbacked part first, then claims not dedicated to a release.

So truth never counts stock as free that the warehouse has already dedicated to a line.

Claims are kept feasible: when a location's ``free`` goes negative (a release backed an
oversold part where the stock was already claimed, the ERP shipped a line from a location
where another line held the claim, a transfer or shrink took claimed units), claims there
that are not dedicated move to other locations that can serve the claiming line and have
free stock, now or as soon as some appears, so that earlier commitments are honoured first.
A deficit that cannot be covered when it appears is counted in ``unbacked`` (units promised
to an accepted line that have no physical backing: lost after acceptance, or backed by a
release where there was no free stock).

Every change of ``free`` at a (location, SKU) is a *truth change*: it gets a sequence number,
is logged with its time (for lag), is registered as pending in every provenance view that did
not originate it (``sim.provenance``), and is announced to the listeners (metrics, oracle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sim.movements import MOVEMENTS, apply
from sim.provenance import PendingView

__all__ = [
    "ALL_VIEWS",
    "KNOWN_TO_RECORDS",
    "KNOWN_TO_WMS",
    "MOVEMENT_KINDS",
    "VIEWS",
    "Ledger",
    "Line",
    "Order",
]

# Provenance views. "wms": what the WMS knows (movements, released orders); "erp": what the ERP
# knows (posted movements, imported orders); "records": the WMS record plus every accepted
# order, instantly (what the oracle sees; behind the truth only by uncounted shrink). A record
# ahead of the truth (returns booked into stock at receipt, before QC) is no truth change:
# nothing is pending for it, the record is simply wrong until QC (divergence, not lag).
VIEWS = ("wms", "erp", "records")
ALL_VIEWS: frozenset[str] = frozenset(VIEWS)
KNOWN_TO_WMS: frozenset[str] = frozenset({"wms", "records"})
KNOWN_TO_RECORDS: frozenset[str] = frozenset({"records"})

MOVEMENT_KINDS = (
    "receipt",
    "ship",
    "return",
    "qc_release",
    "scrap",
    "shrink",
    "transfer_out",
    "transfer_in",
)
_KIND = {k: i for i, k in enumerate(MOVEMENT_KINDS)}


class Order:
    """A customer order as a channel accepted it."""

    __slots__ = (
        "channel", "credit_until", "customer", "id", "lines", "region", "route", "t",
        "visible_at",
    )  # fmt: skip

    def __init__(self, oid: int, channel: int, t: float) -> None:
        self.id = oid
        self.channel = channel
        self.t = t
        self.lines: list[Line] = []
        self.visible_at = t
        self.region = -1  # the customer's region (scenario regions), -1: none
        # the locations that may serve it, in the order the channel's routing tries them
        # (None: the channel's locations in priority order)
        self.route: list[int] | None = None
        self.customer = -1  # the B2B customer account that placed it (sim.contracts), -1: none
        self.credit_until = 0.0  # held for credit approval until then (warehouse release)


class Line:
    """One accepted order line and its fate in the truth."""

    __slots__ = (
        "accept_seqs",
        "backordered",
        "bundle",
        "cancelled",
        "channel",
        "claims",
        "dedicated",
        "id",
        "order",
        "oversold",
        "preorder",
        "promised",
        "qty",
        "released",
        "ship_mask",
        "shipped",
        "shipped_at",
        "sku",
        "t",
    )

    def __init__(self, lid: int, order: Order, sku: int, qty: int, t: float) -> None:
        self.id = lid
        self.order = order
        self.channel = order.channel
        self.sku = sku
        self.qty = qty
        self.t = t
        self.claims: dict[int, int] = {}
        # units the WMS has released at a location for this line and not yet shipped or
        # shorted: claimed there, never moved (``Ledger.release``)
        self.dedicated: dict[int, int] = {}
        self.oversold = 0
        self.shipped = 0
        self.cancelled = 0
        self.released = False
        self.accept_seqs: list[int] = []
        self.promised = -1.0  # the ship-by time promised to the customer; < 0: none
        self.shipped_at = -1.0  # when its last unit shipped
        self.ship_mask = 0  # bit i: units shipped from location i
        self.backordered = False  # the ERP had to wait for supply for part of it
        # units accepted against inbound supply, by location (a pre-order), not yet claimed
        self.preorder: dict[int, int] | None = None
        self.bundle = -1  # the bundle SKU this component line was sold as part of; -1: none

    @property
    def open(self) -> int:
        return self.qty - self.shipped - self.cancelled

    @property
    def claimed(self) -> int:
        return sum(self.claims.values())


AvailListener = Callable[[int, int], None]


class Ledger:
    """Physical stock and truth commitments for ``n_loc`` locations and ``n_sku`` SKUs."""

    def __init__(
        self,
        env: Any,
        initial_on_hand: np.ndarray,
        serve: Sequence[Sequence[int]],
    ) -> None:
        self.env = env
        self.n_loc, self.n_sku = initial_on_hand.shape
        self.serve = [list(s) for s in serve]
        self.channels_of_loc = [
            [c for c, locs in enumerate(self.serve) if loc in locs] for loc in range(self.n_loc)
        ]
        shape = initial_on_hand.shape
        self.initial = initial_on_hand.astype(np.int64).copy()
        self.on_hand = self.initial.copy()
        self.hold = np.zeros(shape, np.int64)
        self.committed = np.zeros(shape, np.int64)
        self.in_transit = np.zeros(shape, np.int64)
        # units on purchase orders and transfers to each location, not yet arrived (truth)
        self.inbound = np.zeros(shape, np.int64)
        self._preorders: dict[int, list[Line]] = {}  # flat key -> lines waiting for inbound
        self.inbound_waiting = np.zeros(shape, np.int64)  # their units (``_waiting``)
        self.totals = {k: np.zeros(shape, np.int64) for k in MOVEMENT_KINDS}
        # movement log (columnar): time, kind, location, sku, quantity
        self.mv_t: list[float] = []
        self.mv_kind: list[int] = []
        self.mv_loc: list[int] = []
        self.mv_sku: list[int] = []
        self.mv_qty: list[int] = []
        # truth-change log: time and flat key loc * n_sku + sku
        self.chg_t: list[float] = []
        self.chg_key: list[int] = []
        self.views = {v: PendingView(v, self.n_loc, self.n_sku, self.chg_t) for v in VIEWS}
        self.orders: list[Order] = []
        self.lines: list[Line] = []
        self.oversold_units = [0] * len(self.serve)  # cumulative, per channel
        self.oversold_lines = [0] * len(self.serve)  # cumulative, per channel
        self.unbacked = np.zeros(self.n_sku, np.int64)  # cumulative, per SKU
        self._claimants: dict[int, dict[int, Line]] = {}  # flat key -> open claiming lines
        self._deficit: set[int] = set()  # SKUs with a location in deficit
        self.available_listeners: list[AvailListener] = []
        self.on_hand_listeners: list[AvailListener] = []
        # bundles: bundle SKU -> [(component, units per bundle)]; component -> its bundles
        self.components: dict[int, list[tuple[int, int]]] = {}
        self.bundles_of: dict[int, list[int]] = {}

    def set_bundles(self, bundles: Mapping[int, Sequence[tuple[int, int]]]) -> None:
        """Bundles and kits (``bundle -> [(component, units)]``): a bundle holds no stock;
        its truth for a channel is what its components' truth makes up."""
        self.components = {b: list(c) for b, c in bundles.items()}
        self.bundles_of = {}
        for b, comps in self.components.items():
            for c, _ in comps:
                self.bundles_of.setdefault(c, []).append(b)

    def add_view(self, name: str) -> PendingView:
        """A new provenance view (for a strategy's own store of stock: a channel consumer,
        a middleware). Every later truth change is pending in it until it ``include``s the
        change's sequence numbers, which events carry."""
        if name in self.views:
            raise ValueError(f"a provenance view named {name!r} exists already")
        view = PendingView(name, self.n_loc, self.n_sku, self.chg_t)
        self.views[name] = view
        return view

    # -- reading the truth ------------------------------------------------------------------
    def free(self, loc: int, sku: int) -> int:
        return (
            self.on_hand.item(loc, sku) - self.committed.item(loc, sku) - self.hold.item(loc, sku)
        )

    def free_by_loc(self, sku: int) -> list[int]:
        """``max(0, free(loc, sku))`` for every location, in location order."""
        on, com, hold = self.on_hand.item, self.committed.item, self.hold.item
        out = []
        for loc in range(self.n_loc):
            f = on(loc, sku) - com(loc, sku) - hold(loc, sku)
            out.append(f if f > 0 else 0)
        return out

    def true_available(self, channel: int, sku: int) -> int:
        """Sum over ``channel``'s locations of ``max(0, free)``; for a bundle, the minimum
        over its components of their ``true_available`` // units per bundle."""
        if self.components and sku in self.components:
            return min(self.true_available(channel, c) // k for c, k in self.components[sku])
        on, com, hold = self.on_hand.item, self.committed.item, self.hold.item
        total = 0
        for loc in self.serve[channel]:
            f = on(loc, sku) - com(loc, sku) - hold(loc, sku)
            if f > 0:
                total += f
        return total

    def true_available_all(self) -> np.ndarray:
        """true_available for every (channel, SKU), shape (n_channels, n_sku)."""
        free = np.maximum(self.on_hand - self.committed - self.hold, 0)
        out = np.stack([free[locs].sum(axis=0) for locs in self.serve])
        for b, comps in self.components.items():
            out[:, b] = np.min([out[:, c] // k for c, k in comps], axis=0)
        return out

    # -- orders -----------------------------------------------------------------------------
    def new_order(self, channel: int) -> Order:
        order = Order(len(self.orders), channel, self.env.now)
        self.orders.append(order)
        return order

    def inbound_free(self, loc: int, sku: int) -> int:
        """Units inbound to ``loc`` that no pre-order line is waiting for."""
        return max(0, self.inbound.item(loc, sku) - self.inbound_waiting.item(loc, sku))

    def true_inbound(self, channel: int, sku: int) -> int:
        """``inbound_free`` summed over the locations serving ``channel``."""
        return sum(self.inbound_free(loc, sku) for loc in self.serve[channel])

    def add_inbound(self, loc: int, sku: int, qty: int) -> None:
        """A purchase order for ``qty`` units to ``loc`` is placed (a transfer adds its units
        itself, when it leaves)."""
        self.inbound[loc, sku] += qty

    def accept(self, order: Order, sku: int, qty: int, preorder: int = 0) -> Line:
        """A channel accepted ``qty`` of ``sku``: claim it from truth, record the oversell.
        ``preorder`` of the units were accepted against future availability: up to that
        many of the units free stock cannot back are backed by inbound supply no earlier
        pre-order waits for (claimed when that supply is received); only what neither backs
        is oversold."""
        line = Line(len(self.lines), order, sku, qty, self.env.now)
        need = qty
        route = order.route if order.route is not None else self.serve[order.channel]
        for loc in route:
            if need == 0:
                break
            f = self.free(loc, sku)
            if f > 0:
                take = min(need, f)
                self.committed[loc, sku] += take
                line.claims[loc] = take
                self._claimants.setdefault(loc * self.n_sku + sku, {})[line.id] = line
                need -= take
                line.accept_seqs.append(self._change(loc, sku, KNOWN_TO_RECORDS))
        if need and preorder > 0:
            cover = min(need, preorder)
            for loc in route:
                take = min(cover, self.inbound_free(loc, sku))
                if take > 0:
                    if line.preorder is None:
                        line.preorder = {}
                    line.preorder[loc] = take
                    self._preorders.setdefault(loc * self.n_sku + sku, []).append(line)
                    self.inbound_waiting[loc, sku] += take
                    need -= take
                    cover -= take
                    if cover == 0:
                        break
        line.oversold = need
        if need:
            self.oversold_units[order.channel] += need
            self.oversold_lines[order.channel] += 1
        order.lines.append(line)
        self.lines.append(line)
        return line

    def ship(self, line: Line, loc: int, qty: int, known_by: frozenset[str]) -> list[int]:
        """``qty`` units of ``line`` leave location ``loc``; claims are consumed first."""
        if qty <= 0:
            return []
        if qty > line.open:
            raise AssertionError(f"line {line.id}: shipping {qty} > open {line.open}")
        sku = line.sku
        if self.on_hand[loc, sku] - self.hold[loc, sku] < qty:
            raise AssertionError(f"ship of {qty} at ({loc}, {sku}) exceeds shelf stock")
        self._move("ship", loc, sku, qty)
        line.shipped += qty
        line.shipped_at = self.env.now
        line.ship_mask |= 1 << loc
        self._undedicate(line, loc, qty)
        released = self._release(line, qty, prefer=loc)
        seqs = []
        if released.get(loc, 0) != qty:
            seqs.append(self._change(loc, sku, known_by))
        for other in released:
            if other != loc:
                seqs.append(self._change(other, sku, known_by))
        self._notify_on_hand(loc, sku)
        seqs += self._settle(loc, sku, known_by, drop=qty - released.get(loc, 0))
        return seqs

    def cancel(self, line: Line, qty: int, known_by: frozenset[str] = ALL_VIEWS) -> list[int]:
        """``qty`` open units of ``line`` are cancelled; the unclaimed part goes first, then
        claims not dedicated to a release."""
        if qty <= 0:
            return []
        if qty > line.open:
            raise AssertionError(f"line {line.id}: cancelling {qty} > open {line.open}")
        unbacked = line.open - line.claimed
        before = self._waits(line)
        line.cancelled += qty
        if before:
            self._rewait(line, before)
        release = max(0, qty - unbacked)
        released = self._release(line, release, prefer=None) if release else {}
        seqs = [self._change(loc, line.sku, known_by) for loc in released]
        if released and line.sku in self._deficit:
            seqs += self._rebalance(line.sku, known_by)
        return seqs

    def release(self, line: Line, loc: int, qty: int, known_by: frozenset[str]) -> list[int]:
        """The WMS released ``qty`` units of ``line`` at ``loc`` for picking: they are claimed
        there and dedicated to the line until they ship (``ship``) or the pick comes up short
        (``short``).

        The claim is made of, in order: what the line already claims at ``loc`` and has not
        dedicated; claims it holds at its other locations and has not dedicated (they move
        here, the channel's last location first); its unbacked part (it becomes backed
        here). Every change of ``free`` is a truth change known to ``known_by``. A claim
        beyond ``loc``'s free stock leaves ``free`` negative there: other lines' claims move
        away where they can (``_rebalance``), and what is left is counted in ``unbacked``.
        """
        if qty <= 0:
            return []
        sku = line.sku
        ded = line.dedicated
        if qty > line.open - sum(ded.values()):
            raise AssertionError(f"line {line.id}: releasing {qty} > open and not released")
        before = self._deficit_units(sku) if sku in self._deficit else 0  # else none anywhere
        before_wait = self._waits(line)
        need = qty - min(qty, max(0, line.claims.get(loc, 0) - ded.get(loc, 0)))
        seqs: list[int] = []
        if need:
            unbacked = line.open - line.claimed
            prio = self.serve[line.channel]
            moved, moved_from = 0, []
            for other in sorted(line.claims, key=lambda x: -prio.index(x)):
                take = min(need - moved, line.claims[other] - ded.get(other, 0))
                if other == loc or take <= 0:
                    continue
                self._unclaim(line, other, take)
                moved_from.append(other)
                moved += take
            added = moved + min(need - moved, unbacked)
            if added:
                line.claims[loc] = line.claims.get(loc, 0) + added
                self._claimants.setdefault(loc * self.n_sku + sku, {})[line.id] = line
                self.committed[loc, sku] += added
                # announced once the claim has moved: no listener sees it half-way
                seqs = [self._change(x, sku, known_by) for x in (*moved_from, loc)]
        ded[loc] = ded.get(loc, 0) + qty
        if line.preorder is not None:  # its unbacked part became backed here
            self._rewait(line, before_wait)
        if seqs and (self.free(loc, sku) < 0 or sku in self._deficit):
            self._deficit.add(sku)
            seqs += self._rebalance(sku, known_by)
            self.unbacked[sku] += max(0, self._deficit_units(sku) - before)
        return seqs

    def _waits(self, line: Line) -> dict[int, int]:
        """A pre-order line's units waiting for supply, by location (empty for others)."""
        if line.preorder is None:
            return {}
        return {loc: _waiting(line, loc) for loc in line.preorder}

    def _rewait(self, line: Line, before: dict[int, int]) -> None:
        """Keep ``inbound_waiting`` exact after ``line``'s waiting units changed."""
        for loc, was in before.items():
            self.inbound_waiting[loc, line.sku] += _waiting(line, loc) - was

    def short(self, line: Line, loc: int, qty: int) -> None:
        """A pick of ``line`` at ``loc`` came up ``qty`` units short: those units are no
        longer dedicated there. The claim stays (no truth change) until the line is released
        elsewhere (its claim moves there), ships or is cancelled."""
        self._undedicate(line, loc, qty)

    def _undedicate(self, line: Line, loc: int, qty: int) -> None:
        d = line.dedicated.get(loc, 0) - qty
        if d > 0:
            line.dedicated[loc] = d
        else:
            line.dedicated.pop(loc, None)

    def _unclaim(self, line: Line, loc: int, qty: int) -> None:
        line.claims[loc] -= qty
        if line.claims[loc] == 0:
            del line.claims[loc]
            del self._claimants[loc * self.n_sku + line.sku][line.id]
        self.committed[loc, line.sku] -= qty

    def _release(self, line: Line, qty: int, prefer: int | None) -> dict[int, int]:
        """End ``qty`` units of ``line``'s claims: at ``prefer`` first, then claims not
        dedicated to a release (the channel's last location first), then dedicated ones."""
        prio = self.serve[line.channel]
        order = sorted(line.claims, key=lambda x: (x != prefer, -prio.index(x)))
        released: dict[int, int] = {}
        for dedicated in (False, True):
            for loc in order:
                if qty == 0:
                    return released
                have = line.claims.get(loc, 0)
                if loc != prefer:
                    spare = have - line.dedicated.get(loc, 0)
                    have = have - spare if dedicated else spare
                take = min(qty, have)
                if take <= 0:
                    continue
                self._unclaim(line, loc, take)
                if line.claims.get(loc, 0) < line.dedicated.get(loc, 0):
                    line.dedicated[loc] = line.claims.get(loc, 0)
                    if not line.dedicated[loc]:
                        del line.dedicated[loc]
                released[loc] = released.get(loc, 0) + take
                qty -= take
        return released

    # -- physical movements -----------------------------------------------------------------
    def receive(self, loc: int, sku: int, qty: int, known_by: frozenset[str]) -> list[int]:
        """A purchase-order receipt puts ``qty`` units on the shelf; pre-order lines waiting
        for supply at ``loc`` claim them, first accepted first."""
        self._move("receipt", loc, sku, qty)
        self._arrive(loc, sku, qty)
        self._notify_on_hand(loc, sku)
        return [self._change(loc, sku, known_by), *self._settle(loc, sku, known_by)]

    def _arrive(self, loc: int, sku: int, qty: int) -> None:
        """Inbound supply (a purchase order or a transfer) reached ``loc``: pre-order lines
        waiting for supply there claim it, first accepted first."""
        self.inbound[loc, sku] -= min(qty, self.inbound.item(loc, sku))
        key = loc * self.n_sku + sku
        waiting = self._preorders.get(key)
        if waiting:
            for ln in waiting:
                take = min(_waiting(ln, loc), self.free(loc, sku))
                if take <= 0:
                    continue
                assert ln.preorder is not None
                ln.preorder[loc] -= take
                ln.claims[loc] = ln.claims.get(loc, 0) + take
                self._claimants.setdefault(key, {})[ln.id] = ln
                self.committed[loc, sku] += take
            left = [ln for ln in waiting if _waiting(ln, loc) > 0]
            self._preorders[key] = left
            self.inbound_waiting[loc, sku] = sum(_waiting(ln, loc) for ln in left)

    def return_in(self, loc: int, sku: int, qty: int) -> None:
        """Returned units arrive into quality hold (on hand, not available)."""
        self._move("return", loc, sku, qty)
        self._notify_on_hand(loc, sku)

    def qc_release(self, loc: int, sku: int, qty: int, known_by: frozenset[str]) -> list[int]:
        self._move("qc_release", loc, sku, qty)
        return [self._change(loc, sku, known_by), *self._settle(loc, sku, known_by)]

    def scrap(self, loc: int, sku: int, qty: int) -> None:
        self._move("scrap", loc, sku, qty)
        self._notify_on_hand(loc, sku)

    def shrink(self, loc: int, sku: int, qty: int) -> list[int]:
        """Silent physical loss: no system knows until a cycle count finds it."""
        if self.on_hand[loc, sku] - self.hold[loc, sku] < qty:
            raise AssertionError(f"shrink of {qty} at ({loc}, {sku}) exceeds shelf stock")
        self._move("shrink", loc, sku, qty)
        self._notify_on_hand(loc, sku)
        return [self._change(loc, sku, frozenset()), *self._settle(loc, sku, frozenset(), qty)]

    def transfer_out(
        self, src: int, dst: int, sku: int, qty: int, known_by: frozenset[str]
    ) -> list[int]:
        if self.on_hand[src, sku] - self.hold[src, sku] < qty:
            raise AssertionError(f"transfer of {qty} from ({src}, {sku}) exceeds shelf stock")
        self._move("transfer_out", src, sku, qty, dst)
        self.inbound[dst, sku] += qty  # inbound supply at dst until it arrives
        self._notify_on_hand(src, sku)
        return [self._change(src, sku, known_by), *self._settle(src, sku, known_by, qty)]

    def transfer_in(self, dst: int, sku: int, qty: int, known_by: frozenset[str]) -> list[int]:
        self._move("transfer_in", dst, sku, qty)
        self._arrive(dst, sku, qty)
        self._notify_on_hand(dst, sku)
        return [self._change(dst, sku, known_by), *self._settle(dst, sku, known_by)]

    # -- keeping claims feasible -------------------------------------------------------------
    def _settle(self, loc: int, sku: int, known_by: frozenset[str], drop: int = 0) -> list[int]:
        """After ``free`` at (loc, sku) fell by ``drop`` (or rose): move claims to where stock
        is, and count in ``unbacked`` the deficit that is left and was not there before."""
        f = self.free(loc, sku)
        if f >= 0 and sku not in self._deficit:
            return []
        created = max(0, -f) - max(0, -(f + drop))
        before = self._deficit_units(sku) - created
        self._deficit.add(sku)
        seqs = self._rebalance(sku, known_by)
        self.unbacked[sku] += max(0, self._deficit_units(sku) - before)
        return seqs

    def _deficit_units(self, sku: int) -> int:
        return sum(max(0, -self.free(loc, sku)) for loc in range(self.n_loc))

    def _rebalance(self, sku: int, known_by: frozenset[str]) -> list[int]:
        """Move claims out of locations in deficit to ones that can serve the claimant."""
        seqs: list[int] = []
        n = self.n_sku
        for loc in range(self.n_loc):
            deficit = -self.free(loc, sku)
            if deficit <= 0:
                continue
            claimants = self._claimants.get(loc * n + sku, {})
            for line in list(claimants.values())[::-1]:  # latest claims move first
                for dst in self.serve[line.channel]:
                    if dst == loc or deficit == 0 or loc not in line.claims:
                        continue
                    spare = line.claims[loc] - line.dedicated.get(loc, 0)  # dedicated stay
                    move = min(deficit, spare, self.free(dst, sku))
                    if move <= 0:
                        continue
                    line.claims[loc] -= move
                    if line.claims[loc] == 0:
                        del line.claims[loc]
                        del claimants[line.id]
                    line.claims[dst] = line.claims.get(dst, 0) + move
                    self._claimants.setdefault(dst * n + sku, {})[line.id] = line
                    self.committed[loc, sku] -= move
                    self.committed[dst, sku] += move
                    deficit -= move
                    seqs.append(self._change(loc, sku, known_by))
                    seqs.append(self._change(dst, sku, known_by))
                if deficit == 0:
                    break
        if all(self.free(loc, sku) >= 0 for loc in range(self.n_loc)):
            self._deficit.discard(sku)
        return seqs

    # -- internals --------------------------------------------------------------------------
    def _move(self, kind: str, loc: int, sku: int, qty: int, dst: int = -1) -> None:
        """Units move physically (``sim.movements``: what a kind does), and the log says so."""
        physical = MOVEMENTS[kind].physical
        assert physical is not None
        apply(physical, self, loc, sku, qty, dst)
        self.totals[kind][loc, sku] += qty
        self.mv_t.append(self.env.now)
        self.mv_kind.append(_KIND[kind])
        self.mv_loc.append(loc)
        self.mv_sku.append(sku)
        self.mv_qty.append(qty)

    def _change(self, loc: int, sku: int, known_by: frozenset[str]) -> int:
        seq = len(self.chg_t)
        key = loc * self.n_sku + sku
        self.chg_t.append(self.env.now)
        self.chg_key.append(key)
        for name, view in self.views.items():
            if name not in known_by:
                view.add(key, seq)
        for fn in self.available_listeners:
            fn(loc, sku)
        if self.bundles_of:
            for b in self.bundles_of.get(sku, ()):
                for fn in self.available_listeners:
                    fn(loc, b)  # what its components make up may have changed
        return seq

    def _notify_on_hand(self, loc: int, sku: int) -> None:
        for fn in self.on_hand_listeners:
            fn(loc, sku)

    def movement_frame(self) -> dict[str, np.ndarray]:
        """The movement log as columns (kind as its name index into MOVEMENT_KINDS)."""
        return {
            "t": np.asarray(self.mv_t, float),
            "kind": np.asarray(self.mv_kind, np.int8),
            "loc": np.asarray(self.mv_loc, np.int32),
            "sku": np.asarray(self.mv_sku, np.int64),
            "qty": np.asarray(self.mv_qty, np.int64),
        }


def _waiting(line: Line, loc: int) -> int:
    """Units of a pre-order ``line`` still waiting for supply at ``loc``: what it was accepted
    for there, at most its open units that no claim backs (a release elsewhere, a ship or a
    cancel may have settled them already)."""
    if line.preorder is None:
        return 0
    return max(0, min(line.preorder.get(loc, 0), line.open - line.claimed))
