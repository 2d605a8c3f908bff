"""The product catalogue of a run: SKU codes, names, categories, prices and popularity.

SKU ``i`` has popularity rank ``i`` (SKU 0 sells most), with Zipf weights ``1 / (i+1)**s``.
Names and categories come from Faker seeded by the run's own stream, so reports read like a
real business and the same seed gives the same catalogue. Names are built lazily (a
100,000-SKU catalogue costs nothing until a report asks for names).

With a catalogue file (``sim.business``) its codes, names, prices and popularity weights
(run-wide and per channel) replace the drawn ones; the draws still happen, so the streams
after them are the same.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from faker import Faker

from sim.business import CatalogueFile
from sim.schema import Catalogue as CatalogueSpec

__all__ = ["Catalogue"]


class Catalogue:
    """SKU attributes for one run."""

    def __init__(
        self, spec: CatalogueSpec, rng: np.random.Generator, own: CatalogueFile | None = None
    ) -> None:
        self.spec = spec
        self.n = spec.skus
        self.own = own
        ranks = np.arange(1, self.n + 1, dtype=float)
        w = ranks ** (-spec.zipf)
        self.popularity = w / w.sum()
        self.prices = np.round(
            np.exp(rng.uniform(np.log(spec.price_low), np.log(spec.price_high), self.n)), 2
        )
        self.category_of = rng.integers(0, spec.categories, self.n)
        self._faker_seed = int(rng.integers(0, 2**31 - 1))
        #: bundles and kits: bundle SKU -> [(component SKU, units per bundle)]
        self.bundles: dict[int, list[tuple[int, int]]] = {
            b.sku: sorted(b.components.items()) for b in spec.bundles
        }
        if own is not None:
            if "" in own.shares:
                self.popularity = own.shares[""] / own.shares[""].sum()
            if own.prices is not None:
                self.prices = np.round(own.prices, 2)

    def popularity_of(self, channel: str) -> np.ndarray:
        """The SKU weights a channel's customers draw from (summing to 1)."""
        if self.own is not None and channel in self.own.shares:
            w = self.own.shares[channel]
            return w / w.sum()
        return self.popularity

    @cached_property
    def _faker(self) -> Faker:
        fake = Faker()
        fake.seed_instance(self._faker_seed)
        return fake

    @cached_property
    def codes(self) -> list[str]:
        if self.own is not None:
            return list(self.own.codes)
        return [f"SKU-{i:06d}" for i in range(self.n)]

    @cached_property
    def categories(self) -> list[str]:
        fake = self._faker
        names: list[str] = []
        while len(names) < self.spec.categories:
            word = fake.word().title()
            if word not in names:
                names.append(word)
        return names

    @cached_property
    def names(self) -> list[str]:
        if self.own is not None and self.own.names is not None:
            return list(self.own.names)
        fake = self._faker
        adjectives = [fake.color_name() for _ in range(64)]
        nouns = [fake.word().title() for _ in range(256)]
        gen = np.random.default_rng(self._faker_seed)
        a = gen.integers(0, len(adjectives), self.n)
        b = gen.integers(0, len(nouns), self.n)
        cats = self.categories
        return [
            f"{adjectives[a[i]]} {nouns[b[i]]} {cats[self.category_of[i]]}" for i in range(self.n)
        ]

    def label(self, sku: int) -> str:
        return f"{self.codes[sku]} {self.names[sku]}"
