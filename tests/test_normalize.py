"""normalize(): detection by shape, explicit providers, and clear errors for bad payloads."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from support import MakeDist, acme_source, load, sample_files, sample_id

import runnorm
from runnorm import DetectionError, PayloadError, RunStatus, UnknownStatusWarning


def test_the_issue_example_detects_skyvern() -> None:
    run = runnorm.normalize(
        {
            "run_id": "tsk_1",
            "status": "completed",
            "created_at": "2026-01-20T11:52:29.276851",
            "modified_at": "2026-01-20T11:54:08.822807",
        }
    )
    assert run.provider == "skyvern"
    assert run.status.value == "succeeded"


@pytest.mark.parametrize("path", sample_files(), ids=sample_id)
def test_every_sample_is_detected_as_its_own_provider(path: Path) -> None:
    expected = path.parent.parent.name.removeprefix("runnorm_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownStatusWarning)
        assert runnorm.normalize(load(path)).provider == expected


def test_status_words_never_vote() -> None:
    # "COMPLETED" is Browserbase's word, but the snake_case tsk_ id says Skyvern.
    with pytest.warns(UnknownStatusWarning):
        run = runnorm.normalize({"run_id": "tsk_9", "status": "COMPLETED"})
    assert (run.provider, run.status) == ("skyvern", RunStatus.UNKNOWN)


def test_camel_and_snake_ids_together_go_to_the_snake_case_provider() -> None:
    payload = {"run_id": "tsk_1", "status": "completed", "runId": "abc"}
    # Browserbase steps aside when run_id is present, so this one is Skyvern's.
    assert runnorm.normalize(payload).provider == "skyvern"


def test_ambiguous_payload_names_the_candidates(make_dist: MakeDist) -> None:
    source = acme_source("mirror").replace(
        'value = payload.get("acme_id")', 'value = "acme-" + str(payload.get("run_id"))'
    )
    make_dist("runnorm-mirror", "runnorm_mirror_test", source, {"mirror": "runnorm_mirror_test"})
    with pytest.raises(DetectionError) as info:
        runnorm.normalize({"run_id": "tsk_1", "status": "completed"})
    assert info.value.candidates == ("mirror", "skyvern")
    assert "several providers (mirror, skyvern" in str(info.value)
    assert runnorm.normalize({"run_id": "tsk_1", "status": "completed"}, "skyvern").ok


def test_unrecognized_payload_raises_detection_error() -> None:
    with pytest.raises(DetectionError) as info:
        runnorm.normalize({"id": 1, "state": "done"})
    message = str(info.value)
    assert "no installed provider recognizes" in message
    assert "id, state" in message and "provider=" in message


@pytest.mark.parametrize("bad", [[], "run", b"{}", 3, None, [{"run_id": "tsk_1"}]])
@pytest.mark.parametrize("provider", [None, "skyvern", "browserbase", "bridgetown"])
def test_non_mapping_is_a_payload_error(bad: object, provider: str | None) -> None:
    with pytest.raises(PayloadError) as info:
        runnorm.normalize(bad, provider)
    assert info.value.provider == provider
    assert "JSON object" in str(info.value)


@pytest.mark.parametrize(
    ("provider", "payload", "path"),
    [
        ("skyvern", {"status": "completed"}, "run_id"),
        ("skyvern", {"run_id": "tsk_1"}, "status"),
        ("skyvern", {"run_id": 7, "status": "completed"}, "run_id"),
        ("skyvern", {"run_id": "tsk_1", "status": 3}, "status"),
        ("skyvern", {"run_id": "tsk_1", "status": "completed", "step_count": "3"}, "step_count"),
        ("skyvern", {"run_id": "tsk_1", "status": "completed", "created_at": "soon"}, "created_at"),
        (
            "skyvern",
            {"run_id": "tsk_1", "status": "completed", "screenshot_urls": "x"},
            "screenshot_urls",
        ),
        (
            "skyvern",
            {"run_id": "tsk_1", "status": "completed", "downloaded_files": [{"file_size": "big"}]},
            "downloaded_files[0].file_size",
        ),
        ("browserbase", {"runId": "r", "status": "RUNNING", "createdAt": []}, "createdAt"),
        ("browserbase", {"status": "RUNNING"}, "runId"),
        ("bridgetown", {"run_id": "0e6c", "status": "success", "output": []}, "output"),
    ],
)
def test_missing_or_mistyped_fields_name_provider_path_and_value(
    provider: str, payload: dict[str, object], path: str
) -> None:
    with pytest.raises(PayloadError) as info:
        runnorm.normalize(payload, provider)
    error = info.value
    assert (error.provider, error.path) == (provider, path)
    assert provider in str(error) and path in str(error)


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(PayloadError) as info:
        runnorm.normalize({"run_id": "tsk_1", "status": "completed", "step_count": "9" * 500})
    assert len(str(info.value)) < 200
    assert info.value.value == "9" * 500  # the full value stays available


def test_unknown_status_warns_once_per_provider_and_value() -> None:
    payload = {"run_id": "tsk_1", "status": "awaiting_approval"}
    payloads = [payload, payload, {"run_id": "tsk_2", "status": "awaiting_review"}]
    with pytest.warns(UnknownStatusWarning) as record:
        runs = [runnorm.normalize(p) for p in payloads]
    first = runs[0]
    assert [str(w.message).split("'")[1] for w in record] == [
        "awaiting_approval",
        "awaiting_review",
    ]
    assert first.status is RunStatus.UNKNOWN and first.native_status == "awaiting_approval"
    assert not first.is_terminal


def test_a_plugin_bug_becomes_a_payload_error_with_its_cause() -> None:
    import attrs

    from runnorm._plugins.host import get_host

    def broken(payload: object) -> runnorm.Run:
        raise KeyError("oops")

    provider = attrs.evolve(get_host().get("skyvern"), to_run=broken)
    with pytest.raises(PayloadError) as info:
        runnorm.normalize({"run_id": "tsk_1"}, provider)
    assert isinstance(info.value.__cause__, KeyError)
