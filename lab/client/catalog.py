"""The SDK's catalog sections: indicators (指标库), samples (样本库) and algorithms (算法库).

What it reveals, to whom: metadata and counts (declared, or counted at the bank with every
cell >= k) to the connected user, within the access rules; never a record.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

from lab.client.base import Caller, Part, Table
from lab.default_rules import stored_rule
from lab.errors import CatalogError, NotFoundError
from lab.models import (
    AlgorithmPublic,
    CountStatus,
    DatasetPublic,
    IndicatorPublic,
    SampleSetCreate,
    SampleSetEdit,
    SampleSetPublic,
)
from lab.sample_profiles import SampleProfile
from lab.services import catalog


class Indicators(Part):
    def search(
        self,
        query: str = "",
        *,
        category: str | None = None,
        owner: str | None = None,
        dimension: str | None = None,
        family: str | None = None,
        limit: int = 200,
    ) -> Table[IndicatorPublic]:
        """Indicators matching ``query`` in code, name (English or 中文), description."""
        return Table(
            self.lab.call(
                catalog.search_indicators,
                query=query,
                category=category,
                owner=owner,
                dimension=dimension,
                family=family,
                limit=limit,
            )
        )

    def list(
        self,
        *,
        family: str | None = None,
        dimension: str | None = None,
        owner: str | None = None,
    ) -> Table[IndicatorPublic]:
        """The whole library (or one family, dimension or owner), registry first."""
        return self.search(family=family, dimension=dimension, owner=owner, limit=100_000)

    def get(self, code: str) -> IndicatorPublic:
        found = [i for i in self.search(code) if i.code == code]
        if not found:
            raise NotFoundError(
                f"unknown indicator {code!r}",
                hint="Search the library: lab.indicators.search('...').",
            )
        return found[0]


class Samples(Part):
    def create(
        self,
        *,
        name: str,
        dataset: str,
        label_column: str,
        id_list_location: str,
        label_definition: str = "",
        observation_start: date | None = None,
        observation_end: date | None = None,
        n_total: int = 0,
        n_positive: int = 0,
        default_rule: Any = None,
        **definition: Any,
    ) -> SampleHandle:
        """Register a sample set (样本库) of your bank: metadata, no rows.

        Count it at the bank with ``sample.profile()``; ``n_total`` / ``n_positive`` are
        *declared* counts (as your bank's own system reports them), marked as such; without
        them the sample is "not counted". ``default_rule`` (逾期定义: what counts as
        default in ``label_column``, applied at the bank): ``"binary"`` (default: the column
        is already 0/1), ``"dpd>=90"`` (days past due), ``"status:次级,可疑,损失"``, or
        the same as a dict; a bad rule is a ConfigError. ``definition``: ``label_horizon_months``,
        ``date_column`` (observation date, in the ID list else the table) and
        ``validation_start`` (out-of-time validation from that date)."""
        return SampleHandle(
            self.lab,
            self.lab.call(
                catalog.create_sample,
                sample_in=(
                    SampleSetCreate(
                        name=name,
                        dataset_name=dataset,
                        label_column=label_column,
                        id_list_location=id_list_location,
                        label_definition=label_definition,
                        observation_start=observation_start,
                        observation_end=observation_end,
                        n_total=n_total,
                        n_positive=n_positive,
                        default_rule=stored_rule(default_rule),
                        **definition,
                    )
                ),
            ),
        )

    def list(self) -> Table[SampleSetPublic]:
        return Table(self.lab.call(catalog.list_samples))

    def get(self, sample_id: int) -> SampleHandle:
        return SampleHandle(self.lab, self.lab.call(catalog.get_sample, sample_id=sample_id))


class SampleHandle:
    """One sample set; its fields (``id``, ``name``, ``n_total`` ...) read as attributes.

    ``sample.profile()`` counts it at the bank (a worker runs the count there) and returns
    the :class:`~lab.sample_profiles.SampleProfile` (counts, positive rate, histograms, every
    cell >= k); ``sample.counts`` is what the catalog holds now, and says whether the counts
    were declared or counted at the bank."""

    def __init__(self, lab: Caller, info: SampleSetPublic) -> None:
        self.lab = lab
        self.info = info

    def __getattr__(self, name: str) -> Any:
        if name in ("lab", "info"):
            raise AttributeError(name)
        return getattr(self.info, name)

    def refresh(self) -> SampleHandle:
        self.info = self.lab.call(catalog.get_sample, sample_id=self.info.id)
        return self

    def edit(self, **changes: Any) -> SampleHandle:
        """A new version of this sample set with ``changes`` (fields of
        :class:`~lab.models.SampleSetEdit`); it is not counted until counted at the bank,
        and this version stays for the lineage of models trained on it. A new
        ``default_rule`` is checked first (ConfigError), as in :meth:`Samples.create`."""
        if changes.get("default_rule") is not None:
            changes = {**changes, "default_rule": stored_rule(changes["default_rule"])}
        return SampleHandle(
            self.lab,
            self.lab.call(
                catalog.edit_sample,
                sample_id=self.info.id,
                changes=SampleSetEdit.model_validate(changes),
            ),
        )

    @property
    def counts(self) -> SampleProfile:
        """The counts recorded now (``source`` "declared" or "bank")."""
        return SampleProfile.of(self.refresh().info)

    def profile(
        self,
        columns: Iterable[str] = (),
        *,
        min_cell: int | None = None,
        date_column: str | None = None,
        wait: bool = True,
        timeout: float | None = 600.0,
        poll: float = 1.0,
    ) -> SampleProfile:
        """Count the sample at its bank: a request the worker runs at the bank's node.

        ``columns``: numeric columns of the sample's dataset to draw histograms of;
        ``min_cell``: k, raising the lab's ``FEDLAB_MIN_CELL`` (never lowering it; the
        bank applies at least its own). With ``wait`` (a worker must
        be running) returns the counts once recorded; raises :class:`CatalogError` with the
        reason when the count failed."""
        from lab.services import sample_counts

        job = self.lab.call(
            sample_counts.request_count,
            sample_id=self.info.id,
            columns=list(columns),
            min_cell=min_cell,
            date_column=date_column,
        )
        if not wait:
            return self.counts
        deadline = None if timeout is None else time.monotonic() + timeout
        while job.status in (CountStatus.REQUESTED, CountStatus.RUNNING):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"sample count {job.id} is still {job.status.value} after "
                    f"{timeout} s; is a worker running (`fedlab lab worker`)?"
                )
            time.sleep(poll)
            job = self.lab.call(sample_counts.get_count, count_id=job.id)
        if job.status != CountStatus.SUCCEEDED:
            raise CatalogError(
                f"sample count {job.id} of sample {self.info.id} failed: "
                f"{job.failure_reason or 'no reason recorded'}"
            )
        return self.counts

    def __repr__(self) -> str:
        return (
            f"<sample {self.info.id} {self.info.name!r} n={self.info.n_total} "
            f"positive={self.info.n_positive} ({self.info.counts_source.value})>"
        )


class Datasets(Part):
    """Registered datasets (schemas, row counts, kinds; never a location)."""

    def list(self) -> Table[DatasetPublic]:
        return Table(self.lab.call(catalog.list_datasets))

    def register_records(
        self,
        *,
        org: str,
        name: str,
        location: str,
        tables: Iterable[str],
        row_count: int = 0,
        description: str = "",
    ) -> tuple[DatasetPublic, builtins.list[str]]:
        """Agency officers: register your raw-record folder (``records_<table>.csv`` for
        ``tables``, at your node) and link your registry indicators on those tables to it;
        returns the dataset and the indicator codes linked."""
        return self.lab.call(
            catalog.register_record_folder,
            org_code=org,
            name=name,
            location=location,
            tables=list(tables),
            row_count=row_count,
            description=description,
        )


class Algorithms(Part):
    def list(self) -> Table[AlgorithmPublic]:
        return Table(self.lab.call(catalog.list_algorithms))


__all__ = [
    "Algorithms",
    "Datasets",
    "Indicators",
    "SampleHandle",
    "Samples",
]
