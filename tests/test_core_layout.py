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
