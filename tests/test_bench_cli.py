"""syncsim bench: bad arguments, and one quick workload in a child process.

The default run asserts only what is deterministic (the table's shape, event counts, trace
hashes); what depends on the machine (event rates, memory, CPU time) is ``benchmark``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sim.cli import main
from sim.tools.bench import WORKLOADS, bare_simpy_rate, bench_one, workload_path


@pytest.mark.benchmark
def test_bare_simpy_rate_counts_timeouts() -> None:
    assert bare_simpy_rate(events=20_000, procs=10, repeats=1) > 10_000


def test_every_workload_has_a_scenario_file() -> None:
    for w in WORKLOADS.values():
        assert workload_path(w).is_file()


def test_unknown_workload_and_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--workload", "nope"])
    assert exc.value.code == 2
    assert "--workload nope: unknown" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--quick", "-s", "nosuch"])
    assert exc.value.code == 2
    assert "nosuch: unknown strategy" in capsys.readouterr().err


def _quick_flash_sale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = tmp_path / "bench.json"
    main(["bench", "--quick", "-w", "flash_sale", "-s", "oracle", "-r", "2", "--json", str(out)])
    table = capsys.readouterr().out
    assert "bare SimPy" in table
    assert "(best of 2)" in table
    assert "flash_sale" in table
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def test_quick_flash_sale_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _quick_flash_sale(tmp_path, capsys)
    (row,) = data["runs"]
    assert row["strategy"] == "oracle"
    assert row["repeats"] == 2
    assert row["sim_seconds"] == 600.0
    assert row["domain_events"] > 1000


@pytest.mark.benchmark
def test_quick_flash_sale_rates_and_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _quick_flash_sale(tmp_path, capsys)
    (row,) = data["runs"]
    assert 0 < row["peak_rss_mb"] < 2048
    assert data["bare_simpy_per_s"] > 10_000


def test_bench_one_scales_demand_and_overrides() -> None:
    path = str(workload_path(WORKLOADS["flash_sale"]))
    base = bench_one(path, "oracle", "5m")
    double = bench_one(path, "oracle", "5m", demand_factor=2.0)
    small = bench_one(path, "oracle", "5m", overrides={"catalogue.skus": 50})
    assert base["trace_hash"] == bench_one(path, "oracle", "5m")["trace_hash"]
    assert 1.5 < double["domain_events"] / base["domain_events"] < 2.5  # Poisson: counts
    assert small["trace_hash"] != base["trace_hash"]


@pytest.mark.benchmark
def test_bench_one_measures_cpu_time() -> None:
    path = str(workload_path(WORKLOADS["flash_sale"]))
    assert bench_one(path, "oracle", "5m")["total_cpu_s"] > 0
