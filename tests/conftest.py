"""Shared fixtures: the records logged on the "deferred" logger, debugging mode
switched on for one test only, and a check that a test leaves no cyclic garbage.

Plain helper functions shared by several test modules live in ``support.py``."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from deferred import getDebugging, setDebugging


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def deferredLog() -> Iterator[list[logging.LogRecord]]:
    """Every record logged on the "deferred" logger during the test.

    The test checks these records itself, so the logger's other handlers
    (such as the unhandled-error check of deferred's pytest plugin) are set
    aside meanwhile.
    """
    # Garbage left by earlier tests must not be reported into this one.
    gc.collect()
    logger = logging.getLogger("deferred")
    handler = _ListHandler()
    oldLevel = logger.level
    others = list(logger.handlers)
    for other in others:
        logger.removeHandler(other)
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        # And this test's garbage is reported here, not into the next test.
        gc.collect()
        logger.removeHandler(handler)
        logger.setLevel(oldLevel)
        for other in others:
            logger.addHandler(other)


@pytest.fixture
def debugging() -> Iterator[None]:
    """Deferred debugging on for this test, restored afterwards."""
    was = getDebugging()
    setDebugging(True)
    try:
        yield
    finally:
        setDebugging(was)


@pytest.fixture
def noCycles() -> Iterator[None]:
    """Fail if the test leaves cyclic garbage behind."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
        gc.collect()
        assert gc.garbage == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
