"""API faults on any system's integration API (``target``: ``erp``, ``wms``, a channel's
name, or ``channels`` for every channel's), drawing their coin flips from the API's own fault
stream:

- ``throttle``: a share ``rate`` of calls answered 429 with Retry-After ``retry_after``;
- ``http_errors``: a share ``rate`` of calls fail with a 5xx (``status``);
- ``timeouts``: a share ``rate`` of admitted calls leave the client with 504 after ``delay``
  while the call, still served, takes effect with probability ``applied`` (unknown outcome);
- ``channel_outage``: a channel's API is down (every call 503 ``UNAVAILABLE``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim.dists import Duration
from sim.faults.base import (
    ActiveFault,
    Fault,
    FaultError,
    FaultTargets,
    Refusal,
    ScenarioView,
    Timeout,
    hold,
)
from sim.fields import Interval, Real

__all__ = [
    "ChannelOutage",
    "HttpErrors",
    "Throttle",
    "Timeouts",
    "check_api_target",
    "check_channel_target",
    "draw_target",
]


def draw_target(rng: np.random.Generator, scenario: ScenarioView, apis: bool) -> str:
    """A target for chaos: a channel, every channel, or (``apis``) the ERP (twice the odds)
    or the WMS; one draw."""
    names = [c.name for c in scenario.channels] + ["channels"]
    if apis:
        names += ["erp", "erp", "wms"]
    return str(names[int(rng.integers(len(names)))])


def check_api_target(target: str, scenario: ScenarioView) -> None:
    """Refuse a ``target`` that is not an API of ``scenario``."""
    if target not in {"erp", "wms", "channels", *(c.name for c in scenario.channels)}:
        raise FaultError(f"{target!r} is not erp, wms, channels or a channel", "target")


def check_channel_target(target: str, scenario: ScenarioView) -> None:
    """Refuse a ``target`` that is not a channel of ``scenario`` (or ``channels``)."""
    if target not in {"channels", *(c.name for c in scenario.channels)}:
        raise FaultError(f"{target!r} is not channels or a channel", "target")


class _ApiFault(Fault):
    """A fault on the APIs named by ``target``, with a share ``rate`` of calls hit."""

    target: str = "channels"
    rate: Real = Field(0.5, ge=0, le=1)

    def check(self, scenario: ScenarioView) -> None:
        check_api_target(self.target, scenario)

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        target = draw_target(rng, scenario, apis=True)
        return {"target": target, "rate": round(float(rng.uniform(0.2, 0.9)), 2)}

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        hold(targets.apis(self.target), fault, on)


class Throttle(_ApiFault):
    """A throttling storm: a share ``rate`` of calls answered 429, Retry-After
    ``retry_after`` seconds."""

    kind: Literal["throttle"]
    rate: Real = Field(0.8, ge=0, le=1)
    retry_after: Interval = 2.0

    def refuse(self, now: float, op: str, rng: np.random.Generator) -> Refusal | None:
        if rng.random() < self.rate:
            return Refusal(429, "THROTTLED", self.retry_after)
        return None


class HttpErrors(_ApiFault):
    """A burst of server errors: a share ``rate`` of calls fail with ``status``."""

    kind: Literal["http_errors"]
    status: Literal[500, 502, 503] = 502

    def refuse(self, now: float, op: str, rng: np.random.Generator) -> Refusal | None:
        if rng.random() < self.rate:
            return Refusal(self.status, "SERVER_ERROR")
        return None


class Timeouts(_ApiFault):
    """Client timeouts: a share ``rate`` of admitted calls answered 504 after ``delay``
    seconds, the call still served and taking effect with probability ``applied``."""

    kind: Literal["timeouts"]
    target: str = "erp"
    rate: Real = Field(0.3, ge=0, le=1)
    delay: Duration = 30.0
    applied: Real = Field(0.5, ge=0, le=1, description="probability the call took effect")

    def timeout(self, rng: np.random.Generator) -> Timeout | None:
        if rng.random() < self.rate:
            return Timeout(self.delay, rng.random() < self.applied)
        return None


class ChannelOutage(Fault):
    """A channel's API is down: every call answered 503 until the window ends."""

    kind: Literal["channel_outage"]
    target: str = "channels"

    def check(self, scenario: ScenarioView) -> None:
        check_channel_target(self.target, scenario)

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        return {"target": draw_target(rng, scenario, apis=False)}

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        hold(targets.apis(self.target), fault, on)

    def refuse(self, now: float, op: str, rng: np.random.Generator) -> Refusal | None:
        return Refusal(503, "UNAVAILABLE", self.end - now)
