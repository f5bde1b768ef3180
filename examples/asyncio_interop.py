"""Deferreds and asyncio, both ways, in a plain asyncio program.

    python examples/asyncio_interop.py

1. asyncio code awaits Deferreds directly (and gathers them, and times them out).
2. Deferred code (``ensureDeferred``) awaits asyncio futures and tasks, and
   cancelling its Deferred reaches them.
3. The explicit bridges: ``Deferred.asFuture`` and ``Deferred.fromFuture``,
   including ``concurrent.futures`` pools, whose results arrive on the loop.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from deferred import CancelledError, Deferred, ensureDeferred


def slowSquare(n: int, seconds: float = 0.01) -> Deferred[int]:
    """A Deferred-returning API, as a library built on Deferreds offers them.

    Cancelling the Deferred calls off the pending work (the timer).
    """
    loop = asyncio.get_running_loop()
    d: Deferred[int] = Deferred(canceller=lambda d: timer.cancel())
    timer = loop.call_later(seconds, d.callback, n * n)
    return d


async def deferredsInAsyncio() -> None:
    print("1. asyncio code awaiting Deferreds")
    # No wrapping: a Deferred is awaitable in any asyncio task.
    print("   await slowSquare(7) ->", await slowSquare(7))

    # asyncio's helpers take Deferreds like any other awaitable.
    results = await asyncio.gather(slowSquare(2), slowSquare(3), asyncio.sleep(0, "x"))
    print("   asyncio.gather(...) ->", results)

    # Cancelling the task that awaits a Deferred cancels the Deferred -- here
    # asyncio.wait_for does it, on timeout -- and its canceller stops the work.
    tooSlow = slowSquare(5, seconds=60)
    try:
        await asyncio.wait_for(tooSlow, timeout=0.01)
    except asyncio.TimeoutError:
        print("   asyncio.wait_for(...) timed out; Deferred cancelled:", tooSlow.called)
    # (Its CancelledError reached the awaiting task, as asyncio.CancelledError,
    # so it counts as handled: nothing is reported as an unhandled error.)


async def asyncioInDeferreds() -> None:
    print("2. Deferred code awaiting asyncio")
    steps: list[str] = []

    async def job() -> str:
        # Run by ensureDeferred, not by an asyncio task, and still free to
        # await asyncio futures and tasks.
        await asyncio.sleep(0.01)
        steps.append("slept")
        helper = asyncio.create_task(asyncio.sleep(0.01, "helper done"))
        steps.append(await helper)
        try:
            await asyncio.sleep(60)  # cancelled, below
        except CancelledError:
            # The Deferred's CancelledError: an ordinary Exception, as in
            # Twisted (asyncio's is a BaseException).
            steps.append("cancelled while sleeping")
            raise
        return "never"

    d = ensureDeferred(job())
    await asyncio.sleep(0.05)  # the job reaches its long sleep
    d.cancel()  # cancels the asyncio sleep, and raises CancelledError in job()
    d.addErrback(lambda failure: steps.append(f"d failed: {failure.type.__name__}"))
    print("  ", " -> ".join(steps))


def countPrimes(limit: int) -> int:
    """CPU-bound work for a process pool."""
    sieve = bytearray([1]) * limit
    sieve[:2] = b"\0\0"
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, limit, i)))
    return sum(sieve)


async def bridges() -> None:
    print("3. the explicit bridges")
    loop = asyncio.get_running_loop()

    # A real asyncio Future, for APIs that want one (add_done_callback, shield...).
    future = slowSquare(9).asFuture(loop)
    print("   asFuture:", type(future).__name__, await future)

    # An asyncio task seen as a Deferred; callbacks added to it run when it ends.
    task = asyncio.create_task(asyncio.sleep(0.01, "task result"))
    print(
        "   fromFuture(task):", await Deferred.fromFuture(task).addCallback(str.upper)
    )

    # concurrent.futures: the work runs elsewhere, but the Deferred fires on
    # the event loop's thread, so its callbacks may touch loop-side state.
    def where(result: object) -> str:
        return f"{result} (callback ran in {threading.current_thread().name})"

    with ThreadPoolExecutor(max_workers=2) as threads:
        d = Deferred.fromFuture(threads.submit(sum, range(1000)))
        print("   thread pool:", await d.addCallback(where))
    with ProcessPoolExecutor(max_workers=2) as processes:
        counts = [
            Deferred.fromFuture(processes.submit(countPrimes, n))
            for n in (10_000, 20_000)
        ]
        print("   process pool: primes below 10k, 20k:", [await d for d in counts])


async def main() -> int:
    await deferredsInAsyncio()
    await asyncioInDeferreds()
    await bridges()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
