"""The captured error that travels down a Deferred's errback chain.

A :class:`Failure` wraps an exception together with its traceback so the error
can be handled later, somewhere else, after the stack that raised it is gone.

Creating one is cheap: it stores the exception, its type and its traceback and
does nothing else.  Frames are only walked (and source lines only read) when
something asks for them -- :attr:`Failure.frames`, :meth:`Failure.getTraceback`,
pickling, or :meth:`Failure.cleanFailure`.
"""

from __future__ import annotations

import sys
from itertools import count as _count
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar

# The traceback as data and text, the tracebacks made back from that text, and
# the never-raising text of objects, live in modules of their own: the names
# moved there are still importable from here.
from ._frames import _CAUSE as _CAUSE
from ._frames import _CONTEXT as _CONTEXT
from ._frames import Frame as Frame
from ._frames import _Chain as _Chain
from ._frames import _earlierFrames as _earlierFrames
from ._frames import _extractFrames as _extractFrames
from ._frames import _safeFrames as _safeFrames
from ._frames import _where as _where
from ._frames import format_frames as format_frames
from ._reprs import _qual as _qual
from ._reprs import _safeRepr as _safeRepr
from ._reprs import _safeStr as _safeStr
from ._reprs import _shortRepr as _shortRepr
from ._tracebacks import _MAX_REBUILT as _MAX_REBUILT
from ._tracebacks import _Rebuilding as _Rebuilding
from ._tracebacks import _rebuiltTraceback as _rebuiltTraceback
from ._tracebacks import _standIn as _standIn
from ._tracebacks import _standInCode as _standInCode
from ._tracebacks import _TextCode as _TextCode
from ._tracebacks import _TextFrame as _TextFrame
from ._tracebacks import _TextTraceback as _TextTraceback

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = ["Failure", "NoCurrentExceptionError", "format_frames", "startDebugMode"]

_T = TypeVar("_T")

_failureCounter = _count(1)

# ``Failure.type`` shadows the builtin inside the class body.
_ExcType = type[BaseException]


class NoCurrentExceptionError(Exception):
    """``Failure()`` or ``errback()`` was called with no argument outside an
    ``except`` block, so there is no exception to capture."""


class Failure(BaseException):
    """An exception, its type and its traceback, captured for later.

    ``Failure()`` captures the exception being handled (inside ``except``);
    ``Failure(exc)`` wraps an exception instance, taking its ``__traceback__``
    unless ``exc_tb`` is given; ``Failure(value, type, tb)`` takes an explicit
    triple.  Wrapping a Failure copies it.

    As in Twisted, a Failure is itself a ``BaseException``: code may
    ``raise`` one (say, ``raise f.value.subFailure`` to unwrap a
    :class:`~deferred.FirstError`), and wherever a raised Failure is caught
    and captured again -- in a callback, a generator, a coroutine -- the
    result is a copy of that Failure, not a Failure wrapping a Failure.

    Difference from Twisted's ``twisted.python.failure.Failure``:
    :meth:`check` matches any class by ``issubclass`` (Twisted matches classes
    that are not ``Exception`` subclasses only exactly).
    """

    # Slots for the three attributes every Failure sets: making one then
    # allocates no instance dictionary (other attributes still go in one).
    __slots__ = ("tb", "type", "value")

    value: BaseException
    type: _ExcType
    tb: TracebackType | None

    # Class-level defaults keep the common constructor down to three stores.
    captureVars: bool = False
    pickled: int = 0
    _frames: list[Frame] | None = None
    _parents: list[str] | None = None
    _count: int = 0
    #: The text of the exceptions this one was raised from, once cleaned.
    _chain: str | _Chain | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Weakly: a subclass made at run time is freed once unused.
        from ._debug import registerClass

        registerClass(cls, _FAILURE_TYPES, _OUTCOME_TYPES)

    def __init__(
        self,
        exc_value: BaseException | Failure | None = None,
        exc_type: _ExcType | None = None,
        exc_tb: TracebackType | None = None,
        captureVars: bool = False,
    ) -> None:
        if exc_value is None:
            exc_type, exc_value, exc_tb = sys.exc_info()
            if exc_value is None:
                raise NoCurrentExceptionError(
                    "Failure() needs an exception: pass one, or call it inside "
                    "an 'except' block"
                )
        if isinstance(exc_value, Failure):
            # Wrapping a Failure (or capturing one that was raised) copies it.
            self.value = exc_value.value
            self.type = exc_value.type
            self.tb = exc_value.tb
            # Not the Failure copied (in args, as BaseException keeps what it
            # is made with): raised, it holds the frames it went through.
            self.args = ()
            self.__dict__.update(exc_value.__dict__)
            self._count = exc_value.count  # the copy shares the number
            return
        if not isinstance(exc_value, BaseException):
            raise TypeError(
                f"Failure needs an exception instance, not {_shortRepr(exc_value)}"
            )
        self.value = exc_value
        self.type = type(exc_value) if exc_type is None else exc_type
        self.tb = exc_value.__traceback__ if exc_tb is None else exc_tb
        if captureVars:
            self.captureVars = True

    # -- inspecting ---------------------------------------------------------

    @property
    def count(self) -> int:
        """A number unique to this Failure (assigned when first read)."""
        if not self._count:
            self._count = next(_failureCounter)
        return self._count

    @count.setter
    def count(self, count: int) -> None:
        self._count = count

    @property
    def frames(self) -> list[Frame]:
        """The traceback as a list of :data:`Frame` tuples, innermost last."""
        frames = self._frames
        if frames is None:
            frames = _extractFrames(self.tb, self.captureVars)
            # Raised again after a cleanFailure(): add where it came from.
            earlier = _earlierFrames(self.value)
            if earlier and _where(frames[-len(earlier) :]) != _where(earlier):
                frames += earlier
            self._frames = frames
        return frames

    @frames.setter
    def frames(self, frames: list[Frame]) -> None:
        self._frames = frames

    @property
    def stack(self) -> list[Frame]:
        """Always empty, and deprecated (as in Twisted since 24.10): the
        frames that led to the ``except`` are not kept."""
        _warnStack()
        return []

    @stack.setter
    def stack(self, stack: object) -> None:
        _warnStack()  # accepted and dropped, as by Twisted

    @property
    def parents(self) -> list[str]:
        """Qualified names of the exception type and all its bases."""
        parents = self._parents
        if parents is None:
            # ``module.__name__``, not the __qualname__: the names Twisted
            # gives, so that check("pkg.mod.Name") matches nested classes too.
            parents = self._parents = [
                f"{c.__module__}.{c.__name__}" for c in self.type.__mro__
            ]
        return parents

    @parents.setter
    def parents(self, parents: list[str]) -> None:
        self._parents = parents

    def check(self, *errorTypes: _ExcType | str) -> Any:
        """Return the first of ``errorTypes`` this failure is an instance of.

        Each entry is a class or a fully qualified class name; ``None`` is
        returned when nothing matches.
        """
        if errorTypes and errorTypes[0] is self.type:
            return self.type  # the usual case, found without a loop
        return _match(self, errorTypes)

    def trap(self, *errorTypes: _ExcType | str) -> Any:
        """Like :meth:`check`, but re-raise this failure when nothing matches.

        In an errback this passes unexpected errors on down the chain.
        """
        if errorTypes and errorTypes[0] is self.type:
            return self.type  # the usual case, found without a loop
        error = _match(self, errorTypes)
        if error is None:
            self.raiseException()
        return error

    def getErrorMessage(self) -> str:
        """The exception's message, ``str(value)``, never raising."""
        value: object = self.value
        if isinstance(value, Failure):
            return value.getErrorMessage()
        return _safeStr(value)

    # -- re-raising -----------------------------------------------------------

    def raiseException(self) -> NoReturn:
        """Raise the original exception with its original traceback."""
        raise self._reraisable()

    def throwExceptionIntoGenerator(self, g: Generator[_T, Any, Any]) -> _T:
        """Throw the exception into generator ``g`` (original traceback kept)
        and return what it yields next."""
        return g.throw(self._reraisable())

    def _reraisable(self) -> BaseException:
        """The exception, with a traceback that shows where it was raised.

        A Failure that a Deferred came to rest on keeps its traceback as text
        only (see :meth:`cleanFailure`): live frames would tie the Deferred
        into a reference cycle.  Raised again, its exception then carries a
        stand-in traceback rebuilt from that text -- real traceback entries
        with the original files, lines and function names, but none of the
        original variables -- so that pytest, ``logging.exception`` and
        ``traceback.format_exception`` still show the line that raised.
        """
        tb = self.tb
        if tb is None and self.pickled:
            tb = _rebuiltTraceback(self.frames)
        return self.value.with_traceback(tb)

    def getTracebackObject(self) -> TracebackType | _TextTraceback | None:
        """Something the :mod:`traceback` module can format: the live
        traceback, or once it has been cleaned away (or pickled) a stand-in
        built from :attr:`frames`; ``None`` if there are no frames at all."""
        if self.tb is not None:
            return self.tb
        return _TextTraceback.chain(self.frames)

    # -- formatting -----------------------------------------------------------

    def getTraceback(self, elideFrameworkCode: int = 0, detail: str = "default") -> str:
        """The traceback as text; ``detail`` is ``default``, ``brief`` or
        ``verbose``."""
        lines: list[str] = []
        self._format(lines.append, detail)
        return "".join(lines)

    def getBriefTraceback(self) -> str:
        """The traceback as terse ``file:line:function`` lines."""
        return self.getTraceback(detail="brief")

    def printTraceback(
        self,
        file: IO[str] | None = None,
        elideFrameworkCode: int = 0,
        detail: str = "default",
    ) -> None:
        """Write :meth:`getTraceback` to ``file`` (standard error by default)."""
        (sys.stderr if file is None else file).write(self.getTraceback(detail=detail))

    def printBriefTraceback(
        self, file: IO[str] | None = None, elideFrameworkCode: int = 0
    ) -> None:
        """Write the brief traceback to ``file``."""
        self.printTraceback(file, detail="brief")

    def printDetailedTraceback(
        self, file: IO[str] | None = None, elideFrameworkCode: int = 0
    ) -> None:
        """Write the verbose traceback, with variables if captured, to ``file``."""
        self.printTraceback(file, detail="verbose")

    def _format(self, w: Any, detail: str) -> None:
        if detail not in ("default", "brief", "verbose"):
            raise ValueError(
                f"detail must be 'default', 'brief' or 'verbose', not {detail!r}"
            )
        frames = self.frames
        if detail == "brief":
            kind = "Traceback" if frames else "Traceback (failure with no frames)"
            w(f"{kind}: {_safeStr(self.type)}: {_safeStr(self.value)}\n")
            format_frames(frames, w, "brief")
        else:
            verbose = detail == "verbose"
            if verbose:
                pickled = " (pickled) " if self.pickled else " "
                w(f"*--- Failure #{self.count}{pickled}---\n")
                if not self.captureVars:
                    detail = "verbose-vars-not-captured"
            else:
                w(self._chainedText())
                w("Traceback (most recent call last):\n")
            if frames:
                format_frames(frames, w, detail)
            else:
                w("Failure: ")
            w(f"{_qual(self.type)}: {_safeStr(self.value)}\n")
            if verbose:  # (with or without variables: as Twisted ends it)
                w(f"*--- End of Failure #{self.count} ---\n")

    def __repr__(self) -> str:
        return f"<{_qual(type(self))} {_qual(self.type)}: {self.getErrorMessage()}>"

    def __str__(self) -> str:
        return f"[Failure instance: {self.getBriefTraceback()}]"

    # -- memory and pickling --------------------------------------------------

    def cleanFailure(self) -> None:
        """Drop every reference to frames, keeping the traceback as text.

        Afterwards the Failure holds no frame (so nothing their locals
        reference stays alive, and no reference cycle runs through it), while
        :attr:`frames` and :meth:`getTraceback` still describe where the error
        came from.  :meth:`raiseException` then raises without a traceback.
        """
        if self.tb is None and self._frames is not None:
            return
        frames = self._frames = _safeFrames(self.frames, self.captureVars)
        self.tb = None
        self.pickled = 1  # as Twisted marks it: the frames are text now
        value = self.value
        if value.__traceback__ is not None:
            _setTraceback(value, None)
        if value.__cause__ is not None or value.__context__ is not None:
            # The exceptions this one was raised from (``raise ... from``, or
            # inside ``except``) hold frames too: keep their text, drop them.
            self._chain = _Chain(value)
            seen = {id(value)}
            linked = [value.__cause__, value.__context__]
            while linked:
                exc = linked.pop()
                if exc is not None and id(exc) not in seen:
                    seen.add(id(exc))
                    _setTraceback(exc, None)
                    linked += (exc.__cause__, exc.__context__)
        # Should this exception be raised again (trap() does that), the
        # Failure made from it can still show where it first came from.
        try:
            value._deferred_frames = frames  # type: ignore[attr-defined]
        except BaseException:
            # Past the exception's own __setattr__: a frozen dataclass or a
            # class that refuses attributes still travels the chain.
            try:
                object.__setattr__(value, "_deferred_frames", frames)
            except BaseException:  # __slots__ and no __dict__
                pass

    def _chainedText(self) -> str:
        chain = self._chain
        if chain is None:
            return _Chain(self.value).text()
        if not isinstance(chain, str):
            chain = self._chain = chain.text()
        return chain

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException's own __reduce__ would call Failure(*args) to
        # unpickle, capturing whatever exception is being handled then.
        return (_unpickle, (type(self),), self.__getstate__())

    def __getstate__(self) -> dict[str, Any]:
        # Twisted's shape ("frames", "parents" and an empty "stack"), so
        # pickles and copies read the same on both sides.
        state = self.__dict__.copy()
        state["value"] = self.value
        state["type"] = self.type
        state.pop("_frames", None)
        state.pop("_parents", None)
        state["_chain"] = self._chainedText()
        state["tb"] = None
        state["frames"] = _safeFrames(self.frames, self.captureVars)
        state["parents"] = self.parents
        state["stack"] = []
        state["_count"] = self.count  # a copy keeps the number
        state["pickled"] = 1
        return state

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        state = dict(state or ())
        state.pop("stack", None)
        for public in ("frames", "parents"):
            if public in state:
                state["_" + public] = state.pop(public)
        if "count" in state:  # as Twisted's pickles carry it
            state["_count"] = state.pop("count")
        for slot in Failure.__slots__:
            if slot in state:
                setattr(self, slot, state.pop(slot))
        self.__dict__.update(state)


def _unpickle(cls: type[Failure]) -> Failure:
    return _newFailure(cls)


def _warnStack() -> None:
    import warnings

    warnings.warn(
        "Failure.stack is deprecated and always empty: use "
        "traceback.extract_tb(failure.tb) for the frames that are kept",
        DeprecationWarning,
        stacklevel=3,
    )


#: Whether :func:`startDebugMode` opens the debugger (it can be turned off
#: again, as in Twisted).
DO_POST_MORTEM = True

_plainInit = Failure.__init__


def startDebugMode() -> None:
    """Open ``pdb`` at the frame that raised, whenever a Failure is made from
    the exception being handled (``Failure()``, ``errback()`` with no
    argument), before capturing it as usual; set :data:`DO_POST_MORTEM` to
    ``False`` to stop.  For interactive debugging only."""

    def debuggingInit(
        self: Failure,
        exc_value: BaseException | Failure | None = None,
        exc_type: _ExcType | None = None,
        exc_tb: TracebackType | None = None,
        captureVars: bool = False,
    ) -> None:
        if exc_value is None and exc_type is None and exc_tb is None:
            kind, value, tb = sys.exc_info()
            if DO_POST_MORTEM and value is not None and kind is not type(self):
                import pdb

                print(
                    "Jumping into debugger for post-mortem of exception "
                    f"'{_safeStr(value)}':"
                )
                pdb.post_mortem(tb)
        _plainInit(self, exc_value, exc_type, exc_tb, captureVars)

    Failure.__init__ = debuggingInit  # type: ignore[method-assign]


def _match(failure: Failure, errorTypes: tuple[_ExcType | str, ...]) -> Any:
    excType = failure.type
    for error in errorTypes:
        try:
            if issubclass(excType, error):  # type: ignore[arg-type]
                return error
        except TypeError:
            # Not a class: a qualified name is fine, anything else is not.
            if not isinstance(error, str):
                raise
            if error in failure.parents:
                return error
    return None


def _failureFromCaught(exc: BaseException) -> Failure:
    """A Failure for an exception the caller has just caught, leaving the
    caller's own frame out of its traceback: library frames are noise in
    reports, and the catching frame often references what it was running
    (which would tie the failure into a reference cycle)."""
    tb = exc.__traceback__
    if tb is not None:
        tb = tb.tb_next
        try:
            exc.__traceback__ = tb
        except BaseException:  # its class's __setattr__ refuses
            _setTraceback(exc, tb)
    if type(exc) in _FAILURE_TYPES:
        # A Failure raised (``raise failure``): it is the outcome itself.
        return Failure(exc)
    # _failureFromException() inlined: this runs for every exception a
    # callback raises.
    failure = _newFailure(Failure)
    failure.value = exc
    failure.type = type(exc)
    failure.tb = tb
    return failure


def _failureFromException(exc: BaseException) -> Failure:
    """The hot-path constructor: a Failure for an exception just caught."""
    if type(exc) in _FAILURE_TYPES:
        return Failure(exc)
    failure = _newFailure(Failure)
    failure.value = exc
    failure.type = type(exc)
    failure.tb = exc.__traceback__
    return failure


_newFailure = BaseException.__new__

#: Sets an exception's ``__traceback__`` without going through its class's
#: ``__setattr__`` (which a frozen dataclass exception, say, makes raise).
_setTraceback: Any = vars(BaseException)["__traceback__"].__set__


#: Failure and its subclasses: ``type(x) in _FAILURE_TYPES`` is the callback
#: loop's cheap isinstance() check.
_FAILURE_TYPES: set[type] = {Failure}

#: Failure and Deferred types (``_deferred`` adds its own): results that need
#: more than being handed on, found with one cheap lookup.
_OUTCOME_TYPES: set[type] = {Failure}
