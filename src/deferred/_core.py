"""Which core the Deferred runs on: the compiled one when it is built and
allowed, the pure-Python reference otherwise.

``DEFERRED_NO_EXTENSIONS=1`` (any value but empty or ``0``) forces pure
Python; ``DEFERRED_REQUIRE_EXTENSIONS=1`` makes the absence of the compiled
core an ``ImportError``.  A compiled module built from another version of its
source than the ``.pyx`` beside it (a stale in-place build) is not used: it
would run code that is no longer there.  ``deferred.__core__`` says which core
is in use: ``"compiled"`` or ``"python"``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ._sourcehash import sourceHash

__all__ = [
    "IMPLEMENTATION",
    "DeferredCore",
    "makeSucceed",
    "reasonForPython",
    "sourceHash",
]


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _loadCompiled() -> tuple[object | None, str, bool]:
    # (the compiled module, "", False), or (None, why it is not used, whether
    # because it is stale)
    if _flag("DEFERRED_NO_EXTENSIONS"):
        return None, "DEFERRED_NO_EXTENSIONS is set", False
    if sys.implementation.name != "cpython":
        return None, f"{sys.implementation.name} runs the pure-Python core", False
    import importlib

    try:
        compiled = importlib.import_module("deferred._cdeferred")
    except ImportError as e:
        return None, f"the compiled core is not built ({e})", False
    here = os.path.dirname(os.path.abspath(compiled.__file__ or ""))
    current = sourceHash(os.path.join(here, "_cdeferred.pyx"))
    if current is not None and current != compiled.SOURCE_HASH:
        return None, (
            f"the compiled core {compiled.__file__} was built from another "
            "version of _cdeferred.pyx (rebuild it: pip install -e .)"
        ), True
    return compiled, "", False


if TYPE_CHECKING:
    from ._pycore import IMPLEMENTATION, DeferredCore, makeSucceed

    reasonForPython: str
else:
    _compiled, reasonForPython, _stale = _loadCompiled()
    if _compiled is None:
        if _flag("DEFERRED_REQUIRE_EXTENSIONS"):
            raise ImportError(
                "DEFERRED_REQUIRE_EXTENSIONS is set, but the compiled core "
                f"cannot be used: {reasonForPython}"
            )
        if _stale:
            import warnings

            warnings.warn(
                f"{reasonForPython}; using the pure-Python core",
                RuntimeWarning,
                stacklevel=2,
            )
        from ._pycore import IMPLEMENTATION, DeferredCore, makeSucceed
    else:
        from deferred._cdeferred import IMPLEMENTATION, DeferredCore, makeSucceed
    del _compiled, _stale
