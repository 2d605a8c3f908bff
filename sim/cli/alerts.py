"""``syncsim alerts RULES.toml RESULTS_DIR``: alert rules on a results folder's signals."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from sim.cli.app import app, out_console
from sim.cli.common import InputError, errors
from sim.tools.alerts import AlertError, evaluate_runs, load_rules, summarize, write_alerts
from sim.tools.outdir import syncsim_files


def _duration(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s >= 3600:
        return f"{sign}{s / 3600:.1f} h"
    return f"{sign}{s / 60:.0f} min"


def _read_timeseries(results_dir: Path) -> pd.DataFrame:
    if not results_dir.is_dir():
        raise InputError(f"{results_dir}: not a folder")
    if syncsim_files(results_dir) is None:
        raise InputError(f"{results_dir}: not a results folder syncsim wrote (no manifest.json)")
    path = results_dir / "timeseries.parquet"
    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise InputError(f"{path}: missing (a sweep folder keeps no time series)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None


@app.command("alerts")
def alerts_cmd(
    rules_file: Annotated[Path, typer.Argument(help="An alert rule file (TOML).")],
    results_dir: Annotated[
        Path, typer.Argument(help="A results folder (run or compare) with timeseries.parquet.")
    ],
) -> None:
    """Evaluate alert rules on the simulated signals of every run in a results folder:
    each rule's time to detect each incident, missed incidents and false alarms, per
    strategy. Writes alerts.json and alerts.csv into the folder (the report shows them)."""
    with errors():
        try:
            rules = load_rules(rules_file)
            frame = _read_timeseries(results_dir)
            per_run = evaluate_runs(frame, rules)
            summary = summarize(per_run)
            written = write_alerts(results_dir, rules_file, rules, per_run, summary)
        except AlertError as exc:
            raise InputError(str(exc)) from None
        except OSError as exc:
            raise InputError(f"{results_dir}: cannot write alerts ({exc.strerror})") from None
    rows = summary.to_dict(orient="records")
    several = len({r["scenario"] for r in rows}) > 1
    table = Table(title=f"alerts: {rules_file.name} on {results_dir}", title_justify="left")
    heads = ["strategy", "rule", "incidents", "detected", "TTD median", "early", "false/day"]
    for col in (["scenario"] if several else []) + heads + ["firing"]:
        table.add_column(
            col, justify="left" if col in ("scenario", "strategy", "rule") else "right"
        )
    for row in rows:
        lo, hi = row["false_alarms_per_day_lo"], row["false_alarms_per_day_hi"]
        fa = f"{row['false_alarms_per_day']:.2f}"
        if row["seeds"] > 1 and not math.isnan(lo):
            fa += f" ({lo:.2f}-{hi:.2f})"
        table.add_row(
            *([str(row["scenario"])] if several else []),
            str(row["strategy"]),
            str(row["rule"]),
            str(row["incidents"]),
            f"{row['detected']} ({row['missed']} missed)",
            _duration(row["ttd_median_s"]),
            str(row["detected_before_start"]),
            fa,
            f"{row['firing_frac']:.1%}",
        )
    out_console.print(table)
    out_console.print(
        "TTD: firing time minus incident start (negative: before the first oversell); "
        "early: detections before the start; false/day: false alarms per simulated day "
        "(95% interval over seeds); firing: share of the time the alert was on.",
        markup=False,
        highlight=False,
    )
    for path in written:
        out_console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
