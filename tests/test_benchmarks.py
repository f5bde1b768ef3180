"""Every benchmark workload still runs (and checks its own result) on
``deferred`` and on asyncio, so the suite cannot rot between benchmark runs.

Tiny sizes and a single repeat: this checks correctness, never speed.
"""

from __future__ import annotations

import pytest
from benchmarks.catalog import ROWS
from benchmarks.worker import Settings, measure

QUICK = Settings(repeats=1, min_repeats=1, min_time=0.0, budget=0.1)
TIMED = [row.name for row in ROWS if row.kind in ("time", "linear", "memory")]


@pytest.mark.parametrize("row", TIMED)
@pytest.mark.parametrize("impl", ["deferred", "asyncio"])
def test_workload_runs_and_checks_its_result(impl: str, row: str) -> None:
    result = measure(impl, row, 20, QUICK)
    if impl == "asyncio" and result["status"] != "ok":
        # Not every row has an asyncio equivalent.
        assert result["status"] == "n/a", result
        return
    assert result["status"] == "ok", result
