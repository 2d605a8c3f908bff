"""Fuzzing the command line with mutated scenario files and arguments (Hypothesis).

Every mutant goes through the real entry point (``sim.cli.main``) in a fresh folder. Whatever
it is, the command must end with exit code 0, 1 or 2, never a traceback, never an internal
error; on exit 2 with one line on stderr and nothing written; and every run within a step
budget (``SYNCSIM_MAX_STEPS``). The default profile is derandomized and short (it is part of
every ``make test``); ``pytest -m slow tests/test_fuzz.py`` runs a longer random profile.
With ``SYNCSIM_FUZZ_STATS=FILE`` the counts of mutants per exit code are written to FILE.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.scenario import find_scenario, read_raw

BASE = read_raw(find_scenario("smoke"))
STRATEGIES = ["oracle", "batch", "api", "event", "orchestrated"]
STEP_BUDGET = "300000"

#: dotted paths a mutation may set (list items by index), plus keys that do not exist
PATHS = [
    "scenario.duration", "scenario.sample_interval", "scenario.start", "scenario.id",
    "catalogue.skus", "catalogue.zipf", "catalogue.price_low", "catalogue.price_high",
    "catalogue.categories", "locations.0.pick_delay", "locations.0.ship_delay",
    "locations.1.name", "channels.0.orders_per_hour", "channels.0.lines_per_order",
    "channels.0.units_per_line", "channels.0.accept_rule", "channels.0.kind",
    "channels.0.locations", "channels.1.api.bucket_size", "channels.1.api.leak_rate",
    "channels.1.api.bulk_limit", "channels.1.api.latency", "channels.2.pending_period",
    "channels.0.preset", "demand.enabled", "demand.daily_profile", "demand.weekly_profile",
    "demand.peaks", "demand.scripted", "stock.cover_days_low", "stock.cover_days_high",
    "stock.fixed_units", "stock.min_units", "erp.api.concurrency", "erp.api.overflow",
    "erp.api.service_time", "erp.api.window", "erp.api.window_requests", "erp.api.maintenance",
    "erp.posting.mode", "erp.posting.interval", "erp.posting.delay", "erp.backorder_timeout",
    "erp.replenishment.review_interval", "erp.replenishment.lead_time", "erp.preset",
    "returns.enabled", "returns.rate", "returns.counted", "returns.restock_fraction",
    "transfers.enabled", "transfers.interval", "shrink.enabled", "shrink.interval",
    "shrink.rate_per_day", "bus.partitions", "bus.duplicate_rate", "bus.durable",
    "bus.loss_rate", "bus.ack_timeout", "bus.max_deliveries", "faults", "costs.currency",
    "costs.hourly_rate", "strategies.batch.interval", "strategies.batch.page_size",
    "strategies.batch.order_import_interval", "strategies.api.poll_interval",
    "strategies.api.mode", "strategies.api.push_workers", "strategies.event.flush_interval",
    "strategies.event.idempotent", "strategies.orchestrated.push_interval",
    "strategies.orchestrated.ring_fence", "strategies.nosuch.x", "catalogue.unknown", "nowhere",
]  # fmt: skip

SCALARS = st.one_of(
    st.sampled_from([0, 1, -1, 2, 3, 100, 10**6, 2**31, 2**63, 2**64, -(2**63)]),
    st.integers(min_value=-1000, max_value=10**7),
    st.sampled_from([0.0, -0.5, 1e-9, 1e-3, 0.5, 1.5, 1e30, math.inf, -math.inf, math.nan]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.booleans(),
    st.sampled_from(
        [
            "",
            "abc",
            "15m",
            "2h",
            "1e-9s",
            "0s",
            "7d",
            "1e9h",
            "inf",
            "yes",
            "full",
            "poll",
            "shopify",
            "netsuite",
            "webshop",
            "x" * 20_000,
            "\u00e9\u00e8",
            "1h30m",
        ]
    ),
)
FAULT_KINDS = ["erp_maintenance", "throttle", "timeouts", "bus_loss", "clock_skew", "nosuch"]
FAULTS = st.lists(
    st.fixed_dictionaries(
        {"kind": st.sampled_from(FAULT_KINDS), "start": SCALARS, "duration": SCALARS},
        optional={"rate": SCALARS, "retry_after": SCALARS, "target": SCALARS, "offset": SCALARS},
    ),
    max_size=3,
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=25),
    st.dictionaries(st.sampled_from(["dist", "mean", "value", "low", "high", "x"]), SCALARS),
    FAULTS,
)


def toml_value(v: Any) -> str:
    """A value as TOML text (inline tables and arrays, so any nesting fits on one line)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def to_toml(doc: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in doc.items())


def mutate(doc: dict[str, Any], path: str, value: Any, delete: bool) -> dict[str, Any]:
    out = json.loads(json.dumps(doc, default=str))
    node: Any = out
    parts = path.split(".")
    for p in parts[:-1]:
        key: Any = int(p) if isinstance(node, list) else p
        if isinstance(node, list):
            if key >= len(node):
                return out
        elif not isinstance(node.get(key), dict | list):
            node[key] = {}
        node = node[key]
    last: Any = int(parts[-1]) if isinstance(node, list) else parts[-1]
    if delete:
        if isinstance(node, dict):
            node.pop(last, None)
    elif isinstance(node, dict) or (isinstance(node, list) and last < len(node)):
        node[last] = value
    return out


FILES = st.one_of(
    st.builds(
        lambda muts, strat: (muts, strat),
        st.lists(st.tuples(st.sampled_from(PATHS), VALUES, st.booleans()), min_size=1, max_size=3),
        st.sampled_from(STRATEGIES),
    ),
)
RAW = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200),
    st.integers(min_value=1, max_value=3000).map(lambda n: "a = " + "[" * n + "]" * n),
    st.integers(min_value=0, max_value=4000).map(lambda n: to_toml(BASE)[:n]),
)
ARGS = st.lists(
    st.sampled_from(
        [
            ["--seed", "-5"], ["--seed", str(2**64)], ["--seed", "abc"], ["-r", "0"],
            ["-r", "1000000"], ["--set", "noequals"], ["--set", "=1"], ["--set", "a..b=1"],
            ["--set", "channels.nowhere.x=1"], ["--set", "scenario.duration=abc"],
            ["-s", "nosuch"], ["-s", "x:y"], ["-s", "os:path"], ["-s", "sim.cli:app"],
            ["--out", "."], ["--out", "file.txt"], ["--out", "file.txt/sub"], ["--out", "mine"],
            ["--bogus"], ["--json"], ["--no-history"], ["--set", "strategies.batch.interval=0"],
        ]
    ),
    max_size=3,
)  # fmt: skip

STATS: Counter[str] = Counter()


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def invoke(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def check(args: list[str], where: Path, capsys: pytest.CaptureFixture[str]) -> int:
    """Run one command in ``where`` and assert the promises; returns the exit code."""
    before = tree(where)
    cwd = os.getcwd()
    os.chdir(where)
    try:
        code, out, err = invoke(args, capsys)
    finally:
        os.chdir(cwd)
    STATS[f"exit {code}"] += 1
    assert code in (0, 1, 2), (args, code, err)
    assert "Traceback" not in err + out, (args, err)
    assert "internal error" not in err, (args, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, (args, err)
        assert lines[0].startswith("syncsim: error: ") or "Usage" in err, (args, err)
        assert len(lines[0]) < 1000, lines[0][:200]
        assert tree(where) == before, args  # nothing written, nothing removed
    if code == 1:
        last = err.strip().splitlines()[-1]
        assert last.startswith(("syncsim: run failed: ", "syncsim: cannot write results")), last
    return code


def sandbox(root: Path) -> Path:
    """A fresh folder under ``root`` holding a user's file and a non-empty folder of theirs."""
    d = Path(tempfile.mkdtemp(prefix="fuzz-", dir=root))
    (d / "file.txt").write_text("the user's file")
    (d / "mine").mkdir()
    (d / "mine" / "notes.txt").write_text("the user's notes")
    return d


def _fuzz_settings(examples: int, derandomize: bool) -> Any:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=derandomize,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def _mutated_file(muts: list[tuple[str, Any, bool]], where: Path) -> Path:
    doc = mutate(BASE, "scenario.duration", "2h", False)  # short runs, unless mutated below
    for path, value, delete in muts:
        doc = mutate(doc, path, value, delete)
    f = where / "mutant.toml"
    f.write_text(to_toml(doc))
    return f


def _file_case(case: Any, args: list[str], root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (muts, strat) = case
    where = sandbox(root)
    f = _mutated_file(muts, where)
    check(["validate", str(f)], where, capsys)
    check(["run", str(f), "-s", strat, "--no-history", "--out", "res", *args], where, capsys)


def _raw_case(raw: str | bytes, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = sandbox(root)
    f = where / "raw.toml"
    if isinstance(raw, bytes):
        f.write_bytes(raw)
    else:
        f.write_text(raw)
    assert check(["validate", str(f)], where, capsys) in (0, 2)
    check(["run", str(f), "-s", "batch", "--no-history"], where, capsys)


@pytest.fixture(autouse=True)
def _bounded(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SYNCSIM_MAX_STEPS", STEP_BUDGET)
    yield
    stats = os.environ.get("SYNCSIM_FUZZ_STATS")
    if stats:
        old = json.loads(Path(stats).read_text()) if Path(stats).is_file() else {}
        Path(stats).write_text(json.dumps(dict(Counter(old) + STATS), indent=2))
    STATS.clear()


@_fuzz_settings(40, derandomize=True)
@given(case=FILES, args=ARGS)
def test_mutated_scenarios_and_arguments(
    case: Any, args: list[list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _file_case(case, [a for pair in args for a in pair], tmp_path, capsys)


@_fuzz_settings(25, derandomize=True)
@given(raw=RAW)
def test_mutated_file_bytes(
    raw: str | bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _raw_case(raw, tmp_path, capsys)


@pytest.mark.slow
@_fuzz_settings(1000, derandomize=False)
@given(case=FILES, args=ARGS)
def test_mutated_scenarios_and_arguments_long(
    case: Any, args: list[list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _file_case(case, [a for pair in args for a in pair], tmp_path, capsys)


@pytest.mark.slow
@_fuzz_settings(300, derandomize=False)
@given(raw=RAW)
def test_mutated_file_bytes_long(
    raw: str | bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _raw_case(raw, tmp_path, capsys)
