"""The machinery the pytest plugin and the trial-style TestCases share.

* catching the errors reported on the ``"deferred"`` logger while a test
  runs (:func:`startCatching`, :class:`UnhandledErrors`), and describing them;
* collecting the garbage a test left, cheaply (:func:`collectAfterTest`);
* running a test's Deferred or coroutine on an asyncio loop until it is done
  or its timeout expires (:func:`waitFor`, :func:`timeoutMessage`).

Nothing here imports pytest: the TestCases run under plain ``unittest`` too.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from .._debug import (
    LOGGER_NAME,
    SUGGEST_DEBUGGING,
    UNHANDLED_MESSAGE,
    failureText,
)
from .._deferred import Deferred
from ..failure import Failure, _qual

__all__ = [
    "CAUGHT_ATTRIBUTE",
    "DEFAULT_TIMEOUT",
    "UnhandledErrors",
    "catching",
    "checkTimeout",
    "collectAfterTest",
    "describe",
    "gcAging",
    "startCatching",
    "stopCatching",
    "timeoutMessage",
    "unwatchGarbage",
    "waitFor",
    "watchGarbage",
]

#: Seconds a test's Deferred or coroutine may take, unless configured.
DEFAULT_TIMEOUT = 120.0

#: The attribute set (to True) on the log records that a catcher took: they
#: are reported with their test, so log capture can leave them out.
CAUGHT_ATTRIBUTE = "deferred_caught"

# -- errors reported while a test runs -----------------------------------------


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
    """Takes the "unhandled error" records of the ``"deferred"`` logger (with
    ``everyError``, every ERROR record that carries an exception)."""

    def __init__(self, errors: UnhandledErrors, everyError: bool = False) -> None:
        super().__init__(logging.ERROR)
        self.errors = errors
        self.everyError = everyError

    def emit(self, record: logging.LogRecord) -> None:
        if _catchers[-1] is not self:
            return
        message = record.msg
        if not (
            self.everyError
            or (isinstance(message, str) and message.startswith(UNHANDLED_MESSAGE))
        ):
            return
        setattr(record, CAUGHT_ATTRIBUTE, True)
        failure = getattr(record, "failure", None)
        if not isinstance(failure, Failure):
            excInfo = record.exc_info
            if not excInfo or excInfo[1] is None:
                return
            failure = Failure(excInfo[1], excInfo[0], excInfo[2])
        self.errors._add(record.getMessage(), failure)


def startCatching(everyError: bool = False) -> _Catcher:
    """Catch the errors reported from now on (innermost catcher wins)."""
    catcher = _Catcher(UnhandledErrors(), everyError)
    _catchers.append(catcher)
    logging.getLogger(LOGGER_NAME).addHandler(catcher)
    return catcher


def stopCatching(catcher: _Catcher) -> None:
    logging.getLogger(LOGGER_NAME).removeHandler(catcher)
    _catchers.remove(catcher)


def describe(
    entries: list[tuple[str, Failure]], what: str, when: str, hint: str
) -> str:
    """The report of errors ``entries``: ``what`` names them ("unhandled
    errors in Deferreds"), ``when`` says when they came, ``hint`` how a test
    takes them."""
    lines = [f"{len(entries)} {what} {when} ({hint}):"]
    for message, failure in entries:
        # (The debug stacks in a message say what the hint would.)
        hint = "" if "\n(debug: " in message else SUGGEST_DEBUGGING
        lines += ["", message, failureText(failure, hint)]
    return "\n".join(lines)


# -- garbage -------------------------------------------------------------------

# A full garbage collection costs milliseconds in a big test session, so after
# each test we make one only when it can find something a young-generation
# collection would not.  Up to 3.13, CPython's collector has three
# generations, and what a test made stays in the two youngest until a
# collection of generation 1 or 2 runs (automatic, or by the test's own
# gc.collect()); from 3.14 the collector is incremental, and any collection
# may age objects.
_AGING, _YOUNG = (0, 0) if sys.version_info >= (3, 14) else (1, 1)


class _GcWatch:
    """Counts the garbage collections that may have aged objects (a
    ``gc.callbacks`` entry)."""

    __slots__ = ("aging", "users")

    def __init__(self) -> None:
        self.aging = 0
        self.users = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] >= _AGING:
            self.aging += 1


_watch = _GcWatch()


def watchGarbage() -> None:
    """Start counting collections (balanced by :func:`unwatchGarbage`)."""
    if _watch.users == 0:
        gc.callbacks.append(_watch)
    _watch.users += 1


def unwatchGarbage() -> None:
    _watch.users -= 1
    if _watch.users == 0:
        gc.callbacks.remove(_watch)


def gcAging() -> int | None:
    """A mark to give :func:`collectAfterTest` (``None`` when not watching)."""
    return _watch.aging if _watch.users else None


def collectAfterTest(agingAtStart: int | None) -> None:
    """Collect the garbage a test made, which started at ``gcAging()``."""
    if agingAtStart is not None and agingAtStart == gcAging():
        # Nothing the test made has aged: a young collection finds its garbage.
        gc.collect(_YOUNG)
    else:
        gc.collect()


# -- running a test's Deferred or coroutine --------------------------------------


def checkTimeout(value: object, what: str) -> float:
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


async def catching(coro: Coroutine[Any, Any, object]) -> BaseException | None:
    """Run ``coro``; return the exception it raises, or ``None``.

    The exception reaches the test report as raised, with its live traceback:
    were it left to fail the Deferred, the traceback could be cut down to text.
    """
    try:
        await coro
    except BaseException as e:
        return e
    return None


async def waitFor(
    start: Callable[[], Deferred[Any]], timeout: float
) -> tuple[bool, object, str]:
    """Start a Deferred (on the running loop) and wait until it fires or
    ``timeout`` seconds have passed, then cancel it.

    Returns whether it timed out, its outcome (its result or Failure, taken
    from it), and what it looked like when time ran out.
    """
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
        return False, outcome[0], ""

    timedOut = False
    state = ""

    def expire() -> None:
        nonlocal timedOut, state
        timedOut = True
        state = repr(d)
        d.cancel()
        # The cancellation may not fire the Deferred: stop waiting anyway.
        if not done.done():
            done.set_result(None)

    timer = loop.call_later(timeout, expire)  # inf is fine: it never comes
    try:
        await done
    finally:
        timer.cancel()
    return timedOut, outcome[0] if outcome else None, state


def timeoutMessage(message: str, outcome: object, state: str) -> str:
    """The report of a test that timed out: ``message`` says what did not
    finish; ``outcome`` is what :func:`waitFor` returned (for a coroutine run
    by :func:`catching`, the exception the cancellation raised: its
    traceback shows where the coroutine was waiting), ``state`` what the
    Deferred looked like when time ran out."""
    message = "Timeout: " + message
    if isinstance(outcome, BaseException):
        # Where the cancellation found the coroutine: where it was stuck.
        # (The first frame is catching()'s own.)
        import traceback

        tb = outcome.__traceback__
        message += ". Where it was waiting:\n" + "".join(
            traceback.format_exception(type(outcome), outcome, tb and tb.tb_next)
        )
    elif state:
        message += f". It was {state} when the time ran out"
    return message
