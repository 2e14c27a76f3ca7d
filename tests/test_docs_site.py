"""The documentation site's code runs, and its generated provider tables are complete.

Runnable snippets: a fenced ```` ```python ```` block on the line right after an HTML comment
``<!-- run -->`` in ``docs/*.md`` (or ``docs/**/*.md``). The blocks of one page run in order,
in one fresh namespace per page, from the repository root, and must not raise. Blocks without
the marker are illustrations (they need real credentials, a server, or are fragments).

The site build itself is ``nox -s docs`` (Sphinx with warnings as errors).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from support import ROOT

import runnorm
from runnorm._live.api import close_clients
from runnorm._plugins.host import get_host

DOCS = ROOT / "docs"
RUNNABLE = re.compile(r"^<!-- run -->\n```python\n(.*?)^```$", re.S | re.M)
FENCE = re.compile(r"^```python\n", re.M)


def runnable_blocks(text: str) -> list[tuple[int, str]]:
    """``(line, code)`` for each marked block, ``line`` being the fence's 1-based line."""
    found = []
    for match in RUNNABLE.finditer(text):
        found.append((text.count("\n", 0, match.start()) + 2, match.group(1)))
    return found


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def pages_with_snippets() -> list[Path]:
    return [page for page in pages() if runnable_blocks(page.read_text(encoding="utf-8"))]


def load_extension() -> types.ModuleType:
    """``docs/_ext/runnorm_tables.py``, imported by path (it is not a package)."""
    name = "runnorm_tables"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DOCS / "_ext" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def isolated_page() -> Iterator[None]:
    """Run from the repository root, and undo what a page's snippets change globally."""
    before = dict(os.environ)
    cwd = Path.cwd()
    close_clients()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(before)
        close_clients()


def test_the_marker_convention_is_in_use() -> None:
    # Every guide has something that runs, and a marker never sits before a non-python fence.
    for name in ("index", "quickstart", "concepts", "live", "listing", "webhooks", "batch"):
        assert runnable_blocks((DOCS / f"{name}.md").read_text(encoding="utf-8")), name
    for page in pages():
        text = page.read_text(encoding="utf-8")
        markers = text.count("<!-- run -->")
        assert markers == len(runnable_blocks(text)), f"{page}: a marker not before ```python"


@pytest.mark.parametrize("page", pages_with_snippets(), ids=lambda p: str(p.relative_to(DOCS)))
def test_runnable_snippets_run(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    with isolated_page(), contextlib.redirect_stdout(io.StringIO()):
        for line, code in runnable_blocks(text):
            # Line numbers in tracebacks point into the markdown file.
            compiled = compile("\n" * line + code, str(page), "exec")
            exec(compiled, namespace)


def test_quickstart_snippets_print_what_their_comments_say() -> None:
    page = DOCS / "quickstart.md"
    output = io.StringIO()
    with isolated_page(), contextlib.redirect_stdout(output):
        namespace: dict[str, object] = {}
        for line, code in runnable_blocks(page.read_text(encoding="utf-8")):
            exec(compile("\n" * line + code, str(page), "exec"), namespace)
    printed = output.getvalue().splitlines()
    assert printed[0] == "skyvern succeeded True True"
    assert "failed Login failed" in printed
    assert "True {'total': 3}" in printed
    assert "17 records, 0 failed" in printed


def test_listing_snippets_print_what_their_comments_say() -> None:
    # Each print(...) on the listing page ends in a comment that starts with what it prints.
    page = DOCS / "listing.md"
    blocks = runnable_blocks(page.read_text(encoding="utf-8"))
    expected = [
        line.split("  # ", 1)[1]
        for _, code in blocks
        for line in code.splitlines()
        if line.lstrip().startswith("print(") and "  # " in line
    ]
    output = io.StringIO()
    with isolated_page(), contextlib.redirect_stdout(output):
        namespace: dict[str, object] = {}
        for line, code in blocks:
            exec(compile("\n" * line + code, str(page), "exec"), namespace)
    printed = output.getvalue().splitlines()
    assert len(printed) == len(expected) > 8
    for shown, comment in zip(printed, expected, strict=True):
        assert comment.startswith(shown), (shown, comment)


def test_plugin_guide_keeps_the_parts_other_tests_read() -> None:
    # tests/test_docs.py execs the guide's first python block and reads its hook reference.
    guide = (DOCS / "writing-a-plugin.md").read_text(encoding="utf-8")
    first = FENCE.search(guide)
    assert first is not None
    assert guide[: first.start()].rstrip().endswith("<!-- run -->")
    assert guide.rstrip().split("\n## ")[-1].startswith("Hook reference")


def test_api_reference_lists_every_public_name() -> None:
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. auto(?:function|class|exception|data):: (\w+)", api, re.M))
    modules = set(re.findall(r"^\.\. automodule:: ([\w.]+)", api, re.M))
    for name in runnorm.__all__:
        if name == "__version__":
            continue
        if isinstance(getattr(runnorm, name), types.ModuleType):
            assert f"runnorm.{name}" in modules, name
        else:
            assert name in documented, f"runnorm.{name} is missing from docs/api.md"
    assert {"runnorm.webhooks", "runnorm.testing", "runnorm.dask"} <= modules


# --- generated provider pages ----------------------------------------------------------------


def first_party() -> list[str]:
    return [info.name for info in runnorm.providers() if info.package == "runnorm" and info.ok]


def test_every_first_party_provider_has_a_page_using_the_generator() -> None:
    extension = load_extension()
    names = first_party()
    assert sorted(names) == sorted(extension.FIRST_PARTY)
    index = (DOCS / "providers" / "index.md").read_text(encoding="utf-8")
    for name in names:
        source = DOCS / "providers" / f"{name}.md"
        assert source.is_file(), source
        assert f"```{{runnorm-provider}} {name}\n" in source.read_text(encoding="utf-8")
        assert f"\n{name}\n" in index, f"{name} missing from the providers toctree"


@pytest.mark.parametrize("name", ["skyvern", "browserbase", "bridgetown"])
def test_generated_provider_tables_hold_every_native_status_word(name: str) -> None:
    extension = load_extension()
    provider = get_host().get(name)
    markdown = extension.provider_markdown(name)
    status_section = markdown.split("## Status map", 1)[1].split("\n## ", 1)[0]
    for word, status in provider.statuses.items():
        assert f"| `{word}` | `{status.value}` |" in status_section, (name, word)
    mapping = markdown.split("## Field mapping", 1)[1].split("\n## ", 1)[0]
    run_fields = {a.name for a in attrs.fields(runnorm.Run)}
    for note in provider.field_notes:
        for native in note.native:
            assert f"`{native}`" in mapping, (name, native)
        for target in note.to:  # every target is a Run field path
            assert re.split(r"[.\[]", target)[0] in run_fields, (name, target)
            assert f"`{target}`" in mapping, (name, target)
    assert provider.auth is not None and f"`{provider.auth.env_var}`" in markdown
    assert provider.base_url is not None and provider.base_url in markdown
    for key in provider.sensitive_keys:
        assert f"`{key}`" in markdown
    for capability in provider.capabilities:
        assert f"`{capability}`" in markdown
    # The module docstring, which explains the mapping, is part of the page.
    module_doc = sys.modules[provider.to_run.__module__].__doc__ or ""
    assert " ".join(module_doc.split()[:6]) in markdown


def test_generated_status_table_covers_every_word_of_every_provider() -> None:
    extension = load_extension()
    table = extension.status_table_markdown()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    for name in extension.FIRST_PARTY:
        for word, status in get_host().get(name).statuses.items():
            assert f"`{word}`" in rows[f"`{status.value}`"], (name, word)
    assert set(rows) == {f"`{status.value}`" for status in runnorm.RunStatus}


def test_the_capability_matrix_and_control_table_follow_the_declarations() -> None:
    extension = load_extension()
    matrix = extension.capabilities_markdown()
    header, _, *rows = matrix.strip().splitlines()
    columns = [cell.strip().strip("`") for cell in header.strip("|").split("|")][1:]
    assert columns == list(extension.CAPABILITIES)
    by_name = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        by_name[cells[0]] = dict(zip(columns, cells[1:], strict=True))
    for name in extension.FIRST_PARTY:
        provider = get_host().get(name)
        cells = next(v for k, v in by_name.items() if f"]({name}.md)" in k)
        for capability in extension.CAPABILITIES:
            cell = cells[capability]
            if capability not in provider.declared_capabilities:
                assert cell == "—", (name, capability)
            elif capability not in provider.capabilities:
                assert cell.startswith("declared, not available yet"), (name, capability)
            else:
                assert cell not in ("—", "") and not cell.startswith("declared"), (name, capability)
    table = extension.control_table_markdown()
    assert "`POST /v1/workflows/runs/{run_id}/continue` (ids starting `wr_`)" in table
    assert "404: the run is fetched to tell" in table
    assert "| Bridge Town | resume | not supported: `UnsupportedError` |" in table
    assert "tool error `not_found` not_found, any other tool error conflict" in table
    index = (DOCS / "providers" / "index.md").read_text(encoding="utf-8")
    assert "```{runnorm-capabilities}\n```" in index
    assert "```{runnorm-control-table}\n```" in (DOCS / "control.md").read_text(encoding="utf-8")


def test_live_page_snippets_print_what_their_comments_say() -> None:
    page = DOCS / "live.md"
    output = io.StringIO()
    with isolated_page(), contextlib.redirect_stdout(output):
        namespace: dict[str, object] = {}
        for line, code in runnable_blocks(page.read_text(encoding="utf-8")):
            exec(compile("\n" * line + code, str(page), "exec"), namespace)
    printed = output.getvalue().splitlines()
    retried = printed.index("  now running 1 False False")
    assert printed[retried : retried + 5] == [
        "  now running 1 False False",
        "  now failed 1 True False",
        "  now running 2 False False",
        "  now succeeded 2 False True",
        "True 2",
    ]
    watched = printed[retried + 5 : retried + 10]
    assert sorted(watched) == sorted(
        [
            "tsk_7 None -> failed (poll)",
            "tsk_gone error: NotFoundError",
            "tsk_50 None -> queued (poll)",
            "tsk_50 queued -> running (poll)",
            "tsk_50 running -> succeeded (poll)",
        ]
    )
    assert [line for line in watched if line.startswith("tsk_50")] == [
        "tsk_50 None -> queued (poll)",
        "tsk_50 queued -> running (poll)",
        "tsk_50 running -> succeeded (poll)",
    ]
    assert sorted(printed[retried + 10 : retried + 12]) == ["tsk_42 succeeded", "tsk_7 failed"]


def test_live_page_schedule_table_is_the_schedule() -> None:
    from runnorm._live import watching

    text = (DOCS / "live.md").read_text(encoding="utf-8")
    table = text.split("<!-- schedule -->\n", 1)[1].split("<!-- /schedule -->", 1)[0]
    rows = [line.split("|")[1:-1] for line in table.strip().splitlines()[2:]]
    cells = {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows}

    def shown(pace: watching.Pace) -> list[str]:
        return [f"{pace.first:g} s", f"{pace.factor:g}", f"{pace.cap:g} s"]

    for status, pace in watching.SCHEDULE.items():
        assert cells.pop(f"`{status.value}`") == shown(pace), status
    assert cells.pop("retry pending, no `next_attempt_at`") == shown(watching.RETRY_PACE)
    assert cells.pop("after a failed fetch") == shown(watching.ERROR_PACE)
    assert cells == {}
