"""``syncsim calibrate``: a distributor's own order history (and measured latencies) fitted into
a validated scenario, with a report of how well each part fits.

Input, all local: an order history (CSV or Parquet, one row per order line) in one of the
``FORMATS`` (``generic``: order_id, created, channel, sku, quantity; ``shopify``: Shopify's
orders export; ``amazon``: Amazon's order report; ``erp``: a generic ERP sales-line export)
or a mapping file (``mapping_of``), and optionally measured latencies (CSV:
``system``, ``seconds``; system ``erp`` or a channel name). Customer columns are never read.

What is fitted (on the model syncsim simulates, so the fit is what a run will use):

- per channel, ``orders_per_hour`` (orders / hours of the window) and the means of
  ``lines_per_order`` and ``units_per_line`` (the model draws both as geometric laws);
- ``demand.daily_profile`` and ``demand.weekly_profile``: the hour-of-day and day-of-week
  rates of all channels (a multiplicative model of the hour-of-week rate; the weekly profile
  needs a week of history, else it stays flat and the report says so);
- ``catalogue.skus`` (the SKUs seen) and ``catalogue.zipf``, the popularity exponent by
  maximum likelihood over the ranks (``sku_map.csv`` gives each SKU code its rank);
- latencies as ``dist = "empirical"`` samples (``erp.api.service_time``, each channel's
  ``api.latency``).

Everything else comes from the base scenario (``--base``, default ``peak_week``), whose
channel names the history must use. The scenario's start and duration are the history's
window in whole days. Goodness of fit, per part: the hour-of-week counts against the
fitted model (Pearson chi-square, its p-value and the mean absolute relative error), the
SKU shares against the Zipf law (Kolmogorov-Smirnov distance over ranks), lines per order
and units per line against their geometric laws (chi-square), and each latency's fitted
quantiles against the measured ones.

Output folder (``--out``, the same rules as every results folder): ``scenario.toml``,
``sku_map.csv``, ``calibration.json``, ``calibration.html`` and its PNGs, and the history
itself for trace-driven replay: ``trace.parquet`` (SKU codes as indexes by rank, times in
seconds since the scenario start) and ``replay.toml`` (the fitted scenario with
``demand.source = "trace"``).
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.scenario import ScenarioError, find_scenario, read_raw, validate_raw
from sim.schema import Scenario

__all__ = [
    "BACKTEST_TOLERANCES",
    "FORMATS",
    "Calibration",
    "CalibrationError",
    "backtest",
    "calibrate",
    "mapping_of",
    "read_history",
    "read_latencies",
    "write_calibration",
]

#: column names per export format: what syncsim needs -> the export's column (None: absent)
FORMATS: dict[str, dict[str, str | None]] = {
    "generic": {"order_id": "order_id", "created": "created", "channel": "channel",
                "sku": "sku", "quantity": "quantity"},
    "shopify": {"order_id": "Name", "created": "Created at", "channel": None,
                "sku": "Lineitem sku", "quantity": "Lineitem quantity"},
    "amazon": {"order_id": "amazon-order-id", "created": "purchase-date", "channel": None,
               "sku": "sku", "quantity": "quantity-purchased"},
    # a generic ERP sales-line export (document, date, sales channel, item, quantity)
    "erp": {"order_id": "Document No", "created": "Order Date", "channel": "Sales Channel",
            "sku": "Item No", "quantity": "Quantity"},
}  # fmt: skip
NEEDED = ("order_id", "created", "channel", "sku", "quantity")


def mapping_of(fmt: str) -> dict[str, str | None]:
    """A built-in format's columns, or those of a mapping file (``MAPPING.toml``: a
    ``[columns]`` table naming, for order_id, created, sku and quantity, the export's
    column; channel too, unless ``--channel`` gives it)."""
    if fmt in FORMATS:
        return FORMATS[fmt]
    if not fmt.endswith(".toml"):
        raise CalibrationError(
            f"--format {fmt}: expected one of {', '.join(FORMATS)} or a MAPPING.toml file"
        )
    from sim.scenario import read_toml

    table = read_toml(Path(fmt), CalibrationError).get("columns")
    if not isinstance(table, dict):
        raise CalibrationError(f"{fmt}: expected a [columns] table")
    unknown = sorted(set(table) - set(NEEDED))
    if unknown:
        raise CalibrationError(f"{fmt}: columns.{unknown[0]}: not one of {', '.join(NEEDED)}")
    out: dict[str, str | None] = {}
    for key in NEEDED:
        value = table.get(key)
        if value is None and key != "channel":
            raise CalibrationError(f"{fmt}: columns.{key}: missing (the export's column name)")
        if value is not None and not isinstance(value, str):
            raise CalibrationError(f"{fmt}: columns.{key}: expected a column name (text)")
        out[key] = value
    return out


HOUR = 3600.0
MAX_LATENCY_SAMPLES = 5000


class CalibrationError(ScenarioError):
    """Bad calibration input: one line naming the file, row and column."""


def _read_any(path: Path, sep: str | None = None) -> pd.DataFrame:
    if not path.is_file():
        raise CalibrationError(f"{path}: file not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        tab = path.suffix.lower() in (".txt", ".tsv")
        return pd.read_csv(
            path, sep=sep or ("\t" if tab else ","), dtype=str, keep_default_na=False
        )
    except Exception as exc:  # pandas raises many kinds for a damaged file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CalibrationError(f"{path}: cannot read: {first}") from None


def _row_error(path: Path, frame: pd.DataFrame, mask: Any, column: str, what: str) -> None:
    rows = np.flatnonzero(np.asarray(mask, bool))
    if rows.size:
        i = int(rows[0])
        raise CalibrationError(
            f"{path}: row {i + 2}, column {column}: {what} (got {frame[column].iloc[i]!r})"
        )


def read_history(path: Path, fmt: str = "generic", channel: str | None = None) -> pd.DataFrame:
    """The order lines of an export: order_id, t (UTC-naive timestamps), channel, sku (text),
    quantity. ``channel`` names the channel of formats that have none (Shopify, Amazon)."""
    cols = mapping_of(fmt)
    raw = _read_any(path)
    missing = [c for c in cols.values() if c is not None and c not in raw.columns]
    if missing:
        raise CalibrationError(f"{path}: missing column(s) {', '.join(missing)} ({fmt} format)")
    if cols["channel"] is None and not channel:
        raise CalibrationError(f"{path}: the {fmt} format has no channel column: give --channel")
    frame = raw.reset_index(drop=True)
    text = frame[cols["created"]].astype(str).str.strip()
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    _row_error(path, frame, parsed.isna(), str(cols["created"]), "not a timestamp")
    qty = pd.to_numeric(frame[cols["quantity"]], errors="coerce")
    bad = qty.isna() | (qty < 1) | (qty != np.floor(qty.fillna(0)))
    _row_error(path, frame, bad, str(cols["quantity"]), "expected a whole number >= 1")
    sku = frame[cols["sku"]].astype(str).str.strip()
    _row_error(path, frame, sku == "", str(cols["sku"]), "missing SKU")
    return pd.DataFrame(
        {
            "order_id": frame[cols["order_id"]].astype(str).to_numpy(),
            "t": parsed.dt.tz_convert(None).to_numpy(),
            "channel": frame[cols["channel"]].astype(str).to_numpy()
            if cols["channel"] is not None else channel,
            "sku": sku.to_numpy(),
            "quantity": qty.to_numpy(np.int64),
        }
    )  # fmt: skip


def _zipf_mle(counts: np.ndarray) -> float:
    """The exponent s of P(rank r) ~ r^-s over ranks 1..N that maximizes the likelihood of
    the counts (sorted descending)."""
    from scipy.optimize import minimize_scalar

    ranks = np.arange(1, counts.size + 1, dtype=float)
    log_r = np.log(ranks)
    n = counts.sum()

    def nll(s: float) -> float:
        return float(s * np.dot(counts, log_r) + n * np.log(np.sum(ranks**-s)))

    return float(minimize_scalar(nll, bounds=(0.0, 10.0), method="bounded").x)


@dataclass
class Calibration:
    """What ``calibrate`` fitted: the scenario (raw TOML dict and validated), the SKU map,
    the fitted values and the goodness of fit per part, and the figures."""

    raw: dict[str, Any]
    scenario: Scenario
    sku_map: pd.DataFrame
    fitted: dict[str, Any]
    fit: dict[str, Any]
    figures: dict[str, bytes] = field(default_factory=dict)
    backtest: dict[str, Any] | None = None
    trace: pd.DataFrame | None = None  # the history by SKU index, for replay


def _geometric_chi2(values: np.ndarray, mean: float) -> dict[str, float]:
    """Chi-square of observed counts 1, 2, ... against a geometric law with this mean
    (the last cell pooled so that every expected count is at least 5)."""
    from scipy.stats import chisquare

    p = 1.0 / mean
    top = int(values.max())
    k = np.arange(1, top + 1)
    expected = values.size * p * (1 - p) ** (k - 1)
    observed = np.bincount(values, minlength=top + 1)[1:].astype(float)
    expected[-1] += values.size - expected.sum()  # the tail
    cut = max(1, int(np.argmax(expected < 5)) if (expected < 5).any() else k.size)
    obs = np.r_[observed[: cut - 1], observed[cut - 1 :].sum()]
    exp = np.r_[expected[: cut - 1], expected[cut - 1 :].sum()]
    if obs.size < 2 or np.any(exp <= 0):
        return {"chi2": math.nan, "p_value": math.nan, "cells": int(obs.size)}
    stat, pv = chisquare(obs, exp * obs.sum() / exp.sum())
    return {"chi2": float(stat), "p_value": float(pv), "cells": int(obs.size)}


def calibrate(
    history: pd.DataFrame,
    base: str = "peak_week",
    latencies: pd.DataFrame | None = None,
    name: str = "calibrated",
) -> Calibration:
    """Fit ``history`` (``read_history``'s frame) into a scenario built on ``base``."""
    from scipy.stats import chisquare

    base_path = find_scenario(base)
    raw = read_raw(base_path)
    channels = {c["name"]: c for c in raw.get("channels", [])}
    unknown = sorted(set(history["channel"]) - set(channels))
    if unknown:
        raise CalibrationError(
            f"history: channel(s) {', '.join(unknown)} not in the base scenario {base} "
            f"({', '.join(channels)}): rename them or choose --base"
        )
    t = pd.to_datetime(history["t"])
    start = t.min().floor("D")
    days = max(1, math.ceil((t.max() - start).total_seconds() / 86_400 + 1e-9))
    hours = days * 24.0
    secs = (t - start).dt.total_seconds().to_numpy()
    orders = history.assign(s=secs).groupby(["channel", "order_id"], sort=False).agg(
        s=("s", "min"), lines=("sku", "size")
    ).reset_index()  # fmt: skip
    fitted: dict[str, Any] = {"channels": {}}
    for ch, g in orders.groupby("channel", sort=False):
        lines = history[history["channel"] == ch]
        fitted["channels"][str(ch)] = {
            "orders_per_hour": len(g) / hours,
            "lines_per_order": float(g["lines"].mean()),
            "units_per_line": float(lines["quantity"].mean()),
        }
    # hour-of-week rates of all channels, multiplicative fit
    slot_t = start + pd.to_timedelta(orders["s"], unit="s")
    how = (slot_t.dt.day_of_week * 24 + slot_t.dt.hour).to_numpy()
    counts = np.bincount(how, minlength=168).astype(float)
    grid = start + pd.to_timedelta(np.arange(int(hours)), unit="h")
    exposure = np.bincount(grid.day_of_week * 24 + grid.hour, minlength=168).astype(float)
    rate = np.divide(counts, exposure, out=np.zeros(168), where=exposure > 0).reshape(7, 24)
    seen = exposure.reshape(7, 24) > 0
    daily = np.array([rate[seen[:, h], h].mean() if seen[:, h].any() else 0.0 for h in range(24)])
    full_week = bool(seen.all())
    weekly = rate.mean(axis=1) if full_week else np.ones(7)
    if daily.sum() == 0:
        raise CalibrationError("history: no orders inside the window")
    d_norm, w_norm = daily / daily.mean(), weekly / weekly.mean()
    mean_rate = counts.sum() / hours
    model = mean_rate * np.outer(w_norm, d_norm).ravel() * exposure
    sel = (exposure > 0) & (model > 0)
    if sel.sum() >= 2:
        pearson = chisquare(counts[sel], model[sel] * counts[sel].sum() / model[sel].sum())
        chi2, p_value = float(pearson.statistic), float(pearson.pvalue)
    else:  # too little history for a test
        chi2, p_value = math.nan, math.nan
    hourly = {
        "chi2": chi2, "p_value": p_value,
        "slots": int(sel.sum()), "weekly_fitted": full_week,
        "mean_abs_rel_error": float(
            np.mean(np.abs(counts[sel] - model[sel]) / model[sel]) if sel.any() else math.nan
        ),
    }  # fmt: skip
    # SKU popularity
    shares = history.groupby("sku")["quantity"].size().sort_values(ascending=False, kind="stable")
    zipf = _zipf_mle(shares.to_numpy(float))
    ranks = np.arange(1, shares.size + 1, dtype=float)
    law = ranks**-zipf / np.sum(ranks**-zipf)
    ks = float(np.max(np.abs(np.cumsum(shares.to_numpy(float)) / shares.sum() - np.cumsum(law))))
    sku_map = pd.DataFrame(
        {"sku": shares.index, "rank": np.arange(1, shares.size + 1),
         "lines": shares.to_numpy(), "share": shares.to_numpy() / shares.sum()}
    )  # fmt: skip
    fit: dict[str, Any] = {
        "window": {"start": start.isoformat(), "days": days, "lines": len(history),
                   "orders": len(orders)},
        "hourly": hourly,
        "popularity": {"skus": int(shares.size), "zipf": zipf, "ks": ks},
        "lines_per_order": {str(c): _geometric_chi2(g["lines"].to_numpy(np.int64),
                                                    max(1.0, float(g["lines"].mean())))
                            for c, g in orders.groupby("channel")},
        "units_per_line": {str(c): _geometric_chi2(g["quantity"].to_numpy(np.int64),
                                                   max(1.0, float(g["quantity"].mean())))
                           for c, g in history.groupby("channel")},
        "latency": {},
    }  # fmt: skip
    # the scenario: the base with what was fitted
    raw = json.loads(json.dumps(raw, default=str))  # a plain copy (datetimes as text)
    raw["scenario"]["id"] = f"{name}-v1"
    raw["scenario"]["description"] = (
        f"calibrated from {len(history):,} order lines over {days} day(s), base {base}"
    )
    raw["scenario"]["start"] = start.to_pydatetime()
    raw["scenario"]["duration"] = f"{days}d"
    demand = raw.setdefault("demand", {})
    demand["daily_profile"] = [round(float(x), 6) for x in d_norm]
    demand["weekly_profile"] = [round(float(x), 6) for x in w_norm]
    demand["peaks"] = []
    raw["catalogue"]["skus"] = int(shares.size)
    raw["catalogue"]["zipf"] = round(zipf, 6)
    for ch_name, values in fitted["channels"].items():
        spec = channels[ch_name]
        spec["orders_per_hour"] = round(values["orders_per_hour"], 6)
        spec["lines_per_order"] = round(max(1.0, values["lines_per_order"]), 6)
        spec["units_per_line"] = round(max(1.0, values["units_per_line"]), 6)
    raw["channels"] = [channels[n] for n in channels]
    for system, g in latencies.groupby("system", sort=False) if latencies is not None else ():
        x = g["seconds"].to_numpy(float)
        if x.size > MAX_LATENCY_SAMPLES:  # evenly spaced order statistics keep the shape
            x = np.quantile(x, np.linspace(0, 1, MAX_LATENCY_SAMPLES))
        law_tbl = {"dist": "empirical", "samples": [round(float(v), 6) for v in x], "bins": 50}
        if system == "erp":
            raw.setdefault("erp", {}).setdefault("api", {})["service_time"] = law_tbl
        elif system in channels:
            channels[str(system)].setdefault("api", {})["latency"] = law_tbl
        else:
            raise CalibrationError(f"latency: system {system!r} is neither erp nor a channel")
        fit["latency"][str(system)] = {"samples": int(g.shape[0])}
    try:
        sc = validate_raw(raw, f"calibrated from base {base}")
    except ScenarioError as exc:
        raise CalibrationError(f"the fitted scenario does not validate: {exc}") from None
    for system in fit["latency"]:
        path = "erp.api.service_time" if system == "erp" else f"channels.{system}.api.latency"
        lat = _latency(sc, system)
        measured = latencies[latencies["system"] == system]["seconds"].to_numpy(float)  # type: ignore[index]
        q = np.array([0.5, 0.9, 0.95, 0.99])
        got = lat.distribution().ppf(q)
        want = np.quantile(measured, q)
        fit["latency"][system].update(
            {"field": path, "quantiles": q.tolist(), "measured": want.tolist(),
             "fitted": got.tolist(), "max_rel_error": float(np.max(np.abs(got - want) / want))}
        )  # fmt: skip
    index = {code: i for i, code in enumerate(shares.index)}  # rank r -> SKU index r - 1
    trace = pd.DataFrame(
        {"order_id": history["order_id"].to_numpy(),
         "created": ((t - start).dt.total_seconds()).to_numpy(),
         "channel": history["channel"].to_numpy(),
         "sku": history["sku"].map(index).to_numpy(np.int64),
         "quantity": history["quantity"].to_numpy(np.int64)}
    )  # fmt: skip
    cal = Calibration(raw, sc, sku_map, fitted, fit, trace=trace)
    cal.figures = _figures(counts, model, exposure, shares.to_numpy(float), law, latencies, sc)
    return cal


def _latency(sc: Scenario, system: str) -> Any:
    """The latency law the scenario gives ``system`` (``erp`` or a channel name)."""
    if system == "erp":
        return sc.erp.api.service_time
    return next(ch for ch in sc.channels if ch.name == system).api.latency


def _figures(
    counts: np.ndarray, model: np.ndarray, exposure: np.ndarray, shares: np.ndarray,
    law: np.ndarray, latencies: pd.DataFrame | None, sc: Scenario,
) -> dict[str, bytes]:  # fmt: skip
    from sim.tools import plots

    out = {}
    fig = plots.figure(width=10.0, height=3.6)
    ax = fig.add_subplot()
    x = np.arange(168)
    per = np.divide(counts, exposure, out=np.zeros(168), where=exposure > 0)
    fitted = np.divide(model, exposure, out=np.zeros(168), where=exposure > 0)
    ax.plot(x, per, ".", label="observed")
    ax.plot(x, fitted, "-", label="fitted (daily x weekly profile)")
    ax.set_xlabel("hour of the week (Monday 00:00 = 0)")
    ax.set_ylabel("orders per hour")
    ax.set_title("Arrival rate by hour of the week")
    ax.legend()
    out["hourly"] = plots.png_bytes(fig)
    fig = plots.figure(width=6.0, height=4.0)
    ax = fig.add_subplot()
    ranks = np.arange(1, shares.size + 1)
    ax.loglog(ranks, shares / shares.sum(), ".", label="observed")
    ax.loglog(ranks, law, "-", label="fitted Zipf")
    ax.set_xlabel("SKU rank")
    ax.set_ylabel("share of order lines")
    ax.set_title("SKU popularity (rank-frequency)")
    ax.legend()
    out["popularity"] = plots.png_bytes(fig)
    if latencies is not None and not latencies.empty:
        fig = plots.figure(width=6.0, height=4.0)
        ax = fig.add_subplot()
        for system, g in latencies.groupby("system", sort=False):
            x_m = np.sort(g["seconds"].to_numpy(float))
            ax.plot(x_m, np.arange(1, x_m.size + 1) / x_m.size, label=f"{system} measured")
            lat = _latency(sc, str(system))
            grid = np.linspace(0, x_m.max(), 200)
            ax.plot(grid, lat.distribution().cdf(grid), "--", label=f"{system} fitted")
        ax.set_xlabel("latency (s)")
        ax.set_ylabel("fraction of calls")
        ax.set_title("Latency CDFs")
        ax.legend(fontsize=8)
        out["latency"] = plots.png_bytes(fig)
    return out


def _html(cal: Calibration) -> str:
    esc = html.escape
    f = cal.fit
    h = f["hourly"]
    rows = "".join(
        f"<tr><td>{esc(c)}</td><td>{v['orders_per_hour']:.2f}</td><td>{v['lines_per_order']:.3f}"
        f"</td><td>{v['units_per_line']:.3f}</td></tr>"
        for c, v in cal.fitted["channels"].items()
    )
    figs = "".join(
        f'<figure><img alt="{n}" src="data:image/png;base64,{base64.b64encode(b).decode()}">'
        "</figure>"
        for n, b in cal.figures.items()
    )
    lat = "".join(
        f"<tr><td>{esc(s)}</td><td>{esc(v['field'])}</td><td>{v['samples']}</td>"
        f"<td>{v['max_rel_error']:.1%}</td></tr>"
        for s, v in f["latency"].items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>syncsim calibration: {esc(cal.scenario.id)}</title><style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; }}
img {{ max-width: 100%; }}</style></head><body>
<h1>Calibration: {esc(cal.scenario.id)}</h1>
<p>{f["window"]["lines"]:,} order lines, {f["window"]["orders"]:,} orders, {f["window"]["days"]}
day(s) from {esc(f["window"]["start"])}.</p>
<h2>Per channel</h2><table><tr><th>channel</th><th>orders per hour</th>
<th>lines per order (mean)</th><th>units per line (mean)</th></tr>{rows}</table>
<h2>Goodness of fit</h2><ul>
<li>Hour-of-week counts against the fitted daily x weekly model: Pearson chi-square
{h["chi2"]:.1f} on {h["slots"]} slots (p = {h["p_value"]:.3g}), mean absolute relative error
{h["mean_abs_rel_error"]:.1%}{"" if h["weekly_fitted"] else "; less than a week of history: weekly profile flat"}.</li>
<li>SKU popularity: Zipf exponent {f["popularity"]["zipf"]:.3f} over {f["popularity"]["skus"]:,}
SKUs, Kolmogorov-Smirnov distance over ranks {f["popularity"]["ks"]:.3f}.</li>
<li>Lines per order and units per line against geometric laws: chi-square p-values
{esc(", ".join(f"{c} {v['p_value']:.3g}" for c, v in f["lines_per_order"].items()))} (lines);
{esc(", ".join(f"{c} {v['p_value']:.3g}" for c, v in f["units_per_line"].items()))} (units).</li>
</ul>
{f"<h2>Latencies</h2><table><tr><th>system</th><th>field</th><th>samples</th><th>largest relative error of p50/p90/p95/p99</th></tr>{lat}</table>" if lat else ""}
{_backtest_html(cal.backtest)}
{figs}</body></html>"""  # noqa: E501


def _backtest_html(bt: dict[str, Any] | None) -> str:
    if bt is None:
        return "<p><i>No back-test (syncsim calibrate --backtest).</i></p>"
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(p['statistic'])}</td><td>{p['value']:.4g}</td>"
        f"<td>{esc(p['tolerance'])}</td><td>{'pass' if p['ok'] else 'FAIL'}</td>"
        f"<td>{esc(p['why'])}</td></tr>"
        for name, p in bt["parts"].items()
    )
    verdict = "every part passes" if bt["ok"] else "the fit fails where marked"
    return (
        f"<h2>Back-test ({bt['seeds']} seeds): {verdict}</h2><table><tr><th>part</th>"
        f"<th>statistic</th><th>value</th><th>tolerance</th><th></th><th>why</th></tr>"
        f"{rows}</table>"
    )


def _finite(x: Any) -> Any:
    """JSON-safe: NaN (a test that had too little data) becomes null."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return None if isinstance(x, float) and not math.isfinite(x) else x


def write_calibration(out: Path, cal: Calibration) -> Path:
    """The calibration's files into ``out`` (``sim.tools.outdir``'s rule), atomically."""
    import tomli_w

    from sim.tools.outdir import MARKER, OutputError, check_out, discard, new_temp_dir, replace_dir

    out = check_out(Path(out))
    tmp = new_temp_dir(out)
    try:
        (tmp / "scenario.toml").write_text(
            "# written by syncsim calibrate (docs/calibrate.md)\n" + tomli_w.dumps(cal.raw)
        )
        cal.sku_map.to_csv(tmp / "sku_map.csv", index=False)
        if cal.trace is not None:  # the history itself, replayable on the fitted scenario
            cal.trace.to_parquet(tmp / "trace.parquet", index=False)
            replay = {
                "extends": "scenario.toml",
                "scenario": {"id": cal.scenario.id.replace("-v", "_replay-v", 1),
                             "description": "the calibrated history replayed exactly"},
                "demand": {"source": "trace", "trace": {"file": "trace.parquet"}},
            }  # fmt: skip
            (tmp / "replay.toml").write_text(
                "# the history replayed on the fitted scenario (docs/calibrate.md)\n"
                + tomli_w.dumps(replay)
            )
        (tmp / "calibration.json").write_text(
            json.dumps(
                _finite({"fitted": cal.fitted, "fit": cal.fit, "backtest": cal.backtest}),
                indent=2,
            )
        )
        for n, b in cal.figures.items():
            (tmp / f"{n}.png").write_bytes(b)
        (tmp / "calibration.html").write_text(_html(cal))
        files = sorted(p.name for p in tmp.iterdir())
        (tmp / "manifest.json").write_text(
            json.dumps(
                {"syncsim": MARKER, "kind": "calibration", "files": [*files, "manifest.json"]},
                indent=2,
            )
        )
        replace_dir(tmp, out)
    except OSError as exc:
        discard(tmp)
        raise OutputError(f"{out}: could not write ({exc.strerror or exc})", usage=False) from None
    except BaseException:
        discard(tmp)
        raise
    return out


def read_latencies(path: Path) -> pd.DataFrame:
    """Measured latencies: CSV or Parquet with ``system`` and ``seconds`` columns."""
    frame = _read_any(path)
    missing = [c for c in ("system", "seconds") if c not in frame.columns]
    if missing:
        raise CalibrationError(f"{path}: missing column(s) {', '.join(missing)}")
    secs = pd.to_numeric(frame["seconds"], errors="coerce")
    _row_error(path, frame, secs.isna() | (secs < 0), "seconds", "expected seconds >= 0")
    return pd.DataFrame({"system": frame["system"].astype(str), "seconds": secs.astype(float)})


#: the back-test's tolerances (docs/calibrate.md)
BACKTEST_TOLERANCES = {
    "hourly_p_value": 0.001,  # chi-square of the history against the simulated mean, >= this
    "interarrival_ks": 0.05,  # two-sample KS distance of inter-arrival times, per channel
    "sku_ks": 0.05,  # KS distance over SKU ranks
    "size_rel": 0.05,  # lines per order and units per line, relative difference of the means
}


def _stream(history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(orders: channel, order_id, t seconds, lines), lines as given."""
    t = pd.to_datetime(history["t"])
    secs = (t - t.min().floor("D")).dt.total_seconds()
    orders = history.assign(s=secs.to_numpy()).groupby(["channel", "order_id"], sort=False).agg(
        s=("s", "min"), lines=("sku", "size")
    ).reset_index()  # fmt: skip
    return orders, history


def backtest(cal: Calibration, history: pd.DataFrame, seeds: int = 3) -> dict[str, Any]:
    """Simulate the calibrated scenario's order stream on ``seeds`` seeds (the orders its runs
    would place, ``sim.trace.synthetic_history``) and test it against the history, part by
    part, with ``BACKTEST_TOLERANCES``. Returns per part its statistic, tolerance, whether it
    passed and, if not, why; ``ok`` if every part passed."""
    from scipy.stats import chisquare, ks_2samp

    from sim.trace import synthetic_history

    tol = BACKTEST_TOLERANCES
    obs_orders, obs_lines = _stream(history)
    start = pd.to_datetime(history["t"]).min().floor("D")
    sims = []
    for seed in range(1, seeds + 1):
        sim_h = synthetic_history(cal.scenario, seed, seconds=True)
        sim_h = sim_h.assign(
            t=start + pd.to_timedelta(sim_h["created"].astype(float), unit="s"),
            order_id=sim_h["order_id"] + f"/{seed}",
        )
        sims.append(_stream(sim_h.drop(columns="created")))
    parts: dict[str, Any] = {}
    # hour-of-week counts of all orders
    bins = np.arange(0, cal.scenario.scenario.duration + HOUR, HOUR)
    obs_h = np.histogram(obs_orders["s"], bins)[0].astype(float)
    sim_h_mean = np.mean([np.histogram(o["s"], bins)[0] for o, _ in sims], axis=0)
    sel = sim_h_mean >= 5
    stat = chisquare(obs_h[sel], sim_h_mean[sel] * obs_h[sel].sum() / sim_h_mean[sel].sum())
    parts["hourly"] = {
        "statistic": "Pearson chi-square of hourly order counts against the simulated mean",
        "value": float(stat.pvalue), "tolerance": f"p >= {tol['hourly_p_value']}",
        "ok": bool(stat.pvalue >= tol["hourly_p_value"]),
        "why": "the history's hourly counts vary more than the fitted rates allow (peaks or "
        "bursts the daily x weekly profile cannot express)",
    }  # fmt: skip
    worst_ia, worst_ch = 0.0, ""
    for ch, g in obs_orders.groupby("channel"):
        a = np.diff(np.sort(g["s"].to_numpy()))
        b = np.concatenate(
            [np.diff(np.sort(o[o["channel"] == ch]["s"].to_numpy())) for o, _ in sims]
        )
        if a.size > 1 and b.size > 1:
            d = float(ks_2samp(a, b).statistic)
            if d > worst_ia:
                worst_ia, worst_ch = d, str(ch)
    parts["interarrival"] = {
        "statistic": "two-sample KS distance of inter-arrival times (worst channel)",
        "value": worst_ia, "channel": worst_ch, "tolerance": f"<= {tol['interarrival_ks']}",
        "ok": worst_ia <= tol["interarrival_ks"],
        "why": f"{worst_ch}: arrivals are not Poisson at the fitted rates (clustered orders?)",
    }  # fmt: skip
    obs_share = np.sort(obs_lines.groupby("sku").size().to_numpy(float))[::-1]
    sim_lines = pd.concat([ln for _, ln in sims])
    sim_share = np.sort(sim_lines.groupby("sku").size().to_numpy(float))[::-1]
    n = max(obs_share.size, sim_share.size)
    cum = [np.cumsum(np.pad(x, (0, n - x.size))) / x.sum() for x in (obs_share, sim_share)]
    ks = float(np.max(np.abs(cum[0] - cum[1])))
    parts["sku_shares"] = {
        "statistic": "KS distance of SKU shares over ranks", "value": ks,
        "tolerance": f"<= {tol['sku_ks']}", "ok": ks <= tol["sku_ks"],
        "why": "SKU popularity is not a Zipf law (a fitted exponent cannot follow the head "
        "and the tail at once)",
    }  # fmt: skip
    worst_rel, worst_what = 0.0, ""
    sim_orders = pd.concat([o for o, _ in sims])
    for ch in obs_orders["channel"].unique():
        pairs = (
            ("lines per order", obs_orders[obs_orders["channel"] == ch]["lines"],
             sim_orders[sim_orders["channel"] == ch]["lines"]),
            ("units per line", obs_lines[obs_lines["channel"] == ch]["quantity"],
             sim_lines[sim_lines["channel"] == ch]["quantity"]),
        )  # fmt: skip
        for what, a, b in pairs:
            if len(a) and len(b):
                rel = abs(float(b.mean()) - float(a.mean())) / float(a.mean())
                if rel > worst_rel:
                    worst_rel, worst_what = rel, f"{ch}: {what}"
    parts["order_sizes"] = {
        "statistic": "relative difference of mean lines per order and units per line "
        "(worst channel)", "value": worst_rel, "where": worst_what,
        "tolerance": f"<= {tol['size_rel']}", "ok": worst_rel <= tol["size_rel"],
        "why": f"{worst_what}: the simulated mean differs from the history's",
    }  # fmt: skip
    for p in parts.values():
        if p["ok"]:
            p["why"] = ""
    return {"seeds": seeds, "parts": parts, "ok": all(p["ok"] for p in parts.values())}
