"""Hetero LR end to end on LocalTransport against a centralized scikit-learn reference."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from features import synth
from features.encoding import party_matrix
from federation import hetero_lr
from federation.config import ExperimentConfig, parse_config
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.roles import PartyRole
from lab.errors import ConfigError


# ---------------------------------------------------------------------------------------
# a world of parties (alignment and data access stand-ins: a plain inner join on the IDs)
# ---------------------------------------------------------------------------------------


class World:
    def __init__(self, frames: dict[str, pd.DataFrame], guest: str, label: str, id_col: str,
                 tmp: Path, monkeypatch: pytest.MonkeyPatch, keep_payloads: bool = False) -> None:
        self.frames, self.guest, self.label, self.id_col = frames, guest, label, id_col
        self.ctxs = [
            PartyContext(name, PartyRole.GUEST if name == guest else PartyRole.HOST,
                         tmp / f"{name}.csv", tmp / "parties" / name)
            for name in frames
        ]
        self.transport = LocalTransport(self.ctxs, keep_payloads=keep_payloads)
        ids = set(frames[guest][id_col])
        for df in frames.values():
            ids &= set(df[id_col])
        self.ids = sorted(ids)

        def fake_align(transport: Any, config: Any, progress: Any) -> Any:
            for ctx in self.ctxs:
                ctx.state["standin_ids"] = list(self.ids)
            return SimpleNamespace(n_aligned=len(self.ids))

        self.matrices = {
            name: party_matrix(df, id_column=id_col, label=label if name == guest else None)
            .select(np.asarray(self.ids, dtype=object))
            for name, df in frames.items()
        }

        def fake_matrix(ctx: PartyContext) -> Any:
            assert ctx.state["standin_ids"] == self.ids
            return self.matrices[ctx.name]

        monkeypatch.setattr(hetero_lr, "_align", fake_align)
        monkeypatch.setattr(hetero_lr, "_matrix", fake_matrix)

    def config(self, backend: str, **params: Any) -> ExperimentConfig:
        return parse_config({
            "experiment": {"name": "t", "algorithm": "hetero_lr", "backend": backend,
                           "id_column": self.id_col, "runtime": "local", "seed": 3},
            "params": params,
            "parties": [
                {"name": n, "role": "guest" if n == self.guest else "host",
                 "data": f"{n}.csv", **({"label": self.label} if n == self.guest else {})}
                for n in self.frames
            ],
        })

    def run(self, backend: str, **params: Any) -> Any:
        return hetero_lr.drive(self.transport, self.config(backend, **params))

    @property
    def guest_state(self) -> dict[str, Any]:
        return next(c for c in self.ctxs if c.name == self.guest).state["hetero_lr"]

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """Pooled aligned rows (guest columns first, then hosts in order) and the label."""
        X = np.hstack([m.X for m in self.matrices.values()])
        return X, np.asarray(self.matrices[self.guest].y)

    def centralized_auc(self, l2: float, class_weight: Any = None) -> float:
        X, y = self.pooled()
        st = self.guest_state
        train, valid = st["train"], st["valid"]
        mean, std = X[train].mean(axis=0), X[train].std(axis=0)
        std[std == 0] = 1
        Z = (X - mean) / std
        C = 1.0 / (l2 * train.size) if l2 > 0 else 1e6
        ref = LogisticRegression(C=C, max_iter=2000, class_weight=class_weight).fit(Z[train], y[train])
        return float(roc_auc_score(y[valid], ref.decision_function(Z[valid])))


@pytest.fixture(scope="module")
def synthetic() -> dict[str, pd.DataFrame]:
    """A bank and three agencies (about 1,800 aligned enterprises)."""
    tables = synth.generate(5000, 11)
    return {p: tables[p] for p in ("bank", "tax", "social_insurance", "courts")}


@pytest.fixture()
def syn_world(synthetic: dict[str, pd.DataFrame], tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> World:
    return World(synthetic, "bank", "default_12m", "uscc", tmp_path, monkeypatch)


FAST = {"epochs": 8, "batch_size": 512, "learning_rate": 1.0, "l2": 0.001, "tol": 1e-5}


def test_plaintext_matches_centralized_sklearn(syn_world: World) -> None:
    # Execute
    res = syn_world.run("plaintext", **FAST)
    # Assert
    ref = syn_world.centralized_auc(FAST["l2"])
    assert abs(res.metrics["auc"] - ref) < 0.005, (res.metrics["auc"], ref)
    assert res.metrics["n_aligned"] == len(syn_world.ids)
    assert res.metrics["n_train"] + res.metrics["n_valid"] == len(syn_world.ids)


@pytest.mark.parametrize("backend", ["paillier", "ckks"])
def test_encrypted_backends_match_centralized_sklearn_synthetic(syn_world: World, backend: str) -> None:
    # Execute
    res = syn_world.run(backend, key_bits=1024, **FAST)
    # Assert
    ref = syn_world.centralized_auc(FAST["l2"])
    print(backend, res.metrics)
    assert abs(res.metrics["auc"] - ref) < 0.005, (res.metrics["auc"], ref)
