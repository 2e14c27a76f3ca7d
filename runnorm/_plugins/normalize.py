"""``normalize``: one native payload to a ``Run``, offline, with provider detection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from runnorm._errors import DetectionError, PayloadError, RunnormError, shorten
from runnorm._model.run import Run
from runnorm._model.status import RunStatus
from runnorm._plugins.host import PLUGIN_FAULTS, PluginHost, describe_fault, get_host
from runnorm._plugins.provider import Provider

__all__ = ["apply", "detect", "detection_error", "normalize", "resolve_provider"]

_KEYS_SHOWN = 8


def resolve_provider(provider: str | Provider, host: PluginHost | None = None) -> Provider:
    """The ``Provider`` for a name or alias (or *provider* itself when it already is one)."""
    if isinstance(provider, Provider):
        return provider
    return (host or get_host()).get(provider)


def detect(payload: Mapping[str, Any], host: PluginHost | None = None) -> Provider:
    """The one provider whose detector accepts *payload*; ``DetectionError`` otherwise."""
    host = host or get_host()
    matches = host.detect(payload)
    if len(matches) == 1:
        return matches[0]
    raise detection_error(payload, matches, host)


def detection_error(
    payload: Mapping[str, Any], matches: list[Provider], host: PluginHost
) -> DetectionError:
    """Why detection did not give exactly one provider for *payload* (*matches* claimed it)."""
    keys = ", ".join(sorted(map(str, payload))[:_KEYS_SHOWN]) or "none"
    if not matches:
        installed = ", ".join(sorted(host.usable())) or "none"
        faults = host.detector_faults()
        faulty = "".join(
            f" The {name!r} plugin's detector has raised ({last}) and abstained."
            for name, (_, last) in sorted(faults.items())
        )
        return DetectionError(
            f"no installed provider recognizes this payload (keys: {keys}); installed "
            f"providers: {installed}. Pass provider= to choose one.{faulty}",
            value=payload,
        )
    names = sorted(p.name for p in matches)
    return DetectionError(
        f"payload matches several providers ({', '.join(names)}; keys: {keys}). "
        "Pass provider= to choose one.",
        candidates=names,
        value=payload,
    )


def normalize(payload: Any, provider: str | Provider | None = None) -> Run:
    """Normalize one native run payload (a mapping) into a ``Run``.

    With ``provider=None`` every installed provider's detector is asked; none or several
    matching raises ``DetectionError``. A payload that is not a mapping, lacks its id or
    status, or has a mistyped field raises ``PayloadError`` naming the field.
    """
    if not isinstance(payload, Mapping):
        name = provider.name if isinstance(provider, Provider) else provider
        raise PayloadError(
            f"a run payload must be a JSON object, got {type(payload).__name__} {shorten(payload)}",
            provider=name,
            path="$",
            value=payload,
        )
    chosen = detect(payload) if provider is None else resolve_provider(provider)
    return apply(chosen, payload)


def apply(provider: Provider, payload: Mapping[str, Any]) -> Run:
    """Run *provider*'s mapping: a plugin's unexpected exception (``SystemExit`` included)
    or a result that is not a ``Run`` becomes a ``PayloadError`` naming the provider."""
    try:
        run = provider.to_run(payload)
    except (RunnormError, Warning):  # a warning turned into an error by a filter stays itself
        raise
    except PLUGIN_FAULTS as exc:
        raise PayloadError(
            f"the {provider.name!r} plugin's mapping failed on this payload "
            f"({describe_fault(exc)})",
            provider=provider.name,
            value=payload,
        ) from exc
    if not isinstance(run, Run):
        raise PayloadError(
            f"the {provider.name!r} plugin's mapping returned {type(run).__name__}, not a Run",
            provider=provider.name,
            value=payload,
        )
    if (
        type(run.status) is not RunStatus
        or type(run.id) is not str
        or type(run.native_status) is not str
    ):  # what every output and the round trip rely on; worked out in full off this path
        problem = _misbuilt(run)
        raise PayloadError(
            f"the {provider.name!r} plugin's mapping returned a Run whose {problem}",
            provider=provider.name,
            value=payload,
        )
    if run.provider != provider.name:  # Run.provider is the registered name, whatever the
        return attrs.evolve(run, provider=provider.name)  # mapping (a cloned declaration's) says
    return run


def _misbuilt(run: Run) -> str:
    """What is wrong with *run*, built by a plugin's mapping (attrs checks no types)."""
    status: Any = run.status
    if not isinstance(status, RunStatus):
        return f"status is {shorten(status)}, not a RunStatus member"
    field = "id" if type(run.id) is not str else "native_status"
    value = getattr(run, field)
    return f"{field} is {type(value).__name__} {shorten(value)}, not a string"
