"""Testing time-based code deterministically, with ``deferred.clock.Clock``.

    python examples/testing_with_clock.py      # runs the tests below directly
    pytest examples/testing_with_clock.py      # the same tests, under pytest

``retry()`` below calls a flaky operation until it succeeds, waiting longer and
longer between attempts.  Testing that against real time would be slow (the
waits add up to seconds) and flaky.  The code takes its clock as an argument
instead, so the tests hand it a ``Clock`` -- time that stands still until the
test moves it with ``advance()`` -- and look at the Deferred after each step
with ``successResultOf``, ``failureResultOf`` and ``assertNoResult``.  In
production the same code gets an ``AsyncioClock``.

Under pytest, the ``clock`` fixture of deferred's plugin provides the Clock.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from deferred import (
    CancelledError,
    Deferred,
    TimeoutError,
    ensureDeferred,
    fail,
    succeed,
)
from deferred.clock import Clock, Scheduler
from deferred.testing import assertNoResult, failureResultOf, successResultOf

T = TypeVar("T")

# -- the code under test ------------------------------------------------------------


def sleep(clock: Scheduler, seconds: float) -> Deferred[None]:
    """A Deferred that fires with None after ``seconds``; cancelling it stops
    the timer."""
    d: Deferred[None] = Deferred(canceller=lambda d: call.cancel())
    call = clock.callLater(seconds, d.callback, None)
    return d


def retry(
    clock: Scheduler,
    attempt: Callable[[], Deferred[T]],
    tries: int = 4,
    firstDelay: float = 1.0,
) -> Deferred[T]:
    """Call ``attempt()`` until its Deferred succeeds, at most ``tries`` times,
    waiting ``firstDelay`` seconds after the first failure and twice as long
    after each next one.  Fails with the last failure.  Cancelling it stops
    the attempt or the wait under way, and any further attempts."""

    if tries < 1:
        raise ValueError(f"retry() needs tries >= 1, not {tries}")

    async def loop() -> T:
        delay = firstDelay
        for _ in range(tries - 1):
            try:
                return await attempt()
            except CancelledError:
                # deferred.CancelledError is an ordinary Exception, as in
                # Twisted: let it through, or cancelling would mean "retry".
                raise
            except Exception:
                pass  # try again, after a pause
            await sleep(clock, delay)
            delay *= 2
        return await attempt()  # the last try: its failure is ours

    return ensureDeferred(loop())


# -- its tests -------------------------------------------------------------------


class Flaky:
    """An operation that fails ``failures`` times, then succeeds; records
    when (on the clock) it was called."""

    def __init__(self, clock: Clock, failures: int) -> None:
        self.clock = clock
        self.failures = failures
        self.calls: list[float] = []

    def __call__(self) -> Deferred[str]:
        self.calls.append(self.clock.seconds())
        if len(self.calls) <= self.failures:
            return fail(ConnectionError(f"attempt {len(self.calls)} failed"))
        return succeed("connected")


def test_retry_succeeds_after_backing_off(clock: Clock) -> None:
    flaky = Flaky(clock, failures=2)
    d = retry(clock, flaky)
    assertNoResult(d)  # failed once, now waiting 1 s
    clock.advance(1)
    assertNoResult(d)  # failed twice, now waiting 2 s
    clock.advance(2)
    assert successResultOf(d) == "connected"
    assert flaky.calls == [0, 1, 3]


def test_retry_gives_up_with_the_last_failure(clock: Clock) -> None:
    flaky = Flaky(clock, failures=10)
    d = retry(clock, flaky, tries=3)
    clock.pump([1, 2])  # advance 1 s, then 2 s more
    failure = failureResultOf(d, ConnectionError)
    assert failure.getErrorMessage() == "attempt 3 failed"
    assert flaky.calls == [0, 1, 3]
    assert clock.getDelayedCalls() == []  # no timer left behind


def test_cancelling_stops_the_retries(clock: Clock) -> None:
    flaky = Flaky(clock, failures=10)
    d = retry(clock, flaky)
    clock.advance(1)
    d.cancel()  # during the 2 s wait
    failureResultOf(d, CancelledError)
    assert clock.getDelayedCalls() == []
    clock.advance(100)
    assert flaky.calls == [0, 1]


def test_a_timeout_cuts_the_retries_short(clock: Clock) -> None:
    flaky = Flaky(clock, failures=10)
    d = retry(clock, flaky, tries=10).addTimeout(5, clock)
    # Step by step: a call that runs during advance() schedules its own
    # follow-up from the time advance() moved to, so one big jump would
    # squeeze the whole back-off into a single instant.
    clock.pump([1, 2, 1.9])
    assertNoResult(d)
    clock.advance(0.1)
    failureResultOf(d, TimeoutError)
    assert flaky.calls == [0, 1, 3]  # the next attempt would have been at 7


def test_each_helper_takes_the_result(clock: Clock) -> None:
    # successResultOf and failureResultOf take the result out of the
    # Deferred: a failure taken this way counts as handled, so it is not
    # reported as an unhandled error when the Deferred is collected.
    d = retry(clock, Flaky(clock, failures=1), tries=1)
    failureResultOf(d)
    assert d.result is None


TESTS = [value for name, value in dict(globals()).items() if name.startswith("test_")]


def main() -> int:
    for test in TESTS:
        test(Clock())  # a fresh clock each, as the pytest fixture gives
        print(f"passed: {test.__name__}")
    print(f"{len(TESTS)} tests passed, in no time: the clock never waited.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
