"""Tests for deferred.testing: successResultOf, failureResultOf, assertNoResult."""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
import weakref
from typing import Any

import pytest

from deferred import (
    CancelledError,
    Deferred,
    Failure,
    NotACoroutineError,
    fail,
    succeed,
)
from deferred.testing import assertNoResult, failureResultOf, successResultOf
from support import unhandledRecords


def raiseValueError(_: object = None) -> None:
    raise ValueError("the original problem")


def failedDeferred() -> Deferred[Any]:
    """A Deferred that failed in a callback, so its failure has frames."""
    return succeed(None).addCallback(raiseValueError)


async def awaitsOne(d: Deferred[int]) -> int:
    return await d + 1


# --- successResultOf -----------------------------------------------------------


def test_successResultOf_returns_the_result() -> None:
    assert successResultOf(succeed("value")) == "value"


def test_successResultOf_leaves_the_deferred_holding_None() -> None:
    d = succeed("value")
    successResultOf(d)
    assert d.result is None


def test_successResultOf_fails_on_an_unfired_deferred() -> None:
    with pytest.raises(AssertionError, match=r"no result yet \(it has not fired\)"):
        successResultOf(Deferred())


def test_successResultOf_leaves_an_unfired_deferred_untouched() -> None:
    d: Deferred[Any] = Deferred()
    with pytest.raises(AssertionError):
        successResultOf(d)
    assert d.callbacks == []
    d.errback(ValueError("later"))
    # The later failure is still there, not swallowed by a leftover callback.
    assert failureResultOf(d, ValueError)


def test_successResultOf_fails_on_a_deferred_waiting_on_another() -> None:
    inner: Deferred[int] = Deferred()
    outer = succeed(0).addCallback(lambda _: inner)
    with pytest.raises(AssertionError, match="it is waiting on <Deferred"):
        successResultOf(outer)
    inner.callback(5)
    assert successResultOf(outer) == 5


def test_successResultOf_fails_on_a_paused_deferred() -> None:
    d = succeed(1)
    d.pause()
    with pytest.raises(AssertionError, match="it is paused"):
        successResultOf(d)
    d.unpause()
    assert successResultOf(d) == 1


def test_successResultOf_inside_its_own_callback_finds_no_result() -> None:
    d: Deferred[int] = Deferred()
    messages: list[str] = []

    def check(result: int) -> int:
        with pytest.raises(AssertionError) as excinfo:
            successResultOf(d)
        messages.append(str(excinfo.value))
        return result

    d.addCallback(check)
    d.callback(7)
    assert "its callbacks are running" in messages[0]
    assert successResultOf(d) == 7


def test_successResultOf_on_a_failure_shows_its_traceback() -> None:
    with pytest.raises(AssertionError) as excinfo:
        successResultOf(failedDeferred())
    message = str(excinfo.value)
    assert "Expected a success result" in message
    assert "in raiseValueError" in message
    assert "ValueError: the original problem" in message


def test_successResultOf_on_a_failure_handles_it(
    deferredLog: list[logging.LogRecord],
) -> None:
    d = failedDeferred()
    with pytest.raises(AssertionError):
        successResultOf(d)
    assert d.result is None
    del d
    assert unhandledRecords(deferredLog) == []


def test_successResultOf_runs_a_coroutine() -> None:
    assert successResultOf(awaitsOne(succeed(1))) == 2


def test_successResultOf_on_an_unfinished_coroutine_fails() -> None:
    waiting: Deferred[int] = Deferred()
    with pytest.raises(AssertionError, match="no result yet"):
        successResultOf(awaitsOne(waiting))
    waiting.callback(0)


def test_successResultOf_refuses_what_is_not_a_deferred() -> None:
    with pytest.raises(NotACoroutineError, match=r"successResultOf\(\) needs a"):
        successResultOf(42)  # type: ignore[arg-type]


# --- failureResultOf -----------------------------------------------------------


def test_failureResultOf_returns_the_failure() -> None:
    failure = failureResultOf(failedDeferred())
    assert isinstance(failure, Failure)
    assert failure.check(ValueError)


def test_failureResultOf_leaves_the_deferred_holding_None() -> None:
    d = failedDeferred()
    failureResultOf(d)
    assert d.result is None


def test_failureResultOf_handles_the_failure(
    deferredLog: list[logging.LogRecord],
) -> None:
    d = failedDeferred()
    failureResultOf(d, ValueError)
    del d
    assert unhandledRecords(deferredLog) == []


def test_failureResultOf_accepts_any_expected_type_and_subclasses() -> None:
    assert failureResultOf(failedDeferred(), KeyError, ValueError)
    assert failureResultOf(failedDeferred(), Exception)


def test_failureResultOf_of_another_type_fails_with_the_traceback() -> None:
    with pytest.raises(AssertionError) as excinfo:
        failureResultOf(failedDeferred(), KeyError, TypeError)
    message = str(excinfo.value)
    assert "builtins.KeyError or builtins.TypeError" in message
    assert "failed with builtins.ValueError" in message
    assert "in raiseValueError" in message


def test_failureResultOf_of_another_type_handles_the_failure(
    deferredLog: list[logging.LogRecord],
) -> None:
    d = failedDeferred()
    with pytest.raises(AssertionError):
        failureResultOf(d, KeyError)
    del d
    assert unhandledRecords(deferredLog) == []


def test_failureResultOf_on_a_success_shows_the_result() -> None:
    with pytest.raises(AssertionError, match=r"succeeded with \[1, 'two'\]"):
        failureResultOf(succeed([1, "two"]))


def test_failureResultOf_on_a_success_with_a_broken_repr_still_fails() -> None:
    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    with pytest.raises(AssertionError, match="unrepresentable BadRepr"):
        failureResultOf(succeed(BadRepr()))


def test_failureResultOf_fails_on_an_unfired_deferred() -> None:
    d: Deferred[Any] = Deferred()
    with pytest.raises(AssertionError, match="no result yet"):
        failureResultOf(d)
    assert not d.called


def test_failureResultOf_of_a_cancelled_deferred() -> None:
    d: Deferred[Any] = Deferred()
    d.cancel()
    assert failureResultOf(d, CancelledError)


def test_failureResultOf_of_a_failing_coroutine() -> None:
    assert failureResultOf(awaitsOne(fail(KeyError("k"))), KeyError)


def test_failureResultOf_refuses_bad_types_and_keeps_the_deferred() -> None:
    d = failedDeferred()
    with pytest.raises(TypeError, match="expects exception classes"):
        failureResultOf(d, "ValueError")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects exception classes"):
        failureResultOf(d, int)  # type: ignore[arg-type]
    assert isinstance(d.result, Failure)
    assert failureResultOf(d, ValueError)


def test_failureResultOf_refuses_what_is_not_a_deferred() -> None:
    with pytest.raises(NotACoroutineError, match=r"failureResultOf\(\) needs a"):
        failureResultOf(None)  # type: ignore[arg-type]


# --- assertNoResult ------------------------------------------------------------


def test_assertNoResult_passes_on_an_unfired_deferred_and_leaves_it_alone() -> None:
    d: Deferred[int] = Deferred()
    assertNoResult(d)
    assert d.callbacks == []
    d.callback(3)
    assert successResultOf(d) == 3


def test_assertNoResult_leaves_a_later_failure_unhandled(
    deferredLog: list[logging.LogRecord],
) -> None:
    d: Deferred[Any] = Deferred()
    assertNoResult(d)
    d.errback(ValueError("nobody handles this"))
    del d
    assert len(unhandledRecords(deferredLog)) == 1


def test_assertNoResult_passes_on_a_deferred_waiting_on_another() -> None:
    inner: Deferred[int] = Deferred()
    outer = succeed(0).addCallback(lambda _: inner)
    assertNoResult(outer)
    inner.callback(1)


def test_assertNoResult_passes_on_a_paused_deferred() -> None:
    d = succeed(1)
    d.pause()
    assertNoResult(d)
    d.unpause()
    assert successResultOf(d) == 1


def test_assertNoResult_on_a_success_shows_it_and_keeps_it() -> None:
    d = succeed({"key": 1})
    with pytest.raises(AssertionError, match=r"has one: \{'key': 1\}"):
        assertNoResult(d)
    assert successResultOf(d) == {"key": 1}


def test_assertNoResult_on_a_failure_shows_its_traceback() -> None:
    with pytest.raises(AssertionError) as excinfo:
        assertNoResult(failedDeferred())
    message = str(excinfo.value)
    assert "Expected no result" in message
    assert "in raiseValueError" in message


def test_assertNoResult_on_a_failure_handles_it(
    deferredLog: list[logging.LogRecord],
) -> None:
    d = failedDeferred()
    with pytest.raises(AssertionError):
        assertNoResult(d)
    assert d.result is None
    del d
    assert unhandledRecords(deferredLog) == []


def test_assertNoResult_on_an_unfinished_coroutine_passes() -> None:
    waiting: Deferred[int] = Deferred()
    assertNoResult(awaitsOne(waiting))
    waiting.callback(0)


def test_assertNoResult_on_a_finished_coroutine_fails() -> None:
    with pytest.raises(AssertionError, match="has one: 2"):
        assertNoResult(awaitsOne(succeed(1)))


def test_assertNoResult_refuses_what_is_not_a_deferred() -> None:
    with pytest.raises(NotACoroutineError, match=r"assertNoResult\(\) needs a"):
        assertNoResult("not a deferred")  # type: ignore[arg-type]


# --- for any framework, and cheap ----------------------------------------------


def test_failures_are_plain_assertion_errors() -> None:
    # unittest's failureException, and what every runner reports as a failure.
    with pytest.raises(AssertionError) as excinfo:
        successResultOf(Deferred())
    assert type(excinfo.value) is AssertionError


def test_helpers_leave_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:
        refs = []
        for helper in (successResultOf, failureResultOf, assertNoResult):
            for make in (lambda: succeed(1), failedDeferred, Deferred):
                d = make()
                try:
                    helper(d)
                except AssertionError:
                    pass
                refs.append(weakref.ref(d))
                del d
        assert [ref() for ref in refs] == [None] * len(refs)
    finally:
        gc.enable()


def test_importing_the_helpers_loads_nothing_heavy() -> None:
    code = (
        "import sys, deferred; before = set(sys.modules); import deferred.testing; "
        "print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['deferred.testing']"
