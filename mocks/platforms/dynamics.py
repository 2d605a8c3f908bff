"""Dynamics 365 (Dataverse): per-user service protection limits, 429 with Retry-After.

Preset (``Dynamics``): per user over a sliding 5 minutes, 6,000 requests, 1,200 seconds of
combined execution time and 52 concurrent requests; past any, 429 with Retry-After and the
service-protection error code; ExecuteMultiple batches of at most 1,000 operations.

HTTP shape: the Dataverse Web API (``/api/data/v9.2/...``): ``syncsim_availabilities``
(``$filter`` on SKUs), ``syncsim_changes`` (the change feed), the ``syncsim_CheckAtp``
custom API, and an OData JSON ``$batch`` for order import (at most 1,000 requests); errors as
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
from typing import Literal

import httpx
import respx
from pydantic import Field

from mocks.api import Reply
from mocks.erp import Erp
from mocks.http import ErpOps, change_feed_json, import_json, retry_after_headers, snapshot_json
from mocks.platforms.base import Auth, Platform, lognormal
from sim.bridge import SimRuntime
from sim.capacity import EffectiveErpApi, ExecutionTimeLimit, Limit, WindowLimit
from sim.dists import Dist, Duration
from sim.fields import Int, Interval
from sim.platforms import ErpPreset

__all__ = ["MESSAGES", "PLATFORM", "Dynamics", "routes"]


# -- preset -----------------------------------------------------------------------------------
class Dynamics(ErpPreset):
    """Per-user service protection limits over a sliding 5 minutes: 6,000 requests, 1,200
    seconds of combined execution time, 52 concurrent requests; past any, 429 with
    Retry-After; ExecuteMultiple batches of at most 1,000 operations."""

    platform: Literal["dynamics"]
    window: Interval = 300.0
    requests: Int = Field(6000, ge=1, le=10**9)
    execution_seconds: Duration = 1200.0
    concurrency: Int = Field(52, ge=1, le=10**9)
    max_batch: Int = Field(1000, ge=1, le=10**9)
    service_time: Dist = Field(default_factory=lambda: lognormal(0.3, 0.6))

    def platform_api(self) -> EffectiveErpApi:
        """``concurrency`` calls at once (past it 429 with Retry-After), the requests and
        the execution-time windows, ExecuteMultiple (order import) up to ``max_batch``."""
        limits: tuple[Limit, ...] = (
            WindowLimit(limit=self.requests, window=self.window, code="0x80072322"),
            ExecutionTimeLimit(
                seconds=self.execution_seconds, window=self.window, code="0x80072321"
            ),
        )
        return EffectiveErpApi(
            concurrency=self.concurrency,
            overflow="throttle",
            service_time=self.service_time,
            error_code="0x80072326",
            limits=limits,
            max_items=self.max_batch,
            batch_ops=("import_orders",),
        )


# -- HTTP shape -------------------------------------------------------------------------------
MESSAGES = {
    "0x80072322": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    "0x80072321": "Combined execution time of incoming requests exceeded limit of "
    "1,200,000 milliseconds over time window of 300 seconds.",
    "0x80072326": "Number of concurrent requests exceeded the limit of 52.",
}


def routes(router: respx.Router, erp: Erp, rt: SimRuntime) -> None:
    """The Web API endpoints of the module docstring."""
    ops = ErpOps(erp, rt)
    prefix = "/api/data/v9.2"

    def error(reply: Reply) -> httpx.Response:
        code = reply.error or "0x80040216"
        message = MESSAGES.get(code, code)
        if reply.status == 400 and code.startswith("BATCH_TOO_LARGE"):
            code, message = "0x80060891", "The number of requests in the batch exceeds 1000."
        body = {"error": {"code": code, "message": message}}
        return httpx.Response(reply.status, json=body, headers=retry_after_headers(reply))

    def availability(request: httpx.Request) -> httpx.Response:
        flt = request.url.params.get("$filter", "")
        codes = None
        if flt.startswith("Microsoft.Dynamics.CRM.In(PropertyName='sku',PropertyValues="):
            codes = json.loads(flt.split("PropertyValues=", 1)[1].rstrip(")"))
        reply = ops.export(codes)
        if not reply.ok:
            return error(reply)
        return httpx.Response(200, json={"value": snapshot_json(reply.value)})

    def changes(request: httpx.Request) -> httpx.Response:
        since = float(request.url.params["since"])
        reply = ops.changes(since)
        if not reply.ok:
            return error(reply)
        feed = change_feed_json(reply.value)
        body = {"value": feed["skus"], "stamps": feed["stamps"], "clock": feed["clock"]}
        return httpx.Response(200, json=body)

    def check_atp(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        reply = ops.check_atp(body["Skus"], int(body["Channel"]))
        return httpx.Response(200, json={"Available": reply.value}) if reply.ok else error(reply)

    def batch(request: httpx.Request) -> httpx.Response:
        requests = json.loads(request.content)["requests"]
        ids = [r["body"]["syncsim_orderid"] for r in requests]
        got = ops.import_orders(ids)
        if got is None:
            return error(Reply(400, error="0x80040217"))
        if not got.ok:
            return error(got)
        responses = [
            {"id": r["id"], "status": 204, "body": res}
            for r, res in zip(requests, import_json(got), strict=True)
        ]
        return httpx.Response(200, json={"responses": responses})

    router.get(f"{prefix}/syncsim_availabilities", name="availability").mock(
        side_effect=availability
    )
    router.get(f"{prefix}/syncsim_changes", name="changes").mock(side_effect=changes)
    router.post(f"{prefix}/syncsim_CheckAtp", name="check_atp").mock(side_effect=check_atp)
    router.post(f"{prefix}/$batch", name="batch").mock(side_effect=batch)


PLATFORM = Platform(
    name="dynamics",
    kind="erp",
    preset=Dynamics,
    routes=routes,
    base_url="https://org.crm4.dynamics.com",
    auth=Auth(body=None, headers=(("WWW-Authenticate", 'Bearer error="invalid_token"'),)),
)
