"""The syncsim pytest plugin: the fixture, metrics with confidence intervals, and a readable
message when an assertion on a metric fails (metric, value, bound, seeds, replay command)."""

from __future__ import annotations

import pytest

from sim.tools.pytest_plugin import MetricStat, SyncsimFixture, Value, pytest_assertrepr_compare

pytest_plugins = ["pytester"]

INNER = '''
from strategies.base import SyncStrategy


BUSY = {"scenario.start": "2026-11-23T08:00:00"}  # two busy hours: ~185 lines


class NoSync(SyncStrategy):
    """Never tells a channel anything: shows the opening stock all day."""

    name = "nosync"

    def start(self, env, systems):  # orders reach the ERP; availability is never synced
        for ch in systems.channels:
            ch.subscribe_orders(lambda order: systems.erp.import_orders([order]))


def test_oracle_never_oversells(syncsim):
    result = syncsim.run("smoke", strategy="oracle", seeds=2, horizon="2h", overrides=BUSY)
    assert result.oversold_lines.max == 0
    assert result.lines_accepted.min > 100
    assert result.channel("webshop").oversell_rate.upper == 0


def test_nosync_oversells(syncsim):
    result = syncsim.run("smoke", strategy=NoSync, seeds=[3, 4], horizon="2h", overrides=BUSY)
    assert result.oversell_rate.upper < 0.001
'''


def test_plugin_fixture_passes_and_explains_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    res.assert_outcomes(passed=1, failed=1)
    text = res.stdout.str()
    assert "oversell_rate upper (95% CI) = " in text
    assert "is not < 0.001" in text
    assert "smoke-v1 / test_inner:NoSync over seeds 3..4: mean " in text
    assert "per seed: 3: " in text
    assert (
        "replay: syncsim run smoke --strategy test_inner:NoSync "
        "--set scenario.start=2026-11-23T08:00:00 --set scenario.duration=2h --seed "
    ) in text


def _stat() -> MetricStat:
    return MetricStat("oversell_rate", (1, 2, 3), (0.01, 0.03, 0.02), "smoke-v1", "batch",
                      "syncsim run smoke --strategy batch")  # fmt: skip


def test_metric_stat_numbers_and_message() -> None:
    st = _stat()
    assert isinstance(st.upper, Value)
    assert float(st.mean) == pytest.approx(0.02)
    assert float(st.lower) < 0.02 < float(st.upper)
    assert st.values == [0.01, 0.03, 0.02]
    assert st.worst_seed() == 2
    lines = pytest_assertrepr_compare(None, "<", st.max, 0.001)  # type: ignore[arg-type]
    assert lines[0] == "oversell_rate max = 0.03 is not < 0.001"
    assert lines[-1] == "  worst seed 2; replay: syncsim run smoke --strategy batch --seed 2"
    assert pytest_assertrepr_compare(None, "<", 1.0, 2.0) is None  # type: ignore[arg-type]


def test_unknown_metric_names_the_known_ones(syncsim: SyncsimFixture) -> None:
    from sim.tools.pytest_plugin import Replications

    rep = Replications("s", "x", [1], [type("R", (), {"metrics": {"a": 1.0}})()])
    assert float(rep.a.mean) == 1.0
    with pytest.raises(AttributeError, match="no metric 'b'; metrics: a"):
        rep.b  # noqa: B018
