"""The I/O half of the conformance suite: what a provider declares for fetching and webhooks,
checked for real against loopback servers.

``runnorm.testing.ProviderConformance`` calls these checks from its tests and imports this
module on the first such test only: it loads the live layer (and so httpx), which pytest's
start-up, where ``runnorm.testing`` is a plugin of every session, must not pay for.

Each check asserts what the declaration promises, whatever it is: a provider without
``fetch`` must refuse ``get`` with ``UnsupportedError``; with a ``RestFetch`` the run is
served by a :class:`~runnorm._fakeserver.FakeProviderServer`, with an ``McpFetch`` by a
:class:`~runnorm._fakemcp.FakeMcpServer`; without ``verify_webhook``, ``webhooks.parse``
must refuse with ``UnsupportedError``, and with it the signature is checked both ways.
Failures are ``AssertionError`` messages written for the plugin's author.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

import attrs

from runnorm._errors import (
    AuthError,
    ConfigError,
    ListLimitError,
    NotFoundError,
    RunnormError,
    SignatureError,
    ToolError,
    UnknownStatusWarning,
    UnsupportedError,
)
from runnorm._fakemcp import FakeMcpServer
from runnorm._fakeserver import FakeProviderServer, RecordedRequest, Reply
from runnorm._live.api import get, list_runs
from runnorm._live.options import resolve_options
from runnorm._model.run import Run
from runnorm._plugins.capabilities import (
    AfterPages,
    CursorPages,
    McpList,
    NextUrlPages,
    OffsetPages,
    PageNumbers,
    RestList,
)
from runnorm._plugins.fetching import McpFetch, RestFetch, fetch_target
from runnorm._plugins.normalize import normalize
from runnorm._plugins.provider import Auth, Provider
from runnorm.webhooks import parse

if TYPE_CHECKING:
    import pytest

__all__ = [
    "IoChecks",
    "ListChecks",
    "Served",
    "ServedList",
    "Signer",
    "list_items",
    "serving",
    "serving_list",
]

KEY = "rnc-conformance-key-1"
WRONG_KEY = "rnc-wrong-key-2"
SECRET = "rnc-webhook-secret-3"
MISSING_RUN = "rnc-no-such-run"
TOLERANCE = 300
QUICK = {"max_retries": 0, "timeout": 10.0}
"""Options of every fetch here: no retries, and no test waits long on a broken server."""

Signer = Callable[[bytes, str, int], Mapping[str, str]]
"""The test class's ``sign_webhook(body, secret, timestamp) -> headers``."""


def _credential(auth: Auth, key: str) -> str:
    return f"{auth.scheme} {key}" if auth.scheme else key


def _normalized(provider: Provider, payload: Mapping[str, Any]) -> Run:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownStatusWarning)
        return normalize(payload, provider.name)


def _get(provider: Provider, run_id: str, **options: Any) -> Run:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownStatusWarning)
        return get(provider.name, run_id, **{**QUICK, **options})


def _fails(kind: type[RunnormError], call: Callable[[], object], what: str) -> RunnormError:
    """The *kind* exception *call* raises, or an ``AssertionError`` saying what happened."""
    try:
        outcome = call()
    except kind as exc:
        return exc
    except RunnormError as exc:
        raise AssertionError(
            f"{what}: expected {kind.__name__}, got {type(exc).__name__}: {exc}"
        ) from exc
    raise AssertionError(f"{what}: expected {kind.__name__}, got {outcome!r}")


# -- fetching -------------------------------------------------------------------------------


@attrs.frozen
class Served:
    """A loopback server holding one run: the URL to pass as ``base_url``, what it received."""

    url: str
    run_id: str
    requests: list[RecordedRequest]
    where: str
    """How the run is served, for messages (``GET /v1/runs/tsk_1``, ``MCP get_run``)."""
    mcp: FakeMcpServer | None = None
    tool: str | None = None
    """The MCP tool the run is served by."""


@contextlib.contextmanager
def serving(
    provider: Provider, payload: Mapping[str, Any], options: Mapping[str, Any] | None = None
) -> Iterator[Served]:
    """Serve *payload* where *provider*'s ``fetch`` routes its id (given the call *options*,
    such as a kind), checking its credential."""
    fetch = provider.fetch
    run_id = _normalized(provider, payload).id
    auth = provider.auth
    credential = (auth.header, _credential(auth, KEY)) if auth is not None else None
    if isinstance(fetch, RestFetch):
        failure = Reply(401, {"detail": "Invalid credentials"})
        with FakeProviderServer(auth=credential, auth_failure=failure) as rest:
            template = fetch_target(fetch, run_id, options or {}, provider.name)
            path = template.format(run_id=quote(run_id, safe=""))
            rest.routes[path] = payload
            yield Served(rest.url, run_id, rest.requests, f"GET {path}")
    elif isinstance(fetch, McpFetch):
        code = min(fetch.not_found) if fetch.not_found else "not_found"
        tool = fetch_target(fetch, run_id, options or {}, provider.name)
        with FakeMcpServer(auth=credential, not_found=code) as mcp:
            mcp.tools[tool] = {run_id: payload}
            yield Served(mcp.url, run_id, mcp.requests, f"MCP tools/call {tool}", mcp, tool)
    else:
        raise AssertionError(f"{provider.name}: fetch is {fetch!r}, not a RestFetch or McpFetch")


def _body(payload: Mapping[str, Any]) -> bytes:
    """A delivery's bytes: compact JSON, non-ASCII as is, the way senders serialize."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _signed(sign: Signer, body: bytes, secret: str, stamp: int) -> dict[str, str]:
    headers = sign(body, secret, stamp)
    assert isinstance(headers, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ), f"sign_webhook must return a dict of header names to values, not {headers!r}"
    return dict(headers)


@attrs.frozen
class IoChecks:
    """The I/O checks of one provider, fetching *payload* (the first sample) and sending
    *webhook* (the webhook sample) signed by *sign* (the test class's ``sign_webhook``)."""

    provider: Provider
    payload: Mapping[str, Any]
    webhook: Mapping[str, Any]
    sign: Signer
    options: Mapping[str, Any] = attrs.field(factory=dict)
    """Call options every fetch passes (a ``kind`` for a provider routed by kind)."""

    def listing(self, samples: list[Mapping[str, Any]], options: Mapping[str, Any]) -> ListChecks:
        """The listing checks of this provider, over list items made from *samples*."""
        return ListChecks(self.provider, samples, options)

    # -- fetching ---------------------------------------------------------------------------

    def _unsupported(self) -> None:
        """A provider without ``fetch``: ``get`` refuses before sending anything."""
        provider = self.provider
        assert "fetch" not in provider.capabilities
        _fails(
            UnsupportedError,
            functools.partial(
                _get, provider, "any-run", base_url="http://127.0.0.1:9", api_key=KEY
            ),
            f"{provider.name} declares no fetch, so runnorm.get",
        )

    def get_returns_the_sample(self) -> None:
        """``get`` through the loopback server gives the ``Run`` normalizing the sample gives;
        an MCP tool is called with ``{McpFetch.argument: run_id}``."""
        provider, fetch = self.provider, self.provider.fetch
        if fetch is None:
            return self._unsupported()
        expected = _normalized(provider, self.payload)
        with serving(provider, self.payload, self.options) as served:
            run = _get(provider, served.run_id, **self.options, base_url=served.url, api_key=KEY)
        assert run == expected, (
            f"{provider.name}: runnorm.get ({served.where}) returned a Run that differs from "
            f"normalizing the same payload:\n  got      {run!r}\n  expected {expected!r}"
        )
        assert run.raw == self.payload, f"{provider.name}: the fetched raw is not the payload"
        if isinstance(fetch, McpFetch):
            assert served.mcp is not None
            calls = served.mcp.tool_calls(served.tool or "")
            wanted = {fetch.argument: served.run_id}
            assert calls and calls[-1] == wanted, (
                f"{provider.name}: tool {served.tool} was called with {calls}, not {wanted}"
            )
        return None

    def get_sends_the_credential(self) -> None:
        """Every request carries the declared header with the declared scheme and the key
        (and no key at all when the provider declares no ``auth``)."""
        provider, auth = self.provider, self.provider.auth
        if provider.fetch is None:
            return self._unsupported()
        with serving(provider, self.payload, self.options) as served:
            _get(provider, served.run_id, **self.options, base_url=served.url, api_key=KEY)
        assert served.requests, f"{provider.name}: runnorm.get sent no request"
        for request in served.requests:
            if auth is None:
                assert KEY not in " ".join(request.headers.values()), (
                    f"{provider.name} declares no auth, yet the key was sent ({request.path})"
                )
                continue
            sent = request.headers.get(auth.header.lower())
            expected = _credential(auth, KEY)
            assert sent == expected, (
                f"{provider.name}: {request.method} {request.path} sent {auth.header}: "
                f"{'(none)' if sent is None else repr(sent)}; Auth(header={auth.header!r}, "
                f"scheme={auth.scheme!r}) declares {expected!r}"
            )
        return None

    def get_with_a_wrong_key(self) -> None:
        """A key the server refuses (HTTP 401) is an ``AuthError`` whose text never holds
        the key (without ``auth``, the key is never sent and the fetch succeeds)."""
        provider = self.provider
        if provider.fetch is None:
            return self._unsupported()
        with serving(provider, self.payload, self.options) as served:
            fetch = functools.partial(
                _get,
                provider,
                served.run_id,
                **self.options,
                base_url=served.url,
                api_key=WRONG_KEY,
            )
            if provider.auth is None:
                assert fetch().id == served.run_id
                sent = " ".join(v for r in served.requests for v in r.headers.values())
                assert WRONG_KEY not in sent, f"{provider.name} declares no auth, yet sent a key"
                return None
            error = _fails(
                AuthError, fetch, f"{provider.name}: runnorm.get with a key the server refuses"
            )
        assert WRONG_KEY not in str(error), f"{provider.name}: the AuthError's text holds the key"
        return None

    def get_of_an_unknown_run(self) -> None:
        """A run the server does not have is a ``NotFoundError`` (REST: HTTP 404; MCP: the
        tool's error is one of ``McpFetch.not_found``); an MCP provider declaring no
        ``not_found`` codes gets a ``ToolError`` that is not a ``NotFoundError``."""
        provider, fetch = self.provider, self.provider.fetch
        if fetch is None:
            return self._unsupported()
        with serving(provider, self.payload, self.options) as served:
            what = f"{provider.name}: runnorm.get of a run the server lacks ({served.where})"
            call = functools.partial(
                _get, provider, MISSING_RUN, **self.options, base_url=served.url, api_key=KEY
            )
            if isinstance(fetch, McpFetch) and not fetch.not_found:
                error = _fails(ToolError, call, what)
                assert not isinstance(error, NotFoundError), (
                    f"{what}: a NotFoundError, yet McpFetch declares no not_found codes"
                )
                return None
            _fails(NotFoundError, call, what)
        return None

    def get_reads_the_key_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """No ``api_key``: the key comes from ``Auth.env_var``; with the variable unset too,
        ``AuthError`` names the variable and nothing is sent."""
        provider, auth = self.provider, self.provider.auth
        if provider.fetch is None:
            return self._unsupported()
        with serving(provider, self.payload, self.options) as served:
            fetch = functools.partial(
                _get, provider, served.run_id, **self.options, base_url=served.url
            )
            if auth is None:
                assert fetch().id == served.run_id
                return None
            monkeypatch.delenv(auth.env_var, raising=False)
            error = _fails(
                AuthError, fetch, f"{provider.name}: runnorm.get with {auth.env_var} unset"
            )
            assert auth.env_var in str(error), f"{provider.name}: {error} names no variable"
            assert served.requests == [], f"{provider.name}: a request was sent without a key"
            monkeypatch.setenv(auth.env_var, KEY)
            assert fetch().id == served.run_id
        sent = served.requests[-1].headers.get(auth.header.lower())
        assert sent == _credential(auth, KEY), f"{provider.name}: {auth.env_var} was not used"
        return None

    def get_reads_the_base_url_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """No ``base_url``: it comes from ``Provider.base_url_env``; without that variable
        declared, from ``Provider.base_url`` (checked without sending anything there)."""
        provider, variable = self.provider, self.provider.base_url_env
        if provider.fetch is None:
            return self._unsupported()
        if variable is None:
            resolve = functools.partial(resolve_options, provider, {**self.options, "api_key": KEY})
            if provider.base_url is None:
                what = f"{provider.name} declares no base_url nor base_url_env, so get()"
                _fails(ConfigError, resolve, what)
            else:
                found = resolve().base_url
                assert found == provider.base_url.rstrip("/"), (provider.name, found)
            return None
        with serving(provider, self.payload, self.options) as served:
            monkeypatch.setenv(variable, served.url)
            run = _get(provider, served.run_id, **self.options, api_key=KEY)
        assert run.id == served.run_id
        assert served.requests, f"{provider.name}: {variable} was not used"
        return None

    # -- webhooks ---------------------------------------------------------------------------

    def _webhooks_unsupported(self) -> None:
        provider = self.provider
        assert "webhooks" not in provider.capabilities
        body = _body(self.webhook)
        for secret in (SECRET, None):
            _fails(
                UnsupportedError,
                functools.partial(parse, provider.name, body, {}, secret=secret),
                f"{provider.name} declares no verify_webhook, so runnorm.webhooks.parse",
            )

    def _parse(self, body: bytes, headers: Mapping[str, str], now: float) -> Run:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownStatusWarning)
            return parse(
                self.provider.name, body, headers, secret=SECRET, tolerance=TOLERANCE, now=now
            )

    def webhook_with_a_good_signature(self) -> None:
        """A delivery signed by ``sign_webhook`` parses to the ``Run`` of the sample."""
        provider = self.provider
        if provider.verify_webhook is None:
            return self._webhooks_unsupported()
        body = _body(self.webhook)
        stamp = int(time.time())
        run = self._parse(body, _signed(self.sign, body, SECRET, stamp), stamp + 1)
        expected = _normalized(provider, self.webhook)
        assert run == expected, (
            f"{provider.name}: the parsed webhook differs from the sample's Run:\n"
            f"  got      {run!r}\n  expected {expected!r}"
        )
        assert run.raw == self.webhook
        return None

    def webhook_tampered(self) -> None:
        """A body changed after signing, a signature made with another secret, and a
        delivery without the signature headers are each a ``SignatureError``."""
        provider = self.provider
        if provider.verify_webhook is None:
            return self._webhooks_unsupported()
        body = _body(self.webhook)
        stamp = int(time.time())
        headers = _signed(self.sign, body, SECRET, stamp)
        added = _body({**self.webhook, "tampered": True})
        cases: list[tuple[str, bytes, Mapping[str, str]]] = [
            ("a body changed after signing (a space added)", body + b" ", headers),
            ("a body changed after signing (a key added)", added, headers),
            ("a signature made with another secret", body, _signed(self.sign, body, "x", stamp)),
            ("a delivery without signature headers", body, {}),
        ]
        for what, sent, sent_headers in cases:
            _fails(
                SignatureError,
                functools.partial(self._parse, sent, sent_headers, stamp + 1),
                f"{provider.name}: runnorm.webhooks.parse of {what}",
            )
        return None

    def webhook_stale_timestamp(self) -> None:
        """A delivery signed an hour before (or after) ``now`` is outside the tolerance
        window: a ``SignatureError`` (the replay defence)."""
        provider = self.provider
        if provider.verify_webhook is None:
            return self._webhooks_unsupported()
        body = _body(self.webhook)
        now = int(time.time())
        for offset, what in ((-3600, "an hour before now"), (3600, "an hour after now")):
            headers = _signed(self.sign, body, SECRET, now + offset)
            _fails(
                SignatureError,
                functools.partial(self._parse, body, headers, now),
                f"{provider.name}: runnorm.webhooks.parse of a delivery signed {what} "
                f"(tolerance {TOLERANCE} s)",
            )
        return None


# -- listing --------------------------------------------------------------------------------

LIST_BASE = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
"""The creation time of the first (newest) run a listing test serves; each next one a minute
earlier (later for an ``oldest_first`` listing)."""
_OFFSET = re.compile(r"[+-]\d\d:?\d\d$")


def _created_like(original: Any, when: datetime) -> Any:
    """*when* written the way *original* (a sample's creation value) is: epoch milliseconds
    or seconds for a number, ISO 8601 text with ``Z``, an offset, or none (naive UTC)."""
    if isinstance(original, int | float) and not isinstance(original, bool):
        seconds = (when - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
        return int(seconds * 1000) if abs(original) > 1e11 else int(seconds)
    text = when.isoformat()
    if isinstance(original, str) and original[-1:] in ("Z", "z"):
        return text.replace("+00:00", "Z")
    if isinstance(original, str) and not _OFFSET.search(original):
        return when.replace(tzinfo=None).isoformat()
    return text


def _id_key(provider: Provider, item: Mapping[str, Any]) -> str:
    run = _normalized(provider, item)
    for key, value in item.items():
        if value == run.id:
            return key
    raise AssertionError(f"{provider.name}: no key of a list sample holds its run id {run.id!r}")


def list_items(
    provider: Provider, samples: list[Mapping[str, Any]], count: int
) -> list[dict[str, Any]]:
    """*count* list items made from *samples* in turn: each with an id of its own (the
    sample's, its last four characters made a counter) and, when the listing declares a
    ``created_key``, a creation time in the declared order, written as the sample writes it."""
    declared = provider.list
    assert declared is not None
    key = declared.created_key
    usable = [s for s in samples if key is None or key in s]
    assert usable, (
        f"{provider.name}: no list sample holds {key!r}; add list-item samples "
        "(list-*.json) as the provider's list API sends them"
    )
    step = timedelta(minutes=-1 if declared.order != "oldest_first" else 1)
    items = []
    for index in range(count):
        sample = usable[index % len(usable)]
        id_key = _id_key(provider, sample)
        item = dict(sample)
        item[id_key] = f"{sample[id_key][:-4]}{index:04d}"
        if key is not None:
            item[key] = _created_like(sample[key], LIST_BASE + index * step)
        items.append(item)
    return items


def _list_page(declared: RestList, items: list[dict[str, Any]], shared: Mapping[str, Any]) -> Any:
    return items if declared.items is None else {**shared, declared.items: items}


def _rest_pages(
    declared: RestList,
    items: list[dict[str, Any]],
    url: str,
    *,
    per_page: int,
    endless: bool,
    shared: Mapping[str, Any],
) -> list[Any]:
    """The replies of a REST listing over *items*, *per_page* each; with *endless*, each
    reply says another page follows (a cursor, ``has_more``, a next URL, a full page)."""
    paging = declared.paging
    chunks = [items[start : start + per_page] for start in range(0, len(items), per_page)]
    replies = []
    for number, chunk in enumerate(chunks, 1):
        more = endless or number < len(chunks)
        reply = _list_page(declared, chunk, shared)
        if isinstance(reply, dict):
            if isinstance(paging, CursorPages):
                reply[paging.next_field] = f"rnc-cursor-{number + 1}" if more else None
            elif isinstance(paging, AfterPages) and paging.more_field is not None:
                reply[paging.more_field] = more
            elif isinstance(paging, NextUrlPages):
                reply[paging.next_field] = (
                    f"{url}{declared.path}?page={number + 1}" if more else None
                )
            elif isinstance(paging, OffsetPages) and paging.total_field is not None:
                reply[paging.total_field] = 10 * len(items) if endless else len(items)
        replies.append(reply)
    if not endless and _ends_on_empty(paging):
        replies.append(_list_page(declared, [], shared))
    return replies


def _ends_on_empty(paging: Any) -> bool:
    """An ``after`` listing without a ``more_field`` ends on an empty page only."""
    return isinstance(paging, AfterPages) and paging.more_field is None


def _per_page(declared: RestList) -> int:
    """Items a served page holds: a full page where a short one would be the last."""
    paging = declared.paging
    if isinstance(paging, PageNumbers | OffsetPages):
        return paging.size
    return 3


@attrs.frozen
class ServedList:
    """A loopback server listing *items* (``base_url`` to pass), and what it received."""

    url: str
    items: list[dict[str, Any]]
    shared: Mapping[str, Any]
    requests: list[RecordedRequest]
    mcp: FakeMcpServer | None = None

    def expected(self, provider: Provider, items: list[dict[str, Any]] | None = None) -> list[Run]:
        """The runs of *items* (default: all) as normalizing them, with the shared keys."""
        wanted = self.items if items is None else items
        return [
            _normalized(
                provider, {**item, **{k: v for k, v in self.shared.items() if k not in item}}
            )
            for item in wanted
        ]

    def queries(self) -> list[dict[str, list[str]]]:
        return [parse_qs(r.query) for r in self.requests if self.mcp is None]


@contextlib.contextmanager
def serving_list(
    provider: Provider,
    samples: list[Mapping[str, Any]],
    *,
    pages: int = 2,
    endless: bool = False,
    count: int | None = None,
) -> Iterator[ServedList]:
    """Serve a listing of *provider* in its declared shape: a REST listing over *pages*
    pages (``endless``: every reply says more follow), an MCP tool returning *count* items
    (default: one fewer than ``max_items``); the credential is checked."""
    declared = provider.list
    auth = provider.auth
    credential = (auth.header, _credential(auth, KEY)) if auth is not None else None
    shared = {key: f"rnc-{key}" for key in declared.shared} if declared is not None else {}
    if isinstance(declared, RestList):
        per_page = _per_page(declared)
        # The last page one short: a short page ends numbered and offset listings.
        items = list_items(provider, samples, count or per_page * pages - (not endless))
        failure = Reply(401, {"detail": "Invalid credentials"})
        with FakeProviderServer(auth=credential, auth_failure=failure) as rest:
            replies = _rest_pages(
                declared, items, rest.url, per_page=per_page, endless=endless, shared=shared
            )
            rest.script(declared.path, *(Reply(200, reply) for reply in replies))
            yield ServedList(rest.url, items, shared, rest.requests)
    elif isinstance(declared, McpList):
        items = list_items(provider, samples, count or declared.max_items - 1)

        def tool(arguments: Mapping[str, Any]) -> Any:
            return {**shared, declared.items: items}

        with FakeMcpServer(auth=credential) as mcp:
            mcp.tools[declared.tool] = tool
            yield ServedList(mcp.url, items, shared, mcp.requests, mcp)
    else:
        raise AssertionError(f"{provider.name}: list is {declared!r}, not a RestList or McpList")


def _list(provider: Provider, **options: Any) -> list[Run]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownStatusWarning)
        return list(list_runs(provider.name, **{**QUICK, **options}))


@attrs.frozen
class ListChecks:
    """The listing checks of one provider, serving list items made from *samples* and
    passing *options* (the listing's required options) to every call."""

    provider: Provider
    samples: list[Mapping[str, Any]]
    options: Mapping[str, Any] = attrs.field(factory=dict)

    def _unsupported(self) -> None:
        provider = self.provider
        assert "list" not in provider.capabilities
        _fails(
            UnsupportedError,
            functools.partial(_list, provider, base_url="http://127.0.0.1:9", api_key=KEY),
            f"{provider.name} declares no list, so runnorm.list_runs",
        )

    def _call(self, served: ServedList, **options: Any) -> list[Run]:
        return _list(self.provider, **self.options, **options, base_url=served.url, api_key=KEY)

    def _sent_credentials(self, served: ServedList) -> None:
        auth = self.provider.auth
        assert served.requests, f"{self.provider.name}: list_runs sent no request"
        if auth is None:
            return
        for request in served.requests:
            sent = request.headers.get(auth.header.lower())
            assert sent == _credential(auth, KEY), (
                f"{self.provider.name}: {request.method} {request.path}?{request.query} sent "
                f"{auth.header}: {sent!r}, not the declared credential"
            )

    def pages_through(self) -> None:
        """Every item of every page, as normalizing it gives, in order, once; the paging
        parameters the declaration names; the credential on every request."""
        provider, declared = self.provider, self.provider.list
        if declared is None:
            return self._unsupported()
        with serving_list(provider, self.samples) as served:
            runs = self._call(served)
        expected = served.expected(provider)
        assert runs == expected, (
            f"{provider.name}: list_runs gave {len(runs)} runs ({[r.id for r in runs][:5]}...), "
            f"not the {len(expected)} served ({[r.id for r in expected][:5]}...), as normalized"
        )
        self._sent_credentials(served)
        if isinstance(declared, McpList):
            assert served.mcp is not None
            calls = served.mcp.tool_calls(declared.tool)
            assert len(calls) == 1, f"{provider.name}: {declared.tool} called {len(calls)} times"
            for param in declared.params:
                if param.option in self.options:
                    assert calls[0].get(param.param) == self.options[param.option], calls[0]
            if declared.limit_argument is not None:
                assert calls[0].get(declared.limit_argument) == declared.max_items, calls[0]
            return None
        queries = served.queries()
        pages = 2 + _ends_on_empty(declared.paging)
        assert len(queries) == pages, f"{provider.name}: {len(queries)} requests for {pages} pages"
        self._page_parameters(declared, queries[:2], served.items)
        return None

    def _page_parameters(
        self, declared: RestList, queries: list[dict[str, list[str]]], items: list[dict[str, Any]]
    ) -> None:
        paging, name = declared.paging, self.provider.name
        first, second = queries
        size_param = getattr(paging, "size_param", None)
        size = getattr(paging, "size", None)
        if size_param is not None and size is not None:
            assert first.get(size_param) == [str(size)], (name, size_param, first)
        if isinstance(paging, PageNumbers):
            pages = [q.get(paging.page_param) for q in queries]
            assert pages == [[str(paging.first)], [str(paging.first + 1)]], (name, pages)
        elif isinstance(paging, OffsetPages):
            offsets = [q.get(paging.offset_param) for q in queries]
            assert offsets == [["0"], [str(paging.size)]], (name, offsets)
        elif isinstance(paging, CursorPages):
            assert second.get(paging.cursor_param) == ["rnc-cursor-2"], (name, second)
        elif isinstance(paging, AfterPages):
            last = items[_per_page(declared) - 1][paging.item_id]
            assert second.get(paging.after_param) == [str(last)], (name, second)
        else:
            assert second == {"page": ["2"]}, (name, second)

    def since_selects_by_creation(self) -> None:
        """``since`` returns the runs created at or after it; a listing ordered by creation
        stops paging once a page proves nothing newer follows (one request here), an
        unordered one pages to the end; a capped tool call that reaches past ``since`` is
        complete (no ``ListLimitError``)."""
        provider, declared = self.provider, self.provider.list
        if declared is None:
            return self._unsupported()
        per_call = None
        if isinstance(declared, McpList):  # a full call: only an order can prove it whole
            per_call = declared.max_items - (declared.order == "unordered")
        with serving_list(provider, self.samples, pages=3, count=per_call) as served:
            keep = 2 if declared.order != "oldest_first" else len(served.items)
            since = LIST_BASE - timedelta(minutes=keep - 1)
            if declared.order == "oldest_first":
                since = LIST_BASE
            runs = self._call(served, since=since)
        wanted = [
            item
            for run, item in zip(served.expected(provider), served.items, strict=True)
            if run.timing.created_at is not None and run.timing.created_at >= since
        ]
        assert runs == served.expected(provider, wanted), (
            f"{provider.name}: list_runs(since={since.isoformat()}) gave "
            f"{[r.id for r in runs]}, not the {len(wanted)} runs created since"
        )
        time = declared.time
        if isinstance(declared, RestList):
            requests = len(served.requests)
            if declared.order == "newest_first":
                assert requests == 1, f"{provider.name}: newest first, yet {requests} requests"
            elif declared.order == "unordered":
                assert requests == 3, f"{provider.name}: unordered, yet {requests} of 3 pages"
            if time is not None and time.since_param is not None:
                sent = served.queries()[0].get(time.since_param)
                assert sent, f"{provider.name}: {time.since_param} was not sent"
        return None

    def cut_short(self) -> None:
        """A listing that cannot finish (a REST listing whose pages never end, here after
        ``max_pages=2``; a tool call returning ``max_items`` runs without ``since``) yields
        the runs it reached, then raises ``ListLimitError``."""
        provider, declared = self.provider, self.provider.list
        if declared is None:
            return self._unsupported()
        count = declared.max_items if isinstance(declared, McpList) else None
        with serving_list(provider, self.samples, pages=3, endless=True, count=count) as served:
            reached: list[Run] = []
            iterator = list_runs(
                provider.name,
                **{**QUICK, **self.options},
                max_pages=2,
                base_url=served.url,
                api_key=KEY,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnknownStatusWarning)
                error = _fails(
                    ListLimitError,
                    lambda: reached.extend(iterator),
                    f"{provider.name}: a listing that cannot finish",
                )
        expected = served.expected(provider)
        if isinstance(declared, RestList):
            expected = expected[: 2 * _per_page(declared)]
        assert reached == expected, (
            f"{provider.name}: before its ListLimitError, list_runs gave {len(reached)} runs, "
            f"not the {len(expected)} it reached"
        )
        assert isinstance(error, ListLimitError) and error.listed == len(expected)
        return None
