"""Bundles and kits for strategies: a bundle's availability is what its components make up.

A bundle (``catalogue.bundles``) holds no stock of its own: the ERP and the WMS keep none
of it, its orders reach the ERP as component lines, and its true availability for a
channel is the minimum over its components of their availability // units per bundle.
A strategy must compute it. ``Bundles`` is the master data with the two steps every
built-in takes:

- ``affected(skus)``: those SKUs and the bundles any of them is part of (what to write
  when they changed); ``inputs(skus)`` adds the components of the bundles among them (what
  to read), and ``expand`` is both;
- ``compose(skus, values, as_of, lookup)``: in place, each bundle among ``skus`` gets the
  minimum over its components of value // units, current to the oldest component's
  ``as_of``; ``lookup(components) -> (values, as_of)`` gives components not in ``skus``.

A strategy that skips either step pushes a stale bundle count (the bundle's own, which
nothing changes), and ``bundle_oversold_lines`` shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.products import Catalogue

__all__ = ["Bundles", "Lookup"]

Lookup = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class Bundles:
    """A catalogue's bundles: ``components[b] = [(component, units)]``, ``of[c] = [b]``."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.components: dict[int, list[tuple[int, int]]] = dict(catalogue.bundles)
        self.of: dict[int, list[int]] = {}
        for b, comps in self.components.items():
            for c, _ in comps:
                self.of.setdefault(c, []).append(b)

    def __bool__(self) -> bool:
        return bool(self.components)

    def affected(self, skus: np.ndarray) -> np.ndarray:
        """``skus`` with the bundles any of them is part of (sorted, unique)."""
        if not self.components:
            return skus
        out = set(skus.tolist())
        for s in skus.tolist():
            out.update(self.of.get(s, ()))
        return np.array(sorted(out), np.int64)

    def inputs(self, skus: np.ndarray) -> np.ndarray:
        """``skus`` with every component of the bundles among them (sorted, unique)."""
        if not self.components:
            return skus
        out = set(skus.tolist())
        for s in skus.tolist():
            out.update(c for c, _ in self.components.get(s, ()))
        return np.array(sorted(out), np.int64)

    def expand(self, skus: np.ndarray) -> np.ndarray:
        """What to read when ``skus`` changed: ``inputs(affected(skus))``."""
        return self.inputs(self.affected(skus))

    def compose(
        self, skus: np.ndarray, values: np.ndarray, as_of: np.ndarray, lookup: Lookup
    ) -> None:
        """Set, in place, each bundle's value and ``as_of`` from its components'."""
        if not self.components:
            return
        listed = skus.tolist()
        at = [i for i, s in enumerate(listed) if s in self.components]
        if not at:
            return
        pos = {s: i for i, s in enumerate(listed)}
        missing = sorted({c for i in at for c, _ in self.components[listed[i]] if c not in pos})
        more_v, more_a = lookup(np.array(missing, np.int64)) if missing else ((), ())
        extra = {c: (int(more_v[j]), float(more_a[j])) for j, c in enumerate(missing)}
        for i in at:
            v, a = [], []
            for c, k in self.components[listed[i]]:
                cv, ca = (int(values[pos[c]]), float(as_of[pos[c]])) if c in pos else extra[c]
                v.append(max(0, cv) // k)
                a.append(ca)
            values[i] = min(v)
            as_of[i] = min(a)
