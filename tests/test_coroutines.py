"""Tests for ensureDeferred / Deferred.fromCoroutine and for awaiting
Deferreds: in our driver, and directly inside plain asyncio tasks."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import sys
import types
from collections.abc import Coroutine, Generator
from typing import Any

import pytest

from deferred import (
    CancelledError,
    Deferred,
    DeferredList,
    Failure,
    FirstError,
    NotACoroutineError,
    ensureDeferred,
    fail,
    inlineCallbacks,
    maybeDeferred,
    returnValue,
    succeed,
)
from support import Log, assertLeavesNoCycle, failureOf, outcome, unhandled


async def awaitIt(d: Deferred[Any]) -> Any:
    return await d


# --- ensureDeferred and fromCoroutine ---------------------------------------


def test_ensureDeferred_runs_the_coroutine_to_its_result() -> None:
    async def f(x: int) -> int:
        return x + await succeed(1)

    assert outcome(ensureDeferred(f(1))) == 2


def test_ensureDeferred_returns_a_deferred_unchanged() -> None:
    d: Deferred[int] = Deferred()
    assert ensureDeferred(d) is d


def test_ensureDeferred_rejects_anything_else_with_NotACoroutineError() -> None:
    with pytest.raises(NotACoroutineError, match="not a coroutine or a Deferred"):
        ensureDeferred(42)  # type: ignore[arg-type]


def test_NotACoroutineError_is_a_TypeError() -> None:
    assert issubclass(NotACoroutineError, TypeError)


def test_fromCoroutine_runs_a_coroutine() -> None:
    async def f() -> str:
        return "done"

    assert outcome(Deferred.fromCoroutine(f())) == "done"


def test_fromCoroutine_rejects_a_deferred_and_other_objects() -> None:
    with pytest.raises(NotACoroutineError, match="is not a coroutine"):
        Deferred.fromCoroutine(succeed(1))  # type: ignore[arg-type]
    with pytest.raises(NotACoroutineError):
        Deferred.fromCoroutine(lambda: None)  # type: ignore[arg-type]


def test_fromCoroutine_rejects_an_async_generator() -> None:
    async def agen() -> Any:
        yield 1

    gen = agen()
    with pytest.raises(NotACoroutineError):
        Deferred.fromCoroutine(gen)  # type: ignore[arg-type]


def test_fromCoroutine_accepts_a_generator_based_coroutine() -> None:
    @types.coroutine
    def legacy() -> Generator[Any, Any, int]:
        value = yield from succeed(5)
        return value

    assert outcome(Deferred.fromCoroutine(legacy())) == 5


def test_coroutine_starts_running_at_once() -> None:
    ran: list[bool] = []

    async def f() -> None:
        ran.append(True)
        await Deferred()

    ensureDeferred(f())
    assert ran == [True]


def test_reusing_a_finished_coroutine_fails_the_deferred() -> None:
    async def f() -> int:
        return 1

    coro = f()
    assert outcome(ensureDeferred(coro)) == 1
    assert failureOf(ensureDeferred(coro)).check(RuntimeError)


def test_maybeDeferred_runs_a_coroutine_function() -> None:
    gate: Deferred[int] = Deferred()

    async def f(x: int) -> int:
        return x + await gate

    result = maybeDeferred(f, 1)
    gate.callback(2)
    assert outcome(result) == 3


def test_returnValue_works_in_a_coroutine_too() -> None:
    async def f() -> None:
        await succeed(None)
        returnValue("legacy")

    with pytest.deprecated_call(match="returnValue was deprecated"):
        assert outcome(ensureDeferred(f())) == "legacy"


# A Failure is a BaseException, as in Twisted: raised out of the coroutine,
# the Deferred's result is the original exception, not a Failure of a Failure.


def test_raising_a_failure_makes_it_the_result() -> None:
    error = KeyError("k")

    async def f() -> None:
        await succeed(None)
        raise Failure(error)

    failure = failureOf(ensureDeferred(f()))
    assert failure.value is error
    assert failure.type is KeyError


def test_raising_a_failure_after_awaiting_a_pending_deferred() -> None:
    gate: Deferred[None] = Deferred()
    error = ValueError("later")

    async def f() -> None:
        await gate
        raise Failure(error)

    d = ensureDeferred(f())
    gate.callback(None)
    failure = failureOf(d)
    assert failure.value is error
    assert not isinstance(failure.value, Failure)


def test_raising_the_subFailure_of_a_FirstError_unwraps_it() -> None:
    error = ZeroDivisionError("inner")
    bad: Deferred[int] = Deferred()

    async def f() -> None:
        try:
            await DeferredList(
                [Deferred(), bad], fireOnOneErrback=True, consumeErrors=True
            )
        except FirstError as e:
            raise e.subFailure  # noqa: B904

    d = ensureDeferred(f())
    bad.errback(error)
    failure = failureOf(d)
    assert failure.value is error
    assert failure.check(ZeroDivisionError)


def test_failure_awaited_thrown_in_and_let_out_is_the_original() -> None:
    error = KeyError("thrown")

    async def f() -> None:
        try:
            await fail(error)
        except KeyError as e:
            assert e is error
            raise Failure(e) from None

    failure = failureOf(ensureDeferred(f()))
    assert failure.value is error


def test_failure_raised_in_a_coroutine_run_by_maybeDeferred() -> None:
    error = KeyError("via maybeDeferred")

    async def f() -> None:
        raise Failure(error)

    assert failureOf(maybeDeferred(f)).value is error


# --- awaiting Deferreds in our driver ---------------------------------------


def test_await_of_a_fired_deferred_does_not_suspend() -> None:
    d = succeed("ready")

    async def f() -> str:
        return await d

    coro = f()
    with pytest.raises(StopIteration) as info:
        coro.send(None)
    assert info.value.value == "ready"
    assert d.result == "ready"  # an await of a fired Deferred keeps it (as Twisted)


def test_await_of_a_pending_deferred_resumes_when_it_fires() -> None:
    d: Deferred[str] = Deferred()
    result = ensureDeferred(awaitIt(d))
    assert not result.called
    d.callback("later")
    assert outcome(result) == "later"
    assert d.result is None  # taken by the coroutine


def test_await_of_a_failed_deferred_raises_its_exception() -> None:
    async def f() -> str:
        try:
            await fail(ValueError("bad"))
        except ValueError as e:
            return f"caught {e}"
        return "not raised"

    assert outcome(ensureDeferred(f())) == "caught bad"


def test_await_of_a_pending_deferred_that_fails_raises_its_exception() -> None:
    d: Deferred[int] = Deferred()
    result = ensureDeferred(awaitIt(d))
    d.errback(KeyError("k"))
    assert failureOf(result).check(KeyError)


def test_failures_received_by_coroutines_are_not_reported(deferredLog: Log) -> None:
    def run() -> None:
        pending: Deferred[int] = Deferred()

        async def f() -> str:
            try:
                await fail(ValueError("fired"))
            except ValueError:
                pass
            try:
                await pending
            except KeyError:
                pass
            await fail(TypeError("propagated"))
            return "unreachable"

        result = ensureDeferred(f())
        pending.errback(KeyError("pending"))
        assert failureOf(result).check(TypeError)

    run()  # every Deferred is gone when it returns
    gc.collect()
    assert unhandled(deferredLog) == []


def test_unhandled_failure_of_a_coroutine_is_reported_once(deferredLog: Log) -> None:
    async def f() -> None:
        raise ValueError("nobody handles me")

    ensureDeferred(f())
    gc.collect()
    assert len(unhandled(deferredLog)) == 1


def test_exception_keeps_the_coroutine_frames_in_its_traceback() -> None:
    async def inner() -> None:
        await succeed(None)
        raise ValueError("here")

    async def outer() -> None:
        await inner()

    failure = failureOf(ensureDeferred(outer()))
    names = [frame[0] for frame in failure.frames]
    assert names[:2] == ["outer", "inner"]


def test_deferred_awaited_inside_its_own_callback_gives_its_current_result() -> None:
    # As in Twisted: the result as it stands, left in place for the rest of
    # the chain.
    d: Deferred[int] = Deferred()
    results: list[Deferred[Any]] = []
    d.addCallback(lambda r: results.append(ensureDeferred(awaitIt(d))) or r)
    d.addCallback(lambda r: r + 10)
    d.callback(1)
    assert outcome(results[0]) == 1
    assert outcome(d) == 11


def test_failure_awaited_from_inside_its_own_errback_is_raised_there() -> None:
    d: Deferred[int] = Deferred()
    results: list[Deferred[Any]] = []

    async def catch() -> object:
        try:
            return await d
        except ValueError as e:
            return e

    def errback(failure: Failure) -> Failure:
        results.append(ensureDeferred(catch()))
        return failure

    d.addErrback(errback)
    d.addErrback(lambda f: "recovered")
    d.errback(ValueError("boom"))
    assert isinstance(outcome(results[0]), ValueError)
    assert outcome(d) == "recovered"


def test_awaiting_a_deferred_again_right_after_it_fired_gives_it_again() -> None:
    # The coroutine runs on from inside the Deferred's callbacks, where its
    # result still stands (as in Twisted).
    d: Deferred[int] = Deferred()

    async def twice() -> tuple[int, int]:
        return (await d, await d)

    result = ensureDeferred(twice())
    d.callback(4)
    assert outcome(result) == (4, 4)


def test_foreign_driver_resuming_too_early_gets_a_clear_error() -> None:
    # A driver that does not know Deferreds (Twisted's own, say) sends back
    # what it got: we say so rather than return it as the result.
    coro = awaitIt(Deferred())
    yielded = coro.send(None)
    with pytest.raises(TypeError, match="ensureDeferred"):
        coro.send(yielded)


def test_many_pending_awaits_use_constant_stack() -> None:
    pending = [Deferred[int]() for _ in range(5_000)]

    async def f() -> int:
        total = 0
        for d in pending:
            total += await d
        return total

    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back  # type: ignore[assignment]
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 40)
    try:
        result = ensureDeferred(f())
        for i, d in enumerate(pending):
            d.callback(i)
    finally:
        sys.setrecursionlimit(old)
    assert outcome(result) == 5_000 * 4_999 // 2


def test_coroutine_pipeline_of_many_stages_fires(
    deferredLog: list[logging.LogRecord],
) -> None:
    # Each stage awaits the previous one's Deferred: firing the first resumes
    # them all without recursing once per stage.
    async def stage(previous: Deferred[int]) -> int:
        return (await previous) + 1

    first: Deferred[int] = Deferred()
    d = first
    for _ in range(2000):
        d = ensureDeferred(stage(d))
    first.callback(0)
    assert d.result == 2000


# --- cancellation in our driver ---------------------------------------------


def test_cancel_cancels_the_awaited_deferred_and_raises_CancelledError() -> None:
    cancelled: list[Deferred[Any]] = []
    d: Deferred[int] = Deferred(cancelled.append)
    result = ensureDeferred(awaitIt(d))
    result.cancel()
    assert cancelled == [d]
    assert failureOf(result).check(CancelledError)


def test_coroutine_may_catch_the_cancellation_and_carry_on() -> None:
    first: Deferred[int] = Deferred()
    second: Deferred[int] = Deferred()

    async def f() -> int:
        try:
            await first
        except CancelledError:
            pass
        return await second

    result = ensureDeferred(f())
    result.cancel()
    second.callback(3)
    assert outcome(result) == 3


def test_cancelling_a_coroutine_stuck_on_its_own_deferred_returns() -> None:
    # A coroutine awaiting the Deferred it will fire can never finish;
    # cancelling that Deferred must not chase itself round until the stack
    # runs out.  It stays unfired (the coroutine still waits), as in Twisted.
    holder: list[Deferred[Any]] = []
    start: Deferred[None] = Deferred()

    async def f() -> Any:
        await start
        return await holder[0]

    result = ensureDeferred(f())
    holder.append(result)
    start.callback(None)
    result.cancel()
    result.cancel()
    assert "waiting on" in repr(result)


def test_cancelling_one_of_two_coroutines_awaiting_each_other_returns() -> None:
    results: dict[str, Deferred[Any]] = {}
    start: Deferred[None] = Deferred()

    async def f(other: str) -> Any:
        await start
        return await results[other]

    results["a"] = ensureDeferred(f("b"))
    results["b"] = ensureDeferred(f("a"))
    start.callback(None)
    results["a"].cancel()
    results["b"].cancel()
    assert all("waiting on" in repr(d) for d in results.values())


def test_cancel_again_reaches_an_awaited_deferred_whose_canceller_raised() -> None:
    calls: list[Deferred[Any]] = []

    def canceller(d: Deferred[Any]) -> None:
        calls.append(d)
        if len(calls) == 1:
            raise RuntimeError("canceller failed")

    awaited: Deferred[int] = Deferred(canceller)
    result = ensureDeferred(awaitIt(awaited))
    with pytest.raises(RuntimeError):
        result.cancel()
    result.cancel()
    assert calls == [awaited, awaited]
    assert failureOf(result).check(CancelledError)


@pytest.mark.parametrize("catch", [False, True])
def test_on_cancel_the_awaited_deferreds_later_callbacks_run_before_ours(
    catch: bool,
) -> None:
    # As in Twisted (checked against 26.10), for coroutines as for
    # inlineCallbacks: the coroutine gets the CancelledError, then the later
    # callbacks of the awaited Deferred run, then the returned Deferred's.
    log: list[Any] = []
    awaited: Deferred[int] = Deferred(lambda d: log.append("canceller"))

    async def f() -> str:
        try:
            await awaited
        except CancelledError:
            log.append("coroutine")
            if not catch:
                raise
        return "caught"

    result = ensureDeferred(f())
    awaited.addBoth(lambda r: log.append(("awaited, later", r)))
    result.addBoth(lambda r: log.append(("returned", type(r))))
    result.cancel()
    assert log == [
        "canceller",
        "coroutine",
        ("awaited, later", None),
        ("returned", Failure if not catch else str),
    ]


# --- contextvars -------------------------------------------------------------

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def test_coroutine_context_persists_across_awaits_and_does_not_leak() -> None:
    d: Deferred[None] = Deferred()
    seen: list[str] = []

    async def f() -> None:
        seen.append(var.get())
        var.set("inside")
        await d
        seen.append(var.get())

    token = var.set("caller")
    try:
        result = ensureDeferred(f())
        assert var.get() == "caller"
    finally:
        var.reset(token)
    d.callback(None)
    assert outcome(result) is None
    assert seen == ["caller", "inside"]


# --- asyncio futures and tasks inside our driver ------------------------------


def test_coroutine_can_await_asyncio_futures_tasks_and_sleep() -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()

        async def job() -> str:
            await asyncio.sleep(0)
            return "task"

        async def f() -> list[Any]:
            await asyncio.sleep(0.001)
            return [await future, await asyncio.ensure_future(job())]

        result = ensureDeferred(f())
        loop.call_later(0.002, future.set_result, "future")
        return await result  # type: ignore[no-any-return]

    assert asyncio.run(main()) == ["future", "task"]


def test_cancelling_the_deferred_cancels_an_awaited_asyncio_future() -> None:
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        seen: list[str] = []

        async def f() -> None:
            try:
                await future
            except CancelledError:
                seen.append("deferred.CancelledError")
                raise

        result = ensureDeferred(f())
        result.cancel()
        assert future.cancelled()
        # At once, as Deferred code expects (Twisted cannot await asyncio
        # futures there; its Deferred.fromFuture waits for a loop turn).
        assert seen == ["deferred.CancelledError"]
        assert failureOf(result).check(CancelledError)

    asyncio.run(main())


def test_asyncio_cancelling_an_awaited_task_raises_asyncio_CancelledError() -> None:
    async def main() -> None:
        task = asyncio.ensure_future(asyncio.sleep(10))

        async def f() -> str:
            try:
                await task
            except asyncio.CancelledError:
                return "asyncio.CancelledError"
            return "not cancelled"

        result = ensureDeferred(f())
        await asyncio.sleep(0)
        task.cancel()
        assert await result == "asyncio.CancelledError"

    asyncio.run(main())


# --- Deferreds awaited directly in asyncio tasks -------------------------------


def test_asyncio_task_can_await_pending_and_fired_deferreds() -> None:
    async def main() -> list[Any]:
        d: Deferred[str] = Deferred()
        asyncio.get_running_loop().call_later(0.001, d.callback, "pending")
        return [await succeed("fired"), await d]

    assert asyncio.run(main()) == ["fired", "pending"]


def test_asyncio_task_awaiting_a_failing_deferred_gets_its_exception(
    deferredLog: Log,
) -> None:
    async def main() -> str:
        d: Deferred[int] = Deferred()
        asyncio.get_running_loop().call_soon(d.errback, ValueError("bad"))
        try:
            await d
        except ValueError as e:
            return str(e)
        return "no error"

    assert asyncio.run(main()) == "bad"
    gc.collect()
    assert unhandled(deferredLog) == []


def test_deferred_fired_from_another_task_resumes_the_waiting_task() -> None:
    async def main() -> int:
        d: Deferred[int] = Deferred()

        async def firer() -> None:
            await asyncio.sleep(0)
            d.callback(5)  # from inside a running task: no re-entry into ours

        waiting = asyncio.ensure_future(awaitIt(d))
        await asyncio.gather(waiting, firer())
        return waiting.result()  # type: ignore[no-any-return]

    assert asyncio.run(main()) == 5


def test_cancelling_the_task_cancels_the_awaited_deferred() -> None:
    async def main() -> None:
        cancelled: list[Deferred[Any]] = []
        d: Deferred[int] = Deferred(cancelled.append)
        task = asyncio.ensure_future(awaitIt(d))
        await asyncio.sleep(0)
        task.cancel("stop")
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cancelled == [d]
        assert task.cancelled()
        # Observed, as an asyncio future would be: the CancelledError stays
        # on d, taken (handled) by the task.
        assert isinstance(d.result, Failure)
        assert d.result.check(CancelledError)
        assert d._extra is None or d._extra.failResult is None

    asyncio.run(main())


def test_task_sees_asyncio_CancelledError_with_the_cancel_message() -> None:
    async def main() -> None:
        d: Deferred[int] = Deferred()
        seen: list[BaseException] = []

        async def waiter() -> None:
            try:
                await d
            except BaseException as e:
                seen.append(e)
                raise

        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0)
        task.cancel("stop")
        with pytest.raises(asyncio.CancelledError):
            await task
        [exc] = seen
        assert type(exc) is asyncio.CancelledError
        assert exc.args == ("stop",)
        assert isinstance(exc.__cause__, CancelledError)

    asyncio.run(main())


def test_cancelling_the_deferred_cancels_the_awaiting_task() -> None:
    async def main() -> None:
        d: Deferred[int] = Deferred()
        seen: list[BaseException] = []

        async def waiter() -> None:
            try:
                await d
            except BaseException as e:
                seen.append(e)
                raise

        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0)
        d.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        [exc] = seen
        assert type(exc) is asyncio.CancelledError
        assert isinstance(exc.__cause__, CancelledError)

    asyncio.run(main())


def test_task_awaiting_an_already_cancelled_deferred_ends_cancelled() -> None:
    # The same as when the Deferred is cancelled while the task waits.
    async def main() -> None:
        d: Deferred[int] = Deferred()
        d.cancel()
        task = asyncio.ensure_future(d)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    asyncio.run(main())


def test_coroutine_awaiting_an_already_cancelled_deferred_gets_CancelledError() -> None:
    d: Deferred[int] = Deferred()
    d.cancel()

    async def f() -> str:
        try:
            await d
        except CancelledError:
            return "caught"
        return "not raised"

    assert ensureDeferred(f()).result == "caught"
    # As for any fired Deferred, the failure stays on it (handled).
    assert failureOf(d).check(CancelledError)


def test_task_awaiting_an_already_cancelled_deferred_leaves_the_failure_on_it() -> None:
    d: Deferred[int] = Deferred()
    d.cancel()

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError):
            await asyncio.ensure_future(d)

    asyncio.run(main())
    assert failureOf(d).check(CancelledError)


def test_canceller_that_fires_with_a_value_lets_the_task_go_on() -> None:
    async def main() -> Any:
        d: Deferred[str] = Deferred(lambda d: d.callback("instead"))
        task = asyncio.ensure_future(awaitIt(d))
        await asyncio.sleep(0)
        task.cancel()
        return await task

    # Like a task awaiting a task that suppresses its cancellation.
    assert asyncio.run(main()) == "instead"


def test_wait_for_times_out_and_cancels_the_deferred() -> None:
    async def main() -> None:
        cancelled: list[Deferred[Any]] = []
        d: Deferred[int] = Deferred(cancelled.append)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(d, 0.001)
        assert cancelled == [d]

    asyncio.run(main())


def test_asyncio_gather_accepts_deferreds() -> None:
    async def main() -> list[int]:
        a: Deferred[int] = Deferred()
        b = succeed(2)
        gathered = asyncio.gather(a, b)
        await asyncio.sleep(0)
        a.callback(1)
        return await gathered

    assert asyncio.run(main()) == [1, 2]


def test_task_awaiting_a_paused_deferred_waits_for_unpause() -> None:
    async def main() -> str:
        d = succeed("after unpause")
        d.pause()
        asyncio.get_running_loop().call_later(0.001, d.unpause)
        return await d

    assert asyncio.run(main()) == "after unpause"


def test_ensureDeferred_result_awaited_in_a_task_and_cancelled_from_it() -> None:
    async def main() -> None:
        inner: Deferred[int] = Deferred()
        cancelled: list[str] = []
        inner.addErrback(lambda f: cancelled.append("inner") or f)
        wrapped = ensureDeferred(awaitIt(inner))
        task = asyncio.ensure_future(awaitIt(wrapped))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cancelled == ["inner"]
        assert task.cancelled()
        # Its CancelledError went to the task (handled), and stays on it.
        assert wrapped.result.check(CancelledError)
        assert wrapped._extra is None or wrapped._extra.failResult is None

    asyncio.run(main())


# --- memory --------------------------------------------------------------------


def test_finished_coroutine_leaves_no_reference_cycle() -> None:
    def run() -> None:
        pending: Deferred[int] = Deferred()

        async def f() -> int:
            return await succeed(1) + await pending

        result = ensureDeferred(f())
        pending.callback(2)
        assert outcome(result) == 3

    assertLeavesNoCycle(run)


def test_failed_then_handled_coroutine_leaves_no_reference_cycle() -> None:
    def run() -> None:
        pending: Deferred[int] = Deferred()

        async def f() -> None:
            try:
                await fail(ValueError("caught"))
            except ValueError:
                pass
            await pending
            # Raised by the fast path (the Deferred has fired) and propagated,
            # with an errback already waiting: the traceback stays live.
            await fail(KeyError("propagated"))

        result = ensureDeferred(f())
        result.addErrback(lambda failure: None)
        pending.callback(1)

    assertLeavesNoCycle(run)


def test_cancelled_coroutine_leaves_no_reference_cycle() -> None:
    def run() -> None:
        first: Deferred[int] = Deferred()
        second: Deferred[int] = Deferred()

        async def f() -> int:
            try:
                await first
            except CancelledError:
                pass
            return await second

        result = ensureDeferred(f())
        result.cancel()
        second.callback(1)
        assert outcome(result) == 1

    assertLeavesNoCycle(run)


def failingSoon(loop: asyncio.AbstractEventLoop) -> Deferred[int]:
    failing: Deferred[int] = Deferred()
    loop.call_soon(failing.errback, ValueError("caught"))
    return failing


def test_asyncio_task_awaiting_deferreds_leaves_no_reference_cycle() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        succeeding: Deferred[int] = Deferred()
        loop.call_soon(succeeding.callback, 1)
        # (Not held in a local here: the Deferred keeps the failure, as an
        # asyncio future keeps its exception, and the exception caught here
        # references this frame.)
        try:
            await failingSoon(loop)
        except ValueError:
            pass
        cancelled = asyncio.ensure_future(awaitIt(Deferred()))
        await asyncio.sleep(0)
        cancelled.cancel()
        try:
            await cancelled
        except asyncio.CancelledError:
            pass
        return await succeeding

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())  # warm up asyncio's lazy internals

        def run() -> None:
            assert loop.run_until_complete(main()) == 1

        assertLeavesNoCycle(run)
    finally:
        loop.close()


def coroutineReturning(value: Any) -> Coroutine[Any, Any, Any]:
    async def f() -> Any:
        return value

    return f()


def test_inlineCallbacks_can_yield_an_ensureDeferred_result() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, Any]:
        return (yield ensureDeferred(coroutineReturning("x")))

    assert outcome(f()) == "x"


def test_coroutine_finishing_deep_inside_a_pipeline_still_fires_at_once() -> None:
    # Finishes nested deeper than the engine's limit are put off only when
    # something waits on them: callers may rely on a synchronous result.
    root: Deferred[None] = Deferred()
    calledAtOnce: list[bool] = []

    async def leaf() -> int:
        return 1

    async def stage(previous: Deferred[Any], i: int) -> int:
        await previous
        d = ensureDeferred(leaf())
        calledAtOnce.append(d.called)
        return await d + i

    last: Deferred[Any] = root
    for i in range(40):
        last = ensureDeferred(stage(last, i))
    root.callback(None)
    assert all(calledAtOnce) and len(calledAtOnce) == 40
    assert last.result == 40


def test_cancelling_a_stage_while_a_deep_pipeline_fires_does_not_stall_it() -> None:
    # While a long pipeline of coroutines fires, the deepest finishes are put
    # off until the outer ones return.  A cancel() that reaches one of those
    # put-off Deferreds meanwhile must deliver its result, not leave the rest
    # of the pipeline waiting forever.
    async def stage(previous: Deferred[int]) -> int:
        return (await previous) + 1

    root: Deferred[int] = Deferred()
    stages: list[Deferred[int]] = []
    last = root
    for _ in range(60):
        last = ensureDeferred(stage(last))
        stages.append(last)

    def cancelALaterStage(result: int) -> int:
        stages[45].cancel()
        return result

    stages[3].addCallback(cancelALaterStage)
    root.callback(0)
    assert last.result == 60
    assert all(not isinstance(d.result, Deferred) for d in stages)
