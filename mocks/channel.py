"""Sales channels: storefronts, marketplaces and B2B portals.

A channel shows an availability per SKU and sells against it. When a customer wants ``q``
units, the channel's accept rule decides against what it *shows*::

    full       accept q if shown >= q, else refuse the line          (default)
    partial    accept min(q, shown)
    backorder  accept q whatever it shows (shown never goes below 0)

and the channel decrements its own count by what it accepted (as Shopify commits stock on
order). The same rule applied to the truth says what the customer could have had; what the
channel refused beyond that is a lost sale. Accepted orders are handed off to the
integration after a hand-off delay (plus, for a marketplace, a pending period during which
the marketplace holds the stock but has not told the seller).

A channel with ``preorders`` also shows future availability per SKU ("available by date
d"): units due within its ``promise_horizon``. It accepts beyond what it shows now up to that
many; those units are pre-ordered, promised from date d, and the truth backs them with
inbound supply (``Ledger.accept``). A channel with a ``promise_horizon`` promises every line
it accepts a ship date: ``ship_promise`` after acceptance, or after d for pre-ordered units.
With customer regions (``sim.routing``), each accepted order draws its region and carries
its route.

A bundle (``catalogue.bundles``) is shown and sold as one SKU; the accepted order carries
its components as lines (``Line.bundle`` names the bundle), so everything downstream, and
the truth, sees components. The truth of a bundle is what its components make up
(``Ledger.bundle_free``); a bundle line is oversold when any of its component lines is.
Bundles take no pre-orders.

A B2B channel with customer accounts (``sim.contracts``) draws the account of each order by
its share; a ``contract_share`` of its lines are for SKUs it holds an allocation of (drawn by
the allocated quantity), the others from the channel's popularity. The account's accept rule
(if it has one) replaces the channel's, a ``credit_hold_rate`` of its orders wait a drawn
``credit_hold`` for credit approval before the warehouse may release them, and its lines
draw on its allocation first. Every line of every channel is checked for taking contract
stock (``Contracts.check``: ``allocation_breaches``).

Integration API (every call goes through the channel's ``ApiServer``: latency, leaky bucket,
bulk limit): ``set_inventory`` (optionally compare-and-swap: each SKU's write names the
quantity it expects to replace, and the whole write is refused with 409 if any differs, as
Shopify's ``changeFromQuantity``), ``set_incoming`` (future availability), ``read_inventory``,
``fetch_orders``.

Data-quality faults (``sim.faults.data``) act on what a write does, wherever it is served
(every platform's write lands through ``_apply``): an *unmapped* SKU's items are refused one
by one (the write is served, the other items apply, the reply's value is an ``ItemErrors``
and each refused item is reported to ``refused_listeners`` as a failed update), and a SKU
listed in *cases* where the ERP counts eaches shows ``case_size`` times the units written.
The reference writer (the floors' feed) is no integration: it is never affected.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mocks.api import ApiServer
from sim.contract import InventoryPage, ItemErrors, OrdersPage, Reply, StaleWrite
from sim.contracts import Contracts
from sim.faults import ActiveFault
from sim.ledger import Ledger, Order
from sim.routing import Routing
from sim.schema import Channel as ChannelSpec

__all__ = [
    "Channel",
    "ChannelDemandStats",
    "Checkout",
    "InventoryPage",
    "ItemErrors",
    "OrdersPage",
    "StaleWrite",
    "Webhooks",
    "WriteOutsideApi",
]


Checkout = Callable[["Channel", list[int], list[int]], Any]
"""``hook(channel, skus, cart) -> event``; the event's value: accepted quantity per line."""


class WriteOutsideApi(RuntimeError):
    """A strategy set a channel's shown availability without going through its API."""


def _cas_status(value: Any) -> tuple[int, str | None]:
    return (409, "STALE_QUANTITY") if isinstance(value, StaleWrite) else (200, None)


@dataclass(slots=True)
class ChannelDemandStats:
    lines_demanded: int = 0
    units_demanded: int = 0
    lines_refused: int = 0
    units_refused: int = 0
    lost_sale_units: int = 0
    lost_sale_value: float = 0.0  # at catalogue prices
    bundle_lines: int = 0  # bundles accepted (each sold as its component lines)
    bundle_oversold_lines: int = 0  # of those, with any component line oversold


def _accept(rule: str, want: int, shows: int) -> int:
    if rule == "full":
        return want if shows >= want else 0
    if rule == "partial":
        return min(want, max(shows, 0))
    return want  # backorder


class _Account:
    """A customer account as its channel draws orders for it."""

    __slots__ = ("cdf", "index", "rule", "skus", "spec")

    def __init__(self, index: int, spec: Any, contract: np.ndarray) -> None:
        self.index = index
        self.spec = spec
        self.rule: str | None = spec.accept_rule
        self.skus = np.flatnonzero(contract)
        weights = np.cumsum(contract[self.skus].astype(float))
        self.cdf = weights / weights[-1] if weights.size else weights


class Webhooks:
    """Order webhook delivery: at once, unless a fault held here (``hold_fault``; the one
    switched on last decides) makes it late (``webhook_delay``) and perhaps delivers it again
    later with the same, original payload (``webhook_retry``)."""

    def __init__(self, env: Any, rng: np.random.Generator) -> None:
        self.env = env
        self.rng = rng
        self.faults: list[ActiveFault] = []  # faults on now, in the order they switched on
        self.delivered = 0
        self.retried = 0

    def hold_fault(self, fault: ActiveFault, on: bool) -> None:
        """Take a fault that switched on (it decides deliveries from now on), or let it go."""
        if on:
            self.faults.append(fault)
        else:
            self.faults.remove(fault)

    def deliver(self, fn: Callable[[Order], Any], order: Order) -> None:
        self.delivered += 1
        f = self.faults[-1] if self.faults else None
        delay = f.webhook_delay(self.rng) if f is not None else None
        if f is None or delay is None:
            fn(order)
            return
        self.env.timeout(delay).callbacks.append(lambda _: fn(order))
        again = f.webhook_retry(self.rng)
        if again is not None:
            self.retried += 1
            self.env.timeout(delay + again).callbacks.append(lambda _: fn(order))


class Channel:
    """One sales channel with its shown availability, customers' orders and its API."""

    def __init__(
        self,
        env: Any,
        index: int,
        spec: ChannelSpec,
        ledger: Ledger,
        api: ApiServer,
        rng: np.random.Generator,
        initial_shown: np.ndarray,
        page_size: int = 250,
        *,
        strict_writes: bool = False,
    ) -> None:
        self.env = env
        self.index = index
        self.spec = spec
        self.name = spec.name
        self.kind = spec.kind
        self.ledger = ledger
        self.api = api
        self.rng = rng
        effective = spec.effective()  # the scenario's values, its platform preset resolved
        self.bulk_limit = effective.api.bulk_limit
        self.pending_period = effective.pending_period
        self.page_size = page_size
        # shown counts and their as_of are read-only outside the channel's own write paths:
        # a strategy that assigns into them gets numpy's "read-only" ValueError at once
        # (the mock writes private arrays; ``count`` and ``as_of`` are read-only views of them,
        # which is cheaper than toggling ``flags.writeable`` around every write)
        self._count = initial_shown.astype(np.int64).copy()
        self._as_of = np.zeros(self._count.shape[0])
        self.count = self._count.view()
        self.as_of = self._as_of.view()
        self.count.flags.writeable = False
        self.as_of.flags.writeable = False
        #: in a run (the runner builds the world so): the public ``apply_write*``
        #: (privileged, for tests and tools) raise ``WriteOutsideApi`` instead of writing
        self.strict_writes = strict_writes
        self._reference_writer_taken = False
        self.demand = ChannelDemandStats()
        self.visible: list[Order] = []
        self.shown_listeners: list[Callable[[int, Any], None]] = []
        self.order_listeners: list[Callable[[Order], Any]] = []
        self.accept_listeners: list[Callable[[Order], None]] = []
        self.write_listeners: list[Callable[[int, Any, Any], None]] = []
        #: ``fn(channel index, n)``: ``n`` items of a write were refused one by one
        self.refused_listeners: list[Callable[[int, int], None]] = []
        # data-quality faults on now, by plan index: (fault, SKU mask, factor; 0: unmapped)
        self._mapping: dict[int, tuple[ActiveFault, np.ndarray, int]] = {}
        self.checkout: Checkout | None = None
        self.webhooks = Webhooks(env, rng)
        self.prices: np.ndarray | None = None  # catalogue prices, for lost sale value
        self.skus_written = 0
        # future availability: units shown as available by a date (pre-order channels)
        self._incoming = np.zeros(self._count.shape[0], np.int64)
        self._incoming_at = np.zeros(self._count.shape[0])
        self.incoming = self._incoming.view()
        self.incoming_at = self._incoming_at.view()
        self.incoming.flags.writeable = False
        self.incoming_at.flags.writeable = False
        self.routing: Routing | None = None
        self._regions: np.random.Generator | None = None
        self.contracts: Contracts | None = None
        self._accounts: list[_Account] = []
        self._account_cdf = np.ones(1)
        self._buyers: np.random.Generator | None = None

    def set_contracts(self, contracts: Contracts, rng: np.random.Generator) -> None:
        """Customer allocations: every accepted line is checked for breaching them; a B2B
        channel with accounts draws each order's account (and its lines, credit holds)
        from ``rng``."""
        self.contracts = contracts
        self._buyers = rng
        accounts = contracts.of_channel.get(self.index, [])
        self._accounts = [_Account(k, contracts.accounts[k][1], contracts.contract[k])
                          for k in accounts]  # fmt: skip
        if accounts:
            shares = np.cumsum([a.spec.share for a in self._accounts])
            self._account_cdf = shares / shares[-1]

    def _draw_account(self, skus: Sequence[int]) -> tuple[_Account, list[int]]:
        """The account placing an order, and its SKUs (contract lines drawn by allocation)."""
        rng = self._buyers
        assert rng is not None
        acc = self._accounts[int(np.searchsorted(self._account_cdf, rng.random(), side="right"))]
        out = [int(s) for s in skus]
        if acc.skus.size:
            for i, hit in enumerate((rng.random(len(out)) < acc.spec.contract_share).tolist()):
                if hit:
                    j = int(np.searchsorted(acc.cdf, rng.random(), side="right"))
                    out[i] = int(acc.skus[min(j, acc.skus.size - 1)])
        return acc, out

    def set_routing(self, routing: Routing, rng: np.random.Generator) -> None:
        """Customer regions: each accepted order draws one from ``rng`` and gets its route."""
        self.routing = routing
        self._regions = rng

    @property
    def n_sku(self) -> int:
        return int(self.count.shape[0])

    def shown(self, sku: int) -> int:
        return max(0, self._count.item(sku))

    @property
    def takes_preorders(self) -> bool:
        return self.spec.preorders

    def shown_later(self, sku: int) -> int:
        """Units the channel shows as available by a date within its promise horizon (0 on
        a channel without pre-orders)."""
        spec = self.spec
        if not spec.preorders:
            return 0
        if self._incoming_at.item(sku) > self.env.now + spec.promise_horizon:
            return 0
        return max(0, self._incoming.item(sku))

    # -- customers --------------------------------------------------------------------------
    def place(self, skus: Sequence[int], qtys: Sequence[int]) -> Order | None:
        """A customer wants ``qtys[i]`` of ``skus[i]``; returns the accepted order, if any.

        With a checkout hook installed (``set_checkout``), the customer first fills a cart
        with what the channel shows, then waits for the hook's decision (a synchronous ATP
        check, a reservation); the order is then accepted later and ``None`` is returned.
        """
        acc: _Account | None = None
        if self._accounts:
            acc, skus = self._draw_account(skus)
        if self.checkout is None:
            return self._accept(skus, qtys, None, acc)
        self.env.process(self._checkout(list(skus), list(qtys), acc))
        return None

    def set_checkout(self, hook: Checkout | None) -> None:
        """Install a checkout hook: ``hook(channel, skus, cart)`` returns an event whose value
        is, per line, the quantity that may be accepted (0 refuses the line)."""
        self.checkout = hook

    def _checkout(
        self, skus: list[int], qtys: list[int], acc: _Account | None
    ) -> Generator[Any, Any, None]:
        rule = self.spec.accept_rule if acc is None else acc.rule or self.spec.accept_rule
        # line by line, as ``_accept`` will take them: a later line of the same SKU sees what
        # the earlier ones leave (else it asks the hook for units it will then refuse)
        left: dict[int, int] = {}
        cart = []
        for s, q in zip(skus, qtys, strict=True):
            s = int(s)
            shows = left.get(s, self.shown(s) + self.shown_later(s))
            take = _accept(rule, int(q), shows)
            left[s] = max(0, shows - take)
            cart.append(take)
        if not any(cart):
            self._accept(skus, qtys, cart, acc)
            return
        assert self.checkout is not None
        decision = yield self.checkout(self, skus, cart)
        caps = [min(c, int(d)) for c, d in zip(cart, decision, strict=True)]
        self._accept(skus, qtys, caps, acc)

    def _accept(
        self,
        skus: Sequence[int],
        qtys: Sequence[int],
        caps: Sequence[int] | None,
        acc: _Account | None = None,
    ) -> Order | None:
        rule = self.spec.accept_rule if acc is None else acc.rule or self.spec.accept_rule
        ledger = self.ledger
        contracts = self.contracts
        stats = self.demand
        order: Order | None = None
        preorders = self.spec.preorders
        promising = self.spec.promise_horizon > 0
        for i, (sku, want) in enumerate(zip(skus, qtys, strict=True)):
            sku = int(sku)
            want = int(want)
            stats.lines_demanded += 1
            stats.units_demanded += want
            now_shown = self.shown(sku)
            later = self.shown_later(sku) if preorders else 0
            accepted = _accept(rule, want, now_shown + later)
            if caps is not None:
                accepted = min(accepted, caps[i])
            true = ledger.true_available(self.index, sku)
            if preorders:
                true += ledger.true_inbound(self.index, sku)
            truth = _accept(rule, want, true)
            if truth > accepted:
                stats.lost_sale_units += truth - accepted
                if self.prices is not None:
                    stats.lost_sale_value += (truth - accepted) * float(self.prices[sku])
            if accepted < want:
                stats.units_refused += want - accepted
                if accepted == 0:
                    stats.lines_refused += 1
            if accepted == 0:
                continue
            if order is None:
                order = ledger.new_order(self.index)
                if self.routing is not None and self._regions is not None:
                    order.region = self.routing.draw(self._regions)
                    order.route = self.routing.route(self.index, order.region)
                if acc is not None:
                    self._account_order(order, acc)
            comps = ledger.components.get(sku) if ledger.components else None
            pre = 0 if comps else min(later, max(0, accepted - now_shown))
            # decrement first: listeners of the truth change (the oracle) may rewrite it
            self._count[sku] = max(0, self._count.item(sku) - accepted)
            if pre:
                self._incoming[sku] -= pre
            drawn: dict[int, int] | None = None
            if acc is not None and contracts is not None:
                drawn = {}
                for part, k in comps or ((sku, 1),):
                    drawn[part] = contracts.draw(acc.index, part, accepted * k)
            if comps:  # a bundle: its components are the order's lines
                lines = [ledger.accept(order, c, accepted * k) for c, k in comps]
                for ln in lines:
                    ln.bundle = sku
                stats.bundle_lines += 1
                if any(ln.oversold for ln in lines):
                    stats.bundle_oversold_lines += 1
            else:
                lines = [ledger.accept(order, sku, accepted, pre)]
            if contracts is not None:
                for ln in lines:
                    contracts.check(ln, drawn.get(ln.sku, 0) if drawn else 0)
            if promising:
                start = self._incoming_at.item(sku) if pre else self.env.now
                for ln in lines:
                    ln.promised = max(start, self.env.now) + self.spec.ship_promise
            for on_shown in self.shown_listeners:
                on_shown(self.index, sku)
        if order is not None:
            for on_accept in self.accept_listeners:
                on_accept(order)
            self._hand_off(order)
        return order

    def _account_order(self, order: Order, acc: _Account) -> None:
        """The account placed ``order``: its credit may hold it."""
        order.customer = acc.index
        rng = self._buyers
        rate = acc.spec.credit_hold_rate
        if rate > 0 and rng is not None and rng.random() < rate:
            order.credit_until = self.env.now + float(acc.spec.credit_hold.sample(rng))

    def _hand_off(self, order: Order) -> None:
        spec = self.spec
        delay = float(spec.handoff_delay.sample(self.rng))
        if self.kind == "marketplace":
            delay += float(self.pending_period.sample(self.rng))
        order.visible_at = self.env.now + delay
        if delay <= 0:
            self._make_visible(order)
        else:
            self.env.timeout(delay, order).callbacks.append(lambda ev: self._make_visible(ev.value))

    def _make_visible(self, order: Order) -> None:
        self.visible.append(order)
        for on_order in self.order_listeners:
            self.webhooks.deliver(on_order, order)

    # -- writes: the API's effect and the privileged reference writer (the oracle feed) ------
    def apply_write(self, skus: np.ndarray, values: np.ndarray, as_of: np.ndarray) -> None:
        """Set the shown count of ``skus`` to ``values``, current to truth time ``as_of``,
        at no cost (tests and tools). In a run (``strict_writes``) this is refused."""
        if self.strict_writes:
            raise WriteOutsideApi(
                f"wrote channel {self.name!r} availability outside its API "
                f"(Channel.apply_write of {np.size(skus)} SKUs; use set_inventory)"
            )
        self._apply(skus, values, as_of)

    def apply_write_one(self, sku: int, value: int, as_of: float) -> None:
        """Set one SKU's shown count at no cost (tests and tools; refused in a run)."""
        if self.strict_writes:
            raise WriteOutsideApi(
                f"wrote channel {self.name!r} availability outside its API "
                f"(Channel.apply_write_one of SKU {sku}; use set_inventory)"
            )
        self._apply_one(sku, value, as_of)

    # -- data-quality faults (sim.faults.data) ----------------------------------------------
    def unmap(self, skus: np.ndarray, fault: ActiveFault, on: bool) -> None:
        """While ``fault`` is on, writes to ``skus`` are refused item by item: the listing
        has no mapping for them (a hit per refused item)."""
        self._map(skus, 0, fault, on)

    def scale(self, skus: np.ndarray, factor: int, fault: ActiveFault, on: bool) -> None:
        """While ``fault`` is on, a write of ``v`` to one of ``skus`` shows ``v * factor``
        (a unit-of-measure mismatch: the channel reads eaches as cases; a hit per item)."""
        self._map(skus, factor, fault, on)

    def _map(self, skus: np.ndarray, factor: int, fault: ActiveFault, on: bool) -> None:
        if on:
            mask = np.zeros(self.n_sku, bool)
            mask[np.asarray(skus, np.int64)] = True
            self._mapping[fault.index] = (fault, mask, factor)
        else:
            self._mapping.pop(fault.index, None)

    def _mapped(
        self, skus: np.ndarray, new: np.ndarray, as_of: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, ItemErrors | None]:
        """A write's items as the channel's mapping lands them: unmapped ones dropped (and
        reported), those listed in cases scaled."""
        new = np.broadcast_to(new, skus.shape).copy()
        refused = np.zeros(skus.shape, bool)
        for fault, mask, factor in self._mapping.values():
            hit = mask[skus]
            n = int(hit.sum())
            if not n:
                continue
            fault.hit(n)
            if factor:
                new[hit] *= factor
            else:
                refused |= hit
        if not refused.any():
            return skus, new, as_of, None
        errors = ItemErrors(skus[refused], "UNMAPPED_SKU")
        for fn in self.refused_listeners:
            fn(self.index, int(refused.sum()))
        keep = ~refused
        return skus[keep], new[keep], as_of[keep], errors

    def _apply(self, skus: np.ndarray, values: np.ndarray, as_of: np.ndarray) -> ItemErrors | None:
        """Write; write listeners get every SKU written, shown listeners only the SKUs whose
        shown count changed (most SKUs of a full export keep their count). Returns the
        items refused one by one (an unmapped SKU), if any."""
        skus = np.asarray(skus, np.int64)
        as_of = np.asarray(as_of, float)
        if as_of.shape != skus.shape:
            as_of = np.full(skus.shape, float(as_of))
        new = np.maximum(np.asarray(values, np.int64), 0)
        refused = None
        if self._mapping:
            skus, new, as_of, refused = self._mapped(skus, new, as_of)
        moved = skus[self._count[skus] != new]
        self._count[skus] = new
        self._as_of[skus] = as_of
        self.skus_written += skus.size
        for on_write in self.write_listeners:
            on_write(self.index, skus, as_of)
        if moved.size:
            for on_shown in self.shown_listeners:
                on_shown(self.index, moved)
        return refused

    def take_reference_writer(self) -> Callable[[int, int, float], None]:
        """The floors' writer, ``write(sku, value, as_of)``: instant, free, allowed in a run.
        The world takes it once, when it builds the floors' truth feed; a second taker
        gets ``WriteOutsideApi``."""
        if self._reference_writer_taken:
            raise WriteOutsideApi(f"{self.name}: the reference writer is already taken")
        self._reference_writer_taken = True
        return self._apply_one

    def _apply_one(self, sku: int, value: int, as_of: float) -> None:
        """The cheap path for per-change writers (the oracle feed)."""
        self._count[sku] = max(0, value)
        self._as_of[sku] = as_of
        self.skus_written += 1
        for on_write in self.write_listeners:
            on_write(self.index, sku, as_of)
        for on_shown in self.shown_listeners:
            on_shown(self.index, sku)

    # -- integration API --------------------------------------------------------------------
    def set_inventory(self, skus: Any, values: Any, as_of: Any, expected: Any = None) -> Any:
        """Overwrite shown availability for up to ``bulk_limit`` SKUs (one request).

        ``as_of`` (scalar or per SKU) is the truth time the values are current to: the
        minimum ``as_of`` of everything they were computed from. With ``expected`` (per SKU),
        the write applies only if every SKU still shows its expected quantity when the call
        is served; otherwise nothing is written and the reply is 409 ``STALE_QUANTITY``.
        """
        skus = np.atleast_1d(np.asarray(skus, np.int64))
        if skus.size > self.bulk_limit:
            self.api.stats.calls += 1
            return self.env.timeout(
                0.0,
                Reply(400, error=f"too many items: {skus.size} > bulk limit {self.bulk_limit}"),
            )
        vals = np.array(values, np.int64, ndmin=1)
        aso = np.array(as_of, float, ndmin=1)
        if aso.shape != skus.shape:
            aso = np.full(skus.shape, float(aso[0]))
        if expected is None:
            return self.api.call(
                skus.size, lambda: self._apply(skus, vals, aso), op="set_inventory"
            )
        exp = np.array(expected, np.int64, ndmin=1)
        if exp.size == 1 and skus.size > 1:
            exp = np.full(skus.shape, int(exp[0]))
        elif exp.shape != skus.shape:
            self.api.stats.calls += 1
            return self.env.timeout(
                0.0, Reply(400, error=f"expected: {exp.size} values for {skus.size} SKUs")
            )

        def cas() -> Any:
            current = np.maximum(self.count[skus], 0)
            if not np.array_equal(current, exp):
                return StaleWrite(skus[current != exp], current[current != exp])
            return self._apply(skus, vals, aso)

        return self.api.call(skus.size, cas, status_of=_cas_status, op="set_inventory_cas")

    def reference_incoming(self, sku: int, value: int, at: float) -> None:
        """The floors' future-availability writer (instant, free; ``OracleFeed``)."""
        self._incoming[sku] = max(0, value)
        self._incoming_at[sku] = at

    def set_incoming(self, skus: Any, values: Any, at: Any) -> Any:
        """Future availability of up to ``bulk_limit`` SKUs (one request): ``values[i]``
        units available by time ``at[i]`` (a pre-order channel sells them with that date;
        0 withdraws them). A channel without pre-orders answers 400 (no capacity used)."""
        skus = np.atleast_1d(np.asarray(skus, np.int64))
        if not self.spec.preorders:
            return self.env.timeout(0.0, Reply(400, error=f"{self.name} takes no pre-orders"))
        if skus.size > self.bulk_limit:
            self.api.stats.calls += 1
            return self.env.timeout(
                0.0,
                Reply(400, error=f"too many items: {skus.size} > bulk limit {self.bulk_limit}"),
            )
        vals = np.maximum(np.array(values, np.int64, ndmin=1), 0)
        when = np.array(at, float, ndmin=1)
        if when.shape != skus.shape:
            when = np.full(skus.shape, float(when[0]))

        def effect() -> ItemErrors | None:
            sel, new, at = skus, vals, when
            refused = None
            if self._mapping:
                sel, new, at, refused = self._mapped(skus, vals, when)
            self._incoming[sel] = new
            self._incoming_at[sel] = at
            return refused

        return self.api.call(skus.size, effect, op="set_incoming")

    def read_inventory(self, skus: Any = None) -> Any:
        """What the channel shows now, and the ``as_of`` of the last write per SKU."""
        sel = np.arange(self.n_sku) if skus is None else np.atleast_1d(np.asarray(skus, np.int64))

        def effect() -> InventoryPage:
            return InventoryPage(sel, np.maximum(self.count[sel], 0), self.as_of[sel].copy())

        return self.api.call(sel.size, effect, op="read_inventory")

    def fetch_orders(self, cursor: int = 0, limit: int | None = None) -> Any:
        """Orders handed off to the integration, from position ``cursor`` (one page)."""
        size = limit or self.page_size
        n = max(0, min(size, len(self.visible) - cursor))

        def effect() -> OrdersPage:
            # the page is read at the end of the call: orders made visible meanwhile count
            end = min(cursor + size, len(self.visible))
            return OrdersPage(self.visible[cursor:end], end)

        return self.api.call(max(n, 1), effect, op="fetch_orders")

    #: whether a read-back shows what a write set, less the channel's own sales since (a
    #: platform that derives its figure from the quantity written says False)
    shows_what_is_written = True

    #: whether the platform holds stock against open orders until told they shipped or were
    #: cancelled (``fulfill``); platforms that do subclass ``FulfillingChannel``
    needs_fulfillment = False

    def fulfill(self, lines: Sequence[tuple[int, int, int, int, str]]) -> Any:
        """Shipped or cancelled order lines; this channel keeps no stock against open
        orders, so it answers 404 at once (no capacity used)."""
        return self.env.timeout(0.0, Reply(404, error=f"{self.name} takes no fulfillments"))

    def subscribe_orders(self, fn: Callable[[Order], Any]) -> None:
        """Order webhook: ``fn(order)`` when an order is handed off (at-least-once later)."""
        self.order_listeners.append(fn)
