"""What each kind of stock movement does, per unit, to the truth and to each record.

One table, ``MOVEMENTS``, read by everything that applies a movement: the ledger of truth
(``sim.ledger``), the ERP's posting (``mocks.erp``), a consumer's event-built view
(``strategies.kit.view``) and the balance checks (``sim.checks``). Per kind, three
``Delta``\\ s, each the change per unit of the movement's ``qty`` (a ``count`` adjustment's
``qty`` carries its sign):

- ``physical``: the truth (``sim.ledger``); ``None`` when no unit moves (a short pick, a
  release, a cycle count only corrects the record);
- ``wms``: the WMS record of the movement's (location, SKU), as a ``Movement``'s
  ``on_hand``, ``hold`` and ``released`` carry it; ``None`` when the record does not change
  (shrink is silent until a count finds it);
- ``erp``: the ERP's record when it posts the movement; ``None`` when it is not posted (a
  release is the ERP's own doing, shrink is unknown).

Every ``Delta`` applies at the movement's location, except ``in_transit_dst``, which
applies at its destination (``dst``, a transfer out). ``serves_backorders``: posting it
lets the ERP allocate lines waiting for stock at that location. What a kind does beyond
arithmetic (a posted ship emits the ``shipped`` order event; a posted short pick sends the
line back to allocation) is the applier's own, explicit step.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

__all__ = ["MOVEMENTS", "TRANSIT", "Delta", "MovementKind", "apply"]


@dataclass(frozen=True, slots=True)
class Delta:
    """The change of each quantity of one (location, SKU) record, per unit moved."""

    on_hand: int = 0
    hold: int = 0  # in quality hold (on hand, not available)
    released: int = 0  # WMS: released for picking, not yet shipped or shorted
    committed: int = 0  # ERP: allocated to order lines
    on_order: int = 0  # ERP: ordered from the supplier, not yet received
    in_transit: int = 0  # travelling to this location
    in_transit_dst: int = 0  # travelling to the movement's destination (``dst``)
    #: the nonzero fields, as (name, change per unit)
    terms: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        terms = tuple((f.name, getattr(self, f.name)) for f in fields(self) if f.init)
        object.__setattr__(self, "terms", tuple(t for t in terms if t[1]))

    @property
    def available(self) -> int:
        """The change of ``on_hand - committed - released - hold``."""
        return self.on_hand - self.committed - self.released - self.hold


@dataclass(frozen=True, slots=True)
class MovementKind:
    """One kind of movement: its effect on the truth, the WMS record and the ERP record."""

    name: str
    physical: Delta | None
    wms: Delta | None
    erp: Delta | None
    serves_backorders: bool = False


_KINDS = (
    MovementKind(
        "receipt",
        physical=Delta(on_hand=1),
        wms=Delta(on_hand=1),
        erp=Delta(on_hand=1, on_order=-1),
        serves_backorders=True,
    ),
    MovementKind(
        "ship",
        physical=Delta(on_hand=-1),
        wms=Delta(on_hand=-1, released=-1),
        erp=Delta(on_hand=-1, committed=-1),
    ),
    MovementKind("short", physical=None, wms=Delta(released=-1), erp=Delta(committed=-1)),
    MovementKind(
        "return",
        physical=Delta(on_hand=1, hold=1),
        wms=Delta(on_hand=1, hold=1),
        erp=Delta(on_hand=1, hold=1),
    ),
    MovementKind(
        "qc_release",
        physical=Delta(hold=-1),
        wms=Delta(hold=-1),
        erp=Delta(hold=-1),
        serves_backorders=True,
    ),
    MovementKind(
        "scrap",
        physical=Delta(on_hand=-1, hold=-1),
        wms=Delta(on_hand=-1, hold=-1),
        erp=Delta(on_hand=-1, hold=-1),
    ),
    MovementKind("shrink", physical=Delta(on_hand=-1), wms=None, erp=None),
    MovementKind(
        "transfer_out",
        physical=Delta(on_hand=-1, in_transit_dst=1),
        wms=Delta(on_hand=-1, in_transit_dst=1),
        erp=Delta(on_hand=-1, in_transit_dst=1),
    ),
    MovementKind(
        "transfer_in",
        physical=Delta(on_hand=1, in_transit=-1),
        wms=Delta(on_hand=1, in_transit=-1),
        erp=Delta(on_hand=1, in_transit=-1),
        serves_backorders=True,
    ),
    MovementKind("count", physical=None, wms=Delta(on_hand=1), erp=Delta(on_hand=1)),
    MovementKind("release", physical=None, wms=Delta(released=1), erp=None),
)

MOVEMENTS: Mapping[str, MovementKind] = MappingProxyType({k.name: k for k in _KINDS})
"""Every movement kind by name (the WMS's movements and the truth's silent shrink)."""


#: the fields of stock in transit: no part of the record a ``Movement`` carries
TRANSIT = frozenset({"in_transit", "in_transit_dst"})


def apply(
    delta: Delta,
    record: Any,
    loc: int,
    sku: int,
    qty: int,
    dst: int = -1,
    only: Collection[str] | None = None,
) -> None:
    """Add ``qty`` units of ``delta`` to the (location, SKU) arrays of ``record`` named as
    its fields (``record.on_hand[loc, sku] += delta.on_hand * qty``, ...; those of ``only``
    if given); ``in_transit_dst`` goes to ``record.in_transit[dst, sku]``."""
    for name, per_unit in delta.terms:
        if only is not None and name not in only:
            continue
        if name == "in_transit_dst":
            record.in_transit[dst, sku] += per_unit * qty
        else:
            getattr(record, name)[loc, sku] += per_unit * qty
