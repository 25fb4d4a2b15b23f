"""Joint scoring of new enterprises with a trained scorecard (``fedlab score``).

A scorecard is trained (real alignment, Paillier) on 70% of a bank's enterprises and two
agencies whose tables have missing cells. The other 30% are then scored, with agency tables
of a later date in which values lie beyond the training range, cells are missing and
categories are new. Each party bins its own rows with the binnings kept in its own
``scorecard.json``; the joint points must equal a centralized numpy computation over the
same bins and points tables, and the messages must leak no raw column, label, ID outside
the intersection or host bin edge.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from leakcheck import assert_no_leak
from test_scorecard_federated import _joint_scores
from test_scoring_encoding import HOSTS, frames_with_holes
from test_woe_federated import World

from federation import scorecard as FW
from federation import scorecard as SC
from federation.config import parse_config
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.partydata import aligned_ids
from federation.scoring import model_algorithm, read_scores, score

#: training tables: share of missing cells per column (8%: a missing bin of its own;
#: 2%: too few, merged into another bin)
TRAIN_HOLES = {
    "bank": {"acct_avg_balance": 0.08, "credit_line_total": 0.02},
    "tax": {"vat_invoice_amount_12m": 0.08, "tax_credit_grade": 0.08},
    "market_regulation": {"registered_capital": 0.02, "industry": 0.08},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    frames = frames_with_holes(2500, 5, TRAIN_HOLES, 3)
    rng = np.random.default_rng(4)
    bank = frames["bank"]
    held_out = rng.random(len(bank)) < 0.3
    world = World(
        {"bank": bank[~held_out], **{h: frames[h] for h in HOSTS}},
        "bank",
        "default_12m",
        "uscc",
        tmp_path_factory.mktemp("sc-train"),
        id_kind="uscc",
    )
    cfg = world.config(
        backend="paillier",
        key_bits=1024,
        min_bin_size=40,
        iv_min=0.0,
        scaling="fixed",  # the published default scale, checked by hand below
        lr={"epochs": 5, "learning_rate": 0.5, "key_bits": 1024},
    )
    metrics = SC.drive(world.transport, cfg).metrics
    return {
        "world": world,
        "metrics": metrics,
        "frames": frames,
        "held_out": bank[held_out].drop(columns="default_12m"),
        "train_ids": list(aligned_ids(world.ctxs["bank"])),
    }


def _plant(df: pd.DataFrame, ids: list[str], rng: np.random.Generator) -> dict[str, list]:
    """A later table: for every feature column, one enterprise of ``ids`` each gets a
    missing cell, a value above / below the training range (numbers, dates) or a category
    never seen. Returns what was planted (kind -> [(ID, column)])."""
    planted: dict[str, list] = {"missing": [], "high": [], "low": [], "unseen": []}
    for c in df.columns:
        if c == "uscc":
            continue
        picks = list(rng.choice(ids, size=3, replace=False))
        rows = [df.index[df["uscc"] == u][0] for u in picks]
        df.loc[rows[0], c] = None
        planted["missing"].append((picks[0], c))
        col = df[c]
        if pd.api.types.is_numeric_dtype(col):
            span = float(col.max() - col.min()) or 1.0
            df.loc[rows[1], c] = float(col.max()) + 10 * span
            df.loc[rows[2], c] = float(col.min()) - 10 * span
            planted["high"].append((picks[1], c))
            planted["low"].append((picks[2], c))
        elif col.dropna().astype(str).str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
            df.loc[rows[1], c] = "2199-01-01"
            df.loc[rows[2], c] = "1800-01-01"
            planted["high"].append((picks[1], c))
            planted["low"].append((picks[2], c))
        else:
            df.loc[rows[1], c] = "never-seen-value"
            planted["unseen"].append((picks[1], c))
    return planted


@pytest.fixture(scope="module")
def scored(trained: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The held-out enterprises plus 40 training ones, scored against later host tables."""
    world: World = trained["world"]
    frames: dict[str, pd.DataFrame] = trained["frames"]
    work = tmp_path_factory.mktemp("sc-score")
    rng = np.random.default_rng(9)
    train_ids: list[str] = trained["train_ids"]
    again = list(rng.choice(train_ids, size=40, replace=False))
    bank_all = frames["bank"].drop(columns="default_12m")
    new_bank = pd.concat([trained["held_out"], bank_all[bank_all["uscc"].isin(again)]])
    later = {
        h: frames[h]
        .copy()
        .astype(
            {
                c: object
                for c in frames[h].columns
                if not pd.api.types.is_numeric_dtype(frames[h][c])
            }
        )
        for h in HOSTS
    }
    new_bank = new_bank.astype(
        {c: object for c in new_bank.columns if not pd.api.types.is_numeric_dtype(new_bank[c])}
    )
    inter = sorted(set(new_bank["uscc"]).intersection(*(set(later[h]["uscc"]) for h in HOSTS)))
    fresh = [u for u in inter if u not in set(train_ids)]
    planted = {
        "bank": _plant(new_bank, fresh, rng),
        **{h: _plant(later[h], fresh, rng) for h in HOSTS},
    }
    files = {"bank": work / "bank_new.csv", **{h: work / f"{h}_later.csv" for h in HOSTS}}
    new_bank.to_csv(files["bank"], index=False)
    for h in HOSTS:
        later[h].to_csv(files[h], index=False)
    parties = [
        {"name": "bank", "role": "guest", "label": "default_12m", "data": str(files["bank"])}
    ]
    parties += [{"name": h, "role": "host", "data": str(files[h])} for h in HOSTS]
    cfg = parse_config(
        {
            "experiment": {"name": "score-sc", "id_column": "uscc", "runtime": "local"},
            "parties": parties,
        }
    )
    ctxs = [
        PartyContext(name=p.name, role=p.role, data_path=p.data, work_dir=work / "parties" / p.name)
        for p in cfg.parties
    ]
    transport = LocalTransport(ctxs, keep_payloads=True)
    res = score(transport, cfg, world.tmp)
    return {
        "res": res,
        "transport": transport,
        "inter": inter,
        "again": again,
        "tables": {"bank": new_bank, **later},
        "planted": planted,
        "cfg": cfg,
        "got": read_scores(work / "parties" / "bank").set_index("uscc"),
    }


# ---------------------------------------------------------------------------------------
# the centralized reference: every party's bins and points tables, in plain numpy


def _bin_ids(b: dict[str, Any], col: pd.Series) -> np.ndarray:
    """Final bin of every value: left-closed intervals between the splits (numbers; ISO
    dates as days), category sets; missing -> the missing bin, else the fallback bin;
    unseen category -> the fallback bin."""
    mapping = np.asarray(b["mapping"], dtype=np.int64)
    na_bin = b["missing_bin"] if b["missing_bin"] is not None else b["fallback"]
    if b["kind"] == "numeric":
        if pd.api.types.is_numeric_dtype(col):
            x = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            x = (
                pd.to_datetime(col, format="%Y-%m-%d", errors="coerce") - pd.Timestamp("1970-01-01")
            ).dt.days.to_numpy(dtype=np.float64, na_value=np.nan)
        fine = np.searchsorted(
            np.asarray(b["splits"], dtype=np.float64), np.nan_to_num(x), side="right"
        )
        fine = np.where(np.isnan(x), na_bin, fine)
    else:
        where = {v: i for i, cats in enumerate(b["categories"]) for v in cats}
        fine = np.array(
            [na_bin if pd.isna(v) else where.get(str(v), b["fallback"]) for v in col],
            dtype=np.int64,
        )
    return mapping[fine]


def _reference(run: Path, tables: dict[str, pd.DataFrame], ids: list[str]) -> np.ndarray:
    total = np.zeros(len(ids))
    for party, df in tables.items():
        table = json.loads((run / "parties" / party / "scorecard.json").read_text())
        rows = df.set_index("uscc").loc[ids]
        total += table["base"]
        for f in table["features"]:
            total += np.asarray(f["points"])[_bin_ids(f["binning"], rows[f["name"]])]
    return total


# ---------------------------------------------------------------------------------------


def test_joint_scores_equal_the_centralized_points(
    trained: dict[str, Any], scored: dict[str, Any]
) -> None:
    world: World = trained["world"]
    got: pd.DataFrame = scored["got"]
    inter: list[str] = scored["inter"]
    assert model_algorithm(scored["cfg"], world.tmp) == "scorecard"
    assert scored["res"].n_scored == len(inter) > 200 and sorted(got.index) == inter
    ref = _reference(world.tmp, scored["tables"], inter)
    pts = got.loc[inter, "points"].to_numpy()
    assert np.abs(pts - ref).max() <= 1e-9
    # the published scale, by hand: 600 at 15:1, 40 points to double the odds, 400-700
    factor = 40 / math.log(2)
    offset = 600 - factor * math.log(15)
    np.testing.assert_allclose(got.loc[inter, "score"], np.clip(ref, 400, 700), rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        got.loc[inter, "probability"], 1 / (1 + np.exp((ref - offset) / factor)), rtol=0, atol=1e-12
    )
    lows = [("A", 650), ("B", 600), ("C", 550), ("D", 500), ("E", 450)]
    grade = [next((g for g, low in lows if s >= low), "F") for s in np.clip(ref, 400, 700)]
    assert got.loc[inter, "grade"].tolist() == grade
    assert len(set(grade)) >= 3


def test_planted_values_land_in_the_training_bins(
    trained: dict[str, Any], scored: dict[str, Any]
) -> None:
    """Missing cells, values beyond the range and new categories got the bins the training
    binnings give them: the missing bin (or the fallback), the first or last interval, the
    "other" bin; the points of training rows are the training-time points."""
    world: World = trained["world"]
    got: pd.DataFrame = scored["got"]
    tables: dict[str, pd.DataFrame] = scored["tables"]
    checked = 0
    for party, planted in scored["planted"].items():
        table = json.loads((world.tmp / "parties" / party / "scorecard.json").read_text())
        for f in table["features"]:
            b = f["binning"]
            mapping = b["mapping"]
            n_fine = len(mapping)
            for kind, cells in planted.items():
                for u, c in cells:
                    if c != f["name"] or u not in got.index:
                        continue
                    value = tables[party].set_index("uscc").loc[[u], c]
                    final = int(_bin_ids(b, value)[0])
                    if kind == "missing":
                        na = b["missing_bin"] if b["missing_bin"] is not None else b["fallback"]
                        assert final == mapping[na]
                    elif kind == "high":
                        assert final == mapping[len(b["splits"])]
                    elif kind == "low":
                        assert final == mapping[0]
                    else:
                        assert final == mapping[b["fallback"]]
                    assert n_fine == len(mapping)
                    checked += 1
    assert checked >= 8
    # training enterprises with unchanged values: the points training gave them
    again = [u for u in scored["again"] if u in got.index]
    pos = pd.Index(trained["train_ids"]).get_indexer(again)
    training_points = _joint_scores(world, pos)
    np.testing.assert_allclose(got.loc[again, "points"], training_points, rtol=0, atol=1e-9)


def test_scoring_messages_leak_no_column_label_or_host_bin_edge(
    trained: dict[str, Any], scored: dict[str, Any]
) -> None:
    world: World = trained["world"]
    transport: LocalTransport = scored["transport"]
    tables: dict[str, pd.DataFrame] = scored["tables"]
    frames: dict[str, pd.DataFrame] = trained["frames"]
    inter: list[str] = scored["inter"]
    # no raw or encoded column, no label, no ID outside the intersection
    assert_no_leak(transport.log, {**tables, "labels": frames["bank"]}, inter)
    # no host bin edge or category, and no host column name, in any message
    edges: set[float] = set()
    secrets: set[str] = set()
    for h in HOSTS:
        for b in FW.binnings(world.ctxs[h]):
            edges |= {float(s) for s in b.splits if float(s) != int(s)}
            secrets |= {v for cats in b.categories for v in cats if len(v) > 3}
        secrets |= set(FW.woe_state(world.ctxs[h]).features)
    assert edges and secrets
    for m in transport.log.messages:
        for key, v in m.payload.items():
            if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                assert not edges & set(v.ravel().tolist()), (m.action, key)
            if isinstance(v, (float, int)) and not isinstance(v, bool):
                assert float(v) not in edges, (m.action, key)
            if isinstance(v, str):
                assert not any(s in v for s in secrets), (m.action, key)
            if isinstance(v, list):
                assert not any(isinstance(x, str) and x in secrets for x in v), (m.action, key)
    # what the hosts sent is masked: nowhere near their partial points
    actions = {m.action for m in transport.log.messages}
    assert {"score.partial", "score.finish"} <= actions
    host_parts = sum(_reference_for(world.tmp, tables, inter, h) for h in HOSTS)
    for m in transport.log.messages:
        for v in m.payload.values():
            if isinstance(v, np.ndarray) and v.dtype == np.uint64:
                assert np.abs(v.view(np.int64) / 2.0**32 - host_parts).min() > 1.0


def test_fedlab_score_writes_the_scorecard_scores(
    trained: dict[str, Any], scored: dict[str, Any], tmp_path: Path
) -> None:
    from federation.scoring import score_command

    world: World = trained["world"]
    metrics = score_command(
        config=scored["cfg"], model=world.tmp, out=tmp_path / "out", runtime="local", echo=None
    )
    assert metrics["algorithm"] == "scorecard" and metrics["n_scored"] == len(scored["inter"])
    again = read_scores(tmp_path / "out" / "parties" / "bank").set_index("uscc")
    assert list(again.columns) == ["points", "score", "grade", "probability"]
    pd.testing.assert_frame_equal(again, scored["got"], check_exact=False, atol=1e-9, rtol=0)


def _reference_for(
    run: Path, tables: dict[str, pd.DataFrame], ids: list[str], party: str
) -> np.ndarray:
    return _reference(run, {party: tables[party]}, ids)
