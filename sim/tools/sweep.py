"""Sweeps: a base scenario x strategies x parameter grids x seeds, resumable, on any executor.

A sweep file (TOML)::

    [sweep]
    scenario = "smoke"                 # catalogue id, or a path (relative to the sweep file)
    strategies = ["batch", "api"]      # names or module:Class
    seeds = { count = 10, base = 1 }   # or a list: [1, 2, 3]

    [set]                              # fixed overrides for every run (dotted paths)
    "scenario.duration" = "6h"

    [grid]                             # one list of values per dotted path
    "channels.webshop.orders_per_hour" = [40, 80]
    "strategies.batch.interval" = ["5m", "15m", "30m"]

The run list is the cartesian product strategies x grid x seeds, except that a grid key under
``strategies.<name>.`` only varies the runs of strategy ``<name>`` (an interval grid of batch
does not multiply the api runs). Every run has a stable ``run_id``: a hash of its fully
resolved scenario, strategy, parameters and seed. The whole sweep (every path, value and
strategy parameter of every run) is validated before the first run starts.

Each finished run is written at once to ``OUT/runs/<run_id>.parquet`` (and its per-channel
and lag rows under ``OUT/per_channel/`` and ``OUT/lags/``), atomically; a sweep started again
on the same ``OUT`` skips the runs that have a part file. At the end the parts are
consolidated, in run-list order, into ``OUT/runs.parquet``, ``per_channel.parquet``,
``lags.parquet``, ``summary.csv`` (one row per grid value), ``manifest.json`` and
``verdict.json`` (one verdict per point of the scenario's grid, ``sim.tools.decide``).
Rows are identical whatever the executor (serial, local process pool, Dask), except for the
wall-clock columns ``wall_seconds`` and ``events_per_second``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from sim.assembly.executor import Job, RunError, Submit, serial
from sim.registry import StrategyError, build_strategy, resolve_strategy, strategy_name
from sim.scenario import (
    ScenarioError,
    apply_overrides,
    find_scenario,
    read_raw,
    read_toml,
    validate_raw,
)
from sim.schema import Scenario
from sim.tools.decide import sweep_verdicts
from sim.tools.outdir import SWEEP_FILE, SWEEP_MARKER, check_out
from sim.tools.results import lags_frame, manifest, per_channel_frame, runs_frame, summary_frame

__all__ = [
    "SweepError",
    "SweepOutcome",
    "SweepRun",
    "SweepSpec",
    "consolidate",
    "finished",
    "load_sweep",
    "plan",
    "run_sweep",
]


class SweepError(ValueError):
    """A sweep file (or a value in it) is wrong; ``str()`` is the one-line message."""


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file: what to run, not yet validated against the schema."""

    source: str
    scenario: str  # resolved path of the base scenario
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its id, its grid values and the job to execute."""

    run_id: str
    values: dict[str, Any]  # grid path -> value of this run
    job: Job


@dataclass
class SweepOutcome:
    """What a call of ``run_sweep`` did."""

    out: Path
    planned: int
    skipped: list[str]  # run ids found finished on disk
    executed: list[str]  # run ids executed (and written) by this call
    failed: list[tuple[str, str]] = field(default_factory=list)  # (run id, message)


def _flatten(table: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, where, f"{path}."))
        else:
            out[path] = value
    return out


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, list) and value and all(type(s) is int and s >= 0 for s in value):
        if len(set(value)) != len(value):
            raise SweepError(f"{where}: sweep.seeds: duplicate seeds")
        return tuple(value)
    if isinstance(value, Mapping) and set(value) <= {"count", "base"}:
        count, base = value.get("count"), value.get("base", 1)
        if type(count) is int and count >= 1 and type(base) is int and base >= 0:
            return tuple(range(base, base + count))
    raise SweepError(
        f"{where}: sweep.seeds: expected a list of non-negative integers or "
        f"{{ count = N, base = B }} (got {value!r})"
    )


def load_sweep(path: str | os.PathLike[str]) -> SweepSpec:
    """Read a sweep file; structural errors raise ``SweepError`` naming the file and key."""
    p = Path(path)
    data = read_toml(p, SweepError)
    where = str(p)
    unknown = set(data) - {"sweep", "set", "grid"}
    if unknown:
        raise SweepError(f"{where}: {sorted(unknown)[0]}: unknown table (sweep, set, grid)")
    head = data.get("sweep")
    if not isinstance(head, Mapping):
        raise SweepError(f"{where}: sweep: required table is missing")
    extra = set(head) - {"scenario", "strategies", "seeds", "description"}
    if extra:
        raise SweepError(f"{where}: sweep.{sorted(extra)[0]}: unknown key")
    ref = head.get("scenario")
    if not isinstance(ref, str) or not ref:
        raise SweepError(f"{where}: sweep.scenario: expected a catalogue id or a path")
    local = p.parent / ref
    try:
        scenario = str(local if local.is_file() else find_scenario(ref))
    except ScenarioError as exc:
        raise SweepError(f"{where}: sweep.scenario: {exc}") from None
    strategies = head.get("strategies")
    if (
        not isinstance(strategies, list)
        or not strategies
        or not all(isinstance(s, str) and s for s in strategies)
    ):
        raise SweepError(f"{where}: sweep.strategies: expected a non-empty list of names")
    if len(set(strategies)) != len(strategies):
        raise SweepError(f"{where}: sweep.strategies: duplicate strategies")
    if "seeds" not in head:
        raise SweepError(f"{where}: sweep.seeds: required key is missing")
    seeds = _seeds(head["seeds"], where)
    fixed = _flatten(data.get("set", {}), where)
    grid = _flatten(data.get("grid", {}), where)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where}: grid.{key}: expected a non-empty list of values")
        if key in fixed:
            raise SweepError(f"{where}: grid.{key}: also set in [set]")
    return SweepSpec(where, scenario, tuple(strategies), seeds, fixed, grid)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _run_id(sc: Scenario, strategy: str, params: Mapping[str, Any], seed: int) -> str:
    blob = _canonical(
        {
            "scenario": sc.model_dump(mode="json", by_alias=True),
            "strategy": strategy,
            "params": params,
            "seed": seed,
        }
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _strategy_name(ref: str, where: str) -> str:
    try:
        obj = resolve_strategy(ref)
    except StrategyError as exc:
        raise SweepError(f"{where}: sweep.strategies: {exc}") from None
    return strategy_name(obj)


def plan(
    spec: SweepSpec,
    run_options: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
) -> list[SweepRun]:
    """The run list, every run validated; a bad path or value raises ``SweepError`` naming it
    (and the grid values of the run where it first fails). ``base``: the scenario as a raw
    table, when it is not read from ``spec.scenario`` (``sim.tools.batch``)."""
    where = spec.source
    base = dict(base) if base is not None else read_raw(Path(spec.scenario))
    names = {ref: _strategy_name(ref, where) for ref in spec.strategies}
    for key in spec.grid:
        parts = key.split(".")
        if parts[0] == "strategies" and (len(parts) < 3 or parts[1] not in names.values()):
            raise SweepError(
                f"{where}: grid.{key}: strategy {parts[1] if len(parts) > 1 else ''!r} "
                f"is not in sweep.strategies ({', '.join(names.values())})"
            )
    options = dict(run_options or {})
    options.setdefault("keep_history", False)
    runs: list[SweepRun] = []
    for ref in spec.strategies:
        name = names[ref]
        keys = [k for k in spec.grid if not k.startswith("strategies.") or k.split(".")[1] == name]
        for combo in itertools.product(*(spec.grid[k] for k in keys)):
            values = dict(zip(keys, combo, strict=True))
            overrides = {**spec.fixed, **values}
            sc = _validated(base, overrides, where, values)
            try:
                strat = build_strategy(ref, sc)
            except StrategyError as exc:
                raise SweepError(f"{where}: {exc}{_at(values)}") from None
            params = _params(strat)
            for seed in spec.seeds:
                run_id = _run_id(sc, ref, params, seed)
                job = Job(sc, ref, seed, options=options, capture_errors=True, key=run_id)
                runs.append(SweepRun(run_id, values, job))
    return runs


def _at(values: Mapping[str, Any]) -> str:
    if not values:
        return ""
    return " (in the run with " + ", ".join(f"{k}={v!r}" for k, v in values.items()) + ")"


def _validated(
    base: dict[str, Any], overrides: Mapping[str, Any], where: str, values: Mapping[str, Any]
) -> Scenario:
    for key in overrides:  # name the sweep key, not just the resulting scenario field
        try:
            raw = apply_overrides(base, {key: overrides[key]})
            validate_raw(raw, "")
        except ScenarioError as exc:
            table = "grid" if key in values else "set"
            msg = str(exc).removeprefix(": ").removeprefix(f"{key}: ")
            raise SweepError(f"{where}: {table}.{key}: {msg}") from None
    try:
        return validate_raw(apply_overrides(base, overrides), "")
    except ScenarioError as exc:
        raise SweepError(f"{where}: {str(exc).removeprefix(': ')}{_at(values)}") from None


def _params(strategy: Any) -> dict[str, Any]:
    import dataclasses

    p = getattr(strategy, "params", None)
    if p is not None and dataclasses.is_dataclass(p) and not isinstance(p, type):
        return dict(json.loads(_canonical(dataclasses.asdict(p))))
    return {}


# -- writing ---------------------------------------------------------------------------------

PARTS = ("runs", "per_channel", "lags")


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _write_parts(out: Path, r: SweepRun, result: Any) -> None:
    frames = {
        "runs": runs_frame([result]),
        "per_channel": per_channel_frame([result]),
        "lags": lags_frame([result]),
    }
    for frame in frames.values():
        frame.insert(0, "run_id", r.run_id)
    for key, value in r.values.items():
        frames["runs"][f"sweep.{key}"] = value if isinstance(value, int | float) else str(value)
    # the runs part goes last: its presence marks the run as finished
    for part in ("per_channel", "lags", "runs"):
        _atomic_parquet(frames[part], out / part / f"{r.run_id}.parquet")


def _readable(path: Path) -> bool:
    """A part file that Parquet can open (a run interrupted while writing, a damaged disk:
    not finished, so it is run again)."""
    try:
        pq.read_metadata(path)
    except Exception:  # pyarrow raises several types for a truncated or damaged file
        return False
    return True


def finished(out: Path) -> set[str]:
    """Run ids with a readable runs part file under ``out``."""
    d = out / "runs"
    return {p.stem for p in d.glob("*.parquet") if _readable(p)} if d.is_dir() else set()


def consolidate(out: Path, runs: Sequence[SweepRun], command: Sequence[str] | None = None) -> None:
    """Gather the part files of ``runs`` (in run-list order) into the result files."""
    order = {r.run_id: i for i, r in enumerate(runs)}
    frames: dict[str, pd.DataFrame] = {}
    for part in PARTS:
        pieces = [
            pd.read_parquet(out / part / f"{r.run_id}.parquet")
            for r in runs
            if (out / part / f"{r.run_id}.parquet").is_file()
            and _readable(out / part / f"{r.run_id}.parquet")
        ]
        frame = pd.concat([p for p in pieces if not p.empty], ignore_index=True) if pieces else None
        if frame is None:
            frame = pd.DataFrame({"run_id": pd.Series([], dtype=str)})
        frame = frame.sort_values("run_id", key=lambda s: s.map(order), kind="stable")
        frames[part] = frame.reset_index(drop=True)
    for part, frame in frames.items():
        _atomic_parquet(frame, out / f"{part}.parquet")
    runs_rows = frames["runs"]
    summary = summary_frame(runs_rows) if "strategy" in runs_rows else pd.DataFrame()
    tmp = out / ".summary.csv.tmp"
    summary.to_csv(tmp, index=False)
    os.replace(tmp, out / "summary.csv")
    rows = frames["runs"]
    meta = manifest([], command)
    meta.update(
        syncsim=SWEEP_MARKER,
        scenarios=sorted(set(rows.get("scenario", []))),
        strategies=list(dict.fromkeys(rows.get("strategy", []))),
        seeds=sorted({int(s) for s in rows.get("seed", [])}),
        runs=[
            {"run_id": r["run_id"], "strategy": r["strategy"], "seed": int(r["seed"]),
             "ok": bool(r["ok"]), "trace_hash": r["trace_hash"]}
            for r in rows.to_dict("records")
        ],
    )  # fmt: skip
    costs = {r.job.scenario.id: r.job.scenario.costs for r in runs}
    meta["costs"] = {sid: c.model_dump(exclude_unset=True) for sid, c in costs.items()}
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, default=str))
    os.replace(tmp, out / "manifest.json")
    if "strategy" in rows and not rows.empty and rows["scenario"].nunique() == 1:
        verdicts = sweep_verdicts(rows, costs=costs)  # one per point of the scenario's grid
        payload = {"sweep": [{"point": point, **v.to_dict()} for point, v in verdicts]}
        tmp = out / ".verdict.json.tmp"
        tmp.write_text(json.dumps(payload, indent=2))
        os.replace(tmp, out / "verdict.json")


def run_sweep(
    runs: Sequence[SweepRun],
    out: Path,
    submit: Submit = serial,
    on_done: Callable[[SweepRun, Any], None] | None = None,
    command: Sequence[str] | None = None,
) -> SweepOutcome:
    """Execute the runs not yet finished under ``out``, writing each as it finishes, then
    consolidate. ``on_done(run, result)`` after each run is written (a ``RunError`` for a
    run that raised: it is not written, so the next call retries it)."""
    out = check_out(Path(out), sweep=True)
    for part in PARTS:
        (out / part).mkdir(parents=True, exist_ok=True)
    (out / SWEEP_FILE).write_text("a syncsim sweep folder: rerun the sweep to resume it\n")
    done = finished(out)
    todo = [r for r in runs if r.run_id not in done]
    outcome = SweepOutcome(out, len(runs), [r.run_id for r in runs if r.run_id in done], [])
    for i, result in submit([r.job for r in todo]) if todo else iter(()):
        r = todo[i]
        if isinstance(result, RunError):
            outcome.failed.append((r.run_id, result.message))
        else:
            _write_parts(out, r, result)
            outcome.executed.append(r.run_id)
        if on_done:
            on_done(r, result)
    consolidate(out, runs, command)
    return outcome


# -- command line ----------------------------------------------------------------------------
