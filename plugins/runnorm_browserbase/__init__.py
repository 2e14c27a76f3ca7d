"""The ``browserbase`` provider plugin for runnorm.

Its entry point (group ``runnorm``) names the declaration itself:
``browserbase = "runnorm_browserbase.provider:PROVIDER"``.
"""

from __future__ import annotations

from runnorm_browserbase.provider import PROVIDER

__all__ = ["PROVIDER"]
