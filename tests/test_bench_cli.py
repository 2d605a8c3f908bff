"""syncsim bench: bad arguments, one quick workload in a child process, --peers without the
peers installed, and --profile on a short horizon.

The default run asserts only what is deterministic (the table's shape, event counts, trace
hashes, the profile's sections); what depends on the machine (event rates, memory, CPU time)
is ``benchmark``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sim.cli.bench as bench_cli
from sim.assembly import runner
from sim.cli import main
from sim.loop import Loop
from sim.scenario import load_scenario
from sim.tools.bench import (
    WORKLOADS,
    bare_simpy_rate,
    bench_one,
    metered_loop,
    peers_table,
    workload_path,
)
from sim.tools.peers import PEERS, supplynet_params


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


def test_bench_one_meters_the_run_loop_and_puts_it_back() -> None:
    path = str(workload_path(WORKLOADS["flash_sale"]))
    row = bench_one(path, "oracle", "5m")
    assert 0 < row["loop_steps"] < 4096  # a short run: the partial batch is counted
    assert row["units_demanded"] > 0
    assert runner.Loop is Loop
    with metered_loop() as meter:
        assert runner.Loop is not Loop
    assert runner.Loop is Loop
    assert meter.loops == 0


def test_supplynet_is_unit_orders_and_peers_read_it() -> None:
    w = WORKLOADS["supplynet"]
    assert w.unit_orders
    sc = load_scenario(workload_path(w))
    assert (sc.catalogue.skus, len(sc.locations)) == (1, 1)
    (ch,) = sc.channels
    assert (ch.lines_per_order, ch.units_per_line) == (1, 1)  # orders = units demanded
    p = supplynet_params(workload_path(w))
    assert (p.rate, p.s, p.S, p.period, p.lead_time, p.initial) == (60, 2160, 4320, 1, 24, 4320)
    assert p.hours == 14 * 24
    assert supplynet_params(workload_path(w), "1d").hours == 24


def test_peers_without_peers_say_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench_cli, "peer_version", lambda key: None)
    monkeypatch.setattr(bench_cli, "bare_simpy_rate", lambda repeats=3: 500_000.0)
    main(["bench", "--peers", "--quick"])  # returns: exit code 0
    captured = capsys.readouterr()
    lines = [ln for ln in captured.out.splitlines() if "not installed" in ln]
    assert len(lines) == 1
    assert "SupplyNetPy and Ciw are not installed" in lines[0]
    assert "syncsim[peers]" in lines[0]
    assert "supplynet" in captured.out and "oracle" in captured.out
    assert "Traceback" not in captured.out + captured.err


def test_peers_table_says_which_peer_is_missing() -> None:
    from rich.console import Console

    ours = [{"strategy": "oracle", "units_demanded": 1400, "sim_cpu_s": 0.1, "repeats": 1}]
    got = {"count": 1500, "sim_cpu_s": 0.05, "version": "9.9"}
    missing = "not installed: pip install 'syncsim[peers]'"  # brackets are not markup
    table = peers_table(ours, {"supplynetpy": missing, "ciw": got}, 1e6, "1d")
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    assert "syncsim (oracle)" in text and "14,000" in text
    assert missing in text
    assert "Ciw 9.9" in text and "30,000" in text
    assert set(PEERS) == {"supplynetpy", "ciw"}


def test_profile_prints_its_sections(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats, out = tmp_path / "run.pstats", tmp_path / "profile.json"
    main(["bench", "--profile", "supplynet", "oracle", "--quick", "--top", "7",
          "--out", str(stats), "--json", str(out)])  # fmt: skip
    text = capsys.readouterr().out
    for section in (
        "syncsim bench --profile supplynet oracle",
        "function calls",
        "per domain event",
        "SimPy steps",
        "time by package",
        "top 7 functions by own time",
        "top 7 functions by cumulative time",
    ):
        assert section in text, section
    for group in ("simpy", "sim", "mocks", "strategies", "other"):
        assert f"│ {group} " in text or f"| {group} " in text, group
    import pstats

    assert pstats.Stats(str(stats)).total_calls > 0  # type: ignore[attr-defined]
    data = json.loads(out.read_text())
    assert data["simpy_steps_exact"]
    assert data["domain_events"] > 1000
    assert data["calls_per_domain_event"] > data["simpy_steps_per_domain_event"] > 0
    assert len(data["top_own"]) == 7
    assert runner.Loop is Loop


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--profile", "nope", "oracle"], "--workload nope: unknown"),
        (["--profile", "supplynet", "nosuch"], "nosuch: unknown strategy"),
        (["--out", "x.pstats"], "--out goes with --profile"),
        (["--peers", "-w", "nope"], "--workload nope: unknown"),
    ],
)
def test_bad_profile_and_peers_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
