"""Sessions: tests, lint (ruff), types (mypy), docs (Sphinx), bench. ``nox`` runs the first four.

Every session runs on the interpreter nox itself runs on, so CI never depends on other
Python versions being installed.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "types", "tests", "docs"]
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, first-party plugins' tests included, over the project installed from
    its wheel, as users get it (``nox -s tests -- -k name`` passes arguments to pytest)."""
    session.install(".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def types(session: nox.Session) -> None:
    """mypy --strict over runnorm and the first-party plugins."""
    session.install("-e", ".[types]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (Sphinx, MyST, furo), with warnings as errors."""
    session.install("-e", ".[docs]")
    # -E: a fresh environment every time, so warnings of unchanged pages are not hidden.
    args = ["-W", "--keep-going", "-E", "-b", "html", "docs", "docs/_build/html"]
    session.run("sphinx-build", *args, *session.posargs)


# The peers bench/batch.py times runnorm against (bench/peers/): installed in the bench
# session's environment only, never dependencies of runnorm.
PEERS = ("duckdb", "polars", "msgspec", "pydantic>=2")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: ratios against baselines measured in the same run (not part of CI).

    ``nox -s bench -- --quick`` passes its arguments to bench/batch.py (20,000 records)."""
    session.install(".[parquet]", *PEERS)
    session.run("python", "bench/live.py")
    session.run("python", "bench/reader_cost.py")
    session.run("python", "bench/batch.py", *session.posargs)
    session.run("python", "bench/stages.py")
