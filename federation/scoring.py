"""Joint scoring: probabilities (and scorecard points) for new enterprises from every
party's model piece.

The guest's data file lists the enterprises to score (its IDs and its features); with
``authorization = "required"`` only those holding a valid authorization for this bank are
scored. Hetero LR and scorecard models take five exchanges (docs/protocols/scoring.md has
each message and what it reveals):

1-3. Alignment (``federation.alignment``) of the guest's enterprises with every host. In
     the setup message every party also creates a fresh X25519 key pair for this run and
     returns its public key.
4.   ``score.partial`` (coordinator -> each host: its alignment positions, the guest's
     public key, the model's algorithm). The host aligns and computes, with its own piece
     (``federation.pieces``) and for the aligned rows only, its part of the joint score:
     hetero LR ``s_h = X_h w_h`` (rows encoded with the *training* encoding and
     standardizer kept in its piece), a scorecard the sum of its features' points (rows
     binned with the binnings kept in its ``scorecard.json``). It encodes ``s_h`` in 2^-32
     fixed point and adds a mask from a key it shares with the guest only (X25519 + HKDF +
     AES-CTR): it sends ``s_h + r_h mod 2^64``, uniformly random to anyone without that key.
5.   ``score.finish`` (coordinator -> guest: the sum of the masked host vectors, the hosts'
     public keys). The coordinator adds the masked vectors; the guest removes every host's
     mask and obtains ``sum_h s_h`` per enterprise (never one host's part), adds its own
     part and writes ``scores.csv`` in its own work dir: hetero LR (ID, linear score,
     probability); scorecard (ID, joint points, score clipped to the scale, grade,
     probability). Nothing per enterprise goes back to the coordinator.

What leaves each party: blinded IDs (alignment), one public key, and (hosts) one masked
vector. The coordinator learns sizes only; the guest learns the sum of the hosts' partial
scores (or points) per scored enterprise, which it needs to compute the probability. Bin
edges, encodings, weights and points tables never leave their party.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import ConfigError, ProtocolError
from crypto.fixedpoint import from_ring64, to_ring64
from crypto.pairwise import new_keypair
from federation.alignment import AlignmentResult, align, apply_commit, on_setup
from federation.config import ExperimentConfig, check_data_files
from federation.outputs import (
    build_disclosure,
    build_metrics,
    piece_ref,
    staging,
    write_outputs,
)
from federation.party import PartyContext, register
from federation.partydata import aligned_table, party_setup
from federation.pieces import (
    PIECE_FILES,
    lr_partial,
    piece_algorithm,
    piece_folder,
    require_piece,
    scorecard_points,
)
from federation.protocol import ProgressFn, ProtocolResult, no_progress
from federation.roles import PartyRole
from federation.run import resolve_config
from federation.runtime.actions import FINISH as RUN_FINISH
from federation.runtime.local import local_transport
from federation.scores import SCORES_FILE, read_scores, write_points, write_scores
from federation.secureboost import joint_predict
from federation.transport import Envelope, Payload, Transport

PARTIAL = "score.partial"
FINISH = "score.finish"
FRAC_BITS = 32
_KX_FLAG = "score_kx"
_STATE = "scoring"


@dataclass(frozen=True)
class ScoringResult:
    """Public outcome of a scoring run (no per-enterprise value)."""

    n_requested: int  # the guest's enterprises eligible for scoring
    n_scored: int  # those held by every host (scored)
    per_host: dict[str, int]
    seconds: float
    exchanges: int
    output: str  # the guest-side file holding the scores (in the guest's work dir)

    def metrics(self) -> dict[str, Any]:
        return {
            "n_requested": self.n_requested,
            "n_scored": self.n_scored,
            "n_aligned": self.n_scored,
            "intersection_per_host": dict(self.per_host),
            "score_seconds": round(self.seconds, 3),
            "n_exchanges": self.exchanges,
            "scores_file_at_guest": self.output,
        }


# ---------------------------------------------------------------------------------------
# key agreement and masks (party side)


def _kx_new() -> tuple[bytes, bytes]:
    return new_keypair()


def _mask(priv: bytes, peer_pub: bytes, run_id: str, guest: str, host: str, n: int) -> np.ndarray:
    """``n`` uint64 values from the guest-host shared key: AES-256-CTR over zeros."""
    shared = X25519PrivateKey.from_private_bytes(priv).exchange(
        X25519PublicKey.from_public_bytes(peer_pub)
    )
    info = f"fedlab/score-mask/v1/{run_id}/{guest}/{host}".encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)
    enc = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * 16)).encryptor()
    return np.frombuffer(enc.update(b"\x00" * (8 * n)), dtype=np.uint64).copy()


@on_setup
def _kx_hook(ctx: PartyContext, payload: Payload) -> Payload:
    if not payload.get(_KX_FLAG):
        return {}
    priv, pub = _kx_new()
    ctx.state[_STATE] = {"kx_priv": priv}
    return {"kx_pub": pub}


# ---------------------------------------------------------------------------------------
# partial scores (party side)


def _own_part(ctx: PartyContext, payload: Payload) -> tuple[np.ndarray, dict[str, Any] | None]:
    """This party's part of the joint score for its aligned rows (``federation.pieces``):
    hetero LR its partial linear score, a scorecard its points (and the points scale)."""
    algorithm = str(payload.get("algorithm", "hetero_lr"))
    where = piece_folder(ctx, payload.get("model_ref"))
    table = aligned_table(ctx)
    if algorithm == "scorecard":
        return scorecard_points(ctx.name, where, table)
    if algorithm != "hetero_lr":
        raise ProtocolError(
            f"party {ctx.name!r}: partial scores are for hetero LR and "
            f"scorecard models, not {algorithm!r}"
        )
    return lr_partial(ctx.name, where, table), None


def _kx(ctx: PartyContext) -> bytes:
    st = ctx.state.get(_STATE) or {}
    if "kx_priv" not in st:
        raise ProtocolError(
            f"party {ctx.name!r}: scoring message without a scoring setup",
            hint="Run the scoring again from the start.",
        )
    return bytes(st["kx_priv"])


@register(PARTIAL)
def _partial(ctx: PartyContext, payload: Payload) -> Payload:
    if ctx.role != PartyRole.HOST:
        raise ProtocolError(f"party {ctx.name!r}: {PARTIAL!r} is for hosts")
    apply_commit(ctx, payload)
    s, _ = _own_part(ctx, payload)
    setup = party_setup(ctx)
    r = _mask(
        _kx(ctx),
        bytes(payload["guest_pub"]),
        setup.run_id,
        str(payload["guest"]),
        ctx.name,
        s.shape[0],
    )
    ctx.state.pop(_STATE, None)
    return {"masked": to_ring64(s, FRAC_BITS) + r}  # uint64 arithmetic wraps: mod 2^64


@register(FINISH)
def _finish(ctx: PartyContext, payload: Payload) -> Payload:
    if ctx.role != PartyRole.GUEST:
        raise ProtocolError(f"party {ctx.name!r}: {FINISH!r} is for the guest")
    setup = party_setup(ctx)
    total = np.asarray(payload["masked_sum"], dtype=np.uint64).copy()
    priv = _kx(ctx)
    for h in [str(x) for x in payload["hosts"]]:
        total -= _mask(priv, bytes(payload[f"pub_{h}"]), setup.run_id, ctx.name, h, total.shape[0])
    own, scale = _own_part(ctx, payload)
    if own.shape[0] != total.shape[0]:
        raise ProtocolError(
            f"guest {ctx.name!r}: {total.shape[0]} host sums for {own.shape[0]} aligned rows"
        )
    joint = own + from_ring64(total, FRAC_BITS)
    n = write_scores(ctx, joint) if scale is None else write_points(ctx, joint, scale)
    ctx.state.pop(_STATE, None)
    return {"n_scored": n, "file": SCORES_FILE}


# ---------------------------------------------------------------------------------------
# coordinator side


def _refs(config: ExperimentConfig, model_dir: Path | None) -> dict[str, Payload]:
    """Where each party's piece is, as the training run's DIR says
    (:func:`federation.outputs.piece_ref`: its folder in DIR for local and simulation runs;
    in a deployment the run's folder at the party, absolute on a local federation, else
    ``runs/<run id>`` in the party's SuperNode work dir). A party DIR says nothing about
    reads its own work dir."""
    out: dict[str, Payload] = {}
    for p in config.parties:
        ref = piece_ref(model_dir, p.name) if model_dir is not None else None
        out[p.name] = {"model_ref": ref} if ref else {}
    return out


def _local_folder(model_dir: str | Path | None, party: str) -> Path | None:
    """``party``'s piece folder on this machine, when DIR names one (an absolute path)."""
    ref = piece_ref(model_dir, party) if model_dir is not None else None
    return Path(ref) if ref and Path(ref).is_absolute() else None


def model_algorithm(config: ExperimentConfig, model_dir: str | Path | None) -> str:
    """The trained model's algorithm: that of the guest's piece (``scorecard.json``, else
    ``model.json``) when the training run's DIR names its folder on this machine, else the
    config's ``experiment.algorithm``."""
    where = _local_folder(model_dir, config.guest.name)
    if where is not None:
        algo = piece_algorithm(where, config.guest.name)
        if algo:
            return algo
    return str(config.experiment.algorithm)


def check_pieces(config: ExperimentConfig, model_dir: str | Path | None, algorithm: str) -> None:
    """Before any message: every party's piece that the training run's DIR names on this
    machine exists and was written by ``algorithm`` (a :class:`ConfigError` names the party
    and the file). Any other party checks its piece itself."""
    if algorithm not in PIECE_FILES:
        raise ConfigError(
            f"models of algorithm {algorithm!r} cannot be scored jointly",
            hint=f"Score a model of one of {sorted(PIECE_FILES)}.",
        )
    for p in config.parties:
        where = _local_folder(model_dir, p.name)
        if where is not None:
            require_piece(p.name, where, algorithm)


def score(
    transport: Transport,
    config: ExperimentConfig,
    model_dir: str | Path | None,
    *,
    progress: ProgressFn = no_progress,
) -> ScoringResult:
    """Score the guest's enterprises with the trained model's pieces (see module doc).

    Dispatches on :func:`model_algorithm`: SecureBoost models are scored by the joint tree
    walk (``federation.secureboost.joint_predict``) after the same alignment; hetero LR
    models by the masked partial linear scores above, scorecards by the same messages
    carrying each party's partial points."""
    t0 = time.perf_counter()
    guest = config.guest.name
    hosts = [h.name for h in config.hosts]
    algorithm = model_algorithm(config, model_dir)
    check_pieces(config, model_dir, algorithm)
    refs = _refs(config, Path(model_dir) if model_dir is not None else None)
    for r in refs.values():
        r["algorithm"] = algorithm
    if algorithm == "secureboost":
        return _score_secureboost(transport, config, refs, progress, t0)
    al: AlignmentResult = align(
        transport,
        config,
        progress=progress,
        commit=False,
        with_label=False,
        setup_extra={p.name: {_KX_FLAG: True} for p in config.parties},
    )
    pubs = {p: bytes(r["kx_pub"]) for p, r in al.setup_replies.items()}
    req = [
        Envelope(
            h,
            PARTIAL,
            {**al.pending_commit[h], **refs[h], "guest": guest, "guest_pub": pubs[guest]},
        )
        for h in hosts
    ]
    replies = transport.exchange(req)
    masked = [np.asarray(replies[h].payload["masked"], dtype=np.uint64) for h in hosts]
    if any(m.shape != (al.n_aligned,) for m in masked):
        raise ProtocolError(
            f"hosts returned partial scores of shapes "
            f"{[m.shape for m in masked]} for {al.n_aligned} aligned rows"
        )
    total = np.zeros(al.n_aligned, dtype=np.uint64)
    for m in masked:
        total += m
    progress("score", {"step": "partial", "n_aligned": al.n_aligned})
    fin: Payload = {
        "masked_sum": total,
        "hosts": hosts,
        **refs[guest],
        **{f"pub_{h}": pubs[h] for h in hosts},
    }
    reply = transport.exchange([Envelope(guest, FINISH, fin)])[guest].payload
    seconds = time.perf_counter() - t0
    progress("score", {"step": "done", "n_scored": int(reply["n_scored"])})
    return ScoringResult(
        n_requested=al.n_sample,
        n_scored=int(reply["n_scored"]),
        per_host=al.per_host,
        seconds=seconds,
        exchanges=al.exchanges + 2,
        output=str(reply["file"]),
    )


def _score_secureboost(
    transport: Transport,
    config: ExperimentConfig,
    refs: dict[str, Payload],
    progress: ProgressFn,
    t0: float,
) -> ScoringResult:
    """Alignment (the hosts' commit rides on the first prediction message), then the joint
    walk; the guest writes ``scores.csv`` (ID, margin, probability) in its work dir."""
    guest = config.guest.name
    hosts = [h.name for h in config.hosts]
    al: AlignmentResult = align(
        transport, config, progress=progress, commit=False, with_label=False
    )
    if al.cardinality_only:
        raise ConfigError(
            "scoring needs the aligned rows: cardinality_only is for intersection-size studies",
            hint="Drop [params].cardinality_only.",
        )
    begin = {guest: dict(refs[guest])}
    begin.update({h: {**al.pending_commit[h], **refs[h]} for h in hosts})
    res = joint_predict(transport, guest, hosts, begin=begin, scores_file=True)
    if res.n_rows != al.n_aligned:
        raise ProtocolError(
            f"guest {guest!r} scored {res.n_rows} rows, {al.n_aligned} were aligned",
            hint="Run the scoring again.",
        )
    progress("score", {"step": "done", "n_scored": res.n_rows})
    return ScoringResult(
        n_requested=al.n_sample,
        n_scored=res.n_rows,
        per_host=al.per_host,
        seconds=time.perf_counter() - t0,
        exchanges=al.exchanges + res.exchanges,
        output=res.file,
    )


def score_command(
    *,
    config: str | Path | ExperimentConfig,
    model: str | Path,
    out: str | Path,
    runtime: str | None = None,
    progress: ProgressFn = no_progress,
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """``fedlab score``: score the config's guest enterprises with the model in ``model``
    (a training run's DIR) and write ``out`` atomically: metrics.json, disclosure.json,
    config.toml and, in ``parties/GUEST/``, the guest's ``scores.csv``.

    Runs with the local runtime (every party's files on this machine: a local or simulation
    run's DIR, or a run on a local federation, whose pieces its location.json names);
    returns the metrics written to metrics.json."""
    started = time.perf_counter()
    cfg, text = resolve_config(config)
    rt = runtime or cfg.experiment.runtime
    if rt != "local":
        raise ConfigError(
            f"fedlab score runs with the local runtime in this build, not {rt!r}",
            hint="Pass --runtime local (every party's data file on this machine).",
        )
    model_dir = Path(model)
    if not (model_dir / "parties").is_dir():
        raise ConfigError(
            f"--model {model_dir.name!r} holds no parties/ folder of model pieces",
            hint="Point --model at the DIR of a `fedlab train` run.",
        )
    for p, refs in _refs(cfg, model_dir).items():
        ref = refs.get("model_ref")
        if ref and not Path(str(ref)).is_absolute():
            raise ConfigError(
                f"party {p!r} keeps its model piece on its own machine "
                f"({ref} in its SuperNode's work-dir), out of the local "
                "runtime's reach",
                hint="Score on this machine a model trained "
                "on a local federation or with the local/simulation runtime.",
            )
    check_data_files(cfg)
    with staging(out) as stage:
        transport = local_transport(cfg, stage)
        t0 = time.perf_counter()
        res = score(transport, cfg, model_dir, progress=progress)
        protocol_seconds = time.perf_counter() - t0
        transport.exchange([Envelope(p.name, RUN_FINISH, {}) for p in cfg.parties])
        result = ProtocolResult(
            metrics={"algorithm": model_algorithm(cfg, model_dir), **res.metrics()}
        )
        metrics = build_metrics(
            result,
            transport.log,
            runtime="local",
            wall_seconds=time.perf_counter() - started,
            phase_seconds={"protocol": protocol_seconds},
            epoch_exchanges=[],
        )
        roles = {name: role.value for name, role in transport.party_roles().items()}
        write_outputs(
            stage,
            metrics=metrics,
            disclosure=build_disclosure(transport.log, roles, result),
            config_text=text,
        )
    if echo is not None:
        echo(
            f"scored {res.n_scored} of {res.n_requested} enterprises "
            f"({metrics['algorithm']}); the scores are in "
            f"{Path(out) / 'parties' / cfg.guest.name / SCORES_FILE}"
        )
    return metrics


def scoring_driver(model_dir: str | Path | None) -> Any:
    """A :class:`federation.protocol.Driver` that scores instead of training (for runtimes
    that execute drivers: ``execute_protocol(...)`` with this in place of the trainer)."""

    def drive(
        transport: Transport, config: ExperimentConfig, *, progress: ProgressFn = no_progress
    ) -> ProtocolResult:
        res = score(transport, config, model_dir, progress=progress)
        return ProtocolResult(metrics=res.metrics())

    return drive


__all__ = [
    "FINISH",
    "PARTIAL",
    "SCORES_FILE",
    "ScoringResult",
    "model_algorithm",
    "read_scores",
    "score",
    "score_command",
    "scoring_driver",
    "write_points",
    "write_scores",
]
