"""``syncsim baseline save|check``: golden per-metric statistics, and new seeds checked
against them."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from sim.assembly.executor import default_workers
from sim.cli.app import app, out_console, say
from sim.cli.common import InputError, errors, load, parse_overrides
from sim.tools.baseline import GOLDEN, BaselineError, Dir, Set, Strategy, Workers, check, save

group = typer.Typer(help="Golden baselines: save per-metric statistics, check new seeds.",
                    no_args_is_help=True)  # fmt: skip
app.add_typer(group, name="baseline")


@group.command("save")
def save_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file or catalogue id.")],
    strategy: Strategy,
    seeds: Annotated[int, typer.Option(min=2, help="How many seeds.")] = 5,
    seed: Annotated[int, typer.Option(min=0, help="First seed.")] = 1,
    path: Dir = GOLDEN,
    set_: Set = None,
    workers: Workers = 1,
) -> None:
    """Run SCENARIO with a strategy on N seeds; store per-metric statistics as JSON."""
    with errors():
        sc = load(scenario, parse_overrides(set_))
        t0 = time.perf_counter()
        target = save(sc, strategy, seeds, path=path, seed=seed,
                      workers=workers or default_workers())  # fmt: skip
    out_console.print(
        f"saved {target} ({seeds} seeds, {time.perf_counter() - t0:.1f} s)",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip


@group.command("check")
def check_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file or catalogue id.")],
    strategy: Strategy,
    seeds: Annotated[
        int | None, typer.Option(min=2, help="New seeds (default: as the baseline).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="First new seed (default: after the baseline's).")
    ] = None,
    path: Dir = GOLDEN,
    set_: Set = None,
    alpha: Annotated[float, typer.Option(min=0, max=1, help="Significance level.")] = 0.001,
    tolerance: Annotated[
        float, typer.Option(min=0, help="Smallest relative change that counts.")
    ] = 0.1,
    show_all: Annotated[bool, typer.Option("--all", help="List unchanged metrics.")] = False,
    workers: Workers = 1,
) -> None:
    """Run new seeds and compare with the saved baseline; exit 1 if a metric regressed."""
    with errors():
        sc = load(scenario, parse_overrides(set_))
        try:
            cmp = check(
                sc, strategy, seeds, path=path, seed=seed, alpha=alpha, rel_tol=tolerance,
                workers=workers or default_workers(),
            )  # fmt: skip
        except BaselineError as exc:
            raise InputError(str(exc)) from None
    out_console.print(cmp.table(everything=show_all))
    for k, (old, new) in cmp.parameters_differ.items():
        out_console.print(f"note: parameter {k} is {new!r}, baseline had {old!r}",
                              markup=False, highlight=False)  # fmt: skip
    if not cmp.ok:
        worst = ", ".join(
            f"{c.metric} {c.base['mean']:.4g} -> {c.new['mean']:.4g} ({c.delta:+.4g})"
            for c in cmp.regressions
        )
        say(f"syncsim: baseline check failed: {cmp.file}: regressed: {worst}")
        raise typer.Exit(1)
