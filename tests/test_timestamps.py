"""Timestamps: aware UTC out; naive is UTC; Z, offsets, fractions, epoch ms; bad input fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from runnorm import Fields, PayloadError, Run, RunStatus, Timing
from runnorm._model.timestamps import parse_timestamp

EXPECTED = datetime(2026, 1, 20, 11, 52, 29, 276851, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-20T11:52:29.276851",  # Skyvern: naive UTC
        "2026-01-20T11:52:29.276851Z",
        "2026-01-20T11:52:29.276851z",
        "2026-01-20T11:52:29.276851+00:00",
        "2026-01-20T13:52:29.276851+02:00",
        "2026-01-20T06:52:29.276851-05:00",
        "2026-01-20 11:52:29.276851",
        "2026-01-20T11:52:29.276851+0000",
    ],
)
def test_iso_forms_parse_to_the_same_utc_instant(text: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed == EXPECTED
    assert parsed is not None and parsed.tzinfo is UTC
    # the mappings' own reads (their fast path tells the common shapes by one character)
    reader = Fields("x").read({"t": text, "u": text})
    read, timing = reader.time("t"), reader.timing(created="u")
    assert read == timing.created_at == EXPECTED
    assert read is not None and read.tzinfo is UTC and timing.created_at.tzinfo is UTC


def test_fraction_and_second_precision() -> None:
    assert parse_timestamp("2026-03-02T09:14:07.512Z") == datetime(
        2026, 3, 2, 9, 14, 7, 512000, tzinfo=UTC
    )
    assert parse_timestamp("2026-03-02T17:00:03Z") == datetime(2026, 3, 2, 17, 0, 3, tzinfo=UTC)


def test_epoch_milliseconds() -> None:
    assert parse_timestamp(1768909949276) == datetime(2026, 1, 20, 11, 52, 29, 276000, tzinfo=UTC)
    assert parse_timestamp(1768909949276.5) is not None


def test_none_stays_none() -> None:
    assert parse_timestamp(None) is None


def test_fallback_parses_what_fromisoformat_rejects() -> None:
    # RFC 2822 style and a 7-digit fraction go through python-dateutil.
    assert parse_timestamp("Tue, 20 Jan 2026 11:52:29 GMT") == datetime(
        2026, 1, 20, 11, 52, 29, tzinfo=UTC
    )


def test_date_only_is_midnight_utc() -> None:
    assert parse_timestamp("2026-01-20") == datetime(2026, 1, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    [
        "yesterday",
        "",
        "12",
        "2026-13-45T99:99:99",
        "2026-01-20 11:52:29 PST",  # an unknown zone is not UTC
        "2026-01-20T11:52:29+25:00",
        True,
        [2026],
        {"t": 1},
        10**30,
    ],
)
def test_unparseable_values_raise_payload_error_naming_the_field(bad: object) -> None:
    with pytest.raises(PayloadError) as info:
        parse_timestamp(bad, provider="skyvern", path="created_at")
    assert info.value.provider == "skyvern"
    assert info.value.path == "created_at"
    assert info.value.value == bad
    assert "created_at" in str(info.value)


def test_out_of_range_offset_conversion_is_a_payload_error() -> None:
    with pytest.raises(PayloadError):
        parse_timestamp("0001-01-01T00:00:00+05:00", path="x")


def test_serialized_timestamps_keep_their_offset() -> None:
    run = Run("x", "1", RunStatus.SUCCEEDED, "done", timing=Timing(created_at=EXPECTED))
    assert run.to_dict()["timing"]["created_at"] == "2026-01-20T11:52:29.276851+00:00"
    other = datetime(2026, 1, 20, 13, 0, tzinfo=timezone(timedelta(hours=2)))
    assert parse_timestamp(other.isoformat()) == other
