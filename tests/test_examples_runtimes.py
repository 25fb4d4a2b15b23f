"""Every shipped example runs as documented on the local, simulation and deployment runtimes.

Each ``examples/*.toml`` is copied, with only its ``[params]`` shrunk (fewer epochs, trees
and rounds, 1024-bit Paillier keys) and a longer ``join_timeout``, into a folder laid out
as the examples' comments say: the data files under ``examples/data/`` (synthetic
enterprises, the first rows of the public sets), the config's relative paths untouched, so
each runtime resolves them against the config's folder. One local deployment (a SuperLink
started once) serves every example: before an example's deployment run it is given that
example's parties (``fedlab federation up`` for the first, SuperNodes added or replaced
after: ``bank`` of the Taiwan scorecard is another table than the synthetic ``bank``).

Every run must align exactly the enterprises a pandas computation finds (the guest's rows
with an authorization valid on ``as_of``, held by every host), and the three runtimes must
agree on the model's AUC (the same messages; hetero LR's masks, CKKS noise and the
scorecard's tie-breaking move figures by less than 1e-3).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import tomli_w

from federation.config import ExperimentConfig, load_config
from federation.roles import PartyRole

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (REPO / "examples").glob("*.toml"))
RUNTIMES = ("local", "simulation", "deployment")
SHRINK: dict[str, dict[str, Any]] = {
    "hetero_lr": {"epochs": 2, "key_bits": 1024},
    "secureboost": {"n_trees": 2, "max_depth": 2, "key_bits": 1024},
    "scorecard": {"key_bits": 1024, "lr": {"epochs": 3}},
    "homo_lr": {"rounds": 2},
    "homo_nn": {"rounds": 2},
}
N_ROWS = 1500  # first rows of each public set; synthetic enterprises
AUC_TOLERANCE = 1e-3


def _shrunk(text: str) -> str:
    raw = tomllib.loads(text)
    raw["experiment"]["join_timeout"] = 300
    params = raw.setdefault("params", {})
    for key, value in SHRINK[raw["experiment"]["algorithm"]].items():
        if isinstance(value, dict):
            params.setdefault(key, {}).update(value)
        else:
            params[key] = value
    return tomli_w.dumps(raw)


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """``ROOT/examples``: the shrunk configs and, under ``data/``, the files they name."""
    from features import synth
    from features.public import load_public, write_parties
    from federation.homo.split import iid_split, load_taiwan, write_bank_files

    folder = tmp_path_factory.mktemp("examples-runtimes") / "examples"
    data = folder / "data"
    synth.write(data / "synthetic", synth.generate(N_ROWS, 42))
    for name in ("default_credit", "taiwan"):
        tables = load_public(name, shared_data)
        small = replace(
            tables,
            guest=tables.guest.iloc[:N_ROWS].reset_index(drop=True),
            hosts={h: df.iloc[:N_ROWS].reset_index(drop=True) for h, df in tables.hosts.items()},
        )
        assert all(len(df) == N_ROWS for df in small.parties.values())
        write_parties(data / name, small)
    taiwan = load_taiwan(shared_data).iloc[: 2 * N_ROWS]
    write_bank_files(taiwan, iid_split(len(taiwan), 4, seed=5), data)
    for example in EXAMPLES:
        text = (REPO / "examples" / f"{example}.toml").read_text(encoding="utf-8")
        (folder / f"{example}.toml").write_text(_shrunk(text), encoding="utf-8")
    return folder


class SharedFederation:
    """One local deployment whose SuperNodes follow the example being run."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.up = False

    def serve(self, cfg: ExperimentConfig) -> None:
        """Exactly ``cfg``'s parties, each with its files, get a running SuperNode."""
        from federation.runtime.local_federation import (
            Federation,
            add_supernode,
            federation_up,
            remove_supernode,
        )

        if not self.up:
            federation_up(cfg, self.state)
            self.up = True
            return
        fed = Federation.load(self.state)
        assert fed is not None
        wanted = {p.name: p for p in cfg.parties}
        for node in list(fed.nodes):
            p = wanted.get(node.party)
            if p is None or (node.data, node.authorizations) != (
                str(p.data),
                str(p.authorizations or ""),
            ):
                remove_supernode(self.state, node.party)
        now = Federation.load(self.state)
        assert now is not None
        running = {n.party for n in now.nodes}
        for p in cfg.parties:
            if p.name not in running:
                add_supernode(self.state, p)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedFederation]:
    from federation.runtime.local_federation import federation_down

    shared = SharedFederation(tmp_path_factory.mktemp("examples-federation") / "fed")
    try:
        yield shared
    finally:
        federation_down(shared.state)


def _ids(path: Path, id_column: str) -> set[str]:
    return set(pd.read_csv(path, dtype={id_column: str})[id_column])


def expected_rows(cfg: ExperimentConfig) -> int:
    """What the run must align, computed with pandas from the parties' files: the
    guest's enterprises (authorized for it on ``as_of`` when required) held by every host;
    for horizontal FedAvg, every bank's rows."""
    id_column = cfg.experiment.id_column
    if all(p.role == PartyRole.GUEST for p in cfg.parties):
        return sum(len(pd.read_csv(p.data)) for p in cfg.parties)
    guest = cfg.guest
    rows = _ids(guest.data, id_column)
    if cfg.experiment.authorization == "required":
        assert guest.authorizations is not None and cfg.experiment.as_of is not None
        auth = pd.read_csv(guest.authorizations, dtype={id_column: str})
        day = pd.Timestamp(cfg.experiment.as_of)
        valid = (
            (auth["bank"] == guest.name)
            & (pd.to_datetime(auth["granted_on"]) <= day)
            & (pd.to_datetime(auth["expires_on"]) >= day)
        )
        rows &= set(auth.loc[valid, id_column])
    for host in cfg.hosts:
        rows &= _ids(host.data, id_column)
    return len(rows)


CASES = [(example, runtime) for example in EXAMPLES for runtime in RUNTIMES]


@pytest.fixture(scope="module")
def local_runs() -> dict[str, dict[str, Any]]:
    """Each example's local-runtime metrics, filled by its ``local`` case."""
    return {}


@pytest.mark.slow
@pytest.mark.flower
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(("example", "runtime"), CASES, ids=[f"{e}-{r}" for e, r in CASES])
def test_example_runs_on_every_runtime(
    example: str,
    runtime: str,
    layout: Path,
    federation: SharedFederation,
    local_runs: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    from federation.run import run_experiment

    # Prepare
    config = layout / f"{example}.toml"
    cfg = load_config(config)
    want = expected_rows(cfg)
    assert want >= 100, f"{example}: the small data align only {want} rows"
    if runtime != "local" and example not in local_runs:  # run alone: the reference first
        local_runs[example] = run_experiment(config, tmp_path / "local", runtime="local").metrics
    if runtime == "deployment":
        federation.serve(cfg)

    # Execute
    out = tmp_path / runtime
    m = run_experiment(config, out, runtime=runtime, state_dir=federation.state).metrics
    if runtime == "local":
        local_runs[example] = m

    # Assert
    assert m["runtime"] == runtime
    assert (out / "config.toml").read_text(encoding="utf-8") == config.read_text(
        encoding="utf-8"
    ), "DIR's config.toml is not the file as given"
    aligned = m["n_train"] + m["n_valid"] if "n_banks" in m else m["n_aligned"]
    assert aligned == want, f"{aligned} rows aligned, pandas finds {want}"
    reference = local_runs[example]["auc"]
    assert m["auc"] == pytest.approx(reference, abs=AUC_TOLERANCE), (
        f"AUC {m['auc']} on {runtime}, {reference} on the local runtime"
    )
