"""The ``acme`` provider plugin for runnorm.

Its entry point (group ``runnorm``) names the declaration itself:
``acme = "runnorm_acme.provider:PROVIDER"``.
"""

from __future__ import annotations

from runnorm_acme.provider import PROVIDER

__all__ = ["PROVIDER"]
__version__ = "0.1.0"
