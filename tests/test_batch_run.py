"""``sim.batch_run``: strategies x grid x seeds in one call, the same runs as ``sim.run``."""

from __future__ import annotations

import pandas as pd

import sim
from sim.metrics import WALL_CLOCK_KEYS

SHORT = {"scenario.duration": "6h"}


def test_batch_run_plans_the_grid_per_strategy_and_reproduces_single_runs() -> None:
    grid = {"strategies.batch.interval": ["5m", "30m"]}
    batch = sim.batch_run("smoke", ["batch", "event"], parameters=grid, seeds=[1, 2],
                          overrides=SHORT, progress=False)  # fmt: skip
    runs = batch.runs()
    # the batch grid multiplies batch's runs only: 2 intervals x 2 seeds + 2 event seeds
    assert list(zip(runs["strategy"], runs["seed"], strict=True)) == [
        ("batch", 1), ("batch", 2), ("batch", 1), ("batch", 2), ("event", 1), ("event", 2)
    ]  # fmt: skip
    assert list(runs["grid.strategies.batch.interval"][:4]) == ["5m", "5m", "30m", "30m"]
    assert list(runs["param.interval"][:4]) == [300.0, 300.0, 1800.0, 1800.0]
    one = sim.run("smoke", "batch", 2, overrides={**SHORT, "strategies.batch.interval": "30m"},
                  keep_history=False)  # fmt: skip
    assert runs["trace_hash"][3] == one.trace_hash
    assert batch.results[3].metrics["oversold_lines"] == one.metrics["oversold_lines"]
    # a longer batch interval lags more, seed by seed (the direction the domain demands)
    assert (runs["lag_p50_s"][2:4].to_numpy() > runs["lag_p50_s"][0:2].to_numpy()).all()


def test_a_process_pool_gives_the_same_rows() -> None:
    kw = {"parameters": {"channels.webshop.orders_per_hour": [40, 80]}, "seeds": 2,
          "overrides": SHORT, "progress": False}  # fmt: skip
    serial = sim.batch_run("smoke", ["api"], **kw).runs()
    pooled = sim.batch_run("smoke", ["api"], processes=2, **kw).runs()
    wall = list(WALL_CLOCK_KEYS)
    pd.testing.assert_frame_equal(serial.drop(columns=wall), pooled.drop(columns=wall))
