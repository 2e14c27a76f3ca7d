"""``FieldReader``: typed reads that record the keys read, so ``extra`` is every key not read."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from runnorm import FieldNote, FieldReader, Fields, PayloadError

fields = Fields("demo", epoch_seconds=("created",))


def test_rest_is_every_key_not_read_in_payload_order() -> None:
    payload = {"a": 1, "id": "x", "b": 2, "status": "ok", "c": None}
    r = fields.read(payload)
    assert (r.id("id"), r.status()) == ("x", "ok")
    assert list(r.rest()) == ["a", "b", "c"]


def test_a_key_looked_up_counts_as_read_even_when_absent_or_null() -> None:
    r = fields.read({"x": None, "y": 1})
    assert r.text("x") is None and r.text("missing") is None
    assert r.rest() == {"y": 1}


def test_reading_a_key_twice_gives_the_same_value() -> None:
    r = fields.read({"n": 3, "s": "v", "t": "2026-01-01T00:00:00"})
    assert r.integer("n") == r.integer("n") == 3
    assert r.text("s") == r.value("s") == "v"
    assert r.time("t") == r.time("t") == datetime(2026, 1, 1, tzinfo=UTC)
    assert r.rest() == {}
    items = {"a": [1, "x"], "o": [{"k": 1}], "l": ["u", None, "v"], "e": []}
    r = fields.read(items)
    assert r.array("a") == r.array("a") == [1, "x"]
    assert r.objects("o") == r.objects("o") == [{"k": 1}]
    assert r.strings("l") == r.strings("l") == ["u", "v"]
    assert r.objects("e") == r.array("e") == r.strings("e") == []
    assert r.rest() == {}


def test_missing_and_null_arrays_are_empty_and_read() -> None:
    r = fields.read({"n": None, "keep": 1})
    for read in (r.array, r.objects, r.strings):
        assert read("n") == [] and read("missing") == []
    assert r.rest() == {"keep": 1}
    with pytest.raises(PayloadError, match=r"o\[1\]"):
        fields.read({"o": [{}, "x"]}).objects("o")
    with pytest.raises(PayloadError, match=r"l\[0\]"):
        fields.read({"l": [1]}).strings("l")


def test_first_and_id_read_only_up_to_the_key_used() -> None:
    r = fields.read({"run_id": "r1", "task_id": "r1", "out": None, "alt": [1], "late": 2})
    assert r.id("run_id", "task_id") == "r1"
    assert r.first("out", "alt", "late") == [1]
    assert r.rest() == {"task_id": "r1", "late": 2}  # not looked at: still extra


def test_has_any_only_asks() -> None:
    r = fields.read({"errors": [], "z": 1})
    assert r.has_any({"errors", "failure"}) and not r.has_any({"nope"})
    assert r.rest() == {"errors": [], "z": 1}


@pytest.mark.parametrize(
    "payload",
    [
        {"prompt": "p", "a": 1, "request": {"q": 1}},  # kept key first, an unread key after it
        {"a": 1, "prompt": "p", "request": {"q": 1}},  # kept keys last: appended
        {"request": {"q": 1}, "a": 1, "b": 2, "prompt": "p"},
    ],
)
def test_keep_copies_read_keys_back_in_payload_order(payload: dict[str, Any]) -> None:
    r = fields.read(payload)
    assert r.text("prompt") == "p" and r.mapping("request") == {"q": 1}
    extra = r.rest(keep=("request", "prompt", "absent"))
    assert list(extra) == list(payload)  # everything, in order
    assert extra == payload


def test_present_marks_an_all_null_group_read_and_leaves_a_group_with_values_alone() -> None:
    payload = {"a": None, "b": 1, "c": None, "d": [1]}
    r = fields.read(payload)
    assert r.present(("a", "c", "missing")) is False  # all absent or null: read, none in extra
    assert r.present(("b", "a")) is True  # one has a value: nothing is marked read
    assert r.rest() == {"b": 1, "d": [1]}
    r = fields.read(payload)
    assert r.integer("b") == 1 and r.present(("b",)) is True  # looks at the payload itself
    assert r.array("d") == [1] and r.array("d") == [1] and r.objects("missing") == []
    assert r.rest() == {"a": None, "c": None}


def test_keep_of_a_key_never_read_changes_nothing() -> None:
    r = fields.read({"a": 1, "b": 2})
    r.value("a")
    assert r.rest(keep=("b",)) == {"b": 2}


def test_drop_snake_and_prefix() -> None:
    r = fields.read({"agentId": "a1", "debugDump": "x" * 10, "sandboxID": 3})
    assert r.rest(drop=("debugDump",), snake=True) == {"agent_id": "a1", "sandbox_id": 3}
    nested = fields.read({"status": "ok", "extraThing": 1})
    nested.text("status")
    assert nested.rest(prefix="output_") == {"output_extraThing": 1}


def test_child_reader_names_nested_paths_and_does_not_touch_the_parent() -> None:
    payload = {"output": {"exit_code": "one", "stdout": "hi"}, "k": 1}
    r = fields.read(payload)
    output = r.child("output")
    assert output is not None and output.text("stdout") == "hi"
    with pytest.raises(PayloadError) as info:
        output.integer("exit_code")
    assert (info.value.provider, info.value.path) == ("demo", "output.exit_code")
    assert output.rest() == {}  # a read that failed was a read all the same
    assert r.rest() == {"k": 1}
    assert r.child("missing") is None


@pytest.mark.parametrize("bad", [[], "run", b"{}", 42, None])
def test_read_refuses_what_is_not_an_object(bad: object) -> None:
    with pytest.raises(PayloadError) as info:
        fields.read(bad)
    assert (info.value.provider, info.value.path) == ("demo", "$")


def test_wrong_types_fail_naming_the_path() -> None:
    r = fields.read({"s": 1, "n": "x", "b": "no", "m": [], "a": {}, "l": [1], "o": [1]})
    for read, key in [
        (r.text, "s"),
        (r.integer, "n"),
        (r.boolean, "b"),
        (r.mapping, "m"),
        (r.array, "a"),
        (r.strings, "l"),
        (r.objects, "o"),
    ]:
        with pytest.raises(PayloadError) as info:
            read(key)
        assert info.value.path.startswith(key), key
    with pytest.raises(PayloadError, match="64 bits"):
        fields.read({"big": 2**64}).integer("big")


def test_epoch_seconds_per_key_and_milliseconds_elsewhere() -> None:
    r = fields.read({"created": 1768909949, "finished": 1768909949276})
    timing = r.timing(created="created", finished="finished")
    assert timing.created_at == datetime(2026, 1, 20, 11, 52, 29, tzinfo=UTC)
    assert timing.finished_at == datetime(2026, 1, 20, 11, 52, 29, 276000, tzinfo=UTC)
    assert fields.read({"created": 1768909949}).time("created") == timing.created_at
    assert Fields("ms").read({"created": 1768909949}).time("created") == datetime(
        1970, 1, 21, 11, 21, 49, 949000, tzinfo=UTC
    )
    with pytest.raises(PayloadError, match="epoch seconds out of range"):
        fields.read({"created": 10**20}).time("created")


def test_timing_reads_its_keys_and_empty_timing_is_shared() -> None:
    r = fields.read({"started": "2026-01-01T00:00:00Z", "x": 1})
    assert r.timing(started="started", finished="finished").started_at is not None
    assert r.rest() == {"x": 1}
    assert fields.read({}).timing(created="c") is fields.read({}).timing(started="s")


def test_readers_share_nothing_across_threads() -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(2000):
                payload = {"id": f"{n}-{i}", "v": i, f"only{n}": n}
                r = fields.read(payload)
                assert r.id("id") == f"{n}-{i}" and r.integer("v") == i
                assert r.rest() == {f"only{n}": n}
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_reader_is_a_reader() -> None:
    assert isinstance(fields.read({}), FieldReader)


def test_field_notes_are_data_with_a_reason_for_each_drop() -> None:
    note = FieldNote("run_id", "id")
    assert (note.native, note.to, note.is_dropped) == (("run_id",), ("id",), False)
    many = FieldNote(("a", "b"), ("timing.created_at", "extra"), when="webhooks")
    assert many.native == ("a", "b") and many.when == "webhooks"
    dropped = FieldNote.dropped("secret_blob", "never useful; stays in raw")
    assert dropped.is_dropped and dropped.note
    with pytest.raises(TypeError, match="needs a note"):
        FieldNote("x")
    with pytest.raises(TypeError):
        FieldNote("")
