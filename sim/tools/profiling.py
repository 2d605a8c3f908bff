"""``syncsim bench --profile WORKLOAD STRATEGY``: where the time of one run goes.

One run of a bench workload, in this process, with ``cProfile`` enabled around the run loop
only (``sim.tools.bench.metered_loop``: the strategy and the world already started, the clock
run to the horizon; building the world and computing metrics are left out). Reported:

- **calls per domain event**: every function call cProfile counts (Python functions and C
  built-ins) over the run's ``domain_events``, and the Python functions alone;
- **SimPy steps per domain event**: calls of SimPy's ``Environment.step`` (exact; the run
  loop's ``Loop.steps``, counted per batch, if the loop does not call ``step``), and calls
  per step;
- **time by package**: own time (cProfile's ``tottime``) and calls per group: ``simpy``,
  ``sim``, ``mocks``, ``strategies`` (syncsim's built-in strategies) and ``other`` (the
  standard library, numpy, a plug-in's code). A C built-in (``len``, ``heapq.heappush``,
  ``list.append``) is counted with the code that called it, split by what each caller spent
  in it;
- **the top functions** by own time and by cumulative time.

cProfile adds a fixed cost per call, so the CPU time under the profiler is larger than
without it and cheap, frequent functions look more expensive than they are; compare shares
and call counts, and take speed from ``syncsim bench``.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import simpy
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["GROUPS", "FunctionRow", "ProfileResult", "group_of", "profile_run", "profile_tables"]

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ("simpy", "sim", "mocks", "strategies", "other")
_SIMPY_DIR = os.path.realpath(Path(simpy.__file__).parent) + os.sep
_PACKAGE_DIRS = tuple((g, os.path.realpath(ROOT / g) + os.sep) for g in GROUPS[1:4])
_STDLIB = os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep

Key = tuple[str, int, str]


def _real(filename: str, cache: dict[str, str]) -> str:
    if filename not in cache:
        cache[filename] = os.path.realpath(filename) if filename.startswith("/") else filename
    return cache[filename]


def group_of(filename: str) -> str:
    """The package group of a code file (``other`` for anything outside syncsim and SimPy;
    C built-ins, file ``~``, are grouped by their callers, not here)."""
    path = os.path.realpath(filename) if filename.startswith("/") else filename
    if path.startswith(_SIMPY_DIR):
        return "simpy"
    for group, prefix in _PACKAGE_DIRS:
        if path.startswith(prefix):
            return group
    return "other"


def _label(key: Key) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    path = os.path.realpath(filename) if filename.startswith("/") else filename
    if path.startswith(_SIMPY_DIR):
        short = "simpy/" + path[len(_SIMPY_DIR) :]
    elif path.startswith(str(ROOT) + os.sep):
        short = path[len(str(ROOT)) + 1 :]
    elif "site-packages" + os.sep in path:
        short = path.split("site-packages" + os.sep, 1)[1]
    elif path.startswith(_STDLIB):
        short = path[len(_STDLIB) :]
    else:
        short = Path(path).name
    return f"{short}:{line}({name})"


@dataclass(frozen=True)
class FunctionRow:
    label: str
    group: str
    calls: int
    own_s: float
    cum_s: float


@dataclass
class ProfileResult:
    """The figures of one profiled run (``profile_run``)."""

    workload: str
    strategy: str
    sim_seconds: float
    domain_events: int
    calls: int  # every call cProfile counted (Python functions and C built-ins)
    python_calls: int  # Python functions only
    steps: int  # SimPy steps
    steps_exact: bool  # from Environment.step calls (else Loop.steps, per batch)
    cpu_s: float  # CPU of the run loop under the profiler
    own_s: float  # total own time cProfile measured
    groups: dict[str, tuple[float, int]]  # group -> (own seconds, calls)
    top_own: list[FunctionRow] = field(default_factory=list)
    top_cum: list[FunctionRow] = field(default_factory=list)
    stats: Any = None  # the pstats.Stats

    def per_event(self, count: float) -> float:
        return count / self.domain_events if self.domain_events else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "strategy": self.strategy,
            "sim_seconds": self.sim_seconds,
            "domain_events": self.domain_events,
            "calls": self.calls,
            "python_calls": self.python_calls,
            "calls_per_domain_event": self.per_event(self.calls),
            "python_calls_per_domain_event": self.per_event(self.python_calls),
            "simpy_steps": self.steps,
            "simpy_steps_exact": self.steps_exact,
            "simpy_steps_per_domain_event": self.per_event(self.steps),
            "profiled_cpu_s": self.cpu_s,
            "groups": {g: {"own_s": s, "calls": c} for g, (s, c) in self.groups.items()},
            "top_own": [vars(r) for r in self.top_own],
            "top_cumulative": [vars(r) for r in self.top_cum],
        }


def _analyse(stats: pstats.Stats) -> tuple[dict[str, tuple[float, int]], list[FunctionRow]]:
    """Own time and calls per group (C built-ins with their callers), and one row per
    function (label, group, calls, own, cumulative)."""
    raw: dict[Key, Any] = stats.stats  # type: ignore[attr-defined]
    cache: dict[str, str] = {}
    code_group: dict[Key, str] = {}
    for key in raw:
        if key[0] != "~":
            code_group[key] = group_of(_real(key[0], cache))
    own = dict.fromkeys(GROUPS, 0.0)
    calls = dict.fromkeys(GROUPS, 0)
    rows = []
    for key, (_cc, nc, tt, ct, callers) in raw.items():
        if key[0] != "~":
            group = code_group[key]
            own[group] += tt
            calls[group] += nc
        else:  # a C built-in: split over its callers by what each spent in it
            share_tt = dict.fromkeys(GROUPS, 0.0)
            share_nc = dict.fromkeys(GROUPS, 0)
            for caller, (_c, c_nc, c_tt, _ct) in callers.items():
                g = code_group.get(caller, "other")
                share_tt[g] += c_tt
                share_nc[g] += c_nc
            spread = sum(share_tt.values())
            for g in GROUPS:
                own[g] += tt * share_tt[g] / spread if spread > 0 else 0.0
                calls[g] += share_nc[g]
            if spread <= 0:
                own["other"] += tt
            lost = nc - sum(share_nc.values())  # calls from outside the profiled frames
            calls["other"] += max(lost, 0)
            group = max(share_tt, key=lambda g: share_tt[g]) if spread > 0 else "other"
        rows.append(FunctionRow(_label(key), group, int(nc), float(tt), float(ct)))
    return {g: (own[g], calls[g]) for g in GROUPS}, rows


def _steps(stats: pstats.Stats) -> int:
    """Calls of SimPy's ``Environment.step`` (0 if the loop never called it)."""
    raw: dict[Key, Any] = stats.stats  # type: ignore[attr-defined]
    core = _SIMPY_DIR + "core.py"
    return sum(
        int(v[1]) for k, v in raw.items() if k[2] == "step" and os.path.realpath(k[0]) == core
    )


def profile_run(
    path: str | Path,
    workload: str,
    strategy: str,
    duration: str | None,
    seed: int = 1,
    top: int = 20,
) -> ProfileResult:
    """One run of ``path`` with ``strategy`` in this process, the run loop under cProfile."""
    from sim.tools.bench import bench_one

    profiler = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
    row = bench_one(str(path), strategy, duration, seed, profiler=profiler)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    groups, rows = _analyse(stats)
    exact = _steps(stats)
    raw: dict[Key, Any] = stats.stats  # type: ignore[attr-defined]
    total_calls = sum(r.calls for r in rows)
    python_calls = sum(int(v[1]) for k, v in raw.items() if k[0] != "~")
    return ProfileResult(
        workload=workload,
        strategy=strategy,
        sim_seconds=float(row["sim_seconds"]),
        domain_events=int(row["domain_events"]),
        calls=total_calls,
        python_calls=python_calls,
        steps=exact or int(row["loop_steps"]),
        steps_exact=bool(exact),
        cpu_s=float(row["sim_cpu_s"]),
        own_s=float(sum(r.own_s for r in rows)),
        groups=groups,
        top_own=sorted(rows, key=lambda r: r.own_s, reverse=True)[:top],
        top_cum=sorted(rows, key=lambda r: r.cum_s, reverse=True)[:top],
        stats=stats,
    )


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def profile_tables(p: ProfileResult) -> list[Table | Text]:
    """The report: the figures per domain event, the time by package, the top functions."""
    ev = p.domain_events
    title = Text(
        f"syncsim bench --profile {p.workload} {p.strategy}: {_span(p.sim_seconds)} simulated, "
        "seed 1, the run loop under cProfile (a CPU-time clock)"
    )
    head = Table()
    head.add_column("figure")
    head.add_column("count", justify="right")
    head.add_column("per domain event", justify="right")
    steps_note = "" if p.steps_exact else " (Loop.steps, per batch)"
    head.add_row("domain events", f"{ev:,}", "")
    head.add_row("function calls (Python and C)", f"{p.calls:,}", f"{p.per_event(p.calls):.1f}")
    head.add_row("  Python functions", f"{p.python_calls:,}", f"{p.per_event(p.python_calls):.1f}")
    head.add_row(f"SimPy steps{steps_note}", f"{p.steps:,}", f"{p.per_event(p.steps):.2f}")
    head.add_row("calls per SimPy step", f"{p.calls / p.steps:.1f}" if p.steps else "-", "")
    head.add_row("CPU under the profiler", f"{p.cpu_s:.2f} s", "")

    total = sum(s for s, _ in p.groups.values()) or 1.0
    calls = sum(c for _, c in p.groups.values()) or 1
    by = Table(title="time by package (own time; C built-ins counted with their callers)")
    for col in ("package", "own s", "share", "calls", "calls/event", "share of calls"):
        by.add_column(col, justify="left" if col == "package" else "right")
    for g in GROUPS:
        s, c = p.groups[g]
        by.add_row(g, f"{s:.3f}", f"{s / total:.0%}", f"{c:,}", f"{p.per_event(c):.1f}",
                   f"{c / calls:.0%}")  # fmt: skip

    def functions(title: str, rows: list[FunctionRow]) -> Table:
        t = Table(title=title)
        for col in ("own s", "own %", "cum s", "calls", "calls/event", "package", "function"):
            t.add_column(col, justify="left" if col in ("package", "function") else "right")
        for r in rows:
            t.add_row(
                f"{r.own_s:.3f}",
                f"{r.own_s / total:.1%}",
                f"{r.cum_s:.3f}",
                f"{r.calls:,}",
                f"{p.per_event(r.calls):.2f}",
                r.group,
                escape(r.label),
            )
        return t

    n = len(p.top_own)
    return [
        title,
        head,
        by,
        functions(f"top {n} functions by own time", p.top_own),
        functions(f"top {n} functions by cumulative time", p.top_cum),
    ]
