"""``syncsim compare``: every built-in strategy on common seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.assembly.executor import Job, default_workers, run_jobs
from sim.assembly.runner import SimulationError
from sim.cli.app import app, out_console
from sim.cli.common import (
    MAX_SEED,
    OUT_HELP,
    AllowLarge,
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
from sim.registry import (
    BUILTIN_ORDER,
    installed_strategies,
)
from sim.tools.outdir import check_out
from sim.tools.results import new_run_dir, write_results


@app.command("compare")
def compare_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file or catalogue id.")],
    replications: Annotated[int, typer.Option("--replications", "-r", min=1, max=10_000)] = 1,
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
    """Every built-in strategy on the same seeds (common random numbers), with 95% CIs."""
    with errors():
        transport_arg(transport)
        names = [n for n in BUILTIN_ORDER if n in installed_strategies()]
        sc = load(scenario, parse_overrides(set_), names, allow_large)
        seeds = seed_range(seed, replications)
        target = check_out(out) if out else new_run_dir(Path("results"), sc.id)
        keep = {"keep_history": not no_history, "allow_large": allow_large, "transport": transport}
        jobs = [Job(sc, n, s, options=keep) for s in seeds for n in names]
        with progress(len(jobs), False) as prog:
            task = prog.add_task(f"{sc.id}: {len(jobs)} runs", total=len(jobs))
            try:
                results = run_jobs(
                    jobs, workers or default_workers(), lambda i, r: prog.advance(task)
                )
            except SimulationError as exc:
                raise with_replay(scenario, set_, exc) from None
        write_results(target, results)
        if not no_report:
            write_report_into(target)
    title = f"{sc.id}: {len(names)} strategies x seeds {seeds[0]}..{seeds[-1]}"
    out_console.print(comparison_table(results, title))
    if replications == 1:
        out_console.print("(one replication: use --replications for confidence intervals)")
    out_console.print(f"results: {target}")
    if not no_report:
        out_console.print(f"report: {target / 'report.html'}")
