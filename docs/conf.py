"""Sphinx configuration: MyST pages, the furo theme, autodoc, sphinx-click.

Build with ``nox -s docs`` (``sphinx-build -W --keep-going -b html docs docs/_build/html``).
The provider tables come from ``_ext/runnorm_tables.py``, which reads the installed
providers' declarations at build time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import runnorm

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "runnorm"
author = "runnorm developers"
copyright = "2026, runnorm developers"
release = runnorm.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "sphinx_click",
    "runnorm_tables",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "examples/*.md"]

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"runnorm {release}"

# Type hints go into the parameter descriptions, not the signatures. Unresolvable references
# in them stay plain text: the build is not nitpicky.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
