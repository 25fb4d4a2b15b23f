"""Joint scoring against a centralized scikit-learn model split into party pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from leakcheck import assert_no_leak
from sklearn.linear_model import LogisticRegression

from features import synth
from federation.config import parse_config
from federation.hetero_lr import ModelPiece, save_piece
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.scoring import read_scores, score
from lab.errors import ProtocolError

PARTIES = ("bank", "tax", "courts")


def _numeric_complete(df: pd.DataFrame, k: int) -> list[str]:
    cols = [c for c in df.columns if c not in ("uscc", "default_12m")
            and pd.api.types.is_numeric_dtype(df[c]) and df[c].notna().all()
            and df[c].nunique() > 2]
    return cols[:k]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Pieces of a pooled sklearn LR on bank + tax + courts, written like a training DIR."""
    data = tmp_path_factory.mktemp("score-data")
    synth.write(data, synth.generate(500, seed=5))
    raw = {p: pd.read_csv(data / f"{p}.csv", dtype={"uscc": str}) for p in PARTIES}
    feats = {p: _numeric_complete(raw[p], 3) for p in PARTIES}
    common = sorted(set.intersection(*(set(raw[p]["uscc"]) for p in PARTIES)))
    blocks, stats = [], {}
    for p in PARTIES:
        X = raw[p].set_index("uscc").loc[common, feats[p]].to_numpy(dtype=float)
        mean, scale = X.mean(axis=0), X.std(axis=0)
        stats[p] = (mean, scale)
        blocks.append((X - mean) / scale)
    y = raw["bank"].set_index("uscc").loc[common, "default_12m"].to_numpy()
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(np.hstack(blocks), y)
    model_dir = tmp_path_factory.mktemp("model")
    start = 0
    for p in PARTIES:
        d = len(feats[p])
        w = lr.coef_[0, start:start + d]
        start += d
        save_piece(model_dir / "parties" / p, ModelPiece(
            party=p, role="guest" if p == "bank" else "host", backend="plaintext",
            feature_names=feats[p], mean=stats[p][0].tolist(), scale=stats[p][1].tolist(),
            weights=w.tolist(), intercept=float(lr.intercept_[0]) if p == "bank" else None))
    # the enterprises to score: 150 of the bank's rows, without the label
    new = raw["bank"].iloc[:150].drop(columns=["default_12m"])
    new.to_csv(data / "bank_new.csv", index=False)
    return {"data": data, "raw": raw, "feats": feats, "stats": stats, "lr": lr,
            "model_dir": model_dir, "new": new}


def _setup(t: dict[str, object], work: Path) -> tuple[object, LocalTransport]:
    data: Path = t["data"]  # type: ignore[assignment]
    feats: dict[str, list[str]] = t["feats"]  # type: ignore[assignment]
    parties = [{"name": "bank", "role": "guest", "label": "default_12m",
                "data": str(data / "bank_new.csv")}]
    parties += [{"name": p, "role": "host", "data": str(data / f"{p}.csv")} for p in PARTIES[1:]]
    cfg = parse_config({"experiment": {"name": "score", "id_column": "uscc", "runtime": "local",
                                       "features": feats},
                        "parties": parties})
    ctxs = [PartyContext(name=p.name, role=p.role, data_path=p.data, work_dir=work / p.name)
            for p in cfg.parties]
    return cfg, LocalTransport(ctxs, keep_payloads=True)


def test_joint_scores_equal_the_centralized_model(trained: dict[str, object],
                                                   tmp_path: Path) -> None:
    # Prepare
    cfg, transport = _setup(trained, tmp_path)
    raw: dict[str, pd.DataFrame] = trained["raw"]  # type: ignore[assignment]
    new: pd.DataFrame = trained["new"]  # type: ignore[assignment]
    # Execute
    res = score(transport, cfg, trained["model_dir"])  # type: ignore[arg-type]
    # Assert: the same rows as a plain set intersection, the same scores as sklearn
    ids = sorted(set(new["uscc"]) & set(raw["tax"]["uscc"]) & set(raw["courts"]["uscc"]))
    assert res.n_requested == 150 and res.n_scored == len(ids) > 50
    assert res.exchanges == 5 and transport.log.exchanges == 5
    got = read_scores(tmp_path / "bank")
    assert got["uscc"].tolist() == ids
    feats: dict[str, list[str]] = trained["feats"]  # type: ignore[assignment]
    stats: dict[str, tuple[np.ndarray, np.ndarray]] = trained["stats"]  # type: ignore[assignment]
    blocks = []
    for p in PARTIES:
        X = raw[p].set_index("uscc").loc[ids, feats[p]].to_numpy(dtype=float)
        blocks.append((X - stats[p][0]) / stats[p][1])
    lr: LogisticRegression = trained["lr"]  # type: ignore[assignment]
    Z = np.hstack(blocks)
    np.testing.assert_allclose(got["score"], lr.decision_function(Z), atol=1e-8)
    np.testing.assert_allclose(got["probability"], lr.predict_proba(Z)[:, 1], atol=1e-9)
    # nothing per enterprise reached the coordinator in the clear
    assert_no_leak(transport.log, {"bank": new, "tax": raw["tax"], "courts": raw["courts"]}, ids)
    host_sum = np.hstack(blocks[1:]) @ lr.coef_[0, len(feats["bank"]):]
    for m in transport.log.messages:
        for v in m.payload.values():
            if isinstance(v, np.ndarray) and v.dtype == np.uint64:
                decoded = v.view(np.int64) / 2.0**32
                assert np.abs(decoded - host_sum).min() > 1.0  # masked: nowhere near


def test_missing_model_piece_is_a_clear_error(trained: dict[str, object],
                                              tmp_path: Path) -> None:
    cfg, transport = _setup(trained, tmp_path)
    with pytest.raises(ProtocolError, match=r"'tax'.*model piece"):
        score(transport, cfg, tmp_path / "no-such-run")  # type: ignore[arg-type]
