"""pytest-benchmark workloads (marked ``benchmark``; not in the default run).

    pytest bench -m benchmark -n 0 --benchmark-columns=min,mean,rounds

Times bare SimPy, and each built-in strategy on one day of peak_week, the 100,000-SKU
catalogue for two hours and ten minutes of the flash sale; ``syncsim bench`` prints the
same workloads as one table with events per second and peak memory.
"""

from __future__ import annotations

from typing import Any

import pytest

from sim.tools.bench import WORKLOADS, bare_simpy_rate, bench_one, workload_path

pytestmark = pytest.mark.benchmark

STRATEGIES = ("oracle", "perfect", "batch", "api", "event", "orchestrated")


def test_bare_simpy(benchmark: Any) -> None:
    rate = benchmark.pedantic(bare_simpy_rate, kwargs={"repeats": 1}, rounds=3)
    assert rate > 50_000  # timeouts per second; far below any machine this runs on


@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_workload(benchmark: Any, workload: str, strategy: str) -> None:
    w = WORKLOADS[workload]
    path = str(workload_path(w))
    row = benchmark.pedantic(bench_one, args=(path, strategy, w.quick_duration), rounds=1)
    benchmark.extra_info.update(
        domain_events=row["domain_events"],
        domain_events_per_s=row["domain_events"] / row["sim_wall_s"],
        peak_rss_mb=row["peak_rss_mb"],
    )
    assert row["domain_events"] > 0
    assert row["peak_rss_mb"] < 2048
