"""``syncsim chaos``: a seeded fault swarm, failing seeds and their replay."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sim.assembly.executor import Job, RunError, default_workers, run_differences, run_jobs
from sim.cli.app import app, out_console
from sim.cli.common import (
    MAX_SEED,
    OUT_HELP,
    AllowLarge,
    InputError,
    errors,
    load,
    progress,
    seed_range,
    write_report_into,
)
from sim.dists import parse_duration
from sim.tools.chaos import Verdict, chaos_scenario, judge, replay_command
from sim.tools.outdir import check_out
from sim.tools.results import new_run_dir, write_results


@app.command("chaos")
def chaos_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file or catalogue id.")],
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="Name or module:Class.")],
    seeds: Annotated[int, typer.Option(min=1, max=100_000, help="How many seeds to try.")] = 10,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="First seed.")] = 1,
    recovery_bound: Annotated[
        str, typer.Option(help="Longest acceptable time to recovery (e.g. 4h).")
    ] = "4h",
    workers: Annotated[int, typer.Option(min=0, help="Parallel runs (0: one per CPU).")] = 0,
    check_determinism: Annotated[
        bool, typer.Option("--check-determinism", help="Run every seed twice; compare.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Do not write report.html and the plots.")
    ] = False,
    allow_large: AllowLarge = False,
) -> None:
    """A seeded fault swarm: each seed draws its own fault plan; exit 1 if any run fails.

    Every run is checked (conservation, invariants, bus accounting, nothing lost, recovery
    within a bound). Failing seeds are printed with the command that replays each."""
    with errors():
        sc = load(scenario, {}, [strategy], allow_large)
        try:
            bound = parse_duration(recovery_bound)
        except ValueError as exc:
            raise InputError(f"--recovery-bound: {exc}") from None
        seed_list = seed_range(seed, seeds)
        target = (
            check_out(out)
            if out
            else new_run_dir(Path("results"), f"{sc.id}-chaos-{strategy.replace(':', '-')}")
        )
        # each seed's no-fault twin gives the band that recovery is judged against
        opts = {"check": False, "recovery_baseline": True, "keep_history": False}
        jobs = [
            Job(chaos_scenario(sc, s), strategy, s, options=opts, capture_errors=True)
            for s in seed_list
        ]
        if check_determinism:
            jobs = [j for j in jobs for _ in (0, 1)]
        with progress(len(jobs), False) as prog:
            task = prog.add_task(f"chaos {sc.id} / {strategy}", total=len(jobs))
            results = run_jobs(jobs, workers or default_workers(), lambda i, r: prog.advance(task))
    verdicts = []
    step = 2 if check_determinism else 1
    for k in range(0, len(results), step):
        r = results[k]
        if isinstance(r, RunError):
            v = Verdict(r.seed, False, [r.message])
        else:
            v = judge(r, bound)
            if check_determinism and run_differences(r, results[k + 1]):
                v.ok = False
                v.reasons.append("not deterministic: two runs of this seed differ")
        verdicts.append(v)
    kept = [r for r in results[::step] if not isinstance(r, RunError)]
    if kept:
        with errors():
            write_results(target, kept)
            if not no_report:
                write_report_into(target)
    table = Table(title=f"chaos: {sc.id} / {strategy}, seeds {seed_list[0]}..{seed_list[-1]}")
    for col in ("seed", "faults", "verdict", "recovery s", "trace", "why"):
        table.add_column(col)
    for v in verdicts:
        table.add_row(
            str(v.seed), ", ".join(v.faults), "ok" if v.ok else "FAIL",
            f"{v.time_to_recovery_s:.0f}", v.trace_hash[:12], "; ".join(v.reasons),
        )  # fmt: skip
    out_console.print(table)
    failed = [v for v in verdicts if not v.ok]
    ok = len(verdicts) - len(failed)
    out_console.print(f"seeds: {ok} ok, {len(failed)} failing; results: {target}")
    if failed:
        for v in failed:
            out_console.print(
                f"seed {v.seed} failed; replay: "
                f"{replay_command(scenario, strategy, v.seed, recovery_bound)}",
                markup=False, highlight=False, soft_wrap=True,
            )  # fmt: skip
        raise typer.Exit(1)
