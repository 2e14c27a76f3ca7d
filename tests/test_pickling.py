"""Values users send across processes: every exception class, ``Run``, ``RecordError`` and
``RunEvent`` round-trip through pickle (and ``copy``) with their attributes and message."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime

import pytest

import runnorm
from runnorm import (
    APIError,
    Artifact,
    ArtifactError,
    ArtifactKind,
    AuthError,
    ConfigError,
    DetectionError,
    DumpError,
    ListLimitError,
    NotFoundError,
    PayloadError,
    PluginLoadError,
    RateLimitError,
    RecordError,
    RunEvent,
    RunnormError,
    ServerError,
    SignatureError,
    ToolError,
    ToolNotFoundError,
    TransportError,
    UnknownProviderError,
    UnsupportedError,
    WaitTimeout,
)

RUN = runnorm.normalize(
    {"run_id": "tsk_1", "status": "failed", "created_at": "2026-01-20T11:52:29.276851"}
)
RECORD = RecordError(source="d.jsonl", line=2, index=None, provider=None, reason="bad", text="x")
T0 = datetime(2026, 1, 1, tzinfo=UTC)

SAMPLES: list[BaseException] = [
    RunnormError("plain"),
    UnknownProviderError("skyvrn", ["skyvern", "browserbase"]),
    ConfigError("bad option"),
    PluginLoadError("plugin broke"),
    PayloadError("not a date", provider="skyvern", path="created_at", value="x"),
    DetectionError("no detector matched", candidates=["a", "b"], value={"k": 1}),
    DumpError("d.jsonl:2: bad", RECORD),
    UnsupportedError("no webhooks"),
    ArtifactError("size differs", check="size", artifact=Artifact(ArtifactKind.LOG), path="/p"),
    SignatureError("stale"),
    WaitTimeout("deadline", last_run=RUN, last_runs={"tsk_1": RUN, "tsk_2": None}),
    ListLimitError("cut", provider="skyvern", listed=3, complete_after=T0),
    TransportError("refused", provider="skyvern", kind="connect"),
    APIError("teapot", provider="skyvern", status_code=418, body={"e": 1}),
    AuthError("no key", provider="skyvern", status_code=401, body="b"),
    NotFoundError("gone", provider="skyvern", status_code=404),
    RateLimitError("slow down", provider="skyvern", status_code=429),
    ServerError("down", provider="skyvern", status_code=503),
    ToolError("tool said no", provider="bridgetown", error="nope", hint="try", body={}),
    ToolNotFoundError("no run", provider="bridgetown", error="not found", hint="h", body={}),
]


def _exception_classes() -> set[type[BaseException]]:
    values = (getattr(runnorm, name) for name in runnorm.__all__)
    return {v for v in values if isinstance(v, type) and issubclass(v, RunnormError)}


def test_every_exception_class_has_a_sample() -> None:
    assert {type(e) for e in SAMPLES} == _exception_classes()


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_exceptions_round_trip_with_their_attributes(error: BaseException) -> None:
    for twin in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert type(twin) is type(error)
        assert str(twin) == str(error)
        assert twin.args == error.args
        assert vars(twin) == vars(error)


def test_a_subclass_with_its_own_init_round_trips() -> None:
    restored = pickle.loads(pickle.dumps(_PluginError("zzz", code=7)))
    assert type(restored) is _PluginError
    assert (str(restored), restored.code) == ("zzz (7)", 7)


class _PluginError(RunnormError):
    def __init__(self, what: str, *, code: int) -> None:
        self.code = code
        super().__init__(f"{what} ({code})")


def test_values_round_trip() -> None:
    event = RunEvent(RUN, None, T0, "poll", error=UnknownProviderError("x", ["skyvern"]))
    assert pickle.loads(pickle.dumps(RUN)) == RUN
    assert pickle.loads(pickle.dumps(RECORD)) == RECORD
    restored = pickle.loads(pickle.dumps(event))
    assert (restored.run, restored.at, restored.source) == (RUN, T0, "poll")
    assert isinstance(restored.error, UnknownProviderError)
    assert restored.error.installed == ["skyvern"]
