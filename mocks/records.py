"""Where the ERP posts the WMS's movements, and the errors wrong master data leaves in its record.

The ERP's integration maps each WMS movement's location code to one of its own
(storage-location) records. Data-quality faults (``sim.faults.data``) make that map wrong
while they are on:

- ``location_mapping``: the code of location ``source`` points at ``into``: the stock part of
  every movement at ``source`` (on hand, hold) is posted to ``into``'s record; the order part
  (committed, on order) stays on the documents it belongs to;
- ``stale_product_location``: the ERP has no product-location record of some SKUs at
  ``into``: their movements there are not posted at all (the postings wait for master data
  that is never there), nor is the relocation that moved their stock there.

``BookErrors`` keeps, per (location, SKU), how far such postings put the ERP's record off
(ERP record minus what it would be had every movement been posted where it happened) and the
truth changes the ERP never took in. A correction puts the record right: a cycle count of
the pair (the ERP posts the counted quantity against its own book) or, for a stale record,
the master data fixed (the pair re-read). The checks compare the ERP's record less these
errors with the WMS's (``sim.checks``): wrong master data moves no unit.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from sim.contract import Movement
from sim.faults import ActiveFault
from sim.movements import Delta, apply

__all__ = ["DOCUMENT", "STOCK", "BookErrors"]

#: the fields of a posting that follow the location code (the stock record)
STOCK = frozenset({"on_hand", "hold", "in_transit", "in_transit_dst"})
#: the fields that follow the ERP's own documents (order lines, purchase orders)
DOCUMENT = frozenset({"committed", "on_order"})


class BookErrors:
    """The ERP's location map under data-quality faults, and what it put wrong."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.on_hand = np.zeros(shape, np.int64)
        self.hold = np.zeros(shape, np.int64)
        self.in_transit = np.zeros(shape, np.int64)
        self._routes: dict[int, tuple[ActiveFault, int, int]] = {}  # index: fault, src, into
        self._stale: dict[int, tuple[ActiveFault, int, np.ndarray]] = {}  # fault, into, mask
        self._seqs: dict[tuple[int, int], list[int]] = {}  # truth changes not taken in
        self.corrected = 0  # (location, SKU) records put right

    @property
    def active(self) -> bool:
        """Whether any fault changes the map now."""
        return bool(self._routes or self._stale)

    # -- the faults ---------------------------------------------------------------------------
    def route(self, source: int, into: int, fault: ActiveFault, on: bool) -> None:
        """While on, the stock part of movements at ``source`` is posted at ``into``."""
        if on:
            self._routes[fault.index] = (fault, source, into)
        else:
            self._routes.pop(fault.index, None)

    def unlink(self, into: int, skus: np.ndarray, fault: ActiveFault, on: bool) -> None:
        """While on, movements of ``skus`` at ``into`` are not posted (no product-location
        record there)."""
        if on:
            mask = np.zeros(self.on_hand.shape[1], bool)
            mask[np.asarray(skus, np.int64)] = True
            self._stale[fault.index] = (fault, into, mask)
        else:
            self._stale.pop(fault.index, None)

    def where(self, mv: Movement) -> int:
        """The location whose record the stock part of ``mv`` is posted to (-1: none)."""
        loc = mv.loc
        for fault, into, mask in self._stale.values():
            if loc == into and mask[mv.sku]:
                fault.hit()
                return -1
        for fault, src, into in self._routes.values():
            if loc == src:
                fault.hit()
                return into
        return loc

    # -- the errors ---------------------------------------------------------------------------
    def misposted(self, delta: Delta, mv: Movement, where: int) -> None:
        """``mv``'s stock part went to ``where`` (-1: nowhere) instead of ``mv.loc``."""
        if where >= 0:
            apply(delta, self, where, mv.sku, mv.qty, mv.dst, only=STOCK)
        apply(delta, self, mv.loc, mv.sku, -mv.qty, mv.dst, only=STOCK)
        if where < 0 and mv.seqs:
            self._seqs.setdefault((mv.loc, mv.sku), []).extend(mv.seqs)

    def unposted(self, delta: Delta, mv: Movement) -> None:
        """``mv`` was never posted (its truth changes stay unknown to the ERP)."""
        self.misposted(delta, mv, -1)

    def wrong(self) -> np.ndarray:
        """Per (location, SKU): whether the ERP's record is off."""
        wrong: np.ndarray = (self.on_hand != 0) | (self.hold != 0) | (self.in_transit != 0)
        return wrong

    def wrong_at(self, loc: int, sku: int) -> bool:
        return bool(self.on_hand[loc, sku] or self.hold[loc, sku] or self.in_transit[loc, sku])

    def take(self, loc: int, sku: int) -> tuple[int, int, int, list[int]]:
        """The errors of (loc, sku) and its truth changes not taken in; both cleared."""
        out = (int(self.on_hand[loc, sku]), int(self.hold[loc, sku]),
               int(self.in_transit[loc, sku]))  # fmt: skip
        self.on_hand[loc, sku] = self.hold[loc, sku] = self.in_transit[loc, sku] = 0
        self.corrected += 1
        return (*out, self._seqs.pop((loc, sku), []))

    def expected(self, erp: Any) -> SimpleNamespace:
        """The ERP's record less its errors: what the balance checks compare."""
        return SimpleNamespace(
            on_hand=erp.on_hand - self.on_hand,
            hold=erp.hold - self.hold,
            in_transit=erp.in_transit - self.in_transit,
        )
