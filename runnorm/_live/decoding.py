"""Decoding a response body as it arrives, with the size cap applied to the decoded bytes.

``Content-Encoding`` codings (``gzip``, ``x-gzip``, ``deflate``, stacked as in ``gzip, gzip``)
are undone here, incrementally, from the raw bytes: each decoder hands on at most
:data:`PIECE` bytes at a time, so a compression bomb never costs more than the cap and one
piece per coding. ``identity`` and codings this module does not know pass through unchanged
(as httpx does); ``br`` is not decoded (no Brotli decoder is installed with runnorm).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

__all__ = ["MAX_CODINGS", "PIECE", "BodyDecoder", "DecodingFailed", "TooLarge", "TooManyCodings"]

PIECE = 64 * 1024
MAX_CODINGS = 4
_ZLIB_CODINGS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16}


class DecodingFailed(Exception):
    """Internal: the body is not valid for its ``Content-Encoding``."""


class TooLarge(Exception):
    """Internal: the decoded body passed the cap."""


class TooManyCodings(Exception):
    """Internal: more stacked codings than :data:`MAX_CODINGS`."""


class _Inflate:
    """One zlib-based coding, decoded in pieces of at most :data:`PIECE` bytes."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.started = False
        wbits = _ZLIB_CODINGS.get(coding, zlib.MAX_WBITS)
        self.inflater = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.inflater.eof:
            return  # anything after the end of the stream is ignored
        while True:
            try:
                out = self.inflater.decompress(data, PIECE)
            except zlib.error as exc:
                if self.coding == "deflate" and not self.started:
                    # "deflate" is meant to be zlib-wrapped; some servers send it raw.
                    self.started = True
                    self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise DecodingFailed(f"{self.coding}: {exc}") from None
            self.started = True
            data = self.inflater.unconsumed_tail
            if out:
                yield out
            if self.inflater.eof or (not data and len(out) < PIECE):
                return

    def flush(self) -> Iterator[bytes]:
        yield from self.feed(b"")
        tail = self.inflater.flush()
        for start in range(0, len(tail), PIECE):
            yield tail[start : start + PIECE]


def _codings(header: str) -> list[str]:
    names = [part.strip().lower() for part in header.split(",")]
    return [name for name in names if name in ("gzip", "x-gzip", "deflate")]


class BodyDecoder:
    """Raw bytes in, decoded bytes out, never more than *max_bytes* of them in total."""

    def __init__(self, content_encoding: str, max_bytes: int) -> None:
        codings = _codings(content_encoding)
        if len(codings) > MAX_CODINGS:
            raise TooManyCodings(f"{len(codings)} stacked content codings")
        # Codings are listed in the order they were applied: undo the last one first.
        self.stages = [_Inflate(coding) for coding in reversed(codings)]
        self.max_bytes = max_bytes
        self.size = 0

    def feed(self, raw: bytes) -> Iterator[bytes]:
        """The decoded pieces of *raw*; ``TooLarge`` once the total passes the cap."""
        yield from self._checked(self._through(0, raw))

    def finish(self) -> Iterator[bytes]:
        """What the decoders still hold once the raw body has ended."""
        for index, stage in enumerate(self.stages):
            for piece in stage.flush():
                yield from self._checked(self._through(index + 1, piece))

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self.stages):
            if data:
                yield data
            return
        for piece in self.stages[index].feed(data):
            yield from self._through(index + 1, piece)

    def _checked(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.size += len(piece)
            if self.size > self.max_bytes:
                raise TooLarge
            yield piece
