"""The base class of a fault kind, the record of a fault in a run, and what a kind may touch.

A fault kind is one ``Fault`` subclass: a frozen pydantic model (the ``[[faults]]`` table of
a scenario: ``kind``, ``start``, ``duration`` and the kind's parameters) that also says how
the kind is checked against its scenario (``check``), how it switches on and off on a running
world (``apply``, the one required method), how the systems feel it while it is on (the
hooks below) and how a chaos run draws it (``draw``, ``applies``, ``chaos_weight``).

The model is pure data (STYLE 3): per-run state lives in the ``ActiveFault`` the injector
makes of each planned fault (whether it is on, its ``hits``), which is what the systems hold
and call while the fault is on. The kernel never imports the mocks: the protocols here
(``FaultTargets``, ``FaultHolder``, ``BusTarget``, ``ClockTarget``) describe what ``apply``
may touch, and ``ScenarioView`` what ``check`` and ``draw`` may read of the scenario.

Hooks a system calls on the faults it holds (the default answers "not me" and draws no
random number, so a kind overrides only what it does):

=================== ============================== =====================================
hook                called by                      answer
=================== ============================== =====================================
``refuse``          an API, before serving a call  a ``Refusal`` (status, error, Retry-After)
``timeout``         an API, for an admitted call   a ``Timeout`` (when the client gives up,
                                                   whether the call still takes effect)
``service_factor``  an API, per served call        a factor on its service time
``webhook_delay``   a channel's order webhooks     seconds a delivery comes late
``webhook_retry``   the same, after a late one     seconds after it that it comes again
``bus_settings``    the bus, when its faults change delivery settings (``sim.schema.Bus``)
=================== ============================== =====================================

An answer other than "not me" counts a hit of the fault (``webhook_retry`` and
``bus_settings`` aside: the delivery and the bus's counters are what such a fault touched).
Random numbers come from the generator the system passes (its fault stream), in the order
the system asks; a hook draws only what it needs to answer.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np
from pydantic import Field

from sim.dists import Duration
from sim.fields import SpecModel

__all__ = [
    "ActiveFault",
    "BusTarget",
    "ChannelTarget",
    "ClockTarget",
    "Fault",
    "FaultError",
    "FaultHolder",
    "FaultTargets",
    "GroupView",
    "LocationView",
    "Named",
    "RecordsTarget",
    "Refusal",
    "ScenarioView",
    "Timeout",
    "hold",
]


# -- what check and draw may read of the scenario ---------------------------------------------
class Named(Protocol):
    """Something a scenario names: a channel, a location."""

    @property
    def name(self) -> str: ...


class LocationView(Named, Protocol):
    """A location as a fault kind reads it: its name, and whether a partner runs it (a 3PL
    or a drop-ship vendor, known only through its feed)."""

    @property
    def is_partner(self) -> bool: ...


class _BusSpecView(Protocol):
    @property
    def durable(self) -> bool: ...


class ScenarioView(Protocol):
    """What a fault kind reads of the scenario it is planned in (``sim.schema.Scenario`` is
    one): its length in simulated seconds, its channels and locations, its bus."""

    @property
    def duration(self) -> float: ...

    @property
    def channels(self) -> Sequence[Named]: ...

    @property
    def locations(self) -> Sequence[LocationView]: ...

    @property
    def bus(self) -> _BusSpecView: ...


class FaultError(ValueError):
    """A fault table that does not fit its scenario. ``field`` names the key of the table
    that is wrong (None: the table as a whole); the scenario adds where the table is."""

    def __init__(self, why: str, field: str | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.field = field


# -- answers of the hooks --------------------------------------------------------------------
class Refusal(NamedTuple):
    """An API call refused before it is served. ``status`` 429 counts as throttling, an
    ``error`` of ``UNAVAILABLE`` as the system being down, anything else as a failure."""

    status: int
    error: str
    retry_after: float | None = None  # seconds the client is told to wait, if any


class Timeout(NamedTuple):
    """An admitted call the client gives up on: it gets 504 ``after`` seconds, while the
    call is still served and takes effect or not (``applied``): an unknown outcome."""

    after: float
    applied: bool


# -- the kind --------------------------------------------------------------------------------
class Fault(SpecModel):
    """One timed fault of a scenario's plan; subclass it once per kind.

    ``start`` and ``duration`` are simulated seconds from the scenario start; the fault is on
    in ``[start, start + duration)``. A subclass declares ``kind: Literal["its_name"]`` and
    its parameters as fields (strict types from ``sim.fields`` and ``sim.dists``), and
    implements ``apply``; ``sim.faults.register_fault`` makes scenarios accept it.
    """

    kind: str
    start: Duration
    duration: Duration = Field(gt=0)

    #: lots the kind has in a chaos draw (0: chaos never draws it); every built-in has 1
    chaos_weight: ClassVar[int] = 1
    #: the kind loses bus messages on purpose: liveness allows the loss, and the conformance
    #: checker judges a strategy under it on safety alone
    loses_messages: ClassVar[bool] = False
    #: the kind corrupts master data (a mapping, a unit, a record) rather than the transport:
    #: only a strategy that re-reads or fully re-writes undoes its effect after it ends, so
    #: the conformance checker judges a strategy under it on safety alone
    #: (docs/data-quality.md measures who finds and repairs what)
    master_data: ClassVar[bool] = False
    #: scenario settings (dotted paths) the kind needs in order to be valid at all, set when
    #: the conformance checker runs it alone (e.g. a non-durable bus)
    needs: ClassVar[Mapping[str, Any]] = {}
    #: parameters the conformance checker gives it when it runs it alone (else the defaults)
    alone: ClassVar[Mapping[str, Any]] = {}

    @property
    def end(self) -> float:
        """When the fault switches off, in simulated seconds from the scenario start."""
        return self.start + self.duration

    # -- the scenario ------------------------------------------------------------------------
    def check(self, scenario: ScenarioView) -> None:
        """Refuse (``FaultError``) a table that does not fit ``scenario``: a target it does
        not have, a setting the kind needs. Field-level checks belong in the fields."""

    @classmethod
    def alone_in(cls, scenario: ScenarioView) -> Mapping[str, Any] | None:
        """The parameters the conformance checker gives the kind when it runs it alone in
        ``scenario`` (default: ``alone``), or None when the scenario cannot hold it (two own
        locations for a location map, say): the checker then says so and runs nothing."""
        return cls.alone

    @classmethod
    def applies(cls, scenario: ScenarioView) -> bool:
        """Whether chaos may draw the kind for ``scenario`` (a table it draws must pass
        ``check``)."""
        return True

    @classmethod
    def draw(
        cls, rng: np.random.Generator, scenario: ScenarioView, start: float, duration: float
    ) -> dict[str, Any]:
        """The kind's parameters for a chaos plan, drawn from ``rng`` (chaos has drawn the
        window ``[start, start + duration)`` already); may set ``duration`` anew. The draws
        are part of every chaos plan: change them and every seed's plan changes."""
        return {}

    # -- the running world ---------------------------------------------------------------
    @abstractmethod
    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        """Switch the fault on (at ``start``) or off (at ``end``) on the running systems:
        hand ``fault`` to the systems that call its hooks (``hold``), or act on them."""

    def refuse(self, now: float, op: str, rng: np.random.Generator) -> Refusal | None:
        """An API call of operation ``op`` arrives at ``now``: refuse it, or None."""
        return None

    def timeout(self, rng: np.random.Generator) -> Timeout | None:
        """An admitted API call: the client gives up on it, or None."""
        return None

    def service_factor(self, rng: np.random.Generator) -> float | None:
        """A served API call: the factor on its service time, or None."""
        return None

    def webhook_delay(self, rng: np.random.Generator) -> float | None:
        """An order webhook is delivered: seconds it comes late, or None."""
        return None

    def webhook_retry(self, rng: np.random.Generator) -> float | None:
        """After a late delivery: seconds later it is delivered again (a stale retry with the
        original payload), or None."""
        return None

    def bus_settings(self, settings: dict[str, Any]) -> None:
        """Fold the fault's delivery settings (keys of ``sim.schema.Bus``) into ``settings``;
        the bus asks every fault it holds, in plan order, whenever one switches."""


# -- a fault in a run ------------------------------------------------------------------------
class ActiveFault:
    """A planned fault in a running world: its table (``spec``), its position in the plan
    (``index``), whether it is on, and ``hits``: how many calls, deliveries, messages or
    components it touched (a fault with no hit did not fire). ``memo`` keeps what the kind
    noted when it switched on, for its switch off (e.g. counters of the bus).

    Systems call the hooks on this object: each forwards to the kind and counts a hit when
    the kind acts."""

    __slots__ = ("active", "chosen", "hits", "index", "memo", "spec")

    def __init__(self, index: int, spec: Fault) -> None:
        self.index = index
        self.spec = spec
        self.hits = 0
        self.active = False
        self.memo: dict[str, float] = {}
        #: what the kind drew when it switched on (the SKUs a data-quality fault affects,
        #: by target), for its switch off and for tests
        self.chosen: dict[str, np.ndarray] = {}

    @property
    def kind(self) -> str:
        return self.spec.kind

    def hit(self, n: int = 1) -> None:
        """Count ``n`` more things the fault touched."""
        self.hits += n

    def switch(self, targets: FaultTargets, on: bool) -> None:
        """On at the start of the window, off at its end."""
        self.active = on
        self.spec.apply(targets, self, on)

    def refuse(self, now: float, op: str, rng: np.random.Generator) -> Refusal | None:
        r = self.spec.refuse(now, op, rng)
        if r is not None:
            self.hits += 1
        return r

    def timeout(self, rng: np.random.Generator) -> Timeout | None:
        t = self.spec.timeout(rng)
        if t is not None:
            self.hits += 1
        return t

    def service_factor(self, rng: np.random.Generator) -> float | None:
        factor = self.spec.service_factor(rng)
        if factor is not None:
            self.hits += 1
        return factor

    def webhook_delay(self, rng: np.random.Generator) -> float | None:
        delay = self.spec.webhook_delay(rng)
        if delay is not None:
            self.hits += 1
        return delay

    def webhook_retry(self, rng: np.random.Generator) -> float | None:
        return self.spec.webhook_retry(rng)

    def bus_settings(self, settings: dict[str, Any]) -> None:
        self.spec.bus_settings(settings)


# -- what apply may touch --------------------------------------------------------------------
class FaultHolder(Protocol):
    """A system that calls the hooks of the faults it holds, while they are on (an API
    server, a channel's order webhooks, the bus)."""

    def hold_fault(self, fault: ActiveFault, on: bool) -> None:
        """Take ``fault`` (``on``) or let it go."""


class GroupView(Protocol):
    """A consumer group on the bus (``mocks.bus.ConsumerGroup``)."""

    @property
    def name(self) -> str: ...

    @property
    def topic(self) -> str: ...

    @property
    def paused(self) -> bool: ...

    def crash(self) -> None:
        """The consumer crashes: every delivery is refused (redelivered, then
        dead-lettered) until ``restart``."""

    def restart(self) -> int:
        """The consumer restarts (replaying its dead letters unless it opted out)."""
        ...


class BusTarget(FaultHolder, Protocol):
    """The message bus: it holds delivery faults (``bus_settings``) and can rebalance."""

    def groups(self) -> Sequence[GroupView]:
        """Every consumer group, in a fixed order (by topic, then subscription)."""
        ...

    def rebalance(self, gap: float) -> None:
        """Every running group stops for ``gap`` seconds, then gets its unacknowledged
        messages again."""

    def stats_dict(self) -> dict[str, float]:
        """Run-wide counters in (message, group) pairs (``events_published``, ...)."""
        ...


class ClockTarget(Protocol):
    """A system with its own clock (ERP, WMS): it stamps changes with true time plus an
    offset, and counts a hit of each fault skewing it per stamp."""

    def skew_clock(self, seconds: float, fault: ActiveFault, on: bool) -> None:
        """Move the clock ``seconds`` off (``on``) or back, on behalf of ``fault``."""


class ChannelTarget(Protocol):
    """A channel's listing as the integration maps it (``mocks.channel.Channel``): what its
    writes do while a data-quality fault is on (``sim.faults.data``)."""

    @property
    def name(self) -> str: ...

    @property
    def n_sku(self) -> int: ...

    def unmap(self, skus: np.ndarray, fault: ActiveFault, on: bool) -> None:
        """While on, writes to ``skus`` are refused item by item (no mapping)."""

    def scale(self, skus: np.ndarray, factor: int, fault: ActiveFault, on: bool) -> None:
        """While on, a write of ``v`` to one of ``skus`` shows ``v * factor``."""


class RecordsTarget(Protocol):
    """The ERP's product-location records and the WMS's locations (``sim.faults.data``):
    where the ERP posts WMS movements, and stock the WMS moves on its own."""

    @property
    def n_sku(self) -> int: ...

    def location(self, name: str) -> int:
        """The index of the location ``name``."""
        ...

    def route(self, source: int, into: int, fault: ActiveFault, on: bool) -> None:
        """While on, the ERP posts the stock part of movements at ``source`` to ``into``."""

    def unlink(self, into: int, skus: np.ndarray, fault: ActiveFault, on: bool) -> None:
        """While on, the ERP posts no movement of ``skus`` at ``into`` (no record there)."""

    def relocate(self, source: int, into: int, skus: np.ndarray) -> int:
        """The WMS moves the free stock of ``skus`` at ``source`` to ``into`` at once, the
        ERP not told; returns the units moved."""
        ...

    def refresh(self, locs: Sequence[int], skus: np.ndarray) -> None:
        """The ERP's records of (``locs`` x ``skus``) re-read: put right."""


class FaultTargets(Protocol):
    """What ``Fault.apply`` may touch in a running world."""

    def apis(self, target: str) -> list[FaultHolder]:
        """API servers: ``erp``, ``wms``, a channel's name, or ``channels`` for every
        channel's."""
        ...

    def webhooks(self, target: str) -> list[FaultHolder]:
        """Order webhooks of a channel by name, or of every channel (``channels``)."""
        ...

    @property
    def bus(self) -> BusTarget: ...

    def switches(self, prefix: str) -> dict[str, Callable[[bool], None]]:
        """Components the strategy registered, by name (``consumer:<group>`` to replace the
        bus's own crash of that group, ``middleware``), those whose name starts with
        ``prefix``, in registration order; ``switch(True)`` takes one down,
        ``switch(False)`` brings it back."""
        ...

    def clock(self, system: str) -> ClockTarget:
        """The clock of ``erp`` or ``wms``."""
        ...

    def partners(self, target: str) -> list[FaultHolder]:
        """The feeds of partner locations (``mocks.partner``): one by its location's name,
        or every one (``partners``)."""
        ...

    def channels(self, target: str) -> list[ChannelTarget]:
        """Channels' listings: one by its name, or every one (``channels``)."""
        ...

    @property
    def records(self) -> RecordsTarget:
        """The ERP's product-location records and the WMS's locations."""
        ...

    def stream(self, name: str) -> np.random.Generator:
        """A random stream of the run's own for a fault's draws (``faults/<name>``): the
        same for a seed whatever else the run draws."""
        ...


def hold(holders: Iterable[FaultHolder], fault: ActiveFault, on: bool) -> None:
    """Every holder takes ``fault`` (``on``) or lets it go: the usual ``apply``."""
    for h in holders:
        h.hold_fault(fault, on)
