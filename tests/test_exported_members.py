"""The public names of ``runnorm``, pinned (after httpx's ``tests/test_exported_members.py``).

Adding a name to the facade is a decision: it is added here too. Removing or renaming one
breaks users, and this test says so first.
"""

from __future__ import annotations

import runnorm

PUBLIC = [
    "__version__",
    "aartifacts",
    "acancel",
    "adownload",
    "AfterPages",
    "aget",
    "alist_runs",
    "APIError",
    "aresume",
    "Artifact",
    "ArtifactError",
    "ArtifactFields",
    "ArtifactKind",
    "ArtifactListing",
    "artifacts",
    "Artifacts",
    "AsyncClient",
    "Attempt",
    "Auth",
    "AuthError",
    "await_run",
    "awatch",
    "cancel",
    "Client",
    "ConfigError",
    "ControlResult",
    "CursorPages",
    "DetectionError",
    "download",
    "DumpError",
    "FieldNote",
    "FieldReader",
    "Fields",
    "get",
    "get_many",
    "hookimpl",
    "JSON",
    "json_schema",
    "list_runs",
    "ListLimitError",
    "ListParam",
    "McpControl",
    "McpFetch",
    "McpList",
    "NextUrlPages",
    "normalize",
    "NotFoundError",
    "OffsetPages",
    "PageNumbers",
    "PayloadError",
    "PluginLoadError",
    "Provider",
    "ProviderInfo",
    "providers",
    "RateLimitError",
    "read_dump",
    "RecordError",
    "RelatedFetch",
    "Remint",
    "RestControl",
    "RestFetch",
    "RestList",
    "resume",
    "Run",
    "RunError",
    "RunEvent",
    "RunnormError",
    "RunnormWarning",
    "RunStatus",
    "SCHEMA_VERSION",
    "ServerError",
    "SignatureError",
    "StatusFilter",
    "StatusMap",
    "summarize",
    "Summary",
    "TimeFilter",
    "Timing",
    "ToolContent",
    "ToolError",
    "ToolNotFoundError",
    "TransportError",
    "UnknownProviderError",
    "UnknownStatusWarning",
    "UnsupportedError",
    "wait",
    "WaitTimeout",
    "watch",
    "webhooks",
]
PUBLIC_SUBMODULES = {"webhooks", "testing", "dask", "hookspecs"}
"""Public modules: they appear as attributes of ``runnorm`` once imported."""


def test_all_is_the_pinned_list_sorted() -> None:
    assert runnorm.__all__ == PUBLIC
    assert sorted(PUBLIC, key=str.casefold) == PUBLIC


def test_every_exported_name_resolves() -> None:
    for name in runnorm.__all__:
        assert getattr(runnorm, name) is not None, name


def test_no_other_public_name_leaks_into_the_facade() -> None:
    for name in runnorm.__all__:
        getattr(runnorm, name)  # the lazy ones too
    leaked = {
        name
        for name in vars(runnorm)
        if name.isidentifier()  # pytest's assertion rewriting adds "@py_builtins"
        and not name.startswith("_")
        and name not in PUBLIC
        and name not in PUBLIC_SUBMODULES
    }
    assert not leaked
    listed = {n for n in dir(runnorm) if n.isidentifier() and not n.startswith("_")}
    assert listed - PUBLIC_SUBMODULES <= set(PUBLIC)


def test_exported_classes_and_functions_have_docstrings() -> None:
    # Each exported object has a docstring: the API reference is generated from them.
    for name in runnorm.__all__:
        value = getattr(runnorm, name)
        if callable(value) and not isinstance(value, type(runnorm)):
            assert (value.__doc__ or "").strip(), name
