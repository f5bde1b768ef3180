"""Tests for deferred.failure: capturing, inspecting, re-raising, formatting,
cleaning and pickling a Failure."""

from __future__ import annotations

import gc
import io
import pickle
import sys
import traceback
import weakref
from collections.abc import Generator
from types import TracebackType
from typing import Any

import pytest

from deferred import Deferred
from deferred.failure import Failure, NoCurrentExceptionError


class MyError(Exception):
    pass


class SubError(MyError):
    pass


def raiseValueError(message: str = "boom") -> None:
    raise ValueError(message)


RAISE_LINE = raiseValueError.__code__.co_firstlineno + 1


def failureFromRaise() -> Failure:
    try:
        raiseValueError()
    except ValueError:
        return Failure()
    raise AssertionError("not reached")


def caught(exc: BaseException) -> BaseException:
    """``exc`` after being raised and caught, so it carries a traceback."""
    try:
        raise exc
    except BaseException as e:
        return e


def frameNames(tb: TracebackType | None) -> list[str]:
    return [entry.name for entry in traceback.extract_tb(tb)]


# --- construction -------------------------------------------------------------


def test_failure_without_argument_captures_the_exception_being_handled() -> None:
    try:
        raiseValueError("handled")
    except ValueError as e:
        f = Failure()
        assert f.value is e
        assert f.type is ValueError
        assert f.tb is sys.exc_info()[2]
    assert "raiseValueError" in frameNames(f.tb)


def test_failure_without_argument_outside_except_raises() -> None:
    with pytest.raises(NoCurrentExceptionError):
        Failure()


def test_NoCurrentExceptionError_is_an_Exception() -> None:
    assert issubclass(NoCurrentExceptionError, Exception)


def test_failure_from_raised_exception_takes_its_traceback() -> None:
    exc = caught(ValueError("x"))
    f = Failure(exc)
    assert f.value is exc
    assert f.type is ValueError
    assert f.tb is exc.__traceback__
    assert f.tb is not None


def test_failure_from_unraised_exception_has_no_traceback() -> None:
    exc = KeyError("k")
    f = Failure(exc)
    assert f.value is exc
    assert f.type is KeyError
    assert f.tb is None
    assert f.frames == []


def test_failure_from_exception_and_explicit_traceback() -> None:
    other = caught(RuntimeError("elsewhere"))
    exc = ValueError("v")
    f = Failure(exc, exc_tb=other.__traceback__)
    assert f.value is exc
    assert f.tb is other.__traceback__


def test_failure_from_value_type_traceback_triple() -> None:
    try:
        raiseValueError()
    except ValueError:
        excType, excValue, excTb = sys.exc_info()
    assert excValue is not None
    f = Failure(excValue, excType, excTb)
    assert (f.value, f.type, f.tb) == (excValue, excType, excTb)
    assert f.frames[-1][0] == "raiseValueError"


def test_failure_of_a_failure_copies_it() -> None:
    original = failureFromRaise()
    copy = Failure(original)
    assert copy is not original
    assert (copy.value, copy.type, copy.tb) == (
        original.value,
        original.type,
        original.tb,
    )


@pytest.mark.parametrize("notAnException", [3, "oops", object(), ValueError])
def test_failure_of_a_non_exception_raises_TypeError(notAnException: object) -> None:
    with pytest.raises(TypeError):
        Failure(notAnException)  # type: ignore[arg-type]


# --- inspecting ------------------------------------------------------------------


def test_check_matches_the_class_itself() -> None:
    f = Failure(MyError())
    assert f.check(MyError) is MyError


def test_check_matches_a_base_class() -> None:
    f = Failure(SubError())
    assert f.check(MyError) is MyError
    assert f.check(Exception) is Exception


def test_check_returns_the_first_match_among_several() -> None:
    f = Failure(SubError())
    assert f.check(KeyError, SubError, MyError) is SubError
    # A base class or a name listed before the exact type is the first match.
    assert f.check(MyError, SubError) is MyError
    assert f.check(f"{__name__}.MyError", SubError) == f"{__name__}.MyError"


def test_trap_returns_the_first_match_among_several() -> None:
    f = Failure(SubError())
    assert f.trap(SubError, MyError) is SubError
    assert f.trap(MyError, SubError) is MyError
    assert f.trap(KeyError, SubError) is SubError


def test_check_returns_None_when_nothing_matches() -> None:
    f = Failure(MyError())
    assert f.check(KeyError, SubError) is None
    assert f.check() is None


def test_check_matches_fully_qualified_names() -> None:
    f = Failure(SubError())
    subName = f"{SubError.__module__}.{SubError.__qualname__}"
    baseName = f"{MyError.__module__}.{MyError.__qualname__}"
    assert f.check(subName) == subName
    assert f.check("builtins.Exception") == "builtins.Exception"
    assert f.check(KeyError, baseName) == baseName


def test_check_with_unmatched_name_returns_None() -> None:
    f = Failure(ValueError())
    assert f.check("builtins.KeyError", "ValueError") is None


def test_trap_returns_the_matching_type() -> None:
    f = Failure(SubError())
    assert f.trap(KeyError, MyError) is MyError


def test_trap_reraises_the_failure_when_nothing_matches() -> None:
    f = failureFromRaise()
    with pytest.raises(ValueError) as info:
        f.trap(KeyError, "builtins.TypeError")
    assert info.value is f.value
    assert "raiseValueError" in frameNames(info.value.__traceback__)


def test_trap_in_an_errback_passes_the_same_error_down_the_chain() -> None:
    exc = ValueError("passed on")
    seen: list[BaseException] = []
    d: Deferred[None] = Deferred()
    d.addErrback(lambda f: f.trap(KeyError))
    d.addErrback(lambda f: seen.append(f.value))
    d.errback(exc)
    assert seen == [exc]


def test_getErrorMessage_is_the_exception_text() -> None:
    assert Failure(ValueError("bad value")).getErrorMessage() == "bad value"
    assert Failure(KeyError("k")).getErrorMessage() == "'k'"


def test_getErrorMessage_of_unprintable_exception_does_not_raise() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    message = Failure(Unprintable()).getErrorMessage()
    assert "Unprintable" in message


def test_frames_describe_the_traceback_innermost_last() -> None:
    f = failureFromRaise()
    names = [frame[0] for frame in f.frames]
    assert names == ["failureFromRaise", "raiseValueError"]
    _, filename, lineno, localVars, globalVars = f.frames[-1]
    assert filename == __file__
    assert lineno == RAISE_LINE
    assert not localVars and not globalVars


def test_frames_are_not_computed_when_the_failure_is_created() -> None:
    f = failureFromRaise()
    assert f._frames is None
    frames = f.frames
    assert f._frames is frames
    assert f.frames is frames


def test_parents_are_the_qualified_names_of_the_type_and_its_bases() -> None:
    f = Failure(SubError())
    assert f._parents is None
    assert f.parents == [
        f"{SubError.__module__}.SubError",
        f"{MyError.__module__}.MyError",
        "builtins.Exception",
        "builtins.BaseException",
        "builtins.object",
    ]


# --- formatting ------------------------------------------------------------------


def printedBy(f: Failure) -> str:
    out = io.StringIO()
    f.printTraceback(out)
    return out.getvalue()


def test_getTraceback_shows_where_the_error_was_raised() -> None:
    text = failureFromRaise().getTraceback()
    assert text.startswith("Traceback (most recent call last):\n")
    assert "in raiseValueError" in text
    assert f"line {RAISE_LINE}" in text
    assert "raise ValueError(message)" in text
    assert text.endswith("ValueError: boom\n")


def test_getTraceback_does_not_show_where_it_is_called() -> None:
    def tracebackGetter(f: Failure) -> str:
        return f.getTraceback()

    text = tracebackGetter(failureFromRaise())
    assert "raiseValueError" in text
    assert "tracebackGetter" not in text
    assert "test_getTraceback_does_not_show_where_it_is_called" not in text


def test_printTraceback_writes_the_original_traceback_to_the_file() -> None:
    f = failureFromRaise()
    text = printedBy(f)
    assert text == f.getTraceback()
    assert "in raiseValueError" in text
    assert f"line {RAISE_LINE}" in text
    assert "printedBy" not in text


def test_printTraceback_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    f = failureFromRaise()
    f.printTraceback()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f.getTraceback()


def test_getTraceback_of_a_failure_without_frames_names_the_error() -> None:
    text = Failure(KeyError("missing")).getTraceback()
    assert "KeyError: 'missing'" in text


# --- re-raising ------------------------------------------------------------------


def test_raiseException_raises_the_original_exception_and_traceback() -> None:
    f = failureFromRaise()

    def reRaiser() -> None:
        f.raiseException()

    with pytest.raises(ValueError) as info:
        reRaiser()
    assert info.value is f.value
    names = frameNames(info.value.__traceback__)
    # The new frames come first; the original ones are still there after them.
    assert names[-2:] == ["failureFromRaise", "raiseValueError"]


def test_throwExceptionIntoGenerator_returns_what_the_generator_yields() -> None:
    f = failureFromRaise()
    seen: list[tuple[BaseException, list[str]]] = []

    def gen() -> Generator[str, None, None]:
        try:
            yield "first"
        except ValueError as e:
            seen.append((e, frameNames(e.__traceback__)))
            yield "handled"

    g = gen()
    assert next(g) == "first"
    assert f.throwExceptionIntoGenerator(g) == "handled"
    [(exc, names)] = seen
    assert exc is f.value
    assert "raiseValueError" in names


def test_throwExceptionIntoGenerator_propagates_when_not_caught() -> None:
    f = Failure(MyError("uncaught"))

    def gen() -> Generator[int, None, None]:
        yield 1

    g = gen()
    next(g)
    with pytest.raises(MyError) as info:
        f.throwExceptionIntoGenerator(g)
    assert info.value is f.value


# --- cleaning --------------------------------------------------------------------


class Marker:
    pass


def raiseHoldingMarker(marker: Marker) -> None:
    local = marker  # referenced only from this frame
    raise ValueError(repr(local))


def test_cleanFailure_drops_the_frames_and_what_they_reference() -> None:
    marker = Marker()
    ref = weakref.ref(marker)
    try:
        raiseHoldingMarker(marker)
    except ValueError:
        f = Failure()
    del marker
    assert ref() is not None  # the traceback keeps the frame alive
    f.cleanFailure()
    assert ref() is None
    assert f.tb is None
    assert f.value.__traceback__ is None


def test_uncleaned_failure_keeps_its_frames_alive() -> None:
    # The counterpart of the test above: without cleanFailure the frame's
    # locals stay reachable, even after a full collection.
    marker = Marker()
    ref = weakref.ref(marker)
    try:
        raiseHoldingMarker(marker)
    except ValueError:
        f = Failure()
    del marker
    gc.collect()
    assert ref() is not None
    assert f.tb is not None


def test_cleanFailure_keeps_the_traceback_text() -> None:
    f = failureFromRaise()
    before = f.getTraceback()
    f.cleanFailure()
    assert f.getTraceback() == before
    assert [frame[0] for frame in f.frames] == ["failureFromRaise", "raiseValueError"]


def test_cleanFailure_twice_is_harmless() -> None:
    f = failureFromRaise()
    f.cleanFailure()
    f.cleanFailure()
    assert "raiseValueError" in f.getTraceback()


def test_cleaned_failure_still_raises_its_exception() -> None:
    f = failureFromRaise()
    f.cleanFailure()
    with pytest.raises(ValueError) as info:
        f.raiseException()
    assert info.value is f.value


# --- pickling --------------------------------------------------------------------


def roundTrip(f: Failure) -> Any:
    return pickle.loads(pickle.dumps(f))


def test_pickled_failure_keeps_type_value_and_message() -> None:
    copy = roundTrip(failureFromRaise())
    assert copy.type is ValueError
    assert isinstance(copy.value, ValueError)
    assert copy.getErrorMessage() == "boom"
    assert copy.check(ValueError) is ValueError
    assert copy.check("builtins.Exception") == "builtins.Exception"


def test_pickled_failure_carries_its_traceback_as_text() -> None:
    f = failureFromRaise()
    copy = roundTrip(f)
    assert copy.tb is None
    text = copy.getTraceback()
    assert "in raiseValueError" in text
    assert f"line {RAISE_LINE}" in text
    assert text == f.getTraceback()


def test_pickled_failure_with_captured_variables_holds_only_text() -> None:
    try:
        raiseHoldingMarker(Marker())
    except ValueError:
        f = Failure(captureVars=True)
    copy = roundTrip(f)
    for _name, _file, _line, localVars, globalVars in copy.frames:
        for _key, value in localVars + globalVars:
            assert isinstance(value, str)
    assert "raiseHoldingMarker" in copy.getTraceback(detail="verbose")


def test_pickling_does_not_change_the_original() -> None:
    f = failureFromRaise()
    tb = f.tb
    pickle.dumps(f)
    assert f.tb is tb
    assert f.value.__traceback__ is not None


def test_cleaning_one_failure_does_not_repeat_frames_in_another_of_the_same_error() -> (
    None
):
    try:
        raiseValueError()
    except ValueError:
        first, second = Failure(), Failure()
    first.cleanFailure()
    names = [frame[0] for frame in second.frames]
    assert names.count("raiseValueError") == 1


def test_cleaned_failure_keeps_the_text_of_the_exception_it_was_raised_from() -> None:
    def convert() -> None:
        try:
            {}["key"]
        except KeyError as e:
            raise ValueError("converted") from e

    try:
        convert()
    except ValueError:
        failure = Failure()
    failure.cleanFailure()
    text = failure.getTraceback()
    assert "KeyError" in text
    assert "direct cause of the following exception" in text
    assert text.index("KeyError") < text.index("ValueError: converted")


# --- parity with Twisted (known differences, to be fixed) ----------------------


def test_verbose_traceback_goes_from_the_failure_header_to_the_frames() -> None:
    lines = failureFromRaise().getTraceback(detail="verbose").splitlines()
    assert lines[0].startswith("*--- Failure #")
    assert lines[1].endswith(": failureFromRaise(...)")


def test_cleaned_failure_still_gives_a_traceback_object_for_the_traceback_module() -> (
    None
):
    failure = failureFromRaise()
    failure.cleanFailure()
    assert frameNames(failure.getTracebackObject()) == [
        "failureFromRaise",
        "raiseValueError",
    ]


def test_errback_gets_a_traceback_object_from_the_failure() -> None:
    d: Deferred[None] = Deferred()
    try:
        raiseValueError()
    except ValueError:
        d.errback()
    names: list[str] = []
    d.addErrback(lambda f: names.extend(frameNames(f.getTracebackObject())))
    assert names[-1] == "raiseValueError"


def test_default_traceback_writes_two_lines_for_each_frame() -> None:
    namespace: dict[str, Any] = {}
    exec("def fromString():\n    raise ValueError('e')\n", namespace)
    try:
        namespace["fromString"]()
    except ValueError:
        failure = Failure()
    lines = failure.getTraceback().splitlines()
    # header, two lines for each of the two frames, the exception line
    assert len(lines) == 1 + 2 * 2 + 1


# --- differential review against Twisted ------------------------------------------


class Outer:
    class NestedError(Exception):
        pass


def test_parents_name_nested_classes_by_module_and_class_name() -> None:
    f = Failure(Outer.NestedError())
    name = f"{__name__}.NestedError"
    assert f.parents[0] == name
    assert f.check(name) == name
    assert f.trap(name) == name


def test_count_can_be_assigned() -> None:
    f = Failure(ValueError())
    f.count = 7
    assert f.count == 7
    assert f.getTraceback(detail="verbose").startswith("*--- Failure #7 ")


def test_copies_share_the_number_of_the_original() -> None:
    # The number is assigned lazily: none of these has been read before copying.
    import copy

    def unpickled(f: Failure) -> Failure:
        copied: Failure = pickle.loads(pickle.dumps(f))
        return copied

    for duplicate in (Failure, copy.copy, unpickled):
        original = failureFromRaise()
        twin = duplicate(original)
        assert twin.count == original.count


def test_stack_is_deprecated_and_assigning_it_is_ignored() -> None:
    f = Failure(ValueError())
    with pytest.deprecated_call():
        f.stack = [("somewhere", "file.py", 1, (), ())]
    with pytest.deprecated_call():
        assert f.stack == []


def test_stand_in_traceback_frames_link_to_their_callers() -> None:
    failure = failureFromRaise()
    failure.cleanFailure()
    tb = failure.getTracebackObject()
    assert tb is not None and tb.tb_next is not None
    inner = tb.tb_next.tb_frame
    assert inner.f_back is tb.tb_frame
    assert tb.tb_frame.f_back is None
    callers = traceback.walk_stack(inner)  # type: ignore[arg-type]
    assert [f.f_code.co_name for f, _ in callers] == [
        "raiseValueError",
        "failureFromRaise",
    ]


def test_stand_in_traceback_carries_the_captured_variables() -> None:
    def failing(argument: int) -> None:
        raise ValueError(argument)

    try:
        failing(42)
    except ValueError:
        failure = Failure(captureVars=True)
    failure.cleanFailure()
    tb = failure.getTracebackObject()
    assert tb is not None and tb.tb_next is not None
    assert tb.tb_next.tb_frame.f_locals == {"argument": "42"}
    assert tb.tb_next.tb_frame.f_globals["__name__"] == repr(__name__)
    summary = traceback.StackSummary.extract(
        traceback.walk_tb(tb),  # type: ignore[arg-type]
        capture_locals=True,
    )
    assert summary[-1].locals == {"argument": "'42'"}


# -- Failure is a BaseException, as in Twisted ------------------------------


def test_a_failure_can_be_raised_and_caught_as_itself() -> None:
    original = failureFromRaise()
    with pytest.raises(Failure) as caught:
        raise original
    assert caught.value is original
    assert isinstance(original, BaseException)
    assert not isinstance(original, Exception)


def test_capturing_a_raised_failure_copies_it() -> None:
    original = failureFromRaise()
    try:
        raise original
    except Failure:
        captured = Failure()
    assert captured is not original
    assert captured.value is original.value
    assert captured.type is ValueError
    assert captured.tb is original.tb
    assert captured.count == original.count


def test_a_failure_raised_in_a_callback_becomes_the_result() -> None:
    original = failureFromRaise()
    d: Deferred[Any] = Deferred()

    def reraise(_: object) -> None:
        raise original

    seen: list[Failure] = []
    d.addCallback(reraise)
    d.addErrback(seen.append)
    d.callback(None)
    [got] = seen
    assert got.type is ValueError  # not a Failure wrapping a Failure
    assert got.value is original.value


def test_raising_a_sub_failure_in_an_errback_unwraps_a_first_error() -> None:
    from deferred import FirstError, gatherResults

    inner: Deferred[int] = Deferred()
    d = gatherResults([inner])

    def unwrap(f: Failure) -> None:
        f.trap(FirstError)
        raise f.value.subFailure

    d.addErrback(unwrap)
    inner.errback(KeyError("k"))
    inner.addErrback(lambda f: None)
    with pytest.raises(KeyError):
        d.result.raiseException()
    d.addErrback(lambda f: None)


def test_a_failure_raised_and_caught_in_an_errback_is_not_a_type_error() -> None:
    d: Deferred[Any] = Deferred()
    caught: list[Failure] = []

    def errback(f: Failure) -> None:
        try:
            raise f
        except Failure as again:
            caught.append(again)

    d.addErrback(errback)
    d.errback(ValueError("v"))
    assert caught[0].type is ValueError


def test_a_failure_made_without_raising_and_pickled_round_trips() -> None:
    # BaseException's own pickling would call Failure() again on loading.
    f = Failure(KeyError("k"))
    twin = pickle.loads(pickle.dumps(f))
    assert twin.type is KeyError
    assert twin.pickled
    assert twin.parents == f.parents


def test_pickled_state_has_twisteds_shape() -> None:
    f = failureFromRaise()
    state = f.__reduce__()[2]
    assert state["parents"] == f.parents
    assert state["stack"] == []
    assert [frame[:3] for frame in state["frames"]] == [frame[:3] for frame in f.frames]
    revived = Failure.__new__(Failure)
    revived.__setstate__(state)
    assert revived.parents == f.parents
    assert revived.frames == state["frames"]
    assert revived.check(ValueError) is ValueError


def test_frames_hold_empty_tuples_when_no_variables_were_captured() -> None:
    f = failureFromRaise()
    assert f.frames
    for _, _, _, localVars, globalVars in f.frames:
        assert localVars == ()
        assert globalVars == ()


def test_format_frames_writes_each_detail_level() -> None:
    from deferred.failure import format_frames

    frames = failureFromRaise().frames
    for detail, expected in (
        ("default", f'  File "{frames[-1][1]}", line {frames[-1][2]}'),
        ("brief", f"{frames[-1][1]}:{frames[-1][2]}:{frames[-1][0]}"),
        ("verbose", " [ Locals ]"),
        ("verbose-vars-not-captured", " [Capture of Locals and Globals disabled"),
    ):
        lines: list[str] = []
        format_frames(frames, lines.append, detail)
        assert any(line.startswith(expected) for line in lines), (detail, lines)
    with pytest.raises(ValueError):
        format_frames(frames, lines.append, "loud")


def test_start_debug_mode_opens_the_debugger_on_captured_exceptions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pdb

    from deferred import failure as failureModule

    seen: list[object] = []
    monkeypatch.setattr(pdb, "post_mortem", seen.append)
    monkeypatch.setattr(Failure, "__init__", Failure.__init__)
    failureModule.startDebugMode()
    try:
        raise ValueError("debug me")
    except ValueError:
        f = Failure()
    assert f.type is ValueError
    assert len(seen) == 1
    Failure(ValueError())  # an explicit exception: no debugger
    assert len(seen) == 1
    monkeypatch.setattr(failureModule, "DO_POST_MORTEM", False)
    try:
        raise ValueError("quiet")
    except ValueError:
        Failure()
    assert len(seen) == 1


# -- the raise site survives a Deferred's rest -------------------------------


def _raiseHere(_: object) -> None:
    raise ValueError("raised here")


_RAISE_LINE = _raiseHere.__code__.co_firstlineno + 1


def _restedFailure() -> tuple[Deferred[Any], Failure]:
    d: Deferred[Any] = Deferred()
    d.addCallback(_raiseHere)
    d.callback(None)
    failure = d.result
    assert failure.tb is None  # at rest: frames kept as text only
    return d, failure


def _raiseSites(exc: BaseException) -> list[tuple[str, int]]:
    return [(f.name, f.lineno or 0) for f in traceback.extract_tb(exc.__traceback__)]


def test_raising_a_rested_failure_shows_the_line_that_raised() -> None:
    d, failure = _restedFailure()
    with pytest.raises(ValueError) as raised:
        failure.raiseException()
    assert _raiseSites(raised.value)[-1] == ("_raiseHere", _RAISE_LINE)
    text = "".join(traceback.format_exception(raised.value))
    assert 'raise ValueError("raised here")' in text
    d.addErrback(lambda f: None)


def test_trap_and_generators_reraise_with_the_raise_site() -> None:
    d, failure = _restedFailure()
    with pytest.raises(ValueError) as raised:
        failure.trap(KeyError)
    assert ("_raiseHere", _RAISE_LINE) in _raiseSites(raised.value)

    def generator() -> Generator[None, None, None]:
        yield

    g = generator()
    next(g)
    with pytest.raises(ValueError) as thrown:
        failure.throwExceptionIntoGenerator(g)
    assert ("_raiseHere", _RAISE_LINE) in _raiseSites(thrown.value)
    d.addErrback(lambda f: None)


def test_awaiting_a_failed_deferred_in_a_task_shows_the_raise_site() -> None:
    import asyncio

    d, _ = _restedFailure()

    async def main() -> BaseException:
        try:
            await d
        except ValueError as e:
            return e
        raise AssertionError("no error")

    error = asyncio.run(main())
    assert ("_raiseHere", _RAISE_LINE) in _raiseSites(error)


def test_logging_exception_shows_the_raise_site(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    d, failure = _restedFailure()
    try:
        failure.raiseException()
    except ValueError:
        logging.getLogger("test").exception("re-raised")
    assert 'raise ValueError("raised here")' in caplog.text
    d.addErrback(lambda f: None)


def test_a_failed_deferred_holds_no_frames_and_is_freed_without_the_gc() -> None:
    gc.collect()
    gc.disable()
    try:
        d, failure = _restedFailure()
        with pytest.raises(ValueError):
            failure.raiseException()  # rebuilding the traceback keeps nothing
        d.addErrback(lambda f: None)
        gone = weakref.ref(d)
        del d, failure
        assert gone() is None
    finally:
        gc.enable()


def test_detailed_traceback_ends_with_the_footer_without_variables() -> None:
    out = io.StringIO()
    failureFromRaise().printDetailedTraceback(out)
    text = out.getvalue()
    assert "[Capture of Locals and Globals disabled" in text
    assert text.rstrip("\n").splitlines()[-1].startswith("*--- End of Failure #")


def test_reraising_a_very_deep_rested_failure_raises_its_own_exception() -> None:
    def recurse(n: int) -> None:
        if n:
            recurse(n - 1)
        else:
            raise ZeroDivisionError("deep")

    try:
        recurse(900)
    except ZeroDivisionError:
        failure = Failure()
    failure.cleanFailure()

    def deeper(n: int) -> None:
        if n:
            deeper(n - 1)
        else:
            failure.raiseException()

    with pytest.raises(ZeroDivisionError) as raised:
        deeper(50)
    assert raised.value is failure.value


def test_a_failure_raised_in_a_callback_keeps_nothing_alive_once_handled() -> None:
    class Big:
        pass

    def make() -> weakref.ref[Big]:
        d: Deferred[int] = Deferred()
        big = Big()

        def raiseAFailure(result: object, big: Big = big) -> None:
            raise Failure(ValueError("wrapped"))

        d.addCallback(raiseAFailure)
        d.callback(1)
        d.addErrback(lambda f: None)
        return weakref.ref(big)

    gc.collect()
    gc.disable()
    try:
        assert make()() is None
    finally:
        gc.enable()
