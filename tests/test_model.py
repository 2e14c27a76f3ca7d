"""The model: statuses, terminal states, durations, frozen values, hashing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from runnorm import Artifact, ArtifactKind, Run, RunError, RunStatus, Timing

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_status_values_are_the_lowercase_words() -> None:
    assert [s.value for s in RunStatus] == [
        "queued",
        "running",
        "paused",
        "succeeded",
        "failed",
        "canceled",
        "timed_out",
        "unknown",
    ]
    assert RunStatus.SUCCEEDED == "succeeded"
    assert RunStatus("timed_out") is RunStatus.TIMED_OUT
    assert str(RunStatus.FAILED) == "failed"
    assert isinstance(RunStatus.QUEUED, str)


def test_terminal_statuses() -> None:
    terminal = {s for s in RunStatus if s.is_terminal}
    assert terminal == {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.CANCELED,
        RunStatus.TIMED_OUT,
    }
    assert not RunStatus.PAUSED.is_terminal and not RunStatus.UNKNOWN.is_terminal


def test_run_properties() -> None:
    run = Run(provider="p", id="1", status=RunStatus.SUCCEEDED, native_status="ok")
    assert run.ok and run.is_terminal
    failed = attrs.evolve(run, status=RunStatus.FAILED)
    assert failed.is_terminal and not failed.ok
    paused = attrs.evolve(run, status=RunStatus.PAUSED)
    assert not paused.is_terminal and not paused.ok


def test_durations() -> None:
    timing = Timing(
        created_at=T0,
        queued_at=T0 + timedelta(seconds=1),
        started_at=T0 + timedelta(seconds=3),
        finished_at=T0 + timedelta(seconds=10),
    )
    assert timing.queue_time == timedelta(seconds=2)
    assert timing.run_time == timedelta(seconds=7)
    assert timing.total_time == timedelta(seconds=10)


def test_queue_time_falls_back_to_created_and_missing_terms_give_none() -> None:
    assert Timing(created_at=T0, started_at=T0 + timedelta(seconds=5)).queue_time == timedelta(
        seconds=5
    )
    empty = Timing()
    assert (empty.queue_time, empty.run_time, empty.total_time) == (None, None, None)
    assert Timing(started_at=T0).run_time is None


def test_values_are_frozen() -> None:
    run = Run(provider="p", id="1", status=RunStatus.QUEUED, native_status="q")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        run.id = "2"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Artifact(kind=ArtifactKind.LOG).url = "x"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        RunError(code="x").code = "y"  # type: ignore[misc]


def test_equal_runs_hash_alike_even_with_dict_fields() -> None:
    a = Run(provider="p", id="1", status=RunStatus.QUEUED, native_status="q", raw={"a": [1]})
    b = Run(provider="p", id="1", status=RunStatus.QUEUED, native_status="q", raw={"a": [1]})
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1


def test_repr_leaves_out_raw() -> None:
    run = Run(
        provider="p", id="1", status=RunStatus.QUEUED, native_status="q", raw={"secret": "s3cr3t"}
    )
    assert "s3cr3t" not in repr(run)


def test_artifact_kinds() -> None:
    assert [k.value for k in ArtifactKind] == [
        "recording",
        "screenshot",
        "download",
        "log",
        "stdout",
        "stderr",
        "output",
        "other",
    ]


def test_the_model_classes_keep_attrs_signature_with_a_cheaper_init() -> None:
    """``slot_init`` gives the frozen classes an ``__init__`` that sets each slot through its
    descriptor: same parameters, defaults and keyword-only fields as attrs' own, still frozen."""
    import inspect

    from runnorm import Artifact, Attempt, RunError, Timing
    from runnorm._model.construction import slot_init

    for cls in (Run, Timing, Artifact, RunError, Attempt):
        params = list(inspect.signature(cls).parameters.values())
        fields = attrs.fields(cls)
        assert [p.name for p in params] == [f.name for f in fields]
        for param, field in zip(params, fields, strict=True):
            default = inspect.Parameter.empty if field.default is attrs.NOTHING else field.default
            assert param.default is default
            keyword = inspect.Parameter.KEYWORD_ONLY
            assert (param.kind is keyword) is field.kw_only
    run = Run("p", "1", RunStatus.RUNNING, "running", attempt=2)
    assert (run.attempt, run.retry_pending, run.extra) == (2, False, {})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        run.id = "2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Run("p", "1", RunStatus.RUNNING, "running", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)

    @attrs.frozen(slots=True)
    class Checked:
        value: int = attrs.field(validator=attrs.validators.instance_of(int))

    with pytest.raises(TypeError, match="needs attrs' own __init__"):
        slot_init(Checked)
