"""Benchmarks: ``deferred`` (on its compiled and its pure-Python core) against
``twisted.internet.defer`` and asyncio.

Run it from the repository root with ``python -m benchmarks`` (or
``python benchmarks/run.py``); see ``benchmarks/README.md``.

Every module in this package imports only the standard library, so the worker can
run under any interpreter (the current one for ``deferred`` and asyncio, a private
virtual environment for Twisted).
"""
