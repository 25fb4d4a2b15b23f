"""The scorecard's automatic points scale: the fit against numpy, the config rules, and the
defaults on synthetic and Taiwan data (every grade populated, bad rates ordered)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_scorecard_federated import _run
from test_woe_federated import World

from features import scorecard as S
from features import synth
from features.public import load_public
from federation import hetero_lr
from federation import scorecard as SC
from federation.scorecard.params import parse_scorecard_params
from federation.scorecard.scale import fit_scale
from lab.errors import ConfigError, DataValidationError


def test_fit_scale_puts_the_tail_means_at_the_margins() -> None:
    z = np.random.default_rng(3).normal(-2.0, 1.3, 1000)
    base, odds, pdo = fit_scale(z, 400, 700, min_cell=10)
    sc = S.Scaling(base, odds, pdo, 400, 700)
    order = np.sort(z)
    m = 20  # 2% of 1000 (above k = 10)
    # score = offset - factor z; numpy: the mean of each tail's raw score
    factor = pdo / math.log(2)
    offset = base - factor * math.log(odds)
    assert offset - factor * order[-m:].mean() == pytest.approx(415.0)
    assert offset - factor * order[:m].mean() == pytest.approx(685.0)
    assert base == 550.0
    # the fitted scale is an ordinary one: at base_odds (good:bad) the score is the base
    assert float(offset - factor * -math.log(odds)) == pytest.approx(base)
    grades = sc.grade(sc.clip(offset - factor * z))
    assert set(grades) == set("ABCDEF")


def test_fit_scale_refuses_too_few_or_equal_scores() -> None:
    with pytest.raises(DataValidationError, match="at least 20"):
        fit_scale(np.arange(19.0), 400, 700, min_cell=10)
    with pytest.raises(DataValidationError, match="differ"):
        fit_scale(np.zeros(100), 400, 700, min_cell=10)


@pytest.mark.parametrize(
    ("params", "auto"),
    [
        ({}, True),
        ({"scaling": "auto"}, True),
        ({"scaling": "fixed"}, False),
        ({"pdo": 20}, False),  # a fixed scale's key and no scaling: fixed
        ({"base_score": 500, "base_odds": 20}, False),
        ({"scaling": "auto", "pdo": 40}, True),  # the defaults, as a form sends them
    ],
)
def test_scaling_mode_follows_the_config(params: dict[str, Any], auto: bool) -> None:
    assert parse_scorecard_params(params).auto_scale is auto


def test_auto_scaling_with_a_fixed_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="pdo"):
        parse_scorecard_params({"scaling": "auto", "pdo": 20})


def _check_grades(m: dict[str, Any], *, min_rate_rows: int) -> None:
    lo, hi = m["score_min"], m["score_max"]
    assert 400 <= lo <= hi <= 700 and hi - lo >= 0.6 * 300, (lo, hi)
    dev = m["grades_dev"]
    assert all(g["count"] != 0 for g in dev), dev  # every grade populated (None: 1-9)
    rates = [g["bad_rate"] for g in dev if g["bad_rate"] is not None]
    assert len(rates) >= min_rate_rows and rates == sorted(rates), dev
    assert m["scaling_mode"] == "auto"


@pytest.mark.slow
def test_scorecard_defaults_on_synthetic_data(tmp_path: Path) -> None:
    tables = synth.generate(2500, 5)
    frames = {p: tables[p] for p in ("bank", "tax", "courts")}
    world = World(frames, "bank", "default_12m", "uscc", tmp_path, id_kind="uscc")
    m = SC.drive(world.transport, world.config(key_bits=1024, min_bin_size=40)).metrics
    print("\n" + m["grade_table_dev"])
    _check_grades(m, min_rate_rows=2)
    assert m["epochs"] > 10  # the scorecard's LR defaults, not hetero LR's 10 epochs
    # the reported scale is the one fitted to the guest's validation log-odds (numpy)
    z = hetero_lr.party_state(world.ctxs["bank"]).valid_z
    base, odds, pdo = fit_scale(z, 400, 700)
    assert (m["scaling"]["base_odds"], m["scaling"]["pdo"]) == pytest.approx((odds, pdo))
    assert m["scaling"]["base_score"] == base


@pytest.mark.slow
def test_scorecard_defaults_on_taiwan_data(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taiwan: a fixed 600 @ 15:1, PDO 40 leaves grade A empty (the best odds stay under
    35:1); the automatic scale fills all six, bad rates falling from F to A."""
    taiwan = load_public("taiwan", shared_data)
    world = World(taiwan.parties, "bank", "y", "id", tmp_path, keep_payloads=False, guard=False)
    m = _run(world, monkeypatch, "plaintext").metrics
    print("\n" + m["grade_table_dev"])
    _check_grades(m, min_rate_rows=6)
    assert sum(g["count"] for g in m["grades_dev"]) == m["n_aligned"]
