"""Test kit for provider plugins: a pytest plugin (``pytest11``) and a conformance suite.

A provider package subclasses :class:`ProviderConformance` in its tests::

    from runnorm.testing import ProviderConformance

    class TestAcmeConformance(ProviderConformance):
        provider = "acme"

and pytest runs, over every sample payload of the provider (its declared ``samples``
directory, or the class's own ``samples`` path): every native status in the map normalizes
to the declared status; the samples cover every native status; every sample normalizes;
every ``Run`` round-trips through JSON; the provider's detector accepts its own samples and
the other installed providers' detectors do not (nor does it accept theirs).

:class:`FakeProviderServer` (a loopback HTTP server playing a REST provider) works without
pytest too, in scripts and examples: this module imports without it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

try:
    import pytest
except ImportError:  # FakeProviderServer serves scripts and examples without the test tools
    _PYTEST = False
else:
    _PYTEST = True

from runnorm._errors import PayloadError, UnknownStatusWarning
from runnorm._fakeserver import FakeProviderServer, RecordedRequest, Reply
from runnorm._model.run import Run
from runnorm._model.status import RunStatus, reset_unknown_status_warnings
from runnorm._plugins.host import get_host
from runnorm._plugins.normalize import normalize
from runnorm._plugins.provider import Provider

__all__ = [
    "FakeProviderServer",
    "ProviderConformance",
    "RecordedRequest",
    "Reply",
    "load_samples",
]


def load_samples(directory: Path | str) -> list[tuple[str, Mapping[str, Any]]]:
    """``(file stem, payload)`` for every ``*.json`` file directly in *directory*, sorted."""
    out = []
    for path in sorted(Path(directory).glob("*.json")):
        with path.open("rb") as stream:
            out.append((path.stem, json.load(stream)))
    return out


def _quiet_normalize(payload: Mapping[str, Any], provider: str | None = None) -> Run:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownStatusWarning)
        return normalize(payload, provider)


def _status_key(payload: Mapping[str, Any], run: Run, declared: str | None = None) -> str | None:
    if declared is not None:
        return declared
    for key, value in payload.items():
        if value == run.native_status and ("status" in key.lower() or "state" in key.lower()):
            return key
    return None


class ProviderConformance:
    """Conformance tests a provider plugin runs over its own sample payloads."""

    provider: ClassVar[str]
    """The registered provider name under test."""

    samples: ClassVar[Path | str | None] = None
    """A directory of sample payloads (``*.json``); default: the provider's ``samples``."""

    status_field: ClassVar[str | None] = None
    """The payload key holding the status word; default: found in the first sample (a key
    containing "status" or "state" whose value is the run's native status)."""

    @classmethod
    def declared_provider(cls) -> Provider:
        """The installed ``Provider`` under test."""
        return get_host().get(cls.provider)

    @classmethod
    def sample_payloads(cls) -> list[tuple[str, Mapping[str, Any]]]:
        """The samples under test as ``(name, payload)`` pairs."""
        directory = cls.samples or cls.declared_provider().samples
        if directory is None:
            raise AssertionError(
                f"{cls.provider}: no samples; set `samples` on the test class or on the Provider"
            )
        found = load_samples(directory)
        if not found:
            raise AssertionError(f"{cls.provider}: no *.json samples in {directory}")
        return found

    # -- the provider as a whole ---------------------------------------------------------------

    def test_provider_is_installed_without_errors(self) -> None:
        infos = [info for info in get_host().infos() if info.name == self.provider]
        assert infos, f"{self.provider} is not installed"
        assert all(info.error is None for info in infos), [info.error for info in infos]
        assert "normalize" in infos[0].capabilities

    def test_status_map_is_not_empty_and_omits_unknown(self) -> None:
        statuses = self.declared_provider().statuses
        assert len(statuses) > 0
        assert RunStatus.UNKNOWN not in statuses.values(), "unknown is the fallback, not a word"

    def test_every_native_status_normalizes_to_the_declared_status(self) -> None:
        statuses = self.declared_provider().statuses
        name, payload = self.sample_payloads()[0]
        key = _status_key(payload, _quiet_normalize(payload, self.provider), self.status_field)
        assert key is not None, f"cannot find the status field of sample {name!r}"
        for word, expected in statuses.items():
            run = _quiet_normalize({**payload, key: word}, self.provider)
            assert run.status is expected, (word, run.status, expected)
            assert run.native_status == word

    def test_samples_cover_every_native_status(self) -> None:
        seen = {
            _quiet_normalize(payload, self.provider).native_status.lower()
            for _, payload in self.sample_payloads()
        }
        missing = {word for word in self.declared_provider().statuses if word.lower() not in seen}
        assert not missing, f"no sample has these statuses: {sorted(missing)}"

    def test_unseen_status_is_unknown_and_kept(self) -> None:
        _, payload = self.sample_payloads()[0]
        key = _status_key(payload, _quiet_normalize(payload, self.provider), self.status_field)
        assert key is not None, "set status_field on the test class"
        run = _quiet_normalize({**payload, key: "never-seen-status-word"}, self.provider)
        assert run.status is RunStatus.UNKNOWN
        assert run.native_status == "never-seen-status-word"

    def test_non_mapping_payload_is_a_payload_error(self) -> None:
        bad_payloads: tuple[object, ...] = ([], "run", b"{}", 42, None)
        for bad in bad_payloads:
            with pytest.raises(PayloadError) as info:
                normalize(bad, self.provider)
            assert info.value.provider == self.provider

    def test_detector_rejects_other_providers_samples(self) -> None:
        mine = self.declared_provider()
        for other in get_host().usable().values():
            if other.name == mine.name or other.samples is None:
                continue
            for name, payload in load_samples(other.samples):
                assert not mine.detect(payload), f"{mine.name} claims {other.name} sample {name}"

    # -- each sample (parametrized by the pytest plugin below) --------------------------------

    def test_sample_normalizes(self, runnorm_sample: Mapping[str, Any]) -> None:
        run = _quiet_normalize(runnorm_sample, self.provider)
        assert run.provider == self.declared_provider().name
        assert isinstance(run.id, str) and run.id
        assert isinstance(run.status, RunStatus)
        assert run.raw == runnorm_sample
        for stamp in (run.timing.created_at, run.timing.started_at, run.timing.finished_at):
            assert stamp is None or stamp.utcoffset() is not None

    def test_sample_round_trips_through_json(self, runnorm_sample: Mapping[str, Any]) -> None:
        run = _quiet_normalize(runnorm_sample, self.provider)
        text = json.dumps(run.to_dict())
        assert Run.from_dict(json.loads(text)) == run

    def test_detector_accepts_own_sample(self, runnorm_sample: Mapping[str, Any]) -> None:
        assert self.declared_provider().detect(runnorm_sample)
        assert _quiet_normalize(runnorm_sample).provider == self.declared_provider().name


if _PYTEST:

    @pytest.fixture
    def runnorm_fresh_status_warnings() -> None:
        """Let each (provider, word) unknown-status warning fire again in this test."""
        reset_unknown_status_warnings()

    # Every conformance test sees each unknown-status warning afresh (they fire once per word):
    # the mark is stored on the class, which subclasses inherit.
    pytest.mark.usefixtures("runnorm_fresh_status_warnings")(ProviderConformance)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``runnorm_sample`` with a conformance class's samples."""
    cls = metafunc.cls
    if (
        "runnorm_sample" in metafunc.fixturenames
        and cls is not None
        and issubclass(cls, ProviderConformance)
    ):
        samples = cls.sample_payloads()
        metafunc.parametrize(
            "runnorm_sample", [payload for _, payload in samples], ids=[n for n, _ in samples]
        )
