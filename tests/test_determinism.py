"""Determinism: one seed, one result; another seed, other numbers; streams independent."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from sim.assembly.executor import RunError, run_differences
from sim.assembly.runner import run
from sim.metrics import WALL_CLOCK_KEYS
from sim.products import Catalogue
from sim.rng import Streams
from sim.scenario import load_scenario


def _stable(obj: dict) -> str:
    obj = json.loads(json.dumps(obj))
    for key in WALL_CLOCK_KEYS:
        obj["metrics"].pop(key)
    return json.dumps(obj, sort_keys=True)


def test_same_seed_gives_identical_json_and_trace() -> None:
    a = run("smoke", "batch", 11)
    b = run("smoke", "batch", 11)
    assert _stable(a.to_json()) == _stable(b.to_json())
    assert a.trace_hash == b.trace_hash
    assert a.timeseries == b.timeseries


def test_run_differences_names_what_differs_but_the_wall_clock() -> None:
    a = run("smoke", "batch", 11, overrides={"scenario.duration": "1h"}, keep_history=False)
    assert run_differences(a, a) == []
    slower = {**a.metrics, **{k: a.metrics[k] * 2 + 1 for k in WALL_CLOCK_KEYS}}
    assert run_differences(a, replace(a, metrics=slower)) == []
    worse = {**a.metrics, "oversold_units": a.metrics["oversold_units"] + 1}
    other = replace(a, metrics=worse, trace_hash="0" * 64, per_channel={})
    assert run_differences(a, other) == ["trace_hash", "oversold_units", "per_channel"]
    failed = RunError("smoke", "batch", 11, "boom")
    assert run_differences(a, failed) == ["error"]
    assert run_differences(failed, replace(failed)) == []
    assert run_differences(failed, replace(failed, message="bang")) == ["error"]


def test_another_seed_gives_different_numbers() -> None:
    a = run("smoke", "batch", 11)
    c = run("smoke", "batch", 12)
    assert a.trace_hash != c.trace_hash
    assert a.metrics["lines_accepted"] != c.metrics["lines_accepted"]


def test_demand_is_common_across_strategies() -> None:
    """Common random numbers: customers arrive identically whatever the strategy."""
    a = run("smoke", "oracle", 5)
    b = run("smoke", "batch", 5)
    assert a.metrics["units_demanded"] == b.metrics["units_demanded"]


def test_streams_are_independent_and_stable_by_name() -> None:
    s1, s2 = Streams(7), Streams(7)
    s1.stream("extra")  # asking for another stream first must not shift this one
    assert np.array_equal(s1.stream("demand/x").random(5), s2.stream("demand/x").random(5))
    assert not np.array_equal(Streams(7).stream("a").random(5), Streams(7).stream("b").random(5))


def test_catalogue_names_come_from_faker_seeded_by_the_run() -> None:
    spec = load_scenario("smoke").catalogue
    a = Catalogue(spec, Streams(1).stream("catalogue"))
    b = Catalogue(spec, Streams(1).stream("catalogue"))
    c = Catalogue(spec, Streams(2).stream("catalogue"))
    assert a.names == b.names
    assert a.names != c.names
    assert a.codes[0] == "SKU-000000"
    assert len(set(a.names)) > 100
    assert a.popularity[0] > a.popularity[-1]
