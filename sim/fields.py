"""Field types of scenario files: strict scalars, bounded counts, finite reals, intervals.

A scenario file is typed input from a person; these types make pydantic refuse what would
be accepted by accident: a boolean where a number belongs (``skus = true``), a string where
a boolean belongs (``enabled = "yes"``), ``inf`` or ``nan`` anywhere, counts past what int64
holds, and periods so short that a process would wake up millions of times per simulated
second. Every frozen model of a scenario derives from ``SpecModel``.

Limits (each a module constant, named in the error message when it is hit):

- ``MIN_INTERVAL``: the shortest period of any recurring job or sampling (1 ms);
- ``MAX_HORIZON``: the longest scenario (three years of simulated time);
- ``MAX_COUNT``: the largest count of units or items anywhere (10^12).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

from sim.dists import parse_duration

__all__ = [
    "MAX_COUNT",
    "MAX_HORIZON",
    "MIN_INTERVAL",
    "Count",
    "Flag",
    "Fraction",
    "Int",
    "Interval",
    "Positive",
    "Real",
    "Retries",
    "SpecModel",
]

#: the shortest period of a recurring job, a sampling interval or a Retry-After (seconds)
MIN_INTERVAL = 1e-3
#: the longest scenario: three years of simulated time (seconds)
MAX_HORIZON = 3 * 366 * 86400.0
#: the largest count of units or items a scenario may name
MAX_COUNT = 10**12

Int = Annotated[int, Strict()]
"""An integer written as one: no booleans, no floats, no strings."""

Real = Annotated[float, Strict()]
"""A finite number (an integer is fine); no booleans, no strings; ``SpecModel`` refuses
``inf`` and ``nan``."""

Flag = Annotated[bool, Strict()]
"""``true`` or ``false``; no ``"yes"``, no ``1``."""

Count = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]
"""A count of units or items: a non-negative integer up to ``MAX_COUNT``."""

Positive = Annotated[int, Strict(), Field(ge=1, le=MAX_COUNT)]
"""A positive count (a page size, a number of workers)."""

Retries = Annotated[int, Strict(), Field(ge=0, le=1000)]
"""How many times a call is retried (at most 1000)."""

Fraction = Annotated[float, Strict(), Field(ge=0, le=1)]
"""A share or a probability, in [0, 1]."""

Interval = Annotated[float, BeforeValidator(parse_duration), Field(ge=MIN_INTERVAL)]
"""The period of something that recurs (a job, a poll, a sample): a duration of at least
``MIN_INTERVAL``, so that no process can wake up in zero simulated time."""


class SpecModel(BaseModel):
    """A frozen part of a scenario: unknown keys and non-finite numbers are refused."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )
