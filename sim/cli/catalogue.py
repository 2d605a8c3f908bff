"""``syncsim scenarios``, ``syncsim strategies`` and ``syncsim validate``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from sim.budget import check_resources
from sim.cli.app import app, out_console
from sim.cli.common import AllowLarge, errors, load
from sim.registry import (
    resolve_strategy,
    strategy_origins,
)
from sim.scenario import (
    catalogue_entries,
    find_scenario,
)


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
    with errors():
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
    resolved: Annotated[
        bool,
        typer.Option(
            "--resolved",
            help="Print the scenario as a run uses it (JSON): every default, every preset's "
            "parameters, and each channel's and the ERP's effective API.",
        ),
    ] = False,
) -> None:
    """Check a scenario file: schema, strategy parameters, resources; exit 2 if wrong.

    Each problem is one line naming the file and the field."""
    with errors():
        path = find_scenario(file)
        sc = load(file, {}, strategy or (), allow_large)
        est = check_resources(sc, True)
    if resolved:
        sys.stdout.write(json.dumps(sc.resolved(), indent=2, default=str) + "\n")
        return
    out_console.print(
        f"ok: {path} ({sc.id}: {sc.catalogue.skus} SKUs, {len(sc.locations)} locations, "
        f"{len(sc.channels)} channels, {sc.duration / 86400:g} days; a run needs "
        f"{est.describe()})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
