"""What the core in use keeps per Deferred: no instance dict until an
attribute is set (on both cores), and the compiled core's build inputs."""

from __future__ import annotations

import gc

import deferred
from deferred import Deferred


def test_a_new_deferred_has_no_instance_dict_until_it_gets_an_attribute() -> None:
    d: Deferred[int] = Deferred()
    assert not any(type(r) is dict for r in gc.get_referents(d))
    d.request = "GET /"  # type: ignore[attr-defined]
    assert vars(d) == {"request": "GET /"}
    assert any(type(r) is dict for r in gc.get_referents(d))


def test_the_instance_dict_takes_part_in_cycles() -> None:
    import weakref

    d: Deferred[int] = Deferred()
    d.me = d  # type: ignore[attr-defined]
    alive = weakref.ref(d)
    del d
    gc.collect()
    assert alive() is None


def test_the_core_is_named() -> None:
    assert deferred.__core__ in ("compiled", "python")


def test_the_compiled_methods_take_the_pure_ones_parameters() -> None:
    # (inspect, mock's autospec and IDEs read them; the two cores must agree.)
    import inspect

    import pytest

    compiled = pytest.importorskip("deferred._cdeferred")
    from deferred import _pycore

    for name in (
        "addCallbacks",
        "addCallback",
        "addErrback",
        "addBoth",
        "callback",
        "errback",
        "chainDeferred",
        "pause",
        "unpause",
        "cancel",
    ):
        pure = inspect.signature(getattr(_pycore.DeferredCore, name))
        built = inspect.signature(getattr(compiled.DeferredCore, name))
        assert [(p.name, p.kind, p.default) for p in pure.parameters.values()] == [
            (p.name, p.kind if p.name != "self" else pure.parameters["self"].kind,
             p.default)
            for p in built.parameters.values()
        ], name


def test_the_source_hash_covers_the_included_files(tmp_path: object) -> None:
    # A build is stale when any file it compiled changed: the .pyx or a .pxi.
    from pathlib import Path

    from deferred._sourcehash import sourceHash

    folder = Path(str(tmp_path))
    pyx = folder / "_cdeferred.pyx"
    pyx.write_text('include "_part.pxi"\n')
    (folder / "_part.pxi").write_text("x = 1\n")
    first = sourceHash(str(pyx))
    (folder / "_part.pxi").write_text("x = 2\n")
    assert sourceHash(str(pyx)) not in (None, first)
    assert sourceHash(str(folder / "missing.pyx")) is None
