"""Fault injection: a scenario's fault plan applied to a running world.

One SimPy process per fault switches it on at ``start`` and off at ``start + duration``. A
fault acts on the systems it targets (API servers, the bus, channels' order webhooks, a
system's clock) or, for consumer crashes and middleware outages, on what the strategy has
registered in ``systems.fault_targets`` (``consumer:<group>``, ``middleware``). Each fault
counts its ``hits``: how many calls, messages or components it actually touched, so a test can
assert that every planned fault fired.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.faults import Fault

__all__ = ["ActiveFault", "FaultInjector"]


class ActiveFault:
    """A planned fault and what it did."""

    __slots__ = ("active", "hits", "index", "spec")

    def __init__(self, index: int, spec: Fault) -> None:
        self.index = index
        self.spec: Any = spec  # a fault kind's table (sim.faults)
        self.hits = 0
        self.active = False


class FaultInjector:
    """Applies the fault plan of ``world.scenario`` (see ``sim.faults``)."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.faults = [ActiveFault(i, f) for i, f in enumerate(world.scenario.faults)]
        self._bus_base: dict[int, dict[str, float]] = {}

    def start(self) -> None:
        for f in self.faults:
            self.world.env.process(self._run(f))

    def _run(self, f: ActiveFault) -> Generator[Any, Any, None]:
        env = self.world.env
        yield env.timeout(f.spec.start)
        f.active = True
        self._switch(f, True)
        yield env.timeout(f.spec.duration)
        f.active = False
        self._switch(f, False)

    # -- targets ----------------------------------------------------------------------------
    def _apis(self, target: str) -> list[Any]:
        w = self.world
        if target == "erp":
            return [w.erp_api]
        if target == "wms":
            return [w.wms_api]
        return [ch.api for ch in w.channels if target in ("channels", ch.name)]

    def _channels(self, target: str) -> list[Any]:
        return [ch for ch in self.world.channels if target in ("channels", ch.name)]

    def _switch(self, f: ActiveFault, on: bool) -> None:
        kind = f.spec.kind
        w = self.world
        if kind in ("erp_maintenance", "erp_slowdown"):
            self._toggle([w.erp_api], f, on)
        elif kind in ("throttle", "http_errors", "timeouts", "channel_outage"):
            self._toggle(self._apis(getattr(f.spec, "target", "channels")), f, on)
        elif kind in ("bus_duplicates", "bus_reorder", "bus_loss"):
            self._bus(f, on)
        elif kind == "partition_rebalance":
            if on:
                groups = sum(1 for g in w.bus.groups() if not g.paused)
                f.hits += groups
                w.bus.rebalance(f.spec.duration)
        elif kind == "consumer_crash":
            prefix = f.spec.target.rstrip("*")
            for name, fn in w.systems.fault_targets.items():
                if name.startswith("consumer:") and name[len("consumer:") :].startswith(prefix):
                    fn(on)
                    f.hits += on
        elif kind == "middleware_outage":
            fn = w.systems.fault_targets.get("middleware")
            if fn is not None:
                fn(on)
                f.hits += on
        elif kind == "webhook_delay":
            self._toggle([ch.webhooks for ch in self._channels(f.spec.target)], f, on)
        elif kind == "clock_skew":
            system = w.erp if f.spec.target == "erp" else w.wms
            system.clock_offset += f.spec.offset if on else -f.spec.offset
            if on:
                system.skews.append(f)
            else:
                system.skews.remove(f)

    @staticmethod
    def _toggle(holders: list[Any], f: ActiveFault, on: bool) -> None:
        for h in holders:
            if on:
                h.faults.append(f)
            else:
                h.faults.remove(f)

    def _bus(self, f: ActiveFault, on: bool) -> None:
        bus = self.world.bus
        stats = bus.stats_dict()
        if on:
            self._bus_base[f.index] = stats
        else:
            before = self._bus_base.pop(f.index)
            key = {"bus_duplicates": "events_duplicated", "bus_loss": "events_lost"}.get(
                f.spec.kind, "events_published"
            )
            f.hits += int(stats[key] - before[key])
        changes: dict[str, Any] = {}
        for g in self.faults:
            if not g.active:
                continue
            s = g.spec
            if s.kind == "bus_duplicates":
                changes["duplicate_rate"] = max(changes.get("duplicate_rate", 0.0), s.rate)
                changes["duplicate_delay"] = s.delay
            elif s.kind == "bus_reorder":
                changes["reorder_jitter"] = s.jitter
            elif s.kind == "bus_loss":
                changes["loss_rate"] = max(changes.get("loss_rate", 0.0), s.rate)
        bus.set_spec(**changes)

    # -- reporting --------------------------------------------------------------------------
    def windows(self) -> list[tuple[float, float]]:
        """Every fault window, scheduled ERP maintenance included, sorted by start."""
        w = [(f.spec.start, f.spec.end) for f in self.faults]
        w += [(m.start, m.end) for m in self.world.scenario.erp.api.maintenance]
        return sorted(w)

    def active_count(self) -> int:
        return sum(1 for f in self.faults if f.active)

    def report(self) -> list[dict[str, Any]]:
        return [
            {"index": f.index, "kind": f.spec.kind, "start": f.spec.start, "end": f.spec.end,
             "hits": f.hits, "fired": f.hits > 0}
            for f in self.faults
        ]  # fmt: skip
