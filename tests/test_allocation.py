"""The orchestrated middleware's allocation rules on tiny worlds: ring fences protect the
fenced channel (they never cap it), and priority serves every listed channel before the
next one under scarcity."""

from __future__ import annotations

from typing import Any

import pytest

from sim.assembly.runner import RunResult, run
from tests.conftest import script, tiny

API = {"bucket_size": 0, "latency": 0}


def _channel(name: str, kind: str = "storefront", orders_per_hour: float = 0) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "locations": ["DC"],
        "orders_per_hour": orders_per_hour,
        "api": API,
        "handoff_delay": 0,
        "pending_period": 0,
    }


def _run(
    channels: list[dict[str, Any]],
    stock: int,
    params: dict[str, Any],
    demand: dict[str, Any] | None = None,
    seed: int = 1,
    duration: float = 2000,
    skus: int = 1,
) -> RunResult:
    """orchestrated on one location with ``stock`` units of each SKU, no in-flight buffer."""
    sc = tiny(
        {"stock.fixed_units": stock, "scenario.duration": duration, "catalogue.skus": skus},
        channels=channels,
        demand=demand or {"enabled": False},
        strategies={"orchestrated": {"inflight_buffer": False, **params}},
    )
    r = run(sc, "orchestrated", seed, keep_history=False)
    assert r.checks["ok"]
    return r


def _lost(r: RunResult) -> dict[str, float]:
    return {c: m["lost_sale_units"] for c, m in r.per_channel.items()}


def _units(r: RunResult) -> dict[str, float]:
    return {c: m["units_accepted"] for c, m in r.per_channel.items()}


# -- ring fences --------------------------------------------------------------------------


def test_a_ring_fence_reserves_a_share_that_only_the_fenced_channel_may_use() -> None:
    """10 units, half fenced for b. a asks for 3 three times: it sees 10 - 5, then 7 - 3
    (after its first 3), then 4 - 2: its third order is refused although the truth has 4.
    b then buys 1 four times: it sees all of the rest, common pool and reserve."""
    demand = script(
        (100, "a", 0, 3), (200, "a", 0, 3), (300, "a", 0, 3),
        (400, "b", 0, 1), (500, "b", 0, 1), (600, "b", 0, 1), (700, "b", 0, 1),
    )  # fmt: skip
    r = _run([_channel("a"), _channel("b")], 10, {"ring_fence": {"b": 0.5}}, demand=demand)
    assert _units(r) == {"a": 6, "b": 4}
    assert _lost(r) == {"a": 3, "b": 0}
    assert r.metrics["oversold_lines"] == 0


def test_fence_only_limits_the_fenced_channel_to_its_reserve() -> None:
    demand = script((100, "b", 0, 1), (200, "b", 0, 1), (300, "b", 0, 1), (400, "b", 0, 1))
    fenced = {"ring_fence": {"b": 0.2}, "fence_only": ["b"]}
    r = _run([_channel("a"), _channel("b")], 10, fenced, demand=demand)
    # b may use floor(0.2 x pool): 2 of 10, then 1 of 9 and of 8, then 1 of 7
    assert _units(r)["b"] == 4
    r = _run([_channel("a"), _channel("b")], 5, fenced, demand=demand)
    assert _units(r)["b"] == 1  # floor(0.2 x 5) = 1, then floor(0.2 x 4) = 0
    assert _lost(r)["b"] == 3


def test_fences_apply_only_at_or_below_fence_below() -> None:
    demand = script((100, "a", 0, 6), (200, "a", 0, 3))
    params = {"ring_fence": {"b": 0.5}, "fence_below": 5}
    r = _run([_channel("a"), _channel("b")], 10, params, demand=demand)
    # 10 > 5: no fence, a takes 6; 4 <= 5: 2 are fenced for b, a's 3 are refused
    assert _units(r)["a"] == 6
    assert _lost(r)["a"] == 3


def test_fences_of_several_channels_add_up() -> None:
    demand = script((100, "a", 0, 5), (200, "a", 0, 4))
    params = {"ring_fence": {"b": 0.3, "c": 0.3}}
    r = _run([_channel("a"), _channel("b"), _channel("c")], 10, params, demand=demand)
    # a may take 10 - 3 - 3 = 4 of its 5 (1 lost), then 6 - 1 - 1 = 4 of its 4
    assert _units(r) == {"a": 8, "b": 0, "c": 0}
    assert _lost(r)["a"] == 1


@pytest.mark.parametrize("kind", ["storefront", "marketplace", "b2b"])
def test_fencing_a_channel_never_raises_its_own_lost_sales(kind: str) -> None:
    """Random demand on 4 SKUs, far more than the stock: fencing x (any kind, a larger
    fraction each time) never raises x's lost sales and never lowers what x sells, seed by
    seed; the larger the fence, the more x sells (the in-flight buffer is off: it holds
    back the last units of a SKU, and a fence keeps those units alive longer)."""
    channels = [
        _channel("a", orders_per_hour=40),
        _channel("m", "marketplace", orders_per_hour=30),
        {**_channel("x", kind, orders_per_hour=25), "lines_per_order": 1},
    ]
    kw: dict[str, Any] = {"demand": {"enabled": True}, "duration": 4 * 3600, "skus": 4}
    gained = 0
    for seed in (1, 2, 3, 4, 5):
        plain = _run(channels, 12, {}, seed=seed, **kw)
        lost, sold = _lost(plain)["x"], _units(plain)["x"]
        for fraction in (0.2, 0.5, 0.9):
            fenced = _run(channels, 12, {"ring_fence": {"x": fraction}}, seed=seed, **kw)
            assert _lost(fenced)["x"] <= lost, (seed, fraction)
            assert _units(fenced)["x"] >= sold, (seed, fraction)
            gained += _units(fenced)["x"] > _units(plain)["x"]
            sold = _units(fenced)["x"]
    assert gained >= 6  # of 15: the fence protected x's sales


# -- priority -------------------------------------------------------------------------------

PRIORITY = {"priority": ["a", "b", "c", "d"], "scarce_below": 100}


@pytest.mark.parametrize(("high", "low"), [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")])
def test_under_scarcity_each_listed_channel_is_served_before_the_next(high: str, low: str) -> None:
    """Only ``high`` and ``low`` want the SKU; ``low`` always asks first. It gets a unit
    while ``high`` has not asked yet; from then on every unit goes to ``high``, although
    ``low`` asks earlier each time (e is not listed: it comes after d)."""
    demand = script(
        (100, low, 0, 1), (200, high, 0, 1),
        (300, low, 0, 1), (400, high, 0, 1),
        (500, low, 0, 1), (600, high, 0, 1),
    )  # fmt: skip
    channels = [_channel(n) for n in "abcde"]
    r = _run(channels, 4, PRIORITY, demand=demand)
    assert _units(r)[high] == 3
    assert _units(r)[low] == 1
    assert _lost(r)[high] == 0
    assert _lost(r)[low] == 2  # refused at t=300 (3 left) and t=500 (1 left)


def test_under_scarcity_lost_sales_follow_the_priority_order() -> None:
    """Four channels ask for the last 6 units in reverse priority order, round after round.
    In the first round nobody contended yet: each gets one. From then on a, the first
    listed, gets every unit although it asks last; b, c and d are refused while the truth
    has units: a's lost sales <= b's <= c's <= d's."""
    rounds = [(t0 + 10 * i, n, 0, 1) for t0 in (100, 300, 500) for i, n in enumerate("dcba")]
    r = _run([_channel(n) for n in "abcd"], 6, PRIORITY, demand=script(*rounds))
    lost = _lost(r)
    assert lost["a"] <= lost["b"] <= lost["c"] <= lost["d"]
    assert lost == {"a": 0, "b": 2, "c": 2, "d": 2}
    assert _units(r) == {"a": 3, "b": 1, "c": 1, "d": 1}


def test_priority_does_not_apply_above_scarce_below() -> None:
    demand = script((100, "a", 0, 1), (200, "b", 0, 1))
    r = _run([_channel("a"), _channel("b")], 10, {"priority": ["a", "b"], "scarce_below": 5},
             demand=demand)  # fmt: skip
    assert _units(r) == {"a": 1, "b": 1}


def test_unknown_channel_names_are_refused() -> None:
    with pytest.raises(Exception, match="priority: no channel named 'zz'"):
        _run([_channel("a"), _channel("b")], 10, {"priority": ["a", "zz"]})
