"""The live testbed: a scenario's systems served over real HTTP in scaled real time.

``syncsim serve`` runs the world in SimPy's real-time environment (one wall second is
``speed`` simulated seconds) and serves every channel's and the ERP's facade (``mocks.http``:
the platforms' own paths, payloads, status codes, rate-limit headers and errors), and the
WMS's generic API (``mocks.platforms.generic.WMS``: its stock record and its movements as
webhooks), with a real ASGI server (Starlette on uvicorn) on loopback, at
``http://HOST:PORT/<system>/<path>``, where ``<system>`` is the channel's name, ``erp`` or
``wms`` and ``<path>`` the platform's own path
(``/admin/api/2024-10/graphql.json`` for Shopify). A team's own connector, in any language,
calls those URLs with the token printed at start, in the header its platform uses
(``mocks.platforms.base.Auth``); a missing or wrong token gets the platform's 401.

How a request is served. A server thread authenticates it, turns it into an
``httpx.Request`` for the facade's router and hands it to the simulation's thread through an
inbox; a pump process, every ``TICK`` wall seconds, starts each waiting request as a task
(``sim.bridge.SimRuntime``) at the simulated instant it is picked up, so the call takes the
simulated time, capacity and faults it would take offline (an outage answers 503, throttling
429 with ``Retry-After``, a timeout holds the connection and then answers 504); the response
goes back to the server thread, its ``Retry-After`` scaled to wall seconds (the connector
waits on the wall clock; times in bodies stay simulated) and the facade's own URLs in it
(Shopify's ``Link``, Amazon's feed upload URL) pointing at the live server. A request still
being served when the run ends is answered 503 "the run has ended", as one that arrives
after. A connector that registers an order webhook (Shopify's ``webhooks.json``, the generic
channel's ``/webhooks``) gets each handed-off order POSTed to its address by a delivery
thread, signed with HMAC-SHA256 of the body (Shopify's ``X-Shopify-Hmac-Sha256``), and
retried on the platform's schedule, scaled to wall time. ``GET /`` (no token) lists the
systems: platform, base URL and locations (a channel's, those it sells from; the ERP's, its
export's rows).

Falling behind. When the simulation cannot keep up with ``speed`` (its own work or the
requests), the clock runs late; the pump measures by how much, counts each episode, and
warns once per episode. A run that fell behind is slower than asked, not wrong: every event
still happens in simulated order, only later in wall time.

A live run is not bit-for-bit deterministic: when each request arrives, in simulated time,
depends on the wall clock. The world's own draws (demand, faults, latencies) are seeded as
offline, so repeated live runs of one connector differ only through its timing.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures as cf
import contextlib
import hashlib
import heapq
import hmac
import json
import queue
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx
import simpy
import simpy.rt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks.channel import Channel
from mocks.http import facade_for, router_base
from mocks.platforms import generic, shopify
from mocks.platforms.base import Platform
from mocks.platforms.registry import platform_for
from mocks.wms import Wms
from sim.assembly.world import World
from sim.bridge import SimRuntime
from sim.contract import Movement
from sim.ledger import Order
from sim.loop import Loop

__all__ = [
    "RETRY_AFTER_SIM",
    "TICK",
    "LiveConnector",
    "LiveError",
    "LiveServer",
    "LiveSystem",
    "free_port",
    "new_token",
    "run_live",
]

#: wall seconds between two looks at the inbox: the most a request waits to be picked up
TICK = 0.005
#: wall seconds late before the clock counts as behind
BEHIND = 0.25
#: the header keeping a ``Retry-After``'s simulated seconds (``Retry-After`` itself is scaled
#: to wall seconds)
RETRY_AFTER_SIM = "X-Syncsim-Retry-After-Sim"
#: hop-by-hop and framing headers not copied between the server and the facades
_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection", "content-encoding"})


class LiveError(Exception):
    """A live run cannot start (the port is taken, say): one line for the user."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the operating system's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class LiveSystem:
    """One system served: its path segment, platform, facade and (a channel) the mock."""

    name: str
    platform: Platform
    router: respx.Router
    channel: Channel | None = None
    wms: Wms | None = None
    webhooks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return router_base(self.router)


@dataclass
class _Job:
    system: LiveSystem
    request: httpx.Request
    done: cf.Future[httpx.Response]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {})


class _Deliveries:
    """Order webhooks over real HTTP: a thread POSTs each delivery; a failed one (an error,
    no answer within ``timeout`` wall seconds, or a non-2xx status) is retried after the
    platform's gaps, in simulated seconds scaled to wall time."""

    def __init__(self, speed: float, secret: bytes, timeout: float = 5.0) -> None:
        self.speed = speed
        self.secret = secret
        self.client = httpx.Client(timeout=timeout)
        self.due: list[tuple[float, int, Callable[[], None]]] = []
        self.cond = threading.Condition()
        self.closed = False
        self.n = 0
        self.stats: Counter[str] = Counter()
        self.movements = 0
        self.pool = cf.ThreadPoolExecutor(4, thread_name_prefix="syncsim-webhook")
        self.thread = threading.Thread(target=self._run, name="syncsim-webhooks", daemon=True)
        self.thread.start()

    def deliver(self, system: LiveSystem, address: str, order: Order, gaps: list[float]) -> None:
        """Deliver ``order`` to ``address`` (from the simulation's thread: only queues)."""
        if system.platform.name == "shopify":
            body = shopify.webhook_body(order)
            headers = shopify.webhook_headers(system.name, order, body, self.secret)
            self._send(address, body, headers, gaps)
        else:
            self._signed(address, generic.order_json(order), "orders/create",
                         f"wh-{order.id}", gaps)  # fmt: skip

    def deliver_movement(self, address: str, mv: Movement, gaps: list[float]) -> None:
        """Deliver a WMS stock movement to ``address`` (only queues)."""
        self.movements += 1
        self._signed(address, generic.movement_json(mv), "movements",
                     f"mv-{self.movements}", gaps)  # fmt: skip

    def _signed(
        self, address: str, payload: Any, topic: str, webhook_id: str, gaps: list[float]
    ) -> None:
        body = json.dumps(payload, sort_keys=True).encode()
        sig = base64.b64encode(hmac.new(self.secret, body, hashlib.sha256).digest())
        headers = {
            "Content-Type": "application/json",
            "X-Syncsim-Topic": topic,
            "X-Syncsim-Webhook-Id": webhook_id,
            "X-Syncsim-Hmac-Sha256": sig.decode(),
        }
        self._send(address, body, headers, gaps)

    def _send(self, address: str, body: bytes, headers: dict[str, str], gaps: list[float]) -> None:
        self.stats["queued"] += 1
        self._at(0.0, lambda: self._attempt(address, body, headers, gaps, 0))

    def _at(self, delay: float, fn: Callable[[], None]) -> None:
        with self.cond:
            self.n += 1
            heapq.heappush(self.due, (time.monotonic() + delay, self.n, fn))
            self.cond.notify()

    def _attempt(
        self, address: str, body: bytes, headers: dict[str, str], gaps: list[float], n: int
    ) -> None:
        try:
            ok = self.client.post(address, content=body, headers=headers).is_success
        except httpx.HTTPError:
            ok = False
        if ok:
            self.stats["delivered"] += 1
            return
        self.stats["failed"] += 1
        if n < len(gaps) and not self.closed:
            self.stats["retried"] += 1
            self._at(
                gaps[n] / self.speed, lambda: self._attempt(address, body, headers, gaps, n + 1)
            )
        else:
            self.stats["gave_up"] += 1

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.closed and (not self.due or self.due[0][0] > time.monotonic()):
                    wait = self.due[0][0] - time.monotonic() if self.due else None
                    self.cond.wait(wait)
                if self.closed:
                    return
                _, _, fn = heapq.heappop(self.due)
            self.pool.submit(fn)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.stats["dropped_at_end"] += len(self.due)
            self.due.clear()
            self.cond.notify()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()


class LiveServer:
    """The facades of ``world`` over real HTTP (see the module docstring)."""

    def __init__(self, world: World, speed: float, token: str, secret: str) -> None:
        self.world = world
        self.speed = speed
        self.token = token
        self.secret = secret
        self.runtime = SimRuntime(world.env)
        self.inbox: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.first = threading.Event()  # the first authenticated request arrived
        self.closed = False
        self.requests: Counter[int] = Counter()  # answered requests by status
        self.unauthorized = 0
        self._serving: dict[int, _Job] = {}  # started in the simulation, not yet answered
        self.systems: dict[str, LiveSystem] = {}
        for ch in world.channels:
            self.systems[ch.name] = LiveSystem(
                ch.name, platform_for(ch.spec), facade_for(ch, self.runtime), ch
            )
        self.systems["erp"] = LiveSystem(
            "erp", platform_for(world.erp.spec), facade_for(world.erp, self.runtime)
        )
        wms = respx.Router(base_url=generic.WMS.base_url, assert_all_called=False,
                           assert_all_mocked=True)  # fmt: skip
        wms.syncsim_base = generic.WMS.base_url  # type: ignore[attr-defined]
        generic.WMS.routes(wms, world.wms, self.runtime)
        self.systems["wms"] = LiveSystem("wms", generic.WMS, wms, wms=world.wms)
        self.deliveries = _Deliveries(speed, secret.encode())
        self.app = Starlette(
            routes=[
                Route("/", self._index, methods=["GET"]),
                Route(
                    "/{system}/{path:path}",
                    self._handle,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                ),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.host = ""
        self.port = 0

    # -- the server thread ------------------------------------------------------------------
    def url(self, system: str) -> str:
        return f"http://{self.host}:{self.port}/{system}"

    async def _index(self, request: Request) -> Response:
        """Every system's platform and base URL, and its locations: a channel's, the ones
        it sells from (in priority order); the ERP's, its export's rows in order."""
        return JSONResponse(
            {
                name: {"platform": s.platform.name, "base_url": self.url(name),
                       "locations": self._locations(s)}
                for name, s in self.systems.items()
            }
        )  # fmt: skip

    def _locations(self, system: LiveSystem) -> list[str]:
        names = list(self.world.systems.locations)
        if system.channel is None:
            return names
        return [names[i] for i in self.world.systems.serve(system.channel.index)]

    async def _handle(self, request: Request) -> Response:
        system = self.systems.get(request.path_params["system"])
        if system is None:
            known = ", ".join(self.systems)
            return JSONResponse({"error": f"no system here by that name (systems: {known})"}, 404)
        auth = system.platform.auth
        if auth.token_of(request.headers) != self.token:
            self.unauthorized += 1
            body = b"" if auth.body is None else json.dumps(auth.body).encode()
            return Response(
                body, auth.status, headers=dict(auth.headers), media_type="application/json"
            )
        if self.closed:
            return JSONResponse({"error": "the run has ended"}, 503)
        content = await request.body()
        query = request.url.query
        url = f"{system.base}/{request.path_params['path']}" + (f"?{query}" if query else "")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        job = _Job(system, httpx.Request(request.method, url, headers=headers, content=content),
                   cf.Future())  # fmt: skip
        self.inbox.put(job)
        self.first.set()
        resp = await asyncio.wrap_future(job.done)
        # links the facade gives (Shopify's Link header, Amazon's upload URL) point here
        here, base = self.url(system.name), system.base
        content = resp.content.replace(base.encode(), here.encode()) if base else resp.content
        out = {
            k: v.replace(base, here) if base else v
            for k, v in resp.headers.items()
            if k.lower() not in _HOP
        }
        return Response(content, resp.status_code, headers=self._wall_headers(out))

    def _wall_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """``Retry-After`` in wall seconds: the facades say when to come back in simulated
        seconds, and the connector waits on the wall clock; the simulated value stays in
        ``X-Syncsim-Retry-After-Sim``."""
        key = next((k for k in headers if k.lower() == "retry-after"), None)
        if key is None:
            return headers
        try:
            simulated = float(headers[key])
        except ValueError:  # an HTTP date: not one the facades write
            return headers
        out = {k: v for k, v in headers.items() if k != key}
        out["Retry-After"] = repr(simulated / self.speed)
        out[RETRY_AFTER_SIM] = repr(simulated)
        return out

    def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (0: a free port) in a thread; ``LiveError`` if it cannot."""
        port = port or free_port(host)
        config = uvicorn.Config(
            self.app, host=host, port=port, log_level="critical", access_log=False,
            lifespan="off", timeout_graceful_shutdown=1,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="syncsim-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise LiveError(f"cannot listen on {host}:{port} (in use, or not an address here)")
            time.sleep(0.01)
        self.host, self.port = host, port

    def stop(self) -> None:
        """Stop answering: pending requests, and those still being served in the
        simulation, get 503; the server and deliveries stop."""
        self.closed = True
        ended = _json(503, {"error": "the run has ended"})
        self._drain(answer=ended)
        for job in list(self._serving.values()):
            if not job.done.done():
                job.done.set_result(ended)
        self._serving.clear()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.deliveries.close()

    # -- the simulation's thread ------------------------------------------------------------
    def _drain(self, answer: httpx.Response | None = None) -> None:
        while True:
            try:
                job = self.inbox.get_nowait()
            except queue.Empty:
                return
            if answer is not None:
                job.done.set_result(answer)
            else:
                self._start(job)

    def _start(self, job: _Job) -> None:
        def serve() -> httpx.Response:
            webhook = job.system.platform.webhook_path
            if webhook and job.request.url.path == webhook:
                return self._webhooks(job.system, job.request)
            try:
                return job.system.router.handler(job.request)
            except respx.models.AllMockedAssertionError:
                return _json(404, {"error": f"no such endpoint: {job.request.method} "
                                            f"{job.request.url.path}"})  # fmt: skip

        def answered(ev: Any) -> None:
            self._serving.pop(id(job), None)
            if job.done.done():  # answered 503 at the end of the run
                return
            if ev.ok:
                resp = ev.value
            else:
                ev.defused = True
                resp = _json(500, {"error": f"{type(ev.value).__name__}: {ev.value}"})
            self.requests[resp.status_code] += 1
            job.done.set_result(resp)

        self._serving[id(job)] = job
        self.runtime.spawn(serve).callbacks.append(answered)

    def _webhooks(self, system: LiveSystem, request: httpx.Request) -> httpx.Response:
        """Register (POST) or list (GET) the order webhooks of a channel, or the WMS's
        movement webhooks."""
        shopify_shape = system.platform.name == "shopify"
        if request.method == "GET":
            key = "webhooks" if shopify_shape else "items"
            return _json(200, {key: system.webhooks})
        if request.method != "POST":
            return _json(405, {"error": "METHOD_NOT_ALLOWED"})
        try:
            raw = json.loads(request.content or b"{}")
            spec = raw["webhook"] if shopify_shape else raw
            topic, address = str(spec["topic"]), str(spec["address"])
        except (ValueError, KeyError, TypeError):
            return _json(422, {"errors": {"webhook": ["topic and address are required"]}})
        served = "movements" if system.wms is not None else "orders/create"
        if topic != served:
            return _json(422, {"errors": {"topic": [f"{topic!r}: only {served} is served"]}})
        if not address.startswith(("http://", "https://")):
            return _json(422, {"errors": {"address": ["must be an http(s) URL"]}})
        hook = {"id": len(system.webhooks) + 1, "topic": topic, "address": address,
                "format": "json", "created_at": self.world.env.now}  # fmt: skip
        system.webhooks.append(hook)
        if system.wms is not None:
            gaps = _gaps(None)

            def on_movement(mv: Movement) -> None:
                self.deliveries.deliver_movement(address, mv, gaps)

            system.wms.subscribe(on_movement)
            return _json(201, hook)
        ch = system.channel
        assert ch is not None
        gaps = _gaps(ch)

        def on_order(order: Order) -> bool:
            self.deliveries.deliver(system, address, order, gaps)
            return True

        ch.subscribe_orders(on_order)
        return _json(201, {"webhook": hook} if shopify_shape else hook)


def _gaps(ch: Channel | None) -> list[float]:
    """The retry gaps (simulated seconds) of a channel's webhooks (None: the WMS's)."""
    schedule = list(getattr(ch.webhooks, "schedule", []) or []) if ch is not None else []
    if not schedule:  # generic channel and WMS: Shopify's default, 8 retries over 4 hours
        n, window = 8, 4 * 3600.0
        first = window / (2**n - 1)
        schedule = [first * (2 ** (i + 1) - 1) for i in range(n)]
    return [b - a for a, b in zip([0.0, *schedule[:-1]], schedule, strict=True)]


class LiveConnector:
    """The connector outside the process, as the run sees it: it starts the pump that
    serves its requests and watches the clock, and reports what the live run measured."""

    def __init__(self, server: LiveServer, name: str = "live",
                 on_behind: Callable[[float], None] | None = None) -> None:  # fmt: skip
        self.name = name
        self.server = server
        self.on_behind = on_behind
        self.behind_episodes = 0
        self.max_behind_s = 0.0  # wall seconds
        self._behind = False
        self.wall_start = 0.0
        self.wall_end = 0.0

    def start(self, env: simpy.Environment, systems: Any) -> None:
        env.process(self._pump(env))

    def _pump(self, env: simpy.Environment) -> Generator[Any, Any, None]:
        assert isinstance(env, simpy.rt.RealtimeEnvironment)
        tick = TICK / env.factor
        while True:
            self.server._drain()
            late = (time.monotonic() - env.real_start) - (env.now - env.env_start) * env.factor
            if late > BEHIND:
                self.max_behind_s = max(self.max_behind_s, late)
                if not self._behind:
                    self._behind = True
                    self.behind_episodes += 1
                    if self.on_behind is not None:
                        self.on_behind(late)
            elif late < BEHIND / 2:
                self._behind = False
            yield env.timeout(tick)

    def metrics(self) -> dict[str, float]:
        served = float(sum(self.server.requests.values()))
        wall = max(self.wall_end - self.wall_start, 1e-9)
        d = self.server.deliveries.stats
        return {
            "live_requests": served,
            "live_requests_per_wall_s": served / wall,
            "live_unauthorized": float(self.server.unauthorized),
            "live_behind_episodes": float(self.behind_episodes),
            "live_max_behind_wall_s": self.max_behind_s,
            "live_webhooks_delivered": float(d["delivered"]),
            "live_webhooks_failed": float(d["failed"]),
        }


def run_live(
    world: World,
    server: LiveServer,
    connector: LiveConnector,
    until: float,
    on_progress: Callable[[float], None] | None = None,
) -> float:
    """Run ``world`` from now to ``until`` in real time, serving ``server``; returns the
    simulated time reached (less than ``until`` after Ctrl-C, which stops the run)."""
    env = world.env
    assert isinstance(env, simpy.rt.RealtimeEnvironment)
    env.sync()
    connector.wall_start = time.monotonic()
    connector.start(env, world.systems)
    world.start()
    try:
        Loop(env).run(until, on_progress)
    except KeyboardInterrupt:
        pass
    finally:
        connector.wall_end = time.monotonic()
        with contextlib.suppress(Exception):
            server.stop()
    return float(env.now)


def new_token() -> str:
    """A fresh random access token."""
    return secrets.token_urlsafe(18)
