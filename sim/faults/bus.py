"""Bus faults: how the message bus delivers while they are on, and a partition rebalance.

- ``bus_duplicates``: a share ``rate`` of deliveries come again ``delay`` later (hits: the
  extra deliveries while on);
- ``bus_reorder``: every message gets a random ``jitter`` of delay, so messages of different
  partitions overtake each other (hits: the messages published while on);
- ``bus_loss``: a share ``rate`` of published messages never reach anyone; non-durable bus
  only (hits: the (message, group) pairs lost while on);
- ``partition_rebalance``: every running consumer group stops for the fault's duration,
  then gets what it had not acknowledged again (hits: the groups stopped).

Overlapping delivery faults combine in plan order: the highest duplicate and loss rates,
the last duplicate delay and jitter.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from sim.dists import Dist, Fixed
from sim.faults.base import ActiveFault, Fault, FaultError, FaultTargets, ScenarioView
from sim.fields import Real

__all__ = ["BusDuplicates", "BusLoss", "BusReorder", "PartitionRebalance"]


class _Delivery(Fault):
    """A fault on how the bus delivers: held by the bus, which asks ``bus_settings``; its
    hits are how much ``counter`` (a bus counter) grew while it was on."""

    counter: ClassVar[str] = "events_published"

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        bus = targets.bus
        now = bus.stats_dict()[self.counter]
        if on:
            fault.memo[self.counter] = now
        else:
            fault.hit(int(now - fault.memo.pop(self.counter)))
        bus.hold_fault(fault, on)


class BusDuplicates(_Delivery):
    """Extra redeliveries: a share ``rate`` of deliveries come again ``delay`` later."""

    kind: Literal["bus_duplicates"]
    rate: Real = Field(0.1, ge=0, le=1)
    delay: Dist = Field(default_factory=lambda: Fixed(value=20.0))

    counter: ClassVar[str] = "events_duplicated"

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        return {"rate": round(float(rng.uniform(0.05, 0.3)), 2)}

    def bus_settings(self, settings: dict[str, Any]) -> None:
        settings["duplicate_rate"] = max(settings.get("duplicate_rate", 0.0), self.rate)
        settings["duplicate_delay"] = self.delay


class BusReorder(_Delivery):
    """Random delivery jitter (``jitter``) across partitions."""

    kind: Literal["bus_reorder"]
    jitter: Dist = Field(default_factory=lambda: Fixed(value=5.0))

    def bus_settings(self, settings: dict[str, Any]) -> None:
        settings["reorder_jitter"] = self.jitter


class BusLoss(_Delivery):
    """Published messages dropped with probability ``rate`` (a non-durable bus only)."""

    kind: Literal["bus_loss"]
    rate: Real = Field(0.01, ge=0, le=1)

    counter: ClassVar[str] = "events_lost"
    loses_messages: ClassVar[bool] = True
    needs: ClassVar[dict[str, Any]] = {"bus.durable": False}
    alone: ClassVar[dict[str, Any]] = {"rate": 0.05}

    def check(self, scenario: ScenarioView) -> None:
        if scenario.bus.durable:
            raise FaultError("bus_loss needs a non-durable bus (bus.durable = false)")

    @classmethod
    def applies(cls, scenario: ScenarioView) -> bool:
        return not scenario.bus.durable

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        return {"rate": round(float(rng.uniform(0.001, 0.02)), 4)}

    def bus_settings(self, settings: dict[str, Any]) -> None:
        settings["loss_rate"] = max(settings.get("loss_rate", 0.0), self.rate)


class PartitionRebalance(Fault):
    """Every running consumer group pauses for the fault's duration, then redelivers."""

    kind: Literal["partition_rebalance"]

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        return {"duration": round(float(rng.uniform(5, 120)), 1)}

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        if on:
            bus = targets.bus
            fault.hit(sum(1 for g in bus.groups() if not g.paused))
            bus.rebalance(self.duration)
