"""Tests for unhandled-error reporting: a Deferred dropped while it rests on a
Failure reports it exactly once on the "deferred" logger; a handled one never.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Coroutine, Generator
from typing import Any

import pytest

from deferred import Deferred, Failure, ensureDeferred, fail, succeed
from support import UNHANDLED, Log, unhandled, unhandledRecords


class Boom(Exception):
    pass


def raiseBoom(exc: BaseException) -> Any:
    raise exc


def failedByCallback(exc: BaseException) -> Deferred[int]:
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r: raiseBoom(exc))
    d.callback(1)
    return d


# --- what is reported, and how ----------------------------------------------


def test_dropped_deferred_with_failure_from_callback_is_reported_at_once(
    deferredLog: Log,
) -> None:
    exc = Boom("from callback")
    d = failedByCallback(exc)
    assert deferredLog == []
    del d  # no gc.collect(): reference counting reports it
    [record] = deferredLog
    assert record.name == "deferred"
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith(UNHANDLED)


def test_report_carries_the_exception_and_the_failure(deferredLog: Log) -> None:
    exc = Boom("carried")
    d = failedByCallback(exc)
    del d
    [record] = deferredLog
    assert record.exc_info is not None
    assert record.exc_info[0] is Boom
    assert record.exc_info[1] is exc
    failure = record.failure  # type: ignore[attr-defined]
    assert isinstance(failure, Failure)
    assert failure.value is exc


def test_report_text_contains_the_original_traceback(deferredLog: Log) -> None:
    d = failedByCallback(Boom("formatted"))
    del d
    [record] = deferredLog
    text = logging.Formatter().format(record)
    assert text.startswith(UNHANDLED)
    assert "in raiseBoom" in text
    assert "Boom: formatted" in text


def test_unhandled_error_is_reported_exactly_once(deferredLog: Log) -> None:
    d = failedByCallback(Boom())
    del d
    gc.collect()
    gc.collect()
    assert len(deferredLog) == 1


def errbackInExcept(exc: BaseException) -> None:
    d: Deferred[int] = Deferred()
    try:
        raise exc
    except Boom:
        d.errback()


def test_errback_in_except_is_reported_when_the_function_returns(
    deferredLog: Log,
) -> None:
    exc = Boom("in except")
    errbackInExcept(exc)
    [record] = deferredLog  # no gc.collect() needed
    assert record.exc_info is not None and record.exc_info[1] is exc
    assert "in errbackInExcept" in logging.Formatter().format(record)


def test_errback_with_an_exception_instance_is_reported(deferredLog: Log) -> None:
    exc = Boom("instance")
    d: Deferred[int] = Deferred()
    d.errback(exc)
    del d
    [record] = unhandled(deferredLog)
    assert record.failure.value is exc  # type: ignore[attr-defined]


def test_dropped_fail_result_is_reported(deferredLog: Log) -> None:
    d = fail(Boom("fail()"))
    del d
    assert len(unhandled(deferredLog)) == 1


def test_dropped_cancelled_deferred_is_reported(deferredLog: Log) -> None:
    d: Deferred[int] = Deferred()
    d.cancel()
    del d
    [record] = unhandled(deferredLog)
    assert record.failure.type.__name__ == "CancelledError"  # type: ignore[attr-defined]


def test_errback_that_raises_again_reports_the_new_error(deferredLog: Log) -> None:
    second = Boom("second")
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f: raiseBoom(second))
    d.errback(Boom("first"))
    del d
    [record] = deferredLog
    assert record.exc_info is not None and record.exc_info[1] is second


def test_unmatched_trap_reports_the_original_error(deferredLog: Log) -> None:
    exc = Boom("not trapped")
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f: f.trap(KeyError))
    d.errback(exc)
    del d
    [record] = deferredLog
    assert record.exc_info is not None and record.exc_info[1] is exc


def test_failure_through_a_returned_deferred_is_reported_once(
    deferredLog: Log,
) -> None:
    exc = Boom("inner")
    inner: Deferred[int] = Deferred()
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r, it: it, inner)
    outer.callback(0)
    inner.errback(exc)
    del inner
    assert deferredLog == []  # the outer Deferred took the failure over
    del outer
    [record] = deferredLog
    assert record.exc_info is not None and record.exc_info[1] is exc


def test_deferred_in_a_reference_cycle_is_reported_by_the_collector(
    deferredLog: Log,
) -> None:
    d: Deferred[int] = Deferred()
    exc = Boom("cycle")
    exc.deferred = d  # type: ignore[attr-defined]  # d -> failure -> exc -> d
    d.errback(exc)
    del d, exc
    assert deferredLog == []  # only the collector can find it
    gc.collect()
    [record] = unhandled(deferredLog)
    assert "Boom: cycle" in logging.Formatter().format(record)


def test_unhandled_chained_exception_reported_when_dropped(
    deferredLog: Log,
) -> None:
    # An exception raised while handling another keeps no frames alive through
    # its __context__, so reference counting reports it, without a cycle.
    def fireFailing() -> None:
        d: Deferred[int] = Deferred()

        def callback(result: int) -> None:
            try:
                raise KeyError("first")
            except KeyError:
                raise ValueError("while handling")  # noqa: B904

        d.addCallback(callback)
        d.callback(1)

    gc.disable()
    try:
        fireFailing()
        reportedAtOnce = len(unhandled(deferredLog))
        collected = gc.collect()
    finally:
        gc.enable()
    assert (reportedAtOnce, collected) == (1, 0)


def test_unhandled_exception_with_cause_reported_when_dropped(
    deferredLog: Log,
) -> None:
    # Likewise for the __cause__ of ``raise ... from exc``.
    def fireFailing() -> None:
        d: Deferred[int] = Deferred()

        def callback(result: int) -> None:
            try:
                raise KeyError("missing")
            except KeyError as e:
                raise ValueError("lookup failed") from e

        d.addCallback(callback)
        d.callback(1)

    gc.disable()
    try:
        fireFailing()
        reportedAtOnce = len(unhandled(deferredLog))
        collected = gc.collect()
    finally:
        gc.enable()
    assert (reportedAtOnce, collected) == (1, 0)


def makeHere() -> Deferred[int]:
    return Deferred()


def errbackHere(d: Deferred[int]) -> None:
    d.errback(Boom("debug"))


@pytest.mark.usefixtures("debugging")
def test_debug_mode_adds_creation_and_invocation_stacks(deferredLog: Log) -> None:
    d = makeHere()
    errbackHere(d)
    del d
    [record] = deferredLog
    message = record.getMessage()
    assert message.startswith(UNHANDLED)
    lines = message.splitlines()
    assert any(line.startswith(" C:") and "in makeHere" in line for line in lines)
    assert any(line.startswith(" I:") and "in errbackHere" in line for line in lines)


def test_without_debug_mode_the_message_has_no_stacks(deferredLog: Log) -> None:
    d = makeHere()
    errbackHere(d)
    del d
    [record] = deferredLog
    assert "makeHere" not in record.getMessage()
    assert " C:" not in record.getMessage()


# --- what is never reported ------------------------------------------------


def test_errback_that_recovers_is_not_reported(deferredLog: Log) -> None:
    d = failedByCallback(Boom())
    d.addErrback(lambda f: None)
    del d
    gc.collect()
    assert deferredLog == []


def test_errback_added_after_the_failure_is_not_reported(deferredLog: Log) -> None:
    d = failedByCallback(Boom())
    d.addCallback(lambda r: "skipped")
    d.addErrback(lambda f: "handled late")
    del d
    gc.collect()
    assert deferredLog == []


def test_matching_trap_is_not_reported(deferredLog: Log) -> None:
    d = fail(Boom())
    d.addErrback(lambda f: f.trap(Boom))
    del d
    gc.collect()
    assert deferredLog == []


def test_failure_handled_by_the_outer_deferred_is_not_reported(
    deferredLog: Log,
) -> None:
    inner = fail(Boom("inner"))
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r, it: it, inner)
    outer.addErrback(lambda f: "handled")
    outer.callback(0)
    del inner, outer
    gc.collect()
    assert deferredLog == []


def test_failure_passed_on_by_chainDeferred_and_handled_is_not_reported(
    deferredLog: Log,
) -> None:
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()
    source.chainDeferred(target)
    target.addErrback(lambda f: None)
    source.errback(Boom())
    del source, target
    gc.collect()
    assert deferredLog == []


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never has to wait; return its result."""
    with pytest.raises(StopIteration) as info:
        coro.send(None)
    return info.value.value


def test_awaited_failure_is_not_reported(deferredLog: Log) -> None:
    d = fail(Boom("awaited"))

    async def awaiter(d: Deferred[int]) -> str:
        try:
            await d
        except Boom:
            return "caught"
        return "not raised"

    assert drive(awaiter(d)) == "caught"
    del d
    gc.collect()
    assert deferredLog == []


def test_failure_raised_through_an_await_is_not_reported(deferredLog: Log) -> None:
    d = fail(Boom("propagated"))

    async def awaiter(d: Deferred[int]) -> None:
        await d

    with pytest.raises(Boom):
        awaiter(d).send(None)
    del d
    gc.collect()
    assert deferredLog == []


def test_awaited_pending_deferred_that_fails_is_not_reported(
    deferredLog: Log,
) -> None:
    pytest.importorskip("deferred._coroutines")
    d: Deferred[int] = Deferred()

    async def awaiter(d: Deferred[int]) -> str:
        try:
            await d
        except Boom:
            return "caught"
        return "not raised"

    result = Deferred.fromCoroutine(awaiter(d))
    assert result.called is False
    d.errback(Boom("later"))
    assert result.result == "caught"
    del d, result
    gc.collect()
    assert deferredLog == []


def test_failure_yielded_from_is_not_reported(deferredLog: Log) -> None:
    d = fail(Boom("yielded"))

    def gen(d: Deferred[int]) -> Generator[Any, Any, str]:
        try:
            yield from d
        except Boom:
            return "caught"
        return "not raised"

    with pytest.raises(StopIteration) as info:
        next(gen(d))
    assert info.value.value == "caught"
    del d
    gc.collect()
    assert deferredLog == []


def test_successful_deferreds_report_nothing(deferredLog: Log) -> None:
    d = succeed(1)
    d.addCallback(lambda r: r + 1)
    pending: Deferred[int] = Deferred()
    del d, pending
    gc.collect()
    assert deferredLog == []


def test_normal_operation_logs_nothing_at_warning_or_above(
    deferredLog: Log, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    inner: Deferred[int] = Deferred()
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r, it: it, inner)
    outer.addErrback(lambda f: f.trap(Boom))
    outer.callback(0)
    inner.errback(Boom())
    cancelled: Deferred[int] = Deferred()
    cancelled.cancel()
    cancelled.addErrback(lambda f: None)
    paused = succeed(1)
    paused.pause()
    paused.unpause()
    del inner, outer, cancelled, paused
    gc.collect()
    assert deferredLog == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def _awaitAndCatch(d: Deferred[Any]) -> None:
    try:
        await d
    except Boom:
        pass


@pytest.mark.parametrize("how", ["addCallback", "addErrback passes", "paused"])
def test_failure_taken_by_an_await_is_unhandled_again_once_it_passes_a_stage(
    deferredLog: Log, how: str
) -> None:
    # As after any pass over the callbacks (and as in Twisted): the failure
    # still at the end of the chain is reported when the Deferred is dropped.
    d: Deferred[int] = fail(Boom("again"))
    ensureDeferred(_awaitAndCatch(d))
    if how == "addCallback":
        d.addCallback(lambda r: r)
    elif how == "addErrback passes":
        d.addErrback(lambda f: f)
    else:
        d.pause()
        d.addCallback(lambda r: r)
        d.unpause()
    del d
    [record] = unhandledRecords(deferredLog)
    assert "Boom: again" in logging.Formatter().format(record)


def test_failure_taken_by_an_await_alone_is_not_reported(deferredLog: Log) -> None:
    d: Deferred[int] = fail(Boom("taken"))
    ensureDeferred(_awaitAndCatch(d))
    del d
    assert unhandledRecords(deferredLog) == []


# --- the report says where the failure came from ------------------------------


def test_report_of_a_raised_error_carries_the_line_that_raised(
    deferredLog: Log,
) -> None:
    d = failedByCallback(Boom("located"))
    del d
    [record] = deferredLog
    assert record.pathname == raiseBoom.__code__.co_filename
    assert record.funcName == "raiseBoom"
    assert record.lineno == raiseBoom.__code__.co_firstlineno + 1


def errbackWithInstance() -> None:
    d: Deferred[int] = Deferred()
    d.errback(Boom("never raised"))  # the line the report points at


def failWithInstance() -> None:
    fail(Boom("never raised, by fail()"))  # the line the report points at


@pytest.mark.parametrize(
    "fire", [errbackWithInstance, failWithInstance], ids=["errback", "fail"]
)
def test_report_of_a_never_raised_error_shows_where_it_was_fired(
    deferredLog: Log, fire: Any
) -> None:
    fire()
    [record] = unhandledRecords(deferredLog)
    firing = fire.__code__.co_firstlineno + 2 - (fire is failWithInstance)
    assert (record.pathname, record.lineno, record.funcName) == (
        __file__,
        firing,
        fire.__name__,
    )
    text = logging.Formatter().format(record)
    # Where it was fired (the caller of fail(), not fail() itself), then
    # the error, and how to learn more; no empty traceback.
    assert "Traceback (most recent call last):" not in text
    assert "never raised" in text
    assert f"line {firing}, in {fire.__name__}" in text
    assert "in test_report_of_a_never_raised_error_shows_where" in text
    assert "_functions.py" not in text and "_deferred.py" not in text
    assert text.rstrip().splitlines()[-2].startswith(f"{Boom.__module__}.Boom: ")
    assert "setDebugging(True)" in text.splitlines()[-1]


def test_report_of_a_cancellation_shows_who_cancelled(deferredLog: Log) -> None:
    d: Deferred[int] = Deferred()
    d.cancel()
    line = sys._getframe().f_lineno - 1
    del d
    [record] = deferredLog
    assert (record.lineno, record.funcName) == (
        line,
        "test_report_of_a_cancellation_shows_who_cancelled",
    )
    assert "d.cancel()" in logging.Formatter().format(record)


@pytest.mark.usefixtures("debugging")
def test_never_raised_error_in_debug_mode_has_stacks_and_no_hint(
    deferredLog: Log,
) -> None:
    errbackWithInstance()
    [record] = unhandledRecords(deferredLog)
    text = logging.Formatter().format(record)
    assert " C:" in text and "in errbackWithInstance" in text
    assert "setDebugging(True)" not in text


def test_failure_never_fired_by_errback_keeps_its_plain_report(
    deferredLog: Log,
) -> None:
    # A Failure given to callback(): no record of where; the hint still helps.
    d: Deferred[int] = Deferred()
    d.callback(Failure(Boom("via callback")))  # type: ignore[arg-type]
    del d
    [record] = deferredLog
    text = logging.Formatter().format(record)
    assert "Boom: via callback" in text
    assert "setDebugging(True)" in text


@pytest.mark.usefixtures("debugging")
def test_debug_stacks_show_the_users_frames_only(deferredLog: Log) -> None:
    d = makeHere()
    errbackHere(d)
    del d
    [record] = deferredLog
    stacks = [
        line
        for line in record.getMessage().splitlines()
        if line.startswith((" C:", " I:"))
    ]
    files = [line for line in stacks if 'File "' in line]
    assert files and all("test_unhandled.py" in line for line in files), stacks


@pytest.mark.usefixtures("debugging")
def test_debug_stacks_in_full_on_request(
    deferredLog: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEFERRED_DEBUG_FULL_STACKS", "1")
    d = makeHere()
    errbackHere(d)
    del d
    [record] = deferredLog
    message = record.getMessage()
    assert "_pytest" in message and "pluggy" in message
