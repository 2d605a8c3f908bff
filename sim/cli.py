"""The ``syncsim`` command line (typer + rich).

Bad input (a scenario file, a strategy name, an argument) gets one line on stderr naming
what is wrong and where, exit code 2, and nothing written. A run that fails a correctness
check or whose strategy raises exits with code 1.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sim.budget import check_resources
from sim.chaos import Verdict, chaos_scenario, judge, replay_command
from sim.checks import CheckFailure
from sim.dists import parse_duration
from sim.outdir import OutputError, check_out
from sim.pool import Job, RunError, default_workers, run_jobs
from sim.registry import (
    BUILTIN_ORDER,
    StrategyError,
    check_strategy_tables,
    installed_strategies,
    resolve_strategy,
    strategy_origins,
)
from sim.results import confidence_interval, new_run_dir, write_results
from sim.runner import RunResult, SimulationError, StrategyRuntimeError, run
from sim.scenario import (
    ScenarioError,
    apply_overrides,
    catalogue_entries,
    cut,
    find_scenario,
    parse_value,
    read_raw,
    set_text,
    validate_raw,
)
from sim.schema import Scenario

try:  # typer >= 0.24 vendors its own click
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - older typer depends on click
    from click import exceptions as _cx  # type: ignore[no-redef]

__all__ = ["app", "main"]

app = typer.Typer(
    name="syncsim",
    help="Which way of synchronizing inventory between ERP, WMS and sales channels oversells "
    "least, lags least and survives faults, at what load on the ERP?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out_console = Console()
err_console = Console(stderr=True)

MAIN_METRICS = (
    ("oversold_lines", "oversold lines", "{:.0f}"),
    ("oversell_rate", "oversell rate", "{:.4%}"),
    ("cancelled_lines", "cancelled lines", "{:.0f}"),
    ("lost_sale_units", "lost sale units", "{:.0f}"),
    ("lag_p50_s", "lag p50 s", "{:.1f}"),
    ("lag_p95_s", "lag p95 s", "{:.1f}"),
    ("divergence_mean_abs", "divergence |mean|", "{:.3f}"),
    ("divergence_over_frac", "over-shown frac", "{:.4f}"),
    ("erp_calls", "ERP calls", "{:.0f}"),
    ("erp_utilization", "ERP utilization", "{:.3f}"),
    ("wall_seconds", "wall s", "{:.1f}"),
)


class InputError(Exception):
    """Bad input from the user: exit code 2."""


def _say(message: str) -> None:
    err_console.print(message, markup=False, highlight=False, emoji=False, soft_wrap=True)


@contextmanager
def _errors() -> Iterator[None]:
    """One line on stderr and an exit code for every error a command can meet: 2 for bad
    input (a file, an argument, ``--out``), 1 for a run that failed (a check, a strategy,
    the simulator itself, or writing the results)."""
    try:
        yield
    except (ScenarioError, StrategyError, InputError) as exc:
        _say(f"syncsim: error: {exc}")
        raise typer.Exit(2) from None
    except OutputError as exc:
        _say(f"syncsim: error: {exc}" if exc.usage else f"syncsim: cannot write results: {exc}")
        raise typer.Exit(2 if exc.usage else 1) from None
    except (CheckFailure, StrategyRuntimeError, SimulationError) as exc:
        _say(f"syncsim: run failed: {exc}")
        raise typer.Exit(1) from None


def _overrides(pairs: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {cut(pair)}: expected KEY=VALUE, e.g. erp.api.concurrency=15")
        out[key.strip()] = parse_value(value.strip())
    return out


def _set_arg(key: str, overrides: dict[str, Any]) -> str | None:
    """``--set KEY=VALUE`` for the override that set ``key`` (or a table above it)."""
    for k, v in overrides.items():
        if key == k or key.startswith(k + "."):
            return set_text(k, v)
    return None


def _load(
    ref: str,
    overrides: dict[str, Any],
    strategies: Sequence[str] = (),
    allow_large: bool = False,
) -> Scenario:
    """Read, override and validate a scenario; check the strategy tables (and build the
    ``strategies`` about to run) and the resources the scenario needs, all before any run
    starts. Errors name the file or the ``--set`` argument responsible."""
    path = find_scenario(ref)
    raw = read_raw(path)
    if overrides:
        try:
            raw = apply_overrides(raw, overrides)
        except ScenarioError as exc:
            raise InputError(f"--set {exc}") from None
    sc = validate_raw(raw, str(path), overrides)
    try:
        check_strategy_tables(sc, strategies)
    except StrategyError as exc:
        key, _, what = str(exc).partition(": ")
        arg = _set_arg(key, overrides)
        if arg is not None and arg.startswith(f"--set {key}="):
            raise InputError(f"{arg}: {what}") from None  # the argument names the key
        raise InputError(f"{arg or path}: {exc}") from None
    check_resources(sc, allow_large, str(path))
    return sc


AllowLarge = Annotated[
    bool,
    typer.Option(
        "--allow-large",
        help="Run a scenario even if its estimated memory, order lines or state exceed "
        "the limits (refused by default, before anything runs).",
    ),
]
MAX_SEED = 2**63 - 1


def _seeds(seed: int, replications: int) -> list[int]:
    if seed + replications - 1 > MAX_SEED:
        raise InputError(f"--seed {seed}: seeds must stay below 2**63 (with {replications} runs)")
    return list(range(seed, seed + replications))


def _replay(ref: str, set_: Sequence[str] | None, exc: SimulationError) -> SimulationError:
    """``exc`` with the command that replays the failed run appended."""
    sets = "".join(f" --set {s}" for s in set_ or ())
    cmd = f"syncsim run {ref} -s {exc.strategy} --seed {exc.seed}{sets}"
    return SimulationError(f"{exc}; replay: {cmd}", exc.strategy, exc.seed)


def _progress(total: int, quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=quiet or not err_console.is_terminal,
    )


def _advance(prog: Progress, task: Any, done: int, fraction: float) -> None:
    prog.update(task, completed=done + fraction)


OUT_HELP = (
    "Results folder (default results/<scenario>-<time>). Created if new; an existing one "
    "must be empty or a results folder syncsim wrote (then it is replaced). syncsim never "
    "deletes files it did not write."
)

NoHistory = Annotated[
    bool,
    typer.Option(
        "--no-history",
        help="Do not keep the operation history (history.parquet): far less memory and "
        "disk on long or many runs; the checks still run.",
    ),
]


def run_all(
    sc: Scenario,
    strategies: Sequence[str],
    seeds: Sequence[int],
    quiet: bool = False,
    keep_history: bool = True,
) -> list[RunResult]:
    """Every strategy on every seed, with a progress bar on stderr."""
    results: list[RunResult] = []
    jobs = [(seed, s) for seed in seeds for s in strategies]
    with _progress(len(jobs), quiet) as prog:
        task = prog.add_task("running", total=len(jobs))
        for i, (seed, strat) in enumerate(jobs):
            prog.update(task, description=f"{strat} seed {seed}")
            try:
                step = partial(_advance, prog, task, i)
                results.append(run(sc, strat, seed, progress=step, keep_history=keep_history))
            except (CheckFailure, StrategyRuntimeError) as exc:
                if exc.result is not None:  # kept, marked failed
                    results.append(exc.result)
                exc.partial = results  # type: ignore[union-attr]
                raise
    return results


def comparison_table(results: Sequence[RunResult], title: str) -> Table:
    """Mean of the main metrics per strategy (± 95% CI half-width over replications)."""
    table = Table(title=title)
    table.add_column("metric")
    names = list(dict.fromkeys(r.strategy for r in results))
    for n in names:
        table.add_column(n, justify="right")
    for key, label, fmt in MAIN_METRICS:
        cells = []
        for n in names:
            vals = [float(r.metrics.get(key, float("nan"))) for r in results if r.strategy == n]
            lo, hi = confidence_interval(vals)
            mean = sum(vals) / len(vals)
            cell = fmt.format(mean)
            if len(vals) > 1:
                cell += " ± " + fmt.format((hi - lo) / 2)
            cells.append(cell)
        table.add_row(label, *cells)
    return table


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
) -> None:
    """Run strategies on a scenario; write results/<run-id>/ and print a comparison."""
    with _errors():
        names = strategy or ["batch"]
        sc = _load(scenario, _overrides(set_), names, allow_large)
        seeds = _seeds(seed, replications)
        target = check_out(out) if out else new_run_dir(Path("results"), sc.id)
        try:
            results = run_all(sc, names, seeds, quiet=as_json, keep_history=not no_history)
        except SimulationError as exc:
            raise _replay(scenario, set_, exc) from None
        except (CheckFailure, StrategyRuntimeError) as exc:
            kept = getattr(exc, "partial", [])
            if kept:  # the runs so far and the failed run's partial result, marked failed
                write_results(target, kept)
                _say(f"syncsim: partial results: {target}")
            raise
        if check_determinism:
            again = run_all(sc, names, seeds, quiet=as_json, keep_history=not no_history)
            for a, b in zip(results, again, strict=True):
                if not _same_run(a, b):
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


@app.command("compare")
def compare_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file or catalogue id.")],
    replications: Annotated[int, typer.Option("--replications", "-r", min=1, max=10_000)] = 1,
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED, help="Seed of the first replication.")
    ] = 1,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    workers: Annotated[int, typer.Option(min=0, help="Parallel runs (0: one per CPU).")] = 0,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a scenario value: KEY=VALUE (dotted path)."),
    ] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Do not write report.html and the plots.")
    ] = False,
    no_history: NoHistory = False,
    allow_large: AllowLarge = False,
) -> None:
    """Every built-in strategy on the same seeds (common random numbers), with 95% CIs."""
    with _errors():
        names = [n for n in BUILTIN_ORDER if n in installed_strategies()]
        sc = _load(scenario, _overrides(set_), names, allow_large)
        seeds = _seeds(seed, replications)
        target = check_out(out) if out else new_run_dir(Path("results"), sc.id)
        keep = {"keep_history": not no_history, "allow_large": allow_large}
        jobs = [Job(sc, n, s, options=keep) for s in seeds for n in names]
        with _progress(len(jobs), False) as prog:
            task = prog.add_task(f"{sc.id}: {len(jobs)} runs", total=len(jobs))
            try:
                results = run_jobs(
                    jobs, workers or default_workers(), lambda i, r: prog.advance(task)
                )
            except SimulationError as exc:
                raise _replay(scenario, set_, exc) from None
        write_results(target, results)
        if not no_report:
            _write_report(target)
    title = f"{sc.id}: {len(names)} strategies x seeds {seeds[0]}..{seeds[-1]}"
    out_console.print(comparison_table(results, title))
    if replications == 1:
        out_console.print("(one replication: use --replications for confidence intervals)")
    out_console.print(f"results: {target}")
    if not no_report:
        out_console.print(f"report: {target / 'report.html'}")


@app.command("chaos")
def chaos_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file or catalogue id.")],
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="Name or module:Class.")],
    seeds: Annotated[int, typer.Option(min=1, max=100_000, help="How many seeds to try.")] = 10,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="First seed.")] = 1,
    recovery_bound: Annotated[
        str, typer.Option(help="Longest acceptable time to recovery (e.g. 4h).")
    ] = "4h",
    workers: Annotated[int, typer.Option(min=0, help="Parallel runs (0: one per CPU).")] = 0,
    check_determinism: Annotated[
        bool, typer.Option("--check-determinism", help="Run every seed twice; compare.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Do not write report.html and the plots.")
    ] = False,
    allow_large: AllowLarge = False,
) -> None:
    """A seeded fault swarm: each seed draws its own fault plan; every run is checked
    (conservation, invariants, bus accounting, nothing lost, recovery within a bound).
    Failing seeds are printed with the command that replays each; exit 1 if any fails."""
    with _errors():
        sc = _load(scenario, {}, [strategy], allow_large)
        try:
            bound = parse_duration(recovery_bound)
        except ValueError as exc:
            raise InputError(f"--recovery-bound: {exc}") from None
        seed_list = _seeds(seed, seeds)
        target = (
            check_out(out)
            if out
            else new_run_dir(Path("results"), f"{sc.id}-chaos-{strategy.replace(':', '-')}")
        )
        # each seed's no-fault twin gives the band that recovery is judged against
        opts = {"check": False, "recovery_baseline": True, "keep_history": False}
        jobs = [
            Job(chaos_scenario(sc, s), strategy, s, options=opts, capture_errors=True)
            for s in seed_list
        ]
        if check_determinism:
            jobs = [j for j in jobs for _ in (0, 1)]
        with _progress(len(jobs), False) as prog:
            task = prog.add_task(f"chaos {sc.id} / {strategy}", total=len(jobs))
            results = run_jobs(jobs, workers or default_workers(), lambda i, r: prog.advance(task))
    verdicts = []
    step = 2 if check_determinism else 1
    for k in range(0, len(results), step):
        r = results[k]
        if isinstance(r, RunError):
            v = Verdict(r.seed, False, [r.message])
        else:
            v = judge(r, bound)
            if check_determinism and not _same_run(r, results[k + 1]):
                v.ok = False
                v.reasons.append("not deterministic: two runs of this seed differ")
        verdicts.append(v)
    kept = [r for r in results[::step] if not isinstance(r, RunError)]
    if kept:
        with _errors():
            write_results(target, kept)
            if not no_report:
                _write_report(target)
    table = Table(title=f"chaos: {sc.id} / {strategy}, seeds {seed_list[0]}..{seed_list[-1]}")
    for col in ("seed", "faults", "verdict", "recovery s", "trace", "why"):
        table.add_column(col)
    for v in verdicts:
        table.add_row(
            str(v.seed), ", ".join(v.faults), "ok" if v.ok else "FAIL",
            f"{v.time_to_recovery_s:.0f}", v.trace_hash[:12], "; ".join(v.reasons),
        )  # fmt: skip
    out_console.print(table)
    failed = [v for v in verdicts if not v.ok]
    ok = len(verdicts) - len(failed)
    out_console.print(f"seeds: {ok} ok, {len(failed)} failing; results: {target}")
    if failed:
        for v in failed:
            out_console.print(
                f"seed {v.seed} failed; replay: "
                f"{replay_command(scenario, strategy, v.seed, recovery_bound)}",
                markup=False, highlight=False, soft_wrap=True,
            )  # fmt: skip
        raise typer.Exit(1)


def _write_report(target: Path) -> None:
    """report.html and the plots into a results directory just written."""
    from sim.report import ReportError, write_report

    try:
        write_report(target)
    except ReportError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise OutputError(f"{target}: could not write the report ({exc.strerror})", False) from None


def _same_run(a: Any, b: Any) -> bool:
    if isinstance(a, RunError) or isinstance(b, RunError):
        return isinstance(a, RunError) and isinstance(b, RunError) and a.message == b.message
    wall = ("wall_seconds", "events_per_second")
    ma = {k: v for k, v in a.metrics.items() if k not in wall}
    mb = {k: v for k, v in b.metrics.items() if k not in wall}
    return bool(a.trace_hash == b.trace_hash and json.dumps(ma) == json.dumps(mb))


@app.command("scenarios")
def scenarios_cmd() -> None:
    """List the scenario catalogue."""
    table = Table(title="scenario catalogue")
    for col in ("name", "id", "description"):
        table.add_column(col)
    for name, sid, desc, _ in catalogue_entries():
        table.add_row(name, sid, desc)
    out_console.print(table)


@app.command("strategies")
def strategies_cmd() -> None:
    """List built-in and installed strategies."""
    table = Table(title="strategies")
    for col in ("name", "class", "origin", "summary"):
        table.add_column(col)
    with _errors():
        for name, (path, origin) in strategy_origins().items():
            cls = resolve_strategy(name)
            doc = (sys.modules[cls.__module__].__doc__ or cls.__doc__ or "").strip()
            table.add_row(name, path, origin, doc.splitlines()[0] if doc else "")
    out_console.print(table)


@app.command("validate")
def validate_cmd(
    file: Annotated[str, typer.Argument(help="Scenario file or catalogue id.")],
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy",
            "-s",
            help="Also build these strategies (name or module:Class) from the file's tables.",
        ),
    ] = None,
    allow_large: AllowLarge = False,
) -> None:
    """Check a scenario file (schema, strategy parameters, the resources a run needs);
    exit 2 if it is wrong."""
    with _errors():
        path = find_scenario(file)
        sc = _load(file, {}, strategy or (), allow_large)
        est = check_resources(sc, True)
    out_console.print(
        f"ok: {path} ({sc.id}: {sc.catalogue.skus} SKUs, {len(sc.locations)} locations, "
        f"{len(sc.channels)} channels, {sc.duration / 86400:g} days; a run needs "
        f"{est.describe()})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


# -- commands from other modules: each adds itself with a ``register(app)`` function ----------
# (report: sim.report; sweep and bench: sim.sweep, sim.bench; check and baseline:
# sim.conformance, sim.baseline). Keep one import and one call per module here.
from sim import baseline as _baseline  # noqa: E402
from sim import bench as _bench  # noqa: E402
from sim import conformance as _conformance  # noqa: E402
from sim import report as _report  # noqa: E402
from sim import sweep as _sweep  # noqa: E402

_sweep.register(app)
_bench.register(app)
_report.register(app)
_conformance.register(app)
_baseline.register(app)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: usage errors become one line and exit code 2; nothing ends in a
    traceback (an unexpected exception is one line naming it and where it was raised)."""
    # module:Class from the current folder, as python -m does, but after installed packages:
    # a user's own strategies/ or sim/ folder must not shadow syncsim's
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        code = app(args=list(argv) if argv is not None else None, standalone_mode=False)
    except _cx.NoArgsIsHelpError as exc:
        err_console.print(exc.format_message(), markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except _cx.ClickException as exc:
        _say(f"syncsim: error: {exc.format_message()}")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _say("syncsim: interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug of syncsim's own: one line, not a traceback
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
        _say(f"syncsim: internal error: {type(exc).__name__}: {cut(str(exc), 300)}{where}")
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
