"""BigCommerce: asynchronous inventory writes under a quota shared by every app on the store.

Preset (``BigCommerce``): 150 requests per 30 seconds shared by all apps installed on the
store (``other_apps_share`` of it used by others), absolute adjustments batched up to 2,000
items, writes applied 2 to 30 seconds later.

Semantics (``BigCommerceChannel``): a write answers with a transaction id and the
quantities apply later, in submission order.

HTTP shape: ``PUT /stores/{hash}/v3/inventory/adjustments/absolute`` (the transaction id),
``GET /stores/{hash}/v3/inventory/items`` (each item's ``identity.sku`` and its location's
``available_to_sell``, of the comma-separated ``sku:in`` or of every item; one page: the
whole selection, each item's ``as_of`` in the ``X-Syncsim-As-Of`` header),
``GET /stores/{hash}/v2/orders``, ``X-Rate-Limit-*`` headers on every answer.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

import httpx
import respx
from pydantic import Field

from mocks.api import Reply, WindowQuota
from mocks.channel import Channel
from mocks.http import (
    as_of_headers,
    as_of_of,
    channel_inventory,
    channel_orders,
    codes_of,
    retry_after_headers,
    skus_of,
    wait,
)
from mocks.platforms.base import Auth, Platform, lognormal, write_args
from sim.bridge import SimRuntime, sku_code
from sim.capacity import EffectiveChannelApi, WindowLimit
from sim.dists import Dist, Uniform
from sim.fields import Int, Interval, Real
from sim.platforms import ChannelPreset

__all__ = ["PLATFORM", "BigCommerce", "BigCommerceChannel", "routes"]


# -- preset -----------------------------------------------------------------------------------
class BigCommerce(ChannelPreset):
    """Inventory writes are asynchronous (a transaction id now, applied after a delay);
    absolute adjustments batched up to 2,000 items; a quota of 150 requests per 30 seconds
    shared by every app installed on the store."""

    platform: Literal["bigcommerce"]
    quota: Int = Field(150, ge=1, le=10**9)
    window: Interval = 30.0
    other_apps_share: Real = Field(0.0, ge=0, lt=1, description="quota used by other apps")
    bulk_limit: Int = Field(2000, ge=1, le=10**9)
    apply_delay: Dist = Field(
        default_factory=lambda: Uniform.model_validate({"dist": "uniform", "low": 2, "high": 30})
    )
    latency: Dist = Field(default_factory=lambda: lognormal(0.3))

    def platform_api(self) -> EffectiveChannelApi:
        """The store's quota less what other apps use; ``bulk_limit`` items per write."""
        quota = WindowLimit(limit=int(self.quota * (1 - self.other_apps_share)), window=self.window)
        return EffectiveChannelApi(
            latency=self.latency, limits=(quota,), bulk_limit=self.bulk_limit
        )


# -- semantics --------------------------------------------------------------------------------
class BigCommerceChannel(Channel):
    """BigCommerce: absolute adjustments answered with a transaction id, applied later in
    submission order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        preset = self.spec.preset
        assert isinstance(preset, BigCommerce)
        self.preset = preset
        self.transactions: dict[str, str] = {}  # id -> "pending" | "applied"
        self._applies_at = 0.0

    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        """``PUT /v3/inventory/adjustments/absolute``: queue the quantities; the reply's
        value is the transaction id."""
        args = write_args(self, skus, values, as_of, expected, (422, "too many items"))
        if not isinstance(args, tuple):
            return args
        sel, vals, aso = args

        def effect() -> str:
            env = self.env
            txn = f"txn-{self.name}-{len(self.transactions) + 1}"
            self.transactions[txn] = "pending"
            at = max(env.now + float(self.preset.apply_delay.sample(self.rng)), self._applies_at)
            self._applies_at = at

            def apply(_: Any) -> None:
                self._apply(sel, vals, aso)
                self.transactions[txn] = "applied"

            env.timeout(at - env.now).callbacks.append(apply)
            return txn

        return self.api.call(sel.size, effect, op="inventory_adjustments_absolute")


# -- HTTP shape -------------------------------------------------------------------------------
def routes(router: respx.Router, ch: BigCommerceChannel, rt: SimRuntime) -> None:
    """The endpoints of the module docstring."""
    store = f"/stores/{ch.name}"
    quota = next((lim for lim in ch.api.limiters if isinstance(lim, WindowQuota)), None)

    def rate_headers() -> dict[str, str]:
        if quota is None:
            return {}
        now = ch.env.now
        times = quota.in_window(now)
        reset = (times[0] + quota.window - now) if times else 0.0
        return {
            "X-Rate-Limit-Requests-Quota": str(quota.limit),
            "X-Rate-Limit-Requests-Left": str(max(0, quota.limit - len(times))),
            "X-Rate-Limit-Time-Window-Ms": str(int(quota.window * 1000)),
            "X-Rate-Limit-Time-Reset-Ms": str(math.ceil(reset * 1000)),
        }

    def error(reply: Reply) -> httpx.Response:
        body = {"status": reply.status, "title": reply.error or "Error", "type": "about:blank"}
        if reply.status == 429:
            body["title"] = "Too many requests"
        return httpx.Response(
            reply.status, json=body, headers={**rate_headers(), **retry_after_headers(reply)}
        )

    def absolute(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        skus = skus_of([i["sku"] for i in items])
        aso = as_of_of(request, skus.size, ch.env.now)
        reply = wait(rt, ch.set_inventory(skus, [i["quantity"] for i in items], aso))
        if not reply.ok:
            return error(reply)
        return httpx.Response(200, json={"transaction_id": reply.value}, headers=rate_headers())

    def items(request: httpx.Request) -> httpx.Response:
        codes = codes_of(request.url.params.get("sku:in"))
        reply = channel_inventory(ch, rt, codes)
        if not reply.ok:
            return error(reply)
        page = reply.value
        data = [
            {
                "identity": {"sku": sku_code(s)},
                "locations": [{"location_id": 1, "available_to_sell": int(v)}],
            }
            for s, v in zip(page.skus.tolist(), page.shown.tolist(), strict=True)
        ]
        n = len(data)
        pagination = {"total": n, "count": n, "per_page": n, "current_page": 1, "total_pages": 1}
        body = {"data": data, "meta": {"pagination": pagination}}
        return httpx.Response(200, json=body, headers={**rate_headers(), **as_of_headers(page)})

    def orders(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        reply = channel_orders(
            ch, rt, int(q.get("page", 0)), int(q["limit"]) if "limit" in q else None
        )
        if not reply.ok:
            return error(reply)
        body = [
            {
                "id": o.id,
                "date_created": o.t,
                "products": [
                    {"id": ln.id, "sku": sku_code(ln.sku), "quantity": ln.qty} for ln in o.lines
                ],
            }
            for o in reply.value.orders
        ]
        headers = {**rate_headers(), "X-Next-Page": str(reply.value.cursor)}
        return httpx.Response(200, json=body, headers=headers)

    router.put(f"{store}/v3/inventory/adjustments/absolute", name="absolute").mock(
        side_effect=absolute
    )
    router.get(f"{store}/v3/inventory/items", name="items").mock(side_effect=items)
    router.get(f"{store}/v2/orders", name="orders").mock(side_effect=orders)


PLATFORM = Platform(
    name="bigcommerce",
    kind="channel",
    preset=BigCommerce,
    routes=routes,
    base_url="https://api.bigcommerce.com",
    channel_class=BigCommerceChannel,
    auth=Auth(
        header="X-Auth-Token",
        scheme="",
        body={
            "status": 401,
            "title": "No valid credentials were found in this request.",
            "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
        },
    ),
)
