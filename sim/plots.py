"""The report's plots, from the long-format results frames (``sim.results``).

Every function takes frames as read from a results directory and returns a matplotlib
``Figure`` (Agg canvas, never a window); ``series_count(fig)`` counts the labelled series
(lines, bar groups, scatter groups) it shows, which the report records next to each PNG.
Times on the x axes are hours of simulated time since the scenario start; fault windows
(from the runs' ``faults`` column) are shaded.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.results import confidence_interval

__all__ = [
    "BACKLOG_SERIES",
    "backlog",
    "business",
    "divergence",
    "fault_windows",
    "lag_cdf",
    "load_vs_lag",
    "outcomes",
    "pareto_front",
    "png_bytes",
    "series_count",
]

BACKLOG_SERIES = (
    ("orders_backlog", "orders not yet in the ERP"),
    ("postings_backlog", "WMS movements not yet posted (mean per sample)"),
    ("bus_backlog", "bus messages not yet consumed"),
    ("erp_queue", "ERP API calls waiting"),
)
_FAULT_COLOR = "#d62728"


def _figure(rows: int = 1, cols: int = 1, width: float = 9.0, height: float = 4.0) -> Figure:
    fig = Figure(figsize=(width, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def series_count(fig: Figure) -> int:
    """Labelled series over all axes (what a legend would list; fault shading excluded)."""
    return sum(len(ax.get_legend_handles_labels()[1]) for ax in fig.axes)


def _strategies(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["strategy"]))


def _palette(names: Sequence[str]) -> dict[str, str]:
    """One colour per strategy, the same in every plot (order of first appearance)."""
    cycle = [f"C{i}" for i in range(10)]
    return {n: cycle[i % len(cycle)] for i, n in enumerate(names)}


def fault_windows(runs: pd.DataFrame) -> list[tuple[float, float, str]]:
    """Distinct (start, end, kind) fault windows of the runs, in seconds since the start."""
    if "faults" not in runs.columns:
        return []
    seen: dict[tuple[float, float, str], None] = {}
    for text in runs["faults"].dropna():
        for f in json.loads(text):
            seen[(float(f["start"]), float(f["end"]), str(f["kind"]))] = None
    return sorted(seen)


def _shade(ax: Axes, windows: Sequence[tuple[float, float, str]]) -> None:
    for start, end, _kind in windows:
        ax.axvspan(start / 3600, end / 3600, color=_FAULT_COLOR, alpha=0.12, label="_fault")


def _fault_note(ax: Axes, windows: Sequence[tuple[float, float, str]]) -> None:
    if windows:
        kinds = ", ".join(dict.fromkeys(k for *_, k in windows))
        ax.text(
            0.01, 0.97, f"shaded: faults ({kinds})", transform=ax.transAxes, va="top",
            fontsize=8, color=_FAULT_COLOR,
        )  # fmt: skip


def _mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and the half-width of its 95% interval (0 with one replication)."""
    x = values.to_numpy(float)
    lo, hi = confidence_interval(x.tolist())
    return float(np.nanmean(x)), float((hi - lo) / 2) if np.isfinite(hi) else 0.0


def outcomes(runs: pd.DataFrame) -> Figure:
    """Oversold and lost-sale units per strategy, one panel each (their scales differ):
    mean over replications with 95% CIs (clipped at zero: units are never negative)."""
    fig = _figure(1, 2, width=11.0, height=4.0)
    names = _strategies(runs)
    colors = _palette(names)
    n = runs.groupby("strategy").size().min()
    for k, (metric, label) in enumerate(
        (("oversold_units", "oversold units"), ("lost_sale_units", "lost-sale units"))
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        stats = [_mean_ci(runs.loc[runs["strategy"] == s, metric]) for s in names]
        means = np.array([m for m, _ in stats])
        errs = np.array([e for _, e in stats])
        ax.bar(
            names, means, yerr=[np.minimum(errs, means), errs], capsize=4, label=label,
            color=[colors[s] for s in names],
        )  # fmt: skip
        ax.set_title(label)
        ax.set_ylabel("units per run (mean, 95% CI)")
        ax.tick_params(axis="x", rotation=20)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"What the customers felt: oversold vs lost-sale units ({n} replication(s))")
    return fig


def lag_cdf(lags: pd.DataFrame) -> Figure:
    """Lag CDF per channel (one panel each), one line per strategy; quantile grids are
    averaged over replications (Vincentized)."""
    channels = sorted(c for c in lags["channel"].unique() if c != "*")
    if not channels:
        channels = ["*"]
    cols = 2 if len(channels) > 1 else 1
    rows = int(np.ceil(len(channels) / cols))
    fig = _figure(rows, cols, width=11.0, height=3.6)
    names = _strategies(lags)
    colors = _palette(names)
    for i, ch in enumerate(channels):
        ax = fig.add_subplot(rows, cols, i + 1)
        sub = lags[lags["channel"] == ch]
        for name in names:
            g = sub[sub["strategy"] == name]
            if g.empty:
                continue
            q = g.groupby("q")["lag_s"].mean()
            ax.step(
                np.maximum(q.to_numpy(), 0.1),
                q.index.to_numpy(),
                where="post",
                label=name,
                color=colors[name],
            )
        ax.set_xscale("log")
        ax.set_xlabel("lag, seconds (log; 0 drawn at 0.1)")
        ax.set_ylabel("fraction of changes")
        ax.set_title(f"channel {ch}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("How long a change of truth takes to show on a channel (lag CDF)")
    return fig


def _run_mean(ts: pd.DataFrame, series: str) -> pd.DataFrame:
    """Mean over seeds of one run-wide series: index t, one column per strategy. A series
    sampled only per channel is averaged over the channels first."""
    sub = ts[ts["series"] == series]
    wide = sub[sub["channel"] == "*"]
    if wide.empty:
        wide = sub.groupby(["strategy", "seed", "t"])["value"].mean().reset_index()
    return wide.pivot_table(index="t", columns="strategy", values="value", aggfunc="mean")


def divergence(ts: pd.DataFrame, windows: Sequence[tuple[float, float, str]]) -> Figure:
    """Fraction of (channel, SKU) pairs shown above truth (oversell exposure) and below it
    (undersell exposure) through time, per strategy (mean over channels and seeds), with
    fault windows shaded."""
    fig = _figure(2, 1, width=11.0, height=3.4)
    names = _strategies(ts)
    colors = _palette(names)
    for i, (series, label) in enumerate(
        (("divergence_over_frac", "shown > true (oversell exposure)"),
         ("divergence_under_frac", "shown < true (undersell exposure)"))
    ):  # fmt: skip
        ax = fig.add_subplot(2, 1, i + 1)
        wide = _run_mean(ts, series)
        for name in names:
            if name in wide.columns:
                ax.plot(wide.index / 3600, wide[name], label=name, lw=1.1, color=colors[name])
        _shade(ax, windows)
        _fault_note(ax, windows)
        ax.set_ylabel("fraction of pairs")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    fig.axes[-1].set_xlabel("hours since the scenario start")
    return fig


def pareto_front(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The rows no other row beats on both ``x`` and ``y`` (lower is better), sorted by x."""
    pts = points.sort_values([x, y])
    keep, best = [], np.inf
    for idx, row in pts.iterrows():
        if row[y] < best:
            keep.append(idx)
            best = row[y]
    return pts.loc[keep]


def load_vs_lag(
    runs: pd.DataFrame, load: str = "erp_calls", lag: str = "lag_p95_s", floor: str = "oracle"
) -> Figure:
    """The trade-off: ERP load against lag, one point per strategy (mean over replications,
    each replication as a faint dot). The Pareto front (no other strategy is better on both)
    is drawn among the real integrations: ``floor`` (the oracle, which no integration can
    reach) is shown but left out of it."""
    fig = _figure(width=9.0, height=5.0)
    ax = fig.add_subplot()
    means = runs.groupby("strategy", sort=False)[[load, lag]].mean()
    colors = _palette(list(means.index))
    for i, (name, row) in enumerate(means.iterrows()):
        c = colors[str(name)]
        ax.plot(row[load], row[lag], "o", ms=9, label=str(name), color=c)
        per_run = runs[runs["strategy"] == name]
        ax.plot(per_run[load], per_run[lag], ".", color=c, alpha=0.35)
        ax.annotate(
            str(name), (row[load], row[lag]), textcoords="offset points",
            xytext=(7, 6 - 14 * (i % 2)), fontsize=9,
        )  # fmt: skip
    real = means.drop(index=floor, errors="ignore")
    front = pareto_front(real if not real.empty else means, load, lag)
    ax.plot(
        front[load], front[lag], "k--", lw=1, marker="o", mfc="none", ms=15,
        label="Pareto front" + (f" (without {floor})" if floor in means.index else ""),
    )  # fmt: skip
    ax.set_xlabel(f"{load} (load on the ERP)")
    ax.set_ylabel(f"{lag} (seconds)")
    ax.set_title("ERP load against lag: lower-left is better")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def backlog(ts: pd.DataFrame, windows: Sequence[tuple[float, float, str]]) -> Figure:
    """Backlogs through time per strategy (only those series some strategy ever fills),
    with fault windows shaded: what piles up during a fault and how fast it drains."""
    present = [
        (s, label)
        for s, label in BACKLOG_SERIES
        if (ts.loc[(ts["series"] == s) & (ts["channel"] == "*"), "value"] > 0).any()
    ]
    if not present:
        present = [BACKLOG_SERIES[0]]
    fig = _figure(len(present), 1, width=11.0, height=2.8)
    names = _strategies(ts)
    colors = _palette(names)
    for i, (series, label) in enumerate(present):
        ax = fig.add_subplot(len(present), 1, i + 1)
        wide = _run_mean(ts, series)
        for name in names:
            if name in wide.columns and (wide[name] > 0).any():
                ax.plot(wide.index / 3600, wide[name], label=name, lw=1.1, color=colors[name])
        _shade(ax, windows)
        _fault_note(ax, windows)
        ax.set_title(f"{series}: {label}")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[1]:
            ax.legend(fontsize=8, loc="upper right")
    fig.axes[-1].set_xlabel("hours since the scenario start")
    return fig


def business(costs: pd.DataFrame, currency: str) -> Figure:
    """Money per strategy, stacked: oversell handling cost and lost margin (mean)."""
    fig = _figure(width=9.0, height=4.0)
    ax = fig.add_subplot()
    names = list(costs.index)
    bottom = np.zeros(len(names))
    for col, label, color in (
        ("oversell_cost", "oversell handling", "#d62728"),
        ("lost_margin", "lost margin", "#1f77b4"),
        ("reconciliation_cost", "manual reconciliation", "#7f7f7f"),
    ):
        vals = costs[col].to_numpy(float)
        ax.bar(names, vals, bottom=bottom, label=label, color=color)
        bottom += vals
    ax.set_ylabel(f"{currency} per run (mean)")
    ax.set_title("The business view: what each strategy costs")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    return fig
