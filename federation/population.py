"""The guest's population: which of its rows a training run uses, and which validate.

A sample set (样本) decides who is trained on. At the guest (the bank), before alignment,
:func:`sample_rows` keeps the rows of its table that are

* listed in the sample's ID list (``sample_ids``: a CSV at the bank with the table's ID
  column and, optionally, an observation-date column), and
* observed inside the sample's observation window (``observation_start`` ..
  ``observation_end``, by the ``date_column`` of the ID list, else of the table; when
  neither has that column the window is not applied, as in the count at the bank, and the
  guest says so in its ``data_warnings``, which metrics.json shows);

the alignment then keeps those holding a valid authorization (``authorization =
"required"``) and intersects them with the hosts. With ``validation_from`` the run is
validated out of time (:func:`validation_rows`): the aligned rows observed before that date
train, those observed from it validate; otherwise the guest draws the usual random
stratified split (:func:`features.metrics.validation_split`).

What is revealed to whom: the ID list is read by the guest's own process and never leaves
it (the guest's privacy guard refuses a reply holding a listed ID); the coordinator learns
the sample's size after authorization (``n_sample``, as before). The out-of-time split's
validation positions cross to every party like the random split's: a host then learns,
for each aligned enterprise, whether it was observed before or from ``validation_from``
(the date itself is in the run's public config). An error here names the file and the
counts (listed, in the table, in the window), never an ID or a date.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crypto.errors import DataValidationError, SampleListError
from features.metrics import validation_split
from federation.guard import EXTRA_IDS_KEY
from federation.party import PartyContext
from federation.partydata import PartySetup, aligned_rows, party_k, party_setup

POPULATION_KEY = "population"


@dataclass(frozen=True)
class Population:
    """The guest's sample in its table (kept in ``ctx.state``; positions, not IDs)."""

    rows: np.ndarray  # int64 positions into load_table(ctx): ID list ∩ window
    oot_valid: np.ndarray | None  # bool per table row: observed from validation_from
    warnings: tuple[str, ...] = ()  # public: file and column names, no value


def id_list_path(ctx: PartyContext, location: str) -> Path:
    """The ID list's path at this party: relative locations name a file beside its table."""
    path = Path(location)
    if not path.is_absolute() and ctx.data_path is not None:
        path = Path(ctx.data_path).parent / path
    return path


def _encoding(encoding: str) -> str:
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def read_id_list(
    path: Path, *, id_column: str, date_column: str, encoding: str = "utf-8"
) -> pd.DataFrame:
    """The ID list's ID column (and date column, if any) as text, in the bank's
    ``encoding``; :class:`SampleListError` names the file and the column, never a value."""
    if not path.is_file():
        raise SampleListError(
            f"{path.name}: the sample's ID list is not at the bank",
            hint="Fix the sample set's ID-list location.",
        )
    enc = _encoding(encoding)
    try:
        head = pd.read_csv(path, nrows=0, encoding=enc)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        raise SampleListError(
            f"{path.name}: the ID list is not a {encoding} CSV with a header",
            hint="Export it again as CSV in the bank's encoding (its `encoding`, default UTF-8).",
        ) from None
    if id_column not in head.columns:
        raise SampleListError(
            f"{path.name}: the ID list has no column {id_column!r}",
            hint="Name the ID column as in the bank's table.",
        )
    cols = [c for c in (id_column, date_column) if c in head.columns]
    try:
        return pd.read_csv(path, usecols=cols, dtype="string", encoding=enc, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError):
        raise SampleListError(
            f"{path.name}: the ID list is not a well-formed {encoding} CSV",
            hint="Export it again as CSV in the bank's encoding (its `encoding`, default UTF-8).",
        ) from None


def parse_dates(values: pd.Series) -> pd.Series:
    """ISO dates from text (missing or malformed: NaT)."""
    return pd.to_datetime(values.astype("string").str.strip(), format="ISO8601", errors="coerce")


def _listed(ctx: PartyContext, setup: PartySetup, ids: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Rows of the table in the ID list, and the list's dates per row (NaT: none)."""
    path = id_list_path(ctx, setup.sample_ids)
    raw = read_id_list(
        path,
        id_column=setup.id_column,
        date_column=setup.date_column,
        encoding=setup.contract.encoding,
    )
    listed = raw.assign(**{setup.id_column: raw[setup.id_column].str.strip()})
    listed = listed[listed[setup.id_column].fillna("") != ""]
    if listed.empty:
        raise SampleListError(f"{path.name}: the sample's ID list holds no ID")
    listed = listed.drop_duplicates(subset=[setup.id_column])
    # the guard refuses a reply holding any listed ID, in the table or not
    ctx.cache[EXTRA_IDS_KEY] = frozenset(listed[setup.id_column])
    in_list = ids.isin(set(listed[setup.id_column])).to_numpy()
    dates = pd.Series(pd.NaT, index=ids.index, dtype="datetime64[ns]")
    if setup.date_column in listed.columns:
        by_id = pd.Series(
            parse_dates(listed[setup.date_column]).to_numpy(), index=listed[setup.id_column]
        )
        dates = pd.Series(ids.map(by_id).to_numpy(dtype="datetime64[ns]"), index=ids.index)
    return in_list, dates


def _table_dates(ctx: PartyContext, setup: PartySetup, ids: pd.Series) -> pd.Series | None:
    """The table's own date column per row (None when the table has none)."""
    path = Path(str(ctx.data_path))
    enc = _encoding(setup.contract.encoding)
    head = pd.read_csv(path, nrows=0, encoding=enc)
    if setup.date_column not in head.columns:
        return None
    raw = pd.read_csv(
        path, usecols=[setup.id_column, setup.date_column], dtype="string", encoding=enc
    )
    by_id = pd.Series(
        parse_dates(raw[setup.date_column]).to_numpy(),
        index=raw[setup.id_column].str.strip(),
    )
    by_id = by_id[~by_id.index.duplicated()]
    return pd.Series(ids.map(by_id).to_numpy(dtype="datetime64[ns]"), index=ids.index)


def _window(setup: PartySetup, dates: pd.Series) -> np.ndarray:
    inside = dates.notna().to_numpy().copy()
    if setup.observation_start:
        inside &= (dates >= pd.Timestamp(setup.observation_start)).to_numpy()
    if setup.observation_end:
        inside &= (dates <= pd.Timestamp(setup.observation_end)).to_numpy()
    return inside


def sample_rows(ctx: PartyContext, setup: PartySetup, table: pd.DataFrame) -> np.ndarray:
    """Positions of the guest's rows in its sample: ID list ∩ observation window (every row
    when the setup names neither). Remembered in ``ctx.state`` for :func:`validation_rows`.

    Raises :class:`SampleListError` naming the file when the ID list is missing or empty,
    when a window is asked for without an observation date, or when no row is left.
    """
    ctx.state.pop(POPULATION_KEY, None)
    n = len(table)
    if not setup.has_sample:
        return np.arange(n, dtype=np.int64)
    ids = table[setup.id_column].astype(str).str.strip().reset_index(drop=True)
    in_list, dates = np.ones(n, dtype=bool), pd.Series(pd.NaT, index=ids.index)
    source = Path(str(ctx.data_path)).name
    if setup.sample_ids:
        in_list, dates = _listed(ctx, setup, ids)
        source = id_list_path(ctx, setup.sample_ids).name
    dated = bool(setup.observation_start or setup.observation_end or setup.validation_from)
    warnings: tuple[str, ...] = ()
    if dated and not dates.notna().any():
        table_dates = _table_dates(ctx, setup, ids)
        if table_dates is not None:
            dates = table_dates
        elif setup.validation_from:
            raise SampleListError(
                f"{source}: out-of-time validation needs each enterprise's observation date, "
                f"but neither the ID list nor {Path(str(ctx.data_path)).name} has the date "
                f"column {setup.date_column!r}",
                hint="Add each enterprise's observation date to the ID list (ISO dates).",
            )
        else:  # as the count at the bank does (date_source "none"): said, not hidden
            dated = False
            warnings = (
                f"{source}: observation window not applied: no date column "
                f"{setup.date_column!r} in the ID list or the table",
            )
    keep = in_list & (_window(setup, dates) if dated else True)
    rows = np.flatnonzero(keep).astype(np.int64)
    if rows.size == 0:
        window = f"{setup.observation_start or '…'} – {setup.observation_end or '…'}"
        raise SampleListError(
            f"{source}: no enterprise of the bank's table is in the sample "
            f"({int(in_list.sum())} of its rows listed"
            + (f", none of them observed in the window {window})" if dated else ")")
        )
    oot = None
    if setup.validation_from:
        oot = (dates >= pd.Timestamp(setup.validation_from)).to_numpy() & keep
    ctx.state[POPULATION_KEY] = Population(rows, oot, warnings)
    return rows


def population_warnings(ctx: PartyContext) -> list[str]:
    """Public warnings about the guest's sample (a window that could not be applied)."""
    pop = ctx.state.get(POPULATION_KEY)
    return list(pop.warnings) if isinstance(pop, Population) else []


def validation_rows(ctx: PartyContext, y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The guest's validation positions in the aligned order: out of time when the sample
    names ``validation_from`` (each side at least the run's k at this party and holding both
    classes), else the
    random stratified split of ``fraction``."""
    pop = ctx.state.get(POPULATION_KEY)
    if not isinstance(pop, Population) or pop.oot_valid is None:
        return validation_split(y, fraction, seed)
    valid_mask = pop.oot_valid[aligned_rows(ctx)]
    k = party_k(ctx)
    y = np.asarray(y)
    cut = party_setup(ctx).validation_from
    for what, side in (("validation", valid_mask), ("training", ~valid_mask)):
        labels = y[side]
        if labels.size < k or len(np.unique(labels)) < 2:
            raise DataValidationError(
                f"guest {ctx.name!r}: the out-of-time {what} rows (observed "
                f"{'from' if what == 'validation' else 'before'} {cut}) are fewer than k={k} "
                "aligned enterprises or hold one class only",
                hint="Move validation_from so that both windows hold goods and bads.",
            )
    return np.flatnonzero(valid_mask).astype(np.int64)


__all__ = [
    "POPULATION_KEY",
    "Population",
    "id_list_path",
    "parse_dates",
    "population_warnings",
    "read_id_list",
    "sample_rows",
    "validation_rows",
]
