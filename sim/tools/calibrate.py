"""``syncsim calibrate``: a distributor's own order history, catalogue and stock snapshot,
returns and measured latencies fitted into a validated scenario, with a report of how well
each part fits and a back-test (docs/calibrate.md says what is fitted and what is assumed).

Input, all local: an order history (CSV or Parquet, one row per order line) in one of the
``FORMATS`` (``generic``, ``shopify``, ``amazon``, ``erp``) or a mapping file
(``mapping_of``); optionally a snapshot (``read_snapshot``: sku, location, on_hand[, name,
price]), returns (``read_returns``) and measured latencies (``read_latencies``). Customer
columns are never read.

What is fitted (on the model syncsim simulates, so the fit is what a run will use):

- per channel, the base ``orders_per_hour`` and an ``hour_of_week`` profile: a
  multiplicative daily x weekly model or a free rate per slot, whichever has the lower AIC
  (``_week_model``);
- ``demand.peaks``: declared (``--peak``) and detected days (``_peak_days``: at least
  ``PEAK_RATIO`` x expected at p < ``PEAK_ALPHA`` / days), each with its multiplier;
- ``lines_law`` and ``units_law`` per channel: the empirical laws (``_count_law``);
- the catalogue file: SKU codes by popularity rank, names and prices from the snapshot, and
  shares run-wide and per channel, unsold SKUs sharing the Good-Turing mass along a Zipf
  tail (``_shares_with_tail``);
- the initial stock from the snapshot, return rates per channel (``_fit_returns``) and
  latencies as ``dist = "empirical"`` samples.

Everything else comes from the base scenario (``--base``, default ``peak_week``), whose
channel and location names the data must use. The scenario's start and duration are the
history's window in whole days.

Output folder (``write_calibration``; the same rules as every results folder):
``scenario.toml``, ``catalogue.csv``, ``stock.csv`` (with a snapshot), ``sku_map.csv``,
``calibration.json``, ``calibration.html`` and its PNGs, and the history for trace-driven
replay: ``trace.parquet`` and ``replay.toml``. ``backtest`` simulates the fitted order
stream and tests it against the history with ``BACKTEST_TOLERANCES``.
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

from sim.business import CatalogueFile
from sim.scenario import ScenarioError, find_scenario, read_raw, validate_raw
from sim.schema import Scenario

__all__ = [
    "BACKTEST_TOLERANCES",
    "FORMATS",
    "Calibration",
    "CalibrationError",
    "backtest",
    "calibrate",
    "check_skus",
    "mapping_of",
    "read_history",
    "read_latencies",
    "read_returns",
    "read_snapshot",
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


def _read_any(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise CalibrationError(f"{path}: file not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        tab = path.suffix.lower() in (".txt", ".tsv")
        return pd.read_csv(path, sep="\t" if tab else ",", dtype=str, keep_default_na=False)
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


def check_skus(path: Path, history: pd.DataFrame, snapshot: pd.DataFrame, fmt: str) -> None:
    """With a snapshot, every SKU of the history must be in it: an order line of an unknown
    SKU is a mapping error (a code typed differently, a SKU missing from the export)."""
    column = str(mapping_of(fmt)["sku"])
    unknown = ~history["sku"].isin(set(snapshot["sku"]))
    _row_error(path, history.rename(columns={"sku": column}), unknown, column,
               "a SKU the snapshot does not list")  # fmt: skip


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
    trace: pd.DataFrame | None = None  # the history, for replay
    catalogue: pd.DataFrame | None = None  # catalogue.csv: code, name, price, shares
    stock: pd.DataFrame | None = None  # stock.csv: sku, location, on_hand

    def catalogue_file(self) -> CatalogueFile | None:
        """The catalogue as ``catalogue.csv`` will give it to a run (without writing it)."""
        if self.catalogue is None:
            return None
        cat = self.catalogue
        return CatalogueFile(
            codes=tuple(cat["code"].astype(str)),
            names=tuple(cat["name"].fillna("").astype(str)) if "name" in cat else None,
            prices=cat["price"].to_numpy(float) if "price" in cat else None,
            shares={
                str(c).removeprefix("share").removeprefix(":"): cat[c].to_numpy(float)
                for c in cat.columns if str(c) == "share" or str(c).startswith("share:")
            },
        )  # fmt: skip


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


def _ipf(y: np.ndarray, exposure: np.ndarray, weekly: bool) -> np.ndarray:
    """Mean counts per hour-of-week slot (7 x 24) under the Poisson model rate = w[day] x
    d[hour], by iterative proportional fitting (its maximum-likelihood estimate); ``y`` and
    ``exposure`` are counts and hours per slot. Without ``weekly`` w is flat."""
    w, d = np.ones(7), np.ones(24)
    for _ in range(50):
        d = np.divide(y.sum(0), (exposure * w[:, None]).sum(0), out=np.zeros(24),
                      where=(exposure * w[:, None]).sum(0) > 0)  # fmt: skip
        if weekly:
            w = np.divide(y.sum(1), (exposure * d[None, :]).sum(1), out=np.ones(7),
                          where=(exposure * d[None, :]).sum(1) > 0)  # fmt: skip
    return np.outer(w, d)


def _loglik(y: np.ndarray, mu: np.ndarray) -> float:
    """Poisson log-likelihood of hourly counts ``y`` with means ``mu`` (up to a constant)."""
    pos = mu > 0
    if np.any(y[~pos] > 0):
        return -math.inf
    return float(np.sum(y[pos] * np.log(mu[pos]) - mu[pos]))


@dataclass
class _Hours:
    """The history on its hourly grid: per channel the orders in each hour of the window, each
    hour's hour-of-week slot, and which hours are peaks."""

    start: pd.Timestamp
    slot: np.ndarray  # hour i -> slot (Monday 00:00 = 0)
    counts: dict[str, np.ndarray]
    peak: np.ndarray  # bool per hour

    @property
    def total(self) -> np.ndarray:
        return np.sum(list(self.counts.values()), axis=0)


def _week_model(hours: _Hours, y: np.ndarray, full_week: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """One channel's hour-of-week weights (168, mean 1) fitted outside peaks: the
    multiplicative daily x weekly model or a free rate per slot, whichever has the lower AIC
    (a free slot rate needs every slot seen twice); and the model choice."""
    off = ~hours.peak
    per = np.bincount(hours.slot[off], weights=y[off], minlength=168).reshape(7, 24)
    exposure = np.bincount(hours.slot[off], minlength=168).reshape(7, 24).astype(float)
    mult = _ipf(per, exposure, full_week).ravel()
    k_mult = 30 if full_week else 24
    aic = {"multiplicative": 2 * k_mult - 2 * _loglik(y[off], mult[hours.slot[off]])}
    weights = mult
    if full_week and exposure.min() >= 2:
        free = (per / exposure).ravel()
        aic["per_slot"] = 2 * 168 - 2 * _loglik(y[off], free[hours.slot[off]])
        if aic["per_slot"] < aic["multiplicative"]:
            weights = free
    if weights.mean() <= 0:
        weights = np.ones(168)
    chosen = min(aic, key=lambda k: aic[k])
    return weights / weights.mean(), {"model": chosen, "aic": aic}


def _peak_days(
    hours: _Hours, weights: dict[str, np.ndarray], rates: dict[str, float], flagged: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Days whose pooled order count is far above the model: at least PEAK_RATIO times the
    expected count and a Poisson upper-tail p below PEAK_ALPHA / days (Bonferroni)."""
    from scipy.stats import poisson

    mu = sum(rates[c] * weights[c][hours.slot] for c in weights)
    n_days = hours.slot.size // 24
    obs = hours.total[: n_days * 24].reshape(n_days, 24).sum(1)
    exp = np.asarray(mu)[: n_days * 24].reshape(n_days, 24).sum(1)
    p = poisson.sf(obs - 1, np.maximum(exp, 1e-9))
    return flagged | ((obs >= PEAK_RATIO * exp) & (p < PEAK_ALPHA / max(1, n_days)))


#: a day is a detected peak if its orders are >= PEAK_RATIO x expected, at p < PEAK_ALPHA/days
PEAK_RATIO = 1.3
PEAK_ALPHA = 0.01


_Rates = tuple[dict[str, np.ndarray], dict[str, float], list[dict[str, Any]], dict[str, Any]]


def _fit_rates(
    hours: _Hours, full_week: bool, declared: list[tuple[float, float]], detect: bool
) -> _Rates:
    """Per channel hour-of-week weights and base rate (orders per hour outside peaks), and
    the peaks (declared, plus detected days when there are two weeks of history)."""
    n_hours = hours.slot.size
    t0 = np.arange(n_hours) * HOUR
    declared_mask = np.zeros(n_hours, bool)
    for a, b in declared:
        declared_mask |= (t0 >= a) & (t0 < b)
    n_days = n_hours // 24
    days = np.zeros(n_days, bool)
    can_detect = detect and n_days >= 14
    choice: dict[str, Any] = {}
    for _ in range(6):
        hours.peak = declared_mask | np.repeat(days, 24)[:n_hours] if n_days else declared_mask
        weights, rates = {}, {}
        for c, y in hours.counts.items():
            weights[c], choice[c] = _week_model(hours, y, full_week)
            off = ~hours.peak
            expected = weights[c][hours.slot[off]].sum()
            rates[c] = float(y[off].sum() / expected) if expected > 0 else 0.0
        if not can_detect:
            break
        new = _peak_days(hours, weights, rates, days)
        if np.array_equal(new, days):
            break
        days = new
    spans = list(declared)
    run_start = None
    for i, flag in enumerate([*days.tolist(), False]):
        if flag and run_start is None:
            run_start = i
        elif not flag and run_start is not None:
            spans.append((run_start * 86_400.0, i * 86_400.0))
            run_start = None
    mu = sum(rates[c] * weights[c][hours.slot] for c in weights)
    peaks = []
    for a, b in sorted(spans):
        sel = (t0 >= a) & (t0 < b)
        exp = float(np.asarray(mu)[sel].sum())
        obs = float(hours.total[sel].sum())
        if exp > 0 and sel.any():
            peaks.append({"start": a, "duration": b - a, "multiplier": max(obs / exp, 1e-3),
                          "declared": (a, b) in declared})  # fmt: skip
    return weights, rates, peaks, choice


def _count_law(values: np.ndarray) -> dict[str, Any]:
    """An empirical law of whole numbers (the TOML table of ``sim.schema.CountLaw``)."""
    v, n = np.unique(values, return_counts=True)
    return {"values": [int(x) for x in v], "weights": [int(x) for x in n]}


def _shares_with_tail(counts: np.ndarray, n_sku: int) -> tuple[np.ndarray, float]:
    """Popularity weights over ``n_sku`` SKUs from line counts of the first ``counts.size``
    (sorted by the catalogue's rank, zeros allowed): the observed shares scaled by 1 - p0,
    and p0, the Good-Turing estimate of the unseen SKUs' mass (the share of SKUs sold
    exactly once), spread over the unseen SKUs by the Zipf law fitted to the seen counts,
    continued past the last seen rank."""
    full = np.zeros(n_sku)
    full[: counts.size] = counts
    seen = full > 0
    n = full.sum()
    unseen = np.flatnonzero(~seen)
    if unseen.size == 0 or n == 0:
        return full / max(n, 1.0), 0.0
    p0 = min(0.5, float(np.sum(full == 1)) / n)
    out = full / n * (1 - p0)
    if p0 > 0:
        s = _zipf_mle(np.sort(full[seen])[::-1])
        ranks = seen.sum() + np.arange(1, unseen.size + 1, dtype=float)
        tail = ranks**-s
        out[unseen] = p0 * tail / tail.sum()
    return out, p0


def _parse_peak(text: str, start: pd.Timestamp) -> tuple[float, float]:
    """``--peak WHEN[/DURATION]`` (an ISO date or time; a duration, default 1d) as seconds
    since the window's start."""
    from sim.dists import parse_duration

    when, _, length = text.partition("/")
    at = pd.to_datetime(when.strip(), errors="coerce")
    if pd.isna(at):
        raise CalibrationError(f"--peak {text}: expected DATE[/DURATION], e.g. 2026-11-27/2d")
    try:
        dur = parse_duration(length.strip() or "1d")
    except (TypeError, ValueError):
        raise CalibrationError(
            f"--peak {text}: {length!r} is not a duration (e.g. 2d, 36h)"
        ) from None
    a = (at.tz_localize(None) if at.tzinfo else at) - start
    return a.total_seconds(), a.total_seconds() + dur


def calibrate(
    history: pd.DataFrame,
    base: str = "peak_week",
    latencies: pd.DataFrame | None = None,
    name: str = "calibrated",
    *,
    snapshot: pd.DataFrame | None = None,
    returns: pd.DataFrame | None = None,
    peaks: list[str] | None = None,
    detect_peaks: bool = True,
) -> Calibration:
    """Fit ``history`` (``read_history``'s frame) into a scenario built on ``base``, with a
    stock ``snapshot`` (``read_snapshot``), ``returns`` (``read_returns``) and declared
    ``peaks`` (``WHEN[/DURATION]``) when given."""
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
    n_hours = days * 24
    secs = (t - start).dt.total_seconds().to_numpy()
    orders = history.assign(s=secs).groupby(["channel", "order_id"], sort=False).agg(
        s=("s", "min"), lines=("sku", "size")
    ).reset_index()  # fmt: skip
    grid = start + pd.to_timedelta(np.arange(n_hours), unit="h")
    slot = np.asarray(grid.day_of_week * 24 + grid.hour, np.int64)
    hour_of = np.minimum((orders["s"].to_numpy() // HOUR).astype(np.int64), n_hours - 1)
    hours = _Hours(
        start, slot,
        {str(c): np.bincount(hour_of[(orders["channel"] == c).to_numpy()], minlength=n_hours)
         .astype(float) for c in orders["channel"].unique()},
        np.zeros(n_hours, bool),
    )  # fmt: skip
    full_week = days >= 7
    declared = [_parse_peak(p, start) for p in peaks or ()]
    weights, rates, peak_list, choice = _fit_rates(hours, full_week, declared, detect_peaks)
    if sum(rates.values()) == 0:
        raise CalibrationError("history: no orders inside the window")
    fitted: dict[str, Any] = {"channels": {}, "peaks": peak_list}
    for ch, g in orders.groupby("channel", sort=False):
        lines = history[history["channel"] == ch]
        fitted["channels"][str(ch)] = {
            "orders_per_hour": rates[str(ch)],
            "lines_per_order": float(g["lines"].mean()),
            "units_per_line": float(lines["quantity"].mean()),
            "hour_of_week_model": choice[str(ch)]["model"],
        }
    # the pooled hour-of-week counts against the fitted model (peaks included)
    mu = np.asarray(sum(rates[c] * weights[c][slot] for c in weights), float)
    t0 = np.arange(n_hours) * HOUR
    for p in peak_list:
        mu = np.where(
            (t0 >= p["start"]) & (t0 < p["start"] + p["duration"]), mu * p["multiplier"], mu
        )
    counts = np.bincount(slot, weights=hours.total, minlength=168)
    model = np.bincount(slot, weights=mu, minlength=168)
    exposure = np.bincount(slot, minlength=168).astype(float)
    # each hour of the window against its fitted mean (a peak the model lacks shows here)
    obs_h = hours.total
    sel = mu >= 5
    if sel.sum() >= 2:
        pearson = chisquare(obs_h[sel], mu[sel] * obs_h[sel].sum() / mu[sel].sum())
        chi2, p_value = float(pearson.statistic), float(pearson.pvalue)
    else:  # too little history for a test
        chi2, p_value = math.nan, math.nan
    sel_s = model > 0
    hourly = {
        "chi2": chi2, "p_value": p_value, "hours": int(sel.sum()), "weekly_fitted": full_week,
        "mean_abs_rel_error": float(
            np.mean(np.abs(counts[sel_s] - model[sel_s]) / model[sel_s])
            if sel_s.any() else math.nan
        ),
        "models": choice, "peak_detection": detect_peaks and days >= 14,
    }  # fmt: skip
    # the catalogue: SKUs by lines sold (rank order), then SKUs only in the snapshot
    sold = history.groupby("sku")["quantity"].size().sort_values(ascending=False, kind="stable")
    codes = list(sold.index)
    if snapshot is not None:
        known = set(codes)
        codes += [c for c in dict.fromkeys(snapshot["sku"]) if c not in known]
    n_sku = len(codes)
    zipf = _zipf_mle(sold.to_numpy(float))
    ranks = np.arange(1, sold.size + 1, dtype=float)
    law = ranks**-zipf / np.sum(ranks**-zipf)
    ks = float(np.max(np.abs(np.cumsum(sold.to_numpy(float)) / sold.sum() - np.cumsum(law))))
    catalogue = pd.DataFrame({"code": codes})
    if snapshot is not None:
        first = snapshot.drop_duplicates("sku").set_index("sku")
        if "name" in first.columns:
            catalogue["name"] = catalogue["code"].map(first["name"]).fillna("")
        if "price" in first.columns and first["price"].notna().any():
            # a SKU without a price gets the median price
            price = catalogue["code"].map(first["price"]).astype(float)
            catalogue["price"] = price.fillna(float(first["price"].median()))
    catalogue["share"], p0_all = _shares_with_tail(sold.to_numpy(float), n_sku)
    tails = {"": p0_all}
    for ch, g in history.groupby("channel", sort=False):
        per = g.groupby("sku").size().reindex(codes, fill_value=0).to_numpy(float)
        catalogue[f"share:{ch}"], tails[str(ch)] = _shares_with_tail(per, n_sku)
    sku_map = pd.DataFrame(
        {"sku": sold.index, "rank": np.arange(1, sold.size + 1),
         "lines": sold.to_numpy(), "share": sold.to_numpy() / sold.sum()}
    )  # fmt: skip
    fit: dict[str, Any] = {
        "window": {"start": start.isoformat(), "days": days, "lines": len(history),
                   "orders": len(orders)},
        "hourly": hourly,
        "popularity": {"skus": n_sku, "sold": int(sold.size), "zipf": zipf, "ks": ks,
                       "unseen_mass": tails},
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
    pooled = np.bincount(slot[~hours.peak], weights=hours.total[~hours.peak], minlength=168)
    pooled_exp = np.bincount(slot[~hours.peak], minlength=168).reshape(7, 24).astype(float)
    prof = _ipf(pooled.reshape(7, 24), pooled_exp, full_week)
    demand["daily_profile"] = [round(float(x), 6) for x in prof.mean(0) / prof.mean()]
    demand["weekly_profile"] = [round(float(x), 6) for x in prof.mean(1) / prof.mean()]
    demand["peaks"] = [
        {"start": float(p["start"]), "duration": float(p["duration"]),
         "multiplier": round(float(p["multiplier"]), 6)} for p in peak_list
    ]  # fmt: skip
    raw["catalogue"]["skus"] = n_sku
    raw["catalogue"]["zipf"] = round(zipf, 6)
    raw["catalogue"]["file"] = "catalogue.csv"
    if snapshot is not None and "components" in snapshot.columns:
        raw["catalogue"]["bundles"] = _bundles(snapshot, codes)
    for ch_name, values in fitted["channels"].items():
        spec = channels[ch_name]
        spec["orders_per_hour"] = round(values["orders_per_hour"], 6)
        spec["lines_per_order"] = round(max(1.0, values["lines_per_order"]), 6)
        spec["units_per_line"] = round(max(1.0, values["units_per_line"]), 6)
        spec["hour_of_week"] = [round(float(x), 6) for x in weights[ch_name]]
        spec["lines_law"] = _count_law(
            orders[orders["channel"] == ch_name]["lines"].to_numpy(np.int64)
        )
        spec["units_law"] = _count_law(
            history[history["channel"] == ch_name]["quantity"].to_numpy(np.int64)
        )
    raw["channels"] = [channels[n] for n in channels]
    stock = None
    if snapshot is not None:
        locations = [loc["name"] for loc in raw.get("locations", [])]
        bad = sorted(set(snapshot["location"]) - set(locations))
        if bad:
            raise CalibrationError(
                f"snapshot: location {bad[0]!r} is not a location of the base scenario {base} "
                f"({', '.join(locations)}): rename it or choose --base"
            )
        stock = snapshot[["sku", "location", "on_hand"]]
        raw.setdefault("stock", {})["snapshot"] = "stock.csv"
        fit["stock"] = {
            "rows": len(stock), "units": int(stock["on_hand"].sum()),
            "skus_not_stocked": int(n_sku - stock[stock["on_hand"] > 0]["sku"].nunique()),
        }  # fmt: skip
    if returns is not None:
        fit["returns"] = _fit_returns(raw, history, returns)
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
    cal = Calibration(raw, sc, sku_map, fitted, fit, catalogue=catalogue, stock=stock)
    cal.trace = pd.DataFrame(
        {"order_id": history["order_id"].to_numpy(),
         "created": ((t - start).dt.total_seconds()).to_numpy(),
         "channel": history["channel"].to_numpy(),
         "sku": history["sku"].to_numpy(),
         "quantity": history["quantity"].to_numpy(np.int64)}
    )  # fmt: skip
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
    cal.figures = _figures(
        counts, model, exposure, sold.to_numpy(float), law, latencies, sc, orders, history
    )
    return cal


def _fit_returns(
    raw: dict[str, Any], history: pd.DataFrame, returns: pd.DataFrame
) -> dict[str, Any]:
    """Return rates per channel (returned units / sold units of the history's lines) and, when
    the returns have times, the delay from the order to the return, into ``raw``."""
    from scipy.stats import binomtest

    lines = history.groupby(["order_id", "sku"], sort=False).agg(
        channel=("channel", "first"), t=("t", "min"), sold=("quantity", "sum")
    )  # fmt: skip
    joined = returns.join(lines, on=["order_id", "sku"], how="left")
    matched = joined[joined["channel"].notna()]
    sold = history.groupby("channel")["quantity"].sum()
    back = matched.groupby("channel")["quantity"].sum().reindex(sold.index, fill_value=0)
    back = back.clip(upper=sold)
    out: dict[str, Any] = {"rows": len(returns), "unmatched": int(len(joined) - len(matched)),
                           "channels": {}}  # fmt: skip
    spec = raw.setdefault("returns", {})
    spec["enabled"] = True
    rate_tbl = dict(spec.get("rate", {}))
    for ch in sold.index:
        k, n = int(back[ch]), int(sold[ch])
        ci = binomtest(k, n).proportion_ci(0.95)
        rate_tbl[str(ch)] = round(k / n, 6)
        out["channels"][str(ch)] = {"returned": k, "sold": n, "rate": k / n,
                                    "ci95": [float(ci.low), float(ci.high)]}  # fmt: skip
    spec["rate"] = rate_tbl
    if "t_return" in returns.columns and len(matched):
        gap = (
            pd.to_datetime(matched["t_return"]) - pd.to_datetime(matched["t"])
        ).dt.total_seconds()
        delay = gap[gap > 0].to_numpy(float)
        if delay.size >= 2:
            if delay.size > MAX_LATENCY_SAMPLES:
                delay = np.quantile(delay, np.linspace(0, 1, MAX_LATENCY_SAMPLES))
            spec["delay"] = {"dist": "empirical", "samples": [round(float(v), 3) for v in delay],
                             "bins": 50}  # fmt: skip
            out["delay_days_p50"] = float(np.median(delay) / 86_400)
    return out


def _latency(sc: Scenario, system: str) -> Any:
    """The latency law the scenario gives ``system`` (``erp`` or a channel name)."""
    if system == "erp":
        return sc.erp.api.service_time
    return next(ch for ch in sc.channels if ch.name == system).api.latency


def _figures(
    counts: np.ndarray, model: np.ndarray, exposure: np.ndarray, shares: np.ndarray,
    law: np.ndarray, latencies: pd.DataFrame | None, sc: Scenario, orders: pd.DataFrame,
    history: pd.DataFrame,
) -> dict[str, bytes]:  # fmt: skip
    from sim.tools import plots

    out = {}
    fig = plots.figure(width=10.0, height=3.6)
    ax = fig.add_subplot()
    x = np.arange(168)
    per = np.divide(counts, exposure, out=np.zeros(168), where=exposure > 0)
    fitted = np.divide(model, exposure, out=np.zeros(168), where=exposure > 0)
    ax.plot(x, per, ".", label="observed")
    ax.plot(x, fitted, "-", label="fitted (per-channel hour-of-week rates and peaks)")
    ax.set_xlabel("hour of the week (Monday 00:00 = 0)")
    ax.set_ylabel("orders per hour")
    ax.set_title("Arrival rate by hour of the week (mean over the window's weeks)")
    ax.legend()
    out["hourly"] = plots.png_bytes(fig)
    fig = plots.figure(width=6.0, height=4.0)
    ax = fig.add_subplot()
    ranks = np.arange(1, shares.size + 1)
    ax.loglog(ranks, shares / shares.sum(), ".", label="observed")
    ax.loglog(ranks, law, "-", label="fitted Zipf (the tail of unsold SKUs)")
    ax.set_xlabel("SKU rank")
    ax.set_ylabel("share of order lines")
    ax.set_title("SKU popularity (rank-frequency)")
    ax.legend()
    out["popularity"] = plots.png_bytes(fig)
    chans = [str(c) for c in orders["channel"].unique()]
    fig = plots.figure(width=10.0, height=2.6 * len(chans))
    for i, ch in enumerate(chans):
        pairs = (
            ("lines per order", orders[orders["channel"] == ch]["lines"].to_numpy(np.int64)),
            ("units per line", history[history["channel"] == ch]["quantity"].to_numpy(np.int64)),
        )
        for j, (what, v) in enumerate(pairs):
            ax = fig.add_subplot(len(chans), 2, 2 * i + j + 1)
            top = int(min(v.max(), np.quantile(v, 0.995) + 1))
            k = np.arange(1, top + 1)
            obs = np.bincount(np.minimum(v, top), minlength=top + 1)[1:] / v.size
            p = 1.0 / max(1.0, float(v.mean()))
            ax.bar(k, obs, width=0.8, alpha=0.6, label="observed = the empirical law simulated")
            ax.plot(k, p * (1 - p) ** (k - 1), "o-", ms=3, label="geometric with this mean")
            ax.set_title(f"{ch}: {what}", fontsize=9)
            ax.set_yscale("log")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    out["order_sizes"] = plots.png_bytes(fig)
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
{_peaks_html(cal)}
<h2>Goodness of fit</h2><ul>
<li>Each hour's orders against the fitted rate (hour-of-week weights, peaks): Pearson
chi-square {h["chi2"]:.1f} on {h["hours"]} hours with at least 5 expected (p =
{h["p_value"]:.3g}); by hour of the week, mean absolute relative error
{h["mean_abs_rel_error"]:.1%}{"" if h["weekly_fitted"] else "; less than a week of history: weekly profile flat"}.</li>
<li>Hour-of-week model per channel (lower AIC wins; a free rate per slot needs every slot
seen twice): {esc(", ".join(f"{c} {v['model']}" for c, v in h["models"].items()))}.</li>
<li>SKU popularity: {f["popularity"]["sold"]:,} of {f["popularity"]["skus"]:,} SKUs sold; the
simulated shares are the observed ones per channel, with the unsold SKUs' mass estimated by
Good-Turing ({f["popularity"]["unseen_mass"][""]:.2%} run-wide) and spread by the Zipf law
(exponent {f["popularity"]["zipf"]:.3f}, Kolmogorov-Smirnov distance over ranks
{f["popularity"]["ks"]:.3f}).</li>
<li>Lines per order and units per line are simulated from their empirical laws per channel.
Against geometric laws with the same means, chi-square p-values
{esc(", ".join(f"{c} {v['p_value']:.3g}" for c, v in f["lines_per_order"].items()))} (lines);
{esc(", ".join(f"{c} {v['p_value']:.3g}" for c, v in f["units_per_line"].items()))} (units).</li>
</ul>
{f"<h2>Latencies</h2><table><tr><th>system</th><th>field</th><th>samples</th><th>largest relative error of p50/p90/p95/p99</th></tr>{lat}</table>" if lat else ""}
{_stock_returns_html(cal)}
{_backtest_html(cal.backtest)}
{figs}</body></html>"""  # noqa: E501


def _peaks_html(cal: Calibration) -> str:
    peaks = cal.fitted.get("peaks", [])
    h = cal.fit["hourly"]
    if not peaks:
        why = (
            "none detected"
            if h["peak_detection"]
            else "detection needs two weeks of history; declare peaks with --peak"
        )
        return f"<h2>Peaks</h2><p>{why}.</p>"
    start = pd.Timestamp(cal.fit["window"]["start"])
    rows = "".join(
        f"<tr><td>{start + pd.Timedelta(seconds=p['start'])}</td>"
        f"<td>{p['duration'] / 3600:.0f} h</td><td>{p['multiplier']:.2f}</td>"
        f"<td>{'declared' if p['declared'] else 'detected'}</td></tr>"
        for p in peaks
    )
    return (
        "<h2>Peaks</h2><table><tr><th>start</th><th>duration</th><th>multiplier</th>"
        f"<th></th></tr>{rows}</table>"
    )


def _stock_returns_html(cal: Calibration) -> str:
    esc = html.escape
    out = ""
    st = cal.fit.get("stock")
    if st:
        out += (
            f"<h2>Initial stock</h2><p>From the snapshot: {st['rows']:,} rows, "
            f"{st['units']:,} units; {st['skus_not_stocked']:,} SKUs with no stock anywhere.</p>"
        )
    ret = cal.fit.get("returns")
    if ret:
        rows = "".join(
            f"<tr><td>{esc(c)}</td><td>{v['returned']:,}</td><td>{v['sold']:,}</td>"
            f"<td>{v['rate']:.2%} ({v['ci95'][0]:.2%} to {v['ci95'][1]:.2%})</td></tr>"
            for c, v in ret["channels"].items()
        )
        out += (
            f"<h2>Returns</h2><p>{ret['rows']:,} return lines, {ret['unmatched']:,} not matched "
            "to an order line of the history (left out).</p><table><tr><th>channel</th>"
            "<th>units returned</th><th>units sold</th><th>rate (95% interval)</th></tr>"
            f"{rows}</table>"
        )
    return out


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
        if cal.catalogue is not None:
            cal.catalogue.to_csv(tmp / "catalogue.csv", index=False)
        if cal.stock is not None:
            cal.stock.to_csv(tmp / "stock.csv", index=False)
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


def _columns(path: Path, frame: pd.DataFrame, needed: tuple[str, ...], what: str) -> pd.DataFrame:
    """The frame with its columns matched to ``needed`` and optional names case-insensitively
    (``On Hand`` is on_hand); a one-line error naming the missing ones."""
    rename = {c: str(c).strip().lower().replace(" ", "_").replace("-", "_") for c in frame.columns}
    frame = frame.rename(columns=rename).reset_index(drop=True)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise CalibrationError(
            f"{path}: missing column(s) {', '.join(missing)} (a {what} needs {', '.join(needed)})"
        )
    return frame


def read_snapshot(path: Path) -> pd.DataFrame:
    """A catalogue and stock snapshot: CSV or Parquet, a row per SKU and location, with sku
    (the code), location (a location name of the base scenario), on_hand (units >= 0), and
    optionally name and price. A SKU without stock anywhere has a row with on_hand 0."""
    frame = _columns(path, _read_any(path), ("sku", "location", "on_hand"), "snapshot")
    sku = frame["sku"].astype(str).str.strip()
    _row_error(path, frame, sku == "", "sku", "missing SKU")
    loc = frame["location"].astype(str).str.strip()
    _row_error(path, frame, loc == "", "location", "missing location")
    qty = pd.to_numeric(frame["on_hand"], errors="coerce")
    bad = qty.isna() | (qty < 0) | (qty != np.floor(qty.fillna(0)))
    _row_error(path, frame, bad, "on_hand", "expected a whole number >= 0")
    _row_error(path, frame, pd.Series(list(zip(sku, loc, strict=True))).duplicated(), "sku",
               "a second row for this SKU and location")  # fmt: skip
    out = pd.DataFrame({"sku": sku, "location": loc, "on_hand": qty.astype(np.int64)})
    if "name" in frame.columns:
        out["name"] = frame["name"].astype(str)
    if "price" in frame.columns:
        price = pd.to_numeric(frame["price"].replace("", np.nan), errors="coerce")
        text = frame["price"].astype(str).str.strip()
        _row_error(path, frame, (price.isna() & (text != "")) | (price <= 0), "price",
                   "expected a price > 0")  # fmt: skip
        out["price"] = price
    if "components" in frame.columns:  # a bundle or kit: CODE:units;CODE:units
        parts = [_components(t) for t in frame["components"].fillna("").astype(str)]
        _row_error(path, frame, [p is None for p in parts], "components",
                   "expected CODE:units;CODE:units with units >= 1")  # fmt: skip
        out["components"] = pd.Series([p or {} for p in parts], index=out.index, dtype=object)
    return out


def _bundles(snapshot: pd.DataFrame, codes: list[str]) -> list[dict[str, Any]]:
    """The snapshot's bundles as ``catalogue.bundles`` (SKUs by their catalogue rank)."""
    index = {c: i for i, c in enumerate(codes)}
    out = []
    for code, comps in snapshot.drop_duplicates("sku").set_index("sku")["components"].items():
        if isinstance(comps, str):  # a frame not read by ``read_snapshot``
            parsed = _components(comps)
            if parsed is None:
                raise CalibrationError(
                    f"snapshot: bundle {code}: components {comps!r}: "
                    "expected CODE:units;CODE:units with units >= 1"
                )
            comps = parsed
        if not comps:
            continue
        for part in comps:
            if part not in index:
                raise CalibrationError(
                    f"snapshot: bundle {code}: component {part!r} is not a SKU of the "
                    "snapshot or the orders"
                )
        at = {str(index[p]): u for p, u in comps.items()}
        out.append({"sku": index[str(code)], "components": at})
    return out


def _components(text: str) -> dict[str, int] | None:
    """``"A:1;B:2"`` -> {A: 1, B: 2}; "" -> {}; None if malformed."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        code, _, units = part.rpartition(":")
        if not code.strip() or not units.strip().isdigit() or int(units) < 1:
            return None
        out[code.strip()] = int(units)
    return out


def read_returns(path: Path) -> pd.DataFrame:
    """Customer returns: CSV or Parquet, a row per returned line, with order_id and sku (of
    the order history), quantity (units >= 1) and optionally created (when it came back)."""
    frame = _columns(path, _read_any(path), ("order_id", "sku", "quantity"), "returns file")
    qty = pd.to_numeric(frame["quantity"], errors="coerce")
    bad = qty.isna() | (qty < 1) | (qty != np.floor(qty.fillna(0)))
    _row_error(path, frame, bad, "quantity", "expected a whole number >= 1")
    out = pd.DataFrame(
        {"order_id": frame["order_id"].astype(str).str.strip(),
         "sku": frame["sku"].astype(str).str.strip(), "quantity": qty.astype(np.int64)}
    )  # fmt: skip
    if "created" in frame.columns:
        text = frame["created"].astype(str).str.strip()
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
        _row_error(path, frame, parsed.isna(), "created", "not a timestamp")
        out["t_return"] = parsed.dt.tz_convert(None).to_numpy()
    return out


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
    from scipy.stats import chi2 as chi2_dist
    from scipy.stats import ks_2samp

    from sim.trace import synthetic_history

    tol = BACKTEST_TOLERANCES
    obs_orders, obs_lines = _stream(history)
    start = pd.to_datetime(history["t"]).min().floor("D")
    sims = []
    for seed in range(1, seeds + 1):
        sim_h = synthetic_history(cal.scenario, seed, seconds=True, own=cal.catalogue_file())
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
    # the simulated mean has noise of its own: a Poisson count minus the mean of k independent
    # ones has variance mu (1 + 1/k), so the Pearson statistic is scaled by 1 / (1 + 1/k)
    expected = sim_h_mean[sel] * obs_h[sel].sum() / sim_h_mean[sel].sum()
    stat = float(np.sum((obs_h[sel] - expected) ** 2 / expected)) / (1 + 1 / seeds)
    # the rates were fitted to this history: one degree of freedom per fitted parameter of
    # the pooled hourly mean (its hour-of-week shape and each peak's multiplier) is lost
    slots = np.unique((np.flatnonzero(sel) + start.day_of_week * 24 + start.hour) % 168).size
    models = {m["model"] for m in cal.fit["hourly"]["models"].values()}
    shape = slots if "per_slot" in models else min(slots, 24 + (7 if slots >= 168 else 0))
    fitted_params = shape - 1 + len(cal.fitted["peaks"])
    dof = max(1, int(sel.sum()) - 1 - fitted_params)
    p_hourly = float(chi2_dist.sf(stat, dof))
    parts["hourly"] = {
        "statistic": "Pearson chi-square of hourly order counts against the simulated mean "
        "(scaled for the simulation's own noise)",
        "value": p_hourly, "tolerance": f"p >= {tol['hourly_p_value']}",
        "chi2": stat, "dof": dof, "fitted_parameters": fitted_params,
        "ok": bool(p_hourly >= tol["hourly_p_value"]),
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
