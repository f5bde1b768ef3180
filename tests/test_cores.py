"""Which core the Deferred runs on (docs/cores.md): the environment variables
that choose it at import, the stale-build guard of the compiled one, and how a
pytest run tells which core it is on.

Every check imports ``deferred`` afresh in a subprocess, from the same place as
this test run does, with the DEFERRED_* variables of this run's environment
left out (CI sets DEFERRED_EXPECT_CORE, say) unless a test sets them."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import deferred

pytest_plugins = ["pytester"]

# The directory holding the package under test: first on the subprocesses' path.
PACKAGE = Path(deferred.__file__).resolve().parent
IMPORT_ROOT = PACKAGE.parent
# The repository's own source of the compiled core, for a package imported from
# an installed wheel (which leaves the .pyx out).
REPOSITORY_PYX = Path(__file__).resolve().parent.parent / "src/deferred/_cdeferred.pyx"

VARIABLES = (
    "DEFERRED_NO_EXTENSIONS",
    "DEFERRED_REQUIRE_EXTENSIONS",
    "DEFERRED_EXPECT_CORE",
)

# What a subprocess reports of the core it imported.
REPORT_CORE = """
import json, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import deferred
    import deferred._core as core
compiled = sys.modules.get("deferred._cdeferred")
print(json.dumps({
    "core": deferred.__core__,
    "reason": core.reasonForPython,
    "file": getattr(compiled, "__file__", None),
    "warnings": [[w.category.__name__, str(w.message)] for w in caught],
}))
"""


def environment(root: Path = IMPORT_ROOT, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env.update(variables)
    return env


def runPython(
    code: str, cwd: Path, root: Path = IMPORT_ROOT, **variables: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=environment(root, **variables),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def reportCore(cwd: Path, root: Path = IMPORT_ROOT, **variables: str) -> Any:
    proc = runPython(REPORT_CORE, cwd, root, **variables)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@functools.cache
def compiledModule() -> dict[str, Any]:
    """What importing ``deferred._cdeferred`` by itself gives: its file and
    ``SOURCE_HASH``, or why it cannot be imported."""
    code = """
import json
try:
    import deferred._cdeferred as compiled
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
else:
    print(json.dumps({"file": compiled.__file__, "hash": compiled.SOURCE_HASH}))
"""
    proc = runPython(textwrap.dedent(code), IMPORT_ROOT)
    assert proc.returncode == 0, proc.stderr
    found: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


def requireCompiled() -> dict[str, Any]:
    found = compiledModule()
    if "error" in found:
        pytest.skip(
            "the compiled core is not built here (pip install -e . builds it "
            f"when Cython and a C compiler are available): {found['error']}"
        )
    return found


def requireCompiledInUse(cwd: Path) -> dict[str, Any]:
    found = requireCompiled()
    report = reportCore(cwd)
    if report["core"] != "compiled":
        pytest.skip(f"the compiled core is built but not in use: {report['reason']}")
    return found


# -- choosing the core at import ----------------------------------------------


def test_no_extensions_gives_the_pure_python_core(tmp_path: Path) -> None:
    found = reportCore(tmp_path, DEFERRED_NO_EXTENSIONS="1")
    assert found["core"] == "python"
    assert found["reason"] == "DEFERRED_NO_EXTENSIONS is set"
    assert found["file"] is None
    assert found["warnings"] == []


def test_zero_or_empty_does_not_set_a_variable(tmp_path: Path) -> None:
    for value in ("0", ""):
        found = reportCore(tmp_path, DEFERRED_NO_EXTENSIONS=value)
        assert found["reason"] != "DEFERRED_NO_EXTENSIONS is set"


def test_require_with_no_extensions_is_an_import_error(tmp_path: Path) -> None:
    proc = runPython(
        "import deferred",
        tmp_path,
        DEFERRED_NO_EXTENSIONS="1",
        DEFERRED_REQUIRE_EXTENSIONS="1",
    )
    assert proc.returncode != 0
    assert "ImportError: DEFERRED_REQUIRE_EXTENSIONS is set" in proc.stderr
    assert "DEFERRED_NO_EXTENSIONS is set" in proc.stderr


def test_require_extensions_gets_the_compiled_core(tmp_path: Path) -> None:
    found = requireCompiledInUse(tmp_path)
    report = reportCore(tmp_path, DEFERRED_REQUIRE_EXTENSIONS="1")
    assert report["core"] == "compiled"
    assert report["file"] == found["file"]


# -- the compiled core's source hash ------------------------------------------


def test_the_compiled_core_was_built_from_the_current_source() -> None:
    from deferred._core import sourceHash

    found = requireCompiled()
    beside = Path(found["file"]).parent / "_cdeferred.pyx"
    pyx = beside if beside.exists() else REPOSITORY_PYX
    current = sourceHash(str(pyx))
    if current is None:
        pytest.skip(f"no _cdeferred.pyx beside {found['file']} nor in a repository")
    assert found["hash"] == current, (
        f"{found['file']} was built from another version of {pyx}: "
        "rebuild it (pip install -e .)"
    )


def test_a_stale_build_is_refused(tmp_path: Path) -> None:
    found = requireCompiled()
    if Path(found["file"]).parent != PACKAGE:
        pytest.skip(f"the compiled core {found['file']} is not beside {PACKAGE}")
    if not (PACKAGE / "_cdeferred.pyx").exists():
        pytest.skip(f"no _cdeferred.pyx beside {found['file']} (an installed wheel)")
    # The package, compiled module included, with its .pyx edited since.
    copy = tmp_path / "copy"
    shutil.copytree(
        PACKAGE, copy / "deferred", ignore=shutil.ignore_patterns("__pycache__")
    )
    with open(copy / "deferred" / "_cdeferred.pyx", "a", encoding="utf-8") as pyx:
        pyx.write("\n# edited after the build\n")

    report = reportCore(tmp_path, root=copy)
    assert report["core"] == "python"
    assert "built from another version of _cdeferred.pyx" in report["reason"]
    assert [category for category, _ in report["warnings"]] == ["RuntimeWarning"]
    assert "using the pure-Python core" in report["warnings"][0][1]

    # And with the compiled core required, the stale build is an error.
    proc = runPython(
        "import deferred", tmp_path, root=copy, DEFERRED_REQUIRE_EXTENSIONS="1"
    )
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr
    assert "built from another version of _cdeferred.pyx" in proc.stderr


# -- telling which core a pytest run is on ------------------------------------


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run pytest in a subprocess on a tiny test file, with only pytest's own
    plugins and deferred's, importing the package under test."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", environment()["PYTHONPATH"])
    pytester.makepyfile(test_tiny="def test_nothing():\n    pass\n")

    def run(*args: str, **variables: str) -> pytest.RunResult:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        try:
            return pytester.runpytest_subprocess(
                "-p", "deferred.testing.plugin", "-p", "no:cacheprovider", *args
            )
        finally:
            for name in variables:
                monkeypatch.delenv(name)

    return run


def test_the_report_header_says_which_core(inner: Any, tmp_path: Path) -> None:
    result = inner("--co", DEFERRED_NO_EXTENSIONS="1")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["deferred: pure-Python core (why: DEFERRED_NO_EXTENSIONS is set)"]
    )

    # Without the variable: the core this environment imports.
    found = reportCore(tmp_path)
    result = inner("--co")
    assert result.ret == 0
    if found["core"] == "compiled":
        expected = f"deferred: compiled core (deferred._cdeferred, {found['file']})"
    else:
        expected = f"deferred: pure-Python core (why: {found['reason']})"
    assert expected in result.stdout.lines


def test_expect_core_stops_a_run_on_the_other_core(inner: Any) -> None:
    result = inner("--co", DEFERRED_NO_EXTENSIONS="1", DEFERRED_EXPECT_CORE="compiled")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: DEFERRED_EXPECT_CORE is 'compiled', but this run is on the "
            "other one: deferred: pure-Python core (why: DEFERRED_NO_EXTENSIONS "
            "is set)"
        ]
    )

    result = inner("-q", DEFERRED_NO_EXTENSIONS="1", DEFERRED_EXPECT_CORE="python")
    result.assert_outcomes(passed=1)

    result = inner("--co", DEFERRED_EXPECT_CORE="cython")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: DEFERRED_EXPECT_CORE is 'cython': it takes compiled or python"]
    )


def test_expect_core_compiled_passes_on_the_compiled_core(
    inner: Any, tmp_path: Path
) -> None:
    requireCompiledInUse(tmp_path)
    result = inner("-q", DEFERRED_EXPECT_CORE="compiled")
    result.assert_outcomes(passed=1)
