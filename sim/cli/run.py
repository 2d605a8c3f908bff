"""``syncsim run``: strategies on a scenario, results written and compared."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from sim.assembly.executor import run_differences
from sim.assembly.runner import SimulationError, StrategyRuntimeError
from sim.checks import CheckFailure
from sim.cli.app import app, out_console, say
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
    run_all,
    seed_range,
    transport_arg,
    with_replay,
)
from sim.tools.outdir import check_out
from sim.tools.results import new_run_dir, write_results


@app.command("run")
def run_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file or catalogue id (peak_week).")],
    strategy: Annotated[
        list[str] | None,
        typer.Option("--strategy", "-s", help="Strategy name or module:Class; repeatable."),
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED, help="Seed of the first replication.")
    ] = 1,
    replications: Annotated[int, typer.Option("--replications", "-r", min=1, max=10_000)] = 1,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run objects as JSON.")] = False,
    check_determinism: Annotated[
        bool,
        typer.Option("--check-determinism", help="Run twice; fail on any difference."),
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a scenario value: KEY=VALUE (dotted path)."),
    ] = None,
    no_history: NoHistory = False,
    allow_large: AllowLarge = False,
    transport: Transport = "direct",
) -> None:
    """Run strategies on a scenario; write results/RUN-ID/ and print a comparison."""
    with errors():
        transport_arg(transport)
        names = strategy or ["batch"]
        sc = load(scenario, parse_overrides(set_), names, allow_large)
        seeds = seed_range(seed, replications)
        target = check_out(out) if out else new_run_dir(Path("results"), sc.id)
        try:
            results = run_all(
                sc, names, seeds, quiet=as_json, keep_history=not no_history, transport=transport
            )
        except SimulationError as exc:
            raise with_replay(scenario, set_, exc) from None
        except (CheckFailure, StrategyRuntimeError) as exc:
            kept = getattr(exc, "partial", [])
            if kept:  # the runs so far and the failed run's partial result, marked failed
                write_results(target, kept)
                say(f"syncsim: partial results: {target}")
            raise
        if check_determinism:
            again = run_all(
                sc, names, seeds, quiet=as_json, keep_history=not no_history, transport=transport
            )
            for a, b in zip(results, again, strict=True):
                if run_differences(a, b):
                    raise CheckFailure(
                        f"not deterministic: {a.strategy} seed {a.seed} gave trace "
                        f"{a.trace_hash[:12]} then {b.trace_hash[:12]}"
                    )
        write_results(target, results)
    if as_json:
        objs = [r.to_json() for r in results]
        sys.stdout.write(json.dumps(objs[0] if len(objs) == 1 else objs, indent=2) + "\n")
        return
    out_console.print(comparison_table(results, f"{sc.id}: seeds {seeds[0]}..{seeds[-1]}"))
    out_console.print(f"results: {target}")
