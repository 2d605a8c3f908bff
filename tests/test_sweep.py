"""syncsim sweep: validation before any run, identical rows on every executor, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sim.assembly.executor import dask_submitter, execute, pool_submitter, serial
from sim.cli import main
from sim.metrics import WALL_CLOCK_KEYS
from sim.tools.decide import response
from sim.tools.sweep import SweepError, finished, load_sweep, plan, run_sweep
from strategies.base import SyncStrategy

SWEEP = """
[sweep]
scenario = "smoke"
strategies = ["batch", "api"]
seeds = {{ count = 2, base = 3 }}

[set]
"scenario.duration" = "1h"
"scenario.sample_interval" = "30m"

[grid]
"strategies.batch.interval" = ["5m", "20m"]
{extra}
"""


def _sweep_file(tmp_path: Path, extra: str = "", name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(SWEEP.format(extra=extra))
    return path


def _rows(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "runs.parquet").drop(columns=list(WALL_CLOCK_KEYS))


def test_plan_is_the_product_with_strategy_grids_only_for_their_strategy(tmp_path: Path) -> None:
    runs = plan(load_sweep(_sweep_file(tmp_path, '"channels.webshop.orders_per_hour" = [40, 80]')))
    # batch: 2 intervals x 2 demand levels x 2 seeds; api: 2 demand levels x 2 seeds
    assert len(runs) == 8 + 4
    assert [r.job.strategy for r in runs].count("api") == 4
    assert len({r.run_id for r in runs}) == 12
    batch = [r for r in runs if r.job.strategy == "batch"]
    assert batch[0].values == {
        "channels.webshop.orders_per_hour": 40,
        "strategies.batch.interval": "5m",
    }
    assert batch[0].job.scenario.strategies["batch"]["interval"] == "5m"
    assert batch[0].job.scenario.channels[0].orders_per_hour == 40
    assert [r.job.seed for r in batch[:2]] == [3, 4]
    # ids are stable: the same file planned again gives the same ids
    again = plan(load_sweep(_sweep_file(tmp_path, '"channels.webshop.orders_per_hour" = [40, 80]')))
    assert [r.run_id for r in again] == [r.run_id for r in runs]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ('"demand.scal" = [1, 2]', "grid.demand.scal: unknown key"),
        ('"channels.nowhere.orders_per_hour" = [1]', "grid.channels.nowhere.orders_per_hour"),
        ('"erp.api.concurrency" = [2, -1]', "grid.erp.api.concurrency"),
        ('"strategies.batch.intervl" = ["5m"]', "strategies.batch.intervl: unknown parameter"),
        ('"strategies.event.interval" = ["5m"]', "grid.strategies.event.interval: strategy"),
    ],
)
def test_bad_sweep_fails_before_any_run_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, named: str
) -> None:
    path = _sweep_file(tmp_path, extra)
    with pytest.raises(SweepError, match=named.replace(".", r"\.")):
        plan(load_sweep(path))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(path), "--out", str(out), "--workers", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert named in err
    assert str(path) in err
    assert "Traceback" not in err
    assert not out.exists()  # nothing ran, nothing written


def test_bad_seeds_and_strategy_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[sweep]\nscenario = "smoke"\nstrategies = ["batch"]\nseeds = [1, -2]\n')
    with pytest.raises(SweepError, match=r"sweep\.seeds"):
        load_sweep(path)
    path.write_text('[sweep]\nscenario = "smoke"\nstrategies = ["nope"]\nseeds = [1]\n')
    with pytest.raises(SweepError, match=r"sweep\.strategies: nope: unknown strategy"):
        plan(load_sweep(path))


def test_same_rows_serial_process_pool_and_dask(tmp_path: Path) -> None:
    runs = plan(load_sweep(_sweep_file(tmp_path)))
    assert len(runs) == 6
    a = run_sweep(runs, tmp_path / "serial", serial)
    b = run_sweep(runs, tmp_path / "pool", pool_submitter(2))
    with dask_submitter("local-threads", 1) as submit:
        c = run_sweep(runs, tmp_path / "dask", submit)
    for outcome in (a, b, c):
        assert sorted(outcome.executed) == sorted(r.run_id for r in runs)
        assert outcome.failed == []
    serial_rows = _rows(tmp_path / "serial")
    assert list(serial_rows["run_id"]) == [r.run_id for r in runs]  # run-list order
    assert serial_rows["ok"].all()
    assert serial_rows["trace_hash"].nunique() == 6
    pd.testing.assert_frame_equal(serial_rows, _rows(tmp_path / "pool"))
    pd.testing.assert_frame_equal(serial_rows, _rows(tmp_path / "dask"))
    # the rows are the runs themselves: the same as running one directly
    direct = execute(runs[0].job)
    assert direct.trace_hash == serial_rows["trace_hash"][0]
    assert direct.metrics["oversold_lines"] == serial_rows["oversold_lines"][0]
    summary = pd.read_csv(tmp_path / "serial" / "summary.csv")
    assert set(summary["strategy"]) == {"batch", "api"}


class RaisesMidRun(SyncStrategy):
    """A strategy that raises ten simulated minutes into the run."""

    name = "raises-mid-run"

    def start(self, env: Any, systems: Any) -> None:
        def boom() -> Any:
            yield env.timeout(600)
            raise RuntimeError("boom")

        env.process(boom())


class _Interrupt(Exception):
    pass


def test_interrupted_sweep_resumes_without_redoing_finished_runs(tmp_path: Path) -> None:
    runs = plan(load_sweep(_sweep_file(tmp_path)))
    out = tmp_path / "out"
    seen: list[str] = []

    def stop_after_two(r: Any, result: Any) -> None:
        seen.append(r.run_id)
        if len(seen) == 2:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        run_sweep(runs, out, serial, stop_after_two)
    assert finished(out) == set(seen)
    assert not (out / "runs.parquet").exists()
    executed: list[str] = []

    def recording(todo: Any) -> Any:
        executed.extend(job.key for job in todo)  # each job's key is its run id
        return serial(todo)

    outcome = run_sweep(runs, out, recording)
    assert executed == [r.run_id for r in runs[2:]]
    assert outcome.skipped == seen
    assert outcome.executed == executed
    fresh = run_sweep(runs, tmp_path / "fresh", serial)
    assert len(fresh.executed) == 6
    pd.testing.assert_frame_equal(_rows(out), _rows(tmp_path / "fresh"))


def test_failed_run_is_not_written_and_is_retried(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[sweep]\nscenario = "smoke"\nseeds = [1]\n'
        'strategies = ["batch", "tests.test_sweep:RaisesMidRun"]\n'
        '[set]\n"scenario.duration" = "1h"\n'
    )
    runs = plan(load_sweep(path))
    outcome = run_sweep(runs, tmp_path / "out", serial)
    assert outcome.executed == [runs[0].run_id]
    assert [rid for rid, _ in outcome.failed] == [runs[1].run_id]
    assert "RuntimeError" in outcome.failed[0][1]
    executed: list[str] = []

    def recording(todo: Any) -> Any:
        executed.extend(job.key for job in todo)  # each job's key is its run id
        return serial(todo)

    again = run_sweep(runs, tmp_path / "out", recording)
    assert executed == [runs[1].run_id]
    assert again.skipped == [runs[0].run_id]
    assert len(pd.read_parquet(tmp_path / "out" / "runs.parquet")) == 1


def test_cli_sweep_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _sweep_file(tmp_path, name="cli.toml")
    out = tmp_path / "out"
    runs = plan(load_sweep(path))
    run_sweep(runs[:3], out, serial)  # a previous, partial sweep
    main(["sweep", str(path), "--out", str(out), "--workers", "1"])
    text = capsys.readouterr().out
    assert "6 runs, 3 executed, 3 already finished, 0 failed" in text
    assert len(pd.read_parquet(out / "runs.parquet")) == 6


def test_a_sweep_keeps_grid_values_apart_in_summary_report_and_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _sweep_file(tmp_path, extra='"channels.webshop.orders_per_hour" = [30, 60]')
    out = tmp_path / "grid"
    main(["sweep", str(path), "--out", str(out), "--workers", "1"])
    assert "report:" in capsys.readouterr().out
    summary = pd.read_csv(out / "summary.csv")
    lines = summary[(summary["metric"] == "oversold_lines") & (summary["strategy"] == "batch")]
    # 2 intervals x 2 demand levels: four rows, never one pooled "batch"
    assert len(lines) == 4 and (lines["n"] == 2).all()
    assert set(lines["sweep.strategies.batch.interval"]) == {"5m", "20m"}
    side = json.loads((out / "report.json").read_text())
    assert "response" in side["plots"]
    points = side["verdict"]["sweep"]
    assert [p["point"] for p in points] == ["orders_per_hour=30", "orders_per_hour=60"]
    for p in points:  # each point compares the grid values of batch and api, apart
        assert set(p["candidates"]) | set(p["excluded"]) == {
            "batch[interval=5m]",
            "batch[interval=20m]",
            "api",
        }
    winners = set(side["winners"])
    assert winners  # per-metric winners over the labelled candidates
    runs = pd.read_parquet(out / "runs.parquet")
    rows = runs[
        (runs["strategy"] == "batch") & (runs["sweep.channels.webshop.orders_per_hour"] == 30)
    ]
    curve = response(runs, "strategies.batch.interval", "oversold_lines")
    at = curve[(curve["strategy"] == "batch") & (curve["rest"] == "orders_per_hour=30")]
    assert list(at["value"]) == ["5m", "20m"] and list(at["x"]) == [300.0, 1200.0]
    for v in ("5m", "20m"):
        x = rows[rows["sweep.strategies.batch.interval"] == v]["oversold_lines"]
        assert at[at["value"] == v]["mean"].item() == pytest.approx(x.mean())
    assert at["optimum"].sum() == 1 and at[at["optimum"]]["tied"].all()
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict == side["verdict"]  # the report shows what the sweep decided
