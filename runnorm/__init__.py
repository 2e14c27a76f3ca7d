"""runnorm: normalize runs from AI browser-agent and sandbox providers into one ``Run``.

>>> import runnorm
>>> run = runnorm.normalize({"run_id": "tsk_1", "status": "completed",
...                          "created_at": "2026-01-20T11:52:29.276851",
...                          "modified_at": "2026-01-20T11:54:08.822807"})
>>> run.status
<RunStatus.SUCCEEDED: 'succeeded'>
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runnorm._build import build_kind
from runnorm._version import __version__
from runnorm.dump import RecordError, read_dump
from runnorm.encoding import SCHEMA_VERSION
from runnorm.errors import (
    APIError,
    AuthError,
    ConfigError,
    DetectionError,
    DumpError,
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
from runnorm.hookspecs import hookimpl
from runnorm.model import JSON, Artifact, ArtifactKind, Run, RunError, Timing
from runnorm.normalize import normalize
from runnorm.plugins import ProviderInfo, get_host
from runnorm.provider import Auth, Fields, McpFetch, Provider, RelatedFetch, RestFetch
from runnorm.status import RunStatus, StatusMap
from runnorm.summary import Summary, summarize

from runnorm import webhooks  # the submodule, as runnorm.webhooks  # isort: skip

if TYPE_CHECKING:
    from runnorm.api import aget, await_run, get, get_many, wait
    from runnorm.client import AsyncClient, Client
    from runnorm.serialization import json_schema

# The live-fetching API pulls in httpx and asyncio, the JSON Schema cattrs: imported on
# first use, so that ``import runnorm`` (and every batch worker and CLI start) stays quick.
_LAZY = {
    "aget": "runnorm.api",
    "await_run": "runnorm.api",
    "get": "runnorm.api",
    "get_many": "runnorm.api",
    "wait": "runnorm.api",
    "AsyncClient": "runnorm.client",
    "Client": "runnorm.client",
    "json_schema": "runnorm.serialization",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runnorm' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "JSON",
    "SCHEMA_VERSION",
    "APIError",
    "AsyncClient",
    "Artifact",
    "ArtifactKind",
    "Auth",
    "AuthError",
    "Client",
    "ConfigError",
    "DetectionError",
    "DumpError",
    "Fields",
    "McpFetch",
    "NotFoundError",
    "PayloadError",
    "PluginLoadError",
    "Provider",
    "ProviderInfo",
    "RateLimitError",
    "RecordError",
    "RelatedFetch",
    "RestFetch",
    "Run",
    "RunError",
    "RunStatus",
    "RunnormError",
    "RunnormWarning",
    "ServerError",
    "SignatureError",
    "StatusMap",
    "Summary",
    "Timing",
    "ToolError",
    "TransportError",
    "UnknownProviderError",
    "UnknownStatusWarning",
    "UnsupportedError",
    "WaitTimeout",
    "ToolNotFoundError",
    "__version__",
    "aget",
    "build_kind",
    "await_run",
    "get",
    "get_many",
    "hookimpl",
    "json_schema",
    "normalize",
    "wait",
    "webhooks",
    "providers",
    "read_dump",
    "summarize",
]


def providers() -> list[ProviderInfo]:
    """Every installed provider, and every plugin that failed to load, as ``ProviderInfo``."""
    return get_host().infos()
