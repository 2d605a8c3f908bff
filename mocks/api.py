"""The capacity model of an integration API, in simulated time.

Every call a strategy makes to a system goes through an ``ApiServer``: it may be refused by a
maintenance window (503), a rate limiter (429 with ``retry_after``), or a full concurrency
limit (``overflow = "reject"``: refused at once, NetSuite style; ``"throttle"``: 429 with
Retry-After, Dynamics style; ``"queue"``: wait for a free slot, on-premise style). An admitted
call occupies a slot for its service time (a distribution plus a per-item cost); its effect
is applied when the service ends, and the reply is delivered then.

A call returns a SimPy event whose value is a ``Reply`` (never an exception), like an httpx
response: check ``reply.ok`` or call ``reply.raise_for_status()``.

Faults (``sim.faults``) act here while they are on: the server holds them (``hold_fault``,
in the order they switched on) and asks each, whatever its kind, before serving a call
(``refuse``: e.g. an outage answers 503, a throttling storm 429 with Retry-After, an error
burst a 5xx), for an admitted call (``timeout``: the client gets 504 after a delay while the
call, still served, took effect or not: unknown outcome) and per served call
(``service_factor``: a slowdown). Coin flips for faults come from their own stream
(``fault_rng``), so a fault never shifts any other random number. Every call is recorded in
the operation history (``sim.history``).

Extension hooks: subclasses may override ``_service_time`` (how long a call takes) and
``_refuse`` (whether to refuse a call before it starts).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np

from sim.contract import ApiError, Reply
from sim.dists import Fixed
from sim.faults import ActiveFault, Timeout
from sim.recorder import Level

__all__ = [
    "ApiError",
    "ApiServer",
    "ApiStats",
    "CostBucket",
    "ExecutionBudget",
    "LeakyBucket",
    "Limiter",
    "Reply",
    "WindowQuota",
    "windows",
]


class Limiter(Protocol):
    """A rate limit; ``code`` is the error code of the 429 it answers."""

    code: str

    def admit(self, now: float) -> float | None:
        """Take one request; ``None`` if admitted, else seconds until one would be."""


class CostBucket:
    """Shopify GraphQL: each query costs points; ``capacity`` points restored at ``rate``
    per second. ``cost`` is set per call by the server (``ApiServer.call(cost=...)``)."""

    def __init__(self, capacity: float, rate: float, code: str = "THROTTLED") -> None:
        self.capacity = capacity
        self.rate = rate
        self.code = code
        self.available = capacity
        self._last = 0.0
        self.cost = 1.0

    def available_at(self, now: float) -> float:
        """Points available at ``now`` (restored since the last request; read-only)."""
        return min(self.capacity, self.available + (now - self._last) * self.rate)

    def admit(self, now: float) -> float | None:
        self.available = self.available_at(now)
        self._last = now
        if self.cost > self.available:
            return (self.cost - self.available) / self.rate
        self.available -= self.cost
        return None


class ExecutionBudget:
    """Dynamics: at most ``seconds`` of combined execution time in any ``window``; a call's
    execution time is charged when it completes."""

    def __init__(self, seconds: float, window: float, code: str = "THROTTLED") -> None:
        self.seconds = seconds
        self.window = window
        self.code = code
        self._spent: deque[tuple[float, float]] = deque()
        self._total = 0.0

    def admit(self, now: float) -> float | None:
        spent = self._spent
        while spent and spent[0][0] <= now - self.window:
            self._total -= spent.popleft()[1]
        if self._total >= self.seconds:
            return spent[0][0] + self.window - now
        return None

    def charge(self, now: float, seconds: float) -> None:
        self._spent.append((now, seconds))
        self._total += seconds


class LeakyBucket:
    """Shopify-style bucket: each request adds 1; the bucket leaks ``rate`` per second."""

    def __init__(self, capacity: int, rate: float, code: str = "THROTTLED") -> None:
        self.capacity = capacity
        self.rate = rate
        self.code = code
        self.level = 0.0
        self._last = 0.0

    def level_at(self, now: float) -> float:
        """The bucket's level at ``now`` (leaked since the last request; read-only)."""
        return max(0.0, self.level - (now - self._last) * self.rate)

    def admit(self, now: float) -> float | None:
        self.level = self.level_at(now)
        self._last = now
        if self.level + 1.0 > self.capacity + 1e-9:
            return (self.level + 1.0 - self.capacity) / self.rate
        self.level += 1.0
        return None


class WindowQuota:
    """At most ``limit`` requests in any sliding window of ``window`` seconds."""

    def __init__(self, limit: int, window: float, code: str = "THROTTLED") -> None:
        self.limit = limit
        self.window = window
        self.code = code
        self._times: deque[float] = deque()

    def in_window(self, now: float) -> list[float]:
        """Times of the requests admitted in the window that ends at ``now`` (read-only):
        ``limit`` less their number are left, and the oldest leaves the window first."""
        return [t for t in self._times if t > now - self.window]

    def admit(self, now: float) -> float | None:
        times = self._times
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return times[0] + self.window - now
        times.append(now)
        return None


@dataclass
class ApiStats:
    """What happened at one API; turned into metrics at the end of the run."""

    calls: int = 0
    ok: int = 0
    rejected: int = 0  # refused for capacity: concurrency, rate limits, throttling storms
    throttled: int = 0  # 429 answers (subset of rejected)
    invalid: int = 0  # 400 answers: requests the API refused as malformed (too many items)
    unavailable: int = 0  # 503 because the system was down: maintenance window or outage
    errors: int = 0  # 5xx of an error burst (the system was up and failed the call)
    items: int = 0
    busy_area: float = 0.0  # integral of in-flight calls over time
    call_times: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


class ApiServer:
    """One system's integration API: admission, concurrency slots, service time."""

    def __init__(
        self,
        env: Any,
        name: str,
        rng: np.random.Generator,
        *,
        concurrency: int | None = None,
        overflow: str = "queue",
        service_time: Any = None,
        per_item: float = 0.0,
        reject_latency: float = 0.0,
        limiters: Sequence[Limiter] = (),
        maintenance: Sequence[tuple[float, float]] = (),
        error_code: str = "REQUEST_LIMIT_EXCEEDED",
        fault_rng: np.random.Generator | None = None,
        history: Any = None,
        max_items: int | None = None,
        batch_ops: frozenset[str] | None = None,
        cost: Callable[[int], float] | None = None,
        limited_ops: frozenset[str] | None = None,
    ) -> None:
        if overflow not in ("queue", "reject", "throttle"):
            raise ValueError(f"overflow must be queue, reject or throttle, not {overflow!r}")
        self.env = env
        self.name = name
        self.rng = rng
        self.concurrency = concurrency
        self.overflow = overflow
        self.service = service_time if service_time is not None else Fixed(value=0.0)
        self.per_item = per_item
        self.reject_latency = reject_latency
        self.limiters = list(limiters)
        self.maintenance = list(maintenance)
        self.error_code = error_code
        self.in_flight = 0
        self.stats = ApiStats()
        self.max_items = max_items  # items one call may carry (a batch limit)
        self.batch_ops = batch_ops  # the operations max_items applies to (None: all)
        self.limited_ops = limited_ops  # the operations the rate limiters apply to (None: all)
        self.cost = cost  # points a call of n items costs in a CostBucket
        self.faults: list[ActiveFault] = []  # faults on now, in the order they switched on
        self.fault_rng = fault_rng if fault_rng is not None else rng
        self.history = history
        self._last = 0.0
        self.queue = Level(env)  # calls waiting for a slot (overflow = "queue")
        self._waiting: deque[tuple[Any, Reply, float, int, Callable[[], Any] | None, int]] = deque()

    def hold_fault(self, fault: ActiveFault, on: bool) -> None:
        """Take a fault that switched on (its hooks are asked from now on), or let it go."""
        if on:
            self.faults.append(fault)
        else:
            self.faults.remove(fault)

    # -- extension hooks --------------------------------------------------------------------
    def _service_time(self, items: int) -> float:
        t = float(self.service.sample(self.rng)) + self.per_item * items
        for f in self.faults:
            factor = f.service_factor(self.fault_rng)
            if factor is not None:
                t *= factor
        return t

    def _refuse(self, now: float, op: str = "call") -> Reply | None:
        for a, b in self.maintenance:
            if a <= now < b:
                return Reply(503, error="MAINTENANCE", retry_after=b - now)
        for f in self.faults:
            refusal = f.refuse(now, op, self.fault_rng)
            if refusal is not None:
                return Reply(refusal.status, error=refusal.error, retry_after=refusal.retry_after)
        if self.limited_ops is not None and op not in self.limited_ops:
            return None
        for lim in self.limiters:
            wait = lim.admit(now)
            if wait is not None:
                return Reply(429, error=getattr(lim, "code", "THROTTLED"), retry_after=wait)
        return None

    # -- the call ---------------------------------------------------------------------------
    def call(
        self,
        items: int = 1,
        effect: Callable[[], Any] | None = None,
        status_of: Callable[[Any], tuple[int, str | None]] | None = None,
        op: str = "call",
    ) -> Any:
        """Submit a call of ``items`` items; the event's value is the ``Reply``.

        ``effect`` runs when the service ends; its return value becomes ``reply.value``, and
        ``status_of(value)`` (if given) sets the reply's status and error code (a served
        call that the system refused on its merits, e.g. a stale compare-and-swap).
        """
        env = self.env
        now = env.now
        st = self.stats
        st.calls += 1
        st.call_times.append(now)
        hist = self.history
        op_id = hist.invoke(self.name, op, items) if hist is not None else -1
        if (
            self.max_items is not None
            and items > self.max_items
            and (self.batch_ops is None or op in self.batch_ops)
        ):
            refused: Reply | None = Reply(
                400, error=f"BATCH_TOO_LARGE: {items} items > {self.max_items}"
            )
        else:
            if self.cost is not None:
                for lim in self.limiters:
                    if isinstance(lim, CostBucket):
                        lim.cost = self.cost(items)
            refused = self._refuse(now, op)
        if refused is None and self.concurrency is not None and self.in_flight >= self.concurrency:
            if self.overflow == "reject":
                refused = Reply(429, error=self.error_code)
            elif self.overflow == "throttle":
                wait = max(self.service.mean, 0.1)  # about when a slot frees up
                refused = Reply(429, error=self.error_code, retry_after=wait)
        if refused is not None:
            if refused.status == 429:
                st.rejected += 1
                st.throttled += 1
            elif refused.status == 400:
                st.invalid += 1  # malformed, not a capacity refusal
            elif refused.error in _DOWN:
                st.unavailable += 1
            else:
                st.errors += 1
            refused.latency = self.reject_latency
            if hist is not None:
                hist.complete(op_id, refused.status)
            return env.timeout(self.reject_latency, refused)
        reply = Reply()
        if status_of is not None:
            effect = _with_status(effect, status_of, reply)
        timeout = self._fault_timeout() if self.faults else None
        if timeout is not None:
            # the call is served (it holds capacity), but the client gives up after a delay
            # without knowing whether it took effect
            if not timeout.applied:
                effect = None
            served = reply
            reply = Reply(504, error="TIMEOUT", latency=timeout.after)
            done = env.timeout(timeout.after, reply)
            if hist is not None:
                done.callbacks.append(partial(_close, hist, op_id))
            self._admit(served, now, items, effect, -1)
            return done
        if self.concurrency is not None and self.in_flight >= self.concurrency:
            return self._admit(reply, now, items, effect, op_id)  # waits for a slot
        return self._start(reply, now, items, effect, None, op_id)

    def _fault_timeout(self) -> Timeout | None:
        """The first fault on that times this call out, if any."""
        for f in self.faults:
            timeout = f.timeout(self.fault_rng)
            if timeout is not None:
                return timeout
        return None

    def _admit(
        self,
        reply: Reply,
        now: float,
        items: int,
        effect: Callable[[], Any] | None,
        op_id: int,
    ) -> Any:
        if self.concurrency is not None and self.in_flight >= self.concurrency:
            done = self.env.event()
            self._waiting.append((done, reply, now, items, effect, op_id))
            self.queue.add(1)
            return done
        return self._start(reply, now, items, effect, None, op_id)

    def _start(
        self,
        reply: Reply,
        submitted: float,
        items: int,
        effect: Callable[[], Any] | None,
        done: Any,
        op_id: int = -1,
    ) -> Any:
        env = self.env
        now = env.now
        self.stats.busy_area += self.in_flight * (now - self._last)  # ``account()``, inline
        self._last = now
        self.in_flight += 1
        svc = self._service_time(items)
        ev = env.timeout(svc, reply)

        def finish(_: Any) -> None:
            now = env.now
            st = self.stats
            st.busy_area += self.in_flight * (now - self._last)  # ``account()``, inline
            self._last = now
            self.in_flight -= 1
            for lim in self.limiters:
                charge = getattr(lim, "charge", None)
                if charge is not None:
                    charge(now, svc)
            st.ok += 1
            st.items += items
            reply.latency = now - submitted
            st.latencies.append(reply.latency)
            if effect is not None:
                reply.value = effect()
            if op_id >= 0 and self.history is not None:
                self.history.complete(op_id, reply.status)
            if done is not None:
                done.succeed(reply)
            if self._waiting and (self.concurrency is None or self.in_flight < self.concurrency):
                w_done, w_reply, w_sub, w_items, w_effect, w_op = self._waiting.popleft()
                self.queue.add(-1)
                self._start(w_reply, w_sub, w_items, w_effect, w_done, w_op)

        ev.callbacks.append(finish)
        return ev

    def account(self) -> None:
        """Bring ``stats.busy_area`` (slot-seconds in use) up to now."""
        now = self.env.now
        self.stats.busy_area += self.in_flight * (now - self._last)
        self._last = now

    # -- summaries --------------------------------------------------------------------------
    def utilization(self, until: float) -> float:
        """Time-average in-flight calls over [0, until] divided by the concurrency limit."""
        self.account()
        if until <= 0:
            return 0.0
        cap = self.concurrency or 1
        return self.stats.busy_area / (until * cap)

    def peak_calls_per_minute(self) -> int:
        t = self.stats.call_times
        if not t:
            return 0
        counts = np.bincount((np.asarray(t) // 60.0).astype(np.int64))
        return int(counts.max())

    def latency_p95(self) -> float:
        lat = self.stats.latencies
        return float(np.percentile(lat, 95)) if lat else 0.0

    def queue_length(self) -> int:
        return len(self._waiting)


#: error codes of a 503 that means "down" (a maintenance window or an outage), not an error
_DOWN = frozenset({"MAINTENANCE", "UNAVAILABLE"})


def _close(history: Any, op_id: int, ev: Any) -> None:
    history.complete(op_id, ev.value.status)


def _with_status(
    effect: Callable[[], Any] | None,
    status_of: Callable[[Any], tuple[int, str | None]],
    reply: Reply,
) -> Callable[[], Any]:
    def run() -> Any:
        value = effect() if effect is not None else None
        reply.status, reply.error = status_of(value)
        return value

    return run


def windows(spec: Sequence[Any]) -> list[tuple[float, float]]:
    """(start, end) pairs from scenario ``Window`` objects."""
    return [(w.start, w.end) for w in spec if math.isfinite(w.end)]
