"""``syncsim calibrate ORDERS``: your order history (and measured latencies) fitted into a
validated scenario, with a fit report (``sim.tools.calibrate``, docs/calibrate.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli.app import app, out_console, say
from sim.cli.common import errors
from sim.tools.calibrate import (
    FORMATS,
    backtest,
    calibrate,
    check_skus,
    read_history,
    read_latencies,
    read_returns,
    read_snapshot,
    write_calibration,
)
from sim.tools.outdir import check_out


@app.command("calibrate")
def calibrate_cmd(
    orders: Annotated[Path, typer.Argument(help="Order history: CSV or Parquet, a row per line.")],
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"The export's columns: {', '.join(FORMATS)}, or a MAPPING.toml file "
            "(a [columns] table: order_id, created, channel, sku, quantity -> your names).",
        ),
    ] = "generic",
    channel: Annotated[
        str | None,
        typer.Option(help="The channel of an export without one (shopify, amazon)."),
    ] = None,
    latency: Annotated[
        Path | None,
        typer.Option(help="Measured latencies: CSV with system (erp or a channel) and seconds."),
    ] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            "--catalogue",
            "--snapshot",
            help="Catalogue and stock snapshot: CSV or Parquet with sku, location, on_hand "
            "(optionally name, price); becomes the catalogue and the initial stock.",
        ),
    ] = None,
    returns: Annotated[
        Path | None,
        typer.Option(
            help="Customer returns: CSV with order_id, sku, quantity (optionally created); "
            "fits return rates per channel."
        ),
    ] = None,
    peak: Annotated[
        list[str] | None,
        typer.Option(
            help="A known peak, DATE[/DURATION] (e.g. 2026-11-27/2d), left out of the base "
            "rates and fitted as a multiplier; repeatable."
        ),
    ] = None,
    detect_peaks: Annotated[
        bool,
        typer.Option(help="Detect peak days (needs two weeks of history)."),
    ] = True,
    base: Annotated[
        str,
        typer.Option(help="The scenario everything not fitted comes from; its channel names."),
    ] = "peak_week",
    name: Annotated[str, typer.Option(help="The fitted scenario's name (id NAME-v1).")] = (
        "calibrated"
    ),
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default results/calibration-NAME).")
    ] = None,
    backtest_: Annotated[
        bool,
        typer.Option(
            "--backtest",
            help="Simulate the fitted order stream on --seeds seeds and test it against the "
            "history (hourly counts, inter-arrival law, SKU shares, order sizes); exit 1 if a "
            "part fails.",
        ),
    ] = False,
    seeds: Annotated[int, typer.Option(min=1, max=100, help="Seeds of the back-test.")] = 3,
) -> None:
    """Fit your order history into a scenario: scenario.toml and a fit report.

    Per channel: arrival rates by hour of the week, SKU popularity (with a tail for SKUs
    never sold), order-size laws; peaks (detected or declared), the initial stock from a
    snapshot, return rates and measured latencies; each part with a goodness-of-fit statistic
    (calibration.html). docs/calibrate.md says what is fitted and what is assumed."""
    with errors():
        target = check_out(out or Path("results") / f"calibration-{name}")
        history = read_history(orders, format_, channel)
        lat = read_latencies(latency) if latency is not None else None
        snap = read_snapshot(snapshot) if snapshot is not None else None
        if snap is not None:
            check_skus(orders, history, snap, format_)
        rets = read_returns(returns) if returns is not None else None
        cal = calibrate(
            history, base, lat, name, snapshot=snap, returns=rets, peaks=peak,
            detect_peaks=detect_peaks,
        )  # fmt: skip
        if backtest_:
            cal.backtest = backtest(cal, history, seeds)
        write_calibration(target, cal)
    f = cal.fit
    out_console.print(
        f"{cal.scenario.id}: {f['window']['lines']:,} lines over {f['window']['days']} day(s); "
        f"hourly fit error {f['hourly']['mean_abs_rel_error']:.1%}, Zipf "
        f"{f['popularity']['zipf']:.3f} over {f['popularity']['skus']:,} SKUs",
        markup=False,
        highlight=False,
    )
    out_console.print(f"scenario: {target / 'scenario.toml'}", markup=False, highlight=False)
    out_console.print(f"report: {target / 'calibration.html'}", markup=False, highlight=False)
    if cal.backtest is not None:
        for part, p in cal.backtest["parts"].items():
            state = "pass" if p["ok"] else f"FAIL: {p['why']}"
            say(f"back-test {part}: {p['value']:.4g} ({p['tolerance']}): {state}")
        if not cal.backtest["ok"]:
            raise typer.Exit(1)
