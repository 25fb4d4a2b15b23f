"""Federated WOE/IV on LocalTransport against the centralized computation, optbinning and
scorecardpy on the same bins (shared German and Taiwan data), and the message leak check."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from leakcheck import assert_no_leak

from features import woe as W
from features.public import load_public
from federation import scorecard as FW
from federation.config import ExperimentConfig, parse_config
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.partydata import SETUP_KEY, PartySetup, load_table, store_alignment
from federation.roles import PartyRole


class World:
    """Parties on LocalTransport, written to CSV files and aligned on their common IDs
    (alignment itself is tested elsewhere: here every party gets its rows directly)."""

    def __init__(
        self,
        frames: dict[str, pd.DataFrame],
        guest: str,
        label: str,
        id_col: str,
        tmp: Path,
        *,
        id_kind: str = "opaque",
        keep_payloads: bool = True,
        guard: bool = True,
    ) -> None:
        self.frames = {p: df.astype({id_col: str}) for p, df in frames.items()}
        self.guest, self.label, self.id_col, self.id_kind = guest, label, id_col, id_kind
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.ctxs: dict[str, PartyContext] = {}
        for name, df in self.frames.items():
            path = tmp / f"{name}.csv"
            df.to_csv(path, index=False)
            role = PartyRole.GUEST if name == guest else PartyRole.HOST
            self.ctxs[name] = PartyContext(name, role, path, tmp / "parties" / name)
            if not guard:  # plaintext label backend: benchmarks and tests only
                self.ctxs[name].node_config["privacy-guard"] = "off"
        ids = set(self.frames[guest][id_col])
        for df in self.frames.values():
            ids &= set(df[id_col])
        self.ids = sorted(ids)
        self.transport = LocalTransport(list(self.ctxs.values()), keep_payloads=keep_payloads)

    def align(self) -> None:
        for name, ctx in self.ctxs.items():
            ctx.state.clear()
            ctx.state[SETUP_KEY] = PartySetup(
                run_id="t",
                role=ctx.role.value,
                id_column=self.id_col,
                id_kind=self.id_kind,
                label=self.label if name == self.guest else "",
            )
            table = load_table(ctx)
            pos = pd.Index(table[self.id_col].astype(str)).get_indexer(self.ids)
            store_alignment(ctx, pos)

    def config(
        self, algorithm: str = "scorecard", backend: str = "paillier", **params: Any
    ) -> ExperimentConfig:
        return parse_config(
            {
                "experiment": {
                    "name": "t",
                    "algorithm": algorithm,
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
                        "data": str(self.ctxs[n].data_path),
                        **({"label": self.label} if n == self.guest else {}),
                    }
                    for n in self.frames
                ],
            },
            base_dir=self.tmp,
        )

    def aligned(self, party: str) -> pd.DataFrame:
        df = self.frames[party].set_index(self.id_col).loc[self.ids].reset_index()
        return df

    @property
    def y(self) -> np.ndarray:
        return self.aligned(self.guest)[self.label].to_numpy(dtype=np.float64)

    def host_features(self, host: str) -> list[tuple[str, W.Binning, str, np.ndarray]]:
        """(name, final binning, kind, aligned values) of each host feature."""
        ctx = self.ctxs[host]
        st = FW.woe_state(ctx)
        df = self.aligned(host)
        out = []
        for name, b in zip(st.features, FW.binnings(ctx), strict=False):
            kind = W.column_kind(df[name])
            out.append((name, b, kind, W.column_values(df[name], kind)))
        return out


def run_woe(world: World, **params: Any) -> FW.WoeOutcome:
    world.align()
    cfg = world.config()
    return FW.federated_woe(world.transport, cfg, FW.WoeParams(**params))


def _optbinning_iv(values: np.ndarray, kind: str, b: W.Binning, y: np.ndarray) -> float:
    import warnings

    from optbinning import OptimalBinning

    if b.n_bins == 1:
        return 0.0  # optbinning cannot build a table without a split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "numeric":
            splits = b.final_splits()
            ob = OptimalBinning(
                dtype="numerical",
                user_splits=splits,
                user_splits_fixed=[True] * len(splits),
                min_prebin_size=1e-6,
                max_n_prebins=len(splits) + 1,
            )
            ob.fit(values.astype(np.float64), y.astype(int))
        else:
            cats = [np.array(c, dtype=object) for c in b.final_categories()]
            ob = OptimalBinning(
                dtype="categorical",
                user_splits=cats,
                user_splits_fixed=[True] * len(cats),
                min_prebin_size=1e-6,
            )
            ob.fit(values.astype(object), y.astype(int))
        table = ob.binning_table.build()
    return float(table.loc["Totals", "IV"])


def _scorecardpy() -> Any:
    """scorecardpy imports ``pkg_resources`` for its bundled demo data only."""
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ModuleNotFoundError:
            stub = types.ModuleType("pkg_resources")
            stub.resource_filename = lambda *a, **k: ""  # type: ignore[attr-defined]
            sys.modules["pkg_resources"] = stub
    import scorecardpy

    return scorecardpy


def _scorecardpy_iv(values: np.ndarray, b: W.Binning, y: np.ndarray) -> float:
    sc = _scorecardpy()
    dt = pd.DataFrame({"x": values.astype(np.float64), "y": y.astype(int)})
    bins = sc.woebin(
        dt,
        y="y",
        x=["x"],
        breaks_list={"x": b.final_splits()},
        print_step=0,
        no_cores=1,
        ignore_datetime_cols=False,
    )
    return float(bins["x"]["total_iv"].iloc[0])


def _check_against_centralized(
    world: World, outcome: FW.WoeOutcome, *, with_scorecardpy: bool
) -> int:
    y = world.y
    guest_state = FW.woe_state(world.ctxs[world.guest])
    checked = 0
    for host in outcome.report:
        if host == world.guest:
            continue
        fed = guest_state.hosts[host].tables
        for j, (name, b, kind, vals) in enumerate(world.host_features(host)):
            ref = W.woe_from_ids(b.transform(vals), y, b.n_bins)
            got = fed[j]
            np.testing.assert_array_equal(got["counts"], ref.counts)
            np.testing.assert_array_equal(got["events"], ref.events)
            assert np.max(np.abs(np.asarray(got["woe"]) - ref.woe)) <= 1e-9, name
            assert abs(got["iv"] - ref.iv) <= 1e-9, name
            assert abs(outcome.report[host][j]["iv"] - ref.iv) <= 1e-9
            # the host's WOE (shared for the scorecard) is the guest's
            np.testing.assert_allclose(FW.woe_values(world.ctxs[host])[j], ref.woe, atol=1e-12)
            # independent references on the same bins
            assert abs(_optbinning_iv(vals, kind, b, y) - ref.iv) <= 1e-6, name
            if with_scorecardpy and kind == "numeric" and b.n_bins > 1:
                assert abs(_scorecardpy_iv(vals, b, y) - ref.iv) <= 1e-6, name
            # every revealed bin is large enough and has both classes
            assert ref.counts.min() >= 50 or b.n_bins == 1
            checked += 1
    return checked


def _edges_and_categories(world: World, host: str) -> tuple[set[float], set[str]]:
    floats: set[float] = set()
    cats: set[str] = set()
    for _, b, kind, _ in world.host_features(host):
        if kind == "numeric":
            floats |= {float(s) for s in b.splits if float(s) != int(s)}
        else:
            cats |= {c for group in b.categories for c in group}
    return floats, cats


def _assert_no_edges(world: World) -> None:
    for host in world.frames:
        if host == world.guest:
            continue
        floats, cats = _edges_and_categories(world, host)
        for m in world.transport.log.messages:
            for key, value in m.payload.items():
                if isinstance(value, np.ndarray) and value.dtype.kind == "f" and floats:
                    assert not (floats & set(value.ravel().tolist())), (m.action, key)
                items = value if isinstance(value, list) else [value]
                for v in items:
                    if isinstance(v, str):
                        assert v not in cats, (m.action, key, v)


@pytest.fixture(scope="module")
def german(shared_data: Path) -> Any:
    return load_public("german", shared_data)


def test_german_federated_woe_equals_centralized_and_references(
    german: Any, tmp_path: Path
) -> None:
    world = World(german.parties, "bank", "y", "id", tmp_path)
    outcome = run_woe(world, key_bits=1024, min_bin_size=50, max_bins=6)
    checked = _check_against_centralized(world, outcome, with_scorecardpy=True)
    assert checked == 11
    # the report names host features by opaque ids only
    assert all(f["id"].startswith("agency:f") for f in outcome.report["agency"])
    # the guest's own IVs equal optbinning's on its own bins
    g = world.ctxs["bank"]
    st = FW.woe_state(g)
    df = world.aligned("bank")
    for j, (name, b) in enumerate(zip(st.features, FW.binnings(g), strict=False)):
        kind = W.column_kind(df[name])
        vals = W.column_values(df[name], kind)
        assert abs(_optbinning_iv(vals, kind, b, world.y) - st.iv[j]) <= 1e-6


def test_german_messages_leak_nothing(german: Any, tmp_path: Path) -> None:
    world = World(german.parties, "bank", "y", "id", tmp_path)
    run_woe(world, key_bits=1024, publish_feature_names=[])
    assert_no_leak(world.transport.log, world.frames, world.ids)
    _assert_no_edges(world)
    fields = {f for m in world.transport.log.messages for f in m.fields}
    assert "labels" not in fields  # only the encrypted labels travel
    # the guest never receives the host's bin edges: it only gets counts and sums
    to_guest = [
        m
        for m in world.transport.log.messages
        if m.party == "bank" and m.direction == "to_party" and m.action == FW.MERGE
    ]
    assert set(to_guest[0].fields) == {
        "hosts",
        "sums.agency",
        "counts.agency",
        "n_bins.agency",
        "names.agency",
        "kinds.agency",
        "missing.agency",
    }


def test_published_names_and_plaintext_backend_agree(german: Any, tmp_path: Path) -> None:
    a = World(german.parties, "bank", "y", "id", tmp_path / "a")
    out_a = run_woe(a, key_bits=1024, publish_feature_names=["agency"])
    b = World(german.parties, "bank", "y", "id", tmp_path / "b", guard=False)
    out_b = run_woe(b, label_backend="plaintext")
    assert [f["id"] for f in out_a.report["agency"]] == list(german.hosts["agency"].columns[1:])
    assert [f["iv"] for f in out_a.report["agency"]] == pytest.approx(
        [f["iv"] for f in out_b.report["agency"]], abs=1e-12
    )


@pytest.mark.slow
def test_taiwan_federated_woe_equals_centralized(shared_data: Path, tmp_path: Path) -> None:
    taiwan = load_public("taiwan", shared_data)
    world = World(taiwan.parties, "bank", "y", "id", tmp_path, keep_payloads=False)
    outcome = run_woe(world, key_bits=1024, min_bin_size=100)
    assert _check_against_centralized(world, outcome, with_scorecardpy=True) == 11
    ivs = {h: [f["iv"] for f in fs] for h, fs in outcome.report.items()}
    assert max(ivs["payment_history"]) > 0.3  # PAY_0 is the strongest predictor


def test_federated_psi_is_zero_on_same_data_and_positive_on_shift(
    german: Any, tmp_path: Path
) -> None:
    world = World(german.parties, "bank", "y", "id", tmp_path, guard=False)
    run_woe(world, label_backend="plaintext")
    same = FW.federated_psi(world.transport, {"agency": str(tmp_path / "agency.csv")})
    assert max(same["agency"]) < 0.05  # same rows (all aligned) -> tiny
    shifted = german.hosts["agency"].copy()
    shifted["age_in_years"] = shifted["age_in_years"] + 15
    shifted.to_csv(tmp_path / "agency_later.csv", index=False)
    later = FW.federated_psi(world.transport, {"agency": "agency_later.csv"})
    names = list(german.hosts["agency"].columns[1:])
    j = names.index("age_in_years")
    assert later["agency"][j] > 0.25
    assert later["agency"][names.index("housing")] == pytest.approx(
        same["agency"][names.index("housing")]
    )
