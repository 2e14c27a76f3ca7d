"""runnorm: normalize runs from AI browser-agent and sandbox providers into one ``Run``.

This module is the public facade: every name users and plugin authors rely on is imported
here from the private modules that implement it (``_model``, ``_plugins``, ``_live``,
``_batch``, ...). The other public modules are ``runnorm.webhooks``, ``runnorm.testing``,
``runnorm.dask`` and ``runnorm.hookspecs``; everything else may change without notice.

>>> import runnorm
>>> run = runnorm.normalize({"run_id": "tsk_1", "status": "completed",
...                          "created_at": "2026-01-20T11:52:29.276851",
...                          "modified_at": "2026-01-20T11:54:08.822807"})
>>> run.status
<RunStatus.SUCCEEDED: 'succeeded'>
"""

import importlib as _importlib
import typing as _typing

from runnorm import webhooks
from runnorm._batch.reader import read_dump
from runnorm._batch.records import RecordError
from runnorm._batch.summary import Summary, summarize
from runnorm._errors import (
    APIError,
    ArtifactError,
    AuthError,
    ConfigError,
    DetectionError,
    DumpError,
    ListLimitError,
    NotFoundError,
    PayloadError,
    PluginLoadError,
    RateLimitError,
    RunnormError,
    RunnormWarning,
    ServerError,
    SignatureError,
    ToolError,
    ToolNotFoundError,
    TransportError,
    UnknownProviderError,
    UnknownStatusWarning,
    UnsupportedError,
    WaitTimeout,
)
from runnorm._model.control import ControlResult
from runnorm._model.encoding import SCHEMA_VERSION
from runnorm._model.run import JSON, Artifact, ArtifactKind, Attempt, Run, RunError, Timing
from runnorm._model.status import RunStatus, StatusMap
from runnorm._plugins.capabilities import (
    AfterPages,
    ArtifactFields,
    ArtifactListing,
    Artifacts,
    CursorPages,
    ListParam,
    McpControl,
    McpList,
    NextUrlPages,
    OffsetPages,
    PageNumbers,
    Remint,
    RestControl,
    RestList,
    StatusFilter,
    TimeFilter,
    ToolContent,
)
from runnorm._plugins.fetching import McpFetch, RelatedFetch, RestFetch
from runnorm._plugins.fields import FieldReader, Fields
from runnorm._plugins.host import ProviderInfo
from runnorm._plugins.host import get_host as _get_host
from runnorm._plugins.normalize import normalize
from runnorm._plugins.notes import FieldNote
from runnorm._plugins.provider import Auth, Provider
from runnorm._version import __version__
from runnorm.hookspecs import hookimpl

if _typing.TYPE_CHECKING:
    from runnorm._live.api import (
        aartifacts,
        acancel,
        adownload,
        aget,
        alist_runs,
        aresume,
        artifacts,
        await_run,
        awatch,
        cancel,
        download,
        get,
        get_many,
        list_runs,
        resume,
        wait,
        watch,
    )
    from runnorm._live.client import AsyncClient, Client
    from runnorm._live.watching import RunEvent
    from runnorm._model.serialization import json_schema

# The live-fetching API pulls in httpx and asyncio, the JSON Schema cattrs: loaded on first
# use (PEP 562), so that ``import runnorm`` (and every batch worker and CLI start) stays quick.
_LAZY = {
    "aartifacts": "runnorm._live.api",
    "acancel": "runnorm._live.api",
    "adownload": "runnorm._live.api",
    "aresume": "runnorm._live.api",
    "artifacts": "runnorm._live.api",
    "cancel": "runnorm._live.api",
    "download": "runnorm._live.api",
    "resume": "runnorm._live.api",
    "aget": "runnorm._live.api",
    "alist_runs": "runnorm._live.api",
    "await_run": "runnorm._live.api",
    "awatch": "runnorm._live.api",
    "get": "runnorm._live.api",
    "get_many": "runnorm._live.api",
    "list_runs": "runnorm._live.api",
    "wait": "runnorm._live.api",
    "watch": "runnorm._live.api",
    "RunEvent": "runnorm._live.watching",
    "AsyncClient": "runnorm._live.client",
    "Client": "runnorm._live.client",
    "json_schema": "runnorm._model.serialization",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runnorm' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def providers() -> list[ProviderInfo]:
    """Every installed provider, and every plugin that failed to load, as ``ProviderInfo``."""
    return _get_host().infos()


__all__ = [
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
