"""Verdicts on several metrics from one ``syncsim compare`` results folder: the same paired
comparison over seeds as ``compare``'s own verdict (``sim.tools.decide``), with the
objective set to each metric in turn, and the per-strategy means of each metric run-wide
and, with ``--channel``, on one channel. Run from the repository root::

    syncsim compare preorder_launch -r 5 --out /tmp/pl
    python bench/verdicts.py /tmp/pl promise_met_rate:max oversold_lines lost_sale_units

A metric without ``:max`` is minimised. Nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from sim.tools.decide import Objective, decide


def say(text: str) -> None:
    sys.stdout.write(text + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, help="a syncsim compare results folder")
    ap.add_argument("objectives", nargs="+", help="METRIC or METRIC:max")
    ap.add_argument("--channel", help="also print the means on this channel")
    args = ap.parse_args()
    runs = pd.read_parquet(args.results / "runs.parquet")
    metrics = [o.split(":")[0] for o in args.objectives]
    metrics = [m for m in metrics if m in runs.columns]  # total_cost_per_week is derived
    say(runs.groupby("strategy")[metrics].mean().to_string(float_format=lambda x: f"{x:,.4g}"))
    if args.channel:
        pc = pd.read_parquet(args.results / "per_channel.parquet")
        pc = pc[pc["channel"] == args.channel]
        keep = [m for m in metrics if m in pc.columns]
        say(f"\non {args.channel}:")
        say(pc.groupby("strategy")[keep].mean().to_string(float_format=lambda x: f"{x:,.4g}"))
    for objective in args.objectives:
        metric, _, direction = objective.partition(":")
        obj = Objective(metric, "max" if direction == "max" else "min")
        say(f"\n{objective}: {decide(runs, obj).summary}")


if __name__ == "__main__":
    main()
