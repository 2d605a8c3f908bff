"""Durations and delay distributions as they are written in scenario files.

A *duration* is seconds of simulated time, written as a number (``900``) or a string with a
unit (``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``). A *distribution* is a duration (a fixed
delay) or a table naming a law::

    pick_delay = "20m"                                   # always 20 minutes
    pick_delay = { dist = "exponential", mean = "20m" }
    pick_delay = { dist = "lognormal", mean = "20m", cv = 0.5 }
    pick_delay = { dist = "uniform", low = "5m", high = "40m" }

Every law has a ``mean`` so that planning code (reorder points) can use it, and samples with
a generator that the caller passes in: there is no hidden randomness here.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, model_validator

__all__ = [
    "MAX_DURATION",
    "Dist",
    "Duration",
    "Exponential",
    "Fixed",
    "LogNormal",
    "Uniform",
    "parse_duration",
]

#: the longest duration anywhere in a scenario (seconds; about 317 years)
MAX_DURATION = 1e10

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-z]*)\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from ``900``, ``"900"``, ``"15m"``, ``"2h"``, ``"1.5d"``; negatives refused."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 900, '15m' or '2h', got a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION_RE.match(value)
        if not m or m.group(2) not in _UNITS:
            raise ValueError(f"expected a duration such as 900, '15m' or '2h', got {value!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as 900, '15m' or '2h', got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be finite and >= 0, got {value!r}")
    if seconds > MAX_DURATION:
        raise ValueError(f"a duration must be at most {MAX_DURATION:g} s, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds of simulated time; accepts numbers and strings with units."""


class _Law(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @property
    def mean(self) -> float:  # pragma: no cover - every law overrides
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        """One draw (``size=None``) or an array of ``size`` draws, all >= 0."""
        raise NotImplementedError  # pragma: no cover

    @property
    def is_zero(self) -> bool:
        return self.mean == 0.0


class Fixed(_Law):
    dist: Literal["fixed"] = "fixed"
    value: Duration = 0.0

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        return self.value if size is None else np.full(size, self.value)


class Exponential(_Law):
    dist: Literal["exponential"]
    mean_: Duration = Field(alias="mean")

    @property
    def mean(self) -> float:
        return self.mean_

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        if self.mean_ == 0.0:
            return 0.0 if size is None else np.zeros(size)
        return rng.exponential(self.mean_, size)


class LogNormal(_Law):
    """Log-normal with the given mean and coefficient of variation (std / mean)."""

    dist: Literal["lognormal"]
    mean_: Duration = Field(alias="mean")
    cv: Annotated[float, Strict()] = Field(0.5, ge=0, le=100)

    @property
    def mean(self) -> float:
        return self.mean_

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        if self.mean_ == 0.0:
            return 0.0 if size is None else np.zeros(size)
        sigma2 = math.log1p(self.cv**2)
        mu = math.log(self.mean_) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), size)


class Uniform(_Law):
    dist: Literal["uniform"]
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        return rng.uniform(self.low, self.high, size)


def _as_law(value: Any) -> Any:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return {"dist": "fixed", "value": value}
    return value


Dist = Annotated[
    Fixed | Exponential | LogNormal | Uniform,
    BeforeValidator(_as_law),
    Field(discriminator="dist"),
]
"""A delay distribution: a duration (fixed) or a table with ``dist`` = fixed, exponential,
lognormal or uniform."""
