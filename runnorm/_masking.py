"""Masking one secret (an API key, a webhook's signing secret) wherever a text may echo it.

``mask_key`` masks a key in a text, in every escaping a server's echo may use; ``scrubbed``
masks it in an exception's message, its ``body`` and ``value``, and in the exceptions chained
to it. ``SecretMask`` is the ``Scrubber`` of a bare secret (``CallOptions`` is the live one).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import attrs

from runnorm._errors import RunnormError

__all__ = ["Scrubber", "SecretMask", "mask_key", "mask_value", "scrubbed"]


class Scrubber(Protocol):
    """What masks one secret in texts and JSON values."""

    @property
    def api_key(self) -> str | None:
        """The secret to mask (nothing is masked without one)."""

    def scrub(self, text: str) -> str:
        """*text* with the secret masked."""

    def scrub_value(self, value: Any) -> Any:
        """A JSON value with the secret masked in every string it holds."""


@attrs.frozen
class SecretMask:
    """The ``Scrubber`` of one secret; bytes are masked as the text they decode to."""

    secret: str | bytes = attrs.field(repr=False)

    @property
    def api_key(self) -> str:
        """The secret as text (UTF-8 when it decodes so, else Latin-1)."""
        if isinstance(self.secret, str):
            return self.secret
        try:
            return self.secret.decode("utf-8")
        except UnicodeDecodeError:
            return self.secret.decode("latin-1")

    def scrub(self, text: str) -> str:
        """*text* with the secret masked (see :func:`mask_key`)."""
        return mask_key(self.api_key, text)

    def scrub_value(self, value: Any) -> Any:
        """A JSON value with the secret masked in every string it holds."""
        return mask_value(self.scrub, value)


def mask_value(scrub: Callable[[str], str], value: Any) -> Any:
    """A JSON value with *scrub* applied to every string it holds, keys included: mappings
    become dicts (two keys that mask alike keep the later value, as a dict literal would),
    lists stay lists, other values are kept.

    Walked with a stack of its own, not by recursion: an error's body or a webhook payload
    may nest deeper than Python's recursion limit (orjson decodes 1,024 levels). A container
    met twice gives one masked copy, so a value that holds itself ends too.
    """
    if isinstance(value, str):
        return scrub(value)
    if not isinstance(value, Mapping | list):
        return value
    root: list[Any] = [None]
    copies: dict[int, Any] = {}
    pending: list[tuple[Any, Any, Any]] = [(root, 0, value)]  # (into, slot, item)
    while pending:
        into, slot, item = pending.pop()
        if isinstance(item, str):
            into[slot] = scrub(item)
        elif not isinstance(item, Mapping | list):
            into[slot] = item
        elif id(item) in copies:
            into[slot] = copies[id(item)]
        elif isinstance(item, list):
            listed: list[Any] = [None] * len(item)
            into[slot] = copies[id(item)] = listed
            pending.extend((listed, i, v) for i, v in enumerate(item))
        else:
            mapped: dict[str, Any] = {}
            into[slot] = copies[id(item)] = mapped
            children = []
            for k, v in item.items():
                key = scrub(str(k))
                mapped.setdefault(key, None)  # each key where a dict literal puts it
                children.append((mapped, key, v))
            pending.extend(reversed(children))  # popped in order: the later value wins
    return root[0]


_MASKS = ("***", "###", "~~~", "^^^", "___")
"""The mask: the first of these that shares no character with the key (else nothing)."""
_ELLIPSES = re.compile(r"\.\.\.|\u2026")


def _hex(value: int, width: int) -> str:
    """*value* in hex digits, either case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{value:0{width}x}")


def _char_pattern(char: str) -> str:
    r"""One key character as a text may spell it: itself; after any run of backslashes (repr,
    JSON, or both at once: ``\'``, ``\"``, ``\\``); as ``\u0041`` or ``\x41``; or as
    ``%41``. Escaped spellings come first, so that a match takes a whole escape. A character
    past ASCII (a webhook secret may hold one; API keys are ASCII) is also matched as its
    UTF-8 bytes escaped (``\xc3\xa9``, as the ``repr`` of bytes shows them, or ``%C3%A9``),
    as ``\u79d8`` and, past the BMP, as a JSON surrogate pair or ``\U0001f600``.

    A run of backslashes before another character is taken whole (possessive: giving some
    back could never let that character match), so a long run costs one pass, not one per
    backslash."""
    plain = re.escape(char)
    run = "\\\\+" if char == "\\" else "\\\\++"  # a backslash key character may end the run
    code = ord(char)
    escapes = [plain, f"u{_hex(code, 4)}"] if code <= 0xFFFF else [plain]
    spelled = [plain]
    if code <= 0xFF:
        escapes.append(f"x{_hex(code, 2)}")
        spelled.append(f"%{_hex(code, 2)}")
    if code > 0x7F:
        utf8 = char.encode("utf-8", "surrogatepass")
        escapes.append("\\\\+".join(f"x{_hex(byte, 2)}" for byte in utf8))
        spelled.append("".join(f"%{_hex(byte, 2)}" for byte in utf8))
    if code > 0xFFFF:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        escapes += [f"U{_hex(code, 8)}", f"u{_hex(high, 4)}\\\\+u{_hex(low, 4)}"]
    return f"(?:{run}(?:{'|'.join(escapes)})|{'|'.join(spelled)})"


@attrs.frozen
class _Masker:
    """What finding one key takes, compiled once per key: the whole key as one flat pattern
    (found overlapping, through a lookahead, never from inside a run of backslashes: a match
    there also starts where the run does), each of its characters as a pattern of its own
    (for a key cut short: matched one after the other, so a key of any length compiles),
    the first one again, never from inside a run of backslashes either, the positions of
    each character after the first (where a key's tail may begin), and the mask."""

    whole: re.Pattern[str]
    first: re.Pattern[str]
    steps: tuple[re.Pattern[str], ...]
    tails: Mapping[str, tuple[int, ...]]
    mask: str


@functools.lru_cache(maxsize=64)
def _key_masker(key: str) -> _Masker:
    chars = [_char_pattern(char) for char in key]
    whole = re.compile(f"(?=(?<!\\\\)({''.join(chars)}))")
    first = re.compile(f"(?<!\\\\){chars[0]}")
    steps = tuple(re.compile(char) for char in chars)
    tails: dict[str, list[int]] = {}
    for index in range(1, len(key)):
        tails.setdefault(key[index], []).append(index)
    mask = next((m for m in _MASKS if not set(m) & set(key)), "")
    return _Masker(whole, first, steps, {c: tuple(i) for c, i in tails.items()}, mask)


def _tail_end(masker: _Masker, text: str, start: int) -> int:
    """Where the longest tail of the key spelled at *start* (after one space at most) ends;
    *start* when none is. A key cut in the middle (pydantic shows a long value as its first
    25 and last 24 characters around ``...``) keeps its tail there."""
    at = start + 1 if text.startswith(" ", start) else start
    if at >= len(text):
        return start
    lead = text[at]
    if lead in "\\%":  # an escaped spelling: any character of the key may begin the tail
        firsts: Iterable[int] = range(1, len(masker.steps))
    else:  # a plain one: only where the key holds that character (the longest tail first)
        firsts = masker.tails.get(lead, ())
    for first in firsts:
        position = at
        for step in masker.steps[first:]:
            match = step.match(text, position)
            if match is None:
                break
            position = match.end()
        else:
            return position
    return start


def _key_spans(key: str, text: str) -> list[list[int]]:
    """Where *key* occurs in *text* (whole, or its first part then an ellipsis, then maybe
    its last part), merged.

    A cut key is found in one pass: from each place its first character is spelled, its
    next characters are followed for as long as they match; a place where that chain
    reaches an ellipsis starts a cut key (so the work grows with the text, not with the
    number of ellipses times the text)."""
    masker = _key_masker(key)
    found = [match.span(1) for match in masker.whole.finditer(text)]
    ellipses = {match.start(): match.end() for match in _ELLIPSES.finditer(text)}
    if ellipses:
        steps = masker.steps
        for start_match in masker.first.finditer(text):
            position = start_match.end()
            for step in steps[1:]:
                if position in ellipses:
                    break
                match = step.match(text, position)
                if match is None:
                    break
                position = match.end()
            if position in ellipses:
                found.append((start_match.start(), _tail_end(masker, text, ellipses[position])))
    spans: list[list[int]] = []
    for start, stop in sorted(found):
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], stop)
        else:
            spans.append([start, stop])
    return spans


def mask_key(key: str, text: str) -> str:
    r"""*text* with every occurrence of *key* replaced by ``***``.

    An occurrence is the key plain, escaped as ``repr`` or JSON write it (``\'``, ``\"``,
    ``\\``, ``\u0041``), percent-encoded, or its first part cut short by an ellipsis (a
    shortened value), with the key's last part after the ellipsis when one follows (a value
    cut in the middle). Overlapping occurrences are masked as one. Every length is masked, so
    a key of one to three characters is masked inside ordinary words too, and a key of
    thousands (a JWT) as well. The mask is ``###`` (or ``~~~``, ...) for a key that holds
    ``*``: a mask never spells part of a key.
    """
    if key[0] not in text and "\\" not in text and "%" not in text:
        return text  # the quick answer: nothing here can begin an occurrence
    mask = _key_masker(key).mask
    while True:
        spans = _key_spans(key, text)
        if not spans:
            return text
        pieces: list[str] = []
        last = 0
        for start, end in spans:
            pieces += (text[last:start], mask)
            last = end
        pieces.append(text[last:])
        text = "".join(pieces)
        if mask:  # a mask with none of the key's characters cannot join two parts into a key
            return text


def scrubbed(options: Scrubber, error: RunnormError) -> RunnormError:
    """*error* with the API key masked in its message, ``body`` and ``value``, and in the
    messages of the exceptions chained to it; a chained exception whose text still shows
    the key once its arguments are masked (its own ``__str__``) is cut from the chain."""
    if not options.api_key:
        return error
    _mask_args(options, error)
    for attribute in ("body", "value", "error", "hint"):  # ToolError keeps the tool's words
        if hasattr(error, attribute):
            setattr(error, attribute, options.scrub_value(getattr(error, attribute)))
    seen = {id(error)}
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        for link in ("__cause__", "__context__"):
            chained = getattr(current, link)
            if chained is None or id(chained) in seen:
                continue
            seen.add(id(chained))
            _mask_args(options, chained)
            if _shows_key(options, chained):
                setattr(current, link, None)
                current.__suppress_context__ = True
            else:
                pending.append(chained)
    return error


def _mask_args(options: Scrubber, error: BaseException) -> None:
    error.args = tuple(
        options.scrub(a) if isinstance(a, str) else options.scrub_value(a) for a in error.args
    )


def _shows_key(options: Scrubber, error: BaseException) -> bool:
    try:
        texts = (str(error), repr(error))
    except Exception:  # a hostile __str__: not worth keeping
        return True
    return any(options.scrub(text) != text for text in texts)
