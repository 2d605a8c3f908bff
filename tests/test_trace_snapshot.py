"""The trace-hash snapshot (``tests/snapshot_runs.py``): the same scenario, strategy and seed
give the same trace as when the snapshot was taken, so a change to how the code is built
(modules, layers, wiring) cannot change what is simulated without this test saying so."""

from __future__ import annotations

import json

import pytest

from sim.assembly.runner import run
from tests.snapshot_runs import GOLDEN, SNAPSHOT

EXPECTED = json.loads(GOLDEN.read_text())


def test_the_golden_file_covers_exactly_the_snapshot() -> None:
    assert set(EXPECTED) == {name for name, *_ in SNAPSHOT}


@pytest.mark.parametrize(
    ("name", "scenario", "overrides", "strategy", "seed", "options"),
    SNAPSHOT,
    ids=[s[0] for s in SNAPSHOT],
)
def test_trace_hash_is_unchanged(
    name: str, scenario: str, overrides: dict, strategy: str, seed: int, options: dict
) -> None:
    r = run(scenario, strategy, seed, overrides=overrides or None, keep_history=False, **options)
    assert r.trace_hash == EXPECTED[name], f"{name}: the simulated trace changed"
