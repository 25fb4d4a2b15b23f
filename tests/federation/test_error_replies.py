"""A party's failure crosses its boundary as public facts only, never as record values.

Party files carry planted sentinels where validation fails (malformed IDs at the guest, a
label other than 0/1, a non-numeric cell at a host, a date that is not ISO in the guest's
authorization table). The hetero LR protocol runs over LocalTransport and the ClientApp's
request handler; every message that crossed is inspected: no sentinel, no raw ID. The
coordinator's error still names the party, the file, the column, the count and the lines,
and the party's own log keeps the full message with the offending value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from leakcheck import find_message_leaks

from features import synth
from federation.alignment import SETUP, setup_payloads
from federation.config import ExperimentConfig, parse_config
from federation.failures import public_failure
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.partydata import setup_party
from federation.protocol import get_driver
from federation.records import ERROR_KEY, from_records, to_records
from federation.roles import PartyRole
from federation.runtime.actions import PARTY_KEY, ROLE_KEY
from federation.runtime.dispatch import PartyIdentity, handle_request
from federation.transport import Envelope, MessageLog
from lab.errors import DataValidationError, PartyError, ProtocolError

AS_OF = "2024-06-30"
HOSTS = ("tax", "market_regulation")
BAD_IDS = ("9003SNTL000BANKZZZ", "9004SNTL001BANKZZZ")  # 18 characters, not USCCs


def _config(data: Path) -> ExperimentConfig:
    parties = [
        {
            "name": "bank",
            "role": "guest",
            "data": str(data / "bank.csv"),
            "label": "default_12m",
            "authorizations": str(data / "authorizations.csv"),
        }
    ]
    parties += [{"name": h, "role": "host", "data": str(data / f"{h}.csv")} for h in HOSTS]
    return parse_config(
        {
            "experiment": {
                "name": "errors",
                "algorithm": "hetero_lr",
                "backend": "plaintext",
                "id_column": "uscc",
                "runtime": "local",
                "authorization": "required",
                "as_of": AS_OF,
            },
            "params": {"epochs": 1},
            "parties": parties,
        }
    )


def _plant(data: Path, party: str, column: str, rows: dict[int, str]) -> None:
    """Overwrite cells of ``party``'s file (the text as it is, no re-formatting)."""
    path = data / f"{party}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for row, value in rows.items():
        df.loc[row, column] = value
    df.to_csv(path, index=False)


# (case, party, file, column, {row: sentinel}, what the public message says)
CASES = [
    (
        "malformed ids at the guest",
        "bank",
        "bank.csv",
        "uscc",
        {1: BAD_IDS[0], 4: BAD_IDS[1]},
        "column 'uscc': 2 malformed USCCs",
    ),
    (
        "label other than 0/1",
        "bank",
        "bank.csv",
        "default_12m",
        {2: "SNTL4417LBL"},
        "label column 'default_12m': 1 values other than 0/1",
    ),
    (
        "non-numeric cell at a host",
        "tax",
        "tax.csv",
        "taxes_paid_12m",
        {0: "SNTL8812NUM", 6: "SNTL8813NUM"},
        "column 'taxes_paid_12m': 2 non-numeric values in a numeric column",
    ),
    (
        "date that is not ISO",
        "bank",
        "authorizations.csv",
        "expires_on",
        {3: "SNTL2099-01-01"},
        "column 'expires_on': 1 values that are not ISO dates",
    ),
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    out = tmp_path / "data"
    synth.write(out, synth.generate(160, seed=5))
    return out


def _lines(rows: dict[int, str]) -> str:
    lines = sorted(r + 2 for r in rows)  # line 1 is the header
    return f"(line {lines[0]})" if len(lines) == 1 else f"(lines {', '.join(map(str, lines))})"


def _texts(value: Any) -> Iterator[str]:
    """Every piece of text (and bytes, as latin-1) a payload value holds."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (bytes, bytearray)):
        yield bytes(value).decode("latin-1")
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _texts(v)
    elif isinstance(value, np.ndarray):
        yield value.tobytes().decode("latin-1")
        if value.dtype.kind in "UO":
            yield from _texts(value.ravel().tolist())


def _sentinels_crossed(log: MessageLog, sentinels: list[str]) -> list[str]:
    assert log.keep_payloads and log.messages
    found = []
    for n, m in enumerate(log.messages):
        for key, value in m.payload.items():
            for text in _texts(value):
                found += [f"message {n} {m.action} {key}: {s}" for s in sentinels if s in text]
    return found


def _raw_tables(data: Path) -> dict[str, pd.DataFrame]:
    return {
        p: pd.read_csv(data / f"{p}.csv", dtype=str, keep_default_na=False)
        for p in ("bank", *HOSTS, "authorizations")
    }


@pytest.mark.parametrize(
    ("case", "party", "file", "column", "rows", "says"), CASES, ids=[c[0] for c in CASES]
)
def test_validation_failure_crosses_without_the_values(
    data: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    case: str,
    party: str,
    file: str,
    column: str,
    rows: dict[int, str],
    says: str,
) -> None:
    # Prepare
    _plant(data, file.removesuffix(".csv"), column, rows)
    sentinels = list(rows.values())
    cfg = _config(data)
    transport = LocalTransport(
        [
            PartyContext(name=p.name, role=p.role, data_path=p.data, work_dir=tmp_path / p.name)
            for p in cfg.parties
        ],
        keep_payloads=True,
    )
    # Execute
    with (
        caplog.at_level(logging.WARNING, logger="federation.failures"),
        pytest.raises(PartyError) as info,
    ):
        get_driver("hetero_lr")(transport, cfg)
    # Assert: what the coordinator raises names party, file, column, count and lines
    err = info.value
    assert (err.party, err.action, err.error_type, err.error_code) == (
        party,
        SETUP,
        "DataValidationError",
        DataValidationError.code,
    )
    assert f"{file}: {says}" in str(err) and _lines(rows) in str(err), str(err)
    assert "(hint: " in str(err)
    assert not [s for s in sentinels if s in str(err)]
    # every message that crossed: no sentinel, no raw ID of any party
    assert _sentinels_crossed(transport.log, sentinels) == []
    assert find_message_leaks(transport.log, _raw_tables(data), [], id_column="uscc") == []
    replies = [m for m in transport.log.messages if ERROR_KEY in m.payload]
    assert [(m.party, m.direction) for m in replies] == [(party, "from_party")]
    # the party's own log keeps the full message, the offending value included
    local = [r.getMessage() for r in caplog.records if r.name == "federation.failures"]
    assert any(sentinels[0] in line and says in line for line in local), local


def _request(cfg: ExperimentConfig, party: str) -> Any:
    role = next(p.role for p in cfg.parties if p.name == party)
    rec = to_records(Envelope(party, SETUP, setup_payloads(cfg, "run-1")[party]))
    rec["cfg"][ROLE_KEY] = role.value
    rec["cfg"][PARTY_KEY] = party
    return rec


def test_clientapp_reply_carries_only_public_fields(data: Path, tmp_path: Path) -> None:
    """The Flower runtimes' party side (the ClientApp's handler) answers the same way."""
    _plant(data, "tax", "taxes_paid_12m", {5: "SNTL8812NUM"})
    cfg = _config(data)
    ident = PartyIdentity("tax", data / "tax.csv", tmp_path / "work")
    reply = from_records("tax", handle_request(ident, _request(cfg, "tax"), "run-1"))
    assert reply.payload == {
        "__error__": "tax.csv: column 'taxes_paid_12m': 1 non-numeric values in a numeric "
        "column (line 7)",
        "__error_type__": "DataValidationError",
        "__error_code__": "FEDLAB-200",
        "__error_hint__": "Remove units and thousands separators; leave missing cells empty.",
    }


def test_other_exceptions_leave_as_an_internal_error(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception that is not a LabError may quote anything: only its type leaves."""
    import features.validation

    def broken(path: Path, **_: Any) -> pd.DataFrame:
        raise KeyError(f"{BAD_IDS[0]} in {Path(path).name}")

    monkeypatch.setattr(features.validation, "load_party_table", broken)
    cfg = _config(data)
    ident = PartyIdentity("market_regulation", data / "market_regulation.csv", tmp_path / "work")
    reply = from_records(
        "market_regulation", handle_request(ident, _request(cfg, "market_regulation"), "r")
    )
    assert reply.payload["__error__"] == (
        "internal error (KeyError) at party 'market_regulation' in 'align.setup'; details "
        "are in the party's own log"
    )
    assert reply.payload["__error_type__"] == "ProtocolError"
    transport = LocalTransport(
        [
            PartyContext(name=p.name, role=p.role, data_path=p.data, work_dir=tmp_path / p.name)
            for p in cfg.parties
        ],
        keep_payloads=True,
    )
    with pytest.raises(
        PartyError,
        match=r"party 'bank' failed in 'align.setup': ProtocolError "
        r"\[FEDLAB-400\]: internal error \(KeyError\)",
    ) as info:
        get_driver("hetero_lr")(transport, cfg)
    assert BAD_IDS[0] not in str(info.value)
    assert _sentinels_crossed(transport.log, [BAD_IDS[0]]) == []


def _opaque_party(tmp_path: Path) -> tuple[PartyContext, list[str]]:
    ids = [f"ent-{i:04d}-sntl" for i in range(40)]
    path = tmp_path / "tax.csv"
    pd.DataFrame({"id": ids, "x": np.arange(40) * 1.5}).to_csv(path, index=False)
    ctx = PartyContext(name="tax", role=PartyRole.HOST, data_path=path, work_dir=tmp_path)
    setup_party(ctx, {"run_id": "r", "role": "host", "id_column": "id", "id_kind": "opaque"})
    return ctx, ids


def test_a_message_that_names_a_raw_id_is_withheld(tmp_path: Path) -> None:
    """The guard screens error text too: one of the party's IDs, or a USCC-shaped token."""
    ctx, ids = _opaque_party(tmp_path)
    careless = [
        ProtocolError(f"row {ids[7]} is odd"),
        DataValidationError("odd value", hint=f"look at {ids[3]}"),
        ProtocolError("row 91350100M000100Y43 is odd"),
    ]  # no such ID here: its shape
    for exc in careless:
        failure = public_failure("tax", "lr.step", exc, ctx)
        assert failure.error_type == type(exc).__name__ and failure.code == exc.code
        assert failure.message == (
            "error at party 'tax' in 'lr.step'; its message was withheld"
            " because it held raw IDs; details are in the party's own log"
        )
        assert not any(i in failure.reason() for i in ids) and "91350100M" not in failure.reason()
    fine = public_failure("tax", "lr.step", ProtocolError("column 'x': 3 rows are odd"), ctx)
    assert fine.message == "column 'x': 3 rows are odd"
    # without the party's profile (no context) the USCC shape is still refused
    assert "withheld" in public_failure("tax", "lr.step", careless[2]).message
    # a party that switched its guard off (plaintext benchmarks) is not screened
    ctx.node_config["privacy-guard"] = "off"
    assert public_failure("tax", "lr.step", careless[0], ctx).message == f"row {ids[7]} is odd"


def test_secaggplus_train_errors_leave_as_public_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SecAgg+ ``train`` path answers a failure with a Flower error of public facts."""
    import flwr.client.mod
    from flwr.app import ConfigRecord, Message, RecordDict

    from federation.homo import secaggplus, secaggplus_mean

    def broken(msg: Message, state: Any, party: str) -> Message:
        raise ValueError(f"cell {BAD_IDS[1]} is odd")

    def passthrough(msg: Message, context: Any, call_next: Any) -> Message:
        return call_next(msg, context)  # stands in for SecAgg+'s stages: straight to train

    monkeypatch.setattr(flwr.client.mod, "secaggplus_mod", passthrough)
    monkeypatch.setattr(secaggplus, "train_reply", broken)
    ctx, _ = _opaque_party(tmp_path)
    channel = secaggplus_mean.LocalChannel({"tax": ctx})
    with secaggplus_mean._task_identity():  # Flower messages need one outside a ServerApp
        msg = Message(
            RecordDict({"cfg": ConfigRecord({"x": 1})}),
            dst_node_id=channel.nodes["tax"],
            message_type="train",
        )
        (reply,) = channel.send([msg], None)
    assert reply.has_error()
    assert reply.error.reason == (
        "ProtocolError [FEDLAB-400]: internal error (ValueError) at party 'tax' in "
        "'homo.secaggplus.train'; details are in the party's own log"
    )
