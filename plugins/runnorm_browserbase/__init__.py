"""The ``browserbase`` provider plugin for runnorm (entry point ``browserbase``)."""

from __future__ import annotations

from collections.abc import Callable

from runnorm import Provider, hookimpl
from runnorm._build import import_matching_core

# Compiled in a wheel together with the core: loaded to match the core that runs.
PROVIDER: Provider = import_matching_core("runnorm_browserbase.provider").PROVIDER

__all__ = ["PROVIDER", "runnorm_register_providers"]


@hookimpl
def runnorm_register_providers(register: Callable[[Provider], None]) -> None:
    """Register the Browserbase provider."""
    register(PROVIDER)
