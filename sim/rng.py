"""Random number streams: one seed per run, one independent generator per component.

Every stochastic component asks for its own stream by a stable name (``"demand/shop-a"``,
``"erp/api"``). The stream is derived from the run's seed with ``numpy.random.SeedSequence``
and a spawn key computed from the name, so adding a component never shifts another
component's numbers, and demand is identical across strategies that share a seed (common
random numbers). There is no global generator anywhere in syncsim.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["Streams"]


class Streams:
    """Factory of named, independent ``numpy.random.Generator`` streams for one run."""

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.seed = int(seed)
        self._issued: dict[str, np.random.Generator] = {}

    def stream(self, name: str) -> np.random.Generator:
        """The generator for component ``name``; the same object on every call."""
        gen = self._issued.get(name)
        if gen is None:
            key = zlib.crc32(name.encode("utf-8"))
            seq = np.random.SeedSequence(entropy=self.seed, spawn_key=(key,))
            gen = np.random.Generator(np.random.PCG64(seq))
            self._issued[name] = gen
        return gen

    def names(self) -> list[str]:
        """Names of the streams issued so far, in order of first use."""
        return list(self._issued)
