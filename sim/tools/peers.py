"""Other Python simulators on comparable work, for ``syncsim bench --peers``.

- **SupplyNetPy** (PyPI ``supplynetpy``): its own model of the ``supplynet`` workload
  (``bench/supplynet.toml``): an infinite supplier, one distributor holding one product with
  an (s, S) policy reviewed every period, customers arriving as a Poisson process, each
  ordering one unit. The parameters are read from the scenario, so both sides simulate the
  same thing: time unit one hour, arrival rate = ``orders_per_hour``, s and S = the scenario's
  reorder and order-up-to cover days times the expected daily demand (as syncsim's ERP
  computes them), period = ``review_interval``, lead time = the mean of ``lead_time``,
  initial level = ``stock.fixed_units``, horizon = ``duration``. Counted: customer orders
  placed (``demand_by_customers``).
- **Ciw** (PyPI ``ciw``): an M/M/1 queue, arrival rate the same 60 an hour, utilisation 0.8,
  over the same horizon. Counted: customers served (records of completed service).

Both are optional (the ``peers`` extra: ``pip install 'syncsim[peers]'``) and imported only
here, by name at run time. Each measure is the CPU time (``time.process_time``) of the
simulation call alone (``simulate_sc_net``, ``simulate_until_max_time``), as syncsim's is the
CPU time of its run loop.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CIW_UTILISATION",
    "PEERS",
    "Peer",
    "SupplyNetParams",
    "ciw_run",
    "peer_run",
    "peer_version",
    "supplynet_params",
    "supplynetpy_run",
]


@dataclass(frozen=True)
class Peer:
    name: str  # as shown in the table
    dist: str  # the PyPI distribution
    module: str  # the module imported
    counts: str  # what its rate counts


PEERS: dict[str, Peer] = {
    "supplynetpy": Peer("SupplyNetPy", "supplynetpy", "SupplyNetPy.Components", "orders"),
    "ciw": Peer("Ciw", "ciw", "ciw", "customers"),
}

#: the M/M/1 queue's utilisation (arrival rate / service rate)
CIW_UTILISATION = 0.8


def peer_version(key: str) -> str | None:
    """The installed version of a peer, or None when it is not installed."""
    peer = PEERS[key]
    try:
        version = importlib.metadata.version(peer.dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    top = peer.module.split(".")[0]
    return version if importlib.util.find_spec(top) is not None else None


@dataclass(frozen=True)
class SupplyNetParams:
    """The supplynet workload in SupplyNetPy's terms (time unit: one hour)."""

    rate: float  # customer orders per hour
    s: int  # reorder point, units
    S: int  # order-up-to level, units (the policy's own name)
    period: float  # hours between reviews
    lead_time: float  # hours from order to delivery
    initial: int  # units at the start
    hours: float  # horizon


def supplynet_params(path: str | Path, duration: str | None = None) -> SupplyNetParams:
    """Read the supplynet scenario (one SKU, one location, one channel)."""
    from sim.scenario import load_scenario

    sc = load_scenario(path, {"scenario.duration": duration} if duration else None)
    (ch,) = sc.channels
    rep = sc.erp.replenishment
    daily = ch.orders_per_hour * 24 * ch.lines_per_order * ch.units_per_line
    s = math.ceil(daily * rep.reorder_cover_days)
    big_s = max(math.ceil(daily * rep.order_up_to_days), s + 1)
    initial = sc.stock.fixed_units if sc.stock.fixed_units is not None else big_s
    return SupplyNetParams(
        rate=ch.orders_per_hour,
        s=s,
        S=big_s,
        period=rep.review_interval / 3600,
        lead_time=rep.lead_time.mean / 3600,
        initial=initial,
        hours=sc.duration / 3600,
    )


def supplynetpy_run(p: SupplyNetParams, seed: int = 1) -> dict[str, Any]:
    """SupplyNetPy on the supplynet workload: orders placed and the CPU seconds it took."""
    scm: Any = importlib.import_module("SupplyNetPy.Components")
    rng = random.Random(seed)
    rate, lead = p.rate, p.lead_time
    nodes = [
        {"ID": "S1", "name": "Supplier", "node_type": "infinite_supplier"},
        {
            "ID": "D1",
            "name": "Distributor",
            "node_type": "distributor",
            "capacity": max(p.S, p.initial),
            "initial_level": p.initial,
            "inventory_holding_cost": 0.0,
            "replenishment_policy": scm.SSReplenishment,
            "policy_param": {"s": p.s, "S": p.S, "period": p.period},
            "product_buy_price": 10,
            "product_sell_price": 12,
        },
    ]
    links = [{"ID": "L1", "source": "S1", "sink": "D1", "cost": 0, "lead_time": lambda: lead}]
    demands = [
        {
            "ID": "d1",
            "name": "Customers",
            "order_arrival_model": lambda: rng.expovariate(rate),
            "order_quantity_model": lambda: 1,
            "demand_node": "D1",
        }
    ]
    c0 = time.process_time()
    net = scm.create_sc_net(nodes=nodes, links=links, demands=demands)
    c1 = time.process_time()
    net = scm.simulate_sc_net(net, sim_time=p.hours, logging=False)
    c2 = time.process_time()
    return {
        "count": int(net["demand_by_customers"][0]),
        "sim_cpu_s": c2 - c1,
        "total_cpu_s": c2 - c0,
        "sim_hours": p.hours,
        "lost_sales": float(net["lost_sales"][1]),
    }


def ciw_run(p: SupplyNetParams, seed: int = 1) -> dict[str, Any]:
    """Ciw's M/M/1 at the supplynet arrival rate: customers served and the CPU seconds."""
    ciw: Any = importlib.import_module("ciw")
    ciw.seed(seed)
    c0 = time.process_time()
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=p.rate)],
        service_distributions=[ciw.dists.Exponential(rate=p.rate / CIW_UTILISATION)],
        number_of_servers=[1],
    )
    q = ciw.Simulation(network)
    c1 = time.process_time()
    q.simulate_until_max_time(p.hours)
    c2 = time.process_time()
    return {
        "count": len(q.get_all_records()),
        "sim_cpu_s": c2 - c1,
        "total_cpu_s": c2 - c0,
        "sim_hours": p.hours,
    }


def peer_run(key: str, path: str | Path, duration: str | None, seed: int = 1) -> dict[str, Any]:
    """One run of a peer on the supplynet parameters (the child's work)."""
    p = supplynet_params(path, duration)
    run = {"supplynetpy": supplynetpy_run, "ciw": ciw_run}[key]
    return {"peer": key, **run(p, seed)}
