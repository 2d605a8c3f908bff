"""Data-quality faults: the integration's master data is wrong (docs/data-quality.md).

The article blames point-to-point integrations for "custom mappings, inconsistent retry
logic, and duplicated business rules": each connector keeps its own SKU map, unit of measure
and location codes, and nothing checks them against each other. These kinds make one of
those maps wrong for a window; the SKUs they affect are drawn from a stream of the fault's own
when it switches on (``fraction``), or listed (``skus``: catalogue indexes).

- ``unmapped_skus``: a channel's listing has no mapping for some SKUs: writes to them are
  refused item by item (the write is served, the other items apply; a failed update each);
- ``uom_mismatch``: a channel lists some SKUs in cases where the ERP counts eaches: a write
  of ``v`` shows ``v * case_size``;
- ``location_mapping``: the ERP's location map points ``source``'s code at ``into``: it posts
  the stock part of every WMS movement at ``source`` to ``into``;
- ``stale_product_location``: SKUs are moved for good from ``source`` to ``into`` (the WMS
  relocates their free stock when the fault starts), but the ERP's product-location records
  are not updated until the fault ends (master data fixed, the records re-read).

None of them loses or makes a unit (``sim.checks`` compares the ERP's record less what wrong
master data put off in it, ``mocks.records``). Chaos never draws them (``chaos_weight`` 0:
every seed's plan stays what it was); a scenario plans them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from sim.faults.base import ActiveFault, Fault, FaultError, FaultTargets, ScenarioView
from sim.fields import Count, Int, Real

__all__ = [
    "LocationMapping",
    "SkuFault",
    "StaleProductLocation",
    "UnmappedSkus",
    "UomMismatch",
]

ALL_CHANNELS = "channels"


def _catalogue_size(scenario: ScenarioView) -> int | None:
    """The scenario's number of SKUs, when it says so (a ``sim.schema.Scenario`` does)."""
    n = getattr(getattr(scenario, "catalogue", None), "skus", None)
    return n if isinstance(n, int) else None


def _own_location(scenario: ScenarioView, name: str, field: str) -> None:
    locs = {loc.name: loc for loc in scenario.locations}
    if name not in locs:
        raise FaultError(f"{name!r} is not a location (locations: {', '.join(locs)})", field)
    if locs[name].is_partner:
        raise FaultError(f"{name!r} is a partner location: the ERP keeps no map of it", field)


class SkuFault(Fault):
    """The base of the kinds that affect some SKUs: a share ``fraction`` of the catalogue
    drawn when the fault switches on, or the listed ``skus``."""

    fraction: Real = Field(0.05, gt=0, le=1, description="share of SKUs affected, drawn")
    skus: tuple[Count, ...] | None = Field(
        None, min_length=1, description="SKUs affected (catalogue indexes), instead of drawn"
    )

    master_data: ClassVar[bool] = True

    chaos_weight: ClassVar[int] = 0

    def check(self, scenario: ScenarioView) -> None:
        if self.skus is not None and "fraction" in self.model_fields_set:
            raise FaultError("give fraction or skus, not both", "skus")
        n = _catalogue_size(scenario)
        if self.skus is not None and n is not None and max(self.skus) >= n:
            raise FaultError(f"SKU {max(self.skus)} is not in the catalogue ({n} SKUs)", "skus")

    def pick(self, targets: FaultTargets, fault: ActiveFault, name: str, n_sku: int) -> np.ndarray:
        """The SKUs affected at ``name`` (drawn from the fault's own stream, or listed)."""
        if self.skus is not None:
            chosen = np.unique(np.asarray(self.skus, np.int64))
        else:
            rng = targets.stream(f"{self.kind}/{fault.index}/{name}")
            k = max(1, round(self.fraction * n_sku))
            chosen = np.sort(rng.choice(n_sku, size=min(k, n_sku), replace=False))
        fault.chosen[name] = chosen
        return chosen


class _ChannelSkuFault(SkuFault):
    target: str = Field(ALL_CHANNELS, description="a channel's name, or channels for every one")

    def check(self, scenario: ScenarioView) -> None:
        names = [c.name for c in scenario.channels]
        if self.target != ALL_CHANNELS and self.target not in names:
            why = f"{self.target!r} is not channels or a channel ({', '.join(names)})"
            raise FaultError(why, "target")
        super().check(scenario)


class UnmappedSkus(_ChannelSkuFault):
    """A channel's listing has no mapping for some SKUs (a new SKU never mapped, a mapping
    table out of date): while on, writes to them never land. The write is served and its
    other items apply; each unmapped item is refused (``ItemErrors``: ``UNMAPPED_SKU``) and
    counts as a failed update (``updates_refused``); a hit each. Orders for them still come.

    Divergence: the channel keeps showing what it showed when the fault began, less its own
    sales, whatever happens to the stock: its divergence on those SKUs grows with every
    receipt and every sale elsewhere, and its lag clocks on them never stop. Oversell: where
    the stock falls below that frozen figure (another channel sells, a short pick). Found
    by: ``orchestrated``'s channel audit (the shown figure is not what it pushed: an
    exception at every audit, not fixed by its re-push). ``batch``, ``api`` and ``event``
    read nothing back: their writes look successful and find nothing; the failed-update
    signal (``updates_refused``) is the only trace.
    """

    kind: Literal["unmapped_skus"]

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        for ch in targets.channels(self.target):
            skus = self.pick(targets, fault, ch.name, ch.n_sku) if on else fault.chosen[ch.name]
            ch.unmap(skus, fault, on)


class UomMismatch(_ChannelSkuFault):
    """A channel lists some SKUs in cases of ``case_size`` where the ERP counts eaches:
    while on, a write of ``v`` units to one of them shows ``v * case_size`` (the channel
    reads the count as cases). A hit per item written.

    Divergence: those SKUs are shown ``case_size`` times too high after every write, on that
    channel only; oversell: on those SKUs, as soon as demand there exceeds the true stock
    (the channel accepts what it shows). Found by: ``orchestrated``'s channel audit (the
    channel shows more than was pushed, which no sale explains: an exception at every audit,
    re-pushed and wrong again). ``batch``, ``api`` and ``event`` never read back and fix
    nothing: each of their writes lands the wrong figure again.
    """

    kind: Literal["uom_mismatch"]
    case_size: Int = Field(12, ge=2, le=10_000, description="eaches per case")

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        for ch in targets.channels(self.target):
            skus = self.pick(targets, fault, ch.name, ch.n_sku) if on else fault.chosen[ch.name]
            ch.scale(skus, self.case_size, fault, on)


class _LocationPair(Fault):
    source: str = Field(description="the location whose code or stock is affected")
    into: str = Field(description="where the code points, or the stock goes")

    chaos_weight: ClassVar[int] = 0
    master_data: ClassVar[bool] = True
    #: run alone by the conformance checker: cycle counts every 10 minutes
    needs: ClassVar[Mapping[str, Any]] = {
        "shrink.enabled": True,
        "shrink.count_interval": "10m",
        "shrink.count_fraction": 0.5,
    }

    @classmethod
    def alone_in(cls, scenario: ScenarioView) -> Mapping[str, Any] | None:
        """Alone: the scenario's first own location mapped onto its second (None if it has
        fewer than two)."""
        own = [loc.name for loc in scenario.locations if not loc.is_partner]
        return {**cls.alone, "source": own[0], "into": own[1]} if len(own) >= 2 else None

    def check(self, scenario: ScenarioView) -> None:
        _own_location(scenario, self.source, "source")
        _own_location(scenario, self.into, "into")
        if self.source == self.into:
            raise FaultError(f"source and into are both {self.source!r}", "into")


class LocationMapping(_LocationPair):
    """The ERP's location map points ``source``'s code at ``into`` (a copied connector
    config, a renumbered warehouse): while on, the ERP posts the stock part (on hand, hold)
    of every WMS movement at ``source`` to ``into``'s record; the order part (committed, on
    order) stays on its documents. A hit per movement misposted.

    Divergence: the ERP's record is wrong at both locations (record accuracy falls): too
    high at ``into`` by what left ``source``, too low at ``source``. The physical stock and
    the WMS are right, so a channel fed from the ERP and served by one of the two but not
    both shows the wrong figure (a channel served by both sees the right total); the ERP
    also allocates where the stock is not (short picks). Oversell: on channels that see
    ``into``'s phantom. Found by: cycle counts (``[shrink]``: the count of a pair is posted
    against the ERP's book and puts it right) after the fault; a short pick's bin count too.
    ``orchestrated``'s reconciler compares its view (built from WMS events, which are right)
    with the ERP's record, not with the physical stock: it does not find the misposting (if
    anything it copies the ERP's error into its view). ``batch`` and ``api`` export the
    wrong record; ``event`` reads the WMS and is wrong only through the ERP's allocation.
    """

    kind: Literal["location_mapping"]

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        rec = targets.records
        rec.route(rec.location(self.source), rec.location(self.into), fault, on)


class StaleProductLocation(SkuFault, _LocationPair):
    """A catalogue change at fault start: ``fraction`` (or ``skus``) of the SKUs move home
    from ``source`` to ``into`` (the WMS relocates their free stock there at once; a hit per
    unit moved), but the ERP's product-location records are not updated: it keeps the old
    quantity at ``source`` (phantom stock) and posts no movement of those SKUs at ``into``
    (a hit each) until the master data is fixed when the fault ends (the records of both
    pairs re-read from the WMS) or a cycle count of a pair corrects it.

    Divergence: channels fed from the ERP and served by ``source`` show the phantom; those
    served by ``into`` miss the stock that came. Oversell: at ``source``'s channels (they
    sell stock that is gone; the ERP allocates it there and the picks come up short, the
    short pick's bin count then correcting ``source``'s record). Found by: the master-data
    fix at the end, cycle counts, short picks. ``orchestrated``'s reconciler sees its
    WMS-fed view differ from the ERP and, the difference persisting, copies the ERP's
    phantom into its view; ``event`` reads the WMS and is right but for the ERP's
    allocation.
    """

    kind: Literal["stale_product_location"]

    def check(self, scenario: ScenarioView) -> None:
        _LocationPair.check(self, scenario)
        SkuFault.check(self, scenario)

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        rec = targets.records
        source, into = rec.location(self.source), rec.location(self.into)
        if on:
            skus = self.pick(targets, fault, "records", rec.n_sku)
            rec.unlink(into, skus, fault, True)
            moved = rec.relocate(source, into, skus)
            fault.hit(moved)
        else:
            skus = fault.chosen["records"]
            rec.unlink(into, skus, fault, False)
            rec.refresh([source, into], skus)
