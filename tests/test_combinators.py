"""Tests for DeferredList, gatherResults, race, FirstError and FailureGroup."""

from __future__ import annotations

import gc
import itertools
import logging
import traceback
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from deferred import (
    FAILURE,
    SUCCESS,
    CancelledError,
    Deferred,
    DeferredList,
    FailureGroup,
    FirstError,
    fail,
    gatherResults,
    race,
    succeed,
)
from deferred.failure import Failure
from support import Log, callbacksOf, failureOf, outcome, unhandled

# --- helpers --------------------------------------------------------------------


def firstErrorOf(d: Deferred[Any]) -> FirstError:
    value = failureOf(d, FirstError).value
    assert isinstance(value, FirstError)
    return value


def failureGroupOf(d: Deferred[Any]) -> FailureGroup:
    value = failureOf(d, FailureGroup).value
    assert isinstance(value, FailureGroup)
    return value


def allCollected(refs: list[weakref.ref[Any]]) -> bool:
    return all(ref() is None for ref in refs)


def assertNoResult(d: Deferred[Any]) -> None:
    assert not d.called, f"{d!r} has fired"


def raised(exc: BaseException) -> Failure:
    """A Failure for ``exc`` raised in ``thrower``, so it has a traceback."""

    def thrower() -> None:
        raise exc

    try:
        thrower()
    except BaseException:
        return Failure()
    raise AssertionError("not reached")


class Counting:
    """Deferreds whose cancellations are counted, per index."""

    def __init__(self, n: int) -> None:
        self.cancelled = [0] * n
        self.ds: list[Deferred[Any]] = [Deferred(self._canceller(i)) for i in range(n)]

    def _canceller(self, index: int) -> Any:
        def cancel(d: Deferred[Any]) -> None:
            self.cancelled[index] += 1

        return cancel


# --- DeferredList: results ----------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_deferred_list_gives_pairs_in_input_order_whatever_the_firing_order(
    order: tuple[int, ...],
) -> None:
    ds: list[Deferred[str]] = [Deferred() for _ in range(3)]
    dl = DeferredList(ds, consumeErrors=True)
    error = ValueError("one")
    for i in order:
        if i == 1:
            ds[i].errback(error)
        else:
            ds[i].callback(f"r{i}")
    result = outcome(dl)
    assert result[0] == (SUCCESS, "r0")
    assert result[1][0] is FAILURE and result[1][1].value is error
    assert result[2] == (SUCCESS, "r2")


def test_deferred_list_does_not_fire_until_every_input_has() -> None:
    ds: list[Deferred[int]] = [Deferred(), Deferred()]
    dl = DeferredList(ds)
    ds[1].callback(1)
    assertNoResult(dl)
    assert dl.finishedCount == 1
    assert dl.resultList == [None, (True, 1)]


def test_deferred_list_is_a_deferred_with_twisted_attributes() -> None:
    d: Deferred[int] = Deferred()
    dl = DeferredList([d], fireOnOneErrback=True, consumeErrors=True)
    assert isinstance(dl, Deferred)
    assert dl.resultList == [None]
    assert dl.finishedCount == 0
    assert dl.fireOnOneCallback is False
    assert dl.fireOnOneErrback is True
    assert dl.consumeErrors is True


def test_deferred_list_fires_with_its_result_list_object() -> None:
    dl = DeferredList([succeed(1)])
    assert outcome(dl) is dl.resultList


def test_success_and_failure_markers_are_true_and_false() -> None:
    assert SUCCESS is True
    assert FAILURE is False


def test_empty_deferred_list_fires_at_once_with_an_empty_list() -> None:
    assert outcome(DeferredList([])) == []


def test_empty_deferred_list_with_fire_on_one_callback_never_fires() -> None:
    # As in Twisted: no input can ever succeed.
    assertNoResult(DeferredList([], fireOnOneCallback=True))


def test_inputs_fired_before_the_list_was_made_are_collected_at_once() -> None:
    dl = DeferredList([succeed(1), fail(KeyError("k")), succeed(3)], consumeErrors=True)
    result = outcome(dl)
    assert result[0] == (True, 1)
    assert result[1][0] is False and result[1][1].check(KeyError)
    assert result[2] == (True, 3)


def test_success_results_pass_on_to_the_inputs_later_callbacks() -> None:
    ds: list[Deferred[int]] = [Deferred(), succeed(2)]
    DeferredList(ds)
    ds[0].callback(1)
    assert [outcome(d) for d in ds] == [1, 2]


def test_callbacks_added_to_an_input_before_the_list_change_what_it_sees() -> None:
    d: Deferred[int] = Deferred()
    d.addCallback(lambda x: x * 10)
    dl = DeferredList([d])
    d.callback(4)
    assert outcome(dl) == [(True, 40)]


def test_paused_input_is_collected_once_unpaused() -> None:
    d: Deferred[int] = Deferred()
    d.pause()
    d.callback(5)
    dl = DeferredList([d])
    assertNoResult(dl)
    d.unpause()
    assert outcome(dl) == [(True, 5)]


def test_input_waiting_on_a_chained_deferred_is_collected_when_that_fires() -> None:
    inner: Deferred[str] = Deferred()
    d: Deferred[str] = succeed("x")
    d.addCallback(lambda _: inner)
    dl = DeferredList([d])
    assertNoResult(dl)
    inner.callback("inner")
    assert outcome(dl) == [(True, "inner")]


def test_list_callback_adding_a_callback_to_the_input_that_fired_it() -> None:
    # Re-entrancy: the list fires from inside the input's callback loop.
    d: Deferred[int] = Deferred()
    seen: list[int] = []
    dl = DeferredList([d])
    dl.addCallback(lambda _: d.addCallback(seen.append))
    d.callback(7)
    assert seen == [7]


def test_same_deferred_twice_sees_what_the_first_entry_passed_on() -> None:
    # As in Twisted: each occurrence adds its own callback pair.
    d: Deferred[int] = Deferred()
    dl = DeferredList([d, d], consumeErrors=True)
    d.errback(ValueError("x"))
    first, second = outcome(dl)
    assert first[0] is False and first[1].check(ValueError)
    assert second == (True, None)


def test_deferred_list_accepts_a_generator_and_reads_it_once() -> None:
    ds: list[Deferred[int]] = [succeed(1), succeed(2)]
    reads = 0

    def gen() -> Iterator[Deferred[int]]:
        nonlocal reads
        reads += 1
        yield from ds

    dl = DeferredList(gen())
    assert outcome(dl) == [(True, 1), (True, 2)]
    assert reads == 1


def test_deferred_list_rejects_a_non_deferred_before_touching_any_input() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(TypeError, match=r"item 1 is 42"):
        DeferredList([d, 42])  # type: ignore[arg-type]
    assert callbacksOf(d) == []
    d.callback(1)
    assert outcome(d) == 1


def test_deferred_list_rejects_a_single_deferred() -> None:
    with pytest.raises(TypeError, match="iterable of Deferreds"):
        DeferredList(succeed(1))


def test_deferred_list_class_is_generic() -> None:
    alias = DeferredList[list[tuple[bool, int]]]
    assert alias.__origin__ is DeferredList  # type: ignore[attr-defined]


# --- DeferredList: fireOnOneCallback / fireOnOneErrback -------------------------


def test_fire_on_one_callback_fires_with_first_success_and_its_index() -> None:
    ds: list[Deferred[str]] = [Deferred(), Deferred(), Deferred()]
    dl = DeferredList(ds, fireOnOneCallback=True)
    ds[0].errback(ValueError())
    assertNoResult(dl)
    ds[2].callback("two")
    assert outcome(dl) == ("two", 2)
    failureOf(ds[0], ValueError)  # not consumed


def test_fire_on_one_callback_keeps_recording_inputs_that_fire_later() -> None:
    ds: list[Deferred[str]] = [Deferred(), Deferred(), Deferred()]
    dl = DeferredList(ds, fireOnOneCallback=True, consumeErrors=True)
    ds[1].callback("b")
    assert outcome(dl) == ("b", 1)
    ds[0].errback(ValueError("a"))
    ds[2].callback("c")
    assert dl.finishedCount == 3
    assert dl.resultList[1:] == [(True, "b"), (True, "c")]
    assert dl.resultList[0] is not None and dl.resultList[0][0] is False
    assert [outcome(d) for d in ds] == [None, "b", "c"]


def test_fire_on_one_callback_with_already_fired_input_fires_during_construction() -> (
    None
):
    pending: Deferred[int] = Deferred()
    dl = DeferredList([pending, succeed(9)], fireOnOneCallback=True)
    assert outcome(dl) == (9, 1)
    assertNoResult(pending)


def test_fire_on_one_callback_fires_with_the_list_when_every_input_fails() -> None:
    ds: list[Deferred[int]] = [Deferred(), Deferred()]
    dl = DeferredList(ds, fireOnOneCallback=True, consumeErrors=True)
    ds[0].errback(ValueError())
    ds[1].errback(KeyError())
    result = outcome(dl)
    assert isinstance(result, list)
    assert [ok for ok, _ in result] == [False, False]


def test_fire_on_one_errback_fails_with_first_error() -> None:
    ds: list[Deferred[int]] = [Deferred(), Deferred(), Deferred()]
    dl = DeferredList(ds, fireOnOneErrback=True)
    ds[0].callback(0)
    first = ValueError("first")
    ds[2].errback(first)
    ds[1].errback(KeyError("second"))
    error = firstErrorOf(dl)
    assert error.index == 2
    assert error.subFailure.value is first
    assert dl.finishedCount == 3
    failureOf(ds[1], KeyError)  # without consumeErrors, the inputs keep theirs
    failureOf(ds[2], ValueError)


def test_fire_on_one_errback_fires_with_the_list_when_nothing_fails() -> None:
    dl = DeferredList([succeed(1), succeed(2)], fireOnOneErrback=True)
    assert outcome(dl) == [(True, 1), (True, 2)]


def test_fire_on_one_errback_with_consume_errors_still_fails_the_list() -> None:
    d: Deferred[int] = Deferred()
    dl = DeferredList([d], fireOnOneErrback=True, consumeErrors=True)
    d.errback(ValueError())
    failureOf(dl, FirstError)
    assert outcome(d) is None


# --- DeferredList: consumeErrors and unhandled-error reports ---------------------


def test_without_consume_errors_the_failure_stays_in_the_inputs_chain() -> None:
    d: Deferred[int] = Deferred()
    DeferredList([d])
    d.errback(ValueError("kept"))
    failureOf(d, ValueError)


def test_unconsumed_failure_nobody_handles_is_reported_exactly_once(
    deferredLog: Log,
) -> None:
    d: Deferred[int] = Deferred()
    dl = DeferredList([d])
    d.errback(ValueError("lost"))
    assert outcome(dl)[0][0] is False
    del d, dl
    gc.collect()
    [record] = unhandled(deferredLog)
    assert record.failure.check(ValueError)  # type: ignore[attr-defined]


def test_consume_errors_replaces_the_failure_by_none_in_the_input() -> None:
    d: Deferred[int] = Deferred()
    dl = DeferredList([d], consumeErrors=True)
    d.errback(ValueError("x"))
    assert outcome(d) is None
    assert outcome(dl)[0][1].check(ValueError)


def test_consume_errors_leaves_nothing_reported_as_unhandled(deferredLog: Log) -> None:
    ds: list[Deferred[int]] = [Deferred(), fail(KeyError("before"))]
    dl = DeferredList(ds, consumeErrors=True)
    ds[0].errback(ValueError("after"))
    assert [ok for ok, _ in outcome(dl)] == [False, False]
    del ds, dl
    gc.collect()
    assert deferredLog == []


def test_consume_errors_applies_to_inputs_failing_after_the_list_fired(
    deferredLog: Log,
) -> None:
    ds: list[Deferred[int]] = [Deferred(), Deferred()]
    dl = DeferredList(ds, fireOnOneCallback=True, consumeErrors=True)
    ds[0].callback(0)
    outcome(dl)
    ds[1].errback(ValueError())
    assert outcome(ds[1]) is None
    del ds, dl
    gc.collect()
    assert deferredLog == []


# --- DeferredList: cancellation -------------------------------------------------------


def test_cancel_before_any_input_fired_cancels_every_input() -> None:
    counting = Counting(3)
    dl = DeferredList(counting.ds, consumeErrors=True)
    dl.cancel()
    assert counting.cancelled == [1, 1, 1]
    result = outcome(dl)
    assert all(not ok and f.check(CancelledError) for ok, f in result)


def test_cancel_after_some_inputs_fired_cancels_only_the_pending_ones() -> None:
    counting = Counting(3)
    dl = DeferredList(counting.ds)
    counting.ds[1].callback("done")
    dl.cancel()
    assert counting.cancelled == [1, 0, 1]
    assert outcome(counting.ds[1]) == "done"
    failureOf(counting.ds[0], CancelledError)  # consumeErrors=False: kept
    failureOf(counting.ds[2], CancelledError)
    assert outcome(dl)[1] == (True, "done")


def test_cancel_after_the_list_fired_does_nothing() -> None:
    counting = Counting(2)
    dl = DeferredList(counting.ds, fireOnOneCallback=True)
    counting.ds[0].callback("won")
    dl.cancel()
    assert counting.cancelled == [0, 0]
    assertNoResult(counting.ds[1])
    assert outcome(dl) == ("won", 0)


def test_cancel_after_fire_on_one_errback_fired_does_nothing() -> None:
    counting = Counting(2)
    dl = DeferredList(counting.ds, fireOnOneErrback=True)
    counting.ds[0].errback(ValueError())
    dl.cancel()
    assert counting.cancelled == [0, 0]
    assertNoResult(counting.ds[1])
    failureOf(dl, FirstError)
    failureOf(counting.ds[0], ValueError)


def test_cancel_with_fire_on_one_errback_fails_with_the_first_cancellation() -> None:
    counting = Counting(2)
    dl = DeferredList(counting.ds, fireOnOneErrback=True, consumeErrors=True)
    dl.cancel()
    # The list fired on the first input, and the second is cancelled still.
    assert counting.cancelled == [1, 1]
    error = firstErrorOf(dl)
    assert error.index == 0
    assert error.subFailure.check(CancelledError)


def test_cancel_uses_the_input_result_its_canceller_gives() -> None:
    ds: list[Deferred[str]] = [
        Deferred(lambda d: d.callback("from canceller")),
        Deferred(),
    ]
    dl = DeferredList(ds, fireOnOneCallback=True, consumeErrors=True)
    dl.cancel()
    assert outcome(dl) == ("from canceller", 0)
    assert outcome(ds[1]) is None


def test_cancel_goes_on_when_a_canceller_raises_and_logs_it(deferredLog: Log) -> None:
    def broken(d: Deferred[Any]) -> None:
        raise RuntimeError("canceller bug")

    ds: list[Deferred[Any]] = [Deferred(broken), Deferred()]
    dl = DeferredList(ds, consumeErrors=True)
    dl.cancel()
    assertNoResult(ds[0])  # its canceller failed before it could fire it
    assert dl.resultList[0] is None
    assert dl.resultList[1] is not None and dl.resultList[1][1].check(CancelledError)
    [record] = deferredLog
    assert record.levelno == logging.ERROR
    assert record.failure.check(RuntimeError)  # type: ignore[attr-defined]


def test_cancel_of_a_fired_list_waiting_on_a_chained_deferred_cancels_that() -> None:
    inner: Deferred[int] = Deferred()
    dl = DeferredList([succeed(1)])
    dl.addCallback(lambda _: inner)
    dl.cancel()
    assert inner.called
    failureOf(dl, CancelledError)


def test_cancel_of_a_list_that_one_of_its_inputs_waits_on_terminates(
    deferredLog: Log,
) -> None:
    # ``looped`` waits on the list holding it: cancelling the list must not
    # bounce between the two until the stack runs out.
    looped: Deferred[Any] = Deferred()
    other: Deferred[Any] = Deferred()
    looped.addCallback(lambda _: dl)
    dl = DeferredList([looped, other], consumeErrors=True)
    looped.callback(None)
    dl.cancel()
    assert other.called
    # ``looped`` waits on dl, so neither can ever fire.
    assertNoResult(dl)
    assert dl.resultList[0] is None
    assert deferredLog == []


def test_list_fired_by_its_cancel_lets_its_inputs_go(deferredLog: Log) -> None:
    # The inputs stay with the list only while it waits: once cancel() has
    # fired it, a paused input must not keep it in a reference cycle, which
    # would put off the report of its unhandled FirstError until a collection.
    paused: Deferred[int] = Deferred()
    paused.callback(1)
    paused.pause()
    other: Deferred[int] = Deferred()
    gathered = gatherResults([paused, other], consumeErrors=True)
    gc.collect()
    gc.disable()
    try:
        gathered.cancel()
        assert gathered.called
        del gathered, paused  # (the paused input holds the list's callback)
        [report] = unhandled(deferredLog)
        assert report.failure.check(FirstError)  # type: ignore[attr-defined]
    finally:
        gc.enable()


def test_cancel_again_retries_an_input_whose_canceller_raised(
    deferredLog: Log,
) -> None:
    calls: list[int] = []

    def flaky(d: Deferred[Any]) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")

    ds: list[Deferred[Any]] = [Deferred(flaky), Deferred()]
    dl = DeferredList(ds, consumeErrors=True)
    dl.cancel()
    assertNoResult(dl)
    dl.cancel()
    assert len(calls) == 2
    assert [ok for ok, _ in outcome(dl)] == [False, False]
    assert len(deferredLog) == 1


# --- DeferredList: memory -----------------------------------------------------------


def test_finished_deferred_list_leaves_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:
        ds: list[Deferred[int]] = [Deferred(), Deferred(), fail(ValueError())]
        dl = DeferredList(ds, consumeErrors=True)
        ds[1].errback(KeyError())
        ds[0].callback(0)
        refs: list[weakref.ref[Any]] = [weakref.ref(dl), *(weakref.ref(d) for d in ds)]
        outcome(dl)
        del ds, dl
        assert allCollected(refs)
    finally:
        gc.enable()


def test_fired_list_with_inputs_still_pending_leaves_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:
        ds: list[Deferred[int]] = [Deferred(), Deferred()]
        dl = DeferredList(ds, fireOnOneCallback=True)
        ds[0].callback(0)
        refs: list[weakref.ref[Any]] = [weakref.ref(dl), *(weakref.ref(d) for d in ds)]
        del ds, dl
        assert allCollected(refs)
    finally:
        gc.enable()


# --- gatherResults ------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_gather_results_gives_values_in_input_order(order: tuple[int, ...]) -> None:
    ds: list[Deferred[int]] = [Deferred() for _ in range(3)]
    gathered = gatherResults(ds)
    for i in order:
        ds[i].callback(i * 10)
    assert outcome(gathered) == [0, 10, 20]


def test_gather_results_of_fired_and_pending_inputs() -> None:
    pending: Deferred[int] = Deferred()
    gathered = gatherResults([succeed(1), pending, succeed(3)])
    assertNoResult(gathered)
    pending.callback(2)
    assert outcome(gathered) == [1, 2, 3]


def test_gather_results_of_nothing_is_an_empty_list() -> None:
    assert outcome(gatherResults([])) == []


def test_gather_results_fails_with_first_error_at_the_first_failure() -> None:
    ds: list[Deferred[int]] = [Deferred(), Deferred(), Deferred()]
    gathered = gatherResults(ds, consumeErrors=True)
    ds[0].callback(0)
    first = ValueError("first")
    ds[1].errback(first)
    error = firstErrorOf(gathered)
    assert error.index == 1
    assert error.subFailure.value is first
    ds[2].errback(KeyError("ignored"))  # nothing more happens


def test_gather_results_without_consume_errors_leaves_the_failure_in_the_input() -> (
    None
):
    d: Deferred[int] = Deferred()
    gathered = gatherResults([d])
    d.errback(ValueError())
    failureOf(gathered, FirstError)
    failureOf(d, ValueError)


def test_gather_results_with_consume_errors_reports_only_its_own_failure(
    deferredLog: Log,
) -> None:
    ds: list[Deferred[int]] = [Deferred(), Deferred()]
    gathered = gatherResults(ds, consumeErrors=True)
    ds[0].errback(ValueError())
    ds[1].errback(KeyError())
    assert [outcome(d) for d in ds] == [None, None]
    del ds, gathered
    gc.collect()
    # Nobody handled the gathered Deferred's FirstError: that one is reported.
    [record] = unhandled(deferredLog)
    assert record.failure.check(FirstError)  # type: ignore[attr-defined]


def test_cancel_gather_results_cancels_the_inputs() -> None:
    counting = Counting(2)
    gathered = gatherResults(counting.ds, consumeErrors=True)
    gathered.cancel()
    assert counting.cancelled == [1, 1]
    error = firstErrorOf(gathered)
    assert error.subFailure.check(CancelledError)


def test_cancel_gather_results_after_it_fired_does_nothing() -> None:
    counting = Counting(2)
    counting.ds[0].errback(ValueError())
    gathered = gatherResults(counting.ds, consumeErrors=True)
    gathered.cancel()
    assert counting.cancelled == [0, 0]
    failureOf(gathered, FirstError)


def test_gather_results_rejects_a_non_deferred() -> None:
    with pytest.raises(TypeError, match=r"gatherResults\(\)|DeferredList\(\)"):
        gatherResults([succeed(1), "nope"])  # type: ignore[arg-type]


def test_gather_results_accepts_a_generator() -> None:
    assert outcome(gatherResults(succeed(i) for i in range(3))) == [0, 1, 2]


def test_finished_gather_results_leaves_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:
        ds: list[Deferred[int]] = [Deferred(), succeed(1)]
        gathered = gatherResults(ds)
        ds[0].callback(0)
        refs: list[weakref.ref[Any]] = [
            weakref.ref(gathered),
            *(weakref.ref(d) for d in ds),
        ]
        assert outcome(gathered) == [0, 1]
        del ds, gathered
        assert allCollected(refs)
    finally:
        gc.enable()


def test_failed_gather_results_leaves_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:
        ds: list[Deferred[int]] = [Deferred(), Deferred()]
        gathered = gatherResults(ds, consumeErrors=True)
        ds[1].errback(raised(ValueError("x")))
        refs: list[weakref.ref[Any]] = [
            weakref.ref(gathered),
            *(weakref.ref(d) for d in ds),
        ]
        failureOf(gathered, FirstError)
        del ds, gathered
        assert allCollected(refs)
    finally:
        gc.enable()


# --- race -----------------------------------------------------------------------------


@pytest.mark.parametrize("winner", [0, 1, 2])
def test_race_gives_index_and_result_of_the_first_success(winner: int) -> None:
    counting = Counting(3)
    raced = race(counting.ds)
    counting.ds[winner].callback("won")
    assert outcome(raced) == (winner, "won")


@pytest.mark.parametrize("winner", [0, 1, 2])
def test_race_cancels_every_other_input_once_and_not_the_winner(winner: int) -> None:
    counting = Counting(3)
    race(counting.ds)
    counting.ds[winner].callback("won")
    assert counting.cancelled == [0 if i == winner else 1 for i in range(3)]


def test_race_winner_that_fired_before_the_race_cancels_the_rest() -> None:
    counting = Counting(3)
    ds = counting.ds
    ds[1] = succeed("early")
    raced = race(ds)
    assert outcome(raced) == (1, "early")
    assert counting.cancelled == [1, 0, 1]


def test_race_ignores_failures_before_the_first_success() -> None:
    ds: list[Deferred[str]] = [Deferred(), Deferred()]
    raced = race(ds)
    ds[0].errback(ValueError())
    assertNoResult(raced)
    ds[1].callback("late")
    assert outcome(raced) == (1, "late")


def test_race_inputs_continue_with_none_afterwards() -> None:
    # As in Twisted, race takes the inputs' results: their chains go on with None.
    ds: list[Deferred[str]] = [Deferred(), Deferred()]
    race(ds)
    ds[0].callback("won")
    assert [outcome(d) for d in ds] == [None, None]


def test_race_of_failing_inputs_gives_failure_group_in_input_order() -> None:
    ds: list[Deferred[int]] = [fail(KeyError("a")), Deferred(), Deferred()]
    raced = race(ds)
    ds[2].errback(TypeError("c"))
    assertNoResult(raced)
    ds[1].errback(ValueError("b"))
    group = failureGroupOf(raced)
    assert [f.type for f in group.failures] == [KeyError, ValueError, TypeError]


def test_race_cancelled_losers_are_not_reported_as_unhandled(deferredLog: Log) -> None:
    ds: list[Deferred[int]] = [Deferred(), Deferred(), Deferred()]
    raced = race(ds)
    ds[1].callback(1)
    outcome(raced)
    del ds, raced
    gc.collect()
    assert deferredLog == []


def test_race_loser_firing_after_its_cancellation_is_ignored(deferredLog: Log) -> None:
    ds: list[Deferred[int]] = [Deferred(), Deferred()]
    raced = race(ds)
    ds[0].callback(0)
    ds[1].callback(1)  # no canceller: this one late fire is swallowed
    assert outcome(raced) == (0, 0)
    assert deferredLog == []


def test_race_loser_whose_canceller_makes_it_succeed_does_not_win_again(
    deferredLog: Log,
) -> None:
    ds: list[Deferred[str]] = [Deferred(), Deferred(lambda d: d.callback("loser"))]
    raced = race(ds)
    ds[0].callback("winner")
    assert outcome(raced) == (0, "winner")
    assert outcome(ds[1]) is None
    assert deferredLog == []


def test_cancel_race_cancels_every_input_and_fails_with_failure_group() -> None:
    counting = Counting(3)
    raced = race(counting.ds)
    raced.cancel()
    assert counting.cancelled == [1, 1, 1]
    group = failureGroupOf(raced)
    assert all(f.check(CancelledError) for f in group.failures)


def test_cancel_race_after_it_fired_does_nothing() -> None:
    counting = Counting(2)
    raced = race(counting.ds)
    counting.ds[0].callback(0)
    raced.cancel()
    assert counting.cancelled == [0, 1]
    assert outcome(raced) == (0, 0)


def test_cancel_race_gives_the_success_a_canceller_makes() -> None:
    ds: list[Deferred[str]] = [Deferred(), Deferred(lambda d: d.callback("saved"))]
    raced = race(ds)
    raced.cancel()
    assert outcome(raced) == (1, "saved")


def test_race_canceller_that_raises_is_logged_and_the_race_still_fires(
    deferredLog: Log,
) -> None:
    def broken(d: Deferred[Any]) -> None:
        raise RuntimeError("canceller bug")

    ds: list[Deferred[int]] = [Deferred(), Deferred(broken), Deferred()]
    raced = race(ds)
    ds[0].callback(0)
    assert outcome(raced) == (0, 0)
    assert ds[2].called  # cancelled despite the broken canceller before it
    [record] = deferredLog
    assert record.failure.check(RuntimeError)  # type: ignore[attr-defined]


def test_race_of_no_deferreds_raises_value_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        race([])


def test_race_rejects_a_non_deferred_before_touching_any_input() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(TypeError, match=r"race\(\).*item 1"):
        race([d, None])  # type: ignore[list-item]
    assert callbacksOf(d) == []


def test_race_accepts_a_generator_and_reads_it_once() -> None:
    ds: list[Deferred[int]] = [Deferred(), Deferred()]
    raced = race(d for d in ds)
    ds[1].callback(5)
    assert outcome(raced) == (1, 5)
    assert ds[0].called  # cancelled: the generator's items were kept


def test_race_accepts_twisted_keyword_name() -> None:
    d: Deferred[Any] = race(ds=[succeed(1)])
    assert d.result == (0, 1)


def test_finished_race_leaves_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:
        ds: list[Deferred[int]] = [Deferred(), Deferred(), Deferred()]
        raced = race(ds)
        ds[2].callback(2)
        refs: list[weakref.ref[Any]] = [
            weakref.ref(raced),
            *(weakref.ref(d) for d in ds),
        ]
        assert outcome(raced) == (2, 2)
        del ds, raced
        assert allCollected(refs)
    finally:
        gc.enable()


def test_race_with_a_loser_still_pending_leaves_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:
        # A paused loser does not run its callbacks when cancelled: it keeps
        # the race's pair, so the race must not keep it in turn.
        loser: Deferred[int] = Deferred()
        loser.pause()
        ds: list[Deferred[int]] = [Deferred(), loser]
        raced = race(ds)
        ds[0].callback(0)
        assert outcome(raced) == (0, 0)
        refs: list[weakref.ref[Any]] = [
            weakref.ref(raced),
            *(weakref.ref(d) for d in ds),
        ]
        del ds, raced, loser
        assert allCollected(refs)
    finally:
        gc.enable()


def test_failed_race_leaves_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:
        ds: list[Deferred[int]] = [Deferred(), Deferred()]
        raced = race(ds)
        ds[0].errback(ValueError())
        ds[1].errback(KeyError())
        refs: list[weakref.ref[Any]] = [
            weakref.ref(raced),
            *(weakref.ref(d) for d in ds),
        ]
        failureOf(raced, FailureGroup)
        del ds, raced
        assert allCollected(refs)
    finally:
        gc.enable()


# --- FirstError and FailureGroup ------------------------------------------------------


def test_first_error_carries_failure_and_index() -> None:
    failure = Failure(ValueError("x"))
    error = FirstError(failure, 3)
    assert error.subFailure is failure
    assert error.index == 3
    assert error.args == (failure, 3)


def test_first_errors_are_equal_by_index_and_failure_value() -> None:
    value = ValueError("x")
    one = FirstError(Failure(value), 1)
    assert one == FirstError(Failure(value), 1)
    assert hash(one) == hash(FirstError(Failure(value), 1))
    assert one != FirstError(Failure(value), 2)
    assert one != FirstError(Failure(ValueError("x")), 1)


def test_first_error_is_not_equal_to_a_tuple() -> None:
    failure = Failure(ValueError("x"))
    assert FirstError(failure, 1) != (failure, 1)


def test_first_error_repr_shows_index_and_exception() -> None:
    error = FirstError(Failure(ValueError("bad value")), 4)
    assert repr(error) == "FirstError[#4, ValueError('bad value')]"


def test_first_error_str_shows_index_exception_and_traceback() -> None:
    text = str(FirstError(raised(ValueError("bad value")), 2))
    assert text.startswith("FirstError[#2, ")
    assert "ValueError" in text and "bad value" in text
    assert "thrower" in text  # the function that raised it


def test_first_error_reads_well_in_a_printed_traceback() -> None:
    try:
        raise FirstError(raised(KeyError("missing")), 0)
    except FirstError as e:
        text = "".join(traceback.format_exception(e))
    assert "FirstError: FirstError[#0, " in text
    assert "KeyError" in text and "missing" in text


def test_failure_group_holds_failures_and_lists_them() -> None:
    failures = [Failure(ValueError("a")), Failure(KeyError("b"))]
    group = FailureGroup(failures)
    assert isinstance(group, Exception)
    assert group.failures is failures
    assert str(group) == "all 2 Deferreds failed: ValueError: a; KeyError: 'b'"


# --- Deferred-likes, as Twisted takes them ------------------------------------


class FiredLike:
    """Not a Deferred: only the interface the combinators call."""

    def __init__(self, value: object = None, failure: Failure | None = None):
        self.value = value
        self.failure = failure
        self.calls: list[tuple[Any, ...]] = []
        self.cancelled = False

    def addCallbacks(
        self,
        callback: Any,
        errback: Any,
        callbackArgs: tuple[Any, ...] = (),
        callbackKeywords: Any = None,
        errbackArgs: tuple[Any, ...] = (),
        errbackKeywords: Any = None,
    ) -> FiredLike:
        self.calls.append((callback, errback, callbackArgs, errbackArgs))
        if self.failure is not None:
            errback(self.failure, *errbackArgs)
        elif self.value is not None:
            callback(self.value, *callbackArgs)
        return self

    def cancel(self) -> None:
        self.cancelled = True


def test_gatherResults_takes_deferred_likes() -> None:
    like = FiredLike("mocked")
    d = gatherResults([succeed(1), like])  # type: ignore[list-item]
    assert d.result == [1, "mocked"]
    assert len(like.calls) == 1


def test_DeferredList_takes_a_failing_deferred_like() -> None:
    failure = Failure(ValueError("from a mock"))
    d = DeferredList([FiredLike(failure=failure)])  # type: ignore[list-item]
    [(ok, value)] = d.result
    assert ok is False
    assert value.type is ValueError


def test_race_takes_deferred_likes_and_cancels_the_losers() -> None:
    pending = FiredLike()
    winner: Deferred[str] = Deferred()
    d = race([pending, winner])  # type: ignore[list-item]
    winner.callback("first")
    assert d.result == (1, "first")
    assert pending.cancelled


def test_a_subclass_with_its_own_addCallbacks_is_called_through_it() -> None:
    seen: list[str] = []

    class Counting(Deferred[int]):
        def addCallbacks(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
            seen.append("addCallbacks")
            return super().addCallbacks(*args, **kwargs)

    d = Counting()
    result = gatherResults([d])
    assert seen == ["addCallbacks"]
    d.callback(3)
    assert result.result == [3]


async def _coroutine() -> int:
    return 1


@pytest.mark.parametrize("caller", [DeferredList, gatherResults, race])
def test_an_input_without_addCallbacks_raises_at_the_call_naming_it(
    caller: Any,
) -> None:
    coroutine = _coroutine()
    try:
        with pytest.raises(TypeError) as raised:
            caller([succeed(1), coroutine])
    finally:
        coroutine.close()
    message = str(raised.value)
    assert message.startswith(f"{caller.__name__}()")
    assert "item 1" in message
    assert "ensureDeferred" in message
    with pytest.raises(TypeError, match="succeed"):
        caller([42])


def test_a_bad_input_whose_repr_raises_or_is_huge_still_gets_a_clear_message() -> None:
    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    with pytest.raises(TypeError, match="item 0"):
        gatherResults([BadRepr()])  # type: ignore[list-item]
    with pytest.raises(TypeError) as raised:
        gatherResults([list(range(1_000_000))])  # type: ignore[list-item]
    assert len(str(raised.value)) < 500


@pytest.mark.parametrize(
    "wrap",
    [
        lambda d: gatherResults([d]),
        lambda d: DeferredList([d], consumeErrors=True),
        lambda d: race([d]),
    ],
    ids=["gatherResults", "DeferredList", "race"],
)
def test_combinators_nested_100_000_deep_fire(wrap: Any) -> None:
    first: Deferred[int] = Deferred()
    d: Any = first
    for _ in range(100_000):
        d = wrap(d)
    first.callback(1)
    assert d.called
    seen: list[Any] = []
    d.addBoth(seen.append)
    assert not isinstance(seen[0], Failure)


def test_nested_gatherResults_failing_deep_down_fails_every_level() -> None:
    first: Deferred[int] = Deferred()
    levels: list[Deferred[Any]] = [first]
    for _ in range(1_000):
        levels.append(gatherResults([levels[-1]], consumeErrors=True))
    first.errback(KeyError("deep"))
    failure = failureOf(levels[-1], FirstError)
    for _ in range(1_000):
        failure = failure.value.subFailure
    assert failure.type is KeyError


def test_a_list_deep_in_nesting_fires_once_and_the_rest_still_fire() -> None:
    first: Deferred[int] = Deferred()
    deep: Deferred[Any] = first
    for _ in range(20):
        deep = gatherResults([deep])
    fired: list[Any] = []
    either = DeferredList([deep, deep], fireOnOneCallback=True)
    either.addCallback(fired.append)
    later = DeferredList([deep])
    first.callback(1)
    assert len(fired) == 1
    assert later.called
    assert first.result == 1


def test_a_race_cancelled_while_its_win_waits_its_turn_keeps_the_win() -> None:
    first: Deferred[int] = Deferred()
    deep: Deferred[Any] = first
    for _ in range(20):
        deep = gatherResults([deep])
    won = race([deep])

    def cancelTheRace(result: object) -> object:
        won.cancel()
        return result

    deep.addCallback(cancelTheRace)
    later = DeferredList([deep])
    first.callback(1)
    assert won.result[0] == 0
    assert later.called
