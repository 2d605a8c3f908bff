"""What a platform is, and what platform modules share.

A ``Platform`` describes one real system a channel or the ERP can behave like, in one
module of this package: its ``name`` (what ``preset = "..."`` says), its ``kind``
(``"channel"`` or ``"erp"``), its ``preset`` model (a ``sim.platforms.ChannelPreset`` or
``ErpPreset``: the platform's parameters and what its API is), the ``channel_class`` that
gives a channel its semantics, and ``routes``, which install the platform's HTTP shape on a
respx router (``mocks.http.facade_for``). ``api_args(effective)`` turns the scenario's
resolved API (``sim.capacity``) into ``ApiServer`` arguments: limiters, request costs and
which operations they apply to.

Shared semantics: ``FulfillingChannel`` (a channel that wants shipments and cancellations
synced back), ``write_args`` (a platform write's arrays, or its refusal) and ``refuse``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import respx

from mocks.api import CostBucket, ExecutionBudget, LeakyBucket, Limiter, Reply, WindowQuota
from mocks.channel import Channel
from sim.bridge import SimRuntime
from sim.capacity import (
    CostBucketLimit,
    EffectiveChannelApi,
    EffectiveErpApi,
    ExecutionTimeLimit,
    LeakyBucketLimit,
    Limit,
    WindowLimit,
)
from sim.dists import LogNormal
from sim.platforms import PresetModel

__all__ = [
    "Auth",
    "FulfillingChannel",
    "Platform",
    "Routes",
    "channel_server_args",
    "erp_server_args",
    "limiter",
    "lognormal",
    "refuse",
    "write_args",
]

Routes = Callable[[respx.Router, Any, SimRuntime], None]
"""``routes(router, system, runtime)``: install a platform's HTTP endpoints on ``router``,
each answering from ``system`` (a channel or the ERP) through ``runtime`` (``sim.bridge``)."""


@dataclass(frozen=True)
class Auth:
    """How a platform's API authenticates a request, as ``syncsim serve`` checks it: the
    token travels in ``header``, after ``scheme`` (``"Bearer"``; ``"OAuth"`` for NetSuite's
    token-based authentication, whose ``oauth_token`` parameter carries it; empty: the
    header is the token), and a request without the right one gets ``status`` with ``body``
    (the platform's own error) and ``headers``."""

    header: str = "Authorization"
    scheme: str = "Bearer"
    status: int = 401
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()

    def token_of(self, headers: Mapping[str, str]) -> str | None:
        """The token a request carries (``headers`` looked up case-insensitively)."""
        raw = next((v for k, v in headers.items() if k.lower() == self.header.lower()), None)
        if raw is None:
            return None
        if not self.scheme:
            return raw.strip()
        scheme, _, rest = raw.strip().partition(" ")
        if scheme.lower() != self.scheme.lower():
            return None
        if self.scheme == "OAuth":  # OAuth realm="...", oauth_token="...", ...
            params = dict(p.strip().split("=", 1) for p in rest.split(",") if "=" in p)
            return params.get("oauth_token", "").strip('"') or None
        return rest.strip()

    def example(self, token: str) -> str:
        """The header value a client sends with ``token``."""
        if self.scheme == "OAuth":
            return (
                f'OAuth realm="syncsim", oauth_consumer_key="syncsim", oauth_token="{token}", '
                'oauth_signature_method="HMAC-SHA256", oauth_signature="..."'
            )
        return f"{self.scheme} {token}" if self.scheme else token


@dataclass(frozen=True)
class Platform:
    """One platform: its preset, semantics and HTTP shape (see the module docstring).

    ``base_url`` is where its facade answers (``{name}``: the channel's name).
    ``server_args``: a platform whose capacity model needs more than the standard limiters
    supplies its own builder (default: ``channel_server_args`` or ``erp_server_args``).
    """

    name: str
    kind: Literal["channel", "erp", "wms"]
    preset: type[PresetModel] | None
    routes: Routes
    base_url: str
    channel_class: type[Channel] | None = None
    server_args: Callable[[Any], dict[str, Any]] | None = None
    #: how ``syncsim serve`` authenticates a request (``Auth``; default: a bearer token)
    auth: Auth = Auth(body={"error": "UNAUTHORIZED"})
    #: the path (under ``base_url``) where a connector registers an order webhook over live
    #: HTTP (``syncsim serve``), or None if the platform's webhooks are not served live
    webhook_path: str | None = None

    def api_args(self, api: EffectiveChannelApi | EffectiveErpApi) -> dict[str, Any]:
        """``ApiServer`` keyword arguments for a system's resolved API."""
        if self.server_args is not None:
            return self.server_args(api)
        if isinstance(api, EffectiveChannelApi):
            return channel_server_args(api)
        return erp_server_args(api)

    def make_channel(self, *args: Any, **kwargs: Any) -> Channel:
        """A channel with this platform's semantics (``Channel``'s arguments)."""
        if self.channel_class is None:
            raise TypeError(f"platform {self.name!r} is not a channel platform")
        return self.channel_class(*args, **kwargs)


def limiter(limit: Limit) -> Limiter:
    """The ``mocks.api`` limiter enforcing one resolved limit."""
    if isinstance(limit, LeakyBucketLimit):
        return LeakyBucket(limit.capacity, limit.rate, limit.code)
    if isinstance(limit, CostBucketLimit):
        return CostBucket(limit.capacity, limit.rate, limit.code)
    if isinstance(limit, WindowLimit):
        return WindowQuota(limit.limit, limit.window, limit.code)
    if isinstance(limit, ExecutionTimeLimit):
        return ExecutionBudget(limit.seconds, limit.window, limit.code)
    raise TypeError(f"unknown limit {limit!r}")  # pragma: no cover - the union is closed


def _cost(limits: Sequence[Limit]) -> Callable[[int], float] | None:
    buckets = [lim for lim in limits if isinstance(lim, CostBucketLimit)]
    return buckets[0].cost if buckets else None


def channel_server_args(api: EffectiveChannelApi) -> dict[str, Any]:
    """``ApiServer`` arguments of a channel's API (its bulk limit is the channel's own)."""
    kw: dict[str, Any] = {
        "service_time": api.latency,
        "limiters": [limiter(lim) for lim in api.limits],
    }
    cost = _cost(api.limits)
    if cost is not None:
        kw["cost"] = cost
    if api.limited_ops is not None:
        kw["limited_ops"] = frozenset(api.limited_ops)
    return kw


def erp_server_args(api: EffectiveErpApi) -> dict[str, Any]:
    """``ApiServer`` arguments of the ERP's API (with ``[erp.api]``'s ``per_item``,
    ``reject_latency`` and maintenance added by the world)."""
    kw: dict[str, Any] = {
        "concurrency": api.concurrency,
        "overflow": api.overflow,
        "service_time": api.service_time,
        "error_code": api.error_code,
        "limiters": [limiter(lim) for lim in api.limits],
    }
    if api.max_items is not None:
        kw["max_items"] = api.max_items
    if api.batch_ops is not None:
        kw["batch_ops"] = frozenset(api.batch_ops)
    return kw


# -- shared semantics -------------------------------------------------------------------------
def lognormal(mean: float, cv: float = 0.5) -> LogNormal:
    """A log-normal delay of ``mean`` seconds (a preset's default latency or delay)."""
    return LogNormal.model_validate({"dist": "lognormal", "mean": mean, "cv": cv})


def refuse(env: Any, api: Any, status: int, error: str) -> Any:
    """A request the platform refuses before serving it (malformed): counted, answered now."""
    api.stats.calls += 1
    api.stats.invalid += 1
    return env.timeout(0.0, Reply(status, error=error))


def write_args(
    ch: Channel, skus: Any, values: Any, as_of: Any, expected: Any, too_many: tuple[int, str]
) -> Any:
    """A platform write's arrays ``(skus, values, as_of)``, or the refusal event when the
    platform has no compare-and-swap or the write is over its bulk limit."""
    sel = np.atleast_1d(np.asarray(skus, np.int64))
    if expected is not None:
        return refuse(ch.env, ch.api, 400, "compare-and-swap is not supported")
    if sel.size > ch.bulk_limit:
        status, error = too_many
        return refuse(ch.env, ch.api, status, f"{error}: {sel.size}")
    aso = np.array(as_of, float, ndmin=1)
    if aso.shape != sel.shape:
        aso = np.full(sel.shape, float(aso[0]))
    return sel, np.array(values, np.int64, ndmin=1), aso


class FulfillingChannel(Channel):
    """A channel that wants shipments and cancellations synced back (``fulfill``).

    Extension hook: ``_fulfilled(line_id, sku, qty, kind)``, what one synced line does to
    the platform's own stock states; ``_set_shown`` changes what the platform shows on its
    own (not a write: ``as_of`` is unchanged).
    """

    needs_fulfillment = True

    def fulfill(self, lines: Sequence[tuple[int, int, int, int, str]]) -> Any:
        """Tell the channel that order lines ``(order_id, line_id, sku, qty, kind)`` were
        ``shipped`` or ``cancelled`` by the seller (one request)."""
        done = list(lines)

        def effect() -> int:
            for _order_id, line_id, sku, qty, kind in done:
                self._fulfilled(line_id, int(sku), int(qty), kind)
            return len(done)

        return self.api.call(max(1, len(done)), effect, op="fulfill")

    def _fulfilled(self, line_id: int, sku: int, qty: int, kind: str) -> None:
        """The effect of one shipped or cancelled line on the platform's states."""
        raise NotImplementedError(f"{type(self).__name__} must implement _fulfilled()")

    def _set_shown(self, sku: int, value: int) -> None:
        """A platform-side change of what is shown (not a write: ``as_of`` is unchanged)."""
        self._count[sku] = max(0, value)
        for on_shown in self.shown_listeners:
            on_shown(self.index, sku)
