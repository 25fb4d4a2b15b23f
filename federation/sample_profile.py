"""Counting a sample set at the bank (样本库 counts): aggregates only, every cell >= k.

The platform never opens a bank's files, so a sample set's counts are computed where the
data lives. The coordinator sends one ``sample.profile`` request to the bank (the run's only
party, the guest); the bank's handler reads its own registered table (``ctx.data_path``) and
the sample's ID list (a CSV at the bank, named by the request), keeps the listed IDs found in
its table, applies the observation window (when an observation date is known per
enterprise: a ``date_column`` in the ID list, else in the table) and the label definition
(the sample's default rule applied to its label column at the bank,
:mod:`federation.default_rule`: 1 is a positive), and answers with

* ``n_total``, ``n_positive``, ``n_negative`` of the sample, ``n_excluded`` (listed IDs not
  counted: not in the table, outside the window or without a date);
* a histogram per month of the observation window (when dates are known) and one per
  requested numeric column (bins at quantiles rounded to 2 significant digits, open at both
  ends, missing values in their own bin), each bin with its total, positives and negatives.

What the coordinator (the platform) learns: those numbers, the bin labels (months, rounded
edges) and the effective k; never an ID, a row or a value of one enterprise. Minimum cell
size k (the request's ``min_cell``, raised to the bank's own: ``FEDLAB_MIN_CELL`` and its
node config ``min-cell``, never below 10; :mod:`features.disclosure`): adjacent bins are
merged until each holds at least k enterprises, so the bins of a histogram always add up to
``n_total`` and no small cell can be recovered by subtraction; a bin's positives and
negatives are sent only when both reach k (else neither); a sample of fewer than k
enterprises sends no count at all. Suppressed cells travel as -1 and arrive as ``None``.
The party's privacy guard checks the reply like every other
(numeric copies of columns; the table's IDs and the ID list's IDs in text).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crypto.errors import ConfigError
from features.disclosure import DEFAULT_MIN_CELL, party_min_cell
from federation.config import ExperimentConfig
from federation.default_rule import rule_json
from federation.guard import EXTRA_IDS_KEY
from federation.party import PartyContext, register
from federation.partydata import PartySetup, load_table, setup_party
from federation.population import id_list_path, read_id_list
from federation.protocol import Exchanger, ProgressFn, ProtocolResult, no_progress
from federation.transport import Envelope, Payload

ALGORITHM = "sample_profile"
ACTION = "sample.profile"
SUPPRESSED = -1
MONTHS = "month"


class ProfileParams(BaseModel):
    """The ``[params]`` of a sample count: what the bank is asked to count."""

    model_config = ConfigDict(extra="forbid")

    id_list: str = Field(min_length=1, description="the ID list's location at the bank")
    observation_start: str | None = None  # ISO date
    observation_end: str | None = None
    date_column: str = "observation_date"
    columns: list[str] = Field(default_factory=list)
    min_cell: int = Field(default=DEFAULT_MIN_CELL, ge=1)
    max_bins: int = Field(default=10, ge=1, le=50)


def parse_params(params: dict[str, Any]) -> ProfileParams:
    try:
        return ProfileParams.model_validate(params)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"sample count parameters: {errs}") from None


# ---------------------------------------------------------------------------------------
# counting (party side, pure functions)


@dataclass(frozen=True)
class Bin:
    label: str
    total: int
    positive: int | None  # None: suppressed (positives or negatives below k)
    negative: int | None


@dataclass(frozen=True)
class SampleCounts:
    """What leaves the bank: suppressed counts (None) and merged histograms."""

    min_cell: int
    n_total: int | None
    n_positive: int | None
    n_negative: int | None
    n_excluded: int | None
    window_applied: bool
    date_source: str  # "id_list" | "table" | "none"
    months: list[Bin] = field(default_factory=list)
    columns: dict[str, list[Bin]] = field(default_factory=dict)


def cell(n: int, k: int) -> int | None:
    """``n`` when 0 or at least ``k``, else None."""
    return int(n) if n == 0 or n >= k else None


def merge_runs(
    totals: list[int], k: int, positives: list[int] | None = None
) -> list[tuple[int, int]]:
    """Runs ``[lo, hi]`` of adjacent bins, each holding at least ``k`` enterprises and, when
    ``positives`` are given, at least ``k`` positives and ``k`` negatives.

    Left to right: a run closes once it is big enough; a short tail joins the run before it.
    Empty when all bins together are too small.
    """
    pos = positives if positives is not None else [0] * len(totals)
    runs: list[tuple[int, int]] = []
    start, n, n_pos = 0, 0, 0
    for i, (t, p) in enumerate(zip(totals, pos, strict=True)):
        n, n_pos = n + t, n_pos + p
        if n >= k and (positives is None or (n_pos >= k and n - n_pos >= k)):
            runs.append((start, i))
            start, n, n_pos = i + 1, 0, 0
    if start < len(totals) and runs:
        runs[-1] = (runs[-1][0], len(totals) - 1)
    return runs


def histogram_runs(totals: np.ndarray, positives: np.ndarray, k: int) -> list[tuple[int, int]]:
    """Runs with at least k positives and k negatives each, so every bin shows its split;
    when the whole sample has fewer, runs of at least k enterprises (split suppressed)."""
    t, p = [int(x) for x in totals], [int(x) for x in positives]
    return merge_runs(t, k, p) or merge_runs(t, k)


def _split(total: int, positive: int, k: int) -> tuple[int | None, int | None]:
    negative = total - positive
    if positive >= k and negative >= k:
        return positive, negative
    return None, None


def _bins(
    labels: list[str], totals: np.ndarray, positives: np.ndarray, k: int, join: str = ".."
) -> list[Bin]:
    out = []
    for lo, hi in histogram_runs(totals, positives, k):
        total = int(totals[lo : hi + 1].sum())
        pos, neg = _split(total, int(positives[lo : hi + 1].sum()), k)
        label = labels[lo] if lo == hi else f"{labels[lo]}{join}{labels[hi]}"
        out.append(Bin(label, total, pos, neg))
    return out


def round_edge(x: float) -> float:
    """``x`` to 2 significant digits (a bin edge is never one enterprise's exact value)."""
    return float(f"{x:.2g}")


def fmt_edge(x: float) -> str:
    return np.format_float_positional(x, precision=2, unique=True, fractional=False, trim="-")


def month_histogram(dates: pd.Series, y: np.ndarray, k: int) -> list[Bin]:
    """Per calendar month of ``dates`` (every month from the first to the last), merged."""
    if dates.empty:
        return []
    months = dates.dt.to_period("M")
    span = pd.period_range(months.min(), months.max(), freq="M")
    pos_idx = span.get_indexer(months)
    totals = np.bincount(pos_idx, minlength=len(span))
    positives = np.bincount(pos_idx, weights=y, minlength=len(span)).astype(np.int64)
    return _bins([str(p) for p in span], totals, positives, k)


def column_histogram(values: np.ndarray, y: np.ndarray, k: int, max_bins: int) -> list[Bin]:
    """Bins of a numeric column at rounded quantiles (open at both ends), merged to >= k.

    Missing values form their own bin when at least k, else they join the first bin
    ("... or missing"); values left over (fewer than k in all) join the last bin."""
    missing = np.isnan(values)
    v = values[~missing]
    qs = (
        np.quantile(v, np.linspace(0, 1, max_bins + 1)[1:-1])
        if v.size and max_bins > 1
        else np.empty(0)
    )
    edges = np.unique([round_edge(q) for q in qs])
    idx = np.searchsorted(edges, np.where(missing, 0.0, values), side="right")
    lows = ["-inf", *[fmt_edge(e) for e in edges]]
    highs = [*[fmt_edge(e) for e in edges], "inf"]
    runs = histogram_runs(
        np.bincount(idx[~missing], minlength=len(edges) + 1),
        np.bincount(idx[~missing], weights=y[~missing], minlength=len(edges) + 1),
        k,
    )
    group = np.full(values.shape[0], -1, dtype=np.int64)
    labels: list[str] = []
    run_of = np.zeros(len(edges) + 1, dtype=np.int64)
    for r, (lo, hi) in enumerate(runs):
        run_of[lo : hi + 1] = r
        labels.append(f"[{lows[lo]}, {highs[hi]})")
    if runs:
        group[~missing] = run_of[idx[~missing]]
    n_missing = int(missing.sum())
    if n_missing >= k:
        group[missing] = len(labels)
        labels.append("missing")
    elif n_missing and runs:
        group[missing] = 0
        labels[0] += " or missing"
    rest = group < 0
    if rest.any():
        if not labels:
            labels.append("[-inf, inf) or missing")
        else:
            labels[-1] += " or other"
        group[rest] = len(labels) - 1
    totals = np.bincount(group, minlength=len(labels))
    if int(totals.sum()) < k:
        return []
    positives = np.bincount(group, weights=y, minlength=len(labels)).astype(np.int64)
    return [
        Bin(label, int(t), *_split(int(t), int(p), k))
        for label, t, p in zip(labels, totals, positives, strict=True)
    ]


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype("string").str.strip(), format="ISO8601", errors="coerce")


def count_sample(
    table: pd.DataFrame,
    id_list: pd.DataFrame,
    *,
    id_column: str,
    label: str,
    params: ProfileParams,
    k: int,
) -> SampleCounts:
    """The sample's counts and histograms from the bank's table and ID list (both local).

    ``table``: the bank's validated table (IDs as str, the label 0/1); ``id_list``: the ID
    list as text (its ID column, maybe a date column). Raises :class:`ConfigError` naming a
    histogram column that is missing or not numeric.
    """
    ids = id_list[id_column].astype("string").str.strip()
    listed = id_list.assign(**{id_column: ids}).dropna(subset=[id_column])
    listed = listed[listed[id_column] != ""].drop_duplicates(subset=[id_column])
    for col in params.columns:
        if col not in table.columns:
            raise ConfigError(
                f"histogram column {col!r} is not in the bank's table",
                hint="Name columns of the sample's dataset.",
            )
        if col in (id_column, label) or not pd.api.types.is_numeric_dtype(table[col]):
            raise ConfigError(
                f"histogram column {col!r} is not a numeric feature column",
                hint="Histograms bin numeric columns only.",
            )
    keep = [id_column, label, *dict.fromkeys(params.columns)]
    date_source = "none"
    if params.date_column in listed.columns:
        date_source = "id_list"
    elif params.date_column in table.columns:
        date_source = "table"
        keep.append(params.date_column)
    rows = listed[[c for c in (id_column, params.date_column) if c in listed.columns]].merge(
        table[keep].assign(**{id_column: table[id_column].astype("string")}),
        on=id_column,
        how="inner",
    )
    window_applied = False
    dates = None
    if date_source != "none":
        dates = _dates(rows[params.date_column])
        inside = dates.notna().to_numpy().copy()
        if params.observation_start:
            inside &= (dates >= pd.Timestamp(params.observation_start)).to_numpy()
            window_applied = True
        if params.observation_end:
            inside &= (dates <= pd.Timestamp(params.observation_end)).to_numpy()
            window_applied = True
        rows, dates = rows[inside], dates[inside]
    y = rows[label].to_numpy(dtype=np.int64)
    n_total, n_pos = int(y.shape[0]), int(y.sum())
    n_excluded = cell(len(listed) - n_total, k)
    if n_total < k:
        return SampleCounts(k, None, None, None, n_excluded, window_applied, date_source)
    pos, neg = _split(n_total, n_pos, k)
    months = month_histogram(dates, y, k) if dates is not None else []
    columns = {
        col: column_histogram(
            rows[col].to_numpy(dtype=np.float64, na_value=np.nan), y, k, params.max_bins
        )
        for col in params.columns
    }
    return SampleCounts(
        k, n_total, pos, neg, n_excluded, window_applied, date_source, months, columns
    )


# ---------------------------------------------------------------------------------------
# the wire: flat lists, -1 for a suppressed cell


def _wire(n: int | None) -> int:
    return SUPPRESSED if n is None else int(n)


def _unwire(n: Any) -> int | None:
    return None if int(n) == SUPPRESSED else int(n)


def _bins_payload(prefix: str, bins: list[Bin]) -> Payload:
    if not bins:  # an empty list has no element type on the wire
        return {}
    return {
        f"{prefix}.labels": [b.label for b in bins],
        f"{prefix}.total": [b.total for b in bins],
        f"{prefix}.positive": [_wire(b.positive) for b in bins],
        f"{prefix}.negative": [_wire(b.negative) for b in bins],
    }


def counts_payload(c: SampleCounts) -> Payload:
    out: Payload = {
        "min_cell": c.min_cell,
        "n_total": _wire(c.n_total),
        "n_positive": _wire(c.n_positive),
        "n_negative": _wire(c.n_negative),
        "n_excluded": _wire(c.n_excluded),
        "window_applied": c.window_applied,
        "date_source": c.date_source,
    }
    out.update(_bins_payload(MONTHS, c.months))
    for col, bins in c.columns.items():
        out.update(_bins_payload(f"column.{col}", bins))
    return out


def _bins_from(payload: Payload, prefix: str) -> list[dict[str, Any]]:
    labels = payload.get(f"{prefix}.labels") or []
    if not labels:
        return []
    return [
        {"label": str(lab), "total": int(t), "positive": _unwire(p), "negative": _unwire(n)}
        for lab, t, p, n in zip(
            labels,
            payload[f"{prefix}.total"],
            payload[f"{prefix}.positive"],
            payload[f"{prefix}.negative"],
            strict=True,
        )
    ]


def profile_from_payload(payload: Payload, columns: list[str]) -> dict[str, Any]:
    """The bank's reply as the catalog stores it (None: suppressed below k)."""
    total, pos = _unwire(payload["n_total"]), _unwire(payload["n_positive"])
    return {
        "min_cell": int(payload["min_cell"]),
        "n_total": total,
        "n_positive": pos,
        "n_negative": _unwire(payload["n_negative"]),
        "n_excluded": _unwire(payload["n_excluded"]),
        "positive_rate": (pos / total) if total and pos is not None else None,
        "window_applied": bool(payload["window_applied"]),
        "date_source": str(payload["date_source"]),
        "months": _bins_from(payload, MONTHS),
        "columns": {c: _bins_from(payload, f"column.{c}") for c in columns},
    }


# ---------------------------------------------------------------------------------------
# party side


def effective_min_cell(ctx: PartyContext, requested: int) -> int:
    """The request's k, never below the bank's own (the platform's ``FEDLAB_MIN_CELL``
    raised by its node config ``min-cell``; at least 10: :mod:`features.disclosure`)."""
    return party_min_cell(ctx.node_config, requested)


@register(ACTION)
def profile(ctx: PartyContext, payload: Payload) -> Payload:
    """Count the sample at this bank; reply with suppressed aggregates only."""
    params = parse_params(
        {k[len("param.") :]: v for k, v in payload.items() if k.startswith("param.")}
    )
    setup = setup_party(ctx, {k: v for k, v in payload.items() if not k.startswith("param.")})
    table = load_table(ctx)
    id_list = read_id_list(
        id_list_path(ctx, params.id_list),
        id_column=setup.id_column,
        date_column=params.date_column,
        encoding=setup.contract.encoding,
    )
    # the guard refuses a reply holding any listed ID, in the table or not
    ctx.cache[EXTRA_IDS_KEY] = frozenset(id_list[setup.id_column].dropna().str.strip())
    counts = count_sample(
        table,
        id_list,
        id_column=setup.id_column,
        label=setup.label,
        params=params,
        k=effective_min_cell(ctx, params.min_cell),
    )
    return counts_payload(counts)


# ---------------------------------------------------------------------------------------
# coordinator side


def request_payload(cfg: ExperimentConfig, run_id: str) -> Payload:
    """The one request: the bank's public setup and the count's parameters."""
    params = parse_params(cfg.params)
    exp, guest = cfg.experiment, cfg.guest
    setup = PartySetup(
        run_id=run_id,
        role=guest.role.value,
        id_column=exp.id_column,
        id_kind="uscc" if exp.id_column.lower() == "uscc" else "opaque",
        label=guest.label or "",
        contract=guest.contract(),
        default_rule=rule_json(guest.default_rule),
        audit_receipt=guest.audit_receipt or "",
        run_authorization=guest.run_authorization or "",
    )
    out: Payload = setup.to_payload()
    for key, value in params.model_dump(exclude_none=True).items():
        if value != []:
            out[f"param.{key}"] = value
    return out


def drive(
    transport: Any, cfg: ExperimentConfig, *, progress: ProgressFn = no_progress
) -> ProtocolResult:
    """Ask the guest bank to count its sample; metrics ``sample_profile`` hold the reply."""
    params = parse_params(cfg.params)
    guest = cfg.guest.name
    progress("phase", {"phase": "sample.profile"})
    reply = Exchanger(transport)([Envelope(guest, ACTION, request_payload(cfg, uuid.uuid4().hex))])[
        guest
    ]
    profile = profile_from_payload(reply.payload, params.columns)
    return ProtocolResult(metrics={"sample_profile": profile, "n_total": profile["n_total"]})


__all__ = [
    "ACTION",
    "ALGORITHM",
    "Bin",
    "ProfileParams",
    "SampleCounts",
    "cell",
    "column_histogram",
    "count_sample",
    "counts_payload",
    "drive",
    "effective_min_cell",
    "merge_runs",
    "month_histogram",
    "parse_params",
    "profile",
    "profile_from_payload",
    "read_id_list",
    "request_payload",
    "round_edge",
]
