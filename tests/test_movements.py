"""The table of movement semantics (``sim.movements``) against what the systems do: the WMS
record each movement carries, the ERP's posting, a consumer's ``StockView`` and the ledger
of truth each change by the table's deltas, kind by kind."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sim.assembly.runner import simulate
from sim.assembly.world import World
from sim.contract import Movement, Snapshot
from sim.ledger import MOVEMENT_KINDS
from sim.movements import MOVEMENTS, Delta
from sim.registry import build_strategy
from sim.scenario import load_scenario
from strategies.base import FunctionStrategy
from strategies.kit.view import StockEvent, StockView
from tests.conftest import tiny

POSTED = [k for k, m in MOVEMENTS.items() if m.erp is not None]
RECORDED = [k for k, m in MOVEMENTS.items() if m.wms is not None]
QTY = 3


def _expected(before: dict[str, np.ndarray], delta: Delta, loc: int, dst: int, q: int) -> dict:
    """``before`` with ``q`` units of ``delta`` at (loc, SKU 0), in transit at (dst, SKU 0)."""
    out = {name: a.copy() for name, a in before.items()}
    for name in out:
        out[name][loc, 0] += getattr(delta, name) * q
    out["in_transit"][dst, 0] += delta.in_transit_dst * q
    return out


def _same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> dict:
    return {n: (got[n].tolist(), want[n].tolist()) for n in want if (got[n] != want[n]).any()}


STOCK = ("on_hand", "hold", "in_transit", "in_transit_dst")


def _fields(delta: Delta, names: tuple[str, ...]) -> list[int]:
    return [getattr(delta, f) for f in names]


def test_the_table_is_coherent() -> None:
    """Where a kind moves units, the WMS record moves as the truth does; posting a movement
    moves the ERP's stock as it moved the WMS's, and ends the ERP's commitment of what the
    WMS had released; the ledger logs exactly the kinds that move units."""
    for k, m in MOVEMENTS.items():
        if m.physical is not None:
            assert (m.physical.committed, m.physical.released, m.physical.on_order) == (0, 0, 0)
            if m.wms is not None:
                assert _fields(m.physical, STOCK) == _fields(m.wms, STOCK), k
        if m.erp is not None:
            assert m.wms is not None, k
            assert _fields(m.erp, STOCK) == _fields(m.wms, STOCK), k
            assert (m.erp.committed, m.erp.released) == (m.wms.released, 0), k
    assert set(MOVEMENT_KINDS) == {k for k, m in MOVEMENTS.items() if m.physical is not None}


# -- the ERP's posting --------------------------------------------------------------------
def _erp_world(ordered: int = QTY) -> tuple[World, Any]:
    """Two locations of 5 units and a channel served by A only, where a line of ``ordered``
    units was imported: allocated at A and released there, waiting to be picked (a short
    pick finds no other location; what A lacks waits as a backorder)."""
    loc = {"release_delay": 0, "pick_delay": 1e6}
    channel = {"kind": "storefront", "orders_per_hour": 0, "accept_rule": "backorder",
               "api": {"bucket_size": 0, "latency": 0}}  # fmt: skip
    sc = tiny(
        {"stock.fixed_units": 5, "erp.backorder_timeout": 3600.0},
        locations=[{"name": "A", **loc}, {"name": "B", **loc}],
        channels=[{"name": "a", "locations": ["A"], **channel}],
    )
    world = World(sc, 1)
    order = world.channels[0].place([0], [ordered])
    assert order is not None
    world.erp.intake(order)
    return world, order.lines[0]


@pytest.mark.parametrize("kind", POSTED)
def test_the_erp_posts_each_kind_as_the_table_says(kind: str) -> None:
    world, line = _erp_world()
    erp = world.erp
    names = ("on_hand", "hold", "committed", "in_transit", "on_order")
    before = {n: getattr(erp, n).copy() for n in names}
    touched: list[int] = []
    on_hand_seen: list[tuple[int, int]] = []
    events: list[Any] = []
    erp.subscribe_changes(touched.append)
    erp.on_hand_listeners.append(lambda loc, sku: on_hand_seen.append((loc, sku)))
    erp.subscribe(events.append)
    with_line = kind in ("ship", "short")
    mv = Movement(kind, 0, 0, QTY, 0.0, line=line if with_line else None, dst=1)
    erp.receive_movement(mv)  # realtime posting: posted at once
    effect = MOVEMENTS[kind].erp
    assert effect is not None
    got = {n: getattr(erp, n) for n in names}
    assert not _same(got, _expected(before, effect, 0, 1, QTY))
    assert erp.posted == 1 and erp.unposted == 0
    assert bool(touched) == bool(effect.available)
    assert bool(on_hand_seen) == bool(effect.on_hand)
    # beyond the arithmetic: a ship is an order event, a short pick waits as a backorder
    assert [e.kind for e in events] == (["shipped"] if kind == "ship" else [])
    assert erp.backordered_units() == (QTY if kind == "short" else 0)


@pytest.mark.parametrize("kind", POSTED)
def test_a_posting_serves_backorders_where_the_table_says(kind: str) -> None:
    world, line = _erp_world(ordered=8)
    erp = world.erp
    assert erp.backordered_units() == 3
    erp.on_hand[0, 0] += 10  # stock the ERP can allocate once a posting prompts it
    erp.receive_movement(Movement(kind, 0, 0, 1, 0.0, line=line, dst=1))
    assert (erp.backordered_units() < 3) == MOVEMENTS[kind].serves_backorders


# -- a consumer's event-built view --------------------------------------------------------
def _view(idempotent: bool, snap: Snapshot) -> StockView:
    prov = SimpleNamespace(include=lambda seqs: None)
    systems: Any = SimpleNamespace(
        serve=lambda c: [0, 1], provenance=SimpleNamespace(add_view=lambda name: prov)
    )
    return StockView(systems, "test", idempotent, snap)


@pytest.mark.parametrize("idempotent", [False, True])
@pytest.mark.parametrize("kind", RECORDED)
def test_a_stock_view_applies_each_kind_as_the_table_says(kind: str, idempotent: bool) -> None:
    z = np.zeros((2, 1), np.int64)
    snap = Snapshot(np.arange(1), z + 20, z, z + 6, z + 5, z + 4, np.zeros((2, 1)), 0.0)
    view = _view(idempotent, snap)
    names = ("on_hand", "hold", "released", "in_transit")
    before = {n: getattr(view, n).copy() for n in names}
    effect = MOVEMENTS[kind].wms
    assert effect is not None
    want = _expected(before, effect, 0, 1, QTY)
    ev = StockEvent(
        0, kind, 0, 0, QTY, -1, -1, 0.0, (), version=1, on_hand=int(want["on_hand"][0, 0]),
        hold=int(want["hold"][0, 0]), released=int(want["released"][0, 0]), dst=1,
    )  # fmt: skip
    assert view.apply(ev, 0.0) == 0
    assert not _same({n: getattr(view, n) for n in names}, want)


# -- the WMS record each movement carries -------------------------------------------------
@pytest.fixture(scope="module")
def movements() -> list[tuple[Movement, tuple[int, int, int]]]:
    """Every movement of a run with every mechanism on, and the WMS record of its (location,
    SKU) before it: (on hand, hold, released)."""
    sc = load_scenario(
        "smoke", {"shrink.enabled": True, "shrink.rate_per_day": 0.05, "scenario.duration": "2d"}
    )
    seen: list[tuple[Movement, tuple[int, int, int]]] = []
    record: dict[tuple[int, int], tuple[int, int, int]] = {}
    batch = build_strategy("batch", sc)

    def watch(mv: Movement) -> None:
        seen.append((mv, record[(mv.loc, mv.sku)]))
        record[(mv.loc, mv.sku)] = (mv.on_hand, mv.hold, mv.released)

    def start(env: Any, systems: Any) -> None:
        snap = systems.wms.initial_stock()
        for (loc, s), on_hand in np.ndenumerate(snap.on_hand):
            record[(loc, s)] = (int(on_hand), int(snap.hold[loc, s]), int(snap.released[loc, s]))
        systems.wms.subscribe(watch)
        batch.start(env, systems)

    simulate(sc, FunctionStrategy(start, "batch-watched"), 1)
    return seen


def test_each_movement_changes_the_wms_record_as_the_table_says(movements: list) -> None:
    """The WMS does its own arithmetic (on the ledger and its released stock): each movement
    it emits changes its record of the (location, SKU) by the table's deltas."""
    for mv, (on_hand, hold, released) in movements:
        effect = MOVEMENTS[mv.kind].wms
        assert effect is not None
        change = (mv.on_hand - on_hand, mv.hold - hold, mv.released - released)
        want = (effect.on_hand * mv.qty, effect.hold * mv.qty, effect.released * mv.qty)
        assert change == want, (mv.kind, mv.qty, mv.t)
    assert {mv.kind for mv, _ in movements} == set(RECORDED)


def test_each_system_reports_its_own_commitments_in_a_snapshot() -> None:
    """The ERP's export has its allocations in ``committed``, the WMS's record its released
    stock in ``released``; the other is zeros, and ``available`` counts both."""
    world, _ = _erp_world()
    erp, wms = world.erp.snapshot(), world.wms.snapshot()
    assert erp.committed[0, 0] == QTY and not erp.released.any()
    assert wms.released[0, 0] == QTY and not wms.committed.any()
    assert erp.available[0, 0] == wms.available[0, 0] == 5 - QTY
