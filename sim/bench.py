"""``syncsim bench``: syncsim's event rate next to bare SimPy's, on fixed workloads.

What is measured, per workload and strategy, each run in a fresh Python process (so peak
memory is that run's own):

- **bare SimPy**: timeouts per wall second of a loop of ``env.timeout`` in 100 concurrent
  processes (a heap of 100 pending events), measured in the same ``bench`` invocation
  (best of three);
- **domain events**: the ``domain_events`` metric of the run (``sim.world.World.domain_events``):
  state changes applied to system records, counted once each: order lines demanded,
  changes of truth (ledger availability changes), physical movements, ERP postings, SKU
  values written to channels (one per SKU and channel written, whether by one call or a bulk
  export) and integration calls (ERP, WMS and channel APIs). A SimPy event that changes
  nothing (a timeout that finds nothing to do) is not a domain event;
- **domain events/s**: domain events / ``wall_seconds`` (the simulation clock loop, without
  building the world and computing metrics), and its **ratio** to the bare SimPy rate;
- **wall per simulated day**: the whole run (building the world, simulating, metrics and
  checks) divided by simulated days;
- **peak memory**: the child process's maximum resident set size (``getrusage``).

Workloads: ``peak_week`` (the catalogue scenario), ``catalog_100k`` (100,000 SKUs, 10
locations, 6 channels, one day: ``bench/catalog_100k.toml``) and ``flash_sale`` (an order
every second for an hour: ``bench/flash_sale.toml``). ``--quick`` shortens every horizon.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import simpy
import typer
from rich.console import Console
from rich.table import Table

from sim.registry import BUILTIN_ORDER, StrategyError, installed_strategies, resolve_strategy
from sim.scenario import ScenarioError, find_scenario

__all__ = [
    "SCALING",
    "WORKLOADS",
    "Workload",
    "bare_simpy_rate",
    "bench_one",
    "register",
    "workload_path",
]

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"

BENCH_HELP = (
    "Syncsim's domain events per second next to bare SimPy's timeout rate, per workload and "
    "built-in strategy, each run in a fresh process.\n\n"
    "A domain event (the domain_events metric) is one state change applied to a system "
    "record: an order line demanded, a change of truth, a physical movement, an ERP posting, "
    "one SKU value written to a channel (each SKU of a bulk write counts once) or one "
    "integration call (ERP, WMS, channel APIs). A SimPy event that changes nothing is not one. "
    "Domain events/s divide by wall_seconds (the simulation loop); the ratio is to bare SimPy "
    "(100 processes looping env.timeout, best of three, measured in this invocation); wall per "
    "simulated day covers the whole run; peak memory is the run's maximum resident set.\n\n"
    "Workloads: peak_week; catalog_100k (100,000 SKUs, 10 locations, 6 channels, one day); "
    "flash_sale (an order every second for an hour). --quick: 1d, 2h, 10m. --repeat N keeps "
    "the fastest of N runs of each (the trace must be the same every time)."
)


@dataclass(frozen=True)
class Workload:
    name: str
    ref: str  # catalogue id or file name under bench/
    quick_duration: str  # horizon with --quick


WORKLOADS: dict[str, Workload] = {
    "peak_week": Workload("peak_week", "peak_week", "1d"),
    "catalog_100k": Workload("catalog_100k", "catalog_100k.toml", "2h"),
    "flash_sale": Workload("flash_sale", "flash_sale", "10m"),
}


def workload_path(w: Workload) -> Path:
    """The scenario file of a workload: ``bench/`` first (fixed benchmark workloads, e.g. the
    flash-sale hour itself), else the catalogue."""
    name = w.ref if w.ref.endswith(".toml") else f"{w.ref}.toml"
    path = BENCH_DIR / name
    if path.is_file():
        return path
    try:
        return find_scenario(w.ref)
    except ScenarioError:
        raise ScenarioError(f"{w.name}: no {path} and no catalogue scenario {w.ref!r}") from None


def bare_simpy_rate(events: int = 300_000, procs: int = 100, repeats: int = 3) -> float:
    """Bare SimPy timeouts processed per wall second (best of ``repeats``)."""
    best = 0.0
    per = events // procs
    for _ in range(repeats):
        env = simpy.Environment()

        def loop(env: simpy.Environment, k: int) -> Any:
            delay = 1.0 + k / procs  # distinct times: a real heap, not one bucket
            for _ in range(per):
                yield env.timeout(delay)

        for k in range(procs):
            env.process(loop(env, k))
        t0 = time.perf_counter()
        env.run()
        best = max(best, per * procs / (time.perf_counter() - t0))
    return best


def bench_one(
    path: str,
    strategy: str,
    duration: str | None,
    seed: int = 1,
    overrides: dict[str, Any] | None = None,
    demand_factor: float = 1.0,
) -> dict[str, Any]:
    """One run in this process; the figures the table shows (the child's work).
    ``demand_factor`` multiplies every channel's order rate."""
    from sim.runner import run
    from sim.scenario import load_scenario

    over = dict(overrides or {})
    if duration:
        over["scenario.duration"] = duration
    sc = load_scenario(path, over or None)
    if demand_factor != 1.0:
        rates = {f"channels.{c.name}.orders_per_hour": c.orders_per_hour for c in sc.channels}
        sc = load_scenario(path, {**over, **{k: v * demand_factor for k, v in rates.items()}})
    t0 = time.perf_counter()
    c0 = time.process_time()
    r = run(sc, strategy, seed, keep_history=False, recovery_baseline=False)
    cpu = time.process_time() - c0
    total = time.perf_counter() - t0
    return {
        "scenario": sc.id,
        "strategy": strategy,
        "sim_seconds": r.sim_seconds,
        "domain_events": int(r.metrics["domain_events"]),
        "sim_wall_s": float(r.metrics["wall_seconds"]),
        "total_wall_s": total,
        "total_cpu_s": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trace_hash": r.trace_hash,
    }


def _child(
    path: Path,
    strategy: str,
    duration: str | None,
    overrides: dict[str, Any] | None = None,
    demand_factor: float = 1.0,
    repeat: int = 1,
    key: str = "sim_wall_s",
) -> dict[str, Any]:
    """The run in ``repeat`` fresh processes; the fastest by ``key`` (best of N: on a shared
    machine, other load only ever slows a run down). Every repeat must give the same trace."""
    extra = json.dumps({"overrides": overrides or {}, "demand_factor": demand_factor})
    cmd = [sys.executable, "-m", "sim.bench", str(path), strategy, duration or "", extra]
    rows = []
    for _ in range(repeat):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"{path.name} / {strategy}: the run failed: {tail}")
        rows.append(dict(json.loads(proc.stdout.strip().splitlines()[-1])))
    if len({r["trace_hash"] for r in rows}) > 1:
        raise RuntimeError(f"{path.name} / {strategy}: repeats of one seed differ (nondeterminism)")
    best = min(rows, key=lambda r: float(r[key]))
    best["repeats"] = repeat
    return best


def _table(
    rows: list[dict[str, Any]], bare: float, quick: bool, load: tuple[float, float]
) -> Table:
    best = rows[0].get("repeats", 1) if rows else 1
    title = (
        f"syncsim bench{' --quick' if quick else ''}"
        f"{f' (best of {best})' if best > 1 else ''}: bare SimPy {bare:,.0f} timeouts/s "
        f"(load average {load[0]:.1f} at start, {load[1]:.1f} at end, {os.cpu_count()} CPUs)"
    )
    table = Table(title=title)
    for col in (
        "workload",
        "strategy",
        "sim time",
        "domain events",
        "domain events/s",
        "ratio",
        "wall/sim day",
        "peak memory",
    ):
        table.add_column(col, justify="left" if col in ("workload", "strategy") else "right")
    for r in rows:
        rate = r["domain_events"] / r["sim_wall_s"] if r["sim_wall_s"] > 0 else 0.0
        days = r["sim_seconds"] / 86400
        table.add_row(
            r["workload"],
            r["strategy"],
            _span(r["sim_seconds"]),
            f"{r['domain_events']:,}",
            f"{rate:,.0f}",
            f"{rate / bare:.1%}",
            f"{r['total_wall_s'] / days:,.1f} s",
            f"{r['peak_rss_mb']:,.0f} MB",
        )
    return table


#: (label, scenario overrides, demand factor) of the scaling check on peak_week
SCALING: tuple[tuple[str, dict[str, Any], float], ...] = (
    ("base", {}, 1.0),
    ("2x demand", {}, 2.0),
    ("10x catalogue", {"catalogue.skus": 20000}, 1.0),
)


def _scaling_table(rows: list[dict[str, Any]], horizon: str) -> Table:
    best = rows[0].get("repeats", 1) if rows else 1
    table = Table(
        title=f"scaling on peak_week ({horizon}; 2,000 SKUs; CPU seconds of the whole run"
        f"{f', best of {best}' if best > 1 else ''})"
    )
    for col in ("strategy", "base CPU s", "2x demand", "events", "10x catalogue", "events"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    by: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["strategy"], {})[r["case"]] = r
    for strategy, cases in by.items():
        base = cases["base"]
        cells = [strategy, f"{base['total_cpu_s']:.1f}"]
        for case in ("2x demand", "10x catalogue"):
            r = cases[case]
            cells.append(f"x{r['total_cpu_s'] / base['total_cpu_s']:.2f} time")
            cells.append(f"x{r['domain_events'] / base['domain_events']:.2f}")
        table.add_row(*cells)
    return table


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def register(app: Any) -> None:
    """Add ``syncsim bench`` to the command line ``app``."""

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
                        row = _child(paths[n], s, dur, repeat=repeat)
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
                            row = _child(peak, s, horizon, over, factor, repeat, "total_cpu_s")
                        except RuntimeError as exc:
                            fail(f"syncsim: bench failed: {exc}", 1)
                        scale_rows.append({"case": case, **row})
        out = Console()
        if not out.is_terminal:
            out = Console(width=132)
        load = (load0, os.getloadavg()[0])
        out.print(_table(rows, bare, quick, load))
        if scaling:
            out.print(_scaling_table(scale_rows, "12h" if quick else "1d"))
        if json_out is not None:
            tmp = json_out.with_name(f".{json_out.name}.tmp")
            data = {"bare_simpy_per_s": bare, "load": load, "runs": rows, "scaling": scale_rows}
            tmp.write_text(json.dumps(data, indent=2))
            os.replace(tmp, json_out)


def _main(argv: Sequence[str]) -> None:
    path, strategy, duration, extra = argv
    opts = json.loads(extra)
    row = bench_one(
        path, strategy, duration or None, 1, opts["overrides"], float(opts["demand_factor"])
    )
    print(json.dumps(row))  # noqa: T201


if __name__ == "__main__":
    _main(sys.argv[1:])
