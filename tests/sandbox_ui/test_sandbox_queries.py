"""The sandbox's aggregates against independent references (scikit-learn, numpy)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sklearn.metrics import auc, roc_auc_score, roc_curve

from lab.models import ConsentGrantPublic, IndicatorPublic, ModelStatus, ModelVersionPublic
from sandbox_ui.queries import (
    Bands,
    consent_state,
    headline_metrics,
    loss_basis,
    loss_curve,
    merge_bands,
    model_bands,
    sample_stats,
    scorecard_points,
    suppress,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def scores(n: int = 400, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(int)
    return y, rng.normal(size=n) + 1.1 * y


def per_enterprise_bands(y: np.ndarray, s: np.ndarray) -> Bands:
    order = np.argsort(-s, kind="stable")
    return Bands(tuple(int(v) for v in y[order]), tuple(int(1 - v) for v in y[order]))


def model(**kw: object) -> ModelVersionPublic:
    base = dict(
        id=1,
        name="m",
        version=1,
        algorithm="hetero_lr",
        metrics={},
        lineage={},
        roc={},
        experiment_id=1,
        owner_org_id=1,
        status=ModelStatus.CANDIDATE,
        created_at=NOW,
        published_at=None,
        retired_at=None,
    )
    base.update(kw)
    return ModelVersionPublic(**base)


def test_suppress() -> None:
    assert suppress(9, 10) is None and suppress(10, 10) == 10 and suppress(None, 1) is None


def test_one_enterprise_per_band_reproduces_sklearn() -> None:
    y, s = scores()
    bands = per_enterprise_bands(y, s)
    fpr, tpr = bands.roc()
    assert auc(fpr, tpr) == pytest.approx(roc_auc_score(y, s))
    ref_fpr, ref_tpr, _ = roc_curve(y, s, drop_intermediate=False)
    assert (
        max(np.abs(np.asarray(tpr) - ref_tpr).max(), np.abs(np.asarray(fpr) - ref_fpr).max())
        < 1e-12
    )
    _, _, _, ks = bands.ks_curve()
    assert ks == pytest.approx(np.max(ref_tpr - ref_fpr))
    depth, lift = bands.lift()
    top = int(round(0.1 * len(y)))
    order = np.argsort(-s)
    assert lift[top - 1] == pytest.approx(y[order[:top]].mean() / y.mean())
    assert depth[top - 1] == pytest.approx(top / len(y))


@pytest.mark.parametrize("k", [5, 10, 37])
def test_merged_bands_hold_k_and_keep_totals(k: int) -> None:
    y, s = scores()
    fine = per_enterprise_bands(y, s)
    merged = merge_bands(fine.pos, fine.neg, k)
    assert merged is not None
    assert min(merged.n) >= k
    assert sum(merged.pos) == y.sum() and sum(merged.neg) == len(y) - y.sum()
    fpr, tpr = merged.roc()
    # coarser bands can only lose area by linear interpolation between kept points
    assert auc(fpr, tpr) == pytest.approx(roc_auc_score(y, s), abs=0.02)
    assert merge_bands([1, 2], [3, 1], k=10) is None  # 7 enterprises in all: nothing shown


def test_model_bands_from_roc_points_and_counts() -> None:
    y, s = scores()
    fpr, tpr, _ = roc_curve(y, s)
    mv = model(
        roc={"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        metrics={"n_valid": len(y), "n_valid_positive": int(y.sum())},
    )
    exact = model_bands(mv, 1)
    assert exact is not None and exact.total == len(y)
    assert auc(*exact.roc()) == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    coarse = model_bands(mv, 10)
    assert coarse is not None and min(coarse.n) >= 10
    # without counts nothing can be checked against k: nothing is shown
    assert model_bands(model(roc={"fpr": fpr.tolist(), "tpr": tpr.tolist()}), 10) is None
    # the sample's positive rate stands in for the validation one
    by_rate = model_bands(
        model(roc={"fpr": fpr.tolist(), "tpr": tpr.tolist()}, metrics={"n_valid": len(y)}),
        10,
        base_rate=y.mean(),
    )
    assert by_rate is not None and sum(by_rate.pos) == y.sum()


def test_model_bands_from_a_score_histogram() -> None:
    y, s = scores()
    edges = np.quantile(s, np.linspace(0, 1, 21))
    hp = np.histogram(s[y == 1], edges)[0]
    hn = np.histogram(s[y == 0], edges)[0]
    mv = model(metrics={"score_hist_pos": hp.tolist(), "score_hist_neg": hn.tolist()})
    bands = model_bands(mv, 10)
    assert bands is not None
    assert (bands.pos[0], bands.neg[0]) == (hp[-1], hn[-1])  # highest scores first (20 ≥ k)
    assert sum(bands.pos) == y.sum() and min(bands.n) >= 10
    assert auc(*bands.roc()) == pytest.approx(roc_auc_score(y, s), abs=0.03)


def test_sample_stats_hide_small_cells_and_their_complements() -> None:
    from lab.models import SampleSetPublic

    def sample(total: int, pos: int) -> SampleSetPublic:
        return SampleSetPublic(
            id=1,
            name="s",
            label_column="y",
            n_total=total,
            n_positive=pos,
            owner_org_id=1,
            dataset_id=1,
            created_by=1,
            observation_start=date(2024, 1, 1),
            observation_end=date(2024, 6, 30),
        )

    ok = sample_stats(sample(500, 40), 10)
    assert (ok.n_total, ok.n_positive, ok.n_negative) == (500, 40, 460)
    assert ok.positive_rate == pytest.approx(0.08)
    few_pos = sample_stats(sample(500, 9), 10)
    assert (few_pos.n_total, few_pos.n_positive, few_pos.positive_rate) == (500, None, None)
    few_neg = sample_stats(sample(500, 495), 10)  # 5 negatives = total - positives
    assert few_neg.n_positive is None and few_neg.n_negative is None
    tiny = sample_stats(sample(8, 0), 10)
    assert tiny.n_total is None and tiny.positive_rate is None


def test_consent_state() -> None:
    ind = IndicatorPublic(
        id=1,
        code="taxes_paid_12m",
        name="t",
        column="taxes_paid_12m",
        owner_org_id=7,
        owner_code="tax",
    )

    def grant(
        days: int,
        revoked: bool = False,
        codes: tuple[str, ...] = ("taxes_paid_12m",),
        bank: int = 2,
    ) -> ConsentGrantPublic:
        return ConsentGrantPublic(
            id=days,
            indicator_codes=list(codes),
            purpose="p",
            expires_at=NOW + timedelta(days=days),
            agency_org_id=7,
            bank_org_id=bank,
            granted_by=1,
            granted_at=NOW,
            revoked_at=NOW if revoked else None,
        )

    assert consent_state(ind, 7, [], NOW) == ("own", None)
    assert consent_state(ind, 2, [], NOW) == ("missing", None)
    assert consent_state(ind, 2, [grant(10, codes=("other",))], NOW)[0] == "missing"
    assert consent_state(ind, 2, [grant(10, bank=3)], NOW)[0] == "missing"
    assert consent_state(ind, 2, [grant(-1)], NOW)[0] == "expired"
    assert consent_state(ind, 2, [grant(30, revoked=True)], NOW)[0] == "revoked"
    assert consent_state(ind, 2, [grant(-1), grant(30)], NOW) == (
        "granted",
        NOW + timedelta(days=30),
    )


def test_scorecard_points_only_for_own_columns() -> None:
    mv = model(
        metrics={
            "points_base": 600,
            "points.acct_balance.low": 12,
            "points.acct_balance.high": -3,
            "points.taxes_paid_12m.low": 20,
            "auc": 0.8,
        }
    )
    rows = scorecard_points(mv, ["acct_balance"])
    assert rows == [
        {"column": "(base)", "bin": "", "points": 600},
        {"column": "acct_balance", "bin": "low", "points": 12},
        {"column": "acct_balance", "bin": "high", "points": -3},
    ]
    assert scorecard_points(mv, []) == []


def test_scorecard_points_with_dots_in_bin_labels_and_columns() -> None:
    """Bin labels hold edges ("[0.5, 1.5)"); a column name may hold a dot too."""
    mv = model(
        metrics={
            "points_base": 512.5,
            "points.pay.amt.[-inf, 0.5)": 4.25,
            "points.pay.[0.5, inf)": -1.5,
            "points.pay.amt.[0.5, inf)": -2.0,
        }
    )
    rows = scorecard_points(mv, ["pay.amt"])
    assert rows == [
        {"column": "(base)", "bin": "", "points": 512.5},
        {"column": "pay.amt", "bin": "[-inf, 0.5)", "points": 4.25},
        {"column": "pay.amt", "bin": "[0.5, inf)", "points": -2.0},
    ]
    assert [r["bin"] for r in scorecard_points(mv, ["pay", "pay.amt"])[1:]] == [
        "[-inf, 0.5)",
        "[0.5, inf)",
        "[0.5, inf)",
    ]


def test_auc_and_ks_over_fewer_than_k_enterprises_are_suppressed() -> None:
    y, s = scores(n=40)
    fpr, tpr, _ = roc_curve(y, s)
    metrics = {
        "auc": roc_auc_score(y, s),
        "ks": float(np.max(tpr - fpr)),
        "n_valid": 8,
        "n_train": 32,
        "n_aligned": 40,
    }
    small = headline_metrics(model(metrics=metrics), k=10)
    assert small == {"auc": None, "ks": None, "n_aligned": 40, "n_train": 32, "n_valid": None}
    shown = headline_metrics(model(metrics=metrics), k=8)
    assert shown["auc"] == round(roc_auc_score(y, s), 4) and shown["n_valid"] == 8
    assert shown["ks"] == round(float(np.max(tpr - fpr)), 4)


def test_loss_basis_is_the_smallest_count_the_run_reported() -> None:
    epochs = [{"event": "epoch", "epoch": i, "loss": 0.7 - 0.1 * i} for i in range(3)]
    assert loss_basis(epochs) is None  # losses alone say nothing about their basis
    assert loss_basis(epochs, {"n_valid": 240, "n_train": 960}) == 240
    assert loss_basis(epochs, {"n_valid": 0, "n_train": 35}) == 35  # no validation split
    # FedAvg: the loss of a round covers only the banks sampled in it
    assert (
        loss_basis(
            epochs, {"n_valid": 60, "n_train": 240, "bank_n_valid": {"bank_a": 52, "bank_b": 8}}
        )
        == 8
    )
    # a recorded entry carrying counts (a driver's setup event) counts during the run
    setup = {"event": "lr.setup", "n_aligned": 300, "n_train": 240, "n_valid": 60}
    assert loss_basis([setup, *epochs]) == 60
    assert loss_basis([{"n_valid": True, "loss": 0.5}]) is None  # a flag is not a count


@pytest.mark.parametrize(
    ("metrics", "k", "shown"),
    [
        (None, 1, False),  # basis unknown: nothing shown, whatever k
        ({"n_valid": 240, "n_train": 960}, 240, True),
        ({"n_valid": 240, "n_train": 960}, 241, False),
        ({"n_valid": 9, "n_train": 40}, 10, False),
    ],
)
def test_loss_curve_is_shown_only_over_k_enterprises(
    metrics: dict | None, k: int, shown: bool
) -> None:
    progress = [
        {"event": "phase", "phase": "train"},
        {"event": "epoch", "epoch": 1, "loss": 0.69},
        {"event": "epoch", "epoch": 2},  # a non-finite loss is stored as nothing
        {"event": "tree", "tree": 0, "loss": 0.61},
    ]
    curve = loss_curve(progress, metrics, k)
    assert curve.n_epochs == 2
    assert curve.losses == ((0.69, 0.61) if shown else None)
