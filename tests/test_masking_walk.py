"""``mask_value``: the walk that masks a key in every string of a JSON value (error bodies,
webhook payloads), at any depth."""

from __future__ import annotations

from typing import Any

from runnorm._masking import mask_value


def _scrub(text: str) -> str:
    return text.replace("KEY", "***")


def test_every_string_and_key_is_scrubbed_and_the_shape_kept() -> None:
    value = {"a KEY": ["KEY", 1, None, {"KEY": "x KEY"}], "n": 2.5, "t": True}
    assert mask_value(_scrub, value) == {
        "a ***": ["***", 1, None, {"***": "x ***"}],
        "n": 2.5,
        "t": True,
    }
    assert list(mask_value(_scrub, {"b": 1, "a": 2})) == ["b", "a"]
    assert mask_value(_scrub, {"xKEY": 1, "x***": 2}) == {"x***": 2}  # as a dict literal
    assert mask_value(_scrub, "KEY") == "***" and mask_value(_scrub, 3) == 3


def test_a_deep_value_does_not_exhaust_the_stack() -> None:
    deep: Any = "KEY"
    for _ in range(100_000):
        deep = [{"k": deep}]
    masked = mask_value(_scrub, deep)
    for _ in range(100_000):
        masked = masked[0]["k"]
    assert masked == "***"


def test_a_value_that_holds_itself_ends() -> None:
    loop: list[Any] = ["KEY"]
    loop.append(loop)
    masked = mask_value(_scrub, loop)
    assert masked[0] == "***" and masked[1] is masked
