# cython: language_level=3
"""Placeholder of the compiled core while it is being written."""

cdef extern from *:
    const char *DEFERRED_SOURCE_HASH

SOURCE_HASH = DEFERRED_SOURCE_HASH.decode("ascii")
IMPLEMENTATION = "compiled"

from deferred._pycore import DeferredCore, makeSucceed
