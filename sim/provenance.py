"""Provenance: how current a system's view of stock is, as a truth time (``as_of``).

Every change of truth (a change of ``available`` at one SKU-location, see ``sim.ledger``) gets
a sequence number and a time. A *view* (the WMS's knowledge, the ERP's, ...) holds the changes
it has not yet taken in as *pending*; the view is current, for one SKU-location, up to just
before its oldest pending change::

    as_of(view, loc, sku) = now                          if nothing is pending
                          = the float just below t_oldest otherwise

so "the view includes the change made at t0" is exactly ``as_of >= t0``. Reads from a system
return the ``as_of`` of what they read; strategies carry it along and every channel write
records the minimum ``as_of`` of its inputs. Lag is then measured from these records, never
from what a strategy believes.

Changes are added in non-decreasing time order (simulated time never goes back), so each
SKU-location's pending changes form a queue in which arbitrary items may be taken in early;
the head is found by skipping items already taken in. Every operation is O(1) amortised.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["PendingView"]

_INF = float("inf")


class PendingView:
    """The truth changes one system has not yet taken in, per (location, SKU)."""

    def __init__(self, name: str, n_loc: int, n_sku: int, times: list[float]) -> None:
        self.name = name
        self.n_sku = n_sku
        self._times = times  # shared with the ledger: seq -> time
        self._head = np.full(n_loc * n_sku, _INF)
        self._queues: dict[int, deque[int]] = {}
        self._keys: dict[int, int] = {}  # pending seq -> flat key

    def add(self, key: int, seq: int) -> None:
        """Change ``seq`` at flat key ``loc * n_sku + sku`` is not yet known to this view."""
        q = self._queues.get(key)
        if q is None:
            q = self._queues[key] = deque()
        if not q:
            self._head[key] = self._times[seq]
        q.append(seq)
        self._keys[seq] = key

    def include(self, seqs: Iterable[int]) -> None:
        """The view has now taken in these changes (unknown or repeated seqs are ignored)."""
        keys = self._keys
        if type(seqs) is tuple and len(seqs) <= 1:  # the common case: one change or none
            key = keys.pop(seqs[0], None) if seqs else None
            if key is not None:
                q = self._queues[key]
                while q and q[0] not in keys:
                    q.popleft()
                self._head[key] = self._times[q[0]] if q else _INF
            return
        touched = set()
        for seq in seqs:
            key = keys.pop(seq, None)
            if key is not None:
                touched.add(key)
        for key in touched:
            q = self._queues[key]
            while q and q[0] not in keys:
                q.popleft()
            self._head[key] = self._times[q[0]] if q else _INF

    def pending_until(self, loc: int, sku: int, t: float) -> list[int]:
        """The changes at (loc, sku) made at or before ``t`` that the view has not taken in
        (what a file snapshotted at ``t`` brings it), oldest first."""
        q = self._queues.get(loc * self.n_sku + sku)
        if not q:
            return []
        keys, times = self._keys, self._times
        out = []
        for seq in q:
            if times[seq] > t:
                break
            if seq in keys:
                out.append(seq)
        return out

    def pending(self, seq: int) -> bool:
        return seq in self._keys

    def pending_count(self) -> int:
        return len(self._keys)

    def as_of(self, now: float) -> np.ndarray:
        """``as_of`` for every (location, SKU), shape (n_loc, n_sku)."""
        head = self._head.reshape(-1, self.n_sku)
        return np.where(head == _INF, now, np.nextafter(head, -_INF))

    def as_of_for(self, locs: Any, skus: Any, now: float) -> np.ndarray:
        """``as_of`` for the given locations (rows) and SKUs (columns)."""
        flat = np.asarray(locs, np.int64)[:, None] * self.n_sku + np.asarray(skus, np.int64)
        head = self._head[flat]  # flat indices: much cheaper than np.ix_ for small pages
        return np.where(head == _INF, now, np.nextafter(head, -_INF))

    def min_as_of(self, locs: Any, skus: Any, now: float) -> np.ndarray:
        """For each SKU, the minimum over ``locs`` of its ``as_of``: how current a value
        computed from all those locations is. Equal to ``as_of_for(...).min(axis=0)``
        (``nextafter`` is monotone, so the minimum is taken on the heads first)."""
        n = self.n_sku
        if len(skus) <= 16:  # a handful of SKUs: plain Python beats numpy's per-call cost
            head = self._head.item
            out = []
            for s in np.asarray(skus).tolist():
                h = _INF
                for loc in locs:
                    x = head(loc * n + s)
                    if x < h:
                        h = x
                out.append(now if h == _INF else math.nextafter(h, -_INF))
            return np.array(out, float)
        flat = np.asarray(locs, np.int64)[:, None] * n + np.asarray(skus, np.int64)
        head = self._head[flat].min(axis=0)
        return np.where(head == _INF, now, np.nextafter(head, -_INF))

    def as_of_at(self, loc: int, sku: int, now: float) -> float:
        h = self._head.item(loc * self.n_sku + sku)
        return now if h == _INF else math.nextafter(h, -_INF)  # the same IEEE step as numpy
