"""Every sample through to_dict -> JSON -> from_dict; the JSON Schema describes the output."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jsonschema
import orjson
import pytest
from support import load, sample_files, sample_id

import runnorm
from runnorm import PayloadError, Run, RunStatus, UnknownStatusWarning

SAMPLES = sample_files()


def quiet_normalize(path: Path) -> Run:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownStatusWarning)
        return runnorm.normalize(load(path))


@pytest.mark.parametrize("path", SAMPLES, ids=sample_id)
def test_sample_round_trips_through_json(path: Path) -> None:
    run = quiet_normalize(path)
    document = run.to_dict()
    assert document["schema_version"] == runnorm.SCHEMA_VERSION
    for text in (json.dumps(document), orjson.dumps(document)):
        restored = Run.from_dict(json.loads(text))
        assert restored == run
        assert restored.timing.queue_time == run.timing.queue_time


@pytest.mark.parametrize("path", SAMPLES, ids=sample_id)
def test_output_matches_the_json_schema(path: Path) -> None:
    document = json.loads(json.dumps(quiet_normalize(path).to_dict()))
    jsonschema.Draft202012Validator(runnorm.json_schema()).validate(document)


def test_schema_is_valid_and_lists_fields() -> None:
    schema = runnorm.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert list(schema["properties"])[:5] == [
        "schema_version",
        "provider",
        "id",
        "status",
        "native_status",
    ]
    assert schema["properties"]["status"]["enum"] == [s.value for s in RunStatus]
    timing = schema["$defs"]["Timing"]["properties"]
    assert {"queue_time", "run_time", "total_time", "updated_at"} <= set(timing)


def test_to_dict_shapes() -> None:
    run = runnorm.normalize(
        {
            "run_id": "tsk_1",
            "status": "completed",
            "created_at": "2026-01-20T11:52:29.276851",
            "finished_at": "2026-01-20T11:54:08.822807",
        }
    )
    document = run.to_dict()
    assert document["status"] == "succeeded"
    assert document["timing"]["created_at"] == "2026-01-20T11:52:29.276851+00:00"
    assert document["timing"]["total_time"] == pytest.approx(99.545956)
    assert document["raw"] is run.raw  # passed through, not walked


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"schema_version": 99},
        {"provider": "p"},
        {"provider": "p", "id": "1", "status": "nope", "native_status": "x"},
        {
            "provider": "p",
            "id": "1",
            "status": "queued",
            "native_status": "x",
            "timing": {"created_at": "not a time"},
        },
        {
            "provider": "p",
            "id": "1",
            "status": "queued",
            "native_status": "x",
            "error": {"details": "text"},
        },
    ],
)
def test_from_dict_rejects_bad_documents_with_payload_error(bad: object) -> None:
    with pytest.raises(PayloadError):
        Run.from_dict(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "extra",
    [
        {1: "an integer key", "b": 2},  # keys that are not strings
        {"big": 2**70},  # an integer past 64 bits: the careful path
    ],
)
def test_batch_encoder_handles_what_orjson_refuses(extra: dict[object, object]) -> None:
    from datetime import UTC, datetime

    from runnorm._model.encoding import encode_run

    run = Run(
        provider="p",
        id="1",
        status=RunStatus.SUCCEEDED,
        native_status="done",
        timing=runnorm.Timing(updated_at=datetime(2026, 1, 2, tzinfo=UTC)),
        extra=extra,  # type: ignore[arg-type]
        raw={"id": "1"},
    )
    expected = json.loads(json.dumps(run.to_dict(), default=str))
    for encoded in (encode_run(run), encode_run(run, b'{"id": "1"}', newline=True)):
        assert json.loads(encoded) == expected
    assert encode_run(run, newline=True).endswith(b"}\n")


@pytest.mark.parametrize("path", SAMPLES, ids=sample_id)
def test_batch_encoder_writes_exactly_to_dict(path: Path) -> None:
    from runnorm._model.encoding import encode_run

    run = quiet_normalize(path)
    expected = json.loads(json.dumps(run.to_dict()))
    assert json.loads(encode_run(run)) == expected
    spliced = encode_run(run, orjson.dumps(run.raw), newline=True)
    assert spliced.endswith(b"}\n")
    assert json.loads(spliced) == expected


@pytest.mark.parametrize("path", SAMPLES, ids=sample_id)
def test_artifact_documents_are_the_run_documents_artifacts(path: Path) -> None:
    from datetime import datetime

    from runnorm._model.encoding import artifact_document

    run = quiet_normalize(path)
    listed = [artifact_document(a, datetime.isoformat) for a in run.artifacts]
    assert listed == run.to_dict()["artifacts"]


def test_artifact_ids_and_expiry_round_trip_and_match_the_schema() -> None:
    from datetime import UTC, datetime

    from runnorm import Artifact, ArtifactKind

    run = Run(
        provider="skyvern",
        id="wr_1",
        status=RunStatus.SUCCEEDED,
        native_status="completed",
        artifacts=(
            Artifact(
                kind=ArtifactKind.RECORDING,
                url="https://x/r.webm?X-Amz-Date=20260120T000000Z&X-Amz-Expires=60",
                id="a_1",
                expires_at=datetime(2026, 1, 20, 0, 1, tzinfo=UTC),
            ),
        ),
        raw={"run_id": "wr_1"},
    )
    document = json.loads(json.dumps(run.to_dict()))
    (artifact,) = document["artifacts"]
    assert (artifact["id"], artifact["expires_at"]) == ("a_1", "2026-01-20T00:01:00+00:00")
    assert Run.from_dict(document) == run
    jsonschema.Draft202012Validator(runnorm.json_schema()).validate(document)
    assert document["schema_version"] == runnorm.SCHEMA_VERSION == 2


def test_dumps_encodes_what_loads_decodes_with_a_document_around_it() -> None:
    import sys

    from runnorm._json import dumps, loads

    limit = sys.getrecursionlimit()
    value = loads(b"[" * 1024 + b"]" * 1024)  # as deep as decoding allows
    text = dumps({"extra": {"raw": value}})
    assert text == b'{"extra":{"raw":' + b"[" * 1024 + b"]" * 1024 + b"}}"
    assert sys.getrecursionlimit() == limit
    deeper: list[object] = []
    for _ in range(5_000):
        deeper = [deeper]
    with pytest.raises(ValueError, match="nested too deep"):
        dumps(deeper)
    assert sys.getrecursionlimit() == limit


def test_a_deep_value_with_a_lone_surrogate_encodes_after_another_threads_deep_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While another thread encodes a deep value the recursion limit is raised: a first try
    that got through then (and failed on the surrogate) retries after the limit is back,
    and must take the room of its own, not report the value as nested too deep."""
    import sys

    import runnorm._json as json_module

    stdlib = json_module._stdlib
    calls: list[bool] = []

    def window(value: object, indent: bool, *, ascii_only: bool) -> str:
        calls.append(ascii_only)
        if len(calls) > 1:
            return stdlib(value, indent, ascii_only=ascii_only)
        limit = sys.getrecursionlimit()  # the other thread's room, for this try only
        sys.setrecursionlimit(limit + json_module._DEEP_ROOM)
        try:
            return stdlib(value, indent, ascii_only=ascii_only)
        finally:
            sys.setrecursionlimit(limit)

    monkeypatch.setattr(json_module, "_stdlib", window)
    value: list[object] = ["\ud800"]
    for _ in range(1_000):
        value = [value]
    text = json_module.dumps(value, indent=True)
    assert text.split().count(b'"\\ud800"') == 1 and text.count(b"[") == 1_001
    assert calls[:2] == [False, True]
