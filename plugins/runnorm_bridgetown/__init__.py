"""The ``bridgetown`` provider plugin for runnorm.

Its entry point (group ``runnorm``) names the declaration itself:
``bridgetown = "runnorm_bridgetown.provider:PROVIDER"``.
"""

from __future__ import annotations

from runnorm_bridgetown.provider import PROVIDER

__all__ = ["PROVIDER"]
