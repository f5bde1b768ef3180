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

The report's header says which core the Deferred runs on (docs/cores.md):
``deferred: compiled core (deferred._cdeferred, /path/to/module.so)`` or
``deferred: pure-Python core (why: ...)``.  With ``DEFERRED_EXPECT_CORE`` set
to ``compiled`` or ``python``, a run on the other core stops at its start
with a usage error (CI uses it, so that a fallback cannot go unnoticed).
"""

from __future__ import annotations

import gc
import inspect
import logging
import os
import sys
import time
from collections.abc import Callable, Coroutine, Generator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from .._debug import reportLiveFailures
from .._deferred import _DEFERRED_TYPES, Deferred, getDebugging, setDebugging
from .._raising import raiseFailure
from ..clock import Clock
from ..failure import Failure
from ._support import (
    CAUGHT_ATTRIBUTE,
    DEFAULT_TIMEOUT,
    UnhandledErrors,
    _Catcher,
    catching,
    checkTimeout,
    collectAfterTest,
    describe,
    gcAging,
    startCatching,
    stopCatching,
    timeoutMessage,
    unwatchGarbage,
    waitFor,
    watchGarbage,
)

__all__ = ["DEFAULT_TIMEOUT", "UnhandledErrors", "clock", "deferred_errors"]

# The name of both the ini option and the marker.
_TIMEOUT = "deferred_timeout"
# Markers by which other plugins claim an async test.
_OTHER_FRAMEWORKS = ("asyncio", "anyio", "trio")

_ERRORS = pytest.StashKey[UnhandledErrors]()
_AGING_AT_START = pytest.StashKey[int | None]()
_DEFAULT_TIMEOUT = pytest.StashKey[float]()
_WATCHING = pytest.StashKey[bool]()
_SESSION_CATCHER = pytest.StashKey[_Catcher]()
_OUTSIDE_TESTS = pytest.StashKey[list[tuple[str, Failure]]]()
_WAS_DEBUGGING = pytest.StashKey[bool]()
# The ini option that turns debugging on (--deferred-debug on the command line).
_DEBUG_INI = "deferred_debug"
# The environment variable naming the core a run must be on.
_EXPECT_CORE = "DEFERRED_EXPECT_CORE"


# -- configuration ------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _TIMEOUT,
        "seconds that the Deferred or coroutine of a test may take before the "
        f"test fails (default: {DEFAULT_TIMEOUT:g})",
        default=str(DEFAULT_TIMEOUT),
    )
    parser.addini(
        _DEBUG_INI,
        "turn Deferred debugging on (setDebugging(True)): reports of unhandled "
        "errors and AlreadyCalledError show where each Deferred was created "
        "and first fired",
        type="bool",
        default=False,
    )
    parser.getgroup("deferred").addoption(
        "--deferred-debug",
        action="store_true",
        default=None,
        dest="deferred_debug",
        help="turn Deferred debugging on (as the deferred_debug ini option): "
        "reports show where each Deferred was created and first fired",
    )


def pytest_configure(config: pytest.Config) -> None:
    _checkExpectedCore()
    config.addinivalue_line(
        "markers",
        f"{_TIMEOUT}(seconds): the time this test's Deferred or coroutine may "
        "take before the test fails (from the deferred plugin)",
    )
    try:
        timeout = checkTimeout(config.getini(_TIMEOUT), f"the {_TIMEOUT} ini option")
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    config.stash[_DEFAULT_TIMEOUT] = timeout
    watchGarbage()
    config.stash[_WATCHING] = True
    debug = config.getoption("deferred_debug", None)
    if debug is None:
        debug = config.getini(_DEBUG_INI)
    if debug:
        config.stash[_WAS_DEBUGGING] = getDebugging()
        setDebugging(True)


def pytest_report_header(config: pytest.Config) -> str:
    return _describeCore()


def _describeCore() -> str:
    """One line saying which core the Deferred runs on, and why when it is
    the pure-Python one (as the report header and the benchmark show it)."""
    from .. import _core

    if _core.IMPLEMENTATION == "compiled":
        module = sys.modules.get("deferred._cdeferred")
        where = getattr(module, "__file__", None) or "?"
        return f"deferred: compiled core (deferred._cdeferred, {where})"
    return f"deferred: pure-Python core (why: {_core.reasonForPython})"


def _checkExpectedCore() -> None:
    from .._core import IMPLEMENTATION as active

    expected = os.environ.get(_EXPECT_CORE, "")
    if not expected:
        return
    if expected not in ("compiled", "python"):
        raise pytest.UsageError(
            f"{_EXPECT_CORE} is {expected!r}: it takes compiled or python"
        )
    if active != expected:
        raise pytest.UsageError(
            f"{_EXPECT_CORE} is {expected!r}, but this run is on the other one: "
            f"{_describeCore()}"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_WATCHING, False):
        del config.stash[_WATCHING]
        unwatchGarbage()
    if _WAS_DEBUGGING in config.stash:
        setDebugging(config.stash[_WAS_DEBUGGING])
        del config.stash[_WAS_DEBUGGING]


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
        return checkTimeout(value, what)
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
    session.config.stash[_SESSION_CATCHER] = startCatching()
    # An unhandled error fails its test, whose report shows it: it need not
    # show again among the test's "Captured log" records.
    loggingPlugin = session.config.pluginmanager.get_plugin("logging-plugin")
    handler = getattr(loggingPlugin, "report_handler", None)
    if handler is not None and _notCaught not in handler.filters:
        handler.addFilter(_notCaught)


def pytest_sessionfinish(session: pytest.Session) -> None:
    catcher = session.config.stash.get(_SESSION_CATCHER, None)
    if catcher is None:
        return
    _releaseLastFailure()
    gc.collect()
    # Failed Deferreds still referenced (by a module-level list, say) are
    # reported now: nothing will handle them any more.
    reportLiveFailures("at the end of the test session")
    stopCatching(catcher)
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
        terminalreporter.line(_describeUnhandled(entries, "outside the tests"))
        # And in the last line ("3 passed, 1 unhandled error in a Deferred
        # outside the tests in 0.1s"): a run that fails only for them says so.
        key = (
            "unhandled errors in Deferreds outside the tests"
            if len(entries) > 1
            else "unhandled error in a Deferred outside the tests"
        )
        # As objects with attributes, as other plugins expect of whatever is
        # in stats (hypothesis's reads each entry's __dict__).
        terminalreporter.stats.setdefault(key, []).extend(
            SimpleNamespace(message=message, failure=failure)
            for message, failure in entries
        )
        try:
            from _pytest import terminal

            terminal._color_for_type.setdefault(key, "red")
        except Exception:  # pragma: no cover - pytest's internals moved
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, None]:
    _releaseLastFailure()
    catcher = startCatching()
    item.stash[_ERRORS] = catcher.errors
    item.stash[_AGING_AT_START] = gcAging()
    try:
        yield
    finally:
        stopCatching(catcher)
        del item.stash[_ERRORS]


def _notCaught(record: logging.LogRecord) -> bool:
    """A filter for pytest's "Captured log" handler: leaves out the records
    that the unhandled-error check took (see ``_Catcher``)."""
    return not getattr(record, CAUGHT_ATTRIBUTE, False)


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
    collectAfterTest(item.stash.get(_AGING_AT_START, None))
    _failOnUnhandledErrors(item, "at the teardown of this test")


def _failOnUnhandledErrors(item: pytest.Item, when: str) -> None:
    errors = item.stash.get(_ERRORS, None)
    if errors is None:
        return
    entries = errors._takeAll()
    if entries:
        pytest.fail(_describeUnhandled(entries, when), pytrace=False)


def _describeUnhandled(entries: list[tuple[str, Failure]], when: str) -> str:
    many = len(entries) > 1
    return describe(
        entries,
        "unhandled errors in Deferreds" if many else "unhandled error in a Deferred",
        when,
        "a test that expects them takes them with deferred_errors.flush(ExceptionType)",
    )


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
        started = time.monotonic()
        result = testFunction(*args, **kwargs)
        if type(result) in _DEFERRED_TYPES:
            d = cast("Deferred[object]", result)
            timeout = _timeoutFor(item)
            outcome = _runToCompletion(
                lambda: d,
                timeout,
                "the Deferred returned by the test did not fire",
                " (a plain def test runs before the event loop starts: a test"
                " that needs the loop running should be async def)",
            )
            if isinstance(outcome, Failure):
                raiseFailure(outcome)
            _checkRunTime(started, timeout, "the test and its Deferred")
        elif inspect.iscoroutine(result):
            timeout = _timeoutFor(item)
            _runCoroutine(result, timeout)
            _checkRunTime(started, timeout, "the test's coroutine")
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
        started = time.monotonic()
        _runCoroutine(testFunction(*args, **kwargs), timeout)
        _checkRunTime(started, timeout, "the test's coroutine")

    return runTest


def _checkRunTime(started: float, timeout: float, what: str) -> None:
    """Fail the test if it took longer than ``timeout`` seconds after all.

    The timeout interrupts a test only while it waits (for a Deferred, in
    an ``await``): code that blocks -- ``time.sleep()``, a busy loop, a
    blocking call -- runs on past it, to be failed here once it is done.
    """
    took = time.monotonic() - started
    if took > timeout:
        pytest.fail(
            f"Timeout: {what} took {took:.3g} seconds, longer than the "
            f"{timeout:g} allowed ({_TIMEOUT}); the time ran out while it "
            "blocked without waiting (a blocking call such as time.sleep(), "
            "or a long computation), which no timeout can interrupt",
            pytrace=False,
        )


def _runCoroutine(coro: Coroutine[Any, Any, object], timeout: float) -> None:
    __tracebackhide__ = True
    from .._coroutines import ensureDeferred

    error = _runToCompletion(
        lambda: ensureDeferred(catching(coro)),
        timeout,
        "the test's coroutine did not finish",
    )
    if error is not None:
        raise error


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

    timedOut, result, state = asyncio.run(waitFor(start, timeout))
    if timedOut:
        # Not hidden from tracebacks: pytest then shows just the message.
        pytest.fail(
            timeoutMessage(
                f"{timedOutMessage} within {timeout:g} seconds{hint}", result, state
            ),
            pytrace=False,
        )
    return result
