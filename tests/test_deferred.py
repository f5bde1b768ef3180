"""Tests for the Deferred core: firing, the callback chain, pausing, chaining,
cancelling, timeouts, representation, re-entrancy and memory."""

from __future__ import annotations

import gc
import itertools
import logging
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from deferred import (
    AlreadyCalledError,
    CancelledError,
    Deferred,
    DeferredList,
    Failure,
    TimeoutError,
    fail,
    passthru,
    succeed,
)
from deferred.clock import Clock
from deferred.failure import NoCurrentExceptionError
from support import callbacksOf, failureOf, resultOf


def raiseValueError(message: str = "boom") -> None:
    raise ValueError(message)


def consume(d: Deferred[Any]) -> list[Any]:
    """Collect the result or failure ``d`` ends with (handling a failure)."""
    out: list[Any] = []
    d.addBoth(out.append)
    return out


# --- firing and the callback chain -------------------------------------------


def test_callback_runs_callbacks_in_order_each_getting_the_last_result() -> None:
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r: r + 1)
    d.addCallback(lambda r: r * 10)
    assert d.called is False
    d.callback(1)
    assert d.called is True
    assert d.result == 20


def test_callbacks_run_synchronously_inside_callback() -> None:
    seen: list[int] = []
    d: Deferred[int] = Deferred()
    d.addCallback(seen.append)
    d.callback(3)
    assert seen == [3]


def test_callbacks_added_after_firing_run_immediately() -> None:
    d = succeed(2)
    seen: list[int] = []
    d.addCallback(seen.append)
    assert seen == [2]
    assert d.result is None


def test_callback_with_a_failure_runs_the_errbacks() -> None:
    f = Failure(ValueError("via callback"))
    d: Deferred[Any] = Deferred()
    d.addCallback(lambda r: "callback ran")
    d.callback(f)
    assert failureOf(d) is f


def test_errback_with_an_exception_wraps_it_in_a_failure() -> None:
    exc = ValueError("x")
    d: Deferred[None] = Deferred()
    d.errback(exc)
    f = failureOf(d)
    assert f.value is exc
    assert f.type is ValueError


def test_errback_with_a_failure_passes_that_failure() -> None:
    f = Failure(KeyError("k"))
    d: Deferred[None] = Deferred()
    d.errback(f)
    assert failureOf(d) is f


def test_errback_without_argument_captures_the_exception_being_handled() -> None:
    d: Deferred[None] = Deferred()
    try:
        raiseValueError("current")
    except ValueError as e:
        d.errback()
        expected = e
    f = failureOf(d)
    assert f.value is expected
    assert "raiseValueError" in f.getTraceback()


def test_errback_without_argument_outside_except_raises_and_leaves_it_unfired() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(NoCurrentExceptionError):
        d.errback()
    assert d.called is False
    d.callback(5)
    assert resultOf(d) == 5


def test_errback_with_a_non_exception_raises_TypeError_and_leaves_it_unfired() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(TypeError):
        d.errback("not an exception")  # type: ignore[arg-type]
    assert d.called is False
    d.callback(1)
    assert resultOf(d) == 1


def test_exception_in_a_callback_skips_to_the_next_errback() -> None:
    seen: list[str] = []
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r: raiseValueError("in callback"))
    d.addCallback(lambda r: seen.append("skipped callback"))
    d.addErrback(lambda f: seen.append(f"errback {f.getErrorMessage()}"))
    d.callback(1)
    assert seen == ["errback in callback"]


def test_failure_from_a_callback_keeps_the_callbacks_traceback() -> None:
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r: raiseValueError())
    d.callback(1)
    text = failureOf(d).getTraceback()
    assert "in raiseValueError" in text


def test_errback_returning_a_value_recovers() -> None:
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f: "recovered")
    d.addCallback(lambda r: r + "!")
    d.errback(ValueError())
    assert d.result == "recovered!"


def test_errback_raising_keeps_failing() -> None:
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f: raiseValueError("second"))
    d.errback(KeyError("first"))
    assert failureOf(d).getErrorMessage() == "second"


def test_callback_returning_a_failure_switches_to_errbacks() -> None:
    f = Failure(KeyError("returned"))
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r: f)
    d.callback(0)
    assert failureOf(d) is f


def test_errbacks_are_skipped_on_success() -> None:
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f: "errback ran")
    d.callback(4)
    assert d.result == 4


def test_add_methods_return_the_deferred() -> None:
    d: Deferred[int] = Deferred()
    assert d.addCallback(lambda r: r) is d
    assert d.addErrback(lambda f: f) is d
    assert d.addBoth(lambda r: r) is d
    assert d.addCallbacks(lambda r: r, lambda f: f) is d


def test_addCallback_passes_extra_positional_and_keyword_arguments() -> None:
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r, a, b, c=None: (r, a, b, c), 1, 2, c=3)
    d.callback(0)
    assert d.result == (0, 1, 2, 3)


def test_addErrback_passes_extra_positional_and_keyword_arguments() -> None:
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f, a, c=None: (f.type, a, c), "a", c="c")
    d.errback(KeyError())
    assert d.result == (KeyError, "a", "c")


def test_addBoth_passes_extra_arguments_on_success_and_on_failure() -> None:
    def both(result: Any, a: int, key: str = "") -> Any:
        return ("failure" if isinstance(result, Failure) else result, a, key)

    ok: Deferred[str] = Deferred()
    ok.addBoth(both, 1, key="k")
    ok.callback("value")
    assert ok.result == ("value", 1, "k")

    bad: Deferred[str] = Deferred()
    bad.addBoth(both, 2, key="j")
    bad.errback(ValueError())
    assert bad.result == ("failure", 2, "j")


def twoArgs(result: Any, *args: Any, **kwargs: Any) -> Any:
    kind = "eb" if isinstance(result, Failure) else "cb"
    return (kind, args, kwargs)


def test_addCallbacks_gives_each_side_its_own_arguments() -> None:
    arguments: dict[str, Any] = {
        "callbackArgs": (1,),
        "callbackKeywords": {"c": "cb"},
        "errbackArgs": (2, 3),
        "errbackKeywords": {"e": "eb"},
    }
    ok: Deferred[int] = Deferred()
    ok.addCallbacks(twoArgs, twoArgs, **arguments)
    ok.callback(0)
    assert ok.result == ("cb", (1,), {"c": "cb"})

    bad: Deferred[int] = Deferred()
    bad.addCallbacks(twoArgs, twoArgs, **arguments)
    bad.errback(ValueError())
    assert bad.result == ("eb", (2, 3), {"e": "eb"})


def test_addCallbacks_with_only_errback_keywords_differing() -> None:
    bad: Deferred[int] = Deferred()
    bad.addCallbacks(
        twoArgs, twoArgs, callbackArgs=(1,), errbackArgs=(1,), errbackKeywords={"k": 1}
    )
    bad.errback(ValueError())
    assert bad.result == ("eb", (1,), {"k": 1})

    ok: Deferred[int] = Deferred()
    ok.addCallbacks(
        twoArgs, twoArgs, callbackArgs=(1,), errbackArgs=(1,), errbackKeywords={"k": 1}
    )
    ok.callback(0)
    assert ok.result == ("cb", (1,), {})


def test_addCallbacks_with_positional_argument_order_of_twisted() -> None:
    d: Deferred[int] = Deferred()
    d.addCallbacks(twoArgs, twoArgs, ("ca",), {"ck": 1}, ("ea",), {"ek": 2})
    d.errback(ValueError())
    assert d.result == ("eb", ("ea",), {"ek": 2})


def test_addCallbacks_without_errback_passes_failures_on() -> None:
    f = Failure(KeyError())
    d: Deferred[int] = Deferred()
    d.addCallbacks(lambda r: "callback ran")
    d.errback(f)
    assert failureOf(d) is f


def test_result_is_the_last_callbacks_return_value() -> None:
    d: Deferred[int] = Deferred()
    d.callback(1)
    assert d.result == 1
    d.addCallback(lambda r: r + 1)
    assert d.result == 2


# --- firing twice and bad input ------------------------------------------------


@pytest.mark.parametrize(
    "first, second",
    [
        ("callback", "callback"),
        ("callback", "errback"),
        ("errback", "callback"),
        ("errback", "errback"),
    ],
)
def test_firing_twice_raises_AlreadyCalledError(first: str, second: str) -> None:
    def fire(d: Deferred[Any], how: str) -> None:
        if how == "callback":
            d.callback("value")
        else:
            d.errback(ValueError("error"))

    d: Deferred[Any] = Deferred()
    fire(d, first)
    before = d.result
    with pytest.raises(AlreadyCalledError):
        fire(d, second)
    assert d.result is before
    consume(d)


def makeDeferredHere() -> Deferred[int]:
    return Deferred()


def fireDeferredHere(d: Deferred[int]) -> None:
    d.callback(1)


@pytest.mark.usefixtures("debugging")
def test_AlreadyCalledError_in_debug_mode_shows_creator_and_first_invoker() -> None:
    d = makeDeferredHere()
    fireDeferredHere(d)
    with pytest.raises(AlreadyCalledError) as info:
        d.callback(2)
    lines = str(info.value).splitlines()
    creator = [line for line in lines if line.startswith(" C:")]
    invoker = [line for line in lines if line.startswith(" I:")]
    assert any("in makeDeferredHere" in line for line in creator)
    assert any("in fireDeferredHere" in line for line in invoker)
    testName = "test_AlreadyCalledError_in_debug_mode_shows_creator_and_first_invoker"
    assert any(testName in line for line in creator)
    assert any(testName in line for line in invoker)
    assert not any("in fireDeferredHere" in line for line in creator)


@pytest.mark.usefixtures("debugging")
def test_AlreadyCalledError_in_debug_mode_names_the_deferred() -> None:
    d = makeDeferredHere()
    fireDeferredHere(d)
    with pytest.raises(AlreadyCalledError) as info:
        d.callback(2)
    assert str(info.value).startswith(f"{d!r} has already been fired\n")


def test_AlreadyCalledError_without_debug_mode_has_no_stacks() -> None:
    d = makeDeferredHere()
    fireDeferredHere(d)
    with pytest.raises(AlreadyCalledError) as info:
        d.callback(2)
    assert " C:" not in str(info.value)
    assert "makeDeferredHere" not in str(info.value)


def test_callback_with_a_deferred_raises_TypeError_and_leaves_it_usable() -> None:
    d: Deferred[Any] = Deferred()
    seen: list[Any] = []
    d.addCallback(seen.append)
    with pytest.raises(TypeError):
        d.callback(Deferred())
    assert d.called is False
    assert seen == []
    d.callback("fine")
    assert seen == ["fine"]


@pytest.mark.parametrize(
    "add",
    [
        lambda d: d.addCallback(42),
        lambda d: d.addErrback("not callable"),
        lambda d: d.addBoth(None),
        lambda d: d.addCallbacks(None),
        lambda d: d.addCallbacks(lambda r: r, 42),
    ],
    ids=["addCallback", "addErrback", "addBoth", "addCallbacks-cb", "addCallbacks-eb"],
)
def test_non_callable_raises_TypeError_and_leaves_it_usable(
    add: Callable[[Deferred[Any]], Any],
) -> None:
    seen: list[Any] = []
    d: Deferred[Any] = Deferred()
    d.addCallback(lambda r: seen.append(("before", r)) or r)
    with pytest.raises(TypeError):
        add(d)
    d.addCallback(lambda r: seen.append(("after", r)) or r)
    d.callback(1)
    assert seen == [("before", 1), ("after", 1)]
    assert d.result == 1


def test_non_callable_on_a_fired_deferred_raises_TypeError() -> None:
    d = succeed(1)
    with pytest.raises(TypeError):
        d.addCallback(1)  # type: ignore[call-overload]
    assert d.result == 1
    assert resultOf(d) == 1


def test_callback_returning_its_own_deferred_warns() -> None:
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r: d)
    with pytest.warns(DeprecationWarning, match="returned the Deferred"):
        d.callback(1)


def test_callback_added_late_returning_its_own_deferred_warns() -> None:
    d = succeed(1)
    with pytest.warns(DeprecationWarning, match="returned the Deferred"):
        d.addCallback(lambda r: d)


@pytest.mark.parametrize("addedAfterFiring", [True, False])
def test_callback_returning_its_own_deferred_stops_the_chain(
    addedAfterFiring: bool,
) -> None:
    seen: list[int] = []
    d: Deferred[int] = Deferred()
    if addedAfterFiring:
        d.callback(1)
    d.addCallback(lambda r: r + 1)
    with pytest.warns(DeprecationWarning):
        d.addCallback(lambda r: d)
        d.addCallback(seen.append)
        if not addedAfterFiring:
            d.callback(1)
    assert seen == []
    assert d.paused == 1


# --- pause and unpause -----------------------------------------------------------


def test_pause_before_firing_holds_callbacks_until_unpause() -> None:
    seen: list[int] = []
    d: Deferred[int] = Deferred()
    d.addCallback(seen.append)
    d.pause()
    assert d.paused == 1
    d.callback(1)
    assert seen == []
    assert d.called is True
    d.unpause()
    assert d.paused == 0
    assert seen == [1]


def test_nested_pauses_need_as_many_unpauses() -> None:
    seen: list[int] = []
    d: Deferred[int] = Deferred()
    d.addCallback(seen.append)
    d.pause()
    d.pause()
    d.callback(1)
    d.unpause()
    assert seen == []
    assert d.paused == 1
    d.unpause()
    assert seen == [1]


def test_paused_fired_deferred_holds_callbacks_added_later() -> None:
    d = succeed(1)
    d.pause()
    seen: list[int] = []
    d.addCallback(seen.append)
    assert seen == []
    d.unpause()
    assert seen == [1]


def test_unpause_of_unfired_deferred_runs_nothing() -> None:
    seen: list[int] = []
    d: Deferred[int] = Deferred()
    d.addCallback(seen.append)
    d.pause()
    d.unpause()
    assert seen == []
    assert d.called is False
    d.callback(1)
    assert seen == [1]


def test_pause_inside_a_callback_lets_the_current_pass_finish() -> None:
    # Twisted's rule: the pass over the callbacks that are already there goes
    # on; only callbacks added after it wait for unpause().
    seen: list[str] = []
    d: Deferred[int] = Deferred()

    def pauser(r: int) -> int:
        seen.append("pauser")
        d.pause()
        return r

    d.addCallback(pauser)
    d.addCallback(lambda r: seen.append("same pass") or r)
    d.callback(1)
    assert seen == ["pauser", "same pass"]
    assert d.paused == 1
    d.addCallback(lambda r: seen.append("added later") or r)
    assert seen == ["pauser", "same pass"]
    d.unpause()
    assert seen == ["pauser", "same pass", "added later"]


@pytest.mark.parametrize("how", ["callback", "added to a fired one", "errback"])
def test_pause_inside_the_only_callback_lets_the_callbacks_it_adds_run(
    how: str,
) -> None:
    # The same rule when the pausing callback is the only one (run without
    # the loop): what it adds joins the current pass.
    seen: list[str] = []
    d: Deferred[int] = Deferred()

    def pauser(r: object) -> int:
        d.pause()
        d.addCallback(lambda r: seen.append(f"added {r}") or r)
        return 2

    if how == "callback":
        d.addCallback(pauser)
        d.callback(1)
    elif how == "added to a fired one":
        d.callback(1)
        d.addCallback(pauser)
    else:
        d.addErrback(pauser)
        d.errback(ValueError())
    assert seen == ["added 2"] and d.paused == 1
    d.addCallback(lambda r: seen.append("added later") or r)
    assert seen == ["added 2"]
    d.unpause()
    assert seen == ["added 2", "added later"]


def test_pause_and_unpause_inside_a_callback() -> None:
    seen: list[str] = []
    d: Deferred[int] = Deferred()

    def pauseUnpause(r: int) -> int:
        d.pause()
        d.unpause()
        seen.append("one")
        return r

    d.addCallback(pauseUnpause)
    d.addCallback(lambda r: seen.append("two"))
    d.callback(1)
    assert seen == ["one", "two"]
    assert d.paused == 0


# --- chainDeferred ---------------------------------------------------------------


def test_chainDeferred_fires_the_other_with_the_result() -> None:
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()
    source.chainDeferred(target)
    assert target.called is False
    source.callback(3)
    assert resultOf(target) == 3
    assert source.result is None


def test_chainDeferred_passes_a_failure_to_the_other() -> None:
    f = Failure(KeyError())
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()
    source.chainDeferred(target)
    source.errback(f)
    assert failureOf(target) is f
    # The target's errback returned None: the source recovered.
    assert source.result is None


def test_chainDeferred_runs_at_its_place_in_the_chain() -> None:
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()
    source.addCallback(lambda r: r + 1)
    source.chainDeferred(target)
    source.addCallback(lambda r: ("after", r))
    source.callback(1)
    assert resultOf(target) == 2
    assert source.result == ("after", None)


def test_chainDeferred_target_str_says_it_is_waiting() -> None:
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()
    source.chainDeferred(target)
    assert f"waiting on Deferred at 0x{id(source):x}" in str(target)


def test_chainDeferred_runs_the_targets_callbacks_before_its_own_next_one() -> None:
    order: list[object] = []
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()
    target.addCallback(lambda r: order.append(("target", r)))
    source.chainDeferred(target)
    source.addCallback(lambda r: order.append(("source", r)))
    source.callback(7)
    assert order == [("target", 7), ("source", None)]


@pytest.mark.parametrize("fireFirst", [True, False])
def test_long_chainDeferred_pipeline_fires_without_recursion(fireFirst: bool) -> None:
    links = [Deferred[int]() for _ in range(20_000)]
    if fireFirst:
        links[0].callback(5)
    for here, there in itertools.pairwise(links):
        here.chainDeferred(there)
    seen: list[int] = []
    links[-1].addCallback(seen.append)
    if not fireFirst:
        links[0].callback(5)
    assert seen == [5]
    assert all(link.result is None for link in links)


def test_chainDeferred_target_sees_the_source_still_running() -> None:
    # As in Twisted, the target fires from inside the source's callbacks: the
    # source shows the result it is handing on, callbacks added to it wait
    # for the end of its pass, and pausing it does not stop that pass.
    seen: list[object] = []
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()

    def onTarget(result: int) -> int:
        seen.append(("source result", source.result))
        source.addCallback(lambda r: seen.append(("added", r)))
        source.pause()
        seen.append("target done")
        return result

    target.addCallback(onTarget)
    source.chainDeferred(target)
    source.addCallback(lambda r: seen.append(("next", r)))
    source.callback(1)
    assert seen == [
        ("source result", 1),
        "target done",
        ("next", None),
        ("added", None),
    ]
    assert source.paused == 1


def test_chainDeferred_drops_the_targets_canceller_when_it_fires() -> None:
    cancelled: list[Deferred[int]] = []
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred(cancelled.append)
    source.chainDeferred(target)
    source.callback(2)
    target.cancel()
    assert cancelled == []
    assert resultOf(target) == 2


def test_chainDeferred_to_a_fired_deferred_fails_with_AlreadyCalledError() -> None:
    source: Deferred[int] = Deferred()
    source.chainDeferred(succeed(1))
    source.callback(2)
    failureOf(source).trap(AlreadyCalledError)


def test_chainDeferred_calls_a_subclass_own_callback() -> None:
    calls: list[int] = []

    class Recording(Deferred[int]):
        def callback(self, result: Any) -> None:
            calls.append(result)
            super().callback(result)

    source: Deferred[int] = Deferred()
    target = Recording()
    source.chainDeferred(target)
    source.callback(4)
    assert calls == [4]
    assert resultOf(target) == 4


def test_chainDeferred_shows_the_targets_methods_in_callbacks() -> None:
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()
    source.chainDeferred(target)
    [(onSuccess, onFailure)] = callbacksOf(source)
    assert onSuccess == (target.callback, (), {})
    assert onFailure == (target.errback, (), {})


def test_chainDeferred_unhandled_failure_is_reported_by_the_target(
    deferredLog: list[logging.LogRecord],
) -> None:
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()
    source.chainDeferred(target)
    source.errback(KeyError("lost"))
    assert source.result is None
    del target
    gc.collect()
    [record] = deferredLog
    assert record.failure.check(KeyError)  # type: ignore[attr-defined]


@pytest.mark.usefixtures("debugging")
def test_chainDeferred_records_the_targets_first_invoker() -> None:
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()
    source.chainDeferred(target)
    source.callback(1)
    with pytest.raises(AlreadyCalledError, match="First Invoker was"):
        target.callback(2)


def test_chainDeferred_source_resumes_once_after_a_misplaced_unpause() -> None:
    # unpause() of a Deferred that waits on another (a misuse Twisted allows
    # too) must not make a nested pass run its callbacks a second time.
    calls: list[str] = []
    waiting: Deferred[Any] = Deferred()
    inner: Deferred[int] = Deferred()
    waiting.addBoth(lambda r: inner)

    def k(r: object) -> object:
        calls.append("k")
        if inner.paused:
            inner.unpause()
        return r

    waiting.addBoth(k)
    waiting.addBoth(lambda r: calls.append("last"))
    inner.pause()
    waiting.callback(0)
    inner.callback(-3)
    waiting.unpause()
    assert calls == ["k", "last"]


def test_returning_itself_under_warnings_as_errors_fails_the_deferred() -> None:
    # The DeprecationWarning becomes the Deferred's failure, as if the
    # callback had raised it; nothing escapes callback().
    source: Deferred[int] = Deferred()
    target: Deferred[int] = Deferred()
    source.chainDeferred(target)
    target.addCallback(lambda r: target)
    after: list[object] = []
    source.addCallback(after.append)
    lone: Deferred[int] = Deferred()
    lone.addCallback(lambda r: lone)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        source.callback(1)
        lone.callback(2)
    assert after == [None]
    failureOf(target).trap(DeprecationWarning)
    failureOf(lone).trap(DeprecationWarning)


# --- a callback returning a Deferred -------------------------------------------


def test_callback_returning_a_fired_deferred_continues_with_its_result() -> None:
    inner = succeed("inner result")
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r: inner)
    outer.addCallback(lambda r: ("outer got", r))
    outer.callback(0)
    assert outer.result == ("outer got", "inner result")
    assert inner.result is None


def test_callback_returning_a_pending_deferred_waits_for_it() -> None:
    seen: list[Any] = []
    inner: Deferred[str] = Deferred()
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r: inner)
    outer.addCallback(seen.append)
    outer.callback(0)
    assert seen == []
    assert outer.paused == 1
    assert outer.result is inner
    inner.callback("late")
    assert seen == ["late"]
    assert outer.paused == 0
    assert inner.result is None


def test_inner_deferreds_own_callbacks_run_first() -> None:
    inner: Deferred[int] = Deferred()
    inner.addCallback(lambda r: r * 2)
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r: inner)
    outer.callback(0)
    inner.callback(21)
    assert outer.result == 42


def test_inner_callbacks_added_after_it_was_returned_get_None() -> None:
    seen: list[Any] = []
    inner: Deferred[int] = Deferred()
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r: inner)
    outer.callback(0)
    inner.addCallback(lambda r: seen.append(("inner", r)))
    outer.addCallback(lambda r: seen.append(("outer", r)))
    inner.callback(5)
    assert seen == [("outer", 5), ("inner", None)]


def test_failure_of_a_pending_inner_deferred_goes_to_the_outer_errbacks() -> None:
    inner: Deferred[int] = Deferred()
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r: inner)
    outer.addCallback(lambda r: "skipped")
    outer.callback(0)
    exc = KeyError("inner failed")
    inner.errback(exc)
    assert failureOf(outer).value is exc
    assert inner.result is None


def test_failure_of_a_fired_inner_deferred_goes_to_the_outer_errbacks() -> None:
    exc = KeyError("already failed")
    inner = fail(exc)
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r: inner)
    outer.callback(0)
    assert failureOf(outer).value is exc
    assert inner.result is None


def test_errback_returning_a_deferred_can_recover() -> None:
    outer: Deferred[int] = Deferred()
    outer.addErrback(lambda f: succeed("recovered"))
    outer.errback(ValueError())
    assert outer.result == "recovered"


def test_paused_inner_deferred_with_a_result_is_waited_for() -> None:
    inner = succeed("held")
    inner.pause()
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r: inner)
    outer.callback(0)
    assert outer.result is inner
    inner.unpause()
    assert outer.result == "held"


def test_outer_deferred_waits_for_a_chain_of_pending_deferreds() -> None:
    a: Deferred[int] = Deferred()
    b: Deferred[int] = Deferred()
    c: Deferred[int] = Deferred()
    a.addCallback(lambda r: b)
    b.addCallback(lambda r: c)
    a.callback(0)
    b.callback(0)
    assert a.result is b
    c.callback("bottom")
    assert a.result == "bottom"


def deepChain(n: int) -> tuple[list[Deferred[int]], list[int]]:
    calls = [0]
    ds: list[Deferred[int]] = [Deferred() for _ in range(n)]

    def link(r: int, nextD: Deferred[int]) -> Deferred[int]:
        calls[0] += 1
        return nextD

    for d, nextD in itertools.pairwise(ds):
        d.addCallback(link, nextD)
    return ds, calls


def test_deep_chain_fired_first_to_last_has_no_recursion_error() -> None:
    n = 100_000
    ds, calls = deepChain(n)
    for d in ds[:-1]:
        d.callback(0)
    assert ds[0].result is ds[1]
    ds[-1].callback(7)
    assert calls[0] == n - 1
    assert ds[0].result == 7
    assert all(d.result is None for d in ds[1:])


def test_deep_chain_fired_last_to_first_has_no_recursion_error() -> None:
    n = 100_000
    ds, calls = deepChain(n)
    ds[-1].callback(7)
    for d in reversed(ds[:-1]):
        d.callback(0)
    assert calls[0] == n - 1
    assert ds[0].result == 7
    assert all(d.result is None for d in ds[1:])


def test_deep_chain_of_failures_reaches_the_top() -> None:
    n = 100_000
    ds, _ = deepChain(n)
    for d in ds[:-1]:
        d.callback(0)
    exc = ValueError("bottom")
    ds[-1].errback(exc)
    assert failureOf(ds[0]).value is exc


def test_many_callbacks_on_one_deferred_run_in_one_pass() -> None:
    d: Deferred[int] = Deferred()
    for _ in range(100_000):
        d.addCallback(lambda r: r + 1)
    d.callback(0)
    assert d.result == 100_000


# --- re-entrancy ------------------------------------------------------------


def test_callback_adding_callbacks_to_its_own_deferred_runs_them_in_order() -> None:
    seen: list[str] = []
    d: Deferred[int] = Deferred()

    def adder(r: int) -> int:
        seen.append("adder")
        d.addCallback(lambda r: seen.append("added") or r)
        return r

    d.addCallback(adder)
    d.addCallback(lambda r: seen.append("second") or r)
    d.callback(1)
    assert seen == ["adder", "second", "added"]


def test_callback_firing_another_deferred_whose_callback_adds_to_the_first() -> None:
    seen: list[str] = []
    first: Deferred[int] = Deferred()
    second: Deferred[int] = Deferred()
    second.addCallback(lambda r: first.addCallback(lambda r: seen.append("late")))

    def fireSecond(r: int) -> int:
        seen.append("firing second")
        second.callback(r)
        seen.append("second fired")
        return r

    first.addCallback(fireSecond)
    first.addCallback(lambda r: seen.append("first again") or r)
    first.callback(1)
    assert seen == ["firing second", "second fired", "first again", "late"]


def test_callback_firing_its_own_deferred_again_fails_the_chain() -> None:
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r: d.callback(2))
    d.callback(1)
    assert failureOf(d).check(AlreadyCalledError)


# --- cancel ------------------------------------------------------------------


def test_cancel_calls_the_canceller_with_the_deferred() -> None:
    calls: list[Deferred[Any]] = []
    d: Deferred[int] = Deferred(calls.append)
    d.cancel()
    assert calls == [d]
    assert failureOf(d).check(CancelledError)


def test_canceller_that_fires_the_deferred_gives_its_result() -> None:
    d: Deferred[str] = Deferred(lambda d: d.callback("cancelled nicely"))
    d.cancel()
    assert resultOf(d) == "cancelled nicely"


def test_canceller_that_errbacks_gives_its_failure() -> None:
    d: Deferred[str] = Deferred(lambda d: d.errback(KeyError("own")))
    d.cancel()
    assert failureOf(d).type is KeyError


def test_cancel_without_canceller_fails_with_CancelledError() -> None:
    d: Deferred[int] = Deferred()
    d.cancel()
    f = failureOf(d)
    assert f.type is CancelledError


def test_cancel_without_canceller_ignores_one_later_callback() -> None:
    d: Deferred[int] = Deferred()
    d.cancel()
    d.callback(1)  # the producer did not know: silently ignored
    with pytest.raises(AlreadyCalledError):
        d.callback(2)
    assert failureOf(d).type is CancelledError


def test_cancel_without_canceller_ignores_one_later_errback() -> None:
    d: Deferred[int] = Deferred()
    d.cancel()
    d.errback(KeyError())
    with pytest.raises(AlreadyCalledError):
        d.errback(KeyError())
    assert failureOf(d).type is CancelledError


def test_cancel_with_canceller_does_not_ignore_a_later_callback() -> None:
    d: Deferred[int] = Deferred(lambda d: None)
    d.cancel()
    with pytest.raises(AlreadyCalledError):
        d.callback(1)
    consume(d)


def test_cancel_of_a_fired_deferred_does_nothing() -> None:
    calls: list[Deferred[Any]] = []
    d: Deferred[int] = Deferred(calls.append)
    d.callback(1)
    d.cancel()
    assert calls == []
    assert d.result == 1


def test_cancel_twice_calls_the_canceller_once() -> None:
    calls: list[Deferred[Any]] = []
    d: Deferred[int] = Deferred(calls.append)
    d.cancel()
    d.cancel()
    assert calls == [d]
    assert failureOf(d).type is CancelledError


def test_cancel_of_a_paused_deferred_holds_the_failure_until_unpause() -> None:
    seen: list[Any] = []
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f: seen.append(f.type))
    d.pause()
    d.cancel()
    assert d.called is True
    assert seen == []
    d.unpause()
    assert seen == [CancelledError]


def test_cancel_of_deferreds_waiting_on_each_other_raises_instead_of_hanging() -> None:
    a: Deferred[object] = Deferred()
    b: Deferred[object] = Deferred()
    a.addCallback(lambda _: b)
    b.addCallback(lambda _: a)
    a.callback(None)
    b.callback(None)  # now each waits on the other: neither can ever fire
    for d in (a, b):
        with pytest.raises(RuntimeError, match="cycle"):
            d.cancel()
    assert a.result is b and b.result is a  # left as they were


def test_cancel_of_a_deferred_waiting_on_itself_raises() -> None:
    d: Deferred[object] = Deferred()
    d.addCallback(lambda _: d)
    with pytest.warns(DeprecationWarning):
        d.callback(None)
    with pytest.raises(RuntimeError, match="cycle"):
        d.cancel()


def test_cancel_of_a_deferred_waiting_on_another_cancels_that_one() -> None:
    innerCalls: list[Deferred[Any]] = []
    outerCalls: list[Deferred[Any]] = []
    inner: Deferred[int] = Deferred(innerCalls.append)
    outer: Deferred[int] = Deferred(outerCalls.append)
    outer.addCallback(lambda r: inner)
    outer.callback(0)
    outer.cancel()
    assert innerCalls == [inner]
    assert outerCalls == []
    assert failureOf(outer).type is CancelledError
    assert inner.result is None


def test_cancel_reaches_the_bottom_of_a_chain_of_waiting_deferreds() -> None:
    bottom: Deferred[int] = Deferred()
    middle: Deferred[int] = Deferred()
    top: Deferred[int] = Deferred()
    middle.addCallback(lambda r: bottom)
    top.addCallback(lambda r: middle)
    middle.callback(0)
    top.callback(0)
    top.cancel()
    assert failureOf(top).type is CancelledError
    # bottom had no canceller: its producer's late result is ignored.
    bottom.callback("late")


def _returnIt(_: object, it: Deferred[Any]) -> Deferred[Any]:
    return it


def _waitingChain(length: int) -> list[Deferred[Any]]:
    """Deferreds each waiting on the next (the first fired first): a chain
    made by callbacks returning Deferreds; the last one is unfired."""
    ds: list[Deferred[Any]] = [Deferred() for _ in range(length)]
    for d, nxt in itertools.pairwise(ds):
        d.addCallback(_returnIt, nxt)
    for d in ds[:-1]:
        d.callback(None)
    return ds


def test_cancel_head_of_deep_chain_cancels_the_innermost(
    deferredLog: list[logging.LogRecord],
) -> None:
    # Deeper than the recursion limit: cancel() must walk the chain iteratively.
    ds = _waitingChain(5000)
    outcome: list[Any] = []
    ds[0].addBoth(outcome.append)
    ds[0].cancel()
    assert len(outcome) == 1 and isinstance(outcome[0].value, CancelledError)


def test_cancel_from_inside_its_own_callback_does_nothing() -> None:
    calls: list[Deferred[Any]] = []
    d: Deferred[int] = Deferred(calls.append)
    d.addCallback(lambda r: d.cancel())
    d.addCallback(lambda r: "went on")
    d.callback(1)
    assert calls == []
    assert d.result == "went on"


def test_canceller_is_not_called_after_the_deferred_fired() -> None:
    calls: list[Deferred[Any]] = []
    inner: Deferred[int] = Deferred(calls.append)
    inner.callback(1)
    inner.cancel()
    assert calls == []


# --- addTimeout --------------------------------------------------------------


def test_addTimeout_times_out_with_TimeoutError() -> None:
    clock = Clock()
    d: Deferred[int] = Deferred()
    assert d.addTimeout(5, clock) is d
    clock.advance(4.9)
    assert d.called is False
    clock.advance(0.1)
    f = failureOf(d)
    assert f.type is TimeoutError
    assert clock.getDelayedCalls() == []


def test_addTimeout_fired_in_time_cancels_the_timer() -> None:
    clock = Clock()
    d: Deferred[int] = Deferred()
    d.addTimeout(5, clock)
    assert len(clock.getDelayedCalls()) == 1
    d.callback(3)
    assert clock.getDelayedCalls() == []
    assert resultOf(d) == 3
    clock.advance(10)
    assert d.result is None


def test_addTimeout_failed_in_time_passes_the_failure_and_cancels_the_timer() -> None:
    clock = Clock()
    d: Deferred[int] = Deferred()
    d.addTimeout(5, clock)
    d.errback(KeyError())
    assert clock.getDelayedCalls() == []
    assert failureOf(d).type is KeyError


def test_addTimeout_calls_the_canceller_on_timeout() -> None:
    clock = Clock()
    calls: list[Deferred[Any]] = []
    d: Deferred[int] = Deferred(calls.append)
    d.addTimeout(1, clock)
    clock.advance(1)
    assert calls == [d]
    assert failureOf(d).type is TimeoutError


def test_addTimeout_with_a_canceller_that_fires_keeps_its_result() -> None:
    clock = Clock()
    d: Deferred[str] = Deferred(lambda d: d.callback("partial"))
    d.addTimeout(1, clock)
    clock.advance(1)
    assert resultOf(d) == "partial"


def test_addTimeout_custom_onTimeoutCancel_decides_the_result() -> None:
    clock = Clock()
    calls: list[tuple[Any, float]] = []

    def onTimeoutCancel(result: Any, timeout: float) -> str:
        calls.append((result, timeout))
        return "gave up"

    d: Deferred[str] = Deferred()
    d.addTimeout(2.5, clock, onTimeoutCancel=onTimeoutCancel)
    clock.advance(2.5)
    assert resultOf(d) == "gave up"
    [(result, timeout)] = calls
    assert isinstance(result, Failure) and result.type is CancelledError
    assert timeout == 2.5


def test_addTimeout_onTimeoutCancel_is_not_called_when_in_time() -> None:
    clock = Clock()
    calls: list[Any] = []
    d: Deferred[str] = Deferred()
    d.addTimeout(1, clock, onTimeoutCancel=lambda r, t: calls.append(r))
    d.callback("in time")
    clock.advance(5)
    assert calls == []
    assert resultOf(d) == "in time"


def test_addTimeout_manual_cancel_stays_CancelledError() -> None:
    clock = Clock()
    d: Deferred[int] = Deferred()
    d.addTimeout(5, clock)
    d.cancel()
    assert failureOf(d).type is CancelledError
    assert clock.getDelayedCalls() == []


def test_addTimeout_cancels_the_deferred_being_waited_on() -> None:
    clock = Clock()
    innerCalls: list[Deferred[Any]] = []
    inner: Deferred[int] = Deferred(innerCalls.append)
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r: inner)
    d.addTimeout(3, clock)
    d.callback(0)
    clock.advance(3)
    assert innerCalls == [inner]
    assert failureOf(d).type is TimeoutError


# --- representation --------------------------------------------------------------


def test_str_of_a_pending_deferred() -> None:
    d: Deferred[int] = Deferred()
    assert str(d) == f"<Deferred at 0x{id(d):x}>"
    assert repr(d) == str(d)


def test_str_shows_the_current_result() -> None:
    d = succeed("value")
    assert str(d) == f"<Deferred at 0x{id(d):x} current result: 'value'>"
    assert repr(d) == str(d)


def test_str_shows_the_deferred_waited_on() -> None:
    inner: Deferred[int] = Deferred()
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda r: inner)
    outer.callback(0)
    expected = f"<Deferred at 0x{id(outer):x} waiting on Deferred at 0x{id(inner):x}>"
    assert str(outer) == expected
    assert repr(outer) == expected
    inner.callback(1)
    assert str(outer) == f"<Deferred at 0x{id(outer):x} current result: 1>"


def test_str_uses_the_subclass_name() -> None:
    class MyDeferred(Deferred[int]):
        __slots__ = ()

    d = MyDeferred()
    assert str(d) == f"<MyDeferred at 0x{id(d):x}>"


# --- memory ------------------------------------------------------------------


def test_pending_deferred_is_freed_when_dropped_and_logs_nothing(
    deferredLog: list[logging.LogRecord],
) -> None:
    d: Deferred[int] = Deferred()
    d.addCallback(lambda r: r)
    ref = weakref.ref(d)
    del d
    assert ref() is None
    gc.collect()
    assert deferredLog == []


def test_handled_failure_leaves_no_reference_cycle() -> None:
    gc.collect()
    gc.disable()
    try:
        d: Deferred[int] = Deferred()
        d.addCallback(lambda r: raiseValueError())
        d.addErrback(lambda f: None)
        d.callback(1)
        ref = weakref.ref(d)
        del d
        assert ref() is None
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_failure_handled_later_leaves_no_reference_cycle() -> None:
    gc.collect()
    gc.disable()
    try:
        d: Deferred[int] = Deferred()
        d.addCallback(lambda r: raiseValueError())
        d.callback(1)
        d.addErrback(lambda f: None)
        ref = weakref.ref(d)
        del d
        assert ref() is None
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_failure_kept_by_an_errback_does_not_reference_the_callback_loop() -> None:
    # The callback loop's own frame is left out of a callback's traceback: it
    # references the Deferred.  (A Python callback's frame still does, through
    # its f_back; a builtin has no frame, which shows the loop's is gone.)
    kept: list[Failure] = []
    d: Deferred[str] = Deferred()
    d.addCallback(int)
    d.addErrback(kept.append)
    d.callback("not a number")
    ref = weakref.ref(d)
    del d
    assert ref() is None
    assert kept[0].type is ValueError


def errbackInExceptAndHandle() -> weakref.ref[Deferred[int]]:
    d: Deferred[int] = Deferred()
    d.addErrback(lambda f: None)
    try:
        raiseValueError()
    except ValueError:
        d.errback()
    return weakref.ref(d)


def test_errback_inside_except_leaves_no_reference_cycle() -> None:
    gc.collect()
    gc.disable()
    try:
        ref = errbackInExceptAndHandle()
        assert ref() is None
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_chained_deferreds_leave_no_reference_cycle() -> None:
    gc.collect()
    gc.disable()
    try:
        inner: Deferred[int] = Deferred()
        outer: Deferred[int] = Deferred()
        outer.addCallback(lambda r, it: it, inner)
        outer.callback(0)
        inner.errback(ValueError())
        outer.addErrback(lambda f: None)
        refs = [weakref.ref(inner), weakref.ref(outer)]
        del inner, outer
        assert [r() for r in refs] == [None, None]
        assert gc.collect() == 0
    finally:
        gc.enable()


# --- tracebacks of failures raised by callbacks ---------------------------------


def _raisingCallback(result: object) -> object:
    raise ValueError(result)


@pytest.mark.parametrize(
    "add",
    [
        lambda d: d.addCallback(_raisingCallback),
        lambda d: d.addBoth(_raisingCallback),
        lambda d: d.addCallbacks(_raisingCallback, _raisingCallback),
    ],
    ids=["addCallback", "addBoth", "addCallbacks"],
)
@pytest.mark.parametrize("firedFirst", [True, False], ids=["fired", "pending"])
def test_failure_traceback_starts_at_the_raising_callback(
    add: Callable[[Deferred[int]], object], firedFirst: bool
) -> None:
    # Whichever path runs the callback (the loop, or the shortcut for a
    # fired Deferred), its frame is in the traceback and ours are not.
    d: Deferred[int] = Deferred()
    if firedFirst:
        d.callback(1)
        add(d)
    else:
        add(d)
        d.callback(1)
    failure = d.result
    assert isinstance(failure, Failure)
    names = [frame[0] for frame in failure.frames]
    assert names == ["_raisingCallback"]
    d.addErrback(lambda f: None)


# --- found in review: re-entrancy and bad input ----------------------------------


def test_returning_a_deferred_that_is_running_callbacks_takes_its_result() -> None:
    # As Twisted: the result it has at that moment is taken (and the running
    # chain carries on with its own value).
    d: Deferred[int] = Deferred()
    e: Deferred[None] = Deferred()
    seen: list[object] = []

    def fireE(result: int) -> int:
        e.callback(None)
        return result * 10

    d.addCallback(lambda r: r + 1)
    d.addCallback(fireE)
    e.addCallback(lambda _: d)
    e.addCallback(seen.append)
    d.addCallback(seen.append)
    d.callback(1)
    assert seen == [2, 20]


def test_result_is_visible_to_the_running_callback() -> None:
    d: Deferred[int] = Deferred()
    seen: list[object] = []
    d.addCallback(lambda r: r + 1)
    d.addCallback(lambda r: seen.append(d.result))
    d.callback(1)
    assert seen == [2]


def test_paused_deferred_handed_a_result_does_not_strand_the_one_it_came_from() -> None:
    a: Deferred[int] = Deferred()
    b: Deferred[None] = Deferred()
    seen: list[object] = []
    b.addCallback(lambda _: a)
    b.callback(None)
    a.addCallback(lambda r: seen.append(("a", r)))
    b.pause()
    a.callback(1)
    assert seen == [("a", None)]
    b.unpause()
    assert b.result == 1


def test_unpause_without_pause_raises_and_leaves_the_deferred_usable() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(RuntimeError, match="not paused"):
        d.unpause()
    assert d.paused == 0
    d.callback(1)
    assert resultOf(d.addCallback(lambda r: r + 1)) == 2


def test_non_callable_canceller_raises_at_construction() -> None:
    with pytest.raises(TypeError, match="canceller must be callable"):
        Deferred(canceller=5)  # type: ignore[arg-type]


def test_addCallbacks_wants_tuples_of_extra_arguments() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(TypeError, match="callbackArgs must be a tuple"):
        d.addCallbacks(lambda r, a, b: r, callbackArgs="ab")  # type: ignore[arg-type]
    d.addCallbacks(lambda r, a, b: (r, a, b), callbackArgs=[1, 2])  # type: ignore[arg-type]
    d.callback(0)
    assert resultOf(d) == (0, 1, 2)


def test_addCallbacks_gives_each_side_its_own_argument_objects() -> None:
    class Loud:
        def __eq__(self, other: object) -> bool:
            raise AssertionError("compared")

        __hash__ = object.__hash__

    cbArg, ebArg = Loud(), Loud()
    got: list[object] = []
    d: Deferred[int] = Deferred()
    d.addCallbacks(
        lambda r, a: r,
        lambda f, b: got.append(b),
        callbackArgs=(cbArg,),
        errbackArgs=(ebArg,),
    )
    d.errback(ValueError())
    assert got == [ebArg] and got[0] is ebArg


def test_chainDeferred_wants_a_deferred() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(TypeError, match="needs a Deferred"):
        d.chainDeferred(5)  # type: ignore[arg-type]
    d.callback(1)
    assert resultOf(d) == 1


# --- less travelled paths -------------------------------------------------------


def test_callbacks_snapshot_has_twisteds_shape() -> None:
    def cb(result: object, *args: object, **kwargs: object) -> object:
        return result

    def eb(failure: object) -> object:
        return failure

    d: Deferred[int] = Deferred()
    d.addCallback(cb, 1, key="v")
    d.addErrback(eb)
    assert callbacksOf(d) == [
        ((cb, (1,), {"key": "v"}), (passthru, (1,), {"key": "v"})),
        ((passthru, (), {}), (eb, (), {})),
    ]
    callbacksOf(d).clear()  # a snapshot: the Deferred is unaffected
    d.callback(0)
    assert d.result == 0 and callbacksOf(d) == []


def test_callbacks_snapshot_shows_plain_callbacks_and_waiting_deferreds() -> None:
    def cb(result: object) -> object:
        return result

    inner: Deferred[int] = Deferred()
    inner.addCallback(cb)
    assert callbacksOf(inner) == [((cb, (), {}), (passthru, (), {}))]
    outer: Deferred[int] = Deferred()
    outer.addCallback(lambda _: inner)
    outer.callback(0)
    # The outer Deferred waits on inner: a stage that hands the result back.
    [plain, (handOn, _)] = callbacksOf(inner)
    assert plain == ((cb, (), {}), (passthru, (), {}))
    assert handOn[1] == (outer,)
    inner.callback(5)
    assert resultOf(outer) == 5


def test_failure_in_a_later_callback_captures_variables_while_debugging(
    debugging: None,
) -> None:
    def broken(result: int, *args: object) -> int:
        local = "visible"  # noqa: F841 - captured by the failure
        raise ValueError(result)

    for extra in ((), (1,)):
        d: Deferred[int] = Deferred()
        d.addCallback(lambda result: result)
        d.addCallback(broken, *extra)
        d.callback(1)
        failure = failureOf(d)
        assert failure.captureVars
        assert "visible" in failure.getTraceback(detail="verbose")


def test_fired_deferred_runs_added_errback_and_both_with_keywords_at_once() -> None:
    seen: list[tuple[str, object]] = []

    def record(result: object, tag: str = "") -> str:
        seen.append((tag, result))
        return tag

    d: Deferred[int] = succeed(1)
    d.addBoth(record, tag="both")
    assert seen == [("both", 1)] and resultOf(d) == "both"
    failed: Deferred[int] = fail(ValueError("x"))
    failed.addErrback(record, tag="errback")
    assert seen[-1][0] == "errback" and resultOf(failed) == "errback"


# A Deferred's only callback returning another Deferred: each state the
# returned one can be in, fired from callback() and from addCallback().
def _returning(inner: Deferred[Any], late: bool) -> Deferred[Any]:
    outer: Deferred[Any] = Deferred()
    if late:
        outer.callback(None)
        outer.addCallback(lambda _: inner)
    else:
        outer.addCallback(lambda _: inner)
        outer.callback(None)
    return outer


@pytest.mark.parametrize("late", [False, True])
def test_only_callback_returning_a_fired_deferred_takes_its_result(late: bool) -> None:
    inner: Deferred[int] = Deferred(lambda d: None)  # a canceller, dropped on fire
    inner.callback(3)
    outer = _returning(inner, late)
    assert resultOf(outer) == 3
    assert inner.result is None  # handed over, as in Twisted


@pytest.mark.parametrize("late", [False, True])
def test_only_callback_returning_a_failed_deferred_takes_its_failure(
    late: bool,
) -> None:
    inner: Deferred[int] = fail(ValueError("inner"))
    outer = _returning(inner, late)
    assert failureOf(outer).check(ValueError)
    assert inner.result is None


@pytest.mark.parametrize("late", [False, True])
def test_only_callback_returning_a_pending_deferred_waits_for_it(late: bool) -> None:
    inner: Deferred[int] = Deferred()
    outer = _returning(inner, late)
    assert outer.paused == 1 and outer.result is inner
    assert "waiting on Deferred" in str(outer)
    inner.callback(4)
    assert resultOf(outer) == 4 and outer.paused == 0


@pytest.mark.parametrize("late", [False, True])
def test_only_callback_returning_a_paused_deferred_waits_for_unpause(
    late: bool,
) -> None:
    inner: Deferred[int] = succeed(6)
    inner.pause()
    outer = _returning(inner, late)
    assert outer.result is inner
    inner.unpause()
    assert resultOf(outer) == 6


@pytest.mark.parametrize("late", [False, True])
def test_only_callback_adding_a_callback_and_returning_a_pending_deferred(
    late: bool,
) -> None:
    seen: list[object] = []
    inner: Deferred[int] = Deferred()
    outer: Deferred[object] = Deferred()

    def addThenReturn(_: object) -> Deferred[int]:
        outer.addCallback(seen.append)
        return inner

    if late:
        outer.callback(None)
        outer.addCallback(addThenReturn)
    else:
        outer.addCallback(addThenReturn)
        outer.callback(None)
    assert seen == [] and outer.paused == 1
    inner.callback(5)
    assert seen == [5] and outer.paused == 0


def test_only_callback_that_pauses_and_returns_a_fired_deferred() -> None:
    outer: Deferred[int] = Deferred()

    def pauseAndReturn(_: object) -> Deferred[int]:
        outer.pause()
        return succeed(7)

    outer.addCallback(pauseAndReturn)
    outer.callback(None)  # type: ignore[arg-type]
    assert outer.paused == 1 and outer.result == 7
    seen: list[int] = []
    outer.addCallback(seen.append)
    assert seen == []  # paused: nothing runs yet
    outer.unpause()
    assert seen == [7]


def test_cancel_reaches_the_pending_deferred_the_only_callback_returned() -> None:
    cancelled: list[Deferred[int]] = []
    inner: Deferred[int] = Deferred(cancelled.append)
    outer = _returning(inner, late=False)
    outer.cancel()
    assert cancelled == [inner]
    assert failureOf(outer).check(CancelledError)


def test_failure_from_a_callback_captures_variables_while_debugging(
    debugging: None,
) -> None:
    def broken(result: int) -> int:
        local = "visible"  # noqa: F841 - captured by the failure
        raise ValueError(result)

    for late in (False, True):
        d: Deferred[int] = Deferred()
        if late:
            d.callback(1)
            d.addCallback(broken)
        else:
            d.addCallback(broken)
            d.callback(1)
        failure = failureOf(d)
        assert failure.captureVars
        assert "visible" in failure.getTraceback(detail="verbose")


def test_cancel_reaches_a_deferred_list_at_the_end_of_a_chain() -> None:
    inner: Deferred[int] = Deferred()
    listed = DeferredList([inner])
    outer: Deferred[object] = Deferred()
    outer.addCallback(lambda _: listed)
    outer.callback(None)
    outer.cancel()
    # DeferredList's own cancel() ran: it cancelled its input, and so fired.
    [(succeeded, failure)] = resultOf(outer)
    assert succeeded is False
    assert failure.check(CancelledError)
    assert failureOf(inner) is failure


def test_handed_on_result_with_callbacks_left_waits_again_and_comes_back() -> None:
    # b waits on a; when a fires, b gets its result, runs a callback that
    # returns another pending Deferred (c), waits again -- and later finishes.
    a: Deferred[int] = Deferred()
    c: Deferred[int] = Deferred()
    b: Deferred[None] = Deferred()
    seen: list[object] = []
    b.addCallback(lambda _: a)
    b.addCallback(lambda r: c)
    b.addCallback(seen.append)
    a.addCallback(lambda r: r * 2)  # a has work after its marker is added
    b.callback(None)
    a.callback(1)
    assert seen == []
    c.callback(3)
    assert seen == [3]


def test_deferreds_that_hand_on_results_resume_their_own_callbacks_after() -> None:
    # w waits on x, which waits on y; y and x have callbacks after the marker
    # that hands their result on.  When w waits again, control returns to x,
    # then to y, each carrying on (with None, having handed its result on).
    w: Deferred[None] = Deferred()
    x: Deferred[None] = Deferred()
    y: Deferred[int] = Deferred()
    z: Deferred[int] = Deferred()
    order: list[tuple[str, object]] = []
    x.addCallback(lambda _: y)
    x.callback(None)
    w.addCallback(lambda _: x)
    w.callback(None)
    y.addCallback(lambda r: order.append(("y after", r)))
    x.addCallback(lambda r: order.append(("x after", r)))
    w.addCallback(lambda r: order.append(("w got", r)) or z)
    w.addCallback(lambda r: order.append(("w finally", r)))
    y.callback(1)
    assert order == [("w got", 1), ("x after", None), ("y after", None)]
    z.callback(2)
    assert order[-1] == ("w finally", 2)


# --- real code's habits: attributes, odd subclasses, warnings ------------------


def test_a_deferred_takes_attributes_of_its_own() -> None:
    d: Deferred[int] = Deferred()
    d.request = "GET /"  # type: ignore[attr-defined]
    assert d.request == "GET /"  # type: ignore[attr-defined]
    assert vars(d) == {"request": "GET /"}
    d.callback(1)
    assert d.result == 1


def test_debug_set_on_one_deferred_reports_where_it_was_fired(
    deferredLog: list[logging.LogRecord],
) -> None:
    d: Deferred[int] = Deferred()
    d.debug = True
    assert Deferred.debug is False
    d.errback(ValueError("just this one"))
    del d
    gc.collect()
    [record] = [r for r in deferredLog if r.getMessage().startswith("Unhandled")]
    assert "First Invoker was:" in record.getMessage()
    assert "test_debug_set_on_one_deferred_reports_where_it_was_fired" in (
        record.getMessage()
    )


def test_debug_set_on_one_deferred_says_where_it_was_first_fired() -> None:
    d: Deferred[int] = Deferred()
    d.debug = True
    d.callback(1)
    with pytest.raises(AlreadyCalledError, match="First Invoker was"):
        d.callback(2)


def test_chainDeferred_to_a_subclass_with_eq_but_no_hash() -> None:
    class Comparable(Deferred[int]):
        def __eq__(self, other: object) -> bool:
            return other is self

    assert Comparable.__hash__ is None
    source: Deferred[int] = Deferred()
    target = Comparable()
    source.chainDeferred(target)
    assert "waiting on Deferred" in str(target)
    source.callback(5)
    assert target.result == 5


def test_returning_itself_warns_at_the_callbacks_own_code() -> None:
    d: Deferred[Any] = Deferred()

    def returnsItsOwnDeferred(result: object) -> Deferred[Any]:
        return d

    d.addCallback(returnsItsOwnDeferred)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d.callback(None)
    [warning] = caught
    assert warning.category is DeprecationWarning
    assert warning.filename == __file__
    code = returnsItsOwnDeferred.__code__
    assert code.co_firstlineno <= warning.lineno <= code.co_firstlineno + 1
    assert str(warning.message).startswith("Callback returned the Deferred")


class _ReprRaises:
    def __repr__(self) -> str:
        raise RuntimeError("repr failed")


def test_already_called_error_survives_a_result_whose_repr_raises() -> None:
    d: Deferred[Any] = Deferred()
    d.callback(_ReprRaises())
    with pytest.raises(AlreadyCalledError, match="unrepresentable"):
        d.callback(1)
    assert "unrepresentable" in repr(d)


def test_already_called_error_message_is_bounded_for_a_huge_result() -> None:
    d: Deferred[Any] = Deferred()
    d.callback(list(range(5_000_000)))
    with pytest.raises(AlreadyCalledError) as raised:
        d.callback(1)
    assert len(str(raised.value)) < 1_000


def test_a_non_callable_whose_repr_raises_still_gives_type_error() -> None:
    d: Deferred[Any] = Deferred()
    with pytest.raises(TypeError, match="callback must be callable"):
        d.addCallback(_ReprRaises())  # type: ignore[arg-type]


def test_callbacks_is_deprecated_as_in_twisted() -> None:
    d: Deferred[int] = Deferred()
    with pytest.deprecated_call():
        assert d.callbacks == []


def test_addCallbacks_keywords_must_be_mappings_at_the_call() -> None:
    d: Deferred[int] = Deferred()
    with pytest.raises(TypeError, match="callbackKeywords must be a mapping"):
        d.addCallbacks(passthru, callbackKeywords=[("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="errbackKeywords must be a mapping"):
        d.addCallbacks(passthru, passthru, errbackKeywords="a=1")  # type: ignore[arg-type]
    d.callback(1)  # still usable
    assert d.result == 1


def test_addTimeout_checks_its_arguments_at_the_call() -> None:
    import asyncio

    d: Deferred[int] = Deferred()
    with pytest.raises(TypeError, match="onTimeoutCancel must be callable"):
        d.addTimeout(5, Clock(), onTimeoutCancel="later")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AsyncioClock"):
        d.addTimeout(5, None)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(TypeError, match="needs a clock with callLater"):
            d.addTimeout(5, loop)  # type: ignore[arg-type]
    finally:
        loop.close()
    d.callback(1)
    assert d.result == 1
