"""Partner-feed faults: a 3PL's or a drop-ship vendor's inventory files go wrong
(docs/partners.md).

- ``partner_feed_missed``: the files the ``target`` partner(s) would snapshot within the
  window are never sent (hits: the files missed); the next file, a full one, catches up;
- ``partner_feed_lag``: files snapshotted within the window land ``extra`` later (hits: the
  files delayed); a late file older than one already applied is ignored;
- ``partner_feed_errors``: in files snapshotted within the window, a share ``rate`` of the
  rows is wrong: a share ``dropped`` of those is missing (the ERP keeps its old record of
  that SKU), the others are off by a drawn ``offset`` units, up or down (hits: the wrong
  rows).

``target`` is a partner location's name (a location of kind ``3pl`` or ``dropship``), or
``partners`` for every one. The partner mock (``mocks.partner``) holds the fault while it is
on and asks its hooks (``PartnerFeedFault``) as each file is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from sim.dists import Dist, Fixed
from sim.faults.base import ActiveFault, Fault, FaultError, FaultTargets, ScenarioView, hold
from sim.fields import Real

__all__ = [
    "PartnerFeedErrors",
    "PartnerFeedFault",
    "PartnerFeedLag",
    "PartnerFeedMissed",
    "partner_names",
]

ALL_PARTNERS = "partners"


def partner_names(scenario: ScenarioView) -> list[str]:
    """The names of the scenario's partner locations (kind ``3pl`` or ``dropship``)."""
    return [loc.name for loc in scenario.locations if loc.is_partner]


class PartnerFeedFault(Fault):
    """The base of the partner-feed kinds: a ``target`` and the hooks a partner's feed asks
    while the fault is on (each answer that acts counts a hit)."""

    target: str = Field(
        ALL_PARTNERS, description="a partner location's name, or partners for every one"
    )

    #: run alone by the conformance checker: its first location made a 3PL filing every 30 min
    needs: ClassVar[Mapping[str, Any]] = {
        "locations.0.kind": "3pl",
        "locations.0.partner": {"feed_interval": "30m", "feed_lag": "5m"},
    }

    def check(self, scenario: ScenarioView) -> None:
        names = partner_names(scenario)
        if self.target != ALL_PARTNERS and self.target not in names:
            known = ", ".join(names) or "none"
            why = f"{self.target!r} is not a partner location (3pl or dropship; partners: {known})"
            raise FaultError(why, "target")

    @classmethod
    def applies(cls, scenario: ScenarioView) -> bool:
        return bool(partner_names(scenario))

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        names = [ALL_PARTNERS, *partner_names(scenario)]
        return {"target": names[int(rng.integers(len(names)))]}

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        hold(targets.partners(self.target), fault, on)

    # -- hooks a partner's feed asks while the fault is on ----------------------------------
    def feed_missed(self) -> bool:
        """A file is due: is it never sent?"""
        return False

    def feed_extra_lag(self, rng: np.random.Generator) -> float | None:
        """A file is sent: seconds it lands late, or None."""
        return None

    def feed_errors(
        self, rng: np.random.Generator, n_rows: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """A file of ``n_rows`` rows is sent: (rows dropped, units added per row), or None."""
        return None


class PartnerFeedMissed(PartnerFeedFault):
    """Files due within the window are not sent."""

    kind: Literal["partner_feed_missed"]

    def feed_missed(self) -> bool:
        return True


class PartnerFeedLag(PartnerFeedFault):
    """Files sent within the window land ``extra`` later."""

    kind: Literal["partner_feed_lag"]
    extra: Dist = Field(
        default_factory=lambda: Fixed(value=4 * 3600.0), description="added landing delay"
    )

    def feed_extra_lag(self, rng: np.random.Generator) -> float | None:
        return max(0.0, float(self.extra.sample(rng)))


class PartnerFeedErrors(PartnerFeedFault):
    """A share ``rate`` of the rows of files sent within the window is wrong."""

    kind: Literal["partner_feed_errors"]
    rate: Real = Field(0.1, ge=0, le=1, description="share of rows wrong")
    dropped: Real = Field(0.5, ge=0, le=1, description="share of wrong rows missing")
    offset: Dist = Field(
        default_factory=lambda: Fixed(value=5.0), description="units a wrong row is off by"
    )

    def feed_errors(
        self, rng: np.random.Generator, n_rows: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        wrong = rng.random(n_rows) < self.rate
        if not wrong.any():
            return None
        drop = wrong & (rng.random(n_rows) < self.dropped)
        off = wrong & ~drop
        delta = np.zeros(n_rows, np.int64)
        k = int(off.sum())
        if k:
            size = np.rint(np.abs(np.asarray(self.offset.sample(rng, k), float))).astype(np.int64)
            sign = np.where(rng.random(k) < 0.5, -1, 1)
            delta[off] = np.maximum(size, 1) * sign
        return drop, delta
