"""What a cancel or resume came to: :class:`ControlResult` and its :data:`Outcome`."""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

from runnorm._model.run import Run

__all__ = ["OUTCOMES", "ControlResult", "Outcome"]

Outcome: TypeAlias = Literal["accepted", "already_terminal", "not_found", "conflict"]
"""What a cancel or resume came to: ``ControlResult.outcome``."""
OUTCOMES: tuple[Outcome, ...] = ("accepted", "already_terminal", "not_found", "conflict")


@attrs.frozen
class ControlResult:
    """The answer to :func:`runnorm.cancel` or :func:`runnorm.resume`.

    ``outcome`` is ``"accepted"`` (the provider took the request: the run is stopping or
    going on), ``"already_terminal"`` (the run had finished: nothing to cancel or resume),
    ``"not_found"`` (no such run) or ``"conflict"`` (the run is in no state to take it, e.g.
    resuming a run that is not paused). ``run`` is the run as the provider returned it with
    its answer, when it did (Browserbase's stop), or as it was fetched to tell the outcome;
    else None. ``detail`` is the provider's own words about a refusal (an error's message),
    the API key masked.
    """

    provider: str
    run_id: str
    outcome: Outcome
    run: Run | None = None
    detail: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the provider took the request."""
        return self.outcome == "accepted"
