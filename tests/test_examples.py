"""The examples run, say what they should, and the guide stays whole: the API
reference names every public name, and every link between pages resolves."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from deferred import react

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"
SRC = ROOT / "src"

# -- the examples -------------------------------------------------------------------

#: Lines each example must print (on stdout) when it works.
EXPECTED_OUTPUT = {
    "linkcheck.py": [
        "/missing, linked from /",
        "/slow, linked from /blog/",
        "Found exactly the faults planted in the built-in site.",
    ],
    "quickstart.py": ["HELLO FROM A DEFERRED", "chained total: 42", "timed out:"],
    "inline_vs_async.py": ["no user 3", "All three styles agree."],
    "asyncio_interop.py": [
        "await slowSquare(7) -> 49",
        "cancelled while sleeping -> d failed: CancelledError",
        "(callback ran in MainThread)",
        "process pool: primes below 10k, 20k: [1229, 2262]",
    ],
    "testing_with_clock.py": ["5 tests passed"],
    "periodic_poller.py": ["polls gave up", "5 tests passed"],
}


def runPython(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a Python subprocess with this source tree first on its path."""
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(
        [str(SRC), *filter(None, [environ.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        cwd=ROOT,
    )


def test_every_example_is_checked() -> None:
    assert sorted(EXPECTED_OUTPUT) == sorted(p.name for p in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("example", sorted(EXPECTED_OUTPUT))
def test_example_runs(example: str) -> None:
    # Warnings as errors, and nothing on stderr: no unclosed transport, no
    # coroutine never awaited, no unhandled error logged on the way.
    result = runPython("-W", "error", str(EXAMPLES / example))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for line in EXPECTED_OUTPUT[example]:
        assert line in result.stdout


def test_readme_first_command_runs_the_link_checker() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    firstBlock = readme.split("```")[1]
    assert "python examples/linkcheck.py" in firstBlock.splitlines()[1]


def loadLinkcheck(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "linkcheck", EXAMPLES / "linkcheck.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # (dataclasses look their module up in sys.modules)
    monkeypatch.setitem(sys.modules, "linkcheck", module)
    spec.loader.exec_module(module)
    return module


def test_link_checker_fails_when_findings_differ_from_the_plan(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    linkcheck = loadLinkcheck(monkeypatch)
    # The site gains a broken link that the expectations do not know about.
    monkeypatch.setitem(linkcheck.SITE, "/team", ["/about", "/nowhere"])
    assert react(linkcheck.main, None, 3, 0.2) == 1
    assert "UNEXPECTED" in capsys.readouterr().err


def test_link_checker_reports_a_site_it_cannot_reach() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The socket is closed: nothing listens on that port now.
    result = runPython(str(EXAMPLES / "linkcheck.py"), f"http://127.0.0.1:{port}/")
    assert result.returncode == 1
    assert "ConnectionRefusedError" in result.stdout
    assert "1 problem found." in result.stdout


def test_clock_example_tests_pass_under_pytest() -> None:
    # Only pytest's own plugins and deferred's, loaded by module name since the
    # package may not be installed.
    result = runPython(
        "-m",
        "pytest",
        "-q",
        "-p",
        "deferred.testing.plugin",
        str(EXAMPLES / "testing_with_clock.py"),
        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert result.returncode == 0, result.stdout
    assert "5 passed" in result.stdout


#: The first line of a guide sample that is a pytest test file.
PYTEST_SAMPLE = (
    "# not run here: tests/test_examples.py runs this block as a pytest file"
)


def pytestSamples() -> list[tuple[str, str]]:
    samples = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S):
            if block.startswith(PYTEST_SAMPLE):
                samples.append((page.name, block))
    return samples


def test_the_guide_has_a_pytest_sample() -> None:
    assert pytestSamples()


@pytest.mark.parametrize(("page", "source"), pytestSamples())
def test_guide_pytest_sample_passes(page: str, source: str, tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(source, encoding="utf-8")
    result = runPython(
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "deferred.testing.plugin",
        str(tmp_path),
        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert result.returncode == 0, result.stdout
    count = source.count("\ndef test_") + source.count("\nasync def test_")
    assert f"{count} passed" in result.stdout


# -- the guide --------------------------------------------------------------------

PAGES = sorted([ROOT / "README.md", *DOCS.glob("*.md")])
#: The modules whose public names the API reference must cover.
API_MODULES = [
    "deferred",
    "deferred.failure",
    "deferred.clock",
    "deferred.lockfile",
    "deferred.testing",
    "deferred.task",
    "deferred.threads",
]


def publicNames() -> list[str]:
    names = []
    for moduleName in API_MODULES:
        module = importlib.import_module(moduleName)
        for name in module.__all__:
            names.append(name)
            value = getattr(module, name)
            if isinstance(value, type) and value.__module__.startswith("deferred"):
                # Its public methods and attributes, inherited ones included
                # (but not those of builtins such as Exception).
                for klass in value.__mro__:
                    if klass.__module__.startswith("deferred"):
                        names += [n for n in vars(klass) if not n.startswith("_")]
    return sorted(set(names))


def test_api_reference_names_every_public_name() -> None:
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    missing = [
        name
        for name in publicNames()
        if not re.search(rf"`[\w.]*\b{re.escape(name)}\b", api)
    ]
    assert missing == []


def slug(heading: str) -> str:
    """The anchor GitHub makes for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(
        r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S
    )
    return {slug(h) for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_between_pages_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # an external address
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.is_file(), f"{page.name}: {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name}: {target}"


def test_index_and_readme_link_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"({page.name})" in index, page.name
            assert f"(docs/{page.name})" in readme, page.name
