"""Fault plans: the bad days a scenario rehearses, as a list of timed faults.

Each ``[[faults]]`` entry has a ``kind``, a ``start`` and a ``duration`` (simulated time from
the scenario start) and the parameters of its kind. After the last fault ends the run goes on
healed, so recovery is measured (a safety phase under faults, then a liveness phase).

| kind | what happens | parameters |
|---|---|---|
| ``erp_maintenance`` | the ERP API answers 503 | |
| ``erp_slowdown`` | ERP service times are multiplied | ``factor`` |
| ``throttle`` | calls are answered 429 with Retry-After | ``target``, ``rate``, ``retry_after`` |
| ``http_errors`` | calls fail with a 5xx | ``target``, ``rate``, ``status`` |
| ``timeouts`` | client gives up; applied or not | ``target``, ``rate``, ``delay``, ``applied`` |
| ``channel_outage`` | a channel API answers 503 | ``target`` |
| ``bus_duplicates`` | extra redeliveries | ``rate``, ``delay`` |
| ``bus_reorder`` | random delivery jitter across partitions | ``jitter`` |
| ``bus_loss`` | published messages dropped (non-durable bus only) | ``rate`` |
| ``consumer_crash`` | consumer groups stop processing, then restart | ``target`` |
| ``partition_rebalance`` | every consumer group pauses, then redelivers | |
| ``middleware_outage`` | the middleware is down | |
| ``webhook_delay`` | late webhooks, stale retries | ``target``, ``delay``, ``duplicate_rate`` |
| ``clock_skew`` | a system's clock is off | ``target``, ``offset`` |

``target`` names an API (``erp``, ``wms``, a channel name, or ``channels`` for all), a
consumer-group name prefix (``*`` for all), or a system for clock skew (``erp``, ``wms``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from sim.dists import Dist, Duration, Fixed
from sim.fields import Interval, Real, SpecModel

__all__ = [
    "FAULT_KINDS",
    "BusDuplicates",
    "BusLoss",
    "BusReorder",
    "ChannelOutage",
    "ClockSkew",
    "ConsumerCrash",
    "ErpMaintenance",
    "ErpSlowdown",
    "Fault",
    "HttpErrors",
    "MiddlewareOutage",
    "PartitionRebalance",
    "Throttle",
    "Timeouts",
    "WebhookDelay",
]


class _Fault(SpecModel):
    start: Duration
    duration: Duration = Field(gt=0)

    @property
    def end(self) -> float:
        return self.start + self.duration


class ErpMaintenance(_Fault):
    kind: Literal["erp_maintenance"]


class ErpSlowdown(_Fault):
    kind: Literal["erp_slowdown"]
    factor: Real = Field(4.0, ge=1, le=1000)


class Throttle(_Fault):
    kind: Literal["throttle"]
    target: str = "channels"
    rate: Real = Field(0.8, ge=0, le=1)
    retry_after: Interval = 2.0


class HttpErrors(_Fault):
    kind: Literal["http_errors"]
    target: str = "channels"
    rate: Real = Field(0.5, ge=0, le=1)
    status: Literal[500, 502, 503] = 502


class Timeouts(_Fault):
    kind: Literal["timeouts"]
    target: str = "erp"
    rate: Real = Field(0.3, ge=0, le=1)
    delay: Duration = 30.0
    applied: Real = Field(0.5, ge=0, le=1, description="probability the call took effect")


class ChannelOutage(_Fault):
    kind: Literal["channel_outage"]
    target: str = "channels"


class BusDuplicates(_Fault):
    kind: Literal["bus_duplicates"]
    rate: Real = Field(0.1, ge=0, le=1)
    delay: Dist = Field(default_factory=lambda: Fixed(value=20.0))


class BusReorder(_Fault):
    kind: Literal["bus_reorder"]
    jitter: Dist = Field(default_factory=lambda: Fixed(value=5.0))


class BusLoss(_Fault):
    kind: Literal["bus_loss"]
    rate: Real = Field(0.01, ge=0, le=1)


class ConsumerCrash(_Fault):
    kind: Literal["consumer_crash"]
    target: str = "*"


class PartitionRebalance(_Fault):
    kind: Literal["partition_rebalance"]


class MiddlewareOutage(_Fault):
    kind: Literal["middleware_outage"]


class WebhookDelay(_Fault):
    kind: Literal["webhook_delay"]
    target: str = "channels"
    delay: Dist = Field(default_factory=lambda: Fixed(value=600.0))
    duplicate_rate: Real = Field(0.2, ge=0, le=1)


class ClockSkew(_Fault):
    kind: Literal["clock_skew"]
    target: Literal["erp", "wms"] = "erp"
    offset: Real = Field(
        -120.0, ge=-1e7, le=1e7, description="seconds the system's clock is off (may be < 0)"
    )


Fault = Annotated[
    ErpMaintenance
    | ErpSlowdown
    | Throttle
    | HttpErrors
    | Timeouts
    | ChannelOutage
    | BusDuplicates
    | BusReorder
    | BusLoss
    | ConsumerCrash
    | PartitionRebalance
    | MiddlewareOutage
    | WebhookDelay
    | ClockSkew,
    Field(discriminator="kind"),
]
"""One timed fault of a fault plan (see the module docstring)."""

FAULT_KINDS = (
    "erp_maintenance",
    "erp_slowdown",
    "throttle",
    "http_errors",
    "timeouts",
    "channel_outage",
    "bus_duplicates",
    "bus_reorder",
    "bus_loss",
    "consumer_crash",
    "partition_rebalance",
    "middleware_outage",
    "webhook_delay",
    "clock_skew",
)
