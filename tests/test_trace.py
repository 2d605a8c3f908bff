"""Trace-driven demand (``demand.source = "trace"``): a history replayed exactly reproduces the
synthetic run it was written from; thinning and superposition scale it; a trace file is
named relative to its scenario; every bad file is one line naming file, row and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.trace import synthetic_history
from tests.conftest import cli

SMALL = {"scenario.duration": "8h", "catalogue.skus": 40}


def _trace(file: Path, **extra: object) -> dict[str, object]:
    return {**SMALL, "demand.source": "trace", "demand.trace": {"file": str(file), **extra}}


@pytest.mark.parametrize("strategy", ["batch", "event"])
def test_replaying_a_history_reproduces_the_run_it_came_from(strategy: str, tmp_path: Path) -> None:
    sc = sim.load_scenario("peak_week", SMALL)
    history = synthetic_history(sc, 5, seconds=True)
    history.to_parquet(tmp_path / "orders.parquet")
    synthetic = sim.run(sc, strategy, 5, keep_history=False)
    replay = sim.run("peak_week", strategy, 5, keep_history=False,
                     overrides=_trace(tmp_path / "orders.parquet"))  # fmt: skip
    assert replay.trace_hash == synthetic.trace_hash
    assert replay.metrics["oversold_lines"] == synthetic.metrics["oversold_lines"]
    assert replay.metrics["units_demanded"] == history["quantity"].sum()


def test_thinning_and_superposition_scale_the_orders(tmp_path: Path) -> None:
    sc = sim.load_scenario("smoke", SMALL)
    history = synthetic_history(sc, 1, seconds=True)
    history.to_csv(tmp_path / "orders.csv", index=False)
    orders = history.groupby("order_id").ngroups
    units = history["quantity"].sum()

    def demanded(scale: float, seed: int = 1) -> float:
        r = sim.run("smoke", "oracle", seed, keep_history=False,
                    overrides=_trace(tmp_path / "orders.csv", scale=scale))  # fmt: skip
        return float(r.metrics["units_demanded"])

    assert demanded(1.0) == units
    half, double, triple = demanded(0.5), demanded(2.0), demanded(3.0)
    assert 0.3 * units < half < 0.7 * units  # about half the orders kept
    assert 1.8 * units < double <= 2 * units  # copies shifted past the horizon are dropped
    assert 2.7 * units < triple <= 3 * units
    assert demanded(0.5, 1) == half and demanded(0.5, 2) != half  # the run's own stream
    assert orders > 10


def test_a_trace_is_named_relative_to_its_scenario_file(tmp_path: Path) -> None:
    sc = sim.load_scenario("smoke", SMALL)
    synthetic_history(sc, 2).to_csv(tmp_path / "orders.csv", index=False)
    (tmp_path / "mine.toml").write_text(
        'extends = "smoke"\n[scenario]\nid = "mine-v1"\nduration = "8h"\n'
        '[catalogue]\nskus = 40\n[demand]\nsource = "trace"\n[demand.trace]\nfile = "orders.csv"\n'
    )
    r = sim.run(tmp_path / "mine.toml", "oracle", 2, keep_history=False)
    assert r.metrics["units_demanded"] > 0


def test_lines_outside_the_horizon_are_left_out(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {"order_id": ["a", "b", "c"], "created": [-5.0, 100.0, 9 * 3600.0],
         "channel": "webshop", "sku": [1, 2, 3], "quantity": [1, 2, 4]}
    )  # fmt: skip
    rows.to_csv(tmp_path / "o.csv", index=False)
    r = sim.run("smoke", "oracle", 1, keep_history=False, overrides=_trace(tmp_path / "o.csv"))
    assert r.metrics["units_demanded"] == 2


BASE = "order_id,created,channel,sku,quantity\n1,2026-11-23T01:00:00,webshop,3,1\n"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("order_id,created,channel,sku\n1,2026-11-23T01:00:00,webshop,3\n",
         "missing column(s) quantity"),
        (BASE + "2,yesterday,webshop,3,1\n", "row 3, column created: not a timestamp"),
        (BASE + "2,2026-11-23T02:00:00,webshop,3,-2\n",
         "row 3, column quantity: expected a whole number >= 1"),
        (BASE + "2,2026-11-23T02:00:00,webshop,9999,1\n", "row 3, column sku: not a SKU index"),
        (BASE + "2,2026-11-23T02:00:00,tiktok,3,1\n", "row 3, column channel: not a channel"),
        ("order_id,created,channel,sku,quantity\n1,2026-11-23T01:00:00+01:00,webshop,3,1\n"
         "2,2026-11-23T02:00:00-05:00,webshop,3,1\n", "row 3, column created: a time zone mix"),
        (BASE + "2,2026-11-23T02:00:00Z,webshop,3,1\n", "row 2, column created: a time without"),
        ("\x00\x01garbage", "missing column(s) order_id"),
    ],
)  # fmt: skip
def test_bad_trace_files_are_one_line_and_exit_2(
    text: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(text)
    args = ["run", "smoke", "-s", "oracle", "--out", str(tmp_path / "out"),
            "--set", 'demand.source="trace"', "--set", f'demand.trace={{file="{f}"}}']  # fmt: skip
    code, _, err = cli(args, capsys)
    assert code == 2, err
    assert needle in err and str(f) in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_a_trace_source_needs_its_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(["run", "smoke", "--set", 'demand.source="trace"'], capsys)
    assert code == 2 and "needs a [demand.trace] table" in err
    code, _, err = cli(
        ["run", "smoke", "--set", 'demand.source="trace"',
         "--set", f'demand.trace={{file="{tmp_path / "nope.csv"}"}}'],
        capsys,
    )  # fmt: skip
    assert code == 2 and "trace file not found" in err


def test_a_damaged_parquet_trace_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "bad.parquet"
    f.write_bytes(b"PAR1 not really")
    code, _, err = cli(
        ["run", "smoke", "-s", "oracle", "--set", 'demand.source="trace"',
         "--set", f'demand.trace={{file="{f}"}}'],
        capsys,
    )  # fmt: skip
    assert code == 2 and f"{f}: cannot read" in err and len(err.strip().splitlines()) == 1
