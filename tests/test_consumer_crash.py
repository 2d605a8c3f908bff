"""The ``consumer_crash`` fault reaches every consumer group on the bus (issue 16).

A strategy that subscribes a group and registers no ``consumer:<group>`` switch is crashed by
the bus itself (``ConsumerGroup.crash`` / ``restart``): while down its handler is not called,
what arrives piles up and is refused (redelivered, then dead-lettered) on the same path as a
refusing handler, and on restart the dead letters are replayed unless the strategy opted out
(``replay_on_restart``). A registered switch replaces the bus's crash of its group.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import simpy

from mocks.bus import Bus, Message
from sim.assembly.runner import RunResult, run
from sim.scenario import load_scenario
from sim.schema import Bus as BusSpec
from strategies.base import FunctionStrategy

START, LENGTH = 3600.0, 1800.0  # the crash: 01:00 to 01:30
END = START + LENGTH
TICK = 20.0  # the user strategy publishes a message this often
SAMPLE = 10.0  # and looks at its group's lag this often


# -- the bus on its own --------------------------------------------------------------------
def _bus(seed: int = 7) -> tuple[simpy.Environment, Bus]:
    env = simpy.Environment()
    spec = BusSpec(partitions=3, duplicate_rate=0.3, duplicate_delay=4.0, ack_timeout=10.0)
    return env, Bus(env, spec, np.random.default_rng(seed))


def _publish(env: simpy.Environment, bus: Bus, n: int, every: float) -> None:
    def proc() -> Generator[Any, Any, None]:
        for i in range(n):
            bus.publish("stock", i, {"i": i})
            yield env.timeout(every)

    env.process(proc())


def _at(env: simpy.Environment, t: float, fn: Callable[[], Any]) -> None:
    env.timeout(t).callbacks.append(lambda _ev: fn())


def _window_run(crash: bool) -> tuple[list[tuple[float, int, int]], tuple[Any, ...]]:
    """Publish 60 messages, 5 s apart; during [100, 200) the group is crashed (``crash``) or
    its handler refuses everything (then replays the dead letters, as a restart does)."""
    env, bus = _bus()
    log: list[tuple[float, int, int]] = []
    refusing = False

    def handle(m: Message) -> bool:
        if refusing:
            return False
        log.append((env.now, m.id, m.delivery))
        return True

    def switch(on: bool) -> None:
        nonlocal refusing
        if crash:
            group.crash() if on else group.restart()
            return
        refusing = on
        if not on:
            group.replay_dlq()

    group = bus.subscribe("stock", "mine", handle)
    _publish(env, bus, 60, 5.0)
    _at(env, 100.0, lambda: switch(True))
    _at(env, 200.0, lambda: switch(False))
    env.run(until=400.0)
    assert bus.check()["ok"]
    letters = [(d.id, d.delivery) for d in group.dlq]
    return log, (bus.stats_dict(), bus.per_group(), bus.rng.bit_generator.state, letters)


def test_a_crash_refuses_on_the_same_path_as_a_refusing_handler() -> None:
    """Crashed during [100, 200), or refusing everything then: the same accepted deliveries,
    the same dead letters, the same counters and the same random draws."""
    crashed, crashed_state = _window_run(crash=True)
    refused, refused_state = _window_run(crash=False)
    assert crashed == refused
    assert crashed_state == refused_state
    assert not any(100.0 <= t < 200.0 for t, _, _ in crashed)
    assert any(t >= 200.0 for t, _, _ in crashed)
    assert crashed_state[0]["events_duplicated"] > 0  # refusals and duplicates happened


def test_crashes_nest_and_the_replay_waits_for_the_last_restart() -> None:
    env, bus = _bus()
    seen: list[int] = []
    group = bus.subscribe("stock", "mine", lambda m: seen.append(m.id) is None)
    _publish(env, bus, 30, 5.0)
    _at(env, 10.0, group.crash)
    _at(env, 20.0, group.crash)
    env.run(until=100.0)
    assert group.down
    assert group.restart() == 0  # one crash still on: still down, nothing replayed
    assert group.down
    env.run(until=150.0)
    letters = [d.id for d in group.dlq]
    assert letters
    assert not set(letters) & set(seen)
    assert group.restart() == len(letters)
    assert not group.down
    assert set(letters) <= set(seen)
    assert group.restart() == 0  # not down: a no-op
    env.run(until=400.0)
    assert group.dlq == []
    assert group.lag() == 0
    assert bus.check()["ok"]


# -- a user strategy in a run --------------------------------------------------------------
@dataclass
class Probe:
    """What the user strategy saw: handler calls (time, id, delivery) and its group's lag and
    dead letters over time (time, lag, dead letters)."""

    calls: list[tuple[float, int, int]] = field(default_factory=list)
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    dead_at_restart: list[int] = field(default_factory=list)  # at the last sample before
    switched: list[tuple[float, bool]] = field(default_factory=list)  # a registered switch
    group: Any = None


def user_strategy(
    probe: Probe, *, replay: bool = True, register: bool = False, component: bool = False
) -> Any:
    """A strategy of its own: publishes a tick every ``TICK`` on its topic, consumes it as
    group ``ticks``, and registers no fault target, unless ``register`` (a switch
    ``consumer:ticks``) or ``component`` (a component named ``ticks``, as the orchestrated
    middleware registers ``middleware``, its group's name)."""

    def ticker(env: Any, systems: Any) -> None:
        def handle(m: Message) -> bool:
            probe.calls.append((env.now, m.id, m.delivery))
            return True

        group = probe.group = systems.bus.subscribe("ticks", "ticks", handle)
        group.replay_on_restart = replay
        for name, on in (("consumer:ticks", register), ("ticks", component)):
            if on:
                systems.fault_targets[name] = lambda down: probe.switched.append((env.now, down))

        def publish() -> Generator[Any, Any, None]:
            i = 0
            while True:
                systems.bus.publish("ticks", i, {"i": i})
                i += 1
                yield env.timeout(TICK)

        def sample() -> Generator[Any, Any, None]:
            while True:
                if START < env.now < END:
                    probe.dead_at_restart = [d.id for d in group.dlq]
                probe.samples.append((env.now, group.lag(), len(group.dlq)))
                yield env.timeout(SAMPLE)

        env.process(publish())
        env.process(sample())

    return FunctionStrategy(ticker, "ticker")


def _run(probe: Probe, *, fault: bool = True, **kw: Any) -> RunResult:
    faults = [{"kind": "consumer_crash", "start": START, "duration": LENGTH}] if fault else []
    sc = load_scenario("smoke", {"scenario.duration": "2h", "faults": faults})
    return run(sc, user_strategy(probe, **kw), 1, check=False, recovery_baseline=False)


@pytest.fixture(scope="module")
def calm() -> Probe:
    probe = Probe()
    _run(probe, fault=False)
    return probe


@pytest.fixture(scope="module")
def crashed() -> tuple[Probe, RunResult]:
    probe = Probe()
    return probe, _run(probe)


def _window(samples: list[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    return [s for s in samples if START < s[0] < END]


def test_without_the_fault_the_handler_is_called_throughout(calm: Probe) -> None:
    times = [t for t, _, _ in calm.calls]
    assert any(START <= t < END for t in times)
    gaps = np.diff(times)
    assert gaps.max() <= TICK + 1  # a tick each TICK, handled on arrival
    assert all(lag <= 1 for _, lag, _ in calm.samples)
    assert calm.group.dlq == []


def test_a_strategy_registering_nothing_is_crashed_by_the_bus(
    crashed: tuple[Probe, RunResult],
) -> None:
    probe, r = crashed
    (fault,) = r.faults
    assert fault["kind"] == "consumer_crash"
    assert fault["hits"] == 1  # the one group, taken down by the bus
    # down: the handler is never called in the window
    assert not [c for c in probe.calls if START <= c[0] < END]
    # what arrives piles up: nothing is handled, so lag plus dead letters never falls, and
    # it grows by a tick a TICK
    window = _window(probe.samples)
    piled = [lag + dead for _, lag, dead in window]
    assert piled == sorted(piled)
    assert piled[-1] - piled[0] >= LENGTH / TICK - 3
    assert max(lag for _, lag, _ in window) > 1
    # the refused ones went to the dead-letter queue, and came back at the restart
    assert len(probe.dead_at_restart) > LENGTH / TICK / 2
    handled_after = {i for t, i, _ in probe.calls if t >= END}
    assert set(probe.dead_at_restart) <= handled_after
    assert probe.group.dlq == []
    assert probe.group.lag() <= 1
    assert not probe.group.down


def test_the_crash_never_lowers_the_lag(calm: Probe, crashed: tuple[Probe, RunResult]) -> None:
    """The same ticks, published at the same times: at every sample in the window the crashed
    group lags at least as much as the calm one."""
    probe, _ = crashed
    calm_lag = {t: lag for t, lag, _ in _window(calm.samples)}
    crashed_lag = {t: lag for t, lag, _ in _window(probe.samples)}
    assert calm_lag.keys() == crashed_lag.keys()
    assert all(crashed_lag[t] >= calm_lag[t] for t in calm_lag)
    assert sum(crashed_lag.values()) > sum(calm_lag.values())


def test_with_replay_off_the_dead_letters_never_reach_the_handler() -> None:
    probe = Probe()
    r = _run(probe, replay=False)
    assert r.faults[0]["hits"] == 1
    dead = set(probe.dead_at_restart)
    assert dead
    assert not dead & {i for _, i, _ in probe.calls}
    assert {d.id for d in probe.group.dlq} >= dead  # kept in the queue, not replayed
    after = [c for c in probe.calls if c[0] >= END]
    assert after  # the group is back up: new ticks are handled
    assert r.checks["bus_accounting"]["ok"]


def test_a_registered_switch_replaces_the_bus_crash() -> None:
    probe = Probe()
    r = _run(probe, register=True)
    assert r.faults[0]["hits"] == 1  # the switch, not the group as well
    assert probe.switched == [(START, True), (END, False)]
    assert not probe.group.down
    assert any(START <= t < END for t, _, _ in probe.calls)  # the switch did nothing
    assert probe.group.dlq == []


def test_a_group_named_as_a_registered_component_is_left_to_that_component() -> None:
    """The orchestrated middleware consumes as group ``middleware`` and registers the
    component ``middleware`` (taken down by ``middleware_outage``): a consumer crash does not
    take its group down behind its back."""
    probe = Probe()
    r = _run(probe, component=True)
    assert r.faults[0]["hits"] == 0
    assert probe.switched == []  # not a consumer switch: the crash does not call it
    assert any(START <= t < END for t, _, _ in probe.calls)
