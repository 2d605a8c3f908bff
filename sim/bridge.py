"""Blocking client code in simulated time: connectors written with httpx, run inside SimPy.

A connector does ``client.put(...)`` and expects a response, as it would against the real
platform. In syncsim the request goes through ``httpx.MockTransport`` to a respx router (the
platform's HTTP facade, ``mocks.http``), whose handler calls the mock's Python API. That
call takes simulated time: the handler must wait for a SimPy event without blocking the
simulation. ``SimRuntime`` makes this possible with greenlets: ``spawn(fn)`` runs ``fn`` in
its own greenlet and returns a SimPy event that fires with ``fn``'s result; inside it,
``wait(event)`` parks the greenlet until the event has been processed and returns its value,
while the simulation goes on. No threads, no wall clock: a run stays deterministic.

The same module holds the conventions facades and connectors share: SKU codes and the
``X-Syncsim-As-Of`` header that carries provenance (DESIGN §3) next to a platform's own
payload, on a write's request and on the answer to a channel's inventory read, one value
per item in the payload's order (real platforms have no such field; the header lets the
measurement see through).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import simpy
from greenlet import getcurrent, greenlet
from simpy.events import URGENT

__all__ = [
    "AS_OF_HEADER",
    "SimRuntime",
    "TaskDone",
    "decode_as_of",
    "encode_as_of",
    "sku_code",
    "sku_index",
]

AS_OF_HEADER = "X-Syncsim-As-Of"


def sku_code(i: int) -> str:
    return f"SKU-{int(i):06d}"


def sku_index(code: str) -> int:
    if not code.startswith("SKU-"):
        raise ValueError(f"unknown SKU {code!r}")
    return int(code[4:])


def encode_as_of(as_of: Iterable[float]) -> str:
    """Exact (``repr``) floats, comma-separated."""
    return ",".join(repr(float(x)) for x in np.atleast_1d(np.asarray(as_of, float)))


def decode_as_of(value: str) -> np.ndarray:
    """The floats of ``encode_as_of`` (an empty value: none)."""
    return np.array([float(x) for x in value.split(",") if x], float)


class TaskDone(simpy.events.Event):
    """The event a task's caller waits on (``SimRuntime.spawn``). ``finish`` triggers it with
    the task's outcome at *urgent* priority, so the caller wakes at the same instant and
    before ordinary events of that instant, as a direct call's own reply would. A failure is
    defused: it reaches whoever waits on the event, and does not stop the simulation."""

    def finish(self, ok: bool, value: Any) -> None:
        self._ok = ok
        self._value = value
        if not ok:
            self.defused = True
        self.env.schedule(self, URGENT)


class SimRuntime:
    """Greenlet tasks scheduled by a SimPy environment."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.tasks = 0

    def spawn(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` as a task; the returned event fires with its result (or fails with
        its exception) as soon as it finishes, before other events of the same instant."""
        done = TaskDone(self.env)
        self.tasks += 1

        def body() -> tuple[bool, Any]:
            try:
                return True, fn()
            except Exception as exc:  # handed to whoever waits on ``done``
                return False, exc

        root = getcurrent()
        while root.parent is not None:
            root = root.parent  # tasks always return to the greenlet that runs the simulation
        task = greenlet(body, parent=root)
        task.pending_done = done
        if getcurrent() is root:
            self._resume(task, done, None)
        else:  # spawned from inside a task: start it from the simulation's greenlet
            self.env.timeout(0).callbacks.append(lambda _: self._resume(task, done, None))
        return done

    def _resume(self, task: greenlet, done: TaskDone, value: Any) -> None:
        out = task.switch() if value is None else task.switch(value)
        if task.dead:
            ok, result = out
            done.finish(ok, result)

    def wait(self, event: Any) -> Any:
        """Park the current task until ``event`` is processed; its value (raises if it
        failed). Only valid inside a task started by ``spawn``."""
        task = getcurrent()
        if task.parent is None:
            raise RuntimeError("SimRuntime.wait() outside a task started by spawn()")
        if event.callbacks is None:  # already processed
            if not event.ok:
                raise event.value
            return event.value
        event.callbacks.append(lambda ev: self._resume(task, task.pending_done, ev))
        ev = task.parent.switch()
        if not ev.ok:
            ev.defused = True
            raise ev.value
        return ev.value

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass inside a task."""
        self.wait(self.env.timeout(seconds))
