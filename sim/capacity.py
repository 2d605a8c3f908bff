"""The capacity model of an integration API as scenario data: what a run's API will do.

A validated scenario resolves the API of every channel and of the ERP into these frozen
models (``sim.schema.Channel.effective`` and ``sim.schema.Erp.effective``): its platform
preset's values, with the fields set explicitly in the scenario's ``api`` tables winning.
The world builds each system's ``mocks.api.ApiServer`` from them (``mocks.platforms``); so
what ``syncsim validate --resolved`` prints is what a run uses. Times are seconds of
simulated time.

Limits: each refuses a request with 429, its ``code`` and a Retry-After (the time until the
request would be admitted) while it is exhausted.

- ``LeakyBucketLimit``: each request adds 1 to a bucket holding ``capacity``, which leaks
  ``rate`` per second (Shopify REST; Amazon's createFeed token bucket);
- ``CostBucketLimit``: a request of n items costs ``query_cost + n // items_per_point``
  points from ``capacity`` points, restored at ``rate`` per second (Shopify GraphQL);
- ``WindowLimit``: at most ``limit`` requests in any sliding ``window`` seconds;
- ``ExecutionTimeLimit``: at most ``seconds`` of service time, summed over the calls that
  completed in any sliding ``window`` seconds (Dynamics' combined execution time).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from sim.dists import Dist, Duration
from sim.fields import Int, Interval, Real, SpecModel

__all__ = [
    "CostBucketLimit",
    "EffectiveChannel",
    "EffectiveChannelApi",
    "EffectiveErp",
    "EffectiveErpApi",
    "ExecutionTimeLimit",
    "LeakyBucketLimit",
    "Limit",
    "WindowLimit",
]


def _code() -> Any:
    return Field("THROTTLED", description="error code of the 429 it answers")


class LeakyBucketLimit(SpecModel):
    kind: Literal["leaky_bucket"] = "leaky_bucket"
    capacity: Int = Field(ge=1, description="requests the bucket holds")
    rate: Real = Field(gt=0, description="requests leaked per second")
    code: str = _code()


class CostBucketLimit(SpecModel):
    kind: Literal["cost_bucket"] = "cost_bucket"
    capacity: Int = Field(ge=1, description="points the bucket holds")
    rate: Real = Field(gt=0, description="points restored per second")
    query_cost: Int = Field(ge=0, description="points a request costs")
    items_per_point: Int = Field(10, ge=1, description="items per extra point")
    code: str = _code()

    def cost(self, items: int) -> int:
        """Points a request carrying ``items`` items costs."""
        return self.query_cost + items // self.items_per_point


class WindowLimit(SpecModel):
    kind: Literal["window"] = "window"
    limit: Int = Field(ge=1, description="requests in any window")
    window: Interval
    code: str = _code()


class ExecutionTimeLimit(SpecModel):
    kind: Literal["execution_time"] = "execution_time"
    seconds: Duration = Field(description="service seconds in any window")
    window: Interval
    code: str = _code()


Limit = Annotated[
    LeakyBucketLimit | CostBucketLimit | WindowLimit | ExecutionTimeLimit,
    Field(discriminator="kind"),
]
"""One rate limit of an API (see the module docstring)."""


class EffectiveChannelApi(SpecModel):
    """A channel's API in a run: ``latency`` of a call, its ``limits`` (applied to every
    operation, or only to ``limited_ops``), and ``bulk_limit`` items per inventory write."""

    latency: Dist
    limits: tuple[Limit, ...] = ()
    limited_ops: tuple[str, ...] | None = Field(
        None, description="operations the limits apply to (None: all)"
    )
    bulk_limit: Int = Field(ge=1)


class EffectiveChannel(SpecModel):
    """A channel's preset-resolved values: its API, and the ``pending_period`` a marketplace
    holds an accepted order before the seller is told."""

    platform: str = Field(description="the platform it behaves like ('channel': none)")
    api: EffectiveChannelApi
    pending_period: Dist


class EffectiveErpApi(SpecModel):
    """The ERP's API capacity in a run: ``concurrency`` calls served at once; past it
    ``overflow`` (queue, reject at once, or throttle with 429 and Retry-After) with
    ``error_code``; ``service_time`` per call; ``limits``; at most ``max_items`` items per
    call of the ``batch_ops`` operations (None: no batch limit / every operation).
    ``per_item``, ``reject_latency`` and maintenance windows are always ``[erp.api]``'s."""

    concurrency: Int = Field(ge=1)
    overflow: Literal["queue", "reject", "throttle"]
    service_time: Dist
    error_code: str
    limits: tuple[Limit, ...] = ()
    max_items: Int | None = Field(None, ge=1)
    batch_ops: tuple[str, ...] | None = None


class EffectiveErp(SpecModel):
    """The ERP's preset-resolved values."""

    platform: str = Field(description="the platform it behaves like ('erp': none)")
    api: EffectiveErpApi
