"""Write the example order history and latencies of examples/calibration/.

The orders are what syncsim's own generator places on peak_week's ``shop-main`` channel in
two days (seed 1, 300 SKUs, no peak), written in Shopify's orders export format with
made-up customers (Faker, seeded: no real people). The stock snapshot is that run's initial
stock at each of peak_week's locations, with the catalogue's names and prices. The latencies
are drawn from lognormal laws. Run from the repository root::

    python examples/calibration/make_example.py

The test suite regenerates the files and checks they equal the committed ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from faker import Faker

import sim
from sim.trace import synthetic_history

HERE = Path(__file__).resolve().parent
SCENARIO = {"scenario.duration": "2d", "catalogue.skus": 300, "demand.peaks": []}


def orders() -> pd.DataFrame:
    sc = sim.load_scenario("peak_week", SCENARIO)
    h = synthetic_history(sc, 1)
    h = h[h["channel"] == "shop-main"].reset_index(drop=True)
    numbers = {oid: 1001 + i for i, oid in enumerate(dict.fromkeys(h["order_id"]))}
    fake = Faker()
    fake.seed_instance(1)
    names = {n: fake.name() for n in numbers.values()}
    created = pd.to_datetime(h["created"]).dt.strftime("%Y-%m-%d %H:%M:%S +0000")
    number = h["order_id"].map(numbers)
    return pd.DataFrame(
        {
            "Name": "#" + number.astype(str),
            "Created at": created,
            "Lineitem quantity": h["quantity"],
            "Lineitem name": "Product " + h["sku"].astype(str),
            "Lineitem sku": "SKU-" + h["sku"].map("{:06d}".format),
            "Billing Name": number.map(names),
        }
    )


def snapshot() -> pd.DataFrame:
    from sim.assembly.world import World

    sc = sim.load_scenario("peak_week", SCENARIO)
    world = World(sc, 1, keep_history=False)
    initial = world.ledger.initial
    rows = [
        {
            "sku": f"SKU-{k:06d}",
            "name": f"Product {k}",
            "location": loc.name,
            "on_hand": int(initial[i, k]),
            "price": float(world.catalogue.prices[k]),
        }
        for i, loc in enumerate(sc.locations)
        for k in range(initial.shape[1])
    ]
    return pd.DataFrame(rows)


def latencies() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "system": ["erp"] * 500 + ["shop-main"] * 500,
            "seconds": np.round(
                np.r_[rng.lognormal(-1.3, 0.5, 500), rng.lognormal(-2.0, 0.7, 500)], 4
            ),
        }
    )


def main(out: Path = HERE) -> None:
    orders().to_csv(out / "orders_export.csv", index=False)
    snapshot().to_csv(out / "stock_snapshot.csv", index=False)
    latencies().to_csv(out / "latencies.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
