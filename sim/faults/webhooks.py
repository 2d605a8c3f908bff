"""Webhook faults: channels' order webhooks come late, and some come again later.

- ``webhook_delay``: every order webhook of the ``target`` channel(s) is delivered ``delay``
  late; a share ``duplicate_rate`` is delivered once more, another ``delay`` later, with the
  original payload (a stale retry). Hits: the deliveries made late. While several are on,
  the one switched on last decides.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim.dists import Dist, Fixed
from sim.faults.api import check_channel_target, draw_target
from sim.faults.base import ActiveFault, Fault, FaultTargets, ScenarioView, hold
from sim.fields import Real

__all__ = ["WebhookDelay"]


class WebhookDelay(Fault):
    """Late webhooks (``delay``) and stale retries (``duplicate_rate``)."""

    kind: Literal["webhook_delay"]
    target: str = "channels"
    delay: Dist = Field(default_factory=lambda: Fixed(value=600.0))
    duplicate_rate: Real = Field(0.2, ge=0, le=1)

    def check(self, scenario: ScenarioView) -> None:
        check_channel_target(self.target, scenario)

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        return {"target": draw_target(rng, scenario, apis=False)}

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        hold(targets.webhooks(self.target), fault, on)

    def webhook_delay(self, rng: np.random.Generator) -> float | None:
        return float(self.delay.sample(rng))

    def webhook_retry(self, rng: np.random.Generator) -> float | None:
        if rng.random() < self.duplicate_rate:
            return float(self.delay.sample(rng))
        return None
