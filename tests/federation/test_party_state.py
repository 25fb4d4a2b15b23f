"""Party state hygiene: where a party's run state lives, and that it goes when a run ends.

A party's run state holds its secrets in a run (DH private keys, pair keys, masks, aligned
rows). It lives in a folder only that party uses (0700, files 0600), never in a run folder
whose path the coordinator names or in the coordinator's output folder; it is deleted when
the run ends in any way, and a party sweeps away what a crash left (TTL, tombstones).
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from echo_protocol import write_echo_experiment

from federation.records import from_records, to_records
from federation.runtime.actions import PARTY_KEY, ROLE_KEY
from federation.runtime.dispatch import PartyIdentity, handle_request
from federation.runtime.state import state_file
from federation.transport import Envelope
from lab.errors import ConfigError


@pytest.fixture(autouse=True)
def _echo(monkeypatch: pytest.MonkeyPatch) -> None:
    import echo_protocol  # noqa: F401 - registers the echo handlers

    monkeypatch.setenv("FEDLAB_PROTOCOL_MODULES", "echo_protocol")


def _request(action: str, payload: dict) -> object:
    rec = to_records(Envelope("tax", action, payload))
    rec["cfg"][ROLE_KEY] = "host"
    rec["cfg"][PARTY_KEY] = "tax"
    return rec


def _send(ident: PartyIdentity, action: str, payload: dict, run: str) -> dict:
    return dict(from_records("tax", handle_request(ident, _request(action, payload), run)).payload)


def _node(tmp_path: Path, **extra: str) -> PartyIdentity:
    from federation.client_app import identity_from_node_config

    data = tmp_path / "tax.csv"
    data.write_text("id,y\n1,2\n3,4\n")
    cfg = {"party": "tax", "data": str(data), "work-dir": str(tmp_path / "work"), **extra}
    return identity_from_node_config(cfg)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_supernodes_state_is_private_and_outside_every_run_folder(tmp_path: Path) -> None:
    node = _node(tmp_path)
    assert "__error__" not in _send(node.for_run("7"), "echo.init", {"fail": ""}, "7")
    path = tmp_path / "work" / ".state" / "7.pkl"
    assert path.is_file()
    assert _mode(path.parent) == 0o700 and _mode(path) == 0o600
    # the run folder (whose path location.json gives the coordinator) holds no state
    assert not [p for p in (tmp_path / "work").rglob("*.pkl") if p != path]
    # a node config `state-dir` puts the state elsewhere
    other = _node(tmp_path, **{"state-dir": str(tmp_path / "vault")})
    assert "__error__" not in _send(other.for_run("8"), "echo.init", {"fail": ""}, "8")
    assert (tmp_path / "vault" / ".state" / "8.pkl").is_file()
    assert _mode(tmp_path / "vault" / ".state") == 0o700
    assert not (tmp_path / "work" / ".state" / "8.pkl").exists()


def test_a_partys_own_error_reply_deletes_its_run_state(tmp_path: Path) -> None:
    me = _node(tmp_path).for_run("7")
    _send(me, "echo.init", {"fail": ""}, "7")
    path = state_file(tmp_path / "work", "7")
    assert path.is_file()
    reply = _send(me, "echo.step", {}, "7")  # no "x": the handler fails
    assert "__error__" in reply
    assert not path.exists()  # the error ends the run: its secrets do not stay


def test_finish_and_discard_delete_state_of_the_named_runs_only(tmp_path: Path) -> None:
    node = _node(tmp_path)
    for run in ("7", "8", "9", "10"):
        _send(node.for_run(run), "echo.init", {"fail": ""}, run)
    _send(node.for_run("10"), "runtime.finish", {}, "10")
    # a later run reports two earlier runs ended
    reply = _send(node.for_run("11"), "runtime.discard", {"runs": ["7", "8"]}, "11")
    assert reply == {"ok": True}
    left = sorted(p.name for p in (tmp_path / "work" / ".state").iterdir())
    assert left == ["9.pkl"]
    assert sorted(p.name for p in (tmp_path / "work" / ".discarded").iterdir()) == ["7", "8"]


def test_state_ttl_comes_from_node_config_then_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from federation.runtime.state_sweep import DEFAULT_TTL, TTL_ENV, state_ttl

    monkeypatch.delenv(TTL_ENV, raising=False)
    assert state_ttl({}) == DEFAULT_TTL
    monkeypatch.setenv(TTL_ENV, "120")
    assert state_ttl({}) == 120.0
    assert state_ttl({"state-ttl-seconds": 30}) == 30.0
    for bad in ("0", "-5", "soon", "inf"):
        monkeypatch.setenv(TTL_ENV, bad)
        with pytest.raises(ConfigError, match=TTL_ENV):
            state_ttl({})
    with pytest.raises(ConfigError, match="state-ttl-seconds"):
        state_ttl({"state-ttl-seconds": "nan"})


def test_sweep_removes_idle_and_discarded_runs_and_keeps_live_ones(tmp_path: Path) -> None:
    from federation.runtime.state import discard_run, save_state
    from federation.runtime.state_sweep import sweep_state

    home = tmp_path / "work"
    for run in ("idle", "ended", "live"):
        save_state(state_file(home, run), {"dh_private": b"secret"})
    now = time.time()
    old = now - 3600 - 5
    os.utime(state_file(home, "idle"), (old, old))
    # a tombstone whose discard raced a late message that wrote the state again
    discard_run(home, "ended")
    save_state(state_file(home, "ended"), {"late": True})
    leftover = home / ".state" / ".live.pkl.abc.tmp"  # an interrupted atomic write
    leftover.write_bytes(b"half")
    os.utime(leftover, (old, old))
    stale_tomb = home / ".discarded" / "gone"
    stale_tomb.touch()
    os.utime(stale_tomb, (old, old))

    removed = sweep_state(home, ttl=3600, home=home, now=now)
    assert sorted(removed) == ["ended", "idle"]
    assert sorted(p.name for p in (home / ".state").iterdir()) == ["live.pkl"]
    assert not stale_tomb.exists() and (home / ".discarded" / "ended").exists()


def test_the_supernode_launcher_sweeps_before_the_first_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from federation.runtime.state import save_state
    from federation.runtime.supernode import start_sweeper

    home = tmp_path / "node"
    save_state(state_file(home, "crashed"), {"pair_keys": b"k"})
    save_state(state_file(home, "recent"), {"pair_keys": b"k"})
    old = time.time() - 100
    os.utime(state_file(home, "crashed"), (old, old))
    monkeypatch.setenv("FEDLAB_STATE_TTL_SECONDS", "50")
    args = ["--superlink", "127.0.0.1:1", "--node-config", f"party='tax' work-dir='{home}'"]
    sweeper = start_sweeper(args)
    try:
        assert sweeper is not None and sweeper.sweeps == 1  # at start-up, synchronously
        assert not state_file(home, "crashed").exists()
        assert state_file(home, "recent").exists()
        assert sweeper.interval <= 50 / 4
    finally:
        assert sweeper is not None
        sweeper.stop()
    assert start_sweeper(["--superlink", "127.0.0.1:1"]) is None  # no party: nothing to sweep


def test_the_coordinators_record_of_unconfirmed_run_ends(tmp_path: Path) -> None:
    from federation.runtime.ended_runs import pending_runs, record

    assert pending_runs(tmp_path) == {}
    record(tmp_path, {}, {"11": ["bank", "tax"]})  # a run whose coordinator died
    sent = pending_runs(tmp_path)
    assert sent == {"11": ["bank", "tax"]}
    record(tmp_path, {}, {"12": ["tax"]})  # another run ends meanwhile
    # the next run told bank; tax is still down
    record(tmp_path, sent, {"11": ["tax"]})
    assert pending_runs(tmp_path) == {"11": ["tax"], "12": ["tax"]}
    record(tmp_path, pending_runs(tmp_path), {})
    assert pending_runs(tmp_path) == {}


class _Parties:
    """A transport whose parties ``up`` answer; the others are silent."""

    def __init__(self, up: set[str]) -> None:
        self.up = up
        self.sent: list[tuple[str, list[str]]] = []

    def answered(self, requests: list[Envelope], *, timeout: float) -> dict[str, Envelope]:
        assert timeout > 0
        self.sent += [(r.party, list(r.payload["runs"])) for r in requests]
        return {
            r.party: Envelope(r.party, r.action, {"ok": True})
            for r in requests
            if r.party in self.up
        }


def test_earlier_runs_are_reported_ended_to_the_parties_that_missed_them() -> None:
    from federation.runtime.coordinator import RunEnds, _report_ended

    pending = {"11": ["bank", "tax"], "12": ["tax"], "13": ["court"]}
    ends = RunEnds(pending=pending, unconfirmed={r: list(ps) for r, ps in pending.items()})
    parties = _Parties(up={"bank"})
    _report_ended(parties, ["bank", "tax"], ends, 5.0)  # type: ignore[arg-type]
    assert sorted(parties.sent) == [("bank", ["11"]), ("tax", ["11", "12"])]
    # court is not in this run; tax did not answer
    assert ends.to_json() == {"11": ["tax"], "12": ["tax"], "13": ["court"]}


def test_private_party_dirs_are_private_and_a_dead_process_folder_is_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from federation.runtime.state import PRIVATE_ROOT_ENV, private_party_dirs

    monkeypatch.setenv(PRIVATE_ROOT_ENV, str(tmp_path))
    dead = tmp_path / "fedlab-party-999999999-tax-x1"  # a killed run's folder
    (dead / ".state").mkdir(parents=True)
    (dead / ".state" / "3.pkl").write_bytes(b"secret")
    with private_party_dirs(["bank", "tax"]) as dirs:
        assert not dead.exists()
        assert sorted(dirs) == ["bank", "tax"] and dirs["bank"] != dirs["tax"]
        assert all(_mode(d) == 0o700 and d.parent == tmp_path for d in dirs.values())
        (dirs["tax"] / ".state").mkdir()
    assert not any(d.exists() for d in dirs.values())


def test_a_local_run_writes_no_state_file(tmp_path: Path) -> None:
    from federation.run import run_experiment

    cfg = write_echo_experiment(tmp_path / "exp", epochs=2)
    run_experiment(cfg, tmp_path / "run")
    failing = Path(cfg).with_name("failing.toml")
    failing.write_text(Path(cfg).read_text().replace("[params]\n", '[params]\nfail = "tax"\n'))
    with pytest.raises(Exception, match="party 'tax' failed"):
        run_experiment(failing, tmp_path / "run2")
    assert not list(tmp_path.rglob("*.pkl"))


@pytest.mark.slow
@pytest.mark.flower
def test_simulation_keeps_party_state_in_private_folders_outside_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from federation.run import run_experiment

    private = tmp_path / "private"
    private.mkdir()
    monkeypatch.setenv("FEDLAB_PARTY_STATE_ROOT", str(private))
    cfg = write_echo_experiment(tmp_path / "exp", runtime="simulation", epochs=2)
    out = tmp_path / "run"
    run_experiment(cfg, out)
    at = {}
    for name in ("bank", "tax"):
        piece = json.loads((out / "parties" / name / "piece.json").read_text())
        assert piece["rounds"] == 2  # the state survived between messages ...
        at[name] = Path(piece["state_at"])
    # ... in one private folder per party, outside DIR, gone after the run
    assert at["bank"] != at["tax"] and all(p.parent == private for p in at.values())
    assert not list(private.iterdir())
    failing = Path(cfg).with_name("failing.toml")
    failing.write_text(Path(cfg).read_text().replace("[params]\n", '[params]\nfail = "tax"\n'))
    with pytest.raises(Exception, match="party 'tax' failed"):
        run_experiment(failing, tmp_path / "run2")
    assert not list(tmp_path.rglob("*.pkl")) and not list(private.iterdir())
    assert not np.any([p.name.startswith(".run2") for p in tmp_path.iterdir()])
