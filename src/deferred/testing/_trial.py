"""Trial-style test cases: ``SynchronousTestCase`` and ``TestCase``.

Twisted's trial suites port to these by changing one import.  Both are
``unittest.TestCase`` subclasses, so pytest and ``unittest`` run them as
they are, and both bring trial's methods: ``successResultOf``,
``failureResultOf``, ``assertNoResult``, ``assertFailure``,
``flushLoggedErrors``, ``patch``, ``mktemp``, trial's assertion names
(``assertApproximates``, ``assertSubstring``, ``failUnlessEqual`` and the
rest) and ``assertRaises`` returning the exception.  The ``skip`` and
``todo`` attributes (on the method, the class or the module) skip a test or
mark it as expected to fail.

As in trial, a test fails when an error is logged on the ``"deferred"``
logger while it runs (an unhandled error in a Deferred, or ``logError``),
unless the test takes it with :meth:`SynchronousTestCase.flushLoggedErrors`.
The check is the one the pytest plugin makes (see
:mod:`deferred.testing._support`).

In :class:`TestCase`, ``setUp``, the test method, ``tearDown`` and cleanups
may return a Deferred or a coroutine: each is run on one asyncio event loop,
fresh for the test, until it is done, within the test's ``timeout`` (an
attribute of the method, the class or the module: 120 seconds by default).
Plain functions run on that loop too, so ``asyncio.get_running_loop()``,
``AsyncioClock()`` and ``deferToThread`` work in them.
"""

from __future__ import annotations

import inspect
import os
import sys
import unittest
import warnings
from collections.abc import Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, NoReturn

from .._deferred import _DEFERRED_TYPES, Deferred
from .._functions import succeed
from .._raising import raiseFailure
from ..failure import Failure, _qual
from . import _support, assertNoResult, failureResultOf, successResultOf

if TYPE_CHECKING:
    import asyncio

__all__ = ["SynchronousTestCase", "TestCase"]

_MISSING = object()


class _Patch:
    """An attribute replaced for a test (what :meth:`patch` returns); as
    trial's ``MonkeyPatcher``, it can be undone and redone."""

    def __init__(self, obj: object, name: str, value: object) -> None:
        self._obj, self._name, self._value = obj, name, value
        self._saved: object = _MISSING
        self._applied = False

    def patch(self) -> None:
        """Put the new value in place (again)."""
        if not self._applied:
            self._saved = getattr(self._obj, self._name, _MISSING)
            setattr(self._obj, self._name, self._value)
            self._applied = True

    def restore(self) -> None:
        """Put the original value back (removing an attribute that was new)."""
        if self._applied:
            if self._saved is _MISSING:
                delattr(self._obj, self._name)
            else:
                setattr(self._obj, self._name, self._saved)
            self._applied = False


class SynchronousTestCase(unittest.TestCase):
    """A ``unittest.TestCase`` with trial's helpers (see the module docs).

    Nothing runs an event loop: a Deferred returned by a test is not waited
    for (use :class:`TestCase` for that).
    """

    #: Why to skip the tests (on the class, a method, or the module).
    skip: str | None = None
    #: Why the tests are expected to fail, or ``(errors, reason)``.
    todo: object = None

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        self._errors: _support.UnhandledErrors | None = None
        self._warnings: list[warnings.WarningMessage] = []

    # -- running --------------------------------------------------------------

    def run(self, result: unittest.TestResult | None = None) -> Any:
        """Run the test, failing it for errors logged while it runs."""
        reason = self._lookUp("skip")
        if reason is not None:
            self._skipReason = reason
        if self._lookUp("todo") is not None:
            self.__unittest_expecting_failure__ = True
        _support.watchGarbage()
        aging = _support.gcAging()
        catcher = _support.startCatching(everyError=True)
        self._errors = catcher.errors
        # Cleanups run last first: this one runs after all the others.
        self.addCleanup(self._checkLoggedErrors, catcher, aging)
        try:
            # Every warning is collected, as by trial, for flushWarnings();
            # the ones the test leaves are shown once it is over.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self._warnings = caught
                outcome = self._runWithLoop(result)
            for left in caught:
                warnings.warn_explicit(
                    left.message, left.category, left.filename, left.lineno
                )
            return outcome
        finally:
            self._warnings = []
            if catcher in _support._catchers:
                _support.stopCatching(catcher)
            _support.unwatchGarbage()

    def _runWithLoop(self, result: unittest.TestResult | None) -> Any:
        return super().run(result)

    def _lookUp(self, name: str) -> Any:
        # A trial attribute, looked for on the method, the test, the module.
        method = getattr(self, self._testMethodName, None)
        for holder in (method, self, sys.modules.get(type(self).__module__)):
            value = getattr(holder, name, None)
            if value is not None:
                return value
        return None

    def _callSetUp(self) -> None:
        self._skipIfAsked()
        super()._callSetUp()  # type: ignore[misc]

    def _skipIfAsked(self) -> None:
        reason = getattr(self, "_skipReason", None)
        if reason is not None:
            raise unittest.SkipTest(reason)

    def _checkLoggedErrors(self, catcher: _support._Catcher, aging: int | None) -> None:
        # The test's garbage first: a failed Deferred it dropped reports now.
        _support.collectAfterTest(aging)
        _support.stopCatching(catcher)
        entries = catcher.errors._takeAll()
        if entries:
            many = len(entries) > 1
            raise self.failureException(
                _support.describe(
                    entries,
                    "errors logged" if many else "error logged",
                    "during this test",
                    "a test that expects them takes them with "
                    "self.flushLoggedErrors(ExceptionType)",
                )
            )

    # -- trial's helpers --------------------------------------------------------

    def flushLoggedErrors(self, *errorTypes: type[BaseException]) -> list[Failure]:
        """Take out the errors logged so far in this test (only those of
        ``errorTypes``, if given): they no longer make it fail."""
        if self._errors is None:
            return []
        return self._errors.flush(*errorTypes)

    def flushWarnings(
        self, offendingFunctions: list[Callable[..., object]] | None = None
    ) -> list[dict[str, Any]]:
        """Take out the warnings emitted so far in this test, as trial does:
        all of them, or those pointing into one of ``offendingFunctions``
        (their file, and a line within the function).  Each is a dict with
        ``message`` (the text), ``category``, ``filename`` and ``lineno``."""
        if offendingFunctions is None:
            taken = list(self._warnings)
        else:
            spans = [_lineSpan(function) for function in offendingFunctions]
            taken = [
                warning
                for warning in self._warnings
                if any(
                    os.path.normcase(warning.filename) == filename
                    and first <= warning.lineno <= last
                    for filename, first, last in spans
                )
            ]
        for warning in taken:
            self._warnings.remove(warning)
        return [
            {
                "message": str(warning.message),
                "category": warning.category,
                "filename": warning.filename,
                "lineno": warning.lineno,
            }
            for warning in taken
        ]

    def successResultOf(self, deferred: Any) -> Any:
        """The result ``deferred`` has succeeded with (see
        :func:`deferred.testing.successResultOf`)."""
        __tracebackhide__ = True
        return successResultOf(deferred)

    def failureResultOf(
        self, deferred: Any, *expectedExceptionTypes: type[BaseException]
    ) -> Failure:
        """The failure ``deferred`` has failed with (see
        :func:`deferred.testing.failureResultOf`)."""
        __tracebackhide__ = True
        return failureResultOf(deferred, *expectedExceptionTypes)

    def assertNoResult(self, deferred: Any) -> None:
        """Assert that ``deferred`` has no result yet (see
        :func:`deferred.testing.assertNoResult`)."""
        __tracebackhide__ = True
        assertNoResult(deferred)

    def assertFailure(
        self, deferred: Deferred[Any], *expectedFailures: type[BaseException]
    ) -> Deferred[Any]:
        """Add to ``deferred`` a check that it fails with one of
        ``expectedFailures``; return it.

        It then fires with the exception, or fails with ``failureException``
        if it succeeds or fails with something else.
        """

        def succeeded(result: object) -> NoReturn:
            raise self.failureException(
                f"did not catch an error, instead got {result!r}"
            )

        def failed(failure: Failure) -> BaseException:
            if failure.check(*expectedFailures):
                return failure.value
            wanted = ", ".join(_qual(t) for t in expectedFailures)
            raise self.failureException(
                f"\nExpected: {wanted}\nGot:\n{failure.getTraceback()}"
            )

        return deferred.addCallbacks(succeeded, failed)

    failUnlessFailure = assertFailure

    def patch(self, obj: object, attribute: str, value: object) -> _Patch:
        """Set ``obj.attribute`` to ``value`` until the test is over."""
        patched = _Patch(obj, attribute, value)
        patched.patch()
        self.addCleanup(patched.restore)
        return patched

    def mktemp(self) -> str:
        """A new path, unique to this call, whose parent directory exists
        (and is removed after the test) and which does not exist yet."""
        import shutil
        import tempfile

        parent = tempfile.mkdtemp(prefix=f"{self._testMethodName[:32]}-")
        self.addCleanup(shutil.rmtree, parent, ignore_errors=True)
        return os.path.join(parent, "temp")

    # -- trial's assertions -----------------------------------------------------

    def assertRaises(  # type: ignore[override]
        self,
        exception: type[BaseException] | tuple[type[BaseException], ...],
        f: Callable[..., object] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """As unittest's, but called with a function it returns the exception
        raised (as trial's does)."""
        if f is None:
            return super().assertRaises(exception, **kwargs)
        try:
            result = f(*args, **kwargs)
        except exception as e:
            return e
        except BaseException as e:
            raise self.failureException(
                f"{exception!r} not raised ({e!r} raised instead)"
            ) from e
        raise self.failureException(f"{exception!r} not raised ({result!r} returned)")

    failUnlessRaises = assertRaises  # type: ignore[assignment]

    def assertWarns(self, category: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """unittest's, or trial's ``assertWarns(category, message, filename,
        f, *args, **kwargs)``: ``f`` must emit exactly that warning (from
        ``filename``); returns what ``f`` returns."""
        if len(args) >= 3 and isinstance(args[0], str) and callable(args[2]):
            message, filename, f, *rest = args
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = f(*rest, **kwargs)
            if not caught:
                self.fail("No warnings emitted")
            first = caught[0]
            for other in caught[1:]:
                if (str(other.message), other.category) != (
                    str(first.message),
                    first.category,
                ):
                    self.fail("Can't handle different warnings")
            self.assertEqual(str(first.message), message)
            self.assertIs(first.category, category)
            self.assertTrue(
                filename.startswith(first.filename),
                f"Warning in {first.filename!r}, expected {filename!r}",
            )
            return result
        return super().assertWarns(category, *args, **kwargs)

    failUnlessWarns = assertWarns

    def assertApproximates(
        self, first: Any, second: Any, tolerance: Any, msg: str | None = None
    ) -> Any:
        """Fail unless ``first`` and ``second`` differ by at most ``tolerance``."""
        if abs(first - second) > tolerance:
            raise self.failureException(msg or f"{first!r} ~== {second!r}")
        return first

    def assertSubstring(
        self, substring: Any, astring: Any, msg: str | None = None
    ) -> None:
        """Fail unless ``substring`` is in ``astring``."""
        self.assertIn(substring, astring, msg)

    def assertNotSubstring(
        self, substring: Any, astring: Any, msg: str | None = None
    ) -> None:
        """Fail if ``substring`` is in ``astring``."""
        self.assertNotIn(substring, astring, msg)

    # trial's older names.
    assertNot = failIf = failUnlessFalse = unittest.TestCase.assertFalse
    assert_ = failUnless = failUnlessTrue = unittest.TestCase.assertTrue
    assertEquals = failUnlessEqual = failUnlessEquals = unittest.TestCase.assertEqual
    assertNotEquals = failIfEqual = failIfEquals = unittest.TestCase.assertNotEqual
    assertIdentical = failUnlessIdentical = unittest.TestCase.assertIs
    assertNotIdentical = failIfIdentical = unittest.TestCase.assertIsNot
    failUnlessIn = unittest.TestCase.assertIn
    failIfIn = unittest.TestCase.assertNotIn
    assertAlmostEquals = failUnlessAlmostEqual = unittest.TestCase.assertAlmostEqual
    assertNotAlmostEquals = failIfAlmostEqual = failIfAlmostEquals = (
        unittest.TestCase.assertNotAlmostEqual
    )
    failUnlessApproximates = assertApproximates
    failUnlessSubstring = assertSubstring
    failIfSubstring = assertNotSubstring
    failUnlessIsInstance = unittest.TestCase.assertIsInstance
    failIfIsInstance = unittest.TestCase.assertNotIsInstance


class TestCase(SynchronousTestCase):
    """A :class:`SynchronousTestCase` whose ``setUp``, test methods,
    ``tearDown`` and cleanups may return Deferreds or coroutines, run on an
    asyncio event loop made for the test (see the module docs)."""

    #: Seconds the test's Deferreds or coroutines may take (overridable on
    #: a method, the class or the module).
    timeout: float = _support.DEFAULT_TIMEOUT

    _loop: asyncio.AbstractEventLoop | None = None

    def getTimeout(self) -> float:
        """The timeout of this test, in seconds."""
        value = self._lookUp("timeout")
        if value is None:
            return _support.DEFAULT_TIMEOUT
        return _support.checkTimeout(value, "the timeout attribute")

    def _runWithLoop(self, result: unittest.TestResult | None) -> Any:
        import asyncio

        loop = self._loop = asyncio.new_event_loop()
        try:
            return super()._runWithLoop(result)
        finally:
            self._loop = None
            try:
                # As asyncio.run does: what the test left running is ended.
                _cancelAll(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    def _callSetUp(self) -> None:
        self._skipIfAsked()
        self._drive(self.setUp, (), {}, "setUp")

    def _callTestMethod(self, method: Callable[[], object]) -> None:
        self._drive(method, (), {}, self._testMethodName)

    def _callTearDown(self) -> None:
        self._drive(self.tearDown, (), {}, "tearDown")

    def _callCleanup(
        self, function: Callable[..., object], *args: Any, **kwargs: Any
    ) -> None:
        if (
            getattr(function, "__func__", None)
            is SynchronousTestCase._checkLoggedErrors
        ):
            function(*args, **kwargs)  # after the loop has had its last turn
            return
        self._drive(function, args, kwargs, "a cleanup")

    def _drive(
        self,
        function: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        what: str,
    ) -> None:
        """Call ``function`` on the test's loop; if it returns a Deferred or
        a coroutine, run the loop until that is done or the test times out."""
        __tracebackhide__ = True
        loop = self._loop
        if loop is None:  # called outside run(): nothing to drive
            function(*args, **kwargs)
            return
        timeout = self.getTimeout()
        ranCoroutine = False

        def start() -> Deferred[Any]:
            from .._coroutines import ensureDeferred

            nonlocal ranCoroutine
            result = function(*args, **kwargs)
            if type(result) in _DEFERRED_TYPES:
                return result  # type: ignore[return-value]
            if type(result) is CoroutineType or inspect.iscoroutine(result):
                ranCoroutine = True
                return ensureDeferred(_support.catching(result))
            return succeed(None)

        timedOut, outcome, state = loop.run_until_complete(
            _support.waitFor(start, timeout)
        )
        if timedOut:
            # (A Failure is an exception too: test for it first.)
            if isinstance(outcome, Failure) or outcome is None:
                kind, outcome = "Deferred", None  # the cancellation says nothing
            else:
                kind = "coroutine"
            raise self.failureException(
                _support.timeoutMessage(
                    f"the {kind} of {what} did not finish within {timeout:g} seconds",
                    outcome,
                    state,
                )
            )
        if isinstance(outcome, Failure):
            raiseFailure(outcome)
        if ranCoroutine and isinstance(outcome, BaseException):
            # What the coroutine raised.  (A Deferred's result may be an
            # exception too -- assertFailure() gives one -- and is no error.)
            raise outcome


def _lineSpan(function: Callable[..., object]) -> tuple[str, int, int]:
    """The file of ``function`` and the first and last lines of its code."""
    import dis
    import types

    if not isinstance(function, (types.FunctionType, types.MethodType)):
        raise ValueError(f"{function!r} is not a function or method")
    code = function.__code__
    module = sys.modules.get(function.__module__)
    try:
        filename = inspect.getabsfile(module or function)
    except TypeError:
        filename = code.co_filename
    lines = [line for _, line in dis.findlinestarts(code) if line is not None]
    return (
        os.path.normcase(filename),
        min(lines, default=code.co_firstlineno),
        max(lines, default=code.co_firstlineno),
    )


def _cancelAll(loop: asyncio.AbstractEventLoop) -> None:
    import asyncio

    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
