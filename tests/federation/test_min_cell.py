"""k everywhere: a run whose intersection, training or validation split holds fewer than k
enterprises is refused before training, for every algorithm of the registry, on the local
runtime; k comes from one setting that a config, a node or a coordinator can only raise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features import synth
from features.disclosure import DEFAULT_MIN_CELL, party_min_cell, platform_min_cell
from features.metrics import split_sizes, validation_split
from federation.config import parse_config
from federation.homo.data import holdout_split
from federation.party import PartyContext
from federation.partydata import SETUP_KEY, PartySetup, party_k
from federation.roles import PartyRole
from federation.run import run_experiment
from federation.sample_profile import effective_min_cell
from lab.errors import ConfigError, LabError, MinimumCellError

K = DEFAULT_MIN_CELL
CODE = MinimumCellError.code

# the split parameter of each vertical algorithm
VERTICAL = {
    "hetero_lr": lambda f: {"valid_fraction": f, "epochs": 2},
    "secureboost": lambda f: {"validation_fraction": f, "n_trees": 1, "max_depth": 2},
    "scorecard": lambda f: {
        "lr": {"valid_fraction": f, "epochs": 2},
        "label_backend": "paillier",  # the guard stops plaintext labels
        "key_bits": 1024,
        "min_bin_size": 1,  # a hostile config: the bins are still held to k
    },
}
# (aligned enterprises, validation fraction): 3 aligned; valid = ceil(0.2 * 45) = 9;
# train = 19 - ceil(0.5 * 19) = 9
CASES = {"three_aligned": (3, 0.2), "valid_k_minus_1": (45, 0.2), "train_k_minus_1": (19, 0.5)}


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return synth.generate(600, 11)


def _small_guest(bank: pd.DataFrame, host: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` of the bank's enterprises that the host holds too, a third of them defaulters
    (both classes present): the intersection is exactly ``n``."""
    bank = bank[bank["uscc"].isin(set(host["uscc"]))]
    pos = bank[bank["default_12m"] == 1].head(max(1, n // 3))
    neg = bank[bank["default_12m"] == 0].head(n - len(pos))
    return pd.concat([pos, neg]).reset_index(drop=True)


def _vertical(
    tmp: Path,
    tables: dict[str, pd.DataFrame],
    algorithm: str,
    n: int,
    params: dict[str, Any],
    min_cell: int | None = None,
) -> Any:
    data = {"bank": _small_guest(tables["bank"], tables["tax"], n), "tax": tables["tax"]}
    synth.write(tmp / "data", data)
    exp: dict[str, Any] = {
        "name": "k",
        "algorithm": algorithm,
        "backend": "plaintext",
        "id_column": "uscc",
        "runtime": "local",
        "seed": 7,
    }
    if min_cell is not None:
        exp["min_cell"] = min_cell
    raw = {
        "experiment": exp,
        "params": params,
        "parties": [
            {"name": "bank", "role": "guest", "data": "data/bank.csv", "label": "default_12m"},
            {"name": "tax", "role": "host", "data": "data/tax.csv"},
        ],
    }
    return parse_config(raw, base_dir=tmp)


def _code(exc: BaseException) -> str:
    """The refusal's code: the coordinator's own, or the party's in its error reply."""
    return str(getattr(exc, "error_code", None) or getattr(exc, "code", ""))


def _refused(cfg: Any, out: Path) -> tuple[LabError, list[tuple[str, dict[str, Any]]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    with pytest.raises(LabError) as info:
        run_experiment(cfg, out, progress=lambda e, f: events.append((e, f)))
    return info.value, events


def _assert_before_training(events: list[tuple[str, dict[str, Any]]], out: Path) -> None:
    phases = [f.get("phase") for e, f in events if e == "phase"]
    assert "train" not in phases, phases
    assert not any(e == "epoch" for e, _ in events)
    assert not out.exists()  # no DIR, no metrics published


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("algorithm", sorted(VERTICAL))
def test_vertical_run_below_k_is_refused_before_training(
    tmp_path: Path, tables: dict[str, pd.DataFrame], algorithm: str, case: str
) -> None:
    n, fraction = CASES[case]
    cfg = _vertical(tmp_path, tables, algorithm, n, VERTICAL[algorithm](fraction))
    sizes = split_sizes(n, fraction)
    assert min(sizes.values()) < K  # the reference: this split holds a cell below k

    exc, events = _refused(cfg, tmp_path / "out")

    assert _code(exc) == CODE, exc
    small = "n_aligned" if n < K else min(sizes, key=lambda s: sizes[s])
    assert f"{small} = {sizes[small]}" in str(exc) and f"k = {K}" in str(exc)
    _assert_before_training(events, tmp_path / "out")


def test_a_guest_refuses_a_small_split_even_when_the_coordinator_does_not_check(
    tmp_path: Path, tables: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A coordinator that skips its own checks (hostile or buggy) still gets no training:
    the guest refuses its 36 / 9 split in ``lr.init`` with its own k."""
    from federation import alignment
    from federation.hetero_lr import driver

    def skip(*_a: Any, **_k: Any) -> None:
        return None

    monkeypatch.setattr(driver, "require_min_cell", skip)
    monkeypatch.setattr(alignment, "require_min_cell", skip)
    cfg = _vertical(tmp_path, tables, "hetero_lr", 45, VERTICAL["hetero_lr"](0.2))
    exc, events = _refused(cfg, tmp_path / "out")
    assert _code(exc) == CODE and "lr.init" in str(exc) and "n_valid = 9" in str(exc)
    _assert_before_training(events, tmp_path / "out")

    cfg = _vertical(tmp_path / "3", tables, "hetero_lr", 3, VERTICAL["hetero_lr"](0.2))
    exc, _ = _refused(cfg, tmp_path / "out3")
    assert _code(exc) == CODE and "align.intersect" in str(exc)  # no host told its rows


def _bank_file(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 3 == 0).astype(int)  # a third defaulters
    df = pd.DataFrame(
        {
            "id": [f"e{seed}_{i:04d}" for i in range(n)],
            "x1": rng.normal(size=n) + y,
            "x2": rng.normal(size=n),
            "default": y,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("algorithm", ["homo_lr", "homo_nn"])
def test_a_bank_below_k_refuses_a_horizontal_run_before_training(
    tmp_path: Path, algorithm: str, case: str
) -> None:
    n, fraction = CASES[case]
    banks = {"bank_a": _bank_file(tmp_path / "a.csv", 300, 1)}
    banks["bank_b"] = _bank_file(tmp_path / "b.csv", n, 2)
    raw = {
        "experiment": {
            "name": "k",
            "algorithm": algorithm,
            "backend": "plaintext",
            "id_column": "id",
            "runtime": "local",
            "seed": 3,
        },
        "params": {"rounds": 1, "valid_fraction": fraction},
        "parties": [
            {"name": b, "role": "guest", "data": str(p), "label": "default"}
            for b, p in banks.items()
        ],
    }
    y = pd.read_csv(banks["bank_b"])["default"].to_numpy(dtype=float)
    from federation.homo.data import bank_seed

    train, valid = holdout_split(y, fraction, bank_seed(3, "bank_b", 0))
    assert min(train.size, valid.size) < K  # the reference split of bank_b

    exc, events = _refused(parse_config(raw), tmp_path / "out")

    assert _code(exc) == CODE and "bank 'bank_b'" in str(exc), exc
    assert f"n_valid = {valid.size}" in str(exc) and f"n_train = {train.size}" in str(exc)
    _assert_before_training(events, tmp_path / "out")


# ---------------------------------------------------------------------------------------
# one setting, raised only


def test_experiment_min_cell_may_only_raise_k(
    tmp_path: Path, tables: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    params = VERTICAL["hetero_lr"](0.2)
    with pytest.raises(ConfigError, match=r"experiment\.min_cell.*lower.*k = 10"):
        _vertical(tmp_path / "low", tables, "hetero_lr", 200, params, min_cell=3)
    # 60 aligned, 12 validation rows: fine at k = 10, refused at the run's k = 20
    cfg = _vertical(tmp_path / "high", tables, "hetero_lr", 60, params, min_cell=20)
    assert cfg.min_cell == 20
    exc, events = _refused(cfg, tmp_path / "out")
    assert _code(exc) == CODE and "n_valid = 12" in str(exc) and "k = 20" in str(exc)
    _assert_before_training(events, tmp_path / "out")
    # the platform's k is the floor a config is held to
    monkeypatch.setenv("FEDLAB_MIN_CELL", "30")
    assert platform_min_cell() == 30
    with pytest.raises(ConfigError, match="k = 30"):
        _vertical(tmp_path / "mid", tables, "hetero_lr", 200, params, min_cell=20)


@pytest.mark.parametrize("bad", ["3", "0", "-5", "ten", "2.5"])
def test_a_platform_setting_below_the_floor_or_malformed_is_refused(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    from lab.settings import Settings

    monkeypatch.setenv("FEDLAB_MIN_CELL", bad)
    with pytest.raises(ConfigError, match="FEDLAB_MIN_CELL"):
        platform_min_cell()
    with pytest.raises(ValueError, match="FEDLAB_MIN_CELL"):
        Settings()


def test_a_party_takes_k_from_a_run_only_to_raise_its_own(tmp_path: Path) -> None:
    ctx = PartyContext("bank", PartyRole.GUEST, None, tmp_path, node_config={"min-cell": 25})
    setup = PartySetup(run_id="r", role="guest", id_column="uscc", min_cell=3)
    ctx.state[SETUP_KEY] = setup  # a hostile coordinator asks for k = 3
    assert party_k(ctx) == 25
    ctx.state[SETUP_KEY] = PartySetup(run_id="r", role="guest", id_column="uscc", min_cell=40)
    assert party_k(ctx) == 40
    with pytest.raises(ConfigError, match="min-cell"):
        party_min_cell({"min-cell": 3})  # a node config cannot lower k either


def test_a_bank_node_config_below_the_floor_does_not_lower_a_sample_count(
    tmp_path: Path,
) -> None:
    ctx = PartyContext("bank", PartyRole.GUEST, None, tmp_path, node_config={"min-cell": 3})
    with pytest.raises(ConfigError, match="min-cell"):
        effective_min_cell(ctx, 5)
    ctx.node_config = {}
    assert effective_min_cell(ctx, 5) == K


def test_the_lab_services_never_show_figures_below_the_platform_k(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lab.services.disclosure import min_cell
    from lab.settings import get_settings

    get_settings.cache_clear()
    try:
        assert min_cell(3) == K and min_cell(40) == 40 and min_cell() == K
    finally:
        get_settings.cache_clear()


def test_validation_split_sizes_follow_from_n_alone() -> None:
    """The coordinator's check before any model exchange uses the sizes the guest will
    draw: the same as validation_split for every n and fraction (both classes present)."""
    for n in (3, 19, 20, 45, 101):
        y = (np.arange(n) % 4 == 0).astype(float)
        for f in (0.1, 0.2, 0.25, 0.5):
            want = validation_split(y, f, 7).size
            assert split_sizes(n, f) == {"n_aligned": n, "n_train": n - want, "n_valid": want}
