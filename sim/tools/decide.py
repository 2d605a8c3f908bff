"""The decision engine: one verdict from a set of runs, for ``compare``, ``report``, sweeps and
the notebooks, so that none of them can disagree with another.

``decide(runs, objective, constraints)`` returns a ``Verdict`` (written as ``verdict.json``
beside the results):

- **Objective.** By default the total cost per week (``total_cost_per_week``, in the
  scenario's currency): oversold lines x ``oversell_cost_per_line`` + lost margin
  (``lost_sale_value`` x ``lost_margin_rate``) + manual reconciliation (oversold lines x
  ``reconciliation_minutes_per_line`` at ``hourly_rate``) + broken B2B contract allocations
  (``allocation_breach_units`` x ``allocation_breach_cost_per_unit``) + the integration's own cost
  (``[costs.integration.NAME]``: ``monthly`` fees, ``build`` amortized over
  ``amortize_months``, ``per_erp_call`` and ``per_channel_call`` fees; built-in defaults
  otherwise, reported as defaults). Run figures are scaled to a week (x 604,800 /
  ``sim_seconds``); monthly figures x 12 / 52. Any numeric metric can be the objective
  instead, with its direction (``Objective``).
- **Constraints** (``Constraint.parse("oversell_rate<=0.1%")``) define the feasible set before
  the objective ranks it: a strategy is feasible when its mean meets every bound; a bound its
  interval straddles is reported as uncertain.
- **Paired comparisons on common random numbers.** Only seeds every candidate ran are used.
  For each pair of feasible candidates the per-seed differences get a Student-t interval; the
  level is Bonferroni-adjusted over the k pairs and the ``looks`` a sequential rule takes
  (familywise ``level`` over all of them), and a difference is significant when its interval
  excludes zero. A **winner** is declared only when the best mean is better than every other
  feasible candidate beyond its interval; otherwise the verdict names the candidates that
  cannot be separated from the best and, for each, about how many replications would
  separate them if the mean difference stayed what it is.
- **Intervals stay in the metric's domain**: a count, a cost or a duration is never below 0, a
  rate or a fraction never above 1 (a t interval clipped to the domain still covers the true
  mean, which lies in it). Differences are signed. One replication gives no interval and no
  verdict.
- **Precision.** With ``precision`` P, the verdict is *resolved* when every comparison of the
  best with another candidate is significant or has a half-width within P x the best's mean
  (the two are equal to within P): the stopping rule of ``compare --precision``.
- **Supporting evidence**: per metric (oversells, lost sales, lag, divergence, ERP load,
  recovery), the best candidate with its direction and whether it is significantly better
  than all others, by the same paired rule. Accepted value is not a criterion: it rewards
  overselling.

The floors (``oracle``, ``perfect``) are shown as references, never candidates.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.metrics import domain
from sim.registry import FLOORS
from sim.schema import Costs

__all__ = [
    "COST_PARTS",
    "SUPPORTING",
    "TOTAL_COST",
    "VERDICT_FILE",
    "Comparison",
    "Constraint",
    "Estimate",
    "Objective",
    "Verdict",
    "best_of",
    "cost_frame",
    "decide",
    "domain",
    "known_metrics",
    "label_sweep",
    "load_verdict",
    "looks_for",
    "paired_interval",
    "replicate_until",
    "response",
    "sweep_keys",
    "sweep_verdicts",
    "write_verdict",
]

WEEK = 7 * 86_400.0
WEEKS_PER_MONTH = 52.0 / 12.0
TOTAL_COST = "total_cost_per_week"
#: the parts of the total cost per week, in the order the report shows them
COST_PARTS = (
    "oversell_cost", "lost_margin", "reconciliation_cost", "allocation_cost", "integration_cost",
)  # fmt: skip
#: metrics shown as supporting evidence, with the direction that is better
SUPPORTING: dict[str, Literal["min", "max"]] = {
    "oversold_lines": "min",
    "oversell_rate": "min",
    "lost_sale_units": "min",
    "lag_p95_s": "min",
    "divergence_over_frac": "min",
    "erp_calls": "min",
    "erp_utilization": "min",
    "time_to_recovery_s": "min",
}
_UNIT_INTERVAL = ("_rate", "_frac", "accuracy")
#: run metrics that are not in ``sim.metrics.CORE_KEYS`` but can rank or bound strategies
EXTRA_METRICS = (
    "lost_sale_value", "oversold_value", "cancelled_units", "shipped_units", "domain_events",
    "erp_error_calls", "units_demanded", "accepted_value",
)  # fmt: skip
VERDICT_FILE = "verdict.json"


def known_metrics() -> tuple[str, ...]:
    """Every metric an objective or a constraint may name."""
    from sim.metrics import CORE_KEYS

    return (TOTAL_COST, *COST_PARTS, *CORE_KEYS, *EXTRA_METRICS)


@dataclass(frozen=True)
class Objective:
    """What ranks the feasible strategies: a metric and the direction that is better."""

    metric: str = TOTAL_COST
    direction: Literal["min", "max"] = "min"

    def better(self, a: float, b: float) -> bool:
        return a < b if self.direction == "min" else a > b


_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound`` on a strategy's mean."""

    metric: str
    op: Literal["<=", ">="]
    bound: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """``"oversell_rate<=0.1%"``, ``"erp_utilization <= 0.7"``; ``ValueError`` naming the
        text otherwise."""
        m = _CONSTRAINT.match(text)
        if not m:
            raise ValueError(
                f"constraint {text!r}: expected METRIC<=VALUE or METRIC>=VALUE "
                "(e.g. oversell_rate<=0.1%)"
            )
        metric, op, value, pct = m.groups()
        try:
            bound = float(value) / (100.0 if pct else 1.0)
        except ValueError:
            raise ValueError(f"constraint {text!r}: {value!r} is not a number") from None
        if not math.isfinite(bound):
            raise ValueError(f"constraint {text!r}: the bound must be finite")
        return cls(metric, op, bound)  # type: ignore[arg-type]

    def holds(self, value: float) -> bool:
        return value <= self.bound if self.op == "<=" else value >= self.bound

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass
class Estimate:
    """A candidate's mean of a metric over the common seeds, with its interval (in domain)."""

    mean: float
    low: float | None
    high: float | None
    n: int


@dataclass
class Comparison:
    """``a`` - ``b`` paired over common seeds, in the objective's units."""

    a: str
    b: str
    n: int
    mean_diff: float
    low: float | None
    high: float | None
    significant: bool
    better: str | None  # the candidate that is better beyond the interval
    p_value: float | None  # two-sided paired t-test, Bonferroni-adjusted like the interval
    needed_replications: int | None = None  # to separate them if the difference stays


@dataclass
class Verdict:
    """The decision engine's answer; ``to_dict`` is ``verdict.json``."""

    status: Literal["winner", "tie", "no_verdict", "infeasible"]
    summary: str
    objective: Objective
    constraints: list[Constraint]
    level: float
    method: str
    seeds: list[int]
    candidates: list[str]
    winner: str | None
    tied: list[str]
    estimates: dict[str, Estimate]
    comparisons: list[Comparison]
    feasibility: dict[str, dict[str, Any]]
    costs: dict[str, dict[str, float]] = field(default_factory=dict)
    cost_defaults: list[str] = field(default_factory=list)
    currency: str = "USD"
    supporting: list[dict[str, Any]] = field(default_factory=list)
    precision: float | None = None
    resolved: bool = False
    why: str = ""
    floors: dict[str, Estimate] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    replications: int = 0
    stop_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["constraints"] = [str(c) for c in self.constraints]
        return _clean(d)

    def lines(self) -> list[str]:
        """The verdict for a terminal: the summary, then the unresolved pairs."""
        out = [self.summary]
        if self.why:
            out.append(self.why)
        best = self.tied[0] if self.tied and self.winner is None else None
        for c in self.comparisons:
            if best in (c.a, c.b) and c.needed_replications and not c.significant:
                out.append(
                    f"  {c.a} vs {c.b}: about {c.needed_replications} replications would "
                    "separate them if the mean difference stays as measured"
                )
        if self.stop_reason:
            out.append(self.stop_reason)
        return out


def _clean(x: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# -- costs --------------------------------------------------------------------------------------
def _costs_for(costs: Mapping[str, Costs] | Costs | None, scenario: str) -> Costs:
    if isinstance(costs, Costs):
        return costs
    if costs and scenario in costs:
        return costs[scenario]
    return Costs()


def cost_frame(
    runs: pd.DataFrame,
    costs: Mapping[str, Costs] | Costs | None = None,
    by: str = "strategy",
) -> pd.DataFrame:
    """One row per run: its cost per week by part and in total (see the module docstring),
    keyed by scenario, ``by`` (the candidate) and seed."""
    rows = []
    for r in runs.to_dict("records"):
        c = _costs_for(costs, str(r["scenario"]))
        weeks = float(r.get("sim_seconds") or WEEK) / WEEK
        oversold = float(r.get("oversold_lines", 0.0) or 0.0)
        lost = float(r.get("lost_sale_value", 0.0) or 0.0)
        hours = oversold * c.reconciliation_minutes_per_line / 60.0
        breached = float(r.get("allocation_breach_units", 0.0) or 0.0)
        integ, _ = c.integration_for(str(r["strategy"]))
        calls = (
            float(r.get("erp_calls", 0.0) or 0.0) * integ.per_erp_call
            + float(r.get("channel_calls", 0.0) or 0.0) * integ.per_channel_call
        )
        fixed = (integ.monthly + integ.build / integ.amortize_months) / WEEKS_PER_MONTH
        is_floor = str(r["strategy"]) in FLOORS
        row = {
            "scenario": r["scenario"],
            by: r[by],
            "seed": r["seed"],
            "oversold_lines": oversold / weeks,
            "oversell_cost": oversold * c.oversell_cost_per_line / weeks,
            "lost_revenue": lost / weeks,
            "lost_margin": lost * c.lost_margin_rate / weeks,
            "reconciliation_hours": hours / weeks,
            "reconciliation_cost": hours * c.hourly_rate / weeks,
            "allocation_cost": breached * c.allocation_breach_cost_per_unit / weeks,
            "integration_cost": 0.0 if is_floor else fixed + calls / weeks,
        }
        row[TOTAL_COST] = sum(row[k] for k in COST_PARTS)
        rows.append(row)
    cols = ["scenario", by, "seed", "oversold_lines", "oversell_cost", "lost_revenue"]
    cols += ["lost_margin", "reconciliation_hours", "reconciliation_cost", "allocation_cost"]
    cols += ["integration_cost"]
    return pd.DataFrame(rows, columns=[*cols, TOTAL_COST])


# -- statistics ---------------------------------------------------------------------------------
def _t(df: int, two_sided_alpha: float) -> float:
    """Student t quantile (scipy.special.stdtrit: scipy.stats.t.ppf without its overhead)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, 1.0 - two_sided_alpha / 2.0))


def paired_interval(d: np.ndarray, alpha: float) -> tuple[float, float, float, float | None]:
    """Mean of the paired differences ``d``, its two-sided (1 - ``alpha``) Student-t interval
    and the two-sided p-value of mean zero; (mean, nan, nan, None) for fewer than 2."""
    n = d.size
    mean = float(d.mean())
    if n < 2:
        return mean, math.nan, math.nan, None
    sd = float(d.std(ddof=1))
    if sd == 0.0:  # every seed gave the same difference: the interval is that difference
        return mean, mean, mean, 1.0 if mean == 0.0 else 0.0
    se = sd / math.sqrt(n)
    half = _t(n - 1, alpha) * se
    from scipy.special import stdtr

    p = float(2.0 * stdtr(n - 1, -abs(mean) / se))
    return mean, mean - half, mean + half, p


def _estimate(x: np.ndarray, alpha: float, metric: str) -> Estimate:
    lo_d, hi_d = domain(metric)
    mean = float(x.mean())
    if x.size < 2:
        return Estimate(mean, None, None, int(x.size))
    half = _t(x.size - 1, alpha) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return Estimate(mean, max(lo_d, mean - half), min(hi_d, mean + half), int(x.size))


def _needed(d: np.ndarray, alpha: float) -> int | None:
    """Replications that would make the interval of ``d`` exclude 0 if its mean and spread
    stayed as they are (normal approximation, then one t step); None if the mean is 0."""
    if d.size < 2:
        return None
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if mean == 0.0:
        return None
    z = _t(10**6, alpha)
    n = max(d.size + 1, math.ceil((z * sd / abs(mean)) ** 2))
    return max(d.size + 1, math.ceil((_t(n - 1, alpha) * sd / abs(mean)) ** 2))


def _compare(table: pd.DataFrame, a: str, b: str, alpha: float, objective: Objective) -> Comparison:
    d = (table[a] - table[b]).to_numpy(float)
    mean, lo, hi, p = paired_interval(d, alpha)
    significant = bool(d.size >= 2 and (lo > 0 or hi < 0))
    better = None
    if significant:
        a_better = (mean < 0) if objective.direction == "min" else (mean > 0)
        better = a if a_better else b
    return Comparison(
        a, b, int(d.size), mean, None if math.isnan(lo) else lo,
        None if math.isnan(hi) else hi, significant, better, p,
        None if significant else _needed(d, alpha),
    )  # fmt: skip


# -- the verdict --------------------------------------------------------------------------------
def _frame(runs: pd.DataFrame | Iterable[Any]) -> pd.DataFrame:
    if isinstance(runs, pd.DataFrame):
        return runs
    from sim.tools.results import runs_frame

    return runs_frame(list(runs))


def _fmt_money(x: float, currency: str) -> str:
    return f"{x:,.0f} {currency}"


def _fmt(metric: str, x: float, currency: str) -> str:
    if metric == TOTAL_COST or metric.endswith("_cost"):
        return _fmt_money(x, currency)
    if metric.endswith((*_UNIT_INTERVAL, "utilization")):
        return f"{x:.3%}" if abs(x) >= 1e-5 or x == 0 else f"{x:.2e}"
    if metric.endswith("_s"):
        return f"{x:,.1f} s"
    return f"{x:,.4g}"


def decide(
    runs: pd.DataFrame | Iterable[Any],
    objective: Objective | str = TOTAL_COST,
    constraints: Sequence[Constraint | str] = (),
    *,
    costs: Mapping[str, Costs] | Costs | None = None,
    level: float = 0.95,
    looks: int = 1,
    precision: float | None = None,
    by: str = "strategy",
    supporting: Mapping[str, Literal["min", "max"]] | None = None,
) -> Verdict:
    """The verdict on ``runs`` (a runs frame or run results); see the module docstring.

    ``costs``: the scenario's ``Costs`` (or a mapping scenario id -> ``Costs``, as in a
    results manifest); ``looks``: how many times a sequential rule looks at the data (the
    intervals are adjusted for them); ``by``: the column naming a candidate (a sweep passes
    one that keeps its grid values apart)."""
    obj = Objective(objective) if isinstance(objective, str) else objective
    cons = [Constraint.parse(c) if isinstance(c, str) else c for c in constraints]
    if not 0.5 <= level < 1.0:
        raise ValueError(f"level {level}: expected a confidence level in [0.5, 1)")
    df = _frame(runs)
    if df.empty:
        raise ValueError("no runs to decide on")
    scenarios = sorted(map(str, df["scenario"].unique()))
    if len(scenarios) > 1:
        raise ValueError(f"one scenario at a time: these runs span {', '.join(scenarios)}")
    c0 = _costs_for(costs, scenarios[0])
    currency = c0.currency
    excluded: dict[str, str] = {}
    if "ok" in df.columns:
        bad = df[~df["ok"].astype(bool)]
        for name, g in bad.groupby(by, sort=False):
            which = ", ".join(map(str, sorted(g["seed"].tolist())))
            excluded[str(name)] = f"failed its correctness checks (seeds {which})"
        df = df[~df[by].astype(str).isin(list(excluded))]
    money = cost_frame(df, costs, by)
    df = df.merge(money[[by, "seed", *COST_PARTS, TOTAL_COST]], on=[by, "seed"], how="left")
    for m in [obj.metric, *(c.metric for c in cons)]:
        if m not in df.columns:
            raise ValueError(
                f"unknown metric {m!r}: the runs have "
                + ", ".join(c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]))[:400]
            )
    names = list(dict.fromkeys(map(str, df[by])))
    floors = [nm for nm in names if nm.split("[", 1)[0] in FLOORS]
    real = [nm for nm in names if nm not in floors]
    table = df.pivot_table(index="seed", columns=by, values=obj.metric, aggfunc="mean")
    table.columns = table.columns.map(str)
    common = table[real].dropna() if real else table.iloc[0:0]
    seeds = [int(s) for s in common.index]
    n = len(seeds)
    alpha_est = 1.0 - level
    sel = df[df["seed"].isin(seeds)] if seeds else df.iloc[0:0]

    def column(name: str, metric: str) -> np.ndarray:
        g = sel[sel[by].astype(str) == name].sort_values("seed")
        return g[metric].to_numpy(float)

    estimates = {nm: _estimate(column(nm, obj.metric), alpha_est, obj.metric) for nm in real}
    floor_est = {}
    for nm in floors:
        x = df[df[by].astype(str) == nm][obj.metric].to_numpy(float)
        if x.size:
            floor_est[nm] = _estimate(x, alpha_est, obj.metric)
    feasibility: dict[str, dict[str, Any]] = {}
    for nm in real:
        viol, unsure = [], []
        for c in cons:
            e = _estimate(column(nm, c.metric), alpha_est, c.metric)
            if not c.holds(e.mean):
                viol.append(f"{c} (mean {_fmt(c.metric, e.mean, currency)})")
            elif (
                e.low is not None
                and e.high is not None
                and not (c.holds(e.low) and c.holds(e.high))
            ):
                unsure.append(f"{c} (interval {e.low:.4g}..{e.high:.4g})")
        feasibility[nm] = {"feasible": not viol, "violations": viol, "uncertain": unsure}
    feasible = [nm for nm in real if feasibility[nm]["feasible"]]
    ranked = sorted(
        feasible, key=lambda nm: estimates[nm].mean * (1 if obj.direction == "min" else -1)
    )
    k = max(1, len(ranked) * (len(ranked) - 1) // 2)
    alpha = (1.0 - level) / (k * max(1, looks))
    comparisons = [
        _compare(common, a, b, alpha, obj) for i, a in enumerate(ranked) for b in ranked[i + 1 :]
    ]
    method = (
        f"paired Student-t intervals on per-seed differences over {n} common seed(s); "
        f"familywise {level:.0%} with Bonferroni over {k} comparison(s)"
        + (f" and {looks} look(s)" if looks > 1 else "")
        + f" (each at {1 - alpha:.4%}); per-strategy intervals {level:.0%} t, clipped to "
        "the metric's domain"
    )
    money_means = money[money["seed"].isin(seeds) | money[by].astype(str).isin(floors)]
    cost_means = {
        str(nm): {str(k2): float(v) for k2, v in g[[*COST_PARTS, TOTAL_COST]].mean().items()}
        for nm, g in money_means.groupby(by, sort=False)
    }
    cost_defaults = c0.defaults()
    for nm in real:
        _, is_default = c0.integration_for(nm)
        if is_default:
            cost_defaults.append(f"integration.{nm}")
    verdict = Verdict(
        status="no_verdict", summary="", objective=obj, constraints=cons, level=level,
        method=method, seeds=seeds, candidates=feasible, winner=None, tied=[],
        estimates=estimates, comparisons=comparisons, feasibility=feasibility,
        costs=cost_means, cost_defaults=cost_defaults, currency=currency,
        precision=precision, floors=floor_est, excluded=excluded, replications=n,
    )  # fmt: skip
    label = obj.metric.replace("_", " ")
    if not real:
        verdict.summary = "No candidate: only the floors ran (they are references, not choices)."
        return verdict
    if not feasible:
        verdict.status = "infeasible"
        verdict.summary = "No strategy meets the constraints: " + "; ".join(
            f"{nm} breaks {', '.join(feasibility[nm]['violations'])}" for nm in real
        )
        verdict.resolved = n >= 2
        return verdict
    best = ranked[0]
    if len(ranked) == 1:
        verdict.tied = ranked
        verdict.summary = f"Only one feasible candidate ({best}): nothing to compare it with" + (
            f" ({', '.join(x for x in real if x != best)} excluded)." if len(real) > 1 else "."
        )
        verdict.resolved = n >= 2
        return verdict
    if n < 2:
        verdict.tied = ranked
        verdict.summary = (
            f"One replication: no interval, so no verdict ({best} has the best {label} on "
            f"seed {seeds[0] if seeds else '-'}). Run more replications or --precision."
        )
        return verdict
    against = [c for c in comparisons if best in (c.a, c.b)]
    beaten = [c for c in against if c.better == best]
    verdict.tied = [best] + [
        nm for nm in ranked[1:] if not any(c.better == best and nm in (c.a, c.b) for c in against)
    ]
    e = estimates[best]
    if len(beaten) == len(against):
        verdict.status, verdict.winner = "winner", best
        others = ", ".join(ranked[1:]) or "no other feasible strategy"
        verdict.summary = (
            f"{best} wins on {label}: {_fmt(obj.metric, e.mean, currency)} "
            f"({_fmt(obj.metric, e.low or 0, currency)} to "
            f"{_fmt(obj.metric, e.high or 0, currency)}), better than {others} beyond "
            f"the paired intervals, over {n} seeds."
        )
    else:
        verdict.status = "tie"
        verdict.summary = (
            f"No significant difference between {' and '.join(verdict.tied)} on {label} "
            f"over {n} seeds (best mean: {best}, {_fmt(obj.metric, e.mean, currency)})"
            + (
                f"; {', '.join(nm for nm in ranked if nm not in verdict.tied)} significantly worse."
                if len(verdict.tied) < len(ranked)
                else "."
            )
        )
    scale = abs(e.mean) if e.mean else 1.0
    verdict.resolved = all(
        c.significant
        or (
            precision is not None
            and c.low is not None
            and c.high is not None
            and (c.high - c.low) / 2.0 <= precision * scale
        )
        for c in against
    )
    if obj.metric == TOTAL_COST and len(ranked) > 1:
        verdict.why = _why(best, ranked[1], cost_means, currency)
    verdict.supporting = _supporting(sel, real, by, level, supporting or SUPPORTING, currency)
    return verdict


def _why(best: str, second: str, costs: dict[str, dict[str, float]], currency: str) -> str:
    """Which cost part makes the difference between the best and the runner-up."""
    a, b = costs.get(best), costs.get(second)
    if not a or not b:
        return ""
    diffs = {p: a[p] - b[p] for p in COST_PARTS}
    words = {
        "oversell_cost": "oversold lines",
        "lost_margin": "lost margin",
        "reconciliation_cost": "manual reconciliation",
        "allocation_cost": "broken contract allocations",
        "integration_cost": "the integration itself",
    }
    parts = "; ".join(
        f"{words[p]} {'+' if diffs[p] >= 0 else '-'}{_fmt_money(abs(diffs[p]), currency)}"
        for p in COST_PARTS
    )
    main = max(diffs, key=lambda p: abs(diffs[p]))
    return (
        f"Where the difference to {second} comes from (per week, {best} minus {second}): "
        f"{parts}. The largest part: {words[main]}."
    )


def best_of(
    table: pd.DataFrame, direction: Literal["min", "max"], level: float = 0.95
) -> tuple[str, bool, list[str]]:
    """On a (seed x candidate) table of one metric: the candidate with the best mean, whether
    it is better than every other beyond the paired intervals (Bonferroni over the k - 1
    comparisons with it; never with fewer than 2 seeds), and the candidates that cannot be
    separated from it (itself first)."""
    table = table.dropna()
    means = table.mean()
    best = str(means.idxmin() if direction == "min" else means.idxmax())
    others = [str(c) for c in table.columns if str(c) != best]
    if not others:
        return best, table.shape[0] >= 2, [best]
    alpha = (1.0 - level) / len(others)
    obj = Objective("metric", direction)
    cmp = [_compare(table, best, nm, alpha, obj) for nm in others]
    tied = [best] + [c.b for c in cmp if c.better != best]
    return best, table.shape[0] >= 2 and len(tied) == 1, tied


def _supporting(
    sel: pd.DataFrame,
    names: list[str],
    by: str,
    level: float,
    metrics: Mapping[str, Literal["min", "max"]],
    currency: str,
) -> list[dict[str, Any]]:
    out = []
    for metric, direction in metrics.items():
        if metric not in sel.columns or len(names) < 2:
            continue
        table = sel.pivot_table(index="seed", columns=by, values=metric, aggfunc="mean")
        table.columns = table.columns.map(str)
        cols = [nm for nm in names if nm in table.columns]
        table = table[cols].dropna()
        if table.empty or len(cols) < 2 or np.ptp(table.to_numpy(float)) == 0:
            continue  # nothing to tell apart (e.g. recovery time without faults)
        best, significant, tied = best_of(table, direction, level)
        out.append(
            {
                "metric": metric,
                "direction": direction,
                "best": best,
                "value": _fmt(metric, float(table[best].mean()), currency),
                "significant": significant,
                "tied": tied,
            }
        )
    return out


def write_verdict(out: Path, verdict: Verdict) -> Path:
    """``verdict.json`` in ``out`` (a results folder syncsim wrote); returns its path."""
    path = Path(out) / VERDICT_FILE
    tmp = path.with_name(f".{VERDICT_FILE}.tmp")
    tmp.write_text(json.dumps(verdict.to_dict(), indent=2))
    tmp.replace(path)
    return path


def load_verdict(results_dir: Path) -> dict[str, Any] | None:
    """The ``verdict.json`` of a results folder, or None if there is none."""
    path = Path(results_dir) / VERDICT_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def looks_for(start: int, max_replications: int) -> int:
    """How many times ``replicate_until`` looks: at ``start`` seeds, then doubling up to
    ``max_replications``."""
    n, looks = max(2, start), 1
    while n < max_replications:
        n = min(2 * n, max_replications)
        looks += 1
    return looks


def replicate_until(
    run_seeds: Callable[[list[int]], pd.DataFrame],
    first_seed: int,
    *,
    start: int = 3,
    max_replications: int = 12,
    precision: float = 0.05,
    on_look: Callable[[Verdict], None] | None = None,
    **decide_kw: Any,
) -> tuple[pd.DataFrame, Verdict]:
    """Replications until precise: run ``start`` seeds (at least 2), decide, and double the
    seeds until the verdict is resolved (``decide(precision=...)``) or ``max_replications``
    is reached; the intervals are adjusted for every look planned. ``run_seeds(seeds)``
    returns the runs frame of those seeds. Returns every run and the last verdict, whose
    ``stop_reason`` says why it stopped."""
    if precision <= 0:
        raise ValueError(f"precision {precision}: expected a relative half-width > 0")
    start = max(2, start)
    if max_replications < start:
        raise ValueError(f"max replications {max_replications} < the first batch ({start})")
    looks = looks_for(start, max_replications)
    frames: list[pd.DataFrame] = []
    n = 0
    target = start
    while True:
        frames.append(run_seeds(list(range(first_seed + n, first_seed + target))))
        n = target
        runs = pd.concat(frames, ignore_index=True)
        verdict = decide(runs, looks=looks, precision=precision, **decide_kw)
        if on_look is not None:
            on_look(verdict)
        if verdict.resolved:
            verdict.stop_reason = (
                f"Stopped after {n} replications: every comparison with the best is "
                f"significant or equal to within {precision:.1%}."
            )
            return runs, verdict
        if n >= max_replications:
            verdict.stop_reason = (
                f"Stopped at --max-replications {max_replications}: "
                + "; ".join(
                    f"{c.a} vs {c.b} unresolved"
                    for c in verdict.comparisons
                    if verdict.tied and verdict.tied[0] in (c.a, c.b) and not c.significant
                )
                + "."
            )
            return runs, verdict
        target = min(2 * n, max_replications)


# -- sweeps ---------------------------------------------------------------------------------------
SWEEP_PREFIX = "sweep."


def sweep_keys(runs: pd.DataFrame) -> list[str]:
    """The grid paths of a sweep's runs (their ``sweep.<path>`` columns), in column order."""
    return [c.removeprefix(SWEEP_PREFIX) for c in runs.columns if c.startswith(SWEEP_PREFIX)]


def _value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def label_sweep(runs: pd.DataFrame) -> pd.DataFrame:
    """A copy of a sweep's runs with its grid values kept apart: ``candidate`` is the strategy
    with the values of its own grid keys (``batch[interval=5m]``), ``point`` the values of the
    scenario's grid keys (``orders_per_hour=40``; empty without any), and ``strategy`` both
    (``batch[interval=5m] @ orders_per_hour=40``), so that tables and plots never pool two grid
    values. Runs without grid columns are returned unchanged (``candidate`` = ``strategy``)."""
    out = runs.copy()
    keys = sweep_keys(runs)
    own = [k for k in keys if k.startswith("strategies.")]
    scen = [k for k in keys if not k.startswith("strategies.")]

    def text(row: Mapping[Any, Any], which: list[str]) -> str:
        parts = []
        for k in which:
            v = row.get(SWEEP_PREFIX + k)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            parts.append(f"{k.rsplit('.', 1)[-1]}={_value(v)}")
        return ", ".join(parts)

    rows = out.to_dict("records")
    cand = []
    for r in rows:
        p = text(r, own)
        cand.append(f"{r['strategy']}[{p}]" if p else str(r["strategy"]))
    out["candidate"] = cand
    out["point"] = [text(r, scen) for r in rows]
    out["strategy"] = [f"{c} @ {p}" if p else c for c, p in zip(cand, out["point"], strict=True)]
    return out


def sweep_verdicts(
    runs: pd.DataFrame, costs: Mapping[str, Costs] | Costs | None = None, **kw: Any
) -> list[tuple[str, Verdict]]:
    """One verdict per point of the scenario's grid (``label_sweep``'s ``point``), comparing
    every strategy and strategy-grid value there on their common seeds: a sweep's verdicts
    never pool grid values, and never compare runs of different scenarios."""
    labelled = runs if "candidate" in runs.columns else label_sweep(runs)
    out = []
    for point, g in labelled.groupby("point", sort=False):
        out.append((str(point), decide(g, costs=costs, by="candidate", **kw)))
    return out


def response(
    runs: pd.DataFrame,
    key: str,
    metric: str,
    costs: Mapping[str, Costs] | Costs | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """A response curve: ``metric`` (or ``total_cost_per_week``) against the values of grid
    ``key``, per strategy and point of the other grid keys: mean and a ``level`` t interval
    (clipped to the metric's domain) per value, the optimum (best mean in the metric's
    direction) and ``tied`` (values not separable from it by the paired rule on common
    seeds). Values are in grid order; durations like ``5m`` are also given in seconds
    (``x``)."""
    from sim.dists import parse_duration

    col = SWEEP_PREFIX + key
    df = runs.copy()
    if metric == TOTAL_COST or metric in COST_PARTS:
        money = cost_frame(df, costs)
        df[metric] = money[metric].to_numpy()
    direction: Literal["min", "max"] = (
        "max" if metric in ("record_accuracy", "recovered") else "min"
    )
    others = [SWEEP_PREFIX + k for k in sweep_keys(df) if k != key]
    df["_rest"] = [
        ", ".join(f"{c.rsplit('.', 1)[-1]}={_value(r[c])}" for c in others if not pd.isna(r[c]))
        for r in df[others].to_dict("records")
    ]
    rows = []
    for (strategy, rest), g in df[df[col].notna()].groupby(["strategy", "_rest"], sort=False):
        values = list(dict.fromkeys(g[col]))
        if len(values) < 2:
            continue
        table = g.pivot_table(index="seed", columns=col, values=metric, aggfunc="mean")
        table = table[values]
        best, significant, tied = best_of(table.rename(columns=_value), direction, level)
        for v in values:
            x = table[v].dropna().to_numpy(float)
            e = _estimate(x, 1.0 - level, metric)
            try:
                xs = float(v) if isinstance(v, int | float) else parse_duration(str(v))
            except (ValueError, TypeError):
                xs = math.nan
            rows.append(
                {
                    "strategy": strategy, "rest": rest, "value": _value(v), "x": xs,
                    "mean": e.mean, "low": e.low, "high": e.high, "n": e.n,
                    "optimum": _value(v) == best, "tied": _value(v) in tied,
                    "significant": significant,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)
