"""Tests that nothing is lost at exit: a failed Deferred still referenced when
the interpreter exits is reported before the interpreter tears down, whether
or not the program imported logging.  Each case runs a script of its own in a
fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

UNHANDLED = "Unhandled error in Deferred:"


def runScript(source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )


HEADER = """
from deferred import Deferred, fail

class Boom(Exception):
    pass
"""


@pytest.mark.parametrize("importLogging", [False, True], ids=["plain", "logging"])
def test_module_level_list_keeping_a_failed_deferred_is_reported_at_exit(
    importLogging: bool,
) -> None:
    source = HEADER + "keep = [fail(Boom('kept by a list'))]\n"
    if importLogging:
        source = "import logging\nlogging.basicConfig()\n" + source
    result = runScript(source)
    assert result.returncode == 0
    assert result.stderr.count(UNHANDLED) == 1, result.stderr
    assert "Boom: kept by a list" in result.stderr
    assert "still referenced when the interpreter exited" in result.stderr


def test_global_deferred_failed_by_a_callback_is_reported_at_exit() -> None:
    result = runScript(
        HEADER
        + """
def explode(result):
    raise Boom("from a callback")

d = Deferred()
d.addCallback(explode)
d.callback(1)
"""
    )
    assert result.stderr.count(UNHANDLED) == 1, result.stderr
    assert "in explode" in result.stderr
    assert "Boom: from a callback" in result.stderr


def test_failed_deferred_in_a_reference_cycle_is_reported_at_exit() -> None:
    result = runScript(
        HEADER
        + """
import gc
gc.disable()  # only the exit can find it
def make():
    d = Deferred()
    exc = Boom("in a cycle")
    exc.deferred = d
    d.errback(exc)
make()
"""
    )
    assert result.stderr.count(UNHANDLED) == 1, result.stderr
    assert "Boom: in a cycle" in result.stderr
    # Collected as garbage, not found alive:
    assert "still referenced" not in result.stderr


def test_handled_failures_are_not_reported_at_exit() -> None:
    result = runScript(
        HEADER
        + """
keep = [fail(Boom("handled"))]
keep[0].addErrback(lambda f: None)
cancelled = Deferred()
cancelled.cancel()
cancelled.addErrback(lambda f: None)
"""
    )
    assert result.returncode == 0
    assert result.stderr == ""


def test_failure_of_a_deferred_kept_by_a_thread_local_cycle_reported_once() -> None:
    # Reported at exit and never again while the interpreter tears down.
    result = runScript(
        HEADER
        + """
import logging
holder = {}
d = fail(Boom("once"))
holder["d"] = d
holder["self"] = holder
"""
    )
    assert result.stderr.count(UNHANDLED) == 1, result.stderr
