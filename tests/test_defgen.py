"""Tests for deferredGenerator and waitForDeferred, the older generator style."""

from __future__ import annotations

import gc
import inspect
import sys
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from deferred import (
    Deferred,
    Failure,
    deferredGenerator,
    fail,
    succeed,
    waitForDeferred,
)
from support import Log, failureOf, outcome

# Both are deprecated (and warn) as in Twisted: the tests below check that;
# the others use them as old code does.
pytestmark = pytest.mark.filterwarnings(
    "ignore:deferred.(deferredGenerator|waitForDeferred) was deprecated"
    ":DeprecationWarning"
)

# --- results ---------------------------------------------------------------------


def test_generator_waits_for_a_pending_deferred_and_gets_its_result() -> None:
    source: Deferred[int] = Deferred()

    @deferredGenerator
    def double() -> Iterator[Any]:
        waiting = waitForDeferred(source)
        yield waiting
        yield waiting.getResult() * 2

    d = double()
    assert not d.called
    source.callback(21)
    assert outcome(d) == 42


def test_result_is_the_last_value_yielded() -> None:
    @deferredGenerator
    def values() -> Iterator[Any]:
        yield "first"
        waiting = waitForDeferred(succeed(1))
        yield waiting
        waiting.getResult()
        yield "last"

    assert outcome(values()) == "last"


def test_result_is_none_when_the_last_value_yielded_is_a_wait() -> None:
    @deferredGenerator
    def endsWaiting() -> Iterator[Any]:
        yield "not this"
        waiting = waitForDeferred(succeed(1))
        yield waiting
        waiting.getResult()

    assert outcome(endsWaiting()) is None


def test_result_is_none_when_nothing_is_yielded() -> None:
    @deferredGenerator
    def nothing() -> Iterator[Any]:
        return
        yield

    assert outcome(nothing()) is None


def test_a_returned_value_is_ignored_as_in_twisted() -> None:
    @deferredGenerator
    def returns() -> Iterator[Any]:
        yield "yielded"
        return "returned"  # type: ignore[return-value]

    assert outcome(returns()) == "yielded"


def test_arguments_reach_the_generator() -> None:
    @deferredGenerator
    def add(a: int, b: int = 0, *, c: int) -> Iterator[int]:
        yield a + b + c

    assert outcome(add(1, 2, c=3)) == 6


def test_several_waits_in_turn_each_get_their_own_result() -> None:
    sources: list[Deferred[int]] = [Deferred(), Deferred(), Deferred()]

    @deferredGenerator
    def collect() -> Iterator[Any]:
        seen = []
        for source in sources:
            waiting = waitForDeferred(source)
            yield waiting
            seen.append(waiting.getResult())
        yield seen

    d = collect()
    for i, source in enumerate(sources):
        assert not d.called
        source.callback(i)
    assert outcome(d) == [0, 1, 2]


# --- failures -------------------------------------------------------------------------


def test_get_result_raises_the_failure_of_the_deferred() -> None:
    error = ValueError("from the deferred")

    @deferredGenerator
    def catches() -> Iterator[Any]:
        waiting = waitForDeferred(fail(error))
        yield waiting
        try:
            waiting.getResult()
        except ValueError as e:
            yield e

    assert outcome(catches()) is error


def test_uncaught_failure_from_get_result_fails_the_deferred() -> None:
    source: Deferred[int] = Deferred()

    @deferredGenerator
    def ignores() -> Iterator[Any]:
        waiting = waitForDeferred(source)
        yield waiting
        waiting.getResult()

    d = ignores()
    source.errback(KeyError("missing"))
    failureOf(d, KeyError)


def test_exception_raised_in_the_generator_fails_the_deferred() -> None:
    @deferredGenerator
    def broken() -> Iterator[Any]:
        yield 1
        raise ZeroDivisionError("oops")

    failure = failureOf(broken(), ZeroDivisionError)
    assert "broken" in failure.getTraceback()


def test_exception_after_resuming_fails_the_deferred() -> None:
    source: Deferred[int] = Deferred()

    @deferredGenerator
    def brokenLater() -> Iterator[Any]:
        waiting = waitForDeferred(source)
        yield waiting
        raise RuntimeError(waiting.getResult())

    d = brokenLater()
    source.callback(3)
    assert failureOf(d, RuntimeError).value.args == (3,)


def test_waited_on_failure_is_not_reported_as_unhandled(deferredLog: Log) -> None:
    @deferredGenerator
    def handles(source: Deferred[int]) -> Iterator[Any]:
        waiting = waitForDeferred(source)
        yield waiting
        try:
            waiting.getResult()
        except ValueError:
            yield "handled"

    source: Deferred[int] = Deferred()
    d = handles(source)
    source.errback(ValueError())
    assert outcome(d) == "handled"
    assert outcome(source) is None
    del source, d
    gc.collect()
    assert deferredLog == []


# --- misuse ------------------------------------------------------------------------


def test_yielding_a_bare_deferred_fails_with_type_error() -> None:
    @deferredGenerator
    def wrong() -> Iterator[Any]:
        yield succeed(1)

    failure = failureOf(wrong(), TypeError)
    assert "waitForDeferred" in failure.getErrorMessage()


def test_yielding_a_bare_deferred_after_resuming_fails_the_same_deferred() -> None:
    source: Deferred[int] = Deferred()

    @deferredGenerator
    def wrongLater() -> Iterator[Any]:
        waiting = waitForDeferred(source)
        yield waiting
        yield Deferred()

    d = wrongLater()
    source.callback(1)
    failureOf(d, TypeError)


def test_wait_for_deferred_rejects_a_non_deferred_at_the_call() -> None:
    with pytest.raises(TypeError, match="takes a Deferred, not 42"):
        waitForDeferred(42)  # type: ignore[arg-type]


def test_get_result_before_the_result_arrived_raises_runtime_error() -> None:
    source: Deferred[int] = Deferred()
    waiting = waitForDeferred(source)
    with pytest.raises(RuntimeError, match="yield the waitForDeferred"):
        waiting.getResult()


def test_decorating_a_non_generator_function_raises_type_error_when_called() -> None:
    def notAGenerator() -> int:
        return 3

    wrapped = deferredGenerator(notAGenerator)  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="notAGenerator"):
        wrapped()


def test_decorated_function_keeps_its_name_and_signature() -> None:
    def original(a: int, *, b: str = "x") -> Iterator[Any]:
        """The docstring."""
        yield a

    decorated = deferredGenerator(original)
    assert decorated.__name__ == "original"
    assert decorated.__doc__ == "The docstring."
    assert inspect.signature(decorated) == inspect.signature(original)


# --- the loop -------------------------------------------------------------------------


def test_many_already_fired_waits_do_not_recurse() -> None:
    @deferredGenerator
    def manyWaits() -> Iterator[Any]:
        total = 0
        for i in range(20_000):
            waiting = waitForDeferred(succeed(i))
            yield waiting
            total += waiting.getResult()
        yield total

    assert outcome(manyWaits()) == sum(range(20_000))


def test_many_waits_fired_later_do_not_recurse() -> None:
    sources: list[Deferred[None]] = [Deferred() for _ in range(5_000)]

    @deferredGenerator
    def waitsInTurn() -> Iterator[Any]:
        for source in sources:
            waiting = waitForDeferred(source)
            yield waiting
            waiting.getResult()
        yield "done"

    d = waitsInTurn()
    for source in sources:
        source.callback(None)
    assert outcome(d) == "done"


def test_generator_firing_the_deferred_it_waits_on_next() -> None:
    # Re-entrancy: the generator fires a Deferred before waiting on it.
    source: Deferred[str] = Deferred()

    @deferredGenerator
    def firesItself() -> Iterator[Any]:
        source.callback("self-fired")
        waiting = waitForDeferred(source)
        yield waiting
        yield waiting.getResult()

    assert outcome(firesItself()) == "self-fired"


def test_finished_generator_leaves_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:

        @deferredGenerator
        def waits(source: Deferred[int]) -> Iterator[Any]:
            waiting = waitForDeferred(source)
            yield waiting
            yield waiting.getResult()

        source: Deferred[int] = Deferred()
        d = waits(source)
        source.callback(5)
        refs = [weakref.ref(d), weakref.ref(source)]
        assert outcome(d) == 5
        del d, source
        assert all(ref() is None for ref in refs)
    finally:
        gc.enable()


# --- raising a Failure ------------------------------------------------------------


def test_raising_a_failure_in_the_generator_fails_with_the_original() -> None:
    # A Failure is a BaseException, as in Twisted: the result is its
    # exception, not a Failure wrapping a Failure.
    error = KeyError("raised")

    @deferredGenerator
    def gen() -> Iterator[Any]:
        yield 1
        raise Failure(error)

    failure = failureOf(gen())
    assert failure.value is error
    assert failure.type is KeyError


def test_raising_a_failure_after_a_wait_fails_with_the_original() -> None:
    source: Deferred[int] = Deferred()
    error = ValueError("after the wait")

    @deferredGenerator
    def gen() -> Iterator[Any]:
        waiting = waitForDeferred(source)
        yield waiting
        waiting.getResult()
        raise Failure(error)

    d = gen()
    source.callback(1)
    assert failureOf(d).value is error


def test_get_result_of_a_failure_raised_upstream_raises_the_original() -> None:
    error = ZeroDivisionError("upstream")
    source: Deferred[int] = Deferred()
    source.addCallback(lambda _: (_ for _ in ()).throw(Failure(error)))

    @deferredGenerator
    def gen() -> Iterator[Any]:
        waiting = waitForDeferred(source)
        yield waiting
        try:
            waiting.getResult()
        except ZeroDivisionError as e:
            yield e

    d = gen()
    source.callback(1)
    assert outcome(d) is error


# --- deprecation -----------------------------------------------------------------


def test_decorating_with_deferredGenerator_warns_at_the_decorated_function() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = sys._getframe().f_lineno + 1

        @deferredGenerator
        def gen() -> Iterator[Any]:
            yield None

        last = sys._getframe().f_lineno
    assert [w.category for w in caught] == [DeprecationWarning]
    assert str(caught[0].message) == (
        "deferred.deferredGenerator was deprecated in Twisted 15.0.0; please use "
        "deferred.inlineCallbacks instead"
    )
    assert caught[0].filename == __file__
    assert first <= caught[0].lineno <= last
    # Calling the decorated function does not warn again.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert outcome(gen()) is None
    assert caught == []


def test_making_a_waitForDeferred_warns_at_the_callers_line() -> None:
    d: Deferred[int] = Deferred()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        waitForDeferred(d)
    assert [w.category for w in caught] == [DeprecationWarning]
    assert str(caught[0].message) == (
        "deferred.waitForDeferred was deprecated in Twisted 15.0.0; please use "
        "deferred.inlineCallbacks instead"
    )
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)


def test_waitForDeferred_warns_before_rejecting_a_non_deferred() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TypeError):
            waitForDeferred(42)  # type: ignore[arg-type]
    assert [w.category for w in caught] == [DeprecationWarning]
