"""The pytest plugin of ``deferred``.

pytest loads it by itself once the package is installed (through the
``pytest11`` entry point); without installing, load it with
``-p deferred.testing.plugin``.  It gives every test:

* the ``clock`` fixture: a fresh :class:`deferred.clock.Clock`;
* a check for errors left unhandled in Deferreds.  A test fails when a
  Deferred reports an unhandled error while it runs, and errors at teardown
  when one is reported while its fixtures are torn down; the report shows the
  error's traceback.  Garbage is collected after each test, so an error kept
  alive by a reference cycle is found too (a full collection only when the
  test may have let objects age into the oldest generation: that keeps the
  check cheap).  Errors reported outside any test -- while modules are
  collected, or by the last collection -- fail the run.  A test that expects
  such errors takes them with the ``deferred_errors`` fixture:
  ``deferred_errors.flush(ValueError)`` returns the matching
  :class:`~deferred.failure.Failure` objects, which then no longer count;
* tests that return a Deferred, and ``async def`` tests that await
  Deferreds, run to completion on a fresh asyncio event loop.  A test whose
  Deferred or coroutine takes longer than its timeout is cancelled and fails
  (the rest of the run goes on).  The timeout is 120 seconds, or the
  ``deferred_timeout`` ini option, or ``@pytest.mark.deferred_timeout(seconds)``
  for one test; ``inf`` means no limit.

An ``async def`` test marked for another async framework (``asyncio``,
``anyio`` or ``trio``, as pytest-asyncio in auto mode and pytest-trio's trio
mode mark them), or asking for anyio's ``anyio_backend`` fixture, is left to
that framework.  Async fixtures are not supported: give a test what it needs
from inside the test, or use one of those frameworks.

A test function that returns a Deferred is called as any other, outside the
event loop; the loop runs only afterwards, until the Deferred fires.  Code
that needs a running loop from the start belongs in an ``async def`` test.
"""

from __future__ import annotations

import gc
import inspect
import logging
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any, NoReturn, cast

import pytest

from .._debug import LOGGER_NAME, UNHANDLED_MESSAGE
from .._deferred import _DEFERRED_TYPES, Deferred
from ..clock import Clock
from ..failure import Failure, _qual

__all__ = ["DEFAULT_TIMEOUT", "UnhandledErrors", "clock", "deferred_errors"]

#: Seconds a test's Deferred or coroutine may take, unless configured.
DEFAULT_TIMEOUT = 120.0

# The name of both the ini option and the marker.
_TIMEOUT = "deferred_timeout"
# Markers by which other plugins claim an async test.
_OTHER_FRAMEWORKS = ("asyncio", "anyio", "trio")

# A full garbage collection costs milliseconds in a big test session, so after
# each test we make one only when it can find something a young-generation
# collection would not.  Up to 3.13, CPython's collector has three
# generations, and what a test made stays in the two youngest until a
# collection of generation 1 or 2 runs (automatic, or by the test's own
# gc.collect()); from 3.14 the collector is incremental, and any collection
# may age objects.
_AGING, _YOUNG = (0, 0) if sys.version_info >= (3, 14) else (1, 1)


class UnhandledErrors:
    """The errors left unhandled in Deferreds so far in the current test.

    The ``deferred_errors`` fixture gives the test this object.  An error
    still in it when the test (or its teardown) ends makes the test fail;
    :meth:`flush` takes out the errors the test expected.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        # (log message, failure) pairs: the message may hold debug stacks.
        self._entries: list[tuple[str, Failure]] = []

    def flush(self, *errorTypes: type[BaseException]) -> list[Failure]:
        """Take out the errors of any of ``errorTypes`` (all errors if none are
        given) and return their failures, oldest first.

        Garbage is collected first, so a failed Deferred that only a reference
        cycle kept alive has reported its error by then.
        """
        for errorType in errorTypes:
            if not (
                isinstance(errorType, type) and issubclass(errorType, BaseException)
            ):
                raise TypeError(f"flush() takes exception classes, not {errorType!r}")
        gc.collect()
        entries, self._entries = self._entries, []
        taken: list[Failure] = []
        for entry in entries:
            if not errorTypes or entry[1].check(*errorTypes):
                taken.append(entry[1])
            else:
                self._entries.append(entry)
        return taken

    def _add(self, message: str, failure: Failure) -> None:
        self._entries.append((message, failure))

    def _takeAll(self) -> list[tuple[str, Failure]]:
        entries, self._entries = self._entries, []
        return entries

    def __repr__(self) -> str:
        kinds = ", ".join(_qual(failure.type) for _, failure in self._entries)
        return f"<UnhandledErrors [{kinds}]>"


# One catcher per running test, innermost last: pytester runs pytest inside a
# test, and a record belongs to the innermost test only.
_catchers: list[_Catcher] = []


class _Catcher(logging.Handler):
    """Takes the "unhandled error" records of the ``"deferred"`` logger."""

    def __init__(self, errors: UnhandledErrors) -> None:
        super().__init__(logging.ERROR)
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        if _catchers[-1] is not self:
            return
        message = record.msg
        if not (isinstance(message, str) and message.startswith(UNHANDLED_MESSAGE)):
            return
        failure = getattr(record, "failure", None)
        if not isinstance(failure, Failure):
            excInfo = record.exc_info
            if not excInfo or excInfo[1] is None:
                return
            failure = Failure(excInfo[1], excInfo[0], excInfo[2])
        self.errors._add(record.getMessage(), failure)


class _GcWatch:
    """Counts the garbage collections that may have aged objects (a
    ``gc.callbacks`` entry)."""

    __slots__ = ("aging",)

    def __init__(self) -> None:
        self.aging = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] >= _AGING:
            self.aging += 1


def _startCatching() -> _Catcher:
    catcher = _Catcher(UnhandledErrors())
    _catchers.append(catcher)
    logging.getLogger(LOGGER_NAME).addHandler(catcher)
    return catcher


def _stopCatching(catcher: _Catcher) -> None:
    logging.getLogger(LOGGER_NAME).removeHandler(catcher)
    _catchers.remove(catcher)


_ERRORS = pytest.StashKey[UnhandledErrors]()
_AGING_AT_START = pytest.StashKey[int]()
_DEFAULT_TIMEOUT = pytest.StashKey[float]()
_GC_WATCH = pytest.StashKey[_GcWatch]()
_SESSION_CATCHER = pytest.StashKey[_Catcher]()
_OUTSIDE_TESTS = pytest.StashKey[list[tuple[str, Failure]]]()


# -- configuration ------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _TIMEOUT,
        "seconds that the Deferred or coroutine of a test may take before the "
        f"test fails (default: {DEFAULT_TIMEOUT:g})",
        default=str(DEFAULT_TIMEOUT),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_TIMEOUT}(seconds): the time this test's Deferred or coroutine may "
        "take before the test fails (from the deferred plugin)",
    )
    try:
        timeout = _checkTimeout(config.getini(_TIMEOUT), f"the {_TIMEOUT} ini option")
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    config.stash[_DEFAULT_TIMEOUT] = timeout
    watch = config.stash[_GC_WATCH] = _GcWatch()
    gc.callbacks.append(watch)


def pytest_unconfigure(config: pytest.Config) -> None:
    watch = config.stash.get(_GC_WATCH, None)
    if watch is not None:
        gc.callbacks.remove(watch)


def _checkTimeout(value: object, what: str) -> float:
    seconds = value
    if isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            pass
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not seconds > 0  # also refuses NaN
    ):
        raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
    return float(seconds)


def _timeoutFor(item: pytest.Item) -> float:
    marker = item.get_closest_marker(_TIMEOUT)
    if marker is None:
        return item.config.stash[_DEFAULT_TIMEOUT]
    what = f"@pytest.mark.{_TIMEOUT}"
    if marker.kwargs.keys() - {"seconds"} or len(marker.args) + len(marker.kwargs) != 1:
        pytest.fail(
            f"{what} takes one argument, the number of seconds "
            f"(got {marker.args!r} and {marker.kwargs!r})",
            pytrace=False,
        )
    value = marker.args[0] if marker.args else marker.kwargs["seconds"]
    try:
        return _checkTimeout(value, what)
    except ValueError as e:
        pytest.fail(str(e), pytrace=False)


# -- fixtures -----------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    """A fresh manual :class:`~deferred.clock.Clock`: time starts at 0 and
    moves only when the test calls ``advance()``."""
    return Clock()


@pytest.fixture
def deferred_errors(request: pytest.FixtureRequest) -> UnhandledErrors:
    """The errors left unhandled in Deferreds during this test; take the
    expected ones with ``deferred_errors.flush(ExceptionType)``."""
    errors: UnhandledErrors = request.node.stash[_ERRORS]
    return errors


# -- the unhandled-error check ------------------------------------------------


# Errors reported while no test runs (collection, between tests, the final
# collection) are caught too, and fail the run.
def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SESSION_CATCHER] = _startCatching()


def pytest_sessionfinish(session: pytest.Session) -> None:
    catcher = session.config.stash.get(_SESSION_CATCHER, None)
    if catcher is None:
        return
    gc.collect()
    _stopCatching(catcher)
    entries = catcher.errors._takeAll()
    if entries:
        session.config.stash[_OUTSIDE_TESTS] = entries
        if session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    entries = config.stash.get(_OUTSIDE_TESTS, None)
    if entries:
        terminalreporter.section("unhandled errors in Deferreds", red=True)
        terminalreporter.line(_describe(entries, "outside the tests"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, None]:
    _releaseLastFailure()
    catcher = _startCatching()
    item.stash[_ERRORS] = catcher.errors
    item.stash[_AGING_AT_START] = item.config.stash[_GC_WATCH].aging
    try:
        yield
    finally:
        _stopCatching(catcher)
        del item.stash[_ERRORS]


def _releaseLastFailure() -> None:
    """Free what the last failed test left for post-mortem debugging, and
    collect it, before the next test starts catching errors.

    pytest keeps the exception of a test that failed (``sys.last_value`` and
    its kin) until the next test runs; its traceback holds the failed test's
    frames, and with them any failed Deferred the test still referred to.
    Freed later, in the middle of another test, the Deferred's error would
    make that test fail: freed here, it is reported as outside the tests.
    """
    if getattr(sys, "last_value", None) is None:
        return
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)
    gc.collect()


# trylast: after the test has run (a test that failed already is not checked
# here; its unhandled errors are reported at teardown).
@pytest.hookimpl(trylast=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _failOnUnhandledErrors(item, "during this test")


# trylast: after the fixtures are torn down, so their errors are seen too.
@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if item.stash.get(_AGING_AT_START, None) == item.config.stash[_GC_WATCH].aging:
        # Nothing the test made has aged: a young collection finds its garbage.
        gc.collect(_YOUNG)
    else:
        gc.collect()
    _failOnUnhandledErrors(item, "at the teardown of this test")


def _failOnUnhandledErrors(item: pytest.Item, when: str) -> None:
    errors = item.stash.get(_ERRORS, None)
    if errors is None:
        return
    entries = errors._takeAll()
    if entries:
        pytest.fail(_describe(entries, when), pytrace=False)


def _describe(entries: list[tuple[str, Failure]], when: str) -> str:
    count = len(entries)
    lines = [
        f"{count} unhandled error{'s' if count > 1 else ''} in "
        f"{'Deferreds' if count > 1 else 'a Deferred'} {when} (a test that "
        "expects them takes them with deferred_errors.flush(ExceptionType)):"
    ]
    for message, failure in entries:
        lines += ["", message, failure.getTraceback().rstrip("\n")]
    return "\n".join(lines)


# -- running Deferreds and coroutines -----------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, None]:
    # Whoever calls the test function (pytest, or another plugin) calls our
    # runner instead, which drives what the test returns.
    testFunction = pyfuncitem.obj
    if not inspect.iscoroutinefunction(testFunction):
        pyfuncitem.obj = _deferredRunner(pyfuncitem, testFunction)
    elif not _claimedElsewhere(pyfuncitem):
        pyfuncitem.obj = _coroutineRunner(pyfuncitem, testFunction)
    try:
        yield
    finally:
        pyfuncitem.obj = testFunction


def _claimedElsewhere(item: pytest.Function) -> bool:
    return "anyio_backend" in item.fixturenames or any(
        item.get_closest_marker(name) is not None for name in _OTHER_FRAMEWORKS
    )


def _deferredRunner(
    item: pytest.Function, testFunction: Callable[..., object]
) -> Callable[..., object]:
    def runTest(*args: Any, **kwargs: Any) -> object:
        __tracebackhide__ = True
        result = testFunction(*args, **kwargs)
        if type(result) in _DEFERRED_TYPES:
            d = cast("Deferred[object]", result)
            outcome = _runToCompletion(
                lambda: d,
                _timeoutFor(item),
                "the Deferred returned by the test did not fire",
                " (a plain def test runs before the event loop starts: a test"
                " that needs the loop running should be async def)",
            )
            if isinstance(outcome, Failure):
                _raiseFailure(outcome)
        elif inspect.iscoroutine(result):
            _runCoroutine(result, _timeoutFor(item))
        else:
            return result
        return None

    return runTest


def _coroutineRunner(
    item: pytest.Function, testFunction: Callable[..., Coroutine[Any, Any, object]]
) -> Callable[..., None]:
    def runTest(*args: Any, **kwargs: Any) -> None:
        __tracebackhide__ = True
        # The timeout first: a bad marker must not leave a coroutine unawaited.
        timeout = _timeoutFor(item)
        _runCoroutine(testFunction(*args, **kwargs), timeout)

    return runTest


def _runCoroutine(coro: Coroutine[Any, Any, object], timeout: float) -> None:
    __tracebackhide__ = True
    from .._coroutines import ensureDeferred

    error = _runToCompletion(
        lambda: ensureDeferred(_catching(coro)),
        timeout,
        "the test's coroutine did not finish",
    )
    if error is not None:
        raise error


async def _catching(coro: Coroutine[Any, Any, object]) -> BaseException | None:
    """Run ``coro``; return the exception it raises, or ``None``.

    The exception reaches the test report as raised, with its live traceback:
    were it left to fail the Deferred, the traceback could be cut down to text.
    """
    try:
        await coro
    except BaseException as e:
        return e
    return None


def _runToCompletion(
    start: Callable[[], Deferred[Any]],
    timeout: float,
    timedOutMessage: str,
    hint: str = "",
) -> Any:
    """Start a Deferred inside a fresh asyncio event loop and run the loop until
    the Deferred fires; return its result (a Failure if it failed).

    The test fails if that takes longer than its timeout.
    """
    __tracebackhide__ = True
    import asyncio

    timedOut, result = asyncio.run(_waitFor(start, timeout))
    if timedOut:
        _failTimedOut(f"{timedOutMessage} within {timeout:g} seconds{hint}", result)
    return result


def _failTimedOut(message: str, outcome: object) -> NoReturn:
    # Not hidden from tracebacks: pytest then shows just the message.
    message = "Timeout: " + message
    if isinstance(outcome, BaseException):
        # Where the cancellation found the coroutine: where it was stuck.
        # (The first frame is _catching's own.)
        import traceback

        tb = outcome.__traceback__
        message += ". Where it was waiting:\n" + "".join(
            traceback.format_exception(type(outcome), outcome, tb and tb.tb_next)
        )
    pytest.fail(message, pytrace=False)


async def _waitFor(
    start: Callable[[], Deferred[Any]], timeout: float
) -> tuple[bool, object]:
    import asyncio

    loop = asyncio.get_running_loop()
    d = start()
    done = loop.create_future()
    outcome: list[object] = []

    def finished(result: object) -> None:
        # Taking the result: a failure is the test's to report, not the log's.
        outcome.append(result)
        if not done.done():
            done.set_result(None)

    d.addBoth(finished)
    if outcome:
        return False, outcome[0]

    timedOut = False

    def expire() -> None:
        nonlocal timedOut
        timedOut = True
        d.cancel()
        # The cancellation may not fire the Deferred: stop waiting anyway.
        if not done.done():
            done.set_result(None)

    timer = loop.call_later(timeout, expire)  # inf is fine: it never comes
    try:
        await done
    finally:
        timer.cancel()
    return timedOut, outcome[0] if outcome else None


def _raiseFailure(failure: Failure) -> None:
    __tracebackhide__ = True
    value = failure.value
    if failure.tb is None and failure.frames:
        # The Deferred rested on this failure before the test was over, so its
        # traceback survives only as text: show that text with the exception.
        text = "Traceback of the Deferred's failure:\n" + failure.getTraceback()
        addNote = getattr(value, "add_note", None)
        if addNote is not None:
            addNote(text.rstrip("\n"))
        elif value.__cause__ is None:  # Python 3.10: no exception notes
            raise value from _FailureTraceback(text)
    raise value.with_traceback(failure.tb)


class _FailureTraceback(Exception):
    """Carries the text traceback of a Deferred's failure, where Python has
    no exception notes to hold it (3.10)."""
