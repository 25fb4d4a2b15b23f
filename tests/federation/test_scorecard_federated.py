"""``algorithm = "scorecard"`` end to end on LocalTransport: Taiwan against a centralized WOE
logistic regression on the same bins; synthetic parties with real alignment, Paillier and
the leak check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from leakcheck import assert_no_leak
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from test_woe_federated import World

from features import scorecard as S
from features import synth
from features.public import load_public
from federation import hetero_lr
from federation import scorecard as FW
from federation import scorecard as SC
from federation.scorecard import driver as sc_driver

LR = {"epochs": 60, "learning_rate": 0.5, "tol": 1e-7, "early_stopping": False}


def _run(world: World, monkeypatch: pytest.MonkeyPatch, backend: str, **params: Any) -> Any:
    world.align()
    monkeypatch.setattr(sc_driver, "_align", lambda t, c, p: SC.no_alignment(len(world.ids)))
    return SC.drive(world.transport, world.config(backend=backend, **params))


def _centralized_auc(world: World) -> float:
    """sklearn LR on the pooled WOE columns each party selected, same train/valid rows."""
    blocks = []
    for name in world.frames:
        ctx = world.ctxs[name]
        X, _ = FW.woe_matrix_of(ctx, SC.scorecard_state(ctx).selected)
        blocks.append(X)
    X = np.hstack(blocks)
    y = world.y
    lr_state = hetero_lr.party_state(world.ctxs[world.guest])
    train, valid = lr_state.train, lr_state.valid
    ref = LogisticRegression(C=1e6, max_iter=5000).fit(X[train], y[train])
    return float(roc_auc_score(y[valid], ref.decision_function(X[valid])))


def _joint_scores(world: World, rows: np.ndarray) -> np.ndarray:
    """Sum of every party's points (from the tables each party saved) for ``rows``."""
    total = np.zeros(rows.size)
    for name in world.frames:
        ctx = world.ctxs[name]
        table = S.load_points(ctx.work_dir)
        st = FW.woe_state(ctx)
        bins = FW.binnings(ctx)
        cols, _ = FW.party_columns(ctx)
        total += table.base
        for f in table.features:
            j = st.features.index(f.name)
            total += np.asarray(f.points)[bins[j].transform(cols[f.name][1][rows])]
    return total


@pytest.mark.slow
def test_taiwan_scorecard_matches_centralized_woe_lr(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taiwan = load_public("taiwan", shared_data)
    world = World(taiwan.parties, "bank", "y", "id", tmp_path, keep_payloads=False, guard=False)
    res = _run(world, monkeypatch, "plaintext", min_bin_size=100, lr=LR)
    m = res.metrics
    print("\n" + m["grade_table"])
    ref = _centralized_auc(world)
    assert abs(m["auc"] - ref) <= 0.005, (m["auc"], ref)
    assert 400 <= m["score_min"] <= m["score_max"] <= 700
    assert abs(m["score_auc"] - ref) <= 0.01
    # every grade shown holds >= 10 enterprises; suppressed ones (None) hold the rest, and
    # together 0 or >= 10 (so n_valid minus the shown ones gives no small grade away)
    shown = sum(g["count"] or 0 for g in m["grades"])
    assert m["n_valid"] - shown == 0 or m["n_valid"] - shown >= 10
    assert all(g["count"] == 0 or g["count"] >= 10 for g in m["grades"] if g["count"] is not None)
    # grades order risk: the bad rate falls from F to A among populated grades shown
    rates = [
        g["bad_rate"] for g in m["grades"] if (g["count"] or 0) >= 100 and g["bad_rate"] is not None
    ]
    assert rates == sorted(rates)
    # the joint score (sum of the parties' saved points) reproduces the reported ones
    valid = hetero_lr.party_state(world.ctxs["bank"]).valid
    joint = S.Scaling.from_dict(m["scaling"]).clip(_joint_scores(world, valid))
    assert roc_auc_score(world.y[valid], -joint) == pytest.approx(m["score_auc"], abs=1e-12)
    assert {"bank", "demographics", "payment_history"} == set(m["iv_report"])
    assert all(f["id"].startswith("payment_history:f") for f in m["iv_report"]["payment_history"])


@pytest.fixture(scope="module")
def synthetic() -> dict[str, pd.DataFrame]:
    tables = synth.generate(2500, 5)
    return {p: tables[p] for p in ("bank", "tax", "courts")}


@pytest.fixture(scope="module")
def synthetic_run(
    synthetic: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> tuple[World, Any]:
    """One Paillier scorecard run with real alignment (shared by the tests below)."""
    world = World(
        synthetic, "bank", "default_12m", "uscc", tmp_path_factory.mktemp("sc"), id_kind="uscc"
    )
    cfg = world.config(
        backend="paillier",
        key_bits=1024,
        min_bin_size=40,
        publish_feature_names=["tax"],
        lr={"epochs": 5, "learning_rate": 0.5, "key_bits": 1024},
    )
    return world, SC.drive(world.transport, cfg)


def test_synthetic_scorecard_paillier_real_alignment_leaks_nothing(
    synthetic: dict[str, pd.DataFrame], synthetic_run: tuple[World, Any]
) -> None:
    world, res = synthetic_run
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
    assert {
        "woe.bin",
        "woe.sums",
        "woe.merge",
        "woe.apply",
        "sc.select",
        "lr.init",
        "sc.points",
        "sc.report",
    } <= sent


def _valid_scores(world: World) -> tuple[np.ndarray, np.ndarray]:
    """The guest's validation labels and joint scores, from every party's saved table."""
    valid = hetero_lr.party_state(world.ctxs[world.guest]).valid
    table = S.load_points(world.ctxs[world.guest].work_dir)
    return world.y[valid], S.Scaling.from_dict(table.scaling).clip(_joint_scores(world, valid))


def test_scorecard_reports_roc_lift_histogram_of_its_scores(
    synthetic_run: tuple[World, Any],
) -> None:
    """The curves the model library files are min-cell aggregates of the validation scores,
    checked against scikit-learn and numpy on the scores rebuilt from the saved tables."""
    from sklearn.metrics import roc_curve

    from lab.runner import public_metrics, roc_points

    world, res = synthetic_run
    m = res.metrics
    yv, scores = _valid_scores(world)
    assert m["score_auc"] == pytest.approx(roc_auc_score(yv, -scores), abs=1e-12)
    assert m["n_valid_positive"] == int(yv.sum()) and m["n_valid"] == yv.size
    # ROC: sklearn's points of the risk ranking (-score), each step >= 10 enterprises
    roc = m["roc"]
    fpr, tpr, _ = roc_curve(yv, -scores, drop_intermediate=False)
    exact = {(round(a, 12), round(b, 12)) for a, b in zip(fpr, tpr, strict=True)}
    assert all(
        (round(a, 12), round(b, 12)) in exact for a, b in zip(roc["fpr"], roc["tpr"], strict=True)
    )
    P, N = yv.sum(), yv.size - yv.sum()
    per_step = np.diff(np.rint(np.array(roc["fpr"]) * N + np.array(roc["tpr"]) * P))
    assert len(roc["fpr"]) >= 5 and per_step.min() >= 10, per_step
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(m["score_auc"], abs=0.02)
    # lift: lowest scores (riskiest) first, groups partition the validation rows
    lift = m["lift"]
    assert sum(r["count"] for r in lift) == yv.size and min(r["count"] for r in lift) >= 10
    assert sum(r["count"] * r["bad_rate"] for r in lift) == pytest.approx(yv.sum())
    assert all(a["max_score"] <= b["min_score"] for a, b in zip(lift[:-1], lift[1:], strict=True))
    assert lift[0]["min_score"] == pytest.approx(scores.min(), abs=1e-6)
    assert lift[-1]["max_score"] == pytest.approx(scores.max(), abs=1e-6)
    # lift groups hold >= 10 bads and >= 10 goods each (a group's bad rate is its split)
    assert all(
        min(r["count"] * r["bad_rate"], r["count"] * (1 - r["bad_rate"])) >= 10 - 1e-9 for r in lift
    )
    # histogram on the points scale: numpy's bins, adjacent ones merged until each holds 10
    counts, edges = np.histogram(scores, bins=20)
    got_edges, got = m["score_hist"]["edges"], m["score_hist"]["counts"]
    # (the scores rebuilt here from the saved tables and the guest's from the masked 2**-32
    # fixed-point sums agree to ~1e-8 points, so edges are matched to 1e-6)
    assert all(np.abs(edges - e).min() <= 1e-6 for e in got_edges), (got_edges, edges)
    assert sum(got) == yv.size and min(got) >= 10
    for lo, hi, c in zip(got_edges[:-1], got_edges[1:], got, strict=True):
        inner = (edges[:-1] >= lo - 1e-6) & (edges[1:] <= hi + 1e-6)
        assert int(counts[inner].sum()) == c
    # what the lab files of them
    kept = public_metrics(m)
    assert roc_points(m) == roc and kept["lift"] == lift and kept["score_hist"] == m["score_hist"]


def test_scorecard_reports_the_guests_own_points_only(
    synthetic: dict[str, pd.DataFrame], synthetic_run: tuple[World, Any]
) -> None:
    """``points.<column>.<bin>`` and ``points_base`` are the guest's scorecard.json and its
    hand-scaled LR weights; no host column, feature id or bin is among them."""
    import json
    import math

    world, res = synthetic_run
    m = res.metrics
    ctx = world.ctxs[world.guest]
    raw = json.loads((ctx.work_dir / S.POINTS_FILE).read_text(encoding="utf-8"))
    expect = {
        f"points.{f['name']}.{i} {b}": p
        for f in raw["features"]
        for i, (b, p) in enumerate(zip(f["bins"], f["points"], strict=True), start=1)
    }
    assert all(len(f["bins"]) <= 9 for f in raw["features"])  # one-digit bin numbers
    filed = {k: v for k, v in m.items() if k.startswith("points.")}
    assert filed == expect and m["points_base"] == raw["base"]
    assert list(filed) == list(expect)  # bins in order, and still so in sorted keys:
    for f in raw["features"]:
        mine = [k for k in expect if k.startswith(f"points.{f['name']}.")]
        assert mine == sorted(mine) and len(mine) == len(f["bins"])
    # hand-computed from the guest's LR piece and its WOE per bin, at the reported scale
    piece = hetero_lr.load_piece(ctx.work_dir)
    sc = m["scaling"]
    factor = sc["pdo"] / math.log(2)
    assert m["points_base"] == pytest.approx(
        sc["base_score"] - factor * math.log(sc["base_odds"]) - factor * piece.intercept,
        abs=1e-9,
    )
    st = FW.woe_state(ctx)
    woes = FW.woe_values(ctx)
    for k, name in enumerate(piece.feature_names):
        woe = np.asarray(woes[st.features.index(name)])
        want = -factor * piece.weights[k] * (woe - piece.mean[k]) / piece.scale[k]
        got = [v for key, v in filed.items() if key.startswith(f"points.{name}.")]
        assert got == pytest.approx(want.tolist(), abs=1e-9)
    assert {f["name"] for f in raw["features"]} == set(piece.feature_names)
    host_names = {c for p in ("tax", "courts") for c in synthetic[p].columns}
    columns = {k.split(".")[1] for k in filed}
    assert columns <= set(synthetic["bank"].columns) and not columns & host_names
    assert not any(":f" in k for k in filed)


def test_nested_binning_section_reaches_the_binning() -> None:
    """The lab's catalog names binning keys ``binning.max_bins``: the runner nests them in a
    [params.binning] section, which must not be dropped."""
    from lab.errors import ConfigError
    from lab.runner import nested_params

    p = SC.parse_scorecard_params(
        nested_params(
            {
                "binning.max_bins": 3,
                "binning.min_bin_size": 77,
                "binning.key_bits": 1024,
                "lr.epochs": 4,
            }
        )
    )
    assert (p.binning.max_bins, p.binning.min_bin_size, p.binning.key_bits) == (3, 77, 1024)
    assert (p.lr.key_bits, p.lr.epochs) == (1024, 4)
    # the rest of [params.lr] takes the scorecard's defaults, not hetero LR's
    assert (p.lr.learning_rate, p.lr.tol) == (1.0, 1e-6)
    assert SC.parse_scorecard_params({"max_bins": 4}).binning.max_bins == 4
    with pytest.raises(ConfigError, match="max_bins"):
        SC.parse_scorecard_params({"max_bins": 4, "binning": {"max_bins": 5}})


def test_lr_reads_woe_columns_not_the_raw_matrix(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    german = load_public("german", shared_data)
    world = World(german.parties, "bank", "y", "id", tmp_path, guard=False)
    import federation.partydata as partydata

    # hetero LR's own data access must not be used while a scorecard trains
    monkeypatch.setattr(
        partydata, "aligned_matrix", lambda ctx, **kw: pytest.fail("raw matrix read")
    )
    res = _run(
        world,
        monkeypatch,
        "plaintext",
        min_bin_size=50,
        iv_min=0.0,
        lr={"epochs": 30, "learning_rate": 0.5},
    )
    for name in world.frames:
        ctx = world.ctxs[name]
        piece = hetero_lr.load_piece(ctx.work_dir)
        kept = SC.scorecard_state(ctx).selected
        assert piece.feature_names == [FW.woe_state(ctx).features[j] for j in kept]
    assert res.metrics["auc"] > 0.7


def test_development_grade_table_is_every_aligned_rows_joint_score(
    synthetic_run: tuple[World, Any],
) -> None:
    """``grades_dev`` counts every aligned enterprise by the joint score rebuilt from the
    parties' saved tables (numpy), and shows a bad rate only over >= 10 defaults and >= 10
    non-defaults; ``grades`` does the same on the validation rows."""
    world, res = synthetic_run
    m = res.metrics
    rows = np.arange(len(world.ids))
    scaling = S.Scaling.from_dict(m["scaling"])
    for key, idx in (("grades_dev", rows), ("grades", _valid_scores_rows(world))):
        grades = scaling.grade(scaling.clip(_joint_scores(world, idx)))
        y = world.y[idx]
        assert [g["grade"] for g in m[key]] == ["A", "B", "C", "D", "E", "F"]
        held = {"count": 0, "bad": 0, "good": 0}
        for g in m[key]:
            mask = grades == g["grade"]
            n, pos = int(mask.sum()), int(y[mask].sum())
            if g["count"] is None:  # hidden: small, or to protect a small one (secondary)
                assert g["bad_rate"] is None
                held["count"] += n
            else:
                assert g["count"] == n and not 0 < n < 10
            if g["bad_rate"] is not None:
                assert min(pos, n - pos) >= 10 and g["bad_rate"] == pytest.approx(pos / n)
            elif n:
                held["bad"] += pos
                held["good"] += n - pos
        # nothing held back follows from a published total: 0 or >= 10 each
        assert all(v == 0 or v >= 10 for v in held.values()), held
    assert sum(g["count"] or 0 for g in m["grades_dev"]) > sum(g["count"] or 0 for g in m["grades"])


def _valid_scores_rows(world: World) -> np.ndarray:
    return np.asarray(hetero_lr.party_state(world.ctxs[world.guest]).valid)


@pytest.mark.slow
def test_scorecard_defaults_spread_scores_over_the_scale(
    synthetic: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    """With no [params.lr] at all, the LR on WOE converges far enough that the scores use
    most of 400-700 and the grades below the base score are not all there is (hetero LR's
    own defaults, 10 epochs at 0.15, left every score under 540 and A-C empty)."""
    world = World(synthetic, "bank", "default_12m", "uscc", tmp_path, id_kind="uscc")
    cfg = world.config(backend="paillier", key_bits=1024, min_bin_size=40)
    m = SC.drive(world.transport, cfg).metrics
    print("\n" + m["grade_table_dev"])
    lo, hi = m["score_min"], m["score_max"]
    assert 400 <= lo <= hi <= 700 and hi - lo >= 0.6 * 300, (lo, hi)
    dev = {g["grade"]: g["count"] for g in m["grades_dev"]}
    assert all(dev[g] != 0 for g in "ABCDEF"), dev  # populated (None: 1-9, suppressed)
    assert m["epochs"] > 10
