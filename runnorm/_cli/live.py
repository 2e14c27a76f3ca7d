"""``runnorm get`` and ``runnorm wait``: one run fetched, or polled until it finishes.

The options, key masking and run display they define are shared by the other live commands
(``cancel``, ``resume``, ``artifacts``).
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import attrs
import click

from runnorm._cli.output import (
    EXIT_CANCELED,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_TIMED_OUT,
    Seconds,
    emit_json,
    fail,
    redacted_document,
    stdout_is_terminal,
    terminal_text,
)
from runnorm._errors import ConfigError, RunnormError, WaitTimeout
from runnorm._live.api import get, wait
from runnorm._live.flows import describe_state
from runnorm._live.options import CallOptions, resolve_options
from runnorm._model.run import Run
from runnorm._model.status import RunStatus
from runnorm._plugins.fetching import GENERIC_OPTIONS, RESERVED_OPTIONS
from runnorm._plugins.normalize import resolve_provider

__all__ = [
    "WAIT_EXIT",
    "Mask",
    "base_url_option",
    "deadline_options",
    "extra_option",
    "fail_with",
    "get_command",
    "json_option",
    "live_options",
    "masking",
    "polling_options",
    "show_run",
    "wait_command",
]


F = TypeVar("F", bound=Callable[..., Any])

WAIT_EXIT = {
    RunStatus.SUCCEEDED: 0,
    RunStatus.FAILED: EXIT_FAILED,
    RunStatus.CANCELED: EXIT_CANCELED,
    RunStatus.TIMED_OUT: EXIT_TIMED_OUT,
}


_PARAMETERS = RESERVED_OPTIONS - GENERIC_OPTIONS
"""Parameters of the calls behind the commands (``run_id``, ``interval``, ``since``, ...):
the commands set them from their own arguments and flags, never from ``-O``."""


def live_options(base_url: str | None, options: tuple[str, ...]) -> dict[str, Any]:
    """``--base-url`` and the ``-O NAME=VALUE`` options as call options. A name that is a
    parameter of the call itself (``-O run_id=...``, ``-O interval=...``) is a usage error,
    never a second value for it."""
    settings: dict[str, Any] = {}
    if base_url:
        settings["base_url"] = base_url
    for item in options:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.UsageError(f"--option takes NAME=VALUE, not {item!r}")
        if name in _PARAMETERS:
            hint = " (the HTTP timeout is -O timeout=SECONDS)" if name == "request_timeout" else ""
            raise click.UsageError(
                f"-O {name} is not a provider option: the command sets it from its own "
                f"arguments and flags{hint}"
            )
        settings[name] = _option_value(name, value)
    return settings


def polling_options(settings: dict[str, Any]) -> dict[str, Any]:
    """*settings* for a call that polls (``wait``, ``watch``), whose ``timeout`` is the overall
    deadline (``--timeout``): ``-O timeout=N`` stays the per-request HTTP timeout."""
    polling = dict(settings)
    if "timeout" in polling:
        polling["request_timeout"] = polling.pop("timeout")
    return polling


_NUMBER_OPTIONS: dict[str, type] = {"timeout": float, "max_retries": int, "max_response_bytes": int}
_TEXT_OPTIONS = frozenset({"api_key", "base_url"})


def _option_value(name: str, text: str) -> Any:
    """-O values: numbers for the numeric options, text for keys and URLs, else flags."""
    if name in _NUMBER_OPTIONS:
        try:
            return _NUMBER_OPTIONS[name](text)
        except ValueError:
            raise click.UsageError(f"--option {name} takes a number, not {text!r}") from None
    if name in _TEXT_OPTIONS:
        return text
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    return text


@attrs.frozen
class Mask:
    """The caller's own key masked (``CallOptions.scrub`` and ``scrub_value``)."""

    options: CallOptions | None = None

    def __call__(self, text: str) -> str:
        return self.options.scrub(text) if self.options else text

    def value(self, value: Any) -> Any:
        return self.options.scrub_value(value) if self.options else value

    def line(self, text: str) -> str:
        """*text* masked, for a terminal: control characters escaped
        (:func:`~runnorm._cli.output.terminal_text`)."""
        return terminal_text(self(text))


@contextlib.contextmanager
def masking(provider: str, settings: dict[str, Any]) -> Iterator[Mask]:
    """The mask of the caller's own key for everything a command prints, warnings included:
    a provider echoing the key never gets it onto the screen. Bad settings are left for the
    call itself to report."""
    mask = Mask()
    with contextlib.suppress(RunnormError):
        # listing=True: the listing's own options (watch --since -O project=...) are allowed
        mask = Mask(resolve_options(resolve_provider(provider), settings, listing=True))
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message: Warning | str, *args: Any, **kwargs: Any) -> None:
            shown(mask.line(str(message)), *args, **kwargs)

        warnings.showwarning = show
        yield mask


def fail_with(mask: Mask, exc: RunnormError) -> NoReturn:
    if isinstance(exc, ConfigError):
        raise click.UsageError(mask.line(str(exc))) from None
    fail(mask(str(exc)), EXIT_ERROR)


def show_run(run: Run, as_json: bool, mask: Mask) -> None:
    """*run* as JSON (its sensitive keys redacted, then the caller's key masked) or a table.
    The ``Run`` in memory keeps the payload as sent; what is printed never holds the key."""
    if as_json or not stdout_is_terminal():
        emit_json(mask.value(redacted_document(run)), mask)
        return
    timing = run.timing
    rows = [
        ("provider", run.provider),
        ("id", run.id),
        ("status", f"{run.status.value} ({run.native_status})"),
        ("kind", run.kind),
        ("attempt", _attempt(run)),
        ("task", run.task),
        ("created", timing.created_at),
        ("started", timing.started_at),
        ("finished", timing.finished_at),
        ("next try", timing.next_attempt_at),
        ("run time", timing.run_time),
        (
            "error",
            f"{run.error.code or ''} {run.error.message or ''}".strip() if run.error else None,
        ),
        ("web", run.web_url),
        ("artifacts", len(run.artifacts) or None),
    ]
    for label, value in rows:
        if value is not None and value != "":
            click.echo(mask.line(f"{label:>10}  {value}"))


def _attempt(run: Run) -> str | None:
    if run.attempt is None:
        return None
    return f"{run.attempt}, retry pending" if run.retry_pending else str(run.attempt)


base_url_option = click.option(
    "--base-url", help="API root (REST) or MCP endpoint URL; default from the environment."
)
json_option = click.option("--json", "as_json", is_flag=True, help="JSON output.")


def deadline_options(of: str = "") -> Callable[[F], F]:
    """``--timeout`` (600 s) and ``--interval`` (2 s) of a wait; *of* names it in the help
    (``" of --wait"``)."""
    timeout = click.option(
        "--timeout",
        type=Seconds(min=0),
        default=600.0,
        show_default=True,
        help=f"Deadline{of} (s).",
    )
    interval = click.option(
        "--interval",
        type=Seconds(min=0, min_open=True),
        default=2.0,
        show_default=True,
        help=f"First poll gap{of} (s).",
    )
    return lambda command: timeout(interval(command))


extra_option = click.option(
    "--option",
    "-O",
    "options",
    multiple=True,
    metavar="NAME=VALUE",
    help="A provider option, e.g. -O include_session=true.",
)


@click.command("get")
@click.argument("provider")
@click.argument("run_id")
@base_url_option
@json_option
@extra_option
def get_command(
    provider: str, run_id: str, base_url: str | None, as_json: bool, options: tuple[str, ...]
) -> None:
    """Fetch one run and print it (exit 0 for any fetched run)."""
    settings = live_options(base_url, options)
    with masking(provider, settings) as mask:
        try:
            run = get(provider, run_id, **settings)
        except RunnormError as exc:
            fail_with(mask, exc)
        show_run(run, as_json, mask)


@click.command("wait")
@click.argument("provider")
@click.argument("run_id")
@deadline_options()
@click.option(
    "--stop-on-paused/--no-stop-on-paused",
    default=True,
    show_default=True,
    help="Return when the run pauses for input.",
)
@base_url_option
@json_option
@extra_option
def wait_command(
    provider: str,
    run_id: str,
    timeout: float,
    interval: float,
    stop_on_paused: bool,
    base_url: str | None,
    as_json: bool,
    options: tuple[str, ...],
) -> None:
    """Poll a run until it finishes; exit 0 succeeded, 1 failed, 3 canceled, 4 timed out."""
    live = sys.stderr.isatty()
    settings = live_options(base_url, options)
    with masking(provider, settings) as mask:

        def on_update(run: Run) -> None:
            if live:
                line = mask.line(f"{run.provider} {run.id}: {describe_state(run)}")
                click.echo(f"\r{line}\033[K", err=True, nl=False)

        try:
            run = wait(
                provider,
                run_id,
                timeout=timeout,
                interval=interval,
                stop_on_paused=stop_on_paused,
                on_update=on_update,
                **polling_options(settings),
            )
        except WaitTimeout as exc:
            if live:
                click.echo("", err=True)
            click.echo(f"runnorm: {mask.line(str(exc))}", err=True)
            if exc.last_run is not None:
                show_run(exc.last_run, as_json, mask)
            raise SystemExit(EXIT_TIMED_OUT) from None
        except RunnormError as exc:
            if live and not isinstance(exc, ConfigError):
                click.echo("", err=True)
            fail_with(mask, exc)
        if live:
            click.echo("", err=True)
        show_run(run, as_json, mask)
    raise SystemExit(WAIT_EXIT.get(run.status, EXIT_FAILED))
