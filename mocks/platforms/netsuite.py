"""NetSuite: an account concurrency limit that refuses, with no queueing.

Preset (``NetSuite``): 5 concurrent requests per account + 10 per SuiteCloud Plus licence
(15 by default); past it a request is refused at once with ``SSS_REQUEST_LIMIT_EXCEEDED``.

HTTP shape: a RESTlet (``POST /app/site/hosting/restlet.nl``) taking an ``action``:
``export`` (of ``items`` or of all), ``changes`` (``since``: the changed ``items``, their
``stamps`` and the ERP's ``clock``), ``check_atp`` (``items`` for ``channel``), and
``import_orders`` (``salesOrders`` by ``externalId``); errors as
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
from sim.capacity import EffectiveErpApi
from sim.dists import Dist
from sim.fields import Int
from sim.platforms import ErpPreset

__all__ = ["PLATFORM", "NetSuite", "routes"]


# -- preset -----------------------------------------------------------------------------------
class NetSuite(ErpPreset):
    """Account concurrency limit: 5 + 10 per SuiteCloud Plus licence (15 by default); past it
    a request is refused at once with SSS_REQUEST_LIMIT_EXCEEDED; no queueing."""

    platform: Literal["netsuite"]
    base_concurrency: Int = Field(5, ge=1, le=10**9)
    licences: Int = Field(1, ge=0, le=10**9, description="SuiteCloud Plus licences (+10 each)")
    service_time: Dist = Field(default_factory=lambda: lognormal(1.0, 0.6))
    error_code: str = "SSS_REQUEST_LIMIT_EXCEEDED"

    @property
    def concurrency(self) -> int:
        return self.base_concurrency + 10 * self.licences

    def platform_api(self) -> EffectiveErpApi:
        """``concurrency`` calls at once; past it refused at once with ``error_code``."""
        return EffectiveErpApi(
            concurrency=self.concurrency,
            overflow="reject",
            service_time=self.service_time,
            error_code=self.error_code,
        )


# -- HTTP shape -------------------------------------------------------------------------------
def routes(router: respx.Router, erp: Erp, rt: SimRuntime) -> None:
    """The RESTlet of the module docstring."""
    ops = ErpOps(erp, rt)

    def error(reply: Reply) -> httpx.Response:
        code = reply.error or "UNEXPECTED_ERROR"
        message = (
            "Request blocked: concurrency limit for the account exceeded"
            if reply.status == 429
            else code
        )
        body = {"error": {"code": code, "message": message}}
        return httpx.Response(reply.status, json=body, headers=retry_after_headers(reply))

    def restlet(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        action = body.get("action")
        if action == "export":
            reply = ops.export(body.get("items"))
            return (
                httpx.Response(200, json=snapshot_json(reply.value)) if reply.ok else error(reply)
            )
        if action == "changes":
            reply = ops.changes(float(body["since"]))
            if not reply.ok:
                return error(reply)
            feed = change_feed_json(reply.value)
            return httpx.Response(200, json={"items": feed.pop("skus"), **feed})
        if action == "check_atp":
            reply = ops.check_atp(body["items"], int(body["channel"]))
            return (
                httpx.Response(200, json={"available": reply.value}) if reply.ok else error(reply)
            )
        if action == "import_orders":
            got = ops.import_orders([o["externalId"] for o in body["salesOrders"]])
            if got is None:
                return error(Reply(400, error="INVALID_KEY_OR_REF"))
            return httpx.Response(200, json={"results": import_json(got)}) if got.ok else error(got)
        return error(Reply(400, error="INVALID_ACTION"))

    router.post("/app/site/hosting/restlet.nl", name="restlet").mock(side_effect=restlet)


PLATFORM = Platform(
    name="netsuite",
    kind="erp",
    preset=NetSuite,
    routes=routes,
    base_url="https://1234567.restlets.api.netsuite.com",
    auth=Auth(
        scheme="OAuth",
        body={
            "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2",
            "title": "Unauthorized",
            "status": 401,
            "o:errorDetails": [
                {"detail": "Invalid login attempt.", "o:errorCode": "INVALID_LOGIN"}
            ],
        },
    ),
)
