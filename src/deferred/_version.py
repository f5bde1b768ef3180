"""``deferred.__version__``: the installed distribution's version.

The package is published as ``deferred-standalone`` (the name ``deferred`` on
PyPI belongs to an unrelated project); its import name is ``deferred``.  The
version is read from the installed metadata the first time it is asked for,
so that importing `deferred` does not pay for `importlib.metadata`.
"""

from __future__ import annotations

import functools

__all__ = ["DISTRIBUTION", "UNKNOWN_VERSION", "__getattr__"]

#: The name this package is published and installed under.
DISTRIBUTION = "deferred-standalone"

#: What ``__version__`` is when the package runs without being installed
#: (say, from a source tree on ``sys.path``): a valid version, lower than any
#: release.
UNKNOWN_VERSION = "0+unknown"


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN_VERSION


def __getattr__(name: str) -> str:
    """The module ``__getattr__`` of the `deferred` package (PEP 562)."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module 'deferred' has no attribute {name!r}")
