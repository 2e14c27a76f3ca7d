"""Reading exported dumps: ``read_dump`` yields a ``Run`` or a ``RecordError`` per record.

Inputs: JSON Lines; a JSON array; list wrappers (``{"data": [...]}``, ``{"runs": [...]}``,
whose other top-level fields, such as Bridge Town's ``project_name``, are copied into each
item that lacks them); a single run object; gzip of any of these (recognized by its magic
bytes, whatever the name); a directory (recursive, sorted, dump files only); an open binary
file; ``"-"`` for stdin. Providers are detected per record unless one is given.

Memory stays flat: JSON Lines are read line by line, and large JSON documents are
streamed element by element. Where the bytes come from is :mod:`runnorm._batch.sources`;
how they become raw records, :mod:`runnorm._batch.documents`; this module normalizes them,
with a fast loop for plain JSON Lines.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, Literal

import attrs
import orjson

from runnorm._batch.documents import (
    classify,
    document_records,
    iter_lines,
    records_of_document,
    with_head,
)
from runnorm._batch.records import WITHHELD, Bad, Raw, RecordError, record_text
from runnorm._batch.sources import open_stream, sources
from runnorm._batch.wrappers import wrapper_items
from runnorm._errors import DumpError, RunnormError, shorten
from runnorm._model.run import Run
from runnorm._plugins.host import PluginHost, get_host
from runnorm._plugins.normalize import apply, resolve_provider
from runnorm._plugins.provider import Provider

__all__ = ["Result", "normalize_stream", "read_dump"]


def _guess(value: Any, host: PluginHost) -> str | None:
    if not isinstance(value, Mapping):
        return None
    try:
        matches = host.detect(value)
    except Exception:
        return None
    return matches[0].name if len(matches) == 1 else None


def read_dump(
    source: str | os.PathLike[str] | IO[bytes],
    provider: str | Provider | None = None,
    *,
    on_error: Literal["yield", "raise"] = "yield",
) -> Iterator[Run | RecordError]:
    """Yield, in input order, a ``Run`` per record that normalizes and a ``RecordError`` per
    record that does not (with ``on_error="raise"``, raise ``DumpError`` carrying
    ``.record`` at the first one instead)."""
    if on_error not in ("yield", "raise"):
        raise ValueError(f"on_error must be 'yield' or 'raise', not {on_error!r}")
    host = get_host()
    fixed = resolve_provider(provider) if provider is not None else None
    for name, opener in sources(source):
        stream = opener()
        try:
            for item, _ in normalize_stream(stream, name, fixed, host):
                if type(item) is RecordError and on_error == "raise":
                    raise DumpError(f"{item.where}: {item.reason}", item)
                yield item
        finally:
            if stream is not sys.stdin.buffer and stream is not source:
                stream.close()


Result = tuple[Run | RecordError, bytes | None]


def normalize_stream(
    stream: IO[bytes],
    name: str,
    fixed: Provider | None,
    host: PluginHost,
    *,
    lines: bool = False,
) -> Iterator[Result]:
    """Each record of a binary stream as a ``Run`` or ``RecordError``, with its own bytes.

    Plain JSON Lines (or a byte range of them, ``lines=True``) take the fast loop; anything
    else (gzip of documents, arrays, wrappers, BOMs) the general reader.
    """
    if lines:
        return _jsonl_results(stream, name, fixed, host)
    stream = open_stream(stream)
    head, document_like = classify(stream)
    if not document_like:
        return _jsonl_results(with_head(head, stream), name, fixed, host)
    return _normalize_records(document_records(stream, head), name, fixed, host)


def _jsonl_results(
    lines: Iterable[bytes], name: str, fixed: Provider | None, host: PluginHost
) -> Iterator[Result]:
    """The JSON Lines hot loop: decode, detect, map. Anything unusual on a line (bad JSON,
    no single provider, a mapping error, a wrapper, a non-object) takes the general path for
    that line alone, so the results are exactly the general reader's."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    detect = host.detect
    number = 0
    for raw in lines:
        number += 1
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # noqa: PLW2901 - a byte-order mark opening the file (or shard)
        try:
            value = loads(raw)
        except decode_error:
            if raw.isspace() or not raw:
                continue
            value = None
        if type(value) is dict:
            provider = fixed
            if provider is None:
                matches = detect(value)  # the same rules as normalize(): exactly one
                provider = matches[0] if len(matches) == 1 else None
            if provider is not None:
                try:
                    run = provider.to_run(value)
                    # The line's bytes stand for run.raw only when raw is the decoded line.
                    yield run, (raw if run.raw is value else None)
                    continue
                except Warning:
                    raise
                except Exception:  # reported by the general path below, with the same words
                    pass
        for item, source in _normalize_records(iter_lines(io.BytesIO(raw), b""), name, fixed, host):
            yield (attrs.evolve(item, line=number) if type(item) is RecordError else item), source


def _normalize_records(
    records: Iterable[Raw], name: str, fixed: Provider | None, host: PluginHost
) -> Iterator[Result]:
    """Each record as a ``Run`` or a ``RecordError``, with the record's own bytes when known."""
    detect = host.detect
    fixed_map = fixed.to_run if fixed is not None else None
    for value, line, index, source in records:
        if type(value) is dict:
            provider = fixed
            try:
                if fixed_map is not None:
                    run = fixed_map(value)
                    yield run, (source if run.raw is value else None)
                    continue
                matches = detect(value)
                if len(matches) == 1:
                    provider = matches[0]
                    run = provider.to_run(value)
                    yield run, (source if run.raw is value else None)
                    continue
                failure = _detection_reason(matches)
            except RunnormError as exc:
                failure = str(exc)
            except Warning:
                raise  # a warning made an error by the caller's filters
            except Exception as exc:  # a plugin's bug, reported as normalize() reports it
                failure = str(_mapping_failure(provider, value, exc))
            if index is None and wrapper_items(value) is not None:
                # A list wrapper on one line of a JSON Lines file: its items are the records.
                documents = records_of_document(value, line)
                yield from _normalize_records(documents, name, fixed, host)
                continue
        elif isinstance(value, Bad):
            text = value.text
            if host.redactor(None).may_hold_secrets(text.encode("utf-8", "replace")):
                text = WITHHELD
            yield RecordError(name, line, index, None, value.reason, text), None
            continue
        else:
            failure = (
                f"a run record must be a JSON object, got {type(value).__name__} {shorten(value)}"
            )
        guess = fixed.name if fixed is not None else _guess(value, host)
        shown = host.redactor(guess).redact(value)
        yield RecordError(name, line, index, guess, failure, record_text(shown)), None


def _mapping_failure(provider: Provider | None, value: Any, exc: Exception) -> RunnormError:
    if provider is not None:
        try:
            apply(provider, value)  # the same wrapping normalize() applies
        except RunnormError as error:
            return error
    return RunnormError(f"mapping failed: {type(exc).__name__}: {shorten(str(exc))}")


def _detection_reason(matches: list[Provider]) -> str:
    if not matches:
        return "no installed provider recognizes this record"
    names = ", ".join(sorted(p.name for p in matches))
    return f"record matches several providers ({names})"
