"""Run every row for every implementation, each in a fresh worker process.

Usage (from the repository root)::

    python -m benchmarks                 # the full run (a few minutes)
    python -m benchmarks --quick         # smoke run: smaller sizes, fewer repeats
    python -m benchmarks --only 'queue*,lock' --impl deferred,twisted
    python -m benchmarks --impl deferred,deferred-py   # the two cores only
    python -m benchmarks --markdown --json results.json

Progress goes to stderr; the header and the table go to stdout. Compare ratios
within one run, never absolute times across runs: machines are noisy.

``deferred`` is measured on the core ``import deferred`` picks (the compiled one
when it is built) and ``deferred-py`` on the pure-Python core
(``DEFERRED_NO_EXTENSIONS=1``); the targets are evaluated on ``deferred``. Every
``deferred`` worker checks it runs on the core the header names, and a worker on
another core stops the run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import fnmatch
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.catalog import DEFERRED_IMPLS, FIXED_CORE, IMPLEMENTATIONS, ROWS, Row
from benchmarks.envs import REPO_ROOT, Interpreter, interpreters
from benchmarks.worker import RESULT_PREFIX, Settings

FULL = Settings(repeats=7, min_time=0.05, budget=3.0)
QUICK = Settings(repeats=3, min_time=0.01, budget=0.5)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark deferred (on its compiled and its pure-Python "
        "core) against twisted.internet.defer and asyncio.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and fewer repeats"
    )
    parser.add_argument(
        "--only",
        metavar="PATTERN",
        help="comma-separated row names or glob patterns (a plain word matches "
        "as a substring), e.g. 'chain*,queue'",
    )
    parser.add_argument(
        "--impl",
        default=",".join(IMPLEMENTATIONS),
        help="comma-separated implementations (default: %(default)s); deferred "
        "runs on the active core, deferred-py on the pure-Python one",
    )
    parser.add_argument("--json", metavar="PATH", help="also write all results here")
    parser.add_argument(
        "--markdown", action="store_true", help="print the table as markdown"
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="describe the rows (markdown) and exit without measuring",
    )
    parser.add_argument(
        "--twisted-python",
        metavar="PATH",
        help="use this interpreter (which must have Twisted) instead of "
        "benchmarks/.envs/twisted",
    )
    parser.add_argument(
        "--twisted-requirement",
        default="twisted",
        help="what to pip install into benchmarks/.envs/twisted (default: %(default)s)",
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="never build benchmarks/.envs/twisted; skip Twisted if it is missing",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds before a worker is abandoned (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    impls = tuple(part.strip() for part in args.impl.split(",") if part.strip())
    unknown = [impl for impl in impls if impl not in IMPLEMENTATIONS]
    if unknown or not impls:
        parser.error(f"--impl takes a subset of {', '.join(IMPLEMENTATIONS)}")
    args.impls = tuple(impl for impl in IMPLEMENTATIONS if impl in impls)
    return args


def select_rows(pattern: str | None) -> list[Row]:
    if not pattern:
        return list(ROWS)
    parts = [part.strip() for part in pattern.split(",") if part.strip()]

    def wanted(row: Row) -> bool:
        for part in parts:
            if any(char in part for char in "*?["):
                if fnmatch.fnmatchcase(row.name, part):
                    return True
            elif part in row.name:
                return True
        return False

    return [row for row in ROWS if wanted(row)]


def run_worker(
    interpreter: Interpreter,
    row: Row,
    n: int,
    settings: Settings,
    timeout: float,
    core: str | None = None,
) -> dict[str, Any]:
    """One fresh worker process measuring ``row`` for one implementation.

    ``core``: the core a ``deferred`` worker must be on (``--core``).
    """
    base: dict[str, Any] = {
        "impl": interpreter.impl,
        "row": row.name,
        "kind": row.kind,
        "n": n,
    }
    if interpreter.python is None:
        return {**base, "status": "n/a", "reason": interpreter.note}
    command = [
        interpreter.python,
        "-m",
        "benchmarks.worker",
        "--impl",
        interpreter.impl,
        "--row",
        row.name,
        "--n",
        str(n),
        "--repeats",
        str(settings.repeats),
        "--min-time",
        str(settings.min_time),
        "--budget",
        str(settings.budget),
    ]
    if core is not None:
        command += ["--core", core]
    try:
        proc = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=interpreter.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {**base, "status": "error", "reason": f"timed out after {timeout:g} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    tail = [line for line in proc.stderr.splitlines() if line.strip()][-1:]
    reason = tail[0] if tail else "no output"
    return {
        **base,
        "status": "error",
        "reason": f"worker exited {proc.returncode}: {reason}",
    }


def _asyncio_equivalents() -> dict[str, str]:
    from benchmarks.asyncio_workloads import ASYNCIO_WORKLOADS, MEMORY_EQUIVALENT

    found = {name: w.equivalent for name, w in ASYNCIO_WORKLOADS.items()}
    found["memory"] = MEMORY_EQUIVALENT
    found["import"] = "`import asyncio`"
    return found


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_revision() -> str:
    try:
        proc = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return proc.stdout.strip() or "no commit yet"


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "asyncio_c_accelerated": asyncio.Future.__module__ == "_asyncio"
        and asyncio.Task.__module__ == "_asyncio",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "revision": _git_revision(),
    }


# Which core the deferred workers run on, asked of a fresh interpreter started
# as the workers are: ``__core__``, a tab, and the same wording as the pytest
# plugin's report header.
_CORE_PROBE = """\
import sys
import deferred
import deferred._core as core
if deferred.__core__ == "compiled":
    where = sys.modules["deferred._cdeferred"].__file__
    print(f"compiled\tcompiled core (deferred._cdeferred, {where})")
else:
    print(f"{deferred.__core__}\tpure-Python core (why: {core.reasonForPython})")
"""


@dataclass(frozen=True)
class Core:
    """The core a ``deferred`` implementation's workers run on."""

    name: str | None
    """``deferred.__core__`` in a worker (``compiled``, ``python``), or None
    when it could not be found out."""
    description: str


def deferred_core(interpreter: Interpreter) -> Core:
    """The core ``deferred`` runs on in the workers: compiled or pure Python."""
    if interpreter.python is None:
        return Core(None, "n/a")
    try:
        proc = subprocess.run(
            [interpreter.python, "-c", _CORE_PROBE],
            cwd=REPO_ROOT,
            env=interpreter.environ(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Core(None, f"unknown ({exc})")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or "\t" not in lines[-1]:
        tail = [line for line in proc.stderr.splitlines() if line.strip()][-1:]
        return Core(None, f"unknown ({tail[0] if tail else 'no output'})")
    name, description = lines[-1].split("\t", 1)
    return Core(name, description)


def _core_lines(cores: dict[str, Core]) -> list[str]:
    """The header's ``core:`` lines: which core each ``deferred`` column is on."""
    width = max(len(impl) for impl in cores)
    lines = [f"{impl:<{width}} = {core.description}" for impl, core in cores.items()]
    names = {core.name for core in cores.values()}
    if len(cores) == 2 and names == {"python"}:
        lines.append(
            "the compiled core is not in use: deferred and deferred-py both run "
            "the pure-Python core (the same code twice)"
        )
    return lines


_LABEL = 13  # "deferred-py: "


def _header(
    info: dict[str, Any],
    found: dict[str, Interpreter],
    command: str,
    cores: dict[str, Core] | None = None,
) -> str:
    accelerated = (
        "yes (_asyncio)"
        if info["asyncio_c_accelerated"]
        else ("NO: pure-Python asyncio Future/Task")
    )
    lines = [
        f"{'command:':<{_LABEL}}{command}",
        f"{'machine:':<{_LABEL}}{info['cpu']}, {info['cores']} cores, {info['os']}",
        f"{'python:':<{_LABEL}}{info['python']}; asyncio C-accelerated: {accelerated}",
        f"{'revision:':<{_LABEL}}{info['revision']}, {info['date']}",
    ]
    lines += [f"{impl + ':':<{_LABEL}}{interp.note}" for impl, interp in found.items()]
    if cores:
        first, *rest = _core_lines(cores)
        lines.append(f"{'core:':<{_LABEL}}{first}")
        lines += [" " * _LABEL + line for line in rest]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows = select_rows(args.only)
    if not rows:
        _log(f"no row matches {args.only!r}")
        return 2
    if args.list:
        print(report.catalog_table(rows, _asyncio_equivalents()))
        return 0
    settings = QUICK if args.quick else FULL
    shown_args = list(sys.argv[1:] if argv is None else argv)
    launcher = (
        ["python", "benchmarks/run.py"]
        if Path(sys.argv[0]).name == "run.py"
        else ["python", "-m", "benchmarks"]
    )
    command = shlex.join([*launcher, *shown_args])

    found = interpreters(
        args.impls,
        twisted_python=args.twisted_python,
        install=not args.no_install,
        twisted_requirement=args.twisted_requirement,
        log=_log,
    )
    info = machine()
    cores = {
        impl: deferred_core(found[impl]) for impl in DEFERRED_IMPLS if impl in found
    }
    info["deferred_cores"] = {impl: core.name for impl, core in cores.items()}
    print(_header(info, found, command, cores), flush=True)
    if not info["asyncio_c_accelerated"]:
        _log(
            "warning: asyncio's C accelerator is not in use; asyncio figures are "
            "for the pure-Python implementation"
        )

    for impl, core in cores.items():
        fixed = FIXED_CORE.get(impl)
        if core.name is not None and fixed is not None and core.name != fixed:
            _log(f"error: {impl} should run on the {fixed} core: {core.description}")
            return 3

    results: dict[str, dict[str, dict[str, Any]]] = {}
    total = len(rows) * len(args.impls)
    done = 0
    for row in rows:
        n = row.size(args.quick)
        for impl in args.impls:
            done += 1
            core_name = cores[impl].name if impl in cores else None
            result = run_worker(found[impl], row, n, settings, args.timeout, core_name)
            results.setdefault(row.name, {})[impl] = result
            cell = report.format_cell(row, result)
            _log(f"[{done:>2}/{total}] {row.name:<22} {impl:<11} {cell}")
            if result.get("wrong_core"):
                _log(
                    f"error: stopping the run: {result['reason']} (did the "
                    "compiled core change during the run?)"
                )
                return 3

    print()
    print(report.table(rows, results, args.impls, markdown=args.markdown))
    print()
    for note in report.notes(rows, results, args.impls):
        print(f"- {note}" if args.markdown else f"note: {note}")
    if report.primary(args.impls) is not None:
        print(report.summary(rows, results, args.impls))

    if args.json:
        payload = {
            "command": command,
            "machine": info,
            "interpreters": {
                impl: {"python": interp.python, "note": interp.note}
                for impl, interp in found.items()
            },
            "settings": {
                "quick": args.quick,
                "repeats": settings.repeats,
                "min_time": settings.min_time,
                "budget": settings.budget,
            },
            "results": [results[row.name][impl] for row in rows for impl in args.impls],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        _log(f"wrote {args.json}")
    return 0
