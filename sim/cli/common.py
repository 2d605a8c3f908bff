"""What the verbs share: one-line errors and exit codes, loading a scenario with its
``--set`` overrides, progress bars, the comparison table.

Bad input (a scenario file, a strategy name, an argument) gets one line on stderr naming
what is wrong and where, exit code 2, and nothing written. A run that fails a correctness
check or whose strategy raises exits with code 1.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sim.assembly.runner import RunResult, SimulationError, StrategyRuntimeError, run
from sim.assembly.world import TRANSPORTS
from sim.budget import check_resources
from sim.checks import CheckFailure
from sim.cli.app import err_console, say
from sim.registry import (
    StrategyError,
    check_strategy_tables,
)
from sim.scenario import (
    ScenarioError,
    apply_overrides,
    cut,
    find_scenario,
    parse_value,
    read_raw,
    set_text,
    validate_raw,
)
from sim.schema import Scenario
from sim.tools.outdir import OutputError
from sim.tools.results import confidence_interval

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


@contextmanager
def errors() -> Iterator[None]:
    """One line on stderr and an exit code for every error a command can meet: 2 for bad
    input (a file, an argument, ``--out``), 1 for a run that failed (a check, a strategy,
    the simulator itself, or writing the results)."""
    try:
        yield
    except (ScenarioError, StrategyError, InputError) as exc:
        say(f"syncsim: error: {exc}")
        raise typer.Exit(2) from None
    except OutputError as exc:
        say(f"syncsim: error: {exc}" if exc.usage else f"syncsim: cannot write results: {exc}")
        raise typer.Exit(2 if exc.usage else 1) from None
    except (CheckFailure, StrategyRuntimeError, SimulationError) as exc:
        say(f"syncsim: run failed: {exc}")
        raise typer.Exit(1) from None


def parse_overrides(pairs: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {cut(pair)}: expected KEY=VALUE, e.g. erp.api.concurrency=15")
        out[key.strip()] = parse_value(value.strip())
    return out


def set_arg(key: str, overrides: dict[str, Any]) -> str | None:
    """``--set KEY=VALUE`` for the override that set ``key`` (or a table above it)."""
    for k, v in overrides.items():
        if key == k or key.startswith(k + "."):
            return set_text(k, v)
    return None


def load(
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
        arg = set_arg(key, overrides)
        if arg is not None and arg.startswith(f"--set {key}="):
            raise InputError(f"{arg}: {what}") from None  # the argument names the key
        raise InputError(f"{arg or path}: {exc}") from None
    check_resources(sc, allow_large, str(path))
    from sim.business import check_business_files

    check_business_files(sc)  # BusinessDataError: one line naming the file, row and column
    if sc.demand.source == "trace":
        from sim.trace import load_trace

        load_trace(sc)  # TraceError: one line naming the file, row and column
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


def seed_range(seed: int, replications: int) -> list[int]:
    if seed + replications - 1 > MAX_SEED:
        raise InputError(f"--seed {seed}: seeds must stay below 2**63 (with {replications} runs)")
    return list(range(seed, seed + replications))


def with_replay(ref: str, set_: Sequence[str] | None, exc: SimulationError) -> SimulationError:
    """``exc`` with the command that replays the failed run appended."""
    sets = "".join(f" --set {s}" for s in set_ or ())
    cmd = f"syncsim run {ref} -s {exc.strategy} --seed {exc.seed}{sets}"
    return SimulationError(f"{exc}; replay: {cmd}", exc.strategy, exc.seed)


def progress(total: int, quiet: bool) -> Progress:
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


def advance(prog: Progress, task: Any, done: int, fraction: float) -> None:
    prog.update(task, completed=done + fraction)


OUT_HELP = (
    "Results folder (default results/SCENARIO-TIME). Created if new; an existing one "
    "must be empty or a results folder syncsim wrote (then it is replaced). syncsim never "
    "deletes files it did not write."
)

Transport = Annotated[
    str,
    typer.Option(
        "--transport",
        help="How strategies reach the systems: direct (their Python APIs) or http (each "
        "platform's HTTP facade through httpx connectors: the same run, slower).",
    ),
]


def transport_arg(value: str) -> str:
    """``--transport``'s value, or an ``InputError`` naming the choices."""
    if value not in TRANSPORTS:
        raise InputError(f"--transport {cut(value)}: expected {' or '.join(TRANSPORTS)}")
    return value


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
    transport: str = "direct",
) -> list[RunResult]:
    """Every strategy on every seed, with a progress bar on stderr."""
    results: list[RunResult] = []
    jobs = [(seed, s) for seed in seeds for s in strategies]
    with progress(len(jobs), quiet) as prog:
        task = prog.add_task("running", total=len(jobs))
        for i, (seed, strat) in enumerate(jobs):
            prog.update(task, description=f"{strat} seed {seed}")
            try:
                step = partial(advance, prog, task, i)
                results.append(
                    run(sc, strat, seed, progress=step, keep_history=keep_history,
                        transport=transport)
                )  # fmt: skip
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


def write_report_into(target: Path) -> None:
    """report.html and the plots into a results directory just written."""
    from sim.tools.report import ReportError, write_report

    try:
        write_report(target)
    except ReportError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise OutputError(f"{target}: could not write the report ({exc.strerror})", False) from None
