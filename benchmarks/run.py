"""``python benchmarks/run.py``: the same runner as ``python -m benchmarks``."""

import sys
from pathlib import Path

if not __package__:
    # Run as a script: make the ``benchmarks`` package importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
