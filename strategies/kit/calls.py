"""Shared client behaviour: paged, throttled, retried calls, as a real connector does it.

``push_availability`` writes values to a channel in pages of at most its bulk limit, honouring
429 Retry-After exactly and retrying server errors with exponential backoff and full jitter.
``call_with_retry`` does the same for any single call. Both are SimPy generator functions to
be used with ``yield from`` (or wrapped in ``env.process``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.contract import Reply

if TYPE_CHECKING:
    import simpy

    from sim.contract import ChannelApi, ErpApi
    from sim.ledger import Order

__all__ = [
    "FEED_POLL",
    "MIN_RETRY_WAIT",
    "PARKED_RETRY",
    "ClientStats",
    "backoff",
    "call_with_retry",
    "import_until_taken",
    "push_availability",
    "push_incoming",
    "retry_wait",
    "until_applied",
]


@dataclass
class ClientStats:
    """What a strategy's client side saw."""

    pushes: int = 0
    pushes_skipped: int = 0
    pages: int = 0
    retries: int = 0
    waits_for_retry_after: int = 0
    failed_pages: int = 0
    skus_written: int = 0
    feed_polls: int = 0


def backoff(rng: np.random.Generator, attempt: int, base: float, cap: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return float(rng.uniform(0.0, min(cap, base * 2.0**attempt)))


PARKED_RETRY = 600.0  # seconds between attempts at an order import whose retries all failed

#: the shortest wait before a retry: a server's "Retry-After: 0" must not make a client
#: loop in zero simulated time
MIN_RETRY_WAIT = 1e-3


def retry_wait(reply: Reply) -> float:
    """How long a 429 asks the client to wait (``Retry-After``), never less than
    ``MIN_RETRY_WAIT``."""
    return max(float(reply.retry_after or 0.0), MIN_RETRY_WAIT)


def import_until_taken(
    env: simpy.Environment,
    erp: ErpApi,
    order: Order,
    rng: np.random.Generator,
    stats: ClientStats,
    *,
    max_retries: int,
    on_parked: Callable[[], None],
) -> Generator[Any, Any, None]:
    """SimPy process body: import one order into the ERP, with retries, until it takes it.
    When the retries all fail, ``on_parked()`` is called and the order is tried again after
    ``PARKED_RETRY`` seconds: its webhook or event is already acknowledged, so giving up
    would lose the order."""
    while True:
        r = yield from call_with_retry(
            env, partial(erp.import_orders, [order]), rng, stats, max_retries=max_retries
        )
        if r.ok:
            return
        on_parked()
        yield env.timeout(PARKED_RETRY)


def call_with_retry(
    env: simpy.Environment,
    make_call: Callable[[], Any],
    rng: np.random.Generator,
    stats: ClientStats,
    *,
    max_retries: int = 8,
    base: float = 1.0,
    cap: float = 300.0,
) -> Generator[Any, Any, Reply]:
    """Issue ``make_call()`` until it succeeds or retries run out; returns the last reply.

    A 429 with ``retry_after`` waits exactly that long (and does not count as a retry: the
    server told us when to come back); other failures back off with full jitter.
    """
    attempt = 0
    while True:
        reply: Reply = yield make_call()
        if reply.ok:
            return reply
        if reply.status == 429 and reply.retry_after is not None:
            stats.waits_for_retry_after += 1
            yield env.timeout(retry_wait(reply))
            continue
        if reply.status == 400 or attempt >= max_retries:
            return reply
        stats.retries += 1
        wait = retry_wait(reply) if reply.retry_after else backoff(rng, attempt, base, cap)
        attempt += 1
        yield env.timeout(wait)


#: how often a client asks whether a write that applies later (an Amazon feed) is done
FEED_POLL = 30.0


def until_applied(
    env: simpy.Environment,
    channel: ChannelApi,
    reply: Reply,
    rng: np.random.Generator,
    stats: ClientStats,
) -> Generator[Any, Any, None]:
    """After a write to a channel that processes writes one after the other and applies
    them later (Amazon's listings feeds: the reply is a feed id), poll its status every
    ``FEED_POLL`` seconds until it is done. A client that submits the next feed before the
    last one is done only queues it behind, so every value it sends gets older; waiting
    lets the changes meanwhile go together into the next feed. Other channels: no wait."""
    status_of = getattr(channel, "feed_status", None)
    if status_of is None or not isinstance(reply.value, str):
        return
    while True:
        yield env.timeout(FEED_POLL)
        r = yield from call_with_retry(env, partial(status_of, reply.value), rng, stats)
        stats.feed_polls += 1
        if not r.ok or r.value == "DONE":
            return


def push_availability(
    env: simpy.Environment,
    channel: ChannelApi,
    skus: np.ndarray,
    values: np.ndarray,
    as_of: np.ndarray,
    rng: np.random.Generator,
    stats: ClientStats,
    *,
    page_size: int | None = None,
    max_retries: int = 8,
) -> Generator[Any, Any, int]:
    """Write ``values`` for ``skus`` to ``channel`` page by page; returns SKUs written."""
    size = min(page_size or channel.bulk_limit, channel.bulk_limit)
    written = 0
    stats.pushes += 1
    for i in range(0, skus.size, size):
        s, v, a = skus[i : i + size], values[i : i + size], as_of[i : i + size]
        reply = yield from call_with_retry(
            env, partial(channel.set_inventory, s, v, a), rng, stats, max_retries=max_retries
        )
        stats.pages += 1
        if reply.ok:
            written += s.size
            yield from until_applied(env, channel, reply, rng, stats)
        else:
            stats.failed_pages += 1
    stats.skus_written += written
    return written


def push_incoming(
    env: simpy.Environment,
    erp: ErpApi,
    channel: ChannelApi,
    skus: np.ndarray,
    rng: np.random.Generator,
    stats: ClientStats,
    *,
    max_retries: int = 8,
) -> Generator[Any, Any, int]:
    """Future availability of ``skus`` from the ERP's dated ATP for ``channel`` (one
    ``available_to_promise`` call) written to the channel page by page (``set_incoming``);
    returns SKUs written. Nothing for a channel that takes no pre-orders."""
    if not channel.takes_preorders or skus.size == 0:
        return 0
    reply = yield from call_with_retry(
        env,
        partial(erp.available_to_promise, skus, channel.index),
        rng,
        stats,
        max_retries=max_retries,
    )
    if not reply.ok:
        return 0
    atp = reply.value
    size = channel.bulk_limit
    written = 0
    for i in range(0, atp.skus.size, size):
        s, v, a = atp.skus[i : i + size], atp.later[i : i + size], atp.by[i : i + size]
        r = yield from call_with_retry(
            env, partial(channel.set_incoming, s, v, a), rng, stats, max_retries=max_retries
        )
        if r.ok:
            written += s.size
        else:
            stats.failed_pages += 1
    return written
