"""Clock faults: a system's own clock is off.

- ``clock_skew``: the ``target`` system's clock (``erp`` or ``wms``) runs ``offset`` seconds
  off true time (negative: behind), so the changes and movements it stamps carry the wrong
  time (hits: the stamps made while on). Overlapping skews of one system add up.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim.faults.base import ActiveFault, Fault, FaultTargets, ScenarioView
from sim.fields import Real

__all__ = ["ClockSkew"]


class ClockSkew(Fault):
    """The ERP's or the WMS's clock is ``offset`` seconds off."""

    kind: Literal["clock_skew"]
    target: Literal["erp", "wms"] = "erp"
    offset: Real = Field(
        -120.0, ge=-1e7, le=1e7, description="seconds the system's clock is off (may be < 0)"
    )

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        target = "erp" if rng.random() < 0.7 else "wms"
        return {"target": target, "offset": round(float(rng.uniform(-600, 600)), 1)}

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        targets.clock(self.target).skew_clock(self.offset, fault, on)
