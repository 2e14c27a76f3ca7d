"""What every command shares: exit codes, JSON on stdout, errors on stderr, run documents.

Exit codes, everywhere: 0 success (``get``: any fetched run; ``wait``: succeeded); 1 the run
failed (or, for ``wait``, stopped paused waiting for input), or some records failed; 2 usage;
3 canceled; 4 timed out (the run, or the wait); 5 error (auth, not found, transport, input
missing); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import click

from runnorm._json import dumps
from runnorm._model.run import Run
from runnorm._plugins.host import get_host

__all__ = [
    "EXIT_CANCELED",
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "EXIT_TIMED_OUT",
    "EXIT_USAGE",
    "emit_json",
    "exit_on_sigterm",
    "NamedPath",
    "Seconds",
    "fail",
    "redacted_document",
    "stdout_is_terminal",
    "terminal_text",
]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELED = 3
EXIT_TIMED_OUT = 4
EXIT_ERROR = 5
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT), as shells report it."""
EXIT_TERMINATED = 143
"""SIGTERM (128 + SIGTERM), as shells report it."""


def emit_json(document: Any, mask: Callable[[str], str] | None = None) -> None:
    """*document* as indented JSON on stdout; *mask* (the caller's key masked in a text) is
    applied to the JSON text, for a key so short or odd that the encoding's own escapes
    spell it (``\\n`` for a key ``n``): the strings of *document* come masked already."""
    text = dumps(document, indent=True)
    if mask is not None:
        text = mask(text.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    out = sys.stdout.buffer
    out.write(text + b"\n")
    out.flush()


class NamedPath(click.Path):
    """``click.Path`` that refuses an empty name (an unset shell variable): a usage error,
    not a write into the directory the empty name resolves to. A name holding a NUL (which
    no system call takes: ``os.stat`` raises ``ValueError``) is a usage error too."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "":
            self.fail("an empty name is not a path", param, ctx)
        if isinstance(value, str) and "\0" in value:
            self.fail("a name holding a NUL character is not a path", param, ctx)
        return super().convert(value, param, ctx)


class Seconds(click.FloatRange):
    """``click.FloatRange`` that refuses ``nan`` and infinities (which a range lets through),
    so that a bad ``--timeout`` or ``--interval`` is a usage error before anything is sent:
    ``cancel --wait`` never cancels a run and only then finds its deadline unusable."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return number


def stdout_is_terminal() -> bool:
    """True when stdout is a terminal (tables), False when piped (JSON)."""
    return sys.stdout.isatty()


_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def terminal_text(text: str) -> str:
    """*text* for a line a person reads: control characters (C0, DEL, C1: escape sequences,
    carriage returns, newlines) and bidirectional overrides become visible escapes
    (``\\x1b``, ``\\n``, ``\\u202e``), so that a payload or a server's message can neither
    drive the terminal nor forge or reorder a line."""
    if text.isprintable():
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) == "Cc" or ch in _BIDI
        else ch
        for ch in text
    )


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``runnorm: message`` on stderr (control characters escaped) and exit with
    *code*."""
    click.echo(f"runnorm: {terminal_text(message)}", err=True)
    raise SystemExit(code)


def redacted_document(run: Run) -> dict[str, Any]:
    """``run.to_dict()`` with its provider's sensitive keys redacted."""
    return get_host().redactor(run.provider).redact_document(run.to_dict())


@contextlib.contextmanager
def exit_on_sigterm(exit_with: type[SystemExit] = SystemExit) -> Iterator[None]:
    """SIGTERM raises *exit_with* (code 143) while the block runs, so that the command ends
    through the normal unwinding (an interrupted output is discarded, not published, a
    temporary file removed); the previous handler comes back after. Outside the main thread
    (an embedding application's worker), signals are left alone."""

    def terminate(signum: int, frame: object) -> None:
        raise exit_with(EXIT_TERMINATED)

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)
