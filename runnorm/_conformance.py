"""The I/O half of the conformance suite: what a provider declares for fetching, webhooks,
listing, cancel, resume and artifacts, checked for real against loopback servers.

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

import base64
import contextlib
import functools
import hashlib
import json
import re
import string
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode

import attrs

from runnorm._errors import (
    APIError,
    ArtifactError,
    AuthError,
    ConfigError,
    ListLimitError,
    NotFoundError,
    RunnormError,
    RunnormWarning,
    ServerError,
    SignatureError,
    ToolError,
    UnknownStatusWarning,
    UnsupportedError,
)
from runnorm._fakemcp import FakeMcpServer, ToolFailure
from runnorm._fakeserver import FakeProviderServer, RecordedRequest, Reply
from runnorm._live.api import artifacts, cancel, download, get, list_runs, resume
from runnorm._live.artifacts import link_expiry
from runnorm._live.download import text_bytes
from runnorm._live.options import resolve_options
from runnorm._model.control import ControlResult
from runnorm._model.run import Artifact, Run
from runnorm._plugins.capabilities import (
    AfterPages,
    ArtifactListing,
    CursorPages,
    McpControl,
    McpList,
    NextUrlPages,
    OffsetPages,
    PageNumbers,
    RestControl,
    RestList,
)
from runnorm._plugins.fetching import McpFetch, RestFetch, fetch_target
from runnorm._plugins.normalize import normalize
from runnorm._plugins.provider import Auth, Provider
from runnorm.webhooks import parse

if TYPE_CHECKING:
    import pytest

__all__ = [
    "ArtifactChecks",
    "ControlChecks",
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
    samples: tuple[Mapping[str, Any], ...] = ()
    """Every sample (the artifact checks pick one with inline artifacts)."""
    status_key: str | None = None
    """The payload key holding the status word (the control checks change it)."""

    def control(self, verb: str) -> ControlChecks:
        """The checks of ``cancel`` or ``resume``."""
        return ControlChecks(self, verb)

    def artifact_checks(self) -> ArtifactChecks:
        """The checks of ``artifacts`` and ``download``."""
        return ArtifactChecks(self)

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


# -- cancel and resume ------------------------------------------------------------------------

MESSAGE_TEXT = "rnc-reply-to-the-run"
UNPREFIXED = "rnc-unprefixed-run"
CDN_BYTES = b"runnorm conformance artifact bytes\n" * 64


def _renamed(payload: Mapping[str, Any], run: Run, run_id: str) -> dict[str, Any]:
    """*payload* with each top-level value equal to its run id replaced by *run_id*."""
    return {key: run_id if value == run.id else value for key, value in payload.items()}


def _with_status(payload: Mapping[str, Any], key: str | None, word: str) -> dict[str, Any]:
    return {**payload, key: word} if key is not None else dict(payload)


def _word(provider: Provider, terminal: bool) -> str | None:
    """A native word of the provider's map whose status is (or is not) terminal."""
    for word, status in provider.statuses.items():
        if status.is_terminal == terminal and status.value != "unknown":
            return word
    return None


def _filled(template: Any, message: str | None) -> Any:
    if template == "{message}":
        return message
    if isinstance(template, Mapping):
        return {
            k: _filled(v, message)
            for k, v in template.items()
            if message is not None or v != "{message}"
        }
    if isinstance(template, list | tuple):
        return [_filled(v, message) for v in template]
    return template


def _control_call(verb: str) -> Callable[..., ControlResult]:
    return cancel if verb == "cancel" else resume


def _quiet(call: Callable[..., Any], *args: Any, **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownStatusWarning)
        return call(*args, **{**QUICK, **options})


def _outcome_is(result: Any, outcome: str, what: str) -> None:
    assert isinstance(result, ControlResult), f"{what}: returned {result!r}, not a ControlResult"
    assert result.outcome == outcome, (
        f"{what}: outcome {result.outcome!r}, the declaration maps it to {outcome!r}"
    )


def _unused_client_error(declared: Mapping[int, Any], ambiguous: tuple[int, ...]) -> int:
    return next(
        code for code in (400, 422, 418, 412) if code not in declared and code not in ambiguous
    )


@attrs.frozen
class ControlChecks:
    """The checks of ``Provider.cancel`` or ``Provider.resume`` (*verb*) for one provider."""

    io: IoChecks
    verb: str

    @property
    def provider(self) -> Provider:
        return self.io.provider

    def declared(self) -> RestControl | McpControl | None:
        provider = self.provider
        return provider.cancel if self.verb == "cancel" else provider.resume

    def call(self, run_id: str, url: str, **options: Any) -> ControlResult:
        call = _control_call(self.verb)
        result: ControlResult = _quiet(
            call, self.provider.name, run_id, base_url=url, api_key=KEY, **options
        )
        return result

    def unsupported(self) -> None:
        provider = self.provider
        assert self.verb not in provider.capabilities
        _fails(
            UnsupportedError,
            functools.partial(self.call, "any-run", "http://127.0.0.1:9"),
            f"{provider.name} declares no {self.verb}, so runnorm.{self.verb}",
        )

    def message_rules(self, mode: str, run_id: str, url: str, sent: Callable[[], int]) -> None:
        """A required message missing, or a message where none is taken: ``ConfigError``
        before anything is sent."""
        name = f"{self.provider.name}: runnorm.{self.verb}"
        before = sent()
        if mode == "required":
            _fails(
                ConfigError, functools.partial(self.call, run_id, url), f"{name} without a message"
            )
        if mode == "none":
            _fails(
                ConfigError,
                functools.partial(self.call, run_id, url, message="x"),
                f"{name} with a message, which it does not take",
            )
        assert sent() == before, f"{name}: a request was sent for a call refused before sending"

    def message(self, mode: str) -> dict[str, Any]:
        return {"message": MESSAGE_TEXT} if mode != "none" else {}

    def outcomes(self) -> None:
        declared = self.declared()
        if declared is None:
            return self.unsupported()
        if isinstance(declared, RestControl):
            return self.rest_outcomes(declared)
        return self.mcp_outcomes(declared)

    def not_retried(self) -> None:
        declared = self.declared()
        if declared is None:
            return self.unsupported()
        if isinstance(declared, RestControl):
            return self.rest_not_retried(declared)
        return self.mcp_not_retried(declared)

    # -- REST ---------------------------------------------------------------------------------

    def rest_setup(self, declared: RestControl) -> tuple[str, dict[str, Any], str]:
        run = _normalized(self.provider, self.io.payload)
        run_id = run.id
        if declared.prefixes and not run_id.startswith(declared.prefixes):
            run_id = declared.prefixes[0] + "rnc-1"
        payload = _renamed(self.io.payload, run, run_id)
        return run_id, payload, declared.path.format(run_id=quote(run_id, safe=""))

    def accepted_reply(self, declared: RestControl, payload: Mapping[str, Any]) -> Reply:
        code = next((c for c, o in declared.outcomes.items() if o == "accepted"), 200)
        return Reply(code, dict(payload) if declared.returns_run else None)

    def rest_outcomes(self, declared: RestControl) -> None:
        provider, verb = self.provider, self.verb
        run_id, payload, path = self.rest_setup(declared)
        auth = provider.auth
        extra = self.message(declared.message)
        with FakeProviderServer() as server:
            self.message_rules(declared.message, run_id, server.url, lambda: len(server.requests))
            if declared.prefixes:
                what = f"{provider.name}: runnorm.{verb} of a run whose id has no declared prefix"
                _fails(
                    UnsupportedError,
                    functools.partial(self.call, UNPREFIXED, server.url, **extra),
                    what,
                )
            server.script(path, self.accepted_reply(declared, payload))
            result = self.call(run_id, server.url, **extra)
            what = f"{provider.name}: runnorm.{verb} answered {declared.method} {path} 2xx"
            _outcome_is(result, "accepted", what)
            assert (result.provider, result.run_id) == (provider.name, run_id), result
            if declared.returns_run:
                expected = _normalized(provider, payload)
                assert result.run == expected, f"{what}: run {result.run!r}, expected {expected!r}"
            sent = server.requests_to(path)
            assert sent and sent[-1].method == declared.method, f"{what}: sent {sent}"
            if auth is not None:
                assert sent[-1].headers.get(auth.header.lower()) == _credential(auth, KEY), (
                    f"{what}: the request did not carry {auth.header}"
                )
            body = json.loads(sent[-1].body) if sent[-1].body else None
            wanted = _filled(declared.body, extra.get("message"))
            assert body == wanted, (
                f"{what}: sent the body {body!r}, the declaration says {wanted!r}"
            )
            for code, outcome in declared.outcomes.items():
                reply = (
                    self.accepted_reply(declared, payload)
                    if outcome == "accepted"
                    else Reply(code, {"detail": "rnc: refused"})
                )
                server.script(path, attrs.evolve(reply, status=code))
                _outcome_is(
                    self.call(run_id, server.url, **extra),
                    outcome,
                    f"{provider.name}: runnorm.{verb} answered HTTP {code}",
                )
            self.rest_ambiguous(
                declared, run_id=run_id, payload=payload, path=path, server=server, extra=extra
            )
            code = _unused_client_error(declared.outcomes, declared.ambiguous)
            server.script(path, Reply(code, {"detail": "rnc: bad request"}))
            error = _fails(
                APIError,
                functools.partial(self.call, run_id, server.url, **extra),
                f"{provider.name}: runnorm.{verb} answered HTTP {code}, which it does not declare",
            )
            assert getattr(error, "status_code", None) == code, error

    def rest_ambiguous(
        self,
        declared: RestControl,
        *,
        run_id: str,
        payload: Mapping[str, Any],
        path: str,
        server: FakeProviderServer,
        extra: Mapping[str, Any],
    ) -> None:
        """An ambiguous code is settled by fetching the run: missing, terminal, running."""
        provider = self.provider
        fetch = provider.fetch
        if not declared.ambiguous:
            return
        assert isinstance(fetch, RestFetch), (
            f"{provider.name}: RestControl.ambiguous is checked with a RestFetch only"
        )
        run_path = fetch_target(fetch, run_id, self.io.options, provider.name).format(
            run_id=quote(run_id, safe="")
        )
        cases: list[tuple[str | None, str]] = [(None, "not_found")]
        for terminal, outcome in ((True, "already_terminal"), (False, "conflict")):
            word = _word(provider, terminal)
            if word is not None:
                cases.append((word, outcome))
        for code in declared.ambiguous:
            for word, outcome in cases:
                server.routes.pop(run_path, None)
                if word is not None:
                    server.routes[run_path] = _with_status(payload, self.io.status_key, word)
                server.script(path, Reply(code, {"detail": "rnc: not here"}))
                what = (
                    f"{provider.name}: runnorm.{self.verb} answered HTTP {code} (ambiguous), the "
                    f"run being {'missing' if word is None else repr(word)}"
                )
                _outcome_is(
                    self.call(run_id, server.url, **self.io.options, **extra), outcome, what
                )
        server.routes.pop(run_path, None)

    def rest_not_retried(self, declared: RestControl) -> None:
        provider, verb = self.provider, self.verb
        run_id, payload, path = self.rest_setup(declared)
        extra = self.message(declared.message)
        with FakeProviderServer() as server:
            server.script(path, Reply(500, {"detail": "rnc: it broke"}))
            _fails(
                ServerError,
                functools.partial(self.call, run_id, server.url, max_retries=3, **extra),
                f"{provider.name}: runnorm.{verb} answered HTTP 500",
            )
            sent = len(server.requests_to(path))
            assert sent == 1, (
                f"{provider.name}: {verb} answered 500 was sent {sent} times, not once"
            )
            server.script(
                path, Reply(503, {"detail": "busy"}, headers={"retry-after": "0"}),
                self.accepted_reply(declared, payload),
            )  # fmt: skip
            result = self.call(run_id, server.url, max_retries=3, **extra)
            _outcome_is(result, "accepted", f"{provider.name}: {verb} after 503 + Retry-After")
            sent = len(server.requests_to(path))
            assert sent == 3, f"{provider.name}: a 503 with Retry-After was not sent again ({sent})"

    # -- MCP ----------------------------------------------------------------------------------

    def mcp_server(self, declared: McpControl) -> tuple[FakeMcpServer, list[Any], str]:
        auth = self.provider.auth
        credential = (auth.header, _credential(auth, KEY)) if auth is not None else None
        server = FakeMcpServer(auth=credential)
        answers: list[Any] = []
        argument = declared.argument or "rnc_target"
        properties: dict[str, Any] = {argument: {"type": "string"}}
        if declared.message_argument:
            properties[declared.message_argument] = {"type": "string"}
        server.schemas[declared.tool] = {
            "type": "object",
            "properties": properties,
            "required": [argument],
        }

        def tool(arguments: Mapping[str, Any]) -> Any:
            return answers.pop(0) if answers else dict(self.io.payload)

        server.tools[declared.tool] = tool
        return server, answers, argument

    def mcp_outcomes(self, declared: McpControl) -> None:
        provider, verb = self.provider, self.verb
        run_id = _normalized(provider, self.io.payload).id
        extra = self.message(declared.message)
        server, answers, argument = self.mcp_server(declared)
        with server:
            self.message_rules(
                declared.message, run_id, server.url, lambda: len(server.tool_calls(declared.tool))
            )
            result = self.call(run_id, server.url, **extra)
            what = f"{provider.name}: runnorm.{verb} through tool {declared.tool!r}"
            _outcome_is(result, "accepted", what)
            if provider.detect(self.io.payload):
                assert result.run == _normalized(provider, self.io.payload), (
                    f"{what}: the result is the sample, yet result.run is {result.run!r}"
                )
            wanted = {argument: run_id}
            if "message" in extra and declared.message_argument:
                wanted[declared.message_argument] = MESSAGE_TEXT
            calls = server.tool_calls(declared.tool)
            assert calls and calls[-1] == wanted, (
                f"{what}: called with {calls[-1] if calls else None}, not {wanted} (the run id "
                "goes in the argument tools/list names)"
            )
            for code, outcome in [*declared.outcomes.items(), ("rnc-other-error", None)]:
                answers.append(ToolFailure(code, "rnc: refused"))
                expected = outcome or declared.outcomes.get(code, declared.other_errors)
                _outcome_is(
                    self.call(run_id, server.url, **extra), expected, f"{what}: tool error {code!r}"
                )
            del server.tools[declared.tool]
            _fails(
                UnsupportedError,
                functools.partial(self.call, run_id, server.url, **extra),
                f"{what}, the tool missing from tools/list",
            )

    def mcp_not_retried(self, declared: McpControl) -> None:
        provider, verb = self.provider, self.verb
        run_id = _normalized(provider, self.io.payload).id
        extra = self.message(declared.message)
        server, _, _ = self.mcp_server(declared)
        with server:
            server.script_tool(declared.tool, Reply(500, {"detail": "rnc: it broke"}))
            _fails(
                ServerError,
                functools.partial(self.call, run_id, server.url, max_retries=3, **extra),
                f"{provider.name}: runnorm.{verb} whose tool call answered HTTP 500",
            )
            sent = len(server.tool_calls(declared.tool))
            assert sent == 1, f"{provider.name}: {declared.tool} answered 500 was sent {sent} times"


# -- artifacts --------------------------------------------------------------------------------

FAR_LINK = "X-Amz-Date=20300101T000000Z&X-Amz-Expires=600"
FAR_EXPIRY = datetime(2030, 1, 1, 0, 10, tzinfo=UTC)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@attrs.define
class _Listed:
    """One listing as the kit serves it: its path, the artifact it must give, the item."""

    listing: ArtifactListing
    path: str
    item: dict[str, Any]
    expected: Artifact
    scope: str


@attrs.define
class _Site:
    """Loopback servers holding a run, its artifact listings and the links' bytes."""

    api: FakeProviderServer | None
    mcp: FakeMcpServer | None
    cdn: FakeProviderServer
    run: Run
    listed: list[_Listed]

    @property
    def url(self) -> str:
        if self.mcp is not None:
            return self.mcp.url
        assert self.api is not None
        return self.api.url


def _page(listing: ArtifactListing, items: list[Any]) -> Any:
    if listing.items is None:
        return items
    reply: dict[str, Any] = {listing.items: items}
    paging = listing.paging
    if isinstance(paging, OffsetPages) and paging.total_field:
        reply[paging.total_field] = len(items)
    if isinstance(paging, CursorPages | NextUrlPages):
        reply[paging.next_field] = None
    if isinstance(paging, AfterPages) and paging.more_field:
        reply[paging.more_field] = False
    return reply


def _template_keys(template: str | None) -> list[str]:
    if template is None:
        return []
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


@attrs.frozen
class ArtifactChecks:
    """The checks of ``Provider.artifacts``: listing, and downloading what is listed."""

    io: IoChecks

    @property
    def provider(self) -> Provider:
        return self.io.provider

    def unsupported(self) -> None:
        provider = self.provider
        assert "artifacts" not in provider.capabilities
        _fails(
            UnsupportedError,
            functools.partial(
                _quiet, artifacts, provider.name, "any-run", base_url="http://127.0.0.1:9",
                api_key=KEY,
            ),
            f"{provider.name} declares no artifacts, so runnorm.artifacts",
        )  # fmt: skip

    def payload(self) -> dict[str, Any]:
        """A sample with inline artifacts where the declaration has them (the first sample
        otherwise), holding each key a listing needs."""
        declared = self.provider.artifacts
        assert declared is not None
        chosen = dict(self.io.payload)
        if declared.inline:
            kinds = declared.content.kinds if declared.content is not None else None
            for sample in self.io.samples:
                run = _normalized(self.provider, sample)
                if any(
                    (kinds is None or a.kind in kinds) and (a.name or a.content is not None)
                    for a in run.artifacts
                ):
                    chosen = dict(sample)
                    break
        for listing in declared.listings:
            if listing.key is not None and chosen.get(listing.key) in (None, ""):
                chosen[listing.key] = "rnc-scope-1"
        return chosen

    def item(
        self, index: int, listing: ArtifactListing, cdn: str
    ) -> tuple[dict[str, Any], Artifact]:
        f = listing.fields
        item: dict[str, Any] = {}
        item_id = f"rnc-a{index}"
        values: dict[str | None, Any] = {
            f.id: item_id,
            f.url: f"{cdn}/rnc/{index}/a?{FAR_LINK}",
            f.name: f"rnc-a{index}.bin",
            f.name_path: f"s3://rnc-bucket/runs/rnc-path-{index}.bin",
            f.size: len(CDN_BYTES),
            f.checksum: _digest(CDN_BYTES),
            f.media_type: "application/octet-stream",
            f.created_at: "2026-01-20T11:52:29Z",
            f.expires_at: "2030-01-01T00:10:00Z",
        }
        word = next(iter(f.kinds), None) if f.kinds else "rnc-unknown-type"
        values[f.type_key] = word
        for key in _template_keys(f.name_template):
            values.setdefault(key, f"rnc{index}")
        item = {key: value for key, value in values.items() if key is not None}
        name = item.get(f.name) if f.name else None
        if name is None and f.name_path:
            name = f"rnc-path-{index}.bin"
        if name is None and f.name_template:
            name = f.name_template.format(**{k: item[k] for k in _template_keys(f.name_template)})
        kind = f.kinds.get(word, listing.kind) if word is not None else listing.kind
        return item, Artifact(
            kind=kind,
            url=item.get(f.url) if f.url else None,
            name=name,
            checksum=item.get(f.checksum) if f.checksum else None,
            size=item.get(f.size) if f.size else None,
            media_type=(item.get(f.media_type) if f.media_type else None) or listing.media_type,
            created_at=datetime(2026, 1, 20, 11, 52, 29, tzinfo=UTC) if f.created_at else None,
            id=item_id if f.id else None,
            expires_at=FAR_EXPIRY if f.url or f.expires_at else None,
        )

    @contextlib.contextmanager
    def site(self) -> Iterator[_Site]:
        provider = self.provider
        declared = provider.artifacts
        assert declared is not None
        payload = self.payload()
        run = _normalized(provider, payload)
        fetch = provider.fetch
        with contextlib.ExitStack() as stack:
            cdn = stack.enter_context(FakeProviderServer())
            api = mcp = None
            if isinstance(fetch, McpFetch):
                assert not declared.listings, (
                    f"{provider.name}: the kit checks artifact listings of REST providers only"
                )
                auth = provider.auth
                credential = (auth.header, _credential(auth, KEY)) if auth is not None else None
                mcp = stack.enter_context(FakeMcpServer(auth=credential))
                tool = fetch_target(fetch, run.id, self.io.options, provider.name)
                mcp.tools[tool] = {run.id: payload}
            else:
                api = stack.enter_context(FakeProviderServer())
                if isinstance(fetch, RestFetch):
                    template = fetch_target(fetch, run.id, self.io.options, provider.name)
                    api.routes[template.format(run_id=quote(run.id, safe=""))] = payload
            listed = []
            for index, listing in enumerate(declared.listings):
                assert api is not None
                scope = run.id if listing.key is None else str(payload[listing.key])
                name = "id" if listing.key is not None else "run_id"
                path = listing.path.format(**{name: quote(scope, safe="")})
                item, expected = self.item(index, listing, cdn.url)
                if listing.relists and not (listing.download or listing.remint):
                    expected = attrs.evolve(expected, id=f"{quote(scope, safe='')}/{expected.id}")
                items = [item]
                if listing.fields.url and not (listing.download or listing.remint):
                    bare = {k: v for k, v in item.items() if k != listing.fields.url}
                    items.append(
                        {**bare, **({listing.fields.id: "rnc-b"} if listing.fields.id else {})}
                    )
                api.script(path, Reply(200, _page(listing, items)))
                api.routes[path] = _page(listing, [])
                listed.append(_Listed(listing, path, item, expected, scope))
            yield _Site(api, mcp, cdn, run, listed)

    def expected_inline(self, run: Run) -> list[Artifact]:
        declared = self.provider.artifacts
        assert declared is not None
        if not declared.inline:
            return []
        content = declared.content
        out = []
        for a in run.artifacts:
            changes: dict[str, Any] = {}
            if a.expires_at is None and a.url and link_expiry(a.url) is not None:
                changes["expires_at"] = link_expiry(a.url)
            if content is not None and a.id is None and a.kind in content.kinds and a.name:
                changes["id"] = f"{quote(run.id, safe='')}/{a.name}"
            out.append(attrs.evolve(a, **changes))
        return out

    def list_them(self, site: _Site) -> list[Artifact]:
        found: list[Artifact] = _quiet(
            artifacts, self.provider.name, site.run.id, base_url=site.url, api_key=KEY,
            **self.io.options,
        )  # fmt: skip
        return found

    def listed(self) -> None:
        """``artifacts`` gives the inline artifacts, then each listing's items mapped as its
        ``ArtifactFields`` say, with the key sent, the declared query, and an item with no
        link and no way to fetch one left out; a ``missing_ok`` reply gives none and warns."""
        provider = self.provider
        if provider.artifacts is None:
            return self.unsupported()
        with self.site() as site:
            found = self.list_them(site)
            expected = self.expected_inline(site.run) + [entry.expected for entry in site.listed]
            assert found == expected, (
                f"{provider.name}: runnorm.artifacts gave\n  {found!r}\nexpected\n  {expected!r}"
            )
            auth = provider.auth
            for entry in site.listed:
                assert site.api is not None
                sent = site.api.requests_to(entry.path)
                assert sent, f"{provider.name}: GET {entry.path} was never sent"
                if auth is not None:
                    assert sent[0].headers.get(auth.header.lower()) == _credential(auth, KEY)
                for key, template in entry.listing.query.items():
                    wanted = urlencode({key: template.format(id=entry.scope, run_id=entry.scope)})
                    assert wanted in sent[0].query, f"{provider.name}: {entry.path}?{sent[0].query}"
            for entry in site.listed:
                for code in sorted(entry.listing.missing_ok):
                    assert site.api is not None
                    site.api.script(entry.path, Reply(code, {"detail": "rnc: none here"}))
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        again = self.list_them(site)
                    assert entry.expected not in again, (
                        f"{provider.name}: {entry.path} answered {code} (missing_ok), yet its "
                        "artifact is listed"
                    )
                    assert any(issubclass(w.category, RunnormWarning) for w in caught), (
                        f"{provider.name}: {entry.path} answered {code}: no RunnormWarning said so"
                    )
        return None

    def downloads(self, tmp: Path) -> None:
        """Each listed artifact downloads from its link (no key sent there) with its bytes
        checked (a wrong checksum: ``ArtifactError``, nothing left behind); a refused link
        is renewed as declared; inline artifacts are written, an output's bytes fetched
        with the declared tool. Without ``artifacts``, ``runnorm.artifacts`` is unsupported."""
        provider = self.provider
        declared = provider.artifacts
        if declared is None:
            return self.unsupported()
        with self.site() as site:
            found = self.list_them(site)
            for number, entry in enumerate(site.listed):
                artifact = next(a for a in found if a.id == entry.expected.id)
                self.download_listed(site, entry, artifact, tmp / f"listing-{number}")
            if declared.inline:
                self.download_inline(site, found, tmp / "inline")
        return None

    def fetch(self, site: _Site, artifact: Artifact, directory: Path, **options: Any) -> Path:
        path: Path = _quiet(
            download, self.provider.name, artifact, directory, base_url=site.url, api_key=KEY,
            **options,
        )  # fmt: skip
        return path

    def download_listed(
        self, site: _Site, entry: _Listed, artifact: Artifact, directory: Path
    ) -> None:
        provider, listing = self.provider, entry.listing
        cdn_path = f"/rnc/{site.listed.index(entry)}/a"
        site.cdn.routes[cdn_path] = CDN_BYTES
        renewing = listing.remint or listing.download or listing.relists
        what = f"{provider.name}: runnorm.download of {entry.path}'s artifact"
        if artifact.url:
            written = self.fetch(site, artifact, directory)
            assert written.read_bytes() == CDN_BYTES, f"{what}: the file holds other bytes"
            assert written.parent == directory
            if artifact.name:
                assert written.name == artifact.name, f"{what}: written as {written.name}"
            for request in site.cdn.requests:
                leaked = [v for v in request.headers.values() if KEY in v]
                assert not leaked, f"{what}: the key was sent to the link's host"
            if artifact.checksum:
                site.cdn.script(cdn_path, Reply(200, CDN_BYTES[::-1]))
                before = sorted(p.name for p in directory.iterdir())
                error = _fails(
                    ArtifactError,
                    functools.partial(self.fetch, site, artifact, directory, overwrite=True),
                    f"{what} whose bytes do not match the checksum",
                )
                assert getattr(error, "check", None) == "checksum", error
                after = sorted(p.name for p in directory.iterdir())
                assert after == before, f"{what}: a failed check left {after}, not {before}"
        if not renewing:
            return
        # The link refused (expired): renewed as the listing declares.
        site.cdn.script(cdn_path, Reply(403, {"detail": "expired"}))
        assert site.api is not None
        if listing.remint is not None:
            fresh = f"{site.cdn.url}/rnc/fresh"
            site.cdn.routes["/rnc/fresh"] = CDN_BYTES
            remint = listing.remint.path.format(artifact_id=quote(artifact.id or "", safe=""))
            site.api.routes[remint] = {listing.remint.url_key: fresh}
        elif listing.download is not None:
            own = listing.download.format(artifact_id=quote(artifact.id or "", safe=""))
            site.api.routes[own] = CDN_BYTES
        else:
            fresh_item = {**entry.item, listing.fields.url or "": f"{site.cdn.url}/rnc/fresh"}
            site.cdn.routes["/rnc/fresh"] = CDN_BYTES
            site.api.script(entry.path, Reply(200, _page(listing, [fresh_item])))
        written = self.fetch(site, artifact, directory / "renewed")
        assert written.read_bytes() == CDN_BYTES, f"{what}, renewed: the file holds other bytes"
        if listing.download is not None:
            own = listing.download.format(artifact_id=quote(artifact.id or "", safe=""))
            sent = site.api.requests_to(own)
            assert sent, f"{what}: the refused link was not renewed through {listing.download}"
            auth = provider.auth
            if auth is not None:
                assert sent[-1].headers.get(auth.header.lower()) == _credential(auth, KEY)
            if listing.accept:
                assert sent[-1].headers.get("accept") == listing.accept

    def download_inline(self, site: _Site, found: list[Artifact], directory: Path) -> None:
        provider = self.provider
        declared = provider.artifacts
        assert declared is not None
        content = declared.content
        inline = [
            a for a in found if a.content is not None or (content and a.kind in content.kinds)
        ]
        for artifact in inline:
            kind = artifact.kind.value
            what = f"{provider.name}: runnorm.download of the inline {kind} {artifact.name!r}"
            if content is not None and artifact.kind in content.kinds and artifact.id:
                assert site.mcp is not None
                sent = CDN_BYTES

                def output(
                    arguments: Mapping[str, Any], data: bytes = sent, size: int = len(sent)
                ) -> Any:
                    value = base64.b64encode(data).decode()
                    answer: dict[str, Any] = {content.content_key: value}
                    if content.encoding_key:
                        answer[content.encoding_key] = "base64"
                    if content.size_key:
                        answer[content.size_key] = size
                    return answer

                site.mcp.tools[content.tool] = output
                written = self.fetch(site, artifact, directory)
                assert written.read_bytes() == CDN_BYTES, f"{what}: the file holds other bytes"
                calls = site.mcp.tool_calls(content.tool)
                wanted = {
                    content.run_argument: site.run.id,
                    content.name_argument: artifact.name,
                    **content.arguments,
                }
                assert calls and calls[-1] == wanted, (
                    f"{what}: {content.tool} called with {calls[-1:]}"
                )
                if content.size_key:
                    site.mcp.tools[content.tool] = functools.partial(output, size=len(sent) + 1)
                    error = _fails(
                        ArtifactError,
                        functools.partial(self.fetch, site, artifact, directory, overwrite=True),
                        f"{what}, the tool saying another size",
                    )
                    assert getattr(error, "check", None) == "size", error
                continue
            written = self.fetch(site, artifact, directory)
            data = written.read_bytes()
            if isinstance(artifact.content, str):
                assert data == text_bytes(artifact.content), what
            else:
                assert json.loads(data) == artifact.content, what


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
