"""Experiment configuration (``experiment.toml``).

```toml
[experiment]
name = "synthetic-hetero-lr"
algorithm = "hetero_lr"        # hetero_lr | secureboost | homo_lr | homo_nn | scorecard
backend = "paillier"           # paillier | ckks | plaintext (benchmarks/tests only);
                               # homo_*: ckks | secaggplus | masked | plaintext
                               # (default: the algorithm's first, recommended backend)
id_column = "uscc"
runtime = "simulation"         # local (in-process) | simulation | deployment
authorization = "required"     # required (use the guest's authorization table) | none
as_of = "2024-06-30"           # the observation date: which authorizations are valid
                               # (required whenever the guest names an authorizations file)
seed = 42
timeout = 600                  # seconds a party may take to answer one exchange
join_timeout = 120             # seconds to wait for every party's SuperNode (Flower runtimes)
min_cell = 20                  # optional: raise k for this run (never below FEDLAB_MIN_CELL, 10)

[deployment]                   # optional; runtime = "deployment" only
superlink = "10.0.0.5:9093"    # a remote SuperLink; default: the local `fedlab federation up`
root_certificates = "ca.crt"   # CA that signed the SuperLink's certificate (TLS)
insecure = false               # true only for a plaintext SuperLink on localhost

[params]                       # algorithm parameters, validated by the algorithm's model
                               # (federation.algorithms) when the config is parsed
epochs = 10

[[parties]]
name = "bank"
role = "guest"
data = "data/bank.csv"
label = "default_12m"
authorizations = "data/authorizations.csv"   # guest only, when authorization = "required"
sample_ids = "data/sample_ids.csv"  # guest only (optional): the sample's ID list at the bank;
date_column = "observation_date"    # its (or the table's) observation date per enterprise,
observation_start = 2023-07-01      # the observation window (rows outside it are not used)
observation_end = 2024-06-30
validation_from = 2024-04-01        # out-of-time validation: rows observed from this date
default_rule = { kind = "days_past_due", min_days = 90 }  # what counts as default in the
                                    # label column (default: it already holds 0/1)

[[parties]]
name = "tax"
role = "host"
data = "data/tax.csv"
encoding = "gbk"               # the data contract (optional, features.contract): text encoding,
max_abs = 1e15                 # bound on |x| of every number, per-column bounds,
bounds = { vat_paid_12m = 1e12 }
on_constant = "warn"           # constant / all-missing columns: warn | refuse
categorical = ["industry_code"]  # code columns kept as text
```
Relative paths (each party's ``data`` and ``authorizations``, ``[deployment]
root_certificates``) are resolved against the config file's folder when it is read;
:func:`with_paths_resolved` makes an in-memory config's paths absolute the same way, and
:func:`config_to_toml` writes a config back as TOML (the deployment runtime ships that
resolved copy to its ServerApp). The full reference is ``docs/configuration.md``.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from crypto.errors import ConfigError
from features.contract import DEFAULT_MAX_ABS, DataContract, OnConstant, check_encoding
from features.disclosure import effective_min_cell, platform_min_cell, raise_min_cell
from federation.algorithms import backends_for, get_algorithm
from federation.default_rule import ConfigRule
from federation.roles import PartyRole

Algorithm = str  # a name of the algorithm registry (federation.algorithms)
Backend = Literal["paillier", "ckks", "plaintext", "masked", "secaggplus"]
Runtime = Literal["local", "simulation", "deployment"]


class ExperimentSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    algorithm: Algorithm = "hetero_lr"
    backend: Backend = "paillier"
    id_column: str = "id"
    runtime: Runtime = "simulation"
    authorization: Literal["required", "none"] = "none"
    as_of: str | None = None  # observation date for authorization validity (ISO)
    seed: int = 42
    features: dict[str, list[str]] | None = None  # party -> feature columns (default: all)
    timeout: float = Field(default=600.0, gt=0)  # seconds per exchange
    join_timeout: float = Field(default=120.0, gt=0)  # seconds for all parties to join
    #: k of this run: may only raise the platform's (features.disclosure); None: the platform's
    min_cell: int | None = None

    @field_validator("min_cell", mode="before")
    @classmethod
    def _raise_only(cls, value: Any) -> int | None:
        if value is None:
            return None
        return raise_min_cell(platform_min_cell(), value, source="experiment.min_cell")

    @model_validator(mode="before")
    @classmethod
    def _default_backend(cls, data: Any) -> Any:
        """No ``backend``: the algorithm's recommended one (the registry lists it first)."""
        if not isinstance(data, dict) or "backend" in data:
            return data
        try:
            first = backends_for(str(data.get("algorithm", "hetero_lr")))[0]
        except ConfigError:
            return data  # the algorithm's own validator names the known ones
        return {**data, "backend": first}

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, value: str) -> str:
        get_algorithm(value)  # ConfigError (a ValueError) lists the known ones
        return value

    @field_validator("as_of")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None

    @model_validator(mode="after")
    def _backend_fits_algorithm(self) -> ExperimentSection:
        allowed = backends_for(self.algorithm)
        if "backend" in self.model_fields_set and self.backend not in allowed:
            raise ValueError(
                f"algorithm {self.algorithm!r} runs with backend "
                f"{' | '.join(allowed)}, not {self.backend!r}"
            )
        return self


class DeploymentSection(BaseModel):
    """Where the coordinator finds the SuperLink (``runtime = "deployment"``)."""

    model_config = ConfigDict(extra="forbid")

    superlink: str | None = None  # host:port; None: the local federation (`fedlab federation up`)
    root_certificates: Path | None = None
    insecure: bool = False
    #: party -> the node id its SuperNode's public key is registered under (SuperNode
    #: authentication); a node answering under another party's name is refused
    nodes: dict[str, int] | None = None


class PartySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    role: PartyRole
    data: Path
    label: str | None = None
    authorizations: Path | None = None
    address: str | None = None  # deployment: the SuperNode's name/address, informational
    # the data contract (features.contract), used by every loader of this party's files
    encoding: str = "utf-8"
    max_abs: float = Field(default=DEFAULT_MAX_ABS, gt=0, allow_inf_nan=False)
    bounds: dict[str, float] = Field(default_factory=dict)
    on_constant: OnConstant = "warn"
    categorical: list[str] = Field(default_factory=list)
    # the guest's sample (federation.population): who is trained on, validated out of time
    sample_ids: Path | None = None
    date_column: str = Field(default="observation_date", min_length=1)
    observation_start: dt.date | None = None
    observation_end: dt.date | None = None
    validation_from: dt.date | None = None
    # guest only: what counts as default in its label column (federation.default_rule)
    default_rule: ConfigRule | None = None
    # the platform's receipt of the audit chain head for this party (a lab run; JSON)
    audit_receipt: str | None = None
    # the platform's signed authorization for this party to serve the run (JSON)
    run_authorization: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        return check_encoding(value)  # ConfigError (a ValueError) names the encoding

    @field_validator("bounds")
    @classmethod
    def _positive_bounds(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, v in value.items() if not (0 < v < float("inf")))
        if bad:
            raise ValueError(f"bounds of column(s) {bad} must be finite numbers > 0")
        return value

    def contract(self) -> DataContract:
        """This party's data contract, as its loaders apply it."""
        return DataContract.from_settings(
            encoding=self.encoding,
            max_abs=self.max_abs,
            bounds=self.bounds,
            on_constant=self.on_constant,
            categorical=self.categorical,
        )

    @model_validator(mode="after")
    def _label_only_on_guest(self) -> PartySpec:
        if self.role == PartyRole.HOST and self.label:
            raise ValueError(
                f"party {self.name!r} is a host but names a label column "
                f"{self.label!r}; only the guest holds the label"
            )
        if self.role == PartyRole.COORDINATOR:
            raise ValueError(f"party {self.name!r}: the coordinator is not a data party")
        return self

    @model_validator(mode="after")
    def _sample_only_on_guest(self) -> PartySpec:
        keys = (
            "sample_ids",
            "observation_start",
            "observation_end",
            "validation_from",
            "default_rule",
        )
        named = [k for k in keys if getattr(self, k) is not None]
        if self.role == PartyRole.HOST and named:
            raise ValueError(
                f"party {self.name!r} is a host but names {named}; the sample is the guest's"
            )
        if self.default_rule is not None and not self.label:
            raise ValueError(
                f"party {self.name!r} names a default_rule but no label column for it to read"
            )
        start, end, cut = self.observation_start, self.observation_end, self.validation_from
        if start and end and start > end:
            raise ValueError(f"party {self.name!r}: observation_start is after observation_end")
        if cut and ((start and cut <= start) or (end and cut > end)):
            raise ValueError(
                f"party {self.name!r}: validation_from {cut} must fall after observation_start "
                "and not after observation_end (train window before it, validation from it)"
            )
        return self


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment: ExperimentSection
    params: dict[str, Any] = Field(default_factory=dict)
    deployment: DeploymentSection = Field(default_factory=DeploymentSection)
    parties: list[PartySpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_parties(self) -> ExperimentConfig:
        names = [p.name for p in self.parties]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"party names must be unique; repeated: {sorted(dupes)}")
        guests = [p for p in self.parties if p.role == PartyRole.GUEST]
        spec = get_algorithm(self.experiment.algorithm)
        kind = spec.kind
        if kind != "horizontal":
            if len(guests) != 1:
                raise ValueError(
                    f"a vertical experiment needs exactly one guest, found {len(guests)}"
                )
            if not guests[0].label:
                raise ValueError(f"guest {guests[0].name!r} must name its label column")
            if kind != "guest_only" and not any(p.role == PartyRole.HOST for p in self.parties):
                raise ValueError("a vertical experiment needs at least one host")
        else:
            oot = [g.name for g in guests if g.validation_from is not None]
            if oot:
                raise ValueError(
                    f"bank {oot[0]!r} names validation_from (out-of-time validation), which "
                    "vertical models use; a horizontal bank validates on a random hold-out "
                    "of its own sample (params.valid_fraction)"
                )
        for name in self.experiment.features or {}:
            if name not in names:
                raise ValueError(
                    f"experiment.features names unknown party {name!r}; the "
                    f"config's parties are {names}"
                )
        if self.experiment.authorization == "required":
            for g in guests:
                if g.authorizations is None:
                    raise ValueError(
                        f"authorization = 'required' but guest {g.name!r} names "
                        "no authorizations file"
                    )
        with_auth = [g.name for g in guests if g.authorizations is not None]
        if with_auth and self.experiment.as_of is None:
            raise ValueError(
                f"guest {with_auth[0]!r} names an authorizations file but the experiment "
                'has no observation date: set [experiment] as_of = "YYYY-MM-DD" (the '
                "date the enterprises' authorizations must be valid on; 观察日)"
            )
        spec.validate_params(self.params)
        return self

    @property
    def min_cell(self) -> int:
        """k of this run: the platform's, raised by ``experiment.min_cell``."""
        return effective_min_cell(self.experiment.min_cell)

    @property
    def guest(self) -> PartySpec:
        return next(p for p in self.parties if p.role == PartyRole.GUEST)

    @property
    def hosts(self) -> list[PartySpec]:
        return [p for p in self.parties if p.role == PartyRole.HOST]

    def party(self, name: str) -> PartySpec:
        for p in self.parties:
            if p.name == name:
                return p
        raise ConfigError(
            f"unknown party {name!r}; the config names {[p.name for p in self.parties]}"
        )


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate ``experiment.toml``; relative data paths resolve to its folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment config {str(path)!r} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, base_dir=path.parent)


def parse_config(raw: dict[str, Any], *, base_dir: Path | None = None) -> ExperimentConfig:
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        errs = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        )
        raise ConfigError(f"invalid experiment config: {errs}") from None
    return cfg if base_dir is None else with_paths_resolved(cfg, base_dir)


def with_paths_resolved(cfg: ExperimentConfig, base_dir: Path) -> ExperimentConfig:
    """A copy of ``cfg`` whose relative paths (each party's ``data``,
    ``authorizations`` and ``sample_ids``, ``[deployment] root_certificates``) are resolved against
    ``base_dir``; absolute paths are kept."""
    out = cfg.model_copy(deep=True)
    for p in out.parties:
        p.data = _resolve(base_dir, p.data, f"parties.{p.name}.data")
        if p.authorizations is not None:
            p.authorizations = _resolve(
                base_dir, p.authorizations, f"parties.{p.name}.authorizations"
            )
        if p.sample_ids is not None:
            p.sample_ids = _resolve(base_dir, p.sample_ids, f"parties.{p.name}.sample_ids")
    rc = out.deployment.root_certificates
    if rc is not None:
        out.deployment.root_certificates = _resolve(base_dir, rc, "deployment.root_certificates")
    return out


def config_to_toml(cfg: ExperimentConfig) -> str:
    """``cfg`` as ``experiment.toml`` text: the keys it was given (defaults stay implicit,
    as in the file it came from), paths as they are in ``cfg``."""
    import tomli_w

    def clean(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    return str(tomli_w.dumps(clean(cfg.model_dump(mode="json", exclude_unset=True))))


def _resolve(base_dir: Path, path: Path, field: str) -> Path:
    """``path`` against the config's folder; a path the system cannot name is refused."""
    try:
        return path if path.is_absolute() else (base_dir / path).resolve()
    except (ValueError, OSError, RuntimeError):
        raise ConfigError(
            f"invalid experiment config: {field}: not a usable file path",
            hint="Write a plain relative or absolute path (no control characters).",
        ) from None


def check_data_files(cfg: ExperimentConfig) -> None:
    """Every party's data (and the guest's authorization table) exists on this machine.

    Used by the local and simulation runtimes, where all parties' files are local; in a
    deployment each party checks its own file when the coordinator discovers it.
    """
    for p in cfg.parties:
        check_party_files(p)


def check_party_files(p: PartySpec) -> None:
    """The party's data (a table, or a folder of raw records: federation.partyrecords)
    and its authorization table exist on this machine."""
    if not (p.data.is_file() or p.data.is_dir()):
        raise ConfigError(
            f"party {p.name!r}: data file {str(p.data)!r} does not exist",
            hint="Fix the party's `data` path in the experiment config (a table, or a "
            "folder of records_<table>.csv).",
        )
    if p.authorizations is not None and not p.authorizations.is_file():
        raise ConfigError(
            f"party {p.name!r}: authorizations file {str(p.authorizations)!r} does not exist"
        )


__all__ = [
    "DeploymentSection",
    "ExperimentConfig",
    "ExperimentSection",
    "PartySpec",
    "check_data_files",
    "check_party_files",
    "config_to_toml",
    "load_config",
    "parse_config",
    "with_paths_resolved",
]
