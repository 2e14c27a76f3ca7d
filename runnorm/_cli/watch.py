"""``runnorm watch``: many runs polled until they finish, one line per event."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC
from typing import Any

import click

from runnorm._cli.live import (
    WAIT_EXIT,
    Mask,
    base_url_option,
    extra_option,
    fail_with,
    json_option,
    live_options,
    masking,
    polling_options,
)
from runnorm._cli.output import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_TIMED_OUT,
    Seconds,
    redacted_document,
    stdout_is_terminal,
)
from runnorm._errors import ConfigError, RunnormError, WaitTimeout
from runnorm._json import dumps
from runnorm._live.api import watch
from runnorm._live.watching import RunEvent
from runnorm._live.when import parse_when

__all__ = ["exit_code", "watch_command"]


def exit_code(
    order: Iterable[str], last: dict[str, RunEvent], *, discovery_failed: bool = False
) -> int:
    """0 when every run succeeded, else the ``wait`` code of the first (in *order*) that did
    not: 1 failed, 3 canceled, 4 timed out (or still unfinished), 5 a fetch error; 5 too
    when every run succeeded but discovering runs (``--since``) failed: runs may be missing."""
    for run_id in order:
        event = last.get(run_id)
        if event is None:
            return EXIT_TIMED_OUT
        if event.error is not None:
            return EXIT_ERROR
        run = event.run
        if run is None or not run.is_terminal:
            return EXIT_TIMED_OUT
        code = WAIT_EXIT.get(run.status, EXIT_FAILED)
        if code:
            return code
    return EXIT_ERROR if discovery_failed else 0


def _row(event: RunEvent, mask: Mask) -> str:
    """A table row: time, id, state (or the error), and where the event came from."""
    when = event.at.astimezone(UTC).strftime("%H:%M:%S")
    run = event.run
    if event.error is not None:
        state = f"error: {event.error}"
    elif run is not None:
        state = f"{run.status.value} ({run.native_status})"
        if run.attempt is not None:
            state += f" attempt {run.attempt}"
        if run.retry_pending:
            state += ", retry pending"
    else:  # pragma: no cover - an event has a run or an error
        state = "-"
    source = "" if event.source == "poll" else f"  [{event.source}]"
    return mask.line(f"{when}  {event.run_id or '-'}  {state}{source}")


def _state(run: Any) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "status": run.status.value,
        "native_status": run.native_status,
        "attempt": run.attempt,
        "retry_pending": run.retry_pending,
    }


def _line(event: RunEvent, mask: Mask) -> bytes:
    """One JSON Lines record: the event, the run's redacted document, the key masked."""
    error = event.error
    record = {
        "at": event.at.isoformat(),
        "source": event.source,
        "run_id": event.run_id,
        **(_state(event.run) or dict.fromkeys(("status", "native_status", "attempt"))),
        "previous": _state(event.previous),
        "error": None if error is None else {"type": type(error).__name__, "message": str(error)},
        "run": None if event.run is None else redacted_document(event.run),
    }
    text = dumps(mask.value(record), newline=True)
    return mask(text.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


@click.command("watch")
@click.argument("provider")
@click.argument("run_ids", nargs=-1)
@click.option("--since", "since_text", metavar="WHEN", help="Also watch runs created since WHEN.")
@click.option("--follow", is_flag=True, help="Keep discovering new runs until --timeout.")
@click.option("--timeout", type=Seconds(min=0), default=None, help="Deadline (s).")
@click.option(
    "--interval",
    type=Seconds(min=0, min_open=True),
    default=None,
    help="First poll gap (s); default: the adaptive schedule.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Polls at once.",
)
@base_url_option
@json_option
@extra_option
def watch_command(
    provider: str,
    run_ids: tuple[str, ...],
    since_text: str | None,
    follow: bool,
    timeout: float | None,
    interval: float | None,
    concurrency: int,
    base_url: str | None,
    as_json: bool,
    options: tuple[str, ...],
) -> None:
    """Watch runs until they finish, one line per change (a table row on a terminal, JSON
    Lines when piped); exit 0 when every run succeeded, else the wait code of the first run
    that did not (1 failed, 3 canceled, 4 timed out, 5 error), 4 when the deadline passed."""
    since = None
    if since_text is not None:
        try:
            since = parse_when("--since", since_text)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    settings = live_options(base_url, options)
    as_lines = as_json or not stdout_is_terminal()
    order = list(dict.fromkeys(run_ids))
    last: dict[str, RunEvent] = {}
    discovery_failed = False
    with masking(provider, settings) as mask:
        try:
            events = watch(
                provider,
                order,
                since=since,
                follow=follow,
                interval=interval,
                timeout=timeout,
                concurrency=concurrency,
                **polling_options(settings),
            )
            for event in events:
                if event.run_id is None and event.error is not None:
                    discovery_failed = True  # a listing of new runs failed
                if event.run_id is not None:
                    if event.run_id not in last and event.run_id not in order:
                        order.append(event.run_id)  # discovered: after the arguments
                    last[event.run_id] = event
                if as_lines:
                    sys.stdout.buffer.write(_line(event, mask))
                    sys.stdout.buffer.flush()
                else:
                    click.echo(_row(event, mask))
        except WaitTimeout as exc:
            click.echo(f"runnorm: {mask.line(str(exc))}", err=True)
            raise SystemExit(EXIT_TIMED_OUT) from None
        except RunnormError as exc:
            fail_with(mask, exc)
    raise SystemExit(exit_code(order, last, discovery_failed=discovery_failed))
