"""Faults on components a strategy registers (``Systems.fault_targets``): each is a switch,
``switch(True)`` takes it down and ``switch(False)`` brings it back.

- ``consumer_crash``: consumer groups whose name starts with ``target`` (``*``: every one)
  stop processing, then restart (hits: the groups taken down);
- ``middleware_outage``: the middleware is down (hits: 1 if the strategy has one).
"""

from __future__ import annotations

from typing import Literal

from sim.faults.base import ActiveFault, Fault, FaultTargets

__all__ = ["ConsumerCrash", "MiddlewareOutage"]


class ConsumerCrash(Fault):
    """Consumer groups (name prefix ``target``, ``*`` for all) crash and later restart."""

    kind: Literal["consumer_crash"]
    target: str = "*"

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        prefix = "consumer:" + self.target.rstrip("*")
        for switch in targets.switches(prefix).values():
            switch(on)
            if on:
                fault.hit()


class MiddlewareOutage(Fault):
    """The middleware of an orchestrated strategy is down."""

    kind: Literal["middleware_outage"]

    def apply(self, targets: FaultTargets, fault: ActiveFault, on: bool) -> None:
        switch = targets.switches("middleware").get("middleware")
        if switch is not None:
            switch(on)
            if on:
                fault.hit()
