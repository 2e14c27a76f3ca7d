"""Which build runs: mypyc-compiled modules (a wheel) or the Python sources.

Never compiled itself: it is what keeps compiled and pure modules apart.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.machinery import EXTENSION_SUFFIXES, SourceFileLoader
from pathlib import Path
from types import ModuleType

__all__ = ["build_kind", "import_matching_core"]


def build_kind() -> str:
    """``"compiled"`` when the batch hot path runs as mypyc-compiled modules (installed
    from a wheel built with a C compiler at hand), ``"pure"`` when it runs from the Python
    sources (editable installs, ``RUNNORM_PURE_PYTHON=1``). Both behave the same."""
    from runnorm import provider

    compiled = (provider.__file__ or "").endswith(tuple(EXTENSION_SUFFIXES))
    return "compiled" if compiled else "pure"


def import_matching_core(name: str) -> ModuleType:
    """Import module *name* as the core runs: compiled beside a compiled core, from its
    Python source beside a pure one.

    A wheel compiles the first-party mapping modules together with the core, and they call
    it natively. A pure Python core ahead of that wheel on ``sys.path`` (a source checkout
    as the working directory, say) would crash them, so their sources are loaded instead.
    """
    if build_kind() == "compiled":
        return importlib.import_module(name)
    spec = importlib.util.find_spec(name)
    origin = spec.origin if spec is not None else None
    if origin is None or origin.endswith(".py"):
        return importlib.import_module(name)
    source = Path(origin).with_name(name.rpartition(".")[2] + ".py")
    loader = SourceFileLoader(name, str(source))
    spec = importlib.util.spec_from_file_location(name, source, loader=loader)
    if spec is None:  # pragma: no cover - a file location always gives a spec
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)  # as the import system does
    return module
