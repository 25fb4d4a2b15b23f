"""The party-side privacy guard and the message-log leak checker catch planted leaks."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from leakcheck import assert_no_leak, find_message_leaks
from naive_oracle import naive_leaks

from features import synth
from federation.alignment import align
from federation.config import parse_config
from federation.guard import check_outgoing, declare_plain_ids
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.partydata import aligned_ids, aligned_rows, load_table
from federation.transport import Envelope, LoggedMessage
from lab.errors import PrivacyViolationError

AS_OF = "2024-06-30"


@pytest.fixture(scope="module")
def aligned(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalTransport, Path]:
    data = tmp_path_factory.mktemp("guard-data")
    synth.write(data, synth.generate(400, seed=11))
    raw = {
        "experiment": {
            "name": "guard",
            "id_column": "uscc",
            "runtime": "local",
            "authorization": "required",
            "as_of": AS_OF,
        },
        "parties": [
            {
                "name": "bank",
                "role": "guest",
                "label": "default_12m",
                "data": str(data / "bank.csv"),
                "authorizations": str(data / "authorizations.csv"),
            },
            {"name": "tax", "role": "host", "data": str(data / "tax.csv")},
        ],
    }
    cfg = parse_config(raw)
    work = tmp_path_factory.mktemp("guard-work")
    ctxs = [
        PartyContext(name=p.name, role=p.role, data_path=p.data, work_dir=work / p.name)
        for p in cfg.parties
    ]
    transport = LocalTransport(ctxs, keep_payloads=True)
    align(transport, cfg)
    return transport, data


def _numeric_column(df: pd.DataFrame) -> str:
    cols = [
        c
        for c in df.columns
        if pd.api.types.is_float_dtype(df[c]) and df[c].notna().all() and df[c].nunique() > 20
    ]
    return cols[0]


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


def _raises(
    ctx: PartyContext, payload: dict, match: str | None = None, action: str | None = None
) -> str:
    with pytest.raises(PrivacyViolationError, match=match) as err:
        check_outgoing(ctx, payload, action)
    return str(err.value)


def test_plaintext_columns_are_stopped(aligned: tuple[LocalTransport, Path]) -> None:
    # Prepare
    transport, _ = aligned
    tax = transport.parties["tax"]
    df = load_table(tax)
    col = _numeric_column(df)
    full = df[col].to_numpy(dtype=float)
    rows = aligned_rows(tax)
    rng = np.random.default_rng(1)
    # Execute / Assert: full column standardized, aligned column scaled+shifted+permuted,
    # sign-flipped, float32, as a list, inside a 2-D matrix (either orientation)
    msg = _raises(tax, {"z": _z(full)}, match=col)
    assert str(full[0]) not in msg  # names the column, never a value
    _raises(tax, {"v": rng.permutation(3.5 * full[rows] - 7.0)}, match="aligned rows")
    _raises(tax, {"v": -2.0 * full[rows]})
    _raises(tax, {"v": _z(full).astype(np.float32)})
    _raises(tax, {"v": (full[rows] * 0.1).tolist()})
    X = np.column_stack([rng.normal(size=rows.size), _z(full[rows]), rng.normal(size=rows.size)])
    _raises(tax, {"X": X})
    _raises(tax, {"X": X.T.copy()})


def test_label_vector_is_stopped_at_the_guest(aligned: tuple[LocalTransport, Path]) -> None:
    transport, _ = aligned
    bank = transport.parties["bank"]
    y = load_table(bank)["default_12m"].to_numpy()
    y_aligned = y[aligned_rows(bank)]
    _raises(bank, {"y": y_aligned.astype(np.int64)}, match="default_12m")
    _raises(bank, {"y": 1.0 - y.astype(float)}, match="default_12m")


def test_masked_values_and_ciphertexts_pass(aligned: tuple[LocalTransport, Path]) -> None:
    transport, _ = aligned
    tax = transport.parties["tax"]
    df = load_table(tax)
    full = df[_numeric_column(df)].to_numpy(dtype=float)
    rows = aligned_rows(tax)
    rng = np.random.default_rng(2)
    payload = {
        "masked": full[rows] + rng.normal(scale=full.std(), size=rows.size),
        "ct": rng.integers(0, 256, size=(rows.size, 64), dtype=np.uint8),
        "blob": rng.bytes(50_000),
        "weights": rng.normal(size=7),
        "zeros": np.zeros(rows.size),
        "n": int(rows.size),
        "note": "epoch 3",
    }
    check_outgoing(tax, payload, "lr.step")


def test_raw_ids_are_stopped_unless_declared_aligned(aligned: tuple[LocalTransport, Path]) -> None:
    transport, _ = aligned
    tax = transport.parties["tax"]
    all_ids = load_table(tax)["uscc"].astype(str).tolist()
    inside = list(aligned_ids(tax))
    outside = sorted(set(all_ids) - set(inside))
    assert outside and inside
    _raises(tax, {"ids": outside[:3]}, match="raw ID")
    _raises(tax, {"ids": inside[:3]}, match="in plain text")  # undeclared field
    _raises(tax, {"text": f"rows: {outside[0]};{inside[0]}"})
    _raises(tax, {"blob": b"\x00\x01" + outside[1].encode() + b"\xff"})
    _raises(tax, {"packed": np.frombuffer(("xx" + outside[2]).encode(), dtype=np.uint8)})
    declare_plain_ids("test.ids", "ids")
    check_outgoing(tax, {"ids": inside}, "test.ids")
    msg = _raises(
        tax, {"ids": [*inside[:2], outside[0]]}, match="outside the intersection", action="test.ids"
    )
    assert outside[0] not in msg


def test_guard_off_by_node_config_and_cheap(aligned: tuple[LocalTransport, Path]) -> None:
    transport, _ = aligned
    tax = transport.parties["tax"]
    df = load_table(tax)
    leak = {"z": _z(df[_numeric_column(df)].to_numpy(dtype=float))}
    off = PartyContext(
        tax.name,
        tax.role,
        tax.data_path,
        tax.work_dir,
        node_config={"privacy-guard": "off"},
        state=tax.state,
    )
    check_outgoing(off, leak)
    rng = np.random.default_rng(3)
    payload = {
        "ct": rng.integers(0, 256, size=(2000, 32), dtype=np.uint8),
        "g": rng.normal(size=20),
        "masked": rng.normal(size=300),
    }
    check_outgoing(tax, payload)  # warm: signatures built once per run and process
    t = time.perf_counter()
    for _ in range(20):
        check_outgoing(tax, payload)
    assert (time.perf_counter() - t) / 20 < 0.05


def _planted(log_messages: list[LoggedMessage], payload: dict) -> None:
    env = Envelope("tax", "planted", payload)
    log_messages.append(LoggedMessage("from_party", env.party, env.action, env.payload, 0, 99))


def test_leak_checker_catches_planted_leaks(aligned: tuple[LocalTransport, Path]) -> None:
    # Prepare: the clean alignment log passes
    transport, data = aligned
    raw = {n: pd.read_csv(data / f"{n}.csv", dtype={"uscc": str}) for n in ("bank", "tax")}
    inter = list(aligned_ids(transport.parties["bank"]))
    assert_no_leak(transport.log, raw, inter)
    assert naive_leaks(transport.log, raw, inter) == []
    tax = raw["tax"].set_index("uscc")
    col = _numeric_column(raw["tax"])
    outside = sorted(set(raw["bank"]["uscc"]) - set(inter))
    plants = {
        "column": {"v": np.random.default_rng(4).permutation(tax.loc[inter, col].to_numpy()) * 3},
        "label": {"y": raw["bank"]["default_12m"].to_numpy(dtype=np.int64)},
        "id in text": {"s": f"first={outside[0]}"},
        "ids in list": {"s": outside[:2]},
        "id in bytes": {"b": b"\x07" * 9 + outside[1].encode()},
    }
    for name, payload in plants.items():
        # Execute
        log = type(transport.log)(keep_payloads=True)
        log.messages = list(transport.log.messages)
        _planted(log.messages, payload)
        # Assert
        findings = find_message_leaks(log, raw, inter)
        assert len(findings) == 1 and "message" in findings[0], (name, findings)
        naive = naive_leaks(log, raw, inter)  # the independent oracle sees it too
        assert len(naive) == 1 and "message" in naive[0], (name, naive)
        with pytest.raises(AssertionError):
            assert_no_leak(log, raw, inter)
    ok = type(transport.log)(keep_payloads=True)
    _planted(ok.messages, {"s": inter[:5], "v": np.arange(len(inter), dtype=float) ** 0.5})
    assert_no_leak(ok, raw, inter)  # intersection IDs and unrelated arrays are allowed
    assert naive_leaks(ok, raw, inter) == []


def test_fast_byte_scan_finds_exactly_what_the_regex_finds() -> None:
    """The numpy screen in front of the regex must never miss an ID: random ciphertext-like
    bytes with IDs planted at random places (also at both ends, next to other alphabet
    bytes, overlapping and cut short) give the same set as the plain regex scan."""
    import os as _os

    from features.uscc import generate_usccs
    from federation.guard import IdScanner

    rng = np.random.default_rng(11)
    ids = [str(u) for u in generate_usccs(50, rng)] + ["E00000123", "E00000456"]
    scanner = IdScanner(frozenset(ids))
    alphabet = sorted(set("".join(ids)))
    for trial in range(60):
        buf = bytearray(_os.urandom(int(rng.integers(4096, 60_000))))
        planted = rng.choice(len(ids), size=int(rng.integers(0, 6)), replace=False)
        for j, i in enumerate(planted):
            word = ids[i].encode()
            if j == 1:  # cut short: must not be reported
                word = word[:-2]
            at = (
                [0, len(buf) - len(word)][j]
                if j < 2 and trial % 2
                else int(rng.integers(0, len(buf) - len(word)))
            )
            buf[at : at + len(word)] = word
            if j == 2 and at > 3:  # alphabet bytes glued in front: still found inside a run
                buf[at - 3 : at] = "".join(rng.choice(alphabet, 3)).encode()
        data = bytes(buf)
        # the truth by brute force, independent of both scanners
        truth = {i for i in ids if i.encode() in data}
        whole = {ids[i] for j, i in enumerate(planted) if j != 1}
        assert whole <= truth  # every ID planted whole is there
        assert scanner._in_bytes(data) == truth
        assert scanner._in_text(data.decode("latin-1"), exact=False) == truth
