"""The exception tree (all under :class:`RunnormError`) and the library's warnings.

No exception text ever holds an API key: messages are built from provider names, field paths,
status codes and shortened values, never from request headers.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from runnorm._model.run import Run

__all__ = [
    "APIError",
    "ArtifactError",
    "AuthError",
    "ConfigError",
    "DetectionError",
    "DumpError",
    "ListLimitError",
    "NotFoundError",
    "PayloadError",
    "PluginLoadError",
    "RateLimitError",
    "RunnormError",
    "RunnormWarning",
    "ServerError",
    "SignatureError",
    "ToolError",
    "ToolNotFoundError",
    "TransportError",
    "UnknownProviderError",
    "UnknownStatusWarning",
    "WARNING_MASK",
    "warning_text",
    "UnsupportedError",
    "WaitTimeout",
    "shorten",
]

_SHORT = 80


def shorten(value: object, limit: int = _SHORT) -> str:
    """``repr`` of *value*, cut to *limit* characters with an ellipsis."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _restore(cls: type[BaseException], args: tuple[object, ...]) -> BaseException:
    """An exception of *cls* with *args*, built without calling its ``__init__`` (pickle then
    restores its attributes): an ``__init__`` whose parameters differ from ``args`` (required
    or keyword-only ones) would fail to unpickle through ``cls(*args)``."""
    error = cls.__new__(cls, *args)
    error.args = args  # OSError's subclasses (TimeoutError) set them in __init__
    return error


class RunnormError(Exception):
    """Base class of every error runnorm raises.

    Every subclass (a plugin's too, whatever its ``__init__`` takes) pickles and copies with
    its message and attributes, so errors can cross process boundaries.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args), self.__dict__)


class UnknownProviderError(RunnormError, KeyError):
    """A provider name that no installed plugin registered."""

    def __init__(self, name: str, installed: Iterable[str]) -> None:
        self.name = name
        self.installed = sorted(installed)
        close = difflib.get_close_matches(name, self.installed, n=1)
        self.suggestion = close[0] if close else None
        hint = f" Did you mean {self.suggestion!r}?" if self.suggestion else ""
        listed = ", ".join(self.installed) or "none"
        self.message = f"unknown provider {name!r}.{hint} Installed providers: {listed}."
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.message


class ConfigError(RunnormError, ValueError, TypeError):
    """A bad option or setting: an unknown option name, a malformed URL or key, a bad number.

    Also a ``ValueError`` and a ``TypeError``, as Python code raises those for bad arguments.
    """


class PluginLoadError(RunnormError):
    """A plugin failed to load, or two plugins claim the same provider name."""


class PayloadError(RunnormError, ValueError):
    """A payload that cannot be normalized: not a mapping, a missing or mistyped field."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        path: str | None = None,
        value: Any = None,
    ) -> None:
        self.provider = provider
        self.path = path
        self.value = value
        self.reason = message
        prefix = f"{provider}: " if provider else ""
        where = f"field {path!r}: " if path else ""
        super().__init__(f"{prefix}{where}{message}")


class DetectionError(PayloadError):
    """``normalize(payload)`` without a provider: no detector, or several, matched."""

    def __init__(self, message: str, *, candidates: Iterable[str] = (), value: Any = None) -> None:
        self.candidates = tuple(candidates)
        super().__init__(message, value=value)


class DumpError(RunnormError):
    """A dump record failed while reading with ``on_error="raise"``; ``.record`` says which."""

    def __init__(self, message: str, record: Any = None) -> None:
        self.record = record
        super().__init__(message)


class UnsupportedError(RunnormError):
    """The provider does not offer this capability (fetching, webhooks, ...)."""


class ArtifactError(RunnormError):
    """A download did not give the artifact's bytes: ``check`` says which check failed.

    ``size`` (fewer or more bytes than the provider says), ``checksum`` (the bytes do not
    match the provider's SHA-256), ``max_bytes`` (larger than the caller's cap), ``link``
    (no http(s) link, an expired link that cannot be renewed, or nothing to download),
    ``range`` (a resumed download the server answered inconsistently) or ``io`` (the file
    could not be written: a missing permission, a full disk). ``artifact`` is the
    ``Artifact``; ``path`` the file kept for a later resume, or None (deleted or never
    written).
    """

    def __init__(self, message: str, *, check: str, artifact: Any = None, path: Any = None) -> None:
        self.check = check
        self.artifact = artifact
        self.path = path
        super().__init__(message)


class SignatureError(RunnormError):
    """A webhook's signature or timestamp is missing, stale or wrong."""


class WaitTimeout(RunnormError, TimeoutError):
    """``wait`` or ``watch`` passed its overall deadline. ``.last_run`` is the last ``Run``
    seen (``wait``); ``.last_runs`` maps each unfinished run id to its last ``Run`` (None for
    a run never fetched), for ``watch``, and for ``wait`` its one run."""

    def __init__(
        self,
        message: str,
        last_run: Run | None = None,
        last_runs: Mapping[str, Run | None] | None = None,
    ) -> None:
        self.last_run = last_run
        self.last_runs: Mapping[str, Run | None] = dict(last_runs) if last_runs else {}
        super().__init__(message)


class ListLimitError(RunnormError):
    """A listing was cut short: a provider limit (a page cap, a capped tool call), a cursor
    that never ends or pages that keep repeating left runs unreachable.

    Raised by ``list_runs`` after the runs it could reach were yielded. ``.provider``;
    ``.listed``: how many runs were yielded; ``.complete_after``: for a listing newest
    first, the oldest creation time reached (every run created after it was listed), else
    None.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        listed: int = 0,
        complete_after: datetime | None = None,
    ) -> None:
        self.provider = provider
        self.listed = listed
        self.complete_after = complete_after
        super().__init__(message)


class TransportError(RunnormError):
    """The request did not complete: connection refused or reset, read error, timeout.

    ``.kind`` says which: ``connect``, ``read``, ``timeout``, ``too_large`` (the response
    passed ``max_response_bytes``) or ``request`` (the request could not be sent as built).
    """

    def __init__(self, message: str, *, provider: str | None = None, kind: str = "read") -> None:
        self.provider = provider
        self.kind = kind
        super().__init__(message)


class APIError(RunnormError):
    """The provider answered with an error; ``.status_code`` and ``.body`` say how."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        body: Any = None,
    ) -> None:
        self.provider = provider
        self.status_code = status_code
        self.body = body
        super().__init__(message)


class AuthError(APIError):
    """401/403 from the provider, or no API key configured."""


class NotFoundError(APIError):
    """404, or the provider's tool says the run does not exist."""


class RateLimitError(APIError):
    """429 that retries did not get past."""


class ServerError(APIError):
    """5xx that retries did not get past."""


class ToolError(APIError):
    """An MCP tool answered ``isError: true``; ``.error`` and ``.hint`` hold its words."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        error: str | None = None,
        hint: str | None = None,
        body: Any = None,
    ) -> None:
        self.error = error
        self.hint = hint
        super().__init__(message, provider=provider, body=body)


class ToolNotFoundError(NotFoundError, ToolError):
    """An MCP tool said the run does not exist: a ``NotFoundError`` with the tool's words."""


class RunnormWarning(UserWarning):
    """Base class of runnorm's warnings."""


class UnknownStatusWarning(RunnormWarning):
    """A provider sent a status word its plugin does not map; the run became ``unknown``."""


WARNING_MASK: ContextVar[Callable[[str], str] | None] = ContextVar("WARNING_MASK", default=None)
"""What masks the caller's key in a warning's text while a live call maps a reply (a provider
may echo the key as a status word); None outside live calls. A context variable, so threads
and tasks each see their own call's."""


def warning_text(text: str) -> str:
    """*text* with the current live call's key masked (:data:`WARNING_MASK`)."""
    mask = WARNING_MASK.get()
    return text if mask is None else mask(text)
