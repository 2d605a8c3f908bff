"""Metrics of a run, computed against the ledger of truth (DESIGN §8; keys are contracts).

Lag, by provenance: every change of ``true_available(c, s)`` at time t0 is one lag sample
``t1 - t0`` for channel c, where t1 is the time of the first write to c for s whose ``as_of``
is >= t0 (the first time c shows a value computed from information that includes the
change). A truth change that leaves what c should show as it was (a claim ended at a
location in deficit, stock moving between locations that c both sells from) is no change
for c and has no sample. Changes never reflected by the end count as
``unpropagated_changes`` and are left out of the percentiles. Lag samples, divergence and
record accuracy are all kept exactly, as the run goes, by ``sim.recorder``.

``partner_feed_age_p95_s``: the time-weighted 95th percentile of the age of the partner
stock the ERP holds (now minus the snapshot time of the last inventory file it applied),
over the run and the partner locations (per channel: those serving it); ``mocks.partner``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "ALLOCATION_KEYS",
    "BUNDLE_KEYS",
    "CORE_KEYS",
    "PARTNER_KEY",
    "PER_CHANNEL_KEYS",
    "PROMISE_KEYS",
    "SIGNAL_KEYS",
    "WALL_CLOCK_KEYS",
    "compute_metrics",
    "domain",
]

#: the metrics measured on the wall clock: they differ from one run of a seed to the next
#: (machine, load), so no comparison of runs and no baseline counts them
WALL_CLOCK_KEYS = ("wall_seconds", "events_per_second")

#: promises, backorders and routing (docs/metrics.md): run-wide and per channel
PROMISE_KEYS = (
    "promised_lines",
    "promise_met_rate",
    "promise_slip_p95_s",
    "backorder_lines",
    "split_shipment_rate",
    "delivery_time_p50_s",
    "delivery_time_p95_s",
)

#: bundles and kits (docs/metrics.md): run-wide and per channel
BUNDLE_KEYS = ("bundle_lines", "bundle_oversold_lines")

#: B2B contract allocations (docs/metrics.md, sim.contracts): run-wide and per channel
ALLOCATION_KEYS = ("allocation_breaches", "allocation_breach_units")

#: operational signals (docs/observability.md, sim.signals): run-wide and per channel
SIGNAL_KEYS = (
    "failed_updates",
    "updates_refused",
    "updates_throttled",
    "updates_timed_out",
    "updates_dead_lettered",
    "api_error_rate",
    "reconciliation_exceptions",
    "divergence_breach_frac",
)

#: the sales, lag and divergence metrics: run-wide and per channel
_SALES_KEYS = (
    "orders_accepted",
    "lines_accepted",
    "units_accepted",
    "oversold_units",
    "oversold_lines",
    "oversell_rate",
    "cancelled_lines",
    "lost_sale_units",
    "lag_p50_s",
    "lag_p95_s",
    "lag_p99_s",
    "lag_max_s",
    "unpropagated_changes",
    "divergence_mean_abs",
    "divergence_over_frac",
    "divergence_under_frac",
    *PROMISE_KEYS,
    *BUNDLE_KEYS,
    *ALLOCATION_KEYS,
    *SIGNAL_KEYS,
)

CORE_KEYS = (
    *_SALES_KEYS,
    "record_accuracy",
    "erp_calls",
    "erp_rejected_calls",
    "erp_unavailable_calls",
    "erp_peak_calls_per_min",
    "erp_utilization",
    "erp_latency_p95_s",
    "channel_calls",
    "channel_throttled_calls",
    "events_published",
    "events_delivered",
    "events_duplicated",
    "events_lost",
    "dlq_size",
    "max_backlog",
    "time_to_recovery_s",
    "recovered",
    *WALL_CLOCK_KEYS,
)

#: partner locations (docs/partners.md): run-wide, and per channel that a partner serves;
#: absent from runs (and channels) without partner locations
PARTNER_KEY = "partner_feed_age_p95_s"

PER_CHANNEL_KEYS = (*_SALES_KEYS, "channel_calls", "channel_throttled_calls")

_UNIT_INTERVAL = ("_rate", "_frac", "accuracy")


def domain(metric: str) -> tuple[float, float]:
    """The values ``metric`` can take: [0, 1] for rates, fractions and accuracies, [0, inf)
    for every other metric syncsim reports (counts, seconds, money, utilizations). An
    interval on a mean is clipped to it (the true mean lies in it)."""
    if metric.endswith(_UNIT_INTERVAL):
        return 0.0, 1.0
    return 0.0, float("inf")


def _lag_stats(lags: np.ndarray) -> dict[str, float]:
    if lags.size == 0:
        return {"lag_p50_s": 0.0, "lag_p95_s": 0.0, "lag_p99_s": 0.0, "lag_max_s": 0.0}
    p50, p95, p99 = np.percentile(lags, [50, 95, 99])
    return {
        "lag_p50_s": float(p50),
        "lag_p95_s": float(p95),
        "lag_p99_s": float(p99),
        "lag_max_s": float(lags.max()),
    }


def _order_stats(lines: list[Any], orders: list[Any]) -> dict[str, float]:
    n = len(lines)
    oversold = [ln.oversold for ln in lines]
    lines_oversold = sum(1 for x in oversold if x > 0)
    return {
        "orders_accepted": len(orders),
        "lines_accepted": n,
        "units_accepted": sum(ln.qty for ln in lines),
        "oversold_units": sum(oversold),
        "oversold_lines": lines_oversold,
        "oversell_rate": lines_oversold / n if n else 0.0,
        "cancelled_lines": sum(1 for ln in lines if ln.cancelled > 0),
    }


def _promise_stats(
    lines: list[Any], orders: list[Any], transit: np.ndarray | None, end: float
) -> dict[str, float]:
    """Promises kept, backorders, split shipments and delivery times of ``lines``.

    A promised line is *decided* once it is fully shipped, cancelled in part, or its
    promised date has passed by the end of the run; it is *met* if it shipped in full by
    its promised date. The slip of a late line is how late it shipped; a line still open
    past its date counts as ``end - promised`` late (at least that); cancelled lines have
    no slip. ``promise_slip_p95_s`` is over the late lines (0 if none was late).
    Delivery time: acceptance to the last unit's ship time plus the transit from the
    slowest location it shipped from to the order's region."""
    promised = decided = met = 0
    slips: list[float] = []
    delivery: list[float] = []
    for ln in lines:
        full = ln.shipped == ln.qty
        if full:
            extra = 0.0
            if transit is not None and ln.order.region >= 0:
                mask, loc = ln.ship_mask, 0
                while mask:
                    if mask & 1:
                        extra = max(extra, float(transit[loc, ln.order.region]))
                    mask >>= 1
                    loc += 1
            delivery.append(ln.shipped_at + extra - ln.t)
        if ln.promised < 0:
            continue
        promised += 1
        if full:
            decided += 1
            late = ln.shipped_at - ln.promised
            if late <= 0:
                met += 1
            else:
                slips.append(late)
        elif ln.cancelled > 0:
            decided += 1
        elif ln.promised < end:
            decided += 1
            slips.append(end - ln.promised)
    shipped_orders = split = 0
    for o in orders:
        mask = 0
        for ln in o.lines:
            mask |= ln.ship_mask
        if mask:
            shipped_orders += 1
            split += mask & (mask - 1) != 0  # more than one location
    d50, d95 = np.percentile(delivery, [50, 95]) if delivery else (0.0, 0.0)
    return {
        "promised_lines": promised,
        "promise_met_rate": met / decided if decided else 1.0,
        "promise_slip_p95_s": float(np.percentile(slips, 95)) if slips else 0.0,
        "backorder_lines": sum(1 for ln in lines if ln.backordered),
        "split_shipment_rate": split / shipped_orders if shipped_orders else 0.0,
        "delivery_time_p50_s": float(d50),
        "delivery_time_p95_s": float(d95),
    }


def compute_metrics(
    world: Any, wall_seconds: float, bus_stats: dict[str, float] | None = None
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(metrics, per_channel) for a finished run."""
    led = world.ledger
    T = float(world.env.now)
    n_sku = led.n_sku
    chans = world.channels
    integrals = world.divergence.integrals()
    routing = getattr(world, "routing", None)
    transit = routing.transit if routing is not None and routing.active else None
    per_channel: dict[str, dict[str, float]] = {}
    signals = getattr(world, "signals", None)
    all_lags = []
    unprop = 0
    for c, ch in enumerate(chans):
        lines = [ln for ln in led.lines if ln.channel == c]
        orders = [o for o in led.orders if o.channel == c]
        m: dict[str, float] = _order_stats(lines, orders)
        m.update(_promise_stats(lines, orders, transit, T))
        m["lost_sale_units"] = ch.demand.lost_sale_units
        m["lost_sale_value"] = round(ch.demand.lost_sale_value, 2)
        m["bundle_lines"] = ch.demand.bundle_lines
        m["bundle_oversold_lines"] = ch.demand.bundle_oversold_lines
        contracts = getattr(world, "contracts", None)
        m["allocation_breaches"] = contracts.breaches[c] if contracts is not None else 0
        m["allocation_breach_units"] = contracts.breach_units[c] if contracts is not None else 0
        _, lags, waiting = world.lag.samples(c)
        all_lags.append(lags)
        unprop += waiting
        m.update(_lag_stats(lags))
        m["unpropagated_changes"] = waiting
        i_abs, i_over, i_under = integrals[c]
        denom = T * n_sku if T > 0 else 1.0
        m["divergence_mean_abs"] = i_abs / denom
        m["divergence_over_frac"] = i_over / denom
        m["divergence_under_frac"] = i_under / denom
        m["channel_calls"] = ch.api.stats.calls
        m["channel_throttled_calls"] = ch.api.stats.throttled
        if signals is not None:
            m.update(signals.metrics(c))
            m["divergence_breach_frac"] = world.divergence.breach_integral(c) / denom
        per_channel[ch.name] = m

    metrics: dict[str, float] = _order_stats(led.lines, led.orders)
    metrics.update(_promise_stats(led.lines, led.orders, transit, T))
    metrics["lost_sale_units"] = sum(ch.demand.lost_sale_units for ch in chans)
    metrics["lost_sale_value"] = round(sum(ch.demand.lost_sale_value for ch in chans), 2)
    for k in (*BUNDLE_KEYS, *ALLOCATION_KEYS):
        metrics[k] = sum(m[k] for m in per_channel.values())
    metrics.update(_lag_stats(np.concatenate(all_lags) if all_lags else np.zeros(0)))
    metrics["unpropagated_changes"] = unprop
    denom = T * n_sku * len(chans) if T > 0 else 1.0
    metrics["divergence_mean_abs"] = sum(i[0] for i in integrals) / denom
    metrics["divergence_over_frac"] = sum(i[1] for i in integrals) / denom
    metrics["divergence_under_frac"] = sum(i[2] for i in integrals) / denom
    if signals is not None:
        metrics.update(signals.metrics(-1))
        dead = float(getattr(world.bus, "dead_lettered", 0))  # the bus's dead letters too
        metrics["updates_dead_lettered"] += dead
        metrics["failed_updates"] += dead
        breach = sum(world.divergence.breach_integral(c) for c in range(len(chans)))
        metrics["divergence_breach_frac"] = breach / denom
    metrics["record_accuracy"] = world.accuracy.time_weighted()
    api = world.erp_api
    metrics["erp_calls"] = api.stats.calls
    # capacity refusals (concurrency, 429) and "the ERP is down" (maintenance, outage) apart;
    # the 5xx of an error burst are in neither (``erp_error_calls``)
    metrics["erp_rejected_calls"] = api.stats.rejected
    metrics["erp_unavailable_calls"] = api.stats.unavailable
    metrics["erp_error_calls"] = api.stats.errors
    metrics["erp_peak_calls_per_min"] = api.peak_calls_per_minute()
    metrics["erp_utilization"] = api.utilization(T)
    metrics["erp_latency_p95_s"] = api.latency_p95()
    metrics["channel_calls"] = sum(ch.api.stats.calls for ch in chans)
    metrics["channel_throttled_calls"] = sum(ch.api.stats.throttled for ch in chans)
    bus = bus_stats or {}
    for k in ("events_published", "events_delivered", "events_duplicated", "events_lost"):
        metrics[k] = bus.get(k, 0)
    metrics["dlq_size"] = bus.get("dlq_size", 0)
    metrics["max_backlog"] = bus.get("max_backlog", 0)
    metrics["time_to_recovery_s"] = 0.0  # set by the runner (sim.liveness)
    metrics["recovered"] = 1.0
    metrics["wall_seconds"] = wall_seconds
    events = world.domain_events()
    metrics["events_per_second"] = events / wall_seconds if wall_seconds > 0 else 0.0
    metrics["domain_events"] = events
    metrics["units_demanded"] = sum(ch.demand.units_demanded for ch in chans)
    metrics["cancelled_units"] = sum(ln.cancelled for ln in led.lines)
    metrics["shipped_units"] = sum(ln.shipped for ln in led.lines)
    prices = world.catalogue.prices
    metrics["oversold_value"] = round(
        sum(ln.oversold * float(prices[ln.sku]) for ln in led.lines), 2
    )
    metrics["accepted_value"] = round(sum(ln.qty * float(prices[ln.sku]) for ln in led.lines), 2)
    partners = getattr(world, "partners", None)
    if partners is not None:  # only where partner locations are: absent elsewhere
        metrics[PARTNER_KEY] = partners.feed_age_p95(None, T)
        for c, ch in enumerate(chans):
            mine = [loc for loc in led.serve[c] if partners.takes(loc)]
            if mine:
                per_channel[ch.name][PARTNER_KEY] = partners.feed_age_p95(mine, T)
    return metrics, per_channel
