"""Guards around a user strategy: a watchdog for code that never yields, and describing
what a strategy did wrong in one line.

The watchdog works outside the simulation clock. SimPy only moves on when a process yields;
a strategy that loops without yielding freezes simulated time for ever. ``Watchdog`` reads
the run loop's step counter (``sim.loop.Loop.steps``, kept per batch of steps, so nothing is
added to each step) and the clock and, from a wall-clock interval timer
(``signal.setitimer`` in the main thread of the harness process), raises ``StrategyHung``
inside the running code when neither has moved for ``budget`` wall seconds. It never changes
what a healthy run does (it only reads), so results stay deterministic. Where no interval
timer is available (another thread, another OS) the watchdog is off. Loops in zero
simulated time (steps happen, the clock stays) are the run loop's own liveness guard.

Writes outside the APIs are refused where they happen: channels' shown counts and their
``as_of`` are read-only arrays, and their privileged ``apply_write*`` refuse in a run
(``mocks.channel.WriteOutsideApi``); tampering with the ERP, the WMS or the truth ledger is
caught by the end-of-run audit (``sim.checks``: conservation and ledger balances).
"""

from __future__ import annotations

import os
import signal
import sysconfig
import threading
import time
import types
from pathlib import Path
from typing import Any

import simpy

__all__ = [
    "DEFAULT_STEP_BUDGET",
    "HARNESS_PATHS",
    "LIBRARY_PATHS",
    "STRATEGY_PATH",
    "StrategyHung",
    "Watchdog",
    "describe_exception",
    "step_budget",
]

#: wall seconds one simulation step may take before the strategy is declared hung
DEFAULT_STEP_BUDGET = 30.0


class StrategyHung(BaseException):
    """Raised by the watchdog inside code that has not yielded for the budget.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that a strategy's broad
    ``except Exception`` cannot swallow it."""


def step_budget(value: float | None = None) -> float:
    """The watchdog budget: ``value``, else ``$SYNCSIM_STEP_BUDGET``, else the default;
    0 switches the watchdog off."""
    if value is not None:
        return float(value)
    raw = os.environ.get("SYNCSIM_STEP_BUDGET", "")
    try:
        return float(raw) if raw else DEFAULT_STEP_BUDGET
    except ValueError:
        return DEFAULT_STEP_BUDGET


#: code of the harness itself: syncsim's kernel (sim/) and mocks (mocks/)
HARNESS_PATHS: tuple[str, ...] = (
    str(Path(__file__).resolve().parent) + os.sep,
    str(Path(__file__).resolve().parent.parent / "mocks") + os.sep,
)
#: syncsim's built-in strategies: strategy code, like a user's own module
STRATEGY_PATH = str(Path(__file__).resolve().parent.parent / "strategies") + os.sep
#: the standard library and installed packages (SimPy, numpy, ...): neither harness nor strategy
LIBRARY_PATHS: tuple[str, ...] = tuple(
    sorted(
        {
            p + os.sep
            for key in ("stdlib", "platstdlib", "purelib", "platlib")
            if (p := sysconfig.get_paths().get(key))
        }
        | {str(Path(simpy.__file__).resolve().parent.parent) + os.sep, "<frozen "}
    )
)


class Watchdog:
    """``with Watchdog(loop, budget):`` around ``loop.run``; see the module docstring."""

    def __init__(self, loop: Any, budget: float) -> None:
        self.loop = loop
        self.env = loop.env
        self.budget = float(budget)
        self._seen: tuple[int, float] = (-1, -1.0)
        self._since = 0.0
        self._active = False
        self._prev_handler: Any = None

    def __enter__(self) -> Watchdog:
        usable = (
            self.budget > 0
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # nobody else's timer
        )
        if not usable:
            return self
        self._since = time.monotonic()
        self._prev_handler = signal.signal(signal.SIGALRM, self._tick)
        tick = max(0.01, self.budget / 4)
        signal.setitimer(signal.ITIMER_REAL, tick, tick)
        self._active = True
        return self

    def _tick(self, signum: int, frame: types.FrameType | None) -> None:
        now = time.monotonic()
        seen = (self.loop.steps, float(self.env.now))
        if seen != self._seen:
            self._seen, self._since = seen, now
            return
        if now - self._since >= self.budget:
            self._since = now  # once per budget, should the hung code catch it
            raise StrategyHung(
                f"did not yield for {self.budget:g} s of wall time at t={self.env.now:.1f}s "
                "(a loop without yield?)"
            )

    def __exit__(self, *exc: object) -> None:
        if not self._active:
            return
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, self._prev_handler)
        self._active = False


def describe_exception(exc: BaseException) -> str:
    """What a strategy did, in one line, from the exception it raised."""
    if isinstance(exc, StrategyHung) or type(exc).__name__ == "Spinning":
        return str(exc)
    if isinstance(exc, ValueError) and "read-only" in str(exc):
        return f"wrote into a read-only system state array outside its APIs ({exc})"
    kind = type(exc).__name__
    if kind == "WriteOutsideApi":
        return str(exc)
    return f"{kind}: {exc}"
