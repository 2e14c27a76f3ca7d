"""The ``acme`` provider plugin for runnorm (entry point ``acme`` in the group ``runnorm``)."""

from __future__ import annotations

from collections.abc import Callable

from runnorm import Provider, hookimpl
from runnorm_acme.provider import PROVIDER

__all__ = ["PROVIDER", "runnorm_register_providers"]
__version__ = "0.1.0"


@hookimpl
def runnorm_register_providers(register: Callable[[Provider], None]) -> None:
    """Register the Acme Runs provider."""
    register(PROVIDER)
