"""Where PSI keys live: never in the output folder of a local or simulation run (the
platform's run folder), at a SuperNode in its own folders; a guest's key of one run is gone
once the run's alignment is over."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_data_contracts import _tables, _write

from federation.alignment_party import PSI_DIR_NODE_CONFIG, _host_key, _psi_dir
from federation.party import PartyContext
from federation.roles import PartyRole


def _keys(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.suffix in (".key", ".bin") or "psi" in p.parts]


def test_a_local_run_leaves_no_psi_key_in_its_output(tmp_path: Path) -> None:
    from federation.run import run_experiment

    out = tmp_path / "out"
    summary = run_experiment(_write(tmp_path, _tables()), out, runtime="local")
    assert summary.metrics["n_aligned"] > 0
    assert _keys(out) == [], _keys(out)  # on main: parties/tax/psi/host.key


@pytest.mark.slow
@pytest.mark.flower
def test_a_simulation_run_leaves_no_psi_key_in_its_output(tmp_path: Path) -> None:
    from federation.run import run_experiment

    out = tmp_path / "out"
    run_experiment(_write(tmp_path, _tables()), out, runtime="simulation", allow_plaintext=True)
    assert _keys(out) == [], _keys(out)


def _ctx(tmp_path: Path, **kw: object) -> PartyContext:
    return PartyContext("tax", PartyRole.HOST, None, tmp_path / "run", **kw)  # type: ignore[arg-type]


def test_key_folders_by_runtime(tmp_path: Path) -> None:
    # local runtime: memory only; the host's key is the same for the whole process
    local = _ctx(tmp_path)
    assert _psi_dir(local) is None and _host_key(local) is _host_key(local)
    # simulation: the party-private folder
    sim = _ctx(tmp_path, private=tmp_path / "private")
    assert _psi_dir(sim) == tmp_path / "private" / "psi"
    # SuperNode: its work dir (long term) and the run's folder there
    node = _ctx(tmp_path, home=tmp_path / "work")
    assert _psi_dir(node, long_term=True) == tmp_path / "work" / "psi"
    assert _psi_dir(node) == tmp_path / "run" / "psi"
    key = _host_key(node)
    assert (tmp_path / "work" / "psi" / "host.key").is_file()
    assert _host_key(node).fingerprint() == key.fingerprint()
    # a node config's folder wins
    chosen = _ctx(tmp_path, node_config={PSI_DIR_NODE_CONFIG: str(tmp_path / "k")})
    assert _psi_dir(chosen) == tmp_path / "k"
