"""Faults, recovery and correctness checking: the numbers issue 4 asks for."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sim.assembly.runner import run
from sim.checks import CheckFailure
from sim.cli import main
from sim.faults import BUILTIN_KINDS
from sim.scenario import load_scenario
from sim.tools.chaos import chaos_scenario, draw_plan
from tests.conftest import cached_run

W = {"start": "6h", "duration": "2h"}
PLANS: dict[str, dict[str, Any]] = {
    "erp_maintenance": {},
    "erp_slowdown": {"factor": 5},
    "throttle": {"target": "channels", "rate": 0.8},
    "http_errors": {"target": "erp", "rate": 0.5},
    "timeouts": {"target": "erp", "rate": 0.5, "delay": "20s"},
    "channel_outage": {"target": "webshop"},
    "bus_duplicates": {"rate": 0.2},
    "bus_reorder": {"jitter": {"dist": "exponential", "mean": 5}},
    "bus_loss": {"rate": 0.02},
    "consumer_crash": {"duration": "30m"},
    "partition_rebalance": {"duration": "60s"},
    "middleware_outage": {"duration": "1h"},
    "webhook_delay": {"target": "channels"},
    "clock_skew": {"target": "erp", "offset": -300},
    # over the 3PL's 08:00 file (smoke's second location made a 3PL: ``faulted``)
    "partner_feed_missed": {"duration": "4h"},
    "partner_feed_lag": {"duration": "4h"},
    "partner_feed_errors": {"duration": "4h", "rate": 0.5},
    # data quality (sim.faults.data): smoke's channels and two own warehouses
    "unmapped_skus": {"target": "webshop", "fraction": 0.2},
    "uom_mismatch": {"target": "webshop"},
    "location_mapping": {"source": "DC-North", "into": "DC-South"},
    "stale_product_location": {"source": "DC-North", "into": "DC-South", "fraction": 0.3},
}
FIRES_WITH = {
    "bus_duplicates": "event",
    "bus_reorder": "event",
    "bus_loss": "event",
    "consumer_crash": "event",
    "partition_rebalance": "event",
    "webhook_delay": "event",
    "middleware_outage": "orchestrated",
}


def faulted(kind: str) -> Any:
    """smoke with one fault of ``kind`` from 06:00 (a non-durable bus for bus_loss, its
    second location a 3PL for the partner-feed kinds)."""
    fault = {"kind": kind, **W, **PLANS[kind]}
    extra: dict[str, Any] = {"bus.durable": False} if kind == "bus_loss" else {}
    if kind.startswith("partner_feed_"):  # a partner location to aim at
        extra["locations.1.kind"] = "3pl"
    return load_scenario("smoke", {"faults": [fault], **extra})


def test_the_plans_cover_every_fault_kind() -> None:
    assert sorted(PLANS) == sorted(BUILTIN_KINDS)


@pytest.mark.parametrize("kind", BUILTIN_KINDS)
def test_every_planned_fault_fires(kind: str) -> None:
    r = run(faulted(kind), FIRES_WITH.get(kind, "batch"), 1, recovery_baseline=False)
    (fault,) = r.faults
    assert fault["kind"] == kind
    assert fault["fired"], fault
    assert fault["hits"] > 0
    assert r.checks["ok"]


@pytest.mark.parametrize("strategy", ["oracle", "orchestrated"])
@pytest.mark.parametrize("kind", BUILTIN_KINDS)
def test_oracle_and_orchestrated_lose_no_unit_and_no_order(strategy: str, kind: str) -> None:
    r = run(faulted(kind), strategy, 2, recovery_baseline=False)
    checks = r.checks
    assert checks["conservation_units"]["ok"]
    assert checks["conservation_orders"]["ok"]
    assert checks["bus_accounting"]["ok"]
    live = checks["liveness"]
    assert live["orders"]["lost"] == 0, live["orders"]
    assert live["orders"]["unexpected"] == 0
    assert live["erp_imports"]["ok"], live["erp_imports"]
    if strategy == "orchestrated" and kind != "bus_loss":
        assert live["queues"]["middleware"]["lost"] == 0
        assert live["queues"]["middleware"]["duplicated"] == 0


def test_consumer_crash_with_dlq_replay_loses_and_duplicates_nothing() -> None:
    sc = faulted("consumer_crash")
    r = run(sc, "event", 1, recovery_baseline=False)
    queues = r.checks["liveness"]["queues"]
    assert len(queues) == 3  # one consumer per channel
    for q in queues.values():
        assert q["lost"] == 0
        assert q["duplicated"] == 0
        assert q["recovered"] > 0  # they came back from the dead-letter queue
    assert r.metrics["event_duplicate_applications"] == 0
    assert r.metrics["event_dlq"] == 0


def test_consumer_crash_without_replay_counts_the_loss_and_fails_the_run() -> None:
    sc = faulted("consumer_crash")
    params = {"dlq_replay": False}
    with pytest.raises(CheckFailure, match=r"liveness \(0 orders never reached the ERP, \d+"):
        run(sc, "event", 1, strategy_params=params, recovery_baseline=False)
    r = run(sc, "event", 1, strategy_params=params, recovery_baseline=False, check=False)
    live = r.checks["liveness"]
    assert not live["ok"]
    assert not r.checks["ok"]  # a plain run that loses events fails, named in the checks
    lost = [q["lost"] for q in live["queues"].values()]
    assert all(n > 0 for n in lost)
    assert r.metrics["event_dlq"] == sum(lost)
    assert live["loss"]["lost_messages"] == sum(lost)
    assert live["loss"]["allowed"] is None
    for name in ("conservation_units", "conservation_orders", "invariants"):
        assert r.checks[name]["ok"]  # units and orders are safe; events were lost


@pytest.mark.parametrize("strategy", ["oracle", "batch", "api", "event", "orchestrated"])
def test_every_strategy_recovers_after_erp_maintenance(strategy: str) -> None:
    r = cached_run("erp_maintenance", strategy, 1)
    ttr = r.metrics["time_to_recovery_s"]
    assert math.isfinite(ttr)
    assert r.metrics["recovered"] == 1.0
    # back for good, exact to the event: every strategy within the hour (batch needs a few
    # of its export rounds); drift from the twin within the twin's own envelope does not count
    assert 0 <= ttr <= 3600
    assert r.checks["liveness"]["orders"]["lost"] == 0
    if strategy in ("batch", "api"):
        assert r.faults[0]["hits"] > 0  # they call the ERP, so the window hit them
        # the window's 503s: "the ERP is down", not "the ERP is saturated"
        assert r.metrics["erp_unavailable_calls"] > 0
        assert r.metrics["erp_unavailable_calls"] >= r.faults[0]["hits"]


def test_batch_goes_blind_during_maintenance_and_the_series_shows_it() -> None:
    r = cached_run("erp_maintenance", "batch", 1)
    ts = pd.DataFrame(r.timeseries, columns=["t", "channel", "series", "value"])
    div = ts[(ts.channel == "*") & (ts.series == "divergence_mean_abs")].set_index("t").value
    active = ts[(ts.channel == "*") & (ts.series == "faults_active")].set_index("t").value
    start, end = 4 * 3600, 6 * 3600
    assert active.loc[start:end].max() == 1
    assert active.loc[: start - 1].max() == 0
    before = div.loc[start - 3600 : start].mean()
    during = div.loc[end - 1800 : end].mean()
    assert during > 2 * before


def test_timeouts_leave_unknown_outcomes_in_the_history() -> None:
    r = run(faulted("timeouts"), "api", 1, recovery_baseline=False)
    h = r.history
    info = h[(h.system == "erp") & (h.type == "info")]
    assert len(info) > 10
    assert set(info.status) == {504}
    imports = r.checks["liveness"]["erp_imports"]
    assert imports["ok"]
    assert imports["acknowledged"] <= imports["actual"] <= imports["attempted"]


def test_erp_orders_lie_between_acknowledged_and_attempted_imports() -> None:
    """Timed-out imports that took effect put orders in the ERP that no client saw
    acknowledged; the ones that did not leave attempted orders missing. A client that does
    not retry shows both."""
    plan = {"faults": [{"kind": "timeouts", "target": "erp", **W, "rate": 0.5, "applied": 0.5}]}
    sc = load_scenario("smoke", plan)
    r = run(
        sc, "tests.broken_strategies:DropsOrdersOnError", 1, recovery_baseline=False, check=False
    )
    imports = r.checks["liveness"]["erp_imports"]
    assert imports["ok"]
    assert imports["acknowledged"] < imports["actual"] < imports["attempted"]
    lost = r.checks["liveness"]["orders"]["lost"]
    assert lost > 0
    assert not r.checks["ok"]  # lost orders fail a plain run
    orders = r.checks["conservation_orders"]
    assert orders["ok"]
    assert orders["orders"]["lost"] == lost  # counted on their own, never as open


def test_history_is_written_with_invoke_ok_fail_info(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    sc = tmp_path / "t.toml"
    sc.write_text(
        'extends = "smoke"\n[scenario]\nid = "t-v1"\n'
        '[[faults]]\nkind = "timeouts"\nstart = "6h"\nduration = "2h"\nrate = 0.5\n'
        '[[faults]]\nkind = "http_errors"\ntarget = "erp"\nstart = "9h"\nduration = "1h"\n'
    )
    assert _exit(["run", str(sc), "-s", "api", "--out", str(tmp_path / "out")]) == 0
    h = pd.read_parquet(tmp_path / "out" / "history.parquet")
    assert set(h.type) == {"invoke", "ok", "fail", "info"}
    assert (h.type == "invoke").sum() == (h.type != "invoke").sum()  # every op completes


def test_erp_clock_skew_loses_updates_in_changed_only_batch() -> None:
    """An ERP clock running 10 minutes slow stamps changes 'before' the last export: a
    changed-only export misses them; a full export does not care."""
    skew = [{"kind": "clock_skew", "target": "erp", "start": "2h", "duration": "14h",
             "offset": -600}]  # fmt: skip
    sc = load_scenario("smoke", {"faults": skew, "strategies.batch.mode": "changed"})
    skewed = run(sc, "batch", 1, recovery_baseline=False).metrics
    calm = run(load_scenario("smoke", {"strategies.batch.mode": "changed"}), "batch", 1).metrics
    assert skewed["divergence_mean_abs"] > 1.5 * calm["divergence_mean_abs"]
    assert skewed["lag_p95_s"] > calm["lag_p95_s"]


def test_api_polls_on_the_erps_clock_so_a_skewed_clock_hides_nothing() -> None:
    """The api connector's cursor is the ERP's clock, queried ``poll_overlap`` behind and
    filtered by change stamp: a clock running 10 minutes slow hides no change (a cursor on
    the connector's own clock, as in the changed-only batch above, loses them for good)."""
    skew = [{"kind": "clock_skew", "target": "erp", "start": "2h", "duration": "14h",
             "offset": -600}]  # fmt: skip
    calm = run(load_scenario("smoke"), "api", 1).metrics
    skewed = run(load_scenario("smoke", {"faults": skew}), "api", 1, recovery_baseline=False)
    assert skewed.faults[0]["hits"] > 0
    assert skewed.metrics["divergence_mean_abs"] < 1.2 * calm["divergence_mean_abs"]
    assert skewed.metrics["erp_calls"] < 1.1 * calm["erp_calls"]  # the overlap costs no export


@pytest.mark.parametrize("strategy", ["event", "orchestrated"])
def test_a_retried_webhook_is_not_a_second_sale(strategy: str) -> None:
    """Late webhooks retried with their original payload: the receiver takes each order in
    once, so the view's pending lines are not counted twice and nothing is under-shown."""
    late = {"kind": "webhook_delay", **W, "duplicate_rate": 0.5}
    calm = cached_run("smoke", strategy, 1).metrics
    r = run(load_scenario("smoke", {"faults": [late]}), strategy, 1)
    prefix = "event" if strategy == "event" else "mw"
    assert r.metrics[f"{prefix}_webhook_repeats"] > 20
    assert r.metrics["divergence_under_frac"] < calm["divergence_under_frac"] + 0.02
    assert math.isfinite(r.metrics["time_to_recovery_s"])


@pytest.mark.parametrize("strategy", ["api", "event", "orchestrated"])
def test_an_erp_refusing_every_import_for_3h_loses_no_order(strategy: str) -> None:
    """Every ERP call fails for 3 hours: each order import exhausts its retries. The order
    is parked and retried until the ERP takes it (its webhook or event will not come again;
    found by `syncsim chaos peak_week --strategy orchestrated`, seeds 5, 10, 32, 35, 38, 46)."""
    down = {"kind": "http_errors", "target": "erp", "rate": 1.0, "start": "6h", "duration": "3h"}
    sc = load_scenario("smoke", {"faults": [down]})
    r = run(sc, strategy, 1, recovery_baseline=False, keep_history=False)
    orders = r.checks["liveness"]["orders"]
    assert orders["lost"] == 0
    assert orders["dequeued"] > 1000
    prefix = {"orchestrated": "mw"}.get(strategy, strategy)
    assert r.metrics[f"{prefix}_imports_failed"] > 100  # parked, then imported


def test_chaos_plans_come_from_the_seed_alone() -> None:
    sc = load_scenario("smoke")
    assert draw_plan(sc, 7) == draw_plan(sc, 7)
    assert draw_plan(sc, 7) != draw_plan(sc, 8)
    plan = chaos_scenario(sc, 7).faults
    assert 2 <= len(plan) <= 5
    assert max(f.end for f in plan) <= 0.7 * sc.duration


def _exit(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _chaos(args: list[str], capsys: Any) -> tuple[int, str]:
    code = _exit(["chaos", *args])
    return code, capsys.readouterr().out


def test_chaos_finds_the_broken_strategy_and_the_replay_reproduces_it(
    tmp_path: Path, capsys: Any
) -> None:
    broken = "tests.broken_strategies:DropsOrdersOnError"
    first = ["smoke", "-s", broken, "--seeds", "6", "--workers", "2", "--no-report"]
    code, out = _chaos([*first, "--out", str(tmp_path / "a")], capsys)
    assert code == 1
    replays = re.findall(r"seed (\d+) failed; replay: (syncsim chaos .+)", out)
    assert replays, out
    seed, command = replays[0]
    row = next(line for line in out.splitlines() if line.startswith(f"│ {seed} "))
    trace = re.findall(r"[0-9a-f]{12}", row)[0]
    assert "FAIL" in row
    args = [*command.split()[2:], "--out", str(tmp_path / "b"), "--no-report"]
    code2, out2 = _chaos(args, capsys)
    assert code2 == 1
    row2 = next(line for line in out2.splitlines() if line.startswith(f"│ {seed} "))
    assert trace in row2
    assert "lost orders" in out2


def test_chaos_passes_a_correct_strategy(tmp_path: Path, capsys: Any) -> None:
    code, out = _chaos(["smoke", "-s", "oracle", "--seeds", "3", "--out", str(tmp_path)], capsys)
    assert code == 0, out
    assert "3 ok, 0 failing" in out
    assert (tmp_path / "report.html").is_file()  # chaos writes the report too


def test_check_determinism_catches_a_wall_clock_strategy(tmp_path: Path, capsys: Any) -> None:
    ok = ["run", "smoke", "-s", "batch", "--check-determinism", "--out", str(tmp_path / "ok")]
    assert _exit(ok) == 0
    bad = ["run", "smoke", "-s", "tests.broken_strategies:WallClockBatch", "--check-determinism",
           "--out", str(tmp_path / "bad")]  # fmt: skip
    assert _exit(bad) == 1
    assert "not deterministic" in capsys.readouterr().err
