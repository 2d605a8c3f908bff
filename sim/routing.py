"""Order routing and delivery: which locations may serve an order, in which order, and how
long a shipment takes to reach the customer's region.

Each order of a scenario with ``[[regions]]`` draws a customer region (in proportion to the
regions' weights, from its channel's own stream). A channel's ``routing`` orders its
locations for that region:

- ``priority``: the channel's locations as listed (the only rule without regions);
- ``nearest``: the shortest carrier transit (``locations.transit``) to the region first;
- ``cost``: the lowest shipping cost per unit (``locations.ship_cost``) to the region first.

Ties keep the listed order. The ERP allocates in that order (``mocks.erp``), and the truth
claims an accepted line in it (``sim.ledger``), so claims start where the stock will be
taken. Delivery time of a line: from acceptance to its last unit's ship time plus the
transit from the location it shipped from to the region (the slowest, if several).
"""

from __future__ import annotations

import numpy as np

from sim.schema import Scenario

__all__ = ["Routing"]


class Routing:
    """Routes and transit times of one scenario."""

    def __init__(self, sc: Scenario) -> None:
        self.regions = [r.name for r in sc.regions]
        n_loc, n_reg = len(sc.locations), max(1, len(self.regions))
        self.transit = np.zeros((n_loc, n_reg))
        self.cost = np.zeros((n_loc, n_reg))
        for i, loc in enumerate(sc.locations):
            for name, t in loc.transit.items():
                self.transit[i, self.regions.index(name)] = float(t)
            for name, c in loc.ship_cost.items():
                self.cost[i, self.regions.index(name)] = float(c)
        w = np.array([r.weight for r in sc.regions], float)
        self.weights = w / w.sum() if w.size else w
        self._serve = [[sc.location_index(n) for n in ch.locations] for ch in sc.channels]
        self._rule = [ch.routing for ch in sc.channels]
        self._cache: dict[tuple[int, int], list[int]] = {}

    @property
    def active(self) -> bool:
        """Orders draw regions (the scenario has some)."""
        return bool(self.regions)

    def draw(self, rng: np.random.Generator) -> int:
        """A customer region, by weight."""
        return int(rng.choice(len(self.regions), p=self.weights))

    def route(self, channel: int, region: int) -> list[int] | None:
        """The channel's locations in the order its rule tries them for ``region`` (None:
        the listed order)."""
        rule = self._rule[channel]
        if rule == "priority" or region < 0:
            return None
        key = (channel, region)
        got = self._cache.get(key)
        if got is None:
            table = self.transit if rule == "nearest" else self.cost
            serve = self._serve[channel]
            got = sorted(serve, key=lambda loc: (table[loc, region], serve.index(loc)))
            self._cache[key] = got
        return got

    def transit_of(self, loc: int, region: int) -> float:
        return float(self.transit[loc, region]) if region >= 0 else 0.0
