"""Horizontal experiments: which banks train together, on which samples and columns.

A horizontal (``homo_*``) experiment is FedAvg across banks that hold the same indicators
for their own borrowers. Its owner bank names its own sample set (``sample_id``) and one
sample set of each other bank (``partner_sample_ids``), each in that bank's own 样本库; a
one-bank horizontal experiment is refused (:class:`~lab.errors.HorizontalBanksError`). It
trains on the owner's own indicators; each partner bank takes part with its indicators on
the same columns of its sample's dataset, and like an agency of a vertical experiment it
consents to that use (a consent grant from the partner bank to the owner, for those
indicators and the purpose; lab.services.consent counts it among the experiment's needs).

What is revealed to whom: to the owner bank, that a partner's sample set and indicators
exist (ids, column names); no row, count or location of another bank. Data locations stay
on the catalog's table rows, for the worker, which hands each bank only its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from federation.algorithms import get_algorithm
from lab.errors import ConfigError, HorizontalBanksError, NotFoundError
from lab.models import DatasetRegistration, Experiment, Indicator, Organization, SampleSet
from lab.services.indicators import get_indicators

#: the fewest banks a horizontal experiment trains with
MIN_BANKS = 2


@dataclass(frozen=True)
class BankSample:
    """One bank of a horizontal experiment: its organization, sample set and dataset."""

    org_id: int
    org_code: str
    sample: SampleSet
    dataset: DatasetRegistration


def is_horizontal(algorithm: str) -> bool:
    """True for an algorithm the registry calls horizontal (``homo_lr``, ``homo_nn``); an
    algorithm the registry does not know (a catalog-only entry) is not."""
    try:
        return get_algorithm(algorithm).kind == "horizontal"
    except ConfigError:
        return False


def _bank_sample(session: Session, sample_id: int) -> BankSample:
    sample = session.get(SampleSet, sample_id)
    if sample is None:
        raise NotFoundError(f"no sample set with id {sample_id}")
    org = session.get(Organization, sample.owner_org_id)
    ds = session.get(DatasetRegistration, sample.dataset_id)
    if org is None or ds is None:
        raise NotFoundError(f"sample set {sample_id}: its bank or dataset is gone")
    return BankSample(sample.owner_org_id, org.code, sample, ds)


def check_partners(
    session: Session, *, algorithm: str, owner_org_id: int, partner_sample_ids: list[int]
) -> None:
    """At creation: partner samples only for a horizontal algorithm, each of another bank,
    one per bank (:class:`HorizontalBanksError`); unknown ids are :class:`NotFoundError`."""
    if not partner_sample_ids:
        return
    if not is_horizontal(algorithm):
        raise ConfigError(
            f"algorithm {algorithm!r} is vertical; only a horizontal experiment names "
            "partner samples",
            hint="Drop partner_sample_ids, or choose homo_lr / homo_nn.",
        )
    seen = {owner_org_id}
    for sid in partner_sample_ids:
        bank = _bank_sample(session, sid)
        if bank.org_id in seen:
            raise HorizontalBanksError(
                f"partner sample {sid} belongs to {bank.org_code!r}, a bank the experiment "
                "already names; a horizontal experiment takes one sample set per bank"
            )
        seen.add(bank.org_id)


def bank_samples(session: Session, exp: Experiment) -> list[BankSample]:
    """The owner's sample, then each partner's (in the order the experiment names them)."""
    return [_bank_sample(session, sid) for sid in (exp.sample_id, *exp.partner_sample_ids)]


def require_banks(session: Session, exp: Experiment, algorithm: str) -> list[BankSample]:
    """At submission: a horizontal experiment over at least :data:`MIN_BANKS` banks, one
    sample each, training on the owner's own indicators (else a coded error)."""
    banks = bank_samples(session, exp)
    if len(banks) < MIN_BANKS:
        raise HorizontalBanksError(
            f"experiment {exp.id} ({exp.name!r}) runs {algorithm!r}, horizontal FedAvg across "
            f"banks, on the sample of {banks[0].org_code!r} alone; it needs the samples of at "
            f"least {MIN_BANKS} banks"
        )
    if len({b.org_id for b in banks}) != len(banks):
        raise HorizontalBanksError(
            f"experiment {exp.id} names two sample sets of one bank; a horizontal experiment "
            "takes one sample set per bank"
        )
    oot = [b.sample.name for b in banks if b.sample.validation_start is not None]
    if oot:
        raise ConfigError(
            f"experiment {exp.id}: sample {oot[0]!r} validates out of time (validation "
            "start), which vertical models use; a horizontal bank validates on a random "
            "hold-out of its own sample",
            hint="Choose samples without a validation start for homo_lr / homo_nn.",
        )
    if not exp.indicator_codes:
        raise ConfigError(
            f"experiment {exp.id} ({exp.name!r}) names no indicator; a horizontal experiment "
            "names the owner's indicators its banks train on",
            hint="Add the bank's own indicators (指标库) to the experiment.",
        )
    inds = get_indicators(session, list(exp.indicator_codes))
    foreign = [i.code for i in inds if i.owner_org_id != exp.owner_org_id]
    if foreign:
        raise ConfigError(
            f"experiment {exp.id}: indicators {foreign} belong to other organizations; a "
            "horizontal experiment trains on the banks' own indicators",
            hint="Choose the owner bank's indicators; partners take part with theirs.",
        )
    return banks


def columns(session: Session, exp: Experiment) -> list[str]:
    """The columns a horizontal experiment trains on (its indicators', in their order)."""
    by_code = {i.code: i for i in get_indicators(session, list(exp.indicator_codes))}
    return [by_code[c].column for c in exp.indicator_codes]


def bank_indicators(session: Session, bank: BankSample, cols: list[str]) -> list[Indicator]:
    """``bank``'s indicators on ``cols`` of its sample's dataset (ConfigError if any lacks)."""
    rows = session.exec(
        select(Indicator)
        .where(Indicator.dataset_id == bank.dataset.id, col(Indicator.column).in_(cols))
        .order_by(col(Indicator.id))
    ).all()
    found = {i.column: i for i in rows}
    missing = [c for c in cols if c not in found]
    if missing:
        raise ConfigError(
            f"bank {bank.org_code!r} registers no indicator for column(s) {missing} of its "
            f"dataset {bank.dataset.name!r}; every bank of a horizontal experiment holds "
            "the same columns",
            hint="The partner bank registers those indicators (指标库) on its dataset.",
        )
    return [found[c] for c in cols]


def partner_indicators(session: Session, exp: Experiment) -> dict[int, list[Indicator]]:
    """Per partner bank (organization id), its indicators the experiment trains on: what
    that bank's consent must cover. Empty for a vertical experiment."""
    if not exp.partner_sample_ids:
        return {}
    cols = columns(session, exp)
    return {
        bank.org_id: bank_indicators(session, bank, cols) for bank in bank_samples(session, exp)[1:]
    }


__all__ = [
    "MIN_BANKS",
    "BankSample",
    "bank_indicators",
    "bank_samples",
    "check_partners",
    "columns",
    "is_horizontal",
    "partner_indicators",
    "require_banks",
]
