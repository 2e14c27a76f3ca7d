"""Plugin discovery and the provider registry: a typed wrapper over pluggy's manager.

Plugins are entry points of the group ``runnorm``. They load lazily, on the first call that
needs a provider, and one by one: a plugin that fails to import or to register is recorded
(``runnorm.providers()`` shows it with its package and error) and the others keep working.
``RUNNORM_LOAD_PLUGINS=a,b`` loads only the named entry points; ``RUNNORM_DISABLE_PLUGINS=c``
blocks some; ``RUNNORM_TRACE_PLUGINS=1`` prints every hook call, its result and each
registered provider to stderr, with secrets and key-like strings masked. Two providers
claiming one name are both reported and the name becomes unusable (``PluginLoadError``)
instead of one silently winning.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any

import attrs
import pluggy

from runnorm import hookspecs
from runnorm._errors import PluginLoadError, UnknownProviderError
from runnorm._model.redaction import Redactor
from runnorm._plugins.provider import Detector, Provider

__all__ = ["ENTRY_POINT_GROUP", "PluginHost", "ProviderInfo", "get_host", "reset_host"]

ENTRY_POINT_GROUP = "runnorm"
LOAD_ENV = "RUNNORM_LOAD_PLUGINS"
DISABLE_ENV = "RUNNORM_DISABLE_PLUGINS"
TRACE_ENV = "RUNNORM_TRACE_PLUGINS"
_TRACE_SECRETS = (
    "*[Aa]uthorization*",
    "*[Tt]oken*",
    "*[Ss]ecret*",
    "*[Pp]assword*",
    "*[Aa][Pp][Ii][-_][Kk]ey*",
    "*[Aa]pi[Kk]ey*",
    "[Cc]ookie",
)
_KEYLIKE = re.compile(r"\b(?:sk|btk|bb_live|bb|key|token)[-_][A-Za-z0-9_\-]{6,}", re.IGNORECASE)


_TRACE_REDACTOR = Redactor(_TRACE_SECRETS)


def _safe(value: object) -> str:
    """A short repr for trace output with mapping secrets and key-like strings masked."""
    text = repr(_TRACE_REDACTOR.redact(value))
    text = _KEYLIKE.sub("***", text)
    return text if len(text) <= 200 else text[:197] + "..."


def _tracer() -> tuple[Any, Any]:
    def before(hook_name: str, hook_impls: list[Any], kwargs: Mapping[str, Any]) -> None:
        plugins = ", ".join(impl.plugin_name for impl in hook_impls) or "none"
        arguments = ", ".join(f"{k}={_safe(v)}" for k, v in kwargs.items())
        print(f"runnorm: hook {hook_name}({arguments}) -> plugins: {plugins}", file=sys.stderr)

    def after(outcome: Any, hook_name: str, hook_impls: list[Any], kwargs: Any) -> None:
        exception = outcome.exception
        result = f"raised {exception!r}" if exception is not None else _safe(outcome.get_result())
        print(f"runnorm: hook {hook_name} -> {result}", file=sys.stderr)

    return before, after


@attrs.frozen
class ProviderInfo:
    """What ``runnorm.providers()`` reports for one provider (or one plugin that failed)."""

    name: str
    package: str | None
    version: str | None
    entry_point: str | None
    capabilities: frozenset[str] = frozenset()
    error: str | None = None
    aliases: tuple[str, ...] = ()
    provider: Provider | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def ok(self) -> bool:
        """True when the provider is usable."""
        return self.error is None and self.provider is not None


@attrs.define
class _Origin:
    plugin_name: str
    package: str | None = None
    version: str | None = None
    entry_point: str | None = None


def _env_names(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class PluginHost:
    """Loads plugins and holds the providers they register.

    One instance serves the module-level API (:func:`get_host`); tests and applications may
    build their own, e.g. ``PluginHost(entry_points=False)`` plus :meth:`add_plugin`.
    """

    def __init__(self, group: str = ENTRY_POINT_GROUP, *, entry_points: bool = True) -> None:
        self.group = group
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._trace = os.environ.get(TRACE_ENV, "").strip().lower() not in ("", "0", "false", "no")
        if self._trace:
            self.pm.add_hookcall_monitoring(*_tracer())
        self._use_entry_points = entry_points
        self._lock = threading.RLock()
        self._loaded = False
        self._failed: list[ProviderInfo] = []
        self._claims: Claims = {}
        self._providers: dict[str, Provider] = {}
        self._detectors: tuple[tuple[Provider, frozenset[str], Detector], ...] = ()
        self._infos: list[ProviderInfo] = []
        self._aliases: dict[str, str] = {}
        self._clashes: dict[str, str] = {}
        self._redactors: dict[str | None, Redactor] = {}

    # -- the typed hook wrapper ---------------------------------------------------------------

    def call_register_providers(self, plugin: object) -> list[Provider]:
        """Run ``runnorm_register_providers`` of *plugin* alone; return what it registered."""
        registered: list[Provider] = []

        def register(provider: object) -> None:  # checked here, whatever a plugin passes
            if not isinstance(provider, Provider):
                raise TypeError(f"register() takes a runnorm.Provider, not {type(provider)!r}")
            if self._trace:
                print(
                    f"runnorm: register(Provider(name={provider.name!r}, "
                    f"capabilities={sorted(provider.capabilities)}))",
                    file=sys.stderr,
                )
            registered.append(provider)

        others = [p for p in self.pm.get_plugins() if p is not plugin]
        caller = self.pm.subset_hook_caller("runnorm_register_providers", remove_plugins=others)
        caller(register=register)
        return registered

    # -- loading ------------------------------------------------------------------------------

    def add_plugin(
        self,
        plugin: object,
        name: str,
        *,
        package: str | None = None,
        version: str | None = None,
        entry_point: str | None = None,
    ) -> None:
        """Register a plugin object (module or instance) and collect its providers."""
        with self._lock:
            self._ensure_loaded()
            self._add_plugin(plugin, _Origin(name, package, version, entry_point))
            self._resolve()

    def _add_plugin(self, plugin: object, origin: _Origin) -> None:
        try:
            self.pm.register(plugin, name=origin.plugin_name)
            self.pm.check_pending()
        except Exception as exc:
            self._fail(origin, f"could not register: {_describe(exc)}")
            return
        try:
            provided = self.call_register_providers(plugin)
        except Exception as exc:
            self.pm.unregister(plugin)
            self._fail(origin, f"runnorm_register_providers failed: {_describe(exc)}")
            return
        for provider in provided:
            self._claims.setdefault(provider.name, []).append((provider, origin))

    def _fail(self, origin: _Origin, error: str) -> None:
        self._failed.append(
            ProviderInfo(
                name=origin.plugin_name,
                package=origin.package,
                version=origin.version,
                entry_point=origin.entry_point,
                error=error,
            )
        )

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._load_once()

    def _load_once(self) -> None:
        with self._lock:
            if self._loaded:
                return
            if self._use_entry_points:
                self._load_entry_points()
            self._loaded = True
            self._resolve()

    def _load_entry_points(self) -> None:
        only = _env_names(LOAD_ENV)
        disabled = _env_names(DISABLE_ENV) or set()
        found = importlib.metadata.entry_points(group=self.group)
        for ep in sorted(found, key=lambda e: (e.name, e.value)):
            if only is not None and ep.name not in only:
                continue
            if ep.name in disabled:
                self.pm.set_blocked(ep.name)
                continue
            dist: importlib.metadata.Distribution | None = getattr(ep, "dist", None)
            origin = _Origin(
                plugin_name=ep.name,
                package=dist.name if dist is not None else None,
                version=dist.version if dist is not None else None,
                entry_point=f"{ep.name} = {ep.value}",
            )
            if self.pm.has_plugin(ep.name):
                self._fail(origin, f"entry point name {ep.name!r} is already taken")
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self._fail(origin, f"could not import: {_describe(exc)}")
                continue
            self._add_plugin(plugin, origin)

    def _resolve(self) -> None:
        """Rebuild the registry from the claims: names, aliases, clashes, infos."""
        providers, clashes = _unclashed(self._claims)
        aliases, alias_errors = _aliases(providers, clashes)
        infos: list[ProviderInfo] = list(self._failed)
        for name, claims in sorted(self._claims.items()):
            for provider, origin in claims:
                error = clashes.get(name)
                if error is None and name in alias_errors:
                    error = "; ".join(alias_errors[name])
                infos.append(
                    ProviderInfo(
                        name=name,
                        package=origin.package,
                        version=origin.version,
                        entry_point=origin.entry_point,
                        capabilities=provider.capabilities,
                        error=error,
                        aliases=provider.aliases,
                        provider=provider if name not in clashes else None,
                    )
                )
        infos.sort(key=lambda info: (info.name, info.package or ""))
        self._providers = providers
        self._detectors = tuple((p, p.detect_keys, p.detect) for p in providers.values())
        self._aliases = aliases
        self._clashes = clashes
        self._infos = infos
        self._redactors = {}

    # -- lookups ------------------------------------------------------------------------------

    def get(self, name: object) -> Provider:
        """The provider registered as *name* (or an alias of it); any other value is unknown."""
        self._ensure_loaded()
        if not isinstance(name, str):
            raise UnknownProviderError(repr(name), self._providers)
        provider = self._providers.get(name)
        if provider is not None:
            return provider
        target = self._aliases.get(name)
        if target is not None:
            return self._providers[target]
        if name in self._clashes:
            raise PluginLoadError(self._clashes[name])
        for info in self._failed:
            if info.name == name:
                raise PluginLoadError(f"provider plugin {name!r} failed to load: {info.error}")
        raise UnknownProviderError(name, self._providers)

    def usable(self) -> Mapping[str, Provider]:
        """Name -> provider for every provider that loaded without a clash."""
        self._ensure_loaded()
        return self._providers

    def redactor(self, provider: str | None) -> Redactor:
        """Redaction of *provider*'s sensitive keys, built once per provider; for ``None``
        (a record no single provider claimed), every usable provider's keys."""
        redactor = self._redactors.get(provider)
        if redactor is None:
            usable = self.usable()
            declared = usable.get(provider) if provider is not None else None
            if provider is None:
                patterns = tuple(key for p in usable.values() for key in p.sensitive_keys)
            else:
                patterns = declared.sensitive_keys if declared is not None else ()
            redactor = self._redactors[provider] = Redactor(patterns)
        return redactor

    def infos(self) -> list[ProviderInfo]:
        """One ``ProviderInfo`` per provider and per failed plugin, sorted by name."""
        self._ensure_loaded()
        return list(self._infos)

    def detect(self, payload: Mapping[str, Any]) -> list[Provider]:
        """Every usable provider whose detector accepts *payload*."""
        if not self._loaded:
            self._load_once()
        matches = []
        for provider, keys, accepts in self._detectors:
            if keys:
                for key in keys:  # a few declared keys, looked up in the payload
                    if key in payload:
                        break
                else:
                    continue
            try:
                accepted = accepts(payload)
            except Exception:  # a faulty detector abstains rather than breaking detection
                accepted = False
            if accepted:
                matches.append(provider)
        return matches


Claims = dict[str, list[tuple[Provider, _Origin]]]


def _unclashed(claims: Claims) -> tuple[dict[str, Provider], dict[str, str]]:
    """The names claimed once (name -> provider), and the clashes (name -> the error)."""
    providers: dict[str, Provider] = {}
    clashes: dict[str, str] = {}
    for name, claimed in sorted(claims.items()):
        if len(claimed) > 1:
            who = "; ".join(
                f"{origin.package or origin.plugin_name} (plugin {origin.plugin_name!r})"
                for _, origin in claimed
            )
            clashes[name] = f"provider name {name!r} is claimed by several plugins: {who}"
        else:
            providers[name] = claimed[0][0]
    return providers, clashes


def _aliases(
    providers: Mapping[str, Provider], clashes: dict[str, str]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Alias -> provider name for the aliases claimed once; the others are added to
    *clashes*, and each provider that lost one gets an error (name -> its errors)."""
    aliases: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, provider in providers.items():
        for alias in provider.aliases:
            if alias in providers or alias in clashes or alias in aliases:
                lost = f"alias {alias!r} is taken by another provider and was ignored"
                errors.setdefault(name, []).append(lost)
                other = aliases.pop(alias, None)
                if other is not None:
                    errors.setdefault(other, []).append(lost)
                clashes.setdefault(alias, f"alias {alias!r} is claimed by several providers")
            else:
                aliases[alias] = name
    return aliases, errors


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, created on first use."""
    global _host  # noqa: PLW0603 - the lazily built singleton
    host = _host
    if host is None:
        with _host_lock:
            if _host is None:
                _host = PluginHost()
            host = _host
    return host


def reset_host(host: PluginHost | None = None) -> PluginHost | None:
    """Replace the process-wide host (None: rediscover on next use); return the old one."""
    global _host
    with _host_lock:
        old, _host = _host, host
    return old
