"""time_to_recovery_s, exact to the event: the pure function on hand-made step functions,
against brute force, and on real runs (no longer a multiple of the sample grid)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sim.assembly.runner import run
from sim.liveness import Recovery, moving_average, recovery_time
from sim.tools.chaos import judge
from sim.tools.conformance import _fault_scenario, check_scenario


def steps(*pairs: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A step function from (time, value) pairs: ``value`` from ``time`` to the next."""
    t, v = zip(*pairs, strict=True)
    return np.asarray(t, float), np.asarray(v, float)


CALM = steps((0.0, 0.1))  # the no-fault twin: 0.1 all along, so its mean is 0.1 too


def test_a_spike_ending_at_1234_5_recovers_exactly_when_its_window_has_passed() -> None:
    """D = 0.1, but 1.1 over [1000, 1234.5); the twin is 0.1, so the band is 1.2 x 0.1 +
    0.02 x 0.1 = 0.122. The 600 s moving average of D is 0.1 + (1834.5 - t) / 600 while the
    window still overlaps the spike: it is back at 0.122 at t = 1834.5 - 13.2 = 1821.3,
    586.8 s after the fault (not a multiple of anything)."""
    d = steps((0.0, 0.1), (1000.0, 1.1), (1234.5, 0.1))
    r = recovery_time(d, CALM, 600.0, 1234.5, 5000.0)
    assert r.recovered
    assert r.seconds == pytest.approx(1821.3 - 1234.5, abs=1e-9)


def test_within_the_band_all_along_is_zero_and_never_back_is_censored() -> None:
    quiet = steps((0.0, 0.1), (1000.0, 0.11))
    assert recovery_time(quiet, CALM, 600.0, 1200.0, 5000.0) == Recovery(0.0, True)
    stuck = steps((0.0, 0.1), (1000.0, 0.5))
    assert recovery_time(stuck, CALM, 600.0, 1200.0, 5000.0) == Recovery(3800.0, False)
    assert recovery_time(quiet, CALM, 600.0, 5000.0, 5000.0) == Recovery(0.0, False)


def test_back_for_good_means_after_the_last_excursion_of_an_hour_or_more() -> None:
    """Back within the band at 1821.3. Above it again over [3000, 3100): D_w is above for
    about 10 minutes, chance between two runs that drifted apart, not a relapse. Above
    it over [3000, 7000) instead: an excursion of more than an hour, and recovery is when
    its window has passed (7600 - 13.2 = 7586.8), not at the first return."""
    blip = steps((0.0, 0.1), (1000.0, 1.1), (1234.5, 0.1), (3000.0, 1.1), (3100.0, 0.1))
    r = recovery_time(blip, CALM, 600.0, 1234.5, 9000.0)
    assert r == (pytest.approx(1821.3 - 1234.5, abs=1e-9), True)
    relapse = steps((0.0, 0.1), (1000.0, 1.1), (1234.5, 0.1), (3000.0, 1.1), (7000.0, 0.1))
    r = recovery_time(relapse, CALM, 600.0, 1234.5, 9000.0)
    assert r == (pytest.approx(7586.8 - 1234.5, abs=1e-9), True)
    # every excursion counts with dwell=0: the blip's window passes at 3700 - 13.2
    r = recovery_time(blip, CALM, 600.0, 1234.5, 9000.0, dwell=0.0)
    assert r == (pytest.approx(3686.8 - 1234.5, abs=1e-9), True)
    # the first excursion counts even if short and a little after the fault (effects lag)
    lagging = steps((0.0, 0.1), (1500.0, 1.1), (1600.0, 0.1))
    r = recovery_time(lagging, CALM, 600.0, 1234.5, 9000.0)
    assert r == (pytest.approx(2200 - 600 * 0.022 - 1234.5, abs=1e-9), True)
    # a short excursion still going at the end of the run is censored, whatever its length
    late = steps((0.0, 0.1), (1000.0, 1.1), (1234.5, 0.1), (8900.0, 1.1))
    assert recovery_time(late, CALM, 600.0, 1234.5, 9000.0) == (9000.0 - 1234.5, False)


def test_the_band_follows_the_twin_and_a_constant_band_works_alone() -> None:
    """The twin's own spike lifts the band: D's spike, inside the twin's, is never above."""
    d = steps((0.0, 0.1), (1000.0, 1.1), (1234.5, 0.1))
    twin = steps((0.0, 0.1), (900.0, 1.1), (1300.0, 0.1))
    assert recovery_time(d, twin, 600.0, 1234.5, 5000.0).seconds < 60
    r = recovery_time(d, 0.2, 600.0, 1234.5, 5000.0)  # constant: 0.1 + (1834.5 - t)/600 <= 0.2
    assert r == (pytest.approx(1834.5 - 60.0 - 1234.5, abs=1e-9), True)


def test_the_band_is_the_twins_envelope_within_an_hour_either_side() -> None:
    """After a fault the run drifts from its twin: a later excursion of two hours like one
    the twin itself shows within an hour of that moment is inside the band; one the twin
    never comes near within the hour is a relapse, and recovery is after it."""
    d = steps((0.0, 0.1), (1000.0, 1.1), (1234.5, 0.1), (6000.0, 1.1), (13200.0, 0.1))
    near = steps((0.0, 0.1), (8400.0, 1.1), (15600.0, 0.1))  # the same, 40 min later
    far = steps((0.0, 0.1), (30000.0, 1.1), (37200.0, 0.1))  # the same, hours later
    end = 40_000.0
    with_near = recovery_time(d, near, 600.0, 1234.5, end)
    with_far = recovery_time(d, far, 600.0, 1234.5, end)
    pointwise = recovery_time(d, near, 600.0, 1234.5, end, half=0.0)
    band = 1.2 * 0.1 + 0.02 * (0.1 + 1.0 * 7200 / end)  # both twins' mean: 0.118
    back = 600 * (band - 0.1)  # D_w = 0.1 + (spike end + 600 - t) / 600 reaches the band
    assert with_near == (pytest.approx(1834.5 - back - 1234.5, abs=1e-6), True)
    assert with_far.seconds == pytest.approx(13800 - back - 1234.5, abs=1e-6)
    # the envelope only ever widens the band: never a later recovery than pointwise
    assert with_near.seconds <= pointwise.seconds


def test_the_floor_is_one_unit_on_one_pair() -> None:
    """A twin at 0 all along: the band is the floor alone; a divergence of one unit on one
    of 100 (channel, SKU) pairs (0.01) is within it, two units are not."""
    zero = steps((0.0, 0.0))
    one = steps((0.0, 0.0), (1000.0, 0.01))
    two = steps((0.0, 0.0), (1000.0, 0.02))
    assert recovery_time(one, zero, 600.0, 1200.0, 5000.0, unit=0.01) == Recovery(0.0, True)
    assert recovery_time(two, zero, 600.0, 1200.0, 5000.0, unit=0.01) == Recovery(3800.0, False)


def test_moving_average_and_recovery_agree_with_brute_force() -> None:
    """Random step functions: the exact moving average matches a fine numerical one, and the
    recovery time is where a 0.01 s grid last sees D_w above the band."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        t = np.concatenate(([0.0], np.sort(rng.uniform(0, 4000, 30))))
        d = (t, rng.uniform(0, 1, t.size) * (t < 2500) + 0.05)
        tb = np.concatenate(([0.0], np.sort(rng.uniform(0, 4000, 10))))
        b = (tb, rng.uniform(0.04, 0.1, tb.size))
        w, fault, end = 300.0, 2000.0, 4000.0
        grid = np.arange(fault, end, 0.01)
        fine = np.arange(0, end, 0.01)
        vals = d[1][np.searchsorted(d[0], fine, side="right") - 1]
        k = np.searchsorted(fine, 3000.0)
        numeric = vals[k - int(w / 0.01) : k].mean()
        assert moving_average(d, w, np.array([3000.0]))[0] == pytest.approx(numeric, abs=1e-3)
        mean_b = float(np.sum(np.diff(np.append(tb, end)) * b[1]) / end)
        above = moving_average(d, w, grid) > 1.2 * moving_average(b, w, grid) + 0.02 * mean_b
        expected = (grid[np.flatnonzero(above)[-1]] + 0.01 - fault) if above.any() else 0.0
        r = recovery_time(d, b, w, fault, end, half=0.0, dwell=0.0)  # pointwise, every crossing
        assert r.recovered
        assert r.seconds == pytest.approx(expected, abs=0.011)


def test_recovery_after_erp_maintenance_is_no_multiple_of_the_sample_grid() -> None:
    """smoke from 08:00 for 6 h, the ERP down from 1.5 h to 3 h, samples every 10 minutes:
    the recovery time comes from the divergence integral, not from the sample grid."""
    sc = _fault_scenario(check_scenario("smoke", "6h"), "erp_maintenance")
    for strategy in ("batch", "event"):
        r = run(sc, strategy, 1, keep_history=False)
        ttr = r.metrics["time_to_recovery_s"]
        assert r.metrics["recovered"] == 1.0
        assert 0 < ttr < 3 * 3600
        assert min(ttr % 600, -ttr % 600) > 1e-6, ttr
        assert r.metrics["erp_unavailable_calls"] > 0  # 503s of the window, not refusals
        assert r.metrics["erp_rejected_calls"] == 0


def test_never_recovered_fails_the_chaos_judge_whatever_the_bound() -> None:
    result = SimpleNamespace(
        checks={"ok": True}, faults=[], seed=3, trace_hash="x",
        metrics={"time_to_recovery_s": 500.0, "recovered": 0.0},
    )  # fmt: skip
    verdict = judge(result, recovery_bound=3600.0)
    assert not verdict.ok
    assert verdict.reasons[0].startswith("never recovered")
    result.metrics["recovered"] = 1.0
    assert judge(result, recovery_bound=3600.0).ok
