"""``FieldNote``: where one native field lands in a ``Run``, declared once as data.

A provider lists its notes on ``Provider.field_notes``. The docs render them as the provider
page's mapping table, and the conformance suite reads the dropped ones: a top-level key whose
removal changes nothing and that is not in ``extra`` must be declared dropped, with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["FieldNote", "dropped_keys"]


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    """One name or several, as a tuple (a string is one name, never split)."""
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise TypeError(f"expected one or more non-empty names, got {value!r}")
    return names


def _targets(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None or value == ():
        return ()
    return _names(value)


@attrs.frozen
class FieldNote:
    """Native key(s) -> the ``Run`` field(s) they land in.

    ``native``: payload keys, dotted for nested ones (``run_request.prompt``,
    ``downloaded_files[].artifact_id``); a string is one key. ``to``: ``Run`` field paths
    (``id``, ``timing.created_at``, ``error.code``, ``artifacts``, ``extra``); empty for a field
    dropped on purpose, whose ``note`` then says why. ``when``: the condition under which the
    note holds (``"webhooks"``, ``"list items"``, ``"include_session=True"``), None for always.
    ``note``: a short explanation, rendered beside the targets.
    """

    native: tuple[str, ...] = attrs.field(converter=_names)
    to: tuple[str, ...] = attrs.field(default=(), converter=_targets)
    when: str | None = None
    note: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.to and not self.note:
            raise TypeError(f"a dropped field needs a note saying why: {self.native}")

    @classmethod
    def dropped(
        cls, native: str | Iterable[str], reason: str, *, when: str | None = None
    ) -> FieldNote:
        """A field dropped on purpose (it stays in ``raw``), with the reason."""
        return cls(native, (), when=when, note=reason)

    @property
    def is_dropped(self) -> bool:
        """True when the field lands nowhere but ``raw``."""
        return not self.to


def dropped_keys(notes: Iterable[FieldNote]) -> frozenset[str]:
    """The top-level keys *notes* declare dropped (``a.b`` names a nested key, not ``a``)."""
    return frozenset(
        name
        for note in notes
        if note.is_dropped
        for name in note.native
        if "." not in name and "[" not in name
    )
