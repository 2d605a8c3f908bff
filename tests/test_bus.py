"""The Kafka-like bus mock: ordering, at-least-once delivery, dead letters, loss, retention.

Every test checks numbers in simulated time and ends with the accounting identity.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterable
from typing import Any

import numpy as np
import pydantic
import pytest
import simpy

from mocks.bus import Bus, Message
from sim.schema import Bus as BusSpec

Log = list[tuple[float, Message]]


def make(seed: int = 1, **spec: Any) -> tuple[simpy.Environment, Bus]:
    env = simpy.Environment()
    return env, Bus(env, BusSpec(**spec), np.random.default_rng(seed))


def recorder(
    env: simpy.Environment, log: Log, nack: Callable[[Message], bool] | None = None
) -> Callable[[Message], bool]:
    """A handler that records (time, message) and refuses the messages ``nack`` picks."""

    def handle(m: Message) -> bool:
        log.append((env.now, m))
        return not (nack is not None and nack(m))

    return handle


def publish_at(
    env: simpy.Environment, bus: Bus, items: Iterable[tuple[float, int]], topic: str = "stock"
) -> list[Message | None]:
    """Publish (time, key) pairs from a process; returns what ``publish`` returned."""
    out: list[Message | None] = []

    def proc() -> Generator[Any, Any, None]:
        for t, key in items:
            yield env.timeout(t - env.now)
            out.append(bus.publish(topic, key, {"seq": len(out)}))

    env.process(proc())
    return out


def assert_balanced(bus: Bus) -> None:
    assert bus.check() == {"ok": True, "violations": 0}
    for acc in bus.accounting().values():
        parts = acc["delivered_once"] + acc["duplicated"] + acc["lost"] + acc["in_flight"]
        assert acc["published"] == parts


def test_message_fields_and_latency() -> None:
    env, bus = make(partitions=4, latency=0.5)
    log: Log = []
    bus.subscribe("stock", "erp", recorder(env, log))
    publish_at(env, bus, [(1.0, 6), (2.0, 6), (3.0, 3)])
    env.run()
    got = [(t, m.id, m.partition, m.offset, m.key, m.t, m.delivery) for t, m in log]
    assert got == [
        (1.5, 0, 2, 0, 6, 1.0, 1),
        (2.5, 1, 2, 1, 6, 2.0, 1),
        (3.5, 2, 3, 0, 3, 3.0, 1),
    ]
    assert log[0][1].payload == {"seq": 0}
    assert bus.stats_dict()["events_delivered"] == 3
    assert bus.accounting()["erp"] == {
        "published": 3,
        "delivered_once": 3,
        "duplicated": 0,
        "lost": 0,
        "in_flight": 0,
    }


def test_order_kept_within_partition_but_not_across() -> None:
    env, bus = make(
        seed=7, partitions=4, latency=0.05, reorder_jitter={"dist": "exponential", "mean": 2.0}
    )
    log: Log = []
    bus.subscribe("stock", "erp", recorder(env, log))
    rng = np.random.default_rng(3)
    publish_at(env, bus, [(0.2 * i, int(k)) for i, k in enumerate(rng.integers(0, 50, 500))])
    env.run()
    assert len(log) == 500
    for p in range(4):
        offsets = [m.offset for _, m in log if m.partition == p]
        assert offsets == list(range(len(offsets)))
    ids = [m.id for _, m in log]
    inversions = sum(a > b for a, b in itertools.pairwise(ids))
    assert inversions > 50  # messages of different partitions overtake each other
    assert all(t >= m.t + 0.05 for t, m in log)


def test_duplicates_near_rate_and_accounting_holds() -> None:
    env, bus = make(seed=11, partitions=8, duplicate_rate=0.05, duplicate_delay=30.0)
    log: Log = []
    bus.subscribe("stock", "erp", recorder(env, log))
    publish_at(env, bus, [(float(i), i) for i in range(2000)])
    env.run()
    acc = bus.accounting()["erp"]
    assert acc["published"] == 2000
    assert acc["lost"] == acc["in_flight"] == 0
    assert 0.035 < acc["duplicated"] / 2000 < 0.065
    stats = bus.stats_dict()
    assert stats["events_delivered"] == 2000  # (message, group) pairs delivered at least once
    assert len(log) == 2000 + stats["events_duplicated"]  # every delivery beyond the first
    assert stats["events_duplicated"] >= acc["duplicated"]
    first = {m.id: t for t, m in log if m.delivery == 1}
    for t, m in log:
        if m.delivery > 1:  # a duplicate comes duplicate_delay after the previous delivery
            assert t - first[m.id] == pytest.approx(30.0 * (m.delivery - 1))
    assert_balanced(bus)


def test_nack_redelivers_then_dead_letters_then_replays() -> None:
    env, bus = make(partitions=1, latency=1.0, ack_timeout=10.0, max_deliveries=3)
    log: Log = []
    refuse = {"on": True}
    group = bus.subscribe("stock", "erp", recorder(env, log, lambda m: m.key == 7 and refuse["on"]))
    publish_at(env, bus, [(0.0, 7), (1.0, 8)])
    env.run()
    bad = [(t, m.delivery) for t, m in log if m.key == 7]
    assert bad == [(1.0, 1), (11.0, 2), (21.0, 3)]
    assert [m.id for m in group.dlq] == [0]
    assert group.dlq[0].delivery == 3
    assert group.lag() == 0  # a dead letter counts as acknowledged for the offset
    assert bus.stats_dict()["dlq_size"] == 1

    assert group.replay_dlq() == 1  # still refused: straight back to the queue
    assert group.dlq[-1].delivery == 4
    refuse["on"] = False
    assert group.replay_dlq() == 1
    assert group.dlq == []
    assert (log[-1][1].id, log[-1][1].delivery) == (0, 5)
    assert group.lag() == 0
    assert bus.accounting()["erp"]["duplicated"] == 1
    assert bus.stats_dict()["events_duplicated"] == 4
    assert_balanced(bus)


def test_pause_resume_redelivers_unacked_in_order() -> None:
    env, bus = make(partitions=2, latency=0.5)
    log: Log = []
    group = bus.subscribe("stock", "erp", recorder(env, log))
    publish_at(env, bus, [(float(t), t) for t in range(1, 11)])
    lags: list[int] = []

    def ops() -> Generator[Any, Any, None]:
        yield env.timeout(4.9)
        group.pause()
        assert group.paused
        yield env.timeout(10.0)
        lags.append(group.lag())
        group.resume()
        lags.append(group.lag())

    env.process(ops())
    env.run()
    before = [m.key for t, m in log if t < 5]
    after = [(m.partition, m.key) for t, m in log if t > 5]
    assert before == [1, 2, 3, 4]
    assert after == [(0, 6), (0, 8), (0, 10), (1, 5), (1, 7), (1, 9)]  # partition order
    assert all(t == pytest.approx(14.9) for t, m in log if t > 5)
    assert lags == [6, 0]
    assert bus.stats_dict()["max_backlog"] == 6
    assert_balanced(bus)


def test_pause_during_redelivery_and_resume_counts_redelivery() -> None:
    env, bus = make(partitions=1, latency=0.0, ack_timeout=10.0)
    log: Log = []
    group = bus.subscribe("stock", "erp", recorder(env, log, lambda m: m.delivery == 1))
    bus.publish("stock", 1, None)
    env.run(until=5)
    group.pause()
    env.run(until=50)  # the redelivery at 10 does not happen while paused
    assert [m.delivery for _, m in log] == [1]
    group.resume()
    env.run()
    assert [(t, m.delivery) for t, m in log] == [(0.0, 1), (50.0, 2)]
    assert group.lag() == 0
    assert bus.accounting()["erp"]["duplicated"] == 1


def test_seek_replays_back_and_skips_forward() -> None:
    env, bus = make(partitions=1, latency=1.0)
    log: Log = []
    group = bus.subscribe("stock", "erp", recorder(env, log))
    publish_at(env, bus, [(float(t), t) for t in range(5)])
    env.run()
    assert group.lag() == 0
    group.pause()
    group.seek(0, 2)
    assert group.lag() == 3
    group.resume()
    assert [(m.offset, m.delivery) for _, m in log[5:]] == [(2, 2), (3, 2), (4, 2)]
    assert group.lag() == 0
    acc = bus.accounting()["erp"]
    assert (acc["delivered_once"], acc["duplicated"]) == (2, 3)

    group.pause()  # published while paused, then skipped: never delivered, so lost
    publish_at(env, bus, [(10.0, 5), (11.0, 6)])
    env.run()
    assert group.lag() == 2
    group.seek(0, 7)
    assert group.lag() == 0
    assert bus.accounting()["erp"]["lost"] == 2
    group.seek(0, 6)  # back again: in flight until the consumer runs
    assert bus.accounting()["erp"]["lost"] == 1
    assert bus.accounting()["erp"]["in_flight"] == 1
    group.resume()
    assert log[-1][1].offset == 6
    assert_balanced(bus)
    with pytest.raises(ValueError, match="outside"):
        group.seek(0, 8)
    with pytest.raises(ValueError, match="no partition"):
        group.seek(1, 0)


def test_loss_only_without_durability_and_always_counted() -> None:
    with pytest.raises(pydantic.ValidationError, match="durable"):
        BusSpec(durable=True, loss_rate=0.1)
    env, bus = make(seed=5, durable=False, loss_rate=0.2)
    log_a: Log = []
    log_b: Log = []
    bus.subscribe("stock", "erp", recorder(env, log_a))
    bus.subscribe("stock", "wms", recorder(env, log_b))
    sent = publish_at(env, bus, [(float(i), i) for i in range(1000)])
    env.run()
    lost = sum(m is None for m in sent)
    assert 150 < lost < 250
    stats = bus.stats_dict()
    assert stats["events_published"] == 2 * 1000  # 1000 messages x 2 groups, lost included
    assert stats["events_lost"] == 2 * lost
    assert stats["events_delivered"] == 2 * (1000 - lost)
    assert stats["events_in_flight"] == 0
    for name, log in (("erp", log_a), ("wms", log_b)):
        acc = bus.accounting()[name]
        assert acc["lost"] == lost
        assert acc["delivered_once"] == len(log) == 1000 - lost
    assert {m.id for _, m in log_a} == {m.id for m in sent if m is not None}
    assert_balanced(bus)


def test_max_backlog_tracks_a_paused_consumer() -> None:
    env, bus = make(partitions=4, latency=0.1)
    log: Log = []
    group = bus.subscribe("stock", "erp", recorder(env, log))
    group.pause()
    publish_at(env, bus, [(float(i), i) for i in range(50)])
    env.run()
    assert log == []
    assert group.lag() == 50
    group.resume()
    assert len(log) == 50
    assert group.lag() == 0
    assert bus.stats_dict()["max_backlog"] == 50


def test_retention_expiry_counts_as_lost() -> None:
    env, bus = make(partitions=2, latency=0.0, retention=100.0)
    log: Log = []
    group = bus.subscribe("stock", "erp", recorder(env, log))
    publish_at(env, bus, [(0.0, 0)])
    env.run()
    group.pause()
    publish_at(env, bus, [(float(t), t) for t in range(1, 11)])
    env.run(until=105.0)
    assert group.lag() == 6  # published at 1..4 are older than 100 s
    acc = bus.accounting()["erp"]
    assert (acc["lost"], acc["in_flight"]) == (4, 6)
    env.run(until=200.0)
    group.resume()
    assert len(log) == 1
    assert group.lag() == 0
    assert bus.accounting()["erp"] == {
        "published": 11,
        "delivered_once": 1,
        "duplicated": 0,
        "lost": 10,
        "in_flight": 0,
    }
    assert bus.stats_dict()["events_lost"] == 10
    assert_balanced(bus)


def test_late_subscriber_gets_only_later_messages() -> None:
    env, bus = make(partitions=2)
    early: Log = []
    late: Log = []
    bus.subscribe("stock", "erp", recorder(env, early))
    bus.publish("stock", 1, None)
    env.run()
    bus.subscribe("stock", "wms", recorder(env, late))
    bus.publish("stock", 1, None)
    env.run()
    assert [m.id for _, m in early] == [0, 1]
    assert [(m.id, m.offset, m.delivery) for _, m in late] == [(1, 1, 1)]
    assert bus.accounting()["wms"]["published"] == 1
    with pytest.raises(ValueError, match="already subscribed"):
        bus.subscribe("stock", "wms", recorder(env, late))
    assert_balanced(bus)


def test_counters_count_message_group_pairs_run_wide_and_per_group() -> None:
    """DESIGN §8: one unit, a (message, consumer group) pair. Two groups, one of them late
    and paused at the end: published = delivered + lost + in flight, run-wide and per group;
    a refusal's redelivery and a duplicate are extra deliveries, not more pairs."""
    env, bus = make(partitions=2, latency=1.0, ack_timeout=5.0)
    log_a: Log = []
    log_b: Log = []
    bus.subscribe("stock", "erp", recorder(env, log_a, lambda m: m.id == 1 and m.delivery == 1))
    publish_at(env, bus, [(0.0, 0), (1.0, 1), (2.0, 2)])
    env.run(until=2.5)
    late = bus.subscribe("stock", "wms", recorder(env, log_b))
    publish_at(env, bus, [(3.0, 3), (4.0, 4)])
    env.run(until=4.5)
    late.pause()  # message 4 reached neither handler of wms: in flight for it
    env.run()
    per = bus.per_group()
    assert per["erp"] == {
        "events_published": 5.0, "events_delivered": 5.0, "events_duplicated": 1.0,
        "events_lost": 0.0, "events_in_flight": 0.0, "dlq_size": 0.0,
    }  # fmt: skip
    assert per["wms"] == {
        "events_published": 2.0, "events_delivered": 1.0, "events_duplicated": 0.0,
        "events_lost": 0.0, "events_in_flight": 1.0, "dlq_size": 0.0,
    }  # fmt: skip
    stats = bus.stats_dict()
    for k in ("events_published", "events_delivered", "events_duplicated", "events_in_flight"):
        assert stats[k] == per["erp"][k] + per["wms"][k], k
    assert stats["events_published"] == 7  # 3 messages x 1 group + 2 messages x 2 groups
    assert stats["events_published"] == (
        stats["events_delivered"] + stats["events_lost"] + stats["events_in_flight"]
    )
    assert len(log_a) + len(log_b) == stats["events_delivered"] + stats["events_duplicated"]
    assert_balanced(bus)


def test_backlog_level_integrates_unacknowledged_pairs() -> None:
    """The bus backlog as a level: 10 messages wait 20 s for a paused consumer, so its time
    integral grows by 10 x 20 unit-seconds, and its peak is 10."""
    env, bus = make(partitions=1, latency=0.0)
    group = bus.subscribe("stock", "erp", lambda m: None)
    group.pause()
    publish_at(env, bus, [(10.0, k) for k in range(10)])
    env.run(until=30.0)
    group.resume()
    env.run(until=50.0)
    assert bus.backlog.value == 0
    assert bus.backlog.integral() == pytest.approx(200.0)
    assert bus.backlog.take_peak() == 10
    assert bus.backlog.take_peak() == 0  # nothing held since


def test_deterministic_given_the_rng() -> None:
    def run() -> list[tuple[float, int, int]]:
        env, bus = make(
            seed=42,
            partitions=3,
            reorder_jitter={"dist": "uniform", "low": 0.0, "high": 5.0},
            duplicate_rate=0.1,
            duplicate_delay={"dist": "exponential", "mean": 2.0},
            durable=False,
            loss_rate=0.05,
        )
        log: Log = []
        bus.subscribe("stock", "erp", recorder(env, log, lambda m: m.id % 7 == 0))
        publish_at(env, bus, [(float(i), i) for i in range(300)])
        env.run()
        return [(t, m.id, m.delivery) for t, m in log]

    assert run() == run()


def test_check_reports_a_broken_identity() -> None:
    env, bus = make()
    group = bus.subscribe("stock", "erp", lambda m: None)
    bus.publish("stock", 0, None)
    env.run()
    group._published += 1  # simulate a bookkeeping bug
    result = bus.check()
    assert result["ok"] is False
    assert result["violations"] == 1
    assert "stock/erp" in result["detail"]
