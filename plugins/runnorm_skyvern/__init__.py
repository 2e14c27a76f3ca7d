"""The ``skyvern`` provider plugin for runnorm.

Its entry point (group ``runnorm``) names the declaration itself:
``skyvern = "runnorm_skyvern.provider:PROVIDER"``.
"""

from __future__ import annotations

from runnorm_skyvern.provider import PROVIDER

__all__ = ["PROVIDER"]
