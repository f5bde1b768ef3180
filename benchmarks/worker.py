"""Measure one row of the table for one implementation, in a fresh process.

The runner starts ``python -m benchmarks.worker --impl IMPL --row ROW --n N`` once
per (implementation, row); the worker prints one line ``BENCH-RESULT {json}``.
A ``deferred`` worker checks that ``deferred.__core__`` is the core it was asked
for (``--core``; always ``python`` for ``deferred-py``) and otherwise reports a
``wrong core`` error and exits with status 3: the runner stops the run then.
Only the standard library and the implementation under test are imported, so the
same file runs under the current interpreter (``deferred``, asyncio) and under the
Twisted environment.

The functions are importable too: :func:`measure` runs a row in-process and
returns the same dictionary (handy for a smoke test).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from benchmarks.catalog import (
    DEFERRED_IMPLS,
    FIXED_CORE,
    IMPLEMENTATIONS,
    MODULES,
    NO_EQUIVALENT,
    ROWS_BY_NAME,
    Row,
)
from benchmarks.workloads import DEFER_WORKLOADS, result_of

RESULT_PREFIX = "BENCH-RESULT "

#: The worker's exit status when ``deferred`` is not on the core it was asked for.
WRONG_CORE_EXIT = 3


class Unavailable(Exception):
    """The implementation cannot run this row (yet); reported as ``n/a``."""


class WrongResult(Exception):
    """A workload returned something other than the expected result."""


class WrongCore(Exception):
    """``deferred`` is not on the core the worker was asked to measure."""


@dataclass(frozen=True)
class Settings:
    """How hard to measure."""

    repeats: int = 7
    """Timed repeats (each after ``gc.collect()``); the median is reported."""
    min_repeats: int = 3
    """Repeats kept even when a single call is slower than :attr:`budget` allows."""
    min_time: float = 0.05
    """Seconds one repeat should last at least (calls are looped to reach it)."""
    budget: float = 3.0
    """Seconds one measurement may take; beyond it, repeats drop to the minimum."""


# -- loading implementations --------------------------------------------------


def load(impl: str) -> ModuleType:
    """Import the module that ``impl`` is measured through."""
    if impl not in MODULES:
        raise ValueError(f"unknown implementation {impl!r}")
    name = MODULES[impl]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise Unavailable(f"{name} is not installed") from exc
        raise


def expected_core(impl: str, core: str | None) -> str | None:
    """The core ``impl`` must run on: ``core`` if given, else its fixed one."""
    if impl not in DEFERRED_IMPLS:
        if core is not None:
            raise ValueError(f"{impl} has no core to choose")
        return None
    fixed = FIXED_CORE.get(impl)
    if fixed is not None and core is not None and core != fixed:
        raise ValueError(f"{impl} runs on the {fixed} core, not {core!r}")
    return fixed or core


def check_core(impl: str, module: ModuleType, expected: str | None) -> None:
    """Raise :class:`WrongCore` unless ``deferred.__core__`` is ``expected``."""
    if expected is None:
        return
    got = getattr(module, "__core__", None)
    if got != expected:
        why = ""
        if got == "python":
            core = importlib.import_module("deferred._core")
            why = f" (why: {getattr(core, 'reasonForPython', '?')})"
        raise WrongCore(
            f"wrong core: {impl} was asked for the {expected} core, but "
            f"deferred.__core__ is {got!r}{why}"
        )


def environment(impl: str, module: ModuleType | None) -> dict[str, Any]:
    """Versions and settings worth recording with a result."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }
    if impl == "twisted" and module is not None:
        env["version"] = importlib.import_module("twisted").__version__
    elif impl in DEFERRED_IMPLS and module is not None:
        env["version"] = getattr(module, "__version__", None)
        env["path"] = getattr(module, "__file__", None)
        env["core"] = getattr(module, "__core__", None)
    elif impl == "asyncio":
        import asyncio

        env["c_future"] = asyncio.Future.__module__ == "_asyncio"
        env["c_task"] = asyncio.Task.__module__ == "_asyncio"
    return env


def _require(module: ModuleType, impl: str, names: tuple[str, ...]) -> None:
    missing = [name for name in names if not hasattr(module, name)]
    if missing:
        suffix = " yet" if impl in DEFERRED_IMPLS else ""
        raise Unavailable(f"no {', '.join(missing)}{suffix}")


# -- timing --------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    per_call: float
    """Median seconds per call."""
    samples: list[float]
    """Seconds per call, one per repeat."""
    loops: int
    """Calls per repeat."""


def time_calls(fn: Callable[[], object], settings: Settings) -> Timing:
    """Median seconds per call of ``fn`` (already warmed up by the caller)."""
    return time_interleaved([fn], settings)[0]


def time_interleaved(
    fns: Sequence[Callable[[], object]], settings: Settings
) -> list[Timing]:
    """Median seconds per call of each of ``fns``, their repeats interleaved so
    that a drift in machine speed affects them alike."""
    loops: list[int] = []
    cost = 0
    for fn in fns:
        start = time.perf_counter_ns()
        fn()
        once = max(time.perf_counter_ns() - start, 1)
        loops.append(max(1, math.ceil(settings.min_time * 1e9 / once)))
        cost += once * loops[-1]
    affordable = int(settings.budget * 1e9 // cost)
    repeats = max(settings.min_repeats, min(settings.repeats, affordable))
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, count, kept in zip(fns, loops, samples, strict=True):
            gc.collect()
            start = time.perf_counter_ns()
            for _ in range(count):
                fn()
            kept.append((time.perf_counter_ns() - start) / count / 1e9)
    return [
        Timing(statistics.median(kept), kept, count)
        for kept, count in zip(samples, loops, strict=True)
    ]


def _checked_call(
    fn: Callable[[], object], expected: object, normalise: Callable[[Any], object]
) -> None:
    """Warm-up call that also checks the result."""
    got = normalise(fn())
    if got != expected:
        shown = repr(got)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        raise WrongResult(f"wrong result: got {shown}")


def _timed_workload(impl: str, module: ModuleType, name: str) -> Callable[[int], Any]:
    """A ``size -> (warmed-up call, expected)`` factory for one workload."""
    if impl == "asyncio":
        from benchmarks.asyncio_workloads import ASYNCIO_WORKLOADS

        if name not in ASYNCIO_WORKLOADS:
            raise Unavailable(NO_EQUIVALENT)
        workload = ASYNCIO_WORKLOADS[name]
        loop = _new_loop(module)
        module.set_event_loop(loop)

        def asyncio_call(n: int) -> Callable[[], object]:
            def call() -> object:
                return workload.run(loop, n)

            _checked_call(call, workload.expected(n), lambda value: value)
            return call

        return asyncio_call

    defer_workload = DEFER_WORKLOADS[name]
    _require(module, impl, defer_workload.needs)

    def defer_call(n: int) -> Callable[[], object]:
        def call() -> object:
            return defer_workload.run(module, n)

        _checked_call(call, defer_workload.expected(n), result_of)
        return call

    return defer_call


# -- the row kinds --------------------------------------------------------------


def _measure_time(
    impl: str, module: ModuleType, row: Row, n: int, settings: Settings
) -> dict[str, Any]:
    call = _timed_workload(impl, module, row.name)(n)
    timing = time_calls(call, settings)
    return {
        "value": timing.per_call / n,
        "unit": "s/op",
        "detail": {
            "samples_per_op": [s / n for s in timing.samples],
            "loops": timing.loops,
        },
    }


def _measure_linear(
    impl: str, module: ModuleType, row: Row, n: int, settings: Settings
) -> dict[str, Any]:
    assert row.base is not None
    factory = _timed_workload(impl, module, row.base)
    single, double = time_interleaved([factory(n), factory(2 * n)], settings)
    return {
        "value": double.per_call / single.per_call,
        "unit": "ratio",
        "detail": {"n": n, "t_n": single.per_call, "t_2n": double.per_call},
    }


def _measure_memory(
    impl: str, module: ModuleType, n: int, settings: Settings
) -> dict[str, Any]:
    make: Callable[[], object]
    if impl == "asyncio":
        from benchmarks.asyncio_workloads import pending_with_callback

        loop = _new_loop(module)

        def make() -> object:
            return pending_with_callback(loop)
    else:
        from benchmarks.workloads import pending_with_callback as defer_pending

        _require(module, impl, ("Deferred",))

        def make() -> object:
            return defer_pending(module)

    make()  # warm-up: anything allocated once per process is not per object
    samples: list[float] = []
    for _ in range(max(settings.min_repeats, 3)):
        holder: list[object] = [None] * n
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            holder[i] = make()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        samples.append((after - before) / n)
        del holder
    return {
        "value": statistics.median(samples),
        "unit": "bytes",
        "detail": {"samples": samples, "objects": n},
    }


def parse_importtime(stderr: str, module: str) -> int:
    """Cumulative microseconds of ``import module`` from ``-X importtime`` output.

    Sums the top-level (unindented) entries for the module and its parent
    packages, whichever of them were reported at top level.
    """
    wanted = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)}
    total = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line.split("|")
        if len(parts) != 3:
            continue
        name = parts[2].rstrip()
        if name.startswith("  ") or name.strip() not in wanted:
            continue
        try:
            total += int(parts[1])
        except ValueError:
            continue
    return total


def _measure_import(impl: str, module: ModuleType, runs: int) -> dict[str, Any]:
    name = MODULES[impl]
    if impl in DEFERRED_IMPLS:
        _require(module, impl, ("Deferred",))
    command = [sys.executable, "-X", "importtime", "-c", f"import {name}"]
    # Import time is measured as users see it, from bytecode caches (pip
    # writes them on install): the first run writes them, even where the
    # environment says not to.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    samples: list[float] = []
    for attempt in range(runs + 1):
        proc = subprocess.run(
            command, capture_output=True, text=True, check=False, env=env
        )
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
            raise RuntimeError(f"import {name} failed: {tail[0]}")
        microseconds = parse_importtime(proc.stderr, name)
        if microseconds == 0:
            raise RuntimeError(f"no -X importtime entry for {name}")
        if attempt:
            samples.append(microseconds / 1e6)
    return {
        "value": statistics.median(samples),
        "unit": "s",
        "detail": {"samples": samples},
    }


# -- entry points -----------------------------------------------------------------


#: Event loops made for the asyncio rows, closed when the measurement ends (a
#: worker process would not care, but a test calling measure() in-process does).
_LOOPS: list[Any] = []


def _new_loop(module: ModuleType) -> Any:
    loop = module.new_event_loop()
    _LOOPS.append(loop)
    return loop


def _close_loops(module: ModuleType | None) -> None:
    while _LOOPS:
        _LOOPS.pop().close()
    if module is not None and hasattr(module, "set_event_loop"):
        module.set_event_loop(None)


def measure(
    impl: str, row_name: str, n: int, settings: Settings, core: str | None = None
) -> dict[str, Any]:
    """Measure one row for one implementation in this process.

    ``core`` (``"compiled"`` or ``"python"``) is the core ``deferred`` must be
    on; ``deferred-py`` always wants ``"python"``, ``deferred`` without ``core``
    takes whichever is active. On another core, the result is an error with
    ``"wrong_core": True`` (in-process, ``deferred-py`` thus needs a process
    started with ``DEFERRED_NO_EXTENSIONS=1``).
    """
    row = ROWS_BY_NAME[row_name]
    result: dict[str, Any] = {"impl": impl, "row": row_name, "kind": row.kind, "n": n}
    wanted = expected_core(impl, core)
    module: ModuleType | None = None
    try:
        module = load(impl)
        check_core(impl, module, wanted)
        if row.kind == "time":
            outcome = _measure_time(impl, module, row, n, settings)
        elif row.kind == "linear":
            outcome = _measure_linear(impl, module, row, n, settings)
        elif row.kind == "memory":
            outcome = _measure_memory(impl, module, n, settings)
        else:
            outcome = _measure_import(impl, module, n)
    except WrongCore as exc:
        result.update(status="error", reason=str(exc), wrong_core=True)
    except Unavailable as exc:
        result.update(status="n/a", reason=str(exc))
    except WrongResult as exc:
        result.update(status="error", reason=str(exc))
    except Exception as exc:
        result.update(status="error", reason=f"{type(exc).__name__}: {exc}")
    else:
        result.update(status="ok", **outcome)
    finally:
        if impl == "asyncio":
            _close_loops(module)
    result["env"] = environment(impl, module)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", required=True, choices=IMPLEMENTATIONS)
    parser.add_argument("--row", required=True, choices=sorted(ROWS_BY_NAME))
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument(
        "--core",
        choices=("compiled", "python"),
        help="the core deferred must be on (deferred-py: always python)",
    )
    parser.add_argument("--repeats", type=int, default=Settings.repeats)
    parser.add_argument("--min-time", type=float, default=Settings.min_time)
    parser.add_argument("--budget", type=float, default=Settings.budget)
    args = parser.parse_args(argv)
    settings = Settings(
        repeats=args.repeats,
        min_repeats=min(Settings.min_repeats, args.repeats),
        min_time=args.min_time,
        budget=args.budget,
    )
    try:
        wanted = expected_core(args.impl, args.core)
    except ValueError as exc:
        parser.error(str(exc))
    result = measure(args.impl, args.row, args.n, settings, wanted)
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    if result.get("wrong_core"):
        print(f"benchmarks.worker: {result['reason']}", file=sys.stderr, flush=True)
        return WRONG_CORE_EXIT
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
