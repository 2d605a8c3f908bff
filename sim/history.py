"""Operation history, Jepsen style: every integration call and bus publication.

Each operation is recorded when it is invoked and again when it completes, as ``ok`` (it
took effect), ``fail`` (it certainly did not: refused, throttled, unavailable) or ``info``
(the client does not know: it timed out, and the call may or may not have taken effect).
The history is kept in the results as ``history.parquet``. A run that does not keep it
(``History(env, keep=False)``) only counts the records by type: the checks need no more, and a
week of an event-driven run keeps a few hundred MB fewer.

``total_queue`` checks a queue the way Jepsen's total-queue checker does: every item that was
enqueued must come out (``lost`` otherwise, unless still in flight at the end), at most once
(``duplicated``), and nothing comes out that was never put in (``unexpected``); ``recovered``
items came out only after a failure (a redelivery, a retry, a replay from a dead-letter queue).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["History", "QueueRecord", "bounded", "ids", "total_queue"]

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"


class History:
    """Append-only operation log: one tuple per record (one append, the cheapest thing to do
    on every call), a DataFrame at the end."""

    COLUMNS = ("t", "op", "system", "f", "type", "status", "items")

    def __init__(self, env: Any, keep: bool = True) -> None:
        self.env = env
        self.keep = keep
        self.rows: list[tuple[float, int, str, str, str, int, int]] = []
        self._next = 0
        self._open: dict[int, tuple[str, str, int]] = {}
        self._counts = Counter[str]()
        #: called with (system, operation, status) when an operation completes
        self.listener: Callable[[str, str, int], None] | None = None
        if not keep:  # count instead of keeping: the same interface, the same op ids
            self.invoke = self._count_invoke  # type: ignore[method-assign]
            self.complete = self._count_complete  # type: ignore[method-assign]

    def _count_invoke(self, system: str, f: str, items: int = 1) -> int:
        op = self._next
        self._next += 1
        self._open[op] = (system, f, items)
        self._counts[INVOKE] += 1
        return op

    def _count_complete(self, op: int, status: int) -> None:
        system, f, _ = self._open.pop(op)
        self._counts[OK if status < 400 else INFO if status == 504 else FAIL] += 1
        if self.listener is not None:
            self.listener(system, f, status)

    def invoke(self, system: str, f: str, items: int = 1) -> int:
        op = self._next
        self._next += 1
        self._open[op] = (system, f, items)
        self.rows.append((self.env.now, op, system, f, INVOKE, 0, items))
        return op

    def complete(self, op: int, status: int) -> None:
        """Close ``op`` with an HTTP-like status: 2xx ok, 504 info (unknown), else fail."""
        system, f, items = self._open.pop(op)
        kind = OK if status < 400 else INFO if status == 504 else FAIL
        self.rows.append((self.env.now, op, system, f, kind, status, items))
        if self.listener is not None:
            self.listener(system, f, status)

    def record(self, system: str, f: str, status: int = 200, items: int = 1) -> int:
        """An operation that completes at once (e.g. a publication)."""
        op = self.invoke(system, f, items)
        self.complete(op, status)
        return op

    def open_ops(self) -> int:
        return len(self._open)

    def frame(self) -> pd.DataFrame:
        """The kept records as a DataFrame (empty when the history was not kept)."""
        # one column at a time: ``zip(*rows)`` would make an iterator per row, enough
        # container allocations in a large run to set off the cyclic garbage collector
        rows = self.rows
        cols = {c: list(map(itemgetter(i), rows)) for i, c in enumerate(self.COLUMNS)}
        return pd.DataFrame(
            {
                "t": np.asarray(cols["t"], float),
                "op": np.asarray(cols["op"], np.int64),
                "system": pd.Categorical(cols["system"]),
                "f": pd.Categorical(cols["f"]),
                "type": pd.Categorical(cols["type"], categories=[INVOKE, OK, FAIL, INFO]),
                "status": np.asarray(cols["status"], np.int64),
                "items": np.asarray(cols["items"], np.int64),
            }
        )

    def counts(self) -> dict[str, int]:
        c = Counter(map(itemgetter(4), self.rows)) if self.keep else self._counts
        return {k: c.get(k, 0) for k in (INVOKE, OK, FAIL, INFO)}


@dataclass
class QueueRecord:
    """One queue to check: what went in, what came out (with repeats), what is in flight."""

    name: str
    enqueued: list[int]
    dequeued: list[int]
    in_flight: set[int] = field(default_factory=set)
    recovered: int = 0


def total_queue(q: QueueRecord) -> dict[str, Any]:
    """Lost, duplicated and unexpected items of one queue; ``ok`` when none."""
    put = set(q.enqueued)
    out = Counter(q.dequeued)
    lost = len(put - set(out) - q.in_flight)
    duplicated = sum(1 for n in out.values() if n > 1)
    unexpected = len(set(out) - put)
    return {
        "ok": lost == 0 and duplicated == 0 and unexpected == 0,
        "enqueued": len(put),
        "dequeued": len(out),
        "lost": lost,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "in_flight": len(q.in_flight - set(out)),
        "recovered": q.recovered,
    }


def bounded(name: str, acknowledged: int, actual: int, attempted: int) -> dict[str, Any]:
    """A quantity must lie between what was acknowledged and what was attempted."""
    ok = acknowledged <= actual <= attempted
    out: dict[str, Any] = {
        "ok": ok,
        "acknowledged": acknowledged,
        "actual": actual,
        "attempted": attempted,
    }
    if not ok:
        out["detail"] = f"{name}: {actual} outside [{acknowledged}, {attempted}]"
    return out


def ids(items: Iterable[Any]) -> list[int]:
    return [int(x) for x in items]
