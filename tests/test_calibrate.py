"""``syncsim calibrate``: a history written by syncsim's own generator from a known scenario is
fitted back (rates, profiles, popularity, order sizes, latencies within stated tolerances);
exports in Shopify's format; customer columns never copied; one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.tools.calibrate import calibrate, read_history, write_calibration
from sim.trace import synthetic_history
from tests.conftest import cli

KNOWN = {"scenario.duration": "7d", "catalogue.skus": 300, "demand.peaks": []}


@pytest.fixture(scope="module")
def known() -> tuple[sim.Scenario, pd.DataFrame, pd.DataFrame]:
    sc = sim.load_scenario("peak_week", KNOWN)
    history = synthetic_history(sc, 3)
    history["sku"] = "SKU-" + history["sku"].astype(str)
    rng = np.random.default_rng(11)
    lat = pd.DataFrame(
        {"system": ["erp"] * 2000 + ["shop-main"] * 2000,
         "seconds": np.r_[rng.lognormal(-1.2, 0.5, 2000), rng.lognormal(-2.0, 0.8, 2000)]}
    )  # fmt: skip
    return sc, history, lat


def test_a_known_scenario_is_recovered_from_its_own_history(
    known: tuple[sim.Scenario, pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    sc, history, lat = known
    path = tmp_path / "orders.csv"
    history.to_csv(path, index=False)
    cal = calibrate(read_history(path), "peak_week", lat, name="roundtrip")
    for ch in sc.channels:
        got = cal.fitted["channels"][ch.name]
        big = ch.orders_per_hour >= 40  # enough orders in a week for 5%
        tol = 0.05 if big else 0.10
        assert got["orders_per_hour"] == pytest.approx(ch.orders_per_hour, rel=tol), ch.name
        assert got["lines_per_order"] == pytest.approx(ch.lines_per_order, rel=tol), ch.name
        assert got["units_per_line"] == pytest.approx(ch.units_per_line, rel=tol), ch.name
    assert cal.fit["popularity"]["zipf"] == pytest.approx(sc.catalogue.zipf, abs=0.03)
    daily = np.asarray(sc.demand.daily_profile) / np.mean(sc.demand.daily_profile)
    fitted = np.asarray(cal.raw["demand"]["daily_profile"])
    busy = daily > 0.5  # hours with enough orders to estimate within 15%
    assert np.max(np.abs(fitted[busy] - daily[busy]) / daily[busy]) < 0.15
    weekly = np.asarray(sc.demand.weekly_profile) / np.mean(sc.demand.weekly_profile)
    assert np.max(np.abs(np.asarray(cal.raw["demand"]["weekly_profile"]) - weekly)) < 0.05
    assert cal.fit["hourly"]["p_value"] > 0.001  # the model the history came from fits it
    for system in ("erp", "shop-main"):
        assert cal.fit["latency"][system]["max_rel_error"] < 0.05
    # the fitted scenario, written with its catalogue file, is a valid scenario that runs
    write_calibration(tmp_path / "cal", cal)
    r = sim.run(tmp_path / "cal" / "scenario.toml", "oracle", 1,
                overrides={"scenario.duration": "2h"}, keep_history=False)  # fmt: skip
    assert r.ok and r.metrics["units_demanded"] > 0


def test_a_wrong_model_does_not_fit(known: tuple[sim.Scenario, pd.DataFrame, pd.DataFrame],
                                    tmp_path: Path) -> None:  # fmt: skip
    """The fit statistic can fail: a history with a burst the model has no term for."""
    sc, history, _ = known
    burst = history.sample(3000, random_state=1).assign(
        created="2026-11-25T03:30:00.000000", order_id=lambda d: "burst-" + d.index.astype(str)
    )
    path = tmp_path / "burst.csv"
    pd.concat([history, burst]).to_csv(path, index=False)
    cal = calibrate(read_history(path), "peak_week")
    assert cal.fit["hourly"]["p_value"] < 1e-6


def test_shopify_export_and_customer_columns_are_never_copied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = pd.DataFrame(
        {"Name": ["#1001", "#1001", "#1002", "#1003"],
         "Created at": ["2026-11-23 10:15:03 -0500", "2026-11-23 10:15:03 -0500",
                        "2026-11-23 11:00:00 -0500", "2026-11-24 09:30:00 -0500"],
         "Lineitem quantity": ["1", "2", "1", "3"],
         "Lineitem sku": ["A-1", "B-2", "A-1", "C-3"],
         "Billing Name": ["Ada Secret", "Ada Secret", "Bob Private", "Cy Hidden"]}
    )  # fmt: skip
    path = tmp_path / "orders_export.csv"
    rows.to_csv(path, index=False)
    out = tmp_path / "cal"
    code, text, err = cli(
        ["calibrate", str(path), "--format", "shopify", "--channel", "shop-main",
         "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    for f in out.iterdir():
        if f.suffix in (".toml", ".csv", ".json", ".html"):
            content = f.read_text()
            assert "Secret" not in content and "Private" not in content, f.name
    sku_map = pd.read_csv(out / "sku_map.csv")
    assert list(sku_map["sku"]) == ["A-1", "B-2", "C-3"]
    assert sim.load_scenario(out / "scenario.toml").catalogue.skus == 3
    # the history itself replays on the fitted scenario: every unit demanded, at its time
    replay = sim.run(out / "replay.toml", "oracle", 1, keep_history=False)
    assert replay.metrics["units_demanded"] == 7
    trace = pd.read_parquet(out / "trace.parquet")
    assert list(trace.columns) == ["order_id", "created", "channel", "sku", "quantity"]
    assert trace["sku"].tolist() == ["A-1", "B-2", "A-1", "C-3"]  # codes of catalogue.csv
    assert pd.read_csv(out / "catalogue.csv")["code"].tolist() == ["A-1", "B-2", "C-3"]


@pytest.mark.parametrize(
    ("text", "args", "needle"),
    [
        ("order_id,created,channel,sku\n1,2026-11-23T01:00:00,shop-main,A\n", [],
         "missing column(s) quantity"),
        ("order_id,created,channel,sku,quantity\n1,soon,shop-main,A,1\n", [],
         "row 2, column created: not a timestamp"),
        ("order_id,created,channel,sku,quantity\n1,2026-11-23T01:00:00,shop-main,A,-1\n", [],
         "row 2, column quantity"),
        ("order_id,created,channel,sku,quantity\n1,2026-11-23T01:00:00,tiktok,A,1\n", [],
         "channel(s) tiktok not in the base scenario"),
        ("Name,Created at,Lineitem quantity,Lineitem sku\n#1,2026-11-23 10:00:00,1,A\n",
         ["--format", "shopify"], "give --channel"),
        ("order_id,created,channel,sku,quantity\n1,2026-11-23T01:00:00,shop-main,A,1\n",
         ["--format", "ebay"], "--format ebay"),
    ],
)  # fmt: skip
def test_bad_calibration_input_is_one_line_and_writes_nothing(
    text: str, args: list[str], needle: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    path = tmp_path / "orders.csv"
    path.write_text(text)
    out = tmp_path / "cal"
    code, _, err = cli(["calibrate", str(path), "--out", str(out), *args], capsys)
    assert code == 2, err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_the_backtest_passes_a_good_fit_and_names_what_fails_in_a_bad_one(
    known: tuple[sim.Scenario, pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, history, _ = known
    good = tmp_path / "good.csv"
    history.to_csv(good, index=False)
    code, _, err = cli(
        ["calibrate", str(good), "--backtest", "--seeds", "2", "--out", str(tmp_path / "g")], capsys
    )
    assert code == 0, err
    assert err.count(": pass") == 4
    burst = history.sample(3000, random_state=1).assign(
        created="2026-11-25T03:30:00.000000", order_id=lambda d: "burst-" + d.index.astype(str)
    )
    bad = tmp_path / "bad.csv"
    pd.concat([history, burst]).to_csv(bad, index=False)
    code, _, err = cli(
        ["calibrate", str(bad), "--backtest", "--seeds", "2", "--out", str(tmp_path / "b")], capsys
    )
    assert code == 1
    assert "back-test hourly" in err and "FAIL: the history's hourly counts" in err
    assert (tmp_path / "b" / "calibration.html").is_file()  # the report says why, too


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "calibration"
SNAPSHOT_SCENARIO = {"scenario.duration": "2d", "catalogue.skus": 300, "demand.peaks": []}


def test_the_example_data_is_what_its_script_writes(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_example", EXAMPLE / "make_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("orders_export.csv", "stock_snapshot.csv", "latencies.csv"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), name


def test_the_example_export_is_fitted_back_to_its_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal"
    code, _, err = cli(
        ["calibrate", str(EXAMPLE / "orders_export.csv"), "--format", "shopify",
         "--channel", "shop-main", "--latency", str(EXAMPLE / "latencies.csv"),
         "--snapshot", str(EXAMPLE / "stock_snapshot.csv"), "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    fitted = sim.load_scenario(out / "scenario.toml")
    # the snapshot is the fitted run's initial stock, SKU code by SKU code
    from sim.assembly.world import World

    codes = pd.read_csv(out / "catalogue.csv")["code"]
    initial = World(fitted, 1, keep_history=False).ledger.initial
    original = World(sim.load_scenario("peak_week", SNAPSHOT_SCENARIO), 1).ledger.initial
    index = codes.str.removeprefix("SKU-").astype(int).to_numpy()
    assert initial.shape == original.shape
    assert np.array_equal(initial, original[:, index])
    (shop,) = [c for c in fitted.channels if c.name == "shop-main"]
    # two days (Monday, Tuesday) cannot fit a weekly profile: the rate is those days' level
    weekly = np.asarray(sim.load_scenario("peak_week").demand.weekly_profile)
    level = weekly[:2].mean() / weekly.mean()
    assert shop.orders_per_hour == pytest.approx(120.0 * level, rel=0.05)
    assert shop.lines_per_order == pytest.approx(1.6, rel=0.05)
    assert shop.units_per_line == pytest.approx(1.3, rel=0.05)
    assert fitted.catalogue.zipf == pytest.approx(0.9, abs=0.05)
    text = (out / "scenario.toml").read_text() + (out / "calibration.json").read_text()
    assert "Gallagher" not in text  # a Faker customer of the export: never copied


def test_an_erp_export_and_a_mapping_file_name_the_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    erp = pd.DataFrame(
        {"Document No": ["SO1", "SO1", "SO2"],
         "Order Date": ["2026-11-23 08:00", "2026-11-23 08:00", "2026-11-23 09:00"],
         "Sales Channel": ["b2b-portal"] * 3, "Item No": ["X", "Y", "X"],
         "Quantity": ["10", "4", "6"], "Customer": ["ACME Corp"] * 3}
    )  # fmt: skip
    erp.to_csv(tmp_path / "sales.csv", index=False)
    got = read_history(tmp_path / "sales.csv", "erp")
    assert list(got["channel"]) == ["b2b-portal"] * 3 and got["quantity"].sum() == 20
    mine = erp.rename(columns={"Document No": "doc", "Item No": "item"})
    mine.to_csv(tmp_path / "mine.csv", index=False)
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        '[columns]\norder_id = "doc"\ncreated = "Order Date"\nchannel = "Sales Channel"\n'
        'sku = "item"\nquantity = "Quantity"\n'
    )
    assert read_history(tmp_path / "mine.csv", str(mapping)).equals(got)
    mapping.write_text('[columns]\norder_id = "doc"\nsku = "item"\n')
    code, _, err = cli(["calibrate", str(tmp_path / "mine.csv"), "--format", str(mapping),
                        "--out", str(tmp_path / "o")], capsys)  # fmt: skip
    assert code == 2 and "columns.created: missing" in err and len(err.strip().splitlines()) == 1


def test_an_amazon_order_report_is_read_as_tab_separated_text(tmp_path: Path) -> None:
    path = tmp_path / "orders.txt"
    path.write_text(
        "amazon-order-id\tpurchase-date\tsku\tquantity-purchased\tbuyer-name\n"
        "111-1\t2026-11-23T08:00:00+00:00\tA\t2\tSomeone\n"
        "111-2\t2026-11-23T09:30:00+00:00\tB\t1\tSomeone Else\n"
    )
    got = read_history(path, "amazon", "marketplace")
    assert list(got["sku"]) == ["A", "B"] and list(got["quantity"]) == [2, 1]
    assert set(got["channel"]) == {"marketplace"} and "buyer-name" not in got.columns
