"""The conformance checker for strategies, as Gymnasium's ``check_env`` is for environments.

``check(strategy)`` runs a strategy (a name, ``module:Class``, a class or an instance) on a
short version of the smoke scenario (``horizon`` of simulated time from 08:00, the busy part
of the day) and reports, check by check:

- ``runs``: it runs to the end without raising, hanging or writing outside its APIs;
- ``determinism``: the same seed twice gives the same trace hash and the same metrics;
- ``conservation``: units and orders are conserved (``sim.checks``);
- ``invariants``: the ledger invariants hold and every system's record reconciles with the
  movement log (a strategy that tampers with a system's state fails here);
- ``bus_accounting``: every published message is delivered, duplicated, lost or in flight;
- ``fault:<kind>``: for each registered fault kind alone (``sim.faults``: the 21 built-ins
  and any registered since; from a quarter of the horizon, for a quarter of it), no crash,
  the safety checks, nothing lost (liveness) and recovery within ``recovery_bound`` after
  the fault ends (a kind that loses messages on purpose, ``bus_loss``, is judged on safety
  only);
- ``chaos``: a short seeded swarm (``sim.tools.chaos``), every seed judged the same way.

The report is a ``ConformanceReport``: ``ok``, the failing checks, and a rich table.
``syncsim check STRATEGY`` prints it and exits 1 if any check fails.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from sim.assembly.executor import Job, RunError, run_differences, run_jobs
from sim.assembly.runner import RunResult, StrategyRuntimeError, run
from sim.dists import parse_duration
from sim.faults import fault_class, fault_kinds
from sim.registry import resolve_strategy, strategy_label
from sim.scenario import load_scenario, with_overrides
from sim.schema import Scenario
from sim.tools.chaos import chaos_scenario, judge

__all__ = [
    "CheckOutcome",
    "ConformanceReport",
    "check",
    "check_scenario",
]

SAFETY = {
    "conservation": ("conservation_units", "conservation_orders"),
    "invariants": ("invariants", "ledger_balances"),
    "bus_accounting": ("bus_accounting",),
}


@dataclass
class CheckOutcome:
    """One line of the report: a check, whether it passed, why not, and its wall time."""

    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ConformanceReport:
    strategy: str
    scenario: str
    outcomes: list[CheckOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def failed(self) -> list[str]:
        """Names of the failing checks."""
        return [o.name for o in self.outcomes if not o.ok]

    def outcome(self, name: str) -> CheckOutcome:
        for o in self.outcomes:
            if o.name == name:
                return o
        raise KeyError(name)

    def table(self) -> Table:
        verdict = "PASS" if self.ok else "FAIL"
        table = Table(title=f"conformance: {self.strategy} on {self.scenario}: {verdict}")
        table.add_column("check")
        table.add_column("verdict")
        table.add_column("wall s", justify="right")
        table.add_column("detail", overflow="fold")
        for o in self.outcomes:
            mark = "[green]pass[/]" if o.ok else "[bold red]FAIL[/]"
            table.add_row(o.name, mark, f"{o.seconds:.1f}", o.detail)
        return table

    def __str__(self) -> str:
        lines = [f"{self.strategy}: {'PASS' if self.ok else 'FAIL'} ({self.seconds:.1f} s)"]
        lines += [f"  {o.name}: {o.detail}" for o in self.outcomes if not o.ok]
        return "\n".join(lines)


def check_scenario(scenario: Scenario | str = "smoke", horizon: str = "6h") -> Scenario:
    """The scenario the checker runs on: ``scenario`` cut to ``horizon``, from 08:00."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    start = sc.scenario.start.replace(hour=8, minute=0, second=0)
    return with_overrides(sc, {"scenario.duration": horizon, "scenario.start": start.isoformat()})


def _fault_scenario(sc: Scenario, kind: str) -> Scenario | None:
    """``sc`` with one fault of ``kind`` (its ``alone_in`` parameters) from a quarter of the
    horizon for a quarter of it, and the settings the kind ``needs``; None if ``sc`` cannot
    hold the kind alone."""
    T = sc.duration
    cls = fault_class(kind)
    params = cls.alone_in(sc)
    if params is None:
        return None
    fault = {"kind": kind, "start": round(0.25 * T, 1), "duration": round(0.25 * T, 1)}
    over: dict[str, Any] = {"faults": [{**fault, **params}], **cls.needs}
    return with_overrides(sc, over)


def _verdict(result: Any, bound: float, safety_only: bool = False) -> tuple[bool, str]:
    if isinstance(result, RunError):
        return False, result.message
    v = judge(result, bound)
    reasons = v.reasons
    if safety_only:
        reasons = [r for r in reasons if r.split(":")[0] in {c for g in SAFETY.values() for c in g}]
    if result.error:
        reasons = [result.error, *reasons]
    detail = "; ".join(reasons)
    if not reasons:
        ttr = v.time_to_recovery_s
        detail = f"recovered in {ttr:.0f} s" if ttr > 0 else "no divergence beyond the band"
    return not reasons, detail


def _same(a: RunResult, b: RunResult) -> str:
    """Empty if two runs of one seed agree; else what differs."""
    differ = run_differences(a, b)
    if not differ:
        return ""
    metrics = [k for k in differ if k not in ("trace_hash", "per_channel")]
    shown = [f"{k} {a.metrics.get(k)} vs {b.metrics.get(k)}" for k in metrics[:3]]
    if "per_channel" in differ:
        shown.append("per-channel metrics")
    return f"seed {a.seed} twice: trace {a.trace_hash[:12]} vs {b.trace_hash[:12]}" + (
        f"; {', '.join(shown)}" if shown else ""
    )


def check(
    strategy: Any,
    scenario: Scenario | str = "smoke",
    *,
    seed: int = 1,
    horizon: str = "6h",
    kinds: Sequence[str] | None = None,
    chaos_seeds: int = 3,
    recovery_bound: str = "2h",
    workers: int = 1,
    step_budget: float | None = None,
    on_check: Callable[[CheckOutcome], None] | None = None,
) -> ConformanceReport:
    """Run the conformance checks on ``strategy``; see the module docstring. ``kinds``: the
    fault kinds to run alone (default: every registered kind)."""
    t_all = time.perf_counter()
    kinds = fault_kinds() if kinds is None else tuple(kinds)
    unknown = [k for k in kinds if k not in fault_kinds()]
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown} (known: {', '.join(fault_kinds())})")
    resolve_strategy(strategy)  # a bad name or path is a StrategyError, before any run
    sc = check_scenario(scenario, horizon)
    bound = parse_duration(recovery_bound)
    report = ConformanceReport(strategy_label(strategy), sc.id)

    def add(name: str, ok: bool, detail: str, t0: float) -> None:
        o = CheckOutcome(name, ok, detail, time.perf_counter() - t0)
        report.outcomes.append(o)
        if on_check:
            on_check(o)

    def fresh() -> Any:  # an instance carries state: every run gets its own copy
        return strategy if isinstance(strategy, str | type) else copy.deepcopy(strategy)

    t0 = time.perf_counter()
    runs: list[RunResult | None] = []
    for _ in range(2):
        try:
            runs.append(
                run(sc, fresh(), seed, check=False, keep_history=False, step_budget=step_budget)
            )
        except StrategyRuntimeError as exc:
            runs.append(exc.result)
            add("runs", False, str(exc), t0)
            break
    first = runs[0]
    if len(runs) == 2 and runs[1] is not None and first is not None:
        add("runs", True, f"{first.metrics['lines_accepted']:.0f} lines accepted", t0)
        why = _same(first, runs[1])
        add("determinism", not why, why or f"trace {first.trace_hash[:12]} twice", t0)
    else:
        add("determinism", False, "not checked: the run did not finish", t0)
    t0 = time.perf_counter()
    for name, keys in SAFETY.items():
        if first is None:
            add(name, False, "not checked: no result", t0)
            continue
        bad = [
            f"{k}: {first.checks[k].get('detail', 'failed')}"
            for k in keys
            if k in first.checks and not first.checks[k].get("ok", True)
        ]
        add(name, not bad, "; ".join(bad) or "ok", t0)
    # every fault kind alone, then the chaos swarm; each with its no-fault twin
    jopts: dict[str, Any] = {"check": False, "keep_history": False, "recovery_baseline": True}
    if step_budget is not None:
        jopts["step_budget"] = step_budget
    alone = {k: _fault_scenario(sc, k) for k in kinds}
    for k in [k for k in kinds if alone[k] is None]:
        add(f"fault:{k}", True, f"not run: {sc.id} cannot hold it alone", time.perf_counter())
    runnable = {k: s for k, s in alone.items() if s is not None}
    kinds = tuple(runnable)
    jobs = [Job(s, fresh(), seed, options=jopts, capture_errors=True) for s in runnable.values()]
    seeds = list(range(seed, seed + chaos_seeds))
    jobs += [Job(chaos_scenario(sc, s), fresh(), s, options=jopts, capture_errors=True)
             for s in seeds]  # fmt: skip
    took = [0.0] * len(jobs)
    last = [time.perf_counter()]

    def done(i: int, _: Any) -> None:  # wall time per job (exact when run one by one)
        now = time.perf_counter()
        took[i], last[0] = now - last[0], now

    results = run_jobs(jobs, workers, done)
    for i, (kind, res) in enumerate(zip(kinds, results, strict=False)):
        cls = fault_class(kind)
        ok, detail = _verdict(res, bound, safety_only=cls.loses_messages or cls.master_data)
        if ok and cls.master_data:
            detail += " (master data: judged on safety alone)"
        add(f"fault:{kind}", ok, detail, time.perf_counter() - took[i])
    if chaos_seeds:
        bad = []
        for s, res in zip(seeds, results[len(kinds) :], strict=True):
            ok, detail = _verdict(res, bound)
            if not ok:
                bad.append(f"seed {s}: {detail}")
        spent = sum(took[len(kinds) :])
        add("chaos", not bad, "; ".join(bad) or f"seeds {seeds[0]}..{seeds[-1]} ok",
            time.perf_counter() - spent)  # fmt: skip
    report.seconds = time.perf_counter() - t_all
    return report
