"""Fault injection: a scenario's fault plan applied to a running world.

One SimPy process per planned fault switches it on at ``start`` and off at ``start +
duration`` by calling its kind's ``apply`` (``sim.faults``) with ``WorldTargets``: the
world's API servers, channels' order webhooks and listings, bus (with its consumer groups),
system clocks, partner locations' feeds, the ERP's product-location records and a random
stream per name, and the components the strategy registered in
``systems.fault_targets`` (``consumer:<group>`` to replace the bus's crash of that group,
``middleware``). The injector knows no kind: what a fault does is its class's business.
Each fault counts its ``hits`` (calls, deliveries, messages or components it actually
touched), so a test can assert that every planned fault fired.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import numpy as np

from mocks.api import ApiServer
from mocks.bus import Bus
from mocks.channel import Channel
from mocks.erp import Erp
from mocks.partner import Partners
from mocks.wms import Wms
from sim.faults import (
    ActiveFault,
    BusTarget,
    ChannelTarget,
    ClockTarget,
    FaultHolder,
    FaultTargets,
    RecordsTarget,
)
from sim.rng import Streams

__all__ = ["FaultInjector", "WorldRecords", "WorldTargets"]


class WorldRecords:
    """The ERP's product-location records and the WMS's locations (``RecordsTarget``)."""

    def __init__(self, erp: Erp, wms: Wms, location_names: Sequence[str]) -> None:
        self._erp = erp
        self._wms = wms
        self._names = list(location_names)

    @property
    def n_sku(self) -> int:
        return int(self._erp.on_hand.shape[1])

    def location(self, name: str) -> int:
        return self._names.index(name)

    def route(self, source: int, into: int, fault: ActiveFault, on: bool) -> None:
        self._erp.books.route(source, into, fault, on)

    def unlink(self, into: int, skus: np.ndarray, fault: ActiveFault, on: bool) -> None:
        self._erp.books.unlink(into, skus, fault, on)

    def relocate(self, source: int, into: int, skus: np.ndarray) -> int:
        moved = 0
        for sku in np.asarray(skus, np.int64).tolist():
            mvs = self._wms.relocate(source, into, sku, 1 << 62)
            self._erp.not_posted(mvs)
            moved += mvs[0].qty if mvs else 0
        return moved

    def refresh(self, locs: Sequence[int], skus: np.ndarray) -> None:
        books = self._erp.books
        for loc in locs:
            for sku in np.asarray(skus, np.int64).tolist():
                if books.wrong_at(loc, sku):
                    self._erp.correct(loc, sku)


class WorldTargets:
    """What fault kinds may touch in a world (``sim.faults.FaultTargets``): its API servers,
    channels (their APIs and order webhooks), bus, ERP and WMS clocks, and ``switches``, the
    live registry of components the strategy takes down and up (``Systems.fault_targets``)."""

    def __init__(
        self,
        erp_api: ApiServer,
        wms_api: ApiServer,
        channels: Sequence[Channel],
        bus: Bus,
        erp: Erp,
        wms: Wms,
        switches: Mapping[str, Callable[[bool], None]],
        partners: Partners | None = None,
        streams: Streams | None = None,
        location_names: Sequence[str] = (),
    ) -> None:
        self._apis: dict[str, ApiServer] = {"erp": erp_api, "wms": wms_api}
        self._channels = list(channels)
        self._bus = bus
        self._clocks: dict[str, ClockTarget] = {"erp": erp, "wms": wms}
        self._switches = switches
        self._partners: dict[str, FaultHolder] = {}
        if partners is not None:
            self._partners = {site.spec.name: site for site in partners.sites.values()}
        self._streams = streams if streams is not None else Streams(0)
        self._records = WorldRecords(erp, wms, location_names)

    def apis(self, target: str) -> list[FaultHolder]:
        if target in self._apis:
            return [self._apis[target]]
        return [ch.api for ch in self._channels if target in ("channels", ch.name)]

    def webhooks(self, target: str) -> list[FaultHolder]:
        return [ch.webhooks for ch in self._channels if target in ("channels", ch.name)]

    @property
    def bus(self) -> BusTarget:
        return self._bus

    def switches(self, prefix: str) -> dict[str, Callable[[bool], None]]:
        return {name: fn for name, fn in self._switches.items() if name.startswith(prefix)}

    def clock(self, system: str) -> ClockTarget:
        return self._clocks[system]

    def partners(self, target: str) -> list[FaultHolder]:
        if target == "partners":
            return list(self._partners.values())
        return [self._partners[target]] if target in self._partners else []

    def channels(self, target: str) -> list[ChannelTarget]:
        return [ch for ch in self._channels if target in ("channels", ch.name)]

    @property
    def records(self) -> RecordsTarget:
        return self._records

    def stream(self, name: str) -> np.random.Generator:
        return self._streams.stream(f"faults/{name}")


class FaultInjector:
    """Applies the fault plan of ``world.scenario`` (see ``sim.faults``)."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.faults = [ActiveFault(i, f) for i, f in enumerate(world.scenario.faults)]
        self.targets: FaultTargets = WorldTargets(
            world.erp_api, world.wms_api, world.channels, world.bus, world.erp, world.wms,
            world.systems.fault_targets, world.partners, world.streams,
            [loc.name for loc in world.scenario.locations],
        )  # fmt: skip

    def start(self) -> None:
        for f in self.faults:
            self.world.env.process(self._run(f))

    def _run(self, f: ActiveFault) -> Generator[Any, Any, None]:
        env = self.world.env
        yield env.timeout(f.spec.start)
        f.switch(self.targets, True)
        yield env.timeout(f.spec.duration)
        f.switch(self.targets, False)

    # -- reporting --------------------------------------------------------------------------
    def windows(self) -> list[tuple[float, float]]:
        """Every fault window, scheduled ERP maintenance included, sorted by start."""
        w = [(f.spec.start, f.spec.end) for f in self.faults]
        w += [(m.start, m.end) for m in self.world.scenario.erp.api.maintenance]
        return sorted(w)

    def active_count(self) -> int:
        """Planned faults on now."""
        return sum(1 for f in self.faults if f.active)

    def report(self) -> list[dict[str, Any]]:
        """Per planned fault: its index, kind, window and hits; ``fired`` if it hit."""
        return [
            {"index": f.index, "kind": f.kind, "start": f.spec.start, "end": f.spec.end,
             "hits": f.hits, "fired": f.hits > 0}
            for f in self.faults
        ]  # fmt: skip
