"""Joint scoring of a trained hetero LR encodes new rows with the training encoding.

A hetero LR is trained (real alignment, plaintext backend) on a bank and two agencies whose
tables have missing cells, an ordinal grade, one-hot and frequency-coded text and dates.
Every party's piece keeps its fitted encoding (medians, categories, frequency shares), so
that scoring

* the training rows reproduces the guest's training-time validation scores, and
* one enterprise alone gives the same probability as inside a larger batch (recomputing
  medians or shares on the scored rows, as scoring once did, breaks both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from leakcheck import assert_no_leak
from test_woe_federated import World

from features import synth
from federation import hetero_lr
from federation.config import ExperimentConfig, parse_config
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.partydata import aligned_ids
from federation.scoring import read_scores, score

HOSTS = ("tax", "market_regulation")
#: cells set missing in about a tenth of the rows (numeric, ordinal and one-hot columns)
HOLES = {
    "bank": {"acct_avg_balance": 0.1},
    "tax": {"taxes_paid_12m": 0.1, "tax_credit_grade": 0.1},
    "market_regulation": {"industry": 0.1, "registered_capital": 0.1},
}


def frames_with_holes(
    n: int, seed: int, holes: dict[str, dict[str, float]], rng_seed: int
) -> dict[str, pd.DataFrame]:
    """Synthetic bank, tax and market-regulation tables; column ``c`` of party ``p`` is
    missing in about ``holes[p][c]`` of the rows."""
    tables = synth.generate(n, seed)
    frames = {p: tables[p].copy() for p in ("bank", *HOSTS)}
    rng = np.random.default_rng(rng_seed)
    for p, cols in holes.items():
        for c, share in cols.items():
            frames[p].loc[rng.random(len(frames[p])) < share, c] = None
    return frames


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    frames = frames_with_holes(1500, 7, HOLES, 0)
    world = World(
        frames, "bank", "default_12m", "uscc", tmp_path_factory.mktemp("lr-train"), id_kind="uscc"
    )
    cfg = world.config(algorithm="hetero_lr", backend="plaintext", epochs=5, learning_rate=0.5)
    metrics = hetero_lr.drive(world.transport, cfg).metrics
    guest = world.ctxs["bank"]
    st = hetero_lr.party_state(guest)
    ids = aligned_ids(guest)
    # the training-time linear scores of the validation rows, by enterprise
    valid_z = pd.Series(np.asarray(st.valid_z), index=ids[st.valid])
    return {"world": world, "metrics": metrics, "valid_z": valid_z, "ids": ids}


def _score(
    t: dict[str, Any], guest_rows: pd.DataFrame, work: Path
) -> tuple[pd.DataFrame, LocalTransport]:
    """Score ``guest_rows`` (the guest's file) against the hosts' training files with the
    pieces of the training run; returns the guest's scores and the transport."""
    world: World = t["world"]
    work.mkdir(parents=True, exist_ok=True)
    guest_rows.to_csv(work / "bank_new.csv", index=False)
    parties = [
        {
            "name": "bank",
            "role": "guest",
            "label": "default_12m",
            "data": str(work / "bank_new.csv"),
        }
    ]
    parties += [{"name": h, "role": "host", "data": str(world.ctxs[h].data_path)} for h in HOSTS]
    cfg: ExperimentConfig = parse_config(
        {"experiment": {"name": "s", "id_column": "uscc", "runtime": "local"}, "parties": parties}
    )
    ctxs = [
        PartyContext(name=p.name, role=p.role, data_path=p.data, work_dir=work / "parties" / p.name)
        for p in cfg.parties
    ]
    transport = LocalTransport(ctxs, keep_payloads=True)
    score(transport, cfg, world.tmp)
    return read_scores(work / "parties" / "bank").set_index("uscc"), transport


def test_pieces_keep_the_training_encoding(trained: dict[str, Any]) -> None:
    world: World = trained["world"]
    for name in ("bank", *HOSTS):
        piece = hetero_lr.load_piece(world.ctxs[name].work_dir)
        assert piece.encoder is not None
        codes = {c["column"]: c for c in piece.encoder["columns"]}
        for col in HOLES[name]:
            assert codes[col]["missing_flag"]
        # the stored median is the median over the aligned (training) rows, by hand
        aligned = world.aligned(name)
        if name == "bank":
            med = float(np.nanmedian(aligned["acct_avg_balance"].to_numpy(dtype=float)))
            assert codes["acct_avg_balance"]["fill"] == med
        if name == "market_regulation":
            assert codes["industry"]["categories"] == sorted(
                aligned["industry"].dropna().astype(str).unique()
            )
            shares = aligned["region"].astype(str).value_counts() / len(aligned)
            assert codes["region"]["encoding"] == "frequency"
            assert codes["region"]["shares"] == pytest.approx(shares.to_dict(), abs=0)


def test_scoring_the_training_rows_reproduces_training_predictions(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    world: World = trained["world"]
    got, transport = _score(trained, world.frames["bank"], tmp_path)
    assert sorted(got.index) == sorted(trained["ids"])
    valid_z: pd.Series = trained["valid_z"]
    z = got.loc[valid_z.index, "score"].to_numpy()
    # masks cancel exactly; one host sum is rounded to 2^-32 per host
    np.testing.assert_allclose(z, valid_z.to_numpy(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(got["probability"], 1 / (1 + np.exp(-got["score"])), atol=0)
    frames = {"bank": world.frames["bank"], **{h: world.frames[h] for h in HOSTS}}
    assert_no_leak(transport.log, frames, trained["ids"])


def test_one_row_scores_as_inside_a_batch(trained: dict[str, Any], tmp_path: Path) -> None:
    # Prepare: an enterprise whose own balance and tax grade are missing, scored alone and
    # among 200 others (without the label: new rows)
    world: World = trained["world"]
    valid_z: pd.Series = trained["valid_z"]
    bank = world.frames["bank"].drop(columns="default_12m")
    tax = world.frames["tax"].set_index("uscc")
    holes = [u for u in bank.loc[bank["acct_avg_balance"].isna(), "uscc"] if u in valid_z]
    both_holes = [u for u in holes if pd.isna(tax.loc[u, "tax_credit_grade"])]
    one = (both_holes or holes)[0]
    batch = pd.concat(
        [bank[bank["uscc"] == one], bank[bank["uscc"] != one].sample(200, random_state=1)]
    )
    # Execute
    alone, _ = _score(trained, bank[bank["uscc"] == one], tmp_path / "one")
    among, _ = _score(trained, batch, tmp_path / "batch")
    # Assert: the same probability, and the training run's own score when it was validated
    assert alone.index.tolist() == [one]
    assert alone.loc[one, "probability"] == pytest.approx(
        among.loc[one, "probability"], abs=1e-12, rel=0
    )
    assert alone.loc[one, "score"] == pytest.approx(valid_z.loc[one], abs=1e-8)
    both = [u for u in among.index if u in valid_z.index]
    assert len(both) > 10
    np.testing.assert_allclose(among.loc[both, "score"], valid_z.loc[both], rtol=0, atol=1e-8)


# ---------------------------------------------------------------------------------------
# SecureBoost pieces keep the training encoding too
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sb_trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from federation import secureboost

    frames = frames_with_holes(1500, 7, HOLES, 0)
    world = World(
        frames, "bank", "default_12m", "uscc", tmp_path_factory.mktemp("sb-train"), id_kind="uscc"
    )
    cfg = world.config(
        algorithm="secureboost",
        backend="plaintext",
        n_trees=4,
        max_depth=3,
        max_bins=16,
        validation_fraction=0.0,
        workers=1,
    )
    secureboost.drive(world.transport, cfg)
    return {"world": world}


def test_secureboost_scores_new_rows_with_the_training_encoding(
    sb_trained: dict[str, Any], tmp_path: Path
) -> None:
    """Enterprises whose balance is missing, scored alone, get the training median (not a
    median of the scored rows): the same probability as inside a batch of 200."""
    from features.encoding import TableEncoder
    from federation.secureboost import load_piece

    world: World = sb_trained["world"]
    piece = load_piece(world.ctxs["bank"].work_dir)
    enc = TableEncoder.from_dict(piece["encoder"])
    fill = next(c.fill for c in enc.codes if c.column == "acct_avg_balance")
    assert fill == float(
        np.nanmedian(world.aligned("bank")["acct_avg_balance"].to_numpy(dtype=float))
    )
    bank = world.frames["bank"].drop(columns="default_12m")
    holes = bank.loc[bank["acct_avg_balance"].isna(), "uscc"].tolist()[:3]
    batch = pd.concat(
        [
            bank[bank["uscc"].isin(holes)],
            bank[~bank["uscc"].isin(holes)].sample(200, random_state=2),
        ]
    )
    among, _ = _score(sb_trained, batch, tmp_path / "batch")
    for u in holes:
        alone, _ = _score(sb_trained, bank[bank["uscc"] == u], tmp_path / u)
        assert alone.loc[u, "probability"] == pytest.approx(
            among.loc[u, "probability"], abs=1e-12, rel=0
        )
