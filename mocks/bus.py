"""A Kafka-like message bus, in simulated time.

A topic is created on first use with ``spec.partitions`` partitions; a message goes to
partition ``key % partitions`` and gets the next offset of that partition's log. It reaches
every consumer group subscribed at publish time after a latency plus a reorder jitter, made
monotone per partition: order is kept within a partition while messages of different
partitions overtake each other. A group subscribed later gets only later messages.

Delivery is at-least-once. A handler returning ``None`` or ``True`` acknowledges the message;
``False`` refuses it, and it is redelivered ``ack_timeout`` later until it has failed
``max_deliveries`` times, when it goes to the group's dead-letter queue (and counts as
acknowledged for the committed offset). ``duplicate_rate`` of deliveries are delivered again
``duplicate_delay`` later, acknowledged or not. In non-durable mode ``loss_rate`` of published
messages never reach anyone. A message older than ``retention`` (since publish) is discarded:
one never delivered to a group by then is lost for that group.

A group can crash (``ConsumerGroup.crash``) and restart (``restart``): while it is down its
handler is not called and every delivery is refused, on the same path as a handler returning
``False`` (the same redelivery timers, dead letters and random draws), so what arrives piles
up as lag and ends in the dead-letter queue. On restart the dead letters are replayed
(``replay_dlq``) unless the strategy set ``replay_on_restart = False``, in which case what
went there stays there. Crashes nest: a group is down until each ``crash`` has had its
``restart``. The ``consumer_crash`` fault kind crashes every group whose name it targets,
except those the strategy took over with a ``consumer:<group>`` switch in
``Systems.fault_targets``.

Every published message is accounted for, per group: delivered exactly once, duplicated,
lost or still in flight (``Bus.accounting``, ``Bus.check``). The log is kept whole for that
accounting; retention is applied lazily, by age, whenever a group is looked at.

Counters (``stats_dict``, DESIGN §8) have one unit throughout: a (message, consumer group)
pair. ``events_published`` counts a message once per group subscribed to its topic when it
was published (a message lost on the way included); ``events_delivered`` counts the pairs
delivered at least once, ``events_lost`` those that never will be (lost on the way, expired,
skipped by a seek), and the rest are in flight, so ``events_published = events_delivered +
events_lost + in flight`` run-wide and per group (``per_group``). ``events_duplicated``
counts the deliveries beyond the first of a pair (duplicates, redeliveries after a refusal,
a restart or a replay).

``backlog`` is the run-wide count of unacknowledged (message, group) pairs as a
``sim.recorder.Level`` (its integral and peaks feed the ``bus_backlog`` time series); a
message that expires leaves it when retention is next applied (at the next publish at the
latest), not at its exact expiry instant.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import simpy

from sim.contract import Message
from sim.faults import ActiveFault
from sim.recorder import Level
from sim.schema import Bus as BusSpec

__all__ = ["Bus", "ConsumerGroup", "Message"]

_COUNTERS = (
    "events_published",
    "events_delivered",
    "events_duplicated",
    "events_lost",
    "events_in_flight",
    "dlq_size",
)

_Handler = Callable[["Message"], bool | None]


@dataclass(slots=True)
class _Topic:
    name: str
    logs: list[list[Message]]
    last_due: list[float]  # delivery time of the partition's latest message
    arrived: list[int]  # messages of each partition whose delivery time has come
    groups: list[ConsumerGroup] = field(default_factory=list)
    subscribed: tuple[ConsumerGroup, ...] = ()  # ``groups`` now: who gets a message published


class ConsumerGroup:
    """One consumer group on one topic: its handler, committed offsets and dead letters.

    Per partition the group commits the contiguous prefix of acknowledged offsets;
    acknowledged offsets beyond it are remembered individually. Create with ``Bus.subscribe``.
    ``replay_on_restart``: whether ``restart`` replays the dead letters (set it to ``False``
    to keep what was dead-lettered while down out of the handler's reach).
    """

    def __init__(self, bus: Bus, topic: _Topic, name: str, handler: _Handler) -> None:
        self.name = name
        self.topic = topic.name
        self.dlq: list[Message] = []
        self.replay_on_restart = True
        self._crashes = 0  # crashes not restarted yet: down while > 0
        self._bus = bus
        self._t = topic
        self._handler = handler
        self._paused = False
        self._start = [len(log) for log in topic.logs]  # first offset this group owns
        self._committed = list(self._start)
        self._done: list[set[int]] = [set() for _ in topic.logs]  # acked beyond committed
        self._count: dict[int, int] = {}  # deliveries per message id (of this group's)
        self._failures: dict[int, int] = {}  # refusals per message id
        self._timers: dict[int, int] = {}  # message id -> token of its live redelivery
        self._token = 0
        self._published = 0  # messages published to the topic since subscribing, lost incl.
        self._lost_at_publish = 0
        self._lag = 0  # not acknowledged, kept by every change (lag() applies retention first)
        self._deliveries = 0  # handler calls, redeliveries and duplicates included
        self._horizon = -math.inf  # no unacknowledged message was published before this

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def down(self) -> bool:
        """Crashed and not restarted: every delivery is refused."""
        return self._crashes > 0

    def crash(self) -> None:
        """The consumer crashed: from now on every delivery is refused without calling the
        handler, exactly as if it returned ``False`` (redelivered ``ack_timeout`` later, then
        dead-lettered), until as many ``restart`` calls as crashes."""
        self._crashes += 1

    def restart(self) -> int:
        """The consumer restarted after its last crash: deliveries reach the handler again
        and, if ``replay_on_restart``, the dead letters are replayed now (``replay_dlq``).
        Returns how many were replayed; no-op (0) when not down or still down."""
        if not self._crashes:
            return 0
        self._crashes -= 1
        if self._crashes or not self.replay_on_restart:
            return 0
        return self.replay_dlq()

    def pause(self) -> None:
        """The consumer crashed: deliveries stop (no handler call) until ``resume``."""
        self._paused = True

    def resume(self) -> None:
        """The consumer restarted: redeliver, now and in partition order, every retained
        message that has arrived and is not acknowledged. No-op when not paused."""
        if not self._paused:
            return
        self._paused = False
        self._expire()
        for p in range(len(self._t.logs)):
            self._redeliver_from(p)

    def seek(self, partition: int, offset: int) -> None:
        """Replay: everything before ``offset`` counts as acknowledged, everything from it
        on as not; retained messages from there are (re)delivered now (refusal counts reset),
        those still travelling when they arrive. A message skipped by seeking forward
        without ever being delivered counts as lost while it stays skipped."""
        if not 0 <= partition < len(self._t.logs):
            raise ValueError(f"topic {self.topic!r} has no partition {partition}")
        log = self._t.logs[partition]
        if not self._start[partition] <= offset <= len(log):
            raise ValueError(
                f"offset {offset} outside [{self._start[partition]}, {len(log)}] "
                f"of {self.topic}/{partition} for group {self.name!r}"
            )
        self._committed[partition] = offset
        self._done[partition] = set()
        for m in log[offset:]:
            self._failures.pop(m.id, None)
            self._timers.pop(m.id, None)
        self._recount()
        self._bus._note_backlog()
        self._redeliver_from(partition)

    def replay_dlq(self) -> int:
        """Take every dead letter back as unacknowledged and deliver it once more now; a
        refusal sends it straight back to the queue. Returns how many were taken."""
        letters, self.dlq = self.dlq, []
        for d in letters:
            m = self._t.logs[d.partition][d.offset]
            p, o = m.partition, m.offset
            if o < self._committed[p]:
                self._done[p].update(range(o + 1, self._committed[p]))
                self._committed[p] = o
            else:
                self._done[p].discard(o)
            self._failures[m.id] = self._bus.spec.max_deliveries - 1
            self._timers.pop(m.id, None)
        self._recount()
        self._bus._note_backlog()
        settled, now = 0, self._bus.env.now
        for d in letters:
            settled += self._deliver(self._t.logs[d.partition][d.offset], False, now)
        if settled:
            self._bus.backlog.add(-settled)
        return len(letters)

    def unacknowledged(self) -> list[Message]:
        """Retained messages this group has not acknowledged yet: still in flight."""
        self._expire()
        return [
            m
            for p, log in enumerate(self._t.logs)
            for m in log[self._committed[p] :]
            if not self._is_done(m)
        ]

    def lag(self) -> int:
        """Messages published to the topic (not lost) and not yet acknowledged by this group."""
        self._expire()
        return self._lag

    # -- internals ----------------------------------------------------------------------------
    def _is_done(self, m: Message) -> bool:
        return m.offset < self._committed[m.partition] or m.offset in self._done[m.partition]

    def _expired(self, m: Message) -> bool:
        return self._bus.env.now - m.t > self._bus.spec.retention

    def _count_lag(self) -> int:
        return sum(
            len(log) - c - len(done)
            for log, c, done in zip(self._t.logs, self._committed, self._done, strict=True)
        )

    def _recount(self) -> None:
        """After committed offsets moved back: recount the lag, look for expiry anew."""
        self._horizon = -math.inf
        self._expire()
        lag = self._count_lag()
        self._bus.backlog.add(lag - self._lag)
        self._lag = lag

    def _expire(self) -> None:
        """Discard expired messages: by publish order they are a prefix of each partition."""
        now = self._bus.env.now
        if now - self._horizon <= self._bus.spec.retention:
            return
        self._horizon = now
        for p, log in enumerate(self._t.logs):
            c = self._committed[p]
            while c < len(log) and self._expired(log[c]):
                if c in self._done[p]:
                    self._done[p].remove(c)
                else:
                    self._lag -= 1
                    self._bus.backlog.add(-1)
                c += 1
            while c in self._done[p]:
                self._done[p].remove(c)
                c += 1
            self._committed[p] = c
            if c < len(log):
                self._horizon = min(self._horizon, log[c].t)

    def _redeliver_from(self, p: int) -> None:
        log = self._t.logs[p]
        settled, now = 0, self._bus.env.now
        for o in range(self._committed[p], self._t.arrived[p]):
            m = log[o]
            if not self._is_done(m):
                self._timers.pop(m.id, None)
                settled += self._deliver(m, False, now)
        if settled:
            self._bus.backlog.add(-settled)

    def _deliver(self, m: Message, duplicate: bool, now: float) -> int:
        """One delivery attempt at ``now`` (``env.now``); a duplicate is delivered even when
        acknowledged. Returns 1 if it settled the pair (acknowledged or dead-lettered: the
        group's lag is one less), else 0: the caller takes what was settled off the bus's
        ``backlog``, once per step."""
        bus = self._bus
        spec = bus.spec
        if self._paused or now - m.t > spec.retention:  # paused or expired
            return 0
        p, o, mid = m.partition, m.offset, m.id
        committed = self._committed
        if not duplicate and (o < committed[p] or o in self._done[p]):
            return 0
        count = self._count
        n = count.get(mid, 0) + 1
        count[mid] = n
        self._deliveries += 1
        bus._delivered += 1
        if n > 1:
            bus._duplicated += 1
        if spec.duplicate_rate > 0 and bus.rng.random() < spec.duplicate_rate:
            delay = float(spec.duplicate_delay.sample(bus.rng))
            bus._after(delay, partial(self._attempt, m, True))
        copy = Message(mid, m.topic, p, o, m.key, m.t, m.payload, n)
        acked = not self._crashes and self._handler(copy) is not False
        done = self._done[p]  # the handler may have sought: look again
        if o < committed[p] or o in done:
            return 0
        if acked:
            if self._timers:
                self._timers.pop(mid, None)
            if self._failures:
                self._failures.pop(mid, None)
            if o == committed[p] and not done:  # in order, nothing acked past it: the usual
                self._lag -= 1
                committed[p] = o + 1
            else:
                self._settle(p, o, done)
            return 1
        failures = self._failures.get(mid, 0) + 1
        self._failures[mid] = failures
        if failures >= spec.max_deliveries:
            self._timers.pop(mid, None)
            self.dlq.append(copy)
            bus.dead_lettered += 1
            self._settle(p, o, done)
            return 1
        self._token += 1
        token = self._timers[mid] = self._token
        bus._after(spec.ack_timeout, partial(self._retry, m, token))
        return 0

    def _settle(self, p: int, o: int, done: set[int]) -> None:
        """Offset ``o`` of partition ``p`` acknowledged (or dead-lettered): one less in the
        lag, and the committed offset moves over the contiguous prefix. The bus's backlog is
        the caller's (``_deliver``'s callers)."""
        self._lag -= 1
        c = self._committed[p]
        if o != c:  # acknowledged out of order: remembered until the gap closes
            done.add(o)
            return
        c += 1
        while done and c in done:
            done.remove(c)
            c += 1
        self._committed[p] = c

    def _attempt(self, m: Message, duplicate: bool, _ev: Any = None) -> None:
        """A delivery attempt on its own step (a duplicate's or a redelivery's timer)."""
        if self._deliver(m, duplicate, self._bus.env.now):
            self._bus.backlog.add(-1)

    def _retry(self, m: Message, token: int, _ev: Any = None) -> None:
        if self._timers.get(m.id) == token:
            del self._timers[m.id]
            self._attempt(m, False)

    def _accounting(self) -> dict[str, int]:
        """Where this group's messages stand. Delivered ones are those ``_count`` holds (only
        this group's messages get there); of the others, those not acknowledged (at or past
        the committed offset, not done) are in flight and the rest lost: a pass over the lag,
        not over the whole log."""
        self._expire()
        count = self._count
        once = list(count.values()).count(1)
        logged = sum(len(log) - s for log, s in zip(self._t.logs, self._start, strict=True))
        in_flight = 0
        for log, c, done in zip(self._t.logs, self._committed, self._done, strict=True):
            for o in range(c, len(log)):
                if o not in done and log[o].id not in count:
                    in_flight += 1
        return {
            "published": self._published,
            "delivered_once": once,
            "duplicated": len(count) - once,
            "lost": self._lost_at_publish + logged - len(count) - in_flight,
            "in_flight": in_flight,
        }


class Bus:
    """The bus: topics, their partition logs and the consumer groups reading them.

    All randomness (loss, latency, jitter, duplicates) is drawn from ``rng``, in call order.
    """

    def __init__(self, env: simpy.Environment, spec: BusSpec, rng: np.random.Generator) -> None:
        self.env = env
        self.spec = self._base_spec = spec
        self.history: Any = None  # sim.history.History: publications are recorded there
        self.rng = rng
        self._topics: dict[str, _Topic] = {}
        self._all_groups: list[ConsumerGroup] = []  # every group, in subscription order
        self.faults: list[ActiveFault] = []  # delivery faults on now, in plan order
        self._next_id = 0
        self._delivered = 0  # handler calls (deliveries), every group
        self.dead_lettered = 0  # messages put in a dead-letter queue, every group, ever
        self._duplicated = 0  # deliveries beyond the first of a (message, group) pair
        self._max_backlog = 0
        self.backlog = Level(env)  # unacknowledged (message, group) pairs, every group

    def set_spec(self, **changes: Any) -> None:
        """Change delivery parameters from now on (fault injection); none = the original."""
        self.spec = self._base_spec.model_copy(update=changes) if changes else self._base_spec

    def hold_fault(self, fault: ActiveFault, on: bool) -> None:
        """Take a delivery fault that switched on, or let it go; then deliver, from now on,
        with the settings of the faults held, folded in plan order (``bus_settings``), over
        the scenario's."""
        if on:
            bisect.insort(self.faults, fault, key=lambda f: f.index)
        else:
            self.faults.remove(fault)
        settings: dict[str, Any] = {}
        for f in self.faults:
            f.bus_settings(settings)
        self.set_spec(**settings)

    def groups(self) -> list[ConsumerGroup]:
        """Every consumer group, by topic creation then subscription order."""
        return [g for tp in self._topics.values() for g in tp.groups]

    def rebalance(self, gap: float) -> None:
        """A partition rebalance: every consumer group stops for ``gap`` seconds, then gets
        what it had not acknowledged again."""
        groups = [g for g in self.groups() if not g.paused]
        for g in groups:
            g.pause()

        def resume(_ev: Any) -> None:
            for g in groups:
                g.resume()

        self._after(gap, resume)

    def publish(self, topic: str, key: int, payload: Any) -> Message | None:
        """Append a message to its partition; ``None`` if lost on the way (non-durable)."""
        tp = self._topic(topic)
        spec, now = self.spec, self.env.now
        mid = self._next_id
        self._next_id += 1
        groups = tp.subscribed
        if self.history is not None:
            self.history.record("bus", f"publish:{topic}")
        if not spec.durable and spec.loss_rate > 0 and self.rng.random() < spec.loss_rate:
            for g in groups:
                g._published += 1  # counted for the group even though lost
                g._lost_at_publish += 1
            return None
        p = key % spec.partitions
        log = tp.logs[p]
        m = Message(mid, topic, p, len(log), key, now, payload)
        log.append(m)
        for g in groups:
            g._published += 1
            g._lag += 1
        self.backlog.add(len(groups))
        delay = float(spec.latency.sample(self.rng)) + float(spec.reorder_jitter.sample(self.rng))
        delay = max(delay, tp.last_due[p] - now)
        while now + delay < tp.last_due[p]:  # float rounding must not reorder the partition
            delay = math.nextafter(delay, math.inf)
        tp.last_due[p] = now + delay
        self._note_backlog()
        self._after(delay, partial(self._arrive, tp, m, groups))
        return m

    def _arrive(self, tp: _Topic, m: Message, groups: tuple[ConsumerGroup, ...], _ev: Any) -> None:
        """``m`` arrives: one step delivers it to every group subscribed when it was published,
        in subscription order, and takes the pairs settled off the backlog at once."""
        tp.arrived[m.partition] += 1
        settled, now = 0, self.env.now
        for g in groups:
            settled += g._deliver(m, False, now)
        if settled:
            self.backlog.add(-settled)

    def subscribe(self, topic: str, group: str, handler: _Handler) -> ConsumerGroup:
        """Attach ``handler`` as consumer group ``group`` of ``topic`` (one per pair)."""
        tp = self._topic(topic)
        if any(g.name == group for g in tp.groups):
            raise ValueError(f"group {group!r} already subscribed to topic {topic!r}")
        cg = ConsumerGroup(self, tp, group, handler)
        tp.groups.append(cg)
        tp.subscribed = tuple(tp.groups)
        self._all_groups.append(cg)
        return cg

    @property
    def deliveries(self) -> int:
        """Handler calls so far, every group (a duplicate delivery counts again)."""
        return self._delivered

    def stats_dict(self) -> dict[str, float]:
        """Run-wide counters in (message, group) pairs (see the module docstring):
        ``events_published``, ``events_delivered``, ``events_duplicated``, ``events_lost``,
        ``events_in_flight``; ``dlq_size`` (dead letters, every group) and ``max_backlog``
        (the most unacknowledged pairs at once)."""
        out = dict.fromkeys(_COUNTERS, 0.0)
        for counts in self.per_group().values():
            for k in _COUNTERS:
                out[k] += counts[k]
        out["max_backlog"] = float(self._max_backlog)
        return out

    def per_group(self) -> dict[str, dict[str, float]]:
        """Per consumer group name (summed over its topics), the counters of ``stats_dict``
        (``max_backlog`` aside): ``events_published = events_delivered + events_lost +
        events_in_flight`` for each."""
        out: dict[str, dict[str, float]] = {}
        for g in self.groups():
            a = g._accounting()
            delivered = a["delivered_once"] + a["duplicated"]
            counts = {
                "events_published": float(a["published"]),
                "events_delivered": float(delivered),
                "events_duplicated": float(g._deliveries - delivered),
                "events_lost": float(a["lost"]),
                "events_in_flight": float(a["in_flight"]),
                "dlq_size": float(len(g.dlq)),
            }
            if g.name in out:
                counts = {k: v + out[g.name][k] for k, v in counts.items()}
            out[g.name] = counts
        return out

    def accounting(self) -> dict[str, dict[str, int]]:
        """Per group name (summed over its topics): where every message published since it
        subscribed stands now; the five counts satisfy published == the other four."""
        out: dict[str, dict[str, int]] = {}
        for g in self.groups():
            acc = g._accounting()
            if g.name in out:
                acc = {k: v + out[g.name][k] for k, v in acc.items()}
            out[g.name] = acc
        return out

    def check(self) -> dict[str, Any]:
        """Verify the accounting identity of every (topic, group), and that the run-wide
        counters are the sums of the groups' (one unit: a (message, group) pair)."""
        bad = []
        lag = 0
        for g in self.groups():
            a = g._accounting()
            total = a["delivered_once"] + a["duplicated"] + a["lost"] + a["in_flight"]
            if a["published"] != total or min(a.values()) < 0:
                bad.append(f"{g.topic}/{g.name}: published {a['published']} != {total} ({a})")
            if g._lag != g._count_lag():
                bad.append(f"{g.topic}/{g.name}: lag {g._lag} != {g._count_lag()} unacknowledged")
            if g._deliveries < a["delivered_once"] + 2 * a["duplicated"]:
                bad.append(f"{g.topic}/{g.name}: {g._deliveries} deliveries < delivered pairs")
            lag += g._lag
        delivered = sum(g._deliveries for g in self.groups())
        if delivered != self._delivered:
            bad.append(f"deliveries: {self._delivered} run-wide != {delivered} summed over groups")
        if lag != self.backlog.value:
            bad.append(f"backlog: {self.backlog.value} run-wide != {lag} summed over groups")
        if not bad:
            return {"ok": True, "violations": 0}
        return {"ok": False, "violations": len(bad), "detail": "; ".join(bad)}

    # -- internals ----------------------------------------------------------------------------
    def _topic(self, name: str) -> _Topic:
        tp = self._topics.get(name)
        if tp is None:
            n = self.spec.partitions
            tp = _Topic(name, [[] for _ in range(n)], [0.0] * n, [0] * n)
            self._topics[name] = tp
        return tp

    def expire_all(self) -> None:
        """Apply retention in every group now (what ``lag()`` does for one)."""
        for g in self._all_groups:
            g._expire()

    def _after(self, delay: float, callback: Callable[[Any], None]) -> None:
        """Call ``callback(event)`` ``delay`` seconds from now (one SimPy timeout)."""
        self.env.timeout(delay).callbacks.append(callback)

    def _note_backlog(self) -> None:
        total = 0
        now, retention = self.env.now, self.spec.retention
        for g in self._all_groups:  # ``g.lag()``: expiry only runs when one is due
            if now - g._horizon > retention:  # ``g._expire()``'s own test, without the call
                g._expire()
            total += g._lag
        if total > self._max_backlog:
            self._max_backlog = total
