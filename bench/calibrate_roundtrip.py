"""Measure ``syncsim calibrate``: the round-trip error of every fitted quantity, and the CPU
time of calibration and of the back-test, on the example history and on a generated one of
about 1,000,000 lines. Run from the repository root (it takes a few minutes)::

    python bench/calibrate_roundtrip.py            # round trip + example + 1M lines
    python bench/calibrate_roundtrip.py --quick    # round trip + example only

The known scenario is smoke over 21 days, with a storefront on its own evening-heavy week, a
B2B portal open on weekday office hours only, a marketplace on the scenario's profile, and a
2-day peak x2.5; with measured latencies (lognormal), a stock snapshot and returns drawn at
known rates. CPU times are the best of ``--repeat`` runs (``time.process_time``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import sim
from sim.assembly.world import World
from sim.tools.calibrate import backtest, calibrate, read_history, read_latencies
from sim.trace import synthetic_history

ROOT = Path(__file__).resolve().parent.parent
DAILY = np.r_[np.full(7, 0.2), np.linspace(0.5, 2.0, 10), np.linspace(2.0, 0.6, 7)]
WEEKLY = np.array([1.0, 1.1, 1.0, 1.2, 1.4, 0.8, 0.5])
OFFICE = np.outer([1, 1, 1, 1, 1, 0, 0], np.r_[np.zeros(8), np.ones(10), np.zeros(6)])
RETURNS = {"webshop": 0.12, "marketplace": 0.03, "b2b-portal": 0.0}
LATENCY = {"erp": (-1.2, 0.5), "webshop": (-2.0, 0.8)}


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return best, out


def known() -> tuple[sim.Scenario, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    sc = sim.load_scenario(
        "smoke",
        {"scenario.duration": "21d", "catalogue.skus": 800,
         "demand.peaks": [{"start": "10d", "duration": "2d", "multiplier": 2.5}],
         "channels.0.hour_of_week": np.outer(WEEKLY, DAILY).ravel().tolist(),
         "channels.2.hour_of_week": OFFICE.ravel().tolist(), "channels.2.orders_per_hour": 6},
    )  # fmt: skip
    h = synthetic_history(sc, 8)
    h["sku"] = "P-" + h["sku"].astype(str)
    rng = np.random.default_rng(5)
    lat = pd.DataFrame(
        {"system": np.repeat(list(LATENCY), 2000),
         "seconds": np.concatenate([rng.lognormal(m, s, 2000) for m, s in LATENCY.values()])}
    )  # fmt: skip
    initial = World(sc, 8, keep_history=False).ledger.initial
    snap = pd.DataFrame(
        [{"sku": f"P-{k}", "location": loc.name, "on_hand": int(initial[i, k])}
         for i, loc in enumerate(sc.locations) for k in range(initial.shape[1])]
    )  # fmt: skip
    lines = h.groupby(["order_id", "sku"], sort=False).agg(
        channel=("channel", "first"), quantity=("quantity", "sum")
    )  # fmt: skip
    back = rng.binomial(lines["quantity"], lines["channel"].map(RETURNS))
    ret = lines[back > 0].reset_index()[["order_id", "sku"]].assign(quantity=back[back > 0])
    return sc, h, lat, snap, ret


def roundtrip(repeat: int) -> None:
    sc, h, lat, snap, ret = known()
    with tempfile.TemporaryDirectory() as tmp:
        h.to_csv(Path(tmp) / "orders.csv", index=False)
        history = read_history(Path(tmp) / "orders.csv")
    t_cal, cal = cpu(lambda: calibrate(history, "smoke", lat, snapshot=snap, returns=ret), repeat)
    t_bt, bt = cpu(lambda: backtest(cal, history, seeds=3), 1)
    say(f"known scenario: {len(history):,} lines, {cal.fit['window']['orders']:,} orders, "
          f"21 days; calibrate {t_cal:.2f} CPU s, 3-seed back-test {t_bt:.2f} CPU s")  # fmt: skip
    rows: list[tuple[str, str, float]] = []
    for ch in sc.channels:
        got = cal.fitted["channels"][ch.name]
        rows.append((f"orders_per_hour {ch.name}", "rel",
                     got["orders_per_hour"] / ch.orders_per_hour - 1))  # fmt: skip
        rows.append((f"mean lines/order {ch.name}", "rel",
                     got["lines_per_order"] / ch.lines_per_order - 1))  # fmt: skip
        rows.append((f"mean units/line {ch.name}", "rel",
                     got["units_per_line"] / ch.units_per_line - 1))  # fmt: skip
    fitted = {c["name"]: np.asarray(c["hour_of_week"]) for c in cal.raw["channels"]}
    truth = np.outer(WEEKLY, DAILY).ravel()
    truth /= truth.mean()
    busy = truth > 1.0
    web = fitted["webshop"]
    rows.append(("hour-of-week webshop (busy slots, max)", "rel",
                 float(np.max(np.abs(web[busy] / truth[busy] - 1)))))  # fmt: skip
    closed = OFFICE.ravel() == 0
    rows.append(("hour-of-week b2b-portal closed slots (max weight)", "abs",
                 float(np.max(fitted["b2b-portal"][closed]))))  # fmt: skip
    (peak,) = cal.fitted["peaks"]
    rows.append(("peak start (s)", "abs", peak["start"] - 10 * 86_400))
    rows.append(("peak duration (s)", "abs", peak["duration"] - 2 * 86_400))
    rows.append(("peak multiplier", "rel", peak["multiplier"] / 2.5 - 1))
    rows.append(("Zipf exponent", "abs", cal.fit["popularity"]["zipf"] - sc.catalogue.zipf))
    rows.append(("SKU shares KS over ranks", "abs", cal.fit["popularity"]["ks"]))
    for system, (m, s) in LATENCY.items():
        got = np.asarray(cal.fit["latency"][system]["fitted"])
        q = np.asarray(cal.fit["latency"][system]["quantiles"])
        from scipy.stats import lognorm

        want = lognorm.ppf(q, s, scale=np.exp(m))
        rows.append((f"latency {system} p50..p99 vs the measured (max)", "rel",
                     cal.fit["latency"][system]["max_rel_error"]))  # fmt: skip
        rows.append((f"latency {system} p50..p99 vs the true law (max)", "rel",
                     float(np.max(np.abs(got / want - 1)))))  # fmt: skip
    for ch, rate in RETURNS.items():
        rows.append((f"return rate {ch}", "abs",
                     cal.fit["returns"]["channels"][ch]["rate"] - rate))  # fmt: skip
    codes = cal.catalogue["code"].str.removeprefix("P-").astype(int).to_numpy()
    stock = cal.stock.pivot(index="location", columns="sku", values="on_hand")
    initial = World(sc, 8, keep_history=False).ledger.initial
    exact = all(
        np.array_equal(stock.loc[loc.name, [f"P-{k}" for k in codes]].to_numpy(), initial[i, codes])
        for i, loc in enumerate(sc.locations)
    )
    say(f"\n{'fitted quantity':<52} error")
    for name, kind, err in rows:
        say(f"{name:<52} {err:+.4f}" + (" (relative)" if kind == "rel" else ""))
    say(f"{'initial stock from the snapshot':<52} {'exact' if exact else 'DIFFERS'}")
    say("\nback-test: " + ", ".join(
        f"{k} {'pass' if v['ok'] else 'FAIL'}" for k, v in bt["parts"].items()))  # fmt: skip


def example(repeat: int) -> None:
    ex = ROOT / "examples" / "calibration"
    history = read_history(ex / "orders_export.csv", "shopify", "shop-main")
    lat = read_latencies(ex / "latencies.csv")
    snap = pd.read_csv(ex / "stock_snapshot.csv")
    t_cal, cal = cpu(lambda: calibrate(history, "peak_week", lat, snapshot=snap), repeat)
    t_bt, _ = cpu(lambda: backtest(cal, history, seeds=3), repeat)
    say(f"\nexample history: {len(history):,} lines; calibrate {t_cal:.2f} CPU s, "
          f"3-seed back-test {t_bt:.2f} CPU s (best of {repeat})")  # fmt: skip


def million(repeat: int) -> None:
    sc = sim.load_scenario("peak_week", {"scenario.duration": "14d", "catalogue.skus": 5000})
    sc = sim.load_scenario(
        "peak_week",
        {"scenario.duration": "14d", "catalogue.skus": 5000,
         **{f"channels.{i}.orders_per_hour": c.orders_per_hour * 6.2
            for i, c in enumerate(sc.channels)}},
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        t_gen, h = cpu(lambda: synthetic_history(sc, 1), 1)
        h.to_csv(path, index=False)
        size = path.stat().st_size
        t_read, history = cpu(lambda: read_history(path), 1)
    t_cal, cal = cpu(lambda: calibrate(history, "peak_week"), repeat)
    t_bt, _ = cpu(lambda: backtest(cal, history, seeds=3), 1)
    say(f"\ngenerated history: {len(history):,} lines ({size / 1e6:.0f} MB CSV, generated in "
          f"{t_gen:.1f} CPU s); read {t_read:.1f} CPU s, calibrate {t_cal:.1f} CPU s "
          f"(best of {repeat}), 3-seed back-test {t_bt:.1f} CPU s")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 1,000,000-line history")
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing (best is kept)")
    args = ap.parse_args()
    roundtrip(args.repeat)
    example(args.repeat)
    if not args.quick:
        million(1)


if __name__ == "__main__":
    main()
