"""Tests for the helpers around the Deferred: succeed, fail, execute,
maybeDeferred, logError, passthru, timeout, debugging switches, DebugInfo,
the DeferredList markers and the exception classes."""

from __future__ import annotations

import asyncio
import builtins
import gc
import logging
import os
import subprocess
import sys
import warnings

import pytest

import deferred
from deferred import (
    FAILURE,
    SUCCESS,
    AlreadyCalledError,
    CancelledError,
    DebugInfo,
    Deferred,
    Failure,
    TimeoutError,
    execute,
    fail,
    getDebugging,
    logError,
    maybeDeferred,
    passthru,
    setDebugging,
    succeed,
    timeout,
)
from deferred.failure import NoCurrentExceptionError
from support import Log, outcome, unhandled


def raiseValueError(message: str = "boom") -> None:
    raise ValueError(message)


# --- succeed and fail ------------------------------------------------------------


def test_succeed_gives_a_fired_deferred() -> None:
    d = succeed("x")
    assert isinstance(d, Deferred)
    assert d.called is True
    assert d.result == "x"
    assert outcome(d) == "x"


def test_fail_with_a_failure_uses_that_failure() -> None:
    f = Failure(KeyError("k"))
    d = fail(f)
    assert d.called is True
    assert outcome(d) is f


def test_fail_with_an_exception_wraps_it() -> None:
    exc = KeyError("k")
    result = outcome(fail(exc))
    assert isinstance(result, Failure)
    assert result.value is exc


def test_fail_without_argument_uses_the_exception_being_handled() -> None:
    try:
        raiseValueError("current")
    except ValueError as e:
        d = fail()
        expected = e
    result = outcome(d)
    assert result.value is expected
    assert "raiseValueError" in result.getTraceback()


def test_fail_without_argument_outside_except_raises() -> None:
    with pytest.raises(NoCurrentExceptionError):
        fail()


# --- execute -----------------------------------------------------------------------


def test_execute_wraps_the_return_value() -> None:
    d = execute(lambda a, b=0: a + b, 1, b=2)
    assert outcome(d) == 3


def test_execute_of_a_function_returning_a_deferred_raises_TypeError() -> None:
    with pytest.raises(TypeError, match="maybeDeferred"):
        execute(Deferred)


def test_execute_wraps_a_raised_exception() -> None:
    result = outcome(execute(raiseValueError, "from execute"))
    assert isinstance(result, Failure)
    assert result.getErrorMessage() == "from execute"
    assert "raiseValueError" in result.getTraceback()


# --- maybeDeferred ---------------------------------------------------------------


def test_maybeDeferred_wraps_a_plain_value() -> None:
    d = maybeDeferred(lambda a, key=None: (a, key), 1, key="k")
    assert outcome(d) == (1, "k")


def test_maybeDeferred_wraps_a_raised_exception() -> None:
    result = outcome(maybeDeferred(raiseValueError, "raised"))
    assert isinstance(result, Failure)
    assert result.type is ValueError
    assert result.getErrorMessage() == "raised"
    assert "raiseValueError" in result.getTraceback()


def test_maybeDeferred_returns_a_returned_deferred_as_it_is() -> None:
    d: Deferred[int] = Deferred()
    assert maybeDeferred(lambda: d) is d


def test_maybeDeferred_turns_a_returned_failure_into_a_failed_deferred() -> None:
    f = Failure(KeyError("returned"))
    assert outcome(maybeDeferred(lambda: f)) is f


def test_maybeDeferred_drives_a_coroutine_returning_a_value() -> None:
    pytest.importorskip("deferred._coroutines")

    async def compute(a: int) -> int:
        return a * 2

    assert outcome(maybeDeferred(compute, 21)) == 42


def test_maybeDeferred_drives_a_coroutine_awaiting_a_deferred() -> None:
    pytest.importorskip("deferred._coroutines")

    async def compute() -> str:
        return await succeed("awaited")

    assert outcome(maybeDeferred(compute)) == "awaited"


def test_maybeDeferred_coroutine_waits_for_a_pending_deferred() -> None:
    pytest.importorskip("deferred._coroutines")
    pending: Deferred[str] = Deferred()

    async def compute() -> str:
        return (await pending) + "!"

    d = maybeDeferred(compute)
    assert d.called is False
    pending.callback("later")
    assert outcome(d) == "later!"


def test_maybeDeferred_with_a_raised_failure_fails_with_the_original() -> None:
    # A Failure is a BaseException, as in Twisted: raised by the function, the
    # result is that Failure's exception, not a Failure wrapping a Failure.
    error = KeyError("raised")

    def f() -> None:
        raise Failure(error)

    result = outcome(maybeDeferred(f))
    assert isinstance(result, Failure)
    assert result.value is error
    assert result.type is KeyError


def test_maybeDeferred_with_a_raised_failure_keeps_its_traceback() -> None:
    try:
        raiseValueError("deep")
    except ValueError:
        original = Failure()

    def f() -> None:
        raise original

    result = outcome(maybeDeferred(f))
    assert result.value is original.value
    assert "raiseValueError" in result.getTraceback()


def test_maybeDeferred_with_a_raised_failure_in_debug_mode() -> None:
    was = getDebugging()
    setDebugging(True)
    try:
        error = KeyError("debug")

        def f() -> None:
            raise Failure(error)

        result = outcome(maybeDeferred(f))
    finally:
        setDebugging(was)
    assert result.value is error


# --- logError ----------------------------------------------------------------


def test_logError_logs_one_error_record_and_returns_the_failure(
    deferredLog: list[logging.LogRecord],
) -> None:
    try:
        raiseValueError("logged")
    except ValueError:
        f = Failure()
    assert logError(f) is f
    [record] = deferredLog
    assert record.name == "deferred"
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[1] is f.value
    assert record.failure is f  # type: ignore[attr-defined]
    assert not record.getMessage().startswith("Unhandled error in Deferred:")
    assert "raiseValueError" in logging.Formatter().format(record)


def test_logError_as_errback_passes_the_failure_on(
    deferredLog: list[logging.LogRecord],
) -> None:
    d: Deferred[int] = Deferred()
    d.addErrback(logError)
    d.errback(KeyError("on"))
    result = outcome(d)
    assert isinstance(result, Failure)
    assert result.type is KeyError
    [record] = deferredLog
    assert record.failure is result  # type: ignore[attr-defined]


# --- passthru and timeout ----------------------------------------------------------


def test_passthru_returns_its_argument() -> None:
    obj = object()
    assert passthru(obj) is obj
    d = succeed(obj)
    d.addCallback(passthru)
    assert d.result is obj


def test_timeout_fails_the_deferred_with_TimeoutError() -> None:
    d: Deferred[int] = Deferred()
    with pytest.deprecated_call():
        timeout(d)
    result = outcome(d)
    assert isinstance(result, Failure)
    assert result.type is TimeoutError


def test_timeout_of_a_fired_deferred_raises_AlreadyCalledError() -> None:
    d = succeed(1)
    with pytest.deprecated_call(), pytest.raises(AlreadyCalledError):
        timeout(d)
    assert d.result == 1


def test_timeout_is_deprecated_as_in_twisted_warning_at_the_callers_line() -> None:
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        timeout(d)
    assert [w.category for w in caught] == [DeprecationWarning]
    assert str(caught[0].message) == (
        "deferred.timeout was deprecated in Twisted 17.1.0; please use "
        "deferred.Deferred.addTimeout instead"
    )
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)


# --- debugging ---------------------------------------------------------------------


def test_setDebugging_switches_debugging_on_and_off() -> None:
    was = getDebugging()
    try:
        setDebugging(True)
        assert getDebugging() is True
        setDebugging(False)
        assert getDebugging() is False
    finally:
        setDebugging(was)


def test_debugging_is_off_by_default() -> None:
    # A fresh interpreter: other tests may not leave it as it started.
    code = "import deferred; print(deferred.getDebugging())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.stdout.strip() == "False"


@pytest.mark.usefixtures("debugging")
def test_debugging_makes_deferreds_remember_their_creator() -> None:
    d = succeed(1)
    with pytest.raises(AlreadyCalledError) as info:
        d.callback(2)
    assert "test_debugging_makes_deferreds_remember_their_creator" in str(info.value)


def test_deferreds_made_before_debugging_do_not_remember_their_creator() -> None:
    d = succeed(1)
    was = getDebugging()
    setDebugging(True)
    try:
        with pytest.raises(AlreadyCalledError) as info:
            d.callback(2)
    finally:
        setDebugging(was)
    assert " C:" not in str(info.value)


# --- DebugInfo -----------------------------------------------------------------


def test_DebugInfo_starts_empty() -> None:
    info = DebugInfo()
    assert info.failResult is None
    assert info.creator is None
    assert info.invoker is None


def test_DebugInfo_collected_with_a_failure_logs_it_once(
    deferredLog: list[logging.LogRecord],
) -> None:
    info = DebugInfo()
    f = Failure(KeyError("lost"))
    info.failResult = f
    del info
    gc.collect()
    [record] = deferredLog
    assert record.getMessage().startswith("Unhandled error in Deferred:")
    assert record.failure is f  # type: ignore[attr-defined]


def test_DebugInfo_collected_without_a_failure_logs_nothing(
    deferredLog: list[logging.LogRecord],
) -> None:
    info = DebugInfo()
    info.failResult = Failure(KeyError())
    info.failResult = None
    del info
    gc.collect()
    assert deferredLog == []


def test_DebugInfo_report_includes_the_stacks(
    deferredLog: list[logging.LogRecord],
) -> None:
    info = DebugInfo()
    info.creator = ['  File "creator.py", line 1, in makeIt\n']
    info.invoker = ['  File "invoker.py", line 2, in fireIt\n']
    info.failResult = Failure(KeyError())
    del info
    [record] = deferredLog
    message = record.getMessage()
    assert " C:" in message and "in makeIt" in message
    assert " I:" in message and "in fireIt" in message


# --- markers, exceptions and exports -----------------------------------------------


def test_SUCCESS_and_FAILURE_markers() -> None:
    assert SUCCESS is True
    assert FAILURE is False


@pytest.mark.parametrize("error", [AlreadyCalledError, CancelledError, TimeoutError])
def test_exception_classes_are_Exceptions(error: type[Exception]) -> None:
    assert issubclass(error, Exception)
    assert str(error("message")) == "message"


def test_CancelledError_is_not_asyncios_and_TimeoutError_is_the_builtin_one() -> None:
    # TimeoutError subclasses the builtin one (issue 13), so that ``except
    # TimeoutError`` catches ours and asyncio's alike.
    assert not issubclass(CancelledError, asyncio.CancelledError)
    assert issubclass(TimeoutError, builtins.TimeoutError)


def test_Failure_is_reexported_from_the_package() -> None:
    import deferred.failure

    assert deferred.Failure is deferred.failure.Failure


@pytest.mark.parametrize(
    "name",
    [
        "Deferred",
        "succeed",
        "fail",
        "execute",
        "maybeDeferred",
        "logError",
        "passthru",
        "timeout",
        "setDebugging",
        "getDebugging",
        "DebugInfo",
        "SUCCESS",
        "FAILURE",
        "AlreadyCalledError",
        "CancelledError",
        "TimeoutError",
        "Failure",
    ],
)
def test_foundation_names_are_public(name: str) -> None:
    assert name in deferred.__all__
    assert hasattr(deferred, name)


def test_succeed_with_a_deferred_raises_TypeError() -> None:
    with pytest.raises(TypeError):
        succeed(Deferred())


def test_succeed_with_a_failure_is_tracked_as_unhandled(deferredLog: Log) -> None:
    d = succeed(Failure(ValueError("lost")))
    assert d.called
    del d
    [record] = unhandled(deferredLog)
    assert record.failure.check(ValueError)
