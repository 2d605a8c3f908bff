"""The API capacity model: rate limiters, concurrency overflow, maintenance, service time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import simpy

from mocks.api import ApiServer, LeakyBucket, Reply, WindowQuota
from sim.dists import Fixed


def test_leaky_bucket_admits_capacity_then_one_per_leak() -> None:
    b = LeakyBucket(40, 2.0)
    assert all(b.admit(0.0) is None for _ in range(40))
    assert b.admit(0.0) == pytest.approx(0.5)
    assert b.admit(0.5) is None
    assert b.admit(0.5) == pytest.approx(0.5)


def test_window_quota_tells_when_the_oldest_request_leaves_the_window() -> None:
    q = WindowQuota(3, 30.0)
    assert [q.admit(t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    assert q.admit(5.0) == pytest.approx(25.0)
    assert q.admit(30.0) is None


def server(env: simpy.Environment, **kw: Any) -> ApiServer:
    return ApiServer(env, "test", np.random.default_rng(0), service_time=Fixed(value=10.0), **kw)


def collect(env: simpy.Environment, api: ApiServer, n: int) -> list[Reply]:
    out: list[Reply] = []

    def client() -> Any:
        out.append((yield api.call()))

    for _ in range(n):
        env.process(client())
    env.run()
    return out


def test_reject_overflow_refuses_past_the_concurrency_limit_without_queueing() -> None:
    env = simpy.Environment()
    api = server(env, concurrency=2, overflow="reject", error_code="SSS_REQUEST_LIMIT_EXCEEDED")
    replies = collect(env, api, 5)
    assert sorted(r.status for r in replies) == [200, 200, 429, 429, 429]
    refused = [r for r in replies if not r.ok]
    assert all(r.error == "SSS_REQUEST_LIMIT_EXCEEDED" and r.retry_after is None for r in refused)
    assert api.stats.rejected == 3
    assert api.utilization(10.0) == pytest.approx(1.0)


def test_throttle_overflow_answers_429_with_retry_after() -> None:
    env = simpy.Environment()
    api = server(env, concurrency=1, overflow="throttle")
    replies = collect(env, api, 2)
    refused = next(r for r in replies if not r.ok)
    assert refused.status == 429
    assert refused.retry_after is not None
    assert refused.retry_after > 0


def test_queue_overflow_waits_for_a_slot_and_latency_includes_the_wait() -> None:
    env = simpy.Environment()
    api = server(env, concurrency=1, overflow="queue")
    replies = collect(env, api, 3)
    assert [r.status for r in replies] == [200, 200, 200]
    assert sorted(r.latency for r in replies) == [10.0, 20.0, 30.0]
    assert api.latency_p95() == pytest.approx(29.0)


def test_maintenance_window_answers_503_until_it_ends() -> None:
    env = simpy.Environment()
    api = server(env, maintenance=[(0.0, 100.0)])
    reply = collect(env, api, 1)[0]
    assert reply.status == 503
    assert reply.retry_after == pytest.approx(100.0)
    assert api.stats.unavailable == 1


def test_effect_runs_at_the_end_of_service() -> None:
    env = simpy.Environment()
    api = server(env)
    seen: list[float] = []

    def client() -> Any:
        reply = yield api.call(1, lambda: seen.append(env.now) or "done")
        assert reply.value == "done"

    env.process(client())
    env.run()
    assert seen == [10.0]


def test_raise_for_status() -> None:
    with pytest.raises(Exception, match="429"):
        Reply(429, error="THROTTLED").raise_for_status()
    assert Reply(200).raise_for_status().ok
