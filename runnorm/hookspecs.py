"""Hook specifications: what a runnorm plugin may implement. Docstring-only, fully typed.

Call them through :class:`runnorm._plugins.host.PluginHost`, never through ``pm.hook`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from runnorm._plugins.provider import Provider

PROJECT = "runnorm"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def runnorm_register_providers(register: Callable[[Provider], None]) -> None:
    """Call ``register(provider)`` once for each ``runnorm.Provider`` this plugin offers."""
