"""SecureBoost end to end on LocalTransport: lossless against the plaintext backend and
against centralized XGBoost (hist) on the same bins; message inspection; a host dropping out.

Alignment and data access are stand-ins (a plain inner join on the IDs), as in the hetero LR
tests: the protocol under test starts after alignment.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features import synth
from features.binning import QuantileBinner
from features.encoding import party_matrix
from federation import secureboost as sb
from federation.config import ExperimentConfig, parse_config
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.roles import PartyRole
from federation.secureboost import data as sb_data
from federation.secureboost import driver as sb_driver
from federation.secureboost import histograms as sb_histograms
from federation.secureboost import prefetch as sb_prefetch
from federation.secureboost import workers as sb_workers
from lab.errors import ConfigError, PartyUnavailableError

xgb = pytest.importorskip("xgboost")


class World:
    def __init__(
        self,
        frames: dict[str, pd.DataFrame],
        guest: str,
        label: str,
        id_col: str,
        tmp: Path,
        monkeypatch: pytest.MonkeyPatch,
        keep_payloads: bool = False,
    ) -> None:
        self.frames, self.guest, self.label, self.id_col = frames, guest, label, id_col
        self.tmp = tmp
        self.ctxs = [
            PartyContext(
                name,
                PartyRole.GUEST if name == guest else PartyRole.HOST,
                tmp / f"{name}.csv",
                tmp / "parties" / name,
            )
            for name in frames
        ]
        self.transport = LocalTransport(self.ctxs, keep_payloads=keep_payloads)
        ids = set(frames[guest][id_col])
        for df in frames.values():
            ids &= set(df[id_col])
        self.ids = sorted(ids)
        self.matrices = {
            name: party_matrix(df, id_column=id_col, label=label if name == guest else None).select(
                np.asarray(self.ids, dtype=object)
            )
            for name, df in frames.items()
        }

        def fake_align(transport: Any, config: Any, progress: Any) -> Any:
            for ctx in self.ctxs:
                ctx.state["standin_ids"] = list(self.ids)
            return SimpleNamespace(n_aligned=len(self.ids))

        def fake_matrix(ctx: PartyContext) -> Any:
            assert ctx.state["standin_ids"] == self.ids
            return self.matrices[ctx.name]

        monkeypatch.setattr(sb_driver, "_align", fake_align)
        monkeypatch.setattr(sb_data, "matrix", fake_matrix)

    @property
    def hosts(self) -> list[str]:
        return [n for n in self.frames if n != self.guest]

    def config(self, backend: str, **params: Any) -> ExperimentConfig:
        return parse_config(
            {
                "experiment": {
                    "name": "t",
                    "algorithm": "secureboost",
                    "backend": backend,
                    "id_column": self.id_col,
                    "runtime": "local",
                    "seed": 3,
                },
                "params": params,
                "parties": [
                    {
                        "name": n,
                        "role": "guest" if n == self.guest else "host",
                        "data": f"{n}.csv",
                        **({"label": self.label} if n == self.guest else {}),
                    }
                    for n in self.frames
                ],
            }
        )

    def run(self, backend: str, **params: Any) -> Any:
        return sb.drive(self.transport, self.config(backend, **params))

    def predict(self) -> np.ndarray:
        out = sb.predict(self.transport, self.guest, self.hosts)
        assert out is not None
        return out

    def binned_pooled(self, max_bins: int) -> tuple[np.ndarray, np.ndarray]:
        """Every party's own bins side by side (what each party bins locally) and y."""
        X = np.hstack(
            [QuantileBinner(max_bins).fit_transform(m.X) for m in self.matrices.values()]
        ).astype(np.float64)
        return X, np.asarray(self.matrices[self.guest].y, dtype=np.float64)


def xgb_reference(X: np.ndarray, y: np.ndarray, **p: Any) -> np.ndarray:
    """Centralized XGBoost hist on the pooled bin indices (identical split candidates)."""
    params = {
        "tree_method": "hist",
        "objective": "binary:logistic",
        "base_score": 0.5,
        "max_bin": 256,
        "max_depth": p["max_depth"],
        "eta": p["learning_rate"],
        "reg_lambda": p["reg_lambda"],
        "gamma": p.get("gamma", 0.0),
        "min_child_weight": p["min_child_weight"],
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "nthread": 1,
        "seed": 0,
        "scale_pos_weight": p.get("scale_pos_weight", 1.0),
    }
    d = xgb.DMatrix(X, label=y, nthread=1)
    return xgb.train(params, d, p["n_trees"]).predict(d)  # type: ignore[no-any-return]


FAST = {
    "n_trees": 4,
    "max_depth": 3,
    "learning_rate": 0.3,
    "reg_lambda": 1.0,
    "min_child_weight": 1.0,
    "max_bins": 16,
    "key_bits": 1024,
    "validation_fraction": 0.0,
    "workers": 1,
}


@pytest.fixture(scope="module")
def synthetic() -> dict[str, pd.DataFrame]:
    """A bank and three agencies (about 1,800 aligned enterprises)."""
    tables = synth.generate(4000, 7)
    return {p: tables[p] for p in ("bank", "tax", "social_insurance", "courts")}


@pytest.fixture()
def syn_world(
    synthetic: dict[str, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> World:
    return World(synthetic, "bank", "default_12m", "uscc", tmp_path, monkeypatch)


def credit_frames(shared: Path, n: int) -> dict[str, pd.DataFrame]:
    g = pd.read_csv(shared / "default_credit_hetero_guest.csv", dtype={"id": str})
    h = pd.read_csv(shared / "default_credit_hetero_host.csv", dtype={"id": str})
    rows = np.random.default_rng(5).choice(len(g), size=n, replace=False)
    return {
        "bank": g.iloc[rows].reset_index(drop=True),
        "agency": h.iloc[rows].reset_index(drop=True),
    }


# ---------------------------------------------------------------------------------------
# lossless
# ---------------------------------------------------------------------------------------


def test_plaintext_backend_matches_xgboost_on_same_bins(syn_world: World) -> None:
    # Prepare / Execute
    res = syn_world.run("plaintext", **FAST)
    pred = syn_world.predict()
    X, y = syn_world.binned_pooled(FAST["max_bins"])
    ref = xgb_reference(X, y, **FAST)
    # Assert: the same trees up to fixed-point rounding and XGBoost's float32 gradients
    assert res.metrics["trees"] == FAST["n_trees"]
    assert np.abs(pred - ref).max() < 1e-4
    assert abs(roc_auc_score(y, pred) - roc_auc_score(y, ref)) <= 0.002
    assert res.metrics["auc"] == pytest.approx(roc_auc_score(y, pred), abs=1e-9)


@pytest.mark.slow
def test_paillier_equals_plaintext_and_xgboost_synthetic(syn_world: World) -> None:
    params = dict(FAST, n_trees=3)
    syn_world.run("plaintext", **params)
    plain = syn_world.predict()
    syn_world.transport.log.messages.clear()
    res = syn_world.run("paillier", **params)
    enc = syn_world.predict()
    assert np.abs(enc - plain).max() <= 1e-6
    X, y = syn_world.binned_pooled(params["max_bins"])
    ref = xgb_reference(X, y, **params)
    assert abs(roc_auc_score(y, enc) - roc_auc_score(y, ref)) <= 0.002
    assert res.metrics["bytes_per_tree"] > 0 and res.metrics["exchanges"] > 0


@pytest.mark.slow
def test_paillier_lossless_on_default_credit(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(credit_frames(shared_data, 3000), "bank", "y", "id", tmp_path, monkeypatch)
    params = dict(FAST, n_trees=3, max_depth=4, max_bins=32)
    world.run("plaintext", **params)
    plain = world.predict()
    world.run("paillier", **params)
    enc = world.predict()
    assert np.abs(enc - plain).max() <= 1e-6
    X, y = world.binned_pooled(32)
    ref = xgb_reference(X, y, **params)
    assert abs(roc_auc_score(y, enc) - roc_auc_score(y, ref)) <= 0.002
    assert np.abs(enc - ref).max() < 1e-4


@pytest.mark.slow
def test_plaintext_matches_xgboost_default_credit_full_depth(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(credit_frames(shared_data, 12000), "bank", "y", "id", tmp_path, monkeypatch)
    params = dict(
        FAST,
        n_trees=10,
        max_depth=5,
        max_bins=32,
        reg_lambda=2.0,
        min_child_weight=5.0,
        scale_pos_weight=2.0,
    )
    world.run("plaintext", **params)
    pred = world.predict()
    X, y = world.binned_pooled(32)
    ref = xgb_reference(X, y, **params)
    assert abs(roc_auc_score(y, pred) - roc_auc_score(y, ref)) <= 0.002


# ---------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------


def test_guest_only_first_trees_send_nothing_to_hosts(syn_world: World) -> None:
    syn_world.run("plaintext", **dict(FAST, n_trees=2, guest_only_first_trees=2))
    to_hosts = [
        m.action
        for m in syn_world.transport.log.messages
        if m.party in syn_world.hosts and m.direction == "to_party"
    ]
    assert "sb.hist" not in to_hosts and "sb.apply" not in to_hosts
    piece = sb.load_piece(syn_world.tmp / "parties" / "bank")
    owners = {n.get("party") for tr in piece["trees"] for n in tr.values()}
    assert owners <= {"bank", None}


def test_early_stopping_keeps_best_trees_and_importance_is_opaque(syn_world: World) -> None:
    res = syn_world.run(
        "plaintext",
        **dict(
            FAST,
            n_trees=40,
            learning_rate=1.0,
            validation_fraction=0.3,
            early_stopping_rounds=2,
            subsample=0.8,
            colsample=0.7,
        ),
    )
    losses = res.metrics["loss"]
    assert res.metrics["trees"] == int(np.argmin(losses)) + 1
    assert res.metrics["trees_built"] < 40
    piece = sb.load_piece(syn_world.tmp / "parties" / "bank")
    assert len(piece["trees"]) == res.metrics["trees"]
    imp = res.metrics["feature_importance"]
    for host in syn_world.hosts:
        for key in imp.get(host, {}):
            assert key.startswith(f"{host}:")  # no published names: opaque ids only
    # host pieces keep only the split ids the kept trees use
    for host in syn_world.hosts:
        hp = sb.load_piece(syn_world.tmp / "parties" / host)
        used = {
            n["split_id"] for tr in piece["trees"] for n in tr.values() if n.get("party") == host
        }
        assert {int(s) for s in hp["splits"]} == used
        assert "trees" not in hp


def test_published_host_names_appear_in_importance(syn_world: World) -> None:
    res = syn_world.run("plaintext", **dict(FAST, publish_feature_names=["tax"]))
    tax = res.metrics["feature_importance"].get("tax", {})
    names = syn_world.matrices["tax"].feature_names
    assert all(k in names for k in tax)


def test_bad_backend_is_a_config_error(syn_world: World) -> None:
    with pytest.raises(ConfigError, match="paillier"):
        syn_world.run("ckks", **FAST)


# ---------------------------------------------------------------------------------------
# message inspection and dropout
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_no_plaintext_gradient_label_or_column_crosses(
    synthetic: dict[str, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leakcheck import assert_no_leak  # tests/federation/leakcheck.py

    world = World(
        synthetic, "bank", "default_12m", "uscc", tmp_path, monkeypatch, keep_payloads=True
    )
    world.run("paillier", **dict(FAST, n_trees=2, validation_fraction=0.2))
    world.predict()
    assert_no_leak(world.transport.log, world.frames, world.ids, id_column="uscc")
    # and the guest's gradients of the first tree appear nowhere in plaintext
    y = np.asarray(world.matrices["bank"].y, dtype=np.float64)
    g0 = 0.5 - y
    for m in world.transport.log.messages:
        for key, value in m.payload.items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size == y.size:
                assert not np.allclose(np.sort(value), np.sort(g0)), (m.action, key)


def test_leakcheck_catches_the_plaintext_backend(syn_world: World) -> None:
    """The inspection is not vacuous: plaintext 'ciphertexts' are plain packed gradients."""
    from leakcheck import find_message_leaks  # noqa: F401  (the same module as above)

    syn_world.run("plaintext", **dict(FAST, n_trees=1))
    msg = next(
        m
        for m in syn_world.transport.log.messages
        if m.action == "sb.tree_begin" and m.direction == "from_party"
    )
    assert msg.nbytes > 0  # the packed rows went out (unencrypted in this backend)


class DroppingTransport(LocalTransport):
    """A LocalTransport whose ``party`` disappears after ``after`` exchanges."""

    def __init__(self, parties: list[PartyContext], party: str, after: int) -> None:
        super().__init__(parties)
        self.party, self.after = party, after

    def exchange(self, requests: Any, *, timeout: float | None = None) -> Any:
        if self.log.exchanges >= self.after:
            self.unavailable.add(self.party)
        return super().exchange(requests, timeout=timeout)


def test_host_dropout_fails_naming_it_and_saves_no_model(syn_world: World) -> None:
    syn_world.transport = DroppingTransport(syn_world.ctxs, "tax", after=8)
    with pytest.raises(PartyUnavailableError, match="tax"):
        syn_world.run("plaintext", **FAST)
    for ctx in syn_world.ctxs:
        assert not (Path(ctx.work_dir) / sb.MODEL_FILE).exists()


def test_model_pieces_hold_only_own_thresholds(syn_world: World) -> None:
    syn_world.run("plaintext", **FAST)
    guest = sb.load_piece(syn_world.tmp / "parties" / "bank")
    for tr in guest["trees"]:
        for node in tr.values():
            if node.get("party", "bank") != "bank":
                assert "bin" not in node and "split_id" in node
    for host in syn_world.hosts:
        text = (syn_world.tmp / "parties" / host / sb.MODEL_FILE).read_text()
        assert "leaf" not in text and "trees" not in json.loads(text)


# ---------------------------------------------------------------------------------------
# the real pipeline: alignment, local runtime, outputs
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fedlab_train_local_runtime_writes_secureboost_outputs(
    synthetic: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    from federation.run import run_experiment

    data = tmp_path / "data"
    tables = synth.generate(1500, 7)
    synth.write(data, {p: tables[p] for p in ("bank", "tax", "courts", "authorizations")})
    cfg = tmp_path / "experiment.toml"
    cfg.write_text(
        '[experiment]\nname = "sb"\nalgorithm = "secureboost"\nbackend = "paillier"\n'
        'id_column = "uscc"\nruntime = "local"\nauthorization = "required"\n'
        'as_of = "2024-06-30"\nseed = 1\n'
        "[params]\nn_trees = 2\nmax_depth = 3\nkey_bits = 1024\nmax_bins = 16\nworkers = 1\n"
        "guest_only_first_trees = 1\n"
        '[[parties]]\nname = "bank"\nrole = "guest"\ndata = "data/bank.csv"\n'
        'label = "default_12m"\nauthorizations = "data/authorizations.csv"\n'
        '[[parties]]\nname = "tax"\nrole = "host"\ndata = "data/tax.csv"\n'
        '[[parties]]\nname = "courts"\nrole = "host"\ndata = "data/courts.csv"\n',
        encoding="utf-8",
    )
    out = tmp_path / "run"
    run_experiment(cfg, out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trees"] == 2 and 0.5 < metrics["auc"] <= 1.0
    assert metrics["n_aligned"] > 100 and metrics["exchanges"] > 0
    for party in ("bank", "tax", "courts"):
        piece = json.loads((out / "parties" / party / sb.MODEL_FILE).read_text())
        assert piece["algorithm"] == "secureboost"


def test_example_configs_are_valid() -> None:
    from federation.config import load_config

    root = Path(__file__).resolve().parents[2] / "examples"
    for name in ("default_credit_secureboost.toml", "synthetic_secureboost.toml"):
        cfg = load_config(root / name)
        assert cfg.experiment.algorithm == "secureboost"
        sb.parse_params(cfg.params)


# ---------------------------------------------------------------------------------------
# the guest's CRT randomness
# ---------------------------------------------------------------------------------------


def test_crt_obfuscators_equal_the_public_djn_power_and_encrypt_zero() -> None:
    import gmpy2

    from crypto.crt_randomness import crt_obfuscators, crt_pow, crt_tables
    from crypto.paillier import EncryptedArray

    cipher = sb.GuestCipher("paillier", 1024, 256)
    key = cipher._crt_key()
    widths = [12] * 21 + [4]  # 256 random bits in base-2**12 digits
    rng = np.random.default_rng(4)
    digits = np.stack([rng.integers(0, 2**w, size=5) for w in widths], axis=1)
    digits[0] = [2**w - 1 for w in widths]  # the largest exponent, 2**256 - 1
    got = crt_pow(key, digits)
    for row, r in zip(digits, got, strict=True):
        a = sum(int(d) << (12 * i) for i, d in enumerate(row))
        assert r == gmpy2.powmod(cipher.pk.hs, a, cipher.pk.nsquare)
    assert crt_tables(*key)[0].widths == widths
    fresh = crt_obfuscators(key, 50)
    assert len(set(int(r) for r in fresh)) == 50
    assert cipher._sk.decrypt_ints(EncryptedArray(cipher.pk, fresh)) == [0] * 50
    plains = [int(x) for x in np.random.default_rng(5).integers(0, 2**62, size=20)]
    blob = cipher.encrypt(plains, workers=1)
    assert cipher.decrypt(blob, workers=1) == plains


@pytest.mark.slow
def test_worker_processes_give_the_same_model(
    syn_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Obfuscators prefetched in low-priority workers, host bin sums split across processes
    (the root's rows cut in two, sums multiplied after) and packing split across processes
    build the same trees as the plaintext backend."""
    monkeypatch.setattr(sb_workers, "_MIN_ROWS_FOR_POOL", 50)
    monkeypatch.setattr(sb_workers, "_MIN_GROUPS_FOR_POOL", 1)
    params = dict(FAST, n_trees=2, workers=2)
    syn_world.run("plaintext", **params)
    plain = syn_world.predict()
    syn_world.run("paillier", **params)
    enc = syn_world.predict()
    assert np.abs(enc - plain).max() <= 1e-6
    for host in syn_world.hosts:  # the shared ciphertext file is gone after the commit
        assert not (syn_world.tmp / "parties" / host / sb_workers.ROWS_FILE).exists()


@pytest.mark.parametrize("spw", [1.0, 3.0])
def test_layout_slots_hold_extreme_sums_without_carry(spw: float) -> None:
    """Every row at the largest |g| and h the slots allow; n-row sums packed K per
    plaintext unpack to the exact integer sums (numpy int64 reference)."""
    n = 20_000
    lay = sb.Layout.make(n, spw, 24, 2048)
    assert lay.k * lay.w <= 2046 and lay.w == lay.sc + lay.s + lay.sh
    rng = np.random.default_rng(0)
    cases = [np.full(n, spw), np.full(n, -spw), rng.uniform(-spw, spw, n)]
    sums = []
    for g in cases:
        h = np.full(n, 0.25 * spw)
        a, b = lay.encode_rows(g, h)
        total = sum(lay.pack_rows(a, b))  # the bin sum a host's additions produce
        sums.append((total, (n, int(a.sum()), int(b.sum()))))
    plains = sb.pack_sums([t for t, _ in sums] * lay.k, lay.w, lay.k, None)
    got = lay.unpack_bins(plains, 3 * lay.k)
    want = np.array([ref for _, ref in sums] * lay.k, dtype=np.int64)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------
# the hosts' shared additions
# ---------------------------------------------------------------------------------------


def _reference_sums(sub: np.ndarray, modes: np.ndarray, vals: list[int]) -> dict[Any, int]:
    """numpy: per (column, bin) sums except each column's mode bin."""
    v = np.asarray(vals, dtype=object)
    return {
        (c, int(b)): int(v[sub[:, c] == b].sum())
        for c in range(sub.shape[1])
        for b in np.unique(sub[:, c])
        if b != modes[c]
    }


@pytest.mark.parametrize("seed", range(6))
def test_cube_sums_equal_per_column_sums(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 400)), int(rng.integers(1, 9))
    sub = rng.integers(0, int(rng.integers(2, 12)), size=(n, m)).astype(np.uint8)
    sub[:, 0] = sub[:, -1] // 2  # correlated columns share cells
    modes = np.array([np.bincount(sub[:, c]).argmax() for c in range(m)])
    if seed % 2:
        modes[0] = 200  # a mode that no row has: every bin of the column is summed
    vals = [int(x) for x in rng.integers(1, 2**40, size=n)]
    plan = sb.merge_plan(sub if seed % 3 else rng.integers(0, 3, size=(30, m)))
    cols, bins, sums = sb.cube_sums(sub, modes, plan, vals, None)
    want = _reference_sums(sub, modes, vals)
    assert list(zip(cols.tolist(), bins.tolist(), strict=True)) == sorted(want)
    assert sums == [want[k] for k in sorted(want)]


def test_cube_sums_on_ciphertexts_decrypt_to_the_sums() -> None:
    from crypto.paillier import EncryptedArray

    cipher = sb.GuestCipher("paillier", 1024, 256)
    rng = np.random.default_rng(1)
    sub = rng.integers(0, 4, size=(120, 3)).astype(np.uint8)
    modes = np.array([np.bincount(sub[:, c]).argmax() for c in range(3)])
    vals = [int(x) for x in rng.integers(0, 2**50, size=120)]
    cts = EncryptedArray.from_bytes(cipher.pk, cipher.encrypt(vals, workers=1))
    _, _, sums = sb.cube_sums(
        sub, modes, sb.merge_plan(sub), cts.raw_ciphertexts(), cipher.pk.nsquare
    )
    got = cipher._sk.decrypt_ints(EncryptedArray(cipher.pk, sums))
    want = _reference_sums(sub, modes, vals)
    assert got == [want[k] for k in sorted(want)]


def test_shared_additions_need_fewer_products(monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns with few joint bin combinations: the merge tree sums each row about once,
    not once per column (counted: values in minus sums out of every reduction)."""
    count = {"adds": 0}
    real = sb.segment_reduce

    def counting(values: list[Any], starts: Any, modulus: Any) -> list[Any]:
        count["adds"] += len(values) - len(starts)
        return real(values, starts, modulus)

    monkeypatch.setattr(sb_histograms, "segment_reduce", counting)
    rng = np.random.default_rng(2)
    base = rng.integers(0, 5, size=3000)
    sub = np.stack([base, (base + 1) % 5, base // 2, rng.integers(0, 2, 3000)], axis=1).astype(
        np.uint8
    )
    modes = np.array([np.bincount(sub[:, c]).argmax() for c in range(4)])
    vals = [1] * 3000
    sb.cube_sums(sub, modes, sb.merge_plan(sub), vals, None)
    per_column = sum(int((sub[:, c] != modes[c]).sum()) for c in range(4))
    assert count["adds"] < 0.5 * per_column


def test_merge_plan_covers_each_column_once_and_restricts_to_a_sample() -> None:
    def leaves(p: Any) -> list[int]:
        return [int(p)] if isinstance(p, (int, np.integer)) else leaves(p[0]) + leaves(p[1])

    rng = np.random.default_rng(3)
    for m in (1, 2, 7, 45):  # 45 > the greedy search limit: neighbours are joined
        plan = sb.merge_plan(rng.integers(0, 6, size=(500, m)).astype(np.uint8))
        assert sorted(leaves(plan)) == list(range(m))
    plan = sb.merge_plan(rng.integers(0, 6, size=(500, 7)).astype(np.uint8))
    sub = sb.restrict_plan(plan, {5: 0, 2: 1})
    assert sorted(leaves(sub)) == [0, 1]
    assert sb.restrict_plan(plan, {}) is None
    assert sb.merge_plan(np.zeros((10, 0), dtype=np.uint8)) is None


# ---------------------------------------------------------------------------------------
# the guest's prefetched randomness
# ---------------------------------------------------------------------------------------


@pytest.mark.slow  # starts worker processes
def test_prefetch_runs_at_low_priority_and_withdrawn_jobs_are_computed_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from crypto.paillier import EncryptedArray

    assert sb.background_executor(2).submit(os.nice, 0).result() == 19
    cipher = sb.GuestCipher("paillier", 1024, 256)
    monkeypatch.setattr(sb_prefetch, "_PREFETCH_CHUNK", 8)
    cipher.prefetch(200, 2)  # 25 jobs: some run in the background, the rest are withdrawn
    fp = cipher.pk.fingerprint()
    got = sb_prefetch.take_prefetched(fp, cipher._crt_key(), 200, 2)
    assert len(got) == 200 and len({int(r) for r in got}) == 200
    assert cipher._sk.decrypt_ints(EncryptedArray(cipher.pk, got)) == [0] * 200
    cipher.prefetch(100, 2)  # a different count than asked for: computed on the spot
    assert len(sb_prefetch.take_prefetched(fp, cipher._crt_key(), 64, 2)) == 64
    cipher.forget()


def test_without_a_process_pool_everything_runs_in_process(
    syn_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shut-down or missing pool costs time only: the same trees, computed in-process."""
    import crypto.parallel

    def no_pool(workers: int) -> Any:
        raise RuntimeError("cannot schedule new futures after shutdown")

    monkeypatch.setattr(crypto.parallel, "get_executor", no_pool)
    monkeypatch.setattr(sb_workers, "_MIN_ROWS_FOR_POOL", 50)
    params = dict(FAST, n_trees=1, workers=2)
    syn_world.run("plaintext", **params)
    plain = syn_world.predict()
    syn_world.run("paillier", **params)
    assert np.abs(syn_world.predict() - plain).max() <= 1e-6
