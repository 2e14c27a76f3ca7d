"""``runnorm cancel`` and ``runnorm resume``: a run stopped, or a paused one answered.

Exit codes: ``cancel`` 0 when accepted or the run had finished already, 1 on a conflict,
5 when the run is not found (or any error); with ``--wait``, the ``wait`` codes of the run
once it has stopped. ``resume`` 0 when accepted, 1 on a conflict or a run that had
finished, 5 when not found (or any error).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from runnorm._cli.live import (
    WAIT_EXIT,
    Mask,
    base_url_option,
    deadline_options,
    extra_option,
    fail_with,
    json_option,
    live_options,
    masking,
    polling_options,
    show_run,
)
from runnorm._cli.output import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_TIMED_OUT,
    emit_json,
    redacted_document,
    stdout_is_terminal,
)
from runnorm._errors import RunnormError, WaitTimeout
from runnorm._live.api import cancel, resume, wait
from runnorm._model.control import ControlResult

__all__ = ["cancel_command", "resume_command"]

_CANCEL_EXIT = {
    "accepted": 0,
    "already_terminal": 0,
    "conflict": EXIT_FAILED,
    "not_found": EXIT_ERROR,
}
_RESUME_EXIT = {
    "accepted": 0,
    "already_terminal": EXIT_FAILED,
    "conflict": EXIT_FAILED,
    "not_found": EXIT_ERROR,
}
_SAID = {
    ("cancel", "accepted"): "cancel accepted",
    ("cancel", "already_terminal"): "already finished: nothing to cancel",
    ("cancel", "conflict"): "cannot be cancelled now",
    ("cancel", "not_found"): "not found",
    ("resume", "accepted"): "resumed",
    ("resume", "already_terminal"): "already finished: nothing to resume",
    ("resume", "conflict"): "cannot be resumed now (is it paused?)",
    ("resume", "not_found"): "not found",
}


def _show(verb: str, result: ControlResult, as_json: bool, mask: Mask) -> None:
    if as_json or not stdout_is_terminal():
        document: dict[str, Any] = {
            "provider": result.provider,
            "run_id": result.run_id,
            "outcome": result.outcome,
            "detail": result.detail,
            "run": None if result.run is None else redacted_document(result.run),
        }
        emit_json(mask.value(document), mask)
        return
    said = _SAID[(verb, result.outcome)]
    click.echo(mask.line(f"{result.provider} {result.run_id}: {said} ({result.outcome})"))
    if result.detail and not result.accepted:
        click.echo(mask.line(f"  {result.detail}"))
    if result.run is not None:
        show_run(result.run, False, mask)


@click.command("cancel")
@click.argument("provider")
@click.argument("run_id")
@click.option(
    "--wait",
    "then_wait",
    is_flag=True,
    help="Then poll until the run has stopped, and exit as `runnorm wait` does.",
)
@deadline_options(" of --wait")
@base_url_option
@json_option
@extra_option
def cancel_command(
    provider: str,
    run_id: str,
    then_wait: bool,
    timeout: float,
    interval: float,
    base_url: str | None,
    as_json: bool,
    options: tuple[str, ...],
) -> None:
    """Cancel a run; exit 0 accepted or already finished, 1 conflict, 5 not found.

    With --wait, poll until the run has stopped: exit 0 succeeded, 1 failed, 3 canceled,
    4 timed out.
    """
    settings = live_options(base_url, options)
    with masking(provider, settings) as mask:
        try:
            result = cancel(provider, run_id, **settings)
        except RunnormError as exc:
            fail_with(mask, exc)
        if not then_wait or result.outcome not in ("accepted", "already_terminal"):
            _show("cancel", result, as_json, mask)
            raise SystemExit(_CANCEL_EXIT[result.outcome])
        if not as_json and stdout_is_terminal():
            click.echo(
                mask.line(f"{result.provider} {result.run_id}: {_SAID[('cancel', result.outcome)]}")
            )
        try:
            run = wait(
                provider,
                run_id,
                timeout=timeout,
                interval=interval,
                stop_on_paused=False,
                **polling_options(settings),
            )
        except WaitTimeout as exc:
            click.echo(f"runnorm: {mask.line(str(exc))}", err=True)
            if exc.last_run is not None:
                show_run(exc.last_run, as_json, mask)
            raise SystemExit(EXIT_TIMED_OUT) from None
        except RunnormError as exc:
            fail_with(mask, exc)
        show_run(run, as_json, mask)
    raise SystemExit(WAIT_EXIT.get(run.status, EXIT_FAILED))


@click.command("resume")
@click.argument("provider")
@click.argument("run_id")
@click.option(
    "--message",
    "-m",
    help="The reply the paused run waits for (Browserbase requires one; Skyvern takes none).",
)
@base_url_option
@json_option
@extra_option
def resume_command(
    provider: str,
    run_id: str,
    message: str | None,
    base_url: str | None,
    as_json: bool,
    options: tuple[str, ...],
) -> None:
    """Resume a paused run; exit 0 accepted, 1 conflict or already finished, 5 not found."""
    settings = live_options(base_url, options)
    with masking(provider, settings) as mask:
        try:
            result = resume(provider, run_id, message=message, **settings)
        except RunnormError as exc:
            fail_with(mask, exc)
        _show("resume", result, as_json, mask)
    sys.stdout.flush()
    raise SystemExit(_RESUME_EXIT[result.outcome])
