"""The strategy contract: one small base class with one required method.

A strategy is the integration layer. ``start(env, systems)`` starts its SimPy processes and
returns; from then on it talks to the systems only through their integration APIs
(``systems.erp``, ``systems.wms``, ``systems.channels``, ``systems.bus``: the protocols of
``sim.contract``), each call costing simulated time and capacity. Three hooks are optional,
with defaults here:

- ``metrics()``: extra, strategy-specific numbers for the run's metrics (names must not
  clash with the core keys);
- ``queues()``: the strategy's own queues (``QueueRecord``: what went in, what came out),
  checked for loss and duplicates like the bus (``checks.liveness``);
- ``close()``: called once after the run ends, whatever happened.

Parameters are a small frozen dataclass, ``Params``, filled from the scenario's
``[strategies.<name>]`` table. ``FunctionStrategy`` turns a plain function into a strategy
for quick experiments and tests (as httpx's ``MockTransport`` turns a function into a
transport). The building blocks of the built-ins are public in ``strategies.kit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import simpy

    from sim.contract import Systems
    from sim.history import QueueRecord

__all__ = ["FunctionStrategy", "NoParams", "SyncStrategy"]


@dataclass(frozen=True)
class NoParams:
    """A strategy without parameters."""


class SyncStrategy:
    """Base class of every sync strategy. Override ``start``; the rest is optional."""

    name: ClassVar[str] = "unnamed"
    Params: ClassVar[type] = NoParams

    def __init__(self, params: Any = None) -> None:
        self.params = params if params is not None else self.Params()

    def start(self, env: simpy.Environment, systems: Systems) -> None:
        """Start the strategy's processes in ``env``; ``systems`` holds the APIs."""
        raise NotImplementedError(f"{type(self).__name__} must implement start(env, systems)")

    def metrics(self) -> dict[str, float]:
        """Extra strategy-specific metrics for the run (none by default)."""
        return {}

    def queues(self) -> list[QueueRecord]:
        """The strategy's own queues, checked for loss and duplicates (none by default)."""
        return []

    def close(self) -> None:
        """Called once after the run ends (nothing by default)."""


class FunctionStrategy(SyncStrategy):
    """A strategy made of one function ``fn(env, systems)``, as for tests and experiments."""

    def __init__(
        self, fn: Callable[[simpy.Environment, Systems], None], name: str | None = None
    ) -> None:
        super().__init__()
        self.fn = fn
        self.name = str(name or getattr(fn, "__name__", "function"))  # type: ignore[misc]

    def start(self, env: simpy.Environment, systems: Systems) -> None:
        self.fn(env, systems)
