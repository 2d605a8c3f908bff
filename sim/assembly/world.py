"""World assembly: from a validated scenario and a seed to running mocks and recorders.

``World(scenario, seed)`` builds the calendar, the catalogue, initial stock, the ledger of
truth, the ERP, the WMS and the channels (each with its API capacity), the customers and the
recorders. ``world.systems`` is what a strategy is given. ``world.start()`` starts every
process of the world; the runner then starts the strategy and runs the clock.

Time series (``world.sampler``, see ``sim.recorder.Sampler`` and docs/metrics.md): one row
per ``scenario.sample_interval`` of simulated time, at the end of the interval it covers, no
row at t = 0. Run-wide (channel ``"*"``):

- ``divergence_mean_abs``: mean over (channel, SKU) pairs of |shown - true|, units; mean;
- ``orders_backlog`` / ``orders_backlog_max``: orders accepted by a channel and not yet in
  the ERP; mean / peak;
- ``postings_backlog``: WMS movements the ERP has not posted; mean;
- ``erp_utilization``: in-flight ERP calls / the concurrency limit (1 slot if none); mean;
- ``erp_queue`` / ``erp_queue_max``: ERP calls waiting for a slot; mean / peak;
- ``bus_backlog`` / ``bus_backlog_max``: unacknowledged (message, consumer group) pairs;
  mean / peak;
- ``record_accuracy``: fraction of (location, SKU) pairs with ERP on-hand = physical; mean;
- ``faults_active``: planned faults active, time-weighted (0.5 = one fault for half the
  interval); mean.

Per channel: ``divergence_mean_abs`` (units; mean), ``divergence_over_frac`` and
``divergence_under_frac`` (fraction of the channel's SKUs shown above / below the truth;
mean), ``divergence_over_frac_max`` and ``divergence_under_frac_max`` (the same; peak), and
``oversold_units`` (cumulative since the start, read at the end of the interval: a running
total does not alias). A peak is the largest value held for a positive time.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import httpx
import numpy as np
import simpy

from mocks.api import ApiServer, windows
from mocks.bus import Bus
from mocks.channel import Channel
from mocks.erp import Erp
from mocks.http import client_for
from mocks.partner import Partners
from mocks.platforms import platform_for
from mocks.wms import Wms
from sim.assembly.faults import FaultInjector
from sim.bridge import SimRuntime
from sim.business import load_catalogue_file, load_snapshot
from sim.calendar import Calendar
from sim.contract import BusApi, ChannelApi, ErpApi, Server, Systems, WmsApi
from sim.contracts import Contracts
from sim.demand import channel_demands, customers, scripted_customers
from sim.history import History
from sim.ledger import Ledger, Order
from sim.products import Catalogue
from sim.recorder import (
    Divergence,
    LagTracker,
    Level,
    MeanOf,
    RecordAccuracy,
    Sampler,
    TracedDivergence,
)
from sim.rng import Streams
from sim.routing import Routing
from sim.schema import Scenario
from sim.signals import RateOf, RatioOf, Signals
from sim.trace import load_trace, trace_customers
from strategies.connectors import http_systems

__all__ = ["TRANSPORTS", "OracleFeed", "Provenance", "World", "WorldSystems"]

#: how a strategy reaches the systems: their Python APIs, or their platforms' HTTP facades
#: through httpx connectors (the same calls, capacity and simulated time; a run option)
TRANSPORTS = ("direct", "http")


class OracleFeed:
    """Privileged, zero-cost hooks for the reference floors only (``oracle`` and ``perfect``).

    Real strategies must use the systems' integration APIs; this feed exists so that the
    floors every strategy is measured against can be computed inside the same world:
    ``record_available`` is the system of record (the WMS record and every accepted order)
    as it stands now, ``true_available`` is the physical truth. Both are instant and free.
    """

    def __init__(self, world: World) -> None:
        self._w = world
        self._writers = world.reference_writers

    def on_change(self, fn: Callable[[int, int], None]) -> None:
        """``fn(loc, sku)`` whenever the WMS record's availability may have changed: every
        truth change, a cycle count (the record catches up with shrink) and a return booked
        into stock at receipt (``returns.counted = "at_receipt"``: no truth change)."""
        self._w.ledger.available_listeners.append(fn)

        def record_only(mv: Any) -> None:
            if mv.kind == "count" or (mv.kind == "qc_release" and not mv.seqs):
                fn(mv.loc, mv.sku)

        self._w.wms.subscribe(record_only)

    def on_truth(self, fn: Callable[[int, int], None]) -> None:
        """``fn(loc, sku)`` on every truth change: ``free`` at (loc, sku) changed now, so
        ``true_available`` of the channels that ``loc`` serves may have changed."""
        self._w.ledger.available_listeners.append(fn)

    def on_accept(self, fn: Callable[[Order], None]) -> None:
        """``fn(order)`` the moment a channel accepts an order (before its hand-off)."""
        for ch in self._w.channels:
            ch.accept_listeners.append(fn)

    def record_available(self, channel: int, sku: int) -> tuple[int, float]:
        """Availability of ``sku`` for ``channel`` on the system of record now, and its
        ``as_of``: per location the WMS record (on hand with shrink not yet counted, quality
        hold less returns booked into stock at receipt) less every accepted order's claim
        (truth-committed), clipped at 0 and summed. ``as_of`` comes from the ``records``
        view: the record is behind the truth by the shrink no count has found yet. For a
        bundle: what its components make up, as current as the oldest of them."""
        w = self._w
        led = w.ledger
        if led.components and sku in led.components:
            parts = [(self.record_available(channel, c), k) for c, k in led.components[sku]]
            return min(v // k for (v, _), k in parts), min(a for (_, a), _ in parts)
        as_of_at = led.views["records"].as_of_at
        on, com, hold = led.on_hand.item, led.committed.item, led.hold.item
        unc, unheld = w.wms.uncounted.item, w.wms.unheld.item
        now = w.env.now
        total, as_of = 0, now
        for loc in led.serve[channel]:
            f = on(loc, sku) + unc(loc, sku) - com(loc, sku) - hold(loc, sku) + unheld(loc, sku)
            if f > 0:
                total += f
            a = as_of_at(loc, sku, now)
            if a < as_of:
                as_of = a
        return total, as_of

    def true_available(self, channel: int, sku: int) -> int:
        """``true_available(channel, sku)`` of the ledger of truth now (DESIGN §3): physical
        stock less claims and quality hold, per location clipped at 0, summed. Current to
        now by definition."""
        return self._w.ledger.true_available(channel, sku)

    def write(self, channel: int, sku: int, value: int, as_of: float) -> None:
        """Set what ``channel`` shows of ``sku`` now, current to truth time ``as_of``."""
        self._writers[channel](sku, value, as_of)

    def import_order(self, order: Order) -> None:
        """Take ``order`` into the ERP now, at no cost (no API call, no capacity)."""
        self._w.erp.privileged.add(order.id)
        self._w.erp.intake(order)

    def on_inbound(self, fn: Callable[[int], None]) -> None:
        """``fn(sku)`` whenever inbound supply of ``sku`` changes in the ERP (a purchase order
        placed, re-dated or received; a transfer dispatched or arrived)."""
        self._w.erp.inbound_listeners.append(fn)

    def incoming(self, channel: int, sku: int) -> tuple[int, float]:
        """Future availability of ``sku`` for a pre-order ``channel`` now: units on purchase
        orders and transfers to its locations due (by the ERP's ETA) within its promise
        horizon, less the pre-orders already waiting for supply there, and the latest ETA."""
        w = self._w
        led = w.ledger
        spec = w.scenario.channels[channel]
        locs = set(led.serve[channel])
        horizon = w.env.now + spec.promise_horizon
        due = [p for p in w.erp.inbound.get(sku, ()) if p.loc in locs and p.eta <= horizon]
        if not due:
            return 0, 0.0
        waiting = sum(led.inbound.item(loc, sku) - led.inbound_free(loc, sku) for loc in locs)
        return max(0, sum(p.qty for p in due) - waiting), max(p.eta for p in due)

    def write_incoming(self, channel: int, sku: int, value: int, at: float) -> None:
        """Set the future availability ``channel`` shows of ``sku`` now (instant, free)."""
        self._w.channels[channel].reference_incoming(sku, value, at)


class Provenance:
    """What a strategy may do with provenance: open a view of its own (see
    ``sim.provenance``); the view's ``as_of`` then says how current its store is."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def add_view(self, name: str) -> Any:
        return self._ledger.add_view(name)


@dataclass
class WorldSystems:
    """The handles a strategy is given (``sim.contract.Systems``): integration APIs of every
    system, and its own RNG. ``oracle`` is set for the floors only (``World.strategy_systems``)."""

    env: simpy.Environment
    erp: ErpApi
    wms: WmsApi
    channels: Sequence[ChannelApi]
    catalogue: Catalogue
    locations: list[str]
    rng: np.random.Generator
    provenance: Provenance
    bus: BusApi
    oracle: OracleFeed | None = None
    probes: dict[str, Callable[[], float]] = field(default_factory=dict)
    signals: Signals = field(default_factory=lambda: Signals([]))
    """Operational signals the strategy reports (``sim.signals``)."""
    fault_targets: dict[str, Callable[[bool], None]] = field(default_factory=dict)
    """Components of the strategy's own a fault plan may take down: ``middleware``, or
    ``consumer:<group>`` to replace the bus's own crash of that group (a consumer group
    needs nothing registered to be crashed); ``fn(True)`` takes it down, ``fn(False)``
    brings it back."""

    _serve: list[list[int]] = field(default_factory=list, repr=False)
    _runtime: Any = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def runtime(self) -> SimRuntime:
        """Runs blocking (httpx) connector code in simulated time (``sim.bridge``)."""
        if self._runtime is None:
            self._runtime = SimRuntime(self.env)
        return self._runtime

    def http(self, system: str | int) -> httpx.Client:
        """An ``httpx.Client`` served by a system's HTTP facade in its platform's shape
        (``mocks.http``): ``"erp"``, a channel's index or a channel's name. Requests made
        from a task of ``runtime`` take simulated time."""
        target: Any
        if system == "erp":
            target, key = self.erp, "erp"
        else:
            target = self.channels[system] if isinstance(system, int) else self.channel(system)
            key = f"channel/{target.name}"
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = client_for(target, self.runtime)
        return client

    def channel(self, name: str) -> ChannelApi:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(name)

    def serve(self, channel: int) -> list[int]:
        """Locations serving ``channel``, in priority order."""
        return list(self._serve[channel])

    def server(self, name: str, *, concurrency: int | None, service_time: Any = None) -> Server:
        """A server of the strategy's own (a middleware's reservation API): ``concurrency``
        slots (``None``: unlimited), calls queue for a free slot, each served for
        ``service_time`` (a ``Duration``)."""
        return ApiServer(
            self.env, name, self.rng, concurrency=concurrency, overflow="queue",
            service_time=service_time,
        )  # fmt: skip


def _part(div: Divergence, c: int, k: int) -> float:
    """Part ``k`` (0 abs, 1 over, 2 under) of channel ``c``'s divergence integrals."""
    return div.integral(c)[k]


def _expected_daily_units(sc: Scenario, popularity: Sequence[np.ndarray]) -> np.ndarray:
    """Planned demand per (location, SKU) per day: each channel's to its first location
    (``popularity[c]``: channel c's SKU weights)."""
    n_loc = len(sc.locations)
    out = np.zeros((n_loc, popularity[0].size))
    for ch, weights in zip(sc.channels, popularity, strict=True):
        units = ch.orders_per_hour * 24 * ch.mean_lines * ch.mean_units
        out[sc.location_index(ch.locations[0])] += units * weights
    return out


class World:
    """Everything in one simulated run except the strategy."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        trace_divergence: bool | None = None,
        *,
        strict_writes: bool = False,
        keep_history: bool = True,
        env: simpy.Environment | None = None,
    ) -> None:
        """``env``: the environment to run in (default a new ``simpy.Environment``; ``syncsim
        serve`` passes a real-time one). ``trace_divergence``: keep the run-wide divergence
        step function (for ``time_to_recovery_s``); by default only when the scenario has
        fault windows.
        ``strict_writes``: channels refuse writes outside their API (a run; tests and tools
        may write directly). ``keep_history``: keep every operation of the history (for
        ``history.parquet``), or only count them (what the checks need)."""
        sc = scenario
        self.scenario = sc
        self.seed = seed
        self.env = simpy.Environment() if env is None else env
        self.streams = Streams(seed)
        st = self.streams.stream
        self.calendar = Calendar(
            sc.scenario.start, sc.demand.daily_profile, sc.demand.weekly_profile, sc.demand.peaks
        )
        self.catalogue = Catalogue(sc.catalogue, st("catalogue"), load_catalogue_file(sc))
        popularity = [self.catalogue.popularity_of(ch.name) for ch in sc.channels]
        self.demands = channel_demands(sc, self.calendar, popularity)
        daily = _expected_daily_units(sc, popularity)
        bundles = self.catalogue.bundles
        for b, comps in bundles.items():  # a bundle's demand is its components' demand
            for c, k in comps:
                daily[:, c] += daily[:, b] * k
            daily[:, b] = 0.0
        stock = sc.stock
        snapshot = load_snapshot(sc)
        if snapshot is not None:
            initial = snapshot
        elif stock.fixed_units is not None:
            initial = np.full(daily.shape, stock.fixed_units, np.int64)
        else:
            cover = st("stock").uniform(stock.cover_days_low, stock.cover_days_high, daily.shape)
            initial = np.maximum(np.ceil(daily * cover), stock.min_units).astype(np.int64)
        if stock.launch_skus or bundles:  # a launch or a bundle: no stock of its own
            initial = initial.copy()
            initial[:, [*stock.launch_skus, *bundles]] = 0
        rep = sc.erp.replenishment
        rop = np.ceil(daily * rep.reorder_cover_days).astype(np.int64)
        out = np.maximum(np.ceil(daily * rep.order_up_to_days), rop + 1).astype(np.int64)
        if not rep.enabled:
            out[:] = 0
        if stock.launch_skus:  # a launch is supplied by its own purchase orders only
            out[:, stock.launch_skus] = 0
        if bundles:  # never ordered: its components are
            rop[:, list(bundles)] = 0
            out[:, list(bundles)] = 0
        dropship = [i for i, loc in enumerate(sc.locations) if loc.kind == "dropship"]
        if dropship:  # a drop-ship vendor's stock is its own: the company orders none
            rop[dropship] = 0
            out[dropship] = 0
        serve = [[sc.location_index(n) for n in ch.locations] for ch in sc.channels]
        self.ledger = Ledger(self.env, initial, serve)
        self.ledger.set_bundles(bundles)
        env = self.env
        api = sc.erp.api
        self.history = History(env, keep=keep_history)
        self.erp_api = ApiServer(
            env,
            "erp",
            st("erp/api"),
            fault_rng=st("faults/erp"),
            history=self.history,
            per_item=api.per_item,
            reject_latency=api.reject_latency,
            maintenance=windows(api.maintenance),
            **platform_for(sc.erp).api_args(sc.erp.effective().api),
        )
        self.wms_api = ApiServer(
            env, "wms", st("wms/api"), service_time=api.service_time,
            fault_rng=st("faults/wms"), history=self.history,
        )  # fmt: skip
        self.wms = Wms(
            env,
            self.ledger,
            sc.locations,
            lambda mv: self.erp.receive_movement(mv),  # the ERP's posting queue (built next)
            self.wms_api,
            st("wms"),
            sc.returns,
            sc.shrink,
            [sc.returns.rate_of(ch) for ch in sc.channels],
        )
        self.routing = Routing(sc)
        self.erp = Erp(env, sc.erp, self.ledger, self.erp_api, st("erp"), rop, out, self.wms)
        self.erp.plan(sc.channels, self.routing, st("erp/slips"))
        #: B2B customer accounts and contract allocations (None when the scenario has none)
        self.contracts = (
            Contracts(sc, self.ledger) if any(c.customers for c in sc.channels) else None
        )
        self.erp.contracts = self.contracts
        #: the 3PLs and drop-ship vendors (``mocks.partner``); None when there is none
        self.partners: Partners | None = None
        if any(loc.is_partner for loc in sc.locations):
            self.partners = Partners(env, self.ledger, self.erp, self.wms, sc.locations, st)
        truth = self.ledger.true_available_all()
        self.channels: list[Channel] = []
        for c, spec in enumerate(sc.channels):
            platform = platform_for(spec)  # its preset's semantics, on the resolved values
            capi = ApiServer(
                env,
                f"channel/{spec.name}",
                st(f"api/{spec.name}"),
                fault_rng=st(f"faults/{spec.name}"),
                history=self.history,
                **platform.api_args(spec.effective().api),
            )
            ch = platform.make_channel(
                env, c, spec, self.ledger, capi, st(f"channel/{spec.name}"), truth[c],
                strict_writes=strict_writes,
            )  # fmt: skip
            if self.routing.active:
                ch.set_routing(self.routing, st(f"regions/{spec.name}"))
            if self.contracts is not None:
                ch.set_contracts(self.contracts, st(f"customers/{spec.name}"))
            self.channels.append(ch)
        #: the floors' instant writers, one per channel (``OracleFeed.write``)
        self.reference_writers = [ch.take_reference_writer() for ch in self.channels]
        for ch in self.channels:
            ch.prices = self.catalogue.prices
        if trace_divergence is None:
            trace_divergence = bool(sc.faults) or bool(sc.erp.api.maintenance)
        div_class = TracedDivergence if trace_divergence else Divergence
        self.divergence = div_class(
            env,
            self.ledger,
            [ch.count for ch in self.channels],
            sc.observability.divergence_threshold,
        )
        #: operational signals (``sim.signals``): calls and failed updates from the history
        self.signals = Signals([ch.name for ch in self.channels])
        self.history.listener = self.signals.on_call
        self.lag = LagTracker(env, len(self.channels), self.ledger.n_sku)
        self.divergence.listeners.append(self.lag.on_change)
        for ch in self.channels:
            ch.shown_listeners.append(self.divergence.on_shown)
            ch.write_listeners.append(self.lag.on_write)
            # items a write refused one by one (an unmapped SKU) are failed updates
            ch.refused_listeners.append(partial(self.signals.count, "updates_refused"))
        self.wms.books = self.erp.books  # a cycle count corrects the ERP's book errors too
        self.bus = Bus(env, sc.bus, st("bus"))
        self.bus.history = self.history
        self.accuracy = RecordAccuracy(env, self.ledger.on_hand, self.erp.on_hand)
        self.ledger.on_hand_listeners.append(self.accuracy.update)
        self.erp.on_hand_listeners.append(self.accuracy.update)
        self.systems = WorldSystems(
            env,
            self.erp,
            self.wms,
            self.channels,
            self.catalogue,
            [loc.name for loc in sc.locations],
            st("strategy"),
            Provenance(self.ledger),
            self.bus,
            signals=self.signals,
            _serve=self.erp.serve,
        )
        self.faults = FaultInjector(self)
        self.sampler = self._sampler()

    def _sampler(self) -> Sampler:
        """The time series of the module docstring: every probe returns the mean (or the
        peak) over the interval since the sampler's previous row."""
        env, erp_api, div = self.env, self.erp_api, self.divergence
        n_sku = self.ledger.n_sku
        orders = self.orders_backlog = Level(env)
        for ch in self.channels:
            ch.accept_listeners.append(lambda _order: orders.add(1))
        self.erp.import_listeners.append(lambda _order: orders.add(-1))

        def busy_area() -> float:
            erp_api.account()
            return erp_api.stats.busy_area

        def bus_level() -> Level:
            self.bus.expire_all()  # retention is lazy: apply it before reading
            return self.bus.backlog

        def abs_total() -> float:
            return sum(i_abs for i_abs, _, _ in div.integrals())

        faults = [(f.start, f.end) for f in self.scenario.faults]
        sampler_last = [0.0]

        def faults_active() -> float:
            a, b = sampler_last[0], float(env.now)
            sampler_last[0] = b
            return sum(max(0.0, min(e, b) - max(s, a)) for s, e in faults) / (b - a)

        probes: dict[str, Callable[[], float]] = {
            "orders_backlog": MeanOf(env, orders.integral),
            "orders_backlog_max": orders.take_peak,
            "postings_backlog": MeanOf(env, self.erp.unposted_area),
            "erp_utilization": MeanOf(env, busy_area, float(erp_api.concurrency or 1)),
            "erp_queue": MeanOf(env, erp_api.queue.integral),
            "erp_queue_max": erp_api.queue.take_peak,
            "record_accuracy": MeanOf(env, self.accuracy.integral_now),
            "divergence_mean_abs": MeanOf(env, abs_total, float(div.d.size)),
            "bus_backlog": MeanOf(env, lambda: bus_level().integral()),
            "bus_backlog_max": lambda: bus_level().take_peak(),
            "faults_active": faults_active,
        }
        n_ch = len(self.channels)
        means = [[MeanOf(env, partial(_part, div, c, k), float(n_sku)) for k in range(3)]
                 for c in range(n_ch)]  # fmt: skip
        peaks: list[tuple[int, int]] = [(0, 0)] * n_ch

        def over_max(c: int) -> float:
            peaks[c] = div.take_peaks(c)  # read once per sample, for both peaks
            return peaks[c][0] / n_sku

        ledger = self.ledger
        channel_probes: dict[str, Callable[[int], float]] = {
            "divergence_mean_abs": lambda c: means[c][0](),
            "divergence_over_frac": lambda c: means[c][1](),
            "divergence_under_frac": lambda c: means[c][2](),
            "divergence_over_frac_max": over_max,
            "divergence_under_frac_max": lambda c: peaks[c][1] / n_sku,
            "oversold_units": lambda c: ledger.oversold_units[c],
        }
        self._signal_probes(probes, channel_probes)
        return Sampler(
            env,
            self.scenario.scenario.sample_interval,
            [ch.name for ch in self.channels],
            probes,
            channel_probes,
        )

    def _signal_probes(
        self,
        probes: dict[str, Callable[[], float]],
        channel_probes: dict[str, Callable[[int], float]],
    ) -> None:
        """The operational signals' series (``sim.signals``, docs/observability.md)."""
        env, sig, bus, div, lag = self.env, self.signals, self.bus, self.divergence, self.lag
        n_ch, n_sku = len(self.channels), self.ledger.n_sku
        totals = sig.totals
        erp, ledger, orders = self.erp, self.ledger, self.orders_backlog

        def per_channel(make: Callable[[int], Callable[[], float]]) -> Callable[[int], float]:
            made = [make(c) for c in range(n_ch)]
            return lambda c: made[c]()

        def total(name: str, slot: int) -> Callable[[], float]:
            return lambda: float(totals[name][slot])

        def dead() -> float:
            return float(totals["updates_dead_lettered"][-1]) + bus.dead_lettered

        def failed(slot: int) -> Callable[[], float]:
            if slot < 0:
                return lambda: sig.failed(-1) + bus.dead_lettered
            return lambda: sig.failed(slot)

        read = [0] * (n_ch + 1)  # lag samples already read, per channel (+ pooled: last)
        pooled = [0] * n_ch

        def lag_p95(c: int) -> float:
            lags = lag.lag[c]
            new, read[c] = lags[read[c] :], len(lags)
            return float(np.percentile(new, 95)) if new else float("nan")

        def lag_p95_all() -> float:
            new: list[float] = []
            for c in range(n_ch):
                new += lag.lag[c][pooled[c] :]
                pooled[c] = len(lag.lag[c])
            return float(np.percentile(new, 95)) if new else float("nan")

        def backlog() -> float:
            return float(orders.value + erp.unposted + bus.backlog.value)

        def breach_area() -> float:
            return sum(div.breach_integral(c) for c in range(n_ch))

        probes.update(
            {
                "failed_updates_per_min": RateOf(env, failed(-1)),
                "updates_refused_per_min": RateOf(env, total("updates_refused", -1)),
                "updates_throttled_per_min": RateOf(env, total("updates_throttled", -1)),
                "updates_timed_out_per_min": RateOf(env, total("updates_timed_out", -1)),
                "updates_dead_lettered_per_min": RateOf(env, dead),
                "api_error_rate": RatioOf(total("api_errors", -1), total("api_calls", -1)),
                "erp_error_rate": RatioOf(lambda: sig.erp_errors, lambda: sig.erp_calls),
                "reconciliation_exceptions_per_min": RateOf(
                    env, total("reconciliation_exceptions", -1)
                ),
                "event_throughput_per_min": RateOf(env, lambda: float(bus.deliveries)),
                "backlog_growth_per_min": RateOf(env, backlog),
                "divergence_breach_frac": MeanOf(env, breach_area, float(n_sku * n_ch)),
                "lag_p95_s": lag_p95_all,
                "oversold_lines": lambda: float(sum(ledger.oversold_lines)),
            }
        )
        channel_probes.update(
            {
                "failed_updates_per_min": per_channel(lambda c: RateOf(env, failed(c))),
                "api_error_rate": per_channel(
                    lambda c: RatioOf(total("api_errors", c), total("api_calls", c))
                ),
                "reconciliation_exceptions_per_min": per_channel(
                    lambda c: RateOf(env, total("reconciliation_exceptions", c))
                ),
                "divergence_breach_frac": per_channel(
                    lambda c: MeanOf(env, partial(div.breach_integral, c), float(n_sku))
                ),
                "lag_p95_s": lag_p95,
                "oversold_lines": lambda c: float(ledger.oversold_lines[c]),
            }
        )

    def strategy_systems(self, transport: str = "direct", floor: bool = False) -> Systems:
        """What the strategy is given: ``systems`` itself (``direct``: the systems' Python
        APIs), or a copy whose channels and ERP are httpx connectors speaking each
        platform's HTTP API to its facade (``http``; ``strategies.connectors``). Every call
        then costs the same capacity and simulated time, so the run is the same. A floor
        (``floor``) also gets the privileged truth feed (``oracle``)."""
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be {' or '.join(TRANSPORTS)}, not {transport!r}")
        systems = self.systems if transport == "direct" else http_systems(self.systems)
        if floor:
            systems = replace(systems, oracle=OracleFeed(self))
        return systems

    def domain_events(self) -> int:
        """State changes applied to system records: the unit of ``events_per_second``.

        Order lines placed, truth changes, physical movements, ERP postings, SKU values
        written to channels, and integration calls.
        """
        led = self.ledger
        calls = self.erp_api.stats.calls + self.wms_api.stats.calls
        calls += sum(ch.api.stats.calls for ch in self.channels)
        return (
            sum(ch.demand.lines_demanded for ch in self.channels)
            + len(led.chg_t)
            + len(led.mv_t)
            + self.erp.posted
            + sum(ch.skus_written for ch in self.channels)
            + calls
        )

    def start(self) -> None:
        """Start the world's own processes (customers, suppliers, warehouse, sampler)."""
        sc = self.scenario
        env = self.env
        st = self.streams.stream
        dur = sc.duration
        if sc.demand.source == "trace" and sc.demand.trace is not None:
            env.process(
                trace_customers(
                    env, self.channels, load_trace(sc), sc.demand.trace, st("demand/trace"), dur
                )
            )
        elif sc.demand.enabled:
            for ch, demand in zip(self.channels, self.demands, strict=True):
                env.process(customers(env, ch, demand, st(f"demand/{ch.name}"), dur))
        if sc.demand.scripted:
            env.process(scripted_customers(env, self.channels, sc.demand.scripted))
        if sc.erp.posting.mode == "batch":
            env.process(self.erp.run_batch_posting())
        if sc.erp.replenishment.enabled:
            env.process(self.erp.run_replenishment())
        for po in sc.erp.purchase_orders:
            self.erp.schedule_purchase_order(po, sc.location_index(po.location))
        if sc.transfers.enabled:
            env.process(self._transfers())
        if self.contracts is not None:
            for k in range(len(self.contracts.accounts)):
                env.process(self.contracts.run(env, k))
        if sc.shrink.enabled:
            env.process(self.wms.run_shrink())
            env.process(self.wms.run_counts())
        if self.partners is not None:
            self.partners.start()
        for name, probe in self.systems.probes.items():
            self.sampler.global_probes.setdefault(name, probe)
        self.faults.start()
        env.process(self.sampler.run())

    def _transfers(self) -> Generator[Any, Any, None]:
        spec = self.scenario.transfers
        rng = self.streams.stream("transfers")
        while True:
            yield self.env.timeout(spec.interval)
            for src, dst, sku, qty in self.erp.plan_transfers():
                if self.partners is not None and (
                    self.partners.takes(src) or self.partners.takes(dst)
                ):
                    continue  # the company moves no stock to or from its partners
                self.wms.transfer(src, dst, sku, qty, float(spec.lead_time.sample(rng)))
