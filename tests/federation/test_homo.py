"""Horizontal FedAvg (federation.homo) on LocalTransport, against a centralized torch model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features import metrics
from features.encoding import Standardizer
from federation.config import parse_config
from federation.default_rule import parse_rule
from federation.homo import (
    MODEL_FILE,
    WEIGHT_UNIT,
    bank_data,
    bank_seed,
    drive,
    holdout_split,
    model_spec,
    parse_params,
    set_train_hook,
    train_config,
)
from federation.homo.secaggplus import SecAggPlusParams
from federation.homo.split import (
    TAIWAN_CATEGORICAL,
    TAIWAN_ID,
    TAIWAN_LABEL,
    iid_split,
    load_taiwan,
    split_by,
    write_bank_files,
)
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.roles import PartyRole
from lab.errors import ConfigError


def _config(
    paths: dict[str, Path], *, algorithm: str = "homo_lr", backend: str = "ckks", **params: Any
) -> Any:
    raw = {
        "experiment": {
            "name": "homo-test",
            "algorithm": algorithm,
            "backend": backend,
            "id_column": TAIWAN_ID,
            "runtime": "local",
            "seed": 3,
        },
        "params": params,
        "parties": [
            {"name": n, "role": "guest", "data": str(p), "label": TAIWAN_LABEL}
            for n, p in paths.items()
        ],
    }
    return parse_config(raw)


def _transport(paths: dict[str, Path], work: Path, **kw: Any) -> LocalTransport:
    return LocalTransport(
        [PartyContext(n, PartyRole.GUEST, p, work / n) for n, p in paths.items()], **kw
    )


def _central_auc(frames: list[pd.DataFrame], config: Any) -> float:
    """The same torch model, trained on the pooled training rows with the same epoch budget."""
    from federation.homo.models import predict_proba, train_central

    params = parse_params(config.params)
    seed = config.experiment.seed
    xs, cs, ys, vx, vc, vy = [], [], [], [], [], []
    for name, df in zip(sorted(p.name for p in config.parties), frames, strict=False):
        d = bank_data(
            df,
            id_column=TAIWAN_ID,
            label=TAIWAN_LABEL,
            features=None,
            categorical=params.categorical,
            buckets=params.buckets,
        )
        tr, va = holdout_split(d.y, params.valid_fraction, bank_seed(seed, name, 0))
        xs.append(d.xnum[tr])
        cs.append(d.xcat[tr])
        ys.append(d.y[tr])  # noqa: E702
        vx.append(d.xnum[va])
        vc.append(d.xcat[va])
        vy.append(d.y[va])  # noqa: E702
    X, Xv = np.vstack(xs), np.vstack(vx)
    std = Standardizer().fit(X)
    kind = "lr" if config.experiment.algorithm == "homo_lr" else "mlp"
    spec = model_spec(kind, X.shape[1], np.vstack(cs).shape[1], params)
    cfg = train_config(params, epochs=params.rounds * params.local_epochs)
    model = train_central(spec, std.transform(X), np.vstack(cs), np.concatenate(ys), cfg, seed=seed)
    return float(
        roc_auc_score(np.concatenate(vy), predict_proba(model, std.transform(Xv), np.vstack(vc)))
    )


@pytest.fixture(scope="module")
def taiwan(shared_data: Path) -> pd.DataFrame:
    return load_taiwan(shared_data)


@pytest.mark.slow
def test_iid_ckks_fedavg_matches_central_and_reports_non_iid(
    taiwan: pd.DataFrame, tmp_path: Path
) -> None:
    params = {
        "rounds": 8,
        "local_epochs": 1,
        "batch_size": 512,
        "learning_rate": 0.1,
        "momentum": 0.9,
    }
    parts = iid_split(len(taiwan), 4, seed=1)
    paths = write_bank_files(taiwan, parts, tmp_path / "iid")
    cfg = _config(paths, backend="ckks", **params)
    res = drive(_transport(paths, tmp_path / "w_iid"), cfg)
    central = _central_auc([taiwan.iloc[p] for p in parts], cfg)
    m = res.metrics
    assert m["backend"] == "ckks" and m["rounds_run"] == 8 and m["n_banks"] == 4
    assert m["n_train"] + m["n_valid"] == len(taiwan)
    assert abs(m["auc"] - central) <= 0.005, (m["auc"], central)
    # the losses the banks decrypted decrease round by round
    assert m["loss"][-1] < m["loss"][0] and None not in m["loss"], m["loss"]
    # every bank saved the same global model
    models = [
        json.loads((tmp_path / "w_iid" / b / MODEL_FILE).read_text())["params"] for b in paths
    ]
    assert all(np.allclose(models[0], x, atol=1e-6) for x in models[1:])

    # non-IID: banks by credit limit (LIMIT_BAL quantile bands), reported next to IID
    nparts = split_by(taiwan, "LIMIT_BAL", 4, seed=1)
    npaths = write_bank_files(taiwan, nparts, tmp_path / "noniid")
    ncfg = _config(npaths, backend="plaintext", **params)
    nm = drive(_transport(npaths, tmp_path / "w_non"), ncfg).metrics
    ncentral = _central_auc([taiwan.iloc[p] for p in nparts], ncfg)
    print(
        f"\nhomo_lr IID (ckks): federated AUC {m['auc']:.4f} vs central {central:.4f}; "
        f"non-IID by LIMIT_BAL (plaintext): federated {nm['auc']:.4f} vs central "
        f"{ncentral:.4f}; per bank {nm['bank_auc']}"
    )
    assert nm["auc"] > 0.65


@pytest.mark.slow
def test_homo_nn_with_embeddings_learns(taiwan: pd.DataFrame, tmp_path: Path) -> None:
    df = taiwan.iloc[:12000]
    parts = iid_split(len(df), 3, seed=2)
    paths = write_bank_files(df, parts, tmp_path / "d")
    cfg = _config(
        paths,
        algorithm="homo_nn",
        backend="masked",
        rounds=4,
        local_epochs=1,
        optimizer="adam",
        learning_rate=0.01,
        categorical=list(TAIWAN_CATEGORICAL),
        hidden=[16],
    )
    m = drive(_transport(paths, tmp_path / "w"), cfg).metrics
    central = _central_auc([df.iloc[p] for p in parts], cfg)
    print(f"\nhomo_nn (masked, embeddings): federated AUC {m['auc']:.4f} vs central {central:.4f}")
    assert m["auc"] > 0.72 and abs(m["auc"] - central) < 0.02


@pytest.fixture
def small(taiwan: pd.DataFrame, tmp_path: Path) -> dict[str, Path]:
    df = taiwan.iloc[:4000]
    return write_bank_files(df, iid_split(len(df), 4, seed=5), tmp_path / "small")


@pytest.mark.parametrize("backend", ["plaintext", "masked", "ckks", "secaggplus"])
def test_dropout_round_completes_with_survivors(
    backend: str, small: dict[str, Path], tmp_path: Path
) -> None:
    seen: dict[tuple[str, int], np.ndarray] = {}
    set_train_hook(lambda bank, rnd, vec: seen.__setitem__((bank, rnd), vec.copy()))
    tr = _transport(small, tmp_path / f"w_{backend}")
    events: list[tuple[str, dict[str, Any]]] = []

    def progress(event: str, fields: dict[str, Any]) -> None:
        events.append((event, fields))
        if event == "round":
            tr.unavailable = {"bank_c"} if fields["round"] == 1 else set()
        if event == "phase" and fields["phase"] == "evaluate":
            tr.unavailable = set()

    try:
        res = drive(tr, _config(small, backend=backend, rounds=2), progress=progress)
    finally:
        set_train_hook(None)
    m = res.metrics
    assert m["per_round"][1]["dropped"] == ["bank_c"] and m["per_round"][0]["dropped"] == []
    assert ("bank_c", 1) not in seen and ("bank_d", 1) in seen
    # the final global model is the survivors' sample-weighted mean of round 1
    survivors = [seen[(b, 1)] for b in ("bank_a", "bank_b", "bank_d")]
    n_par = m["n_params"]
    total = np.sum(survivors, axis=0)
    expected = total[:n_par] / total[n_par]
    atol = 1e-6
    if backend == "secaggplus":  # Flower's quantization: its bound, weight slot included
        bound = SecAggPlusParams().error_bound([v[n_par] * WEIGHT_UNIT for v in survivors])
        atol = bound * (1 + np.abs(expected).max()) / (1 - bound)
    for b in small:
        got = np.asarray(
            json.loads((tmp_path / f"w_{backend}" / b / MODEL_FILE).read_text())["params"]
        )
        np.testing.assert_allclose(got, expected, rtol=0, atol=atol)
    assert total[n_par] == pytest.approx(
        sum(m["bank_n_valid"][b] * 4 for b in ("bank_a", "bank_b", "bank_d")) / WEIGHT_UNIT,
        rel=0.01,
    )  # the weight slot sums the survivors' training rows only
    assert any(e == "dropout" for e, _ in events)


def test_checkpoint_resume_continues_from_last_round(
    small: dict[str, Path], tmp_path: Path
) -> None:
    base = _config(small, backend="plaintext", rounds=3)
    straight = drive(_transport(small, tmp_path / "w_straight"), base)

    ck = tmp_path / "ck"
    cfg = _config(small, backend="plaintext", rounds=3, checkpoint_dir=str(ck))

    class Crash(RuntimeError):
        pass

    def crash(event: str, fields: dict[str, Any]) -> None:
        if event == "round" and fields["round"] == 2:
            raise Crash("coordinator died")

    with pytest.raises(Crash):
        drive(_transport(small, tmp_path / "w_resume"), cfg, progress=crash)
    assert json.loads((ck / "homo_checkpoint.json").read_text())["round"] == 1
    resumed_cfg = _config(small, backend="plaintext", rounds=3, checkpoint_dir=str(ck), resume=True)
    res = drive(_transport(small, tmp_path / "w_resume"), resumed_cfg)
    assert res.metrics["resumed_from_round"] == 1 and res.metrics["rounds_run"] == 1
    a = json.loads((tmp_path / "w_straight" / "bank_a" / MODEL_FILE).read_text())["params"]
    b = json.loads((tmp_path / "w_resume" / "bank_a" / MODEL_FILE).read_text())["params"]
    np.testing.assert_allclose(a, b, atol=1e-12)
    assert res.metrics["auc"] == pytest.approx(straight.metrics["auc"], abs=1e-12)


def test_client_sampling_uses_fraction(small: dict[str, Path], tmp_path: Path) -> None:
    m = drive(
        _transport(small, tmp_path / "w"),
        _config(small, backend="plaintext", rounds=3, fraction=0.5),
    ).metrics
    sampled = [r["sampled"] for r in m["per_round"]]
    assert all(len(s) == 2 for s in sampled) and len({tuple(s) for s in sampled}) > 1


def test_fedprox_keeps_local_models_near_the_global_one(
    small: dict[str, Path], tmp_path: Path
) -> None:
    from federation.homo.models import build_model, flat_params

    moved = {}
    for mu in (0.0, 10.0):
        w = tmp_path / f"w{mu}"
        drive(_transport(small, w), _config(small, backend="plaintext", rounds=1, mu=mu))
        moved[mu] = np.asarray(json.loads((w / "bank_a" / MODEL_FILE).read_text())["params"])
    spec = model_spec("lr", moved[0.0].size - 1, 0, parse_params({}))
    init = flat_params(build_model(spec, seed=3))
    d0, d10 = (np.linalg.norm(moved[m] - init) for m in (0.0, 10.0))
    assert 0 < d10 < 0.5 * d0


def test_histogram_auc_and_rank_auc_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000).astype(np.float64)
    p = 1 / (1 + np.exp(-(rng.normal(size=5000) + 0.8 * y)))
    ref = roc_auc_score(y, p)
    assert metrics.auc(y, p) == pytest.approx(ref, abs=1e-12)
    assert metrics.auc(y, np.round(p, 1)) == pytest.approx(
        roc_auc_score(y, np.round(p, 1)), abs=1e-12
    )
    auc, ks = metrics.auc_ks_from_histogram(metrics.logit_histogram(y, p, 2400))
    assert auc == pytest.approx(ref, abs=5e-4)
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    assert ks == pytest.approx(np.max(tpr - fpr), abs=5e-3)


def test_splits_partition_rows() -> None:
    df = pd.DataFrame(
        {
            "limit": np.arange(1000) % 97 * 1000.0,
            "region": np.array(list("aabbbcdddd"))[np.arange(1000) % 10],
        }
    )
    for parts in (
        iid_split(1000, 4, seed=0),
        split_by(df, "limit", 4),
        split_by(df, "region", 3),
        split_by(df, "limit", 4, mix=0.3),
    ):
        allrows = np.sort(np.concatenate(parts))
        assert np.array_equal(allrows, np.arange(1000))
    bands = split_by(df, "limit", 4)
    assert all(
        df["limit"].iloc[a].max() <= df["limit"].iloc[b].min()
        for a, b in zip(bands, bands[1:], strict=False)
    )
    regions = split_by(df, "region", 3)
    assert all(df["region"].iloc[p].nunique() >= 1 for p in regions)
    assert {frozenset(df["region"].iloc[p]) for p in regions} == {
        frozenset("d"),
        frozenset("b"),
        frozenset("ac"),
    }
    with pytest.raises(ConfigError):
        split_by(df, "region", 5)


def test_backend_must_be_a_homo_backend(small: dict[str, Path], tmp_path: Path) -> None:
    cfg = _config(small, backend="plaintext")
    cfg.experiment.backend = "paillier"
    with pytest.raises(ConfigError, match="ckks"):
        drive(_transport(small, tmp_path / "w"), cfg)
    assert WEIGHT_UNIT > 0


def test_each_banks_sample_decides_the_rows_it_trains_on(
    small: dict[str, Path], tmp_path: Path
) -> None:
    """A bank that names a sample ID list trains and validates on exactly those of its rows
    (pandas count at the bank); a bank without one uses its whole table."""
    frames = {n: pd.read_csv(p) for n, p in small.items()}
    names = sorted(small)
    listed = {names[0]: 300, names[1]: 450}
    cfg = _config(small, backend="plaintext", rounds=1)
    for party in cfg.parties:
        if party.name in listed:
            ids = frames[party.name][TAIWAN_ID].iloc[: listed[party.name]]
            path = tmp_path / f"{party.name}_sample.csv"
            ids.to_frame(TAIWAN_ID).to_csv(path, index=False)
            party.sample_ids = path
    m = drive(_transport(small, tmp_path / "w"), cfg).metrics
    expected = sum(listed.get(n, len(frames[n])) for n in names)
    assert m["n_train"] + m["n_valid"] == expected
    assert expected < sum(len(f) for f in frames.values())


def test_each_banks_default_rule_decides_its_labels(
    small: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bank whose sample counts days past due >= 60 as default trains on that label, made
    at the bank (pandas on its own table); the others keep their 0/1 label column."""
    import federation.homo.data as homo_data

    rng = np.random.default_rng(9)
    first = sorted(small)[0]
    paths = dict(small)
    df = pd.read_csv(small[first]).drop(columns=[TAIWAN_LABEL])  # its own label: days past due
    paths[first] = tmp_path / f"{first}.csv"
    df.assign(dpd_max=rng.choice([0, 10, 59, 60, 95], len(df))).to_csv(paths[first], index=False)
    cfg = _config(paths, backend="plaintext", rounds=1)
    for party in cfg.parties:
        if party.name == first:
            party.label = "dpd_max"
            party.default_rule = parse_rule("dpd>=60")
    seen: list[tuple[int, float]] = []  # (rows, positives) per bank, as each bank trains
    real = homo_data.bank_data

    def spy(df: pd.DataFrame, **kw: Any) -> Any:
        d = real(df, **kw)
        seen.append((len(df), float(d.y.sum())))
        return d

    monkeypatch.setattr(homo_data, "bank_data", spy, raising=True)
    drive(_transport(paths, tmp_path / "w"), cfg)
    want = []
    for name, path in paths.items():
        df = pd.read_csv(path)
        y = df["dpd_max"] >= 60 if name == first else df[TAIWAN_LABEL]
        want.append((len(df), float(y.sum())))
    assert sorted(seen) == sorted(want)


def test_out_of_time_validation_is_refused_for_a_horizontal_bank(
    small: dict[str, Path],
) -> None:
    raw = _config(small, backend="plaintext").model_dump(mode="json", exclude_none=True)
    raw["parties"][0]["validation_from"] = "2024-01-01"
    with pytest.raises(ConfigError, match="random hold-out"):
        parse_config(raw)
