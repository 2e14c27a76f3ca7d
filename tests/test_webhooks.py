"""Webhooks: Skyvern signatures over the raw bytes, both payload shapes, receivers that run."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import sys
from typing import Any

import pytest
from support import ROOT, load

import runnorm
from runnorm import (
    ArtifactKind,
    PayloadError,
    RunStatus,
    SignatureError,
    UnsupportedError,
    webhooks,
)

KEY = "sk-live-webhook-0123456789"
NOW = 1_772_000_000.0
SAMPLES = ROOT / "plugins/runnorm_skyvern/samples"


def skyvern_body(payload: dict[str, Any]) -> bytes:
    """Serialize as Skyvern does: compact, non-ASCII kept, whole-number floats as ints."""

    def whole(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: whole(v) for k, v in value.items()}
        if isinstance(value, list):
            return [whole(v) for v in value]
        return value

    return json.dumps(whole(payload), separators=(",", ":"), ensure_ascii=False).encode()


def signed(body: bytes, key: str = KEY, stamp: float = NOW) -> dict[str, str]:
    signature = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return {"x-skyvern-signature": signature, "x-skyvern-timestamp": str(int(stamp))}


def task_body() -> bytes:
    payload = load(SAMPLES / "webhook-task-v2-completed.json")
    payload["summary"] = "Récupéré le titre — ok ✓"  # non-ASCII, sent as UTF-8
    payload["credits_used"] = 9.0  # Skyvern writes 9
    return skyvern_body(payload)


def test_a_signed_skyvern_webhook_verifies_and_normalizes() -> None:
    body = task_body()
    assert b'"credits_used":9' in body and "✓".encode() in body
    run = webhooks.parse("skyvern", body, signed(body), secret=KEY, now=NOW)
    assert run.provider == "skyvern" and run.status is RunStatus.SUCCEEDED
    assert run.extra["summary"].endswith("✓")
    assert webhooks.dedupe_key(run) == f"skyvern:{run.id}:completed"


def _delivery(name: str, **changes: Any) -> runnorm.Run:
    body = skyvern_body({**load(SAMPLES / f"{name}.json"), **changes})
    return webhooks.parse("skyvern", body, signed(body), secret=KEY, now=NOW)


def test_two_attempts_failed_deliveries_are_two_keys_a_repeat_is_one() -> None:
    interim = _delivery("webhook-workflow-run-failed-retry-pending")
    final = _delivery("webhook-workflow-run-failed-final-attempt")
    assert interim.native_status == final.native_status == "failed"
    assert not interim.is_terminal and final.is_terminal
    assert webhooks.dedupe_key(interim) == f"skyvern:{interim.id}:1:failed"
    assert webhooks.dedupe_key(final) == f"skyvern:{final.id}:2:failed"
    repeat = _delivery("webhook-workflow-run-failed-retry-pending")  # Skyvern retried delivery
    keys = {webhooks.dedupe_key(run) for run in (interim, final, repeat)}
    assert len(keys) == 2


def test_dedupe_key_without_an_attempt_is_unchanged() -> None:
    run = _delivery("webhook-task-v1-failed")
    assert run.attempt is None
    assert webhooks.dedupe_key(run) == f"skyvern:{run.id}:failed"


def test_a_changed_byte_is_rejected() -> None:
    body = task_body()
    headers = signed(body)
    tampered = body.replace(b'"completed"', b'"completes"', 1)
    with pytest.raises(SignatureError, match="does not match"):
        webhooks.parse("skyvern", tampered, headers, secret=KEY, now=NOW)


def test_re_serialized_json_does_not_verify() -> None:
    body = task_body()
    reencoded = json.dumps(json.loads(body)).encode()  # what a careless receiver would check
    with pytest.raises(SignatureError):
        webhooks.parse("skyvern", reencoded, signed(body), secret=KEY, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, 10_000])
def test_a_stale_or_future_timestamp_is_rejected(skew: int) -> None:
    body = task_body()
    with pytest.raises(SignatureError, match="tolerance"):
        webhooks.parse("skyvern", body, signed(body, stamp=NOW + skew), secret=KEY, now=NOW)
    # A wider window accepts it.
    webhooks.parse(
        "skyvern",
        body,
        signed(body, stamp=NOW + skew),
        secret=KEY,
        now=NOW,
        tolerance=abs(skew) + 1,
    )


def test_a_wrong_key_is_rejected_without_revealing_either() -> None:
    body = task_body()
    with pytest.raises(SignatureError) as info:
        webhooks.parse("skyvern", body, signed(body, key="sk-other"), secret=KEY, now=NOW)
    assert KEY not in str(info.value)
    assert signed(body)["x-skyvern-signature"] not in str(info.value)


@pytest.mark.parametrize("missing", ["x-skyvern-signature", "x-skyvern-timestamp"])
def test_missing_headers_are_rejected(missing: str) -> None:
    body = task_body()
    headers = signed(body)
    del headers[missing]
    with pytest.raises(SignatureError, match=missing):
        webhooks.parse("skyvern", body, headers, secret=KEY, now=NOW)


def test_malformed_timestamp() -> None:
    body = task_body()
    headers = {**signed(body), "x-skyvern-timestamp": "yesterday"}
    with pytest.raises(SignatureError, match="malformed"):
        webhooks.parse("skyvern", body, headers, secret=KEY, now=NOW)


def test_header_names_are_case_insensitive_and_pairs_work() -> None:
    body = task_body()
    pairs = [(name.title(), value) for name, value in signed(body).items()]
    assert webhooks.parse("skyvern", body, pairs, secret=KEY, now=NOW).ok
    raw_pairs = [(n.upper().encode(), v.encode()) for n, v in signed(body).items()]
    assert webhooks.parse("skyvern", body, raw_pairs, secret=KEY, now=NOW).ok


def test_without_a_secret_it_parses_and_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYVERN_API_KEY", "sk-not-read")  # never read from the environment
    body = task_body()
    with pytest.warns(webhooks.UnverifiedWebhookWarning, match="without verifying"):
        run = webhooks.parse("skyvern", body, {})
    assert run.ok


def test_workflow_webhook_maps_outputs_recordings_and_failure_fields() -> None:
    payload = load(SAMPLES / "webhook-workflow-run-completed.json")
    body = skyvern_body(payload)
    run = webhooks.parse("skyvern", body, signed(body), secret=KEY, now=NOW)
    assert run.id == payload["workflow_run_id"]
    assert run.extra["outputs"] == payload["outputs"]
    assert [a.url for a in run.artifacts if a.kind is ArtifactKind.RECORDING]
    assert run.extra["webhook_failure_reason"] is None
    failed = load(SAMPLES / "webhook-task-v1-failed.json")
    body = skyvern_body(failed)
    run = webhooks.parse("skyvern", body, signed(body), secret=KEY, now=NOW)
    assert run.error is not None
    assert run.error.details[-len(failed["failure_category"]) :] == tuple(
        failed["failure_category"]
    )


def test_providers_without_webhooks_are_unsupported() -> None:
    with pytest.raises(UnsupportedError, match="browserbase"):
        webhooks.parse("browserbase", b"{}", {}, secret="x")


def test_bad_bodies() -> None:
    with pytest.raises(runnorm.ConfigError, match="raw bytes"):
        webhooks.parse("skyvern", "{}", {}, secret=KEY)  # type: ignore[arg-type]
    body = b"not json"
    with pytest.raises(PayloadError, match="not JSON"):
        webhooks.parse("skyvern", body, signed(body), secret=KEY, now=NOW)
    body = b"[1]"
    with pytest.raises(PayloadError, match="JSON object"):
        webhooks.parse("skyvern", body, signed(body), secret=KEY, now=NOW)


# -- the example receivers in the docs run here --------------------------------------------------


def _load_example(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SKYVERN_API_KEY", KEY)
    path = ROOT / "docs" / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"runnorm_docs_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def _now_signed(body: bytes) -> dict[str, str]:
    import time

    return signed(body, stamp=time.time())


def test_starlette_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.testclient import TestClient

    example = _load_example("webhook_starlette", monkeypatch)
    client = TestClient(example.app)
    body = task_body()
    first = client.post("/webhooks/skyvern", content=body, headers=_now_signed(body))
    assert first.status_code == 200 and first.json()["state"] == "succeeded"
    again = client.post("/webhooks/skyvern", content=body, headers=_now_signed(body))
    assert again.json() == {"status": "duplicate"}
    forged = client.post("/webhooks/skyvern", content=body + b" ", headers=_now_signed(body))
    assert forged.status_code == 401
    assert len(example.RECEIVED) == 1


def test_flask_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    example = _load_example("webhook_flask", monkeypatch)
    client = example.app.test_client()
    body = task_body()
    first = client.post("/webhooks/skyvern", data=body, headers=_now_signed(body))
    assert first.status_code == 200 and first.get_json()["run"] == json.loads(body)["run_id"]
    assert client.post("/webhooks/skyvern", data=body, headers=_now_signed(body)).get_json() == {
        "status": "duplicate"
    }
    stale = client.post("/webhooks/skyvern", data=body, headers=signed(body, stamp=NOW - 10**6))
    assert stale.status_code == 401
    garbage = b"{not json"
    assert (
        client.post("/webhooks/skyvern", data=garbage, headers=_now_signed(garbage)).status_code
        == 400
    )


def _leaky_deliveries() -> dict[str, tuple[bytes, dict[str, str]]]:
    """Deliveries whose rejection would echo the secret: in a header, or in the body."""
    good = task_body()
    not_json = b'{"run_id":"tsk_1","api_key":"' + KEY.encode() + b'"'
    mistyped = skyvern_body({"run_id": "tsk_1", "status": {"key": KEY}})
    return {
        "the secret as the timestamp": (good, {**signed(good), "x-skyvern-timestamp": KEY}),
        "the secret in a body that is not JSON": (not_json, signed(not_json)),
        "the secret as a mistyped status": (mistyped, signed(mistyped)),
    }


@pytest.mark.parametrize("secret", [KEY, KEY.encode()], ids=["str", "bytes"])
@pytest.mark.parametrize("case", sorted(_leaky_deliveries()))
def test_a_rejected_delivery_never_shows_the_secret(case: str, secret: str | bytes) -> None:
    body, headers = _leaky_deliveries()[case]
    with pytest.raises(runnorm.RunnormError) as info:
        webhooks.parse("skyvern", body, headers, secret=secret, now=NOW)
    error = info.value
    shown = [str(error), repr(error), repr(getattr(error, "value", None))]
    shown += [str(error.__cause__), str(error.__context__)]
    assert all(KEY not in text and KEY[:12] not in text for text in shown), shown
