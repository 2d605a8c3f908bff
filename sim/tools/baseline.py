"""Golden baselines: per-metric statistics of a strategy on a scenario, checked statistically.

``save`` runs a strategy on N seeds and stores, per metric, n, mean, std, a 95% confidence
interval and the values (JSON, ``<scenario id>__<strategy>.json`` under ``tests/golden/`` or
a given directory). ``check`` runs *new* seeds (by default the N seeds after the baseline's)
and compares each metric with Welch's t-test: a metric has changed when the difference of
means is significant (p < ``alpha``) *and* larger than both ``rel_tol`` of the baseline mean
and ``abs_tol`` (so that metrics at 0 in both, or deterministic ones, never flap). Each
change is judged by direction: a worse value of a metric in ``HIGHER_IS_WORSE`` or
``LOWER_IS_WORSE`` is a regression (the check fails); a better one is reported as improved;
metrics with no direction (traffic counts) are reported as changed. Floats are never
compared exactly.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from sim.assembly.executor import Job, run_jobs
from sim.metrics import WALL_CLOCK_KEYS
from sim.registry import resolve_strategy, strategy_label
from sim.scenario import load_scenario
from sim.schema import Scenario
from sim.tools.results import confidence_interval

__all__ = [
    "HIGHER_IS_WORSE",
    "LOWER_IS_WORSE",
    "BaselineError",
    "Comparison",
    "MetricChange",
    "baseline_path",
    "check",
    "compare_metric",
    "load",
    "save",
    "stats",
]

FORMAT = 1
GOLDEN = Path("tests") / "golden"
HIGHER_IS_WORSE = frozenset(
    {
        "oversold_units", "oversold_lines", "oversell_rate", "cancelled_lines",
        "lost_sale_units", "lag_p50_s", "lag_p95_s", "lag_p99_s", "lag_max_s",
        "unpropagated_changes", "divergence_mean_abs", "divergence_over_frac",
        "divergence_under_frac", "erp_calls", "erp_rejected_calls", "erp_unavailable_calls",
        "erp_error_calls", "erp_peak_calls_per_min",
        "erp_utilization", "erp_latency_p95_s", "channel_throttled_calls", "events_duplicated",
        "events_lost", "dlq_size", "max_backlog", "time_to_recovery_s", "oversold_value",
        "lost_sale_value", "cancelled_value",
    }
)  # fmt: skip
LOWER_IS_WORSE = frozenset({"record_accuracy", "orders_accepted", "lines_accepted", "recovered"})


class BaselineError(ValueError):
    """A baseline file is missing, unreadable or does not match; one-line message."""


def baseline_path(directory: Path | str, scenario_id: str, strategy: str) -> Path:
    safe = strategy.replace(":", "-").replace("/", "-")
    return Path(directory) / f"{scenario_id}__{safe}.json"


def stats(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, std (ddof 1), 95% CI of the mean and the values themselves (NaN dropped)."""
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0, "mean": None, "std": None, "ci": [None, None], "values": []}
    lo, hi = confidence_interval(x.tolist())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return {"n": int(x.size), "mean": float(x.mean()), "std": std, "ci": [lo, hi],
            "values": x.tolist()}  # fmt: skip


def _run(sc: Scenario, strategy: Any, seeds: Sequence[int], workers: int) -> list[Any]:
    opts = {"keep_history": False}
    return run_jobs([Job(sc, strategy, s, options=opts) for s in seeds], workers)


def save(
    scenario: Scenario | str,
    strategy: Any,
    seeds: int = 5,
    *,
    path: Path | str = GOLDEN,
    seed: int = 1,
    workers: int = 1,
) -> Path:
    """Run ``strategy`` on ``seeds`` seeds from ``seed`` and write the baseline file
    atomically; returns its path."""
    resolve_strategy(strategy)
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    seed_list = list(range(seed, seed + seeds))
    t0 = time.perf_counter()
    results = _run(sc, strategy, seed_list, workers)
    keys = [k for k in results[0].metrics if k not in WALL_CLOCK_KEYS]
    doc = {
        "format": FORMAT,
        "scenario": sc.id,
        "strategy": strategy_label(strategy),
        "parameters": results[0].parameters,
        "seeds": seed_list,
        "syncsim": version("syncsim"),
        "metrics": {k: stats([r.metrics.get(k, math.nan) for r in results]) for k in keys},
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }
    target = baseline_path(path, sc.id, strategy_label(strategy))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".baseline-", dir=target.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=1, default=str)
        fh.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


def load(file: Path) -> dict[str, Any]:
    if not file.exists():
        raise BaselineError(f"{file}: no baseline (save one with: syncsim baseline save)")
    try:
        doc = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{file}: unreadable baseline: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "metrics" not in doc:
        raise BaselineError(f"{file}: not a syncsim baseline (format {FORMAT} expected)")
    return doc


@dataclass
class MetricChange:
    """One metric, baseline against new seeds."""

    metric: str
    base: dict[str, Any]
    new: dict[str, Any]
    delta: float
    p_value: float
    verdict: str  # "ok", "regressed", "improved", "changed"

    @property
    def relative(self) -> float:
        mean = self.base["mean"] or 0.0
        return self.delta / abs(mean) if mean else math.inf if self.delta else 0.0


@dataclass
class Comparison:
    file: Path
    scenario: str
    strategy: str
    base_seeds: list[int]
    seeds: list[int]
    changes: list[MetricChange] = field(default_factory=list)
    parameters_differ: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def regressions(self) -> list[MetricChange]:
        return [c for c in self.changes if c.verdict == "regressed"]

    @property
    def ok(self) -> bool:
        return not self.regressions

    def table(self, everything: bool = False) -> Table:
        verdict = "PASS" if self.ok else f"FAIL ({len(self.regressions)} regressed)"
        table = Table(
            title=f"baseline {self.scenario} / {self.strategy}: seeds "
            f"{self.base_seeds[0]}..{self.base_seeds[-1]} vs {self.seeds[0]}..{self.seeds[-1]}"
            f": {verdict}"
        )
        for col in ("metric", "baseline mean [95% CI]", "new mean [95% CI]", "change", "p"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        table.add_column("verdict")
        quiet = sum(c.verdict == "ok" for c in self.changes)
        if quiet and not everything:
            table.caption = f"{quiet} of {len(self.changes)} metrics unchanged (--all lists them)"
        style = {"regressed": "bold red", "improved": "green", "changed": "yellow", "ok": ""}
        for c in self.changes:
            if c.verdict == "ok" and not everything:
                continue
            rel = f" ({c.relative:+.0%})" if math.isfinite(c.relative) else ""
            table.add_row(
                c.metric, _fmt(c.base), _fmt(c.new), f"{c.delta:+.4g}{rel}",
                f"{c.p_value:.2g}", f"[{style[c.verdict]}]{c.verdict}[/]" if style[c.verdict]
                else c.verdict,
            )  # fmt: skip
        return table


def _fmt(s: dict[str, Any]) -> str:
    if not s["n"]:
        return "-"
    lo, hi = s["ci"]
    return f"{s['mean']:.4g} [{lo:.4g}, {hi:.4g}]"


def _p_value(a: dict[str, Any], b: dict[str, Any]) -> float:
    if a["std"] == 0 and b["std"] == 0:
        return 1.0 if a["mean"] == b["mean"] else 0.0
    if a["n"] < 2 or b["n"] < 2:
        return math.nan
    from scipy.stats import ttest_ind

    return float(ttest_ind(a["values"], b["values"], equal_var=False).pvalue)


def compare_metric(
    metric: str, base: dict[str, Any], new: dict[str, Any], alpha: float, rel_tol: float,
    abs_tol: float,
) -> MetricChange:  # fmt: skip
    """Baseline statistics against new ones for one metric (see the module docstring)."""
    if not base["n"] or not new["n"]:
        return MetricChange(metric, base, new, 0.0, math.nan, "ok")
    delta = float(new["mean"] - base["mean"])
    p = _p_value(base, new)
    big = abs(delta) > max(abs_tol, rel_tol * abs(base["mean"]))
    verdict = "ok"
    if big and (p < alpha or math.isnan(p)):
        if metric in HIGHER_IS_WORSE:
            verdict = "regressed" if delta > 0 else "improved"
        elif metric in LOWER_IS_WORSE:
            verdict = "regressed" if delta < 0 else "improved"
        else:
            verdict = "changed"
    return MetricChange(metric, base, new, delta, p, verdict)


def check(
    scenario: Scenario | str,
    strategy: Any,
    seeds: int | None = None,
    *,
    path: Path | str = GOLDEN,
    seed: int | None = None,
    strategy_params: dict[str, Any] | None = None,
    alpha: float = 0.001,
    rel_tol: float = 0.1,
    abs_tol: float = 1e-9,
    workers: int = 1,
) -> Comparison:
    """Run new seeds (default: as many as the baseline, right after its seeds) and compare
    with the stored baseline of ``scenario`` and ``strategy``."""
    resolve_strategy(strategy)
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    label = strategy_label(strategy)
    file = baseline_path(path, sc.id, label)
    doc = load(file)
    base_seeds = [int(s) for s in doc.get("seeds", [])]
    n = seeds or len(base_seeds) or 5
    first = seed if seed is not None else (max(base_seeds) + 1 if base_seeds else 1)
    seed_list = list(range(first, first + n))
    opts = {"keep_history": False}
    jobs = [Job(sc, strategy, s, params=dict(strategy_params or {}), options=opts)
            for s in seed_list]  # fmt: skip
    results = run_jobs(jobs, workers)
    cmp = Comparison(file, sc.id, label, base_seeds or seed_list, seed_list)
    saved = doc.get("parameters", {})
    for k, v in results[0].parameters.items():
        if k in saved and json.dumps(saved[k], default=str) != json.dumps(v, default=str):
            cmp.parameters_differ[k] = (saved[k], v)
    for metric, base in doc["metrics"].items():
        new = stats([r.metrics.get(metric, math.nan) for r in results])
        cmp.changes.append(compare_metric(metric, base, new, alpha, rel_tol, abs_tol))
    return cmp


Strategy = Annotated[str, typer.Option("--strategy", "-s", help="Name or module:Class.")]
Dir = Annotated[Path, typer.Option("--path", help="Directory of baseline files.")]
Set = Annotated[
    list[str] | None, typer.Option("--set", help="Override a scenario value: KEY=VALUE.")
]
Workers = Annotated[int, typer.Option(min=0, help="Parallel runs (0: one per CPU).")]
