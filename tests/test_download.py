"""runnorm.download: bytes streamed to a file beside the target, checked, resumed, renewed.

The provider's API is one loopback server, the host of its presigned links another (its
recorded requests show which headers arrived there); raw-socket servers cut transfers halfway
and answer ``Range`` requests as real ones do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_server import Exchange, HostileServer, http_response
from mcp_server import BridgeTownServer, load_get_run_samples, running_bridgetown_server

import runnorm
from runnorm import (
    Artifact,
    ArtifactError,
    ArtifactKind,
    ConfigError,
    NotFoundError,
    RunnormWarning,
    TransportError,
)
from runnorm._files import clean_name, numbered
from runnorm._live.artifacts import link_expiry
from runnorm._live.download import checksum_digest, partial_key
from runnorm.testing import FakeProviderServer, Reply

KEY = "sk-download-test-0123456789"
DATA = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(DATA).hexdigest()
QUICK = {"max_retries": 0, "timeout": 10.0}


@pytest.fixture
def api() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-api-key", KEY)) as server:
        yield server


@pytest.fixture
def cdn() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


def sky(server: FakeProviderServer | HostileServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": KEY, **QUICK, **more}


def shot(url: str | None, **more: Any) -> Artifact:
    fields: dict[str, Any] = {
        "kind": ArtifactKind.SCREENSHOT,
        "url": url,
        "name": "final.png",
        "checksum": SHA,
        "size": len(DATA),
        "id": "a_1",
        **more,
    }
    return Artifact(**fields)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- good, bad and truncated bytes ----------------------------------------------------------


def test_a_presigned_link_downloads_without_the_key(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.routes["/o_1/final.png"] = DATA
    seen: list[tuple[int, int | None]] = []
    link = f"{cdn.url}/o_1/final.png?X-Amz-Signature=abc"
    path = runnorm.download(
        "skyvern",
        shot(link),
        tmp_path / "out",
        on_progress=lambda done, total: seen.append((done, total)),
        **sky(api, headers={"X-Team": "secret-team-header"}),
    )
    assert path == tmp_path / "out" / "final.png" and path.read_bytes() == DATA
    assert leftovers(tmp_path / "out") == ["final.png"]  # no partial file left
    (request,) = cdn.requests
    assert "x-api-key" not in request.headers and "x-team" not in request.headers
    assert request.headers["accept-encoding"] == "identity"
    assert request.query == "X-Amz-Signature=abc"
    assert api.requests == []
    assert seen[-1] == (len(DATA), len(DATA))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_a_link_under_the_base_url_gets_the_key(api: FakeProviderServer, tmp_path: Path) -> None:
    api.routes["/v1/artifacts/a_1/content"] = DATA
    link = f"{api.url}/v1/artifacts/a_1/content"
    path = runnorm.download("skyvern", shot(link), tmp_path, **sky(api))
    assert path.read_bytes() == DATA
    (request,) = api.requests
    assert request.headers["x-api-key"] == KEY


def test_bytes_that_fail_the_checksum_leave_nothing(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.routes["/f"] = DATA[:-1] + b"\x00"
    with pytest.raises(ArtifactError, match="do not match the provider's SHA-256") as info:
        runnorm.download("skyvern", shot(f"{cdn.url}/f"), tmp_path, **sky(api))
    assert info.value.check == "checksum" and info.value.path is None
    assert isinstance(info.value, runnorm.RunnormError)
    assert leftovers(tmp_path) == []


def test_a_base64_checksum_and_an_unusable_one() -> None:
    import base64

    digest = hashlib.sha256(DATA).digest()
    assert checksum_digest(SHA) == checksum_digest(base64.b64encode(digest).decode()) == digest
    assert checksum_digest(f"sha256:{SHA.upper()}") == digest
    assert checksum_digest("d41d8cd98f00b204e9800998ecf8427e") is None  # MD5: not verified


def test_an_unusable_checksum_warns_and_is_not_verified(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.routes["/f"] = DATA
    artifact = shot(f"{cdn.url}/f", checksum="md5:whatever")
    with pytest.warns(RunnormWarning, match="not SHA-256"):
        path = runnorm.download("skyvern", artifact, tmp_path, **sky(api))
    assert path.read_bytes() == DATA


def test_more_bytes_than_the_provider_says_fail_and_leave_nothing(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.routes["/f"] = DATA + b"extra"
    with pytest.raises(ArtifactError, match="the provider says 1048576") as info:
        runnorm.download("skyvern", shot(f"{cdn.url}/f"), tmp_path, **sky(api))
    assert info.value.check == "size"
    cdn.routes["/f"] = DATA  # no Content-Length: stopped while streaming
    cdn.script("/f", Reply(200, DATA + b"extra", chunked=True))
    with pytest.raises(ArtifactError) as info:
        runnorm.download("skyvern", shot(f"{cdn.url}/f", checksum=None), tmp_path, **sky(api))
    assert info.value.check == "size"
    assert leftovers(tmp_path) == []


def _cut_then_ranges(cut: int, *, honour_range: bool = True) -> Any:
    """A file server: the first GET sends the full length and then only *cut* bytes before
    closing; later GETs honour ``Range: bytes=N-`` with 206 (or ignore it: 200)."""

    def handle(exchange: Exchange) -> bool:
        asked = exchange.request.headers.get("range")
        if exchange.index == 0:
            head = http_response(
                200, b"", {"Content-Length": str(len(DATA)), "Accept-Ranges": "bytes"}, length=False
            )
            exchange.send(head + DATA[:cut])
            return False
        if asked and honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))  # type: ignore[union-attr]
            body = DATA[start:]
            content_range = f"bytes {start}-{len(DATA) - 1}/{len(DATA)}"
            exchange.send(http_response(206, body, {"Content-Range": content_range}))
        else:
            exchange.send(http_response(200, DATA))
        return True

    return handle


def test_an_interrupted_download_leaves_nothing_at_the_name_and_resumes(
    api: FakeProviderServer, tmp_path: Path
) -> None:
    half = len(DATA) // 2
    with HostileServer(_cut_then_ranges(half)) as files:
        artifact = shot(f"{files.url}/f.png")
        with pytest.raises(TransportError, match="bytes received are kept") as info:
            runnorm.download("skyvern", artifact, tmp_path, **sky(api))
        assert info.value.kind == "read"
        (partial,) = leftovers(tmp_path)
        assert partial.startswith(".runnorm-") and partial.endswith(".partial")
        assert (tmp_path / partial).stat().st_size == half
        assert not (tmp_path / "final.png").exists()
        path = runnorm.download("skyvern", artifact, tmp_path, **sky(api))  # a later call
        assert path.read_bytes() == DATA and leftovers(tmp_path) == ["final.png"]
        assert files.requests[1].headers["range"] == f"bytes={half}-"


def test_a_broken_transfer_resumes_within_the_call(api: FakeProviderServer, tmp_path: Path) -> None:
    with HostileServer(_cut_then_ranges(1000)) as files:
        path = runnorm.download(
            "skyvern", shot(f"{files.url}/f.png"), tmp_path, **sky(api, max_retries=1)
        )
        assert path.read_bytes() == DATA
        assert [r.headers.get("range") for r in files.requests] == [None, "bytes=1000-"]


NEW_DATA = bytes(reversed(DATA))  # the same length, other bytes


def _changing_file(cut: int, versions: list[tuple[str, bytes]]) -> Any:
    """A file server whose content changes: each GET serves the next of *versions* (its
    ETag and bytes; the last one stays), the first cut after *cut* bytes; a Range request
    is answered 206 unless its ``If-Range`` names another version (then 200, whole), as
    real servers do: without ``If-Range`` a resume would splice two versions."""

    def handle(exchange: Exchange) -> bool:
        etag, data = versions[min(exchange.index, len(versions) - 1)]
        asked = exchange.request.headers.get("range")
        if exchange.index == 0:
            head = http_response(
                200, b"", {"Content-Length": str(len(data)), "ETag": etag}, length=False
            )
            exchange.send(head + data[:cut])
            return False
        if asked and exchange.request.headers.get("if-range", etag) == etag:
            start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))  # type: ignore[union-attr]
            content_range = f"bytes {start}-{len(data) - 1}/{len(data)}"
            exchange.send(
                http_response(206, data[start:], {"Content-Range": content_range, "ETag": etag})
            )
        else:
            exchange.send(http_response(200, data, {"ETag": etag}))
        return True

    return handle


def test_a_resume_names_the_etag_and_a_changed_file_starts_over(
    api: FakeProviderServer, tmp_path: Path
) -> None:
    with HostileServer(_changing_file(1000, [('"v1"', DATA), ('"v2"', NEW_DATA)])) as files:
        artifact = shot(f"{files.url}/f.png", checksum=None)
        path = runnorm.download("skyvern", artifact, tmp_path, **sky(api, max_retries=1))
        assert path.read_bytes() == NEW_DATA  # not the first 1,000 bytes of v1 before v2's rest
        sent = [(r.headers.get("range"), r.headers.get("if-range")) for r in files.requests]
        assert sent == [(None, None), ("bytes=1000-", '"v1"')]
    assert leftovers(tmp_path) == ["final.png"]


def test_a_later_call_resumes_with_the_validator_it_kept(
    api: FakeProviderServer, tmp_path: Path
) -> None:
    with HostileServer(_changing_file(1000, [('"v1"', DATA)])) as files:
        artifact = shot(f"{files.url}/f.png")
        with pytest.raises(TransportError, match="bytes received are kept"):
            runnorm.download("skyvern", artifact, tmp_path, **sky(api))
        partial = f".runnorm-{partial_key('skyvern', artifact)}.partial"
        assert leftovers(tmp_path) == [partial, partial + ".validator"]
        path = runnorm.download("skyvern", artifact, tmp_path, **sky(api))
        assert path.read_bytes() == DATA
        assert files.requests[1].headers["if-range"] == '"v1"'
        assert files.requests[1].headers["range"] == "bytes=1000-"
    assert leftovers(tmp_path) == ["final.png"]


def test_an_etag_spelling_the_key_is_never_kept(api: FakeProviderServer, tmp_path: Path) -> None:
    with HostileServer(_changing_file(1000, [(f'"{KEY}"', DATA)])) as files:
        artifact = shot(f"{files.url}/f.png")
        with pytest.raises(TransportError):
            runnorm.download("skyvern", artifact, tmp_path, **sky(api))
        (partial,) = leftovers(tmp_path)  # no validator file: it would write the key to disk
        assert not partial.endswith(".validator")
        path = runnorm.download("skyvern", artifact, tmp_path, **sky(api))
        assert path.read_bytes() == DATA and "if-range" not in files.requests[1].headers


def test_a_weak_etag_is_not_sent_and_last_modified_is(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    for validator, sent in (
        ({"ETag": 'W/"weak"'}, None),
        ({"ETag": 'W/"weak"', "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"},
         "Tue, 01 Dec 2026 10:00:00 GMT"),
    ):  # fmt: skip
        directory = tmp_path / str(len(validator))
        directory.mkdir()
        artifact = shot(f"{cdn.url}/f")
        cdn.requests.clear()
        cdn.script("/f", Reply(200, DATA[:500], headers=validator, chunked=True))  # ends short
        content_range = f"bytes 500-{len(DATA) - 1}/{len(DATA)}"
        cdn.script("/f", Reply(206, DATA[500:], headers={"content-range": content_range}))
        path = runnorm.download("skyvern", artifact, directory, **sky(api, max_retries=1))
        assert path.read_bytes() == DATA
        assert [r.headers.get("if-range") for r in cdn.requests] == [None, sent]


def test_a_server_ignoring_the_range_starts_over(api: FakeProviderServer, tmp_path: Path) -> None:
    with HostileServer(_cut_then_ranges(5000, honour_range=False)) as files:
        path = runnorm.download(
            "skyvern", shot(f"{files.url}/f.png"), tmp_path, **sky(api, max_retries=1)
        )
    assert path.read_bytes() == DATA  # 200 to a Range request: the partial file restarted


def test_a_range_answered_from_the_wrong_offset_starts_over(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    artifact = shot(f"{cdn.url}/f")
    partial = tmp_path / f".runnorm-{partial_key('skyvern', artifact)}.partial"
    partial.write_bytes(DATA[:100])
    wrong = f"bytes 0-{len(DATA) - 1}/{len(DATA)}"
    cdn.script("/f", Reply(206, DATA, headers={"content-range": wrong}))
    cdn.routes["/f"] = DATA
    path = runnorm.download("skyvern", artifact, tmp_path, **sky(api, max_retries=1))
    assert path.read_bytes() == DATA
    assert [r.headers.get("range") for r in cdn.requests] == ["bytes=100-", None]


@pytest.mark.parametrize(
    ("content_range", "body"),
    [
        (f"bytes 100-{len(DATA) - 1}/{len(DATA)}", DATA[100:] + b"spliced junk"),  # too long
        (f"bytes 100-199/{len(DATA)}", DATA[100:]),  # more than the range it names
        (f"bytes 100-{len(DATA)}/{len(DATA)}", DATA[100:] + b"x"),  # past the total
        ("bytes 100-50/*", DATA[100:]),  # ends before it starts
    ],
)
def test_a_range_reply_holding_more_than_it_says_is_never_spliced(
    api: FakeProviderServer,
    cdn: FakeProviderServer,
    tmp_path: Path,
    content_range: str,
    body: bytes,
) -> None:
    artifact = shot(f"{cdn.url}/f", size=None, checksum=None)  # nothing else to check it by
    partial = tmp_path / f".runnorm-{partial_key('skyvern', artifact)}.partial"
    partial.write_bytes(DATA[:100])
    cdn.script("/f", Reply(206, body, headers={"content-range": content_range}))
    cdn.routes["/f"] = DATA
    path = runnorm.download("skyvern", artifact, tmp_path, **sky(api, max_retries=1))
    assert path.read_bytes() == DATA
    assert [r.headers.get("range") for r in cdn.requests] == ["bytes=100-", None]


def test_a_complete_partial_file_answered_416_is_published(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    artifact = shot(f"{cdn.url}/f", size=None)
    partial = tmp_path / f".runnorm-{partial_key('skyvern', artifact)}.partial"
    partial.write_bytes(DATA)
    cdn.script("/f", Reply(416, None, headers={"content-range": f"bytes */{len(DATA)}"}))
    path = runnorm.download("skyvern", artifact, tmp_path, **sky(api))
    assert path.read_bytes() == DATA and leftovers(tmp_path) == ["final.png"]


def test_a_short_body_is_resumed_then_reported(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    # No length said, and the body ends early: a broken transfer, kept for a resume.
    cdn.script("/f", Reply(200, DATA[:10], chunked=True))
    with pytest.raises(ArtifactError, match="ended after 10 of 1048576 bytes") as info:
        runnorm.download("skyvern", shot(f"{cdn.url}/f"), tmp_path, **sky(api))
    assert info.value.check == "size" and info.value.path is not None
    assert info.value.path.stat().st_size == 10  # kept: a later call resumes it
    # A length that contradicts the provider's size: the bytes are not the artifact's.
    cdn.script("/f", Reply(200, DATA[:10]))
    with pytest.raises(ArtifactError, match="the server sends 10 bytes, the provider says"):
        runnorm.download("skyvern", shot(f"{cdn.url}/f"), tmp_path, **sky(api))
    assert leftovers(tmp_path) == []


# -- renewing expired links -----------------------------------------------------------------


def test_an_expired_link_is_renewed_through_the_content_path(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    api.routes["/v1/artifacts/a_1/content"] = DATA
    link = f"{cdn.url}/f?X-Amz-Date=20200101T000000Z&X-Amz-Expires=60"
    artifact = shot(link, expires_at=link_expiry(link))
    path = runnorm.download("skyvern", artifact, tmp_path, **sky(api))
    assert path.read_bytes() == DATA
    assert cdn.requests == []  # known to have expired: not even tried
    (request,) = api.requests
    assert request.headers["x-api-key"] == KEY


def test_a_refused_link_is_renewed_and_resumes_what_it_had(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.script("/f", Reply(403, {"detail": "Invalid or expired artifact URL"}))
    api.routes["/v1/artifacts/a_1/content"] = DATA
    path = runnorm.download("skyvern", shot(f"{cdn.url}/f"), tmp_path, **sky(api))
    assert path.read_bytes() == DATA
    assert [r.path for r in api.requests] == ["/v1/artifacts/a_1/content"]


def test_a_redirect_to_another_host_carries_no_credential(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.routes["/bucket/final.png"] = DATA
    api.script(
        "/v1/artifacts/a_1/content",
        Reply(302, None, headers={"location": f"{cdn.url}/bucket/final.png?X-Amz-Signature=s"}),
    )
    artifact = shot(None)  # no link: the content path with the key
    options = sky(api, headers={"X-Team": "secret-team-header"})
    path = runnorm.download("skyvern", artifact, tmp_path, **options)
    assert path.read_bytes() == DATA
    (first,) = api.requests
    assert first.headers["x-api-key"] == KEY and first.headers["x-team"] == "secret-team-header"
    (hop,) = cdn.requests
    assert "x-api-key" not in hop.headers and "x-team" not in hop.headers
    assert "authorization" not in hop.headers and hop.query == "X-Amz-Signature=s"


def test_a_redirect_from_another_host_to_a_url_holding_the_key_is_refused(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    with FakeProviderServer() as third:
        cdn.script(
            "/bucket/final.png", Reply(302, None, headers={"location": f"{third.url}/b?k={KEY}"})
        )
        with pytest.raises(runnorm.TransportError) as info:
            runnorm.download("skyvern", shot(f"{cdn.url}/bucket/final.png"), tmp_path, **sky(api))
        assert KEY not in str(info.value)
        assert third.requests == []  # never followed
    assert list(tmp_path.iterdir()) == []


def test_browserbase_recordings_are_renewed_by_listing_again(
    tmp_path: Path, cdn: FakeProviderServer
) -> None:
    bb_key = "bb_download_test_777"
    with FakeProviderServer(auth=("x-bb-api-key", bb_key)) as api:
        listing = "/v1/sessions/sess_7/recording/downloads"
        api.routes[listing] = {
            "downloads": [
                {"pageId": "0", "status": "COMPLETED", "downloadUrl": f"{cdn.url}/fresh.mp4"}
            ]
        }
        cdn.script("/old.mp4", Reply(403, "expired"))
        cdn.routes["/fresh.mp4"] = DATA
        recording = Artifact(
            kind=ArtifactKind.RECORDING, url=f"{cdn.url}/old.mp4", name="page-0.mp4", id="sess_7/0"
        )
        path = runnorm.download(
            "browserbase", recording, tmp_path, base_url=api.url, api_key=bb_key, **QUICK
        )
        assert path.read_bytes() == DATA and path.name == "page-0.mp4"
        assert [r.path for r in api.requests] == [listing]
        assert [r.path for r in cdn.requests] == ["/old.mp4", "/fresh.mp4"]
        api.routes[listing] = {"downloads": []}
        cdn.script("/old.mp4", Reply(403, "expired"))
        with pytest.raises(ArtifactError, match="no longer shows it") as info:
            runnorm.download(
                "browserbase", recording, tmp_path, base_url=api.url, api_key=bb_key, **QUICK
            )
        assert info.value.check == "link"


def test_browserbase_per_file_downloads_use_their_path_with_octet_stream(tmp_path: Path) -> None:
    bb_key = "bb_download_test_778"
    with FakeProviderServer(auth=("x-bb-api-key", bb_key)) as api:
        api.routes["/v1/downloads/dl_1"] = DATA
        menu = Artifact(
            kind=ArtifactKind.DOWNLOAD, name="menu.pdf", checksum=SHA, size=len(DATA), id="dl_1"
        )
        path = runnorm.download(
            "browserbase", menu, tmp_path, base_url=api.url, api_key=bb_key, **QUICK
        )
    assert path.read_bytes() == DATA
    (request,) = api.requests
    assert request.headers["accept"] == "application/octet-stream"
    assert request.headers["x-bb-api-key"] == bb_key


def test_a_link_without_a_way_to_renew_it_is_an_artifact_error(
    cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.script("/log", Reply(403, "expired"))
    log = Artifact(kind=ArtifactKind.LOG, url=f"{cdn.url}/log", name="run.log")
    with pytest.raises(ArtifactError, match="no way to renew it") as info:
        runnorm.download(
            "skyvern", log, tmp_path, base_url="http://127.0.0.1:9", api_key=KEY, **QUICK
        )
    assert info.value.check == "link"
    cdn.routes["/gone"] = None
    with pytest.raises(NotFoundError):
        runnorm.download(
            "skyvern",
            Artifact(kind=ArtifactKind.LOG, url=f"{cdn.url}/nothing"),
            tmp_path,
            base_url="http://127.0.0.1:9",
            api_key=KEY,
            **QUICK,
        )


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "etc_passwd"),
        ("C:\\x", "x"),
        ("C:x", "C_x"),
        ("/abs/olute.txt", "abs_olute.txt"),
        ("a\x00b.txt", "a_b.txt"),
        ("..", "artifact"),
        ("", "artifact"),
        (".bashrc", "bashrc"),
        ("report. ", "report"),
        ("CON.txt", "_CON.txt"),
        ("e\u0301t\u00e9.csv", "\u00e9t\u00e9.csv"),
        ("x" * 300 + ".mp4", "x" * 196 + ".mp4"),
        ("\ud800bad.txt", "_bad.txt"),
        ('what?*<>|".txt', "what______.txt"),
        ("a\x85b.txt", "a_b.txt"),  # a C1 control
        ("x\u202etxt.exe", "x_txt.exe"),  # a bidi override disguising the suffix
        ("line\u2028two.txt", "line_two.txt"),
    ],
)
def test_names_are_cleaned_to_stay_in_the_directory(name: str, expected: str) -> None:
    assert clean_name(name) == expected


def test_numbered_names() -> None:
    assert numbered("report.pdf", 0) == "report.pdf"
    assert numbered("report.pdf", 2) == "report (2).pdf"
    assert numbered("README", 1) == "README (1)"


@pytest.mark.parametrize("name", ["../../etc/passwd", "C:\\x", "nul\x00byte", "/etc/passwd"])
def test_unsafe_names_never_leave_dest_dir(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path, name: str
) -> None:
    cdn.routes["/f"] = DATA
    target = tmp_path / "inside"
    path = runnorm.download("skyvern", shot(f"{cdn.url}/f", name=name), target, **sky(api))
    assert path.parent == target and path.read_bytes() == DATA
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "inside",
        f"inside/{path.name}",
    ]


def test_two_artifacts_with_one_name_both_stay(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.routes["/a"] = b"first"
    cdn.routes["/b"] = b"second"
    first = Artifact(kind=ArtifactKind.DOWNLOAD, url=f"{cdn.url}/a", name="report.pdf")
    second = Artifact(kind=ArtifactKind.DOWNLOAD, url=f"{cdn.url}/b", name="report.pdf")
    one = runnorm.download("skyvern", first, tmp_path, **sky(api))
    two = runnorm.download("skyvern", second, tmp_path, **sky(api))
    assert (one.name, two.name) == ("report.pdf", "report (1).pdf")
    assert (one.read_bytes(), two.read_bytes()) == (b"first", b"second")
    again = runnorm.download("skyvern", second, tmp_path, overwrite=True, **sky(api))
    assert again == one and one.read_bytes() == b"second"


def test_a_missing_name_comes_from_the_id_and_media_type(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.routes["/x"] = DATA
    cdn.script("/x", Reply(200, DATA, headers={"content-type": "video/mp4"}))
    path = runnorm.download("skyvern", shot(f"{cdn.url}/x", name=None), tmp_path, **sky(api))
    assert path.name == "a_1.mp4"
    cdn.script(
        "/x",
        Reply(
            200,
            DATA,
            headers={"content-disposition": "attachment; filename*=UTF-8''na%C3%AFve%20plan.pdf"},
        ),
    )
    path = runnorm.download("skyvern", shot(f"{cdn.url}/x", name=None), tmp_path, **sky(api))
    assert path.name == "na\u00efve plan.pdf"


@pytest.mark.parametrize(
    "where",
    ["disposition", "disposition-encoded", "name", "id", "slashed-name"],
)
def test_a_file_name_spelling_the_key_is_never_written_to_disk(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path, where: str
) -> None:
    key = "sk-name_test-0123456789"  # the "_" lets a "/" in a name clean into the key
    headers = {
        "disposition": {"content-disposition": f'attachment; filename="report-{key}.pdf"'},
        "disposition-encoded": {
            "content-disposition": f"attachment; filename*=UTF-8''report-{key.replace('-', '%2D')}"
        },
    }.get(where, {})
    fields: dict[str, Any] = {
        "name": {"name": f"{key}.png", "slashed-name": key.replace("_", "/")}.get(where),
        "id": f"a_{key}" if where == "id" else "a_1",
    }
    cdn.script("/x", Reply(200, DATA, headers=headers))
    options = {"base_url": api.url, "api_key": key, **QUICK}
    path = runnorm.download("skyvern", shot(f"{cdn.url}/x", **fields), tmp_path, **options)
    assert path.read_bytes() == DATA and path.parent == tmp_path
    assert key not in str(path) and key.replace("_", "/") not in str(path)
    assert all(key not in name for name in leftovers(tmp_path))


def test_a_symlink_planted_at_the_partial_name_is_refused(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.routes["/f"] = DATA
    artifact = shot(f"{cdn.url}/f")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / f".runnorm-{partial_key('skyvern', artifact)}.partial").symlink_to(victim)
    with pytest.raises(ArtifactError) as info:
        runnorm.download("skyvern", artifact, tmp_path, **sky(api))
    assert info.value.check == "io"
    assert victim.read_text() == "keep me"


# -- schemes, caps, inline content, tools, async --------------------------------------------


@pytest.mark.parametrize(
    "link",
    ["file:///etc/passwd", "ftp://files.example/f", "javascript:alert(1)", "data:text/plain,hi"],
)
def test_links_that_are_not_http_are_never_followed(tmp_path: Path, link: str) -> None:
    log = Artifact(kind=ArtifactKind.LOG, url=link, name="run.log")
    with pytest.raises(ArtifactError, match="not an http") as info:
        runnorm.download(
            "skyvern", log, tmp_path, base_url="http://127.0.0.1:9", api_key=KEY, **QUICK
        )
    assert info.value.check == "link" and leftovers(tmp_path) == []


def test_a_non_http_link_with_an_id_is_fetched_through_the_provider(
    api: FakeProviderServer, tmp_path: Path
) -> None:
    api.routes["/v1/artifacts/a_1/content"] = DATA
    path = runnorm.download("skyvern", shot("s3://bucket/final.png"), tmp_path, **sky(api))
    assert path.read_bytes() == DATA


def test_max_bytes(api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path) -> None:
    cdn.routes["/f"] = DATA
    with pytest.raises(ArtifactError, match="more than max_bytes=1000") as info:
        runnorm.download("skyvern", shot(f"{cdn.url}/f"), tmp_path, max_bytes=1000, **sky(api))
    assert info.value.check == "max_bytes" and cdn.requests == []  # the size said so: not sent
    unsized = shot(f"{cdn.url}/f", size=None, checksum=None)
    cdn.script("/f", Reply(200, DATA, chunked=True))
    with pytest.raises(ArtifactError, match="larger than max_bytes=1000"):
        runnorm.download("skyvern", unsized, tmp_path, max_bytes=1000, **sky(api))
    assert leftovers(tmp_path) == []
    with pytest.raises(ConfigError):
        runnorm.download("skyvern", unsized, tmp_path, max_bytes=-1, **sky(api))


def test_inline_content_is_written_as_text_or_json(tmp_path: Path) -> None:
    stdout = Artifact(
        kind=ArtifactKind.STDOUT, name="stdout", media_type="text/plain", content="Run completed\n"
    )
    output = Artifact(kind=ArtifactKind.OUTPUT, name="forecast.json", content={"q1": 1200000})
    logs = Artifact(kind=ArtifactKind.LOG, content=[{"method": "Page.navigate"}])
    options = {"base_url": "http://127.0.0.1:9", "api_key": KEY}
    assert (
        runnorm.download("bridgetown", stdout, tmp_path, **options).read_text() == "Run completed\n"
    )
    written = runnorm.download("bridgetown", output, tmp_path, **options)
    assert written.name == "forecast.json" and json.loads(written.read_bytes()) == {"q1": 1200000}
    assert runnorm.download("browserbase", logs, tmp_path, **options).name == "log.json"


RUNS = load_get_run_samples()
MULTI = next(k for k, v in RUNS.items() if len((v.get("output") or {}).get("outputs") or {}) > 1)


@pytest.fixture(scope="module")
def bridgetown() -> Iterator[BridgeTownServer]:
    with running_bridgetown_server(runs=dict(RUNS), json_response=True) as server:
        yield server


def test_bridgetown_outputs_come_from_get_run_output(
    bridgetown: BridgeTownServer, tmp_path: Path
) -> None:
    options = {"base_url": bridgetown.url, "api_key": bridgetown.token}
    found = runnorm.artifacts("bridgetown", MULTI, **options)
    outputs = [a for a in found if a.kind is ArtifactKind.OUTPUT]
    assert outputs
    for artifact in outputs:
        path = runnorm.download("bridgetown", artifact, tmp_path, **options)
        value = RUNS[MULTI]["output"]["outputs"][artifact.name]
        # The file bytes the server keeps (its get_run_output), not a re-encoding of the value.
        wanted = value if isinstance(value, str) else json.dumps(value, indent=2)
        assert path.name == artifact.name and path.read_bytes() == wanted.encode()
    calls = [
        e["body"]["params"]
        for e in bridgetown.requests
        if e["jsonrpc_method"] == "tools/call" and e["body"]["params"]["name"] == "get_run_output"
    ]
    assert calls and all(
        c["arguments"]["encoding"] == "base64" and c["arguments"]["run_id"] == MULTI for c in calls
    )


def test_async_twin_downloads_the_same(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.routes["/f"] = DATA

    async def main() -> Path:
        return await runnorm.adownload("skyvern", shot(f"{cdn.url}/f"), tmp_path / "a", **sky(api))

    path = asyncio.run(main())
    assert path.read_bytes() == DATA


def test_a_file_in_the_way_of_dest_dir_is_an_io_error(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(ArtifactError) as info:
        runnorm.download("skyvern", shot(f"{cdn.url}/f"), blocker / "sub", **sky(api))
    assert info.value.check == "io"


def test_bad_arguments_are_config_errors(tmp_path: Path) -> None:
    options = {"base_url": "http://127.0.0.1:9", "api_key": KEY}
    with pytest.raises(ConfigError, match=r"must be a runnorm\.Artifact"):
        runnorm.download("skyvern", {"url": "https://x"}, tmp_path, **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="dest_dir must be a path"):
        runnorm.download("skyvern", shot(None), 42, **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="overwrite"):
        runnorm.download("skyvern", shot(None), tmp_path, overwrite="yes", **options)  # type: ignore[arg-type]


def test_the_key_never_reaches_an_error(api: FakeProviderServer, tmp_path: Path) -> None:
    api.script("/v1/artifacts/a_1/content", Reply(404, {"detail": f"no artifact for {KEY}"}))
    with pytest.raises(NotFoundError) as info:
        runnorm.download("skyvern", shot(None), tmp_path, **sky(api))
    assert KEY not in str(info.value) and KEY not in repr(info.value.body)
    assert os.listdir(tmp_path) == []


def test_a_declared_remint_gives_a_fresh_link(cdn: FakeProviderServer, tmp_path: Path) -> None:
    # Skyvern's hidden GET /v1/artifacts/{id}/signed-url fits Remint: a provider declaring it
    # renews an expired link there (Skyvern itself uses its content endpoint with the key).
    import attrs

    from runnorm import Remint
    from runnorm._plugins.host import get_host

    skyvern = get_host().get("skyvern")
    assert skyvern.artifacts is not None
    listing = attrs.evolve(
        skyvern.artifacts.listings[0],
        download=None,
        ranges=False,
        remint=Remint("/v1/artifacts/{artifact_id}/signed-url"),
    )
    minting = attrs.evolve(
        skyvern,
        name="skyvern-reminting",
        aliases=(),
        artifacts=attrs.evolve(skyvern.artifacts, listings=(listing,)),
    )
    cdn.routes["/fresh.png"] = DATA
    with FakeProviderServer(auth=("x-api-key", KEY)) as api:
        api.routes["/v1/artifacts/a_1/signed-url"] = {
            "artifact_id": "a_1",
            "signed_url": f"{cdn.url}/fresh.png?sig=s&expiry=1900000000&kid=k",
            "expires_at": 1900000000,
        }
        expired = shot(f"{cdn.url}/stale.png", expires_at=link_expiry(f"{cdn.url}/x?expiry=1000"))
        with runnorm.Client(minting, **sky(api)) as client:
            path = client.download(expired, tmp_path)
    assert path.read_bytes() == DATA
    assert [r.path for r in api.requests] == ["/v1/artifacts/a_1/signed-url"]
    assert [r.path for r in cdn.requests] == ["/fresh.png"]
    assert "x-api-key" not in cdn.requests[0].headers


# -- a link that holds the key, bad artifacts, odd text, a failing callback -----------------

ENCODED_KEY = "".join(f"%{ord(c):02X}" for c in KEY)


@pytest.mark.parametrize(
    "where",
    [
        "/f.png?sig={key}",
        "/f.png?X-Amz-Credential=a&token={encoded}",
        "/{key}/f.png",
        "/f.png#k={key}",
    ],
)
@pytest.mark.parametrize("host", ["cdn", "api"])
def test_a_link_that_holds_the_key_is_refused_before_any_request(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path, where: str, host: str
) -> None:
    server = cdn if host == "cdn" else api
    server.routes["/f.png"] = DATA
    link = server.url + where.format(key=KEY, encoded=ENCODED_KEY)
    with pytest.raises(TransportError, match="holds the API key; not fetched") as info:
        runnorm.download("skyvern", shot(link), tmp_path, **sky(api))
    assert info.value.kind == "request"  # as a redirect to such a URL is refused
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert ENCODED_KEY not in str(info.value)
    assert api.requests == [] and cdn.requests == []  # nothing sent, not even the renewal
    assert leftovers(tmp_path) == []


def test_a_renewed_link_that_holds_the_key_is_refused(
    cdn: FakeProviderServer, tmp_path: Path
) -> None:
    import attrs

    from runnorm import Remint
    from runnorm._plugins.host import get_host

    skyvern = get_host().get("skyvern")
    assert skyvern.artifacts is not None
    listing = attrs.evolve(
        skyvern.artifacts.listings[0],
        download=None,
        remint=Remint("/v1/artifacts/{artifact_id}/signed-url"),
    )
    minting = attrs.evolve(
        skyvern,
        name="skyvern-reminting-key",
        aliases=(),
        artifacts=attrs.evolve(skyvern.artifacts, listings=(listing,)),
    )
    cdn.routes["/fresh.png"] = DATA
    with FakeProviderServer(auth=("x-api-key", KEY)) as api:
        api.routes["/v1/artifacts/a_1/signed-url"] = {
            "signed_url": f"{cdn.url}/fresh.png?key={KEY}"
        }
        expired = shot(f"{cdn.url}/stale.png", expires_at=link_expiry(f"{cdn.url}/x?expiry=1000"))
        client = runnorm.Client(minting, **sky(api))
        with client, pytest.raises(TransportError, match="holds the API key") as info:
            client.download(expired, tmp_path)
    assert KEY not in str(info.value)
    assert cdn.requests == []
    assert leftovers(tmp_path) == []


def test_a_dest_dir_with_a_nul_is_a_config_error(tmp_path: Path) -> None:
    options = {"base_url": "http://127.0.0.1:9", "api_key": KEY}
    log = Artifact(kind=ArtifactKind.LOG, content="hello")
    for dest in (f"{tmp_path}/a\0b", Path(f"{tmp_path}/a\0b")):
        with pytest.raises(ConfigError, match="NUL"):
            runnorm.download("skyvern", log, dest, **options)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", 5),
        ("kind", "x"),
        ("name", 5),
        ("id", 5),
        ("checksum", 5),
        ("expires_at", "tomorrow"),
        ("media_type", b"text/plain"),
        ("size", "3"),
        ("size", True),
        ("size", -1),
        ("created_at", 0),
    ],
)
def test_an_artifact_field_of_the_wrong_type_is_a_config_error(
    tmp_path: Path, field: str, value: Any
) -> None:
    fields: dict[str, Any] = {"kind": ArtifactKind.LOG, "content": "hello", field: value}
    artifact = Artifact(**fields)
    options = {"base_url": "http://127.0.0.1:9", "api_key": KEY}
    with pytest.raises(ConfigError, match=rf"artifact\.{field} must be"):
        runnorm.download("skyvern", artifact, tmp_path, **options)

    async def main() -> None:
        await runnorm.adownload("skyvern", artifact, tmp_path, **options)

    with pytest.raises(ConfigError, match=rf"artifact\.{field} must be"):
        asyncio.run(main())
    assert leftovers(tmp_path) == []


def test_inline_text_with_lone_surrogates_is_written(tmp_path: Path) -> None:
    # "\ud800" comes from a JSON "\ud800" escape; "\udcff" is surrogateescape's byte 0xff.
    stdout = Artifact(kind=ArtifactKind.STDOUT, name="stdout", content="a\ud800b\udcffc")
    options = {"base_url": "http://127.0.0.1:9", "api_key": KEY}
    path = runnorm.download("bridgetown", stdout, tmp_path, **options)
    assert path.read_bytes() == b"a\xed\xa0\x80b\xffc"
    assert path.read_bytes()[:5].decode("utf-8", "surrogatepass") == "a\ud800b"
    assert leftovers(tmp_path) == ["stdout"]


class Refused(Exception):
    """The caller's own failure, raised by its on_progress."""


def test_an_on_progress_that_raises_leaves_no_partial_file(
    api: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    cdn.routes["/f"] = DATA
    failure = Refused("stop")
    own = ConfigError("the caller's own RunnormError, key " + KEY)

    def fails(done: int, total: int | None) -> None:
        raise failure

    def fails_with_own(done: int, total: int | None) -> None:
        raise own

    inline = Artifact(kind=ArtifactKind.LOG, name="run.log", content="hello")
    for artifact in (shot(f"{cdn.url}/f"), inline):
        with pytest.raises(Refused) as info:
            runnorm.download("skyvern", artifact, tmp_path, on_progress=fails, **sky(api))
        assert info.value is failure  # unchanged
        assert leftovers(tmp_path) == []
        with pytest.raises(ConfigError) as own_info:
            runnorm.download("skyvern", artifact, tmp_path, on_progress=fails_with_own, **sky(api))
        assert own_info.value is own and str(own) == own.args[0]  # not rewritten
        assert leftovers(tmp_path) == []

    async def main() -> None:
        await runnorm.adownload(
            "skyvern", shot(f"{cdn.url}/f"), tmp_path, on_progress=fails, **sky(api)
        )

    with pytest.raises(Refused):
        asyncio.run(main())
    assert leftovers(tmp_path) == []
