"""The ``browserbase`` provider plugin for runnorm (an entry point of the group ``runnorm``)."""

from __future__ import annotations

from collections.abc import Callable

from runnorm import Provider, hookimpl
from runnorm_browserbase.provider import PROVIDER

__all__ = ["PROVIDER", "runnorm_register_providers"]


@hookimpl
def runnorm_register_providers(register: Callable[[Provider], None]) -> None:
    """Register the Browserbase provider."""
    register(PROVIDER)
