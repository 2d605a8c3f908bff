"""``syncsim report RESULTS_DIR``: a self-contained ``report.html`` plus the PNGs.

The report reads only the files of a results directory (``sim.tools.results``): runs,
timeseries, lags and the manifest's per-scenario ``costs``. It writes, next to them:

- one PNG per plot (``sim.tools.plots``): ``outcomes.png``, ``lag_cdf.png``, ``divergence.png``,
  ``load_vs_lag.png``, ``backlog.png``, ``business.png``;
- ``report.html`` with the same PNGs embedded (base64), the summary table with the winner
  per metric, and the business view;
- ``report.json``: per plot its file and the number of series drawn, the winners and the
  business figures, for tools and tests.

Business view, per run, from the scenario's ``[costs]`` table: oversell cost =
``oversold_lines`` x ``oversell_cost_per_line``; lost revenue = ``lost_sale_value`` (what the
refused demand would have paid while the truth had stock), lost margin = lost revenue x
``lost_margin_rate``; manual reconciliation hours = ``oversold_lines`` x
``reconciliation_minutes_per_line`` / 60, priced at ``hourly_rate``. Means over replications.

Files are rendered in memory, written to a temporary directory inside the results directory
and renamed into place, so a failure never leaves a half-written report.
"""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.registry import FLOORS
from sim.schema import Costs
from sim.tools import plots
from sim.tools.alerts import load_alerts
from sim.tools.decide import (
    TOTAL_COST,
    Verdict,
    best_of,
    cost_frame,
    decide,
    domain,
    label_sweep,
    load_verdict,
    response,
    sweep_keys,
    sweep_verdicts,
)
from sim.tools.outdir import syncsim_files
from sim.tools.results import confidence_interval

__all__ = [
    "METRICS",
    "ReportError",
    "ResultsData",
    "business_frame",
    "load_results",
    "response_curves",
    "verdict_of",
    "winners_frame",
    "write_report",
]

Direction = Literal["min", "max"]

# metric, label, which way is better (lower for harm, lag, divergence and load)
METRICS: tuple[tuple[str, str, Direction], ...] = (
    ("oversold_lines", "oversold lines", "min"),
    ("oversold_units", "oversold units", "min"),
    ("oversell_rate", "oversell rate", "min"),
    ("cancelled_lines", "cancelled lines", "min"),
    ("lost_sale_units", "lost-sale units", "min"),
    ("lost_sale_value", "lost-sale value", "min"),
    ("lag_p50_s", "lag p50 (s)", "min"),
    ("lag_p95_s", "lag p95 (s)", "min"),
    ("lag_p99_s", "lag p99 (s)", "min"),
    ("unpropagated_changes", "unpropagated changes", "min"),
    ("divergence_mean_abs", "divergence mean |shown - true|", "min"),
    ("divergence_over_frac", "over-shown fraction", "min"),
    ("divergence_under_frac", "under-shown fraction", "min"),
    ("record_accuracy", "record accuracy", "max"),
    ("erp_calls", "ERP calls", "min"),
    ("erp_rejected_calls", "ERP rejected calls (capacity)", "min"),
    ("erp_unavailable_calls", "ERP calls refused while down", "min"),
    ("erp_utilization", "ERP utilization", "min"),
    ("erp_latency_p95_s", "ERP latency p95 (s)", "min"),
    ("channel_calls", "channel API calls", "min"),
    ("channel_throttled_calls", "channel throttled calls", "min"),
    ("time_to_recovery_s", "time to recovery (s)", "min"),
    ("recovered", "recovered after the faults (share of runs)", "max"),
)

PLOTS = (
    "outcomes",
    "lag_cdf",
    "divergence",
    "load_vs_lag",
    "backlog",
    "signals",
    "business",
)


class ReportError(Exception):
    """The directory is not a (readable) results directory; ``str()`` is one line."""


@dataclass
class ResultsData:
    """The frames of one results directory, strategies labelled per scenario if several."""

    path: Path
    runs: pd.DataFrame
    timeseries: pd.DataFrame
    lags: pd.DataFrame
    manifest: dict[str, Any]
    costs: dict[str, Costs] = field(default_factory=dict)
    sweep: pd.DataFrame | None = None  # a sweep's runs as written (before labelling)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ReportError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None


def load_results(results_dir: Path) -> ResultsData:
    """Read a results directory; ``ReportError`` names what is missing or unreadable."""
    d = Path(results_dir)
    if not d.is_dir():
        raise ReportError(f"{d}: no such directory")
    missing = [f for f in ("runs.parquet", "manifest.json") if not (d / f).is_file()]
    if missing:
        raise ReportError(
            f"{d}: not a results directory (no {' or '.join(missing)}; "
            "syncsim run/compare/chaos write one)"
        )
    try:
        manifest = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"{d / 'manifest.json'}: cannot read: {exc}") from None
    if not isinstance(manifest, dict):
        raise ReportError(f"{d / 'manifest.json'}: expected a JSON object")
    runs = _read_parquet(d / "runs.parquet")
    need = {"scenario", "strategy", "seed"}
    if runs.empty or not need <= set(runs.columns):
        raise ReportError(f"{d / 'runs.parquet'}: no runs (expected columns {sorted(need)})")
    ts_path, lags_path = d / "timeseries.parquet", d / "lags.parquet"
    ts = _read_parquet(ts_path) if ts_path.is_file() else pd.DataFrame(columns=_TS_COLS)
    lags = _read_parquet(lags_path) if lags_path.is_file() else pd.DataFrame(columns=_LAG_COLS)
    costs: dict[str, Costs] = {}
    for sid in runs["scenario"].unique():
        table = manifest.get("costs", {}).get(sid)
        try:
            costs[str(sid)] = Costs.model_validate(table or {})
        except ValueError as exc:
            raise ReportError(f"{d / 'manifest.json'}: costs.{sid}: {exc}") from None
    data = ResultsData(d, runs, ts, lags, manifest, costs)
    if sweep_keys(runs):  # a sweep: every grid value is its own candidate, never pooled
        data.sweep = runs
        data.runs = label_sweep(runs)
        label = dict(zip(data.runs["run_id"], data.runs["strategy"], strict=True))
        for frame in (data.lags,):
            if not frame.empty and "run_id" in frame.columns:
                frame["strategy"] = frame["run_id"].map(label)
    if runs["scenario"].nunique() > 1:  # several scenarios: label each strategy by scenario
        for frame in (data.runs, data.timeseries, data.lags):
            if not frame.empty:
                frame["strategy"] = frame["scenario"].astype(str) + ":" + frame["strategy"]
    return data


_TS_COLS = ["scenario", "strategy", "seed", "t", "channel", "series", "value"]
_LAG_COLS = ["scenario", "strategy", "seed", "channel", "n", "q", "lag_s"]


def winners_frame(runs: pd.DataFrame, floors: Sequence[str] = FLOORS) -> pd.DataFrame:
    """Per metric: mean per strategy with its 95% interval (clipped to the metric's domain;
    none for one replication) and the winner by the decision engine's paired rule
    (``sim.tools.decide.best_of``): the best mean if it is better than every other strategy
    beyond the paired intervals on common seeds; otherwise the strategies that cannot be
    separated from it (``(tie)`` if that is all of them), and ``-`` with one replication.
    ``floors`` (``oracle``: the system of record shown instantly; ``perfect``: the physical
    truth shown instantly; no integration can reach either) are shown but not ranked when
    other strategies are there."""
    names = list(dict.fromkeys(runs["strategy"]))
    ranked = [n for n in names if n not in floors] or names
    rows = []
    for metric, label, direction in METRICS:
        if metric not in runs.columns:
            continue
        stats: dict[str, tuple[float, float, float]] = {}
        for n in names:
            x = runs.loc[runs["strategy"] == n, metric].to_numpy(float)
            x = x[~np.isnan(x)]
            if x.size:
                lo, hi = confidence_interval(x)
                d_lo, d_hi = domain(metric)
                stats[n] = (float(x.mean()), max(lo, d_lo), min(hi, d_hi))
        if not stats:
            continue
        table = runs.pivot_table(index="seed", columns="strategy", values=metric, aggfunc="mean")
        cols = [n for n in ranked if n in table.columns]
        table = table[cols].dropna()
        if table.empty:
            continue
        row: dict[str, Any] = {
            "metric": metric,
            "label": label,
            "better": "lower" if direction == "min" else "higher",
        }
        for n in names:
            mean, lo, hi = stats.get(n, (float("nan"), float("nan"), float("nan")))
            row[n], row[f"{n} low"], row[f"{n} high"] = mean, lo, hi
        if table.shape[0] < 2:
            row["winner"] = "-"
        else:
            best, significant, tied = best_of(table, direction)
            if significant:
                row["winner"] = best
            else:
                row["winner"] = "(tie)" if len(tied) == len(cols) else ", ".join(tied)
        rows.append(row)
    return pd.DataFrame(rows)


def business_frame(runs: pd.DataFrame, costs: dict[str, Costs]) -> pd.DataFrame:
    """Per strategy (mean over replications), per week: oversell cost, lost revenue and
    margin, manual reconciliation hours and their cost, the integration's own cost and the
    total (``sim.tools.decide.cost_frame``, the decision engine's objective)."""
    per_run = cost_frame(runs, costs)
    out = per_run.drop(columns=["scenario", "seed"]).groupby("strategy", sort=False).mean()
    return out.rename(columns={TOTAL_COST: "total_cost"})


def _render(data: ResultsData) -> tuple[dict[str, tuple[bytes, int]], dict[str, str]]:
    """PNG bytes and series count per plot; plots without data get a reason instead."""
    windows = plots.fault_windows(data.runs)
    figs: dict[str, Any] = {"outcomes": plots.outcomes(data.runs)}
    skipped: dict[str, str] = {}
    if data.lags.empty:
        skipped["lag_cdf"] = "no lag samples (lags.parquet missing or empty)"
    else:
        figs["lag_cdf"] = plots.lag_cdf(data.lags)
    if data.timeseries.empty:
        skipped["divergence"] = skipped["backlog"] = "no time series (timeseries.parquet)"
    else:
        calendar = data.manifest.get("calendar", {})
        figs["divergence"] = plots.divergence(data.timeseries, windows, calendar)
        figs["backlog"] = plots.backlog(data.timeseries, windows, calendar)
        if (data.timeseries["series"] == "failed_updates_per_min").any():
            figs["signals"] = plots.signals(data.timeseries, windows, calendar)
        else:
            skipped["signals"] = "no operational signals (results from before syncsim 0.22)"
    alerts = load_alerts(data.path)
    if alerts is not None and alerts.get("runs"):
        figs["alerts"] = plots.alert_timeline(alerts["runs"], data.manifest.get("calendar", {}))
    # perfect is a floor too (the plot leaves one out of the front, the oracle): with no ERP
    # call and no lag it would be the whole Pareto front, so it is not drawn there
    real = data.runs[data.runs["strategy"] != "perfect"]
    figs["load_vs_lag"] = plots.load_vs_lag(real if not real.empty else data.runs)
    currency = next(iter(data.costs.values())).currency if data.costs else "USD"
    figs["business"] = plots.business(business_frame(data.runs, data.costs), currency)
    rendered = {name: (plots.png_bytes(fig), plots.series_count(fig)) for name, fig in figs.items()}
    curves = response_curves(data)
    if curves:
        fig = plots.response(curves, currency)
        rendered["response"] = (plots.png_bytes(fig), plots.series_count(fig))
    return {n: rendered[n] for n in (*PLOTS, "response", "alerts") if n in rendered}, skipped


def response_curves(data: ResultsData) -> dict[str, pd.DataFrame]:
    """A sweep's response curves (``sim.tools.decide.response``): total cost per week and
    oversold lines against each grid key with two or more values; empty for other results."""
    if data.sweep is None:
        return {}
    out = {}
    for key in sweep_keys(data.sweep):
        if data.sweep["sweep." + key].nunique() < 2:
            continue
        for metric in (TOTAL_COST, "oversold_lines"):
            curve = response(data.sweep, key, metric, data.costs)
            if not curve.empty:
                out[f"{key} | {metric}"] = curve
    return out


_CAPTIONS = {
    "outcomes": "Oversold and lost-sale units per strategy (mean over replications, 95% CI).",
    "lag_cdf": "Lag CDF per channel: the fraction of truth changes a channel showed within "
    "x seconds, per strategy.",
    "divergence": "Share of (channel, SKU) pairs shown above / below the truth through time, "
    "each step the mean over its sample interval; demand peaks and fault windows shaded.",
    "load_vs_lag": "ERP calls against lag p95 per strategy; the dashed line is the Pareto "
    "front (no strategy is better on both).",
    "backlog": "What piles up (orders not in the ERP, unposted movements, bus backlog, ERP "
    "queue) and how it drains, each step the mean over its sample interval; demand peaks and "
    "fault windows shaded.",
    "response": "A sweep's response curves: each metric against a grid value, per strategy "
    "(mean and 95% interval); the optimum ringed, filled points cannot be told apart from it "
    "(paired rule on common seeds), hollow ones are worse.",
    "signals": "The monitoring dashboard, run-wide: failed inventory updates, API error "
    "rate, (channel, SKU) pairs off by more than the threshold, drift found by reconcilers "
    "and bus throughput, each step the mean over its sample interval; faults shaded.",
    "alerts": "Alert rules against incidents (syncsim alerts): incidents shaded, a bar "
    "wherever a rule was firing, for the first seed of each strategy.",
    "business": "What each strategy costs per week (mean over replications): oversell "
    "handling, lost margin, manual reconciliation and the integration itself.",
}


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "-"
    if x != 0 and abs(x) < 0.01:
        return f"{x:.2e}"
    return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.0f}"


def verdict_of(data: ResultsData) -> dict[str, Any] | None:
    """The decision engine's verdict for a results directory: its ``verdict.json`` (what
    ``compare`` decided), else the engine run on its runs and costs (one scenario only)."""
    stored = load_verdict(data.path)
    if stored is not None:
        return stored
    if data.sweep is not None:
        try:
            found = sweep_verdicts(data.sweep, costs=data.costs)
        except ValueError:
            return None
        return {"sweep": [{"point": point, **v.to_dict()} for point, v in found]}
    if data.runs["scenario"].nunique() != 1:
        return None
    try:
        v: Verdict = decide(data.runs, costs=data.costs)
    except ValueError:
        return None
    return v.to_dict()


def _money(x: float | None, currency: str) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:,.0f} {currency}"


def _cell(metric: str, x: float) -> str:
    """A number for people: percentages as %, counts without decimals, seconds with s."""
    if not np.isfinite(x):
        return "-"
    if metric.endswith(("_rate", "_frac", "accuracy", "utilization")) or metric == "recovered":
        return f"{x:.2%}" if x >= 0.0001 or x == 0 else f"{x:.4%}"
    if metric.endswith("_s"):
        return f"{x:,.1f} s"
    if metric.endswith("_value"):
        return f"{x:,.0f}"
    return f"{x:,.0f}" if abs(x) >= 10 or float(x).is_integer() else f"{x:,.2f}"


def _sweep_bottom_line(v: dict[str, Any], curves: dict[str, pd.DataFrame]) -> str:
    """A sweep's bottom line: one verdict per point of the scenario's grid, and the optimum
    of each response curve with the values that cannot be told apart from it."""
    esc = html.escape
    parts = ["<h2>Bottom line</h2>"]
    for x in v["sweep"]:
        where = f"At {x['point']}: " if x["point"] else ""
        parts.append(f'<p class="verdict">{esc(where)}{esc(x["summary"])}</p>')
        if x.get("why"):
            parts.append(f"<p>{esc(x['why'])}</p>")
    for title, df in curves.items():
        key, metric = title.split(" | ")
        if not key.startswith("strategies."):
            continue  # a scenario's grid (demand, say) is a condition, not a choice
        for (strategy, rest), g in df.groupby(["strategy", "rest"], sort=False):
            best = g[g["optimum"]]["value"].tolist()
            tied = [t for t in g[g["tied"]]["value"].tolist() if t not in best]
            who = f"{strategy}" + (f" ({rest})" if rest else "")
            sure = (
                "better than every other value beyond the paired intervals"
                if g["significant"].any()
                else "not separable from " + (", ".join(tied) or "-")
            )
            parts.append(
                f"<p>{esc(who)}: {esc(metric)} is best at {esc(key.rsplit('.', 1)[-1])} = "
                f"{esc(', '.join(best))} ({esc(sure)}).</p>"
            )
    if v["sweep"]:
        parts.append(f"<p class='method'>Method: {esc(v['sweep'][0]['method'])}.</p>")
    return "".join(parts)


def _bottom_line(v: dict[str, Any] | None, costs: pd.DataFrame, currency: str) -> str:
    esc = html.escape
    if v is None:
        return (
            "<h2>Bottom line</h2><p>No verdict: these results span several scenarios; "
            "compare one scenario at a time.</p>"
        )
    status = {
        "winner": "Winner",
        "tie": "Tie",
        "no_verdict": "No verdict yet",
        "infeasible": "No feasible strategy",
    }[v["status"]]
    obj = v["objective"]
    parts = [
        "<h2>Bottom line</h2>",
        f'<p class="verdict"><b>{esc(status)}.</b> {esc(v["summary"])}</p>',
    ]
    if v.get("why"):
        parts.append(f"<p>{esc(v['why'])}</p>")
    if v.get("stop_reason"):
        parts.append(f"<p>{esc(v['stop_reason'])}</p>")
    cons = v.get("constraints") or []
    if cons:
        rows = "".join(
            f"<tr><td>{esc(n)}</td><td>{'yes' if f['feasible'] else 'no'}</td>"
            f"<td>{esc('; '.join(f['violations']) or '-')}</td>"
            f"<td>{esc('; '.join(f['uncertain']) or '-')}</td></tr>"
            for n, f in v["feasibility"].items()
        )
        parts.append(
            f"<p>Constraints: {esc(', '.join(cons))}.</p><table><tr><th>strategy</th>"
            f"<th>feasible</th><th>breaks</th><th>interval straddles</th></tr>{rows}</table>"
        )
    unresolved = [
        c for c in v["comparisons"]
        if v["tied"] and v["tied"][0] in (c["a"], c["b"]) and not c["significant"]
        and c.get("needed_replications")
    ]  # fmt: skip
    if unresolved and v["status"] != "winner":
        parts.append(
            "<p>To separate them: "
            + "; ".join(
                f"{esc(c['a'])} vs {esc(c['b'])} needs about {c['needed_replications']} "
                "replications if the mean difference stays as measured"
                for c in unresolved
            )
            + ".</p>"
        )
    if obj["metric"] == TOTAL_COST and not costs.empty:
        est = v.get("estimates", {})
        cols = [
            ("oversell_cost", "oversold lines"),
            ("lost_margin", "lost margin"),
            ("reconciliation_cost", "manual reconciliation"),
            ("allocation_cost", "broken contract allocations"),
            ("integration_cost", "the integration itself"),
        ]
        head = "".join(f"<th>{esc(lbl)}</th>" for _, lbl in cols)
        body = []
        for name, row in costs.iterrows():
            e = est.get(str(name))
            interval = (
                f"{_money(e['low'], currency)} to {_money(e['high'], currency)}"
                if e and e.get("low") is not None
                else "-"
            )
            mark = " (floor)" if name in FLOORS else ""
            strong = str(name) == v.get("winner")
            total = _money(row["total_cost"], currency)
            body.append(
                f"<tr><td>{esc(str(name))}{mark}</td>"
                + "".join(f"<td>{_money(row[c], currency)}</td>" for c, _ in cols)
                + f"<td>{'<b>' if strong else ''}{total}{'</b>' if strong else ''}</td>"
                f"<td>{interval}</td></tr>"
            )
        parts.append(
            f"<p>Total cost per week ({esc(currency)}), mean over the common seeds:</p>"
            f"<table><tr><th>strategy</th>{head}<th>total per week</th>"
            f"<th>95% interval</th></tr>{''.join(body)}</table>"
        )
        if v.get("cost_defaults"):
            parts.append(
                "<p><i>Defaults used (not set in the scenario's [costs] table): "
                f"{esc(', '.join(v['cost_defaults']))}. See docs/decisions.md.</i></p>"
            )
    sup = v.get("supporting") or []
    if sup:
        rows = "".join(
            f"<tr><td>{esc(x['metric'])}</td><td>{'lower' if x['direction'] == 'min' else 'higher'}"
            f"</td><td>{esc(x['best'])}</td><td>{esc(x['value'])}</td><td>"
            + ("significant" if x["significant"] else "tie: " + esc(", ".join(x["tied"])))
            + "</td></tr>"
            for x in sup
        )
        parts.append(
            "<p>Supporting evidence, per metric (same paired rule):</p><table><tr><th>metric"
            "</th><th>better</th><th>best mean</th><th>value</th><th>beyond the intervals?</th>"
            f"</tr>{rows}</table>"
        )
    parts.append(f"<p class='method'>Method: {esc(v['method'])}.</p>")
    return "".join(parts)


def _html(data: ResultsData, pngs: dict[str, tuple[bytes, int]], skipped: dict[str, str]) -> str:
    runs, m = data.runs, data.manifest
    names = list(dict.fromkeys(runs["strategy"]))
    win = winners_frame(runs)
    esc = html.escape
    head = [
        "<tr><th>metric</th><th>better</th>",
        *(f"<th>{esc(n)}</th>" for n in names),
        "<th>winner</th></tr>",
    ]
    body = []
    for _, r in win.iterrows():
        cells = []
        for n in names:
            txt = _cell(r["metric"], r[n])
            lo, hi = r[f"{n} low"], r[f"{n} high"]
            if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
                txt += f"<br><small>{_cell(r['metric'], lo)} to {_cell(r['metric'], hi)}</small>"
            strong = n == r["winner"]
            cells.append(f"<td>{'<b>' if strong else ''}{txt}{'</b>' if strong else ''}</td>")
        body.append(
            f"<tr><td>{esc(r['label'])}</td><td>{r['better']}</td>{''.join(cells)}"
            f"<td>{esc(str(r['winner']))}</td></tr>"
        )
    biz = business_frame(runs, data.costs)
    currency = next(iter(data.costs.values())).currency if data.costs else "USD"
    verdict = verdict_of(data)
    if verdict is not None and "sweep" in verdict:
        bottom = _sweep_bottom_line(verdict, response_curves(data))
    else:
        bottom = _bottom_line(verdict, biz, currency)
    figs = []
    for name, (png, _) in pngs.items():
        b64 = base64.b64encode(png).decode()
        figs.append(
            f'<figure><img alt="{name}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{esc(_CAPTIONS[name])}</figcaption></figure>"
        )
    figs += [f"<p><i>{n}: not drawn, {esc(why)}.</i></p>" for n, why in skipped.items()]
    faults = plots.fault_windows(runs)
    fault_txt = (
        "; ".join(f"{k} {s / 3600:g}h-{e / 3600:g}h" for s, e, k in faults) if faults else "none"
    )
    seeds = sorted(runs["seed"].unique().tolist())
    title = esc(", ".join(map(str, runs["scenario"].unique())))
    per_channel = _per_channel_table(data)
    live = m.get("live")
    live_txt = (
        f"<p><b>Live run</b> (<code>syncsim serve</code>, {live.get('speed', 0):g} simulated "
        f"s per wall s, {live.get('behind_episodes', 0)} falling-behind episode(s)): "
        f"{esc(str(live.get('note', '')).removeprefix('live run: '))}.</p>"
        if isinstance(live, dict)
        else ""
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>syncsim report: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }} figure {{ margin: 1.5em 0; }} figcaption {{ color: #555; }}
.verdict {{ font-size: 1.15em; background: #f3f6fa; padding: 0.6em 0.9em; }}
.method {{ color: #555; font-size: 0.85em; }}
</style></head><body>
<h1>syncsim report: {title}</h1>
<p>Strategies: {esc(", ".join(names))}; seeds: {esc(", ".join(map(str, seeds)))}
({runs.groupby("strategy").size().min()} replication(s) per strategy);
faults: {esc(fault_txt)}.<br>
Command: <code>{esc(" ".join(map(str, m.get("command", []))))}</code>;
git commit {esc(str(m.get("git_commit")))}; created {esc(str(m.get("created")))}.</p>
{live_txt}
{bottom}
{per_channel}
<h2>Every metric</h2>
<p>Mean over replications, with its 95% interval below it (clipped to what the metric can
take; none for one replication). The winner is the best mean only when it is better than
every other strategy beyond the paired intervals on common seeds (the decision engine's
rule); otherwise the strategies that cannot be separated are named, or (tie) if that is
all of them. The floors no integration can reach are shown, not ranked: oracle (the system
of record, shown instantly) and perfect (the physical truth, shown instantly).</p>
<table>{"".join(head)}{"".join(body)}</table>
{_alerts_section(data)}
<h2>Plots</h2>
{"".join(figs)}
</body></html>
"""


def _alerts_section(data: ResultsData) -> str:
    """The ``syncsim alerts`` outcome, if the folder has one: per strategy and rule."""
    doc = load_alerts(data.path)
    if doc is None or not doc.get("summary"):
        return ""
    esc = html.escape
    lead = doc.get("rules", {}).get("incidents", {})
    about = doc.get("rules", {}).get("description")
    rows = []
    for r in doc["summary"]:
        ttd = r.get("ttd_median_s")
        fa = r.get("false_alarms_per_day")
        lo, hi = r.get("false_alarms_per_day_lo"), r.get("false_alarms_per_day_hi")
        fa_txt = "-" if fa is None else f"{fa:.2f}"
        if r.get("seeds", 1) > 1 and lo is not None and hi is not None:
            fa_txt += f"<br><small>{lo:.2f} to {hi:.2f}</small>"
        rows.append(
            f"<tr><td>{esc(str(r['strategy']))}</td><td>{esc(str(r['rule']))}</td>"
            f"<td>{r['incidents']}</td><td>{r['detected']}</td><td>{r['missed']}</td>"
            f"<td>{'-' if ttd is None else f'{ttd / 60:.0f} min'}</td>"
            f"<td>{r['detected_before_start']}</td><td>{fa_txt}</td>"
            f"<td>{100 * r['firing_frac']:.1f}%</td></tr>"
        )
    return (
        f"<h2>Alerts</h2><p>Rules <code>{esc(str(doc.get('rules_file', '')))}</code>"
        f"{': ' + esc(str(about)) if about else ''}."
        " An incident is a window in which a channel oversells "
        f"{esc(str(lead.get('oversold_lines')))} lines within {esc(str(lead.get('window')))} s"
        f" or its mean |shown - true| exceeds {esc(str(lead.get('divergence_mean_abs')))}"
        " units. Time to detect (TTD, median over detected incidents) is the firing time "
        "minus the incident's start: negative means the alert fired before the oversells "
        f"(up to {esc(str(lead.get('lead')))} s ahead counts); a firing that detects nothing "
        "is a false alarm (per simulated day: mean and 95% interval over seeds). Times are "
        "on the sample grid. No rule is ranked here: compare strategies with their "
        "intervals.</p><table><tr><th>strategy</th><th>rule</th><th>incidents</th>"
        "<th>detected</th><th>missed</th><th>TTD</th><th>before start</th>"
        f"<th>false alarms / day</th><th>firing</th></tr>{''.join(rows)}</table>"
    )


_CHANNEL_METRICS = (
    ("oversold_lines", "oversold lines"),
    ("oversell_rate", "oversell rate"),
    ("lost_sale_units", "lost-sale units"),
    ("lag_p95_s", "lag p95"),
    ("divergence_over_frac", "over-shown"),
)


def _per_channel_table(data: ResultsData) -> str:
    """Per channel and strategy, the means of the main sales metrics."""
    path = data.path / "per_channel.parquet"
    if not path.is_file():
        return ""
    pc = _read_parquet(path)
    if pc.empty or "channel" not in pc.columns:
        return ""
    cols = [(k, lbl) for k, lbl in _CHANNEL_METRICS if k in pc.columns]
    order = {n: i for i, n in enumerate(dict.fromkeys(data.runs["strategy"]))}
    means = pc.groupby(["channel", "strategy"], sort=False)[[k for k, _ in cols]].mean()
    order.update({n: i for i, n in enumerate(dict.fromkeys(pc["channel"]))})
    means = means.reset_index().sort_values(["channel", "strategy"], key=lambda c: c.map(order))
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(str(r['channel']))}</td><td>{esc(str(r['strategy']))}</td>"
        + "".join(f"<td>{_cell(k, float(r[k]))}</td>" for k, _ in cols)
        + "</tr>"
        for r in means.to_dict("records")
    )
    head = "".join(f"<th>{esc(lbl)}</th>" for _, lbl in cols)
    return (
        "<h2>Per channel</h2><p>Mean over replications.</p><table><tr><th>channel</th>"
        f"<th>strategy</th>{head}</tr>{rows}</table>"
    )


def write_report(results_dir: Path) -> Path:
    """Render every plot and the HTML for ``results_dir``; returns the report.html path."""
    data = load_results(results_dir)
    pngs, skipped = _render(data)
    page = _html(data, pngs, skipped)
    win = winners_frame(data.runs)
    biz = business_frame(data.runs, data.costs)
    sidecar = {
        "plots": {n: {"file": f"{n}.png", "series": k} for n, (_, k) in pngs.items()},
        "skipped": skipped,
        "winners": dict(zip(win["metric"], win["winner"], strict=True)),
        "business": json.loads(biz.to_json(orient="index")),
        "verdict": verdict_of(data),
    }
    d = data.path
    names = [f"{n}.png" for n in pngs] + ["report.json", "report.html"]
    sidecar["files"] = names
    ours = syncsim_files(d) or set()
    clash = [n for n in names if (d / n).exists() and n not in ours]
    if clash:
        raise ReportError(
            f"{d}: would overwrite {', '.join(clash[:3])}, which syncsim did not write; "
            "move it away first"
        )
    tmp = Path(tempfile.mkdtemp(prefix=".report.", dir=d))
    try:
        for n, (png, _) in pngs.items():
            (tmp / f"{n}.png").write_bytes(png)
        (tmp / "report.json").write_text(json.dumps(sidecar, indent=2))
        (tmp / "report.html").write_text(page)
        for f in sorted(tmp.iterdir(), key=lambda p: p.name == "report.html"):
            os.replace(f, d / f.name)  # report.html last: it is there only if all PNGs are
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return d / "report.html"
