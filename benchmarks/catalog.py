"""The rows of the benchmark table: what is measured, at which size, and the target.

Targets come from the performance issue; ratios are ``deferred / other`` (lower
is faster or smaller).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["time", "memory", "import", "linear"]

IMPLEMENTATIONS: tuple[str, ...] = ("deferred", "deferred-py", "twisted", "asyncio")
"""In table order. ``deferred`` runs on the core ``import deferred`` picks (the
compiled one when it is built); ``deferred-py`` runs the same workloads on the
pure-Python core, in workers started with ``DEFERRED_NO_EXTENSIONS=1``."""

#: The implementations that are ``deferred`` itself, on one core or the other.
DEFERRED_IMPLS: tuple[str, ...] = ("deferred", "deferred-py")

#: The core (``deferred.__core__``) an implementation must run on, when it is
#: fixed; ``deferred`` runs on the active core, which the runner looks up first
#: and passes to its workers (``--core``).
FIXED_CORE: dict[str, str] = {"deferred-py": "python"}

#: Environment variables set for an implementation's workers.
WORKER_ENV: dict[str, dict[str, str]] = {
    "deferred-py": {"DEFERRED_NO_EXTENSIONS": "1"},
}

#: The module each implementation is imported as (for the import-time row).
MODULES: dict[str, str] = {
    "deferred": "deferred",
    "deferred-py": "deferred",
    "twisted": "twisted.internet.defer",
    "asyncio": "asyncio",
}

#: The reason a worker gives when asyncio has no equivalent for a row.
NO_EQUIVALENT = "no asyncio equivalent"

#: Largest ``t(2N) / t(N)`` accepted as linear (2.0 plus room for noise).
LINEAR_LIMIT = 2.2


@dataclass(frozen=True)
class Target:
    """What ``deferred`` must achieve on one row."""

    vs_twisted: float | None = None
    """``deferred / twisted`` must be at most this."""
    beat_asyncio: bool = False
    """``deferred / asyncio`` must be below 1 (where asyncio has an equivalent)."""
    at_most: float | None = None
    """``deferred``'s own value must be at most this (in the row's unit)."""

    def describe(self) -> str:
        parts: list[str] = []
        if self.vs_twisted is not None:
            parts.append(f"tw ≤ {self.vs_twisted:g}")
        if self.beat_asyncio:
            parts.append("aio < 1")
        if self.at_most is not None:
            parts.append(f"≤ {self.at_most:g}")
        return ", ".join(parts) or "—"


@dataclass(frozen=True)
class Row:
    """One row of the table."""

    name: str
    title: str
    kind: Kind
    n: int
    quick_n: int
    target: Target
    base: str | None = None
    """For ``linear`` rows: the timed workload run at N and 2N."""

    def size(self, quick: bool) -> int:
        return self.quick_n if quick else self.n


def _time(name: str, title: str, n: int, quick_n: int, target: Target) -> Row:
    return Row(name, title, "time", n, quick_n, target)


def _linear(name: str, title: str, base: str, n: int, quick_n: int) -> Row:
    return Row(name, title, "linear", n, quick_n, Target(at_most=LINEAR_LIMIT), base)


_FAST = Target(vs_twisted=0.35, beat_asyncio=True)
_DEEP = Target(vs_twisted=0.4, beat_asyncio=True)
_GATHER = Target(vs_twisted=0.5, beat_asyncio=True)
_ASYNCIO_ONLY = Target(beat_asyncio=True)

ROWS: tuple[Row, ...] = (
    _time("callbacks10", "Deferred + 10 callbacks, fired once", 1_000, 200, _FAST),
    _time("succeed", "succeed(x).addCallback(f)", 1_000, 200, _FAST),
    _time("errback_trap", "callback raises, errback traps", 1_000, 200, _FAST),
    _time("chain_forward", "chain of 10,000 fired first→last", 10_000, 2_000, _DEEP),
    _time("chain_backward", "chain of 10,000 fired last→first", 10_000, 2_000, _DEEP),
    _time(
        "inline_fired", "inlineCallbacks, 1,000 fired yields", 1_000, 200, _ASYNCIO_ONLY
    ),
    _time(
        "inline_pending", "inlineCallbacks, 1,000 pending yields", 1_000, 200, _GATHER
    ),
    _time(
        "coro_fired",
        "ensureDeferred(async), 1,000 fired awaits",
        1_000,
        200,
        Target(vs_twisted=0.6, beat_asyncio=True),
    ),
    _time(
        "coro_pending",
        "ensureDeferred(async), 1,000 pending awaits",
        1_000,
        200,
        _ASYNCIO_ONLY,
    ),
    _time("gather", "gatherResults over 1,000", 1_000, 200, _GATHER),
    _time(
        "deferred_list", "DeferredList(consumeErrors) over 1,000", 1_000, 200, _GATHER
    ),
    _time(
        "queue_waiting",
        "DeferredQueue 100,000 waiting gets, puts",
        100_000,
        10_000,
        _DEEP,
    ),
    _time("queue_pingpong", "DeferredQueue ping-pong", 1_000, 200, _DEEP),
    _time("lock_contended", "DeferredLock.run, contended", 1_000, 200, _DEEP),
    _time(
        "lock_uncontended", "DeferredLock.run, uncontended", 1_000, 200, _ASYNCIO_ONLY
    ),
    _time(
        "semaphore_contended", "DeferredSemaphore(10).run, contended", 1_000, 200, _DEEP
    ),
    _time(
        "semaphore_uncontended",
        "DeferredSemaphore(10).run, uncontended",
        1_000,
        200,
        _ASYNCIO_ONLY,
    ),
    _time(
        "looping_clock",
        "LoopingCall ticks on a Clock",
        10_000,
        2_000,
        Target(vs_twisted=0.5),
    ),
    _time(
        "coiterate",
        "coiterate over a 100,000-step iterator",
        100_000,
        20_000,
        Target(vs_twisted=0.5),
    ),
    _time(
        "thread_roundtrip",
        "deferToThread round trips, one at a time",
        1_000,
        200,
        Target(vs_twisted=0.5, beat_asyncio=True),
    ),
    Row(
        "memory",
        "memory: pending Deferred + 1 callback",
        "memory",
        10_000,
        2_000,
        Target(vs_twisted=0.35),
    ),
    Row(
        "import",
        "import time, fresh interpreter",
        "import",
        7,
        3,
        Target(at_most=0.010),
    ),
    _linear(
        "linear_chain", "linear: chain first→last, N→2N", "chain_forward", 10_000, 2_000
    ),
    _linear(
        "linear_inline_fired",
        "linear: inlineCallbacks fired, N→2N",
        "inline_fired",
        10_000,
        1_000,
    ),
    _linear(
        "linear_inline_pending",
        "linear: inlineCallbacks pending, N→2N",
        "inline_pending",
        10_000,
        1_000,
    ),
    _linear(
        "linear_queue",
        "linear: DeferredQueue waiting gets, N→2N",
        "queue_waiting",
        100_000,
        10_000,
    ),
)

ROWS_BY_NAME: dict[str, Row] = {row.name: row for row in ROWS}

#: What one operation is, per timed row (the unit of "time per op").
OPERATION: dict[str, str] = {
    "callbacks10": "one Deferred with its 10 callbacks",
    "succeed": "one `succeed(x).addCallback(f)`",
    "errback_trap": "one Deferred through raise + trap",
    "chain_forward": "one link of the chain",
    "chain_backward": "one link of the chain",
    "inline_fired": "one yield",
    "inline_pending": "one yield",
    "coro_fired": "one await",
    "coro_pending": "one await",
    "gather": "one input Deferred",
    "deferred_list": "one input Deferred",
    "queue_waiting": "one get + one put",
    "queue_pingpong": "one round trip (2 gets + 2 puts)",
    "lock_contended": "one `run`",
    "lock_uncontended": "one `run`",
    "semaphore_contended": "one `run`",
    "semaphore_uncontended": "one `run`",
    "looping_clock": "one tick (one `advance`)",
    "coiterate": "one step of the iterator",
    "thread_roundtrip": "one call in a thread, awaited",
}
