"""Test kit for provider plugins: a pytest plugin (``pytest11``) and a conformance suite.

A provider package subclasses :class:`ProviderConformance` in its tests::

    from runnorm.testing import ProviderConformance

    class TestAcmeConformance(ProviderConformance):
        provider = "acme"

and pytest runs, over every sample payload of the provider (its declared ``samples``
directory, or the class's own ``samples`` path): every native status in the map normalizes
to the declared status; the samples cover every native status; every sample normalizes;
every ``Run`` round-trips through JSON; the provider's detector accepts its own samples and
the other installed providers' detectors do not (nor does it accept theirs); nothing of a
sample is lost (each top-level key reaches the ``Run``, lands in ``extra``, or is declared
dropped with a ``FieldNote``).

It also tests, for real, what the provider declares about I/O: with ``fetch``, that
``runnorm.get`` through a loopback server (:class:`FakeProviderServer` for a ``RestFetch``,
:class:`FakeMcpServer` for an ``McpFetch``) returns the sample's ``Run``, sends the declared
credential, maps a refused key to ``AuthError`` and a missing run to ``NotFoundError``, and
reads the key and base URL from the declared environment variables; without ``fetch``, that
``get`` raises ``UnsupportedError``. With ``list``, that ``list_runs`` pages through the
declared listing, selects by ``since`` and ends a listing cut short with ``ListLimitError``.
With ``cancel`` and ``resume``, that each declared reply gives its outcome and a 500 is never
sent twice; with ``artifacts``, that listings map as declared and downloads check their bytes
and renew refused links; without them, that the calls raise ``UnsupportedError``. With
``verify_webhook``, that a delivery signed by the class's
:meth:`~ProviderConformance.sign_webhook` parses, and a tampered, unsigned or stale one is a
``SignatureError``; without it, that ``webhooks.parse`` raises ``UnsupportedError``.
No test is skipped: each asserts what the declaration promises. The page "Testing a plugin"
of the documentation describes every test.

:class:`FakeProviderServer` (a loopback HTTP server playing a REST provider) and
:class:`FakeMcpServer` (one playing an MCP provider) work without pytest too, in scripts and
examples: this module imports without it, and without httpx (the I/O tests load the live
layer when they first run).
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

try:
    import pytest
except ImportError:  # FakeProviderServer serves scripts and examples without the test tools
    _PYTEST = False
else:
    _PYTEST = True

from runnorm._errors import PayloadError, UnknownStatusWarning
from runnorm._fakemcp import FakeMcpServer, ToolFailure
from runnorm._fakeserver import FakeProviderServer, RecordedRequest, Reply
from runnorm._model.run import Run
from runnorm._model.status import RunStatus, reset_unknown_status_warnings
from runnorm._plugins.fields import snake_case
from runnorm._plugins.host import get_host
from runnorm._plugins.normalize import normalize
from runnorm._plugins.notes import dropped_keys
from runnorm._plugins.provider import Provider

if TYPE_CHECKING:
    from runnorm._conformance import IoChecks, ListChecks

__all__ = [
    "FakeMcpServer",
    "FakeProviderServer",
    "ProviderConformance",
    "RecordedRequest",
    "Reply",
    "ToolFailure",
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


def _assert_unchanged(
    payload: Mapping[str, Any], pristine: Mapping[str, Any], what: str, provider: str
) -> None:
    """A plugin's code must leave the payload it reads as it was: it is the caller's (and
    ``Run.raw`` is the payload as sent)."""
    assert payload == pristine, (
        f"the {provider!r} plugin's {what} changed the payload it was given (keys now: "
        f"{sorted(map(str, payload))}); read it without writing to it, and copy what you "
        "need to change"
    )


_USED = "PayloadError"
"""What :func:`_outcome` gives for a payload that fails: a key whose loss fails is used."""


def _outcome(payload: Mapping[str, Any], provider: str) -> Run | str:
    """The ``Run`` of *payload* without its ``raw``, or :data:`_USED` on a ``PayloadError``."""
    try:
        run = _quiet_normalize(payload, provider)
    except PayloadError:
        return _USED
    return attrs.evolve(run, raw={})


def _carries_nothing(value: Any) -> bool:
    """Null, ``""``, ``[]`` and ``{}``: a key holding one of these has nothing to lose."""
    return value is None or (isinstance(value, str | list | dict) and not value)


def _altered(value: Any) -> Any:
    """*value* with every string, number and boolean in it changed (keys kept): a key whose
    content is copied elsewhere in the payload too still changes the ``Run`` this way."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.5
    if isinstance(value, str):
        return value + "~altered"
    if isinstance(value, list):
        return [_altered(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _altered(item) for key, item in value.items()}
    return value


def _status_key(payload: Mapping[str, Any], run: Run, declared: str | None = None) -> str | None:
    if declared is not None:
        return declared
    for key, value in payload.items():
        if value == run.native_status and ("status" in key.lower() or "state" in key.lower()):
            return key
    return None


class ProviderConformance:
    """Conformance tests a provider plugin runs over its own sample payloads.

    Subclass it with ``provider = "<name>"``; optionally set ``samples`` and
    ``status_field``, override :meth:`fetch_sample` and :meth:`webhook_sample`, and implement
    :meth:`sign_webhook` when the provider declares ``verify_webhook``. No test is skipped:
    each asserts what the provider's declaration promises.
    """

    provider: ClassVar[str]
    """The registered provider name under test."""

    samples: ClassVar[Path | str | None] = None
    """A directory of sample payloads (``*.json``); default: the provider's ``samples``."""

    status_field: ClassVar[str | None] = None
    """The payload key holding the status word; default: found in the first sample (a key
    containing "status" or "state" whose value is the run's native status)."""

    fetch_options: ClassVar[Mapping[str, Any]] = {}
    """Call options the fetch tests pass to ``runnorm.get`` (``{"kind": "browser_use"}`` for a
    provider that routes by a kind option and has no default endpoint)."""

    list_options: ClassVar[Mapping[str, Any] | None] = None
    """Call options the listing tests pass to ``runnorm.list_runs``; default: a made-up
    value for each required ``ListParam`` (``project="rnc-project"``)."""

    @classmethod
    def list_samples(cls) -> list[Mapping[str, Any]]:
        """The payloads the listing tests serve as list items: the samples whose name
        starts with ``list`` (as the provider's list API sends them), else every sample."""
        samples = cls.sample_payloads()
        listed = [payload for name, payload in samples if name.startswith("list")]
        return listed or [payload for _, payload in samples]

    @classmethod
    def declared_provider(cls) -> Provider:
        """The installed ``Provider`` under test."""
        return get_host().get(cls.provider)

    @classmethod
    def fetch_sample(cls) -> Mapping[str, Any]:
        """The payload the fetching tests serve: the first sample (by file name)."""
        return cls.sample_payloads()[0][1]

    @classmethod
    def webhook_sample(cls) -> Mapping[str, Any]:
        """The payload the webhook tests sign and send: the first sample whose name starts
        with ``webhook``, else the first sample."""
        samples = cls.sample_payloads()
        webhooks = [payload for name, payload in samples if name.startswith("webhook")]
        return (webhooks or [samples[0][1]])[0]

    def sign_webhook(self, body: bytes, secret: str, timestamp: int) -> dict[str, str]:
        """The headers the provider sends with a delivery of *body* signed with *secret* at
        *timestamp* (Unix seconds): the hook the webhook tests sign with.

        Implement it when the provider declares ``verify_webhook``, following the provider's
        signing rule; it is never called otherwise. The default raises, failing those tests.
        """
        raise NotImplementedError(
            f"{self.provider} declares verify_webhook: implement "
            f"{type(self).__name__}.sign_webhook(self, body, secret, timestamp) returning the "
            "headers the provider sends with a delivery signed that way, e.g. "
            '{"x-signature": hmac_sha256_hex(secret, body), "x-timestamp": str(timestamp)}'
        )

    def _io(self) -> IoChecks:
        """The I/O checks; their module is imported here, on first use, as it loads httpx."""
        from runnorm._conformance import IoChecks

        payload = self.fetch_sample()
        try:
            key = _status_key(payload, _quiet_normalize(payload, self.provider), self.status_field)
        except PayloadError:  # the sample tests say why; the I/O tests fail on their own
            key = self.status_field
        return IoChecks(
            self.declared_provider(),
            payload,
            self.webhook_sample(),
            self.sign_webhook,
            dict(self.fetch_options),
            samples=tuple(sample for _, sample in self.sample_payloads()),
            status_key=key,
        )

    def _listing(self) -> ListChecks:
        """The listing checks (loaded with the I/O checks, on first use)."""
        provider = self.declared_provider()
        options = self.list_options
        if options is None:
            params = provider.list.params if provider.list is not None else ()
            options = {p.option: f"rnc-{p.option}" for p in params if p.required}
        return self._io().listing(self.list_samples(), dict(options))

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
        pristine = copy.deepcopy(runnorm_sample)
        run = _quiet_normalize(runnorm_sample, self.provider)
        _assert_unchanged(runnorm_sample, pristine, "mapping", self.provider)
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
        pristine = copy.deepcopy(runnorm_sample)
        assert self.declared_provider().detect(runnorm_sample)
        _assert_unchanged(runnorm_sample, pristine, "detector", self.provider)
        assert _quiet_normalize(runnorm_sample).provider == self.declared_provider().name

    def test_sample_loses_nothing(
        self, runnorm_sample_name: str, runnorm_sample: Mapping[str, Any]
    ) -> None:
        """Every top-level key of the sample reaches the ``Run``, or is declared dropped.

        A key counts as used when removing it, or changing every value inside it, changes
        the ``Run`` (apart from ``raw``) or makes the payload a ``PayloadError`` (the id, the
        status); or when it is in ``run.extra`` (as sent, or snake_case); or when a
        ``FieldNote.dropped`` note in ``Provider.field_notes`` names it. Keys holding null,
        ``""``, ``[]`` or ``{}`` carry nothing and are exempt.
        """
        provider = self.declared_provider()
        full = _outcome(runnorm_sample, self.provider)
        assert isinstance(full, Run), f"sample {runnorm_sample_name!r} does not normalize"
        dropped = dropped_keys(provider.field_notes)
        lost = []
        for key, value in runnorm_sample.items():
            if _carries_nothing(value) or key in dropped:
                continue
            if key in full.extra or snake_case(key) in full.extra:
                continue
            without = {k: v for k, v in runnorm_sample.items() if k != key}
            if _outcome(without, self.provider) != full:
                continue
            if _outcome({**runnorm_sample, key: _altered(value)}, self.provider) != full:
                continue
            lost.append(key)
        assert not lost, (
            f"{provider.name}: sample {runnorm_sample_name!r} loses {', '.join(map(repr, lost))}:"
            " removing or changing it leaves the Run as it was, it is not in run.extra, and no "
            "FieldNote declares it dropped. Fix each one: map it to a Run field; or leave it "
            "to extra (FieldReader.rest() copies every key the mapping did not read); or "
            f"declare FieldNote.dropped({lost[0]!r}, reason) in Provider.field_notes."
        )

    # -- what the provider declares about fetching (no fetch: get is unsupported) -------------

    def test_get_returns_the_sample_as_normalized(self) -> None:
        """``runnorm.get`` through the loopback server returns the sample's ``Run``."""
        self._io().get_returns_the_sample()

    def test_get_sends_the_declared_credential(self) -> None:
        """Each request carries ``Auth.header``, with ``Auth.scheme`` before the key."""
        self._io().get_sends_the_credential()

    def test_get_with_a_refused_key_is_an_auth_error(self) -> None:
        """The server answers 401 to another key: ``AuthError``, the key not in its text."""
        self._io().get_with_a_wrong_key()

    def test_get_of_an_unknown_run_is_a_not_found_error(self) -> None:
        """A run the server does not have: ``NotFoundError``."""
        self._io().get_of_an_unknown_run()

    def test_get_reads_the_key_from_its_environment_variable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No ``api_key``: ``Auth.env_var`` gives it; unset, ``AuthError`` names it."""
        self._io().get_reads_the_key_from_the_environment(monkeypatch)

    def test_get_reads_the_base_url_from_its_environment_variable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No ``base_url``: ``Provider.base_url_env`` gives it, else ``Provider.base_url``."""
        self._io().get_reads_the_base_url_from_the_environment(monkeypatch)

    # -- what the provider declares about cancel and resume (none: unsupported) -------------

    def test_cancel_outcomes_follow_the_declaration(self) -> None:
        """Each reply the declaration maps (a status code, or a tool error code) gives its
        outcome; a 2xx (or a tool result) is ``accepted``; an ambiguous code is settled by
        fetching the run; an undeclared 4xx raises its ``APIError``; the request carries
        the key, the declared method, body and message rules; an MCP tool's argument comes
        from ``tools/list``, and a tool the server does not list is ``UnsupportedError``."""
        self._io().control("cancel").outcomes()

    def test_cancel_is_not_sent_twice_after_a_server_error(self) -> None:
        """A cancel answered 500 raises ``ServerError`` after exactly one request, even with
        retries allowed (the server may have acted); a 503 with ``Retry-After`` is sent
        again (REST)."""
        self._io().control("cancel").not_retried()

    def test_resume_outcomes_follow_the_declaration(self) -> None:
        """As for cancel, for ``resume``; a message is required, optional or refused as
        declared (a ``ConfigError`` before anything is sent)."""
        self._io().control("resume").outcomes()

    def test_resume_is_not_sent_twice_after_a_server_error(self) -> None:
        """As for cancel, for ``resume``."""
        self._io().control("resume").not_retried()

    # -- what the provider declares about artifacts (none: unsupported) -----------------------

    def test_artifacts_are_listed_as_declared(self) -> None:
        """``runnorm.artifacts`` gives the run's inline artifacts, then each listing's items
        mapped through its ``ArtifactFields`` (id, link, name, kind, size, checksum, expiry),
        the key and the declared query sent; a ``missing_ok`` reply gives none, with a
        warning."""
        self._io().artifact_checks().listed()

    def test_artifact_downloads_check_their_bytes(self, tmp_path: Path) -> None:
        """Each listed artifact downloads from its link without the key, the bytes checked
        (a wrong checksum is an ``ArtifactError`` that leaves nothing behind); a refused
        link is renewed as declared (remint, download path, listing again); inline artifacts
        are written, an output's bytes fetched by the declared tool, its size checked."""
        self._io().artifact_checks().downloads(tmp_path)

    # -- what the provider declares about listing (none: list_runs is unsupported) ----------

    def test_list_runs_pages_through_the_declared_listing(self) -> None:
        """Every served item, as normalizing it gives, in order, once; the declared paging
        parameters (page numbers, offsets, cursors, ``after`` ids, next URLs) and the
        credential on every request; an MCP tool called once with its arguments."""
        self._listing().pages_through()

    def test_list_runs_since_selects_by_creation_and_stops_early(self) -> None:
        """``since`` gives the runs created since; an ordered listing stops after the page
        that proves it, an unordered one pages on; a capped tool call reaching past
        ``since`` is whole."""
        self._listing().since_selects_by_creation()

    def test_list_runs_cut_short_is_a_list_limit_error(self) -> None:
        """A listing that cannot finish yields what it reached, then ``ListLimitError``."""
        self._listing().cut_short()

    # -- what the provider declares about webhooks (none: parse is unsupported) ---------------

    def test_webhook_with_a_good_signature_parses_to_the_sample(self) -> None:
        """A delivery signed by :meth:`sign_webhook` parses to the sample's ``Run``."""
        self._io().webhook_with_a_good_signature()

    def test_webhook_tampered_or_unsigned_is_a_signature_error(self) -> None:
        """A changed body, another secret's signature, no signature: ``SignatureError``."""
        self._io().webhook_tampered()

    def test_webhook_with_a_stale_timestamp_is_a_signature_error(self) -> None:
        """Signed an hour before (or after) now: outside the tolerance, ``SignatureError``."""
        self._io().webhook_stale_timestamp()


if _PYTEST:

    @pytest.fixture
    def runnorm_fresh_status_warnings() -> None:
        """Let each (provider, word) unknown-status warning fire again in this test."""
        reset_unknown_status_warnings()

    # Every conformance test sees each unknown-status warning afresh (they fire once per word):
    # the mark is stored on the class, which subclasses inherit.
    pytest.mark.usefixtures("runnorm_fresh_status_warnings")(ProviderConformance)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``runnorm_sample`` (the payload) and ``runnorm_sample_name`` (its file
    stem) with a conformance class's samples, one test per sample."""
    cls = metafunc.cls
    wanted = [
        name for name in ("runnorm_sample_name", "runnorm_sample") if name in metafunc.fixturenames
    ]
    if wanted and cls is not None and issubclass(cls, ProviderConformance):
        samples = cls.sample_payloads()
        names = [name for name, _ in samples]
        values: list[Any] = list(samples)  # (name, payload) rows, in the order of `wanted`
        if wanted == ["runnorm_sample"]:
            values = [payload for _, payload in samples]
        elif wanted == ["runnorm_sample_name"]:
            values = names
        metafunc.parametrize(",".join(wanted), values, ids=names)
