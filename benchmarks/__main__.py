"""``python -m benchmarks``: run the benchmark suite (see ``benchmarks/README.md``)."""

from benchmarks.runner import main

raise SystemExit(main())
