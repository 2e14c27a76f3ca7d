"""Redaction: sensitive keys at any depth, shared structure, provider patterns."""

from __future__ import annotations

from runnorm.redaction import REDACTED, Redactor


def test_default_keys_are_redacted_case_insensitively_at_any_depth() -> None:
    redactor = Redactor()
    document = {
        "a": [{"headers": {"Authorization": "Bearer x", "Accept": "json"}}],
        "X-API-Key": "k",
        "password": None,
    }
    redacted = redactor.redact(document)
    assert redacted == {
        "a": [{"headers": {"Authorization": REDACTED, "Accept": "json"}}],
        "X-API-Key": REDACTED,
        "password": None,
    }
    assert document["a"][0]["headers"]["Authorization"] == "Bearer x"  # input untouched


def test_provider_patterns_use_fnmatch() -> None:
    redactor = Redactor(["totp_*", "extra_http_headers"])
    redacted = redactor.redact(
        {"totp_identifier": "me@x", "totp_url": "u", "extra_http_headers": {"X": "y"}, "total": 3}
    )
    assert redacted == {
        "totp_identifier": REDACTED,
        "totp_url": REDACTED,
        "extra_http_headers": REDACTED,
        "total": 3,
    }
    assert not redactor.is_sensitive("max_tokens")


def test_documents_without_secrets_are_returned_as_is() -> None:
    redactor = Redactor(["totp_*"])
    document = {"raw": {"a": [1, {"b": 2}]}, "extra": {}, "result": None}
    assert redactor.redact_document(document) is document
