"""Waiting on several Deferreds at once: :class:`DeferredList`,
:func:`gatherResults` and :func:`race`, and the errors they fail with."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from types import CoroutineType, GeneratorType
from typing import Any, Literal, TypeVar, overload

from . import _nesting
from ._debug import logFailure
from ._deferred import _DEFERRED_TYPES, _NO_RESULT, Deferred
from .failure import _FAILURE_TYPES, Failure, _shortRepr

__all__ = [
    "FAILURE",
    "SUCCESS",
    "DeferredList",
    "FailureGroup",
    "FirstError",
    "gatherResults",
    "race",
]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: First item of a :class:`DeferredList` entry whose Deferred succeeded.
SUCCESS = True
#: First item of a :class:`DeferredList` entry whose Deferred failed.
FAILURE = False


class FirstError(Exception):
    """The failure of a :class:`DeferredList` with ``fireOnOneErrback`` (and
    so of :func:`gatherResults`): ``subFailure`` is the input's
    :class:`~deferred.failure.Failure`, ``index`` the input's position.

    Two FirstErrors are equal when their indexes and their failures'
    exceptions are.
    """

    subFailure: Failure
    index: int

    def __init__(self, failure: Failure, index: int) -> None:
        super().__init__(failure, index)
        self.subFailure = failure
        self.index = index

    def __repr__(self) -> str:
        return f"FirstError[#{self.index}, {self.subFailure.value!r}]"

    def __str__(self) -> str:
        # The Failure's str() carries its traceback, so a FirstError that
        # ends up in a log still shows where the original error came from.
        return f"FirstError[#{self.index}, {self.subFailure}]"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FirstError):
            return self.index == other.index and bool(
                self.subFailure.value == other.subFailure.value
            )
        return NotImplemented

    def __hash__(self) -> int:
        # Consistent with __eq__ whatever the exceptions' own equality is.
        return hash((FirstError, self.index))


class FailureGroup(Exception):
    """Every input of a :func:`race` failed; ``failures`` lists their
    :class:`~deferred.failure.Failure` objects in input order."""

    failures: Sequence[Failure]

    def __init__(self, failures: Sequence[Failure]) -> None:
        super().__init__(failures)
        self.failures = failures

    def __str__(self) -> str:
        errors = "; ".join(
            f"{f.type.__name__}: {f.getErrorMessage()}" for f in self.failures
        )
        return f"all {len(self.failures)} Deferreds failed: {errors}"


def _inputs(deferreds: Iterable[Deferred[Any]], caller: str) -> list[Deferred[Any]]:
    """The inputs as a list, read once.

    As in Twisted, an input may be anything with the Deferred interface (its
    ``addCallbacks`` is what gets called): mocks and other libraries'
    Deferred-likes work.  Something that cannot work at all raises
    ``TypeError`` here, before any input is touched.
    """
    if type(deferreds) in _DEFERRED_TYPES:
        raise TypeError(f"{caller}() takes an iterable of Deferreds, not a Deferred")
    inputs = list(deferreds)
    types = _DEFERRED_TYPES
    for index, d in enumerate(inputs):
        if type(d) not in types and not callable(getattr(d, "addCallbacks", None)):
            raise TypeError(_notADeferred(caller, index, d))
    return inputs


def _notADeferred(caller: str, index: int, value: object) -> str:
    if isinstance(value, (CoroutineType, GeneratorType)):
        hint = "run coroutines with ensureDeferred() to get a Deferred"
    elif hasattr(value, "_asyncio_future_blocking"):
        hint = "wrap asyncio futures and tasks with Deferred.fromFuture()"
    else:
        hint = "wrap plain values in succeed()"
    return (
        f"{caller}() takes Deferreds (objects with addCallbacks); item {index} "
        f"is {_shortRepr(value)}: {hint}"
    )


def _cancelEach(inputs: list[Deferred[Any]], keep: object = None) -> None:
    """Cancel every input but ``keep``.  A canceller that raises is logged,
    and the rest are still cancelled."""
    for d in inputs:
        if d is keep:
            continue
        try:
            d.cancel()
        except BaseException:
            logFailure("Exception raised from a Deferred's canceller:", Failure())


def _attach(
    inputs: list[Deferred[Any]],
    succeeded: Callable[[Any, int], Any],
    failed: Callable[[Failure, int], Any],
    transparent: bool,
) -> None:
    """Add ``succeeded``/``failed`` to each input, with its index as the
    extra argument: what ``d.addCallbacks(succeeded, failed, (index,), None,
    (index,), None)`` does, without its per-call checks.

    This is the hot loop of every combinator, so it works on the core's
    callback list (entries ``(callback, errback, args, kwargs)``) directly.
    ``transparent`` says that ``succeeded`` never raises and returns its
    result unchanged, which allows a shortcut for inputs that have fired.
    """
    failureTypes = _FAILURE_TYPES
    ownAddCallbacks = Deferred.addCallbacks
    for index, d in enumerate(inputs):
        kind = type(d)
        if kind is not Deferred and (
            kind not in _DEFERRED_TYPES or kind.addCallbacks is not ownAddCallbacks
        ):
            # A Deferred-like, or a subclass with its own addCallbacks: call
            # it, as Twisted does.
            d.addCallbacks(
                succeeded, failed, callbackArgs=(index,), errbackArgs=(index,)
            )
            continue
        cbs = d._callbacks
        result = d.result
        if (
            transparent
            and not cbs
            and result is not _NO_RESULT
            and not d.paused
            and not d._runningCallbacks
            and type(result) not in failureTypes
        ):
            # Resting on a success with nothing else to run (and so not
            # running its callbacks either): the callback loop would call
            # ``succeeded`` and leave the result as it is.  Skip the loop.
            succeeded(result, index)
            continue
        entry = (succeeded, failed, (index,), None)
        if cbs:
            cbs.append(entry)
        else:
            d._callbacks = [entry]
        if result is not _NO_RESULT:
            # Fired already: run the pair now, as addCallbacks() would.
            d._runCallbacks()


class DeferredList(Deferred[_R]):
    """A Deferred that fires once the Deferreds it is given have fired.

    By default it fires with a list with one ``(success, result)`` pair per
    input, in input order: ``(SUCCESS, value)`` or ``(FAILURE, failure)``.
    An empty list fires at once with ``[]``.

    - ``fireOnOneCallback``: fire with ``(result, index)`` as soon as one
      input succeeds (with the list if none does; never for no inputs).
    - ``fireOnOneErrback``: fail with :class:`FirstError` as soon as one
      input fails.
    - ``consumeErrors``: an input's failure, once recorded here, is replaced
      by ``None`` in that input's own chain, so its later callbacks see
      ``None`` and the failure is not reported as unhandled.

    Each input gets one callback/errback pair; it returns the input's result
    unchanged (but for ``consumeErrors``), also for inputs firing after this
    list has fired.  ``resultList`` holds the entries so far (``None`` for
    inputs that have not fired) and is the list fired with; ``finishedCount``
    counts the inputs that have fired.

    :meth:`cancel` cancels every input while this list has not fired.

    The type parameter is the result: ``DeferredList[list[tuple[bool, T]]]``
    for inputs of type ``Deferred[T]``, ``DeferredList[tuple[T, int]]`` with
    ``fireOnOneCallback=True``; both are inferred from the arguments.

    Inputs need only the Deferred interface (their ``addCallbacks`` is called,
    as in Twisted), so mocks and other Deferred-likes work.

    Differences from Twisted: an input with no ``addCallbacks`` at all (a
    coroutine, a plain value) raises ``TypeError`` before any input is
    touched; cancelling a fired DeferredList that waits on a
    Deferred returned by one of its callbacks cancels that Deferred, as for
    any Deferred.
    """

    __slots__ = (
        "_deferredList",
        "_firing",
        "consumeErrors",
        "finishedCount",
        "fireOnOneCallback",
        "fireOnOneErrback",
        "resultList",
    )

    _deferredList: list[Deferred[Any]]
    #: Set once this list has decided to fire: its fire may wait in the
    #: _nesting backlog, while its result is still unset.
    _firing: bool
    resultList: list[tuple[bool, Any] | None]
    finishedCount: int
    fireOnOneCallback: bool
    fireOnOneErrback: bool
    consumeErrors: bool

    @overload
    def __init__(
        self: DeferredList[tuple[_T, int]],
        deferredList: Iterable[Deferred[_T]],
        fireOnOneCallback: Literal[True],
        fireOnOneErrback: bool = False,
        consumeErrors: bool = False,
    ) -> None: ...

    @overload
    def __init__(
        self: DeferredList[list[tuple[bool, _T]]],
        deferredList: Iterable[Deferred[_T]],
        fireOnOneCallback: Literal[False] = False,
        fireOnOneErrback: bool = False,
        consumeErrors: bool = False,
    ) -> None: ...

    @overload
    def __init__(
        self: DeferredList[tuple[_T, int] | list[tuple[bool, _T]]],
        deferredList: Iterable[Deferred[_T]],
        fireOnOneCallback: bool = False,
        fireOnOneErrback: bool = False,
        consumeErrors: bool = False,
    ) -> None: ...

    def __init__(
        self,
        deferredList: Iterable[Deferred[Any]],
        fireOnOneCallback: bool = False,
        fireOnOneErrback: bool = False,
        consumeErrors: bool = False,
    ) -> None:
        inputs: list[Deferred[Any]]
        if type(deferredList) is _Checked:
            inputs = deferredList  # (checked by gatherResults already)
        else:
            inputs = _inputs(deferredList, "DeferredList")
        Deferred.__init__(self)
        self._deferredList = inputs
        self.resultList = [None] * len(inputs)
        self.finishedCount = 0
        self._firing = False
        # Set before the loop: inputs that have fired already run our
        # callbacks as soon as they are added.
        self.fireOnOneCallback = bool(fireOnOneCallback)
        self.fireOnOneErrback = bool(fireOnOneErrback)
        self.consumeErrors = bool(consumeErrors)
        if not inputs:
            if not fireOnOneCallback:
                self.callback([])  # type: ignore[arg-type]
            return
        _attach(inputs, self._succeeded, self._failed, True)

    # The two methods below run once per input: keep them lean.

    def _succeeded(self, result: Any, index: int) -> Any:
        self.resultList[index] = (True, result)
        count = self.finishedCount = self.finishedCount + 1
        if not self._firing and self.result is _NO_RESULT:
            if self.fireOnOneCallback:
                self._fire((result, index))
            elif count == len(self.resultList):
                self._fire(self.resultList)
        return result

    def _failed(self, failure: Failure, index: int) -> Any:
        self.resultList[index] = (False, failure)
        count = self.finishedCount = self.finishedCount + 1
        if not self._firing and self.result is _NO_RESULT:
            if self.fireOnOneErrback:
                self._deferredList = []
                self._firing = True
                _nesting.fire(self, Failure(FirstError(failure, index)))
            elif count == len(self.resultList):
                self._fire(self.resultList)
        if self.consumeErrors:
            return None
        return failure

    def _fire(self, result: Any) -> None:
        # Once fired, the inputs are no longer needed (cancel() leaves them
        # alone), and inputs still pending would otherwise tie this list and
        # themselves into a reference cycle.
        self._deferredList = []
        self._firing = True
        # Through _nesting: lists nested in lists fire level by level, not
        # one call deeper per level.
        _nesting.fire(self, result)

    def cancel(self) -> None:
        """Cancel every input, if this list has not fired yet.

        An exception raised by an input's canceller is logged, and the other
        inputs are still cancelled.  Cancelling the inputs usually fires this
        list (with their ``CancelledError`` failures, or a :class:`FirstError`
        with ``fireOnOneErrback``).
        """
        if self.result is _NO_RESULT and self._firing:
            # It has decided to fire, from deep inside nested lists: it would
            # have fired already, had it not waited its turn.  Fire it now.
            _fireNow(self)
        elif self.result is _NO_RESULT:
            # While the inputs are being cancelled, a cancel() coming back
            # here (an input waits on this list: a cycle) finds nothing to
            # do, instead of recursing without end.
            inputs = self._deferredList
            self._deferredList = []
            try:
                _cancelEach(inputs)
            finally:
                if self.result is _NO_RESULT:
                    # Still waiting: keep them for another cancel().  (Once
                    # fired, the list lets its inputs go.)
                    self._deferredList = inputs
        else:
            super().cancel()


def _fireNow(deferred: Deferred[Any]) -> bool:
    """Make the fire of ``deferred`` that waits in the _nesting backlog now,
    if there is one."""
    found, result = _nesting.takeBack(deferred)
    if found:
        deferred.callback(result)
    return found


class _Checked(list):  # type: ignore[type-arg]
    """Inputs that :func:`_inputs` has checked already."""

    __slots__ = ()


def _values(resultList: list[tuple[bool, _T]]) -> list[_T]:
    return [value for _, value in resultList]


def gatherResults(
    deferredList: Iterable[Deferred[_T]], consumeErrors: bool = False
) -> Deferred[list[_T]]:
    """A Deferred of the list of the inputs' results, in input order.

    It fails with :class:`FirstError` as soon as one input fails; with
    ``consumeErrors`` that input's own chain then continues with ``None``
    instead of the failure.  Cancelling it cancels the inputs.

    It is a :class:`DeferredList` with ``fireOnOneErrback``, as in Twisted.
    """
    # Checked here, so that errors name gatherResults, not DeferredList.
    inputs = _Checked(_inputs(deferredList, "gatherResults"))
    return DeferredList(
        inputs, fireOnOneErrback=True, consumeErrors=consumeErrors
    ).addCallback(_values)


class _Race:
    """The state of one :func:`race`: which inputs have failed, whether one
    has won, and the Deferred handed to the caller."""

    __slots__ = ("_failedCount", "_failures", "_inputs", "_won", "result")

    def __init__(self, inputs: list[Deferred[Any]]) -> None:
        self._inputs = inputs
        self._failures: list[Any] = [None] * len(inputs)
        self._failedCount = 0
        self._won = False
        self.result: Deferred[tuple[int, Any]] = Deferred(self._cancel)

    def _cancel(self, result: Deferred[Any]) -> None:
        if _fireNow(result):
            return  # it was decided, its fire waiting its turn (see _nesting)
        # Every input then fails with CancelledError (unless its canceller
        # makes it succeed), so the race usually fails with a FailureGroup.
        _cancelEach(self._inputs)

    def _succeeded(self, value: Any, index: int) -> None:
        # A loser whose canceller makes it succeed comes here too: ignore it.
        if self._won:
            return
        self._won = True
        inputs = self._inputs
        # Drop the inputs: the losers still pending must not keep them (and
        # this object) in a reference cycle.
        self._inputs = []
        self._failures = []
        # The winner is not cancelled: its owner may still be using it.
        _cancelEach(inputs, keep=inputs[index])
        _nesting.fire(self.result, (index, value))

    def _failed(self, failure: Failure, index: int) -> None:
        # Returning None consumes the failure: losers that were cancelled are
        # not reported as unhandled CancelledErrors.
        if self._won:
            return
        failures = self._failures
        failures[index] = failure
        self._failedCount += 1
        if self._failedCount == len(failures):
            self._inputs = []
            _nesting.fire(self.result, Failure(FailureGroup(failures)))


def race(ds: Iterable[Deferred[_T]]) -> Deferred[tuple[int, _T]]:
    """A Deferred of ``(index, result)`` for the first input to succeed.

    As soon as one input succeeds every other one is cancelled.  If all of
    them fail, it fails with :class:`FailureGroup` holding their failures in
    input order.  Cancelling it cancels every input.  The inputs' failures
    are consumed, and their chains continue with ``None``.

    Differences from Twisted: any iterable is read once (Twisted reads a
    sequence twice); no inputs raise ``ValueError`` (Twisted's Deferred would
    never fire); a canceller that raises is logged and the other inputs are
    still cancelled (Twisted lets it escape, leaving the race unfired).
    """
    inputs = _inputs(ds, "race")
    if not inputs:
        raise ValueError("race() needs at least one Deferred")
    state = _Race(inputs)
    result = state.result
    _attach(inputs, state._succeeded, state._failed, False)
    return result
