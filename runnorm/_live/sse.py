"""An incremental ``text/event-stream`` parser (the part of the SSE format MCP replies use).

Lines end at CR, LF or CRLF, and nowhere else (not at U+2028, U+2029 or the other breaks
``str.splitlines`` knows); a CRLF split across two chunks is one line end. An event's
``data`` lines are joined with LF; comments and other fields are skipped; a leading BOM is
dropped. Only ``message`` events (an ``event:`` field of ``message``, or none) are given:
another type (a server's ``event: ping`` keep-alive) is skipped, as the MCP SDK client does.
Bytes are decoded as UTF-8, invalid sequences replaced.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["SseParser", "iter_sse_data"]

_LINE_END = re.compile(r"\r\n|\r|\n")


class SseParser:
    """Feed bytes, get the ``data`` of each event completed so far."""

    __slots__ = ("_buffer", "_data", "_decoder", "_event", "_started")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = ""
        self._data: list[str] = []
        self._event = ""
        self._started = False

    def feed(self, chunk: bytes) -> list[str]:
        """The events that *chunk* completes."""
        return self._lines(self._decoder.decode(chunk), final=False)

    def close(self) -> list[str]:
        """The events still open when the stream ends (an unterminated last event counts)."""
        events = self._lines(self._decoder.decode(b"", final=True), final=True)
        self._dispatch(events)
        return events

    def _dispatch(self, events: list[str]) -> None:
        if self._data and self._event in ("", "message"):
            events.append("\n".join(self._data))
        self._data, self._event = [], ""

    def _lines(self, text: str, *, final: bool) -> list[str]:
        if not self._started and (text or final):
            self._started = True
            text = text.removeprefix("\ufeff")
        scan_from = max(0, len(self._buffer) - 1)  # the buffer holds no line end but a last CR
        text = self._buffer + text
        events: list[str] = []
        start = 0
        for match in _LINE_END.finditer(text, scan_from):
            if match.group() == "\r" and match.end() == len(text) and not final:
                break  # maybe the first half of a CRLF: wait for the next chunk
            self._line(text[start : match.start()], events)
            start = match.end()
        rest = text[start:]
        if final and rest:
            self._line(rest, events)
            rest = ""
        self._buffer = rest
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line.startswith(":"):
            return
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value.removeprefix(" "))
        elif field == "event":
            self._event = value.removeprefix(" ")


def iter_sse_data(body: bytes) -> list[str]:
    """The ``data`` of each event in a complete ``text/event-stream`` body."""
    parser = SseParser()
    return parser.feed(body) + parser.close()
