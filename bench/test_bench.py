"""pytest-benchmark workloads (marked ``benchmark``; not in the default run).

    pytest bench -m benchmark -n 0 --benchmark-columns=min,mean,rounds

Times bare SimPy, each built-in strategy on the short horizon of every workload (one day of
peak_week, the 100,000-SKU catalogue for two hours, ten minutes of the flash sale, one day
of supplynet), the peers when installed (``pip install -e '.[peers]'``) and one profiled
run; ``syncsim bench`` prints the same workloads as one table in CPU time against bare
SimPy, ``syncsim bench --peers`` the peers next to supplynet.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from sim.tools.bench import WORKLOADS, bare_simpy_rate, bench_one, workload_path
from sim.tools.peers import PEERS, peer_run

pytestmark = pytest.mark.benchmark

STRATEGIES = ("oracle", "perfect", "batch", "api", "event", "orchestrated")


def test_bare_simpy(benchmark: Any) -> None:
    rate = benchmark.pedantic(bare_simpy_rate, kwargs={"repeats": 1}, rounds=3)
    assert rate > 50_000  # timeouts per CPU second; far below any machine this runs on


@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_workload(benchmark: Any, workload: str, strategy: str) -> None:
    w = WORKLOADS[workload]
    path = str(workload_path(w))
    row = benchmark.pedantic(bench_one, args=(path, strategy, w.quick_duration), rounds=1)
    benchmark.extra_info.update(
        domain_events=row["domain_events"],
        domain_events_per_cpu_s=row["domain_events"] / row["sim_cpu_s"],
        loop_steps=row["loop_steps"],
        peak_rss_mb=row["peak_rss_mb"],
    )
    if w.unit_orders:
        benchmark.extra_info["orders_per_cpu_s"] = row["units_demanded"] / row["sim_cpu_s"]
    assert row["domain_events"] > 0
    assert 0 < row["sim_cpu_s"] <= row["total_cpu_s"]
    assert row["peak_rss_mb"] < 2048


@pytest.mark.parametrize("key", list(PEERS))
def test_peer(benchmark: Any, key: str) -> None:
    if importlib.util.find_spec(PEERS[key].module.split(".")[0]) is None:
        pytest.skip(f"{PEERS[key].name} is not installed (pip install -e '.[peers]')")
    w = WORKLOADS["supplynet"]
    path = workload_path(w)
    row = benchmark.pedantic(peer_run, args=(key, path, w.quick_duration), rounds=1)
    benchmark.extra_info[f"{PEERS[key].counts}_per_cpu_s"] = row["count"] / row["sim_cpu_s"]
    assert row["count"] > 1000  # 60 an hour for a day


def test_profile_supplynet(benchmark: Any) -> None:
    from sim.tools.profiling import profile_run

    w = WORKLOADS["supplynet"]
    result = benchmark.pedantic(
        profile_run, args=(workload_path(w), w.name, "oracle", w.quick_duration), rounds=1
    )
    benchmark.extra_info.update(
        calls_per_domain_event=result.per_event(result.calls),
        simpy_steps_per_domain_event=result.per_event(result.steps),
    )
    assert result.steps_exact
    assert result.calls > result.steps > 0
