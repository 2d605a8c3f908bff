"""Shared fixtures: tiny hand-built scenarios for closed-form checks, cached catalogue runs."""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from sim.assembly.runner import RunResult, run
from sim.cli import main
from sim.scenario import apply_overrides, validate_raw
from sim.schema import Scenario

TINY: dict[str, Any] = {
    "scenario": {"id": "tiny-v1", "duration": 1000, "sample_interval": 100},
    "catalogue": {"skus": 1, "zipf": 0.0},
    "locations": [{"name": "DC"}],
    "channels": [
        {
            "name": "a",
            "kind": "storefront",
            "locations": ["DC"],
            "orders_per_hour": 0,
            "api": {"bucket_size": 0, "latency": 0},
        },
        {
            "name": "b",
            "kind": "storefront",
            "locations": ["DC"],
            "orders_per_hour": 0,
            "api": {"bucket_size": 0, "latency": 0},
        },
    ],
    "demand": {"enabled": False},
    "stock": {"fixed_units": 10},
    "erp": {
        "api": {"service_time": 0, "per_item": 0, "reject_latency": 0},
        "replenishment": {"enabled": False},
    },
}


def tiny(overrides: dict[str, Any] | None = None, **sections: Any) -> Scenario:
    """A one-SKU, one-location, two-channel scenario with everything off, then changed.

    ``sections`` replace whole top-level tables; ``overrides`` are dotted paths.
    """
    raw = copy.deepcopy(TINY)
    raw.update(copy.deepcopy(sections))
    if overrides:
        raw = apply_overrides(raw, overrides)
    return validate_raw(raw, "tiny")


def script(*orders: tuple[float, str, int, int]) -> dict[str, Any]:
    """A ``demand`` table of scripted order lines (at, channel, sku, quantity)."""
    return {
        "enabled": False,
        "scripted": [{"at": t, "channel": c, "sku": s, "quantity": q} for t, c, s, q in orders],
    }


_CACHE_ENV = "SYNCSIM_TEST_RUN_CACHE"


@pytest.fixture(scope="session", autouse=True)
def _run_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A run cache shared by the xdist workers of this session (and only this session).
    Kept in an environment variable: pytest may import this module twice under two names."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache = shared / "syncsim-runs"
    cache.mkdir(exist_ok=True)
    os.environ[_CACHE_ENV] = str(cache)


def cached_run(scenario: str, strategy: str, seed: int, **params: Any) -> RunResult:
    """Run once per test session per arguments, whichever worker asks first; the others wait
    for it (catalogue scenarios are expensive). The history is not kept."""
    key = json.dumps([scenario, strategy, seed, params], sort_keys=True)
    path = Path(os.environ[_CACHE_ENV]) / hashlib.sha256(key.encode()).hexdigest()[:24]
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            with open(path, "rb") as fh:
                return pickle.load(fh)  # type: ignore[no-any-return]
        result = run(scenario, strategy, seed, strategy_params=params or None, keep_history=False)
        with open(path.with_suffix(".tmp"), "wb") as fh:
            pickle.dump(result, fh)
        os.replace(path.with_suffix(".tmp"), path)
        return result


@pytest.fixture
def tiny_scenario() -> Any:
    return tiny


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command line in-process: (exit code, stdout, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
