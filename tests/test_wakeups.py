"""Writers wake for work, not for the clock (issue 17).

The event strategy's per-channel flushers and the orchestrated middleware's per-channel
pushers sleep on ``Dirty`` until a change comes, then gather changes for their interval and
write them. A writer resumed with nothing to write and no call of its own in flight is a
wake-up that finds nothing to do: polling. These tests count the writers' resumes (a
transparent wrapper around the writer's generator) and fail on any such wake-up: on a quiet
day (nothing changes, so a writer is never resumed at all) and on a busy one (every resume
has changed SKUs to write, or is the answer to one of the writer's own calls).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator
from typing import Any

import pytest

import strategies.event as event_mod
from sim.assembly.runner import run
from strategies.event import ChannelConsumer
from strategies.orchestrated import Middleware

# smoke with no demand, no returns and no transfers: nothing changes all day
QUIET = {
    "channels.webshop.orders_per_hour": 0,
    "channels.marketplace.orders_per_hour": 0,
    "channels.b2b-portal.orders_per_hour": 0,
    "returns.enabled": False,
    "transfers.enabled": False,
}
BUSY = {"scenario.duration": "8h"}


class Wakeups:
    """Resumes of the writers, and those that found nothing to do."""

    def __init__(self) -> None:
        self.resumes = 0
        self.idle = 0
        self.busy = 0  # resumes with changed SKUs waiting
        self.in_flight: Counter[Any] = Counter()  # calls in progress, per writer

    def writer(
        self, orig: Callable[..., Generator[Any, Any, Any]], key: Callable[..., Any]
    ) -> Callable[..., Generator[Any, Any, Any]]:
        """``orig`` (a writer's generator function), counting each resume and checking
        that it has work: changed SKUs waiting (``key(...)[1]``) or its own call in flight."""

        def wrapped(*args: Any) -> Generator[Any, Any, Any]:
            k, dirty = key(*args)
            gen = orig(*args)
            sent = None
            while True:
                event = gen.send(sent)
                sent = yield event
                self.resumes += 1
                if dirty.skus:
                    self.busy += 1
                elif not self.in_flight[k]:
                    self.idle += 1

        return wrapped

    def call(
        self, orig: Callable[..., Generator[Any, Any, Any]], key: Callable[..., Any]
    ) -> Callable[..., Generator[Any, Any, Any]]:
        """``orig`` (a writer's call), marked in flight for its writer while it runs."""

        def wrapped(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            k = key(*args)
            self.in_flight[k] += 1
            try:
                return (yield from orig(*args, **kwargs))
            finally:
                self.in_flight[k] -= 1

        return wrapped


@pytest.fixture
def wakeups(monkeypatch: pytest.MonkeyPatch) -> Wakeups:
    w = Wakeups()
    # event: ChannelConsumer.flusher() writes through push_availability(env, channel, ...)
    monkeypatch.setattr(
        ChannelConsumer,
        "flusher",
        w.writer(ChannelConsumer.flusher, lambda cc: (cc.channel, cc.dirty)),
    )
    monkeypatch.setattr(
        event_mod,
        "push_availability",
        w.call(event_mod.push_availability, lambda env, channel, *_: channel),
    )
    # orchestrated: Middleware.pusher(c, ...) writes through Middleware._write(c, ...)
    monkeypatch.setattr(
        Middleware,
        "pusher",
        w.writer(Middleware.pusher, lambda mw, c, *_: ((mw, c), mw.dirty[c])),
    )
    monkeypatch.setattr(Middleware, "_write", w.call(Middleware._write, lambda mw, c, *_: (mw, c)))
    return w


@pytest.mark.parametrize("strategy", ["event", "orchestrated"])
def test_a_writer_is_never_resumed_on_a_day_where_nothing_changes(
    wakeups: Wakeups, strategy: str
) -> None:
    r = run("smoke", strategy, 1, overrides=QUIET, keep_history=False)
    assert r.ok
    assert wakeups.resumes == 0, f"{wakeups.resumes} wake-ups with nothing changed"


@pytest.mark.parametrize("strategy", ["event", "orchestrated"])
def test_every_wakeup_of_a_writer_finds_work(wakeups: Wakeups, strategy: str) -> None:
    r = run("smoke", strategy, 1, overrides=BUSY, keep_history=False)
    assert r.ok
    assert wakeups.busy > 100  # the writers did write
    assert wakeups.idle == 0, f"{wakeups.idle} of {wakeups.resumes} wake-ups found nothing to do"
