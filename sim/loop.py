"""The run loop: SimPy's event loop, stepped in batches, with a liveness guard in simulated time.

``drive(env, until)`` processes events up to ``until`` exactly as ``env.run(until)`` does
(an urgent event at the horizon stops the loop before anything else scheduled then), but
steps the environment in batches of ``BATCH`` steps and looks at the clock only between
batches, so the guards cost nothing per step:

- **liveness**: if simulated time has not advanced for ``stall_steps`` steps, something loops
  in zero simulated time (a retry with no wait, an interval of zero, a callback that
  reschedules itself at once). The loop then watches a few more steps to find who keeps
  scheduling events at the current instant and raises ``Spinning`` naming that code;
- **step budget**: with ``max_steps`` set, a run that needs more steps stops with
  ``StepBudgetExceeded`` (a bound for fuzzing and tests, off by default);
- **progress**: ``on_progress(fraction of the horizon)`` at most once per batch;
- **garbage collection**: while the loop runs, what was built before it is frozen out of
  the collector's reach (``gc.freeze``) and the youngest generation is collected every
  ``GC_GEN0`` allocations instead of every 700: a run allocates millions of short-lived,
  acyclic objects, and the default threshold spent about a fifth of the CPU of a run
  re-scanning them. The thresholds are restored when the loop ends.

A wall-clock watchdog (``sim.guard.Watchdog``) reads ``Loop.steps`` to tell a strategy that
never yields from one that is merely slow. None of this changes what a healthy run does.
"""

from __future__ import annotations

import gc
import inspect
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, URGENT, EventPriority

__all__ = ["BATCH", "GC_GEN0", "STALL_STEPS", "Loop", "Spinning", "StepBudgetExceeded", "drive"]

#: steps between two looks at the clock
BATCH = 4096
#: allocations between two collections of the youngest generation while a run loops
GC_GEN0 = 100_000
#: steps without the clock moving after which a run is declared spinning
STALL_STEPS = 1_000_000
#: extra steps watched to name the code that spins
_DIAGNOSE_STEPS = 2000

_SIMPY = str(Path(simpy.__file__).parent)
_HERE = str(Path(__file__).resolve())


Frame = tuple[str, int, str]
"""(file, line, function) of one frame."""


class Spinning(RuntimeError):
    """Simulated time stopped advancing: something loops in zero simulated time.

    ``stack`` is the call chain (innermost first, SimPy's own frames left out) that most
    often scheduled events at the current instant while the loop watched; ``process`` the
    SimPy process it ran in, if any. ``place(frame)`` formats one frame for a message."""

    def __init__(self, message: str, stack: tuple[Frame, ...], process: str | None) -> None:
        super().__init__(message)
        self.stack = stack
        self.process = process

    @staticmethod
    def place(frame: Frame) -> str:
        return f"{_short(frame[0])}:{frame[1]} ({frame[2]})"


class StepBudgetExceeded(RuntimeError):
    """The run needed more steps than ``max_steps`` allowed."""


class _Horizon(simpy.events.Event):
    """An already-triggered event at time ``at`` with urgent priority: processed before every
    ordinary event scheduled for the same instant, as ``Environment.run(until=at)`` does."""

    def __init__(self, env: simpy.Environment, at: float) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, URGENT, at - env.now)
        self.callbacks.append(StopSimulation.callback)


class Loop:
    """Drives one environment; ``steps`` counts the steps done so far (batch granularity)."""

    def __init__(
        self,
        env: simpy.Environment,
        *,
        stall_steps: int = STALL_STEPS,
        max_steps: int | None = None,
    ) -> None:
        self.env = env
        self.stall_steps = stall_steps
        self.max_steps = max_steps
        self.steps = 0
        self._still_at, self._still_steps = 0.0, 0

    def run(self, until: float, on_progress: Callable[[float], None] | None = None) -> None:
        """Process every event before ``until`` (see the module docstring)."""
        env = self.env
        if until <= env.now:
            return
        _Horizon(env, until)
        step = env.step
        batch = range(BATCH)
        self._still_at, self._still_steps = env.now, 0
        watch = partial(self._between, env.now, until - env.now, on_progress)
        i = -1
        try:
            with _few_collections():
                while True:
                    for i in batch:  # noqa: B007 - read after StopSimulation
                        step()
                    watch()
        except StopSimulation:
            self.steps += i  # the steps of the last, partial batch (the horizon's not counted)
        except simpy.core.EmptySchedule:  # pragma: no cover - the horizon is always scheduled
            self.steps += i

    def _between(
        self, start: float, span: float, on_progress: Callable[[float], None] | None
    ) -> None:
        """Between two batches: count them, look at the clock, report progress."""
        self.steps += BATCH
        now = self.env.now
        if now == self._still_at:
            self._still_steps += BATCH
            if self._still_steps >= self.stall_steps:
                raise self._spinning(self._still_steps)
        else:
            self._still_at, self._still_steps = now, 0
        if self.max_steps is not None and self.steps > self.max_steps:
            raise StepBudgetExceeded(
                f"the run needed more than {self.max_steps:,} steps (at t={now:.1f}s)"
            )
        if on_progress is not None:
            on_progress((now - start) / span)

    # -- diagnosis --------------------------------------------------------------------------
    def _spinning(self, steps: int) -> Spinning:
        """Watch a few more steps: who schedules events at this very instant?"""
        env = self.env
        now = env.now
        creators: Counter[tuple[Frame, ...]] = Counter()
        procs: Counter[str] = Counter()
        schedule = env.schedule

        def watching(event: Any, priority: EventPriority = NORMAL, delay: float = 0) -> None:
            if delay == 0:
                creators[_chain(inspect.currentframe())] += 1
                proc = env.active_process
                if proc is not None:
                    procs[proc.name] += 1
            schedule(event, priority, delay)

        env.schedule = watching  # type: ignore[method-assign]
        try:
            for _ in range(_DIAGNOSE_STEPS):
                env.step()
        except (StopSimulation, simpy.core.EmptySchedule):
            pass
        finally:
            del env.schedule
        stack = creators.most_common(1)[0][0] if creators else ()
        proc = procs.most_common(1)[0][0] if procs else None
        return Spinning(
            f"simulated time stopped at t={now:.1f}s: {steps:,} steps without the clock "
            "moving (a loop in zero simulated time)",
            stack,
            proc,
        )


def _chain(frame: FrameType | None) -> tuple[Frame, ...]:
    """The frames that led to scheduling an event, innermost first, without SimPy's own and
    this module's: the code that created the event and its callers."""
    out = []
    while frame is not None:
        code = frame.f_code
        name = code.co_filename
        if not name.startswith(_SIMPY) and name != _HERE:
            out.append((name, frame.f_lineno, code.co_name))
        frame = frame.f_back
    return tuple(out)


def _short(filename: str) -> str:
    """``sim/runner.py`` rather than the absolute path, where the file is in a package."""
    parts = Path(filename).parts
    for anchor in ("sim", "mocks", "strategies"):
        if anchor in parts:
            i = len(parts) - 1 - parts[::-1].index(anchor)
            return "/".join(parts[i:])
    return Path(filename).name


def drive(
    env: simpy.Environment,
    until: float,
    *,
    on_progress: Callable[[float], None] | None = None,
    stall_steps: int = STALL_STEPS,
    max_steps: int | None = None,
) -> Loop:
    """Run ``env`` to ``until`` with the guards of this module; returns the ``Loop``."""
    loop = Loop(env, stall_steps=stall_steps, max_steps=max_steps)
    loop.run(until, on_progress)
    return loop


@contextmanager
def _few_collections() -> Iterator[None]:
    """Collect, then freeze what exists (the built world) out of the collector's reach; collect the
    youngest generation every ``GC_GEN0`` allocations; restore both afterwards."""
    old = gc.get_threshold()
    gc.collect()  # what earlier runs left behind is not frozen with the world
    gc.freeze()
    gc.set_threshold(GC_GEN0, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()
