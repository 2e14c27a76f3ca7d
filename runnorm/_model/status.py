"""Normalized run statuses and the per-provider maps from native words to them."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Any

from runnorm._errors import PayloadError, UnknownStatusWarning, shorten, warning_text

__all__ = ["TERMINAL_STATUSES", "RunStatus", "StatusMap", "reset_unknown_status_warnings"]


class RunStatus(str, Enum):
    """The normalized status of a run. Values are the lowercase words (``"succeeded"``)."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """True for a status the run cannot leave: succeeded, failed, canceled, timed out."""
        return self in TERMINAL_STATUSES

    def __str__(self) -> str:
        return self.value


TERMINAL_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.TIMED_OUT}
)

_warned: set[tuple[str, str]] = set()
_WARNED_LIMIT = 10_000  # past this many distinct words, stop warning rather than grow
_warned_lock = threading.Lock()


class StatusMap(Mapping[str, RunStatus]):
    """One provider's native status words and the ``RunStatus`` each stands for.

    Words are matched exactly as listed (declare every spelling a provider sends). A word not
    listed maps to ``RunStatus.UNKNOWN`` and warns once per (provider, word); it never raises
    and never guesses.
    """

    __slots__ = ("_map", "provider")

    def __init__(self, provider: str, words: Mapping[str, RunStatus]) -> None:
        if not isinstance(provider, str) or not isinstance(words, Mapping):
            raise TypeError("StatusMap(provider, words) takes a name and a mapping of words")
        for word, status in words.items():  # lookup() hands these out as Run.status
            if not isinstance(word, str) or not isinstance(status, RunStatus):
                raise TypeError(
                    f"StatusMap({provider!r}): each native word (a str) must map to a "
                    f"RunStatus member, not {word!r}: {status!r}"
                )
        self.provider = provider
        self._map: dict[str, RunStatus] = dict(words)

    def __getitem__(self, word: str) -> RunStatus:
        return self._map[word]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __repr__(self) -> str:
        return f"StatusMap({self.provider!r}, {self._map!r})"

    def lookup(self, word: Any, path: str = "status") -> RunStatus:
        """The status for *word*; ``UNKNOWN`` (with a one-time warning) for a word not listed."""
        status = self._map.get(word) if type(word) is str else None
        if status is not None:
            return status
        if not isinstance(word, str):
            raise PayloadError(
                f"expected a status string, got {shorten(word)}",
                provider=self.provider,
                path=path,
                value=word,
            )
        key = (self.provider, word)
        if key not in _warned and len(_warned) < _WARNED_LIMIT:
            with _warned_lock:
                first = key not in _warned
                _warned.add(key)
            if first:
                warnings.warn(
                    f"{self.provider}: unmapped status {shorten(warning_text(word))}; the "
                    "run's status is 'unknown' and native_status keeps the word",
                    UnknownStatusWarning,
                    stacklevel=2,
                )
        return RunStatus.UNKNOWN

    def words_for(self, status: RunStatus) -> list[str]:
        """The native words that map to *status*, in declaration order."""
        return [word for word, value in self._map.items() if value is status]


def reset_unknown_status_warnings() -> None:
    """Forget which unknown words have warned, so each warns again once (for tests)."""
    with _warned_lock:
        _warned.clear()
