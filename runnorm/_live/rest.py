"""Fetching a run over REST: ``GET {base_url}{path}``, then opt-in related documents.

The path is the one the declaration routes the run to (its kind option, its id prefix, else
the default: :func:`~runnorm._plugins.fetching.fetch_target`); the run id fills it as one
percent-encoded path segment.

Written as flows (:mod:`runnorm._live.wire`): the drivers perform the requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from runnorm._errors import APIError, ConfigError, PayloadError, shorten
from runnorm._live.options import CallOptions
from runnorm._live.replies import decode_json, error_for, map_run
from runnorm._live.retry import send_with_retries
from runnorm._live.wire import Flow, Request, Response
from runnorm._model.run import Run
from runnorm._plugins.fetching import RelatedFetch, RestFetch, fetch_target

__all__ = ["path_segment", "rest_get", "rest_get_run", "rest_get_url"]

_DOT_SEGMENTS = frozenset({"", ".", ".."})


def path_segment(value: str) -> str | None:
    """*value* percent-encoded as exactly one path segment (``/``, ``?``, ``#``, ``%``,
    spaces and non-ASCII included), or None when no encoding can keep it one: empty, ``.``
    and ``..`` (which URL parsers remove, reaching another endpoint), or text that is not
    valid Unicode (a lone surrogate)."""
    if value in _DOT_SEGMENTS:
        return None
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:
        return None


def rest_get(options: CallOptions, path: str, what: str) -> Flow[Response]:
    """GET ``base_url + path`` with the provider's credential; the final response."""
    return (yield from rest_get_url(options, options.base_url + path))


def rest_get_url(options: CallOptions, url: str) -> Flow[Response]:
    """GET *url* (on the base URL's origin: the caller checks) with the credential, retried
    as every GET is; the final response."""
    request = Request(
        method="GET",
        url=url,
        headers=options.request_headers(),
        timeout=options.timeout,
        max_bytes=options.max_response_bytes,
        secret_headers=options.secret_headers(),
        guard=options.api_key,
    )
    return (yield from send_with_retries(options, request))


def rest_get_run(options: CallOptions, fetch: RestFetch, run_id: str) -> Flow[Run]:
    what = f"GET run {run_id!r}"
    segment = path_segment(run_id)
    if segment is None:  # check_run_id refuses these before any flow starts
        raise ConfigError(f"run_id {run_id!r} cannot be sent as one path segment")
    template = fetch_target(fetch, run_id, options.extras, options.provider.name)
    response = yield from rest_get(options, template.format(run_id=segment), what)
    if response.status != 200:
        raise error_for(options, response, what)
    payload = decode_json(options, response, what)
    run = map_run(options, payload) if isinstance(payload, Mapping) else None
    if run is None:
        raise PayloadError(
            f"{what} answered with {type(payload).__name__}, not a run object",
            provider=options.provider.name,
            value=payload,
        )
    for related in fetch.related:
        if options.extras.get(related.option):
            run = yield from _fetch_related(options, related, run)
    return run


def _fetch_related(options: CallOptions, related: RelatedFetch, run: Run) -> Flow[Run]:
    key = run.raw.get(related.key)
    if key is None:
        return run
    segment = path_segment(key) if isinstance(key, str) else None
    if segment is None:
        shown = shorten(options.scrub_value(key))
        raise PayloadError(
            f"cannot fetch {related.option} documents: {related.key} {shown} cannot be sent "
            "as one path segment",
            provider=options.provider.name,
            path=related.key,
            value=key,
        )
    documents: dict[str, Any] = {}
    for name, template in related.paths.items():
        path = template.format(id=segment)
        what = f"GET {name} of {related.key} {key!r}"
        response = yield from rest_get(options, path, what)
        if response.status == 200:
            documents[name] = decode_json(options, response, what)
        elif response.status in related.missing_ok:
            documents[name] = None
        else:
            raise error_for(options, response, what)
    try:
        return related.fold(run, documents)
    except (APIError, PayloadError):
        raise
    except Exception as exc:
        raise PayloadError(
            f"could not fold {related.option} documents into the run: {exc}",
            provider=options.provider.name,
        ) from exc
