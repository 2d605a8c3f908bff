"""``orchestrated``: middleware with a canonical view, central reservations and governed pushes.

The middleware consumes the same change events as ``event`` into one canonical view (on hand,
released, quality hold, in transit per location and SKU, plus its own reservations). It owns
reservations: storefronts and B2B portals reserve at checkout through its API (with latency);
a marketplace cannot call out, so its orders count once they are handed off, and what it
sells meanwhile is invisible to the middleware.

Allocation rules decide what each channel may show and reserve. A channel's *pool* of a SKU
is the free stock of the canonical view at its locations (on hand - hold - released, per
location clipped at 0) less the lines accepted and not yet released, the open checkout
reservations and:

- ``safety_stock`` units held back per SKU;
- an in-flight buffer (``inflight_buffer``): from the orders of channels that cannot reserve,
  the middleware learns each SKU's sales rate there (exponentially weighted over
  ``velocity_window``) and how late those orders reach it; the invisible sales in flight are
  about Poisson with mean lambda = rate x lateness, and floor(lambda + z sqrt(lambda)) units
  (``inflight_z``: 1.65 covers about 95%) are kept out of what reserving channels may take;
  symmetrically, a channel that cannot reserve is shown its value less the sales expected
  everywhere before its next push (the same quantile, with lambda = the SKU's total sales
  rate x ``push_interval``).

Then, in this order:

- ``ring_fence``: a fence of fraction f for channel X reserves floor(f x pool of X) units
  for X alone when X's pool is at most ``fence_below`` units (0: always), whatever X's
  kind. No other channel may sell into the reserve: another channel c loses the part of
  it that c can reach, i.e. the reserve less the free stock at X's locations that c does
  not sell from (the reserve is kept there first). Fences of several channels add up
  (at most c's pool). X itself still sells from the common pool plus its reserve, unless
  it is listed in ``fence_only``: then, while its fence applies, it may use its reserve
  only. Fencing X never takes anything from X.
- ``priority`` and ``scarce_below``: when a channel's pool is at most ``scarce_below``
  units, the channels listed in ``priority`` are served in that order, every channel not
  listed after all of them: a channel may use only the stock at its locations that no
  channel ranked above it can reach, as long as any of those *contends* for the SKU
  (asked for it at checkout or sold it within the last ``velocity_window``). So under
  scarcity the n-th listed channel is served before the (n+1)-th, which gets the scarce
  units only where (or when) no channel above it wants them.
- ``shares``: the fraction of what is left that a channel may use.

With ``allocations`` on, B2B contract allocations are a rule of the middleware too: the
units the ERP records as reserved for customers of other B2B channels that share a
location with a channel (``ErpApi.contract_allocations``: read in full at the start, then
for the SKUs the ERP says changed, ``subscribe_allocations``) come off that channel's pool
before everything above, so web channels neither show nor reserve contract stock.

The SKUs that changed are pushed to each channel (once a change is waiting, changes are
gathered for ``push_interval`` more; with nothing changed the pusher sleeps) through its
rate-limited API, retried with exponential backoff and full jitter; pages that still fail go
to a dead-letter queue, replayed every ``replay_interval``. Every ``reconcile_interval`` the
canonical view is reconciled against the ERP (persistent drift only). With ``channel_audit``,
every ``audit_interval`` the middleware reads each channel's inventory back (one call
through its rate-limited API, retried) and compares it with what it last pushed there: a SKU
the channel shows more of than was pushed (no sale explains that), or that differs with no
push landed on it since the previous audit, at two audits in a row (an item the channel
refused one by one does not land; a sale the middleware has not seen yet is seen, and
pushed, by the next audit), is a *reconciliation exception*: reported
(``reconciliation_exceptions`` of that channel, ``mw_channel_exceptions``) and pushed again.
A re-push fixes drift a write can fix; an unmapped SKU or a case/each mismatch
(``sim.faults.data``) is found again at every audit. On a platform whose read-back is a
figure it derives from the quantity written (``shows_what_is_written`` false: Adobe
Commerce's salable quantity) only "more than was pushed" counts.
A platform that puts stock back on its own (a cancellation on a platform that restores it)
also shows more than was pushed: found and re-pushed too. Orders are imported
into the ERP as their events arrive, and every ``order_sweep_interval`` each channel's order
feed is swept for orders whose event never came (a lost message cannot lose an order). When
the middleware is down, checkout follows the ``fallback`` policy (``accept`` on what the
channel shows, or ``reject``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, Strict

from sim.contract import ItemErrors
from sim.dists import Dist, Fixed
from sim.fields import Count, Flag, Fraction, Interval, Retries
from strategies.base import SyncStrategy
from strategies.event import OrderImporter
from strategies.kit import (
    TOPIC,
    Bundles,
    ClientStats,
    Dirty,
    FulfillmentSync,
    IncomingSync,
    Publisher,
    StockEvent,
    StockView,
    backoff,
    call_with_retry,
    queue_record,
    retry_wait,
    until_applied,
)

if TYPE_CHECKING:
    import simpy

    from sim.contract import Atp, ChannelApi, Message, Systems

__all__ = ["Middleware", "OrchestratedParams", "OrchestratedStrategy", "order_sweeper"]


@dataclass(frozen=True)
class OrchestratedParams:
    reserve_kinds: tuple[str, ...] = ("storefront", "b2b")
    reserve_latency: Dist = field(default_factory=lambda: Fixed(value=0.05))
    reserve_concurrency: Annotated[int, Strict(), Field(ge=1, le=100_000)] = 100
    push_interval: Interval = 10.0
    safety_stock: Count = 0
    shares: dict[str, Fraction] = field(default_factory=dict)
    # channel -> fraction of its pool reserved for it alone (others cannot sell into it)
    ring_fence: dict[str, Fraction] = field(default_factory=dict)
    # fences apply while the fenced channel's pool is at most this many units (0: always)
    fence_below: Count = 0
    # fenced channels that may use their reserve only (by default: common pool + reserve)
    fence_only: tuple[str, ...] = ()
    inflight_buffer: Flag = True
    inflight_z: Annotated[float, Strict(), Field(ge=0, le=10)] = 1.65
    # sales-rate memory; also how long a channel that asked for a SKU contends for it
    velocity_window: Interval = 6 * 3600.0
    # channels served first to last when stock is scarce (channels not listed come last)
    priority: tuple[str, ...] = ()
    # a channel's pool at or below this many units is scarce (priority applies)
    scarce_below: Count = 0
    reconcile_interval: Interval = 3600.0
    order_sweep_interval: Interval = 900.0
    replay_interval: Interval = 600.0
    max_retries: Retries = 5
    backoff_base: Interval = 1.0
    backoff_cap: Interval = 120.0
    reservation_ttl: Interval = 4 * 3600.0
    fallback: Literal["accept", "reject"] = "accept"
    # keep B2B contract allocations (the ERP's record) out of other channels' pools
    allocations: Flag = True
    # read each channel's inventory back every audit_interval and compare with the pushes
    channel_audit: Flag = True
    audit_interval: Interval = 3600.0


class Middleware:
    """The canonical view, the reservations and the allocation rules."""

    def __init__(
        self, strategy: OrchestratedStrategy, env: simpy.Environment, systems: Systems
    ) -> None:
        p: OrchestratedParams = strategy.params
        self.p = p
        self.env = env
        self.systems = systems
        self.up = True
        n_ch = len(systems.channels)
        n_sku = systems.catalogue.n
        self.view = StockView(systems, "middleware", True, systems.wms.initial_stock())
        self.view.on_line_change = self._line_event
        self.bundles = Bundles(systems.catalogue)
        self.api = systems.server(
            "middleware", concurrency=p.reserve_concurrency, service_time=p.reserve_latency
        )
        names = [ch.name for ch in systems.channels]
        for what, listed in (
            ("ring_fence", list(p.ring_fence)),
            ("fence_only", list(p.fence_only)),
            ("priority", list(p.priority)),
        ):
            for n in listed:
                if n not in names:
                    raise ValueError(f"{what}: no channel named {n!r} (channels: {names})")
        for n in p.fence_only:
            if p.ring_fence.get(n, 0.0) <= 0:
                raise ValueError(f"fence_only: {n!r} has no ring_fence to be limited to")
        self.share = np.array([p.shares.get(n, 1.0) for n in names])
        self.fence = np.array([p.ring_fence.get(n, 0.0) for n in names])
        self.fence_only = [n in p.fence_only for n in names]
        locs = [set(systems.serve(c)) for c in range(n_ch)]
        # fenced channels, and per (fenced X, other c): X's locations c does not sell from
        self._fences = [c for c in range(n_ch) if self.fence[c] > 0]
        self._outside = {
            (x, c): sorted(locs[x] - locs[c]) for x in self._fences for c in range(n_ch)
        }
        # priority: the channels ranked above each channel (unlisted ones share the last rank)
        rank = [p.priority.index(n) if n in p.priority else len(p.priority) for n in names]
        self._above = [[h for h in range(n_ch) if rank[h] < rank[c]] for c in range(n_ch)]
        self._locs = locs
        # when each channel last asked for (checkout) or sold each SKU: contention
        self.wanted = np.full((n_ch, n_sku), -np.inf)
        self.reserves = [ch.kind in p.reserve_kinds for ch in systems.channels]
        # sales velocity (units/s, decayed) and hand-off lateness of non-reserving channels
        self.rate = np.zeros((n_ch, n_sku))
        self.rate_t = np.zeros((n_ch, n_sku))
        self.lateness = np.zeros(n_ch)
        self.rate_all = np.zeros(n_sku)
        self.rate_all_t = np.zeros(n_sku)
        self._invisible = [c for c, r in enumerate(self.reserves) if not r]
        # reservations granted at checkout, waiting for their order line to be handed off
        self.held = np.zeros(n_sku, np.int64)
        self._held_q: list[dict[int, deque[list[float]]]] = [{} for _ in range(n_ch)]
        self.granted_units = 0
        self.refused_units = 0
        self.matched_units = 0
        self.expired_units = 0
        self.fallbacks = 0
        self.repairs = 0
        self.dirty = [Dirty(env) for _ in range(n_ch)]
        self.group = systems.bus.subscribe(TOPIC, "middleware", self.handle)
        # promises owned centrally: units of inbound supply still free to pre-order, per
        # SKU, shared by every pre-order channel (the ERP's dated ATP, less what was granted)
        self.inbound_pool = np.zeros(n_sku, np.int64)
        self.incoming = IncomingSync(shape=self.shape_incoming)
        self.preordered_units = 0
        # contract allocations kept from each channel (the ERP's record, when last read)
        self.kept = np.zeros((n_ch, n_sku), np.int64)
        self.contract_dirty = Dirty(env)
        self.contract_reads = 0
        # the channel audit: per channel and SKU, the value last pushed in a push answered
        # ok (-1: never), when a pushed value last landed, and the exceptions found
        self.sent = np.full((n_ch, n_sku), -1, np.int64)
        self.landed_at = np.full((n_ch, n_sku), -np.inf)
        self.exceptions = np.zeros((n_ch, n_sku), np.int64)
        self.audits = 0

    def shape_incoming(self, c: int, atp: Atp) -> np.ndarray:
        """What a pre-order channel may show as future availability: the ERP's ``later``,
        which becomes the central pool the checkout grants pre-orders from."""
        self.inbound_pool[atp.skus] = atp.later
        return np.asarray(atp.later, np.int64)

    # -- canonical view ---------------------------------------------------------------------
    def handle(self, msg: Message) -> bool | None:
        if not self.up:
            return False  # not processed: the bus redelivers it, then dead-letters it
        sku = self.view.apply(msg.payload, self.env.now, msg.delivery)
        if sku is not None:
            self._changed(sku)
        return True

    def _changed(self, sku: int) -> None:
        """Every channel writes ``sku`` and the bundles it is part of at its next push."""
        for d in self.dirty:
            d.add(sku)
            for b in self.bundles.of.get(sku, ()):
                d.add(b)

    def _line_event(self, ev: StockEvent) -> None:
        """An accepted line from a reserving channel consumes its checkout reservation; one
        from another channel teaches the in-flight buffer."""
        if ev.kind != "accepted":
            return
        self._contend(ev.channel, ev.sku)
        self._learn_all(ev.sku, ev.qty)
        if not self.reserves[ev.channel]:
            self._learn(ev)
            return
        q = self._held_q[ev.channel].get(ev.sku)
        if q:
            qty = int(q.popleft()[0])
            self.held[ev.sku] -= qty
            self.matched_units += qty

    def _learn(self, ev: StockEvent) -> None:
        c, s, now = ev.channel, ev.sku, self.env.now
        tau = self.p.velocity_window
        self.rate[c, s] = (
            self.rate[c, s] * math.exp(-(now - self.rate_t[c, s]) / tau) + ev.qty / tau
        )
        self.rate_t[c, s] = now
        late = now - (ev.order.t if ev.order is not None else now)
        self.lateness[c] = late if self.lateness[c] == 0 else 0.9 * self.lateness[c] + 0.1 * late

    def _learn_all(self, sku: int, qty: int) -> None:
        now, tau = self.env.now, self.p.velocity_window
        decay = math.exp(-(now - self.rate_all_t[sku]) / tau)
        self.rate_all[sku] = self.rate_all[sku] * decay + qty / tau
        self.rate_all_t[sku] = now

    def _quantile(self, lam: float) -> int:
        """About the ``inflight_z`` upper quantile of a Poisson count with mean ``lam``."""
        return math.floor(lam + self.p.inflight_z * math.sqrt(lam))

    def display_buffer(self, s: int) -> int:
        """Units likely sold anywhere before a non-reserving channel's next refresh."""
        decay = math.exp(-(self.env.now - self.rate_all_t[s]) / self.p.velocity_window)
        return self._quantile(float(self.rate_all[s]) * decay * self.p.push_interval)

    def inflight(self, s: int) -> int:
        """Units likely sold where the middleware cannot see yet (non-reserving channels)."""
        now, tau = self.env.now, self.p.velocity_window
        rate_t, rate = self.rate_t.item, self.rate.item
        expected = 0.0
        for c in self._invisible:
            decay = math.exp(-(now - rate_t(c, s)) / tau)
            expected += rate(c, s) * decay * self.lateness[c]
        return self._quantile(expected)

    def allowance(self, c: int, skus: np.ndarray) -> np.ndarray:
        """What channel ``c`` may show (and reserve) of ``skus`` under the allocation rules."""
        return np.array([self.allow(c, s) for s in np.asarray(skus).tolist()], np.int64)

    def allow(self, c: int, s: int) -> int:
        """The allocation rules for one channel and SKU (see the module docstring); for a
        bundle, what its components' allowances make up."""
        comps = self.bundles.components.get(s) if self.bundles else None
        if comps:
            return min(self.allow(c, part) // units for part, units in comps)
        p = self.p
        pool = self._pool(c, s)
        allowed = pool
        if self._fences:
            allowed = max(0, pool - self._fenced_off(c, s))
            if self.fence_only[c] and self._fence_applies(pool):
                allowed = min(allowed, math.floor(pool * self.fence[c]))
        if self._above[c] and pool <= p.scarce_below:
            allowed = min(allowed, self._unwanted_above(c, s, allowed))
        share: float = self.share[c]
        return math.floor(allowed * share)

    def _free_at(self, locs: Any, s: int) -> int:
        """Free stock of the canonical view at ``locs``: on hand - hold - released, per
        location clipped at 0."""
        view = self.view
        on_hand, hold, released = view.on_hand.item, view.hold.item, view.released.item
        free = 0
        for loc in locs:
            x = on_hand(loc, s) - hold(loc, s) - released(loc, s)
            if x > 0:
                free += x
        return free

    def _pool(self, c: int, s: int) -> int:
        """What channel ``c`` could use of ``s`` before fences, priority and shares: free
        stock at its locations less pending lines, open reservations, safety stock and the
        in-flight (or display) buffer."""
        p = self.p
        free = self._free_at(self.systems.serve(c), s)
        taken = self.view.pending.item(s) + self.held.item(s) + self.kept.item(c, s)
        free = max(0, free - taken - p.safety_stock)
        if p.inflight_buffer:
            buffer = self.inflight(s) if self.reserves[c] else self.display_buffer(s)
            free = max(0, free - buffer)
        return free

    def _fence_applies(self, pool: int) -> bool:
        return self.p.fence_below <= 0 or pool <= self.p.fence_below

    def _fenced_off(self, c: int, s: int) -> int:
        """Units of ``s`` that the other channels' ring fences keep from channel ``c``: each
        fenced channel's reserve less the free stock at its locations ``c`` cannot reach."""
        taken = 0
        for x in self._fences:
            if x == c:
                continue
            pool = self._pool(x, s)
            if not self._fence_applies(pool):
                continue
            reserve = math.floor(pool * self.fence[x])
            if reserve > 0:
                taken += max(0, reserve - self._free_at(self._outside[(x, c)], s))
        return taken

    def _unwanted_above(self, c: int, s: int, allowed: int) -> int:
        """Under scarcity: what ``c`` may use of ``s`` given the channels ranked above it,
        the stock at its locations none of them that contends for ``s`` can reach (all of
        ``allowed`` when none contends)."""
        horizon = self.env.now - self.p.velocity_window
        wanted = self.wanted.item
        reach: set[int] = set()
        for h in self._above[c]:
            if wanted(h, s) >= horizon:
                reach |= self._locs[h]
        if not reach:
            return allowed
        return self._free_at([loc for loc in self.systems.serve(c) if loc not in reach], s)

    def _contend(self, c: int, s: int) -> None:
        """Channel ``c`` asked for or sold ``s`` now. When it starts to contend for ``s``
        (and priority is in use), the channels ranked below it are pushed again."""
        new = self.wanted.item(c, s) < self.env.now - self.p.velocity_window
        self.wanted[c, s] = self.env.now
        if new and self.p.priority:
            for d in self.dirty:
                d.add(s)

    # -- contract allocations ---------------------------------------------------------------
    def contract_sync(self, stats: ClientStats) -> Generator[Any, Any, None]:
        """Keep ``kept`` to the ERP's record of contract allocations: every SKU at the
        start, then the SKUs the ERP reports changed (gathered for ``push_interval``).
        An ERP that has no such request (400) leaves nothing kept."""
        env, erp, rng = self.env, self.systems.erp, self.systems.rng
        erp.subscribe_allocations(self.contract_dirty.update)
        skus: np.ndarray | None = None
        while True:
            if not self.up:
                yield env.timeout(self.p.push_interval)
                continue
            for c in range(len(self.systems.channels)):
                r = yield from call_with_retry(
                    env, partial(erp.contract_allocations, skus, c), rng, stats
                )
                if r.status == 400:
                    return
                if not r.ok:
                    if skus is not None:
                        self.contract_dirty.update(skus)  # read again next time
                    continue
                self.contract_reads += 1
                page = r.value
                moved = page.skus[self.kept[c, page.skus] != page.reserved]
                self.kept[c, page.skus] = page.reserved
                for sku in moved.tolist():
                    self.dirty[c].add(sku)
                    for b in self.bundles.of.get(sku, ()):
                        self.dirty[c].add(b)
            skus = yield from self.contract_dirty.gather(self.p.push_interval)

    # -- reservations at checkout -----------------------------------------------------------
    def checkout(self, channel: ChannelApi, skus: list[int], cart: list[int]) -> Any:
        return self.env.process(self._reserve(channel.index, skus, cart))

    def _reserve(self, c: int, skus: list[int], cart: list[int]) -> Generator[Any, Any, list[int]]:
        if not self.up:
            return self._fallback(cart)
        reply = yield self.api.call(len(skus))
        if not self.up or not reply.ok:
            return self._fallback(cart)
        granted = []
        preorders = self.systems.channels[c].takes_preorders
        for sku, want in zip(skus, cart, strict=True):
            if want:
                self._contend(c, sku)
            g = min(want, self.allow(c, sku)) if want else 0
            pre = 0
            if preorders and g < want:
                # a pre-order: from the central pool; every pre-order channel is told
                pre = min(want - g, int(self.inbound_pool[sku]))
                if pre > 0:
                    self.inbound_pool[sku] -= pre
                    self.preordered_units += pre
                    self.incoming.mark(sku)
                    if g == 0:  # its line still matches one reservation (of 0 units)
                        self._held_q[c].setdefault(sku, deque()).append([0, self.env.now])
            if g:
                # a bundle holds its components: their lines consume the reservations
                for part, units in self.bundles.components.get(sku, ((sku, 1),)):
                    self.held[part] += g * units
                    self._held_q[c].setdefault(part, deque()).append([g * units, self.env.now])
                    self._changed(part)
                self.granted_units += g
            self.refused_units += want - g - pre
            granted.append(g + pre)
        return granted

    def _fallback(self, cart: list[int]) -> list[int]:
        self.fallbacks += 1
        return list(cart) if self.p.fallback == "accept" else [0] * len(cart)

    def expire(self) -> Generator[Any, Any, None]:
        """Reservations never matched by an order line (a lost event) expire after a TTL."""
        ttl = self.p.reservation_ttl
        while True:
            yield self.env.timeout(ttl / 4)
            cutoff = self.env.now - ttl
            for queues in self._held_q:
                for sku, q in queues.items():
                    while q and q[0][1] < cutoff:
                        qty = int(q.popleft()[0])
                        self.held[sku] -= qty
                        self.expired_units += qty

    # -- governed pushes, DLQ and replay ----------------------------------------------------
    def pusher(self, c: int, stats: ClientStats, dlq: list[tuple[int, np.ndarray]]) -> Any:
        env, p = self.env, self.p
        ch = self.systems.channels[c]
        rng = self.systems.rng
        while True:
            skus = yield from self.dirty[c].gather(p.push_interval)
            if not self.up:
                self.dirty[c].update(skus)  # pushed when the middleware is back
                yield env.timeout(p.push_interval)
                continue
            for i in range(0, skus.size, ch.bulk_limit):
                page = skus[i : i + ch.bulk_limit]
                ok = yield from self._write(c, page, stats, rng)
                if not ok:
                    dlq.append((c, page))
                    self.systems.signals.count("updates_dead_lettered", c)

    def _write(self, c: int, skus: np.ndarray, stats: ClientStats, rng: np.random.Generator) -> Any:
        """One page with retries: Retry-After honoured, other failures backed off."""
        env, p = self.env, self.p
        ch = self.systems.channels[c]
        for attempt in range(p.max_retries + 1):
            values = self.allowance(c, skus)
            as_of = self.view.prov.min_as_of(self.systems.serve(c), skus, env.now)
            if self.bundles:  # a bundle is as current as its oldest component
                self.bundles.compose(skus, values, as_of, self._current(c))
            reply = yield ch.set_inventory(skus, values, as_of)
            stats.pages += 1
            if reply.ok:
                stats.skus_written += skus.size
                yield from until_applied(env, ch, reply, rng, stats)
                self._pushed(c, skus, values, reply.value)
                return True
            if reply.status == 429 and reply.retry_after is not None:
                stats.waits_for_retry_after += 1
                yield env.timeout(retry_wait(reply))
                continue
            if attempt < p.max_retries:
                stats.retries += 1
                yield env.timeout(backoff(rng, attempt, p.backoff_base, p.backoff_cap))
        stats.failed_pages += 1
        return False

    def _current(self, c: int) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        serve, prov, now = self.systems.serve(c), self.view.prov, self.env.now
        return lambda parts: (self.allowance(c, parts), prov.min_as_of(serve, parts, now))

    def replayer(self, stats: ClientStats, dlq: list[tuple[int, np.ndarray]]) -> Any:
        while True:
            yield self.env.timeout(self.p.replay_interval)
            if not self.up or not dlq:
                continue
            pending, dlq[:] = list(dlq), []
            for c, skus in pending:
                ok = yield from self._write(c, skus, stats, self.systems.rng)
                if ok:
                    stats.pushes += 1
                else:
                    dlq.append((c, skus))

    def _pushed(self, c: int, skus: np.ndarray, values: np.ndarray, value: Any) -> None:
        """A push to channel ``c`` was answered ok: its values are what the channel should
        show; the items it did not refuse one by one landed now."""
        self.sent[c, skus] = values
        landed = skus
        if isinstance(value, ItemErrors):
            landed = skus[~np.isin(skus, value.skus)]
        self.landed_at[c, landed] = self.env.now

    # -- reconciliation ---------------------------------------------------------------------
    def auditor(self, c: int, stats: ClientStats) -> Generator[Any, Any, None]:
        """Every ``audit_interval``: read channel ``c``'s inventory back and compare it with
        the pushes (see the module docstring); exceptions are reported and pushed again."""
        env = self.env
        ch = self.systems.channels[c]
        previous = 0.0
        drifting = np.zeros(self.sent.shape[1], bool)  # differed quietly at the last audit
        while True:
            yield env.timeout(self.p.audit_interval)
            if not self.up:
                continue
            started = env.now
            r = yield from call_with_retry(env, ch.read_inventory, self.systems.rng, stats)
            if not r.ok:
                continue
            page = r.value
            skus = np.asarray(page.skus, np.int64)
            shown = np.asarray(page.shown, np.int64)
            sent = self.sent[c, skus]
            quiet = (sent >= 0) & (shown != sent) & (self.landed_at[c, skus] < previous)
            if not ch.shows_what_is_written:  # a derived figure: only "more than pushed"
                quiet[:] = False
            bad = (sent >= 0) & (shown > sent) | (quiet & drifting[skus])
            drifting[:] = False
            drifting[skus[quiet]] = True
            self.audits += 1
            previous = started
            found = skus[bad]
            if found.size:
                self.exceptions[c, found] += 1
                self.systems.signals.count("reconciliation_exceptions", c, found.size)
                for sku in found.tolist():
                    self.dirty[c].add(sku)

    def reconciler(self, stats: ClientStats) -> Generator[Any, Any, None]:
        """Repair drift the events cannot explain: a difference from the ERP's on hand and
        hold that is the same at two reconciliations in a row, with no event for that
        SKU-location in between (a posting lag resolves itself; a lost event does not)."""
        env = self.env
        erp = self.systems.erp
        previous: dict[tuple[int, int], tuple[int, int]] = {}
        since = 0.0
        while True:
            yield env.timeout(self.p.reconcile_interval)
            if not self.up:
                continue
            started = env.now
            r = yield from call_with_retry(env, erp.export_availability, self.systems.rng, stats)
            if not r.ok:
                continue
            snap, view = r.value, self.view
            d_on, d_hold = snap.on_hand - view.on_hand, snap.hold - view.hold
            locs, skus = np.nonzero((d_on != 0) | (d_hold != 0))
            found: dict[tuple[int, int], tuple[int, int]] = {}
            for loc, sku in zip(locs.tolist(), skus.tolist(), strict=True):
                diff = (int(d_on[loc, sku]), int(d_hold[loc, sku]))
                if previous.get((loc, sku)) == diff and view.last_update[loc, sku] < since:
                    view.on_hand[loc, sku] = snap.on_hand[loc, sku]
                    view.hold[loc, sku] = snap.hold[loc, sku]
                    view.last_update[loc, sku] = env.now
                    self.repairs += 1
                    self.systems.signals.count("reconciliation_exceptions")
                    self._changed(sku)
                else:
                    found[(loc, sku)] = diff
            previous, since = found, started


def order_sweeper(
    env: simpy.Environment,
    systems: Systems,
    importer: OrderImporter,
    mw: Middleware,
    interval: float,
) -> Generator[Any, Any, None]:
    """SimPy process: import orders handed off but never seen as events."""
    cursors = [0] * len(systems.channels)
    stats = importer.stats
    while True:
        yield env.timeout(interval)
        if not mw.up:
            continue
        for c, ch in enumerate(systems.channels):
            while True:
                page = yield from call_with_retry(
                    env, partial(ch.fetch_orders, cursors[c]), systems.rng, stats
                )
                if not page.ok:
                    break
                missing = [o for o in page.value.orders if o.id not in importer.imported]
                for order in missing:
                    importer.imported.add(order.id)
                    env.process(importer.import_order(order))
                importer.swept += len(missing)
                cursors[c] = page.value.cursor
                if len(page.value.orders) < ch.page_size:
                    break


class OrchestratedStrategy(SyncStrategy):
    """Middleware-orchestrated sync: canonical view, central reservations, governed pushes."""

    name = "orchestrated"
    Params = OrchestratedParams

    def __init__(self, params: OrchestratedParams | None = None) -> None:
        super().__init__(params)
        self.stats = ClientStats()
        self.fulfillment = FulfillmentSync()
        self.dlq: list[tuple[int, np.ndarray]] = []

    def start(self, env: simpy.Environment, systems: Systems) -> None:
        self.publisher = Publisher(env, systems)
        self.importer = OrderImporter(env, systems, self.stats, self.params.max_retries)
        mw = self.middleware = Middleware(self, env, systems)
        for c, ch in enumerate(systems.channels):
            if mw.reserves[c]:
                ch.set_checkout(mw.checkout)
            env.process(mw.pusher(c, self.stats, self.dlq))
        env.process(mw.replayer(self.stats, self.dlq))
        env.process(mw.reconciler(self.stats))
        if self.params.channel_audit:
            for c in range(len(systems.channels)):
                env.process(mw.auditor(c, self.stats))
        env.process(mw.expire())
        env.process(
            order_sweeper(env, systems, self.importer, mw, self.params.order_sweep_interval)
        )
        systems.fault_targets["middleware"] = self.set_down
        self.fulfillment.start(env, systems, self.stats)
        mw.incoming.start(env, systems, self.stats)
        if self.params.allocations:
            env.process(mw.contract_sync(self.stats))

    def set_down(self, down: bool) -> None:
        """Middleware outage on/off (fault plans): while down, checkout falls back, nothing
        is consumed or pushed; back up, the dead letters it refused are replayed."""
        mw = self.middleware
        mw.up = not down
        self.importer.set_down(down)  # the middleware imports orders: it stops too
        if not down:
            mw.group.replay_dlq()

    def queues(self) -> list[Any]:
        mw = self.middleware
        return [queue_record(mw.group.name, self.publisher, mw.view, mw.group)]

    def metrics(self) -> dict[str, float]:
        mw = self.middleware
        return {
            "mw_reserved_units": mw.granted_units,
            "mw_refused_units": mw.refused_units,
            "mw_matched_units": mw.matched_units,
            "mw_expired_units": mw.expired_units,
            "mw_open_reservations": int(mw.held.sum()),
            "mw_fallbacks": mw.fallbacks,
            "mw_dlq_pages": len(self.dlq),
            "mw_failed_pages": self.stats.failed_pages,
            "mw_reconcile_repairs": mw.repairs,
            "mw_orders_swept": self.importer.swept,
            "mw_imports_failed": self.importer.failed,
            "mw_webhook_repeats": self.publisher.webhook_repeats,
            "mw_preordered_units": mw.preordered_units,
            "mw_allocation_reads": mw.contract_reads,
            "mw_channel_audits": mw.audits,
            "mw_channel_exceptions": int(mw.exceptions.sum()),
        }
