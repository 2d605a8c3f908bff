"""The ``syncsim`` application object and the console entry point.

Every verb is a module of ``sim.cli`` that adds its command to ``app``; ``main`` turns usage
errors into one line and exit code 2 and never lets a traceback through.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from sim.scenario import (
    cut,
)

try:  # typer >= 0.24 vendors its own click
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - older typer depends on click
    from click import exceptions as _cx  # type: ignore[no-redef]


__all__ = ["app", "err_console", "main", "out_console", "say"]

app = typer.Typer(
    name="syncsim",
    help="Which way of synchronizing inventory between ERP, WMS and sales channels oversells "
    "least, lags least and survives faults, at what load on the ERP?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # single line breaks in help texts are joined
)
out_console = Console()
err_console = Console(stderr=True)

#: the value names the help shows instead of Python's type names (``<list[str]>``, ``<bool>``)
_VALUE_NAMES = {
    "str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "Path": "PATH",
    "int range": "INTEGER", "float range": "NUMBER", "file": "FILE", "directory": "FOLDER",
}  # fmt: skip


def _value_name(self: Any, ctx: Any) -> str | None:
    """The help's value column in words: TEXT, INTEGER, NUMBER, PATH (``...`` when the
    option repeats), nothing for a flag."""
    if self.metavar is not None:
        return str(self.metavar)
    label = str(self.display_type(ctx)).strip("<>")
    if label == "bool":
        return None
    many = label.startswith("list[")
    label = label.removeprefix("list[").removesuffix("]")
    name = _VALUE_NAMES.get(label, label.upper())
    return f"{name} ..." if many else name


for _cls in (typer.core.TyperOption, typer.core.TyperArgument):
    _cls.display_type_rich = _value_name  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            out_console.print(f"syncsim {version('syncsim')}", highlight=False)
        except PackageNotFoundError:  # pragma: no cover - run from a source tree
            out_console.print("syncsim (not installed)", highlight=False)
        raise typer.Exit(0)


@app.callback(
    epilog="Start with: syncsim compare peak_week --precision 0.05 (every built-in strategy "
    "on the peak-season scenario, replications until the verdict is precise, a report in "
    "results/). syncsim scenarios lists the others."
)
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Which way of synchronizing inventory between ERP, WMS and sales channels oversells
    least, lags least and survives faults, at what load on the ERP and at what cost?"""


def say(message: str) -> None:
    err_console.print(message, markup=False, highlight=False, emoji=False, soft_wrap=True)


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
        say(f"syncsim: error: {exc.format_message()}")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        say("syncsim: interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug of syncsim's own: one line, not a traceback
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
        say(f"syncsim: internal error: {type(exc).__name__}: {cut(str(exc), 300)}{where}")
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
