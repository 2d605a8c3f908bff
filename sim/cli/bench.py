"""``syncsim bench``: domain events per CPU second next to bare SimPy's event rate."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sim.cli.app import app
from sim.registry import BUILTIN_ORDER, StrategyError, installed_strategies, resolve_strategy
from sim.scenario import ScenarioError
from sim.tools.bench import (
    BENCH_HELP,
    SCALING,
    WORKLOADS,
    bare_simpy_rate,
    bench_in_child,
    bench_table,
    scaling_table,
    workload_path,
)


@app.command("bench", help=BENCH_HELP)
def bench_cmd(
    workload: Annotated[
        list[str] | None,
        typer.Option("--workload", "-w", help=f"Repeatable; one of {', '.join(WORKLOADS)}."),
    ] = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option("--strategy", "-s", help="Repeatable; default: every built-in."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Short horizons (peak_week 1d, 100k 2h, 10m).")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the rows to this JSON file.")
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat",
            "-r",
            min=1,
            help="Run each workload this many times and keep the fastest (best of N): "
            "on a shared or virtual machine, other load only slows runs down.",
        ),
    ] = 1,
    scaling: Annotated[
        bool,
        typer.Option(
            "--scaling",
            help="Also check that cost grows with events: peak_week (one day, or 12h "
            "with --quick) at 2x demand and at 10x catalogue, against the base.",
        ),
    ] = False,
) -> None:
    """Syncsim's domain events per second next to bare SimPy's timeout rate."""
    err = Console(stderr=True)

    def fail(message: str, code: int) -> None:
        err.print(message, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code)

    names = workload or list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            fail(f"syncsim: error: --workload {n}: unknown (known: {', '.join(WORKLOADS)})", 2)
    strategies = strategy or [n for n in BUILTIN_ORDER if n in installed_strategies()]
    try:
        for s in strategies:
            resolve_strategy(s)
        paths = {n: workload_path(WORKLOADS[n]) for n in names}
    except (StrategyError, ScenarioError) as exc:
        fail(f"syncsim: error: {exc}", 2)
    load0 = os.getloadavg()[0]  # wall-clock rates mean little on a busy machine
    bare = bare_simpy_rate()
    rows: list[dict[str, Any]] = []
    with err.status("benchmarking") as status:
        for n in names:
            for s in strategies:
                status.update(f"{n} / {s}")
                dur = WORKLOADS[n].quick_duration if quick else None
                try:
                    row = bench_in_child(paths[n], s, dur, repeat=repeat)
                except RuntimeError as exc:
                    fail(f"syncsim: bench failed: {exc}", 1)
                rows.append({"workload": n, **row})
        scale_rows: list[dict[str, Any]] = []
        if scaling:
            horizon = "12h" if quick else "1d"
            peak = workload_path(WORKLOADS["peak_week"])
            for s in strategies:
                for case, over, factor in SCALING:
                    status.update(f"scaling: {s} / {case}")
                    try:
                        row = bench_in_child(peak, s, horizon, over, factor, repeat, "total_cpu_s")
                    except RuntimeError as exc:
                        fail(f"syncsim: bench failed: {exc}", 1)
                    scale_rows.append({"case": case, **row})
    out = Console()
    if not out.is_terminal:
        out = Console(width=132)
    load = (load0, os.getloadavg()[0])
    out.print(bench_table(rows, bare, quick, load))
    if scaling:
        out.print(scaling_table(scale_rows, "12h" if quick else "1d"))
    if json_out is not None:
        tmp = json_out.with_name(f".{json_out.name}.tmp")
        data = {"bare_simpy_per_s": bare, "load": load, "runs": rows, "scaling": scale_rows}
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, json_out)
