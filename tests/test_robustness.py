"""Nothing lost, nothing hung, no tracebacks: one test (or a few) per finding of issue 14.

Every bad input gets one line naming what is wrong and where, a non-zero exit code, no
traceback and nothing written; ``--out`` never deletes what syncsim did not write; no input
loops in zero simulated time; a failure of the simulator itself is reported as such.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import simpy

from sim.assembly.runner import SimulationError, StrategyRuntimeError, run
from sim.assembly.world import World
from sim.budget import Limits, ResourceError, check_resources
from sim.loop import Loop, Spinning, drive
from sim.scenario import load_scenario
from strategies.base import FunctionStrategy
from tests.conftest import cli

SHORT = ["--set", "scenario.duration=2h"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too) with its content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- 1. --out never deletes a user's files ----------------------------------------------------
@pytest.mark.parametrize("verb", ["run", "compare", "chaos"])
def test_out_refuses_a_folder_that_syncsim_did_not_write(
    verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    (mine / "sub" / "data.csv").write_text("1,2")
    before = tree(tmp_path)
    extra = ["--strategy", "batch", "--seeds", "1"] if verb == "chaos" else ["-s", "batch"]
    if verb == "compare":
        extra = []
    code, _, err = cli([verb, "smoke", *extra, "--out", str(mine), "--set" if verb != "chaos"
                        else "--seed", "scenario.duration=2h" if verb != "chaos" else "1"],
                       capsys)  # fmt: skip
    assert code == 2
    assert "syncsim did not write it" in one_line(err)
    assert tree(tmp_path) == before  # nothing deleted, nothing written


def test_out_dot_and_files_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("keep")
    (tmp_path / "a.txt").write_text("a file")
    before = tree(tmp_path)
    cases = {
        ".": "is the current folder or one of its parents",
        "..": "is the current folder or one of its parents",
        "a.txt": "is a file, not a folder",
        "a.txt/sub": "a.txt is a file, not a folder",
    }
    for out, says in cases.items():
        code, _, err = cli(["run", "smoke", "-s", "batch", "--out", out, *SHORT], capsys)
        assert code == 2, out
        assert says in one_line(err)
    assert tree(tmp_path) == before


def test_a_results_folder_syncsim_wrote_is_replaced_and_only_then(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "res"
    assert cli(["run", "smoke", "-s", "oracle", "--out", str(out), *SHORT], capsys)[0] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["syncsim"] == "results"
    assert {f.split("/")[0] for f in manifest["files"]} == {p.name for p in out.iterdir()}
    assert cli(["run", "smoke", "-s", "batch", "--out", str(out), *SHORT], capsys)[0] == 0
    assert list(pd.read_parquet(out / "runs.parquet").strategy) == ["batch"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers
    (out / "my-analysis.ipynb").write_text("{}")
    code, _, err = cli(["run", "smoke", "-s", "api", "--out", str(out), *SHORT], capsys)
    assert code == 2
    assert "holds files syncsim did not write (my-analysis.ipynb)" in one_line(err)
    assert (out / "my-analysis.ipynb").read_text() == "{}"
    assert list(pd.read_parquet(out / "runs.parquet").strategy) == ["batch"]


# -- 2. livelocks in zero simulated time -------------------------------------------------------
def test_a_strategy_looping_in_zero_time_is_stopped_and_named() -> None:
    def spins(env: Any, systems: Any) -> None:
        def loop() -> Any:
            yield env.timeout(60)
            while True:
                yield env.timeout(0)

        env.process(loop())

    sc = load_scenario("smoke", {"scenario.duration": "1h"})
    with pytest.raises(StrategyRuntimeError) as info:
        run(sc, FunctionStrategy(spins), 1, check=False)
    msg = str(info.value)
    assert msg.startswith("strategy 'spins' failed at t=60.0s: simulated time stopped at t=60.0s")
    assert "in test_robustness.py:" in msg
    assert "(loop)" in msg


def test_the_simulator_looping_in_zero_time_is_an_internal_error() -> None:
    world = World(load_scenario("smoke", {"scenario.duration": "1h"}), 1)
    world.start()
    world.sampler.interval = 0.0  # a harness bug: the sampler would wake up forever
    with pytest.raises(Spinning) as info:
        drive(world.env, 3600.0, stall_steps=100_000)
    assert info.value.stack
    assert "sim/recorder.py" in Spinning.place(info.value.stack[0])


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        (
            "strategies.batch.order_import_interval=0",
            "--set strategies.batch.order_import_interval=0: a period must be at least 0.001 s",
        ),
        ('scenario.sample_interval="1e-9s"', "scenario.sample_interval: a period must be at"),
        ('erp.replenishment.review_interval="1e-9s"', "review_interval: a period must be"),
        ('transfers.interval="1e-9s"', "transfers.interval: a period must be at least"),
        ('scenario.duration="1e9h"', "scenario.duration: a duration must be at most"),
        ('scenario.duration="4000d"', "scenario.duration: Input should be less than or equal"),
        (
            'faults=[{kind="throttle",start="1h",duration="1h",rate=1.0,retry_after=0}]',
            "faults[0].retry_after: a period must be at least 0.001 s",
        ),
    ],
)
def test_periods_below_the_floor_and_horizons_past_the_ceiling_are_refused(
    setting: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(["run", "smoke", "-s", "batch", "--set", setting], capsys)
    assert code == 2
    assert says in one_line(err)
    assert not Path("results").exists()


# -- 3. and 9. values that used to pass validation ---------------------------------------------
@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("stock.cover_days_high=inf", "stock.cover_days_high: Input should be a finite number"),
        ("catalogue.price_high=inf", "catalogue.price_high: Input should be a finite number"),
        ("channels.webshop.orders_per_hour=inf", "orders_per_hour: Input should be a finite"),
        ("channels.webshop.lines_per_order=nan", "lines_per_order: Input should be a finite"),
        (
            'demand.peaks=[{start="1h",duration="1h",multiplier=inf}]',
            "demand.peaks[0].multiplier: Input should be a finite number",
        ),
        (
            'faults=[{kind="erp_slowdown",start="1h",duration="1h",factor=inf}]',
            "faults[0].factor: Input should be a finite number",
        ),
        ("catalogue.skus=9223372036854775808", "catalogue.skus: Input should be less than"),
        ("stock.fixed_units=18446744073709551616", "stock.fixed_units: Input should be less"),
        ("channels.webshop.units_per_line=1e30", "units_per_line: Input should be less than"),
        ("catalogue.skus=true", "catalogue.skus: Input should be a valid integer (got True)"),
        ('returns.enabled="yes"', "returns.enabled: Input should be a valid boolean"),
        ("strategies.batch.page_size=0", "strategies.batch.page_size=0: Input should be greater"),
        ("strategies.batch.page_size=-5", "Input should be greater than or equal to 1"),
        ("strategies.batch.max_retries=-1", "Input should be greater than or equal to 0"),
        ("strategies.batch.safety_stock=-100", "Input should be greater than or equal to 0"),
        ("strategies.batch.interval=0", "a period must be at least 0.001 s"),
        ("strategies.batch.interval=true", "expected float, got a boolean"),
        ("catalogue.zipf=inf", "catalogue.zipf: Input should be a finite number"),
        (
            'faults=[{kind="clock_skew",start="1h",duration="1h",offset=nan}]',
            "faults[0].offset: Input should be a finite number",
        ),
        ("strategies.nosuch.x=1", "strategies.nosuch: no such strategy (known: oracle"),
    ],
)
def test_loose_values_are_refused_naming_the_field(
    setting: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(["run", "smoke", "-s", "batch", "--set", setting], capsys)
    assert code == 2
    assert says in one_line(err)


def test_bad_files_get_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00\x01garbage")
    (tmp_path / "deep.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "adir.toml").mkdir()
    (tmp_path / "long.toml").write_text(
        (Path(__file__).parent.parent / "scenarios" / "smoke.toml").read_text()
        + f'\n[costs]\ncurrency = "{"X" * 20_000}"\n'
    )
    cases = {
        "binary.toml": "binary.toml: not a UTF-8 text file",
        "deep.toml": "deep.toml: malformed TOML: nested too deeply",
        "adir.toml": "adir.toml: is a directory, not a scenario file",
        "long.toml": "costs.currency: String should have at most 8 characters",
    }
    for name, says in cases.items():
        for verb in (["validate"], ["run", "-s", "batch"]):
            code, _, err = cli([*verb[:1], str(tmp_path / name), *verb[1:]], capsys)
            assert code == 2, (name, err)
            line = one_line(err)
            assert says in line, line
            assert len(line) < 400  # a 20,000-character value is cut, not echoed
    assert not (tmp_path / "results").exists()


def test_a_seed_past_int64_is_refused_before_any_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(["run", "smoke", "-s", "batch", "--seed", str(2**64)], capsys)
    assert code == 2
    assert "--seed" in one_line(err)
    code, _, err = cli(["run", "smoke", "-s", "batch", "--seed", str(2**63 - 1), "-r", "2"], capsys)
    assert code == 2
    assert "seeds must stay below 2**63" in one_line(err)
    assert not Path("results").exists()


# -- 4. memory bombs ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "says"),
    [
        (["channels.webshop.orders_per_hour=1e6"], "would need about"),
        (
            ["channels.webshop.lines_per_order=1000", "channels.webshop.orders_per_hour=2e3"],
            "would need about",
        ),
        (
            [
                'demand.peaks=[{start="1h",duration="2h",multiplier=1000}]',
                "channels.webshop.orders_per_hour=1e4",
            ],
            "would need about",
        ),
        (["catalogue.skus=10000000"], "60,000,000 SKU x location x channel cells"),
        (["scenario.sample_interval=0.01"], "time-series rows"),
    ],
)
def test_scenarios_past_the_resource_limits_are_refused_before_they_run(
    settings: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sets = [arg for s in settings for arg in ("--set", s)]
    code, _, err = cli(["run", "smoke", "-s", "batch", *sets], capsys)
    assert code == 2
    line = one_line(err)
    assert says in line
    assert "pass --allow-large" in line


def test_the_estimate_follows_demand_and_allow_large_overrides_the_limits() -> None:
    sc = load_scenario("smoke")
    small = Limits(memory_bytes=1e6)
    with pytest.raises(ResourceError, match=r"would need about .* more than the limit of"):
        check_resources(sc, limits=small)
    assert check_resources(sc, allow_large=True, limits=small).memory_bytes > 1e6
    base = check_resources(sc).order_lines
    double = load_scenario("smoke", {"channels.webshop.orders_per_hour": 2 * 40}).channels
    assert double[0].orders_per_hour == 80
    twice = check_resources(load_scenario("smoke", {"demand.peaks": [
        {"start": 0, "duration": "1d", "multiplier": 2}]})).order_lines  # fmt: skip
    assert twice == pytest.approx(2 * base, rel=1e-9)


def test_stock_that_would_overflow_int64_is_refused_even_when_allowed_large() -> None:
    sc = load_scenario(
        "smoke",
        {"channels.webshop.orders_per_hour": 1e6, "channels.webshop.units_per_line": 1e6,
         "channels.webshop.lines_per_order": 1000, "scenario.duration": 0.01},
    )  # fmt: skip
    with pytest.raises(ResourceError, match="stock of one SKU could reach"):
        check_resources(sc, allow_large=True)


# -- 5. the simulator's own failure is not the strategy's --------------------------------------
def test_an_internal_error_is_named_as_such_with_a_replay_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import sim.demand

    # a bug inside the simulator's own demand generator (no strategy code on the stack)
    monkeypatch.setattr(sim.demand, "_geometric", None)
    code, _, err = cli(["run", "smoke", "-s", "batch", "--seed", "4", *SHORT], capsys)
    assert code == 1
    line = one_line(err)
    assert line.startswith("syncsim: run failed: internal error at t=0.0s (smoke-v1 / batch / ")
    assert "TypeError: 'NoneType' object is not callable (demand.py:" in line
    assert line.endswith("replay: syncsim run smoke -s batch --seed 4 --set scenario.duration=2h")
    assert "strategy 'batch' failed" not in line
    assert not (tmp_path / "results").exists()  # no partial results of an internal error


def test_metrics_outside_their_domain_are_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sim.assembly.runner

    real = sim.assembly.runner.compute_metrics

    def nan_lag(*args: Any) -> Any:
        metrics, per_channel = real(*args)
        metrics["lag_p95_s"] = float("nan")
        return metrics, per_channel

    monkeypatch.setattr(sim.assembly.runner, "compute_metrics", nan_lag)
    with pytest.raises(SimulationError, match=r"metrics outside their domain: lag_p95_s=nan"):
        run("smoke", "oracle", 1, overrides={"scenario.duration": "1h"})


# -- 6. loss fails a plain run, unless the scenario allows it -----------------------------------
def test_a_run_that_loses_orders_fails_and_names_the_loss(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "forgetful.py").write_text(
        "from strategies.base import SyncStrategy\n\n"
        "class Forgetful(SyncStrategy):\n"
        "    name = 'forgetful'\n\n"
        "    def start(self, env, systems):\n"
        "        pass  # never imports an order\n"
    )
    code, _, err = cli(["run", "smoke", "-s", "forgetful:Forgetful", *SHORT], capsys)
    assert code == 1
    line = err.strip().splitlines()[-1]
    assert line.startswith("syncsim: run failed: smoke-v1 / forgetful / seed 1: correctness")
    assert "liveness (" in line
    assert "orders never reached the ERP, 0 messages never reached a consumer)" in line


def test_loss_on_a_lossy_bus_is_reported_and_allowed() -> None:
    over = {"bus.durable": False, "bus.loss_rate": 0.02, "scenario.duration": "6h"}
    r = run("smoke", "orchestrated", 1, overrides=over)
    loss = r.checks["liveness"]["loss"]
    assert loss["lost_messages"] > 0
    assert loss["allowed"] == "non-durable bus with loss_rate 0.02"
    assert r.ok


# -- 7. output errors ---------------------------------------------------------------------------
def test_a_full_disk_gives_one_line_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    code, _, err = cli(["run", "smoke", "-s", "batch", "--out", "res", *SHORT], capsys)
    assert code == 1
    line = one_line(err)
    assert line.startswith("syncsim: cannot write results: res: could not write results")
    assert "No space left on device" in line
    assert list(tmp_path.iterdir()) == []  # no folder, no hidden temporary left behind


# -- 8. a sweep resumes past a damaged part ---------------------------------------------------
def test_sweep_resume_reruns_a_truncated_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        '[sweep]\nscenario = "smoke"\nstrategies = ["oracle"]\nseeds = [1, 2]\n'
        '[set]\n"scenario.duration" = "2h"\n'
    )
    out = tmp_path / "out"
    assert cli(["sweep", str(sweep), "--workers", "1", "--out", str(out)], capsys)[0] == 0
    part = sorted((out / "runs").glob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:40])  # truncated, as by a crash while writing
    code, stdout, err = cli(["sweep", str(sweep), "--workers", "1", "--out", str(out)], capsys)
    assert code == 0, err
    assert "1 executed, 1 already finished" in stdout
    assert len(pd.read_parquet(out / "runs.parquet")) == 2
    # and a sweep never writes into a folder that is not a sweep's
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    code, _, err = cli(["sweep", str(sweep), "--out", str(tmp_path / "other")], capsys)
    assert code == 2
    assert "syncsim did not write it" in one_line(err)


# -- 10. every strategy's parameters are checked before the first run -------------------------
def test_a_bad_parameter_fails_before_any_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["run", "smoke", "-s", "oracle", "-s", "api", "-s", "event", "-s", "batch"]
    code, out, err = cli([*args, "--set", "strategies.batch.interval=abc"], capsys)
    assert code == 2
    assert one_line(err) == (
        "syncsim: error: --set strategies.batch.interval=abc: expected a duration such as "
        "900, '15m' or '2h', got 'abc'"
    )
    assert out == ""
    assert not (tmp_path / "results").exists()


# -- 11. a user's folder never shadows syncsim's packages -------------------------------------
def test_a_users_own_strategies_and_sim_folders_do_not_shadow_syncsim(tmp_path: Path) -> None:
    for pkg in ("strategies", "sim"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("raise ImportError('the user package')\n")
    (tmp_path / "mystrat.py").write_text(
        "from strategies.batch import BatchStrategy\n\n"
        "class MyStrategy(BatchStrategy):\n    name = 'mine'\n"
    )
    script = Path(sys.executable).parent / "syncsim"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(script), "run", "smoke", "-s", "mystrat:MyStrategy", "--out", "res",
         "--set", "scenario.duration=2h"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert list(pd.read_parquet(tmp_path / "res" / "runs.parquet").strategy) == ["mine"]


class _CountingEnv(simpy.Environment):
    def __init__(self) -> None:
        super().__init__()
        self.stepped = 0

    def step(self) -> None:
        self.stepped += 1
        super().step()


@pytest.mark.parametrize("processes", [1, 3, 2000])
def test_the_loop_counts_every_step_it_ran_and_restores_the_collector(processes: int) -> None:
    env = _CountingEnv()

    def ticker(k: int) -> Any:
        while True:
            yield env.timeout(1 + k % 7)

    for k in range(processes):
        env.process(ticker(k))
    before = gc.get_threshold()
    loop = Loop(env)
    loop.run(100.0)
    assert loop.steps == env.stepped - 1  # all but the horizon's own step
    assert gc.get_threshold() == before
    assert not gc.get_freeze_count()
