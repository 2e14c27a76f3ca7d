"""Plugin discovery and the provider registry: a typed wrapper over pluggy's manager.

Plugins are entry points of the group ``runnorm``: a module (or object) with the
``runnorm_register_providers`` hook, or a ``Provider`` object itself
(``acme = "runnorm_acme.provider:PROVIDER"``), which is registered as if a hook had passed
it to ``register``. They load lazily, on the first call that
needs a provider, and one by one: a plugin that fails to import or to register is recorded
(``runnorm.providers()`` shows it with its package and error) and the others keep working.
``RUNNORM_LOAD_PLUGINS=a,b`` loads only the named entry points; ``RUNNORM_DISABLE_PLUGINS=c``
blocks some; ``RUNNORM_TRACE_PLUGINS=1`` prints every hook call, its result, each registered
provider, each plugin's load time and (at exit) each detector's cumulative time to stderr,
with secrets and key-like strings masked. Two providers claiming one name are both reported
and the name becomes unusable (``PluginLoadError``) instead of one silently winning; an alias
never takes another provider's name (the alias is refused, on its own plugin).

Plugin code (import, the register hook, detectors; mappings and webhook verifiers are
wrapped where they are called) that raises an ``Exception`` or ``SystemExit`` is a fault of
that plugin (:data:`PLUGIN_FAULTS`): reported, and the others keep working.
``KeyboardInterrupt`` always propagates.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import os
import re
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pluggy

from runnorm import hookspecs
from runnorm._errors import PluginLoadError, RunnormWarning, UnknownProviderError
from runnorm._json import loads
from runnorm._model.redaction import Redactor
from runnorm._model.status import StatusMap
from runnorm._plugins.checks import capabilities_problem, fetch_problem
from runnorm._plugins.notes import FieldNote
from runnorm._plugins.provider import Auth, Detector, Provider

__all__ = [
    "ENTRY_POINT_GROUP",
    "PLUGIN_FAULTS",
    "PluginHost",
    "ProviderInfo",
    "describe_fault",
    "get_host",
    "reset_host",
]

PLUGIN_FAULTS: tuple[type[BaseException], ...] = (Exception, SystemExit)
"""What plugin code may raise that counts as a fault of that plugin (reported, never fatal):
any ``Exception`` and ``SystemExit`` (a plugin calling ``sys.exit()``). ``KeyboardInterrupt``
is not one: it always propagates."""

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
    try:
        text = repr(_TRACE_REDACTOR.redact(value))
    except Exception:  # a plugin's hostile __repr__ must not break the trace
        text = f"<{type(value).__name__}>"
    text = _KEYLIKE.sub("***", text)
    return text if len(text) <= 200 else text[:197] + "..."


def _trace(message: str) -> None:
    print(f"runnorm: {message}", file=sys.stderr)


def _tracer() -> tuple[Any, Any]:
    def before(hook_name: str, hook_impls: list[Any], kwargs: Mapping[str, Any]) -> None:
        plugins = ", ".join(impl.plugin_name for impl in hook_impls) or "none"
        arguments = ", ".join(f"{k}={_safe(v)}" for k, v in kwargs.items())
        print(f"runnorm: hook {hook_name}({arguments}) -> plugins: {plugins}", file=sys.stderr)

    def after(outcome: Any, hook_name: str, hook_impls: list[Any], kwargs: Any) -> None:
        exception = outcome.exception
        result = (
            f"raised {_safe(exception)}" if exception is not None else _safe(outcome.get_result())
        )
        print(f"runnorm: hook {hook_name} -> {result}", file=sys.stderr)

    return before, after


@attrs.frozen
class ProviderInfo:
    """What ``runnorm.providers()`` reports for one provider (or one plugin that failed).

    ``error`` says why the plugin or provider is broken (it failed to import or register, its
    name clashes, an alias was refused); ``warnings`` lists what works but deserves a look:
    a detector that accepts another provider's declared samples (detection of those payloads
    is ambiguous), or one that raised and so abstained.
    """

    name: str
    package: str | None
    version: str | None
    entry_point: str | None
    capabilities: frozenset[str] = frozenset()
    error: str | None = None
    aliases: tuple[str, ...] = ()
    provider: Provider | None = attrs.field(default=None, eq=False, repr=False)
    warnings: tuple[str, ...] = ()

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

    def label(self) -> str:
        """``name (package version)`` for trace lines."""
        made = " ".join(part for part in (self.package, self.version) if part)
        return f"{self.plugin_name} ({made})" if made else self.plugin_name


def _env_names(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def describe_fault(exc: BaseException) -> str:
    """``Type: message`` of an exception from plugin code, short, whatever its ``__str__``."""
    try:
        text = str(exc)
    except Exception:  # a hostile __str__
        text = "<unprintable>"
    if len(text) > _FAULT_TEXT:
        text = text[: _FAULT_TEXT - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_FAULT_TEXT = 200
_SAMPLES_READ = 200  # sample files read per provider for the cross-detection check
_SAMPLE_BYTES = 1 << 20


def _declaration_problem(provider: Provider) -> str | None:
    """Why *provider* cannot be registered as declared, or None: the registry relies on these
    types (names are sorted and hashed, detectors called), whatever a plugin passed, and the
    fetch and capability declarations must hold together (path templates, routes, kinds,
    options, paging, outcomes) before any call relies on them."""
    declared: Any = provider  # attrs does not check the declared types
    if not isinstance(declared.name, str) or not declared.name:
        return f"Provider.name must be a non-empty string, not {declared.name!r}"
    aliases = declared.aliases
    if not isinstance(aliases, tuple) or not all(isinstance(a, str) and a for a in aliases):
        return f"Provider.aliases must be a tuple of non-empty strings, not {aliases!r}"
    if not isinstance(declared.statuses, StatusMap):
        return "Provider.statuses must be a runnorm.StatusMap"
    if not callable(declared.to_run) or not callable(declared.detect):
        return "Provider.to_run and Provider.detect must be callables"
    if declared.verify_webhook is not None and not callable(declared.verify_webhook):
        return "Provider.verify_webhook must be a callable or None"
    keys = declared.detect_keys
    if not isinstance(keys, frozenset) or not all(isinstance(key, str) for key in keys):
        return "Provider.detect_keys must be a frozenset of strings"
    sensitive = declared.sensitive_keys
    if not isinstance(sensitive, tuple) or not all(_encodable(key) for key in sensitive):
        return "Provider.sensitive_keys must be a tuple of strings (without lone surrogates)"
    if declared.samples is not None and not isinstance(declared.samples, Path):
        return "Provider.samples must be a pathlib.Path or None"
    problem = _auth_problem(declared.auth) or _texts_problem(declared)
    if problem is not None:
        return problem
    problem = fetch_problem(declared.fetch)
    if problem is not None:
        return problem
    problem = capabilities_problem(
        declared.list,
        declared.cancel,
        declared.resume,
        declared.artifacts,
        fetch=declared.fetch,
    )
    if problem is not None:
        return problem
    return _list_fit_problem(declared)


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _encodable(value: object) -> bool:
    """A string that encodes to UTF-8 (no lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _variable(value: object) -> bool:
    """A name an environment variable can have: non-empty, no ``=`` or NUL, encodable."""
    return _encodable(value) and bool(value) and not any(ch in "=\0" for ch in str(value))


def _auth_problem(auth: Any) -> str | None:
    """Why ``Provider.auth`` cannot be used to send a key, or None (sending a request reads
    each of its fields: a header name, an environment variable, a scheme)."""
    if auth is None:
        return None
    if not isinstance(auth, Auth):
        return f"Provider.auth must be a runnorm.Auth or None, not {type(auth).__name__}"
    if not isinstance(auth.header, str) or not _HEADER_NAME.fullmatch(auth.header):
        return f"Provider.auth.header must be an HTTP header name, not {auth.header!r}"
    if not _variable(auth.env_var):
        return f"Provider.auth.env_var must be an environment variable name, not {auth.env_var!r}"
    if auth.scheme is not None and (
        not isinstance(auth.scheme, str) or not _HEADER_NAME.fullmatch(auth.scheme)
    ):
        return f"Provider.auth.scheme must be a word such as 'Bearer' or None, not {auth.scheme!r}"
    return None


def _texts_problem(declared: Any) -> str | None:
    """Why the plain text fields (``title``, ``base_url``, ``base_url_env``, ``docs_url``,
    ``field_notes``) are not of their declared types, or None."""
    for field in ("title", "base_url", "docs_url"):
        value = getattr(declared, field)
        if value is not None and not _encodable(value):
            return f"Provider.{field} must be a string or None, not {value!r}"
    if declared.base_url_env is not None and not _variable(declared.base_url_env):
        return (
            "Provider.base_url_env must be an environment variable name or None, not "
            f"{declared.base_url_env!r}"
        )
    notes = declared.field_notes
    if not isinstance(notes, tuple) or not all(isinstance(note, FieldNote) for note in notes):
        return "Provider.field_notes must be a tuple of runnorm.FieldNote"
    return None


def _list_fit_problem(provider: Provider) -> str | None:
    """How a listing declaration fits the rest: it needs ``fetch`` (``full=True`` and an
    incremental sync fetch listed runs again), its options must differ from the fetch's
    (``full=True`` passes those on), and a status filter's words must be in the map."""
    listing = provider.list
    if listing is None:
        return None
    if provider.fetch is None:
        return "Provider.list needs Provider.fetch: listed runs are fetched again by full=True"
    clash = sorted({p.option for p in listing.params} & provider.options)
    if clash:
        return f"Provider.list: option {clash[0]!r} is a fetch option too; give it another name"
    words = listing.status.words if listing.status is not None else None
    unknown = sorted(set(words or ()) - set(provider.statuses))
    if unknown:
        return f"Provider.list.status.words are not in Provider.statuses: {', '.join(unknown)}"
    return None


def _dist_facts(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    """The distribution name and version behind *ep*, when its metadata says."""
    try:
        dist: importlib.metadata.Distribution | None = getattr(ep, "dist", None)
        if dist is None:
            return None, None
        return dist.name, dist.version
    except Exception:  # broken metadata: the entry point still loads
        return None, None


class DeclaredPlugin:
    """The plugin of an entry point that names a ``Provider`` object directly."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def __repr__(self) -> str:
        return f"DeclaredPlugin({self.provider.name!r})"

    @hookspecs.hookimpl
    def runnorm_register_providers(self, register: Callable[[Provider], None]) -> None:
        """Register the one declared provider."""
        register(self.provider)


def as_plugin(loaded: object) -> object:
    """What an entry point loaded, as a pluggy plugin: a ``Provider`` gets a hook of its own."""
    return DeclaredPlugin(loaded) if isinstance(loaded, Provider) else loaded


def _shown(plugin: object) -> str:
    """A short description of what an entry point loaded (its type, and its name if any)."""
    name = getattr(plugin, "__name__", None)
    kind = type(plugin).__name__
    return f"{kind} {name!r}" if isinstance(name, str) else kind


DetectorEntry = tuple[Provider, frozenset[str], Detector]
FaultHandler = Callable[[Provider, BaseException], None]


def _matches(
    detectors: tuple[DetectorEntry, ...], payload: Mapping[str, Any], on_fault: FaultHandler
) -> list[Provider]:
    """The providers among *detectors* that accept *payload*: a detector runs only when the
    payload has one of its ``detect_keys`` (if it declares some); one that raises abstains and
    is handed to ``on_fault(provider, exc)``."""
    matches = []
    for provider, keys, accepts in detectors:
        if keys:
            for key in keys:  # a few declared keys, looked up in the payload
                if key in payload:
                    break
            else:
                continue
        try:
            if accepts(payload):
                matches.append(provider)
        except PLUGIN_FAULTS as exc:  # a faulty detector abstains rather than breaking detection
            on_fault(provider, exc)
    return matches


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
            _TRACED.add(self)
        self._use_entry_points = entry_points
        self._lock = threading.RLock()
        self._loaded = False
        self._failed: list[ProviderInfo] = []
        self._claims: Claims = {}
        self._providers: dict[str, Provider] = {}
        self._detectors: tuple[DetectorEntry, ...] = ()
        self._infos: list[ProviderInfo] = []
        self._aliases: dict[str, str] = {}
        self._clashes: dict[str, str] = {}
        self._redactors: dict[str | None, Redactor] = {}
        self._sample_notes: dict[str, list[str]] | None = None
        self._faults: dict[str, tuple[int, str]] = {}
        self._detector_time: dict[str, list[float]] = {}
        self._on_fault: FaultHandler = self._detector_fault  # bound once: detect is hot

    # -- the typed hook wrapper ---------------------------------------------------------------

    def call_register_providers(self, plugin: object) -> list[Provider]:
        """Run ``runnorm_register_providers`` of *plugin* alone; return what it registered."""
        registered: list[Provider] = []

        def register(provider: object) -> None:  # checked here, whatever a plugin passes
            if not isinstance(provider, Provider):
                raise TypeError(f"register() takes a runnorm.Provider, not {type(provider)!r}")
            problem = _declaration_problem(provider)
            if problem is not None:
                raise TypeError(problem)
            if any(provider is done for done in registered):
                return  # the same declaration again: registered once
            if self._trace:
                _trace(
                    f"register(Provider(name={provider.name!r}, "
                    f"capabilities={sorted(provider.capabilities)}))"
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
        """Register a plugin object (module or instance, or a ``Provider`` itself) and collect
        its providers."""
        plugin = as_plugin(plugin)
        with self._lock:
            self._ensure_loaded()
            origin = _Origin(name, package, version, entry_point)
            start = time.perf_counter()
            ok = self._add_plugin(plugin, origin)
            if self._trace:
                done = "registered" if ok else "failed to register"
                _trace(f"plugin {origin.label()} {done} in {time.perf_counter() - start:.3f} s")
            self._resolve()

    def _add_plugin(self, plugin: object, origin: _Origin) -> bool:
        try:
            hooked = hasattr(plugin, "runnorm_register_providers")
        except PLUGIN_FAULTS as exc:  # a hostile __getattr__
            self._fail(origin, f"could not register: {describe_fault(exc)}")
            return False
        if not hooked:  # a module in an old layout, an entry point naming the wrong object
            self._fail(
                origin,
                f"registered no provider: {_shown(plugin)} is neither a runnorm.Provider nor "
                "a plugin with the runnorm_register_providers hook",
            )
            return False
        try:
            self.pm.register(plugin, name=origin.plugin_name)
            self.pm.check_pending()
        except PLUGIN_FAULTS as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(origin, f"could not register: {describe_fault(exc)}")
            return False
        try:
            provided = self.call_register_providers(plugin)
        except PLUGIN_FAULTS as exc:
            self.pm.unregister(plugin)
            self._fail(origin, f"runnorm_register_providers failed: {describe_fault(exc)}")
            return False
        for provider in provided:
            self._claims.setdefault(provider.name, []).append((provider, origin))
        return True

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
                try:
                    self._load_entry_points()
                except BaseException:  # KeyboardInterrupt: forget the half load, start over next
                    self._forget_plugins()
                    raise
            self._loaded = True
            self._resolve()

    def _forget_plugins(self) -> None:
        for plugin in list(self.pm.get_plugins()):
            self.pm.unregister(plugin)
        self._failed.clear()
        self._claims.clear()

    def _entry_points(self) -> list[importlib.metadata.EntryPoint]:
        """The group's entry points. When one distribution's metadata is malformed (which
        makes ``entry_points()`` itself raise), that distribution is reported and the others'
        are read one by one."""
        try:
            return list(importlib.metadata.entry_points(group=self.group))
        except PLUGIN_FAULTS:
            pass
        found: list[importlib.metadata.EntryPoint] = []
        seen: set[str] = set()
        for dist in importlib.metadata.distributions():
            try:
                name = dist.name
            except PLUGIN_FAULTS:
                name = None
            name = name if isinstance(name, str) else "?"
            key = re.sub(r"[-_.]+", "-", name).lower()
            if key in seen:  # the first on the path wins, as in entry_points()
                continue
            seen.add(key)
            try:
                found.extend(dist.entry_points.select(group=self.group))
            except PLUGIN_FAULTS as exc:
                error = f"malformed entry-point metadata: {describe_fault(exc)}"
                self._fail(_Origin(name, package=name), error)
        return found

    def _load_entry_points(self) -> None:
        only = _env_names(LOAD_ENV)
        disabled = _env_names(DISABLE_ENV) or set()
        begin = time.perf_counter()
        for ep in sorted(self._entry_points(), key=lambda e: (e.name, e.value)):
            if only is not None and ep.name not in only:
                continue
            if ep.name in disabled:
                self.pm.set_blocked(ep.name)
                continue
            package, version = _dist_facts(ep)
            origin = _Origin(ep.name, package, version, f"{ep.name} = {ep.value}")
            if self.pm.has_plugin(ep.name):
                self._fail(origin, f"entry point name {ep.name!r} is already taken")
                continue
            start = time.perf_counter()
            try:
                plugin = as_plugin(ep.load())
            except PLUGIN_FAULTS as exc:
                self._fail(origin, f"could not import: {describe_fault(exc)}")
                if self._trace:
                    _trace(f"plugin {origin.label()} failed to import after {_since(start)}")
                continue
            imported = time.perf_counter()
            ok = self._add_plugin(plugin, origin)
            if self._trace:
                done = "loaded" if ok else "failed to register"
                _trace(
                    f"plugin {origin.label()} {done} in {_since(start)} "
                    f"(import {imported - start:.3f} s, register {_since(imported)})"
                )
        if self._trace:
            _trace(f"plugins loaded in {_since(begin)}")

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
        self._detectors = tuple(
            (p, p.detect_keys, self._timed(p.name, p.detect) if self._trace else p.detect)
            for p in providers.values()
        )
        self._aliases = aliases
        self._clashes = clashes
        self._infos = infos
        self._redactors = {}
        self._sample_notes = None

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
        """One ``ProviderInfo`` per provider and per failed plugin, sorted by name; usable
        providers carry the warnings of the samples check and of detector faults so far."""
        self._ensure_loaded()
        with self._lock:
            if self._sample_notes is None:
                self._sample_notes = self._check_samples()
            notes = self._sample_notes
            faults = dict(self._faults)
            out = []
            for info in self._infos:
                found = list(notes.get(info.name, ())) if info.provider is not None else []
                fault = faults.get(info.name) if info.provider is not None else None
                if fault is not None:
                    found.append(
                        f"its detector raised on {fault[0]} payload(s) in this process and "
                        f"abstained (last: {fault[1]})"
                    )
                out.append(attrs.evolve(info, warnings=tuple(found)) if found else info)
            return out

    def detector_faults(self) -> Mapping[str, tuple[int, str]]:
        """Provider name -> (how many payloads its detector raised on, the last fault)."""
        with self._lock:
            return dict(self._faults)

    def detect(self, payload: Mapping[str, Any]) -> list[Provider]:
        """Every usable provider whose detector accepts *payload*. A detector that raises
        abstains; the fault is recorded (:meth:`detector_faults`, ``runnorm providers``) and
        warned about once per provider."""
        if not self._loaded:
            self._load_once()
        return _matches(self._detectors, payload, self._on_fault)

    # -- detector faults, the samples check, timing -------------------------------------------

    def _detector_fault(self, provider: Provider, exc: BaseException) -> None:
        described = describe_fault(exc)
        with self._lock:
            count, _ = self._faults.get(provider.name, (0, ""))
            self._faults[provider.name] = (count + 1, described)
        if count == 0:
            warnings.warn(
                f"the {provider.name!r} plugin's detector raised {described}; it abstains "
                "from detection (runnorm providers lists it)",
                RunnormWarning,
                stacklevel=4,
            )

    def _check_samples(self) -> dict[str, list[str]]:
        """Provider name -> warnings: its detector accepts (or raises on) payloads that
        another provider declares as its samples."""
        detectors = tuple((p, p.detect_keys, p.detect) for p in self._providers.values())
        notes: dict[str, list[str]] = {}
        for owner in self._providers.values():
            others = tuple(entry for entry in detectors if entry[0] is not owner)
            claimed, raised = _claims_on_samples(owner, others)
            for name, labels in sorted(claimed.items()):
                shown = ", ".join(labels[:3]) + (", ..." if len(labels) > 3 else "")
                notes.setdefault(name, []).append(
                    f"its detector accepts {len(labels)} of {owner.name!r}'s declared samples "
                    f"({shown}): detecting those payloads is ambiguous"
                )
            for name, described in sorted(raised.items()):
                notes.setdefault(name, []).append(
                    f"its detector raised on {owner.name!r}'s declared samples ({described})"
                )
        return notes

    def _timed(self, name: str, accepts: Detector) -> Detector:
        totals = self._detector_time.setdefault(name, [0.0, 0.0])
        clock = time.perf_counter

        def timed(payload: Mapping[str, Any]) -> bool:
            start = clock()
            try:
                return accepts(payload)
            finally:
                totals[0] += 1
                totals[1] += clock() - start

        return timed

    def trace_detector_times(self) -> None:
        """Print each detector's calls and cumulative time to stderr (at exit when tracing)."""
        with self._lock:
            times = sorted(self._detector_time.items(), key=lambda item: -item[1][1])
        for name, (calls, seconds) in times:
            if calls:
                _trace(f"detector {name}: {int(calls)} call(s), {seconds:.6f} s in total")


def _since(start: float) -> str:
    return f"{time.perf_counter() - start:.3f} s"


def _claims_on_samples(
    owner: Provider, others: tuple[DetectorEntry, ...]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Which of *others* accept which of *owner*'s samples (name -> sample files), and which
    raised on one (name -> the first fault)."""
    claimed: dict[str, list[str]] = {}
    raised: dict[str, str] = {}

    def fault(provider: Provider, exc: BaseException) -> None:
        raised.setdefault(provider.name, describe_fault(exc))

    for label, sample in _samples(owner):
        for provider in _matches(others, sample, fault):
            claimed.setdefault(provider.name, []).append(label)
    return claimed, raised


def _samples(provider: Provider) -> list[tuple[str, Mapping[str, Any]]]:
    """``(label, payload)`` for the JSON objects in *provider*'s declared samples directory
    (files that cannot be read or decoded are the conformance suite's business)."""
    if provider.samples is None:
        return []
    out: list[tuple[str, Mapping[str, Any]]] = []
    try:
        files = sorted(provider.samples.glob("*.json"))[:_SAMPLES_READ]
    except OSError:
        return []
    for path in files:
        try:
            if path.stat().st_size > _SAMPLE_BYTES:
                continue
            payload = loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(payload, Mapping):
            out.append((path.name, payload))
    return out


_TRACED: weakref.WeakSet[PluginHost] = weakref.WeakSet()


def _report_traced() -> None:
    for host in list(_TRACED):
        host.trace_detector_times()


atexit.register(_report_traced)


Claims = dict[str, list[tuple[Provider, _Origin]]]


def _unclashed(claims: Claims) -> tuple[dict[str, Provider], dict[str, str]]:
    """The names claimed once (name -> provider), and the clashes (name -> the error)."""
    providers: dict[str, Provider] = {}
    clashes: dict[str, str] = {}
    for name, claimed in sorted(claims.items()):
        if len(claimed) > 1 and len({id(origin) for _, origin in claimed}) == 1:
            origin = claimed[0][1]
            clashes[name] = (
                f"provider name {name!r} is registered several times, with different "
                f"declarations, by {origin.package or origin.plugin_name} "
                f"(plugin {origin.plugin_name!r})"
            )
        elif len(claimed) > 1:
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
    """Alias -> provider name for the aliases claimed once, and the errors (provider name ->
    its errors). A provider's name beats an alias: an alias that is another provider's name
    (or a clashing name) is refused, reported on the provider declaring it alone. An alias
    two providers declare is theirs to lose, both: it is added to *clashes*."""
    names = set(providers) | set(clashes)
    aliases: dict[str, str] = {}
    shared: set[str] = set()
    errors: dict[str, list[str]] = {}
    for name, provider in providers.items():
        for alias in dict.fromkeys(provider.aliases):  # each alias once, in order
            if alias == name:
                continue
            if alias in names:
                errors.setdefault(name, []).append(
                    f"alias {alias!r} is the name of another provider and was refused"
                )
                continue
            if alias in aliases or alias in shared:
                lost = f"alias {alias!r} is taken by another provider and was ignored"
                errors.setdefault(name, []).append(lost)
                other = aliases.pop(alias, None)
                if other is not None:
                    errors.setdefault(other, []).append(lost)
                shared.add(alias)
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
