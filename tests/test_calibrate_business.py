"""``syncsim calibrate`` fits the distributor's own shape: per-channel hour-of-week rates and
peaks (detected or declared), SKU popularity per channel with a tail for unsold SKUs, empirical
order-size laws, the initial stock from a snapshot, and return rates. Round trips from known
scenarios, with stated tolerances, and the fit gets worse where a part is left out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.assembly.world import World
from sim.tools.calibrate import (
    CalibrationError,
    backtest,
    calibrate,
    read_history,
    read_snapshot,
    write_calibration,
)
from sim.trace import synthetic_history
from tests.conftest import cli

DAILY = np.r_[np.full(7, 0.2), np.linspace(0.5, 2.0, 10), np.linspace(2.0, 0.6, 7)]
WEEKLY = np.array([1.0, 1.1, 1.0, 1.2, 1.4, 0.8, 0.5])
OFFICE = np.outer([1, 1, 1, 1, 1, 0, 0], np.r_[np.zeros(8), np.ones(10), np.zeros(6)])
PEAK = {"start": "10d", "duration": "2d", "multiplier": 2.5}


def _weights(table: np.ndarray) -> list[float]:
    return [float(x) for x in table.ravel()]


@pytest.fixture(scope="module")
def three_weeks(tmp_path_factory: pytest.TempPathFactory) -> tuple[sim.Scenario, Path]:
    """21 days of smoke: a storefront with its own evening-heavy week, a B2B portal open on
    weekday office hours only, a marketplace on the scenario profile, and a 2-day peak x2.5."""
    sc = sim.load_scenario(
        "smoke",
        {"scenario.duration": "21d", "demand.peaks": [PEAK],
         "channels.0.hour_of_week": _weights(np.outer(WEEKLY, DAILY)),
         "channels.2.hour_of_week": _weights(OFFICE), "channels.2.orders_per_hour": 6},
    )  # fmt: skip
    path = tmp_path_factory.mktemp("hist") / "orders.csv"
    synthetic_history(sc, 8).to_csv(path, index=False)
    return sc, path


def test_per_channel_weeks_and_a_peak_are_recovered(
    three_weeks: tuple[sim.Scenario, Path],
) -> None:
    sc, path = three_weeks
    cal = calibrate(read_history(path), "smoke")
    (peak,) = cal.fitted["peaks"]
    assert (peak["start"], peak["duration"]) == (10 * 86400.0, 2 * 86400.0)
    assert not peak["declared"]
    assert peak["multiplier"] == pytest.approx(2.5, rel=0.05)
    for ch in sc.channels:
        got = cal.fitted["channels"][ch.name]["orders_per_hour"]
        assert got == pytest.approx(ch.orders_per_hour, rel=0.05), ch.name
    fitted = {c["name"]: np.asarray(c["hour_of_week"]) for c in cal.raw["channels"]}
    truth = np.outer(WEEKLY, DAILY).ravel()
    truth /= truth.mean()
    busy = truth > 1.0  # slots with enough orders (3 weeks x >= 40/h) for 10%
    web = fitted["webshop"]
    assert np.max(np.abs(web[busy] - truth[busy]) / truth[busy]) < 0.10
    office = OFFICE.ravel() > 0
    assert np.all(fitted["b2b-portal"][~office] == 0)  # never outside office hours
    assert cal.fit["hourly"]["p_value"] > 0.001


def test_leaving_the_peak_out_fits_worse_and_the_backtest_says_where(
    three_weeks: tuple[sim.Scenario, Path],
) -> None:
    """Direction: the same history fitted without peak detection has a worse hourly fit and
    fails the back-test's hourly part, which the fit with the peak passes."""
    _, path = three_weeks
    history = read_history(path)
    with_peak = calibrate(history, "smoke")
    without = calibrate(history, "smoke", detect_peaks=False)
    assert without.fitted["peaks"] == []
    assert without.fit["hourly"]["chi2"] > 2 * with_peak.fit["hourly"]["chi2"]
    good = backtest(with_peak, history, seeds=2)
    bad = backtest(without, history, seeds=2)
    assert good["parts"]["hourly"]["ok"], good["parts"]["hourly"]
    assert not bad["parts"]["hourly"]["ok"]
    assert good["parts"]["sku_shares"]["ok"] and good["parts"]["order_sizes"]["ok"]


def test_a_declared_peak_is_fitted_on_a_short_history(
    three_weeks: tuple[sim.Scenario, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under two weeks nothing is detected; a declared peak is left out of the base rates."""
    _, path = three_weeks
    frame = pd.read_csv(path)
    short = tmp_path / "short.csv"
    frame[pd.to_datetime(frame["created"]) < "2026-12-06"].to_csv(short, index=False)  # 13 d
    out = tmp_path / "cal"
    code, text, err = cli(
        ["calibrate", str(short), "--base", "smoke", "--peak", "2026-12-03/2d", "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    (peak,) = sim.load_scenario(out / "scenario.toml").demand.peaks
    assert peak.start == 10 * 86400.0 and peak.duration == 2 * 86400.0
    assert peak.multiplier == pytest.approx(2.5, rel=0.08)
    code, _, err = cli(["calibrate", str(short), "--base", "smoke", "--peak", "friday",
                        "--out", str(tmp_path / "x")], capsys)  # fmt: skip
    assert code == 2 and "--peak friday: expected DATE[/DURATION]" in err
    assert not (tmp_path / "x").exists()


N_SNAP = 1200


def _history_and_snapshot(tmp: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    sc = sim.load_scenario("smoke", {"scenario.duration": "3d", "catalogue.skus": 1000})
    h = synthetic_history(sc, 2)
    h["sku"] = "P-" + h["sku"].astype(str)
    path = tmp / "orders.csv"
    h.to_csv(path, index=False)
    snapshot = pd.DataFrame(
        {"sku": [f"P-{i}" for i in range(N_SNAP)] * 2,
         "location": ["DC-North"] * N_SNAP + ["DC-South"] * N_SNAP,
         "on_hand": np.arange(2 * N_SNAP) % 7, "name": [f"Part {i}" for i in range(N_SNAP)] * 2,
         "price": np.tile(np.linspace(5, 80, N_SNAP), 2)}
    )  # fmt: skip
    return read_history(path), snapshot


def test_popularity_per_channel_has_a_good_turing_tail_and_sizes_are_empirical(
    tmp_path: Path,
) -> None:
    history, snapshot = _history_and_snapshot(tmp_path)
    cal = calibrate(history, "smoke", snapshot=snapshot)
    cat = cal.catalogue
    assert cat is not None and len(cat) == N_SNAP  # SKUs sold, then the snapshot's unsold
    sold = history.groupby("sku").size()
    unsold = ~cat["code"].isin(sold.index)
    assert unsold.sum() == N_SNAP - sold.size > 200
    # the unsold SKUs share the Good-Turing mass: the share of lines of once-sold SKUs
    assert cat.loc[unsold, "share"].sum() == pytest.approx((sold == 1).sum() / sold.sum())
    assert (cat.loc[unsold, "share"] > 0).all()
    assert cat.loc[unsold, "share"].is_monotonic_decreasing  # the Zipf tail, by rank
    # among sold SKUs, a channel's shares are its own counts
    web = history[history["channel"] == "webshop"].groupby("sku").size()
    col = cat.set_index("code")["share:webshop"]
    ratio = col[web.index] / web
    assert np.allclose(ratio, ratio.iloc[0])
    # the order-size laws are the history's own frequencies
    (web_spec,) = [c for c in cal.scenario.channels if c.name == "webshop"]
    assert web_spec.units_law is not None and web_spec.lines_law is not None
    counts = history[history["channel"] == "webshop"]["quantity"].value_counts().sort_index()
    assert web_spec.units_law.values == counts.index.tolist()
    assert web_spec.units_law.weights == counts.tolist()
    assert web_spec.mean_units == pytest.approx(
        history[history["channel"] == "webshop"]["quantity"].mean()
    )


def test_the_snapshot_becomes_the_initial_stock_and_returns_their_rates(tmp_path: Path) -> None:
    history, snapshot = _history_and_snapshot(tmp_path)
    rng = np.random.default_rng(3)
    truth = {"webshop": 0.12, "marketplace": 0.03, "b2b-portal": 0.0}
    rate = history["channel"].map(truth).to_numpy()
    back = rng.binomial(history["quantity"].to_numpy(), rate)
    returns = history.assign(quantity=back)[back > 0][["order_id", "sku", "quantity"]]
    stray = pd.DataFrame({"order_id": ["not-ours"], "sku": ["P-1"], "quantity": [1]})
    returns = pd.concat([returns, stray], ignore_index=True)
    cal = calibrate(history, "smoke", snapshot=snapshot, returns=returns)
    fit = cal.fit["returns"]
    assert fit["unmatched"] == 1
    for ch, r in truth.items():
        got = fit["channels"][ch]
        assert got["ci95"][0] <= r <= got["ci95"][1], ch
        assert got["rate"] == pytest.approx(r, abs=0.02), ch
    assert cal.scenario.returns.enabled
    out = write_calibration(tmp_path / "cal", cal)
    sc = sim.load_scenario(out / "scenario.toml")
    w = World(sc, 1)
    stock = snapshot.assign(
        sku=snapshot["sku"].map({c: i for i, c in enumerate(cal.catalogue["code"])})
    )  # type: ignore[index]
    for row in stock.itertuples():
        assert w.ledger.initial[sc.location_index(row.location), row.sku] == row.on_hand
    assert w.catalogue.label(0).split(" ", 1)[1].startswith("Part ")
    assert w.wms.return_rates[0] == pytest.approx(fit["channels"]["webshop"]["rate"], abs=1e-6)
    r = sim.run(out / "replay.toml", "oracle", 1, overrides={"scenario.duration": "6h"},
                keep_history=False)  # fmt: skip
    assert r.ok and r.metrics["units_demanded"] > 0


def test_a_bad_snapshot_or_returns_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history, snapshot = _history_and_snapshot(tmp_path)
    snapshot.assign(location="Mars").drop_duplicates("sku").to_csv(tmp_path / "s.csv")
    code, _, err = cli(["calibrate", str(tmp_path / "orders.csv"), "--base", "smoke",
                        "--snapshot", str(tmp_path / "s.csv"), "--out", str(tmp_path / "o")],
                       capsys)  # fmt: skip
    assert code == 2 and "location 'Mars' is not a location of the base scenario" in err
    # an order line of a SKU the snapshot does not list: the first such row of the orders
    first = int(np.flatnonzero(history["sku"].to_numpy() != "P-0")[0])
    (tmp_path / "s.csv").write_text("sku,location,on_hand\nP-0,DC-North,4\n")
    code, _, err = cli(["calibrate", str(tmp_path / "orders.csv"), "--base", "smoke",
                        "--snapshot", str(tmp_path / "s.csv"), "--out", str(tmp_path / "o")],
                       capsys)  # fmt: skip
    assert code == 2, err
    assert f"orders.csv: row {first + 2}, column sku: a SKU the snapshot does not list" in err
    (tmp_path / "s.csv").write_text("sku,location,on_hand\nP-1,DC-North,many\n")
    code, _, err = cli(["calibrate", str(tmp_path / "orders.csv"), "--base", "smoke",
                        "--snapshot", str(tmp_path / "s.csv"), "--out", str(tmp_path / "o")],
                       capsys)  # fmt: skip
    assert code == 2 and "row 2, column on_hand: expected a whole number >= 0" in err
    (tmp_path / "r.csv").write_text("order_id,sku\n1,P-1\n")
    code, _, err = cli(["calibrate", str(tmp_path / "orders.csv"), "--base", "smoke",
                        "--returns", str(tmp_path / "r.csv"), "--out", str(tmp_path / "o")],
                       capsys)  # fmt: skip
    assert code == 2 and "missing column(s) quantity" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_bundles_in_the_snapshot_become_the_catalogues_bundles(tmp_path: Path) -> None:
    """A snapshot's ``components`` column (CODE:units;...) declares bundles; the fitted
    scenario carries them by catalogue rank; a malformed or unknown component is one line."""
    history, snapshot = _history_and_snapshot(tmp_path)
    comps = [""] * len(snapshot)
    comps[5] = comps[5 + N_SNAP] = "P-1:1; P-2:2"
    cal = calibrate(history, "smoke", snapshot=snapshot.assign(components=comps))
    code = cal.catalogue["code"].tolist()
    (bundle,) = cal.scenario.catalogue.bundles
    assert code[bundle.sku] == "P-5"
    assert {code[c]: u for c, u in bundle.components.items()} == {"P-1": 1, "P-2": 2}
    path = tmp_path / "s.csv"
    snapshot.assign(components=["P-1:0"] + [""] * (len(snapshot) - 1)).to_csv(path, index=False)
    with pytest.raises(CalibrationError, match=r"row 2, column components: expected CODE:units"):
        read_snapshot(path)
    comps[5] = comps[5 + N_SNAP] = "NOPE:1"
    with pytest.raises(CalibrationError, match="bundle P-5: component 'NOPE' is not a SKU"):
        calibrate(history, "smoke", snapshot=snapshot.assign(components=comps))
