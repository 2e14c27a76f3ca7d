"""A run's artifacts as the provider lists them: one flow for every declaration.

``Provider.artifacts`` (:class:`~runnorm._plugins.capabilities.Artifacts`) says where they
are: the fetched run's own (``inline``: Bridge Town's stdout, stderr and outputs) and the
items of each :class:`~runnorm._plugins.capabilities.ArtifactListing` (Skyvern's
``GET /v1/runs/{run_id}/artifacts``; Browserbase's recording downloads and per-file
downloads of the run's session), paged as declared and mapped through
:class:`~runnorm._plugins.capabilities.ArtifactFields`.

Every artifact returned carries, where the provider says, ``Artifact.id`` (what renewing
its link needs: the item's id; ``<scope>/<item id>`` when the link is renewed by listing
again or fetched by a tool that takes the run id, the scope percent-encoded as one path
segment) and ``Artifact.expires_at`` (the declared expiry field, else the link's own query:
:func:`link_expiry`).
"""

from __future__ import annotations

import string
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import attrs

from runnorm._errors import PayloadError, RunnormError, RunnormWarning, UnsupportedError, shorten
from runnorm._live.flows import check_run_id, get_run_flow
from runnorm._live.mcp import McpState
from runnorm._live.options import CallOptions, valid_http_url
from runnorm._live.replies import decode_json, error_for, scrubbed
from runnorm._live.rest import path_segment, rest_get
from runnorm._live.wire import Flow
from runnorm._model.run import Artifact, ArtifactKind, Run
from runnorm._model.timestamps import parse_timestamp
from runnorm._plugins.capabilities import (
    AfterPages,
    ArtifactListing,
    Artifacts,
    CursorPages,
    NextUrlPages,
    OffsetPages,
    PageNumbers,
    Paging,
)
from runnorm._plugins.fields import Fields

__all__ = [
    "MAX_PAGES",
    "artifacts_flow",
    "declared_artifacts",
    "item_artifact",
    "link_expiry",
    "listing_items",
    "listing_scope",
    "scoped_id",
    "split_scoped_id",
]

MAX_PAGES = 1000
"""Pages of one listing read at most: a server that never says "last page" is not followed."""
_FORMATTER = string.Formatter()


# -- link expiry ------------------------------------------------------------------------------


def _epoch(value: str) -> datetime | None:
    try:
        seconds = int(value)
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _amz_date(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def link_expiry(url: str | None) -> datetime | None:
    """When a signed link stops working, from its own query, or None when it does not say.

    Read: ``X-Amz-Date`` with ``X-Amz-Expires`` (AWS signature v4), ``X-Goog-Date`` with
    ``X-Goog-Expires`` (Google Cloud Storage), ``expiry`` (Skyvern's signed content links,
    Unix seconds), ``Expires`` (AWS signature v2 and CloudFront, Unix seconds) and ``se``
    beside ``sig`` (Azure shared access signatures). Parameter names match in any case;
    a value that does not parse is ignored. Never raises.
    """
    if not isinstance(url, str) or "?" not in url:
        return None
    try:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=False)
    except ValueError:
        return None
    query = {key.lower(): value for key, value in pairs}
    for date_key, expires_key in (
        ("x-amz-date", "x-amz-expires"),
        ("x-goog-date", "x-goog-expires"),
    ):
        if date_key in query and expires_key in query:
            signed = _amz_date(query[date_key])
            try:
                lasting = int(query[expires_key])
            except ValueError:
                continue
            if signed is not None and 0 <= lasting < 10**9:
                return signed + timedelta(seconds=lasting)
    for key in ("expiry", "expires"):
        if key in query:
            found = _epoch(query[key])
            if found is not None:
                return found
    if "se" in query and "sig" in query:
        try:
            return parse_timestamp(query["se"])
        except PayloadError:
            return None
    return None


# -- ids that carry their scope ---------------------------------------------------------------


def scoped_id(scope: str, item: str) -> str | None:
    """``<scope>/<item>``, the scope percent-encoded as one path segment (so the first
    ``/`` splits it), or None when the scope cannot be one segment."""
    segment = path_segment(scope)
    return None if segment is None else f"{segment}/{item}"


def split_scoped_id(value: str) -> tuple[str, str] | None:
    """The ``(scope, item)`` of a :func:`scoped_id`, or None."""
    scope, sep, item = value.partition("/")
    if not sep or not scope or not item:
        return None
    return unquote(scope), item


# -- listing --------------------------------------------------------------------------------


def declared_artifacts(options: CallOptions) -> Artifacts:
    """The provider's ``artifacts`` declaration, or ``UnsupportedError``."""
    declared = options.provider.artifacts
    if declared is None:
        provider = options.provider
        raise UnsupportedError(
            f"provider {provider.name!r} does not list artifacts (its plugin declares no "
            f"artifacts); supported: {', '.join(sorted(provider.capabilities))}"
        )
    return declared


def artifacts_flow(
    options: CallOptions, run_id: str, mcp_state: McpState | None = None
) -> Flow[list[Artifact]]:
    """The run's artifacts, inline ones first, then each listing's in order; no error it
    raises holds the API key."""
    try:
        return (yield from _artifacts(options, check_run_id(run_id), mcp_state))
    except RunnormError as exc:
        raise scrubbed(options, exc) from exc.__cause__
    except RecursionError:
        raise PayloadError(
            f"the artifacts of run {shorten(run_id)} are nested too deep to process",
            provider=options.provider.name,
        ) from None


def _artifacts(options: CallOptions, run_id: str, state: McpState | None) -> Flow[list[Artifact]]:
    declared = declared_artifacts(options)
    run: Run | None = None
    if declared.inline or any(listing.key is not None for listing in declared.listings):
        run = yield from get_run_flow(options, run_id, state)
    found: list[Artifact] = []
    if declared.inline and run is not None:
        found += _inline(declared, run)
    for listing in declared.listings:
        scope = listing_scope(options, listing, run_id, run)
        if scope is None:
            continue
        items = yield from listing_items(options, listing, scope)
        for index, item in enumerate(items):
            artifact = item_artifact(options, listing, item, index, scope)
            if artifact is not None:
                found.append(artifact)
    return found


def _inline(declared: Artifacts, run: Run) -> list[Artifact]:
    content = declared.content
    out = []
    for artifact in run.artifacts:
        changes: dict[str, Any] = {}
        if artifact.expires_at is None and artifact.url:
            expires = link_expiry(artifact.url)
            if expires is not None:
                changes["expires_at"] = expires
        if (
            content is not None
            and artifact.id is None
            and artifact.kind in content.kinds
            and artifact.name
        ):
            changes["id"] = scoped_id(run.id, artifact.name)
        out.append(attrs.evolve(artifact, **changes) if changes else artifact)
    return out


def listing_scope(
    options: CallOptions, listing: ArtifactListing, run_id: str, run: Run | None
) -> str | None:
    """What the listing's templates take: the run id, or the run field ``key`` names (None
    when the run has none: no session, no artifacts there)."""
    if listing.key is None:
        return run_id
    value = None if run is None else run.raw.get(listing.key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(
            f"cannot list artifacts by {listing.key}: {shorten(options.scrub_value(value))} "
            "is not an id",
            provider=options.provider.name,
            path=listing.key,
            value=value,
        )
    return str(value)


def _url(
    options: CallOptions, listing: ArtifactListing, scope: str
) -> tuple[str, list[tuple[str, str]]]:
    segment = path_segment(scope)
    if segment is None:
        raise PayloadError(
            f"cannot list artifacts of {shorten(scope)}: it cannot be sent as one path segment",
            provider=options.provider.name,
        )
    name = "id" if listing.key is not None else "run_id"
    path = listing.path.format(**{name: segment})
    query = [(key, value.format(**{name: scope})) for key, value in listing.query.items()]
    return path, query


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _get(reply: Any, key: str | None) -> Any:
    return reply.get(key) if key is not None and isinstance(reply, Mapping) else None


@attrs.define
class _Pager:
    """Where a paged listing stands: the parameters of the next request, and whether the
    reply just read was the last page."""

    paging: Paging | None
    page: int = 0
    count: int = 0
    marker: Any = None
    """The cursor (or last item id) to send, once the first page is read."""
    next_url: str | None = None
    seen: set[str] = attrs.field(factory=set)

    def params(self) -> list[tuple[str, str]]:
        paging, page = self.paging, self.page
        if isinstance(paging, PageNumbers):
            return [
                (paging.page_param, str(paging.first + page)),
                (paging.size_param, str(paging.size)),
            ]
        if isinstance(paging, OffsetPages):
            return [(paging.offset_param, str(self.count)), (paging.size_param, str(paging.size))]
        params = []
        if isinstance(paging, CursorPages | AfterPages) and paging.size_param and paging.size:
            params.append((paging.size_param, str(paging.size)))
        if isinstance(paging, NextUrlPages) and paging.size_param and paging.size:
            params.append((paging.size_param, str(paging.size)))  # first request only
        if isinstance(paging, CursorPages) and self.marker is not None:
            params.append((paging.cursor_param, str(self.marker)))
        if isinstance(paging, AfterPages) and self.marker is not None:
            params.append((paging.after_param, str(self.marker)))
        return params

    def more(self, options: CallOptions, where: str, reply: Any, batch: list[Any]) -> bool:
        """Take a page's reply; True when another page is to be read."""
        paging = self.paging
        self.page += 1
        self.count += len(batch)
        if paging is None or not batch:
            return False
        if isinstance(paging, PageNumbers):
            capped = paging.max_page is not None and paging.first + self.page > paging.max_page
            return len(batch) >= paging.size and not capped
        if isinstance(paging, OffsetPages):
            total = _get(reply, paging.total_field)
            done = isinstance(total, int) and self.count >= total
            return len(batch) >= paging.size and not done
        if isinstance(paging, AfterPages):
            last = _get(batch[-1], paging.item_id)
            if _get(reply, paging.more_field) is False or last is None:
                return False
            marker = last
        else:
            marker = _get(reply, paging.next_field)
            if marker is None or marker == "":
                return False
            if isinstance(paging, NextUrlPages):
                self.next_url = _next_url(options, where, marker, paging.next_field)
        if str(marker) in self.seen:
            raise PayloadError(
                f"{where} sent the same next page marker twice: {shorten(marker)}",
                provider=options.provider.name,
            )
        self.seen.add(str(marker))
        self.marker = marker
        return True


def _next_url(options: CallOptions, where: str, marker: Any, field: str) -> str:
    if not isinstance(marker, str) or not valid_http_url(marker):
        raise PayloadError(
            f"{where}: {field} is not an http(s) URL: {shorten(marker)}",
            provider=options.provider.name,
        )
    if options.scrub(marker) != marker:  # requesting it would log the key (httpx's INFO line)
        raise PayloadError(
            f"{where}: {field} holds the API key; not followed", provider=options.provider.name
        )
    if not _same_origin(marker, options.base_url):
        raise PayloadError(
            f"{where}: the next page is on another origin than the base URL; not followed "
            "(the key would go there)",
            provider=options.provider.name,
        )
    return marker


def _batch(options: CallOptions, listing: ArtifactListing, where: str, reply: Any) -> list[Any]:
    batch = reply if listing.items is None else _get(reply, listing.items)
    if not isinstance(batch, list):
        wanted = "a JSON array" if listing.items is None else f"an object with {listing.items!r}"
        raise PayloadError(
            f"{where} answered {type(reply).__name__}, not {wanted} of artifacts",
            provider=options.provider.name,
        )
    return batch


def listing_items(options: CallOptions, listing: ArtifactListing, scope: str) -> Flow[list[Any]]:
    """Every item of *listing* for *scope*, page after page as declared; a reply code in
    ``missing_ok`` gives none (and a ``RunnormWarning``)."""
    path, query = _url(options, listing, scope)
    where = f"GET {path}"
    pager = _Pager(listing.paging)
    items: list[Any] = []
    for _ in range(MAX_PAGES):
        if pager.next_url is not None:  # an absolute link, on the base URL's origin (checked)
            response = yield from rest_get(
                attrs.evolve(options, base_url=""), pager.next_url, where
            )
        else:
            params = query + pager.params()
            suffix = f"?{urlencode(params)}" if params else ""
            response = yield from rest_get(options, path + suffix, where)
        if response.status in listing.missing_ok:
            warnings.warn(
                f"{options.provider.name}: {where} answered HTTP {response.status}: its "
                "artifacts are left out (an endpoint not on every plan, or none there)",
                RunnormWarning,
                stacklevel=2,
            )
            return items
        if response.status != 200:
            raise error_for(options, response, where)
        reply = decode_json(options, response, where)
        batch = _batch(options, listing, where, reply)
        items += batch
        if not pager.more(options, where, reply, batch):
            return items
    raise PayloadError(
        f"{where}: more than {MAX_PAGES} pages of artifacts; not followed further",
        provider=options.provider.name,
    )


# -- items to artifacts -----------------------------------------------------------------------


def _last_segment(value: str) -> str | None:
    path = urlsplit(value).path if "://" in value else value
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name or None


def _templated(template: str | None, item: Mapping[str, Any]) -> str | None:
    if template is None:
        return None
    values = {}
    for _, name, _, _ in _FORMATTER.parse(template):
        if name is None:
            continue
        value = item.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            return None
        values[name] = value
    return template.format(**values)


def item_artifact(
    options: CallOptions, listing: ArtifactListing, item: Any, index: int, scope: str
) -> Artifact | None:
    """One listed item as an ``Artifact``; None for an item with no link and no way to
    fetch one (a recording not built yet)."""
    name = options.provider.name
    fields = Fields(name)
    path = f"{listing.path}[{index}]"
    if not isinstance(item, Mapping):
        raise PayloadError(
            f"an artifact item is {type(item).__name__}, not an object",
            provider=name,
            path=path,
        )
    f = listing.fields

    def text(key: str | None) -> str | None:
        return None if key is None else fields.text(item, key, f"{path}.{key}")

    item_id: str | None = None
    if f.id is not None:
        raw_id = item.get(f.id)
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            item_id = str(raw_id)
        else:
            item_id = text(f.id)
    url = text(f.url)
    if not url and not (item_id and (listing.download or listing.remint)):
        return None
    kind = listing.kind
    if f.type_key is not None:
        word = text(f.type_key)
        kind = f.kinds.get(word, listing.kind) if word is not None else listing.kind
    named = text(f.name)
    if not named and f.name_path is not None:
        location = text(f.name_path)
        named = _last_segment(location) if location else None
    if not named:
        named = _templated(f.name_template, item)
    expires = None
    if f.expires_at is not None:
        expires = fields.time(item, f.expires_at, f"{path}.{f.expires_at}")
    if expires is None:
        expires = link_expiry(url)
    artifact_id = item_id
    if item_id is not None and listing.relists and not (listing.download or listing.remint):
        artifact_id = scoped_id(scope, item_id)
    return Artifact(
        kind=kind if isinstance(kind, ArtifactKind) else ArtifactKind.OTHER,
        url=url or None,
        name=named or None,
        checksum=text(f.checksum),
        size=None if f.size is None else fields.integer(item, f.size, f"{path}.{f.size}"),
        media_type=text(f.media_type) or listing.media_type,
        created_at=None
        if f.created_at is None
        else fields.time(item, f.created_at, f"{path}.{f.created_at}"),
        id=artifact_id,
        expires_at=expires,
    )
