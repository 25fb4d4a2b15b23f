"""A sample set's counts as the SDK and the sandbox read them: declared, or counted at the bank.

A count at the bank (``lab.services.sample_counts``) stores the bank's reply on the sample set
(``SampleSetPublic.profile``): totals, positives, negatives and histograms whose every cell
holds at least k enterprises (None where the bank suppressed a cell). A declared count is
what the bank typed in (``n_total`` / ``n_positive``), with no histogram. Nothing here reads
a party's file: the SDK user or sandbox visitor who may read the sample set sees what the
catalog already holds, aggregates only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lab.errors import NotFoundError
from lab.models import CountsSource, SampleSetPublic

MONTH = "month"


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


@dataclass(frozen=True)
class SampleProfile:
    """Counts of one sample set; ``source`` says where they come from."""

    sample_id: int
    source: str  # "none" (not counted) | "declared" (typed in) | "bank" (counted at the bank)
    n_total: int | None
    n_positive: int | None
    n_negative: int | None
    min_cell: int | None = None  # the k the bank applied (counted only)
    counted_at: datetime | None = None
    requested_by: str | None = None
    window_applied: bool | None = None
    n_excluded: int | None = None
    months: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, sample: SampleSetPublic) -> SampleProfile:
        if CountsSource(sample.counts_source) is CountsSource.BANK and sample.profile:
            p = sample.profile
            return cls(
                sample_id=sample.id,
                source=CountsSource.BANK.value,
                n_total=_int(p.get("n_total")),
                n_positive=_int(p.get("n_positive")),
                n_negative=_int(p.get("n_negative")),
                min_cell=_int(p.get("min_cell")),
                counted_at=sample.counted_at,
                requested_by=sample.count_requested_by,
                window_applied=bool(p.get("window_applied")),
                n_excluded=_int(p.get("n_excluded")),
                months=list(p.get("months") or []),
                columns=dict(p.get("columns") or {}),
            )
        if CountsSource(sample.counts_source) is CountsSource.NONE:
            return cls(sample.id, CountsSource.NONE.value, None, None, None)
        return cls(
            sample_id=sample.id,
            source=CountsSource.DECLARED.value,
            n_total=sample.n_total,
            n_positive=sample.n_positive,
            n_negative=sample.n_total - sample.n_positive,
        )

    @property
    def positive_rate(self) -> float | None:
        if not self.n_total or self.n_positive is None:
            return None
        return self.n_positive / self.n_total

    @property
    def histograms(self) -> list[str]:
        """Names of the histograms held: ``"month"`` and the binned columns."""
        return ([MONTH] if self.months else []) + [c for c, b in self.columns.items() if b]

    def histogram(self, name: str = MONTH) -> Any:
        """One histogram as a pandas table (label, total, positive, negative; None below k)."""
        import pandas as pd

        bins = self.months if name == MONTH else self.columns.get(name)
        if not bins:
            raise NotFoundError(
                f"sample {self.sample_id} has no histogram {name!r}; it has "
                f"{self.histograms or 'none (count it at the bank)'}"
            )
        return pd.DataFrame(bins, columns=["label", "total", "positive", "negative"])

    def _repr_html_(self) -> str:
        rate = "—" if self.positive_rate is None else f"{self.positive_rate:.1%}"
        head = (
            f"<b>sample {self.sample_id}</b> ({self.source}"
            + (
                f", k={self.min_cell}, counted {self.counted_at:%Y-%m-%d %H:%M} for "
                f"{self.requested_by}"
                if self.counted_at
                else ""
            )
            + ")"
        )
        body = (
            f"<br>total {self.n_total}, positives {self.n_positive}, negatives "
            f"{self.n_negative}, positive rate {rate}"
        )
        tables = "".join(
            f"<p>{name}</p>{self.histogram(name).to_html(index=False)}" for name in self.histograms
        )
        return head + body + tables


__all__ = ["MONTH", "SampleProfile"]
