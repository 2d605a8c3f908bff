"""Alert rules as data, evaluated on a run's simulated signals (docs/observability.md).

A rule file (TOML)::

    description = "what our on-call pages on today"

    [incidents]                    # what the alerts should catch
    oversold_lines = 3             # >= 3 lines oversold within `window` ...
    divergence_mean_abs = 0.5      # ... or mean |shown - true| above 0.5 units
    window = "30m"
    scope = "each"                 # "each": every channel on its own; "*": run-wide series
    lead = "1h"                    # an alert up to this long before an incident detects it

    [[rules]]
    name = "lag p95 high"
    series = "lag_p95_s"           # any series of timeseries.parquet
    channel = "any"                # a channel, "*" (the run-wide series) or "any" channel
    aggregate = "max"              # mean, max, min, sum, last or a quantile: p50, p95, ...
    window = "10m"
    op = ">"                       # >, >=, <, <=
    threshold = 600
    for = "5m"                     # held at every evaluation for this long before firing

**Evaluation** (Prometheus's semantics, on the sample grid): at the end of every sample
interval t, the rule aggregates the samples of its series in (t - window, t]; a sample-less
window (no calls: no error rate) is not a breach. The rule is *pending* from the first
evaluation in breach and *fires* at the first evaluation at least ``for`` after it, while
every evaluation in between was in breach; it resolves at the first evaluation out of
breach. With ``channel = "any"`` each channel is evaluated on its own.

**Incidents**: at each sample time, a scope (a channel, or the run-wide series) is in
incident while the lines oversold in (t - window, t] reach ``oversold_lines`` or the
interval's ``divergence_mean_abs`` exceeds its level (either condition may be left out);
an incident starts at the beginning of the first interval in it and ends at the end of the
last; incidents less than ``window`` apart are one.

**Scoring**: an incident is *detected* by a rule whose firing starts in
[start - lead, end] (a rule bound to a channel detects only that channel's incidents); its
*time to detect* is the firing time minus the start (negative: the alert fired before the
first oversell). A firing that detects no incident is a *false alarm*. An alert already
firing before ``start - lead`` does not count: nobody acts on a page that never stopped.
Times are on the sample grid: a run's ``sample_interval`` is the resolution.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator

from sim.fields import Count, Interval, Real, SpecModel
from sim.scenario import describe_validation_error, read_toml
from sim.tools.outdir import ALERT_FILES, ALERT_MARKER, syncsim_files
from sim.tools.results import confidence_interval

__all__ = [
    "ALERT_FILES",
    "ALERT_MARKER",
    "AlertError",
    "Firing",
    "Incident",
    "IncidentSpec",
    "Rule",
    "RuleOutcome",
    "RuleSet",
    "evaluate_rule",
    "evaluate_runs",
    "find_incidents",
    "load_alerts",
    "load_rules",
    "summarize",
    "write_alerts",
]


_AGGREGATE = re.compile(r"^(mean|max|min|sum|last|p(100|[1-9]?[0-9](\.[0-9]+)?))$")


class AlertError(ValueError):
    """A rule file or a results folder that cannot be used; ``str()`` is one line."""


class IncidentSpec(SpecModel):
    """What counts as an incident the alerts should catch."""

    oversold_lines: Count | None = Field(
        None, ge=1, description="lines oversold within `window` that make an incident"
    )
    divergence_mean_abs: Real | None = Field(
        None, ge=0, description="mean |shown - true| (units) above which it is an incident"
    )
    window: Interval = Field(1800.0, description="the oversold-lines window and merge gap")
    scope: Literal["each", "*"] = Field(
        "each", description='"each": every channel on its own; "*": the run-wide series'
    )
    lead: Interval | Literal[0] = Field(
        3600.0, description="how long before an incident an alert still detects it"
    )

    @model_validator(mode="after")
    def _some_condition(self) -> IncidentSpec:
        if self.oversold_lines is None and self.divergence_mean_abs is None:
            raise ValueError("set oversold_lines, divergence_mean_abs or both")
        return self


class Rule(SpecModel):
    """One alert rule: ``aggregate`` of ``series`` over ``window`` ``op`` ``threshold``,
    held for ``for``."""

    name: str = Field(min_length=1, max_length=200)
    series: str = Field(min_length=1, max_length=200)
    channel: str = Field("*", min_length=1, description='a channel, "*" or "any"')
    aggregate: str = "mean"
    window: Interval
    op: Literal[">", ">=", "<", "<="] = ">"
    threshold: Real
    for_: Interval | Literal[0] = Field(0, alias="for")

    @field_validator("aggregate")
    @classmethod
    def _aggregate(cls, v: str) -> str:
        if not _AGGREGATE.match(v):
            raise ValueError("expected mean, max, min, sum, last or a quantile such as p95")
        return v


class RuleSet(SpecModel):
    description: str = ""
    incidents: IncidentSpec
    rules: list[Rule] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _unique_names(self) -> RuleSet:
        seen: set[str] = set()
        for r in self.rules:
            if r.name in seen:
                raise ValueError(f"two rules are named {r.name!r}")
            seen.add(r.name)
        return self


def load_rules(path: str | os.PathLike[str]) -> RuleSet:
    """Read and validate a rule file; any problem is one ``AlertError`` line naming the
    file and the key."""
    p = Path(path)
    raw = read_toml(p, AlertError)
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as exc:
        raise AlertError(f"{p}: {describe_validation_error(exc, raw)}") from None


# -- evaluation ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Incident:
    channel: str  # a channel, or "*" (run-wide)
    start: float
    end: float


@dataclass(frozen=True)
class Firing:
    channel: str
    fired: float
    resolved: float  # the end of the run if it never resolved


@dataclass
class RuleOutcome:
    """One rule on one run."""

    rule: str
    incidents: int
    detected: int
    missed: int
    false_alarms: int
    ttd_s: list[float] = field(default_factory=list)  # per detected incident
    firing_frac: float = 0.0  # share of the run the alert was firing
    firings: list[Firing] = field(default_factory=list)


def _aggregate(values: np.ndarray, how: str) -> float:
    if values.size == 0:
        return math.nan
    if how == "mean":
        return float(values.mean())
    if how == "max":
        return float(values.max())
    if how == "min":
        return float(values.min())
    if how == "sum":
        return float(values.sum())
    if how == "last":
        return float(values[-1])
    return float(np.percentile(values, float(how[1:])))


_OPS = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
}


def _firings(
    grid: np.ndarray, t: np.ndarray, v: np.ndarray, rule: Rule, channel: str, end: float
) -> list[Firing]:
    """The firings of ``rule`` on one series (times ``t``, values ``v``), evaluated at
    every time of ``grid``."""
    lo = np.searchsorted(t, grid - rule.window, side="right")
    hi = np.searchsorted(t, grid, side="right")
    out: list[Firing] = []
    pending: float | None = None
    fired: float | None = None
    test = _OPS[rule.op]
    for k, now in enumerate(grid.tolist()):
        value = _aggregate(v[lo[k] : hi[k]], rule.aggregate)
        breach = value == value and bool(test(value, rule.threshold))
        if breach:
            if pending is None:
                pending = now
            if fired is None and now - pending >= rule.for_:
                fired = now
        else:
            if fired is not None:
                out.append(Firing(channel, fired, now))
            pending = fired = None
    if fired is not None:
        out.append(Firing(channel, fired, end))
    return out


def _series(frame: pd.DataFrame, series: str, channel: str) -> tuple[np.ndarray, np.ndarray]:
    rows = frame[(frame["series"] == series) & (frame["channel"] == channel)]
    rows = rows.sort_values("t")
    return rows["t"].to_numpy(float), rows["value"].to_numpy(float)


def _channels(frame: pd.DataFrame) -> list[str]:
    return sorted(c for c in frame["channel"].unique().tolist() if c != "*")


def evaluate_rule(frame: pd.DataFrame, rule: Rule, grid: np.ndarray) -> list[Firing]:
    """Every firing of ``rule`` on one run's time series (``frame``: t, channel, series,
    value), evaluated at the times of ``grid``."""
    end = float(grid[-1]) if grid.size else 0.0
    if rule.channel == "any":
        targets = _channels(frame)
    else:
        targets = [rule.channel]
    out: list[Firing] = []
    for ch in targets:
        t, v = _series(frame, rule.series, ch)
        out += _firings(grid, t, v, rule, ch, end)
    return sorted(out, key=lambda f: (f.fired, f.channel))


def find_incidents(frame: pd.DataFrame, spec: IncidentSpec, grid: np.ndarray) -> list[Incident]:
    """The incidents of one run (the module docstring)."""
    if grid.size == 0:
        return []
    step = float(np.min(np.diff(grid))) if grid.size > 1 else float(grid[0])
    scopes = _channels(frame) if spec.scope == "each" else ["*"]
    out: list[Incident] = []
    for ch in scopes:
        bad = np.zeros(grid.size, bool)
        if spec.oversold_lines is not None:
            t, v = _series(frame, "oversold_lines", ch)
            if t.size:
                now = np.interp(grid, t, v, left=0.0)  # cumulative: read at each grid time
                idx = np.searchsorted(t, grid - spec.window, side="right") - 1
                before = np.where(idx >= 0, v[np.maximum(idx, 0)], 0.0)
                bad |= now - before >= spec.oversold_lines
        if spec.divergence_mean_abs is not None:
            t, v = _series(frame, "divergence_mean_abs", ch)
            if t.size:
                at = np.searchsorted(t, grid)
                ok = at < t.size
                hit = np.zeros(grid.size, bool)
                hit[ok] = (t[at[ok]] == grid[ok]) & (v[at[ok]] > spec.divergence_mean_abs)
                bad |= hit
        spans: list[list[float]] = []
        for k in np.flatnonzero(bad).tolist():
            start, end = float(grid[k]) - step, float(grid[k])
            if spans and start - spans[-1][1] < spec.window:
                spans[-1][1] = end
            else:
                spans.append([max(start, 0.0), end])
        out += [Incident(ch, s, e) for s, e in spans]
    return sorted(out, key=lambda i: (i.start, i.channel))


def _score(
    rule: Rule, incidents: list[Incident], firings: list[Firing], lead: float, end: float
) -> RuleOutcome:
    mine = [
        i for i in incidents if rule.channel in ("*", "any") or i.channel in (rule.channel, "*")
    ]
    used: set[int] = set()
    ttd: list[float] = []
    for inc in mine:
        hits = [
            (k, f)
            for k, f in enumerate(firings)
            if inc.start - lead <= f.fired <= inc.end
            and (rule.channel != "any" or inc.channel in ("*", f.channel))
        ]
        if hits:
            ttd.append(min(f.fired for _, f in hits) - inc.start)
            used.update(k for k, _ in hits)
    firing = sum(f.resolved - f.fired for f in firings)
    span = end * (len(_targets_of(rule, firings)) or 1)
    return RuleOutcome(
        rule=rule.name,
        incidents=len(mine),
        detected=len(ttd),
        missed=len(mine) - len(ttd),
        false_alarms=sum(1 for k in range(len(firings)) if k not in used),
        ttd_s=ttd,
        firing_frac=firing / span if span > 0 else 0.0,
        firings=firings,
    )


def _targets_of(rule: Rule, firings: list[Firing]) -> set[str]:
    return {f.channel for f in firings} if rule.channel == "any" else {rule.channel}


def evaluate_runs(timeseries: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """Every rule on every run of a results folder's ``timeseries.parquet``: one row per
    (scenario, strategy, seed, rule) with incidents, detected, missed, false_alarms,
    ttd_s (a list), firing_frac, sim_days, and the firings and incidents (lists)."""
    known = set(timeseries["series"].unique().tolist()) if len(timeseries) else set()
    for r in rules.rules:
        if r.series not in known:
            raise AlertError(
                f"rule {r.name!r}: series {r.series!r} is not in the results "
                f"(e.g. {', '.join(sorted(known)[:6])})"
            )
    channels = set(timeseries["channel"].unique().tolist()) if len(timeseries) else set()
    for r in rules.rules:
        if r.channel not in ("any", *channels):
            raise AlertError(
                f"rule {r.name!r}: channel {r.channel!r} is not in the results "
                f"({', '.join(sorted(channels))} or any)"
            )
    rows: list[dict[str, Any]] = []
    for (scenario, strategy, seed), frame in timeseries.groupby(
        ["scenario", "strategy", "seed"], sort=True, observed=True
    ):
        grid = np.unique(frame.loc[frame["channel"] == "*", "t"].to_numpy(float))
        if grid.size == 0:
            continue
        step = float(np.min(np.diff(grid))) if grid.size > 1 else float(grid[0])
        for r in rules.rules:
            if r.window < step:
                raise AlertError(
                    f"rule {r.name!r}: window {r.window:g} s is shorter than the runs' "
                    f"sample interval ({step:g} s)"
                )
        end = float(grid[-1])
        incidents = find_incidents(frame, rules.incidents, grid)
        for r in rules.rules:
            firings = evaluate_rule(frame, r, grid)
            o = _score(r, incidents, firings, float(rules.incidents.lead), end)
            rows.append(
                {
                    "scenario": scenario,
                    "strategy": strategy,
                    "seed": int(seed),  # type: ignore[call-overload]
                    "rule": r.name,
                    "incidents": o.incidents,
                    "detected": o.detected,
                    "missed": o.missed,
                    "false_alarms": o.false_alarms,
                    "ttd_s": o.ttd_s,
                    "firing_frac": o.firing_frac,
                    "sim_days": end / 86400.0,
                    "firings": [asdict(f) for f in o.firings],
                    "incident_spans": [asdict(i) for i in incidents],
                }
            )
    return pd.DataFrame(rows)


def summarize(per_run: pd.DataFrame) -> pd.DataFrame:
    """Per (scenario, strategy, rule), over seeds: incidents, detected, missed, the
    detection rate, time to detect (median and the share before the incident began),
    false alarms per simulated day (mean and a 95% t-interval over seeds, clipped at 0)
    and the share of the time firing."""
    rows: list[dict[str, Any]] = []
    if per_run.empty:
        return pd.DataFrame(rows)
    for (scenario, strategy, rule), g in per_run.groupby(
        ["scenario", "strategy", "rule"], sort=False
    ):
        ttd = [x for xs in g["ttd_s"] for x in xs]
        fa_day = (g["false_alarms"] / g["sim_days"].where(g["sim_days"] > 0)).tolist()
        lo, hi = confidence_interval(fa_day)
        incidents = int(g["incidents"].sum())
        detected = int(g["detected"].sum())
        rows.append(
            {
                "scenario": scenario,
                "strategy": strategy,
                "rule": rule,
                "seeds": len(g),
                "incidents": incidents,
                "detected": detected,
                "missed": int(g["missed"].sum()),
                "detection_rate": detected / incidents if incidents else math.nan,
                "ttd_median_s": float(np.median(ttd)) if ttd else math.nan,
                "detected_before_start": sum(1 for x in ttd if x <= 0),
                "false_alarms": int(g["false_alarms"].sum()),
                "false_alarms_per_day": float(np.nanmean(fa_day)) if fa_day else math.nan,
                "false_alarms_per_day_lo": max(0.0, lo) if lo == lo else math.nan,
                "false_alarms_per_day_hi": hi,
                "firing_frac": float(g["firing_frac"].mean()),
            }
        )
    return pd.DataFrame(rows)


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.floating | np.integer):
        return _json_safe(v.item())
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    return v


def write_alerts(
    results_dir: Path,
    rules_path: Path,
    rules: RuleSet,
    per_run: pd.DataFrame,
    summary: pd.DataFrame,
) -> list[Path]:
    """``alerts.json`` (rules, per-run outcomes with firings and incidents, summary) and
    ``alerts.csv`` (the summary) into ``results_dir``, each written to a temporary file and
    renamed into place; an ``alerts.json`` syncsim did not write is never replaced."""
    results_dir = Path(results_dir)
    if syncsim_files(results_dir) is None:
        raise AlertError(f"{results_dir}: is not a results folder syncsim wrote")
    existing = results_dir / "alerts.json"
    if existing.exists() and not _ours(existing):
        raise AlertError(f"{existing}: exists and syncsim did not write it; not replaced")
    doc = {
        "syncsim": ALERT_MARKER,
        "rules_file": str(rules_path),
        "rules": rules.model_dump(mode="json", by_alias=True),
        "summary": summary.to_dict(orient="records"),
        "runs": per_run.to_dict(orient="records"),
    }
    texts = {
        "alerts.json": json.dumps(_json_safe(doc), indent=1),
        "alerts.csv": summary.to_csv(index=False),
    }
    written: list[Path] = []
    for name, text in texts.items():
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=results_dir)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, results_dir / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(results_dir / name)
    return written


def _ours(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("syncsim") == ALERT_MARKER


def load_alerts(results_dir: Path) -> dict[str, Any] | None:
    """The ``alerts.json`` syncsim wrote into ``results_dir``, or None."""
    path = Path(results_dir) / "alerts.json"
    if not path.is_file() or not _ours(path):
        return None
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc
