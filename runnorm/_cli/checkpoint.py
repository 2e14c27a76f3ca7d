"""The checkpoint file of ``runnorm list --checkpoint FILE``: where an incremental sync got to.

A checkpoint holds the creation high-water mark (a :class:`~runnorm._live.listing.Mark`: the
newest creation time listed, and the ids created exactly then; runs dated past this machine's
clock, under ``"ahead"``, do not move it) and the runs written that were
not terminal yet, each with the state it was written in. The next call lists what was created
since the mark and fetches those runs again, writing each one whose state changed, so new and
changed runs both arrive, each once. It also records what the sync selects (provider,
``--until``, the listing's own options such as Bridge Town's ``project``): a checkpoint is
used only for the same selection.

It is JSON, written whole through :mod:`runnorm._batch.outfile` (a temporary file beside it,
fsynced, renamed over it), and only after the output is published::

    {"runnorm_checkpoint": 1, "provider": "skyvern", "until": null, "options": {},
     "mark": {"created_at": "2026-01-20T11:52:29.276851+00:00", "ids": ["tsk_1"]},
     "pending": {"wr_7": {"status": "running", "native_status": "running", ...}},
     "written_at": "2026-01-20T12:00:00+00:00"}
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from runnorm._batch.outfile import open_output
from runnorm._errors import RunnormError
from runnorm._json import dumps, loads
from runnorm._live.listing import Mark
from runnorm._model.run import Run

__all__ = ["VERSION", "Checkpoint", "CheckpointError", "read_checkpoint", "run_state"]

VERSION = 1


class CheckpointError(RunnormError):
    """A checkpoint file that cannot be read or was not written by ``runnorm list``."""


def run_state(run: Run) -> dict[str, Any]:
    """What a change of a run is judged by: status, native status, attempt and
    ``retry_pending`` (the last two when this runnorm's ``Run`` has them)."""
    return {
        "status": run.status.value,
        "native_status": run.native_status,
        "attempt": getattr(run, "attempt", None),
        "retry_pending": bool(getattr(run, "retry_pending", False)),
    }


@attrs.frozen
class Checkpoint:
    """Where a sync got to, and what it selects."""

    provider: str
    until: datetime | None = None
    options: Mapping[str, str] = attrs.field(factory=dict)
    mark: Mark = attrs.field(factory=Mark)
    pending: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)

    def selection(self) -> dict[str, Any]:
        """What the sync selects, as compared with the arguments of a later call."""
        until = None if self.until is None else self.until.isoformat()
        return {"provider": self.provider, "until": until, "options": dict(self.options)}

    def to_bytes(self) -> bytes:
        at = self.mark.at
        document = {
            "runnorm_checkpoint": VERSION,
            **self.selection(),
            "mark": {
                "created_at": None if at is None else at.isoformat(),
                "ids": sorted(self.mark.ids),
                **self._ahead(),
            },
            "pending": {run_id: dict(state) for run_id, state in sorted(self.pending.items())},
            "written_at": datetime.now(UTC).isoformat(),
        }
        return dumps(document, indent=True) + b"\n"

    def _ahead(self) -> dict[str, Any]:
        """The mark's runs dated past the clock, when it has some (``{"ahead": {id: at}}``)."""
        ahead = self.mark.ahead
        return {"ahead": {i: t.isoformat() for i, t in sorted(ahead.items())}} if ahead else {}

    def write(self, path: str, mask: Callable[[str], str] | None = None) -> None:
        """Publish the checkpoint at *path* whole (``OSError`` leaves the old one as it was),
        with the caller's key masked by *mask* wherever a provider echoed it (a run id or a
        status word holding it cannot be fetched back by it: the key never lands in a file)."""
        data = self.to_bytes()
        if mask is not None:
            data = mask(data.decode()).encode()
        output = open_output(path)
        try:
            output.stream.write(data)
        except BaseException:
            output.discard()
            raise
        output.commit()


def _stamp(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.utcoffset() is not None:
            return parsed.astimezone(UTC)
    raise CheckpointError(f"{what} is not a timestamp with an offset: {value!r}")


def read_checkpoint(path: str) -> Checkpoint | None:
    """The checkpoint at *path*; None when there is no file yet (the first call)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from exc
    where = f"checkpoint {path}"
    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        document = loads(data)
    except (OSError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{where} is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("runnorm_checkpoint") != VERSION:
        raise CheckpointError(f"{where} was not written by runnorm list (version {VERSION})")
    mark, pending, options = document.get("mark"), document.get("pending"), document.get("options")
    provider = document.get("provider")
    if (
        not isinstance(provider, str)
        or not isinstance(mark, dict)
        or not isinstance(pending, dict)
        or not isinstance(options, dict)
        or not all(isinstance(v, str) for v in options.values())
        or not isinstance(mark.get("ids"), list)
        or not all(isinstance(i, str) for i in mark["ids"])
        or not all(isinstance(state, dict) for state in pending.values())
        or not isinstance(mark.get("ahead", {}), dict)
    ):
        raise CheckpointError(f"{where} is damaged: its provider, mark, pending or options")
    ahead = {str(i): _stamp(t, f"{where}: mark") for i, t in mark.get("ahead", {}).items()}
    return Checkpoint(
        provider=provider,
        until=_stamp(document.get("until"), f"{where}: until"),
        options=options,
        mark=Mark(
            _stamp(mark.get("created_at"), f"{where}: mark"),
            frozenset(mark["ids"]),
            {i: t for i, t in ahead.items() if t is not None},
        ),
        pending=pending,
    )
