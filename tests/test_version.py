"""``deferred.__version__`` and the name the package is published under."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import deferred
from deferred import _version

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_cache() -> object:
    _version._version.cache_clear()
    yield
    _version._version.cache_clear()


def test_the_distribution_name_is_the_one_in_pyproject() -> None:
    # Not "deferred": on PyPI that is an unrelated project of 2009.
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    names = re.findall(r'^name\s*=\s*"([^"]+)"', project, re.MULTILINE)
    assert names == [_version.DISTRIBUTION] == ["deferred-standalone"]


def test_version_comes_from_the_installed_metadata() -> None:
    try:
        installed = importlib.metadata.version(_version.DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the package is not installed")
    assert deferred.__version__ == installed
    assert isinstance(deferred.__version__, str)
    assert re.match(r"\d+(\.\d+)*", deferred.__version__)


def test_version_without_installed_metadata_is_a_low_valid_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def version(name: str) -> str:
        asked.append(name)
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert deferred.__version__ == "0+unknown"
    assert asked == ["deferred-standalone"]


def test_other_missing_attributes_are_still_missing() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        deferred.nothing  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(deferred, "__nothing__")
    with pytest.raises(ImportError):
        from deferred import nothing  # type: ignore[attr-defined]  # noqa: F401
    assert "__version__" not in deferred.__all__


def test_importing_deferred_does_not_read_the_metadata() -> None:
    # importlib.metadata brings in some 70 modules; only __version__ needs it.
    code = (
        "import sys, deferred\n"
        "assert 'importlib.metadata' not in sys.modules\n"
        "print(deferred.__version__)\n"
        "assert 'importlib.metadata' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == deferred.__version__
