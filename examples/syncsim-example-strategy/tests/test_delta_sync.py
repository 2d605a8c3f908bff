"""The example strategy's own regression tests, written with the syncsim pytest plugin."""

from __future__ import annotations

from syncsim_example import DeltaSyncStrategy

from sim.registry import strategy_origins
from sim.tools.pytest_plugin import SyncsimFixture

BUSY = {"scenario.start": "2026-11-23T08:00:00"}  # the busy part of the smoke day


def test_installed_through_the_entry_point() -> None:
    path, origin = strategy_origins()["delta-sync"]
    assert path == "syncsim_example.delta:DeltaSyncStrategy"
    assert origin == "syncsim-example-strategy 0.1.0"


def test_rarely_oversells_and_lags_less_than_its_interval(syncsim: SyncsimFixture) -> None:
    result = syncsim.run("smoke", strategy="delta-sync", seeds=3, horizon="3h", overrides=BUSY)
    assert result.oversell_rate.upper < 0.01
    assert result.lag_p50_s.upper < 300
    assert result.delta_failed_pushes.max == 0


def test_a_bigger_buffer_shows_less(syncsim: SyncsimFixture) -> None:
    small = syncsim.run("smoke", strategy=DeltaSyncStrategy, seeds=2, horizon="3h",
                        overrides=BUSY)  # fmt: skip
    big = syncsim.run("smoke", strategy=DeltaSyncStrategy, seeds=2, horizon="3h",
                      overrides=BUSY, strategy_params={"buffer": 5})  # fmt: skip
    # common random numbers: seed by seed, the same customers see less with the buffer
    pairs = zip(big.divergence_under_frac.values, small.divergence_under_frac.values, strict=True)
    assert all(b > s for b, s in pairs)


def test_passes_the_conformance_checker(syncsim: SyncsimFixture) -> None:
    report = syncsim.check("delta-sync", horizon="2h", chaos_seeds=1)
    assert report.ok, str(report)
