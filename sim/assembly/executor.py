"""Running many independent runs on a local process pool.

Each job is (scenario, strategy, seed, strategy parameters); results come back in job order
and are identical to running the jobs one after the other (every run owns its seed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from sim.assembly.runner import run
from sim.schema import Scenario

__all__ = ["Job", "RunError", "default_workers", "run_jobs"]


@dataclass(frozen=True)
class Job:
    scenario: Scenario
    strategy: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of ``run``
    capture_errors: bool = False  # a failing run becomes a ``RunError`` instead of raising


@dataclass(frozen=True)
class RunError:
    """A run that raised (a strategy crash, a failed safety check), kept as a result."""

    scenario: str
    strategy: str
    seed: int
    message: str


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _run(job: Job) -> Any:
    try:
        return run(
            job.scenario, job.strategy, job.seed, strategy_params=job.params or None, **job.options
        )
    except Exception as exc:
        if not job.capture_errors:
            raise
        return RunError(job.scenario.id, job.strategy, job.seed, f"{type(exc).__name__}: {exc}")


def run_jobs(
    jobs: Sequence[Job],
    workers: int = 1,
    on_done: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Run ``jobs`` (in-process when ``workers`` is 1); ``on_done(index, result)`` as each
    finishes. Exceptions propagate (the first failing run stops the batch)."""
    results: list[Any] = [None] * len(jobs)
    if workers <= 1 or len(jobs) <= 1:
        for i, job in enumerate(jobs):
            results[i] = _run(job)
            if on_done:
                on_done(i, results[i])
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            futures = {pool.submit(_run, job): i for i, job in enumerate(jobs)}
            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                if on_done:
                    on_done(i, results[i])
    return [r for r in results if r is not None]
