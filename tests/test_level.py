"""``sim.recorder.Level``: its integral and peaks count only values held for a positive time,
however many changes one instant has."""

from __future__ import annotations

import simpy

from sim.recorder import Level


def test_area_and_peak_see_only_what_was_held() -> None:
    env = simpy.Environment()
    lv = Level(env)
    lv.add(3)
    env.run(until=2.0)  # 3 held for 2 s
    lv.add(5)
    lv.add(-6)  # 8 for no time at all: not a peak
    env.run(until=5.0)  # 2 held for 3 s
    assert lv.integral() == 3 * 2.0 + 2 * 3.0
    assert lv.take_peak() == 3
    lv.add(4)
    env.run(until=6.0)  # 6 held for 1 s
    assert lv.take_peak() == 6
    assert lv.take_peak() == 0  # nothing held for a positive time since the last call
    env.run(until=7.0)
    assert lv.take_peak() == 6
    assert lv.integral() == 12.0 + 6.0 * 2
    assert lv.value == 6
