"""The fingerprint of the compiled core's source: the ``.pyx`` and the
``.pxi`` files it includes.

The build records it in the compiled module (``SOURCE_HASH``) and
``deferred._core`` compares it with the files beside the module, so that a
stale in-place build never runs instead of the current source.  This module
imports nothing from the package: ``setup.py`` loads it by path.
"""

from __future__ import annotations

import glob
import hashlib
import os


def sourceHash(pyx: str) -> str | None:
    """The SHA-256 of ``pyx`` and of the ``.pxi`` files beside it (each
    with its name, in name order), or None if there is no ``pyx``."""
    directory = os.path.dirname(pyx)
    names = sorted(
        [os.path.basename(pyx)]
        + [os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.pxi"))]
    )
    digest = hashlib.sha256()
    try:
        for name in names:
            with open(os.path.join(directory, name), "rb") as source:
                digest.update(name.encode() + b"\0" + source.read() + b"\0")
    except OSError:
        return None
    return digest.hexdigest()
