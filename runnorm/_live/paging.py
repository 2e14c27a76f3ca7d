"""Paging styles: how a REST listing asks for its first page, and what the reply says next.

One function pair serves every style a ``RestList`` declares (``runnorm._plugins.capabilities``):
:func:`first_page` gives the style's query parameters for the first request, and
:func:`next_page` reads a reply for the request that follows, or None when the reply was the
last page. Numbers and cursors only: filters, the stop rules, the limits and the requests
themselves are :mod:`runnorm._live.listing`'s.

==================  ==========================================  ===================================
style               the next request                            the last page
==================  ==========================================  ===================================
``PageNumbers``     ``page`` + 1 (``max_page`` caps it)          a page shorter than ``size``
``OffsetPages``     ``offset`` + the items received              ``offset`` reached ``total``; a
                                                                 short page
``CursorPages``     the reply's ``next_field`` as ``cursor``     no (or an empty) next cursor
``AfterPages``      the last item's ``item_id`` as ``after``     ``more_field`` not true; no items
``NextUrlPages``    the reply's absolute URL, on the base        no next URL
                    URL's origin only
==================  ==========================================  ===================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import attrs

from runnorm._errors import PayloadError, shorten
from runnorm._live.options import CallOptions, valid_http_url
from runnorm._plugins.capabilities import (
    AfterPages,
    CursorPages,
    NextUrlPages,
    OffsetPages,
    PageNumbers,
    Paging,
)

__all__ = ["Page", "first_page", "next_page", "origin", "past_cap"]


@attrs.frozen
class Page:
    """One page to request: the style's query parameters, or (``NextUrlPages`` after the
    first) the absolute ``url`` to GET as sent. ``number`` counts pages from 1; ``token``
    is what the reply handed back (cursor, last id, URL), to tell a provider that repeats
    itself."""

    number: int = 1
    params: tuple[tuple[str, str], ...] = ()
    url: str | None = None
    token: str | None = None
    position: int = 0
    """The page number (``PageNumbers``) or offset (``OffsetPages``) asked for."""


def _sized(size_param: str | None, size: int | None) -> tuple[tuple[str, str], ...]:
    return () if size_param is None or size is None else ((size_param, str(size)),)


def first_page(paging: Paging, size: int | None) -> Page:
    """The first request of *paging*, asking for *size* items (None: the provider's own
    page size)."""
    if isinstance(paging, PageNumbers):
        first = paging.first
        return Page(
            params=((paging.page_param, str(first)), *_sized(paging.size_param, size)),
            position=first,
        )
    if isinstance(paging, OffsetPages):
        return Page(params=((paging.offset_param, "0"), *_sized(paging.size_param, size)))
    return Page(params=_sized(paging.size_param, size))


def past_cap(paging: Paging, page: Page) -> bool:
    """True when the provider serves no page after *page* (``PageNumbers.max_page``)."""
    return (
        isinstance(paging, PageNumbers)
        and paging.max_page is not None
        and page.position >= paging.max_page
    )


def _text_token(options: CallOptions, value: Any, what: str) -> str | None:
    """A cursor or id sent back: text or a whole number; None/"" end the listing."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise PayloadError(
        f"{what} is {shorten(options.scrub_value(value))}, not a cursor (text or a number)",
        provider=options.provider.name,
    )


def next_page(
    options: CallOptions,
    paging: Paging,
    page: Page,
    *,
    reply: Any,
    items: Sequence[Mapping[str, Any]],
    size: int | None,
    url: str,
) -> Page | None:
    """The page after *page* (requested at *url*), read from its *reply* and *items*; None
    when it was the last. ``PayloadError`` for a cursor that cannot be sent, or a next URL
    that leaves the base URL's origin or spells the key (it is never requested)."""
    fields: Mapping[str, Any] = reply if isinstance(reply, Mapping) else {}
    if isinstance(paging, PageNumbers):
        return _numbered(paging, page, items, size)
    if isinstance(paging, OffsetPages):
        return _offset(paging, page, fields, items, size)
    if isinstance(paging, CursorPages):
        what = f"the reply's {paging.next_field}"
        cursor = _text_token(options, fields.get(paging.next_field), what)
        if cursor is None:
            return None
        params = ((paging.cursor_param, cursor), *_sized(paging.size_param, size))
        return Page(page.number + 1, params, token=cursor)
    if isinstance(paging, AfterPages):
        return _after(options, paging, page, fields=fields, items=items, size=size)
    return _next_url(options, paging, page.number + 1, fields, url)


def _numbered(
    paging: PageNumbers, page: Page, items: Sequence[Mapping[str, Any]], size: int | None
) -> Page | None:
    if not items or (size is not None and len(items) < size):
        return None
    position = page.position + 1
    params = ((paging.page_param, str(position)), *_sized(paging.size_param, size))
    return Page(page.number + 1, params, position=position)


def _offset(
    paging: OffsetPages,
    page: Page,
    fields: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    size: int | None,
) -> Page | None:
    if not items:
        return None
    offset = page.position + len(items)
    total = fields.get(paging.total_field) if paging.total_field else None
    if isinstance(total, int) and not isinstance(total, bool):
        if offset >= total:
            return None
    elif size is not None and len(items) < size:
        return None
    params = ((paging.offset_param, str(offset)), *_sized(paging.size_param, size))
    return Page(page.number + 1, params, position=offset)


def _after(
    options: CallOptions,
    paging: AfterPages,
    page: Page,
    *,
    fields: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    size: int | None,
) -> Page | None:
    if not items:
        return None
    if paging.more_field is not None and fields.get(paging.more_field) is not True:
        return None
    what = f"the {paging.item_id} of the page's last item"
    after = _text_token(options, items[-1].get(paging.item_id), what)
    if after is None:
        raise PayloadError(
            f"{what} is missing: the listing cannot go on after it",
            provider=options.provider.name,
        )
    params = ((paging.after_param, after), *_sized(paging.size_param, size))
    return Page(page.number + 1, params, token=after)


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of *url*, lowercase, the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def _next_url(
    options: CallOptions,
    paging: NextUrlPages,
    number: int,
    fields: Mapping[str, Any],
    current_url: str,
) -> Page | None:
    value = fields.get(paging.next_field)
    if value is None or value == "":
        return None
    name = options.provider.name
    if not isinstance(value, str):
        raise PayloadError(
            f"the reply's {paging.next_field} is {shorten(options.scrub_value(value))}, not a URL",
            provider=name,
        )
    url = urljoin(current_url, value)
    if options.scrub(url) != url:
        raise PayloadError(
            f"the reply's {paging.next_field} holds the API key; not followed", provider=name
        )
    if not valid_http_url(url) or origin(url) != origin(options.base_url):
        raise PayloadError(
            f"the reply's {paging.next_field} {shorten(url)} is not on the origin of "
            f"{options.base_url}; not followed, so the API key is not sent there",
            provider=name,
        )
    return Page(number, url=url, token=url)
