"""``History.frame`` (built column by column) holds exactly the recorded rows, typed."""

from __future__ import annotations

import pandas as pd
import simpy

from sim.history import FAIL, INFO, INVOKE, OK, History


def _history() -> History:
    env = simpy.Environment()
    h = History(env)
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
