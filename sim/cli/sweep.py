"""``syncsim sweep``: scenario x strategies x grids x seeds, resumable, on any executor."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sim.assembly.executor import submitter
from sim.cli.app import app
from sim.registry import StrategyError
from sim.scenario import (
    ScenarioError,
)
from sim.tools.outdir import OutputError, check_out
from sim.tools.sweep import (
    SweepError,
    SweepRun,
    finished,
    load_sweep,
    plan,
    run_sweep,
)


@app.command("sweep")
def sweep_cmd(
    sweep_file: Annotated[Path, typer.Argument(help="Sweep file (TOML).")],
    workers: Annotated[
        int, typer.Option(min=0, help="Parallel runs (0: one per CPU; 1: in this process).")
    ] = 0,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run on Dask: tcp://HOST:PORT of a running scheduler, or 'local' to "
            "start a LocalCluster of --workers processes."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Results directory (default results/<sweep name>); an existing "
            "one is resumed: finished runs are not redone."
        ),
    ] = None,
    no_report: Annotated[
        bool,
        typer.Option(
            "--no-report",
            help="Do not write report.html: per-point verdicts and response curves, every "
            "grid value kept apart.",
        ),
    ] = False,
) -> None:
    """Run a sweep file: scenario x strategies x parameter grids x seeds.

    Each finished run is written at once; rerun to resume an interrupted sweep (README,
    Sweeps)."""
    err = Console(stderr=True)
    say = Console()

    def fail(message: str, code: int) -> None:
        err.print(message, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code)

    n_workers = workers or (os.cpu_count() or 1)
    if scheduler is not None and not (
        scheduler in ("local", "local-threads") or scheduler.startswith("tcp://")
    ):
        fail(f"syncsim: error: --scheduler {scheduler}: expected tcp://HOST:PORT or local", 2)
    try:
        spec = load_sweep(sweep_file)
        runs = plan(spec)
    except (SweepError, ScenarioError, StrategyError) as exc:
        fail(f"syncsim: error: {exc}", 2)
    target = out or Path("results") / sweep_file.stem
    try:
        check_out(target, "--out", sweep=True)
    except OutputError as exc:
        fail(f"syncsim: error: {exc}", 2)
    done = finished(target) & {r.run_id for r in runs}
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    if done:
        err.print(f"resuming {target}: {len(done)} of {len(runs)} runs already finished")
    try:
        with progress:
            task = progress.add_task(f"sweep {sweep_file.stem}", total=len(runs) - len(done))

            def advance(r: SweepRun, result: Any) -> None:
                progress.advance(task)

            with ExitStack() as stack:
                try:
                    submit = stack.enter_context(submitter(n_workers, scheduler))
                except OSError as exc:
                    fail(f"syncsim: error: --scheduler {scheduler}: {exc}", 2)
                outcome = run_sweep(runs, target, submit, advance, sys.argv)
    except OSError as exc:
        fail(f"syncsim: cannot write results: {target}: {exc.strerror or exc}", 1)
    except OutputError as exc:
        fail(f"syncsim: error: {exc}", 2 if exc.usage else 1)
    except KeyboardInterrupt:
        now = len(finished(target) & {r.run_id for r in runs})
        fail(
            f"syncsim: interrupted: {now} of {len(runs)} runs finished in {target}; "
            "run the same command again to resume",
            130,
        )
    say.print(
        f"sweep {sweep_file.stem}: {len(runs)} runs, {len(outcome.executed)} executed, "
        f"{len(outcome.skipped)} already finished, {len(outcome.failed)} failed; "
        f"results: {target}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for run_id, message in outcome.failed:
        err.print(f"run {run_id} failed: {message}", markup=False, highlight=False)
    if not no_report and not outcome.failed:
        from sim.tools.report import ReportError, write_report

        try:
            say.print(f"report: {write_report(target)}", markup=False, highlight=False)
        except (ReportError, OSError) as exc:
            fail(f"syncsim: error: {target}: could not write the report: {exc}", 1)
    if outcome.failed:
        raise typer.Exit(1)
