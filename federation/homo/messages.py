"""The messages of horizontal FedAvg: action names and the typed payloads of the larger ones.

What each message reveals, and to whom (everything travels through the coordinator):

* :data:`INIT` request (coordinator -> bank): the run's public settings. Reply
  (:class:`InitReply`): the bank's X25519 public key, its number of model parameters, a
  hash of its feature layout and per numeric column a decimal order of magnitude; with
  ``resume`` (``ckks``) whether it still holds the session's key.
* :data:`KEYS` (``ckks``, to the key dealer): the other banks' public keys; the reply is
  the public CKKS context and the secret context sealed to each other bank.
* :data:`STATS` / :data:`TRAIN`: the reply is the bank's protected vector (``update``), or
  nothing with ``secaggplus`` (Flower's SecAgg+ asks for it next); :data:`TRAIN` replies
  also carry the loss of the previous aggregate (``prev_loss``, ``prev_round``).
* :data:`UNMASK` (``masked`` with dropouts): a survivor's masks with the dropped banks.
* :data:`EVALUATE` reply (:class:`EvaluateReply`): counts of (score bin, label) on the
  bank's held-out rows, its AUC, its held-out and training sizes.

Payloads stay plain dicts on the wire (their keys are what the disclosure report lists);
the dataclasses here only build and read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.disclosure import DEFAULT_MIN_CELL
from federation.transport import Payload

INIT = "homo.init"
KEYS = "homo.keys"
STATS = "homo.stats"
TRAIN = "homo.train"
UNMASK = "homo.unmask"
EVALUATE = "homo.evaluate"

#: delivered once, with the next request a bank answers: the sealed CKKS secret context
SEALED = "sealed"
#: delivered once: the global statistics' protected sum
STATS_AGG = "stats_agg"
#: the protected aggregate of the previous round, and that round's number
AGG = "agg"
AGG_ROUND = "agg_round"


@dataclass(frozen=True)
class InitRequest:
    """``homo.init``: what the coordinator tells every bank at the start of a run."""

    run_id: str
    role: str
    id_column: str
    label: str
    seed: int
    features: list[str] | None
    params: str  # HomoParams as JSON
    backend: str
    session: str
    kind: str
    resume: bool
    contract: str = ""  # the bank's data contract (features.contract.DataContract JSON)
    min_cell: int = DEFAULT_MIN_CELL  # the run's k; a bank raises it to its own
    authorization: str = "none"  # "required": the bank trains on its authorized rows only
    as_of: str = ""  # ISO date the authorizations must be valid on
    authorizations: str = ""  # the bank's own authorization table (its path at the bank)
    # the bank's sample (federation.population): its ID list at the bank and the window
    sample_ids: str = ""
    date_column: str = "observation_date"
    observation_start: str = ""
    observation_end: str = ""
    default_rule: str = ""  # what counts as default (federation.default_rule JSON)
    audit_receipt: str = ""  # the platform's receipt of the audit chain head (kept by the bank)
    run_authorization: str = ""  # the platform's signed run authorization (federation.run_auth)

    def to_payload(self) -> Payload:
        return {
            "run_id": self.run_id,
            "role": self.role,
            "id_column": self.id_column,
            "id_kind": "opaque",
            "label": self.label,
            "seed": self.seed,
            **({"features": list(self.features)} if self.features else {}),
            "params": self.params,
            "backend": self.backend,
            "session": self.session,
            "kind": self.kind,
            "resume": self.resume,
            **({"contract": self.contract} if self.contract else {}),
            "min_cell": self.min_cell,
            "authorization": self.authorization,
            "as_of": self.as_of,
            "authorizations": self.authorizations,
            "sample_ids": self.sample_ids,
            "date_column": self.date_column,
            "observation_start": self.observation_start,
            "observation_end": self.observation_end,
            "default_rule": self.default_rule,
            **({"audit_receipt": self.audit_receipt} if self.audit_receipt else {}),
            **({"run_authorization": self.run_authorization} if self.run_authorization else {}),
        }

    @classmethod
    def from_payload(cls, payload: Payload) -> InitRequest:
        feats = payload.get("features")
        return cls(
            run_id=str(payload["run_id"]),
            role=str(payload["role"]),
            id_column=str(payload["id_column"]),
            label=str(payload["label"]),
            seed=int(payload["seed"]),
            features=[str(f) for f in feats] if feats is not None else None,
            params=str(payload["params"]),
            backend=str(payload["backend"]),
            session=str(payload["session"]),
            kind=str(payload["kind"]),
            resume=bool(payload.get("resume", False)),
            contract=str(payload.get("contract", "")),
            min_cell=int(payload.get("min_cell", DEFAULT_MIN_CELL)),
            authorization=str(payload.get("authorization", "none")),
            as_of=str(payload.get("as_of", "")),
            authorizations=str(payload.get("authorizations", "")),
            sample_ids=str(payload.get("sample_ids", "")),
            date_column=str(payload.get("date_column", "observation_date")),
            observation_start=str(payload.get("observation_start", "")),
            observation_end=str(payload.get("observation_end", "")),
            default_rule=str(payload.get("default_rule", "")),
        )


@dataclass(frozen=True)
class InitReply:
    """A bank's answer to ``homo.init``."""

    dh_pub: bytes
    layout: str
    n_params: int
    exps: np.ndarray
    has_key: bool | None = None  # ckks with resume only

    def to_payload(self) -> Payload:
        out: Payload = {
            "dh_pub": self.dh_pub,
            "layout": self.layout,
            "n_params": self.n_params,
            "exps": self.exps,
        }
        if self.has_key is not None:
            out["has_key"] = self.has_key
        return out

    @classmethod
    def from_payload(cls, payload: Payload) -> InitReply:
        has_key = payload.get("has_key")
        return cls(
            dh_pub=bytes(payload["dh_pub"]),
            layout=str(payload["layout"]),
            n_params=int(payload["n_params"]),
            exps=np.asarray(payload["exps"], dtype=np.int64),
            has_key=None if has_key is None else bool(has_key),
        )


@dataclass(frozen=True)
class EvaluateReply:
    """A bank's answer to ``homo.evaluate``."""

    hist: np.ndarray
    auc: float
    n_valid: int
    n_train: int

    def to_payload(self) -> Payload:
        return {
            "hist": self.hist,
            "auc": self.auc,
            "n_valid": self.n_valid,
            "n_train": self.n_train,
        }

    @classmethod
    def from_payload(cls, payload: Payload) -> EvaluateReply:
        return cls(
            hist=np.asarray(payload["hist"], dtype=np.int64),
            auc=float(payload["auc"]),
            n_valid=int(payload["n_valid"]),
            n_train=int(payload["n_train"]),
        )


def previous_loss(payload: Payload) -> tuple[int, float] | None:
    """(round, loss) of the previous aggregate a ``train`` / ``evaluate`` reply carries."""
    if "prev_loss" not in payload:
        return None
    return int(payload["prev_round"]), float(payload["prev_loss"])


__all__ = [
    "AGG",
    "AGG_ROUND",
    "EVALUATE",
    "INIT",
    "KEYS",
    "SEALED",
    "STATS",
    "STATS_AGG",
    "TRAIN",
    "UNMASK",
    "EvaluateReply",
    "InitReply",
    "InitRequest",
    "previous_loss",
]
