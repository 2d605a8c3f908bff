"""``syncsim bench``: domain events per CPU second next to bare SimPy's event rate; with
``--peers`` other simulators on comparable work, with ``--profile`` where one run's time goes."""

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
    peer_in_child,
    peers_table,
    scaling_table,
    workload_path,
)
from sim.tools.peers import PEERS, peer_version

PEERS_HINT = "pip install 'syncsim[peers]' (in a checkout: pip install -e '.[peers]')"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _out() -> Console:
    out = Console()
    return out if out.is_terminal else Console(width=132)


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
        bool,
        typer.Option("--quick", help="Short horizons (peak_week 1d, 100k 2h, 10m, supplynet 1d)."),
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
    peers: Annotated[
        bool,
        typer.Option(
            "--peers",
            help="Also measure SupplyNetPy (the supplynet workload) and Ciw (M/M/1) in this "
            "run, when installed (the peers extra). Without -w and -s: supplynet with the "
            "oracle only.",
        ),
    ] = False,
    profile: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--profile",
            metavar="WORKLOAD STRATEGY",
            help="Instead of the table: one run in this process under cProfile; prints calls "
            "and SimPy steps per domain event, the time per package and the top functions.",
        ),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="With --profile: write the pstats file here."),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", min=1, help="With --profile: functions listed (20).")
    ] = 20,
) -> None:
    """Syncsim's domain events per CPU second next to bare SimPy's timeout rate."""
    err = Console(stderr=True)

    def fail(message: str, code: int) -> None:
        err.print(message, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code)

    def check_workload(n: str) -> None:
        if n not in WORKLOADS:
            fail(f"syncsim: error: --workload {n}: unknown (known: {', '.join(WORKLOADS)})", 2)

    if profile is not None:
        name, strat = profile
        check_workload(name)
        try:
            resolve_strategy(strat)
            path = workload_path(WORKLOADS[name])
        except (StrategyError, ScenarioError) as exc:
            fail(f"syncsim: error: {exc}", 2)
        _profile(name, strat, path, quick, top, out_file, json_out)
        return
    if out_file is not None:
        fail("syncsim: error: --out goes with --profile (the pstats file of that run)", 2)

    alone = peers and not workload and not strategy
    names = ["supplynet"] if alone else (workload or list(WORKLOADS))
    for n in names:
        check_workload(n)
    default = ["oracle"] if alone else [n for n in BUILTIN_ORDER if n in installed_strategies()]
    strategies = strategy or default
    try:
        for s in strategies:
            resolve_strategy(s)
        paths = {n: workload_path(WORKLOADS[n]) for n in names}
        supplynet = workload_path(WORKLOADS["supplynet"])
    except (StrategyError, ScenarioError) as exc:
        fail(f"syncsim: error: {exc}", 2)
    versions = {k: peer_version(k) for k in PEERS} if peers else {}
    load0 = os.getloadavg()[0]  # CPU time is steadier than wall time, but not immune
    bare_runs = max(3, repeat)
    bare = bare_simpy_rate(repeats=bare_runs)
    rows: list[dict[str, Any]] = []
    peer_rows: dict[str, dict[str, Any] | str] = {}
    peer_horizon = WORKLOADS["supplynet"].quick_duration if quick else None
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
        for key, version in versions.items():
            if version is None:
                peer_rows[key] = f"not installed: {PEERS_HINT}"
                continue
            status.update(f"peer: {PEERS[key].name}")
            try:
                peer_rows[key] = peer_in_child(key, supplynet, peer_horizon, repeat)
            except RuntimeError as exc:
                peer_rows[key] = f"failed: {exc}"
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
        status.update("bare SimPy again")
        bare_end = bare_simpy_rate(repeats=bare_runs)
    bare_all = (bare, bare_end)
    bare = max(bare_all)
    out = _out()
    load = (load0, os.getloadavg()[0])
    out.print(bench_table(rows, bare, quick, load))
    if peers:
        if not any(v for v in versions.values()):
            names_ = " and ".join(p.name for p in PEERS.values())
            out.print(f"peers: {names_} are not installed; {PEERS_HINT}", markup=False)
        else:
            ours = [r for r in rows if r["workload"] == "supplynet"]
            horizon = peer_horizon or "14d"
            out.print(peers_table(ours, peer_rows, bare, horizon))
    if scaling:
        out.print(scaling_table(scale_rows, "12h" if quick else "1d"))
    if json_out is not None:
        data = {
            "bare_simpy_per_cpu_s": bare,
            "bare_simpy_per_cpu_s_start_end": list(bare_all),
            "bare_simpy_per_s": bare,  # the name before CPU time (kept for old readers)
            "load": load,
            "runs": rows,
            "scaling": scale_rows,
            "peers": peer_rows,
        }
        _write_json(json_out, data)


def _profile(
    name: str,
    strategy: str,
    path: Path,
    quick: bool,
    top: int,
    out_file: Path | None,
    json_out: Path | None,
) -> None:
    from sim.tools.profiling import profile_run, profile_tables

    duration = WORKLOADS[name].quick_duration if quick else None
    with Console(stderr=True).status(f"profiling {name} / {strategy}"):
        result = profile_run(path, name, strategy, duration, top=top)
    out = _out()
    for table in profile_tables(result):
        out.print(table)
    if out_file is not None:
        result.stats.dump_stats(str(out_file))
        out.print(f"pstats written to {out_file}", markup=False, highlight=False)
    if json_out is not None:
        _write_json(json_out, result.to_json())
