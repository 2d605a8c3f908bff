"""Fault kinds: the bad days a scenario rehearses, one class per kind, in a registry.

A scenario's ``[[faults]]`` tables each have a ``kind``, a ``start`` and a ``duration``
(simulated seconds from the scenario start) and the parameters of their kind; the fault is
on in ``[start, start + duration)``. After the last fault ends the run goes on healed, so
recovery is measured (a safety phase under faults, then a liveness phase).

| kind | what happens | parameters |
|---|---|---|
| ``erp_maintenance`` | the ERP API answers 503 | |
| ``erp_slowdown`` | ERP service times are multiplied | ``factor`` |
| ``throttle`` | calls are answered 429 with Retry-After | ``target``, ``rate``, ``retry_after`` |
| ``http_errors`` | calls fail with a 5xx | ``target``, ``rate``, ``status`` |
| ``timeouts`` | client gives up; applied or not | ``target``, ``rate``, ``delay``, ``applied`` |
| ``channel_outage`` | a channel API answers 503 | ``target`` |
| ``bus_duplicates`` | extra redeliveries | ``rate``, ``delay`` |
| ``bus_reorder`` | random delivery jitter across partitions | ``jitter`` |
| ``bus_loss`` | published messages dropped (non-durable bus only) | ``rate`` |
| ``consumer_crash`` | bus consumer groups refuse deliveries, then restart | ``target`` |
| ``partition_rebalance`` | every consumer group pauses, then redelivers | |
| ``middleware_outage`` | the middleware is down | |
| ``webhook_delay`` | late webhooks, stale retries | ``target``, ``delay``, ``duplicate_rate`` |
| ``clock_skew`` | a system's clock is off | ``target``, ``offset`` |
| ``partner_feed_missed`` | a partner's inventory files are not sent | ``target`` |
| ``partner_feed_lag`` | a partner's files land late | ``target``, ``extra`` |
| ``partner_feed_errors`` | rows of a partner's files missing or off | ``target``, ``rate``, ... |
| ``unmapped_skus`` | writes to unmapped SKUs refused | ``target``, ``fraction``/``skus`` |
| ``uom_mismatch`` | a channel shows cases, not eaches | ``target``, ``fraction``/``skus``, ... |
| ``location_mapping`` | the ERP posts a location's moves to another | ``source``, ``into`` |
| ``stale_product_location`` | SKUs move, the ERP's records do not | ``source``, ``into``, ... |

One module per family: ``erp`` (maintenance, slowdown), ``api`` (throttle, http_errors,
timeouts, channel_outage), ``bus`` (duplicates, reorder, loss, partition_rebalance),
``components`` (consumer_crash, middleware_outage), ``webhooks``, ``clock``, ``partner``
(the partner-feed kinds), ``data`` (the data-quality kinds: wrong master data); the base class,
``ActiveFault`` and the protocols of what a kind may touch in ``base``; the registry in
``registry``.

``target`` names an API (``erp``, ``wms``, a channel name, or ``channels`` for all), a
consumer-group name prefix (``*`` for all), a system for clock skew (``erp``, ``wms``), a
partner location (``partners`` for all) for the partner-feed kinds, or a channel (``channels``
for all) for the data-quality kinds on a channel's listing.

Adding a fault kind takes one file and no edit anywhere else:

1. subclass ``Fault`` (``sim.faults.base``): declare ``kind: Literal["my_kind"]`` and the
   parameters as fields (strict types from ``sim.fields``, ``sim.dists``);
2. implement ``apply(targets, fault, on)``: at ``start`` (``on``) and at the end, hand
   ``fault`` to the systems that should feel it (``hold(targets.apis("erp"), fault, on)``,
   ``targets.webhooks(...)``, ``targets.bus``) or act on them (``targets.bus.groups()``:
   the consumer groups; ``targets.switches(prefix)``: the components a strategy registered;
   ``targets.clock("erp")``);
3. override the hooks the held systems call while the fault is on: ``refuse``, ``timeout``,
   ``service_factor`` (APIs), ``webhook_delay``, ``webhook_retry`` (order webhooks),
   ``bus_settings`` (the bus); an answer counts a hit of the fault;
4. optionally ``check(scenario)`` (raise ``FaultError(why, field)`` for a table that does
   not fit its scenario), and for chaos ``draw(rng, scenario, start, duration)`` (the
   parameters), ``applies(scenario)`` and ``chaos_weight`` (0: never drawn);
5. ``register_fault(MyKind)`` when the module is imported, before the scenario is loaded.

Registration order is chaos's draw order: the built-ins below are registered first, in the
order of the table, and a chaos plan of a given seed stays the same while the same kinds are
registered (a new kind with ``chaos_weight`` > 0 changes every seed's plan).
"""

from __future__ import annotations

from sim.faults.api import ChannelOutage, HttpErrors, Throttle, Timeouts
from sim.faults.base import (
    ActiveFault,
    BusTarget,
    ChannelTarget,
    ClockTarget,
    Fault,
    FaultError,
    FaultHolder,
    FaultTargets,
    LocationView,
    RecordsTarget,
    Refusal,
    ScenarioView,
    Timeout,
    hold,
)
from sim.faults.bus import BusDuplicates, BusLoss, BusReorder, PartitionRebalance
from sim.faults.clock import ClockSkew
from sim.faults.components import ConsumerCrash, MiddlewareOutage
from sim.faults.data import LocationMapping, StaleProductLocation, UnmappedSkus, UomMismatch
from sim.faults.erp import ErpMaintenance, ErpSlowdown
from sim.faults.partner import PartnerFeedErrors, PartnerFeedLag, PartnerFeedMissed
from sim.faults.registry import (
    PlannedFault,
    fault_class,
    fault_classes,
    fault_kinds,
    kind_of,
    register_fault,
    unregister_fault,
)
from sim.faults.webhooks import WebhookDelay

__all__ = [
    "BUILTIN_KINDS",
    "ActiveFault",
    "BusDuplicates",
    "BusLoss",
    "BusReorder",
    "BusTarget",
    "ChannelOutage",
    "ChannelTarget",
    "ClockSkew",
    "ClockTarget",
    "ConsumerCrash",
    "ErpMaintenance",
    "ErpSlowdown",
    "Fault",
    "FaultError",
    "FaultHolder",
    "FaultTargets",
    "HttpErrors",
    "LocationMapping",
    "LocationView",
    "MiddlewareOutage",
    "PartitionRebalance",
    "PartnerFeedErrors",
    "PartnerFeedLag",
    "PartnerFeedMissed",
    "PlannedFault",
    "RecordsTarget",
    "Refusal",
    "ScenarioView",
    "StaleProductLocation",
    "Throttle",
    "Timeout",
    "Timeouts",
    "UnmappedSkus",
    "UomMismatch",
    "WebhookDelay",
    "fault_class",
    "fault_classes",
    "fault_kinds",
    "hold",
    "kind_of",
    "register_fault",
    "unregister_fault",
]

_BUILTINS: tuple[type[Fault], ...] = (
    ErpMaintenance,
    ErpSlowdown,
    Throttle,
    HttpErrors,
    Timeouts,
    ChannelOutage,
    BusDuplicates,
    BusReorder,
    BusLoss,
    ConsumerCrash,
    PartitionRebalance,
    MiddlewareOutage,
    WebhookDelay,
    ClockSkew,
    PartnerFeedMissed,  # appended after the first 14: their chaos plans stay as they were
    PartnerFeedLag,
    PartnerFeedErrors,
    UnmappedSkus,  # appended after the partner kinds; chaos_weight 0: no plan changes
    UomMismatch,
    LocationMapping,
    StaleProductLocation,
)
for _cls in _BUILTINS:
    register_fault(_cls)

BUILTIN_KINDS: tuple[str, ...] = tuple(kind_of(c) for c in _BUILTINS)
"""The 21 kinds syncsim ships, in registration (and chaos draw) order (the partner-feed
kinds draw only in scenarios with partner locations: ``applies``; chaos never draws the
four data-quality kinds: ``chaos_weight`` 0)."""
