"""``syncsim bench``: syncsim's event rate next to bare SimPy's, in CPU time, on fixed workloads.

What is measured, per workload and strategy, each run in a fresh Python process (so peak
memory is that run's own), best of ``--repeat`` runs:

- **bare SimPy**: timeouts per CPU second of a loop of ``env.timeout`` in 100 concurrent
  processes (a heap of 100 pending events), measured in the same ``bench`` invocation, best
  of at least three, before the runs and again after them (the best of all is kept);
- **domain events**: the ``domain_events`` metric of the run
  (``sim.assembly.world.World.domain_events``):
  state changes applied to system records, counted once each: order lines demanded,
  changes of truth (ledger availability changes), physical movements, ERP postings, SKU
  values written to channels (one per SKU and channel written, whether by one call or a bulk
  export) and integration calls (ERP, WMS and channel APIs). A SimPy event that changes
  nothing (a timeout that finds nothing to do) is not a domain event;
- **domain events per CPU second**: domain events / the CPU time (``time.process_time``) of
  the run loop (``sim.loop.Loop.run``: the simulation, without building the world and
  computing metrics), and its **ratio** to the bare SimPy rate;
- **SimPy steps per domain event**: the run loop's step count (``Loop.steps``) over
  domain events: the machinery each event drives;
- **orders per CPU second** (workloads of unit orders, ``Workload.unit_orders``): orders
  demanded over the same CPU time, the figure to set next to ``--peers``;
- **CPU per simulated day**: the whole run (building the world, simulating, metrics and
  checks) divided by simulated days;
- **peak memory**: the child process's maximum resident set size (``getrusage``).

CPU time, not wall time: on a shared machine other processes take the CPU away from a run
(its wall time grows) but rarely its CPU time; the best of N keeps the least disturbed.

Workloads: ``peak_week`` (the catalogue scenario), ``catalog_100k`` (100,000 SKUs, 10
locations, 6 channels, one day: ``bench/catalog_100k.toml``), ``flash_sale`` (an order
every second for an hour: ``bench/flash_sale.toml``) and ``supplynet`` (SupplyNetPy's kind
of workload: one SKU, one location, one channel, (s, S)-like replenishment, Poisson unit
orders, two weeks: ``bench/supplynet.toml``). ``--quick`` shortens every horizon. ``--peers``
(``sim.tools.peers``) and ``--profile`` (``sim.tools.profiling``) are described there.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simpy
from rich.markup import escape
from rich.table import Table

from sim.loop import Loop
from sim.scenario import ScenarioError, find_scenario

__all__ = [
    "BENCH_HELP",
    "SCALING",
    "WORKLOADS",
    "LoopMeter",
    "Workload",
    "bare_simpy_rate",
    "bench_in_child",
    "bench_one",
    "bench_table",
    "metered_loop",
    "peer_in_child",
    "peers_table",
    "scaling_table",
    "workload_path",
]

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"

BENCH_HELP = (
    "Syncsim's domain events per CPU second next to bare SimPy's timeout rate, per workload "
    "and built-in strategy, each run in a fresh process.\n\n"
    "A domain event (the domain_events metric) is one state change applied to a system "
    "record: an order line demanded, a change of truth, a physical movement, an ERP posting, "
    "one SKU value written to a channel (each SKU of a bulk write counts once) or one "
    "integration call (ERP, WMS, channel APIs). A SimPy event that changes nothing is not one. "
    "Domain events per CPU second divide by the CPU time of the simulation loop; the ratio is "
    "to bare SimPy's timeouts per CPU second (100 processes looping env.timeout, best of three "
    "or more, measured in this invocation before and after the runs); steps/event is SimPy "
    "steps per domain event; CPU per simulated day covers the whole run; peak memory is the "
    "run's maximum resident set.\n\n"
    "Workloads: peak_week; catalog_100k (100,000 SKUs, 10 locations, 6 channels, one day); "
    "flash_sale (an order every second for an hour); supplynet (SupplyNetPy's kind: one SKU, "
    "one location, one channel, (s,S) replenishment, Poisson unit orders, two weeks; also "
    "orders per CPU second). --quick: 1d, 2h, 10m, 1d. --repeat N keeps the fastest of N runs "
    "of each (the trace must be the same every time).\n\n"
    "--peers: SupplyNetPy on the supplynet parameters and Ciw on an M/M/1 queue, in this same "
    "invocation (the optional extra named peers); alone it benchmarks supplynet with the oracle "
    "next to them. --profile WORKLOAD STRATEGY: one run in this process under cProfile: calls "
    "and SimPy steps per domain event, the top functions, the time per package."
)


@dataclass(frozen=True)
class Workload:
    name: str
    ref: str  # catalogue id or file name under bench/
    quick_duration: str  # horizon with --quick
    unit_orders: bool = False  # each order one line of one unit: orders = units demanded


WORKLOADS: dict[str, Workload] = {
    "peak_week": Workload("peak_week", "peak_week", "1d"),
    "catalog_100k": Workload("catalog_100k", "catalog_100k.toml", "2h"),
    "flash_sale": Workload("flash_sale", "flash_sale", "10m"),
    "supplynet": Workload("supplynet", "supplynet.toml", "1d", unit_orders=True),
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
    """Bare SimPy timeouts processed per CPU second (``time.process_time``), best of
    ``repeats``."""
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
        c0 = time.process_time()
        env.run()
        cpu = time.process_time() - c0
        if cpu > 0:
            best = max(best, per * procs / cpu)
    return best


# -- the run loop, metered ------------------------------------------------------------------
@dataclass
class LoopMeter:
    """What the run loops of the runs inside ``metered_loop`` did: CPU seconds inside
    ``Loop.run``, their steps (``Loop.steps``) and how many loops ran."""

    cpu: float = 0.0
    steps: int = 0
    loops: int = 0
    profiler: Any = None  # a cProfile.Profile enabled inside Loop.run only


class _MeteredLoop(Loop):
    """The run loop with a CPU clock (and optionally a profiler) around ``run``. It changes
    nothing the loop does; the runner builds it in place of ``Loop`` inside ``metered_loop``."""

    meter: LoopMeter | None = None

    def run(self, *args: Any, **kwargs: Any) -> None:
        meter = type(self).meter
        if meter is None:  # pragma: no cover - only installed by metered_loop
            super().run(*args, **kwargs)
            return
        profiler = meter.profiler
        c0 = time.process_time()
        if profiler is not None:
            profiler.enable()
        try:
            super().run(*args, **kwargs)
        finally:
            if profiler is not None:
                profiler.disable()
            meter.cpu += time.process_time() - c0
            meter.steps += self.steps
            meter.loops += 1


@contextlib.contextmanager
def metered_loop(profiler: Any = None) -> Iterator[LoopMeter]:
    """Meter the run loop of every run inside the block (``sim.assembly.runner`` builds its
    ``Loop`` by name; the meter is swapped in for the block and then put back)."""
    from sim.assembly import runner

    meter = LoopMeter(profiler=profiler)
    previous = runner.Loop
    _MeteredLoop.meter = meter
    runner.Loop = _MeteredLoop  # type: ignore[misc]
    try:
        yield meter
    finally:
        runner.Loop = previous  # type: ignore[misc]
        _MeteredLoop.meter = None


def bench_one(
    path: str,
    strategy: str,
    duration: str | None,
    seed: int = 1,
    overrides: dict[str, Any] | None = None,
    demand_factor: float = 1.0,
    profiler: Any = None,
) -> dict[str, Any]:
    """One run in this process; the figures the table shows (the child's work).
    ``demand_factor`` multiplies every channel's order rate; ``profiler`` (a
    ``cProfile.Profile``) is enabled around the run loop only."""
    from sim.assembly.runner import run
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
    with metered_loop(profiler) as meter:
        r = run(sc, strategy, seed, keep_history=False, recovery_baseline=False)
    cpu = time.process_time() - c0
    total = time.perf_counter() - t0
    return {
        "scenario": sc.id,
        "strategy": strategy,
        "sim_seconds": r.sim_seconds,
        "domain_events": int(r.metrics["domain_events"]),
        "units_demanded": int(r.metrics["units_demanded"]),
        "sim_wall_s": float(r.metrics["wall_seconds"]),
        "sim_cpu_s": meter.cpu,
        "loop_steps": meter.steps,
        "total_wall_s": total,
        "total_cpu_s": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trace_hash": r.trace_hash,
    }


def _child(cmd: list[str], what: str, repeat: int, key: str) -> dict[str, Any]:
    """``cmd`` in ``repeat`` fresh processes; the row with the smallest ``key``."""
    rows = []
    for _ in range(repeat):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"{what}: the run failed: {tail}")
        rows.append(dict(json.loads(proc.stdout.strip().splitlines()[-1])))
    best = min(rows, key=lambda r: float(r[key]))
    best["repeats"] = repeat
    best["all_" + key] = [float(r[key]) for r in rows]
    return best


def bench_in_child(
    path: Path,
    strategy: str,
    duration: str | None,
    overrides: dict[str, Any] | None = None,
    demand_factor: float = 1.0,
    repeat: int = 1,
    key: str = "sim_cpu_s",
) -> dict[str, Any]:
    """The run in ``repeat`` fresh processes; the fastest by ``key`` (best of N: on a shared
    machine, other load only ever slows a run down). Every repeat must give the same trace."""
    extra = json.dumps({"overrides": overrides or {}, "demand_factor": demand_factor})
    cmd = [sys.executable, "-m", "sim.tools.bench", str(path), strategy, duration or "", extra]
    rows = [_child(cmd, f"{path.name} / {strategy}", 1, key) for _ in range(repeat)]
    if len({r["trace_hash"] for r in rows}) > 1:
        raise RuntimeError(f"{path.name} / {strategy}: repeats of one seed differ (nondeterminism)")
    best = dict(min(rows, key=lambda r: float(r[key])))
    best["repeats"] = repeat
    best["all_" + key] = [float(r[key]) for r in rows]
    return best


def peer_in_child(key: str, path: Path, duration: str | None, repeat: int = 1) -> dict[str, Any]:
    """A peer simulator (``sim.tools.peers``) on the supplynet parameters, in ``repeat`` fresh
    processes; the fastest by simulation CPU time."""
    cmd = [sys.executable, "-m", "sim.tools.bench", "--peer", key, str(path), duration or ""]
    return _child(cmd, key, repeat, "sim_cpu_s")


# -- tables ---------------------------------------------------------------------------------
def _rate(count: float, cpu: float) -> float:
    return count / cpu if cpu > 0 else 0.0


def _unit_orders(workload: str) -> bool:
    w = WORKLOADS.get(workload)
    return w is not None and w.unit_orders


def bench_table(
    rows: list[dict[str, Any]], bare: float, quick: bool, load: tuple[float, float]
) -> Table:
    best = rows[0].get("repeats", 1) if rows else 1
    title = (
        f"syncsim bench{' --quick' if quick else ''}{f' (best of {best})' if best > 1 else ''}: "
        f"per CPU second of the simulation loop; bare SimPy {bare:,.0f} timeouts per CPU s "
        f"(load average {load[0]:.1f} at start, {load[1]:.1f} at end, {os.cpu_count()} CPUs)"
    )
    table = Table(title=title)
    unit = any(_unit_orders(r["workload"]) for r in rows)
    cols = ["workload", "strategy", "sim time", "domain events", "events/CPU s", "ratio"]
    cols += ["steps/event", *(["orders/CPU s"] if unit else []), "CPU/sim day", "peak memory"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("workload", "strategy") else "right")
    for r in rows:
        cpu = float(r.get("sim_cpu_s", r["sim_wall_s"]))
        rate = _rate(r["domain_events"], cpu)
        days = r["sim_seconds"] / 86400
        steps = r.get("loop_steps", 0)
        cells = [
            r["workload"],
            r["strategy"],
            _span(r["sim_seconds"]),
            f"{r['domain_events']:,}",
            f"{rate:,.0f}",
            f"{rate / bare:.1%}" if bare > 0 else "-",
            f"{steps / r['domain_events']:.2f}" if steps and r["domain_events"] else "-",
        ]
        if unit:
            orders = _rate(r.get("units_demanded", 0), cpu)
            cells.append(f"{orders:,.0f}" if _unit_orders(r["workload"]) else "")
        cells.append(f"{r.get('total_cpu_s', r['total_wall_s']) / days:,.1f} s")
        cells.append(f"{r['peak_rss_mb']:,.0f} MB")
        table.add_row(*cells)
    return table


def peers_table(
    ours: list[dict[str, Any]],
    peers: dict[str, dict[str, Any] | str],
    bare: float,
    horizon: str,
) -> Table:
    """syncsim's supplynet rows next to each peer (a row, or why there is none)."""
    from sim.tools.peers import PEERS

    best = max([r.get("repeats", 1) for r in ours] + [1])
    table = Table(
        title=f"peers on the supplynet workload ({horizon}"
        f"{f', best of {best}' if best > 1 else ''}): per CPU second of the simulation; "
        f"bare SimPy {bare:,.0f} timeouts per CPU s"
    )
    for col in ("simulator", "model", "counted", "count", "CPU s", "per CPU s", "ratio"):
        table.add_column(col, justify="left" if col in ("simulator", "model") else "right")
    first = 0.0
    for r in ours:
        rate = _rate(r["units_demanded"], r["sim_cpu_s"])
        first = first or rate
        table.add_row(
            f"syncsim ({r['strategy']})",
            "ERP, WMS, channel, ledger; (s,S) in the ERP",
            "orders",
            f"{r['units_demanded']:,}",
            f"{r['sim_cpu_s']:.2f}",
            f"{rate:,.0f}",
            f"{rate / bare:.1%}" if bare > 0 else "-",
        )
    models = {"supplynetpy": "one distributor, (s,S), Poisson unit orders", "ciw": "M/M/1, ρ 0.8"}
    for key, peer in PEERS.items():
        got = peers.get(key)
        if not isinstance(got, dict):  # not installed, or failed: say so on its row
            table.add_row(peer.name, escape(got or "not measured"), peer.counts, "", "", "", "")
            continue
        rate = _rate(got["count"], got["sim_cpu_s"])
        table.add_row(
            f"{peer.name} {got.get('version', '')}".strip(),
            models[key],
            peer.counts,
            f"{got['count']:,}",
            f"{got['sim_cpu_s']:.2f}",
            f"{rate:,.0f}",
            f"{rate / bare:.1%}" if bare > 0 else "-",
        )
    return table


#: (label, scenario overrides, demand factor) of the scaling check on peak_week
SCALING: tuple[tuple[str, dict[str, Any], float], ...] = (
    ("base", {}, 1.0),
    ("2x demand", {}, 2.0),
    ("10x catalogue", {"catalogue.skus": 20000}, 1.0),
)


def scaling_table(rows: list[dict[str, Any]], horizon: str) -> Table:
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


def _main(argv: Sequence[str]) -> None:
    if argv and argv[0] == "--peer":
        from sim.tools.peers import peer_run, peer_version

        key, path, duration = argv[1:]
        row = peer_run(key, path, duration or None)
        row["version"] = peer_version(key) or ""
        print(json.dumps(row))  # noqa: T201
        return
    path, strategy, duration, extra = argv
    opts = json.loads(extra)
    row = bench_one(
        path, strategy, duration or None, 1, opts["overrides"], float(opts["demand_factor"])
    )
    print(json.dumps(row))  # noqa: T201


if __name__ == "__main__":
    _main(sys.argv[1:])
