"""Tests for deferred's pytest plugin (deferred.testing.plugin), run through
pytester on small test files of their own."""

from __future__ import annotations

# Imported before pytester snapshots sys.modules, so that the runs below share
# these modules instead of importing fresh copies that are dropped afterwards.
import asyncio  # noqa: F401
import importlib.metadata
import os

import pytest

import deferred.testing.plugin
from deferred.testing.plugin import UnhandledErrors

pytest_plugins = ["pytester"]

# Runs load pytest's own plugins and this one only (by module name, since the
# package may not be installed): fast, and whatever else is installed stays out.
PLUGIN = (
    "-p",
    "deferred.testing.plugin",
    # The module is imported already (above), so pytest cannot rewrite it.
    "-W",
    "ignore::pytest.PytestAssertRewriteWarning",
)


@pytest.fixture(autouse=True)
def noAutoloadedPlugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


EXPLODE = """
from deferred import Deferred, succeed

def explode(_):
    raise ZeroDivisionError("boom")

"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=EXPLODE + source)
    return pytester.runpytest_inprocess(*PLUGIN, *args)


def reported(result: pytest.RunResult) -> int:
    """How many failed tests and errors the run reported."""
    outcomes = result.parseoutcomes()
    return outcomes.get("failed", 0) + outcomes.get("errors", 0)


# --- the clock fixture --------------------------------------------------------


def test_clock_fixture_is_a_fresh_manual_clock(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
from deferred.clock import Clock

def test_first(clock):
    assert isinstance(clock, Clock)
    calls = []
    clock.callLater(2, calls.append, "x")
    clock.advance(2)
    assert calls == ["x"]

def test_second(clock):
    assert clock.seconds() == 0
    assert clock.getDelayedCalls() == []
""",
    )
    result.assert_outcomes(passed=2)


# --- unhandled errors ---------------------------------------------------------


def test_unhandled_error_fails_the_test_with_its_traceback(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
def test_drops_a_failed_deferred():
    succeed(None).addCallback(explode)
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*1 unhandled error in a Deferred during this test*",
            "Unhandled error in Deferred:",
            "*in explode",
            "*ZeroDivisionError: boom",
        ]
    )


def test_unhandled_errors_are_all_reported(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
def test_drops_two():
    succeed(None).addCallback(explode)
    Deferred().errback(KeyError("second"))
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*2 unhandled errors in Deferreds*", "*ZeroDivisionError*", "*KeyError*"]
    )


def test_unhandled_error_in_fixture_teardown_errors_the_test(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
import pytest

@pytest.fixture
def leaky():
    yield
    succeed(None).addCallback(explode)

def test_uses_leaky(leaky):
    pass
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unhandled error in a Deferred at the teardown*"])


def test_unhandled_error_in_a_reference_cycle_is_found(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
class Holder:
    pass

def test_leaves_a_cycle():
    holder = Holder()
    holder.me = holder
    holder.d = succeed(None).addCallback(explode)
""",
    )
    assert reported(result) == 1
    result.stdout.fnmatch_lines(["*ZeroDivisionError: boom"])


def test_unhandled_error_in_an_aged_reference_cycle_is_found(
    pytester: pytest.Pytester,
) -> None:
    # A full collection during the test moves the cycle to the oldest
    # generation, where only a full collection at teardown finds it.
    result = run(
        pytester,
        """
import gc

class Holder:
    pass

def test_leaves_an_old_cycle():
    holder = Holder()
    holder.me = holder
    holder.d = succeed(None).addCallback(explode)
    gc.collect()
""",
    )
    assert reported(result) == 1
    result.stdout.no_fnmatch_line("*outside the tests*")


def test_unhandled_error_outside_the_tests_fails_the_run(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
succeed(None).addCallback(explode)  # while the module is collected

def test_fine():
    pass
""",
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*unhandled errors in Deferreds*",
            "*1 unhandled error in a Deferred outside the tests*",
            "*ZeroDivisionError: boom",
        ]
    )


def test_failed_deferred_kept_by_a_module_level_list_fails_the_run(
    pytester: pytest.Pytester,
) -> None:
    # Never garbage: reported at the end of the session, not lost at exit.
    result = run(
        pytester,
        """
KEPT = [succeed(None).addCallback(explode)]

def test_fine():
    pass
""",
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*1 unhandled error in a Deferred outside the tests*",
            "*still referenced at the end of the test session*",
            "*ZeroDivisionError: boom",
        ]
    )


def test_run_failing_only_outside_the_tests_says_so_in_its_last_line(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
succeed(None).addCallback(explode)  # while the module is collected

def test_fine():
    pass
""",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lastLine = result.stdout.lines[-1]
    assert "1 passed, 1 unhandled error in a Deferred outside the tests" in lastLine


def test_unhandled_error_is_shown_once_not_again_as_captured_log(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
def test_drops_a_failed_deferred():
    succeed(None).addCallback(explode)
""",
    )
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    # The test's report, before the closing summary (which newer pytest
    # versions fill with the whole failure message again).
    report = output.split("short test summary info")[0]
    assert report.count("ZeroDivisionError: boom") == 1, output
    assert "Captured log" not in output


def test_other_error_logs_still_show_as_captured_log(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
import logging

def test_logs_and_fails():
    logging.getLogger("app").error("something else")
    assert False
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Captured log call*", "*something else*"])


@pytest.mark.parametrize("how", ["option", "ini"])
def test_deferred_debugging_can_be_turned_on(
    pytester: pytest.Pytester, how: str
) -> None:
    args: tuple[str, ...] = ("--deferred-debug",)
    if how == "ini":
        pytester.makeini("[pytest]\ndeferred_debug = true\n")
        args = ("--strict-config",)
    result = run(
        pytester,
        """
from deferred import getDebugging

def makeIt():
    return Deferred()

def test_debugging_is_on():
    assert getDebugging()
    d = makeIt()
    d.addCallback(explode)
    d.callback(None)
""",
        *args,
    )
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert " C: Deferred was created:" in output
    assert "in makeIt" in output
    # The user's frames only: no pytest, pluggy or deferred internals.
    stacks = [line for line in output.splitlines() if line.startswith((" C:", " I:"))]
    assert not [line for line in stacks if "pluggy" in line or "_pytest" in line]
    assert not [line for line in stacks if os.sep + "deferred" + os.sep in line]
    assert not deferred.getDebugging()  # restored after the run


def test_deferred_debugging_is_off_by_default(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
from deferred import getDebugging

def test_debugging_is_off():
    assert not getDebugging()
""",
    )
    result.assert_outcomes(passed=1)


def test_docs_say_how_to_turn_the_plugin_off() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "testing.md"), encoding="utf-8") as f:
        text = f.read()
    assert "-p no:deferred" in text
    assert "--deferred-debug" in text


def test_error_held_by_a_failed_test_does_not_fail_a_later_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest keeps the failed test's traceback, and so its frame and the failed
    # Deferred in it, until the next test: the later test's full garbage
    # collection must not find that Deferred and blame the later test.
    # In a subprocess: in process, pytester's hook recorder keeps the
    # traceback alive too.
    source = os.path.dirname(os.path.dirname(deferred.__file__))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])
    )
    pytester.makepyfile(
        test_inner=EXPLODE
        + """
import gc

def test_fails_holding_a_failed_deferred():
    kept = succeed(None).addCallback(explode)
    assert kept is None

def test_collects_garbage():
    gc.collect()
"""
    )
    result = pytester.runpytest_subprocess(*PLUGIN)
    result.assert_outcomes(failed=1, passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*1 unhandled error in a Deferred outside the tests*", "*in explode"]
    )


def test_flushed_expected_error_passes(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
def test_takes_its_error(deferred_errors):
    succeed(None).addCallback(explode)
    [failure] = deferred_errors.flush(ZeroDivisionError)
    assert failure.getErrorMessage() == "boom"
""",
    )
    result.assert_outcomes(passed=1)


def test_flush_of_another_type_leaves_the_error(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
def test_takes_another_type(deferred_errors):
    succeed(None).addCallback(explode)
    assert deferred_errors.flush(KeyError) == []
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ZeroDivisionError: boom"])


def test_flush_without_types_takes_all_after_collecting_garbage(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
class Holder:
    pass

def test_takes_all(deferred_errors):
    holder = Holder()
    holder.me = holder
    holder.d = succeed(None).addCallback(explode)
    del holder
    Deferred().errback(KeyError("second"))
    names = sorted(f.type.__name__ for f in deferred_errors.flush())
    assert names == ["KeyError", "ZeroDivisionError"]
""",
    )
    result.assert_outcomes(passed=1)


def test_flush_refuses_what_is_not_an_exception_class() -> None:
    with pytest.raises(TypeError, match="exception classes"):
        UnhandledErrors().flush("ZeroDivisionError")  # type: ignore[arg-type]


# --- tests that return a Deferred ---------------------------------------------


def test_test_returning_a_fired_deferred_passes(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
def test_returns_a_result():
    return succeed(3)
""",
    )
    result.assert_outcomes(passed=1, warnings=0)


def test_test_returning_a_failed_deferred_shows_its_traceback(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
def test_returns_a_failure():
    return succeed(None).addCallback(explode)
""",
    )
    result.assert_outcomes(failed=1)
    # The line that raised, as for any exception (rebuilt from the text
    # traceback the Deferred kept).
    result.stdout.fnmatch_lines(
        [
            "*def explode(_):",
            '>*raise ZeroDivisionError("boom")',
            "E*ZeroDivisionError: boom",
            "test_inner.py:4: ZeroDivisionError",
        ]
    )


def test_test_returning_a_deferred_that_never_fires_times_out(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
import pytest

@pytest.mark.deferred_timeout(0.05)
def test_never_fires():
    return Deferred()

def test_runs_afterwards():
    pass
""",
        "--strict-markers",
    )
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*Timeout: the Deferred returned by the test did not fire within "
            "0.05 seconds*async def*"
        ]
    )


def test_test_returning_a_coroutine_runs_it(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import asyncio

async def work():
    await asyncio.sleep(0)
    return await succeed(1)

def test_returns_a_coroutine():
    return work()
""",
    )
    result.assert_outcomes(passed=1, warnings=0)


# --- async def tests ----------------------------------------------------------


def test_async_test_awaiting_deferreds_passes(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import asyncio
from deferred.clock import AsyncioClock

async def test_awaits():
    assert await succeed(1) == 1
    later = Deferred()
    AsyncioClock().callLater(0.01, later.callback, "later")
    assert await later == "later"
    await asyncio.sleep(0)
""",
    )
    result.assert_outcomes(passed=1)


def test_async_test_failure_shows_the_test_line(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
async def test_compares():
    value = await succeed(1)
    assert value == 2
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([">       assert value == 2", "E       assert 1 == 2"])


def test_async_test_awaiting_a_failure_reports_it(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
async def test_awaits_a_failure():
    await succeed(None).addCallback(explode)
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [">       await succeed(None).addCallback(explode)", "*ZeroDivisionError: boom"]
    )


def test_async_test_times_out_per_ini_option_showing_where_it_waited(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\ndeferred_timeout = 0.05\n")
    result = run(
        pytester,
        """
async def test_waits_forever():
    await Deferred()
""",
        "--strict-config",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Timeout: the test's coroutine did not finish within 0.05 seconds. "
            "Where it was waiting:",
            "*in test_waits_forever",
            "*await Deferred()",
        ]
    )


def test_timed_out_test_has_its_deferred_cancelled(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import pytest

cancelled = []

@pytest.mark.deferred_timeout(seconds=0.05)
async def test_waits():
    await Deferred(lambda d: cancelled.append(d))

def test_it_was_cancelled():
    assert len(cancelled) == 1
""",
    )
    result.assert_outcomes(failed=1, passed=1)


def test_test_blocking_past_its_timeout_fails(pytester: pytest.Pytester) -> None:
    # The timeout cannot interrupt code that blocks: such a test fails once
    # it is done.  A plain test that returns no Deferred is not timed.
    result = run(
        pytester,
        """
import time
import pytest

@pytest.mark.deferred_timeout(0.05)
async def test_blocks_in_a_coroutine():
    time.sleep(0.2)

@pytest.mark.deferred_timeout(0.05)
def test_blocks_then_returns_a_deferred():
    time.sleep(0.2)
    return succeed(None)

@pytest.mark.deferred_timeout(0.05)
def test_blocks_then_returns_a_coroutine():
    async def quick():
        pass
    time.sleep(0.2)
    return quick()

@pytest.mark.deferred_timeout(0.05)
def test_plain_blocking_test_is_not_timed():
    time.sleep(0.2)

@pytest.mark.deferred_timeout(10)
async def test_within_its_time():
    time.sleep(0.01)
""",
    )
    result.assert_outcomes(failed=3, passed=2)
    result.stdout.fnmatch_lines(
        [
            "*Timeout: the test's coroutine took 0.2* seconds, longer than the 0.05 "
            "allowed (deferred_timeout)*blocked without waiting*"
        ]
    )
    result.stdout.fnmatch_lines(["*Timeout: the test and its Deferred took*"])


def test_infinite_timeout_means_no_limit(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import asyncio
import pytest

@pytest.mark.deferred_timeout(float("inf"))
async def test_unlimited():
    await asyncio.sleep(0)
""",
    )
    result.assert_outcomes(passed=1)


def test_bad_timeout_marker_fails_the_test_clearly(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import pytest

@pytest.mark.deferred_timeout("soon")
async def test_bad_value():
    pass

@pytest.mark.deferred_timeout(1, 2)
async def test_two_values():
    pass
""",
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.deferred_timeout must be a positive number of seconds,"
            " not 'soon'",
            "*@pytest.mark.deferred_timeout takes one argument*",
        ]
    )
    result.stdout.no_fnmatch_line("*never awaited*")


def test_bad_timeout_ini_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndeferred_timeout = -1\n")
    result = run(pytester, "def test_nothing():\n    pass\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*deferred_timeout ini option must be a positive number of seconds, not '-1'"]
    )


def test_async_test_marked_for_another_framework_is_left_to_it(
    pytester: pytest.Pytester,
) -> None:
    # No such framework here: pytest itself then refuses the test.
    result = run(
        pytester,
        """
import pytest

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.asyncio
async def test_for_pytest_asyncio():
    pass

@pytest.mark.trio
async def test_for_trio():
    pass

async def test_for_anyio(anyio_backend):
    pass
""",
        "-W",
        "ignore::pytest.PytestUnknownMarkWarning",
    )
    assert result.parseoutcomes().get("passed", 0) == 0
    assert "async def functions are not natively supported" in result.stdout.str()


# --- the helpers, under pytest ------------------------------------------------


def test_helper_failures_point_at_the_test_line(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
from deferred.testing import successResultOf

def test_expects_a_result():
    successResultOf(Deferred())
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([">       successResultOf(Deferred())"])
    result.stdout.no_fnmatch_line("*deferred/testing/__init__.py*")


# --- installation -------------------------------------------------------------


def test_the_entry_point_loads_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    points = importlib.metadata.entry_points(group="pytest11")
    if not any(point.value == deferred.testing.plugin.__name__ for point in points):
        pytest.skip("the package is not installed, so neither is its entry point")
    pytester.makepyfile("def test_clock(clock):\n    assert clock.seconds() == 0\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
