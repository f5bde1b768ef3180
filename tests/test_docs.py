"""Every ``python`` code block in the README and the user guide runs.

Blocks of one file run in order in one namespace, so a page can build on its
earlier examples.  A block whose first line is ``# not run`` is skipped.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def codeBlocks(page: Path) -> list[tuple[int, str]]:
    text = page.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 2, match.group(1))
        for match in BLOCK.finditer(text)
        if not match.group(1).startswith("# not run")
    ]


def test_the_guide_has_pages() -> None:
    assert len(PAGES) > 1
    assert any(codeBlocks(page) for page in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_samples_run(page: Path, deferredLog: list[logging.LogRecord]) -> None:
    # deferredLog sets the plugin's unhandled-error check aside: some pages
    # show how an unhandled error is reported, on purpose.
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for line, source in codeBlocks(page):
        # Pad with blank lines so tracebacks point at the line in the page.
        code = compile("\n" * (line - 1) + source, str(page), "exec")
        exec(code, namespace)
