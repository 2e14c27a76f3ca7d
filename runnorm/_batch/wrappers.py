"""List wrappers: ``{"data": [...]}``, ``{"runs": [...]}`` and the fields their items share.

A wrapper's other scalar fields (Bridge Town's ``project_name``) are copied into each item
that lacks them; pagination bookkeeping (:data:`PAGINATION_KEYS`) is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["PAGINATION_KEYS", "WRAPPER_KEYS", "shared_fields", "with_shared", "wrapper_items"]

WRAPPER_KEYS = ("data", "runs", "items", "results")


def wrapper_items(document: Mapping[str, Any]) -> tuple[str, list[Any]] | None:
    for key in WRAPPER_KEYS:
        items = document.get(key)
        if isinstance(items, list):
            return key, items
    return None


PAGINATION_KEYS = frozenset(
    {
        "limit",
        "offset",
        "cursor",
        "nextCursor",
        "next_cursor",
        "page",
        "page_size",
        "total",
        "total_returned",
        "has_more",
        "hasMore",
        "next",
        "previous",
    }
)


def shared_fields(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The wrapper's scalar fields worth copying into items (not pagination bookkeeping)."""
    return {
        k: v
        for k, v in document.items()
        if k != key and k not in PAGINATION_KEYS and not isinstance(v, dict | list)
    }


def with_shared(item: Any, shared: Mapping[str, Any]) -> Any:
    if not shared or not isinstance(item, dict):
        return item
    missing = {k: v for k, v in shared.items() if k not in item}
    return {**item, **missing} if missing else item
