"""CKKS aggregation for FedAvg: ciphertext-only coordinator, sealed keys, pairwise masks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import federation.homo as homo
from federation.homo.ckks import (
    CiphertextAggregator,
    decrypt_aggregate,
    dropout_correction,
    encrypt_update,
    mask_update,
    new_shared_context,
    open_sealed,
    pair_seed,
    seal,
    unmask_sum,
    x25519_keypair,
)
from lab.errors import CryptoError, PrivacyViolationError


def _bank_files(tmp_path: Path, n_banks: int = 3, rows: int = 300) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    paths = {}
    tmp_path.mkdir(parents=True, exist_ok=True)
    for b in range(n_banks):
        x = rng.normal(size=(rows, 4)) * [1, 10, 1000, 0.1]
        y = (x @ [1.0, 0.1, 0.001, -5.0] + rng.normal(size=rows) > 0).astype(int)
        lines = ["id,a,b,c,d,y"] + [
            f"{b}-{i},{r[0]},{r[1]},{r[2]},{r[3]},{t}"
            for i, (r, t) in enumerate(zip(x, y, strict=False))
        ]
        path = tmp_path / f"bank_{b}.csv"
        path.write_text("\n".join(lines) + "\n")
        paths[f"bank_{b}"] = path
    return paths


def _experiment(
    paths: dict[str, Path], *, backend: str = "ckks", runtime: str = "local", **params: Any
) -> dict[str, Any]:
    """A homo_lr experiment over ``_bank_files`` banks, as the TOML's dict."""
    return {
        "experiment": {
            "name": "homo-agg",
            "algorithm": "homo_lr",
            "backend": backend,
            "id_column": "id",
            "runtime": runtime,
            "seed": 1,
        },
        "params": params,
        "parties": [
            {"name": n, "role": "guest", "data": str(p), "label": "y"} for n, p in paths.items()
        ],
    }


def _config(paths: dict[str, Path], **params: Any) -> Any:
    from federation.config import parse_config

    return parse_config(_experiment(paths, **params))


def test_coordinator_aggregation_only_ever_holds_ciphertexts(tmp_path: Path) -> None:
    from crypto.ckks import CkksArray, CkksContext
    from federation.local_transport import LocalTransport
    from federation.party import PartyContext
    from federation.roles import PartyRole

    paths = _bank_files(tmp_path)
    held: list[Any] = []
    updates: list[np.ndarray] = []
    homo.AGGREGATION_OBSERVER = held.append
    homo.set_train_hook(lambda bank, rnd, vec: updates.append(vec.copy()))
    tr = LocalTransport(
        [PartyContext(n, PartyRole.GUEST, p, tmp_path / "w" / n) for n, p in paths.items()],
        keep_payloads=True,
    )
    try:
        res = homo.drive(
            tr, _config(paths, rounds=3, batch_size=32, learning_rate=0.2, momentum=0.9)
        )
    finally:
        homo.AGGREGATION_OBSERVER = None
        homo.set_train_hook(None)
    assert res.metrics["auc"] > 0.8 and len(updates) == 9
    # (1) everything the server-side aggregation touched is a ciphertext or a public key
    assert held, "the aggregation was not instrumented"
    for obj in held:
        assert isinstance(obj, (bytes, CkksArray, CkksContext)), type(obj)
        if isinstance(obj, CkksContext):
            assert not obj.is_private
        if isinstance(obj, CkksArray):
            assert not obj.ctx.is_private
            with pytest.raises(CryptoError):
                obj.decrypt(obj.ctx)  # the coordinator cannot decrypt what it holds
    # (2) no update left a bank in plaintext: replies carry bytes, and no run of a bank's
    #     float64 (or float32) update appears in anything the coordinator received
    received = [m for m in tr.log.messages if m.direction == "from_party"]
    blobs: list[bytes] = []
    for m in received:
        for key, value in m.payload.items():
            if m.action in ("homo.train", "homo.stats") and key == "update":
                assert isinstance(value, bytes)
            if isinstance(value, np.ndarray):
                assert value.dtype.kind in "iu", (m.action, key, value.dtype)
            blobs.append(value if isinstance(value, bytes) else np.asarray(value).tobytes())
    wire = b"".join(blobs)
    for vec in updates:
        for probe in (vec[:3].tobytes(), vec[:3].astype(np.float32).tobytes()):
            assert probe not in wire
    # (3) the coordinator's floats are public: counts and metrics only
    for m in received:
        for key, value in m.payload.items():
            if isinstance(value, float):
                assert key in ("auc", "prev_loss"), key


def test_sealed_key_opens_only_for_its_recipient() -> None:
    priv, pub = x25519_keypair()
    other_priv, other_pub = x25519_keypair()
    blob = seal(pub, b"secret context bytes", info=b"run|bank_b")
    assert open_sealed(priv, pub, blob, info=b"run|bank_b") == b"secret context bytes"
    assert b"secret context" not in blob
    with pytest.raises(CryptoError):
        open_sealed(other_priv, other_pub, blob, info=b"run|bank_b")
    with pytest.raises(CryptoError):
        open_sealed(priv, pub, blob, info=b"run|bank_c")  # bound to recipient and run
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(CryptoError):
        open_sealed(priv, pub, tampered, info=b"run|bank_b")


def test_ckks_aggregate_is_exact_to_1e_4_relative_and_refuses_secret_context() -> None:
    sc = new_shared_context("aggregate")
    rng = np.random.default_rng(1)
    ups = [rng.normal(size=20_000) * rng.uniform(0.1, 5) for _ in range(10)]
    agg = CiphertextAggregator(sc.to_bytes())
    total = decrypt_aggregate(sc, agg.sum([encrypt_update(sc, u) for u in ups]))
    ref = np.sum(ups, axis=0)
    assert np.max(np.abs(total - ref)) / np.max(np.abs(ref)) <= 1e-4
    assert np.max(np.abs(total - ref)) < 1e-5
    with pytest.raises(PrivacyViolationError):
        CiphertextAggregator(sc.to_bytes(secret=True))
    with pytest.raises(PrivacyViolationError):
        agg.sum([ups[0]])  # type: ignore[list-item]


def test_pairwise_masks_cancel_and_dropouts_are_recovered() -> None:
    names = ["a", "b", "c", "d"]
    keys = {n: x25519_keypair() for n in names}
    seeds = {
        n: {p: pair_seed(keys[n][0], keys[p][1], me=n, peer=p, run="r") for p in names if p != n}
        for n in names
    }
    assert seeds["a"]["b"] == seeds["b"]["a"]
    rng = np.random.default_rng(2)
    vecs = {n: rng.normal(size=1000) * 50 for n in names}
    masked = {
        n: mask_update(vecs[n], seeds[n], me=n, participants=names, round_no=3) for n in names
    }
    # a masked update alone looks uniform: nothing like the update
    a_back = masked["a"].view(np.int64).astype(np.float64) / 2**24
    assert np.corrcoef(a_back, vecs["a"])[0, 1] < 0.2
    np.testing.assert_allclose(unmask_sum(masked.values()), sum(vecs.values()), atol=1e-5)
    # "c" drops: survivors reveal their round masks with c only
    surv = ["a", "b", "d"]
    corr = [dropout_correction(seeds[n], me=n, dropped=["c"], round_no=3, n=1000) for n in surv]
    got = unmask_sum([masked[n] for n in surv], corr)
    np.testing.assert_allclose(got, sum(vecs[n] for n in surv), atol=1e-5)
    # without the corrections the sum is garbage
    assert np.max(np.abs(unmask_sum([masked[n] for n in surv]) - got)) > 1e3


@pytest.mark.slow
@pytest.mark.flower
def test_homo_lr_ckks_through_run_experiment_in_simulation(tmp_path: Path) -> None:
    """The same messages on Flower's simulation runtime (Ray; ~30 s)."""
    import tomli_w

    from federation.run import run_experiment

    paths = _bank_files(tmp_path / "data", rows=200)
    cfg = _experiment(
        paths, runtime="simulation", rounds=2, batch_size=32, learning_rate=0.2, momentum=0.9
    )
    (tmp_path / "experiment.toml").write_text(tomli_w.dumps(cfg))
    out = tmp_path / "run"
    run_experiment(tmp_path / "experiment.toml", out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runtime"] == "simulation" and metrics["auc"] > 0.8
    disc = json.loads((out / "disclosure.json").read_text())
    sent = disc["parties"]["bank_1"]["sent"]
    assert sent["homo.train"]["count"] == 2 and sent["homo.train"]["fields"] == [
        "prev_loss",
        "prev_round",
        "update",
    ]
    for name in paths:
        assert (out / "parties" / name / homo.MODEL_FILE).is_file()
        assert not list((out / "parties" / name).glob("homo_keys/*.ckks"))
