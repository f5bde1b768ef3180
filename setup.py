"""The build of the optional compiled core, ``deferred._cdeferred``.

pyproject.toml holds the metadata; this file only adds the extension (see
docs/cores.md).  ``pip install .`` and ``pip install -e .`` compile
``src/deferred/_cdeferred.pyx`` with Cython (a build requirement only) when
they can; when they cannot (not CPython, no Cython, no C compiler, a compile
error) they print a warning and install the pure-Python core, which the
package then imports.  (pip shows a build's output only with ``-v``: check
which core you got with ``python -c "import deferred; print(deferred.__core__)"``.)

Environment variables, read at build time as at import time (set: any value
but empty or ``0``):

- ``DEFERRED_NO_EXTENSIONS``: do not build the compiled core.
- ``DEFERRED_REQUIRE_EXTENSIONS``: a compiled core that cannot be built is an
  error, not a warning.

The build passes the SHA-256 of the exact bytes of the ``.pyx`` it compiles as
the C string macro ``DEFERRED_SOURCE_HASH``; the module exposes it as
``SOURCE_HASH``, and ``deferred._core`` refuses a compiled module whose hash is
not that of the ``.pyx`` beside it (a stale in-place build).
"""

from __future__ import annotations

import glob
import os
import sys
import sysconfig
from collections.abc import Callable

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

MODULE = "deferred._cdeferred"
# Relative to the project's root, where build front ends run this file.
PACKAGE_DIR = os.path.join("src", "deferred")
PYX = os.path.join(PACKAGE_DIR, "_cdeferred.pyx")
MINIMUM_CYTHON = (3, 1)


def _flag(name: str) -> bool:
    # The same reading as deferred._core's.
    return os.environ.get(name, "") not in ("", "0")


NO_EXTENSIONS = _flag("DEFERRED_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = _flag("DEFERRED_REQUIRE_EXTENSIONS")

# The commands that build (rather than describe the project or pack an sdist).
_BUILDING = {
    "bdist_wheel",
    "editable_wheel",
    "build",
    "build_ext",
    "install",
    "develop",
}


def _building() -> bool:
    return any(arg in _BUILDING for arg in sys.argv[1:])


def _say(*lines: str) -> None:
    rule = "*" * 78
    text = "\n".join([rule, *(f"* {line}" for line in lines), rule])
    print(text, file=sys.stderr, flush=True)


def _fail(why: str) -> SystemExit:
    return SystemExit(
        f"error: DEFERRED_REQUIRE_EXTENSIONS is set, but the compiled core "
        f"({MODULE}) cannot be built: {why}"
    )


def _warnPurePython(why: str) -> None:
    _say(
        f"WARNING: the compiled core ({MODULE}) is not built: {why}",
        "Installing the pure-Python core: deferred works the same, only slower.",
        "(DEFERRED_REQUIRE_EXTENSIONS=1 makes this an error; docs/cores.md.)",
    )


def _removeInPlaceBuilds() -> None:
    """In an editable install that builds no compiled core, remove the one
    an earlier editable install left beside the sources for this interpreter,
    so that the import gets the core this install announced."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    for path in glob.glob(os.path.join(PACKAGE_DIR, "_cdeferred" + suffix)):
        print(f"removing {path}, an earlier build's compiled core", file=sys.stderr)
        os.remove(path)


def _editable() -> bool:
    args = sys.argv[1:]
    return (
        "editable_wheel" in args
        or "develop" in args
        or ("build_ext" in args and ("--inplace" in args or "-i" in args))
    )


def _cython() -> Callable[..., list[Extension]]:
    """Cython's ``cythonize``, or an exception saying why there is none."""
    try:
        import Cython
        from Cython.Build import cythonize
    except ImportError as e:
        raise RuntimeError(
            f"Cython is not installed ({e}); it is a build requirement "
            "(pyproject.toml), missing when building without build isolation"
        ) from None
    version = tuple(
        int(part) for part in Cython.__version__.split(".")[:2] if part.isdigit()
    )
    if version < MINIMUM_CYTHON:
        wanted = ".".join(map(str, MINIMUM_CYTHON))
        raise RuntimeError(
            f"Cython {Cython.__version__} is too old ({wanted} or newer is needed)"
        )
    return cythonize


class OptionalBuildExt(build_ext):
    """build_ext that falls back to the pure-Python core when the compiled
    one cannot be built (unless DEFERRED_REQUIRE_EXTENSIONS is set)."""

    def run(self) -> None:
        editable = bool(getattr(self, "editable_mode", False) or self.inplace)
        # What an earlier build left in the build directory would be installed
        # if this one failed: away with it first.
        self._removeOutputs()
        try:
            self._cythonize()
            super().run()
        except Exception as e:
            why = f"{type(e).__name__}: {e}"
            if REQUIRE_EXTENSIONS:
                raise _fail(why) from e
            _warnPurePython(why)
            self._removeOutputs()
            # Nothing to install or to list among the build's outputs.
            self.extensions = []
            self.distribution.ext_modules = []
            if editable:
                _removeInPlaceBuilds()

    def _removeOutputs(self) -> None:
        """Remove the compiled modules from the build directory."""
        inplace, self.inplace = self.inplace, False
        try:
            paths = [self.get_ext_fullpath(ext.name) for ext in self.extensions]
        finally:
            self.inplace = inplace
        for path in paths:
            if os.path.exists(path):
                os.remove(path)

    def _cythonize(self) -> None:
        cythonize = _cython()
        digest = _sourceHash()
        for ext in self.extensions:
            ext.define_macros = [
                *(m for m in ext.define_macros if m[0] != "DEFERRED_SOURCE_HASH"),
                ("DEFERRED_SOURCE_HASH", f'"{digest}"'),
            ]
        # force: the C file is regenerated on every build, so that it can never
        # be an older version's compiled under the current source's hash.
        # The .pyx's own header comments take precedence over these directives.
        translated = cythonize(
            self.extensions,
            compiler_directives={"language_level": "3"},
            force=True,
            quiet=True,
        )
        for ext in translated:
            for source in ext.sources:
                _lazyInstanceDict(source)
        # The C sources, into the extensions that setuptools has prepared.
        sources = {ext.name: ext.sources for ext in translated}
        for ext in self.extensions:
            ext.sources = sources[ext.name]

    def build_extension(self, ext: Extension) -> None:
        # -O2, the usual optimisation level (the interpreter's own flags may say
        # -O3), unless CFLAGS chooses one.
        if self.compiler.compiler_type == "unix" and not any(
            flag.startswith("-O") for flag in os.environ.get("CFLAGS", "").split()
        ):
            ext.extra_compile_args = [*ext.extra_compile_args, "-O2"]
        super().build_extension(ext)


def _sourceHash() -> str:
    """The fingerprint of the .pyx and the .pxi files it includes, computed
    by the package's own ``_sourcehash`` (loaded by path: the package itself
    is not importable while it is being built)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_deferred_sourcehash", os.path.join(PACKAGE_DIR, "_sourcehash.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    digest = module.sourceHash(PYX)
    if digest is None:
        raise FileNotFoundError(PYX)
    return str(digest)


#: What Cython's tp_new does for a class with ``cdef dict __dict__``: make an
#: empty dict for every new instance.  A Deferred rarely gets an attribute of
#: its own, so the dict is left to be made on first use, as CPython does for
#: its own objects (every path that reads the slot -- attribute lookup,
#: ``__dict__``, traverse, clear, dealloc -- accepts NULL).  That keeps 64
#: bytes and an allocation off every Deferred.
_EAGER_DICT = "p->__dict__ = PyDict_New(); if (unlikely(!p->__dict__)) goto bad;"


def _lazyInstanceDict(c_file: str) -> None:
    with open(c_file, encoding="utf-8") as generated:
        code = generated.read()
    if _EAGER_DICT not in code:
        # Another Cython version spells it otherwise: the build still works,
        # with a dict made per Deferred (tests/test_cores.py notices).
        _say(f"note: {c_file}: Cython's eager __dict__ not found; left as is")
        return
    with open(c_file, "w", encoding="utf-8") as generated:
        generated.write(code.replace(_EAGER_DICT, "p->__dict__ = NULL;"))


def _extension() -> Extension:
    # What the .pyx includes or cimports: rebuilt for, and packed into the sdist.
    depends = sorted(
        path
        for pattern in ("*.pxi", "*.pxd")
        for path in glob.glob(os.path.join(PACKAGE_DIR, pattern))
    )
    return Extension(MODULE, [PYX], depends=depends)


def _extensions() -> list[Extension]:
    if "sdist" in sys.argv[1:]:
        # An sdist builds nothing, and carries the Cython sources whatever the
        # variables say: whoever builds from it decides.
        return [_extension()]
    why = None
    if NO_EXTENSIONS:
        if REQUIRE_EXTENSIONS:
            raise SystemExit(
                "error: both DEFERRED_NO_EXTENSIONS and DEFERRED_REQUIRE_EXTENSIONS "
                "are set"
            )
        why = "DEFERRED_NO_EXTENSIONS is set"
    elif sys.implementation.name != "cpython":
        why = f"{sys.implementation.name} runs the pure-Python core"
        if REQUIRE_EXTENSIONS:
            raise _fail(why)
    if why is not None:
        if _building():
            _say(f"Pure-Python build: {why}.")
            if _editable():
                _removeInPlaceBuilds()
        return []
    return [_extension()]


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
)
