"""ERP faults: the ERP's integration API down, or slow.

- ``erp_maintenance``: every ERP call is answered 503 ``UNAVAILABLE`` (Retry-After: until
  the window ends), counted in ``erp_unavailable_calls``;
- ``erp_slowdown``: every served ERP call takes ``factor`` times its service time.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim.faults.base import ActiveFault, Fault, FaultTargets, Refusal, ScenarioView, hold
from sim.fields import Real

__all__ = ["ErpMaintenance", "ErpSlowdown"]


class ErpMaintenance(Fault):
    """The ERP API is down for maintenance: each call refused with 503 (a hit each)."""

    kind: Literal["erp_maintenance"]

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        hold(targets.apis("erp"), fault, on)

    def refuse(self, now: float, op: str, rng: np.random.Generator) -> Refusal | None:
        return Refusal(503, "UNAVAILABLE", self.end - now)


class ErpSlowdown(Fault):
    """ERP service times are multiplied by ``factor`` (a hit per served call)."""

    kind: Literal["erp_slowdown"]
    factor: Real = Field(4.0, ge=1, le=1000)

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        return {"factor": round(float(rng.uniform(2, 10)), 2)}

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        hold(targets.apis("erp"), fault, on)

    def service_factor(self, rng: np.random.Generator) -> float | None:
        return self.factor
