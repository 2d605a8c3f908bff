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
from sim.tools.outdir import syncsim_files
from sim.tools.results import confidence_interval

__all__ = [
    "METRICS",
    "ReportError",
    "ResultsData",
    "business_frame",
    "load_results",
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
    ("accepted_value", "accepted value", "max"),
)

PLOTS = ("outcomes", "lag_cdf", "divergence", "load_vs_lag", "backlog", "business")


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
    if runs["scenario"].nunique() > 1:  # several scenarios: label each strategy by scenario
        for frame in (data.runs, data.timeseries, data.lags):
            if not frame.empty:
                frame["strategy"] = frame["scenario"].astype(str) + ":" + frame["strategy"]
    return data


_TS_COLS = ["scenario", "strategy", "seed", "t", "channel", "series", "value"]
_LAG_COLS = ["scenario", "strategy", "seed", "channel", "n", "q", "lag_s"]


def winners_frame(runs: pd.DataFrame, floors: Sequence[str] = FLOORS) -> pd.DataFrame:
    """Per metric: mean per strategy (with the 95% CI half-width) and the winner(s): the
    strategies whose mean is best in the metric's direction (ties share the win). ``floors``
    (``oracle``: the system of record shown instantly; ``perfect``: the physical truth shown
    instantly; no integration can reach either) are shown but not ranked when other
    strategies are there."""
    names = list(dict.fromkeys(runs["strategy"]))
    ranked = [n for n in names if n not in floors] or names
    rows = []
    for metric, label, direction in METRICS:
        if metric not in runs.columns:
            continue
        stats: dict[str, tuple[float, float]] = {}
        for n in names:
            x = runs.loc[runs["strategy"] == n, metric].to_numpy(float)
            x = x[~np.isnan(x)]
            if x.size:
                lo, hi = confidence_interval(x)
                stats[n] = (float(x.mean()), float(hi - lo) / 2)
        if not stats:
            continue
        means = {n: m for n, (m, _) in stats.items() if n in ranked}
        if not means:
            continue
        best = min(means.values()) if direction == "min" else max(means.values())
        tol = 1e-9 * max(1.0, abs(best))
        win = [n for n, m in means.items() if abs(m - best) <= tol]
        row: dict[str, Any] = {
            "metric": metric,
            "label": label,
            "better": "lower" if direction == "min" else "higher",
        }
        for n in names:
            row[n] = stats.get(n, (float("nan"), 0.0))[0]
            row[f"{n} ±"] = stats.get(n, (0.0, float("nan")))[1]
        row["winner"] = ", ".join(win) if len(win) < len(means) or len(win) == 1 else "(tie)"
        rows.append(row)
    return pd.DataFrame(rows)


def business_frame(runs: pd.DataFrame, costs: dict[str, Costs]) -> pd.DataFrame:
    """Per strategy (mean over replications): oversell cost, lost revenue and margin,
    manual reconciliation hours and their cost, and the total."""
    rows = []
    for _, r in runs.iterrows():
        c = costs.get(str(r["scenario"]), Costs())
        oversold = float(r.get("oversold_lines", 0.0))
        lost = float(r.get("lost_sale_value", 0.0))
        hours = oversold * c.reconciliation_minutes_per_line / 60.0
        rows.append(
            {
                "strategy": r["strategy"],
                "oversold_lines": oversold,
                "oversell_cost": oversold * c.oversell_cost_per_line,
                "lost_revenue": lost,
                "lost_margin": lost * c.lost_margin_rate,
                "reconciliation_hours": hours,
                "reconciliation_cost": hours * c.hourly_rate,
            }
        )
    per_run = pd.DataFrame(rows)
    out = per_run.groupby("strategy", sort=False).mean()
    out["total_cost"] = out["oversell_cost"] + out["lost_margin"] + out["reconciliation_cost"]
    return out


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
    # perfect is a floor too (the plot leaves one out of the front, the oracle): with no ERP
    # call and no lag it would be the whole Pareto front, so it is not drawn there
    real = data.runs[data.runs["strategy"] != "perfect"]
    figs["load_vs_lag"] = plots.load_vs_lag(real if not real.empty else data.runs)
    currency = next(iter(data.costs.values())).currency if data.costs else "USD"
    figs["business"] = plots.business(business_frame(data.runs, data.costs), currency)
    rendered = {name: (plots.png_bytes(fig), plots.series_count(fig)) for name, fig in figs.items()}
    return {n: rendered[n] for n in PLOTS if n in rendered}, skipped


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
    "business": "Oversell handling, lost margin and manual reconciliation, per run.",
}


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "-"
    if x != 0 and abs(x) < 0.01:
        return f"{x:.2e}"
    return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.0f}"


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
            txt = _fmt(r[n])
            if r[f"{n} ±"] > 0:
                txt += f" ± {_fmt(r[f'{n} ±'])}"
            strong = n in str(r["winner"]).split(", ")
            cells.append(f"<td>{'<b>' if strong else ''}{txt}{'</b>' if strong else ''}</td>")
        body.append(
            f"<tr><td>{esc(r['label'])}</td><td>{r['better']}</td>{''.join(cells)}"
            f"<td>{esc(str(r['winner']))}</td></tr>"
        )
    biz = business_frame(runs, data.costs)
    currency = next(iter(data.costs.values())).currency if data.costs else "USD"
    biz_cols = [
        ("oversold_lines", "oversold lines"),
        ("oversell_cost", f"oversell cost ({currency})"),
        ("lost_revenue", f"lost revenue ({currency})"),
        ("lost_margin", f"lost margin ({currency})"),
        ("reconciliation_hours", "manual reconciliation (hours)"),
        ("reconciliation_cost", f"reconciliation cost ({currency})"),
        ("total_cost", f"total ({currency})"),
    ]
    biz_rows = "".join(
        f"<tr><td>{esc(str(s))}</td>" + "".join(f"<td>{_fmt(row[c])}</td>" for c, _ in biz_cols)
        + "</tr>"
        for s, row in biz.iterrows()
    )  # fmt: skip
    real = biz.drop(index=list(FLOORS), errors="ignore")  # the floors are not candidates
    cheapest = str((real if not real.empty else biz)["total_cost"].idxmin())
    costs_txt = "; ".join(
        f"{sid}: {c.oversell_cost_per_line:g} per oversold line, margin "
        f"{c.lost_margin_rate:.0%}, {c.reconciliation_minutes_per_line:g} min per line at "
        f"{c.hourly_rate:g}/h"
        for sid, c in data.costs.items()
    )
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
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>syncsim report: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }} figure {{ margin: 1.5em 0; }} figcaption {{ color: #555; }}
</style></head><body>
<h1>syncsim report</h1>
<p>Scenario(s): <b>{esc(", ".join(map(str, runs["scenario"].unique())))}</b>;
strategies: {esc(", ".join(names))}; seeds: {esc(", ".join(map(str, seeds)))}
({runs.groupby("strategy").size().min()} replication(s) per strategy);
faults: {esc(fault_txt)}.<br>
Command: <code>{esc(" ".join(map(str, m.get("command", []))))}</code>;
git commit {esc(str(m.get("git_commit")))}; created {esc(str(m.get("created")))}.</p>
<h2>Summary: the winner per metric</h2>
<p>Mean over replications (± half-width of the 95% confidence interval); the best mean in
the metric's direction is in bold. A winner on overlapping intervals is not significant.
The floors no integration can reach are shown, not ranked: oracle (the system of record,
shown instantly) and perfect (the physical truth, shown instantly).</p>
<table>{"".join(head)}{"".join(body)}</table>
<h2>Business view</h2>
<p>Per run, from the scenario's cost parameters ({esc(costs_txt)}). Lowest total
(floors aside): <b>{esc(cheapest)}</b>. Manual reconciliation counts the oversold lines.</p>
<table><tr><th>strategy</th>{"".join(f"<th>{esc(lbl)}</th>" for _, lbl in biz_cols)}</tr>
{biz_rows}</table>
<h2>Plots</h2>
{"".join(figs)}
</body></html>
"""


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
