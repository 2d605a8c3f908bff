"""``syncsim compare``: the built-in strategies (and the user's) on common seeds, and a verdict
from the decision engine (``sim.tools.decide``), written as ``verdict.json``."""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from sim.assembly.executor import Job, default_workers, run_jobs
from sim.assembly.runner import RunResult, SimulationError
from sim.cli.app import app, err_console, out_console, say
from sim.cli.common import (
    MAX_SEED,
    OUT_HELP,
    AllowLarge,
    InputError,
    NoHistory,
    Transport,
    comparison_table,
    errors,
    load,
    parse_overrides,
    progress,
    seed_range,
    transport_arg,
    with_replay,
    write_report_into,
)
from sim.registry import BUILTIN_ORDER, installed_strategies
from sim.tools.decide import (
    SUPPORTING,
    TOTAL_COST,
    VERDICT_FILE,
    Constraint,
    Objective,
    Verdict,
    decide,
    known_metrics,
    replicate_until,
)
from sim.tools.outdir import check_out
from sim.tools.results import new_run_dir, runs_frame, write_results


class SharedProgress:
    """A run's progress (the fraction of its horizon simulated) written into a mapping the
    parent reads: a plain dict in this process, a manager's dict across a process pool."""

    def __init__(self, table: MutableMapping[int, float], key: int) -> None:
        self.table, self.key = table, key

    def __call__(self, fraction: float) -> None:
        self.table[self.key] = fraction


@contextmanager
def shared_table(workers: int) -> Iterator[MutableMapping[int, float]]:
    """Where runs report their progress: shared across processes when they run in a pool."""
    if workers <= 1:
        yield {}
        return
    with multiprocessing.Manager() as manager:
        yield manager.dict()


#: the sequential rule's defaults (``make run`` uses them)
DEFAULT_MAX_REPLICATIONS = 6
FIRST_BATCH = 3


def objective_arg(text: str) -> Objective:
    """``METRIC`` (lower is better unless it is one of the higher-is-better metrics) or
    ``METRIC:min`` / ``METRIC:max``."""
    metric, _, direction = text.partition(":")
    if direction and direction not in ("min", "max"):
        raise InputError(f"--objective {text}: expected METRIC, METRIC:min or METRIC:max")
    if metric not in known_metrics():
        raise InputError(f"--objective {text}: unknown metric {metric!r} ({_known()})")
    if not direction:
        direction = SUPPORTING.get(metric, "max" if metric == "record_accuracy" else "min")
    if metric in ("lines_accepted", "units_accepted", "orders_accepted", "accepted_value"):
        raise InputError(
            f"--objective {text}: accepted volume is not a criterion (it rewards overselling); "
            f"use {TOTAL_COST}, oversold_lines or lost_sale_units"
        )
    return Objective(metric, direction)  # type: ignore[arg-type]


def _known() -> str:
    return "known: " + ", ".join(known_metrics()[:12]) + ", ... (docs/metrics.md)"


def strategy_names(given: list[str] | None) -> list[str]:
    """The built-ins, or the built-ins named with ``--strategy``, plus the user's own."""
    builtins = [n for n in BUILTIN_ORDER if n in installed_strategies()]
    if not given:
        return builtins
    named = [n for n in given if n in builtins]
    own = [n for n in given if n not in builtins]
    return list(dict.fromkeys([*(named or builtins), *own]))


@app.command("compare")
def compare_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file or catalogue id.")],
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy",
            "-s",
            help="Repeatable. A built-in name (then only the built-ins named run) or your own "
            "module:Class (added to the built-ins).",
        ),
    ] = None,
    replications: Annotated[
        int,
        typer.Option(
            "--replications",
            "-r",
            min=1,
            max=10_000,
            help="Seeds per strategy (with --precision: the first batch, at least 3).",
        ),
    ] = 1,
    precision: Annotated[
        float | None,
        typer.Option(
            min=0.0001,
            max=1.0,
            help="Replications until precise: add seeds (doubling) until every comparison "
            "with the best is significant or equal to within this relative half-width of "
            "the best's objective (e.g. 0.05), or --max-replications is reached.",
        ),
    ] = None,
    max_replications: Annotated[
        int,
        typer.Option(
            "--max-replications", min=2, max=10_000, help="Cap on seeds with --precision."
        ),
    ] = DEFAULT_MAX_REPLICATIONS,
    objective: Annotated[
        str,
        typer.Option(
            help=f"What ranks the strategies: {TOTAL_COST} (the scenario's [costs], "
            "integration included) or a metric, as METRIC[:min|:max].",
        ),
    ] = TOTAL_COST,
    constraint: Annotated[
        list[str] | None,
        typer.Option(
            "--constraint",
            "-c",
            help="Repeatable. A bound every candidate must meet before the objective ranks "
            "them, e.g. 'oversell_rate<=0.1%' or 'erp_utilization<=0.7'.",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED, help="Seed of the first replication.")
    ] = 1,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    workers: Annotated[int, typer.Option(min=0, help="Parallel runs (0: one per CPU).")] = 0,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a scenario value: KEY=VALUE (dotted path)."),
    ] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Do not write report.html and the plots.")
    ] = False,
    no_history: NoHistory = False,
    allow_large: AllowLarge = False,
    transport: Transport = "direct",
) -> None:
    """Strategies on common seeds, and a verdict you can defend (verdict.json).

    Paired differences per seed with intervals adjusted for the number of comparisons; a
    winner only when it is better than every other beyond them; --precision adds seeds
    until the answer is precise."""
    with errors():
        transport_arg(transport)
        obj = objective_arg(objective)
        try:
            cons = [Constraint.parse(c) for c in constraint or []]
        except ValueError as exc:
            raise InputError(f"--{exc}") from None
        for c in cons:
            if c.metric not in known_metrics():
                raise InputError(f"--constraint {c}: unknown metric {c.metric!r} ({_known()})")
        names = strategy_names(strategy)
        sc = load(scenario, parse_overrides(set_), names, allow_large)
        if precision is not None and max_replications < max(FIRST_BATCH, replications):
            raise InputError(
                f"--max-replications {max_replications}: below the first batch "
                f"({max(FIRST_BATCH, replications)} seeds)"
            )
        seed_range(seed, max_replications if precision is not None else replications)
        target = check_out(out) if out else new_run_dir(Path("results"), sc.id)
        keep = {"keep_history": not no_history, "allow_large": allow_large, "transport": transport}
        results: list[RunResult] = []
        decide_kw: dict[str, Any] = {"objective": obj, "constraints": cons, "costs": sc.costs}
        n_workers = workers or default_workers()
        live = err_console.is_terminal
        with progress(len(names), False) as prog, shared_table(n_workers) as moving:
            task = prog.add_task(f"{sc.id}: {len(names)} strategies", total=0)
            finished: set[int] = set()
            stop = threading.Event()

            def refresh() -> None:  # whole runs done + the simulated share of those running
                while not stop.wait(0.5):
                    running = sum(f for k, f in list(moving.items()) if k not in finished)
                    prog.update(task, completed=len(finished) + running)

            watcher = threading.Thread(target=refresh, daemon=True)
            if live:
                watcher.start()

            def run_seeds(seeds: list[int]) -> Any:
                base = len(results)
                jobs = [
                    Job(sc, n, s, options={**keep, "progress": SharedProgress(moving, base + i)})
                    for i, (s, n) in enumerate((s, n) for s in seeds for n in names)
                ]
                prog.update(
                    task,
                    total=len(results) + len(jobs),
                    description=f"{sc.id}: {len(names)} strategies x {seeds[-1] - seed + 1} seeds",
                )

                def done(i: int, r: Any) -> None:
                    finished.add(base + i)
                    prog.update(task, completed=len(finished))
                    if not live:  # no terminal (CI, a log): one line per finished run
                        state = "ok" if getattr(r, "ok", False) else "FAILED its checks"
                        say(
                            f"[{len(finished)}/{len(results) + len(jobs)}] {r.strategy} seed "
                            f"{r.seed}: {state} ({r.metrics.get('wall_seconds', 0.0):.1f} s)"
                        )

                try:
                    got = run_jobs(jobs, n_workers, done)
                except SimulationError as exc:
                    raise with_replay(scenario, set_, exc) from None
                finally:
                    for i in range(len(jobs)):
                        moving.pop(base + i, None)
                results.extend(got)
                return runs_frame(got)

            verdict: Verdict
            if precision is not None:
                _, verdict = replicate_until(
                    run_seeds, seed, start=max(FIRST_BATCH, replications),
                    max_replications=max_replications, precision=precision, **decide_kw,
                )  # fmt: skip
            else:
                verdict = decide(run_seeds(seed_range(seed, replications)), **decide_kw)
            stop.set()
        payload = json.dumps(verdict.to_dict(), indent=2)
        write_results(target, results, extra={VERDICT_FILE: payload})
        if not no_report:
            write_report_into(target)
    seeds = sorted({r.seed for r in results})
    title = f"{sc.id}: {len(names)} strategies x seeds {seeds[0]}..{seeds[-1]}"
    out_console.print(comparison_table(results, title))
    out_console.print("[bold]Verdict[/bold] (" + verdict.method + ")")
    for line in verdict.lines():
        out_console.print(line, highlight=False, markup=False)
    if verdict.cost_defaults and obj.metric == TOTAL_COST:
        out_console.print(
            "Costs: defaults used for " + ", ".join(verdict.cost_defaults) + " (set them in the "
            "scenario's [costs] table; see docs/decisions.md).",
            highlight=False,
            markup=False,
        )
    out_console.print(f"results: {target}")
    if not no_report:
        out_console.print(f"report: {target / 'report.html'}")
