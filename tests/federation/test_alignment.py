"""Secure alignment (ECDH-PSI) over LocalTransport, against plain set operations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from leakcheck import assert_no_leak

from features import synth
from federation.alignment import align, apply_commit
from federation.config import parse_config
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.partydata import aligned_ids, aligned_table, is_aligned
from lab.errors import AlignmentError, ProtocolError

AS_OF = "2024-06-30"
HOSTS = ("tax", "courts", "utilities")


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synth.write(out, synth.generate(500, seed=7))
    return out


def _config(
    data: Path,
    hosts: tuple[str, ...] = HOSTS,
    *,
    authorization: str = "required",
    as_of: str = AS_OF,
    **params: object,
) -> object:
    parties = [
        {
            "name": "bank",
            "role": "guest",
            "data": str(data / "bank.csv"),
            "label": "default_12m",
            "authorizations": str(data / "authorizations.csv"),
        }
    ]
    parties += [{"name": h, "role": "host", "data": str(data / f"{h}.csv")} for h in hosts]
    raw = {
        "experiment": {
            "name": "align-test",
            "id_column": "uscc",
            "runtime": "local",
            "authorization": authorization,
            "as_of": as_of,
        },
        "params": dict(params),
        "parties": parties,
    }
    return parse_config(raw)


def _transport(cfg: object, work: Path) -> LocalTransport:
    ctxs = [
        PartyContext(name=p.name, role=p.role, data_path=p.data, work_dir=work / p.name)
        for p in cfg.parties
    ]  # type: ignore[attr-defined]
    return LocalTransport(ctxs, keep_payloads=True)


def _expected(data: Path, hosts: tuple[str, ...], *, authorized: bool) -> list[str]:
    ids = set(pd.read_csv(data / "bank.csv", dtype=str)["uscc"])
    if authorized:
        auth = pd.read_csv(data / "authorizations.csv", dtype=str)
        ok = (
            (auth["bank"] == "bank") & (auth["granted_on"] <= AS_OF) & (auth["expires_on"] >= AS_OF)
        )
        ids &= set(auth.loc[ok, "uscc"])
    for h in hosts:
        ids &= set(pd.read_csv(data / f"{h}.csv", dtype=str)["uscc"])
    return sorted(ids)


def _raw(data: Path, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    return {n: pd.read_csv(data / f"{n}.csv", dtype={"uscc": str}) for n in names}


def test_aligned_order_is_the_authorized_intersection_at_every_party(
    synth_dir: Path, tmp_path: Path
) -> None:
    # Prepare
    cfg = _config(synth_dir)
    transport = _transport(cfg, tmp_path)
    expected = _expected(synth_dir, HOSTS, authorized=True)
    everyone = _expected(synth_dir, HOSTS, authorized=False)
    # Execute
    result = align(transport, cfg)  # type: ignore[arg-type]
    # Assert
    assert result.n_aligned == len(expected) > 50
    assert result.exchanges == 4 and transport.log.exchanges == 4
    assert set(expected) < set(everyone)  # unauthorized enterprises exist and are excluded
    for name, ctx in transport.parties.items():
        assert list(aligned_ids(ctx)) == expected, name
        table = aligned_table(ctx)
        assert table["uscc"].tolist() == expected
    bank_auth = _expected(synth_dir, (), authorized=True)
    for h in HOSTS:
        host_ids = set(pd.read_csv(synth_dir / f"{h}.csv", dtype=str)["uscc"])
        assert result.per_host[h] == len(host_ids & set(bank_auth))
    assert_no_leak(transport.log, _raw(synth_dir, ("bank", *HOSTS, "authorizations")), expected)


def test_without_authorization_all_guest_ids_align(synth_dir: Path, tmp_path: Path) -> None:
    cfg = _config(synth_dir, ("tax",), authorization="none")
    transport = _transport(cfg, tmp_path)
    result = align(transport, cfg)  # type: ignore[arg-type]
    expected = _expected(synth_dir, ("tax",), authorized=False)
    assert result.n_aligned == len(expected)
    assert list(aligned_ids(transport.parties["tax"])) == expected
    assert_no_leak(transport.log, _raw(synth_dir, ("bank", "tax")), expected)


def test_public_data_aligns_all_ids(shared_data: Path, tmp_path: Path) -> None:
    raw = {
        "experiment": {"name": "breast", "id_column": "id", "runtime": "local"},
        "parties": [
            {
                "name": "guest",
                "role": "guest",
                "label": "y",
                "data": str(shared_data / "breast_hetero_guest.csv"),
            },
            {"name": "host", "role": "host", "data": str(shared_data / "breast_hetero_host.csv")},
        ],
    }
    cfg = parse_config(raw)
    transport = _transport(cfg, tmp_path)
    result = align(transport, cfg)
    ids = sorted(pd.read_csv(shared_data / "breast_hetero_guest.csv")["id"].astype(str))
    assert result.n_aligned == len(ids) == 569
    for ctx in transport.parties.values():
        assert list(aligned_ids(ctx)) == ids
    guest_y = aligned_table(transport.parties["guest"])["y"].to_numpy()
    ref = pd.read_csv(shared_data / "breast_hetero_guest.csv")
    ref["id"] = ref["id"].astype(str)
    np.testing.assert_array_equal(guest_y, ref.set_index("id").loc[ids, "y"].to_numpy())


def test_no_authorized_ids_names_guest_and_file(synth_dir: Path, tmp_path: Path) -> None:
    cfg = _config(synth_dir, as_of="2099-01-01")
    with pytest.raises(AlignmentError, match=r"'bank'.*authorizations\.csv"):
        align(_transport(cfg, tmp_path), cfg)  # type: ignore[arg-type]


def test_empty_intersection_names_the_host(synth_dir: Path, tmp_path: Path) -> None:
    tax = pd.read_csv(synth_dir / "tax.csv", dtype={"uscc": str})
    bank_ids = set(pd.read_csv(synth_dir / "bank.csv", dtype=str)["uscc"])
    other = tmp_path / "data"
    other.mkdir()
    for f in ("bank.csv", "authorizations.csv", "courts.csv"):
        (other / f).write_bytes((synth_dir / f).read_bytes())
    tax[~tax["uscc"].isin(bank_ids)].to_csv(other / "tax.csv", index=False)
    cfg = _config(other, ("tax", "courts"))
    with pytest.raises(AlignmentError, match=r"host\(s\) \['tax'\]"):
        align(_transport(cfg, tmp_path / "work"), cfg)  # type: ignore[arg-type]


def test_cardinality_only_reveals_counts_and_aligns_nobody(synth_dir: Path, tmp_path: Path) -> None:
    cfg = _config(synth_dir, ("tax", "courts"), cardinality_only=True)
    transport = _transport(cfg, tmp_path)
    result = align(transport, cfg)  # type: ignore[arg-type]
    expected = _expected(synth_dir, ("tax", "courts"), authorized=True)
    assert result.cardinality_only and result.exchanges == 3
    assert result.n_aligned == len(expected)
    bank_auth = set(_expected(synth_dir, (), authorized=True))
    for h in ("tax", "courts"):
        assert result.per_host[h] == len(
            bank_auth & set(pd.read_csv(synth_dir / f"{h}.csv", dtype=str)["uscc"])
        )
    assert not any(is_aligned(c) for c in transport.parties.values())
    assert not any("idx_" in k for m in transport.log.messages for k in m.payload)


def test_host_cache_is_reused_and_deferred_commit(synth_dir: Path, tmp_path: Path) -> None:
    cfg = _config(synth_dir, ("tax",))
    transport = _transport(cfg, tmp_path)
    # the offline cache lives in a SuperNode's own work dir (a run of the local runtime
    # keeps its PSI keys in memory and has no cache)
    transport.parties["tax"].home = tmp_path / "tax-node"
    first = align(transport, cfg)  # type: ignore[arg-type]
    cache = tmp_path / "tax-node" / "psi" / "host_blinded.bin"
    stamp = cache.stat().st_mtime_ns
    second = align(transport, cfg, commit=False)  # type: ignore[arg-type]
    assert cache.stat().st_mtime_ns == stamp  # served from the offline cache
    assert second.exchanges == 3 and set(second.pending_commit) == {"tax"}
    tax = transport.parties["tax"]
    assert not is_aligned(tax)
    assert apply_commit(tax, second.pending_commit["tax"]) == first.n_aligned
    assert list(aligned_ids(tax)) == list(aligned_ids(transport.parties["bank"]))


def test_commit_with_foreign_positions_is_refused(synth_dir: Path, tmp_path: Path) -> None:
    cfg = _config(synth_dir, ("tax",))
    transport = _transport(cfg, tmp_path)
    res = align(transport, cfg, commit=False)  # type: ignore[arg-type]
    idx = res.pending_commit["tax"]["idx"]
    with pytest.raises(ProtocolError, match="increasing"):
        apply_commit(transport.parties["tax"], {"idx": idx[::-1].copy()})
