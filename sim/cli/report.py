"""``syncsim report RESULTS_DIR``: report.html and the PNGs of a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli.app import app, out_console
from sim.cli.common import InputError, errors
from sim.tools.report import ReportError, write_report


@app.command("report")
def report_cmd(
    results_dir: Annotated[Path, typer.Argument(help="A results directory (runs.parquet).")],
) -> None:
    """Write report.html (plots embedded) and the PNGs into a results directory."""
    with errors():
        try:
            path = write_report(results_dir)
        except ReportError as exc:
            raise InputError(str(exc)) from None
    out_console.print(f"report: {path}", markup=False, highlight=False, soft_wrap=True)
