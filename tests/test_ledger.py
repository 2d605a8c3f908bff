"""The ledger of truth and provenance (as_of) in isolation."""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.ledger import ALL_VIEWS, KNOWN_TO_WMS, Ledger
from sim.provenance import PendingView


def make(on_hand: list[list[int]], serve: list[list[int]]) -> tuple[simpy.Environment, Ledger]:
    env = simpy.Environment()
    return env, Ledger(env, np.array(on_hand), serve)


def test_accept_claims_in_priority_order_and_records_the_oversell() -> None:
    _env, led = make([[3], [2]], serve=[[1, 0]])
    order = led.new_order(0)
    line = led.accept(order, 0, 7)
    assert line.claims == {1: 2, 0: 3}
    assert line.oversold == 2
    assert led.committed[:, 0].tolist() == [3, 2]
    assert led.true_available(0, 0) == 0
    assert led.oversold_units == [2]


def test_true_available_clips_each_location_at_zero() -> None:
    _env, led = make([[5], [0]], serve=[[0, 1], [1]])
    led.committed[1, 0] = 3  # over-committed location must not eat the other's stock
    assert led.true_available(0, 0) == 5
    assert led.true_available(1, 0) == 0
    assert led.true_available_all().tolist() == [[5], [0]]


def test_ship_consumes_claims_and_cancel_releases_the_unbacked_part_first() -> None:
    _env, led = make([[4]], serve=[[0]])
    line = led.accept(led.new_order(0), 0, 6)  # claims 4, oversold 2
    assert led.cancel(line, 1) == []  # unbacked unit: no truth change
    assert led.committed[0, 0] == 4
    seqs = led.cancel(line, 2)  # one more unbacked, then one claimed unit
    assert len(seqs) == 1
    assert led.committed[0, 0] == 3
    led.ship(line, 0, 3, KNOWN_TO_WMS)
    assert line.open == 0
    assert led.committed[0, 0] == 0
    assert led.on_hand[0, 0] == 1


def test_shipping_from_an_unclaimed_location_moves_availability() -> None:
    _env, led = make([[5], [5]], serve=[[0, 1]])
    line = led.accept(led.new_order(0), 0, 2)  # claimed at location 0
    n_changes = len(led.chg_t)
    seqs = led.ship(line, 1, 2, KNOWN_TO_WMS)  # the ERP sent it to location 1
    assert len(seqs) == 2  # location 1 lost units, location 0 got its claim back
    assert len(led.chg_t) == n_changes + 2
    assert led.free(0, 0) == 5
    assert led.free(1, 0) == 3


def test_provenance_as_of_is_just_below_the_oldest_pending_change() -> None:
    env, led = make([[10]], serve=[[0]])
    erp = led.views["erp"]
    env.run(until=100)
    line = led.accept(led.new_order(0), 0, 1)  # pending in the ERP from t=100
    env.run(until=250)
    assert erp.as_of_at(0, 0, env.now) < 100.0
    assert erp.as_of_at(0, 0, env.now) == pytest.approx(100.0)
    assert led.views["records"].as_of_at(0, 0, env.now) == 250.0
    erp.include(line.accept_seqs)
    assert erp.as_of_at(0, 0, env.now) == 250.0
    assert erp.pending_count() == 0


def test_provenance_head_skips_changes_taken_in_out_of_order() -> None:
    env, led = make([[10]], serve=[[0]])
    wms = led.views["wms"]
    seqs = []
    for t in (10, 20, 30):
        env.run(until=t)
        seqs += led.accept(led.new_order(0), 0, 1).accept_seqs
    wms.include([seqs[1]])
    assert wms.as_of_at(0, 0, 40) == pytest.approx(10.0)
    wms.include([seqs[0]])
    assert wms.as_of_at(0, 0, 40) == pytest.approx(30.0)
    assert wms.as_of_at(0, 0, 40) < 30.0


def test_a_deficit_moves_claims_to_a_location_that_can_serve_the_line() -> None:
    """The ERP ships line X from B where line Y held the last unit; Y's claim moves to A."""
    _env, led = make([[1], [1]], serve=[[0, 1], [1, 0]])
    x = led.accept(led.new_order(0), 0, 1)  # claims A
    y = led.accept(led.new_order(1), 0, 1)  # claims B
    led.ship(x, 1, 1, KNOWN_TO_WMS)  # misallocated: shipped from B
    assert y.claims == {0: 1}
    assert led.committed[:, 0].tolist() == [1, 0]
    assert led.unbacked[0] == 0
    assert led.true_available(0, 0) == 0


def test_a_deficit_no_location_can_cover_is_counted_as_unbacked() -> None:
    _env, led = make([[1], [1]], serve=[[0, 1], [1]])
    x = led.accept(led.new_order(0), 0, 1)  # claims A
    y = led.accept(led.new_order(1), 0, 1)  # claims B, the only location of its channel
    led.ship(x, 1, 1, KNOWN_TO_WMS)
    assert y.claims == {1: 1}
    assert led.unbacked[0] == 1
    assert led.free(1, 0) == -1
    led.receive(1, 0, 1, KNOWN_TO_WMS)
    assert led.free(1, 0) == 0


def test_cancel_known_to_all_views_is_never_pending() -> None:
    _env, led = make([[10]], serve=[[0]])
    line = led.accept(led.new_order(0), 0, 2)
    for v in led.views.values():
        v.include(line.accept_seqs)
    led.cancel(line, 2, ALL_VIEWS)
    assert all(v.pending_count() == 0 for v in led.views.values())


def test_shrink_is_pending_everywhere_until_counted() -> None:
    _env, led = make([[10]], serve=[[0]])
    (seq,) = led.shrink(0, 0, 1)
    assert all(v.pending(seq) for v in led.views.values())
    assert led.true_available(0, 0) == 9


@settings(max_examples=60, deadline=None)
@given(
    changes=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 39), st.floats(0, 1e6)), max_size=60
    ),
    taken=st.sets(st.integers(0, 59)),
    locs=st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),
    skus=st.lists(st.integers(0, 39), min_size=1, max_size=40),
)
def test_min_as_of_is_the_minimum_over_locations_of_as_of(
    changes: list[tuple[int, int, float]], taken: set[int], locs: list[int], skus: list[int]
) -> None:
    """The fast path (heads first, nextafter once; scalar for <= 16 SKUs) equals the
    definition for any pending pattern, small pages and large."""
    times = sorted(t for _, _, t in changes)
    view = PendingView("v", 3, 40, times)
    for seq, (loc, sku, _) in enumerate(changes):
        view.add(loc * 40 + sku, seq)
    view.include(tuple(s for s in taken if s < len(changes)))
    now = 2e6
    want = view.as_of_for(locs, skus, now).min(axis=0)
    assert view.min_as_of(locs, skus, now).tolist() == want.tolist()


def test_free_by_loc_is_free_clipped_at_zero_for_every_location() -> None:
    _env, led = make([[3, 0], [1, 5]], serve=[[0, 1]])
    led.accept(led.new_order(0), 1, 2)  # claims location 1 of SKU 1
    led.accept(led.new_order(0), 0, 4)  # 3 from location 0, 1 from location 1
    assert led.free_by_loc(0) == [0, 0]
    assert led.free_by_loc(1) == [0, 3]
    assert sum(led.free_by_loc(1)) == led.true_available(0, 1)


# -- claims follow the stock: release, short, ship and cancel (DESIGN §3) ---------------------


def test_release_backs_an_oversold_part_where_the_wms_dedicates_stock() -> None:
    """A line accepted blind (nothing free) is all oversold; stock arrives, the WMS releases
    3 of it for the line: truth no longer counts those 3 as free."""
    _env, led = make([[0]], serve=[[0]])
    line = led.accept(led.new_order(0), 0, 3)
    assert (line.oversold, line.claims) == (3, {})
    led.receive(0, 0, 5, KNOWN_TO_WMS)
    assert led.true_available(0, 0) == 5
    seqs = led.release(line, 0, 3, ALL_VIEWS)
    assert len(seqs) == 1
    assert line.claims == {0: 3}
    assert line.dedicated == {0: 3}
    assert led.true_available(0, 0) == 2
    assert led.oversold_units == [3]  # measured at acceptance, unchanged
    assert led.unbacked[0] == 0
    led.ship(line, 0, 3, KNOWN_TO_WMS)
    assert (line.claims, line.dedicated, led.committed[0, 0]) == ({}, {}, 0)
    assert led.true_available(0, 0) == 2


def test_release_first_uses_the_claim_already_at_the_location() -> None:
    _env, led = make([[5]], serve=[[0]])
    line = led.accept(led.new_order(0), 0, 4)
    n = len(led.chg_t)
    assert led.release(line, 0, 4, ALL_VIEWS) == []  # nothing changes in the truth
    assert len(led.chg_t) == n
    assert line.dedicated == {0: 4}
    assert led.free(0, 0) == 1


def test_release_moves_a_backed_claim_to_the_releasing_location() -> None:
    """Claimed at A at acceptance, released at B by the ERP: A's stock is free again."""
    _env, led = make([[3], [3]], serve=[[0, 1]])
    line = led.accept(led.new_order(0), 0, 2)
    assert line.claims == {0: 2}
    seqs = led.release(line, 1, 2, ALL_VIEWS)
    assert len(seqs) == 2  # A's free rose, B's fell
    assert line.claims == {1: 2}
    assert led.free_by_loc(0) == [3, 1]
    assert led.true_available(0, 0) == 4


def test_release_moves_claims_before_backing_the_unbacked_part() -> None:
    """Line of 5 claims 3 at A (2 oversold); the ERP allocates 2 at B, then 3 at A."""
    _env, led = make([[3], [0]], serve=[[0, 1]])
    line = led.accept(led.new_order(0), 0, 5)
    led.receive(1, 0, 4, KNOWN_TO_WMS)
    led.release(line, 1, 2, ALL_VIEWS)
    assert line.claims == {0: 1, 1: 2}
    led.release(line, 0, 3, ALL_VIEWS)
    assert line.claims == {0: 3, 1: 2}
    assert line.dedicated == {0: 3, 1: 2}
    assert led.free_by_loc(0) == [0, 2]
    assert led.unbacked[0] == 0


def test_a_release_beyond_free_stock_moves_other_claims_or_counts_unbacked() -> None:
    """An oversold line released at A where another line holds the last units: that claim
    moves to B when B can serve its line; the rest is counted as unbacked."""
    _env, led = make([[2], [1]], serve=[[0], [0, 1], [0]])
    blind = led.accept(led.new_order(0), 0, 1)  # claims A
    other = led.accept(led.new_order(1), 0, 1)  # claims A, could use B
    third = led.accept(led.new_order(2), 0, 1)  # nothing left at A: oversold
    assert (blind.claims, other.claims, third.oversold) == ({0: 1}, {0: 1}, 1)
    led.release(third, 0, 1, ALL_VIEWS)
    assert other.claims == {1: 1}  # moved out of the way
    assert third.claims == {0: 1}
    assert led.unbacked[0] == 0
    assert led.free_by_loc(0) == [0, 0]
    fourth = led.accept(led.new_order(0), 0, 1)  # oversold too, and nowhere to go
    led.release(fourth, 0, 1, ALL_VIEWS)
    assert fourth.claims == {0: 1}
    assert led.free(0, 0) == -1
    assert led.unbacked[0] == 1
    assert led.committed[:, 0].sum() <= (led.on_hand - led.hold)[:, 0].sum() + led.unbacked[0]


def test_a_dedicated_claim_does_not_move_when_its_location_loses_stock() -> None:
    _env, led = make([[2], [5]], serve=[[0, 1]])
    line = led.accept(led.new_order(0), 0, 2)
    led.release(line, 0, 2, ALL_VIEWS)
    led.shrink(0, 0, 1)
    assert line.claims == {0: 2}  # the warehouse picks at A: the claim stays with the pick
    assert led.unbacked[0] == 1


def test_a_short_pick_ends_the_dedication_and_a_release_elsewhere_moves_the_claim() -> None:
    _env, led = make([[1], [5]], serve=[[0, 1]])
    line = led.accept(led.new_order(0), 0, 1)
    led.release(line, 0, 1, ALL_VIEWS)
    led.short(line, 0, 1)
    assert (line.claims, line.dedicated) == ({0: 1}, {})
    led.release(line, 1, 1, ALL_VIEWS)
    assert (line.claims, line.dedicated) == ({1: 1}, {1: 1})
    assert led.free_by_loc(0) == [1, 4]


def test_cancel_ends_claims_not_dedicated_to_a_release_first() -> None:
    _env, led = make([[2], [2]], serve=[[0, 1]])
    line = led.accept(led.new_order(0), 0, 4)  # claims A 2, B 2
    led.release(line, 1, 2, ALL_VIEWS)  # B's 2 are dedicated
    led.cancel(line, 2)
    assert line.claims == {1: 2}
    assert led.free_by_loc(0) == [2, 0]


def test_release_of_more_than_the_open_undedicated_quantity_is_refused() -> None:
    _env, led = make([[5]], serve=[[0]])
    line = led.accept(led.new_order(0), 0, 2)
    led.release(line, 0, 2, ALL_VIEWS)
    with pytest.raises(AssertionError, match="releasing"):
        led.release(line, 0, 1, ALL_VIEWS)
