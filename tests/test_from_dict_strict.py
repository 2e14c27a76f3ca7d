"""``Run.from_dict`` reads a document as written or refuses it: a value of the wrong type
is a ``PayloadError`` naming its path, never coerced (``None`` read as the id ``"None"``,
``1.5`` steps as 1, a string as a ``Timing`` of defaults)."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runnorm import Artifact, ArtifactKind, Attempt, PayloadError, Run, RunError, RunStatus, Timing
from runnorm._model.timestamps import UTC

STAMP = "2026-01-20T11:52:29.276851+00:00"
RUN = Run(
    provider="acme",
    id="acme_1",
    status=RunStatus.FAILED,
    native_status="FAILED",
    kind="acme_run",
    result={"a": [1, 2.5, None]},
    error=RunError(code="E", message="m", details=({"k": "v"},)),
    timing=Timing(created_at=datetime.fromisoformat(STAMP)),
    artifacts=(Artifact(kind=ArtifactKind.LOG, url="https://x.example/l", size=12),),
    step_count=3,
    extra={"region": "eu"},
    raw={"acmeId": "acme_1"},
    attempt=2,
    attempts=(Attempt(number=1, status=RunStatus.FAILED, native_status="FAILED"),),
)
DOCUMENT = RUN.to_dict()


def with_value(path: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    *parents, last = path.split(".")
    target: Any = document
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return document


def test_the_document_round_trips() -> None:
    assert Run.from_dict(json.loads(json.dumps(DOCUMENT))) == RUN
    assert RUN.timing.created_at is not None and RUN.timing.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("id", None),
        ("id", 5),
        ("id", {"a": 1}),
        ("provider", None),
        ("provider", ["acme"]),
        ("native_status", None),
        ("kind", 5),
        ("kind", True),
        ("web_url", 5),
        ("task", ["do it"]),
        ("step_count", "12"),
        ("step_count", 1.5),
        ("step_count", True),
        ("attempt", "2"),
        ("timing", "x"),
        ("timing", []),
        ("error", "x"),
        ("error", []),
        ("error.code", 5),
        ("artifacts", {"kind": "log"}),
        ("artifacts.0", "log"),
        ("artifacts.0.size", "12"),
        ("artifacts.0.size", True),
        ("artifacts.0.url", 5),
        ("attempts.0", "x"),
        ("attempts.0.number", True),
        ("attempts.0.number", "1"),
        ("attempts.0.native_status", None),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_its_path(path: str, value: Any) -> None:
    with pytest.raises(PayloadError) as caught:
        Run.from_dict(with_value(path, value))
    shown = "$." + path.replace(".0", "[0]")
    assert shown in str(caught.value), str(caught.value)


def test_a_whole_float_is_a_whole_number_as_json_writers_vary() -> None:
    assert Run.from_dict(with_value("step_count", 3.0)).step_count == 3


def test_a_version_1_document_reads_with_the_defaults() -> None:
    document = copy.deepcopy(DOCUMENT)
    for key in ("attempt", "retry_pending", "attempts"):
        del document[key]
    del document["timing"]["next_attempt_at"]
    for artifact in document["artifacts"]:
        del artifact["id"], artifact["expires_at"]
    run = Run.from_dict({**document, "schema_version": 1})
    assert run == attrs.evolve(RUN, attempt=None, attempts=())


TYPED = {
    "provider": str,
    "id": str,
    "native_status": str,
    "status": RunStatus,
    "timing": Timing,
    "artifacts": tuple,
    "attempts": tuple,
    "retry_pending": bool,
}
leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    path=st.sampled_from(
        [
            "id",
            "provider",
            "native_status",
            "kind",
            "step_count",
            "attempt",
            "timing",
            "timing.created_at",
            "error",
            "error.message",
            "error.details",
            "artifacts",
            "artifacts.0",
            "artifacts.0.kind",
            "artifacts.0.size",
            "attempts.0.number",
            "attempts.0.status",
            "extra",
            "result",
        ]
    ),
    value=values,
)
def test_any_document_gives_a_typed_run_or_a_payload_error(path: str, value: Any) -> None:
    try:
        run = Run.from_dict(with_value(path, value))
    except PayloadError:
        return
    for field, kind in TYPED.items():
        assert isinstance(getattr(run, field), kind), (field, getattr(run, field))
    for field in ("kind", "web_url", "session_id", "task"):
        assert getattr(run, field) is None or type(getattr(run, field)) is str
    for field in ("step_count", "attempt"):
        assert getattr(run, field) is None or type(getattr(run, field)) is int
    assert run.error is None or isinstance(run.error, RunError)
    assert all(type(a.size) in (int, type(None)) for a in run.artifacts)
    assert all(type(a.number) is int for a in run.attempts)
