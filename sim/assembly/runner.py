"""The runner: one (scenario, strategy, seed) in, one checked ``RunResult`` out.

``run()`` builds the world, starts the strategy and the world's processes, runs the clock to
the scenario's end, computes the metrics against the ledger of truth and runs the
correctness checks; a failing check raises ``CheckFailure`` (with the result attached). The
same scenario, strategy and seed give the same result, byte for byte, and the same
``trace_hash``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.assembly.world import TRANSPORTS, World
from sim.budget import check_resources
from sim.business import check_business_files
from sim.checks import CheckFailure, failure_message, run_checks
from sim.guard import (
    HARNESS_PATHS,
    LIBRARY_PATHS,
    STRATEGY_PATH,
    StrategyHung,
    Watchdog,
    describe_exception,
    step_budget,
)
from sim.liveness import Steps, divergence_steps, liveness_checks, time_to_recovery
from sim.loop import Loop, Spinning, StepBudgetExceeded
from sim.metrics import CORE_KEYS, compute_metrics
from sim.registry import StrategyError, build_strategy, strategy_name
from sim.scenario import load_scenario, with_overrides
from sim.schema import Scenario
from sim.trace import load_trace

__all__ = [
    "LAG_QUANTILES",
    "RunResult",
    "SimulationError",
    "StrategyRuntimeError",
    "calendar_of",
    "check_transport",
    "collect",
    "is_floor",
    "partial_result",
    "run",
    "simulate",
    "trace_hash",
]


class SimulationError(RuntimeError):
    """The simulator itself failed (not the strategy): an internal error, a run that needed
    more steps than allowed, or metrics outside their domain. ``str()`` is one line naming
    the run, the time and the place; there is no partial result (its numbers could not be
    trusted). ``strategy`` and ``seed`` say which run, for a replay command."""

    def __init__(self, message: str, strategy: str = "", seed: int = 0) -> None:
        super().__init__(message)
        self.strategy = strategy
        self.seed = seed

    def __reduce__(self) -> Any:  # keep the fields across process pools
        return (type(self), (str(self), self.strategy, self.seed))


class StrategyRuntimeError(RuntimeError):
    """A strategy raised, hung or wrote outside its APIs during the run; the message names
    it, what it did and the time. ``result`` is the run's partial ``RunResult`` (metrics up to
    that time, ``ok`` False, ``error`` set) when ``run`` could compute it; ``world`` and
    ``strategy`` are kept for that until then."""

    def __init__(self, message: str, world: Any = None, strategy: Any = None) -> None:
        super().__init__(message)
        self.world = world
        self.strategy = strategy
        self.wall = 0.0
        self.result: RunResult | None = None


@dataclass
class RunResult:
    """The outcome of one run: the DESIGN §8 object plus time series and provenance."""

    scenario: str
    strategy: str
    seed: int
    sim_seconds: float
    parameters: dict[str, Any]
    metrics: dict[str, float]
    per_channel: dict[str, dict[str, float]]
    checks: dict[str, Any]
    # per consumer group of the bus: its events_* counters and dlq_size (DESIGN §8)
    per_group: dict[str, dict[str, float]] = field(default_factory=dict)
    trace_hash: str = ""
    timeseries: list[tuple[float, str, str, float]] = field(default_factory=list, repr=False)
    faults: list[dict[str, Any]] = field(default_factory=list)
    history: Any = field(default=None, repr=False)  # a DataFrame (sim.history), when kept
    # per channel ("*" = all channels): (number of lag samples, lag at each LAG_QUANTILES)
    lags: dict[str, tuple[int, list[float]]] = field(default_factory=dict, repr=False)
    costs: dict[str, Any] = field(default_factory=dict)  # the scenario's [costs] table
    # the scenario's calendar, for plots: start (ISO date-time), demand peaks and scheduled
    # ERP maintenance as [start, end] seconds since the start (``calendar_of``)
    calendar: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # why the run stopped early (a strategy crash, hang or forbidden write)

    @property
    def ok(self) -> bool:
        return bool(self.checks.get("ok", False)) and not self.error

    def to_json(self) -> dict[str, Any]:
        """Exactly the object ``syncsim run --json`` prints (DESIGN §8); NaN becomes null."""
        obj = {
            "scenario": self.scenario,
            "strategy": self.strategy,
            "seed": self.seed,
            "sim_seconds": self.sim_seconds,
            "metrics": self.metrics,
            "per_channel": self.per_channel,
            "per_group": self.per_group,
            "checks": self.checks,
        }
        if self.error:
            obj["error"] = self.error
        return _json_safe(obj)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return _json_safe(float(obj))
    return obj


def is_floor(strategy: Any) -> bool:
    """Whether ``strategy`` is one of the reference floors (``oracle``, ``perfect``), the
    only strategies given the privileged truth feed: their own classes, not subclasses."""
    from strategies.oracle import OracleStrategy
    from strategies.perfect import PerfectStrategy

    return type(strategy) in (OracleStrategy, PerfectStrategy)


def _params_dict(strategy: Any) -> dict[str, Any]:
    params = getattr(strategy, "params", None)
    if params is not None and dataclasses.is_dataclass(params) and not isinstance(params, type):
        return dataclasses.asdict(params)
    return {}


def trace_hash(world: World) -> str:
    """A digest of everything that happened: movements, truth changes, lines, channel writes."""
    h = hashlib.sha256()
    led = world.ledger
    for col in led.movement_frame().values():
        h.update(np.ascontiguousarray(col).tobytes())
    h.update(np.asarray(led.chg_t, float).tobytes())
    h.update(np.asarray(led.chg_key, np.int64).tobytes())
    fate = np.array(
        [(ln.sku, ln.qty, ln.oversold, ln.shipped, ln.cancelled) for ln in led.lines], np.int64
    )
    h.update(fate.tobytes())
    for c, ch in enumerate(world.channels):
        t0, lag, _ = world.lag.samples(c)
        h.update(t0.tobytes())
        h.update(lag.tobytes())
        h.update(ch.count.tobytes())
    return h.hexdigest()


#: the quantile grid of the lag distribution kept per run and channel (``lags.parquet``):
#: percent steps, then the far tail
LAG_QUANTILES: tuple[float, ...] = (*(i / 100 for i in range(100)), 0.995, 0.999, 1.0)


def _lag_quantiles(world: World) -> dict[str, tuple[int, list[float]]]:
    """Lag samples of each channel (and all channels, ``"*"``) summarized on LAG_QUANTILES."""
    grid = np.asarray(LAG_QUANTILES)
    out: dict[str, tuple[int, list[float]]] = {}
    pooled = []
    for c, ch in enumerate(world.channels):
        lags = world.lag.samples(c)[1]
        pooled.append(lags)
        out[ch.name] = (int(lags.size), np.quantile(lags, grid).tolist() if lags.size else [])
    lags = np.concatenate(pooled) if pooled else np.zeros(0)
    out["*"] = (int(lags.size), np.quantile(lags, grid).tolist() if lags.size else [])
    return out


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The traceback of ``exc``: SimPy re-raises a process's exception as a copy whose
    ``__cause__`` is the original; follow it to the frames that raised."""
    while exc.__cause__ is not None and type(exc.__cause__) is type(exc):
        exc = exc.__cause__
    return list(traceback.extract_tb(exc.__traceback__))


def _place(frame: tuple[str, int, str] | traceback.FrameSummary) -> str:
    filename, lineno = (frame[0], frame[1]) if isinstance(frame, tuple) else frame[:2]
    return f" ({Path(filename).name}:{lineno})"


def _strategy_dirs(strategy: Any) -> tuple[str, ...]:
    """Where the strategy's own code lives: syncsim's strategies/ and the folder of the
    strategy's module (an installed plug-in, a user's file; a function's for
    ``FunctionStrategy``)."""
    dirs = {STRATEGY_PATH}
    for obj in (type(strategy), getattr(strategy, "fn", None)):
        try:
            dirs.add(str(Path(inspect.getfile(obj)).resolve().parent) + os.sep)  # type: ignore[arg-type]
        except (TypeError, OSError):
            continue
    return tuple(sorted(dirs))


def _is_strategy_code(filename: str, own: tuple[str, ...]) -> bool:
    """Code of a strategy: the strategy's own folders, or a user's code anywhere outside
    syncsim's kernel and mocks, the standard library and installed packages."""
    if filename.startswith(own):
        return True
    return not filename.startswith(HARNESS_PATHS + LIBRARY_PATHS)


def _blame(exc: BaseException, own: tuple[str, ...]) -> tuple[bool, str]:
    """(whether strategy code was running when ``exc`` was raised, where it was raised)."""
    if isinstance(exc, Spinning):  # the code that kept scheduling events at one instant
        mine = [f for f in exc.stack if _is_strategy_code(f[0], own)]
        if mine:
            return True, f" in {Spinning.place(mine[0])}"
        return False, f" in {Spinning.place(exc.stack[0])}" if exc.stack else ""
    frames = _frames(exc)
    if isinstance(exc, StrategyHung) and not any(
        f.filename.startswith(HARNESS_PATHS) for f in frames
    ):
        return True, ""
    own_frames = [f for f in frames if _is_strategy_code(f.filename, own)]
    if own_frames:
        return True, _place(own_frames[-1])
    inner = [f for f in frames if not f.filename.startswith(LIBRARY_PATHS)]
    return False, _place((inner or frames)[-1]) if frames else ""


def simulate(
    scenario: Scenario,
    strategy: Any,
    seed: int,
    progress: Callable[[float], None] | None = None,
    budget: float | None = None,
    max_steps: int | None = None,
    trace_divergence: bool | None = None,
    transport: str = "direct",
    keep_history: bool = True,
) -> tuple[World, Any, float]:
    """Build the world, start ``strategy`` (an instance) and run to the end.

    Returns the finished world (for inspection), the strategy and the wall seconds spent.
    ``budget``: wall seconds a single step may take before the strategy is declared hung
    (``sim.guard``; default ``$SYNCSIM_STEP_BUDGET`` or 30, 0 = no watchdog). The run loop
    (``sim.loop``) stops a run whose clock stops advancing; ``max_steps`` bounds its steps.
    A strategy that raises, hangs or spins raises ``StrategyRuntimeError``; the simulator's
    own failure raises ``SimulationError``. ``trace_divergence``: keep the divergence step
    function (``World``; default: when the scenario has faults). ``transport``: how the
    strategy reaches the systems, ``direct`` or ``http`` (``World.strategy_systems``).
    ``keep_history``: keep every operation of the history, or only count them.
    """
    check_transport(transport)
    name = strategy_name(strategy)
    try:
        world = World(
            scenario, seed, trace_divergence, strict_writes=True, keep_history=keep_history
        )
    except Exception as exc:
        where = _place(_frames(exc)[-1]) if exc.__traceback__ else ""
        raise SimulationError(
            f"internal error building the world ({scenario.id} / seed {seed}): "
            f"{type(exc).__name__}: {exc}{where}",
            name,
            seed,
        ) from exc
    env = world.env
    loop = Loop(env, max_steps=_max_steps(max_steps))
    wall0 = time.perf_counter()
    try:
        with Watchdog(loop, step_budget(budget)):
            strategy.start(env, world.strategy_systems(transport, floor=is_floor(strategy)))
            world.start()
            loop.run(scenario.duration, progress)
    except (StrategyError, CheckFailure):
        raise
    except StepBudgetExceeded as exc:
        raise SimulationError(f"{scenario.id} / {name} / seed {seed}: {exc}", name, seed) from None
    except (Exception, StrategyHung) as exc:
        mine, where = _blame(exc, _strategy_dirs(strategy))
        if not mine:
            what = str(exc) if isinstance(exc, Spinning) else f"{type(exc).__name__}: {exc}"
            raise SimulationError(
                f"internal error at t={env.now:.1f}s ({scenario.id} / {name} / seed {seed}): "
                f"{what}{where}",
                name,
                seed,
            ) from exc
        err = StrategyRuntimeError(
            f"strategy {name!r} failed at t={env.now:.1f}s: {describe_exception(exc)}{where}",
            world,
            strategy,
        )
        err.wall = time.perf_counter() - wall0
        raise err from exc
    finally:
        close = getattr(strategy, "close", None)
        if callable(close):
            close()
    return world, strategy, time.perf_counter() - wall0


def check_transport(transport: str) -> None:
    """``ValueError`` (one line) unless ``transport`` is one of ``TRANSPORTS``."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be {' or '.join(TRANSPORTS)}, not {transport!r}")


def _max_steps(value: int | None) -> int | None:
    """``value``, else ``$SYNCSIM_MAX_STEPS`` (a bound used by fuzzing), else no bound."""
    if value is not None:
        return value
    raw = os.environ.get("SYNCSIM_MAX_STEPS", "")
    return int(raw) if raw.isdigit() else None


def _out_of_domain(
    metrics: Mapping[str, float], per_channel: Mapping[str, Mapping[str, float]]
) -> list[str]:
    """Core metrics that are NaN, infinite or negative: each is a count, a rate, a time or
    a fraction, so every one of them must be a finite number >= 0."""
    rows = [("", metrics), *((f"{c}.", m) for c, m in per_channel.items())]
    return [
        f"{prefix}{k}={m[k]!r}"
        for prefix, m in rows
        for k in CORE_KEYS
        if k in m and not (math.isfinite(float(m[k])) and float(m[k]) >= 0)
    ]


def collect(
    world: World,
    strategy: Any,
    wall: float,
    check: bool = True,
    baseline: Steps | None = None,
    keep_history: bool = True,
) -> RunResult:
    """Metrics and checks of a finished world; raises ``CheckFailure`` if a safety check
    fails. ``baseline`` is the divergence step function of the same run without faults
    (``sim.liveness.divergence_steps``)."""
    sc = world.scenario
    world.sampler.flush()  # the last interval of the time series
    name = strategy_name(strategy)
    bus = getattr(world.systems.bus, "stats_dict", None)
    metrics, per_channel = compute_metrics(world, wall, bus() if callable(bus) else None)
    groups = getattr(world.systems.bus, "per_group", None)
    per_group = groups() if callable(groups) else {}
    extra = getattr(strategy, "metrics", None)
    for key, value in (extra() if callable(extra) else {}).items():
        if key in CORE_KEYS:
            raise StrategyError(f"strategy {name!r} metrics() redefines core metric {key!r}")
        metrics[key] = value
    recovery = time_to_recovery(world, baseline)
    metrics["time_to_recovery_s"] = recovery.seconds
    metrics["recovered"] = float(recovery.recovered)
    bad = _out_of_domain(metrics, per_channel)
    if bad:
        raise SimulationError(
            f"internal error ({sc.id} / {name} / seed {world.seed}): metrics outside their "
            f"domain: {', '.join(bad[:5])}",
            name,
            world.seed,
        )
    bus_check = getattr(world.systems.bus, "check", None)
    checks = run_checks(world, {"bus_accounting": bus_check()} if callable(bus_check) else None)
    checks["liveness"] = liveness_checks(world, strategy)  # loss fails the run, as a check
    checks["ok"] = checks["ok"] and checks["liveness"]["ok"]
    result = RunResult(
        scenario=sc.id,
        strategy=name,
        seed=world.seed,
        sim_seconds=float(world.env.now),
        parameters=_params_dict(strategy),
        metrics=metrics,
        per_channel=per_channel,
        checks=checks,
        per_group=per_group,
        trace_hash=trace_hash(world),
        timeseries=world.sampler.rows,
        faults=world.faults.report(),
        history=world.history.frame() if keep_history else None,
        lags=_lag_quantiles(world),
        costs=sc.costs.model_dump(exclude_unset=True),  # what it set: defaults stay defaults
        calendar=calendar_of(sc),
    )
    if check and not checks["ok"]:
        raise CheckFailure(
            f"{sc.id} / {name} / seed {world.seed}: {failure_message(checks)}", result
        )
    return result


def run(
    scenario: Scenario | str | Path,
    strategy: Any = "batch",
    seed: int = 1,
    *,
    overrides: Mapping[str, Any] | None = None,
    strategy_params: Mapping[str, Any] | None = None,
    progress: Callable[[float], None] | None = None,
    check: bool = True,
    recovery_baseline: bool = True,
    keep_history: bool = True,
    step_budget: float | None = None,
    allow_large: bool = False,
    transport: str = "direct",
) -> RunResult:
    """Run one scenario with one strategy and one seed; see the module docstring.

    ``strategy`` is a name, a ``module:Class`` path, a class or an instance;
    ``strategy_params`` override its table in the scenario. With faults planned and
    ``recovery_baseline``, the same run without faults is simulated too, for the no-fault
    band of ``time_to_recovery_s``. A strategy that raises, hangs (``step_budget`` wall
    seconds without yielding) or writes outside its APIs raises ``StrategyRuntimeError``
    carrying the partial result (``exc.result``: ``ok`` False, ``error`` set); the
    simulator's own failure raises ``SimulationError``. A scenario past the resource limits
    (``sim.budget``) raises ``ResourceError`` before anything runs, unless ``allow_large``.
    ``transport``: the strategy reaches the systems through their Python APIs (``direct``)
    or through the platforms' HTTP facades with httpx connectors (``http``): the same run,
    only slower in wall time (``World.strategy_systems``).
    """
    check_transport(transport)
    if isinstance(scenario, Scenario):
        sc = with_overrides(scenario, overrides) if overrides else scenario
    else:
        sc = load_scenario(scenario, overrides)
    check_resources(sc, allow_large)
    check_business_files(sc)  # a bad catalogue or snapshot file is named before the run
    if sc.demand.source == "trace":
        load_trace(sc)  # a bad trace file is the user's input error, named before the run
    strat = build_strategy(strategy, sc, strategy_params)
    try:
        world, strat, wall = simulate(
            sc, strat, seed, progress, step_budget, transport=transport, keep_history=keep_history
        )
    except StrategyRuntimeError as exc:
        exc.result = partial_result(exc, keep_history)
        exc.world = exc.strategy = None  # keep the exception small and picklable
        raise
    baseline = None
    if sc.faults and recovery_baseline and isinstance(strategy, str | type):
        calm = sc.model_copy(update={"faults": []})
        calm_strat = build_strategy(strategy, calm, strategy_params)
        try:
            calm_world, _, _ = simulate(
                calm, calm_strat, seed, budget=step_budget, trace_divergence=True,
                transport=transport, keep_history=False,
            )  # fmt: skip
        except StrategyRuntimeError as exc:  # the no-fault twin failed: say so, keep it small
            exc.args = (f"{exc} (in the no-fault twin run, for time_to_recovery_s)",)
            exc.world = exc.strategy = None
            raise
        baseline = divergence_steps(calm_world)
    return collect(world, strat, wall, check, baseline, keep_history)


def calendar_of(sc: Scenario) -> dict[str, Any]:
    """What a plot needs to show simulated time as calendar time: the scenario's start, its
    demand peaks (start, end seconds and multiplier) and scheduled ERP maintenance windows."""
    return {
        "start": sc.scenario.start.isoformat(),
        "peaks": [[p.start, p.start + p.duration, p.multiplier] for p in sc.demand.peaks],
        "maintenance": [[w.start, w.end] for w in sc.erp.api.maintenance],
    }


def partial_result(exc: StrategyRuntimeError, keep_history: bool = True) -> RunResult | None:
    """The metrics and checks of a run that stopped early, marked failed with the error;
    ``None`` if even that cannot be computed from the half-run world."""
    if exc.world is None:
        return None
    try:
        result = collect(exc.world, exc.strategy, exc.wall, False, None, keep_history)
    except Exception:  # the world may be inconsistent mid-step; the error message remains
        return None
    result.error = str(exc)
    result.checks["ok"] = False
    return result
