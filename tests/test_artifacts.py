"""runnorm.artifacts: each provider's artifacts as it lists them, with ids and link expiry.

Skyvern's ``GET /v1/runs/{id}/artifacts`` and Browserbase's session listings through
``FakeProviderServer``; Bridge Town's inline outputs through the server built with the official
``mcp`` SDK; every paging style through test-only providers registered like a plugin.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import attrs
import pytest
from mcp_server import BridgeTownServer, load_get_run_samples, running_bridgetown_server

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
    Fields,
    NextUrlPages,
    NotFoundError,
    OffsetPages,
    PageNumbers,
    PayloadError,
    Provider,
    RestFetch,
    Run,
    RunnormWarning,
    RunStatus,
    StatusMap,
    UnsupportedError,
)
from runnorm._live.api import close_clients
from runnorm._live.artifacts import link_expiry, scoped_id, split_scoped_id
from runnorm._plugins.host import PluginHost, reset_host
from runnorm.testing import FakeProviderServer, Reply

SKY_KEY = "sk-artifacts-test-0123456789"
BB_KEY = "bb_artifacts_test_9876543210"
QUICK = {"max_retries": 0, "timeout": 10.0}
CHECKSUM = "a" * 64
PAGED_KEY = "paged-key-5550123"


# -- link expiry ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://b.s3.amazonaws.com/k.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Date=20260120T115229Z&X-Amz-Expires=3600&X-Amz-Signature=abc",
            datetime(2026, 1, 20, 12, 52, 29, tzinfo=UTC),
        ),
        (
            "https://storage.googleapis.com/b/k?x-goog-date=20260120T000000Z&x-goog-expires=60",
            datetime(2026, 1, 20, 0, 1, tzinfo=UTC),
        ),
        (
            "https://api.skyvern.com/v1/artifacts/a_1/content?sig=s&expiry=1768909949&kid=k1",
            datetime.fromtimestamp(1768909949, UTC),
        ),
        (
            "https://d1.cloudfront.net/r.mp4?Expires=1768909949&Signature=x&Key-Pair-Id=K",
            datetime.fromtimestamp(1768909949, UTC),
        ),
        (
            "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2026-01-20T12%3A00%3A00Z&sig=x",
            datetime(2026, 1, 20, 12, tzinfo=UTC),
        ),
        ("https://files.example/r.mp4", None),
        ("https://files.example/r.mp4?X-Amz-Date=nonsense&X-Amz-Expires=60", None),
        ("https://files.example/r.mp4?X-Amz-Date=20260120T000000Z&X-Amz-Expires=soon", None),
        ("https://files.example/r.mp4?expiry=9" + "9" * 30, None),
        ("https://files.example/r.mp4?se=2026-01-20", None),  # no sig: not a SAS link
        (None, None),
        ("https://[::1/", None),
    ],
)
def test_link_expiry_reads_what_the_link_says(url: str | None, expected: datetime | None) -> None:
    assert link_expiry(url) == expected


def test_scoped_ids_split_at_the_first_slash() -> None:
    assert scoped_id("sess/1", "page/0") == "sess%2F1/page/0"
    assert split_scoped_id("sess%2F1/page/0") == ("sess/1", "page/0")
    assert split_scoped_id("a_123") is None
    assert scoped_id("..", "x") is None


# -- Skyvern --------------------------------------------------------------------------------


@pytest.fixture
def skyvern() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-api-key", SKY_KEY)) as server:
        yield server


def sky(server: FakeProviderServer) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": SKY_KEY, **QUICK}


SKYVERN_ITEMS = [
    {
        "artifact_id": "a_rec",
        "artifact_type": "recording",
        "uri": "s3://skyvern-artifacts/v1/production/o_1/wr_1/recording.webm",
        "signed_url": "https://artifacts.skyvern.example/a_rec?X-Amz-Date=20260120T115229Z&X-Amz-Expires=3600",
        "checksum": None,
        "file_size": 1048576,
        "run_id": "wr_1",
        "archived": False,
        "created_at": "2026-01-20T11:52:29.276851",
        "modified_at": "2026-01-20T11:52:29.276851",
    },
    {
        "artifact_id": "a_shot",
        "artifact_type": "screenshot_final",
        "uri": "s3://skyvern-artifacts/v1/production/o_1/wr_1/01_final.png",
        "signed_url": "https://api.skyvern.com/v1/artifacts/a_shot/content?sig=s&expiry=1768913549&kid=k1",
        "checksum": CHECKSUM,
        "file_size": 2048,
        "created_at": "2026-01-20T11:53:00Z",
    },
    {
        "artifact_id": "a_html",
        "artifact_type": "html_scrape",
        "uri": "s3://skyvern-artifacts/v1/production/o_1/wr_1/",
        "signed_url": None,
        "created_at": "2026-01-20T11:54:00Z",
    },
]


def test_skyvern_lists_its_artifacts_endpoint(skyvern: FakeProviderServer) -> None:
    skyvern.routes["/v1/runs/wr_1/artifacts"] = SKYVERN_ITEMS
    recording, shot, html = runnorm.artifacts("skyvern", "wr_1", **sky(skyvern))
    assert recording == Artifact(
        kind=ArtifactKind.RECORDING,
        url=SKYVERN_ITEMS[0]["signed_url"],
        name="recording.webm",
        size=1048576,
        created_at=datetime(2026, 1, 20, 11, 52, 29, 276851, tzinfo=UTC),
        id="a_rec",
        expires_at=datetime(2026, 1, 20, 12, 52, 29, tzinfo=UTC),
    )
    assert (shot.kind, shot.name, shot.checksum, shot.size) == (
        ArtifactKind.SCREENSHOT,
        "01_final.png",
        CHECKSUM,
        2048,
    )
    assert shot.expires_at == datetime.fromtimestamp(1768913549, UTC)
    # A type word not mapped is `other`; no link, yet downloadable through the content path.
    assert (html.kind, html.url, html.id, html.name, html.expires_at) == (
        ArtifactKind.OTHER,
        None,
        "a_html",
        "wr_1",  # the uri's last segment
        None,
    )
    (sent,) = skyvern.requests
    assert (sent.method, sent.path, sent.headers["x-api-key"]) == (
        "GET",
        "/v1/runs/wr_1/artifacts",
        SKY_KEY,
    )


def test_skyvern_listing_errors(skyvern: FakeProviderServer) -> None:
    with pytest.raises(NotFoundError):
        runnorm.artifacts("skyvern", "wr_missing", **sky(skyvern))
    skyvern.routes["/v1/runs/wr_1/artifacts"] = {"artifacts": []}
    with pytest.raises(PayloadError, match="not a JSON array of artifacts"):
        runnorm.artifacts("skyvern", "wr_1", **sky(skyvern))
    skyvern.routes["/v1/runs/wr_1/artifacts"] = [{"artifact_id": "a_1", "signed_url": 7}]
    with pytest.raises(PayloadError) as info:
        runnorm.artifacts("skyvern", "wr_1", **sky(skyvern))
    assert info.value.path == "/v1/runs/{run_id}/artifacts[0].signed_url"
    skyvern.routes["/v1/runs/wr_1/artifacts"] = [{"artifact_id": "a_1", "created_at": "yesterday"}]
    with pytest.raises(PayloadError, match="created_at"):
        runnorm.artifacts("skyvern", "wr_1", **sky(skyvern))


def test_skyvern_run_payload_artifacts_carry_the_download_ids() -> None:
    run = runnorm.normalize(
        {
            "run_id": "tsk_1",
            "status": "completed",
            "downloaded_files": [
                {
                    "url": "https://x/f.pdf",
                    "filename": "f.pdf",
                    "artifact_id": "a_9",
                    "checksum": CHECKSUM,
                }
            ],
        }
    )
    (download,) = run.artifacts
    assert (download.kind, download.id, download.name) == (ArtifactKind.DOWNLOAD, "a_9", "f.pdf")
    assert Run.from_dict(run.to_dict()) == run


# -- Browserbase ----------------------------------------------------------------------------

AGENT_RUN = {
    "runId": "run_7",
    "status": "COMPLETED",
    "task": "Book a table",
    "sessionId": "sess_7",
    "createdAt": "2026-01-20T11:52:29Z",
    "updatedAt": "2026-01-20T11:53:29Z",
}
RECORDINGS = {
    "downloads": [
        {
            "pageId": "0",
            "status": "COMPLETED",
            "downloadUrl": "https://cdn.example/0.mp4?Expires=1768913549",
            "completedAt": "2026-01-20T11:55:00Z",
        },
        {"pageId": "1", "status": "PENDING", "downloadUrl": None, "completedAt": None},
    ]
}
FILES = {
    "downloads": [
        {
            "id": "dl_1",
            "filename": "menu.pdf",
            "mimeType": "application/pdf",
            "size": 3,
            "checksum": CHECKSUM,
            "createdAt": "2026-01-20T11:54:00Z",
        }
    ],
    "total": 1,
    "limit": 100,
    "offset": 0,
}


@pytest.fixture
def browserbase() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-bb-api-key", BB_KEY)) as server:
        server.routes["/v1/agents/runs/run_7"] = AGENT_RUN
        server.routes["/v1/sessions/sess_7/recording/downloads"] = RECORDINGS
        server.routes["/v1/downloads"] = FILES
        yield server


def bb(server: FakeProviderServer) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": BB_KEY, **QUICK}


def test_browserbase_lists_the_sessions_recordings_and_downloads(
    browserbase: FakeProviderServer,
) -> None:
    recording, menu = runnorm.artifacts("browserbase", "run_7", **bb(browserbase))
    assert recording == Artifact(
        kind=ArtifactKind.RECORDING,
        url="https://cdn.example/0.mp4?Expires=1768913549",
        name="page-0.mp4",
        media_type="video/mp4",
        created_at=datetime(2026, 1, 20, 11, 55, tzinfo=UTC),
        id="sess_7/0",  # renewed by listing the session's recordings again
        expires_at=datetime.fromtimestamp(1768913549, UTC),
    )
    assert menu == Artifact(
        kind=ArtifactKind.DOWNLOAD,
        name="menu.pdf",
        checksum=CHECKSUM,
        size=3,
        media_type="application/pdf",
        created_at=datetime(2026, 1, 20, 11, 54, tzinfo=UTC),
        id="dl_1",
    )
    paths = [(r.path, r.query) for r in browserbase.requests]
    assert paths[0] == ("/v1/agents/runs/run_7", "")
    assert paths[1] == ("/v1/sessions/sess_7/recording/downloads", "")
    assert paths[2][0] == "/v1/downloads"
    assert parse_qs(paths[2][1]) == {"sessionId": ["sess_7"], "offset": ["0"], "limit": ["100"]}
    assert all(r.method == "GET" for r in browserbase.requests)  # never the POST that builds


def test_browserbase_downloads_not_on_the_plan_warn_and_leave_the_rest(
    browserbase: FakeProviderServer,
) -> None:
    browserbase.script("/v1/downloads", Reply(403, {"message": "not on your plan"}))
    with pytest.warns(RunnormWarning, match="GET /v1/downloads answered HTTP 403"):
        found = runnorm.artifacts("browserbase", "run_7", **bb(browserbase))
    assert [a.kind for a in found] == [ArtifactKind.RECORDING]
    browserbase.script("/v1/downloads", Reply(500, {"message": "down"}))
    with pytest.raises(runnorm.ServerError):
        runnorm.artifacts("browserbase", "run_7", **bb(browserbase))


def test_a_run_without_a_session_has_no_session_artifacts(browserbase: FakeProviderServer) -> None:
    browserbase.routes["/v1/agents/runs/run_8"] = {**AGENT_RUN, "runId": "run_8", "sessionId": None}
    assert runnorm.artifacts("browserbase", "run_8", **bb(browserbase)) == []
    assert [r.path for r in browserbase.requests] == ["/v1/agents/runs/run_8"]


def test_async_twin_lists_the_same(browserbase: FakeProviderServer) -> None:
    sync = runnorm.artifacts("browserbase", "run_7", **bb(browserbase))

    async def main() -> list[Artifact]:
        return await runnorm.aartifacts("browserbase", "run_7", **bb(browserbase))

    assert asyncio.run(main()) == sync


# -- Bridge Town ----------------------------------------------------------------------------

RUNS = load_get_run_samples()
MULTI = next(k for k, v in RUNS.items() if len((v.get("output") or {}).get("outputs") or {}) > 1)


@pytest.fixture(scope="module")
def bridgetown() -> Iterator[BridgeTownServer]:
    with running_bridgetown_server(runs=dict(RUNS), json_response=True) as server:
        yield server


def test_bridgetown_artifacts_are_the_runs_inline_ones_with_ids(
    bridgetown: BridgeTownServer,
) -> None:
    found = runnorm.artifacts(
        "bridgetown", MULTI, base_url=bridgetown.url, api_key=bridgetown.token
    )
    run = runnorm.normalize(RUNS[MULTI])
    assert [attrs.evolve(a, id=None) for a in found] == list(run.artifacts)
    for artifact in found:
        if artifact.kind is ArtifactKind.OUTPUT:
            assert artifact.id == f"{MULTI}/{artifact.name}"
        else:
            assert artifact.id is None and artifact.content is not None


# -- paging styles, through test-only providers ---------------------------------------------


def _provider(name: str, listing: ArtifactListing) -> Provider:
    fields = Fields(name)
    statuses = StatusMap(name, {"done": RunStatus.SUCCEEDED})

    def to_run(p: Mapping[str, Any]) -> Run:
        native = fields.status_word(p, "status")
        return Run(
            provider=name,
            id=fields.id(p, "id"),
            status=statuses.lookup(native),
            native_status=native,
            raw=p,
        )

    return Provider(
        name=name,
        statuses=statuses,
        to_run=to_run,
        detect=lambda p: False,
        auth=Auth(header="x-key", env_var="NO_SUCH_KEY"),
        base_url="http://127.0.0.1:9",
        fetch=RestFetch(path="/runs/{run_id}"),
        artifacts=Artifacts(listings=(listing,)),
    )


@pytest.fixture
def paged() -> Iterator[FakeProviderServer]:
    listings = {
        "pages": ArtifactListing(
            "/runs/{run_id}/files",
            ArtifactFields(id="id", url="url"),
            items="data",
            paging=PageNumbers(size=2, max_page=3),
        ),
        "offsets": ArtifactListing(
            "/runs/{run_id}/files",
            ArtifactFields(id="id", url="url"),
            items="data",
            paging=OffsetPages(size=2),
        ),
        "cursors": ArtifactListing(
            "/runs/{run_id}/files",
            ArtifactFields(id="id", url="url"),
            items="data",
            paging=CursorPages(next_field="next", size=2),
        ),
        "after": ArtifactListing(
            "/runs/{run_id}/files",
            ArtifactFields(id="id", url="url"),
            items="data",
            paging=AfterPages(size=2),
        ),
        "links": ArtifactListing(
            "/runs/{run_id}/files",
            ArtifactFields(id="id", url="url"),
            items="data",
            paging=NextUrlPages(),
        ),
    }
    host = PluginHost(entry_points=False)

    class Plugin:
        @runnorm.hookimpl
        def runnorm_register_providers(self, register):  # type: ignore[no-untyped-def]
            for name, listing in listings.items():
                register(_provider(f"paged-{name}", listing))

    host.add_plugin(Plugin(), "paging-test")
    assert all(info.ok for info in host.infos()), [info.error for info in host.infos()]
    previous = reset_host(host)
    with FakeProviderServer(auth=("x-key", PAGED_KEY)) as server:
        yield server
    close_clients()
    reset_host(previous)


def item(n: int) -> dict[str, Any]:
    return {"id": f"f{n}", "url": f"https://files.example/f{n}"}


def listed(server: FakeProviderServer, provider: str) -> list[str | None]:
    found = runnorm.artifacts(provider, "r1", base_url=server.url, api_key=PAGED_KEY, **QUICK)
    return [a.id for a in found]


def queries(server: FakeProviderServer) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in server.requests if r.path == "/runs/r1/files"]


def test_numbered_pages_stop_at_a_short_page_or_the_page_cap(paged: FakeProviderServer) -> None:
    path = "/runs/r1/files"
    paged.script(path, Reply(200, {"data": [item(1), item(2)]}), Reply(200, {"data": [item(3)]}))
    assert listed(paged, "paged-pages") == ["f1", "f2", "f3"]
    assert [q["page"] for q in queries(paged)] == [["1"], ["2"]]
    paged.requests.clear()
    full = Reply(200, {"data": [item(1), item(2)]})
    paged.script(path, full, full, full, full)
    assert len(listed(paged, "paged-pages")) == 6  # max_page=3
    assert [q["page"] for q in queries(paged)] == [["1"], ["2"], ["3"]]


def test_offset_pages_follow_the_total(paged: FakeProviderServer) -> None:
    paged.script(
        "/runs/r1/files",
        Reply(200, {"data": [item(1), item(2)], "total": 3}),
        Reply(200, {"data": [item(3)], "total": 3}),
    )
    assert listed(paged, "paged-offsets") == ["f1", "f2", "f3"]
    assert [q["offset"] for q in queries(paged)] == [["0"], ["2"]]


def test_cursor_pages_send_the_cursor_back_and_refuse_a_repeated_one(
    paged: FakeProviderServer,
) -> None:
    path = "/runs/r1/files"
    paged.script(
        path,
        Reply(200, {"data": [item(1)], "next": "c2"}),
        Reply(200, {"data": [item(2)], "next": None}),
    )
    assert listed(paged, "paged-cursors") == ["f1", "f2"]
    assert [q.get("cursor") for q in queries(paged)] == [None, ["c2"]]
    assert all(q["limit"] == ["2"] for q in queries(paged))
    loop = Reply(200, {"data": [item(1)], "next": "c2"})
    paged.script(path, loop, loop, loop)
    with pytest.raises(PayloadError, match="same next page marker twice"):
        listed(paged, "paged-cursors")


def test_after_pages_send_the_last_id(paged: FakeProviderServer) -> None:
    paged.script(
        "/runs/r1/files",
        Reply(200, {"data": [item(1), item(2)], "has_more": True}),
        Reply(200, {"data": [item(3)], "has_more": False}),
    )
    assert listed(paged, "paged-after") == ["f1", "f2", "f3"]
    assert [q.get("after") for q in queries(paged)] == [None, ["f2"]]


def test_next_urls_are_followed_only_on_the_base_urls_origin(paged: FakeProviderServer) -> None:
    path = "/runs/r1/files"
    paged.script(
        path,
        Reply(200, {"data": [item(1)], "next": f"{paged.url}/runs/r1/files?page=2"}),
        Reply(200, {"data": [item(2)], "next": None}),
    )
    assert listed(paged, "paged-links") == ["f1", "f2"]
    assert queries(paged)[1] == {"page": ["2"]}
    assert all(r.headers.get("x-key") == PAGED_KEY for r in paged.requests)
    paged.script(path, Reply(200, {"data": [item(1)], "next": "http://evil.example/runs?page=2"}))
    with pytest.raises(PayloadError, match="another origin"):
        listed(paged, "paged-links")


def test_a_next_url_that_spells_the_key_is_never_requested(
    paged: FakeProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    path = "/runs/r1/files"
    echo = f"{paged.url}/runs/r1/files?page=2&token={PAGED_KEY}"
    paged.script(path, Reply(200, {"data": [item(1)], "next": echo}), Reply(200, {"data": []}))
    with caplog.at_level(logging.DEBUG), pytest.raises(PayloadError) as info:
        listed(paged, "paged-links")
    assert len(paged.requests) == 1  # the URL spelling the key was not sent for
    assert PAGED_KEY not in str(info.value)
    assert PAGED_KEY not in caplog.text


def test_a_provider_without_artifacts_is_unsupported() -> None:
    from runnorm._plugins.host import get_host

    acme_like = attrs.evolve(
        get_host().get("skyvern"), name="no-artifacts", aliases=(), artifacts=None
    )
    with (
        runnorm.Client(acme_like, base_url="http://127.0.0.1:9", api_key="k") as client,
        pytest.raises(UnsupportedError, match="does not list artifacts"),
    ):
        client.artifacts("tsk_1")


def test_expiry_in_an_item_field_wins_over_the_link() -> None:
    listing = ArtifactListing(
        "/runs/{run_id}/files",
        ArtifactFields(id="id", url="url", expires_at="expiresAt"),
    )
    provider = _provider("expiring", listing)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    with FakeProviderServer() as server:
        server.routes["/runs/r1/files"] = [
            {"id": "f", "url": "https://x/f?Expires=1", "expiresAt": soon.isoformat()}
        ]
        with (
            runnorm.Client(provider, base_url=server.url, api_key="k") as client,
            warnings.catch_warnings(),
        ):
            (found,) = client.artifacts("r1")
    assert found.expires_at == soon
