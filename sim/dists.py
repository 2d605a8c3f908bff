"""Durations and delay distributions as they are written in scenario files.

A *duration* is seconds of simulated time, written as a number (``900``) or a string with a
unit (``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``). A *distribution* is a duration (a fixed
delay) or a table naming a law::

    pick_delay = "20m"                                   # always 20 minutes
    pick_delay = { dist = "exponential", mean = "20m" }
    pick_delay = { dist = "lognormal", mean = "20m", cv = 0.5 }
    pick_delay = { dist = "uniform", low = "5m", high = "40m" }
    latency = { dist = "empirical", samples = [0.12, 0.15, 0.2, 0.9, 0.14] }   # measured
    latency = { dist = "empirical", quantiles = { "0.5" = 0.15, "0.95" = 0.8, "1" = 3 } }

Every law has a ``mean`` so that planning code (reorder points) can use it, and samples with
a generator that the caller passes in: there is no hidden randomness here.
"""

from __future__ import annotations

import math
import re
from functools import cached_property
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, model_validator

__all__ = [
    "MAX_DURATION",
    "Dist",
    "Duration",
    "Empirical",
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


class _Grid:
    """Derived data cached on a law: equal to any other grid, so that two laws are equal
    exactly when their fields are, whether or not either has drawn yet."""

    __slots__ = ("cdf", "edges")

    def __init__(self, cdf: np.ndarray, edges: np.ndarray) -> None:
        self.cdf, self.edges = cdf, edges

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Grid)

    __hash__ = None  # type: ignore[assignment]


class Empirical(_Law):
    """A measured distribution: ``samples`` (durations as measured, binned into ``bins``
    equal-width bins) or ``quantiles`` (probability -> duration, a piecewise-linear CDF
    through them; ``"0"`` defaults to 0 s, ``"1"``, the longest value, must be given).

    The distribution is scipy's ``rv_histogram`` of the samples (or of the quantile steps,
    one bin per step with its probability): a density constant within each bin, so its CDF
    is linear between the bin edges. Draws invert that CDF with one uniform draw of the
    caller's generator (``np.interp`` on the edges: the same values as
    ``rv_histogram.ppf``, without its per-call overhead on the hot path)."""

    dist: Literal["empirical"]
    samples: list[Duration] | None = Field(None, min_length=2, max_length=1_000_000)
    quantiles: dict[str, Duration] | None = Field(None, min_length=2, max_length=1000)
    bins: int = Field(50, ge=1, le=10_000)

    @model_validator(mode="after")
    def _one_form(self) -> Empirical:
        if (self.samples is None) == (self.quantiles is None):
            raise ValueError("give samples or quantiles (exactly one of them)")
        if self.samples is not None and max(self.samples) == min(self.samples):
            raise ValueError("samples are all equal: use a fixed duration")
        if self.quantiles is not None:
            self._checked_quantiles()
        return self

    def _checked_quantiles(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.quantiles is not None
        pairs = []
        for key, value in self.quantiles.items():
            try:
                p = float(key)
            except ValueError:
                raise ValueError(f"quantiles: {key!r} is not a probability") from None
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"quantiles: {key!r} is not a probability in [0, 1]")
            pairs.append((p, float(value)))
        pairs.sort()
        if pairs[-1][0] != 1.0:
            raise ValueError('quantiles: give "1" (the longest value measured) as well')
        if pairs[0][0] != 0.0:
            pairs.insert(0, (0.0, 0.0))
        probs = np.array([p for p, _ in pairs])
        values = np.array([v for _, v in pairs])
        if np.any(np.diff(values) < 0):
            raise ValueError("quantiles: durations must not decrease as the probability grows")
        if np.any(np.diff(probs) <= 0) or values[-1] == values[0]:
            raise ValueError("quantiles: need at least two distinct probabilities and values")
        return probs, values

    def _histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin weights, bin edges) of the distribution."""
        if self.samples is not None:
            counts, edges = np.histogram(np.asarray(self.samples, float), bins=self.bins)
            return counts.astype(float), edges
        probs, values = self._checked_quantiles()
        keep = np.diff(values) > 0  # a step of zero width carries no mass of its own
        weights = np.diff(probs)
        edges = np.concatenate([[values[0]], values[1:][keep]])
        merged = np.add.reduceat(weights, np.flatnonzero(np.concatenate([[True], keep[:-1]])))
        return merged[: len(edges) - 1], edges

    def distribution(self) -> Any:
        """The distribution as a frozen ``scipy.stats.rv_histogram``."""
        from scipy.stats import rv_histogram

        return rv_histogram(self._histogram(), density=False)

    @cached_property
    def _grid(self) -> _Grid:
        """The CDF at the bin edges and the edges: computed once per law."""
        weights, edges = self._histogram()
        return _Grid(np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum(), edges)

    @property
    def mean(self) -> float:
        weights, edges = self._histogram()
        mids = (edges[:-1] + edges[1:]) / 2
        return float(np.dot(weights, mids) / weights.sum())

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        cdf, edges = self._grid.cdf, self._grid.edges
        u = rng.random(size)
        return float(np.interp(u, cdf, edges)) if size is None else np.interp(u, cdf, edges)


def _as_law(value: Any) -> Any:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return {"dist": "fixed", "value": value}
    return value


Dist = Annotated[
    Fixed | Exponential | LogNormal | Uniform | Empirical,
    BeforeValidator(_as_law),
    Field(discriminator="dist"),
]
"""A delay distribution: a duration (fixed) or a table with ``dist`` = fixed, exponential,
lognormal, uniform or empirical."""
