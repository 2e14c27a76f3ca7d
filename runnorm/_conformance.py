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
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import attrs

from runnorm._errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    RunnormError,
    SignatureError,
    ToolError,
    UnknownStatusWarning,
    UnsupportedError,
)
from runnorm._fakemcp import FakeMcpServer
from runnorm._fakeserver import FakeProviderServer, RecordedRequest, Reply
from runnorm._live.api import get
from runnorm._live.options import resolve_options
from runnorm._model.run import Run
from runnorm._plugins.fetching import McpFetch, RestFetch, fetch_target
from runnorm._plugins.normalize import normalize
from runnorm._plugins.provider import Auth, Provider
from runnorm.webhooks import parse

if TYPE_CHECKING:
    import pytest

__all__ = ["IoChecks", "Served", "Signer", "serving"]

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
