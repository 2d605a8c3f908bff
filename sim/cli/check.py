"""``syncsim check``: the conformance checker on any strategy (determinism, checks, faults,
chaos)."""

from __future__ import annotations

from typing import Annotated

import typer

from sim.assembly.executor import default_workers
from sim.cli.app import app, out_console, say
from sim.cli.common import InputError, errors, progress
from sim.dists import parse_duration
from sim.tools.conformance import CheckOutcome, check


@app.command("check")
def check_cmd(
    strategy: Annotated[str, typer.Argument(help="Strategy name or module:Class.")],
    scenario: Annotated[str, typer.Option(help="Scenario to check on.")] = "smoke",
    seed: Annotated[int, typer.Option(min=0)] = 1,
    horizon: Annotated[str, typer.Option(help="Simulated time per run.")] = "6h",
    chaos_seeds: Annotated[int, typer.Option(min=0, help="Seeds of the chaos swarm.")] = 3,
    recovery_bound: Annotated[
        str, typer.Option(help="Longest acceptable recovery after a fault.")
    ] = "2h",
    workers: Annotated[int, typer.Option(min=0, help="Parallel runs (0: one per CPU).")] = 1,
    step_budget: Annotated[
        float | None,
        typer.Option(min=0, help="Wall seconds one step may take (hung strategy)."),
    ] = None,
) -> None:
    """Conformance checks of a strategy; exit 1 if any check fails.

    Determinism, conservation, invariants, bus accounting, each fault kind, a chaos swarm."""
    with errors():
        try:
            parse_duration(horizon)
            parse_duration(recovery_bound)
        except ValueError as exc:
            raise InputError(f"--horizon/--recovery-bound: {exc}") from None
        with progress(1, False) as prog:
            task = prog.add_task(f"checking {strategy}", total=None)

            def step(o: CheckOutcome) -> None:
                prog.update(task, description=f"{strategy}: {o.name}")

            report = check(
                strategy, scenario, seed=seed, horizon=horizon, chaos_seeds=chaos_seeds,
                recovery_bound=recovery_bound, workers=workers or default_workers(),
                step_budget=step_budget, on_check=step,
            )  # fmt: skip
    out_console.print(report.table())
    if not report.ok:
        say(f"syncsim: check failed: {strategy}: {', '.join(report.failed)}")
        raise typer.Exit(1)
