"""A mapping (``to_run``) that returns a Run built wrongly is the plugin's fault: a
``PayloadError`` naming the provider, and in a batch that record fails and the others go on;
never an ``AttributeError`` from a writer; and a run is never filed under another provider's
name than the one it was registered as."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import runnorm
from runnorm import PayloadError, Provider, RecordError, Run, RunStatus, StatusMap
from runnorm._plugins.host import PluginHost, reset_host

NAME = "misbuilt"
STATUSES = StatusMap(NAME, {"ok": RunStatus.SUCCEEDED})


def provider(to_run: Callable[[Mapping[str, Any]], Any]) -> Provider:
    return Provider(
        name=NAME, statuses=STATUSES, to_run=to_run, detect=lambda p: "misbuilt_id" in p
    )


def built(**fields: Any) -> Callable[[Mapping[str, Any]], Any]:
    def to_run(p: Mapping[str, Any]) -> Run:
        base: dict[str, Any] = {
            "provider": NAME,
            "id": p["misbuilt_id"],
            "status": RunStatus.SUCCEEDED,
            "native_status": "ok",
            "raw": p,
        }
        return Run(**{**base, **fields})

    return to_run


MISBUILT = [
    ({"status": "succeeded"}, "status is 'succeeded', not a RunStatus member"),
    ({"status": None}, "status is None, not a RunStatus member"),
    ({"id": 7}, "id is int 7, not a string"),
    ({"native_status": None}, "native_status is NoneType None, not a string"),
]


@pytest.mark.parametrize(("fields", "shown"), MISBUILT)
def test_a_misbuilt_run_is_a_payload_error_naming_the_plugin(
    fields: dict[str, Any], shown: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        runnorm.normalize({"misbuilt_id": "m1"}, provider(built(**fields)))
    assert caught.value.provider == NAME
    assert f"the 'misbuilt' plugin's mapping returned a Run whose {shown}" in str(caught.value)


def test_the_run_carries_the_registered_name_whatever_the_mapping_says() -> None:
    run = runnorm.normalize({"misbuilt_id": "m1"}, provider(built(provider="skyvern")))
    assert run.provider == NAME
    assert Run.from_dict(run.to_dict()) == run


def test_a_well_built_run_passes() -> None:
    run = runnorm.normalize({"misbuilt_id": "m1"}, provider(built()))
    assert Run.from_dict(run.to_dict()) == run


@pytest.fixture
def installed() -> Iterator[PluginHost]:
    host = PluginHost()  # the first-party providers too
    host.add_plugin(provider(built(status="succeeded")), "misbuilt-plugin")
    previous = reset_host(host)
    yield host
    reset_host(previous)


def test_in_a_batch_the_misbuilt_record_fails_and_the_others_go_on(
    installed: PluginHost, tmp_path: Path
) -> None:
    dump = tmp_path / "runs.jsonl"
    dump.write_text(
        '{"misbuilt_id": "m1"}\n{"run_id": "tsk_1", "status": "completed"}\n', encoding="utf-8"
    )
    results = list(runnorm.read_dump(dump))
    assert isinstance(results[0], RecordError)
    assert "not a RunStatus member" in results[0].reason
    assert isinstance(results[1], Run) and results[1].provider == "skyvern"
    runnorm.summarize(r for r in results if isinstance(r, Run))
