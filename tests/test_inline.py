"""Tests for inlineCallbacks and returnValue: results, failures, the loop over
fired Deferreds, cancellation, contextvars, bad input, and memory."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import logging
import sys
import traceback
import warnings
import weakref
from collections.abc import Generator
from typing import Any

import pytest

from deferred import (
    CancelledError,
    Deferred,
    DeferredList,
    Failure,
    FirstError,
    ensureDeferred,
    fail,
    inlineCallbacks,
    returnValue,
    succeed,
)
from support import Log, assertLeavesNoCycle, failureOf, outcome, unhandled

# --- results -----------------------------------------------------------------


def test_return_statement_gives_the_result() -> None:
    @inlineCallbacks
    def f(x: int) -> Generator[Any, Any, int]:
        y = yield succeed(x + 1)
        return y * 10

    assert outcome(f(1)) == 20


RV_DEPRECATED = "deferred.returnValue was deprecated in Twisted 24.7.0"


def test_returnValue_gives_the_result() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield succeed(1)
        returnValue("done")

    with pytest.deprecated_call(match=RV_DEPRECATED):
        assert outcome(f()) == "done"


def test_returnValue_after_resuming_from_a_deferred_fired_elsewhere() -> None:
    # Resumed by the callback of a Deferred this test fires: no frame of the
    # driver is on the stack (the compiled core's step has none), yet the
    # generator being stepped is recognised.
    pending: Deferred[int] = Deferred()

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        value = yield pending
        returnValue(value * 2)

    with pytest.deprecated_call(match=RV_DEPRECATED):
        result = f()
        pending.callback(21)
    assert outcome(result) == 42


def test_returnValue_passes_through_except_Exception() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield None
        try:
            returnValue(5)
        except Exception:  # pragma: no cover - must not catch it
            pytest.fail("returnValue was caught by 'except Exception'")

    with pytest.deprecated_call():
        assert outcome(f()) == 5


def test_returnValue_warns_at_each_call_pointing_at_the_callers_line() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield None
        returnValue(1)  # the line warned about

    line = inspect.getsourcelines(f)[1] + 3  # (from the decorator line)
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")  # would show each place once
            assert outcome(f()) == 1
        assert [w.category for w in caught] == [DeprecationWarning]
        assert str(caught[0].message) == (
            "deferred.returnValue was deprecated in Twisted 24.7.0; please use "
            "standard return statement instead"
        )
        assert (caught[0].filename, caught[0].lineno) == (__file__, line)


def test_returnValue_from_a_nested_function_still_works_and_warns_twice() -> None:
    def helper() -> None:
        returnValue("from helper")

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield None
        helper()

    line = inspect.getsourcelines(helper)[1] + 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert outcome(f()) == "from helper"
    assert [w.category for w in caught] == [DeprecationWarning] * 2
    assert RV_DEPRECATED in str(caught[0].message)
    assert str(caught[1].message) == (
        "returnValue() in 'helper' causing 'f' to exit: returnValue should only "
        "be invoked by functions decorated with inlineCallbacks"
    )
    # Both point at the returnValue() call in helper.
    assert {(w.filename, w.lineno) for w in caught} == {(__file__, line)}


def test_returnValue_two_calls_down_names_the_function_that_called_it() -> None:
    def inner() -> None:
        returnValue(3)

    def outer() -> None:
        inner()

    cause: Deferred[None] = Deferred()

    @inlineCallbacks
    def gen() -> Generator[Any, Any, None]:
        yield cause
        outer()

    d = gen()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cause.callback(None)
    assert outcome(d) == 3
    assert "returnValue() in 'inner' causing 'gen' to exit" in str(caught[1].message)
    assert caught[1].lineno == inspect.getsourcelines(inner)[1] + 1


def test_returnValue_in_the_generator_after_a_thrown_failure_warns_once() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        try:
            yield fail(KeyError("k"))
        except KeyError:
            returnValue("recovered")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert outcome(f()) == "recovered"
    assert len(caught) == 1


def test_non_local_returnValue_warning_as_an_error_fails_the_deferred() -> None:
    def helper() -> None:
        returnValue("from helper")

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield None
        helper()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", message="returnValue\\(\\) in")
        failure = failureOf(f())
    assert failure.check(DeprecationWarning)
    assert "causing 'f' to exit" in str(failure.value)


def test_returnValue_deprecation_as_an_error_fails_the_deferred() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield None
        returnValue(1)

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        failure = failureOf(f())
    assert failure.check(DeprecationWarning)


def test_returnValue_outside_any_generator_says_so_plainly() -> None:
    with pytest.deprecated_call(), pytest.raises(RuntimeError) as info:
        returnValue(5)
    message = str(info.value)
    assert "returnValue() was called outside a generator run by inlineCallbacks" in (
        message
    )
    assert "return value" in message
    shown = "".join(traceback.format_exception(info.value))
    assert "_DefGen_Return" not in shown
    assert "deferred._" not in shown.splitlines()[-1]


def test_returnValue_in_a_plain_generator_outside_inlineCallbacks() -> None:
    def gen() -> Generator[int, None, None]:
        yield 1
        returnValue(2)

    g = gen()
    next(g)
    with pytest.deprecated_call(), pytest.raises(RuntimeError, match="outside"):
        next(g)


def test_generator_without_yielding_deferreds_fires_at_once() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, int]:
        if False:
            yield
        return 3

    d = f()
    assert d.called
    assert outcome(d) == 3


def test_falling_off_the_end_gives_None() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield succeed(1)

    assert outcome(f()) is None


def test_yielded_non_deferred_comes_straight_back() -> None:
    marker = object()

    @inlineCallbacks
    def f() -> Generator[Any, Any, list[Any]]:
        a = yield marker
        b = yield None
        c = yield [1, 2]
        return [a, b, c]

    assert outcome(f()) == [marker, None, [1, 2]]


def test_yielded_failure_object_is_raised_at_the_yield() -> None:
    # A bare Failure (not wrapped in a Deferred) is not sent back as a value:
    # its exception comes out of the yield, which is what Twisted code gets.
    problem = KeyError("missing")
    seen: list[BaseException] = []

    @inlineCallbacks
    def f() -> Generator[Any, Any, str]:
        try:
            yield Failure(problem)
        except KeyError as e:
            seen.append(e)
        yield Failure(ZeroDivisionError("uncaught"))
        return "not reached"

    failureOf(f(), ZeroDivisionError)
    assert seen == [problem]


def test_yielded_fired_deferred_gives_its_result_and_is_consumed() -> None:
    d = succeed("value")

    @inlineCallbacks
    def f() -> Generator[Any, Any, Any]:
        return (yield d)

    assert outcome(f()) == "value"
    # As if a callback returning None had taken the result (as in Twisted).
    assert d.result is None


def test_yielded_pending_deferred_resumes_the_generator_when_it_fires() -> None:
    d: Deferred[str] = Deferred()
    steps: list[str] = []

    @inlineCallbacks
    def f() -> Generator[Any, Any, str]:
        steps.append("start")
        value = yield d
        steps.append(value)
        return value + "!"

    result = f()
    assert steps == ["start"]
    assert not result.called
    d.callback("fired")
    assert steps == ["start", "fired"]
    assert outcome(result) == "fired!"
    assert d.result is None


def test_generator_starts_running_when_called() -> None:
    ran: list[bool] = []

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        ran.append(True)
        yield Deferred()

    f()
    assert ran == [True]


def test_yielded_subclass_of_deferred_is_waited_on() -> None:
    class MyDeferred(Deferred[int]):
        pass

    d = MyDeferred()

    @inlineCallbacks
    def f() -> Generator[Any, Any, int]:
        return (yield d)

    result = f()
    d.callback(4)
    assert outcome(result) == 4


def test_yielded_paused_deferred_is_waited_on_until_unpaused() -> None:
    d = succeed(1)
    d.pause()

    @inlineCallbacks
    def f() -> Generator[Any, Any, int]:
        return (yield d)

    result = f()
    assert not result.called
    d.unpause()
    assert outcome(result) == 1


def test_deferred_yielded_from_inside_its_own_callback_is_waited_on() -> None:
    # The Deferred is running its callbacks: its result is the one at the end
    # of the chain, so the generator waits for the chain to finish.
    d: Deferred[int] = Deferred()
    results: list[Deferred[Any]] = []

    @inlineCallbacks
    def f() -> Generator[Any, Any, Any]:
        return (yield d)

    d.addCallback(lambda r: results.append(f()) or r)
    d.addCallback(lambda r: r * 100)
    d.callback(2)
    assert outcome(results[0]) == 200


def test_yielded_coroutine_is_run_and_its_result_comes_back() -> None:
    gate: Deferred[int] = Deferred()

    async def inner() -> int:
        return (await gate) + 1

    @inlineCallbacks
    def f() -> Generator[Any, Any, int]:
        return (yield inner())

    result = f()
    gate.callback(1)
    assert outcome(result) == 2


def test_yielded_generator_is_run_as_inlineCallbacks() -> None:
    def inner() -> Generator[Any, Any, int]:
        x = yield succeed(3)
        return x * 2

    @inlineCallbacks
    def f() -> Generator[Any, Any, int]:
        return (yield inner())

    assert outcome(f()) == 6


def test_yield_from_a_deferred_works_in_the_generator() -> None:
    d: Deferred[int] = Deferred()

    @inlineCallbacks
    def f() -> Generator[Any, Any, int]:
        a = yield from succeed(1)
        b = yield from d
        return a + b

    result = f()
    d.callback(2)
    assert outcome(result) == 3


def test_yielded_asyncio_future_is_waited_on() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()

        @inlineCallbacks
        def f() -> Generator[Any, Any, int]:
            return (yield future)

        result = f()
        loop.call_soon(future.set_result, 9)
        return await result

    assert asyncio.run(main()) == 9


# --- failures ----------------------------------------------------------------


def test_uncaught_exception_fails_the_returned_deferred() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield succeed(1)
        raise ValueError("bad")

    failure = failureOf(f())
    assert failure.check(ValueError)
    assert str(failure.value) == "bad"


def test_failure_is_raised_at_the_yield_and_can_be_caught() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, str]:
        try:
            yield fail(KeyError("k"))
        except KeyError as e:
            return f"caught {e.args[0]}"
        return "not raised"

    assert outcome(f()) == "caught k"


def test_failure_of_pending_deferred_is_raised_at_the_yield() -> None:
    d: Deferred[int] = Deferred()

    @inlineCallbacks
    def f() -> Generator[Any, Any, str]:
        try:
            yield d
        except ZeroDivisionError:
            return "caught"
        return "not raised"

    result = f()
    d.errback(ZeroDivisionError())
    assert outcome(result) == "caught"


def raiseInner() -> None:
    raise ValueError("deep")


def test_failure_thrown_in_keeps_its_original_traceback() -> None:
    d: Deferred[int] = Deferred()
    seen: list[list[str]] = []

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        try:
            yield d
        except ValueError as e:
            seen.append([fs.name for fs in traceback.extract_tb(e.__traceback__)])

    result = f()
    try:
        raiseInner()
    except ValueError:
        d.errback()
    assert outcome(result) is None
    [names] = seen
    assert names[0] == "f"
    assert "raiseInner" in names


def test_uncaught_failure_propagates_to_the_returned_deferred() -> None:
    d: Deferred[int] = Deferred()

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield d

    result = f()
    d.errback(KeyError("lost"))
    assert failureOf(result).check(KeyError)


def test_failure_caught_by_the_generator_is_not_reported(deferredLog: Log) -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, str]:
        try:
            yield fail(ValueError("fired"))
        except ValueError:
            pass
        pending: Deferred[int] = Deferred()
        pending.errback(KeyError("pending"))
        try:
            yield pending
        except KeyError:
            pass
        return "ok"

    assert outcome(f()) == "ok"
    gc.collect()
    assert unhandled(deferredLog) == []


def test_failure_propagated_and_handled_downstream_is_not_reported(
    deferredLog: Log,
) -> None:
    def run() -> None:
        d: Deferred[int] = Deferred()

        @inlineCallbacks
        def f() -> Generator[Any, Any, None]:
            yield fail(ValueError("a"))

        @inlineCallbacks
        def g() -> Generator[Any, Any, None]:
            yield d

        failureOf(f())
        result = g()
        d.errback(KeyError("b"))
        failureOf(result)

    run()  # every Deferred is gone when it returns
    gc.collect()
    assert unhandled(deferredLog) == []


def test_unhandled_failure_of_the_returned_deferred_is_reported_once(
    deferredLog: Log,
) -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield succeed(1)
        raise ValueError("nobody handles me")

    f()
    gc.collect()
    [record] = unhandled(deferredLog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_base_exception_fails_the_returned_deferred_as_in_twisted() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield None
        raise KeyboardInterrupt

    assert failureOf(f()).check(KeyboardInterrupt)


def test_returning_a_deferred_fails_with_TypeError() -> None:
    inner = succeed(1)

    @inlineCallbacks
    def f() -> Generator[Any, Any, Any]:
        yield None
        return inner

    failure = failureOf(f())
    assert failure.check(TypeError)
    assert "yield or await it first" in str(failure.value)
    assert inner.result == 1  # left alone


# A Failure is a BaseException, as in Twisted: raised out of the generator,
# or yielded (and so thrown into it), the Deferred's result is the original
# exception -- never a Failure wrapping a Failure.


def assertIsTheOriginal(failure: Failure, exc: BaseException) -> None:
    assert type(failure) is Failure
    assert failure.value is exc
    assert failure.type is type(exc)
    assert not isinstance(failure.value, Failure)


def test_raising_a_failure_makes_it_the_result() -> None:
    error = KeyError("k")
    original = Failure(error)

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield None
        raise original

    assertIsTheOriginal(failureOf(f()), error)


def test_raising_a_failure_before_the_first_yield() -> None:
    error = ValueError("early")

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        raise Failure(error)
        yield None  # pragma: no cover

    assertIsTheOriginal(failureOf(f()), error)


def test_raising_a_failure_after_waiting_on_a_pending_deferred() -> None:
    gate: Deferred[None] = Deferred()
    error = ValueError("later")

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield gate
        raise Failure(error)

    d = f()
    gate.callback(None)
    assertIsTheOriginal(failureOf(d), error)


def test_raising_the_subFailure_of_a_FirstError_unwraps_it() -> None:
    error = ZeroDivisionError("inner")
    bad: Deferred[int] = Deferred()

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        try:
            yield DeferredList(
                [Deferred(), bad], fireOnOneErrback=True, consumeErrors=True
            )
        except FirstError as e:
            raise e.subFailure  # noqa: B904
        return None

    d = f()
    bad.errback(error)
    failure = failureOf(d)
    assertIsTheOriginal(failure, error)
    assert failure.check(ZeroDivisionError)


def test_raising_a_caught_failure_keeps_its_traceback() -> None:
    def broken() -> None:
        raise KeyError("deep")

    try:
        broken()
    except KeyError:
        original = Failure()

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield None
        raise original

    shown = failureOf(f()).getTraceback()
    assert "in broken" in shown
    assert "KeyError" in shown


def test_yielded_failure_thrown_in_and_let_out_is_the_original() -> None:
    error = KeyError("thrown")

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield Failure(error)

    assertIsTheOriginal(failureOf(f()), error)


def test_failure_thrown_in_can_be_caught_as_its_exception_and_reraised() -> None:
    error = KeyError("thrown")

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        try:
            yield fail(error)
        except KeyError as e:
            assert e is error
            raise Failure(e) from None

    assertIsTheOriginal(failureOf(f()), error)


def test_raised_failure_is_not_reported_when_handled(deferredLog: Log) -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield None
        raise Failure(KeyError("handled"))

    failureOf(f())
    gc.collect()
    assert unhandled(deferredLog) == []


# --- no recursion --------------------------------------------------------------


def test_a_million_fired_deferreds_are_consumed_without_recursion() -> None:
    n = 1_000_000

    @inlineCallbacks
    def f() -> Generator[Any, Any, int]:
        total = 0
        for i in range(n):
            total += yield succeed(i)
        return total

    assert outcome(f()) == n * (n - 1) // 2


def frameDepth() -> int:
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back  # type: ignore[assignment]
    return depth


def test_fired_and_pending_yields_use_constant_stack() -> None:
    # With the recursion limit just above the current depth, any recursion
    # per yield would raise RecursionError.
    pending = [Deferred[int]() for _ in range(10_000)]

    @inlineCallbacks
    def f() -> Generator[Any, Any, int]:
        total = 0
        for i in range(10_000):
            total += yield succeed(i)
        for d in pending:
            total += yield d
        return total

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(frameDepth() + 40)
    try:
        result = f()
        for i, d in enumerate(pending):
            d.callback(i)
    finally:
        sys.setrecursionlimit(old)
    assert outcome(result) == 2 * (10_000 * 9_999 // 2)


def test_inlineCallbacks_pipeline_of_many_stages_fires(
    deferredLog: list[logging.LogRecord],
) -> None:
    # Each stage waits on the previous one's Deferred: firing the first
    # resumes them all without recursing once per stage.
    @inlineCallbacks
    def stage(previous: Deferred[int]) -> Any:
        value = yield previous
        return value + 1

    first: Deferred[int] = Deferred()
    d = first
    for _ in range(2000):
        d = stage(d)
    first.callback(0)
    assert d.result == 2000


# --- cancellation ------------------------------------------------------------


def test_cancel_cancels_the_awaited_deferred_and_raises_CancelledError() -> None:
    cancelled: list[Deferred[Any]] = []
    d: Deferred[int] = Deferred(cancelled.append)

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        yield d

    result = f()
    result.cancel()
    assert cancelled == [d]
    assert failureOf(result).check(CancelledError)


def test_generator_may_catch_the_cancellation_and_carry_on() -> None:
    first: Deferred[int] = Deferred()
    second: Deferred[int] = Deferred()

    @inlineCallbacks
    def f() -> Generator[Any, Any, str]:
        try:
            yield first
        except CancelledError:
            pass
        value = yield second
        return f"went on with {value}"

    result = f()
    result.cancel()
    assert first.called
    assert not second.called
    # Still going, as in Twisted (it now waits on a fresh Deferred).
    second.callback(2)
    assert outcome(result) == "went on with 2"


def test_cancel_again_reaches_the_next_awaited_deferred() -> None:
    first: Deferred[int] = Deferred()
    second: Deferred[int] = Deferred()
    caught: list[str] = []

    @inlineCallbacks
    def f() -> Generator[Any, Any, str]:
        try:
            yield first
        except CancelledError:
            caught.append("first")
        try:
            yield second
        except CancelledError:
            caught.append("second")
        return "finished"

    result = f()
    result.cancel()
    result.cancel()
    assert caught == ["first", "second"]
    assert outcome(result) == "finished"


def test_generator_that_keeps_catching_cancel_gets_every_cancel(
    deferredLog: list[logging.LogRecord],
) -> None:
    # Each caught cancellation leaves the generator waiting on a fresh
    # Deferred; however many there are, every cancel() still reaches it.
    caught = [0]

    @inlineCallbacks
    def service() -> Any:
        while True:
            try:
                yield Deferred()
            except CancelledError:
                caught[0] += 1

    d = service()
    for _ in range(1500):
        d.cancel()
    assert caught[0] == 1500


def test_generator_catching_cancellation_may_return_a_value() -> None:
    d: Deferred[int] = Deferred()

    @inlineCallbacks
    def f() -> Generator[Any, Any, str]:
        try:
            yield d
        except CancelledError:
            return "recovered"
        return "not cancelled"

    result = f()
    result.cancel()
    assert outcome(result) == "recovered"


def test_cancel_when_the_awaited_deferred_ignores_it_keeps_waiting() -> None:
    # A paused Deferred does not fire on cancel(); the generator keeps
    # waiting for it, and gets its CancelledError when it is unpaused.
    d: Deferred[int] = Deferred()
    d.pause()

    @inlineCallbacks
    def f() -> Generator[Any, Any, str]:
        try:
            yield d
        except CancelledError:
            return "cancelled late"
        return "no"

    result = f()
    result.cancel()
    seen: list[Any] = []
    result.addBoth(seen.append)
    assert seen == []
    d.unpause()
    assert seen == ["cancelled late"]


def test_cancel_from_inside_the_running_generator_is_ignored() -> None:
    # As in Twisted: nothing is being awaited at that moment, so there is
    # nothing to cancel; the generator carries on.
    gate: Deferred[None] = Deferred()
    holder: list[Deferred[Any]] = []

    @inlineCallbacks
    def f() -> Generator[Any, Any, str]:
        yield gate
        holder[0].cancel()
        value = yield succeed("after")
        return value

    result = f()
    holder.append(result)
    gate.callback(None)
    assert outcome(result) == "after"


def test_cancel_after_the_generator_finished_does_nothing() -> None:
    @inlineCallbacks
    def f() -> Generator[Any, Any, int]:
        yield None
        return 1

    result = f()
    result.cancel()
    assert outcome(result) == 1


def test_cancelling_an_inner_call_reaches_the_innermost_deferred() -> None:
    innermost: Deferred[int] = Deferred()

    @inlineCallbacks
    def inner() -> Generator[Any, Any, int]:
        return (yield innermost)

    @inlineCallbacks
    def outer() -> Generator[Any, Any, int]:
        return (yield inner())

    result = outer()
    result.cancel()
    assert innermost.called
    assert failureOf(result).check(CancelledError)


@pytest.mark.parametrize("catch", [False, True])
def test_on_cancel_the_awaited_deferreds_later_callbacks_run_before_ours(
    catch: bool,
) -> None:
    # As in Twisted (checked against 26.10): the generator gets the
    # CancelledError, then the callbacks added to the awaited Deferred after
    # the generator's own run, and only then those of the returned Deferred.
    log: list[Any] = []
    awaited: Deferred[int] = Deferred(lambda d: log.append("canceller"))
    awaited.addBoth(lambda r: log.append(("awaited, earlier", type(r))) or r)

    @inlineCallbacks
    def gen() -> Generator[Any, Any, str]:
        try:
            yield awaited
        except CancelledError:
            log.append("generator")
            if not catch:
                raise
        return "caught"

    result = gen()
    awaited.addBoth(lambda r: log.append(("awaited, later", r)))
    result.addBoth(lambda r: log.append(("returned", type(r))))
    result.cancel()
    log.append("cancel() returned")
    assert log == [
        "canceller",
        ("awaited, earlier", Failure),
        "generator",
        ("awaited, later", None),
        ("returned", Failure if not catch else str),
        "cancel() returned",
    ]


def test_cancelled_generator_that_goes_on_fires_the_deferred_when_done() -> None:
    awaited: Deferred[int] = Deferred()
    later: Deferred[int] = Deferred()

    @inlineCallbacks
    def gen() -> Generator[Any, Any, int]:
        try:
            yield awaited
        except CancelledError:
            pass
        return (yield later) + 1

    result = gen()
    result.cancel()
    assert not result.called or "waiting on" in repr(result)
    seen: list[Any] = []
    result.addBoth(seen.append)
    assert seen == []
    later.callback(1)
    assert seen == [2]


# --- contextvars -------------------------------------------------------------

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def test_context_changes_persist_across_yields_and_do_not_leak() -> None:
    d: Deferred[None] = Deferred()
    seen: list[str] = []

    @inlineCallbacks
    def f() -> Generator[Any, Any, None]:
        seen.append(var.get())
        var.set("inside")
        yield succeed(None)
        seen.append(var.get())
        yield d
        seen.append(var.get())

    var.set("caller")
    try:
        result = f()
        assert var.get() == "caller"
        var.set("caller changed later")
        d.callback(None)  # resumed from here, in its own context
        assert var.get() == "caller changed later"
    finally:
        var.set("unset")
    assert outcome(result) is None
    assert seen == ["caller", "inside", "inside"]


def test_each_call_gets_its_own_context() -> None:
    gates = [Deferred[None](), Deferred[None]()]
    seen: list[str] = []

    @inlineCallbacks
    def f(name: str, gate: Deferred[None]) -> Generator[Any, Any, None]:
        var.set(name)
        yield gate
        seen.append(var.get())

    f("one", gates[0])
    f("two", gates[1])
    gates[1].callback(None)
    gates[0].callback(None)
    assert seen == ["two", "one"]


# --- bad input and the decorator -----------------------------------------------


def test_decorating_a_non_generator_function_raises_TypeError_when_called() -> None:
    def notAGenerator() -> int:
        return 1

    decorated = inlineCallbacks(notAGenerator)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="to return a generator"):
        decorated()


def test_decorating_an_async_function_raises_TypeError_with_a_hint() -> None:
    async def coroutineFunction() -> int:
        return 1

    decorated = inlineCallbacks(coroutineFunction)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(TypeError, match="ensureDeferred"):
            decorated()
        gc.collect()


def test_returnValue_in_a_non_generator_raises_TypeError() -> None:
    def f() -> None:
        returnValue(1)

    with pytest.deprecated_call(), pytest.raises(TypeError, match="returnValue"):
        inlineCallbacks(f)()  # type: ignore[arg-type]


def test_exception_from_a_non_generator_function_propagates() -> None:
    def f() -> None:
        raise KeyError("direct")

    with pytest.raises(KeyError):
        inlineCallbacks(f)()  # type: ignore[arg-type]


def test_decorator_keeps_name_docstring_and_signature() -> None:
    def fetch(url: str, *, retries: int = 3) -> Generator[Any, Any, str]:
        """Fetch a page."""
        yield None
        return url

    decorated = inlineCallbacks(fetch)
    assert decorated.__name__ == "fetch"
    assert decorated.__doc__ == "Fetch a page."
    assert inspect.signature(decorated) == inspect.signature(fetch)
    assert outcome(decorated("u", retries=1)) == "u"


def test_decorated_method_gets_self() -> None:
    class Thing:
        factor = 3

        @inlineCallbacks
        def compute(self, x: int) -> Generator[Any, Any, int]:
            y = yield succeed(x)
            return y * self.factor

    assert outcome(Thing().compute(2)) == 6


# --- re-entrancy ---------------------------------------------------------------


def test_generator_firing_the_deferred_another_one_waits_on() -> None:
    ping: Deferred[int] = Deferred()
    order: list[str] = []

    @inlineCallbacks
    def waiter() -> Generator[Any, Any, int]:
        value = yield ping
        order.append("waiter resumed")
        return value

    @inlineCallbacks
    def firer() -> Generator[Any, Any, None]:
        yield None
        order.append("firing")
        ping.callback(7)
        order.append("fired")

    w = waiter()
    firer()
    assert order == ["firing", "waiter resumed", "fired"]
    assert outcome(w) == 7


def test_ensureDeferred_and_inlineCallbacks_await_each_other() -> None:
    gate: Deferred[int] = Deferred()

    @inlineCallbacks
    def inner() -> Generator[Any, Any, int]:
        return (yield gate) * 2

    async def middle() -> int:
        return await inner() + 1

    @inlineCallbacks
    def outer() -> Generator[Any, Any, int]:
        return (yield ensureDeferred(middle()))

    result = outer()
    gate.callback(5)
    assert outcome(result) == 11


# --- memory --------------------------------------------------------------------


def test_finished_call_leaves_no_reference_cycle() -> None:
    def run() -> None:
        pending: Deferred[int] = Deferred()

        @inlineCallbacks
        def f() -> Generator[Any, Any, int]:
            a = yield succeed(1)
            b = yield pending
            return a + b

        result = f()
        pending.callback(2)
        assert outcome(result) == 3

    assertLeavesNoCycle(run)


def test_failed_then_handled_call_leaves_no_reference_cycle() -> None:
    def run() -> None:
        pending: Deferred[int] = Deferred()

        @inlineCallbacks
        def f() -> Generator[Any, Any, None]:
            try:
                yield fail(ValueError("caught"))
            except ValueError:
                pass
            yield pending
            yield fail(KeyError("propagated"))

        result = f()
        result.addErrback(lambda failure: None)  # handled before it fails
        pending.callback(1)

    assertLeavesNoCycle(run)


def test_finished_generator_is_released() -> None:
    gens: list[weakref.ref[Any]] = []

    def body() -> Generator[Any, Any, int]:
        yield succeed(None)
        return 1

    def f() -> Generator[Any, Any, int]:
        gen = body()
        gens.append(weakref.ref(gen))
        return gen

    result = inlineCallbacks(f)()
    assert outcome(result) == 1
    assert gens[0]() is None
