"""The distributor's own business in a scenario: a catalogue file (codes, names, prices,
popularity per channel), a stock snapshot, hour-of-week rates and empirical order-size laws per
channel, return rates per channel. Each moves the simulated stream the way it says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.assembly.world import World
from sim.business import BusinessDataError, check_business_files
from sim.trace import synthetic_history
from tests.conftest import cli

WEEK = {"scenario.duration": "7d", "demand.peaks": []}


def _created_hours(history: pd.DataFrame) -> pd.Series:
    t = pd.to_datetime(history["created"])
    return t.dt.day_of_week * 24 + t.dt.hour


def test_a_channel_with_its_own_hour_of_week_orders_only_in_its_hours() -> None:
    weights = [0.0] * 168
    weights[10] = weights[11] = 1.0  # Monday 10:00 to 12:00 only
    sc = sim.load_scenario("smoke", {**WEEK, "channels.1.hour_of_week": weights})
    base = sim.load_scenario("smoke", WEEK)
    h, h0 = synthetic_history(sc, 5), synthetic_history(base, 5)
    own = h[h["channel"] == "marketplace"].drop_duplicates("order_id")
    assert set(_created_hours(own)) == {10, 11}
    # the same long-run rate: a week of orders_per_hour, within 4 Poisson sigmas
    want = sc.channels[1].orders_per_hour * 168
    assert abs(len(own) - want) < 4 * np.sqrt(want)
    # the other channels are untouched (their own streams)
    pd.testing.assert_frame_equal(
        h[h["channel"] != "marketplace"].reset_index(drop=True),
        h0[h0["channel"] != "marketplace"].reset_index(drop=True),
        check_dtype=False,
    )


def test_empirical_order_size_laws_are_what_orders_are_drawn_from() -> None:
    sc = sim.load_scenario(
        "smoke",
        {**WEEK,
         "channels.0.lines_law": {"values": [2, 5], "weights": [3, 1]},
         "channels.0.units_law": {"values": [1, 12], "weights": [1, 1]}},
    )  # fmt: skip
    h = synthetic_history(sc, 2)
    web = h[h["channel"] == "webshop"]
    lines = web.groupby("order_id").size()
    assert set(lines) == {2, 5}
    assert (lines == 2).mean() == pytest.approx(0.75, abs=0.03)
    assert set(web["quantity"]) == {1, 12}
    assert sc.channels[0].mean_lines == pytest.approx(2.75)
    with pytest.raises(sim.ScenarioError, match="strictly increasing"):
        sim.load_scenario("smoke", {"channels.0.lines_law": {"values": [3, 2], "weights": [1, 1]}})


def _catalogue(tmp: Path, n: int = 120, **extra: list[float]) -> Path:
    frame = pd.DataFrame(
        {"code": [f"ACME-{i:04d}" for i in range(n)], "name": [f"Widget {i}" for i in range(n)],
         "price": np.linspace(10, 50, n), **extra}
    )  # fmt: skip
    path = tmp / "catalogue.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_catalogue_file_gives_codes_names_prices_and_popularity_per_channel(
    tmp_path: Path,
) -> None:
    only = np.zeros(120)
    only[[7, 9]] = 1.0
    path = _catalogue(tmp_path, **{"share:marketplace": only.tolist()})
    sc = sim.load_scenario("smoke", {**WEEK, "catalogue.file": str(path)})
    h = synthetic_history(sc, 1)
    assert set(h[h["channel"] == "marketplace"]["sku"]) == {"ACME-0007", "ACME-0009"}
    others = h[h["channel"] != "marketplace"]["sku"]
    assert others.nunique() > 20 and others.str.startswith("ACME-").all()  # Zipf, by code
    w = World(sc, 1)
    assert w.catalogue.label(3) == "ACME-0003 Widget 3"
    assert w.catalogue.prices[-1] == pytest.approx(50.0)
    # the planned stock follows each channel's own popularity: SKU 7 gets the marketplace's
    assert w.ledger.initial[:, 7].sum() > w.ledger.initial[:, 8].sum()


def test_a_stock_snapshot_is_the_initial_stock_and_nothing_sells_beyond_it(
    tmp_path: Path,
) -> None:
    cat = _catalogue(tmp_path)
    snap = tmp_path / "stock.csv"
    pd.DataFrame(
        {"sku": ["ACME-0000", "ACME-0001", "ACME-0000"], "location": ["DC-North", "DC-North",
                                                                      "DC-South"],
         "on_hand": [5, 3, 2]}
    ).to_csv(snap, index=False)  # fmt: skip
    over = {"catalogue.file": str(cat), "stock.snapshot": str(snap),
            "erp.replenishment.enabled": False, "returns.enabled": False,
            "transfers.enabled": False, "shrink.enabled": False}  # fmt: skip
    sc = sim.load_scenario("smoke", over)
    w = World(sc, 1)
    assert w.ledger.initial.sum() == 10
    assert w.ledger.initial[0, 0] == 5 and w.ledger.initial[1, 0] == 2
    assert w.ledger.initial[0, 1] == 3
    r = sim.run(sc, "oracle", 1, keep_history=False)
    assert r.ok
    assert r.metrics["shipped_units"] <= 10  # nothing sells that the snapshot does not hold
    assert r.metrics["oversold_lines"] == 0
    # demand the snapshot cannot serve is refused, and is no lost sale: truth had nothing
    assert r.metrics["units_demanded"] > 100 * r.metrics["units_accepted"]
    assert r.metrics["lost_sale_units"] == 0


def _write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("stock", "needle"),
    [
        ("sku,location,on_hand\nACME-0000,DC-West,1\n", "row 2, column location: not a location"),
        ("sku,location,on_hand\nACME-0000,DC-North,-1\n", "row 2, column on_hand: expected a"),
        ("sku,location,on_hand\nNOPE,DC-North,1\n", "row 2, column sku: not a code"),
        ("sku,location,on_hand\nACME-0000,DC-North,1\nACME-0000,DC-North,2\n",
         "row 3, column sku: a second row"),
        ("sku,location\nACME-0000,DC-North\n", "missing column(s) on_hand"),
    ],
)  # fmt: skip
def test_a_bad_snapshot_is_one_line_naming_file_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stock: str, needle: str
) -> None:
    cat = _catalogue(tmp_path)
    snap = _write(tmp_path, "stock.csv", stock)
    out = tmp_path / "out"
    code, _, err = cli(
        ["run", "smoke", "-s", "batch", "--out", str(out), "--set", f"catalogue.file={cat}",
         "--set", f"stock.snapshot={snap}"],
        capsys,
    )  # fmt: skip
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert needle in err and "stock.csv" in err
    assert not out.exists()


def test_a_bad_catalogue_file_is_named(tmp_path: Path) -> None:
    cat = _catalogue(tmp_path, n=100)
    sc = sim.load_scenario("smoke", {"catalogue.file": str(cat)})
    with pytest.raises(BusinessDataError, match=r"100 SKUs, but catalogue.skus = 120"):
        check_business_files(sc)
    bad = _write(tmp_path, "c2.csv", "code,price\nA,1\nB,0\n")
    sc = sim.load_scenario("smoke", {"catalogue.file": str(bad), "catalogue.skus": 2})
    with pytest.raises(BusinessDataError, match=r"row 3, column price: expected > 0"):
        check_business_files(sc)
    bad = _write(tmp_path, "c3.csv", "code,share:nowhere\nA,1\nB,1\n")
    sc = sim.load_scenario("smoke", {"catalogue.file": str(bad), "catalogue.skus": 2})
    with pytest.raises(BusinessDataError, match=r"share:nowhere names no channel"):
        check_business_files(sc)


def test_files_are_relative_to_the_scenario_that_names_them(tmp_path: Path) -> None:
    _catalogue(tmp_path)
    (tmp_path / "mine.toml").write_text(
        'extends = "smoke"\n[catalogue]\nskus = 120\nfile = "catalogue.csv"\n'
    )
    sc = sim.load_scenario(tmp_path / "mine.toml")
    assert Path(sc.catalogue.file or "") == (tmp_path / "catalogue.csv").resolve()


def test_a_trace_names_skus_by_code_when_the_catalogue_has_a_file(tmp_path: Path) -> None:
    cat = _catalogue(tmp_path)
    sc = sim.load_scenario("smoke", {**WEEK, "catalogue.file": str(cat)})
    h = synthetic_history(sc, 4)
    assert h["sku"].str.startswith("ACME-").all()
    trace = tmp_path / "trace.csv"
    h.to_csv(trace, index=False)
    synthetic = sim.run(sc, "batch", 4, keep_history=False)
    replay = sim.run(
        sc, "batch", 4, overrides={"demand.source": "trace", "demand.trace": {"file": str(trace)}},
        keep_history=False,
    )  # fmt: skip
    for key in ("units_demanded", "oversold_lines", "lost_sale_units"):
        assert replay.metrics[key] == synthetic.metrics[key], key


def test_return_rates_by_channel_name_win_over_the_kind() -> None:
    sc = sim.load_scenario(
        "smoke",
        {"returns.enabled": True,
         "returns.rate": {"storefront": 0.5, "marketplace": 0.25, "webshop": 0.0}},
    )  # fmt: skip
    assert [sc.returns.rate_of(ch) for ch in sc.channels] == [0.0, 0.25, 0.0]
    assert World(sc, 1).wms.return_rates == [0.0, 0.25, 0.0]
    with pytest.raises(sim.ScenarioError, match="neither a channel kind nor a channel"):
        sim.load_scenario("smoke", {"returns.rate": {"shop": 0.1}})
