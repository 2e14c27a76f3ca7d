"""Build hook: compile the batch hot path with mypyc, when it can.

A wheel (``pip install .``, ``python -m build``) gets the modules in :data:`COMPILED` as
C extensions made by mypyc from the same typed Python sources: normalizing a dump runs
about 1.3 times as fast (figures in README.md). The ``.py`` files ship too and behave the
same; nothing else changes.

Pure Python instead, with the reason printed, when:

- the install is editable (``pip install -e .``): a compiled module would shadow edits
  to its source, so development always runs the sources;
- ``RUNNORM_PURE_PYTHON=1`` is set;
- compiling fails (no C compiler, say): the build goes on without it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CORE = (
    "runnorm/batch.py",
    "runnorm/dump.py",
    "runnorm/encoding.py",
    "runnorm/plugins.py",
    "runnorm/provider.py",
    "runnorm/redaction.py",
    "runnorm/status.py",
    "runnorm/timestamps.py",
)
"""The core modules a record passes through in a batch: reading, detection, encoding."""
PLUGINS = (
    "plugins/runnorm_bridgetown/provider.py",
    "plugins/runnorm_browserbase/provider.py",
    "plugins/runnorm_skyvern/provider.py",
)
"""The first-party mapping functions, compiled with the core so that they call it natively.
Each plugin's ``__init__`` loads them through ``runnorm._build.import_matching_core``: from
their sources when a pure Python core runs (a source checkout ahead of the wheel)."""
COMPILED = CORE + PLUGINS


class MypycBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        if os.environ.get("RUNNORM_PURE_PYTHON", "") not in ("", "0"):
            self.app.display_info("runnorm: RUNNORM_PURE_PYTHON is set: pure Python build")
            return
        work = Path(tempfile.mkdtemp(prefix="runnorm-mypyc-"))
        try:
            built = self._compile(work)
        except Exception as exc:  # any failure means: ship pure Python
            reason = (str(exc).splitlines() or [""])[0]
            if len(reason) > 160:
                reason = reason[:157] + "..."
            self.app.display_warning(
                f"runnorm: mypyc compilation failed ({type(exc).__name__}: {reason}); "
                "building pure Python, which works the same, only slower"
            )
            shutil.rmtree(work, ignore_errors=True)
            return
        self._work = work
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        for source, target in built.items():
            build_data["force_include"][source] = target

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)

    def _compile(self, work: Path) -> dict[str, str]:
        """Compile :data:`COMPILED` into *work*; map each built file to its wheel path."""
        from mypyc.build import mypycify
        from setuptools import Distribution

        root = Path(self.root)
        previous = Path.cwd()
        os.chdir(root)  # mypy reads [tool.mypy] and resolves the sources from the project
        try:
            cache = f"--cache-dir={work / 'mypy-cache'}"  # nothing left in the project
            extensions = mypycify([cache, *COMPILED], opt_level="3", target_dir=str(work / "c"))
            distribution = Distribution({"ext_modules": extensions, "script_name": "setup.py"})
            command: Any = distribution.get_command_obj("build_ext")
            command.build_lib = str(work / "lib")
            command.build_temp = str(work / "temp")
            command.inplace = False
            distribution.run_command("build_ext")
        finally:
            os.chdir(previous)
        lib = work / "lib"
        built = {str(path): path.relative_to(lib).as_posix() for path in lib.rglob("*.so")}
        built.update({str(path): path.relative_to(lib).as_posix() for path in lib.rglob("*.pyd")})
        if len(built) < len(COMPILED):  # one extension per module, plus mypyc's runtime
            raise RuntimeError(f"expected {len(COMPILED)} extensions or more, built {len(built)}")
        return built
