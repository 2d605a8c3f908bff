"""``syncsim compare`` and the decision engine: verdict.json written with the results, the
same verdict printed, reported and read back; your own strategy beside the built-ins; the
sequential rule; one-line errors for a bad objective or constraint; ``--version``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sim.tools.decide import decide
from sim.tools.report import load_results
from tests.conftest import cli

TINY = ["--set", "scenario.duration=2h", "--set", "catalogue.skus=40", "--workers", "1"]


def test_compare_writes_the_verdict_that_it_prints_and_the_engine_reproduces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "res"
    code, text, err = cli(
        ["compare", "smoke", "-s", "batch", "-s", "event", "-r", "3", "--out", str(out),
         "--no-report", *TINY],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    verdict = json.loads((out / "verdict.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert "verdict.json" in manifest["files"]  # syncsim wrote it: replaced with the folder
    runs = pd.read_parquet(out / "runs.parquet")
    assert sorted(runs["strategy"].unique()) == ["batch", "event"]
    assert verdict["seeds"] == [1, 2, 3]
    assert set(verdict["candidates"]) | set(verdict["excluded"]) == {"batch", "event"}
    again = decide(runs, costs=load_results(out).costs).to_dict()
    assert again == verdict  # one engine: the same verdict from the files
    assert verdict["summary"].split(" (")[0][:60] in " ".join(text.split())


def test_compare_adds_your_own_strategy_to_the_built_ins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = Path(__file__).resolve().parent.parent / "examples/syncsim-example-strategy/src"
    monkeypatch.syspath_prepend(str(src))
    out = tmp_path / "own"
    code, _, err = cli(
        ["compare", "smoke", "-s", "api", "-s", "syncsim_example.delta:DeltaSyncStrategy",
         "-r", "2", "--out", str(out), "--no-report", *TINY],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    verdict = json.loads((out / "verdict.json").read_text())
    assert len(verdict["candidates"]) == 2 and "api" in verdict["candidates"]


def test_compare_with_precision_stops_by_its_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "seq"
    code, text, err = cli(
        ["compare", "smoke", "-s", "batch", "-s", "api", "--precision", "0.5",
         "--max-replications", "6", "--out", str(out), "--no-report", *TINY],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["replications"] in (3, 6)
    assert verdict["stop_reason"].startswith(("Stopped after", "Stopped at --max-replications"))
    assert verdict["resolved"] == verdict["stop_reason"].startswith("Stopped after")
    assert "2 look(s)" in verdict["method"]  # 3, then 6: the intervals pay for both looks


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--objective", "nonsense"], "--objective nonsense: unknown metric"),
        (["--objective", "lines_accepted"], "rewards overselling"),
        (["--objective", "oversold_lines:up"], "METRIC:min or METRIC:max"),
        (["--constraint", "oversell_rate<0.1"], "--constraint 'oversell_rate<0.1'"),
        (["--constraint", "bogus<=1"], "unknown metric 'bogus'"),
        (["--precision", "0.1", "--max-replications", "2"], "--max-replications 2"),
    ],
)
def test_bad_decision_arguments_are_one_line_and_exit_2(
    args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(["compare", "smoke", "--out", str(tmp_path / "x"), *args], capsys)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # nothing ran, nothing written


def test_version_and_what_to_run_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["--version"], capsys)
    assert code == 0 and out.startswith("syncsim ")
    code, out, _ = cli(["--help"], capsys)
    assert "Start with: syncsim compare peak_week" in " ".join(out.split())


@pytest.mark.parametrize(
    "verb", ["run", "compare", "sweep", "report", "chaos", "check", "validate", "bench"]
)
def test_help_shows_words_not_python_types_or_markup(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli([verb, "--help"], capsys)
    assert code == 0
    for raw in ("<list[", "<bool>", "<int range>", "<str>", "<path>", "``", ":class:"):
        assert raw not in out, (verb, raw)
