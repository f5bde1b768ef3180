"""Property tests: random sequences of operations on a Deferred behave like a
small reference model of Twisted's callback-chain rules.

The model is a plain interpreter over a list of callback entries.  It knows
only the rules: one result flows down the list; a failure selects the errback
side; an exception or returned Failure fails; an errback returning normally
recovers; a returned Deferred is consumed at once if it has a result and
otherwise suspends the chain until it fires; ``pause()`` stops the chain
(but a pass already running goes on to the end); a cancelled Deferred without
a canceller ignores one later fire; cancelling a Deferred that waits on another
cancels that one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deferred import (
    AlreadyCalledError,
    CancelledError,
    Deferred,
    Failure,
    fail,
    succeed,
)


class Boom(Exception):
    pass


# A result as the model sees it: ("V", value) or ("F", type name, message).
Outcome = tuple[Any, ...]

CALLBACK_KINDS = [
    "value",
    "raise",
    "failure",
    "firedValue",
    "firedFailure",
    "pending",
    "pause",
    "addMore",
]
ERRBACK_KINDS = ["recover", "raise", "trapMatch", "trapMiss", "firedValue", "pending"]
BOTH_KINDS = ["passthru", "value", "raise"]


def describe(result: Any) -> Outcome:
    if isinstance(result, Failure):
        return ("F", result.type.__name__, result.getErrorMessage())
    return ("V", result)


# --- the reference model -----------------------------------------------------


@dataclass
class Entry:
    name: str
    callback: str | None  # a kind from the lists above, or None: pass by
    errback: str | None
    both: bool = False


@dataclass
class InnerModel:
    called: bool = False
    suppress: bool = False


@dataclass
class Model:
    canceller: str | None
    log: list[tuple[str, str, Outcome]] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    result: Outcome | None = None
    called: bool = False
    paused: int = 0
    waitingOn: InnerModel | None = None
    running: bool = False
    suppress: bool = False
    inners: list[InnerModel] = field(default_factory=list)

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)
        if self.called:
            self.run()

    def unpause(self) -> None:
        self.paused -= 1
        if not self.paused and self.called:
            self.run()

    def fire(self, result: Outcome) -> str | None:
        """Fire; returns "ignored" or "already" when it is a second fire."""
        if self.called:
            if self.suppress:
                self.suppress = False
                return "ignored"
            return "already"
        self.called = True
        self.canceller = None
        self.result = result
        self.run()
        return None

    def cancel(self) -> None:
        if not self.called:
            if self.canceller is None:
                self.suppress = True
            elif self.canceller == "fires":
                self.fire(("V", "from canceller"))
            if not self.called:
                self.fire(("F", "CancelledError", ""))
        elif self.waitingOn is not None:
            self.cancelInner(self.waitingOn)

    def cancelInner(self, inner: InnerModel) -> None:
        if not inner.called:
            inner.suppress = True
            self.fireInner(inner, ("F", "CancelledError", ""))

    def fireInner(self, inner: InnerModel, result: Outcome) -> str | None:
        if inner.called:
            if inner.suppress:
                inner.suppress = False
                return "ignored"
            return "already"
        inner.called = True
        # An unfired inner Deferred is always the one being waited on.
        assert self.waitingOn is inner
        self.waitingOn = None
        self.result = result
        self.run()
        return None

    def run(self) -> None:
        if self.running or self.paused or self.waitingOn is not None:
            return
        self.running = True
        try:
            while self.entries:
                entry = self.entries.pop(0)
                assert self.result is not None
                failed = self.result[0] == "F"
                kind = entry.errback if failed else entry.callback
                if kind is None:
                    continue
                side = "both" if entry.both else ("eb" if failed else "cb")
                self.log.append((entry.name, side, self.result))
                outcome = self.apply(entry, kind, side)
                if isinstance(outcome, InnerModel):
                    self.waitingOn = outcome
                    break
                self.result = outcome
        finally:
            self.running = False

    def apply(self, entry: Entry, kind: str, side: str) -> Outcome | InnerModel:
        name = entry.name
        result = self.result
        assert result is not None
        if side == "both":
            if kind == "passthru":
                return result
            if kind == "value":
                return ("V", f"both {name}")
            return ("F", "Boom", f"both {name}")
        if kind in ("raise", "failure"):
            return ("F", "Boom", f"{kind} {name}")
        if kind == "value":
            return ("V", f"value {name}")
        if kind == "recover":
            return ("V", f"recovered {name}")
        if kind == "firedValue":
            return ("V", f"fired {name}")
        if kind == "firedFailure":
            return ("F", "Boom", f"fired {name}")
        if kind == "pending":
            inner = InnerModel()
            self.inners.append(inner)
            return inner
        if kind == "pause":
            self.paused += 1
            return result
        if kind == "addMore":
            self.entries.append(Entry(name + "+", "value", None))
            return result
        if kind == "trapMatch":
            return ("V", f"trapped {name}") if result[1] == "Boom" else result
        assert kind == "trapMiss"
        return result


# --- the real thing, driven the same way -------------------------------------


class Real:
    def __init__(self, canceller: str | None) -> None:
        self.log: list[tuple[str, str, Outcome]] = []
        self.inners: list[Deferred[Any]] = []
        cancel = None
        if canceller == "noop":
            cancel = lambda d: None  # noqa: E731
        elif canceller == "fires":
            cancel = lambda d: d.callback("from canceller")  # noqa: E731
        self.d: Deferred[Any] = Deferred(cancel)

    def make(self, name: str, kind: str, side: str) -> Any:
        def fn(result: Any) -> Any:
            self.log.append((name, side, describe(result)))
            return self.act(name, kind, side, result)

        return fn

    def act(self, name: str, kind: str, side: str, result: Any) -> Any:
        if side == "both":
            if kind == "passthru":
                return result
            if kind == "value":
                return f"both {name}"
            raise Boom(f"both {name}")
        if kind == "raise":
            raise Boom(f"raise {name}")
        if kind == "failure":
            return Failure(Boom(f"failure {name}"))
        if kind == "value":
            return f"value {name}"
        if kind == "recover":
            return f"recovered {name}"
        if kind == "firedValue":
            return succeed(f"fired {name}")
        if kind == "firedFailure":
            return fail(Boom(f"fired {name}"))
        if kind == "pending":
            inner: Deferred[Any] = Deferred()
            self.inners.append(inner)
            return inner
        if kind == "pause":
            self.d.pause()
            return result
        if kind == "addMore":
            self.d.addCallback(self.make(name + "+", "value", "cb"))
            return result
        if kind == "trapMatch":
            result.trap(Boom)
            return f"trapped {name}"
        assert kind == "trapMiss"
        result.trap(KeyError)
        raise AssertionError("trap() should have raised")


def refire(fire: Any, arg: Any) -> str | None:
    try:
        fire(arg)
    except AlreadyCalledError:
        return "already"
    return None


# --- operations ----------------------------------------------------------------

OPERATION_ARGUMENTS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "addCallback": st.tuples(st.sampled_from(CALLBACK_KINDS)),
    "addErrback": st.tuples(st.sampled_from(ERRBACK_KINDS)),
    "addBoth": st.tuples(st.sampled_from(BOTH_KINDS)),
    "addCallbacks": st.tuples(
        st.sampled_from(CALLBACK_KINDS), st.sampled_from(ERRBACK_KINDS)
    ),
    "pause": st.just(()),
    "unpause": st.just(()),
    "callback": st.just(()),
    "errback": st.just(()),
    "cancel": st.just(()),
    "fireInner": st.tuples(st.booleans()),
}

# Repeated names are drawn more often: mostly adding callbacks.
WEIGHTED_NAMES = [
    *["addCallback"] * 6,
    *["addErrback"] * 3,
    *["addBoth"] * 2,
    *["addCallbacks"] * 2,
    *["pause"] * 2,
    *["unpause"] * 3,
    *["callback"] * 2,
    *["errback"] * 2,
    *["cancel"] * 3,
    *["fireInner"] * 4,
]

operations = st.sampled_from(WEIGHTED_NAMES).flatmap(
    lambda name: OPERATION_ARGUMENTS[name].map(lambda args: (name, *args))
)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    canceller=st.sampled_from([None, "noop", "fires"]),
    ops=st.lists(operations, min_size=1, max_size=40),
    finishWithSuccess=st.booleans(),
)
def test_deferred_behaves_like_the_model(
    canceller: str | None, ops: list[tuple[Any, ...]], finishWithSuccess: bool
) -> None:
    logger = logging.getLogger("deferred")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        runAndCompare(canceller, ops, finishWithSuccess)
    finally:
        logger.removeHandler(handler)
    assert handler.records == []


def runAndCompare(
    canceller: str | None, ops: list[tuple[Any, ...]], finishWithSuccess: bool
) -> None:
    model = Model(canceller)
    real = Real(canceller)
    for number, op in enumerate(ops):
        step(model, real, str(number), op)
    # Then drive it to the end, so every callback added gets to run: fire it,
    # lift every pause, fire whatever it waits on (callbacks may pause again or
    # return new pending Deferreds, hence the loop).
    if not model.called:
        step(model, real, "end", ("callback",) if finishWithSuccess else ("errback",))
    for _ in range(len(ops) + 1):
        if model.paused:
            step(model, real, "end", ("unpause",))
        elif model.waitingOn is not None:
            step(model, real, "end", ("fireInner", finishWithSuccess))
        else:
            break
    assert not model.paused and model.waitingOn is None and not model.entries
    cleanUp(real)


def step(model: Model, real: Real, name: str, op: tuple[Any, ...]) -> None:
    """Apply one operation to both the model and the real Deferred, then
    compare what they did."""
    d = real.d
    what = op[0]
    if what == "addCallback":
        model.add(Entry(name, op[1], None))
        d.addCallback(real.make(name, op[1], "cb"))
    elif what == "addErrback":
        model.add(Entry(name, None, op[1]))
        d.addErrback(real.make(name, op[1], "eb"))
    elif what == "addBoth":
        model.add(Entry(name, op[1], op[1], both=True))
        d.addBoth(real.make(name, op[1], "both"))
    elif what == "addCallbacks":
        model.add(Entry(name, op[1], op[2]))
        d.addCallbacks(real.make(name, op[1], "cb"), real.make(name, op[2], "eb"))
    elif what == "pause":
        model.paused += 1
        d.pause()
    elif what == "unpause":
        if model.paused == 0:
            return  # unpause only what was paused
        model.unpause()
        d.unpause()
    elif what == "callback":
        expected = model.fire(("V", "fired"))
        actual = refire(d.callback, "fired")
        assert actual == ("already" if expected == "already" else None)
    elif what == "errback":
        expected = model.fire(("F", "Boom", "fired"))
        actual = refire(d.errback, Boom("fired"))
        assert actual == ("already" if expected == "already" else None)
    elif what == "cancel":
        model.cancel()
        d.cancel()
    else:
        assert what == "fireInner"
        if not model.inners:
            return
        inner = real.inners[-1]
        if op[1]:
            expected = model.fireInner(model.inners[-1], ("V", "inner"))
            actual = refire(inner.callback, "inner")
        else:
            expected = model.fireInner(model.inners[-1], ("F", "Boom", "inner"))
            actual = refire(inner.errback, Boom("inner"))
        assert actual == ("already" if expected == "already" else None)
    assert real.log == model.log, f"after {op} (operation {name})"
    compareState(model, real)


def compareState(model: Model, real: Real) -> None:
    d = real.d
    assert d.called == model.called
    assert d.paused == model.paused + (model.waitingOn is not None)
    if model.waitingOn is not None:
        assert d.result is real.inners[model.inners.index(model.waitingOn)]
    elif model.called:
        assert describe(d.result) == model.result
    assert len(real.inners) == len(model.inners)
    for inner, innerModel in zip(real.inners, model.inners):
        assert inner.called == innerModel.called
        if innerModel.called:
            # Its result went to the Deferred that waited on it.
            assert inner.result is None


def cleanUp(real: Real) -> None:
    """Handle whatever failure the Deferred ended on, so nothing is reported."""
    d = real.d
    waiting = d.called and isinstance(d.result, Deferred)
    while d.paused > waiting:
        d.unpause()
    d.addErrback(lambda f: f.trap(Boom, CancelledError))
