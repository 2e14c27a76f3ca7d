"""``webhooks.parse`` under every input a receiver might hand it: the header containers of the
stdlib and the common frameworks, odd secrets and clocks, deep bodies; and a property test in
which anything goes and only ``RunnormError`` may come out."""

from __future__ import annotations

import datetime
import email.message
import hashlib
import hmac
import http.client
import http.server
import io
import json
import threading
import urllib.request
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import werkzeug.datastructures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers as StarletteHeaders

from runnorm import ConfigError, PayloadError, RunnormError, SignatureError, webhooks

KEY = "sk-live-inputs-0123456789"
NOW = 1_772_000_000
BODY = json.dumps({"run_id": "tsk_1", "status": "completed"}).encode()
SIGNATURE = hmac.new(KEY.encode(), BODY, hashlib.sha256).hexdigest()
SIGNED = {"X-Skyvern-Signature": SIGNATURE, "X-Skyvern-Timestamp": str(NOW)}


def _message() -> email.message.Message:
    message = email.message.Message()
    for name, value in SIGNED.items():
        message[name] = value
    return message


def _http_message() -> http.client.HTTPMessage:
    """What ``http.server`` puts in ``self.headers``: parsed from the raw header block."""
    raw = "".join(f"{name}: {value}\r\n" for name, value in SIGNED.items()) + "\r\n"
    return http.client.parse_headers(io.BytesIO(raw.encode("latin-1")))


class ItemsOnly:
    """Neither a mapping nor iterable as pairs: only ``.items()``, as some frameworks'."""

    def items(self) -> list[tuple[str, str]]:
        return list(SIGNED.items())


def _pairs() -> Iterator[tuple[str, str]]:
    yield from SIGNED.items()


CONTAINERS = {
    "dict": lambda: dict(SIGNED),
    "dict, other case": lambda: {k.upper(): v for k, v in SIGNED.items()},
    "str pairs": lambda: list(SIGNED.items()),
    "bytes pairs (ASGI)": lambda: [(k.lower().encode(), v.encode()) for k, v in SIGNED.items()],
    "list pairs": lambda: [[k, v] for k, v in SIGNED.items()],
    "generator of pairs": _pairs,
    "email.message.Message": _message,
    "http.client.HTTPMessage": _http_message,
    "starlette Headers": lambda: StarletteHeaders(headers=SIGNED),
    "werkzeug Headers": lambda: werkzeug.datastructures.Headers(list(SIGNED.items())),
    "werkzeug EnvironHeaders": lambda: werkzeug.datastructures.EnvironHeaders(
        {"HTTP_" + k.upper().replace("-", "_"): v for k, v in SIGNED.items()}
    ),
    "object with items()": ItemsOnly,
}


@pytest.mark.parametrize("make", CONTAINERS.values(), ids=CONTAINERS.keys())
def test_header_containers_of_the_stdlib_and_frameworks_verify(make: Any) -> None:
    run = webhooks.parse("skyvern", BODY, make(), secret=KEY, now=NOW)
    assert (run.provider, run.id) == ("skyvern", "tsk_1")


def test_a_receiver_built_on_http_server_verifies_with_self_headers() -> None:
    got: list[Any] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                got.append(webhooks.parse("skyvern", body, self.headers, secret=KEY, now=NOW))
                self.send_response(204)
            except RunnormError as exc:
                got.append(exc)
                self.send_response(400)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        request = urllib.request.Request(url, data=BODY, headers=SIGNED, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204
    finally:
        server.shutdown()
        server.server_close()
    (run,) = got
    assert run.id == "tsk_1"


def test_repeated_headers_keep_the_first_value() -> None:
    pairs = [*SIGNED.items(), ("x-skyvern-signature", "0" * 64)]
    assert webhooks.parse("skyvern", BODY, pairs, secret=KEY, now=NOW).id == "tsk_1"
    with pytest.raises(SignatureError):
        webhooks.parse("skyvern", BODY, pairs[::-1], secret=KEY, now=NOW)


class Exploding:
    def items(self) -> Any:
        raise RuntimeError("cannot list")


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        (None, "not NoneType"),
        ("x-skyvern-signature: ab", "not str"),
        (b"x-skyvern-signature: ab", "not bytes"),
        (42, "not int"),
        (["x-skyvern-signature: ab"], "raw 'Name: value' lines are not parsed"),
        (["ab"], "each header must be a (name, value) pair"),  # not unpacked as ("a", "b")
        ([("x-skyvern-signature",)], "each header must be a (name, value) pair"),
        ([("a", "b", "c")], "each header must be a (name, value) pair"),
        ({1: "x"}, "a header name must be text or bytes, not int"),
        ({"x-skyvern-signature": None}, "a header value must be text or bytes, not NoneType"),
        ({"x-skyvern-signature": ["a"]}, "a header value must be text or bytes, not list"),
        ({"x-skyvern-signature": True}, "a header value must be text or bytes, not bool"),
        (Exploding(), "could not read the headers (RuntimeError)"),
    ],
)
def test_other_header_values_are_config_errors(headers: Any, says: str) -> None:
    for secret in (KEY, None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", webhooks.UnverifiedWebhookWarning)
            with pytest.raises(ConfigError) as caught:
                webhooks.parse("skyvern", BODY, headers, secret=secret, now=NOW)
        assert says in str(caught.value)


def test_numbers_and_email_header_objects_are_header_values() -> None:
    headers: dict[str, Any] = {
        "x-skyvern-signature": email.header.Header(SIGNATURE),
        "x-skyvern-timestamp": NOW,
    }
    assert webhooks.parse("skyvern", BODY, headers, secret=KEY, now=NOW).id == "tsk_1"


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        (12345, "secret must be a str or bytes, not int"),
        (1.5, "secret must be a str or bytes, not float"),
        (True, "secret must be a str or bytes, not bool"),
        (["k"], "secret must be a str or bytes, not list"),
        ("", "secret must not be empty"),
        (b"", "secret must not be empty"),
        ("sk-\ud800", "secret is not valid text (it holds a lone surrogate)"),
    ],
)
def test_odd_secrets_are_config_errors(secret: Any, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        webhooks.parse("skyvern", BODY, SIGNED, secret=secret, now=NOW)


@pytest.mark.parametrize("secret", [KEY, KEY.encode(), bytearray(KEY.encode())])
def test_str_and_bytes_secrets_verify(secret: Any) -> None:
    assert webhooks.parse("skyvern", BODY, SIGNED, secret=secret, now=NOW).id == "tsk_1"


@pytest.mark.parametrize(
    "now",
    [
        NOW,
        float(NOW) + 0.5,
        datetime.datetime.fromtimestamp(NOW, datetime.UTC),
        datetime.datetime.fromtimestamp(NOW, datetime.timezone(datetime.timedelta(hours=-7))),
        datetime.datetime.fromtimestamp(NOW, datetime.UTC).replace(tzinfo=None),  # naive: UTC
    ],
)
def test_now_is_seconds_or_a_datetime(now: Any) -> None:
    assert webhooks.parse("skyvern", BODY, SIGNED, secret=KEY, now=now).id == "tsk_1"


@pytest.mark.parametrize(
    "now",
    [str(NOW), "now", True, float("nan"), float("inf"), 10**400, Decimal(NOW), [NOW]],
    ids=repr,
)
def test_other_nows_are_config_errors(now: Any) -> None:
    for secret in (KEY, None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", webhooks.UnverifiedWebhookWarning)
            with pytest.raises(ConfigError, match="now must be"):
                webhooks.parse("skyvern", BODY, SIGNED, secret=secret, now=now)


class BadZone(datetime.tzinfo):
    def __init__(self, offset: datetime.timedelta | None) -> None:
        self.offset = offset

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        if self.offset is None:
            raise RuntimeError("no offset today")
        return self.offset


@pytest.mark.parametrize("offset", [None, datetime.timedelta(hours=30)], ids=["raises", "30 h"])
def test_a_datetime_whose_zone_fails_is_a_config_error(offset: Any) -> None:
    now = datetime.datetime(2026, 1, 1, tzinfo=BadZone(offset))
    with pytest.raises(ConfigError, match="now is not a usable datetime"):
        webhooks.parse("skyvern", BODY, SIGNED, secret=KEY, now=now)


@pytest.mark.parametrize(
    "tolerance", [10**400, -1, float("nan"), float("-inf"), "300", True, None], ids=repr
)
def test_odd_tolerances_are_config_errors(tolerance: Any) -> None:
    with pytest.raises(ConfigError, match="tolerance must"):
        webhooks.parse("skyvern", BODY, SIGNED, secret=KEY, now=NOW, tolerance=tolerance)


def _deep(depth: int, *, inner: bytes = b"1") -> bytes:
    return b'{"a":' * depth + inner + b"}" * depth


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000 + b"]" * 10_000,
        _deep(10_000),
        b'{"run_id": "tsk_1", "status": "completed", "extra": ' + _deep(10_000) + b"}",
    ],
    ids=["array", "object", "inside a field"],
)
def test_a_10000_deep_body_is_a_payload_error(body: bytes) -> None:
    signature = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    headers = {"x-skyvern-signature": signature, "x-skyvern-timestamp": str(NOW)}
    with pytest.raises(PayloadError, match="depth limit exceeded") as caught:
        webhooks.parse("skyvern", body, headers, secret=KEY, now=NOW)
    assert caught.value.provider == "skyvern"


def test_a_body_as_deep_as_json_allows_still_parses() -> None:
    body = b'{"run_id": "tsk_1", "status": "completed", "extra": ' + _deep(1000) + b"}"
    signature = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    headers = {"x-skyvern-signature": signature, "x-skyvern-timestamp": str(NOW)}
    run = webhooks.parse("skyvern", body, headers, secret=KEY, now=NOW)
    assert run.id == "tsk_1"


# -- anything goes --------------------------------------------------------------------------

_names = st.sampled_from(["x-skyvern-signature", "X-Skyvern-Timestamp", "content-type"])
_text = st.text(max_size=20)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),
    _text,
    st.binary(max_size=20),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.decimals(allow_nan=True),
)
_header_name = st.one_of(_names, _text, st.binary(max_size=10), st.integers())
_header_value = st.one_of(_text, st.binary(max_size=70), st.integers(), st.none(), st.floats())
_pairs_st = st.lists(
    st.one_of(
        st.tuples(_header_name, _header_value),
        st.lists(_header_value, max_size=3),
        _text,
    ),
    max_size=5,
)


@st.composite
def _message_st(draw: st.DrawFn) -> email.message.Message:
    message = email.message.Message()
    alphabet = st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":")
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.one_of(_names, st.text(alphabet, min_size=1, max_size=10)))
        message[name] = draw(_text)
    return message


_headers = st.one_of(
    st.dictionaries(_header_name, _header_value, max_size=5),
    _pairs_st,
    _pairs_st.map(tuple),
    _message_st(),
    st.just(SIGNED),
    _scalar,
)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


_bodies = st.one_of(
    st.just(BODY),
    st.binary(max_size=200),
    st.integers(1, 12_000).map(_nested),
    st.integers(1, 12_000).map(_deep),
    st.dictionaries(_text, st.one_of(_text, st.integers(), st.none()), max_size=4).map(
        lambda d: json.dumps({"run_id": "tsk_9", "status": "completed", **d}).encode()
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | _text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
    _text,
    st.none(),
    st.builds(bytearray, st.binary(max_size=50)),
)
_secrets = st.one_of(st.none(), st.just(KEY), _text, st.binary(max_size=20), _scalar)
_providers = st.sampled_from(["skyvern", "browserbase", "bb", "nope"])


def _mostly(usual: Any, odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """*usual* three times in four, else an odd value."""
    return st.integers(0, 3).flatmap(lambda pick: odd if pick == 0 else st.just(usual))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    provider=_mostly("skyvern", st.one_of(_providers, _scalar)),
    body=_mostly(BODY, _bodies),
    headers=_mostly(SIGNED, _headers),
    secret=_mostly(KEY, _secrets),
    tolerance=_mostly(300, _scalar),
    now=_mostly(NOW, _scalar),
)
def test_parse_raises_only_runnorm_errors_whatever_the_arguments(
    *, provider: Any, body: Any, headers: Any, secret: Any, tolerance: Any, now: Any
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            run = webhooks.parse(
                provider, body, headers, secret=secret, tolerance=tolerance, now=now
            )
        except RunnormError:
            return
    assert run.provider == "skyvern"  # the only provider here that takes webhooks


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies, extra=_headers, sign=st.booleans(), pairs=st.booleans())
def test_parse_raises_only_runnorm_errors_on_signed_bodies_and_odd_headers(
    *, body: Any, extra: Any, sign: bool, pairs: bool
) -> None:
    """Bodies signed correctly (so verification passes and decoding and the mapping run),
    with odd headers mixed in."""
    headers: Any = extra
    if sign and isinstance(body, bytes | bytearray):
        signature = hmac.new(KEY.encode(), bytes(body), hashlib.sha256).hexdigest()
        good = [("x-skyvern-signature", signature), ("x-skyvern-timestamp", str(NOW))]
        if isinstance(extra, dict):
            headers = dict(good) | extra if pairs else {**extra, **dict(good)}
        elif isinstance(extra, list):
            headers = [*good, *extra] if pairs else [*extra, *good]
        else:
            headers = good
    try:
        run = webhooks.parse("skyvern", body, headers, secret=KEY, now=NOW)
    except RunnormError:
        return
    assert run.provider == "skyvern"


@pytest.mark.parametrize("depth", [500, 1000])
def test_a_deeply_nested_signed_body_is_a_payload_error(depth: int) -> None:
    # the secret is masked in the error's value: that walk must not recurse per level
    body = b"[" * depth + b"]" * depth
    signature = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Skyvern-Signature": signature, "X-Skyvern-Timestamp": str(NOW)}
    with pytest.raises(PayloadError, match="must be a JSON object"):
        webhooks.parse("skyvern", body, headers, secret=KEY, now=NOW)
