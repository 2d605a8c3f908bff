"""One executor for many independent runs: in this process, on a local pool, or on Dask.

A ``Job`` is one run (scenario, strategy, seed, strategy parameters, options of ``run``).
``submitter(workers, scheduler)`` gives a function that takes a list of jobs and yields
``(index, result)`` as each finishes: serially in this process (``workers`` = 1), on a local
process pool, or on a Dask cluster (``scheduler``: ``tcp://host:port`` of a running one,
``local`` for a ``LocalCluster`` of ``workers`` processes). ``run_jobs`` collects the
results in job order. Every run owns its seed, so the results are identical whichever way
they ran (except the wall-clock metrics). ``compare``, ``chaos``, ``sweep``, the
conformance checker, baselines, the pytest plugin and ``run_many`` all use this module.

A job with ``capture_errors`` turns a run that raises into a ``RunError`` (kept as a
result); otherwise the first run that raises stops the batch and its exception propagates.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.assembly.runner import RunResult, run
from sim.metrics import WALL_CLOCK_KEYS
from sim.registry import strategy_name
from sim.scenario import load_scenario, with_overrides
from sim.schema import Scenario

__all__ = [
    "Job",
    "RunError",
    "Submit",
    "dask_submitter",
    "default_workers",
    "execute",
    "pool_submitter",
    "run_differences",
    "run_jobs",
    "run_many",
    "serial",
    "submitter",
]


@dataclass(frozen=True)
class Job:
    """One run: ``run(scenario, strategy, seed, strategy_params=params, **options)``."""

    scenario: Scenario
    strategy: Any  # a name, a ``module:Class`` path, a class or an instance
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of ``run``
    capture_errors: bool = False  # a failing run becomes a ``RunError`` instead of raising
    key: str = ""  # a stable name for schedulers that want one (Dask), e.g. a sweep run id


@dataclass(frozen=True)
class RunError:
    """A run that raised (a strategy crash, a failed safety check), kept as a result."""

    scenario: str
    strategy: str
    seed: int
    message: str


def run_differences(a: RunResult | RunError, b: RunResult | RunError) -> list[str]:
    """What differs between two results of one run (a seed run twice, or directly and over
    HTTP), empty if they are the same run: ``trace_hash``, then the run-wide metrics whose
    values differ (by name; the wall-clock ones aside), then ``per_channel``; values compare
    as JSON (so NaN equals NaN). Two failed runs (``RunError``) are the same if their
    messages are; one failed run and one finished differ in ``error``."""
    if isinstance(a, RunError) or isinstance(b, RunError):
        same = isinstance(a, RunError) and isinstance(b, RunError) and a.message == b.message
        return [] if same else ["error"]
    diff = ["trace_hash"] if a.trace_hash != b.trace_hash else []
    diff += [
        k
        for k in sorted(set(a.metrics) | set(b.metrics))
        if k not in WALL_CLOCK_KEYS and json.dumps(a.metrics.get(k)) != json.dumps(b.metrics.get(k))
    ]
    if json.dumps(a.per_channel, sort_keys=True) != json.dumps(b.per_channel, sort_keys=True):
        diff.append("per_channel")
    return diff


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def execute(job: Job) -> Any:
    """One job (module level, so process pools and Dask workers can import it)."""
    try:
        return run(
            job.scenario, job.strategy, job.seed, strategy_params=job.params or None, **job.options
        )
    except Exception as exc:
        if not job.capture_errors:
            raise
        msg = f"{type(exc).__name__}: {exc}"
        return RunError(job.scenario.id, strategy_name(job.strategy), job.seed, msg)


Submit = Callable[[Sequence[Job]], Iterator[tuple[int, Any]]]
"""Runs jobs, yielding ``(index, result)`` as each finishes."""


def serial(jobs: Sequence[Job]) -> Iterator[tuple[int, Any]]:
    for i, job in enumerate(jobs):
        yield i, execute(job)


def _quiet_worker() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops them (no worker tracebacks)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _execute_indexed(item: tuple[int, Job]) -> tuple[int, Any]:
    try:
        return item[0], execute(item[1])
    except Exception as exc:  # sent back and raised in the parent, in job order of failure
        return item[0], _Raised(exc)


@dataclass(frozen=True)
class _Raised:
    error: Exception


def pool_submitter(workers: int) -> Submit:
    """Runs on a local pool of ``workers`` processes, yielding runs as they finish. An
    interrupted batch terminates its workers (unfinished runs are dropped)."""

    def submit(jobs: Sequence[Job]) -> Iterator[tuple[int, Any]]:
        n = max(1, min(workers, len(jobs)))
        pool = multiprocessing.get_context().Pool(n, initializer=_quiet_worker)
        finished_ok = False
        try:
            for i, result in pool.imap_unordered(_execute_indexed, enumerate(jobs), chunksize=1):
                if isinstance(result, _Raised):
                    raise result.error
                yield i, result
            finished_ok = True
        finally:
            if finished_ok:
                pool.close()
            else:
                pool.terminate()
            pool.join()

    return submit


@contextmanager
def dask_submitter(scheduler: str, workers: int) -> Iterator[Submit]:
    """Runs on a Dask cluster: ``tcp://host:port`` of a running scheduler, or ``local`` for
    a ``LocalCluster`` of ``workers`` single-threaded worker processes on this machine
    (``local-threads``: one in-process worker, for tests)."""
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=max(1, workers), threads_per_worker=1, processes=True,
            dashboard_address=None,
        )  # fmt: skip
        client = Client(cluster)
    elif scheduler == "local-threads":
        cluster = LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        )
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout="10s")

    def submit(jobs: Sequence[Job]) -> Iterator[tuple[int, Any]]:
        futures = {
            client.submit(execute, job, key=f"syncsim-{job.key or i}-{id(jobs)}"): i
            for i, job in enumerate(jobs)
        }
        try:
            for fut in dask_completed(list(futures)):
                yield futures[fut], fut.result()
        finally:
            client.cancel(list(futures))

    try:
        yield submit
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextmanager
def submitter(workers: int = 1, scheduler: str | None = None) -> Iterator[Submit]:
    """The executor to use: Dask when ``scheduler`` is given, else a pool of ``workers``
    processes, else (``workers`` <= 1) this process."""
    if scheduler is not None:
        with dask_submitter(scheduler, workers) as submit:
            yield submit
    elif workers > 1:
        yield pool_submitter(workers)
    else:
        yield serial


def run_jobs(
    jobs: Sequence[Job],
    workers: int = 1,
    on_done: Callable[[int, Any], None] | None = None,
    scheduler: str | None = None,
) -> list[Any]:
    """Run ``jobs``; ``on_done(index, result)`` as each finishes; results in job order."""
    results: list[Any] = [None] * len(jobs)
    if len(jobs) <= 1 and scheduler is None:
        workers = 1
    with submitter(workers, scheduler) as submit:
        for i, result in submit(jobs):
            results[i] = result
            if on_done:
                on_done(i, result)
    return results


def run_many(
    scenario: Scenario | str | Path,
    strategies: Sequence[Any],
    seeds: Sequence[int],
    *,
    overrides: Mapping[str, Any] | None = None,
    workers: int = 1,
    on_result: Callable[[RunResult], None] | None = None,
    **options: Any,
) -> list[RunResult]:
    """Every strategy on every seed (common random numbers: the same seeds for all), seed by
    seed; ``workers`` > 1 runs them on a process pool. ``options`` go to ``run``."""
    if isinstance(scenario, Scenario):
        sc = with_overrides(scenario, overrides) if overrides else scenario
    else:
        sc = load_scenario(scenario, overrides)
    jobs = [Job(sc, strategy, seed, options=options) for seed in seeds for strategy in strategies]

    def done(_: int, result: Any) -> None:
        if on_result is not None:
            on_result(result)

    return run_jobs(jobs, workers, done)
