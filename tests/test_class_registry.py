"""Tests that Deferred and Failure subclasses made at run time are freed once
unused: the registries the hot paths look classes up in (``type(x) in SET``)
hold subclasses weakly, and still recognise them while they live."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from deferred import Deferred, Failure, succeed
from deferred._deferred import _DEFERRED_TYPES
from deferred.failure import _FAILURE_TYPES, _OUTCOME_TYPES
from support import failureOf, resultOf


def makeSubclasses() -> tuple[type[Deferred[Any]], type[Failure]]:
    class LocalDeferred(Deferred[Any]):
        pass

    class LocalFailure(Failure):
        pass

    return LocalDeferred, LocalFailure


def sizes() -> tuple[int, int, int]:
    return len(_DEFERRED_TYPES), len(_OUTCOME_TYPES), len(_FAILURE_TYPES)


def test_subclasses_made_at_run_time_are_freed_once_unused() -> None:
    gc.collect()
    before = sizes()
    localDeferred, localFailure = makeSubclasses()
    assert sizes() == (before[0] + 1, before[1] + 2, before[2] + 1)
    # Used: recognised on the hot paths as Deferreds and Failures.
    inner = localDeferred()
    outer = succeed(0).addCallback(lambda _, it: it, inner)
    assert outer.result is inner  # chained on it: taken for a Deferred
    inner.callback("through")
    assert resultOf(outer) == "through"
    failed: Deferred[Any] = Deferred()
    failed.callback(localFailure(ValueError("sub")))
    failureOf(failed, ValueError)
    refs = [weakref.ref(localDeferred), weakref.ref(localFailure)]
    del localDeferred, localFailure, inner, outer, failed
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
    assert sizes() == before


def test_many_subclasses_made_at_run_time_do_not_accumulate() -> None:
    gc.collect()
    before = sizes()
    for _ in range(200):
        makeSubclasses()
    gc.collect()
    assert sizes() == before


class ModuleLevelDeferred(Deferred[Any]):
    pass


def test_a_module_level_subclass_is_held_strongly_once_used() -> None:
    # Its module holds it for good anyway: after the first lookup the
    # registry holds the class itself, so lookups stay in C.
    assert type(ModuleLevelDeferred()) in _DEFERRED_TYPES
    assert any(entry is ModuleLevelDeferred for entry in _DEFERRED_TYPES)
    assert ModuleLevelDeferred in _DEFERRED_TYPES
    assert ModuleLevelDeferred in _OUTCOME_TYPES


def test_other_types_are_not_mistaken_for_subclasses() -> None:
    localDeferred, localFailure = makeSubclasses()
    for kind in (int, object, type, Exception, ValueError, weakref.ref):
        assert kind not in _DEFERRED_TYPES
        assert kind not in _OUTCOME_TYPES
        assert kind not in _FAILURE_TYPES
    assert localDeferred not in _FAILURE_TYPES
    assert localFailure not in _DEFERRED_TYPES
