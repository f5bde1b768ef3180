"""Interpreters the workers run under.

- ``deferred``: the current interpreter, with the repository's ``src/`` first on
  ``PYTHONPATH`` (so the working tree is measured, not some installed copy), on
  the core ``import deferred`` picks there (the compiled one when it is built).
- ``deferred-py``: the same, with ``DEFERRED_NO_EXTENSIONS=1`` in the worker's
  environment: the pure-Python core.
- ``asyncio``: the current interpreter (asyncio's C accelerator, ``_asyncio``, is
  checked and reported by the worker).
- ``twisted``: a private virtual environment, ``benchmarks/.envs/twisted``, built
  from the current interpreter and holding Twisted. Twisted is a benchmark-only
  dependency: never a runtime or test dependency of ``deferred``. If the
  environment cannot be built (no network, no ``venv``/``ensurepip``), Twisted is
  skipped with a note.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.catalog import WORKER_ENV

REPO_ROOT = Path(__file__).resolve().parent.parent
TWISTED_ENV = REPO_ROOT / "benchmarks" / ".envs" / "twisted"

_PROBE = (
    "import platform, twisted, twisted.internet.defer; "
    "print(platform.python_version(), twisted.__version__)"
)


@dataclass(frozen=True)
class Interpreter:
    """How to start a worker for one implementation."""

    impl: str
    python: str | None
    """The interpreter, or None when the implementation is unavailable."""
    note: str
    """Where it comes from, or why it is unavailable."""
    pythonpath: tuple[str, ...] = field(default=())
    variables: tuple[tuple[str, str], ...] = field(default=())
    """Environment variables set for the worker (over the runner's own)."""

    @property
    def available(self) -> bool:
        return self.python is not None

    def environ(self) -> dict[str, str]:
        """Environment variables for a worker process."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join((*self.pythonpath, str(REPO_ROOT)))
        # The core is chosen here, per column, not by the runner's own
        # environment (CI exports these for its test runs): without this, a
        # deferred-py worker would get both NO and REQUIRE, an ImportError.
        for name in ("DEFERRED_NO_EXTENSIONS", "DEFERRED_REQUIRE_EXTENSIONS"):
            env.pop(name, None)
        env.update(self.variables)
        return env


def deferred_interpreter(impl: str = "deferred") -> Interpreter:
    """``deferred`` (the active core) or ``deferred-py`` (the pure-Python one)."""
    variables = tuple(sorted(WORKER_ENV.get(impl, {}).items()))
    extra = "".join(f", {name}={value}" for name, value in variables)
    src = REPO_ROOT / "src"
    if (src / "deferred").is_dir():
        return Interpreter(
            impl,
            sys.executable,
            f"{sys.executable}, {src} on sys.path{extra}",
            (str(src),),
            variables,
        )
    return Interpreter(impl, sys.executable, f"installed package{extra}", (), variables)


def asyncio_interpreter() -> Interpreter:
    return Interpreter("asyncio", sys.executable, sys.executable)


def _venv_python(env_dir: Path) -> Path:
    if os.name == "nt":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def _probe(python: Path) -> tuple[str, str] | None:
    """(Python version, Twisted version) of an interpreter, if it has Twisted."""
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", _PROBE], capture_output=True, text=True, check=False
    )
    words = proc.stdout.split()
    if proc.returncode != 0 or len(words) != 2:
        return None
    return words[0], words[1]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def twisted_interpreter(
    *,
    python: str | None = None,
    install: bool = True,
    requirement: str = "twisted",
    log: Callable[[str], None] = print,
) -> Interpreter:
    """The interpreter that runs Twisted, building its environment if needed.

    ``python`` uses an existing interpreter that already has Twisted instead.
    """
    if python is not None:
        found = _probe(Path(python))
        if found is None:
            return Interpreter("twisted", None, f"{python} cannot import Twisted")
        return Interpreter("twisted", python, f"{python} (Twisted {found[1]})")

    env_python = _venv_python(TWISTED_ENV)
    current = platform.python_version()
    found = _probe(env_python)
    if found is not None and found[0] == current:
        return Interpreter(
            "twisted", str(env_python), f"{TWISTED_ENV} (Twisted {found[1]})"
        )
    if not install:
        return Interpreter(
            "twisted",
            None,
            f"no Twisted environment for Python {current} at {TWISTED_ENV} "
            "(run without --no-install to build it)",
        )

    log(f"building {TWISTED_ENV} with `pip install {requirement}` (one time)...")
    steps = (
        ("python -m venv", [sys.executable, "-m", "venv", "--clear", str(TWISTED_ENV)]),
        (
            f"pip install {requirement}",
            [
                str(env_python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                requirement,
            ],
        ),
    )
    for label, command in steps:
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=900
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Interpreter("twisted", None, f"`{label}` failed: {exc}")
        if proc.returncode != 0:
            reason = _last_line(proc.stderr or proc.stdout)
            return Interpreter("twisted", None, f"`{label}` failed: {reason}")
    found = _probe(env_python)
    if found is None:
        return Interpreter("twisted", None, "Twisted installed but not importable")
    return Interpreter(
        "twisted", str(env_python), f"{TWISTED_ENV} (Twisted {found[1]})"
    )


def interpreters(
    impls: tuple[str, ...],
    *,
    twisted_python: str | None = None,
    install: bool = True,
    twisted_requirement: str = "twisted",
    log: Callable[[str], None] = print,
) -> dict[str, Interpreter]:
    """An :class:`Interpreter` for each requested implementation."""
    found: dict[str, Interpreter] = {}
    for impl in impls:
        if impl in ("deferred", "deferred-py"):
            found[impl] = deferred_interpreter(impl)
        elif impl == "asyncio":
            found[impl] = asyncio_interpreter()
        elif impl == "twisted":
            found[impl] = twisted_interpreter(
                python=twisted_python,
                install=install,
                requirement=twisted_requirement,
                log=log,
            )
        else:
            raise ValueError(f"unknown implementation {impl!r}")
    return found
