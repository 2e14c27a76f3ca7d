"""Normalization beyond one machine, on Dask (``pip install 'runnorm[dask]'``).

``read_dumps(paths)`` gives a Dask bag of normalized dicts (``Run.to_dict()``), one partition
per dump file, read where the work runs: local paths (on a shared filesystem) or any fsspec
URL (``s3://bucket/dumps/*.jsonl.gz``), gzip recognized by its magic bytes as everywhere.
``normalize_bag(bag)`` normalizes a bag of native payloads. Both run on any scheduler,
a ``dask.distributed`` cluster included.

Records that fail are left out, or kept as ``{"record_error": {...}}`` dicts with
``errors="include"``, the form ``runnorm normalize --engine dask`` uses to count and report
them. Every failure is caught per record: one bad record never fails a partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from runnorm._batch.reader import read_dump
from runnorm._batch.records import RecordError, shown
from runnorm._batch.sources import check_not_empty, dump_files
from runnorm._errors import ConfigError, RunnormError, shorten
from runnorm._model.run import Run
from runnorm._plugins.host import get_host
from runnorm._plugins.normalize import normalize, resolve_provider

__all__ = ["normalize_bag", "read_dumps"]

Errors = Literal["skip", "include"]


def _check_errors(errors: object) -> None:
    """``errors`` must be ``"skip"`` or ``"include"`` (else ``ConfigError``, here, not on a
    worker, nor silently read as one of them)."""
    if errors not in ("skip", "include"):
        raise ConfigError(f"errors must be 'skip' or 'include', not {shorten(errors)}")


_GLOB = ("*", "?", "[")


def _require() -> tuple[Any, Any]:
    try:
        import dask.bag
        import fsspec
    except ImportError as exc:
        raise ImportError(
            "the Dask engine needs dask and fsspec: pip install 'runnorm[dask]'"
        ) from exc
    return dask.bag, fsspec


def _expand(paths: Iterable[str | Path]) -> list[str]:
    _, fsspec = _require()
    files: list[str] = []
    for path in map(str, paths):
        check_not_empty(path)
        if "://" not in path and Path(path).is_dir():
            files.extend(str(file) for file in dump_files(Path(path)))
        elif any(char in path for char in _GLOB):
            fs, _, found = fsspec.core.get_fs_token_paths(path)
            protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
            prefix = "" if protocol in ("file", "local") else f"{protocol}://"
            files.extend(f"{prefix}{item}" for item in sorted(found))
        elif "://" not in path:
            files.append(str(Path(path).resolve()))  # workers may not share our directory
        else:
            files.append(path)
    return files


def _document(run: Run, redact: bool) -> dict[str, Any]:
    document = run.to_dict()
    return get_host().redactor(run.provider).redact_document(document) if redact else document


def _items(
    items: Iterable[Run | RecordError], errors: Errors, redact: bool
) -> Iterator[dict[str, Any]]:
    for item in items:
        if isinstance(item, Run):
            yield _document(item, redact)
        elif errors == "include":
            yield {"record_error": item.to_dict()}


def _open(path: str) -> IO[bytes]:
    _, fsspec = _require()
    opened: IO[bytes] = fsspec.open(path, "rb").open()
    return opened


def _normalize_files(
    files: Sequence[str], provider: str | None, errors: Errors, redact: bool
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in files:
        with _open(path) as stream:
            records = _renamed(read_dump(stream, provider), path)
            out.extend(_items(records, errors, redact))
    return out


def _renamed(items: Iterable[Run | RecordError], path: str) -> Iterator[Run | RecordError]:
    for item in items:
        if isinstance(item, RecordError) and item.source != path:
            yield RecordError(path, item.line, item.index, item.provider, item.reason, item.text)
        else:
            yield item


def read_dumps(
    paths: Iterable[str | Path] | str,
    provider: str | None = None,
    *,
    errors: Errors = "skip",
    redact: bool = False,
) -> Any:
    """A Dask bag of normalized dicts from dump files (one partition per file).

    *paths* are files, directories (expanded here, recursively) or fsspec URLs and globs.
    """
    bag_module, _ = _require()
    _check_errors(errors)
    if provider is not None:
        resolve_provider(provider)  # an unknown name fails here, not on a worker
    files = _expand([paths] if isinstance(paths, str | Path) else paths)
    if not files:
        raise FileNotFoundError(f"no dump files in {paths!r}")
    return bag_module.from_sequence(files, npartitions=len(files)).map_partitions(
        _normalize_files, provider, errors, redact
    )


def _normalize_payloads(
    payloads: Iterable[Any], provider: str | None, errors: Errors, redact: bool
) -> list[dict[str, Any]]:
    items: list[Run | RecordError] = []
    for index, payload in enumerate(payloads):
        try:
            items.append(normalize(payload, provider))
        except RunnormError as exc:
            items.append(_failure(index, provider, str(exc), payload))
        except Exception as exc:  # a plugin's bug: this payload fails, the partition goes on
            reason = f"mapping failed: {type(exc).__name__}: {exc}"
            items.append(_failure(index, provider, reason, payload))
    return list(_items(items, errors, redact))


def _failure(index: int, provider: str | None, reason: str, payload: Any) -> RecordError:
    """A failed payload of a bag: its text redacted, its reason masked (every provider's
    keys)."""
    reason, text = shown(payload, reason, get_host().redactor(None))
    return RecordError("<bag>", None, index, provider, reason, text)


def normalize_bag(
    bag: Any, provider: str | None = None, *, errors: Errors = "skip", redact: bool = False
) -> Any:
    """Normalize a Dask bag of native payloads (mappings) into a bag of normalized dicts."""
    _require()
    _check_errors(errors)
    if provider is not None:
        resolve_provider(provider)
    return bag.map_partitions(_normalize_payloads, provider, errors, redact)
