"""Downloading one artifact into a directory, safely, as a flow (sync and async alike).

Where the bytes come from, in order:

1. an inline artifact's exact bytes through the provider's tool (``Artifacts.content``, a
   :class:`~runnorm._plugins.capabilities.ToolContent`: Bridge Town's ``get_run_output``);
2. the inline ``content`` itself (stdout, stderr, a log), written as text or JSON;
3. the artifact's link, when it is http(s) and not known to have expired;
4. when the link is missing, expired, or refused (401, 403, 410): the provider renews it
   as its listing declares: ``remint`` (a fresh link), ``download`` (the per-file path,
   with the key: Skyvern's ``/v1/artifacts/{id}/content``) or ``relists`` (listing again:
   Browserbase mints recording links afresh on each GET).

The key goes only to URLs under the provider's base URL (and the caller's ``headers`` with
it); a link on another host gets neither, and a redirect that leaves the origin drops them
(:mod:`runnorm._live.http`). Only http(s) links are followed. A link that holds the API key
itself (anywhere in the URL, plain or percent-encoded: the rule of
:meth:`~runnorm._live.options.CallOptions.scrub`, as for redirects and next-page URLs) is
refused before any request, as a redirect to one is: ``TransportError`` (``kind="request"``).

Inline text is written as UTF-8; a lone surrogate in it is written as its ``surrogateescape``
byte when it stands for one (U+DC80 to U+DCFF, an undecodable byte), else with
``surrogatepass`` (its three-byte form): the text is written whole, never refused.

The bytes stream into a hidden partial file in the destination directory
(:class:`runnorm._files.PartialFile`, named from a digest of what identifies the artifact),
never into memory, with their SHA-256 computed as they come. An interrupted transfer
resumes with ``Range: bytes=N-`` (within the call, up to ``max_retries`` times; and in a
later call, from the partial file kept), and ``If-Range`` naming the server's validator of
the bytes held (a strong ETag, else Last-Modified, kept beside the partial file), so that a
file changed in between is sent whole instead of spliced. Once complete, the size and
checksum are checked where the provider gives them (a mismatch deletes the partial file:
``ArtifactError``), and the file is renamed to its clean name
(:func:`runnorm._files.clean_name`, the API key masked before and after cleaning): over an
existing file only with ``overwrite=True``, else to ``name (1).ext``. ``max_bytes`` stops a
larger artifact before or while it arrives. ``timeout`` bounds each network operation
(connect, each read), not the whole transfer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import os
import re
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

from runnorm._errors import (
    ArtifactError,
    ConfigError,
    PayloadError,
    RunnormError,
    RunnormWarning,
    TransportError,
    shorten,
)
from runnorm._files import VALIDATOR_MAX, PartialFile, PartialInUse, clean_name
from runnorm._json import dumps
from runnorm._live.artifacts import (
    item_artifact,
    listing_items,
    split_scoped_id,
)
from runnorm._live.mcp import McpState, mcp_call_tool
from runnorm._live.options import USER_AGENT, CallOptions, check_count, valid_http_url
from runnorm._live.replies import decode_json, error_for, scrubbed
from runnorm._live.rest import path_segment, rest_get
from runnorm._live.retry import backoff_delay, is_retryable_status, retry_after
from runnorm._live.wire import Flow, Request, Response, Sleep
from runnorm._model.run import Artifact, ArtifactKind
from runnorm._plugins.capabilities import ArtifactListing, ToolContent

__all__ = ["Progress", "checksum_digest", "download_flow", "partial_key"]

Progress = Callable[[int, int | None], object]
"""``on_progress(done, total)``: bytes written so far, and the total when known."""

EXPIRY_MARGIN = 10.0
"""A link expiring within this many seconds counts as expired (renewed first, if it can)."""
_REFUSED = frozenset({401, 403, 410})
"""What a signed link answers once it has expired (or was never valid)."""
_HEX = re.compile(r"[0-9a-fA-F]{64}")


def checksum_digest(checksum: str) -> bytes | None:
    """The SHA-256 digest a provider's checksum spells: 64 hex digits, or base64 of 32
    bytes, optionally after ``sha256:`` or ``sha256=``; None for anything else."""
    text = checksum.strip()
    if text[:7].lower() in ("sha256:", "sha256="):
        text = text[7:]
    if _HEX.fullmatch(text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def partial_key(provider: str, artifact: Artifact) -> str:
    """A digest of what identifies the artifact's bytes: the same artifact downloaded again
    into the same directory finds its partial file (a renewed link keeps the key)."""
    url = (artifact.url or "").split("?", 1)[0].split("#", 1)[0]
    identity = artifact.id or url or artifact.name or ""
    text = "\0".join([provider, identity, artifact.checksum or "", str(artifact.size or "")])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


_TEXT_FIELDS = ("url", "name", "checksum", "media_type", "id")
_TIME_FIELDS = ("created_at", "expires_at")


def check_artifact(artifact: object) -> Artifact:
    """*artifact*, or ``ConfigError`` naming the first field whose value has the wrong type."""
    if not isinstance(artifact, Artifact):
        raise ConfigError(f"artifact must be a runnorm.Artifact, not {shorten(artifact)}")
    if not isinstance(artifact.kind, ArtifactKind):
        raise ConfigError(
            f"artifact.kind must be a runnorm.ArtifactKind, not {shorten(artifact.kind)}"
        )
    for field in _TEXT_FIELDS:
        value = getattr(artifact, field)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"artifact.{field} must be a string or None, not {shorten(value)}")
    size = artifact.size
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ConfigError(f"artifact.size must be a whole number >= 0 or None, not {shorten(size)}")
    for field in _TIME_FIELDS:
        value = getattr(artifact, field)
        if value is not None and not isinstance(value, datetime):
            raise ConfigError(f"artifact.{field} must be a datetime or None, not {shorten(value)}")
    return artifact


_NOT_ESCAPED = re.compile("([\ud800-\udc7f\udd00-\udfff]+)")
"""Lone surrogates that ``surrogateescape`` cannot write (it writes U+DC80 to U+DCFF only)."""


def text_bytes(text: str) -> bytes:
    """*text* as UTF-8, lone surrogates included (see the module's docstring)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        pieces = _NOT_ESCAPED.split(text)  # odd indexes: the runs surrogateescape refuses
        return b"".join(
            piece.encode("utf-8", "surrogatepass" if index % 2 else "surrogateescape")
            for index, piece in enumerate(pieces)
        )


def _holds_key(options: CallOptions, url: str) -> bool:
    """True when *url* spells the API key: the rule redirects and next-page URLs follow."""
    return options.scrub(url) != url


def _dest_directory(dest_dir: object) -> Path:
    if not isinstance(dest_dir, str | os.PathLike):
        raise ConfigError(f"dest_dir must be a path, not {shorten(dest_dir)}")
    try:
        path = os.fspath(dest_dir)
    except Exception as exc:  # a PathLike whose __fspath__ fails
        raise ConfigError(f"dest_dir is not a usable path: {type(exc).__name__}") from None
    if not isinstance(path, str):
        raise ConfigError(f"dest_dir must be a text path, not {shorten(path)}")
    if "\0" in path:
        raise ConfigError(f"dest_dir holds a NUL character: {shorten(path)}")
    return Path(path)


# -- the call ---------------------------------------------------------------------------------


@attrs.define
class _Job:
    """One download: where the bytes go and what they must be."""

    options: CallOptions
    artifact: Artifact
    directory: Path
    overwrite: bool
    max_bytes: int | None
    on_progress: Progress | None
    partial: PartialFile
    callback_error: BaseException | None = None
    """What ``on_progress`` raised: the caller's own, re-raised unchanged."""
    media_type: str | None = None
    """The response's media type (for a name when the artifact has none)."""
    disposition: str | None = None
    """A file name from the response's ``Content-Disposition``."""

    @property
    def provider(self) -> str:
        return self.options.provider.name

    def fail(self, check: str, message: str, *, keep: bool = False) -> ArtifactError:
        """An ``ArtifactError``; the partial file is deleted unless *keep*."""
        if keep:
            self.partial.close()
        else:
            self.partial.discard()
        shown = self.artifact.name or self.artifact.id or "the artifact"
        return ArtifactError(
            f"{self.provider}: {shorten(shown, 60)}: {message}",
            check=check,
            artifact=self.artifact,
            path=self.partial.path if keep else None,
        )


def download_flow(
    options: CallOptions,
    artifact: Artifact,
    dest_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    max_bytes: int | None = None,
    on_progress: Progress | None = None,
    mcp_state: McpState | None = None,
) -> Flow[Path]:
    """Download *artifact* into *dest_dir* (created if missing); the written ``Path``.

    Every exception is a ``RunnormError`` (``ConfigError`` for an argument or an artifact
    field of the wrong type), but for what ``on_progress`` raises: that goes to the caller
    unchanged, once the partial file is deleted."""
    artifact = check_artifact(artifact)
    directory = _dest_directory(dest_dir)
    if not isinstance(overwrite, bool):
        raise ConfigError(f"overwrite must be True or False, not {shorten(overwrite)}")
    if max_bytes is not None:
        max_bytes = check_count("max_bytes", max_bytes)
    if on_progress is not None and not callable(on_progress):
        raise ConfigError(f"on_progress must be callable, not {shorten(on_progress)}")
    partial = PartialFile(directory, partial_key(options.provider.name, artifact))
    job = _Job(options, artifact, directory, overwrite, max_bytes, on_progress, partial)
    try:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise job.fail("io", f"cannot create {directory}: {exc.strerror or exc}") from None
        return (yield from _download(job, mcp_state))
    except RunnormError as exc:
        partial.close()
        if exc is job.callback_error:
            raise
        raise scrubbed(options, exc) from exc.__cause__
    except RecursionError:
        partial.close()
        raise PayloadError(
            "a reply about the artifact is nested too deep to process",
            provider=options.provider.name,
        ) from None
    finally:
        partial.close()


def _download(job: _Job, state: McpState | None) -> Flow[Path]:
    artifact, options = job.artifact, job.options
    if artifact.url is not None and _holds_key(options, artifact.url):
        raise _key_in_link(job, artifact.url)
    declared = options.provider.artifacts
    content = declared.content if declared is not None else None
    if (
        content is not None
        and artifact.id is not None
        and artifact.kind in content.kinds
        and split_scoped_id(artifact.id) is not None
    ):
        data = yield from _tool_bytes(job, content, state or McpState())
        return _write_whole(job, data)
    if artifact.content is not None:
        return _write_whole(job, _inline_bytes(job))
    listing = _listing_for(job)
    link = artifact.url
    usable = link is not None and valid_http_url(link)
    if link is not None and not usable and listing is None:
        scheme = urlsplit(link).scheme if "://" in link else "none"
        raise job.fail("link", f"its link is not an http(s) URL (scheme {scheme!r}); not fetched")
    expired = (
        artifact.expires_at is not None
        and artifact.expires_at.timestamp() <= time.time() + EXPIRY_MARGIN
    )
    if usable and link is not None and not (expired and listing is not None):
        fetched = yield from _fetch(job, link, credential=_under_base(options, link))
        if fetched:
            return _publish(job)
    if listing is None:
        if link is None:
            raise job.fail("link", "it has no link, no inline content and no way to fetch one")
        raise job.fail(
            "link",
            "its link was refused (expired?) and the provider declares no way to renew it",
            keep=True,
        )
    yield from _renewed(job, listing)
    return _publish(job)


def _listing_for(job: _Job) -> ArtifactListing | None:
    """The listing that can renew this artifact's link (by its kind), if its id allows."""
    declared = job.options.provider.artifacts
    if declared is None or job.artifact.id is None:
        return None
    for listing in declared.listings:
        kinds = {listing.kind, *listing.fields.kinds.values()}
        if job.artifact.kind not in kinds:
            continue
        if listing.remint or listing.download:
            return listing
        if listing.relists and split_scoped_id(job.artifact.id) is not None:
            return listing
    return None


def _under_base(options: CallOptions, url: str) -> bool:
    """True when *url* is under the provider's base URL: same origin, path below it."""
    base, link = urlsplit(options.base_url), urlsplit(url)
    if (base.scheme, base.hostname, base.port) != (link.scheme, link.hostname, link.port):
        return False
    root = base.path.rstrip("/")
    return link.path == root or link.path.startswith(root + "/")


def _renewed(job: _Job, listing: ArtifactListing) -> Flow[None]:
    """Fetch the bytes the way the listing renews a link: remint, download path, relist."""
    options, artifact = job.options, job.artifact
    assert artifact.id is not None
    if listing.remint is not None:
        segment = path_segment(artifact.id)
        if segment is None:
            raise job.fail("link", f"its id {shorten(artifact.id)} cannot be sent")
        path = listing.remint.path.format(artifact_id=segment)
        what = f"GET {path}"
        response = yield from rest_get(options, path, what)
        if response.status != 200:
            raise error_for(options, response, what)
        reply = decode_json(options, response, what)
        fresh = reply.get(listing.remint.url_key) if isinstance(reply, Mapping) else None
        yield from _fetch_fresh(job, fresh, what)
        return
    if listing.download is not None:
        segment = path_segment(artifact.id)
        if segment is None:
            raise job.fail("link", f"its id {shorten(artifact.id)} cannot be sent")
        url = options.base_url + listing.download.format(artifact_id=segment)
        if not (yield from _fetch(job, url, credential=True, accept=listing.accept, own=True)):
            raise job.fail("link", "the provider refused the download", keep=True)
        return
    split = split_scoped_id(artifact.id)
    assert split is not None
    scope = split[0]
    what = f"GET {listing.path}"
    items = yield from listing_items(options, listing, scope)
    fresh = None
    for index, item in enumerate(items):
        listed = item_artifact(options, listing, item, index, scope)
        if listed is not None and listed.id == artifact.id:
            fresh = listed.url
            break
    if fresh is None:
        raise job.fail("link", f"listing again ({what}) no longer shows it", keep=True)
    yield from _fetch_fresh(job, fresh, what)


def _fetch_fresh(job: _Job, fresh: Any, what: str) -> Flow[None]:
    if not isinstance(fresh, str) or not valid_http_url(fresh):
        raise job.fail("link", f"{what} gave no http(s) link: {shorten(fresh)}", keep=True)
    if not (yield from _fetch(job, fresh, credential=_under_base(job.options, fresh))):
        raise job.fail("link", "the renewed link was refused too", keep=True)


def _key_in_link(job: _Job, url: str) -> TransportError:
    where = job.options.scrub(url.split("?", 1)[0].split("#", 1)[0])
    shown = job.artifact.name or job.artifact.id or "the artifact"
    return TransportError(
        f"{job.provider}: {shorten(shown, 60)}: its link {shorten(where)} holds the API key; "
        "not fetched",
        provider=job.provider,
        kind="request",
    )


# -- one link, streamed with Range resume -----------------------------------------------------


@attrs.define
class _Attempt:
    """What the sink saw of one response."""

    status: int = 0
    total: int | None = None
    end: int | None = None
    """What the partial file holds once a 206's range is written (its last byte + 1)."""
    problem: str | None = None
    """``max_bytes``, ``size``, ``io``, ``range`` or ``callback``: the writer stopped."""
    error: BaseException | None = None


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)


def _length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _disposition_name(value: str | None) -> str | None:
    if not value:
        return None
    extended = re.search(r"filename\*\s*=\s*([^;]+)", value, re.I)
    if extended:
        charset, _, rest = extended.group(1).strip().strip('"').partition("''")
        try:
            return unquote(rest or charset, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            pass
    plain = re.search(r'filename\s*=\s*("([^"]*)"|[^;]+)', value, re.I)
    if plain:
        return (plain.group(2) if plain.group(2) is not None else plain.group(1)).strip()
    return None


def _headers(
    job: _Job, credential: bool, accept: str | None
) -> tuple[dict[str, str], frozenset[str]]:
    options = job.options
    if credential:
        headers = options.request_headers(accept=accept or "*/*")
        secret = options.secret_headers() | {name.lower() for name in options.headers}
    else:  # another host: neither the key nor the caller's headers go there
        headers = {"user-agent": USER_AGENT, "accept": accept or "*/*"}
        secret = options.secret_headers()
    headers["accept-encoding"] = "identity"
    return headers, secret


def _open_partial(job: _Job) -> int:
    """Open the partial file to resume it; the bytes it holds."""
    try:
        offset = job.partial.open(resume=True)
    except PartialInUse:
        raise job.fail(
            "io", f"another download of it into {job.directory} is under way", keep=True
        ) from None
    except OSError as exc:
        raise job.fail("io", f"cannot write in {job.directory}: {exc.strerror or exc}") from None
    expected = job.artifact.size
    if expected is not None and offset > expected:
        job.partial.restart()
        return 0
    return offset


def _fetch(
    job: _Job,
    url: str,
    *,
    credential: bool,
    accept: str | None = None,
    own: bool = False,
) -> Flow[bool]:
    """Stream *url* into the partial file, resuming with ``Range``; True when complete,
    False when the link was refused (401, 403, 410) and *own* is False (a signed link, to
    be renewed). Anything else that fails raises."""
    options, partial = job.options, job.partial
    if _holds_key(options, url):  # a renewed link, or a download path
        raise _key_in_link(job, url)
    headers, secret = _headers(job, credential, accept)
    where = url.split("?", 1)[0].split("#", 1)[0]
    expected, limit = job.artifact.size, job.max_bytes
    if expected is not None and limit is not None and expected > limit:
        raise job.fail("max_bytes", f"{expected} bytes, more than max_bytes={limit}")
    offset = _open_partial(job)
    attempt = 0
    while True:
        seen = _Attempt()
        sent = _resuming(headers, offset, partial.validator)
        request = Request(
            method="GET",
            url=url,
            headers=sent,
            timeout=None,
            idle_timeout=options.timeout,
            max_bytes=options.max_response_bytes,
            secret_headers=secret,
            guard=options.api_key,
            sink=_sink(job, seen, offset),
        )
        try:
            response: Response = yield request
        except TransportError as exc:
            if exc.kind not in ("connect", "read", "timeout") or attempt >= options.max_retries:
                raise _interrupted(job, exc) from exc
            yield Sleep(backoff_delay(attempt))
            attempt, offset = attempt + 1, partial.size
            continue
        action = _settle(job, seen, response, offset=offset, own=own, where=where)
        if action in ("done", "refused"):
            return action == "done"
        retries_left = attempt < options.max_retries
        if action == "restart":  # the range was answered inconsistently: from byte 0
            if attempt > options.max_retries:
                raise job.fail("range", f"{where} answered a Range request inconsistently")
            partial.restart()
        elif action == "short" and not retries_left:
            raise job.fail(
                "size",
                f"the transfer ended after {partial.size} of {seen.total or expected} bytes; "
                "they are kept, download again to resume",
                keep=True,
            )
        elif action == "retry":
            if not retries_left:
                partial.close()
                raise error_for(options, response, f"GET {where}")
            wait = backoff_delay(attempt, retry_after(response.headers))
            yield Sleep(wait, shared=response.status == 429)
        attempt, offset = attempt + 1, partial.size


def _interrupted(job: _Job, exc: TransportError) -> TransportError:
    """The transfer broke off: the bytes received stay in the partial file for a resume."""
    job.partial.close()
    size = job.partial.size
    kept = f"; the {size} bytes received are kept, download again to resume" if size else ""
    return TransportError(f"{exc}{kept}", provider=job.provider, kind=exc.kind)


def _settle(
    job: _Job, seen: _Attempt, response: Response, *, offset: int, own: bool, where: str
) -> str:
    """What one response means: ``done``, ``refused`` (a signed link to renew), ``restart``
    (from byte 0), ``short`` (ended early: resume), ``retry`` (a retryable status); a
    failed check or another error status raises."""
    if seen.problem == "callback" and seen.error is not None:
        job.partial.discard()  # nothing is left behind for the caller's own failure
        job.callback_error = seen.error
        raise seen.error
    if seen.problem == "io":
        raise job.fail("io", f"cannot write in {job.directory}: {seen.error}")
    if seen.problem == "max_bytes":
        raise job.fail("max_bytes", f"larger than max_bytes={job.max_bytes}")
    if seen.problem == "size":
        sends = seen.total if seen.total is not None else "more"
        raise job.fail(
            "size", f"the server sends {sends} bytes, the provider says {job.artifact.size}"
        )
    status = response.status
    if seen.problem == "range":
        return "restart"
    if status == 416 and offset:
        total = _range_total(response.headers)
        return "done" if total is not None and total == offset else "restart"
    if status in (200, 206):
        job.media_type = response.content_type or None
        job.disposition = _disposition_name(response.headers.get("content-disposition"))
        complete = seen.total if seen.total is not None else job.artifact.size
        return "done" if complete is None or job.partial.size >= complete else "short"
    if status in _REFUSED and not own:
        return "refused"
    if is_retryable_status(status):
        return "retry"
    job.partial.close()
    raise error_for(job.options, response, f"GET {where}")


def _resuming(headers: dict[str, str], offset: int, validator: str | None) -> dict[str, str]:
    """*headers* of a request from byte *offset*: ``Range``, and ``If-Range`` when the
    server gave a validator (a file changed since is then sent whole, with 200)."""
    sent = dict(headers)
    if offset:
        sent["range"] = f"bytes={offset}-"
        if validator is not None:
            sent["if-range"] = validator
    return sent


def _validator(headers: Mapping[str, str]) -> str | None:
    """What ``If-Range`` can name for these bytes: a strong ETag, else Last-Modified."""
    value = headers.get("etag", "").strip()
    if not value or value.startswith("W/"):
        value = headers.get("last-modified", "").strip()
    if not value or len(value) > VALIDATOR_MAX or not value.isascii() or not value.isprintable():
        return None
    return value


def _range_fits(found: re.Match[str], offset: int) -> bool:
    """True when a 206's ``Content-Range`` starts at *offset* and names a range that can be
    (its end not before its start, nor at or past its total)."""
    start, end, total = found.group(1, 2, 3)
    return (
        int(start) == offset and int(end) >= int(start) and (total == "*" or int(end) < int(total))
    )


def _range_total(headers: Mapping[str, str]) -> int | None:
    found = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", headers.get("content-range", ""), re.I)
    return int(found.group(1)) if found else None


def _sink(
    job: _Job, seen: _Attempt, offset: int
) -> Callable[[int, Mapping[str, str]], Callable[[bytes], bool] | None]:
    """The writer of one response: bytes go to the partial file, checked as they come."""
    partial, limit, expected = job.partial, job.max_bytes, job.artifact.size

    def stop(problem: str, error: BaseException | None = None) -> Callable[[bytes], bool]:
        seen.problem, seen.error = problem, error
        return lambda piece: True

    def accept(status: int, headers: Mapping[str, str]) -> Callable[[bytes], bool] | None:
        seen.status = status
        validator = _validator(headers)
        if validator is not None and _holds_key(job.options, validator):
            validator = None  # never written to disk
        if status == 200:
            if offset:
                try:
                    partial.restart()  # the server sends it all again: start over
                except OSError as exc:
                    return stop("io", exc)
            partial.remember(validator)
            seen.total = _length(headers)
        elif status == 206:
            found = _CONTENT_RANGE.fullmatch(headers.get("content-range", "").strip())
            if found is None or not _range_fits(found, offset):
                return stop("range")
            seen.end = int(found.group(2)) + 1
            known = partial.validator
            if known is not None and validator is not None and validator != known:
                return stop("range")  # the rest of other bytes than those held
            if known is None:
                partial.remember(validator)
            seen.total = None if found.group(3) == "*" else int(found.group(3))
        else:
            return None  # an error reply: collected (capped) for its message
        total = seen.total
        if total is not None and limit is not None and total > limit:
            return stop("max_bytes")
        if total is not None and expected is not None and total != expected:
            seen.total = total
            return stop("size")

        def write(piece: bytes) -> bool:
            try:
                partial.write(piece)
            except OSError as exc:
                seen.problem, seen.error = "io", exc
                return True
            if seen.end is not None and partial.size > seen.end:
                seen.problem = "range"  # more bytes than the range it named: never spliced
                return True
            if limit is not None and partial.size > limit:
                seen.problem = "max_bytes"
                return True
            if expected is not None and partial.size > expected:
                seen.problem = "size"
                return True
            if job.on_progress is not None:
                try:
                    job.on_progress(partial.size, total if total is not None else expected)
                except Exception as exc:  # the caller's callback: raised once the reply ends
                    seen.problem, seen.error = "callback", exc
                    return True
            return False

        return write

    return accept


# -- whole bytes: inline content and tool content ---------------------------------------------


def _inline_bytes(job: _Job) -> bytes:
    content = job.artifact.content
    if isinstance(content, str):
        return text_bytes(content)
    try:
        return dumps(content, indent=True) + b"\n"
    except ValueError as exc:
        raise job.fail("io", f"its inline content cannot be written as JSON ({exc})") from None


def _tool_bytes(job: _Job, content: ToolContent, state: McpState) -> Flow[bytes]:
    options, artifact = job.options, job.artifact
    assert artifact.id is not None
    split = split_scoped_id(artifact.id)
    assert split is not None
    run_id, name = split
    arguments = {content.run_argument: run_id, content.name_argument: name, **content.arguments}
    result = yield from mcp_call_tool(options, state, content.tool, arguments, read_only=True)
    what = f"tool {content.tool!r}"
    if not isinstance(result, Mapping):
        raise PayloadError(
            f"{what} returned {type(result).__name__}, not an object", provider=job.provider
        )
    value = result.get(content.content_key)
    encoding = result.get(content.encoding_key) if content.encoding_key else None
    if encoding == "base64" or (encoding is None and content.arguments.get("encoding") == "base64"):
        if not isinstance(value, str):
            raise PayloadError(
                f"{what}: {content.content_key} is not base64 text", provider=job.provider
            )
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise PayloadError(
                f"{what}: {content.content_key} is not valid base64", provider=job.provider
            ) from None
    elif isinstance(value, str):
        data = text_bytes(value)
    else:
        try:
            data = dumps(value, indent=True) + b"\n"
        except ValueError as exc:
            raise PayloadError(
                f"{what}: {content.content_key} is not JSON ({exc})", provider=job.provider
            ) from None
    size = result.get(content.size_key) if content.size_key else None
    if isinstance(size, int) and not isinstance(size, bool) and size != len(data):
        raise job.fail("size", f"{what} sent {len(data)} bytes, and says {size}")
    return data


def _write_whole(job: _Job, data: bytes) -> Path:
    artifact = job.artifact
    if job.max_bytes is not None and len(data) > job.max_bytes:
        raise job.fail("max_bytes", f"{len(data)} bytes, more than max_bytes={job.max_bytes}")
    if artifact.size is not None and artifact.size != len(data):
        raise job.fail("size", f"{len(data)} bytes, the provider says {artifact.size}")
    try:
        job.partial.open(resume=False)
        job.partial.write(data)
    except PartialInUse:
        raise job.fail(
            "io", f"another download of it into {job.directory} is under way", keep=True
        ) from None
    except OSError as exc:
        raise job.fail("io", f"cannot write in {job.directory}: {exc.strerror or exc}") from None
    if job.on_progress is not None:
        try:
            job.on_progress(len(data), len(data))
        except BaseException as exc:  # the caller's own: re-raised, with nothing left behind
            job.partial.discard()
            job.callback_error = exc
            raise
    if job.media_type is None and artifact.media_type is None:
        job.media_type = "text/plain" if isinstance(artifact.content, str) else "application/json"
    return _publish(job)


# -- checks and the file's name ---------------------------------------------------------------


def _fallback_name(job: _Job) -> str:
    artifact = job.artifact
    base = ""
    if artifact.id:
        base = artifact.id.rsplit("/", 1)[-1]
    elif artifact.url:
        base = urlsplit(artifact.url).path.rstrip("/").rsplit("/", 1)[-1]
    base = clean_name(unquote(base), fallback=artifact.kind.value)
    media = artifact.media_type or job.media_type
    extension = mimetypes.guess_extension(media, strict=False) if media else None
    if extension and "." not in base:
        base += extension
    return base


_NAME_ROUNDS = 3
"""Times a name is masked and cleaned again at most (cleaning can spell the key: ``a/b``
becomes ``a_b``), after which the artifact's kind names it."""


def _file_name(job: _Job) -> str:
    """The clean name to publish under (the artifact's, the server's ``Content-Disposition``,
    else one from its id or link), with the caller's key masked before and after cleaning: a
    name that spells the key never reaches the disk, nor the path returned."""
    scrub = job.options.scrub
    fallback = clean_name(scrub(_fallback_name(job)), fallback=job.artifact.kind.value)
    name = clean_name(scrub(job.artifact.name or job.disposition or ""), fallback=fallback)
    for _ in range(_NAME_ROUNDS):
        if scrub(name) == name:
            return name
        name = clean_name(scrub(name), fallback=job.artifact.kind.value)
    return job.artifact.kind.value


def _publish(job: _Job) -> Path:
    artifact, partial = job.artifact, job.partial
    if artifact.size is not None and partial.size != artifact.size:
        raise job.fail("size", f"{partial.size} bytes arrived, the provider says {artifact.size}")
    if artifact.checksum:
        digest = checksum_digest(artifact.checksum)
        if digest is None:
            warnings.warn(
                f"{job.provider}: the checksum {shorten(artifact.checksum)} of "
                f"{shorten(artifact.name or artifact.id)} is not SHA-256 (hex or base64): "
                "the bytes are not verified against it",
                RunnormWarning,
                stacklevel=2,
            )
        elif partial.sha256.digest() != digest:
            raise job.fail(
                "checksum",
                f"the bytes do not match the provider's SHA-256 (got {partial.sha256.hexdigest()})",
            )
    name = _file_name(job)
    try:
        return partial.publish(name, overwrite=job.overwrite)
    except OSError as exc:
        raise job.fail(
            "io", f"cannot write {name!r} in {job.directory}: {exc.strerror or exc}"
        ) from None
