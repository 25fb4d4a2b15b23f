"""Joint scoring against a centralized scikit-learn model split into party pieces."""

from __future__ import annotations

import json
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
    cols = [
        c
        for c in df.columns
        if c not in ("uscc", "default_12m")
        and pd.api.types.is_numeric_dtype(df[c])
        and df[c].notna().all()
        and df[c].nunique() > 2
    ]
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
        w = lr.coef_[0, start : start + d]
        start += d
        save_piece(
            model_dir / "parties" / p,
            ModelPiece(
                party=p,
                role="guest" if p == "bank" else "host",
                backend="plaintext",
                feature_names=feats[p],
                mean=stats[p][0].tolist(),
                scale=stats[p][1].tolist(),
                weights=w.tolist(),
                intercept=float(lr.intercept_[0]) if p == "bank" else None,
            ),
        )
    # the enterprises to score: 150 of the bank's rows, without the label
    new = raw["bank"].iloc[:150].drop(columns=["default_12m"])
    new.to_csv(data / "bank_new.csv", index=False)
    return {
        "data": data,
        "raw": raw,
        "feats": feats,
        "stats": stats,
        "lr": lr,
        "model_dir": model_dir,
        "new": new,
    }


def _setup(t: dict[str, object], work: Path) -> tuple[object, LocalTransport]:
    data: Path = t["data"]  # type: ignore[assignment]
    feats: dict[str, list[str]] = t["feats"]  # type: ignore[assignment]
    parties = [
        {
            "name": "bank",
            "role": "guest",
            "label": "default_12m",
            "data": str(data / "bank_new.csv"),
        }
    ]
    parties += [{"name": p, "role": "host", "data": str(data / f"{p}.csv")} for p in PARTIES[1:]]
    cfg = parse_config(
        {
            "experiment": {
                "name": "score",
                "id_column": "uscc",
                "runtime": "local",
                "features": feats,
            },
            "parties": parties,
        }
    )
    ctxs = [
        PartyContext(name=p.name, role=p.role, data_path=p.data, work_dir=work / p.name)
        for p in cfg.parties
    ]
    return cfg, LocalTransport(ctxs, keep_payloads=True)


def test_joint_scores_equal_the_centralized_model(
    trained: dict[str, object], tmp_path: Path
) -> None:
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
    host_sum = np.hstack(blocks[1:]) @ lr.coef_[0, len(feats["bank"]) :]
    for m in transport.log.messages:
        for v in m.payload.values():
            if isinstance(v, np.ndarray) and v.dtype == np.uint64:
                decoded = v.view(np.int64) / 2.0**32
                assert np.abs(decoded - host_sum).min() > 1.0  # masked: nowhere near


def test_missing_model_piece_is_a_clear_error(trained: dict[str, object], tmp_path: Path) -> None:
    cfg, transport = _setup(trained, tmp_path)
    with pytest.raises(ProtocolError, match=r"'tax'.*no model piece '[^']*model\.json'"):
        score(transport, cfg, tmp_path / "no-such-run")  # type: ignore[arg-type]


@pytest.mark.parametrize("case", ["no_file", "secureboost_host", "scorecard_guest"])
def test_wrong_or_missing_piece_names_party_and_file(
    trained: dict[str, object], tmp_path: Path, case: str
) -> None:
    # Prepare: a copy of the training DIR with one piece removed or from another algorithm
    import shutil

    from lab.errors import ConfigError

    run = tmp_path / "run"
    shutil.copytree(trained["model_dir"], run)  # type: ignore[arg-type]
    if case == "no_file":
        (run / "parties" / "tax" / "model.json").unlink()
        match = r"party 'tax': no model piece 'tax/model\.json'"
    elif case == "secureboost_host":
        (run / "parties" / "courts" / "model.json").write_text(
            json.dumps({"algorithm": "secureboost", "party": "courts"}), encoding="utf-8"
        )
        match = r"party 'courts'.*'courts/model\.json' was written by 'secureboost'.*'hetero_lr'"
    else:
        (run / "parties" / "bank" / "scorecard.json").write_text(
            json.dumps({"algorithm": "scorecard", "features": []}), encoding="utf-8"
        )
        match = (
            r"party 'tax': no model piece 'tax/scorecard\.json'.*'scorecard'.*"
            r"'tax/model\.json', written by 'hetero_lr'"
        )
    cfg, transport = _setup(trained, tmp_path / "work")
    # Execute / Assert: refused before any message
    with pytest.raises(ConfigError, match=match):
        score(transport, cfg, run)  # type: ignore[arg-type]
    assert transport.log.exchanges == 0


# ---------------------------------------------------------------------------------------
# SecureBoost models: `score` dispatches on the piece's algorithm (joint tree walk)
# ---------------------------------------------------------------------------------------

SB_PARAMS = (
    "[params]\nn_trees = 3\nmax_depth = 3\nmax_bins = 16\nkey_bits = 1024\n"
    "validation_fraction = 0.0\nworkers = 1\n"
)


def _sb_toml(data: Path, feats: dict[str, list[str]], guest_file: str) -> str:
    lines = [
        "[experiment]",
        'name = "sb-score"',
        'algorithm = "secureboost"',
        'backend = "plaintext"',
        'id_column = "uscc"',
        'runtime = "local"',
        "seed = 2",
        "[experiment.features]",
    ]
    lines += [f"{p} = {json.dumps(feats[p])}" for p in PARTIES]
    text = "\n".join(lines) + "\n" + SB_PARAMS
    for p in PARTIES:
        text += (
            f'[[parties]]\nname = "{p}"\nrole = "{"guest" if p == "bank" else "host"}"\n'
            f'data = "{(data / (guest_file if p == "bank" else f"{p}.csv")).as_posix()}"\n'
        )
        if p == "bank":
            text += 'label = "default_12m"\n'
    return text


@pytest.fixture(scope="module")
def sb_trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A SecureBoost model trained with `fedlab train`'s local runtime (real alignment)."""
    from federation.run import run_experiment

    data = tmp_path_factory.mktemp("sb-data")
    synth.write(data, synth.generate(1500, seed=11))
    raw = {p: pd.read_csv(data / f"{p}.csv", dtype={"uscc": str}) for p in PARTIES}
    feats = {p: _numeric_complete(raw[p], 4) for p in PARTIES}
    # the enterprises to score: 200 of the bank's rows, without the label
    new = raw["bank"].iloc[:200].drop(columns=["default_12m"])
    new.to_csv(data / "bank_new.csv", index=False)
    train_cfg = data / "train.toml"
    train_cfg.write_text(_sb_toml(data, feats, "bank.csv"), encoding="utf-8")
    score_cfg = data / "score.toml"
    score_cfg.write_text(_sb_toml(data, feats, "bank_new.csv"), encoding="utf-8")
    run = tmp_path_factory.mktemp("sb-run") / "run"
    run_experiment(train_cfg, run)
    return {
        "data": data,
        "raw": raw,
        "feats": feats,
        "new": new,
        "run": run,
        "score_cfg": score_cfg,
        "metrics": json.loads((run / "metrics.json").read_text()),
    }


def _tree_walk_reference(t: dict[str, object], ids: list[str]) -> np.ndarray:
    """The trained model evaluated in the clear, pooled: each party's own bins of the rows,
    the guest's trees, each host's private (feature, bin) per split id."""
    from features.binning import QuantileBinner
    from federation.secureboost import load_piece

    raw: dict[str, pd.DataFrame] = t["raw"]  # type: ignore[assignment]
    run: Path = t["run"]  # type: ignore[assignment]
    pieces = {p: load_piece(run / "parties" / p) for p in PARTIES}
    bins = {}
    for p in PARTIES:
        X = raw[p].set_index("uscc").loc[ids, pieces[p]["feature_names"]].to_numpy(dtype=float)
        bins[p] = QuantileBinner.from_dict(pieces[p]["binner"]).transform(X)
    margin = np.zeros(len(ids))
    for tree in pieces["bank"]["trees"]:
        for r in range(len(ids)):
            k = 0
            while "leaf" not in tree[str(k)]:
                node = tree[str(k)]
                owner = node["party"]
                if owner == "bank":
                    f, b = node["feature"], node["bin"]
                else:
                    f, b = pieces[owner]["splits"][str(node["split_id"])]
                k = 2 * k + 1 if bins[owner][r, f] <= b else 2 * k + 2
            margin[r] += tree[str(k)]["leaf"]
    return 1.0 / (1.0 + np.exp(-margin))


def _sb_expected_ids(t: dict[str, object]) -> list[str]:
    raw: dict[str, pd.DataFrame] = t["raw"]  # type: ignore[assignment]
    new: pd.DataFrame = t["new"]  # type: ignore[assignment]
    return sorted(set(new["uscc"]) & set(raw["tax"]["uscc"]) & set(raw["courts"]["uscc"]))


def test_reference_walk_reproduces_the_trained_models_auc(sb_trained: dict[str, object]) -> None:
    """The test's plain tree walk is the trained model: on the training rows it gives the
    AUC the training run reported (no validation split: the AUC is over all those rows)."""
    from sklearn.metrics import roc_auc_score

    raw: dict[str, pd.DataFrame] = sb_trained["raw"]  # type: ignore[assignment]
    ids = sorted(set.intersection(*(set(raw[p]["uscc"]) for p in PARTIES)))
    y = raw["bank"].set_index("uscc").loc[ids, "default_12m"].to_numpy()
    prob = _tree_walk_reference(sb_trained, ids)
    metrics: dict[str, object] = sb_trained["metrics"]  # type: ignore[assignment]
    assert metrics["n_aligned"] == len(ids)
    assert roc_auc_score(y, prob) == pytest.approx(metrics["auc"], abs=1e-12)


def test_secureboost_joint_scores_equal_the_trained_model(
    sb_trained: dict[str, object], tmp_path: Path
) -> None:
    # Prepare
    from federation.config import load_config
    from federation.runtime.local import local_transport
    from federation.scoring import model_algorithm

    cfg = load_config(sb_trained["score_cfg"])  # type: ignore[arg-type]
    transport = local_transport(cfg, tmp_path, keep_payloads=True)
    run: Path = sb_trained["run"]  # type: ignore[assignment]
    # Execute
    res = score(transport, cfg, run)
    # Assert: the aligned rows, and the model's probabilities for each of them
    ids = _sb_expected_ids(sb_trained)
    assert model_algorithm(cfg, run) == "secureboost"
    assert res.n_requested == 200 and res.n_scored == len(ids) > 50
    got = read_scores(tmp_path / "parties" / "bank")
    assert got["uscc"].tolist() == ids
    np.testing.assert_allclose(
        got["probability"], _tree_walk_reference(sb_trained, ids), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(got["probability"], 1.0 / (1.0 + np.exp(-got["score"])))
    # the walk crossed parties: some nodes belong to hosts, which answered bits only
    actions = {m.action for m in transport.log.messages}
    assert "sb.predict_answer" in actions
    raw: dict[str, pd.DataFrame] = sb_trained["raw"]  # type: ignore[assignment]
    new: pd.DataFrame = sb_trained["new"]  # type: ignore[assignment]
    assert_no_leak(transport.log, {"bank": new, "tax": raw["tax"], "courts": raw["courts"]}, ids)
    for m in transport.log.messages:  # no probability or margin vector reaches the coordinator
        for v in m.payload.values():
            if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                assert v.size < len(ids)


def test_fedlab_score_cli_scores_a_secureboost_model(
    sb_trained: dict[str, object], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from lab.cli import app

    out = tmp_path / "scored"
    result = CliRunner().invoke(
        app,
        [
            "score",
            "--config",
            str(sb_trained["score_cfg"]),
            "--model",
            str(sb_trained["run"]),
            "--out",
            str(out),
            "--runtime",
            "local",
        ],
    )
    assert result.exit_code == 0, result.output
    ids = _sb_expected_ids(sb_trained)
    got = read_scores(out / "parties" / "bank")
    assert got["uscc"].tolist() == ids
    np.testing.assert_allclose(
        got["probability"], _tree_walk_reference(sb_trained, ids), rtol=0, atol=1e-12
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["algorithm"] == "secureboost" and metrics["n_scored"] == len(ids)
    disclosure = json.loads((out / "disclosure.json").read_text())
    assert (
        "sb.predict_answer" in disclosure["parties"]["tax"]["sent"]
        or "sb.predict_answer" in disclosure["parties"]["courts"]["sent"]
    )
    assert f"scored {len(ids)} of 200" in result.output


def test_fedlab_score_refuses_other_runtimes(sb_trained: dict[str, object], tmp_path: Path) -> None:
    from federation.scoring import score_command
    from lab.errors import ConfigError

    cfg: Path = sb_trained["score_cfg"]  # type: ignore[assignment]
    run: Path = sb_trained["run"]  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="local runtime"):
        score_command(config=cfg, model=run, out=tmp_path / "x", runtime="simulation", echo=None)
    assert not (tmp_path / "x").exists()


def test_fedlab_score_finds_pieces_where_a_deployment_run_says(
    sb_trained: dict[str, object], tmp_path: Path
) -> None:
    """A deployment run's DIR holds, per party, location.json naming the run's folder in the
    SuperNode's work dir; scoring reads the pieces there (a local federation: absolute
    paths), and refuses a DIR whose pieces are on the parties' own machines."""
    import shutil

    from federation.outputs import write_location
    from federation.scoring import score_command
    from lab.errors import ConfigError

    run: Path = sb_trained["run"]  # type: ignore[assignment]
    cfg: Path = sb_trained["score_cfg"]  # type: ignore[assignment]
    deployed, remote = tmp_path / "deployed", tmp_path / "remote"
    for p in PARTIES:  # each SuperNode's work dir holds the run's folder runs/42
        work = tmp_path / "nodes" / p
        shutil.copytree(run / "parties" / p, work / "runs" / "42")
        write_location(deployed / "parties" / p, party=p, role="?", run_key="42", home=str(work))
        write_location(remote / "parties" / p, party=p, role="?", run_key="42")
    out = tmp_path / "scored"
    score_command(config=cfg, model=deployed, out=out, runtime="local", echo=None)
    ids = _sb_expected_ids(sb_trained)
    got = read_scores(out / "parties" / "bank")
    assert got["uscc"].tolist() == ids
    np.testing.assert_allclose(
        got["probability"], _tree_walk_reference(sb_trained, ids), rtol=0, atol=1e-12
    )
    with pytest.raises(
        ConfigError,
        match=r"party 'bank' keeps its model piece on its own "
        r"machine \(runs/42 in its SuperNode's work-dir\)",
    ):
        score_command(config=cfg, model=remote, out=tmp_path / "x", runtime="local", echo=None)
    assert not (tmp_path / "x").exists()
