"""Faults on components: the bus's consumer groups, and those a strategy registers
(``Systems.fault_targets``) as switches, ``switch(True)`` taking one down and
``switch(False)`` bringing it back.

- ``consumer_crash``: consumer groups whose name starts with ``target`` (``*``: every one)
  stop processing, then restart (hits: the groups taken down). It reaches every group on the
  bus: one the strategy registered a ``consumer:<group>`` switch for goes down by that switch
  (the strategy's own crash replaces the bus's), any other by ``ConsumerGroup.crash`` and
  ``restart`` (deliveries refused while down, dead letters replayed on restart unless the
  group's ``replay_on_restart`` is off). A registered switch with no bus group is hit too; a
  group named as a registered component (the orchestrated middleware's ``middleware``) is
  that component's, left to its own fault kind;
- ``middleware_outage``: the middleware is down (hits: 1 if the strategy has one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from sim.faults.base import ActiveFault, Fault, FaultTargets

__all__ = ["ConsumerCrash", "MiddlewareOutage"]


class ConsumerCrash(Fault):
    """Consumer groups (name prefix ``target``, ``*`` for all) crash and later restart."""

    kind: Literal["consumer_crash"]
    target: str = "*"

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        prefix = self.target.rstrip("*")
        for switch in targets.switches("consumer:" + prefix).values():  # registration order
            switch(on)
            if on:
                fault.hit()
        registered = targets.switches("")
        for group in targets.bus.groups():  # the bus's order: deterministic
            key = f"crashed:{group.topic}/{group.name}"
            if not on:
                if fault.memo.pop(key, 0):  # restart exactly the groups this fault crashed
                    group.restart()
            elif group.name.startswith(prefix) and not _owned(group.name, registered):
                group.crash()
                fault.memo[key] = 1
                fault.hit()


def _owned(group: str, registered: Mapping[str, object]) -> bool:
    """Whether the strategy took group ``group`` down itself: by a ``consumer:<group>``
    switch (called above instead), or as the consumer of a component registered under the
    group's own name (the orchestrated middleware's group ``middleware``), which that
    component's fault kind takes down (``middleware_outage``)."""
    return "consumer:" + group in registered or group in registered


class MiddlewareOutage(Fault):
    """The middleware of an orchestrated strategy is down."""

    kind: Literal["middleware_outage"]

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        switch = targets.switches("middleware").get("middleware")
        if switch is not None:
            switch(on)
            if on:
                fault.hit()
