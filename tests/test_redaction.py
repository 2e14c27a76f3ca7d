"""Redaction: provider-declared keys at any depth, shared structure, the byte pre-scan."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

import attrs
import pytest

from runnorm._model.redaction import HEADER_CREDENTIALS, REDACTED, Redactor


def test_declared_keys_are_redacted_at_any_depth() -> None:
    redactor = Redactor(HEADER_CREDENTIALS)
    document = {
        "a": [{"headers": {"Authorization": "Bearer x", "Accept": "json"}}],
        "x-api-key": "k",
        "Cookie": None,
    }
    redacted = redactor.redact(document)
    assert redacted == {
        "a": [{"headers": {"Authorization": REDACTED, "Accept": "json"}}],
        "x-api-key": REDACTED,
        "Cookie": None,
    }
    assert document["a"][0]["headers"]["Authorization"] == "Bearer x"  # input untouched


def test_provider_patterns_use_fnmatch_with_case() -> None:
    redactor = Redactor(["totp_*", "extra_http_headers"])
    redacted = redactor.redact(
        {
            "totp_identifier": "me@x",
            "totp_url": "u",
            "extra_http_headers": {"X": "y"},
            "total": 3,
            "TOTP_URL": "kept",
        }
    )
    assert redacted == {
        "totp_identifier": REDACTED,
        "totp_url": REDACTED,
        "extra_http_headers": REDACTED,
        "total": 3,
        "TOTP_URL": "kept",
    }
    assert not redactor.is_sensitive("max_tokens")


def test_documents_without_secrets_are_returned_as_is() -> None:
    redactor = Redactor(["totp_*"])
    document = {"raw": {"a": [1, {"b": 2}]}, "extra": {}, "result": None}
    assert redactor.redact_document(document) is document
    assert Redactor().redact_document(document) is document


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"a": 1}, False),
        ({"totp_url": None}, False),  # a null holds no secret
        ({"totp_url": ""}, False),  # nor does an empty value
        ({"run_request": {"extra_http_headers": {}}}, False),
        ({"extra_http_headers": []}, False),
        ({"extra_http_headers": [{}]}, True),
        ({"totp_url": "null"}, True),
        ({"totp_url": None, "totp_identifier": "me"}, True),  # the second hit counts
        ({"totp_url": "https://x"}, True),
        ({"run_request": {"extra_http_headers": {"A": "b"}}}, True),
        ({"note": '"extra_http_headers": "inside a string"'}, False),
        ({"x": "totp_"}, False),
        ({"Ångström": 1}, False),  # \u00c5 cannot spell a character of a key stem
    ],
)
def test_byte_scan_agrees_with_the_walk(payload: dict[str, object], expected: bool) -> None:
    redactor = Redactor(["totp_*", "extra_http_headers"])
    text = json.dumps(payload).encode()
    assert redactor.may_hold_secrets(text) is expected
    if not expected:
        assert redactor.redact(payload) is payload  # nothing the walk would change
    assert (
        redactor.may_hold_secrets(json.dumps(payload, separators=(",", ":")).encode()) is expected
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"totp_url" :  null}', False),
        (b'{"totp_url" :  1}', True),
        (b'{"extra_http_headers" : {  }}', False),
        (b'{"extra_http_headers" : { "A":"b" }}', True),
        (b'{"totp_x":\n[ ]}', False),
        (b'{"totp_x":\n[ 0]}', True),
    ],
)
def test_byte_scan_reads_through_blanks(text: bytes, expected: bool) -> None:
    redactor = Redactor(["totp_*", "extra_http_headers"])
    assert redactor.may_hold_secrets(text) is expected
    assert (redactor.redact(json.loads(text)) != json.loads(text)) is expected


def test_empty_values_are_kept_as_they_are() -> None:
    redactor = Redactor(["extra_http_headers", "totp_*"])
    document = {"extra_http_headers": {}, "totp_url": "", "totp_x": [], "totp_y": 0}
    assert redactor.redact(document) == {**document, "totp_y": REDACTED}


def test_no_patterns_means_nothing_to_scan() -> None:
    assert Redactor().may_hold_secrets(b'{"authorization": "x"}') is False


def test_redact_run_replaces_secrets_in_raw_extra_and_result() -> None:
    from runnorm import Run, RunStatus

    redactor = Redactor(["totp_*"])
    run = Run(
        provider="p",
        id="1",
        status=RunStatus.RUNNING,
        native_status="running",
        result={"totp_code": "123"},
        extra={"totp_url": "u", "kept": 1},
        raw={"totp_url": "u", "id": "1"},
    )
    redacted = redactor.redact_run(run)
    assert redacted.raw == {"totp_url": REDACTED, "id": "1"}
    assert redacted.extra == {"totp_url": REDACTED, "kept": 1}
    assert redacted.result == {"totp_code": REDACTED}
    assert run.raw["totp_url"] == "u"  # the original is untouched
    clean = attrs.evolve(run, result=None, extra={}, raw={"id": "1"})
    assert redactor.redact_run(clean) is clean
    assert Redactor().redact_run(run) is run


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (rb'{"tot\u0070_url": "x"}', True),  # an escaped 'p' hides the key from the literal
        (rb'{"TOT\u0050_URL": "x"}', False),  # P is in no stem (matching keeps case)
        (rb'{"extra_http_header\u0073": {"A": "b"}}', True),
        (rb'{"note": "caf\u00e9", "smart": "\u2019"}', False),  # cannot spell a stem
        (rb'{"note": "a\/b", "q": "\"x\""}', False),  # stems hold no / nor "
    ],
)
def test_byte_scan_sees_escapes_that_could_spell_a_key(text: bytes, expected: bool) -> None:
    redactor = Redactor(["totp_*", "extra_http_headers"])
    assert redactor.may_hold_secrets(text) is expected
    if not expected:
        payload = json.loads(text)
        assert redactor.redact(payload) is payload


def test_a_pattern_without_a_stem_treats_every_unicode_escape_as_possible() -> None:
    redactor = Redactor(["*token*"])
    assert redactor.may_hold_secrets(rb'{"n": null, "m": "caf\u00e9"}')


def test_the_walk_keeps_its_own_stack_and_shares_what_it_does_not_change() -> None:
    redactor = Redactor(["totp_*"])
    deep: dict[str, object] = {"totp_x": "s"}
    for _ in range(5_000):  # far past the recursion limit
        deep = {"a": deep, "b": [1, "x", None]}
    redacted = redactor.redact(deep)
    node: object = redacted
    for _ in range(5_000):
        assert isinstance(node, dict) and node["b"] == [1, "x", None]
        node = node["a"]
    assert node == {"totp_x": REDACTED}
    clean = {"a": {"b": [{"c": 1}]}, "totp_y": None}
    assert redactor.redact(clean) is clean


def test_a_value_that_holds_itself_ends_and_its_copy_holds_the_copy() -> None:
    """The loop back to a container being walked points to that container's redacted copy:
    the original behind it still holds the secret (a trace line's repr showed it)."""
    redactor = Redactor(["secret"])
    looped: list[object] = [{"secret": "s"}]
    looped.append(looped)
    redacted = redactor.redact(looped)
    assert redacted[0] == {"secret": REDACTED} and redacted[1] is redacted
    assert looped[0] == {"secret": "s"} and looped[1] is looped  # the input is not touched
    inner: dict[str, object] = {"secret": "s"}
    inner["again"] = {"up": [inner]}
    redacted = redactor.redact({"a": inner, "b": inner})
    assert redacted["a"] is redacted["b"] is redacted["a"]["again"]["up"][0]
    assert "'s'" not in repr(redacted) and "[REDACTED]" in repr(redacted)
    clean: list[object] = [{"x": 1}]
    clean.append(clean)
    copy = redactor.redact(clean)  # a loop is copied, secret or not; what it holds is shared
    assert copy[1] is copy and copy[0] is clean[0] and clean[1] is clean


def test_a_mapping_that_builds_its_values_on_access_is_redacted_value_by_value() -> None:
    """Each part walked is kept until the walk ends: a value built on access (and dropped
    once redacted) must not leave its id to the next one, which would get its result."""

    class Built(Mapping[int, object]):
        def __init__(self, n: int) -> None:
            self.n = n

        def __getitem__(self, key: int) -> object:
            if not 0 <= key < self.n:
                raise KeyError(key)
            return {"secret": "s", "i": key} if key % 2 == 0 else {"plain": key}

        def __iter__(self) -> Iterator[int]:
            return iter(range(self.n))

        def __len__(self) -> int:
            return self.n

    redactor = Redactor(["secret"])
    value = [Built(3) for _ in range(50)]
    expected = {0: {"secret": REDACTED, "i": 0}, 1: {"plain": 1}, 2: {"secret": REDACTED, "i": 2}}
    assert redactor.redact(value) == [expected] * 50
    memo: dict[int, object] = {}
    assert [redactor.redact(item, memo) for item in value] == [expected] * 50


def test_objects_and_arrays_without_containers_are_copied_only_when_they_hold_a_secret() -> None:
    from types import MappingProxyType

    redactor = Redactor(["totp_*"])
    clean, shots = {"url": "u", "size": 3}, ["a", "b"]
    secret = MappingProxyType({"totp_code": "123", "n": None, "totp_url": ""})
    value = {"items": [clean, secret, shots], "also": clean}
    redacted = redactor.redact(value)
    assert redacted["items"][0] is clean and redacted["also"] is clean
    assert redacted["items"][2] is shots
    assert redacted["items"][1] == {"totp_code": REDACTED, "n": None, "totp_url": ""}
    assert type(redacted["items"][1]) is dict and secret["totp_code"] == "123"


@pytest.mark.parametrize("depth", [1, 63, 64, 65, 130])
def test_the_walk_by_recursion_hands_over_to_the_stack_without_a_seam(depth: int) -> None:
    """Shallow values are walked by recursion, deeper ones (and loops, and mappings of other
    types) by the stack, which takes over what recursion finished: the results are the same
    on both sides of the handover, shared parts shared once."""
    from types import MappingProxyType

    redactor = Redactor(["totp_*"])
    shared = {"totp_code": "1", "keep": [1]}
    clean = {"plain": ["a"]}
    value: object = {"totp_seed": "s", "also": shared, "clean": clean}
    for level in range(depth):
        value = {"down": [value], "shared": shared, "n": level, "clean": clean}
    redacted = redactor.redact(value)
    node: object = redacted
    for _ in range(depth):
        assert isinstance(node, dict) and node["shared"] == {"totp_code": REDACTED, "keep": [1]}
        assert node["clean"] is clean
        node = node["down"][0]
    assert node == {
        "totp_seed": REDACTED,
        "also": {"totp_code": REDACTED, "keep": [1]},
        "clean": clean,
    }
    copies = {id(part["shared"]) for part in _levels(redacted, depth)}
    assert len(copies) == 1 and shared["totp_code"] == "1"  # one copy, the input untouched
    other = redactor.redact({"a": [MappingProxyType({"totp_k": "v"})], "b": clean})
    assert other == {"a": [{"totp_k": REDACTED}], "b": clean} and other["b"] is clean


def _levels(value: object, depth: int) -> Iterator[dict[str, object]]:
    for _ in range(depth):
        assert isinstance(value, dict)
        yield value
        value = value["down"][0]  # type: ignore[index]
