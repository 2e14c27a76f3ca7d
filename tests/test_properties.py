"""Property tests: arbitrary JSON and mutated real samples only ever raise RunnormError."""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import PROVIDERS, load, sample_files

import runnorm
from runnorm import Run, RunnormError, UnknownStatusWarning

SAMPLES = [load(path) for path in sample_files()]
PROVIDER_CHOICES = st.sampled_from([None, *PROVIDERS])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "2026-01-20T11:52:29.276851",
            "tsk_1",
            "wr_2",
            "COMPLETED",
            "success",
            "0e6c56d1-8a55-4c68-9d2f-0c0cbf0d4e4e",
            "",
            "Z",
            "+00:00",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


def check(payload: Any, provider: str | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownStatusWarning)
        run: Run | None = None
        try:
            run = runnorm.normalize(payload, provider)
        except RunnormError as exc:
            # Our providers reject bad input on purpose, never by tripping over it.
            cause = exc.__cause__
        else:
            cause = None
    if cause is not None or run is None:
        assert not isinstance(cause, KeyError | TypeError | AttributeError | IndexError), cause
        return
    assert isinstance(run, Run)
    assert Run.from_dict(json.loads(json.dumps(run.to_dict()))) == run


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(payload=json_values, provider=PROVIDER_CHOICES)
def test_arbitrary_json_raises_only_runnorm_errors(payload: Any, provider: str | None) -> None:
    check(payload, provider)


@st.composite
def mutated_samples(draw: st.DrawFn) -> tuple[dict[str, Any], str | None]:
    payload = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        target = payload
        # Walk into a nested object now and then, to mutate inner fields too.
        while isinstance(target, dict) and target and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(target)))
            if isinstance(target[key], dict) and target[key]:
                target = target[key]
            else:
                break
        if not isinstance(target, dict) or not target:
            continue
        key = draw(st.sampled_from(sorted(target)))
        action = draw(st.sampled_from(["replace", "delete", "null"]))
        if action == "delete":
            del target[key]
        elif action == "null":
            target[key] = None
        else:
            target[key] = draw(json_values)
    return payload, draw(PROVIDER_CHOICES)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(case=mutated_samples())
def test_mutated_samples_raise_only_runnorm_errors(case: tuple[dict[str, Any], str | None]) -> None:
    check(*case)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mutated_sample_round_trips_when_it_normalizes(provider: str) -> None:
    sample = copy.deepcopy(load(sample_files(provider)[0]))
    sample["unexpected_field"] = {"nested": [1, 2.5, None]}
    run = runnorm.normalize(sample, provider)
    assert Run.from_dict(json.loads(json.dumps(run.to_dict()))) == run
