"""The report's plots, from the long-format results frames (``sim.tools.results``).

Every function takes frames as read from a results directory and returns a matplotlib
``Figure`` (Agg canvas, never a window); ``series_count(fig)`` counts the labelled series
(lines, bar groups, scatter groups) it shows, which the report records next to each PNG.
Time series are drawn as steps (each sample is the mean over the interval ending at its
time) against the calendar: weekday and hour from the scenario's start (the manifest's
``calendar``; hours since the start for results written without one). Demand peaks and
fault windows (the runs' ``faults`` column, scheduled ERP maintenance) are shaded and named
in the legend.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.tools.results import confidence_interval

__all__ = [
    "BACKLOG_SERIES",
    "SIGNAL_SERIES",
    "alert_timeline",
    "backlog",
    "business",
    "divergence",
    "fault_windows",
    "figure",
    "lag_cdf",
    "load_vs_lag",
    "outcomes",
    "pareto_front",
    "png_bytes",
    "response",
    "series_count",
    "signals",
]

BACKLOG_SERIES = (
    ("orders_backlog", "orders not yet in the ERP"),
    ("postings_backlog", "WMS movements not yet posted"),
    ("bus_backlog", "bus messages not yet consumed"),
    ("erp_queue", "ERP API calls waiting"),
)
_UNITS = {
    "orders_backlog": "orders",
    "postings_backlog": "movements",
    "bus_backlog": "(message, group) pairs",
    "erp_queue": "calls",
}
_FAULT_COLOR = "#d62728"
_PEAK_COLOR = "#ff7f0e"
_SHADE = "shade"  # gid of shaded spans: not a series


def _figure(rows: int = 1, cols: int = 1, width: float = 9.0, height: float = 4.0) -> Figure:
    fig = Figure(figsize=(width, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure(width: float = 9.0, height: float = 4.0) -> Figure:
    """A new figure with syncsim's layout, drawn off screen (for other tools' plots)."""
    return _figure(width=width, height=height)


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def series_count(fig: Figure) -> int:
    """Labelled series over all axes (what a legend would list; shaded windows excluded)."""
    return sum(
        1
        for ax in fig.axes
        for handle in ax.get_legend_handles_labels()[0]
        if getattr(handle, "get_gid", lambda: None)() != _SHADE
    )


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


class _Clock:
    """Seconds since a scenario's start as x values: calendar date-times when the start is
    known (``calendar``: scenario id -> the manifest's calendar), else hours."""

    def __init__(self, calendar: Mapping[str, Mapping[str, Any]] | None, scenarios: Sequence[str]):
        cal = calendar or {}
        self.starts = {
            str(s): pd.Timestamp(cal[s]["start"]) for s in scenarios if cal.get(s, {}).get("start")
        }
        self.calendar = bool(scenarios) and len(self.starts) == len(set(scenarios))
        first = str(scenarios[0]) if scenarios else ""
        self.cal = cal.get(first, {}) if self.calendar else {}
        self.start = self.starts.get(first)

    def x(self, seconds: Any, scenario: Any = None) -> Any:
        """x values of ``seconds`` (an array or a number) for ``scenario`` (or the first)."""
        if not self.calendar:
            return np.asarray(seconds, float) / 3600
        start = self.starts.get(str(scenario), self.start)
        assert start is not None
        if np.ndim(seconds) == 0:
            return (start + pd.Timedelta(seconds=float(seconds))).floor("us").to_pydatetime()
        return start + pd.to_timedelta(np.asarray(seconds, float), unit="s")

    def x_of(self, frame: pd.DataFrame) -> Any:
        """x values of a frame's ``t`` column, each row by its scenario."""
        if not self.calendar:
            return frame["t"].to_numpy(float) / 3600
        starts = frame["scenario"].astype(str).map(self.starts)
        return starts + pd.to_timedelta(frame["t"].to_numpy(float), unit="s")

    def label(self, ax: Axes, title: bool = True) -> None:
        """Calendar ticks (weekday and hour); the axis title only where ``title``."""
        if not self.calendar:
            if title:
                ax.set_xlabel("hours since the scenario start")
            return
        locator = mdates.AutoDateLocator(minticks=4, maxticks=12)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M"))
        assert self.start is not None
        if title:
            ax.set_xlabel(f"calendar time (weekday hh:mm; starts {self.start:%a %Y-%m-%d %H:%M})")

    def shade(self, ax: Axes, windows: Sequence[tuple[float, float, str]]) -> None:
        """Demand peaks and fault windows as shaded spans, named in the legend (the x range
        stays that of the series drawn: a peak may outlast a shortened run)."""
        limits = ax.get_xlim() if ax.has_data() else None
        for start, end, mult in self.cal.get("peaks", []):
            ax.axvspan(
                self.x(start), self.x(end), color=_PEAK_COLOR, alpha=0.10, lw=0, gid=_SHADE,
                label=f"demand peak (x{mult:g})",
            )  # fmt: skip
        faults = list(windows)
        for a, b in self.cal.get("maintenance", []):
            faults.append((a, b, "ERP maintenance (scheduled)"))
        for start, end, kind in faults:
            ax.axvspan(
                self.x(start), self.x(end), color=_FAULT_COLOR, alpha=0.14, lw=0, gid=_SHADE,
                label=f"fault: {kind}",
            )  # fmt: skip
        if limits is not None:
            ax.set_xlim(limits)


def _legend(ax: Axes) -> None:
    """One legend entry per label (several windows of one kind share theirs)."""
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles, strict=True))
    if seen:
        ax.legend(seen.values(), seen.keys(), fontsize=8, loc="upper right")


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


def _run_mean(ts: pd.DataFrame, series: str, clock: _Clock) -> pd.DataFrame:
    """Mean over seeds of one run-wide series: index x (``clock``), one column per strategy.
    A series sampled only per channel is averaged over the channels first."""
    sub = ts[ts["series"] == series]
    wide = sub[sub["channel"] == "*"]
    if wide.empty:
        wide = sub.groupby(["scenario", "strategy", "seed", "t"])["value"].mean().reset_index()
    wide = wide.assign(x=clock.x_of(wide))
    return wide.pivot_table(index="x", columns="strategy", values="value", aggfunc="mean")


def _clock(ts: pd.DataFrame, calendar: Mapping[str, Mapping[str, Any]] | None) -> _Clock:
    scenarios = list(dict.fromkeys(ts["scenario"].astype(str))) if "scenario" in ts else []
    return _Clock(calendar, scenarios)


def _steps(
    ax: Axes, wide: pd.DataFrame, names: Sequence[str], colors: dict[str, str], start: Any
) -> None:
    """Each sample is the mean over the interval ending at its time: a step drawn back to
    the previous sample, the first one back to ``start`` (the scenario's start)."""
    for name in names:
        if name in wide.columns and wide[name].notna().any():
            col = wide[name].dropna()
            x = [start, *col.index] if len(col) and col.index[0] > start else list(col.index)
            y = [col.iloc[0], *col] if len(x) > len(col) else list(col)
            ax.step(x, y, where="pre", label=name, lw=1.1, color=colors[name])


def divergence(
    ts: pd.DataFrame,
    windows: Sequence[tuple[float, float, str]],
    calendar: Mapping[str, Mapping[str, Any]] | None = None,
) -> Figure:
    """Fraction of (channel, SKU) pairs shown above truth (oversell exposure) and below it
    (undersell exposure) through time, per strategy (mean over channels and seeds; each
    sample the mean over its interval), with demand peaks and fault windows shaded."""
    fig = _figure(2, 1, width=11.0, height=3.6)
    names = _strategies(ts)
    colors = _palette(names)
    clock = _clock(ts, calendar)
    for i, (series, label) in enumerate(
        (("divergence_over_frac", "shown > true (oversell exposure)"),
         ("divergence_under_frac", "shown < true (undersell exposure)"))
    ):  # fmt: skip
        ax = fig.add_subplot(2, 1, i + 1)
        _steps(ax, _run_mean(ts, series, clock), names, colors, clock.x(0.0))
        clock.shade(ax, windows)
        ax.set_ylabel("fraction of (channel, SKU)\npairs, mean per sample")
        ax.set_ylim(bottom=0)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        _legend(ax)
        clock.label(ax, title=i == 1)
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


def _panels(
    ts: pd.DataFrame,
    windows: Sequence[tuple[float, float, str]],
    calendar: Mapping[str, Mapping[str, Any]] | None,
    panels: Sequence[tuple[str, str, str]],
    keep_all: frozenset[str] = frozenset(),
) -> Figure:
    """One panel per (series, title, y label) of the run-wide series that some strategy
    ever fills (or in ``keep_all``), one step line per strategy (mean over seeds), peaks
    and fault windows shaded."""
    present = [
        p
        for p in panels
        if p[0] in keep_all
        or (ts.loc[(ts["series"] == p[0]) & (ts["channel"] == "*"), "value"] > 0).any()
    ]
    if not present:
        present = [panels[0]]
    fig = _figure(len(present), 1, width=11.0, height=3.0)
    names = _strategies(ts)
    colors = _palette(names)
    clock = _clock(ts, calendar)
    for i, (series, title, unit) in enumerate(present):
        ax = fig.add_subplot(len(present), 1, i + 1)
        wide = _run_mean(ts, series, clock)
        busy = [n for n in names if n in wide.columns and (wide[n] > 0).any()]
        _steps(ax, wide, busy, colors, clock.x(0.0))
        clock.shade(ax, windows)
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        _legend(ax)
        clock.label(ax, title=i == len(present) - 1)
    return fig


def backlog(
    ts: pd.DataFrame,
    windows: Sequence[tuple[float, float, str]],
    calendar: Mapping[str, Mapping[str, Any]] | None = None,
) -> Figure:
    """Backlogs through time per strategy (only those series some strategy ever fills; each
    sample the mean over its interval), with demand peaks and fault windows shaded: what
    piles up during a fault and how fast it drains."""
    return _panels(
        ts,
        windows,
        calendar,
        [(s, f"{s}: {label}", f"{_UNITS[s]}, mean per sample") for s, label in BACKLOG_SERIES],
    )


#: the operational signals the report draws (docs/observability.md)
SIGNAL_SERIES = (
    ("failed_updates_per_min", "failed inventory updates (refused, throttled, timed out, "
     "dead-lettered)", "per minute"),
    ("api_error_rate", "API error rate (calls answered >= 400, every API)", "share of calls"),
    ("divergence_breach_frac", "(channel, SKU) pairs off by more than the threshold",
     "fraction, mean"),
    ("reconciliation_exceptions_per_min", "drift found by a reconciler", "per minute"),
    ("event_throughput_per_min", "bus deliveries", "per minute"),
)  # fmt: skip


def signals(
    ts: pd.DataFrame,
    windows: Sequence[tuple[float, float, str]],
    calendar: Mapping[str, Mapping[str, Any]] | None = None,
) -> Figure:
    """The monitoring dashboard: failed updates, API error rate, divergence above the
    threshold, reconciliation exceptions and event throughput through time, run-wide,
    per strategy (those some strategy ever fills; divergence always)."""
    return _panels(ts, windows, calendar, SIGNAL_SERIES, frozenset({"divergence_breach_frac"}))


def alert_timeline(
    runs: Sequence[Mapping[str, Any]],
    calendar: Mapping[str, Mapping[str, Any]] | None = None,
) -> Figure:
    """For the first seed of each strategy: incidents shaded, and one row per rule with a
    bar wherever it was firing (``alerts.json["runs"]`` rows)."""
    first: dict[str, Mapping[str, Any]] = {}
    for r in runs:
        key = str(r["strategy"])
        if key not in first or int(r["seed"]) < int(first[key]["seed"]):
            first[key] = r
    strategies = list(dict.fromkeys(str(r["strategy"]) for r in runs))
    rules = list(dict.fromkeys(str(r["rule"]) for r in runs))
    by = {
        (str(r["strategy"]), str(r["rule"])): r
        for r in runs
        if r["seed"] == first[str(r["strategy"])]["seed"]
    }
    n = max(len(strategies), 1)
    fig = _figure(n, 1, width=11.0, height=max(1.0, 0.35 * len(rules) + 0.9))
    scenarios = list(dict.fromkeys(str(r["scenario"]) for r in runs))
    clock = _Clock(calendar, scenarios)
    for i, name in enumerate(strategies):
        ax = fig.add_subplot(n, 1, i + 1)
        spans: list[Mapping[str, Any]] = []
        for j, rule in enumerate(rules):
            run = by.get((name, rule))
            if run is None:
                continue
            spans = run["incident_spans"]
            for f in run["firings"]:
                x0, x1 = clock.x(f["fired"]), clock.x(f["resolved"])
                ax.plot([x0, x1], [j, j], lw=7, solid_capstyle="butt", color="#1f77b4",
                        label="alert firing")  # fmt: skip
        for inc in spans:
            ax.axvspan(
                clock.x(inc["start"]), clock.x(inc["end"]), color=_FAULT_COLOR, alpha=0.18,
                lw=0, gid=_SHADE, label="incident",
            )  # fmt: skip
        ax.set_yticks(range(len(rules)), rules, fontsize=8)
        ax.set_ylim(-0.7, len(rules) - 0.3)
        ax.set_title(f"{name} (seed {first[name]['seed']})", fontsize=10)
        ax.grid(alpha=0.3, axis="x")
        _legend(ax)
        clock.label(ax, title=i == n - 1)
    return fig


def business(costs: pd.DataFrame, currency: str) -> Figure:
    """Money per strategy and week, stacked: oversell handling, lost margin, manual
    reconciliation, broken contract allocations (when any) and the integration itself
    (mean over replications)."""
    fig = _figure(width=9.0, height=4.0)
    ax = fig.add_subplot()
    names = list(costs.index)
    bottom = np.zeros(len(names))
    for col, label, color in (
        ("oversell_cost", "oversell handling", "#d62728"),
        ("lost_margin", "lost margin", "#1f77b4"),
        ("reconciliation_cost", "manual reconciliation", "#7f7f7f"),
        ("allocation_cost", "broken contract allocations", "#9467bd"),
        ("integration_cost", "the integration itself", "#2ca02c"),
    ):
        if col not in costs.columns:
            continue
        vals = costs[col].to_numpy(float)
        if col == "allocation_cost" and not vals.any():
            continue  # no B2B contracts (or none broken): no bar to stack
        ax.bar(names, vals, bottom=bottom, label=label, color=color)
        bottom += vals
    ax.set_ylabel(f"{currency} per week (mean)")
    ax.set_title("What each strategy costs per week")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    return fig


def response(curves: dict[str, pd.DataFrame], currency: str) -> Figure:
    """A sweep's response curves: one panel per (grid key, metric), the mean per grid value
    and strategy with its 95% interval as error bars; the optimum ringed, the values that
    cannot be told apart from it (paired rule) filled, the others hollow."""
    n = len(curves)
    fig = _figure(rows=1, cols=n, width=max(6.0, 5.0 * n), height=4.2)
    for i, (title, df) in enumerate(curves.items()):
        ax = fig.add_subplot(1, n, i + 1)
        key, metric = title.split(" | ")
        for j, ((strategy, rest), g) in enumerate(df.groupby(["strategy", "rest"], sort=False)):
            numeric = bool(g["x"].notna().all())
            xs = g["x"].to_numpy(float) if numeric else np.arange(len(g), dtype=float)
            mean = g["mean"].to_numpy(float)
            lo = np.where(g["low"].isna(), mean, g["low"].astype(float))
            hi = np.where(g["high"].isna(), mean, g["high"].astype(float))
            color = f"C{j % 10}"
            label = f"{strategy}" + (f" ({rest})" if rest else "")
            ax.errorbar(xs, mean, yerr=[mean - lo, hi - mean], color=color, marker="o",
                        mfc="none", capsize=3, label=label)  # fmt: skip
            tied = g["tied"].to_numpy(bool)
            ax.plot(xs[tied], mean[tied], "o", color=color)
            best = g["optimum"].to_numpy(bool)
            ax.plot(xs[best], mean[best], "o", ms=13, mfc="none", color=color)
            if not numeric:
                ax.set_xticks(xs, g["value"].tolist())
        unit = f"{currency} per week" if metric.endswith(("_cost", "_per_week")) else metric
        ax.set_xlabel(
            key.rsplit(".", 1)[-1] + (" (s)" if df["value"].str.match(r"^\d+[smhd]$").any() else "")
        )
        ax.set_ylabel(unit)
        ax.set_title(f"{metric} vs {key.rsplit('.', 1)[-1]}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig
