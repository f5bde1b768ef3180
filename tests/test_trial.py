"""Tests for the trial-style TestCase and SynchronousTestCase of
deferred.testing, run by unittest inside these tests (and once by pytest)."""

from __future__ import annotations

import asyncio
import os
import threading
import unittest
import warnings
from typing import Any

import pytest

from deferred import Deferred, fail, logError, succeed
from deferred.clock import AsyncioClock
from deferred.failure import Failure
from deferred.task import deferLater
from deferred.testing import SynchronousTestCase, TestCase
from deferred.threads import deferToThread

pytest_plugins = ["pytester"]


def run(case: type[unittest.TestCase], name: str = "test") -> unittest.TestResult:
    result = unittest.TestResult()
    case(name).run(result)
    return result


def outcomeOf(result: unittest.TestResult) -> str:
    if result.errors or result.failures:
        return "failed: " + "\n".join(
            text for _, text in result.errors + result.failures
        )
    if result.skipped:
        return "skipped: " + result.skipped[0][1]
    if result.expectedFailures:
        return "expected failure"
    if result.unexpectedSuccesses:
        return "unexpected success"
    return "passed"


def test_both_are_unittest_test_cases() -> None:
    assert issubclass(SynchronousTestCase, unittest.TestCase)
    assert issubclass(TestCase, SynchronousTestCase)


# -- TestCase runs Deferreds and coroutines ------------------------------------------


def test_a_test_returning_a_Deferred_runs_until_it_fires() -> None:
    seen: list[str] = []

    class Case(TestCase):
        def test(self) -> Deferred[None]:
            d = deferLater(AsyncioClock(), 0.001, seen.append, "fired")
            return d

    assert outcomeOf(run(Case)) == "passed"
    assert seen == ["fired"]


def test_a_coroutine_test_runs_on_the_loop() -> None:
    class Case(TestCase):
        async def test(self) -> None:
            await asyncio.sleep(0)
            self.assertEqual(await deferToThread(lambda: 6 * 7), 42)

    assert outcomeOf(run(Case)) == "passed"


def test_setUp_tearDown_and_cleanups_may_return_Deferreds() -> None:
    order: list[str] = []

    class Case(TestCase):
        def setUp(self) -> Deferred[None]:
            self.addCleanup(self.cleanup)
            return deferLater(AsyncioClock(), 0, order.append, "setUp")

        async def tearDown(self) -> None:  # type: ignore[override]
            await asyncio.sleep(0)
            order.append("tearDown")

        def cleanup(self) -> Deferred[None]:
            return deferLater(AsyncioClock(), 0, order.append, "cleanup")

        def test(self) -> None:
            order.append("test")

    assert outcomeOf(run(Case)) == "passed"
    assert order == ["setUp", "test", "tearDown", "cleanup"]


def test_setUp_test_and_tearDown_share_one_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    class Case(TestCase):
        def setUp(self) -> None:
            loops.append(asyncio.get_running_loop())

        async def test(self) -> None:
            loops.append(asyncio.get_running_loop())

        def tearDown(self) -> None:
            loops.append(asyncio.get_running_loop())

    assert outcomeOf(run(Case)) == "passed"
    assert len(set(map(id, loops))) == 1
    assert loops[0].is_closed()


def test_each_test_gets_a_fresh_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    class Case(TestCase):
        def test(self) -> None:
            loops.append(asyncio.get_running_loop())

    run(Case)
    run(Case)
    assert loops[0] is not loops[1]


def test_a_failing_Deferred_fails_the_test_with_its_exception() -> None:
    class Case(TestCase):
        def test(self) -> Deferred[None]:
            return deferLater(AsyncioClock(), 0, lambda: 1 / 0)

    result = run(Case)
    assert len(result.errors) == 1
    assert "ZeroDivisionError" in result.errors[0][1]


def test_a_coroutine_raising_an_assertion_is_a_failure() -> None:
    class Case(TestCase):
        async def test(self) -> None:
            await asyncio.sleep(0)
            self.assertEqual(1, 2)

    result = run(Case)
    assert len(result.failures) == 1
    assert "1 != 2" in result.failures[0][1]


def test_a_test_that_never_fires_times_out_saying_where_it_waits() -> None:
    class Case(TestCase):
        timeout = 0.05

        def test(self) -> Deferred[None]:
            return Deferred()

        async def test_coroutine(self) -> None:
            await asyncio.sleep(10)

    result = run(Case)
    assert len(result.failures) == 1
    assert "Timeout: the Deferred of test did not finish within 0.05" in outcomeOf(
        result
    )
    assert "<Deferred" in outcomeOf(result)
    text = outcomeOf(run(Case, "test_coroutine"))
    assert "Timeout: the coroutine of test_coroutine did not finish" in text
    assert "Where it was waiting" in text and "asyncio.sleep(10)" in text


def test_the_timeout_may_be_set_on_the_method() -> None:
    class Case(TestCase):
        def test(self) -> Deferred[None]:
            return Deferred()

        test.timeout = 0.01  # type: ignore[attr-defined]

    assert "within 0.01 seconds" in outcomeOf(run(Case))
    assert Case("test").getTimeout() == 0.01


def test_the_default_timeout_is_120_seconds() -> None:
    class Case(TestCase):
        def test(self) -> None:
            pass

    assert Case("test").getTimeout() == 120.0


def test_tasks_left_running_are_cancelled_at_the_end() -> None:
    cancelled: list[bool] = []

    class Case(TestCase):
        async def test(self) -> None:
            async def forever() -> None:
                try:
                    await asyncio.sleep(100)
                except asyncio.CancelledError:
                    cancelled.append(True)
                    raise

            asyncio.get_running_loop().create_task(forever())
            await asyncio.sleep(0)

    assert outcomeOf(run(Case)) == "passed"
    assert cancelled == [True]


# -- logged and unhandled errors ------------------------------------------------------


def test_an_unhandled_error_fails_the_test() -> None:
    class Case(SynchronousTestCase):
        def test(self) -> None:
            fail(KeyError("dropped"))

    text = outcomeOf(run(Case))
    assert "1 error logged during this test" in text
    assert "KeyError" in text and "flushLoggedErrors" in text


def test_a_logged_error_fails_the_test() -> None:
    class Case(TestCase):
        def test(self) -> None:
            try:
                raise OSError("logged")
            except OSError:
                logError(Failure())

    assert "OSError: logged" in outcomeOf(run(Case))


def test_flushLoggedErrors_takes_the_expected_errors() -> None:
    flushed: list[list[Failure]] = []

    class Case(TestCase):
        async def test(self) -> None:
            fail(KeyError("expected"))
            fail(ValueError("also expected"))
            flushed.append(self.flushLoggedErrors(KeyError))
            flushed.append(self.flushLoggedErrors())

    assert outcomeOf(run(Case)) == "passed"
    assert [[f.type for f in fs] for fs in flushed] == [[KeyError], [ValueError]]


def test_an_error_in_garbage_is_found_at_the_end_of_the_test() -> None:
    class Case(SynchronousTestCase):
        def test(self) -> None:
            d: Deferred[None] = Deferred()
            d.errback(KeyError("in a cycle"))
            d.cycle = d  # type: ignore[attr-defined]

    assert "KeyError" in outcomeOf(run(Case))


# -- trial's helpers ---------------------------------------------------------------


def test_result_helpers() -> None:
    class Case(SynchronousTestCase):
        def test(self) -> None:
            self.assertEqual(self.successResultOf(succeed(3)), 3)
            self.assertIsInstance(
                self.failureResultOf(fail(KeyError()), KeyError), Failure
            )
            self.assertNoResult(Deferred())
            with self.assertRaises(AssertionError):
                self.assertNoResult(succeed(1))

    assert outcomeOf(run(Case)) == "passed"


def test_assertFailure_gives_the_exception_or_fails() -> None:
    got: list[object] = []

    class Case(TestCase):
        def test(self) -> Deferred[Any]:
            d = self.assertFailure(fail(KeyError("k")), ValueError, KeyError)
            return d.addCallback(got.append)

        def test_success(self) -> Deferred[Any]:
            return self.assertFailure(succeed("value"), KeyError)

        def test_other(self) -> Deferred[Any]:
            return self.failUnlessFailure(fail(OSError("other")), KeyError)

    assert outcomeOf(run(Case)) == "passed"
    assert isinstance(got[0], KeyError)
    assert "did not catch an error, instead got 'value'" in outcomeOf(
        run(Case, "test_success")
    )
    text = outcomeOf(run(Case, "test_other"))
    assert "Expected: builtins.KeyError" in text and "OSError" in text


def test_patch_replaces_an_attribute_for_the_test() -> None:
    class Holder:
        value = "original"

    seen: list[str] = []

    class Case(SynchronousTestCase):
        def test(self) -> None:
            patcher = self.patch(Holder, "value", "patched")
            self.patch(Holder, "new", 1)
            seen.append(Holder.value)
            patcher.restore()
            seen.append(Holder.value)
            patcher.patch()
            seen.append(Holder.value)

    assert outcomeOf(run(Case)) == "passed"
    assert seen == ["patched", "original", "patched"]
    assert Holder.value == "original"
    assert not hasattr(Holder, "new")


def test_mktemp_gives_a_new_path_whose_parent_exists() -> None:
    paths: list[str] = []

    class Case(SynchronousTestCase):
        def test(self) -> None:
            first, second = self.mktemp(), self.mktemp()
            self.assertNotEqual(first, second)
            for path in (first, second):
                self.assertFalse(os.path.exists(path))
                self.assertTrue(os.path.isdir(os.path.dirname(path)))
            with open(first, "w") as f:
                f.write("x")
            paths.append(first)

    assert outcomeOf(run(Case)) == "passed"
    assert not os.path.exists(os.path.dirname(paths[0]))


def test_assertRaises_with_a_function_returns_the_exception() -> None:
    class Case(SynchronousTestCase):
        def test(self) -> None:
            e = self.assertRaises(KeyError, {}.__getitem__, "k")
            self.assertEqual(e.args, ("k",))
            self.assertIs(self.assertRaises(ValueError, int, "x").__class__, ValueError)
            with self.assertRaises(ZeroDivisionError):
                1 / 0  # noqa: B018

        def test_not_raised(self) -> None:
            self.assertRaises(KeyError, lambda: "fine")

        def test_other_raised(self) -> None:
            self.assertRaises(KeyError, lambda: 1 / 0)

    assert outcomeOf(run(Case)) == "passed"
    assert "not raised ('fine' returned)" in outcomeOf(run(Case, "test_not_raised"))
    assert "ZeroDivisionError" in outcomeOf(run(Case, "test_other_raised"))


def test_trials_assertion_names() -> None:
    class Case(SynchronousTestCase):
        def test(self) -> None:
            self.assertEqual(1, 1)
            self.assertEqual(1, 1)
            self.assertNotEqual(1, 2)
            self.assertNotEqual(1, 2)
            self.assertTrue(True)
            self.assertTrue(True)
            self.assertFalse(False)
            self.assertNot(False)
            self.assertIdentical(None, None)
            self.assertNotIdentical(1, None)
            self.failUnlessIn(1, [1])
            self.failIfIn(2, [1])
            self.assertApproximates(1.0, 1.05, 0.1)
            self.failUnlessApproximates(1.0, 1.05, 0.1)
            self.assertSubstring("b", "abc")
            self.failUnlessSubstring("b", "abc")
            self.assertNotSubstring("z", "abc")
            self.failIfSubstring("z", "abc")
            self.failUnlessIsInstance(1, int)
            self.failIfIsInstance(1, str)
            self.assertAlmostEqual(1.0, 1.0)
            self.assertNotAlmostEqual(1.0, 2.0)

        def test_approximates_fails(self) -> None:
            self.assertApproximates(1.0, 2.0, 0.1)

    assert outcomeOf(run(Case)) == "passed"
    assert "1.0 ~== 2.0" in outcomeOf(run(Case, "test_approximates_fails"))


def _warns() -> int:
    warnings.warn("old thing", DeprecationWarning, stacklevel=1)
    return 5


def test_assertWarns_in_trials_form_and_unittests() -> None:
    class Case(SynchronousTestCase):
        def test(self) -> None:
            result = self.assertWarns(DeprecationWarning, "old thing", __file__, _warns)
            self.assertEqual(result, 5)
            with self.assertWarns(DeprecationWarning):
                _warns()

        def test_wrong_message(self) -> None:
            self.assertWarns(DeprecationWarning, "new thing", __file__, _warns)

    assert outcomeOf(run(Case)) == "passed"
    assert "old thing" in outcomeOf(run(Case, "test_wrong_message"))


def test_skip_attribute_on_the_class_or_method() -> None:
    ran: list[str] = []

    class Skipped(TestCase):
        skip = "not today"

        def setUp(self) -> None:
            ran.append("setUp")

        def test(self) -> None:
            ran.append("test")

    class MethodSkipped(SynchronousTestCase):
        def test(self) -> None:
            ran.append("test")

        test.skip = "this one"  # type: ignore[attr-defined]

    assert outcomeOf(run(Skipped)) == "skipped: not today"
    assert outcomeOf(run(MethodSkipped)) == "skipped: this one"
    assert ran == []


def test_todo_attribute_marks_an_expected_failure() -> None:
    class Case(TestCase):
        todo = "known bug"

        def test(self) -> None:
            self.fail("broken")

        def test_fixed(self) -> None:
            pass

    assert outcomeOf(run(Case)) == "expected failure"
    assert outcomeOf(run(Case, "test_fixed")) == "unexpected success"


def test_a_synchronous_test_case_runs_no_loop() -> None:
    class Case(SynchronousTestCase):
        def test(self) -> None:
            with self.assertRaises(RuntimeError):
                asyncio.get_running_loop()

    assert outcomeOf(run(Case)) == "passed"


def test_blocking_code_in_a_thread_from_a_test() -> None:
    threads: list[int] = []

    class Case(TestCase):
        def test(self) -> Deferred[None]:
            return deferToThread(lambda: threads.append(threading.get_ident()))

    assert outcomeOf(run(Case)) == "passed"
    assert threads and threads[0] != threading.get_ident()


# -- under pytest ------------------------------------------------------------------


def test_pytest_runs_the_test_cases(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        from deferred import Deferred, fail
        from deferred.task import deferLater
        from deferred.clock import AsyncioClock
        from deferred.testing import TestCase

        class Tests(TestCase):
            def test_deferred(self):
                return deferLater(AsyncioClock(), 0, lambda: None)

            async def test_coroutine(self):
                await asyncio.sleep(0)

            def test_fails(self):
                return fail(KeyError("k"))

            def test_logged(self):
                fail(ValueError("dropped"))

            def test_skipped(self):
                pass
            test_skipped.skip = "why"

            def test_todo(self):
                self.fail("no")
            test_todo.todo = "known"
        """
    )
    # (The installed package's plugin loads by itself.)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2, skipped=1, xfailed=1)


def test_returning_assertFailure_passes() -> None:
    from deferred import fail
    from deferred.testing import TestCase

    class Case(TestCase):
        def test_it(self) -> Any:
            return self.assertFailure(fail(ValueError("expected")), ValueError)

    result = unittest.TestResult()
    Case("test_it").run(result)
    assert result.wasSuccessful(), result.errors + result.failures


def test_flushWarnings_takes_the_warnings_of_the_test() -> None:
    import warnings as warningsModule

    from deferred.testing import SynchronousTestCase

    seen: list[Any] = []

    def warnsHere() -> None:
        warningsModule.warn("old API", DeprecationWarning, stacklevel=1)

    class Case(SynchronousTestCase):
        def test_it(self) -> None:
            warnsHere()
            warningsModule.warn("elsewhere", UserWarning, stacklevel=1)
            seen.append(self.flushWarnings([warnsHere]))
            seen.append(self.flushWarnings())
            seen.append(self.flushWarnings())

    result = unittest.TestResult()
    Case("test_it").run(result)
    assert result.wasSuccessful(), result.errors + result.failures
    [[mine], [other], []] = seen
    assert mine["message"] == "old API"
    assert mine["category"] is DeprecationWarning
    assert other["message"] == "elsewhere"
