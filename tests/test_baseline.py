"""Golden baselines: the committed smoke/batch baseline holds on new seeds and catches a
doubled batch interval, naming the metrics and by how much."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sim.cli import main
from sim.tools.baseline import BaselineError, baseline_path, check, compare_metric, save, stats
from sim.tools.conformance import check_scenario

GOLDEN = Path(__file__).parent / "golden"


def test_committed_baseline_passes_on_new_seeds() -> None:
    cmp = check("smoke", "batch", path=GOLDEN)
    assert cmp.base_seeds == [1, 2, 3, 4, 5]
    assert cmp.seeds == [6, 7, 8, 9, 10]
    assert cmp.ok, [(c.metric, c.delta, c.p_value) for c in cmp.regressions]
    assert cmp.parameters_differ == {}
    assert len(cmp.changes) >= 30


def test_doubled_interval_regresses_lag_and_divergence(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["baseline", "check", "smoke", "-s", "batch", "--path", str(GOLDEN),
              "--set", "strategies.batch.interval=30m"])  # fmt: skip
    out, err = capsys.readouterr()
    assert info.value.code == 1
    assert "FAIL" in out
    assert "note: parameter interval is 1800.0, baseline had 900.0" in out
    last = err.strip().splitlines()[-1]
    assert last.startswith("syncsim: baseline check failed: ")
    assert "regressed: lag_p50_s 853.6 -> 1372 (+518.9)" in last
    assert "divergence_mean_abs" in last


def test_save_writes_statistics_atomically(tmp_path: Path) -> None:
    sc = check_scenario("smoke", "1h")
    target = save(sc, "oracle", 3, path=tmp_path, seed=4)
    assert target == baseline_path(tmp_path, "smoke-v1", "oracle")
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    doc = json.loads(target.read_text())
    assert doc["seeds"] == [4, 5, 6]
    m = doc["metrics"]["lines_accepted"]
    assert m["n"] == 3
    assert m["mean"] == pytest.approx(sum(m["values"]) / 3)
    assert m["ci"][0] < m["mean"] < m["ci"][1]
    assert doc["metrics"]["oversold_lines"]["values"] == [0.0, 0.0, 0.0]  # the floor
    assert "wall_seconds" not in doc["metrics"]
    # the same seeds again: every metric unchanged, 0-vs-0 ones included
    cmp = check(sc, "oracle", path=tmp_path, seed=4)
    assert {c.verdict for c in cmp.changes} == {"ok"}


def test_metric_verdicts() -> None:
    base = stats([10.0, 11.0, 9.0, 10.5, 9.5])
    worse = stats([20.0, 21.0, 19.0, 20.5, 19.5])
    assert compare_metric("lag_p50_s", base, worse, 0.001, 0.1, 1e-9).verdict == "regressed"
    assert compare_metric("lag_p50_s", worse, base, 0.001, 0.1, 1e-9).verdict == "improved"
    assert compare_metric("record_accuracy", worse, base, 0.001, 0.1, 1e-9).verdict == ("regressed")
    assert compare_metric("channel_calls", base, worse, 0.001, 0.1, 1e-9).verdict == "changed"
    # significant but below the relative tolerance: not a change
    near = stats([10.4, 10.5, 10.45, 10.55, 10.5])
    tight = stats([10.0, 10.05, 9.95, 10.0, 10.0])
    c = compare_metric("lag_p50_s", tight, near, 0.001, 0.1, 1e-9)
    assert c.p_value < 0.001
    assert c.verdict == "ok"
    zero = stats([0.0, 0.0, 0.0])
    c = compare_metric("events_lost", zero, zero, 0.001, 0.1, 1e-9)
    assert c.verdict == "ok"
    assert c.p_value == 1.0
    assert math.isinf(compare_metric("events_lost", zero, stats([0, 0, 3]), 0.001, 0.1,
                                     1e-9).relative)  # fmt: skip


def test_missing_or_bad_baseline_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["baseline", "check", "smoke", "-s", "oracle", "--path", str(tmp_path)])
    _, err = capsys.readouterr()
    assert info.value.code == 2
    assert err.strip() == (
        f"syncsim: error: {tmp_path}/smoke-v1__oracle.json: no baseline "
        "(save one with: syncsim baseline save)"
    )
    (tmp_path / "smoke-v1__oracle.json").write_text("{not json")
    with pytest.raises(BaselineError, match="unreadable baseline"):
        check("smoke", "oracle", path=tmp_path)
