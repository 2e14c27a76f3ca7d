"""A record that did not normalize (``RecordError``), and how its text is shown safely.

A failed record's ``text`` is shortened and has the values of sensitive keys redacted; text
that is not even JSON and may hold a secret is withheld whole. Its ``reason`` may quote the
record (``got {'totp_secret': ...}``): the secrets it holds are masked there too.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from runnorm._json import dumps
from runnorm._masking import mask_key
from runnorm._model.redaction import Redactor

__all__ = ["WITHHELD", "Bad", "Raw", "RecordError", "record_text", "short_text", "shown"]

_TEXT_LIMIT = 300


@attrs.frozen
class RecordError:
    """A record that did not normalize: where it was, which provider it looked like, why.

    A plain value, not an exception. ``line`` is 1-based (line-oriented inputs), ``index``
    0-based (position in an array or wrapper list); ``text`` is the record, shortened, with
    the values of sensitive keys redacted (or withheld whole when it cannot be parsed and may
    hold one).
    """

    source: str
    line: int | None
    index: int | None
    provider: str | None
    reason: str
    text: str

    @property
    def where(self) -> str:
        """``source:line[index]`` as far as known."""
        out = self.source
        if self.line is not None:
            out += f":{self.line}"
        if self.index is not None:
            out += f"[{self.index}]"
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (what ``--errors`` writes)."""
        return {
            "source": self.source,
            "line": self.line,
            "index": self.index,
            "provider": self.provider,
            "reason": self.reason,
            "text": self.text,
        }


@attrs.frozen
class Bad:
    """A record that is not even JSON (what the parsers yield in its place)."""

    reason: str
    text: str


# A raw record: (value or Bad, line, index, the line's bytes when the value is a whole line).
Raw = tuple[Any, int | None, int | None, bytes | None]


def short_text(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.strip()
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 3] + "..."


WITHHELD = "[record withheld: it may hold secrets]"


def record_text(value: Any) -> str:
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # past orjson's 254 levels, an integer past 64 bits
        try:
            text = repr(value)
        except RecursionError:  # as deep as orjson decodes (1,024 levels): past repr's reach
            try:
                text = dumps(value).decode()  # the stdlib, given the room for it
            except ValueError:
                text = f"<{type(value).__name__} nested too deep to show>"
    return short_text(text)


def shown(value: Any, reason: str, redactor: Redactor) -> tuple[str, str]:
    """The ``reason`` and ``text`` of a failed record *value*, as a ``RecordError`` shows
    them: the text redacted, and in the reason (which may quote the record, through
    ``shorten``) each secret the record holds masked, whole or cut short."""
    redacted = redactor.redact(value)
    if redacted is not value:
        for secret in redactor.secret_texts(value):
            # no occurrence is longer than the reason: a secret is looked for by that much
            reason = mask_key(secret[: len(reason)], reason)
    return reason, record_text(redacted)
