"""``ProviderConformance`` tests what a provider declares, and catches what it gets wrong.

A made-up provider ("widget") is declared in several shapes (no I/O; REST with or without
auth and environment variables; MCP with or without not-found codes; webhooks) and each
shape's whole suite runs here, test by test: every test passes for a sound declaration
(none is skipped), and a defect (a lost key, a verifier that ignores the body or the
timestamp, a missing ``sign_webhook``) fails the test that owns it, with a message that says
how to fix it.
"""

from __future__ import annotations

import hmac
import inspect
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

import runnorm
from runnorm import (
    AfterPages,
    Artifact,
    ArtifactFields,
    ArtifactKind,
    ArtifactListing,
    Artifacts,
    Auth,
    CursorPages,
    FieldNote,
    Fields,
    ListParam,
    McpControl,
    McpFetch,
    McpList,
    NextUrlPages,
    OffsetPages,
    PageNumbers,
    Provider,
    Remint,
    RestControl,
    RestFetch,
    RestList,
    Run,
    RunStatus,
    SignatureError,
    StatusMap,
    TimeFilter,
    ToolContent,
)
from runnorm._live.api import close_clients
from runnorm._plugins.host import PluginHost, reset_host
from runnorm.testing import ProviderConformance
from runnorm.webhooks import check_timestamp, hmac_sha256_hex, require_header

NAME = "widget"
fields = Fields(NAME)
STATUSES = StatusMap(NAME, {"DONE": RunStatus.SUCCEEDED, "BUSY": RunStatus.RUNNING})
SAMPLES = {
    "busy": {
        "widgetId": "wdg_1",
        "state": "BUSY",
        "goal": "spin",
        "colour": "red",
        "createdAt": "2026-01-20T11:52:29.276Z",
    },
    "done": {
        "widgetId": "wdg_2",
        "state": "DONE",
        "goal": "spin",
        "secretSauce": "ketchup",
        "createdAt": 1768909949276,
    },
    "webhook-done": {"widgetId": "wdg_3", "state": "DONE", "note": None, "tags": []},
}


def detect(payload: Mapping[str, Any]) -> bool:
    value = payload.get("widgetId")
    return isinstance(value, str) and value.startswith("wdg_")


def to_run(p: Mapping[str, Any]) -> Run:
    r = fields.read(p)
    native = r.status("state")
    return Run(
        provider=NAME,
        id=r.id("widgetId"),
        status=STATUSES.lookup(native),
        native_status=native,
        task=r.text("goal"),
        timing=r.timing(created="createdAt"),
        extra=r.rest(snake=True),
        raw=r.payload,
    )


def lossy_to_run(p: Mapping[str, Any]) -> Run:
    """Reads ``secretSauce`` into nothing: it is neither mapped nor in extra."""
    run = to_run(p)
    return attrs.evolve(run, extra={k: v for k, v in run.extra.items() if k != "secret_sauce"})


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """Widget signs ``"<timestamp>.<body>"``."""
    signed = str(timestamp).encode() + b"." + body
    return {"x-widget-signature": hmac_sha256_hex(secret, signed), "x-widget-ts": str(timestamp)}


def verify(
    body: bytes, headers: Mapping[str, str], secret: str | bytes, *, tolerance: float, now: float
) -> None:
    signature = require_header(headers, "x-widget-signature")
    stamp = require_header(headers, "x-widget-ts")
    check_timestamp(stamp, tolerance=tolerance, now=now, name="x-widget-ts")
    expected = hmac_sha256_hex(secret, stamp.encode() + b"." + body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("x-widget-signature does not match")


def verify_ignoring_time(
    body: bytes, headers: Mapping[str, str], secret: str | bytes, *, tolerance: float, now: float
) -> None:
    verify(body, headers, secret, tolerance=float("inf"), now=now)


def verify_ignoring_body(
    body: bytes, headers: Mapping[str, str], secret: str | bytes, *, tolerance: float, now: float
) -> None:
    require_header(headers, "x-widget-signature")
    check_timestamp(require_header(headers, "x-widget-ts"), tolerance=tolerance, now=now)


BARE = Provider(name=NAME, statuses=STATUSES, to_run=to_run, detect=detect)
REST = attrs.evolve(
    BARE,
    auth=Auth(header="Authorization", scheme="Bearer", env_var="WIDGET_API_KEY"),
    base_url="https://api.widget.example",
    base_url_env="WIDGET_BASE_URL",
    fetch=RestFetch(path="/v1/widgets/{run_id}"),
    verify_webhook=verify,
)
MCP = attrs.evolve(
    BARE,
    auth=Auth(header="X-Widget-Key", env_var="WIDGET_API_KEY"),
    base_url="https://mcp.widget.example/mcp",
    base_url_env="WIDGET_MCP_URL",
    fetch=McpFetch(tool="fetch_widget", argument="widget_id", not_found=frozenset({"gone"})),
)


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    for name, payload in SAMPLES.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(payload))
    return tmp_path


@pytest.fixture
def install(samples: Path) -> Iterator[Callable[[Provider], None]]:
    """Make *provider* (with the samples) the only installed provider, for one test."""

    def installing(provider: Provider) -> None:
        declared = attrs.evolve(provider, samples=samples)

        class Plugin:
            @runnorm.hookimpl
            def runnorm_register_providers(self, register: Callable[[Provider], None]) -> None:
                register(declared)

        host = PluginHost(entry_points=False)
        host.add_plugin(Plugin(), "widget-test")
        reset_host(host)
        close_clients()  # runnorm.get keeps a client per provider name: drop the last shape's

    yield installing
    reset_host()
    close_clients()


class Widget(ProviderConformance):
    provider = NAME


class SigningWidget(Widget):
    def sign_webhook(self, body: bytes, secret: str, timestamp: int) -> dict[str, str]:
        return sign(body, secret, timestamp)


def run_suite(cls: type[ProviderConformance]) -> dict[str, BaseException | None]:
    """Every ``test_*`` of *cls*, run as pytest would (once per sample where it takes one):
    test name -> its first failure, or None."""
    outcomes: dict[str, BaseException | None] = {}
    instance = cls()
    for name in sorted(n for n in dir(cls) if n.startswith("test_")):
        method = getattr(instance, name)
        wants = inspect.signature(method).parameters
        outcomes[name] = None
        try:
            if "runnorm_sample" in wants:
                for sample, payload in cls.sample_payloads():
                    extra = (
                        {"runnorm_sample_name": sample} if "runnorm_sample_name" in wants else {}
                    )
                    method(runnorm_sample=payload, **extra)
            elif "monkeypatch" in wants:
                with pytest.MonkeyPatch.context() as monkeypatch:
                    method(monkeypatch=monkeypatch)
            elif "tmp_path" in wants:
                with tempfile.TemporaryDirectory() as directory:
                    method(tmp_path=Path(directory))
            else:
                method()
        except Exception as exc:
            outcomes[name] = exc
    return outcomes


def failures(outcomes: Mapping[str, BaseException | None]) -> dict[str, str]:
    return {name: repr(exc) for name, exc in outcomes.items() if exc is not None}


IO_TESTS = {
    "test_get_returns_the_sample_as_normalized",
    "test_get_sends_the_declared_credential",
    "test_get_with_a_refused_key_is_an_auth_error",
    "test_get_of_an_unknown_run_is_a_not_found_error",
    "test_get_reads_the_key_from_its_environment_variable",
    "test_get_reads_the_base_url_from_its_environment_variable",
    "test_webhook_with_a_good_signature_parses_to_the_sample",
    "test_webhook_tampered_or_unsigned_is_a_signature_error",
    "test_webhook_with_a_stale_timestamp_is_a_signature_error",
    "test_cancel_outcomes_follow_the_declaration",
    "test_cancel_is_not_sent_twice_after_a_server_error",
    "test_resume_outcomes_follow_the_declaration",
    "test_resume_is_not_sent_twice_after_a_server_error",
    "test_artifacts_are_listed_as_declared",
    "test_artifact_downloads_check_their_bytes",
}

# The same widget with every control and artifact declaration shape.
CONTROLLED_REST = attrs.evolve(
    REST,
    cancel=RestControl(
        path="/v1/widgets/{run_id}/halt",
        method="DELETE",
        outcomes={409: "already_terminal", 404: "not_found"},
        returns_run=True,
    ),
    resume=RestControl(
        path="/v1/widgets/{run_id}/answer",
        method="PUT",
        body={"reply": {"text": "{message}"}, "source": "runnorm"},
        message="required",
        prefixes=("wdg_",),
        ambiguous=(410,),
    ),
    artifacts=Artifacts(
        listings=(
            ArtifactListing(  # links renewed by a remint
                "/v1/widgets/{run_id}/files",
                ArtifactFields(
                    id="fileId",
                    url="link",
                    name="fileName",
                    type_key="type",
                    kinds={"png": ArtifactKind.SCREENSHOT, "log": ArtifactKind.LOG},
                    size="bytes",
                    checksum="sha256",
                    media_type="contentType",
                    created_at="createdAt",
                    expires_at="linkExpiresAt",
                ),
                items="files",
                paging=CursorPages(next_field="cursor"),
                remint=Remint("/v1/files/{artifact_id}/link", url_key="link"),
                missing_ok=frozenset({404}),
            ),
            ArtifactListing(  # by a field of the run, renewed by listing again
                "/v1/sessions/{id}/videos",
                ArtifactFields(id="videoId", url="href", name_template="video-{videoId}.webm"),
                key="goal",
                items="videos",
                kind=ArtifactKind.RECORDING,
                media_type="video/webm",
                relists=True,
            ),
            ArtifactListing(  # no links: the bytes from a download path, bare arrays, pages
                "/v1/widgets/{run_id}/outputs",
                ArtifactFields(id="id", name_path="path"),
                query={"owner": "{run_id}"},
                paging=PageNumbers(size=10),
                kind=ArtifactKind.OUTPUT,
                download="/v1/outputs/{artifact_id}/bytes",
                accept="application/octet-stream",
            ),
        )
    ),
)
CONTROLLED_MCP = attrs.evolve(
    MCP,
    cancel=McpControl(
        tool="stop_widget", outcomes={"gone": "not_found", "done": "already_terminal"}
    ),
    resume=McpControl(tool="nudge_widget", message_argument="words", message="optional"),
)


def stdout_to_run(p: Mapping[str, Any]) -> Run:
    """The widget's goal as an inline stdout, its colour as an inline output file."""
    run = to_run(p)
    found = []
    if run.task:
        found.append(Artifact(kind=ArtifactKind.STDOUT, name="stdout", content=run.task))
    if p.get("colour"):
        found.append(Artifact(kind=ArtifactKind.OUTPUT, name="colour.txt", content=p["colour"]))
    return attrs.evolve(run, artifacts=tuple(found))


INLINE_MCP = attrs.evolve(
    CONTROLLED_MCP,
    to_run=stdout_to_run,
    artifacts=Artifacts(
        inline=True,
        content=ToolContent(tool="read_output", run_argument="widget", name_argument="file"),
    ),
)
INLINE_REST = attrs.evolve(REST, to_run=stdout_to_run, artifacts=Artifacts(inline=True))


@pytest.mark.parametrize(
    "provider",
    [
        BARE,
        REST,
        attrs.evolve(REST, auth=None, base_url_env=None),
        attrs.evolve(REST, base_url=None),
        MCP,
        attrs.evolve(MCP, fetch=McpFetch(tool="fetch_widget", argument="widget_id")),
        attrs.evolve(MCP, auth=None, base_url_env=None),
        CONTROLLED_REST,
        attrs.evolve(CONTROLLED_REST, auth=None, base_url_env=None),
        CONTROLLED_MCP,
        INLINE_MCP,
        INLINE_REST,
    ],
    ids=[
        "no-io",
        "rest",
        "rest-no-auth-no-env",
        "rest-env-only",
        "mcp",
        "mcp-no-codes",
        "mcp-bare",
        "rest-control-artifacts",
        "rest-control-artifacts-no-auth",
        "mcp-control",
        "mcp-inline-artifacts",
        "rest-inline-artifacts",
    ],
)
def test_every_test_passes_for_a_sound_declaration(
    install: Callable[[Provider], None], provider: Provider
) -> None:
    install(provider)
    outcomes = run_suite(SigningWidget)
    assert set(outcomes) >= IO_TESTS
    assert failures(outcomes) == {}


ROUTED = attrs.evolve(
    REST,
    fetch=RestFetch(
        path=None,
        kinds={"small": "/v1/small/{run_id}", "large": "/v2/large/{run_id}"},
        kind_option="size",
    ),
)


class SizedWidget(SigningWidget):
    fetch_options: ClassVar[Mapping[str, Any]] = {"size": "large"}


def test_a_provider_routed_by_kind_passes_with_its_fetch_options(
    install: Callable[[Provider], None],
) -> None:
    install(ROUTED)
    assert failures(run_suite(SizedWidget)) == {}
    outcomes = run_suite(SigningWidget)  # no kind given, and no default path
    assert "test_get_returns_the_sample_as_normalized" in failures(outcomes)
    assert "pass size=" in str(outcomes["test_get_returns_the_sample_as_normalized"])


def test_without_fetch_or_webhooks_the_io_tests_assert_unsupported(
    install: Callable[[Provider], None],
) -> None:
    install(BARE)
    assert failures(run_suite(Widget)) == {}  # and no sign_webhook is needed
    # What those tests assert, directly:
    with pytest.raises(runnorm.UnsupportedError):
        runnorm.get(NAME, "wdg_1", base_url="http://127.0.0.1:9", api_key="k")
    with pytest.raises(runnorm.UnsupportedError):
        runnorm.webhooks.parse(NAME, b"{}", {}, secret="s")


def test_a_lost_key_fails_with_the_three_fixes(install: Callable[[Provider], None]) -> None:
    install(attrs.evolve(BARE, to_run=lossy_to_run))
    outcomes = run_suite(Widget)
    assert set(failures(outcomes)) == {"test_sample_loses_nothing"}
    message = str(outcomes["test_sample_loses_nothing"])
    assert "sample 'done' loses 'secretSauce'" in message
    assert "map it to a Run field" in message
    assert "FieldReader.rest()" in message
    assert "FieldNote.dropped('secretSauce', reason)" in message


def mutating_to_run(p: Mapping[str, Any]) -> Run:
    """Tidies the caller's payload in place: pops ``goal`` after reading it."""
    run = to_run(p)
    p.pop("goal", None)  # type: ignore[attr-defined]
    return run


def mutating_detect(payload: Mapping[str, Any]) -> bool:
    """Strips the caller's payload in place while deciding."""
    payload.pop("colour", None)  # type: ignore[attr-defined]
    return detect(payload)


@pytest.mark.parametrize(
    ("declared", "failing"),
    [
        ({"to_run": mutating_to_run}, "test_sample_normalizes"),
        ({"detect": mutating_detect}, "test_detector_accepts_own_sample"),
    ],
    ids=["mapping", "detector"],
)
def test_a_plugin_that_changes_the_payload_it_is_given_fails(
    install: Callable[[Provider], None], declared: dict[str, Any], failing: str
) -> None:
    install(attrs.evolve(BARE, **declared))
    outcomes = run_suite(Widget)
    assert failing in failures(outcomes)
    assert "changed the payload it was given" in str(outcomes[failing])


def test_a_key_declared_dropped_is_not_lost(install: Callable[[Provider], None]) -> None:
    note = FieldNote.dropped("secretSauce", "a recipe, not run data")
    install(attrs.evolve(BARE, to_run=lossy_to_run, field_notes=(note,)))
    assert failures(run_suite(Widget)) == {}


def test_a_key_copied_elsewhere_in_the_payload_still_counts_as_used(
    install: Callable[[Provider], None], samples: Path
) -> None:
    # "url" repeats the first of "urls": removing it changes nothing, changing it does.
    def with_urls(p: Mapping[str, Any]) -> Run:
        urls = list(dict.fromkeys([*p.get("urls", []), *([p["url"]] if "url" in p else [])]))
        run = to_run({k: v for k, v in p.items() if k not in ("url", "urls")})
        return attrs.evolve(run, result=urls, raw=p)

    payload = {**SAMPLES["busy"], "urls": ["https://a.example", "https://b.example"]}
    (samples / "busy.json").write_text(json.dumps({**payload, "url": "https://a.example"}))
    install(attrs.evolve(BARE, to_run=with_urls))
    assert failures(run_suite(Widget)) == {}

    def without_url(p: Mapping[str, Any]) -> Run:
        return with_urls({k: v for k, v in p.items() if k != "url"})

    install(attrs.evolve(BARE, to_run=without_url))
    assert "'busy' loses 'url'" in str(run_suite(Widget)["test_sample_loses_nothing"])


def test_a_provider_without_a_default_base_url_fetches_with_one_per_call(
    install: Callable[[Provider], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    install(attrs.evolve(REST, base_url=None))
    monkeypatch.delenv("WIDGET_BASE_URL", raising=False)
    # The module-level client is built without the call's options: it must not need them.
    Widget().test_get_of_an_unknown_run_is_a_not_found_error()
    with runnorm.Client(NAME, api_key="k") as client, pytest.raises(runnorm.ConfigError):
        client.get("wdg_1")


def test_a_verifier_that_ignores_the_body_or_the_time_fails(
    install: Callable[[Provider], None],
) -> None:
    install(attrs.evolve(REST, verify_webhook=verify_ignoring_body))
    outcomes = run_suite(SigningWidget)
    assert set(failures(outcomes)) == {"test_webhook_tampered_or_unsigned_is_a_signature_error"}
    assert "(a space added): expected SignatureError" in str(
        outcomes["test_webhook_tampered_or_unsigned_is_a_signature_error"]
    )
    install(attrs.evolve(REST, verify_webhook=verify_ignoring_time))
    outcomes = run_suite(SigningWidget)
    assert set(failures(outcomes)) == {"test_webhook_with_a_stale_timestamp_is_a_signature_error"}
    assert "an hour before now" in str(
        outcomes["test_webhook_with_a_stale_timestamp_is_a_signature_error"]
    )


def test_webhooks_without_sign_webhook_fail_saying_what_to_implement(
    install: Callable[[Provider], None],
) -> None:
    install(REST)
    outcomes = run_suite(Widget)
    webhook_tests = {name for name in IO_TESTS if "webhook" in name}
    assert set(failures(outcomes)) == webhook_tests
    for name in webhook_tests:
        error = outcomes[name]
        assert isinstance(error, NotImplementedError)
        assert "Widget.sign_webhook(self, body, secret, timestamp)" in str(error)


def test_samples_are_parametrized_with_their_names() -> None:
    class Skyvern(ProviderConformance):
        provider = "skyvern"

    class Metafunc:
        cls = Skyvern
        fixturenames = ("runnorm_sample_name", "runnorm_sample")

        def __init__(self) -> None:
            self.calls: list[tuple[str, list[Any], list[str]]] = []

        def parametrize(self, names: str, values: list[Any], ids: list[str]) -> None:
            self.calls.append((names, values, ids))

    from runnorm.testing import pytest_generate_tests

    metafunc = Metafunc()
    pytest_generate_tests(metafunc)  # type: ignore[arg-type]
    ((names, values, ids),) = metafunc.calls
    assert names == "runnorm_sample_name,runnorm_sample"
    assert [name for name, _ in values] == ids == [name for name, _ in Skyvern.sample_payloads()]
    assert [payload for _, payload in values] == [p for _, p in Skyvern.sample_payloads()]


LIST_TESTS = {
    "test_list_runs_pages_through_the_declared_listing",
    "test_list_runs_since_selects_by_creation_and_stops_early",
    "test_list_runs_cut_short_is_a_list_limit_error",
}
LISTINGS = {
    "page-numbers": RestList(
        path="/v1/widgets",
        paging=PageNumbers(size=4, max_page=50),
        order="newest_first",
        created_key="createdAt",
    ),
    "offsets-unordered": RestList(
        path="/v1/widgets",
        paging=OffsetPages(size=4),
        items="widgets",
        created_key="createdAt",
        time=TimeFilter(since_param="from", format="epoch_seconds"),
    ),
    "cursor-oldest-first": RestList(
        path="/v1/widgets",
        paging=CursorPages(next_field="next", size=10),
        items="widgets",
        order="oldest_first",
        created_key="createdAt",
    ),
    "after-ids-with-a-param": RestList(
        path="/v1/widgets",
        paging=AfterPages(item_id="widgetId", more_field=None),
        items="data",
        order="newest_first",
        created_key="createdAt",
        params=(ListParam("team", "team_id", required=True),),
    ),
    "next-urls": RestList(
        path="/v1/widgets",
        paging=NextUrlPages(next_field="next"),
        items="results",
        order="newest_first",
        created_key="createdAt",
    ),
}


@pytest.mark.parametrize("listing", list(LISTINGS.values()), ids=list(LISTINGS))
def test_the_list_tests_pass_for_each_paging_style(
    install: Callable[[Provider], None], listing: RestList
) -> None:
    install(attrs.evolve(REST, list=listing))
    outcomes = run_suite(SigningWidget)
    assert set(outcomes) >= LIST_TESTS
    assert failures(outcomes) == {}


def test_the_list_tests_pass_for_a_capped_tool_over_the_mcp_stand_in(
    install: Callable[[Provider], None],
) -> None:
    listing = McpList(
        tool="list_widgets",
        max_items=20,
        items="widgets",
        order="newest_first",
        created_key="createdAt",
        params=(ListParam("team", "team_id", required=True),),
        shared=("team_id",),
    )
    install(attrs.evolve(MCP, list=listing))
    assert failures(run_suite(Widget)) == {}


def test_a_listing_whose_runs_lack_their_creation_time_fails_the_since_test(
    install: Callable[[Provider], None],
) -> None:
    def no_created(p: Mapping[str, Any]) -> Run:
        return attrs.evolve(to_run(p), timing=runnorm.Timing())

    install(attrs.evolve(REST, to_run=no_created, list=LISTINGS["page-numbers"]))
    found = failures(run_suite(SigningWidget))
    assert "test_list_runs_since_selects_by_creation_and_stops_early" in found
    assert "test_list_runs_pages_through_the_declared_listing" not in found
