"""The command line: outputs, files, and one-line errors for bad input (exit code 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.metrics import CORE_KEYS, PER_CHANNEL_KEYS
from tests.conftest import cli


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_run_json_is_exactly_the_design_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(["run", "smoke", "--strategy", "batch", "--seed", "3", "--json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert list(obj) == [
        "scenario", "strategy", "seed", "sim_seconds", "metrics", "per_channel", "per_group",
        "checks",
    ]  # fmt: skip
    assert obj["per_group"] == {}  # batch uses no bus
    assert obj["scenario"] == "smoke-v1"
    assert obj["strategy"] == "batch"
    assert obj["seed"] == 3
    assert set(CORE_KEYS) <= set(obj["metrics"])
    assert set(obj["per_channel"]) == {"webshop", "marketplace", "b2b-portal"}
    for m in obj["per_channel"].values():
        assert set(PER_CHANNEL_KEYS) <= set(m)
    assert obj["checks"]["ok"] is True
    for name in ("conservation_units", "conservation_orders", "invariants", "ledger_balances"):
        assert obj["checks"][name]["ok"] is True


def test_run_several_writes_every_file_and_a_json_list(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "res"
    code, out, err = cli(
        ["run", "smoke", "-s", "oracle", "-s", "batch", "-r", "2", "--json", "--out", str(out_dir)],
        capsys,
    )
    assert code == 0, err
    objs = json.loads(out)
    assert [(o["strategy"], o["seed"]) for o in objs] == [
        ("oracle", 1), ("batch", 1), ("oracle", 2), ("batch", 2)
    ]  # fmt: skip
    files = {p.name for p in out_dir.iterdir()}
    assert {"summary.csv", "runs.parquet", "timeseries.parquet", "manifest.json"} <= files
    runs = pd.read_parquet(out_dir / "runs.parquet")
    assert len(runs) == 4
    assert {"scenario", "strategy", "seed", "param.interval", "oversold_lines"} <= set(runs)
    summary = pd.read_csv(out_dir / "summary.csv")
    row = summary[(summary.strategy == "batch") & (summary.metric == "oversold_lines")].iloc[0]
    assert row["n"] == 2
    assert row["ci95_low"] <= row["mean"] <= row["ci95_high"]
    ts = pd.read_parquet(out_dir / "timeseries.parquet")
    assert {"divergence_over_frac", "erp_utilization", "oversold_units"} <= set(ts["series"])
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["seeds"] == [1, 2]
    assert manifest["strategies"] == ["oracle", "batch"]


def test_no_history_keeps_results_but_not_the_operation_history(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    short = ["--set", "scenario.duration=2h"]
    for flag, expect in (([], True), (["--no-history"], False)):
        out_dir = tmp_path / f"res{len(flag)}"
        code, _, err = cli(
            ["run", "smoke", "-s", "api", "--out", str(out_dir), *short, *flag], capsys
        )
        assert code == 0, err
        assert (out_dir / "runs.parquet").is_file()
        assert (out_dir / "history.parquet").exists() is expect
    runs = [pd.read_parquet(tmp_path / f"res{n}" / "runs.parquet") for n in (0, 1)]
    assert runs[0]["oversold_lines"].tolist() == runs[1]["oversold_lines"].tolist()


def test_default_results_directory_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["run", "smoke", "-s", "oracle"], capsys)
    assert code == 0
    assert "oversold lines" in out
    (run_dir,) = Path("results").iterdir()
    assert run_dir.name.startswith("smoke-v1-")


def test_listing_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["scenarios"], capsys)
    assert code == 0
    assert "peak_week-v2" in out
    assert "smoke-v1" in out
    code, out, _ = cli(["strategies"], capsys)
    assert code == 0
    assert "oracle" in out
    assert "batch" in out
    code, out, _ = cli(["validate", "peak_week"], capsys)
    assert code == 0
    assert out.startswith("ok:")


BAD_FILES = {
    "unknown_key": ('[scenario]\nid = "x-v1"\nflavour = 1\n', "scenario.flavour: unknown key"),
    "wrong_type": (
        '[scenario]\nid = "x-v1"\n[catalogue]\nskus = "lots"\n',
        "catalogue.skus: Input should be a valid integer",
    ),
    "negative_rate": (
        '[scenario]\nid = "x-v1"\n[catalogue]\nskus = 2\n[[locations]]\nname = "A"\n'
        '[[channels]]\nname = "c"\nkind = "b2b"\nlocations = ["A"]\norders_per_hour = -1\n',
        "channels[c].orders_per_hour: Input should be greater than or equal to 0",
    ),
    "malformed": ("[scenario\nid = ", "malformed TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_scenario_file_gives_one_line_and_exit_2(
    case: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text, expected = BAD_FILES[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    for verb in (["run", str(path)], ["validate", str(path)]):
        code, out, err = cli(verb, capsys)
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(f"syncsim: error: {path}: ")
        assert expected in lines[0]
        assert "Traceback" not in err
        assert out == ""
    assert not Path("results").exists()


def test_missing_file_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["run", "nowhere/none.toml"], "nowhere/none.toml: file not found"),
        (["run", "smoke", "-s", "nope"], "nope: unknown strategy"),
        (["run", "smoke", "--seed", "abc"], "--seed"),
        (["run", "smoke", "--set", "erp.api.concurrency=0"], "erp.api.concurrency"),
        (["run", "smoke", "--set", "strategies.batch.intervall=5"], "strategies.batch.intervall"),
    ]
    for args, expected in cases:
        code, _out, err = cli(args, capsys)
        assert code == 2, args
        assert len(err.strip().splitlines()) == 1, err
        assert expected in err
    assert not Path("results").exists()


def test_console_script_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario]\nid = 3\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "validate", str(bad)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "scenario.id" in proc.stderr
