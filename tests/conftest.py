"""Shared fixtures: tiny hand-built scenarios for closed-form checks, cached catalogue runs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sim.runner import RunResult, run
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


_CACHE: dict[tuple[Any, ...], RunResult] = {}


def cached_run(scenario: str, strategy: str, seed: int, **params: Any) -> RunResult:
    """Run once per session per arguments (catalogue scenarios are expensive)."""
    key = (scenario, strategy, seed, tuple(sorted(params.items())))
    if key not in _CACHE:
        _CACHE[key] = run(scenario, strategy, seed, strategy_params=params or None)
    return _CACHE[key]


@pytest.fixture
def tiny_scenario() -> Any:
    return tiny
