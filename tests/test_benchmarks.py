"""Every benchmark workload still runs (and checks its own result) on
``deferred`` (on each core) and on asyncio, so the suite cannot rot between
benchmark runs; the harness runs ``deferred-py`` on the pure-Python core and
stops on a worker that is on another core than the one it was asked for.

Tiny sizes and a single repeat: this checks correctness, never speed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from benchmarks import report, runner
from benchmarks.catalog import ROWS, ROWS_BY_NAME
from benchmarks.envs import REPO_ROOT, deferred_interpreter
from benchmarks.worker import RESULT_PREFIX, WRONG_CORE_EXIT, Settings, measure

import deferred

QUICK = Settings(repeats=1, min_repeats=1, min_time=0.0, budget=0.1)
TIMED = [row.name for row in ROWS if row.kind in ("time", "linear", "memory")]
#: ``deferred.__core__`` of this process (mypy does not see the dunder).
ACTIVE_CORE: str = vars(deferred)["__core__"]
WORKER_ARGS = ["--n", "20", "--repeats", "1", "--min-time", "0", "--budget", "0.1"]


@pytest.mark.parametrize("row", TIMED)
@pytest.mark.parametrize("impl", ["deferred", "asyncio"])
def test_workload_runs_and_checks_its_result(impl: str, row: str) -> None:
    result = measure(impl, row, 20, QUICK)
    if impl == "asyncio" and result["status"] != "ok":
        # Not every row has an asyncio equivalent.
        assert result["status"] == "n/a", result
        return
    assert result["status"] == "ok", result


_ALL_ROWS_SCRIPT = """\
import json
from benchmarks.worker import Settings, measure
quick = Settings(repeats=1, min_repeats=1, min_time=0.0, budget=0.1)
print(json.dumps([measure("deferred-py", row, 20, quick) for row in {rows!r}]))
"""


def test_every_workload_runs_on_the_pure_python_core() -> None:
    # One process for all rows (started as the runner starts deferred-py's
    # workers), rather than one per row: it stays fast.
    interpreter = deferred_interpreter("deferred-py")
    assert interpreter.python is not None
    proc = subprocess.run(
        [interpreter.python, "-c", _ALL_ROWS_SCRIPT.format(rows=TIMED)],
        cwd=REPO_ROOT,
        env=interpreter.environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = json.loads(proc.stdout.splitlines()[-1])
    assert [result["row"] for result in results] == TIMED
    for result in results:
        assert result["status"] == "ok", result
        assert result["env"]["core"] == "python", result


def test_deferred_py_in_process_wants_the_pure_python_core() -> None:
    result = measure("deferred-py", "succeed", 20, QUICK)
    if ACTIVE_CORE == "python":
        assert result["status"] == "ok", result
    else:
        assert result["status"] == "error", result
        assert result["wrong_core"] is True
        assert "asked for the python core" in result["reason"]


def test_deferred_takes_the_active_core_unless_told() -> None:
    result = measure("deferred", "succeed", 20, QUICK)
    assert result["status"] == "ok", result
    assert result["env"]["core"] == ACTIVE_CORE
    other = "python" if ACTIVE_CORE == "compiled" else "compiled"
    result = measure("deferred", "succeed", 20, QUICK, core=other)
    assert result["status"] == "error" and result["wrong_core"], result
    with pytest.raises(ValueError):
        measure("deferred-py", "succeed", 20, QUICK, core="compiled")
    with pytest.raises(ValueError):
        measure("asyncio", "succeed", 20, QUICK, core="python")


def test_a_worker_on_another_core_fails_loudly() -> None:
    # Workers of deferred-py have DEFERRED_NO_EXTENSIONS=1: asking one of them
    # for the compiled core must fail, whether or not it is built.
    interpreter = deferred_interpreter("deferred-py")
    assert interpreter.python is not None
    proc = subprocess.run(
        [
            interpreter.python,
            "-m",
            "benchmarks.worker",
            "--impl",
            "deferred",
            "--core",
            "compiled",
            "--row",
            "succeed",
            *WORKER_ARGS,
        ],
        cwd=REPO_ROOT,
        env=interpreter.environ(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == WRONG_CORE_EXIT, proc.stderr
    assert "wrong core" in proc.stderr
    line = proc.stdout.splitlines()[-1]
    assert line.startswith(RESULT_PREFIX)
    result = json.loads(line[len(RESULT_PREFIX) :])
    assert result["status"] == "error" and result["wrong_core"] is True


def test_runner_probes_the_cores_and_runs_deferred_py() -> None:
    interpreter = deferred_interpreter("deferred-py")
    assert dict(interpreter.variables) == {"DEFERRED_NO_EXTENSIONS": "1"}
    assert "DEFERRED_NO_EXTENSIONS=1" in interpreter.note
    core = runner.deferred_core(interpreter)
    assert core.name == "python", core
    assert "DEFERRED_NO_EXTENSIONS is set" in core.description
    active = runner.deferred_core(deferred_interpreter("deferred"))
    assert active.name in ("compiled", "python"), active
    settings = Settings(repeats=1, min_repeats=1, min_time=0.0, budget=0.1)
    result = runner.run_worker(
        interpreter, ROWS_BY_NAME["succeed"], 20, settings, 60.0, "python"
    )
    assert result["status"] == "ok", result
    assert result["impl"] == "deferred-py"
    assert result["env"]["core"] == "python"


def test_cli_accepts_the_new_implementation_and_the_old_lists() -> None:
    args = runner.parse_args([])
    assert args.impls == ("deferred", "deferred-py", "twisted", "asyncio")
    assert runner.parse_args(["--impl", "twisted,deferred"]).impls == (
        "deferred",
        "twisted",
    )
    assert runner.parse_args(["--impl", "deferred-py"]).impls == ("deferred-py",)
    with pytest.raises(SystemExit):
        runner.parse_args(["--impl", "deferred-pypy"])


def _ok(impl: str, row: str, value: float) -> dict[str, Any]:
    return {"impl": impl, "row": row, "status": "ok", "value": value}


def _results(values: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    return {
        row: {impl: _ok(impl, row, value) for impl, value in by_impl.items()}
        for row, by_impl in values.items()
    }


def test_table_shows_both_cores_and_judges_the_compiled_one() -> None:
    rows = [ROWS_BY_NAME["succeed"], ROWS_BY_NAME["memory"]]
    results = _results(
        {
            # deferred meets (0.2 of Twisted), deferred-py does not (0.5).
            "succeed": {
                "deferred": 2.0,
                "deferred-py": 5.0,
                "twisted": 10.0,
                "asyncio": 20.0,
            },
            "memory": {
                "deferred": 100.0,
                "deferred-py": 100.0,
                "twisted": 500.0,
                "asyncio": 200.0,
            },
        }
    )
    impls = ("deferred", "deferred-py", "twisted", "asyncio")
    text = report.table(rows, results, impls, markdown=True)
    header, rule, succeed, memory = text.splitlines()
    assert header.split(" | ")[1:] == [
        "deferred",
        "deferred-py",
        "twisted",
        "asyncio",
        "ratio vs twisted",
        "py ratio vs twisted",
        "ratio vs asyncio",
        "target",
        "met? |",
    ]
    assert rule.count("|") == header.count("|")
    cells = succeed.split(" | ")
    assert cells[5:8] == ["0.20", "0.50", "0.10"]
    assert cells[-1] == "yes |"
    assert memory.split(" | ")[-1] == "yes |"
    plain = report.table(rows, results, impls, markdown=False)
    assert "py ratio vs twisted" in plain.splitlines()[0]

    summary = report.summary(rows, results, impls).splitlines()
    assert summary[0].startswith("deferred: 2 rows meet their targets, 0 miss")
    assert summary[1].startswith("deferred-py (for reference): 1 row would meet")
    assert summary[1].endswith("differs from deferred on: succeed NO (twisted)")
    # The old call (no impls) still gives the one line it gave.
    assert report.summary(rows, results) == summary[0]


def test_table_without_the_compiled_column_judges_deferred_py() -> None:
    rows = [ROWS_BY_NAME["succeed"]]
    results = _results({"succeed": {"deferred-py": 5.0, "twisted": 10.0}})
    text = report.table(rows, results, ("deferred-py", "twisted"), markdown=True)
    header, _, line = text.splitlines()
    assert header.split(" | ")[3:] == [
        "py ratio vs twisted",
        "target",
        "met? (deferred-py) |",
    ]
    assert line.split(" | ")[-1] == "NO (twisted) |"
    assert report.summary(rows, results, ("twisted",)) == ""


def test_header_says_which_core_each_column_runs() -> None:
    info = {
        "cpu": "cpu",
        "cores": 2,
        "os": "os",
        "python": "CPython 3.x",
        "asyncio_c_accelerated": True,
        "revision": "abc",
        "date": "today",
    }
    found = {impl: deferred_interpreter(impl) for impl in ("deferred", "deferred-py")}
    pure = runner.Core("python", "pure-Python core (why: not built)")
    compiled = runner.Core("compiled", "compiled core (deferred._cdeferred, x.so)")
    text = runner._header(
        info, found, "cmd", {"deferred": compiled, "deferred-py": pure}
    )
    lines = text.splitlines()
    assert lines[-2].split() == [
        "core:",
        "deferred",
        "=",
        *compiled.description.split(),
    ]
    assert lines[-1].split() == ["deferred-py", "=", *pure.description.split()]
    assert "same code" not in text
    same = runner._header(info, found, "cmd", {"deferred": pure, "deferred-py": pure})
    assert "compiled core is not in use" in same.splitlines()[-1]


def test_quick_run_of_both_cores_writes_them_to_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    argv = ["--quick", "--only", "succeed", "--impl", "deferred,deferred-py"]
    assert runner.main([*argv, "--markdown", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| deferred | deferred-py |" in printed
    payload = json.loads(out.read_text())
    assert [r["impl"] for r in payload["results"]] == ["deferred", "deferred-py"]
    assert all(r["status"] == "ok" for r in payload["results"]), payload
    cores = payload["machine"]["deferred_cores"]
    assert cores["deferred-py"] == "python"
    assert payload["results"][0]["env"]["core"] == cores["deferred"]
