"""``syncsim report``: the HTML and PNGs on a real results directory from a cheap compare."""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run, write_results
from sim.cli import main
from sim.registry import BUILTIN_ORDER
from sim.schema import Costs
from sim.tools.decide import best_of
from sim.tools.plots import BACKLOG_SERIES, divergence, fault_windows, pareto_front, series_count
from sim.tools.report import PLOTS, business_frame, load_results, winners_frame, write_report
from tests.conftest import cli

SMALL = ["--set", "scenario.duration=6h", "--set", "catalogue.skus=60"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``syncsim compare smoke`` (6 hours, 60 SKUs, 2 replications): writes the report."""
    out = tmp_path_factory.mktemp("report") / "res"
    try:
        main(["compare", "smoke", "-r", "2", "--workers", "1", "--out", str(out), *SMALL])
    except SystemExit as exc:  # pragma: no cover - main exits only on failure
        pytest.fail(f"compare exited with {exc.code}")
    return out


def test_compare_writes_every_png_and_a_self_contained_html(compared: Path) -> None:
    side = json.loads((compared / "report.json").read_text())
    assert list(side["plots"]) == list(PLOTS)
    assert side["skipped"] == {}
    for name in PLOTS:
        img = mpimg.imread(compared / f"{name}.png")
        assert img.ndim == 3
        assert img.shape[0] > 200
        assert img.shape[1] > 400
        assert float(img[..., :3].std()) > 0.01  # not a blank canvas
    page = (compared / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(PLOTS)
    assert 'src="http' not in page
    assert '.png"' not in page  # nothing referenced outside the file
    assert "winner" in page
    assert "Bottom line" in page and "Total cost per week" in page and "Per channel" in page
    verdict = json.loads((compared / "verdict.json").read_text())
    assert html.escape(verdict["summary"]) in page  # the report says what compare decided
    assert json.loads((compared / "report.json").read_text())["verdict"] == verdict
    assert not list(compared.glob(".report.*"))  # no temporary directory left


def test_each_plot_draws_the_expected_number_of_series(compared: Path) -> None:
    side = json.loads((compared / "report.json").read_text())["plots"]
    runs = pd.read_parquet(compared / "runs.parquet")
    ts = pd.read_parquet(compared / "timeseries.parquet")
    lags = pd.read_parquet(compared / "lags.parquet")
    n = runs["strategy"].nunique()
    assert n == len(BUILTIN_ORDER) == 6
    assert side["outcomes"]["series"] == 2  # oversold and lost-sale bars
    per_channel = lags[lags["channel"] != "*"]
    assert side["lag_cdf"]["series"] == len(per_channel.groupby(["strategy", "channel"]))
    assert side["lag_cdf"]["series"] == n * 3  # smoke has three channels
    assert side["divergence"]["series"] == 2 * n  # over and under, per strategy
    # one point per strategy but perfect (a floor at no load and no lag) + the front
    assert side["load_vs_lag"]["series"] == (n - 1) + 1
    run_wide = ts[ts["channel"] == "*"]
    expected = sum(
        run_wide[(run_wide["series"] == s) & (run_wide["value"] > 0)]["strategy"].nunique()
        for s, _ in BACKLOG_SERIES
    )
    assert expected > 0
    assert side["backlog"]["series"] == expected
    assert side["business"]["series"] == 4  # oversells, lost margin, reconciliation, integration


def test_winners_and_business_view_follow_the_runs(compared: Path) -> None:
    side = json.loads((compared / "report.json").read_text())
    runs = pd.read_parquet(compared / "runs.parquet")
    won = {w for v in side["winners"].values() for w in v.split(", ")}
    assert not {"oracle", "perfect"} & won  # the floors are shown, not ranked
    real = runs[~runs["strategy"].isin(["oracle", "perfect"])]
    for metric, winner in side["winners"].items():
        table = real.pivot_table(index="seed", columns="strategy", values=metric)
        direction = "max" if metric in ("record_accuracy", "recovered") else "min"
        best, significant, tied = best_of(table, direction)
        if significant:
            assert winner == best
        else:  # never a single name without significance
            assert winner == "(tie)" or set(winner.split(", ")) == set(tied)
            assert len(tied) > 1
    manifest = json.loads((compared / "manifest.json").read_text())
    costs = Costs.model_validate(manifest["costs"]["smoke-v1"]).model_dump()
    for strategy, row in side["business"].items():
        g = runs[runs["strategy"] == strategy]
        weeks = g["sim_seconds"].mean() / (7 * 86_400)
        lines = g["oversold_lines"].mean() / weeks
        assert row["oversell_cost"] == pytest.approx(lines * costs["oversell_cost_per_line"])
        assert row["lost_revenue"] == pytest.approx(g["lost_sale_value"].mean() / weeks)
        assert row["lost_margin"] == pytest.approx(
            g["lost_sale_value"].mean() / weeks * costs["lost_margin_rate"]
        )
        hours = lines * costs["reconciliation_minutes_per_line"] / 60
        assert row["reconciliation_hours"] == pytest.approx(hours)
        integration = 0.0 if strategy in ("oracle", "perfect") else row["integration_cost"]
        assert integration > 0 or strategy in ("oracle", "perfect")
        assert row["total_cost"] == pytest.approx(
            row["oversell_cost"] + row["lost_margin"] + hours * costs["hourly_rate"] + integration
        )


def test_report_command_rewrites_the_report(
    compared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (compared / "report.json").read_text()
    (compared / "outcomes.png").unlink()
    code, out, err = cli(["report", str(compared)], capsys)
    assert code == 0, err
    assert "report.html" in out
    assert (compared / "outcomes.png").stat().st_size > 1000
    assert (compared / "report.json").read_text() == before  # same files, same numbers


def test_not_a_results_dir_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    code, out, err = cli(["report", str(tmp_path)], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "not a results directory" in err
    assert str(tmp_path) in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    code, _, err = cli(["report", str(tmp_path / "nope")], capsys)
    assert code == 2
    assert "no such directory" in err
    (tmp_path / "runs.parquet").write_text("not parquet")
    (tmp_path / "manifest.json").write_text("{}")
    code, _, err = cli(["report", str(tmp_path)], capsys)
    assert code == 2
    assert "runs.parquet: cannot read" in err
    assert not (tmp_path / "report.html").exists()


def test_compare_no_report_writes_results_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "res"
    args = ["compare", "smoke", "--workers", "1", "--out", str(out), "--no-report", "--no-history"]
    code, out_text, err = cli([*args, "--set", "scenario.duration=1h", *SMALL[2:]], capsys)
    assert code == 0, err
    assert (out / "runs.parquet").is_file()
    assert not (out / "history.parquet").exists()  # --no-history
    assert not (out / "report.html").exists()
    assert "report:" not in out_text
    assert not list(out.glob("*.png"))


def test_fault_windows_are_read_from_the_runs_and_named_in_the_report(tmp_path: Path) -> None:
    sc = load_scenario("erp_maintenance", {"catalogue.skus": 40, "scenario.duration": "7h"})
    out = write_results(tmp_path / "res", [run(sc, "batch", 1)])
    data = load_results(out)
    assert fault_windows(data.runs) == [(4 * 3600.0, 6 * 3600.0, "erp_maintenance")]
    page = write_report(out).read_text()
    assert "erp_maintenance 4h-6h" in page


def test_time_series_plots_show_calendar_time_peaks_and_faults(tmp_path: Path) -> None:
    """erp_maintenance starts Friday 06:00 with a 2.5x peak for 18 h and the ERP down from
    10:00 to 12:00: the x axis reads weekday and hour, and the legend names the peak and the
    fault (shading, not series: the series count is one line per strategy and panel)."""
    sc = load_scenario("erp_maintenance", {"catalogue.skus": 40, "scenario.duration": "7h"})
    out = write_results(tmp_path / "res", [run(sc, "batch", 1, recovery_baseline=False)])
    data = load_results(out)
    calendar = data.manifest["calendar"]["erp_maintenance-v1"]
    assert calendar["start"] == "2026-11-27T06:00:00"
    assert calendar["peaks"] == [[0.0, 18 * 3600.0, 2.5]]
    fig = divergence(data.timeseries, fault_windows(data.runs), data.manifest["calendar"])
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["batch", "demand peak (x2.5)", "fault: erp_maintenance"]
    assert series_count(fig) == 2
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks
    assert all(t.startswith("Fri ") for t in ticks), ticks
    assert "starts Fri 2026-11-27 06:00" in fig.axes[-1].get_xlabel()
    (line,) = ax.get_lines()
    assert line.get_drawstyle() == "steps-pre"  # a sample is the mean over its interval


def test_pareto_front_keeps_only_undominated_points() -> None:
    pts = pd.DataFrame(
        {"load": [1.0, 2.0, 3.0, 2.5, 10.0], "lag": [100.0, 10.0, 50.0, 5.0, 1.0]},
        index=["batch", "api", "worse", "event", "oracle"],
    )
    front = pareto_front(pts, "load", "lag")
    assert list(front.index) == ["batch", "api", "event", "oracle"]


def test_winner_direction_and_ties() -> None:
    runs = pd.DataFrame(
        {
            "scenario": "s", "seed": [1, 1, 2, 2], "strategy": ["a", "b", "a", "b"],
            "oversold_lines": [1.0, 3.0, 1.0, 3.0], "record_accuracy": [0.9, 0.95, 0.9, 0.97],
            "erp_calls": [5.0, 5.0, 5.0, 5.0],
        }
    )  # fmt: skip
    w = winners_frame(runs).set_index("metric")["winner"]
    assert winners_frame(runs, floors=["a"]).set_index("metric")["winner"]["oversold_lines"] == "b"
    assert w["oversold_lines"] == "a"
    assert w["record_accuracy"] == "(tie)"  # b is higher, but two seeds cannot tell
    three = pd.DataFrame(
        {"scenario": "s", "seed": [1, 1, 2, 2, 3, 3], "strategy": ["a", "b"] * 3,
         "record_accuracy": [0.9, 0.95, 0.9, 0.96, 0.9, 0.97]}
    )  # fmt: skip
    assert winners_frame(three).set_index("metric")["winner"]["record_accuracy"] == "b"
    assert w["erp_calls"] == "(tie)"
    biz = business_frame(runs.assign(lost_sale_value=np.array([10.0, 0.0, 30.0, 0.0])), {})
    assert biz.loc["a", "lost_revenue"] == 20.0
    assert biz.loc["b", "oversell_cost"] == 75.0  # 3 lines at the default 25 per line
