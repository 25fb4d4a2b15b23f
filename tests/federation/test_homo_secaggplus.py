"""Flower's SecAgg+ as the FedAvg aggregation (backend "secaggplus"), against numpy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from leakcheck import assert_no_leak
from test_homo_ckks import _bank_files, _experiment

import federation.homo as homo
from federation.homo.secaggplus import PENDING_KEY, SecAggPlusParams, stash_update
from federation.homo.secaggplus_mean import LocalChannel, SecAggPlusAggregator
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.roles import PartyRole
from federation.transport import MessageLog
from lab.errors import ConfigError, PartyUnavailableError, ProtocolError

NAMES = ["a", "b", "c", "d", "e"]


def _parties(
    tmp_path: Path,
    values: dict[str, np.ndarray],
    rows: dict[str, int],
    params: SecAggPlusParams,
    round_no: int = 1,
) -> dict[str, PartyContext]:
    parties = {n: PartyContext(n, PartyRole.GUEST, None, tmp_path / n) for n in values}
    for n, ctx in parties.items():
        stash_update(ctx.state, n, round_no, values[n], rows[n], params)
    return parties


def _inputs(n_values: int = 3000) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    rng = np.random.default_rng(4)
    values = {n: rng.normal(scale=0.8, size=n_values) for n in NAMES}
    rows = {n: int(rng.integers(200, 5000)) for n in NAMES}
    return values, rows


def _reference(values: dict[str, np.ndarray], rows: dict[str, int], who: list[str]) -> np.ndarray:
    return np.average([values[n] for n in who], axis=0, weights=[rows[n] for n in who])


def test_secaggplus_mean_is_the_weighted_average_and_masked_on_the_wire(tmp_path: Path) -> None:
    params = SecAggPlusParams(max_weight=10_000)
    values, rows = _inputs()
    log = MessageLog(keep_payloads=True)
    agg = SecAggPlusAggregator(
        LocalChannel(_parties(tmp_path, values, rows, params)), params, log=log
    )
    res = agg.mean(NAMES, 1)

    ref = _reference(values, rows, NAMES)
    err = np.max(np.abs(res.values - ref))
    assert err <= params.error_bound(list(rows.values())), err
    assert err < 1e-5 and res.contributors == NAMES and res.dropped == []
    assert res.exchanges == 4 and log.exchanges == 4
    assert res.nbytes == sum(m.nbytes for m in log.messages)
    # what the coordinator received: masked integers, keys, shares; the weights are zeroed
    received = [m for m in log.messages if m.direction == "from_party"]
    assert {m.action for m in received} == {
        "homo.secaggplus.setup",
        "homo.secaggplus.share_keys",
        "homo.secaggplus.collect_masked_vectors",
        "homo.secaggplus.unmask",
    }
    masked = {
        m.party: m.payload for m in received if m.action == "homo.secaggplus.collect_masked_vectors"
    }
    assert sorted(masked) == NAMES
    for name, payload in masked.items():
        assert payload["fitres.num_examples.num_examples"] == 0
        vec = np.asarray(payload["secaggplus_configs.masked_params"])
        assert vec.dtype.kind in "iu" and vec.size == values[name].size + 1  # weight first
        assert abs(np.corrcoef(vec[1:].astype(np.float64), values[name])[0, 1]) < 0.1
        assert vec[0] != round(rows[name] / params.max_weight * params.quantization_range)
    for m in received:
        for value in m.payload.values():
            if isinstance(value, np.ndarray):
                assert value.dtype.kind in "iu"


def test_values_with_a_public_bound_use_the_whole_quantization_range(tmp_path: Path) -> None:
    params = SecAggPlusParams(max_weight=10_000)
    values, rows = _inputs(4000)
    values = {n: np.clip(v, -1, 1) for n, v in values.items()}  # like the statistics
    ref = _reference(values, rows, NAMES)
    errs = []
    for bound in (None, 1.0):
        parties = {n: PartyContext(n, PartyRole.GUEST, None, tmp_path / n) for n in NAMES}
        for n, ctx in parties.items():
            stash_update(ctx.state, n, 1, values[n], rows[n], params, bound=bound)
        res = SecAggPlusAggregator(LocalChannel(parties), params).mean(NAMES, 1, bound=bound)
        errs.append(np.max(np.abs(res.values - ref)))
    # stretched by clipping_range / bound = 8 before quantization: about 8x more precise
    assert errs[1] <= params.error_bound(list(rows.values())) / 8 and errs[1] < errs[0] / 4


def test_secaggplus_recovers_a_bank_that_drops_while_masking(tmp_path: Path) -> None:
    params = SecAggPlusParams(max_weight=10_000, reconstruction_threshold=3)
    values, rows = _inputs(500)
    gone: set[str] = set()

    def progress(event: str, fields: dict[str, Any]) -> None:
        if event == "secaggplus.stage":
            # "c" leaves after sharing its keys; "e" sends its masked vector, then leaves
            gone.clear()
            gone.update(
                {"collect_masked_vectors": {"c"}, "unmask": {"c", "e"}}.get(fields["stage"], set())
            )

    # 5 shares per bank, 4 needed (the default 0.75): two absent banks at unmask are too many
    strict = SecAggPlusAggregator(
        LocalChannel(_parties(tmp_path, values, rows, params), lambda: gone),
        SecAggPlusParams(max_weight=10_000),
        progress=progress,
    )
    with pytest.raises(PartyUnavailableError, match="halted"):
        strict.mean(NAMES, 1)
    # 3 needed: the coordinator rebuilds c's key from 3 shares and removes its masks
    channel = LocalChannel(_parties(tmp_path, values, rows, params), lambda: gone)
    res = SecAggPlusAggregator(channel, params, progress=progress).mean(NAMES, 1)
    who = ["a", "b", "d", "e"]
    assert res.contributors == who and res.dropped == ["c"]
    ref = _reference(values, rows, who)
    assert np.max(np.abs(res.values - ref)) <= params.error_bound([rows[n] for n in who])
    # the dropped bank's masks were removed: the mean is not off by a random offset
    assert np.max(np.abs(res.values - ref)) < 1e-4


def test_bank_refuses_what_secaggplus_would_clip_or_overflow(tmp_path: Path) -> None:
    params = SecAggPlusParams(clipping_range=2.0, max_weight=1000)
    state: dict[str, Any] = {}
    with pytest.raises(ConfigError, match="clipping_range"):
        stash_update(state, "a", 1, np.array([0.5, -2.5]), 10, params)
    with pytest.raises(ConfigError, match="max_weight"):
        stash_update(state, "a", 1, np.array([0.5]), 1001, params)
    with pytest.raises(ProtocolError, match="NaN"):
        stash_update(state, "a", 1, np.array([np.nan]), 10, params)
    assert PENDING_KEY not in state
    with pytest.raises(ConfigError, match="power of two"):
        homo.parse_params({"secaggplus": {"modulus_range": 3 * 2**30}})
    # a stale round is never sent
    values, rows = _inputs(50)
    parties = _parties(tmp_path, values, rows, SecAggPlusParams(max_weight=10_000), round_no=1)
    agg = SecAggPlusAggregator(LocalChannel(parties), SecAggPlusParams(max_weight=10_000))
    with pytest.raises(ProtocolError, match="holds no update for SecAgg\\+ round 2"):
        agg.mean(NAMES, 2)


def _config(paths: dict[str, Path], backend: str, **params: Any) -> Any:
    from federation.config import parse_config

    return parse_config(
        _experiment(
            paths,
            backend=backend,
            **{"rounds": 3, "batch_size": 32, "learning_rate": 0.2, "momentum": 0.9, **params},
        )
    )


def _model(work: Path, bank: str) -> np.ndarray:
    return np.asarray(json.loads((work / bank / homo.MODEL_FILE).read_text())["params"])


def test_secaggplus_backend_end_to_end_against_numpy_and_plain_fedavg(tmp_path: Path) -> None:
    paths = _bank_files(tmp_path / "data", n_banks=4, rows=300)
    sap = {"max_weight": 1000}
    seen: dict[tuple[str, int], np.ndarray] = {}
    homo.set_train_hook(lambda bank, rnd, vec: seen.__setitem__((bank, rnd), vec.copy()))
    tr = LocalTransport(
        [PartyContext(n, PartyRole.GUEST, p, tmp_path / "w" / n) for n, p in paths.items()],
        keep_payloads=True,
    )

    def progress(event: str, fields: dict[str, Any]) -> None:
        if event == "secaggplus.stage":  # bank_2 leaves round 1 after sharing its keys
            late = fields["round"] == 2 and fields["stage"] in ("collect_masked_vectors", "unmask")
            tr.unavailable = {"bank_2"} if late else set()
        elif event == "round":
            tr.unavailable = set()

    try:
        m = homo.drive(tr, _config(paths, "secaggplus", secaggplus=sap), progress=progress).metrics
    finally:
        homo.set_train_hook(None)
    assert m["backend"] == "secaggplus" and m["secaggplus"]["max_weight"] == 1000
    assert [r["dropped"] for r in m["per_round"]] == [[], ["bank_2"], []]
    # the final model every bank saved is numpy's weighted mean of round 2's updates
    n_par = m["n_params"]
    final = np.sum([seen[(b, 2)] for b in paths], axis=0)
    ref = final[:n_par] / final[n_par]
    bound = SecAggPlusParams(**sap).error_bound(
        [seen[(b, 2)][n_par] * homo.WEIGHT_UNIT for b in paths]
    )
    bound = bound * (1 + np.abs(ref).max()) / (1 - bound)  # the weight slot is quantized too
    for b in paths:
        err = np.max(np.abs(_model(tmp_path / "w", b) - ref))
        assert err <= bound and err < 1e-3, (err, bound)
    # nothing the coordinator received holds a bank's update in floating point
    wire = b"".join(
        np.asarray(v).tobytes() if isinstance(v, np.ndarray) else v if isinstance(v, bytes) else b""
        for msg in tr.log.messages
        if msg.direction == "from_party"
        for v in msg.payload.values()
    )
    for vec in seen.values():
        w = vec[n_par]
        for probe in (vec[:3], vec[:3] / w, (vec[:3] / w).astype(np.float32)):
            assert probe.tobytes() not in wire
    assert m["exchanges"] == 1 + 5 + 3 * 5 + 1  # init, stats + 4 stages, rounds, evaluate
    # and no bank column (raw, scaled, shifted) or row ID in any message, masked ones included
    tables = {n: pd.read_csv(p) for n, p in paths.items()}
    assert_no_leak(tr.log, tables, [], id_column="id")

    # training result: plain FedAvg with the same seeds reaches the same model and AUC
    plain = homo.drive(
        LocalTransport(
            [PartyContext(n, PartyRole.GUEST, p, tmp_path / "p" / n) for n, p in paths.items()]
        ),
        _config(paths, "plaintext"),
    ).metrics
    assert abs(m["auc"] - plain["auc"]) < 0.005 and plain["auc"] > 0.85


def test_secaggplus_fedavg_auc_matches_plain_fedavg_on_taiwan(
    shared_data: Path, tmp_path: Path
) -> None:
    from federation.config import parse_config
    from federation.homo.split import (
        TAIWAN_ID,
        TAIWAN_LABEL,
        iid_split,
        load_taiwan,
        write_bank_files,
    )

    df = load_taiwan(shared_data).iloc[:12000]
    paths = write_bank_files(df, iid_split(len(df), 4, seed=5), tmp_path / "d")
    out = {}
    for backend in ("plaintext", "secaggplus"):
        cfg = parse_config(
            {
                "experiment": {
                    "name": "t",
                    "algorithm": "homo_lr",
                    "backend": backend,
                    "id_column": TAIWAN_ID,
                    "runtime": "local",
                    "seed": 3,
                },
                "params": {
                    "rounds": 6,
                    "batch_size": 512,
                    "learning_rate": 0.1,
                    "momentum": 0.9,
                    "secaggplus": {"max_weight": 5000},
                },
                "parties": [
                    {"name": n, "role": "guest", "data": str(p), "label": TAIWAN_LABEL}
                    for n, p in paths.items()
                ],
            }
        )
        out[backend] = homo.drive(
            LocalTransport(
                [
                    PartyContext(n, PartyRole.GUEST, p, tmp_path / backend / n)
                    for n, p in paths.items()
                ]
            ),
            cfg,
        ).metrics
    print(
        f"\nhomo_lr on 12000 Taiwan rows, 4 banks: SecAgg+ AUC {out['secaggplus']['auc']:.4f}, "
        f"plain FedAvg {out['plaintext']['auc']:.4f}"
    )
    assert abs(out["secaggplus"]["auc"] - out["plaintext"]["auc"]) < 0.002
    assert out["plaintext"]["auc"] > 0.67


@pytest.mark.slow
@pytest.mark.flower
def test_secaggplus_backend_in_flower_simulation(tmp_path: Path) -> None:
    """The same run on Flower's simulation runtime (Ray; ~35 s): train messages carry SecAgg+."""
    import tomli_w

    from federation.run import run_experiment

    paths = _bank_files(tmp_path / "data", rows=200)
    raw = _experiment(
        paths,
        backend="secaggplus",
        runtime="simulation",
        rounds=2,
        batch_size=32,
        learning_rate=0.2,
        momentum=0.9,
        secaggplus={"max_weight": 1000},
    )
    (tmp_path / "experiment.toml").write_text(tomli_w.dumps(raw))
    run = run_experiment(tmp_path / "experiment.toml", tmp_path / "run", keep_payloads=True)
    m = run.metrics
    assert m["runtime"] == "simulation" and m["backend"] == "secaggplus"
    assert m["exchanges"] >= 1 + 5 + 2 * 5 + 1
    disclosure = json.loads((tmp_path / "run" / "disclosure.json").read_text())
    sent = disclosure["parties"]["bank_1"]["sent"]
    assert sent["homo.secaggplus.collect_masked_vectors"]["count"] == 3  # stats + 2 rounds
    assert "update" not in sent["homo.train"]["fields"]
    assert run.log is not None
    for msg in run.log.messages:
        if msg.direction == "from_party" and msg.action.endswith("collect_masked_vectors"):
            assert msg.payload["fitres.num_examples.num_examples"] == 0
            assert np.asarray(msg.payload["secaggplus_configs.masked_params"]).dtype.kind in "iu"
    # the banks' global model: plain FedAvg's (local runtime, same seeds) up to quantization
    from federation.config import load_config

    cfg = load_config(tmp_path / "experiment.toml")
    cfg.experiment.backend = "plaintext"
    plain = homo.drive(
        LocalTransport(
            [PartyContext(n, PartyRole.GUEST, p, tmp_path / "p" / n) for n, p in paths.items()]
        ),
        cfg,
    ).metrics
    for b in paths:
        got = _model(tmp_path / "run" / "parties", b)
        assert np.max(np.abs(got - _model(tmp_path / "p", b))) < 1e-3
    assert abs(m["auc"] - plain["auc"]) < 0.005
