"""``History.frame`` (built column by column) holds exactly the recorded rows, typed."""

from __future__ import annotations

import pandas as pd
import simpy

from sim.history import FAIL, INFO, INVOKE, OK, History
from sim.metrics import WALL_CLOCK_KEYS


def _history(keep: bool = True) -> History:
    env = simpy.Environment()
    h = History(env, keep=keep)
    a = h.invoke("erp", "import_orders", 3)
    h.record("bus", "publish:inventory")
    env.run(until=2.5)
    b = h.invoke("shopify", "set_inventory", 40)
    h.complete(a, 200)
    h.complete(b, 504)
    c = h.invoke("erp", "export", 1)
    h.complete(c, 429)
    return h


def test_the_frame_is_the_rows_column_by_column() -> None:
    h = _history()
    df = h.frame()
    assert list(df.columns) == list(History.COLUMNS)
    assert [tuple(r) for r in df.itertuples(index=False)] == h.rows
    assert df["t"].dtype == float
    assert df["op"].dtype == df["status"].dtype == df["items"].dtype == "int64"
    assert list(df["system"].cat.categories) == ["bus", "erp", "shopify"]
    assert list(df["type"].cat.categories) == [INVOKE, OK, FAIL, INFO]
    assert h.counts() == {INVOKE: 4, OK: 2, FAIL: 1, INFO: 1}


def test_an_empty_history_gives_an_empty_typed_frame() -> None:
    h = History(simpy.Environment())
    df = h.frame()
    assert len(df) == 0 and list(df.columns) == list(History.COLUMNS)
    assert isinstance(df["type"].dtype, pd.CategoricalDtype)
    assert h.counts() == {INVOKE: 0, OK: 0, FAIL: 0, INFO: 0}


def test_a_history_not_kept_counts_the_same_and_keeps_no_rows() -> None:
    kept, counted = _history(), _history(keep=False)
    assert counted.counts() == kept.counts()
    assert counted.rows == [] and len(counted.frame()) == 0
    assert counted.open_ops() == kept.open_ops() == 0


def test_a_run_without_history_is_the_same_run_with_the_same_checks() -> None:
    from sim.assembly.runner import run

    kw = {"overrides": {"scenario.duration": "2h", "catalogue.skus": 40}}
    a = run("peak_week", "event", 3, keep_history=True, **kw)
    b = run("peak_week", "event", 3, keep_history=False, **kw)
    assert a.trace_hash == b.trace_hash
    same = [k for k in a.metrics if k not in WALL_CLOCK_KEYS]
    assert [a.metrics[k] for k in same] == [b.metrics[k] for k in same]
    assert a.history is not None and b.history is None
    counts = a.checks["liveness"]["history"]
    assert counts == b.checks["liveness"]["history"]
    assert counts["invoke"] == (a.history["type"] == INVOKE).sum() > 0
