"""Correctness checks run at the end of every run (DESIGN §9).

Each check recomputes a quantity independently and compares; a failing check names the
first offending SKU (and location) so the failure can be found. The runner fails the run
when any check fails.

- ``conservation_units``: per SKU, initial + received + returned =
  on hand + shipped + scrapped + shrink + in transit.
- ``conservation_orders``: lines (and units, and orders) accepted = shipped + cancelled +
  open + lost, every line's parts non-negative, and units shipped by lines = units shipped
  by movements. An order is *lost* when a channel handed it off (more than ``GRACE`` before
  the end) and it never reached the ERP (``lost_orders``); lost is never counted as open.
- ``invariants``: no negative stock; hold <= on hand; committed >= 0; truth-committed equals
  the sum of open lines' claims; every line claims at most its open quantity, and at each
  location at least what the WMS has released there for it (its dedicated units); per SKU,
  committed <= (on hand - hold) + unbacked, where ``unbacked`` counts units claimed beyond
  the stock that backs them (lost after acceptance, or backed by a release where no free
  stock was left; see ``sim.ledger``).
- ``ledger_balances``: on hand and hold per (location, SKU) recomputed from the movement log
  equal the balances; the WMS record equals physical plus uncounted shrink; what the WMS has
  released per (location, SKU) equals the lines' dedicated units there; the ERP record plus
  its unposted movements equals the WMS record (less the errors wrong master data put in the
  ERP's record, ``mocks.records``, which move no unit).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from sim.ledger import MOVEMENT_KINDS
from sim.movements import MOVEMENTS, TRANSIT, Delta, apply

__all__ = ["GRACE", "CheckFailure", "failure_message", "lost_orders", "run_checks"]

#: seconds before the end of a run in which a handed-off order may still be on its way
GRACE = 3600.0

#: what the WMS and the ERP record both keep per (location, SKU)
_STOCK = frozenset({"on_hand", "hold", *TRANSIT})


class CheckFailure(RuntimeError):
    """A run violated a correctness check; ``str()`` names the checks and the first cause."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


def _result(bad: np.ndarray, describe: Any) -> dict[str, Any]:
    n = int(np.count_nonzero(bad))
    out: dict[str, Any] = {"ok": n == 0, "violations": n}
    if n:
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        out["detail"] = describe(*idx)
    return out


def _conservation_units(led: Any) -> dict[str, Any]:
    t = led.totals
    left = (led.initial + t["receipt"] + t["return"]).sum(axis=0)
    right = (led.on_hand + t["ship"] + t["scrap"] + t["shrink"] + led.in_transit).sum(axis=0)
    return _result(
        left != right,
        lambda s: (
            f"SKU {s}: initial+received+returned={left[s]} but "
            f"on_hand+shipped+scrapped+shrink+in_transit={right[s]}"
        ),
    )


def lost_orders(world: Any, grace: float = GRACE) -> set[int]:
    """Ids of orders a channel handed off at least ``grace`` before the end of the run that
    never reached the ERP: lost by the integration."""
    end = float(world.env.now)
    imported = world.erp.imported
    return {
        o.id for o in world.ledger.orders if o.visible_at <= end - grace and o.id not in imported
    }


def _conservation_orders(led: Any, lost: set[int]) -> dict[str, Any]:
    problems: list[str] = []
    shipped = cancelled = open_ = lost_units = 0
    l_shipped = l_cancelled = l_open = l_lost = 0
    o_open = o_cancelled = o_shipped = 0
    for ln in led.lines:
        if ln.shipped < 0 or ln.cancelled < 0 or ln.open < 0:
            problems.append(f"line {ln.id}: shipped={ln.shipped} cancelled={ln.cancelled}")
        shipped += ln.shipped
        cancelled += ln.cancelled
        if ln.order.id in lost:
            lost_units += ln.open
        else:
            open_ += ln.open
        if ln.open > 0:
            if ln.order.id in lost:
                l_lost += 1
            else:
                l_open += 1
        elif ln.cancelled > 0:
            l_cancelled += 1
        else:
            l_shipped += 1
    for order in led.orders:
        if order.id in lost:
            continue
        if any(ln.open > 0 for ln in order.lines):
            o_open += 1
        elif any(ln.cancelled > 0 for ln in order.lines):
            o_cancelled += 1
        else:
            o_shipped += 1
    units = sum(ln.qty for ln in led.lines)
    if units != shipped + cancelled + open_ + lost_units:
        problems.append(
            f"units: accepted={units} != {shipped}+{cancelled}+{open_}+{lost_units} (lost)"
        )
    if len(led.lines) != l_shipped + l_cancelled + l_open + l_lost:
        problems.append("lines: accepted != shipped + cancelled + open + lost")
    if len(led.orders) != o_shipped + o_cancelled + o_open + len(lost):
        problems.append("orders: accepted != shipped + cancelled + open + lost")
    moved = int(led.totals["ship"].sum())
    if moved != shipped:
        problems.append(f"units shipped by lines ({shipped}) != by movements ({moved})")
    out: dict[str, Any] = {
        "ok": not problems,
        "violations": len(problems),
        "lines": {"shipped": l_shipped, "cancelled": l_cancelled, "open": l_open, "lost": l_lost},
        "units": {"shipped": shipped, "cancelled": cancelled, "open": open_, "lost": lost_units},
        "orders": {
            "shipped": o_shipped,
            "cancelled": o_cancelled,
            "open": o_open,
            "lost": len(lost),
        },
    }
    if problems:
        out["detail"] = problems[0]
    return out


def _invariants(led: Any) -> dict[str, Any]:
    neg = (led.on_hand < 0) | (led.hold < 0) | (led.committed < 0) | (led.in_transit < 0)
    neg |= led.hold > led.on_hand
    r1 = _result(neg, lambda loc, s: f"negative or inconsistent stock at location {loc}, SKU {s}")
    if not r1["ok"]:
        return r1
    claims = np.zeros_like(led.committed)
    for ln in led.lines:
        for loc, q in ln.claims.items():
            claims[loc, ln.sku] += q
        if ln.claimed > ln.open:
            return {"ok": False, "violations": 1, "detail": f"line {ln.id} claims > open"}
        for loc, q in ln.dedicated.items():
            if q > ln.claims.get(loc, 0):
                detail = f"line {ln.id}: {q} units released at location {loc} but not claimed"
                return {"ok": False, "violations": 1, "detail": detail}
    r2 = _result(
        claims != led.committed,
        lambda loc, s: (
            f"truth committed {led.committed[loc, s]} != open claims "
            f"{claims[loc, s]} at location {loc}, SKU {s}"
        ),
    )
    if not r2["ok"]:
        return r2
    # claims never exceed free stock when made at acceptance; a deficit made afterwards
    # (misallocated shipments, transfers, shrink, a release that backs an oversold part
    # where the stock was claimed) is counted in ``unbacked`` when it appears
    shelf = (led.on_hand - led.hold).sum(axis=0)
    committed = led.committed.sum(axis=0)
    bound = shelf + led.unbacked
    return _result(
        committed > bound,
        lambda s: f"SKU {s}: committed {committed[s]} > on hand - hold + unbacked {bound[s]}",
    )


def _ledger_balances(world: Any) -> dict[str, Any]:
    led = world.ledger
    mv = led.movement_frame()
    physical = [MOVEMENTS[k].physical or Delta() for k in MOVEMENT_KINDS]  # by log code
    sign = np.array([d.on_hand for d in physical], np.int64)
    on_hand = led.initial.copy()
    np.add.at(on_hand, (mv["loc"], mv["sku"]), sign[mv["kind"]] * mv["qty"])
    hsign = np.array([d.hold for d in physical], np.int64)
    hold = np.zeros_like(led.hold)
    np.add.at(hold, (mv["loc"], mv["sku"]), hsign[mv["kind"]] * mv["qty"])
    r = _result(
        (on_hand != led.on_hand) | (hold != led.hold),
        lambda loc, s: (
            f"movement log sums to on_hand={on_hand[loc, s]}, hold={hold[loc, s]} "
            f"but balance is {led.on_hand[loc, s]}, {led.hold[loc, s]} at location {loc}, SKU {s}"
        ),
    )
    if not r["ok"]:
        return r
    wms = world.wms
    dedicated = np.zeros_like(wms.released)
    for ln in led.lines:
        for loc, q in ln.dedicated.items():
            dedicated[loc, ln.sku] += q
    r = _result(
        dedicated != wms.released,
        lambda loc, s: (
            f"WMS released {wms.released[loc, s]} but lines' dedicated units "
            f"{dedicated[loc, s]} at location {loc}, SKU {s}"
        ),
    )
    if not r["ok"]:
        return r
    r = _result(
        (wms.record_on_hand != led.on_hand + wms.uncounted)
        | (wms.uncounted < 0)
        | (wms.unheld < 0)
        | (wms.unheld > led.hold),
        lambda loc, s: f"WMS record inconsistent at location {loc}, SKU {s}",
    )
    if not r["ok"]:
        return r
    erp = world.erp
    # the ERP's record less what wrong master data put off in it (``mocks.records``: a
    # misposting moves no unit, it puts a record wrong until a count or a fix corrects it)
    books = getattr(erp, "books", None)
    exp = (
        books.expected(erp)
        if books is not None
        else SimpleNamespace(
            on_hand=erp.on_hand.copy(), hold=erp.hold.copy(), in_transit=erp.in_transit.copy()
        )
    )
    for m in erp.unposted_movements():
        effect = MOVEMENTS[m.kind].erp
        if effect is not None:
            apply(effect, exp, m.loc, m.sku, m.qty, m.dst, only=_STOCK)
    exp_on_hand, exp_hold, exp_transit = exp.on_hand, exp.hold, exp.in_transit
    # a partner location's ERP record is its last inventory file's (mocks.partner), no
    # balance of WMS movements
    own = np.ones((led.n_loc, 1), bool)
    partners = world.partners
    if partners is not None:
        own[list(partners.sites)] = False
    return _result(
        own
        & (
            (exp_on_hand != wms.record_on_hand)
            | (exp_hold != wms.record_hold)
            | (exp_transit != led.in_transit)
        ),
        lambda loc, s: (
            f"ERP record + unposted movements != WMS record at location {loc}, "
            f"SKU {s} (on hand {exp_on_hand[loc, s]} vs {wms.record_on_hand[loc, s]})"
        ),
    )


def run_checks(world: Any, extra: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every check of DESIGN §9 that applies; ``checks["ok"]`` is their conjunction."""
    led = world.ledger
    checks: dict[str, Any] = {
        "conservation_units": _conservation_units(led),
        "conservation_orders": _conservation_orders(led, lost_orders(world)),
        "invariants": _invariants(led),
        "ledger_balances": _ledger_balances(world),
    }
    checks.update(extra or {})
    checks["ok"] = all(v["ok"] for v in checks.values() if isinstance(v, dict))
    return checks


def failure_message(checks: dict[str, Any]) -> str:
    bad = [
        f"{k} ({v.get('detail', 'failed')})"
        for k, v in checks.items()
        if isinstance(v, dict) and not v["ok"]
    ]
    return "correctness check failed: " + "; ".join(bad)
