"""``summarize(runs)``: counts by provider and status, run-time percentiles per provider, and
how many runs have a retry pending (``failed`` for now, another attempt scheduled)."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable
from typing import Any

import attrs

from runnorm._model.run import Run
from runnorm._model.status import RunStatus

__all__ = ["PERCENTILES", "Summary", "summarize"]

PERCENTILES = (50, 90, 99)


def _percentile(ordered: array[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@attrs.define
class Summary:
    """Running totals; feed it with :meth:`add`, combine shards with :meth:`merge`."""

    counts: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    run_times: dict[str, array[float]] = attrs.field(factory=dict)
    failed_records: int = 0
    retry_pending: int = 0
    """Runs counted with ``retry_pending`` set (they count under their status as well)."""

    def add(self, run: Run) -> None:
        """Count one run (its provider, status, run time and whether a retry is pending)."""
        self.counts[(run.provider, run.status.value)] += 1
        if run.retry_pending:
            self.retry_pending += 1
        run_time = run.timing.run_time
        if run_time is not None:
            series = self.run_times.get(run.provider)
            if series is None:
                series = self.run_times[run.provider] = array("d")
            series.append(run_time.total_seconds())

    def merge(self, other: Summary) -> None:
        """Add another summary's totals to this one."""
        self.counts.update(other.counts)
        for provider, series in other.run_times.items():
            self.run_times.setdefault(provider, array("d")).extend(series)
        self.failed_records += other.failed_records
        self.retry_pending += other.retry_pending

    @property
    def total(self) -> int:
        """Runs counted."""
        return sum(self.counts.values())

    def by_provider(self) -> dict[str, dict[str, int]]:
        """``{provider: {status: count}}``, statuses in ``RunStatus`` order."""
        out: dict[str, dict[str, int]] = {}
        for provider in sorted({p for p, _ in self.counts}):
            out[provider] = {
                status.value: self.counts[(provider, status.value)]
                for status in RunStatus
                if self.counts[(provider, status.value)]
            }
        return out

    def percentiles(self) -> dict[str, dict[str, float]]:
        """``{provider: {"p50": seconds, "p90": ..., "p99": ...}}`` of run times."""
        out = {}
        for provider, series in sorted(self.run_times.items()):
            if series:
                ordered = array("d", sorted(series))
                out[provider] = {f"p{q}": _percentile(ordered, q) for q in PERCENTILES}
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: counts by provider and status, run-time percentiles in seconds, and the
        ``retry_pending`` count."""
        return {
            "total": self.total,
            "by_provider": self.by_provider(),
            "run_time_seconds": self.percentiles(),
            "retry_pending": self.retry_pending,
        }

    def table(self) -> str:
        """A plain-text table: provider x status counts, then run-time percentiles; a last line
        ``retry pending: N`` when some runs have another attempt scheduled."""
        by_provider = self.by_provider()
        statuses = [s.value for s in RunStatus if any(s.value in c for c in by_provider.values())]
        header = ["provider", *statuses, "total", *(f"p{q} run" for q in PERCENTILES)]
        percentiles = self.percentiles()
        rows = [header]
        for provider, counts in by_provider.items():
            quantiles = percentiles.get(provider, {})
            rows.append(
                [
                    provider,
                    *(str(counts.get(status, 0)) for status in statuses),
                    str(sum(counts.values())),
                    *(_seconds(quantiles.get(f"p{q}")) for q in PERCENTILES),
                ]
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        if self.retry_pending:
            lines.append(f"retry pending: {self.retry_pending}")
        return "\n".join(line.rstrip() for line in lines)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    return f"{value / 60:.1f}m"


def summarize(runs: Iterable[Run | Any]) -> Summary:
    """Counts by provider and status, and run-time percentiles, over *runs*.

    Anything that is not a ``Run`` (a ``RecordError`` from ``read_dump``) is counted as a
    failed record.
    """
    summary = Summary()
    for run in runs:
        if isinstance(run, Run):
            summary.add(run)
        else:
            summary.failed_records += 1
    return summary
