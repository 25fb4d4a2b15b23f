"""``algorithm = "scorecard"`` end to end on LocalTransport: Taiwan against a centralized WOE
logistic regression on the same bins; synthetic parties with real alignment, Paillier and
the leak check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from features import scorecard as S
from features import synth
from features.public import load_public
from federation import hetero_lr
from federation import scorecard as SC
from federation import woe as FW
from leakcheck import assert_no_leak
from test_woe_federated import World

LR = {"epochs": 60, "learning_rate": 0.5, "tol": 1e-7, "early_stopping": False}


def _run(world: World, monkeypatch: pytest.MonkeyPatch, backend: str, **params: Any) -> Any:
    world.align()
    monkeypatch.setattr(SC, "_align", lambda t, c, p: SC.no_alignment(len(world.ids)))
    return SC.drive(world.transport, world.config(backend=backend, **params))


def _centralized_auc(world: World) -> float:
    """sklearn LR on the pooled WOE columns each party selected, same train/valid rows."""
    blocks = []
    for name in world.frames:
        ctx = world.ctxs[name]
        X, _ = FW.woe_matrix_of(ctx, ctx.state[FW.STATE_KEY]["selected"])
        blocks.append(X)
    X = np.hstack(blocks)
    y = world.y
    lr_state = world.ctxs[world.guest].state["hetero_lr"]
    train, valid = lr_state["train"], lr_state["valid"]
    ref = LogisticRegression(C=1e6, max_iter=5000).fit(X[train], y[train])
    return float(roc_auc_score(y[valid], ref.decision_function(X[valid])))


def _joint_scores(world: World, rows: np.ndarray) -> np.ndarray:
    """Sum of every party's points (from the tables each party saved) for ``rows``."""
    total = np.zeros(rows.size)
    for name in world.frames:
        ctx = world.ctxs[name]
        table = S.load_points(ctx.work_dir)
        st = ctx.state[FW.STATE_KEY]
        bins = FW.binnings(ctx)
        cols, _ = FW.party_columns(ctx)
        total += table.base
        for f in table.features:
            j = st["features"].index(f.name)
            total += np.asarray(f.points)[bins[j].transform(cols[f.name][1][rows])]
    return total


@pytest.mark.slow
def test_taiwan_scorecard_matches_centralized_woe_lr(shared_data: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    taiwan = load_public("taiwan", shared_data)
    world = World(taiwan.parties, "bank", "y", "id", tmp_path, keep_payloads=False,
                  guard=False)
    res = _run(world, monkeypatch, "plaintext", min_bin_size=100, lr=LR)
    m = res.metrics
    print("\n" + m["grade_table"])
    ref = _centralized_auc(world)
    assert abs(m["auc"] - ref) <= 0.005, (m["auc"], ref)
    assert 400 <= m["score_min"] <= m["score_max"] <= 700
    assert abs(m["score_auc"] - ref) <= 0.01
    assert sum(g["count"] for g in m["grades"]) == m["n_valid"]
    # grades order risk: the bad rate falls from F to A among populated grades
    rates = [g["bad_rate"] for g in m["grades"] if g["count"] >= 100]
    assert rates == sorted(rates)
    # the joint score (sum of the parties' saved points) reproduces the reported ones
    valid = world.ctxs["bank"].state["hetero_lr"]["valid"]
    joint = S.Scaling().clip(_joint_scores(world, valid))
    assert roc_auc_score(world.y[valid], -joint) == pytest.approx(m["score_auc"], abs=1e-12)
    assert {"bank", "demographics", "payment_history"} == set(m["iv_report"])
    assert all(f["id"].startswith("payment_history:f") for f in m["iv_report"]["payment_history"])


@pytest.fixture(scope="module")
def synthetic() -> dict[str, pd.DataFrame]:
    tables = synth.generate(2500, 5)
    return {p: tables[p] for p in ("bank", "tax", "courts")}


def test_synthetic_scorecard_paillier_real_alignment_leaks_nothing(
        synthetic: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    world = World(synthetic, "bank", "default_12m", "uscc", tmp_path, id_kind="uscc")
    cfg = world.config(backend="paillier", key_bits=1024, min_bin_size=40,
                       publish_feature_names=["tax"],
                       lr={"epochs": 5, "learning_rate": 0.5, "key_bits": 1024})
    res = SC.drive(world.transport, cfg)
    m = res.metrics
    assert m["n_aligned"] == len(world.ids)
    assert 400 <= m["score_min"] <= m["score_max"] <= 700
    assert m["auc"] > 0.7 and m["score_auc"] > 0.7
    assert [f["id"] for f in m["iv_report"]["tax"]] == list(synthetic["tax"].columns[1:])
    assert all(f["id"].startswith("courts:f") for f in m["iv_report"]["courts"])
    assert_no_leak(world.transport.log, world.frames, world.ids)
    # every party keeps its own points table; hosts' tables hold their bin edges locally
    for name in world.frames:
        table = S.load_points(world.ctxs[name].work_dir)
        assert table.features and all(len(f.points) == len(f.bins) for f in table.features)
        # the LR trained on exactly the selected WOE columns
        piece = hetero_lr.load_piece(world.ctxs[name].work_dir)
        assert piece.feature_names == [f.name for f in table.features]
    sent = {m.action for m in world.transport.log.messages}
    assert {"woe.bin", "woe.sums", "woe.merge", "woe.apply", "sc.select", "lr.init",
            "sc.points", "sc.report"} <= sent


def test_lr_reads_woe_columns_not_the_raw_matrix(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    german = load_public("german", shared_data)
    world = World(german.parties, "bank", "y", "id", tmp_path, guard=False)
    import federation.partydata as partydata

    # hetero LR's own data access must not be used while a scorecard trains
    monkeypatch.setattr(partydata, "aligned_matrix", lambda ctx, **kw: pytest.fail("raw matrix read"))
    res = _run(world, monkeypatch, "plaintext", min_bin_size=50, iv_min=0.0,
               lr={"epochs": 30, "learning_rate": 0.5})
    for name in world.frames:
        ctx = world.ctxs[name]
        piece = hetero_lr.load_piece(ctx.work_dir)
        kept = ctx.state[FW.STATE_KEY]["selected"]
        assert piece.feature_names == [ctx.state[FW.STATE_KEY]["features"][j] for j in kept]
    assert res.metrics["auc"] > 0.7
