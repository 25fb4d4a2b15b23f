"""Local runtime end to end with the test-only echo protocol; atomic DIR; clear failures."""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from echo_protocol import write_echo_experiment

from federation.records import from_records, to_records
from federation.runtime.actions import PARTY_KEY, ROLE_KEY, WHOAMI
from federation.runtime.dispatch import PartyIdentity, handle_request
from federation.runtime.state import STATE_DIRNAME, load_state, save_state, state_file
from federation.transport import Envelope
from lab.errors import ConfigError, PartyUnavailableError, ProtocolError


@pytest.fixture(autouse=True)
def _echo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDLAB_PROTOCOL_MODULES", "echo_protocol")


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}"))


def test_local_run_writes_outputs_from_the_message_log(tmp_path: Path) -> None:
    from federation.run import run_experiment

    cfg = write_echo_experiment(tmp_path / "exp", epochs=3, hosts=("tax", "court"))
    out = tmp_path / "run"
    summary = run_experiment(cfg, out, keep_payloads=True)

    metrics = json.loads((out / "metrics.json").read_text())
    # init + 3 steps + save + finish
    assert metrics["n_exchanges"] == 6 == summary.log.exchanges
    assert metrics["exchanges_by_epoch"] == [1, 1, 1]
    assert metrics["exchanges_per_epoch"] == 1.0
    assert metrics["n_aligned"] == 3 and metrics["runtime"] == "local"
    assert set(metrics["seconds_per_phase"]) >= {"startup", "protocol", "setup", "train"}
    sent = sum(
        m.nbytes for m in summary.log.messages if m.party == "tax" and m.direction == "from_party"
    )
    assert metrics["bytes_per_party"]["tax"]["sent"] == sent > 0

    disc = json.loads((out / "disclosure.json").read_text())
    tax = disc["parties"]["tax"]
    assert tax["role"] == "host" and tax["intersection_size"] == 3
    assert tax["received"]["echo.step"]["count"] == 3
    assert tax["received"]["echo.step"]["fields"] == ["x"]
    assert tax["sent"]["echo.step"]["fields"] == ["round", "rows", "y"]
    # the step request carries a 4-float array: 32 bytes + key
    assert tax["received"]["echo.step"]["bytes"] == 3 * (32 + 1)
    assert disc["coordinator"]["received"]["echo.init"]["count"] == 3

    assert (out / "config.toml").read_text() == Path(cfg).read_text()
    for name, rows in (("bank", 5), ("tax", 3), ("court", 4)):
        piece = json.loads((out / "parties" / name / "piece.json").read_text())
        assert piece["rounds"] == 3 and piece["rows"] == rows
        assert not (out / "parties" / name / STATE_DIRNAME).exists()
    assert _siblings(out) == []
    # the payload the coordinator sent is what the party received, bit for bit
    step = next(m for m in summary.log.messages if m.action == "echo.step")
    np.testing.assert_array_equal(step.payload["x"], np.arange(4.0))


def test_party_error_names_party_and_leaves_no_dir(tmp_path: Path) -> None:
    from federation.run import run_experiment

    cfg = write_echo_experiment(tmp_path / "exp")
    text = Path(cfg).read_text().replace("epochs = 2", 'epochs = 2\nfail = "tax"')
    Path(cfg).write_text(text)
    out = tmp_path / "run"
    with pytest.raises(ProtocolError, match=r"party 'tax' failed in 'echo.init'.*broken"):
        run_experiment(cfg, out)
    assert not out.exists() and _siblings(out) == []


def test_unavailable_party_keeps_existing_dir_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from federation import local_transport
    from federation.run import run_experiment

    cfg = write_echo_experiment(tmp_path / "exp")
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("previous run")
    real = local_transport.LocalTransport.__init__

    def init(self, *a, **k) -> None:  # noqa: ANN001, ANN002, ANN003
        real(self, *a, **k)
        self.unavailable.add("tax")

    monkeypatch.setattr(local_transport.LocalTransport, "__init__", init)
    with pytest.raises(PartyUnavailableError, match="'tax' did not answer"):
        run_experiment(cfg, out)
    assert [p.name for p in out.iterdir()] == ["old.txt"] and _siblings(out) == []


def test_second_run_replaces_dir(tmp_path: Path) -> None:
    from federation.run import run_experiment

    cfg = write_echo_experiment(tmp_path / "exp")
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("previous run")
    run_experiment(cfg, out)
    assert not (out / "old.txt").exists() and (out / "metrics.json").is_file()
    assert _siblings(out) == []


def test_missing_data_file_names_party(tmp_path: Path) -> None:
    from federation.run import run_experiment

    cfg = write_echo_experiment(tmp_path / "exp")
    (tmp_path / "exp" / "tax.csv").unlink()
    with pytest.raises(ConfigError, match=r"party 'tax': data file .*tax.csv.* does not exist"):
        run_experiment(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cli_train_exit_code_and_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lab import cli

    cfg = write_echo_experiment(tmp_path / "exp")
    (tmp_path / "exp" / "bank.csv").unlink()
    monkeypatch.setattr(
        sys, "argv", ["fedlab", "train", "--config", str(cfg), "--out", str(tmp_path / "run")]
    )
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code != 0
    assert "party 'bank'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "fedlab",
            "train",
            "--config",
            str(cfg).replace("experiment", "nope"),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code != 0


def _request(
    action: str,
    payload: dict,
    *,
    role: str | None = "host",  # type: ignore[type-arg]
    party: str | None = "tax",
):  # noqa: ANN202
    rec = to_records(Envelope("tax", action, payload))
    if role is not None:
        rec["cfg"][ROLE_KEY] = role
    if party is not None:
        rec["cfg"][PARTY_KEY] = party
    return rec


def test_dispatch_keeps_state_in_work_dir_between_messages(tmp_path: Path) -> None:
    import echo_protocol  # noqa: F401 - registers the echo handlers

    data = tmp_path / "tax.csv"
    data.write_text("id,y\n1,2\n3,4\n")
    ident = PartyIdentity("tax", data, tmp_path / "work")
    who = from_records(
        "tax", handle_request(ident, _request(WHOAMI, {}, role=None, party=None), "7")
    )
    assert who.payload == {"party": "tax", "data_ok": True}
    handle_request(ident, _request("echo.init", {"fail": ""}), "7")
    path = state_file(tmp_path / "work", "7")
    with path.open("rb") as fh:
        assert pickle.load(fh)["rows"] == 2  # on disk, not only in memory
    reply = from_records(
        "tax", handle_request(ident, _request("echo.step", {"x": np.ones(2)}), "7")
    )
    assert reply.payload["round"] == 1 and reply.payload["rows"] == 2
    # another run at the same party starts from empty state
    other = from_records(
        "tax", handle_request(ident, _request("echo.step", {"x": np.ones(2)}), "8")
    )
    assert "__error__" in other.payload and "KeyError" in other.payload["__error__"]
    # a message addressed to another party is refused
    wrong = from_records(
        "tax", handle_request(ident, _request("echo.step", {"x": np.ones(2)}, party="bank"), "7")
    )
    assert "reached party 'tax'" in wrong.payload["__error__"]
    handle_request(ident, _request("runtime.finish", {}), "7")
    assert not path.exists()


def test_a_supernode_keeps_each_run_in_its_own_folder_and_discards_failed_ones(
    tmp_path: Path,
) -> None:
    import echo_protocol  # noqa: F401 - registers the echo handlers

    data = tmp_path / "tax.csv"
    data.write_text("id,y\n1,2\n3,4\n")
    node = PartyIdentity("tax", data, tmp_path / "work")  # the SuperNode's work dir

    def run(key: str, steps: int, *, save: bool = True, finish: bool = True) -> None:
        me = node.for_run(key)
        msgs = [_request("echo.init", {"fail": ""})]
        msgs += [_request("echo.step", {"x": np.ones(2)}) for _ in range(steps)]
        msgs += [_request("echo.save", {})] if save else []
        msgs += [_request("runtime.finish", {})] if finish else []
        for m in msgs:
            assert "__error__" not in from_records("tax", handle_request(me, m, key)).payload

    def piece(key: str) -> dict[str, int]:
        return json.loads((tmp_path / "work" / "runs" / key / "piece.json").read_text())

    run("7", 1)
    first = (tmp_path / "work" / "runs" / "7" / "piece.json").read_bytes()
    run("8", 2)  # the next run on this SuperNode writes its own piece ...
    assert piece("8")["rounds"] == 2
    # ... and the first run's piece is untouched; a finished run keeps no state
    assert (tmp_path / "work" / "runs" / "7" / "piece.json").read_bytes() == first
    assert piece("7")["rounds"] == 1
    assert not (tmp_path / "work" / "runs" / "7" / STATE_DIRNAME).exists()
    run("6", 1, save=False)  # a run that leaves no file at this party leaves no folder
    assert not (tmp_path / "work" / "runs" / "6").exists()

    # a run that fails (or is cancelled) is discarded: its folder goes, no other run's
    run("9", 1, finish=False)
    # the run's state stays in the SuperNode's private .state folder, not in the run folder
    # whose path the coordinator names
    assert state_file(tmp_path / "work", "9").is_file()
    assert not list((tmp_path / "work" / "runs").rglob("*.pkl"))
    for key in ("../7", "9"):  # a run id never reaches outside its own folder
        reply = handle_request(node.for_run("10"), _request("runtime.discard", {"run": key}), "10")
        assert from_records("tax", reply).payload == {"ok": True}
    assert sorted(p.name for p in (tmp_path / "work" / "runs").iterdir()) == ["7", "8"]
    assert not state_file(tmp_path / "work", "9").exists()
    # a late message of the discarded run is refused and writes nothing
    late = from_records(
        "tax", handle_request(node.for_run("9"), _request("echo.init", {"fail": ""}), "9")
    )
    assert "run 9 was discarded" in late.payload["__error__"]
    assert not (tmp_path / "work" / "runs" / "9").exists()


def test_a_message_handled_while_its_run_is_discarded_leaves_nothing(tmp_path: Path) -> None:
    """The race a cancel creates: a stopped coordinator's last message is still being
    handled when the discard arrives; whatever the handler writes afterwards goes too."""
    import echo_protocol  # noqa: F401 - registers the echo handlers

    from federation.party import PartyContext, register
    from federation.runtime.state import discard_run

    data = tmp_path / "tax.csv"
    data.write_text("id,y\n1,2\n")
    node = PartyIdentity("tax", data, tmp_path / "work")

    @register("test.slow_save")
    def _slow_save(ctx: PartyContext, payload: dict) -> dict:  # noqa: ARG001
        assert ctx.home is not None
        discard_run(ctx.home, "5")  # the discard lands while this handler runs ...
        Path(ctx.work_dir).mkdir(parents=True, exist_ok=True)
        (Path(ctx.work_dir) / "piece.json").write_text("{}")  # ... and it still writes
        ctx.state["written"] = True
        return {}

    me = node.for_run("5")
    assert (
        "__error__"
        not in from_records(
            "tax", handle_request(me, _request("echo.init", {"fail": ""}), "5")
        ).payload
    )
    reply = from_records("tax", handle_request(me, _request("test.slow_save", {}), "5"))
    assert "was discarded while a message was handled" in reply.payload["__error__"]
    assert not (tmp_path / "work" / "runs" / "5").exists()


def test_a_party_finds_the_piece_folder_the_coordinator_names(tmp_path: Path) -> None:
    from federation.party import PartyContext
    from federation.pieces import piece_folder
    from federation.roles import PartyRole

    home = tmp_path / "work"
    (home / "runs" / "7").mkdir(parents=True)
    ctx = PartyContext("tax", PartyRole.HOST, None, home / "runs" / "8", home=home)
    assert piece_folder(ctx, "runs/7") == home / "runs" / "7"
    assert piece_folder(ctx, str(tmp_path)) == tmp_path  # an absolute folder (local runs)
    assert piece_folder(ctx, None) == home / "runs" / "8"
    for bad in ("runs/../../secrets", "runs/7/..", "../runs/7", "psi", "runs/a b"):
        with pytest.raises(ProtocolError, match="is not a run folder"):
            piece_folder(ctx, bad)
    local = PartyContext("tax", PartyRole.HOST, None, tmp_path / "stage")  # no SuperNode
    with pytest.raises(ProtocolError, match="is not a run folder"):
        piece_folder(local, "runs/7")


def test_state_reload_sees_other_process_writes(tmp_path: Path) -> None:
    path = state_file(tmp_path, "run-1")
    save_state(path, {"a": 1})
    assert load_state(path) == {"a": 1}
    # another process rewrites the file: the cached copy must not be served
    tmp = path.with_name("x.pkl")
    tmp.write_bytes(pickle.dumps({"a": 2}))
    os.replace(tmp, path)
    assert load_state(path) == {"a": 2}
    with pytest.raises(ProtocolError, match=r"not picklable \(keys \['fn'\]\)"):
        save_state(path, {"fn": lambda: 1, "ok": 3}, action="lr.forward")
    assert load_state(path) == {"a": 2}
