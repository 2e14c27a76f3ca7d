"""Root test configuration: for the core tests and the first-party plugins' tests alike."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_status_warnings(runnorm_fresh_status_warnings: None) -> None:
    """Every test sees each unknown-status warning afresh (they fire once per word)."""
