"""A periodic poller, as a Twisted program would write it, ported by import swap.

Every ``interval`` seconds, the poller reads a value with a *blocking* call
(run in a thread with ``deferToThread``), retrying a failed read after a
back-off (``deferLater``); a ``LoopingCall`` keeps the schedule.  Its tests
are trial-style ``TestCase`` classes: one drives time with a ``Clock``, the
other runs the real thing on asyncio.

Run it: ``python examples/periodic_poller.py`` polls a flaky source for a
moment and then runs the tests (``python -m pytest examples/periodic_poller.py``
runs just the tests).
"""

from __future__ import annotations

import itertools
import sys
import time
import unittest
from collections.abc import Callable
from typing import Any

from deferred import Deferred, inlineCallbacks, react
from deferred.clock import AsyncioClock, Clock, Scheduler
from deferred.task import LoopingCall, deferLater
from deferred.testing import TestCase
from deferred.threads import deferToThread


class Poller:
    """Poll ``read`` every ``interval`` seconds; record what it returns.

    A read that fails is retried up to ``retries`` times, ``backoff`` seconds
    apart; a poll whose retries all fail is counted in ``failures``.
    ``runBlocking`` runs the read (in a thread, by default).
    """

    def __init__(
        self,
        read: Callable[[], object],
        interval: float,
        clock: Scheduler,
        retries: int = 2,
        backoff: float = 0.5,
        runBlocking: Callable[..., Deferred[Any]] = deferToThread,
    ) -> None:
        self.read, self.clock = read, clock
        self.retries, self.backoff = retries, backoff
        self.runBlocking = runBlocking
        self.values: list[object] = []
        self.failures = 0
        self.loop = LoopingCall(self.pollOnce)
        self.loop.clock = clock
        self.interval = interval

    def start(self) -> Deferred[LoopingCall]:
        return self.loop.start(self.interval)

    def stop(self) -> None:
        self.loop.stop()

    @inlineCallbacks
    def pollOnce(self) -> Any:
        for attempt in range(self.retries + 1):
            try:
                value = yield self.runBlocking(self.read)
            except OSError:
                if attempt == self.retries:
                    self.failures += 1
                    return
                yield deferLater(self.clock, self.backoff)
            else:
                self.values.append(value)
                return


# -- the tests ---------------------------------------------------------------------


def flaky(outcomes: list[object]) -> Callable[[], object]:
    """A read that returns (or raises) each of ``outcomes`` in turn."""
    it = iter(outcomes)

    def read() -> object:
        outcome = next(it)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return read


def inline(f: Callable[[], object]) -> Deferred[Any]:
    """Run the "blocking" read at once: tests on a Clock need no threads."""
    from deferred import maybeDeferred

    return maybeDeferred(f)


class PollerOnAClockTests(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()

    def test_polls_every_interval(self) -> None:
        poller = Poller(flaky([1, 2, 3]), 10, self.clock, runBlocking=inline)
        d = poller.start()
        self.clock.pump([10, 10])
        self.assertEqual(poller.values, [1, 2, 3])
        poller.stop()
        self.assertIs(self.successResultOf(d), poller.loop)

    def test_retries_after_a_backoff(self) -> None:
        poller = Poller(flaky([OSError(), 7]), 10, self.clock, runBlocking=inline)
        poller.start()
        self.assertEqual(poller.values, [])
        self.clock.advance(0.5)
        self.assertEqual(poller.values, [7])
        poller.stop()

    def test_gives_up_after_the_retries(self) -> None:
        errors: list[object] = [OSError()] * 3
        poller = Poller(flaky([*errors, 4]), 10, self.clock, runBlocking=inline)
        poller.start()
        self.clock.pump([0.5, 0.5])
        self.assertEqual((poller.values, poller.failures), ([], 1))
        self.clock.advance(9)
        self.assertEqual(poller.values, [4])
        poller.stop()

    def test_an_unexpected_error_stops_the_poller(self) -> None:
        poller = Poller(flaky([KeyError("bug")]), 10, self.clock, runBlocking=inline)
        d = self.assertFailure(poller.start(), KeyError)
        self.assertFalse(poller.loop.running)
        self.assertIsInstance(self.successResultOf(d), KeyError)


class PollerOnAsyncioTests(TestCase):
    timeout = 10

    async def test_reads_in_a_thread_on_the_real_loop(self) -> None:
        read = flaky([OSError(), "a", "b"])
        poller = Poller(lambda: read(), 0.01, AsyncioClock(), backoff=0.001)
        done = poller.start()
        while len(poller.values) < 2:
            await deferLater(AsyncioClock(), 0.005)
        poller.stop()
        self.assertIs(await done, poller.loop)
        self.assertEqual(poller.values, ["a", "b"])


# -- the demonstration ---------------------------------------------------------------


async def demo(clock: AsyncioClock) -> None:
    counter = itertools.count()

    def blockingRead() -> int:
        time.sleep(0.002)  # blocking: that is why it runs in a thread
        n = next(counter)
        if n % 3 == 1:
            raise OSError("flaky source")
        return n

    poller = Poller(blockingRead, 0.02, clock, backoff=0.005)
    done = poller.start()
    await deferLater(clock, 0.1)
    poller.stop()
    await done
    print(f"polled {len(poller.values)} values, {poller.failures} polls gave up")


def main() -> int:
    react(demo)
    suite = unittest.TestSuite()
    for case in (PollerOnAClockTests, PollerOnAsyncioTests):
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=0).run(suite)
    if result.wasSuccessful():
        print(f"{result.testsRun} tests passed")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
