"""Experiment configs as objects: catalog facts become a validated ``ExperimentConfig``.

Every job kind reads what it needs from the catalog inside its own transaction (plain
facts: :class:`PartyFacts` and the job's own), then builds the
:class:`federation.config.ExperimentConfig` it hands to the executor with
:func:`experiment_config`, the one place the lab makes configs. Validation failures become
:class:`~lab.errors.ConfigError` with the field named as in ``experiment.toml``. The
deployment runtime writes the object to disk itself (``federation.run.config_to_toml``).

What the config reveals, and to whom: to the federation's coordinator and the parties, the
parties' names, each party's data location at that party, column names, the guest's label
column, (authorization required) the path of the guest's authorization table and the
guest's sample: its ID list's location at the bank, date column, window and out-of-time
validation start, and the sample's default rule (逾期定义: kind, threshold or codes; the
bank applies it, no value of its label column leaves it), never the list's content.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from federation.config import (
    Backend,
    DeploymentSection,
    ExperimentConfig,
    ExperimentSection,
    PartySpec,
    Runtime,
)
from federation.default_rule import parse_rule
from federation.roles import PartyRole
from lab.errors import ConfigError

_BACKEND: TypeAdapter[Backend] = TypeAdapter(Backend)
_RUNTIME: TypeAdapter[Runtime] = TypeAdapter(Runtime)


@dataclass(frozen=True)
class GuestSample:
    """The guest's sample as its run applies it at the bank (``federation.population``):
    the ID list's location there, the observation-date column, the window and the
    out-of-time validation start."""

    ids: str
    date_column: str = "observation_date"
    observation_start: date | None = None
    observation_end: date | None = None
    validation_from: date | None = None


@dataclass(frozen=True)
class PartyFacts:
    """One party of a run as the catalog has it (locations are the party's own)."""

    name: str
    role: PartyRole
    data: str
    label: str | None = None
    authorizations: str | None = None
    sample: GuestSample | None = None  # the guest's, for a training run
    default_rule: dict[str, Any] | None = None  # the guest's: what counts as default
    audit_receipt: str | None = None  # the platform's receipt of the chain head (JSON)
    run_authorization: str | None = None  # the platform's signed run authorization (JSON)


def _sample_keys(sample: GuestSample | None) -> dict[str, Any]:
    if sample is None:
        return {}
    return {
        "sample_ids": Path(sample.ids),
        "date_column": sample.date_column,
        "observation_start": sample.observation_start,
        "observation_end": sample.observation_end,
        "validation_from": sample.validation_from,
    }


@contextmanager
def validating(where: str = "") -> Iterator[None]:
    """Turn a validation failure of the config part at ``where`` (``experiment``,
    ``parties.0``; empty: the whole config) into a :class:`ConfigError`."""
    try:
        yield
    except ValidationError as exc:
        prefix = [where] if where else []
        errs = "; ".join(
            f"{'.'.join(str(x) for x in [*prefix, *e['loc']])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid experiment config: {errs}") from None


def deployment_section(section: dict[str, Any] | None) -> DeploymentSection | None:
    """The ``[deployment]`` section a federation target describes (None: the local one)."""
    if section is None:
        return None
    with validating("deployment"):
        return DeploymentSection.model_validate(section)


def party_spec(index: int, party: PartyFacts) -> PartySpec:
    with validating(f"parties.{index}"):
        return PartySpec(
            name=party.name,
            role=party.role,
            data=Path(party.data),
            label=party.label,
            authorizations=Path(party.authorizations) if party.authorizations else None,
            default_rule=parse_rule(party.default_rule) if party.default_rule else None,
            audit_receipt=party.audit_receipt,
            run_authorization=party.run_authorization,
            **_sample_keys(party.sample),
        )


def experiment_config(
    *,
    name: str,
    algorithm: str,
    backend: str,
    id_column: str,
    runtime: str,
    authorization_required: bool,
    params: dict[str, Any],
    parties: Sequence[PartyFacts],
    deployment: DeploymentSection | None = None,
    as_of: str | None = None,
    features: dict[str, list[str]] | None = None,
) -> ExperimentConfig:
    """The validated config of one run (:class:`ConfigError` when the facts do not fit)."""
    with validating("experiment.backend"):
        backend_value = _BACKEND.validate_python(backend)
    with validating("experiment.runtime"):
        runtime_value = _RUNTIME.validate_python(runtime)
    with validating("experiment"):
        section = ExperimentSection(
            name=name,
            algorithm=algorithm,
            backend=backend_value,
            id_column=id_column,
            runtime=runtime_value,
            authorization="required" if authorization_required else "none",
            as_of=as_of,
            features=features,
        )
    specs = [party_spec(i, p) for i, p in enumerate(parties)]
    with validating():
        return ExperimentConfig(
            experiment=section,
            params=params,
            deployment=deployment or DeploymentSection(),
            parties=specs,
        )


__all__ = [
    "GuestSample",
    "PartyFacts",
    "deployment_section",
    "experiment_config",
    "party_spec",
    "validating",
]
