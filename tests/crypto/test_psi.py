"""ECDH-PSI: intersections against Python sets, privacy of outputs, host cache."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import _psi_parallel as pp
from crypto.psi import (
    COMPARE_BYTES,
    HostBlindCache,
    PsiKey,
    PsiResult,
    blind,
    host_offer,
    host_rows,
    intersect_guest,
    intersection_size,
    psi_in_process,
    reblind,
    shuffle_points,
    truncate,
)
from lab.errors import CryptoError, ProtocolError


def _uscc(i: int) -> str:
    return f"91{i:016d}"


def _sets(n_g: int, n_h: int, overlap: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rnd = random.Random(seed)
    ids = [_uscc(i) for i in rnd.sample(range(10**7), n_g + n_h - overlap)]
    guest = ids[:n_g]
    host = ids[n_g - overlap :]
    rnd.shuffle(guest)
    rnd.shuffle(host)
    return guest, host


def test_x25519_rfc7748_vector() -> None:
    # RFC 7748 section 5.2, first test vector
    k = bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    want = "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    assert pp.scalarmult(k, u).hex() == want
    assert pp._cryptography_mult()(k, u).hex() == want


def test_hashed_points_lie_on_the_curve_not_the_twist() -> None:
    import gmpy2

    p = 2**255 - 19
    for i in range(200):
        u = int.from_bytes(pp.hash_to_u(_uscc(i)), "little") & ((1 << 255) - 1)
        assert gmpy2.jacobi((u**3 + 486662 * u**2 + u) % p, p) == 1


def test_blinding_commutes() -> None:
    kg, kh = PsiKey.generate(), PsiKey.generate()
    ids = [_uscc(i) for i in range(50)]
    assert reblind(kh, blind(kg, ids)) == reblind(kg, blind(kh, ids))
    assert blind(kg, ids) != blind(kh, ids)


def test_parallel_equals_serial() -> None:
    k = PsiKey.generate()
    ids = [_uscc(i) for i in range(300)]
    serial = pp.blind_packed(k.secret_bytes(), ids, workers=1)
    old = pp.CHUNK_ITEMS
    pp.CHUNK_ITEMS = 64
    try:
        par = pp.blind_packed(k.secret_bytes(), ids, workers=2)
        re_par = pp.reblind_packed(k.secret_bytes(), par, workers=2)
    finally:
        pp.CHUNK_ITEMS = old
    assert par == serial
    assert re_par == pp.reblind_packed(k.secret_bytes(), serial, workers=1)


def test_two_parties_match_set_intersection_in_sorted_order() -> None:
    # Prepare
    guest, host = _sets(700, 500, 230)
    # Execute
    res = psi_in_process(guest, {"tax": host})
    # Assert
    assert isinstance(res, PsiResult)
    al = res.per_host["tax"]
    assert al.ids == sorted(set(guest) & set(host))
    assert [host[r] for r in al.host_rows] == al.ids


@settings(max_examples=10, deadline=None)
@given(
    guest=st.lists(st.text(min_size=0, max_size=12), max_size=30),
    host=st.lists(st.text(min_size=0, max_size=12), max_size=30, unique=True),
)
def test_arbitrary_unicode_ids(guest: list[str], host: list[str]) -> None:
    res = psi_in_process(guest, {"h": host})
    assert isinstance(res, PsiResult)
    assert res.per_host["h"].ids == sorted(set(guest) & set(host))


def test_guest_against_three_hosts() -> None:
    rnd = random.Random(5)
    universe = [_uscc(i) for i in range(2000)]
    guest = rnd.sample(universe, 600)
    hosts = {
        name: rnd.sample(universe, 500 + 50 * j) for j, name in enumerate(["tax", "court", "power"])
    }
    res = psi_in_process(guest, hosts)
    assert isinstance(res, PsiResult)
    for name, hids in hosts.items():
        assert res.per_host[name].ids == sorted(set(guest) & set(hids))
        assert [hids[r] for r in res.per_host[name].host_rows] == res.per_host[name].ids
    common = set(guest).intersection(*map(set, hosts.values()))
    assert res.common_ids == sorted(common)
    for name, hids in hosts.items():
        assert [hids[r] for r in res.common_rows(name)] == res.common_ids


def test_no_id_outside_the_intersection_leaves_in_any_message_or_output() -> None:
    # Prepare
    guest, host = _sets(300, 300, 100, seed=9)
    outside = (set(guest) | set(host)) - (set(guest) & set(host))
    kg, kh = PsiKey.generate(), PsiKey.generate()
    # Execute the message steps
    a = blind(kg, guest)
    ab = truncate(reblind(kh, a))
    offer = host_offer(kh, host)
    ba = reblind(kg, offer.b)
    ids, idx = intersect_guest(guest, ab, ba)
    rows = host_rows(offer, idx)
    # Assert: messages carry neither raw IDs nor their plain hashes
    wire = b"".join(a) + b"".join(ab) + b"".join(offer.b)
    for x in list(outside)[:50]:
        assert x.encode() not in wire
        assert pp.hash_to_u(x) not in wire
    assert set(ids) == set(guest) & set(host)
    assert not set(ids) & outside
    assert {host[r] for r in rows} == set(ids)
    # b is shuffled: its order does not follow the host's rows
    assert list(offer.perm) != sorted(offer.perm)
    assert all(len(v) == COMPARE_BYTES for v in ab)


def test_cardinality_only_returns_only_sizes() -> None:
    guest, host = _sets(400, 350, 123, seed=3)
    guest2, host2 = _sets(100, 80, 0, seed=4)
    res = psi_in_process(guest, {"tax": host, "court": host2}, cardinality_only=True)
    assert res == {"tax": 123, "court": len(set(guest) & set(host2))}
    kg, kh = PsiKey.generate(), PsiKey.generate()
    ab, _ = shuffle_points(truncate(reblind(kh, blind(kg, guest2))))
    assert intersection_size(ab, reblind(kg, host_offer(kh, host2).b)) == 0


def test_host_cache_reused_and_invalidated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Prepare
    _, host = _sets(10, 400, 5, seed=2)
    kh = PsiKey.generate()
    cache = HostBlindCache(tmp_path / "tax.psicache")
    # Execute / Assert: first call builds, second reuses
    first = cache.blinded(kh, host)
    assert not cache.last_hit
    assert cache.blinded(kh, host) == first and cache.last_hit
    assert first == b"".join(blind(kh, host))
    assert (tmp_path / "tax.psicache").stat().st_mode & 0o777 == 0o600
    # a new key invalidates
    kh2 = PsiKey.generate()
    assert not cache.is_valid(kh2, host)
    second = cache.blinded(kh2, host)
    assert not cache.last_hit and second != first
    assert second == b"".join(blind(kh2, host))
    # changed data invalidates (one ID replaced, and a reordering)
    changed = host[:-1] + [_uscc(10**8)]
    assert not cache.is_valid(kh2, changed)
    assert not cache.is_valid(kh2, host[::-1])
    third = cache.blinded(kh2, changed)
    assert not cache.last_hit and third == b"".join(blind(kh2, changed))
    # a PSI run through the cache gives the right intersection
    guest = host[:50] + [_uscc(10**9 + i) for i in range(30)]
    res = psi_in_process(
        guest, {"tax": changed}, host_keys={"tax": kh2}, host_caches={"tax": cache}
    )
    assert isinstance(res, PsiResult) and cache.last_hit
    assert res.per_host["tax"].ids == sorted(set(guest) & set(changed))


def test_key_is_never_printed_or_pickled(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pickle

    k = PsiKey.generate()
    secret_hex = k.secret_bytes().hex()
    assert secret_hex not in repr(k) and secret_hex not in str(k)
    with pytest.raises(CryptoError):
        pickle.dumps(k)
    k.save(tmp_path / "psi.key")
    assert (tmp_path / "psi.key").stat().st_mode & 0o777 == 0o600
    assert PsiKey.load(tmp_path / "psi.key") == k


def test_malformed_peer_messages_raise() -> None:
    k = PsiKey.generate()
    with pytest.raises(ProtocolError):
        reblind(k, [b"\x00" * 31])
    with pytest.raises(ProtocolError, match="low-order"):
        reblind(k, [b"\x00" * 32])  # u = 0 is the point of order 2
    with pytest.raises(ProtocolError):
        intersect_guest(["a", "b"], [b"x" * 12], [])
    offer = host_offer(k, ["a", "b"], rng=np.random.default_rng(0))
    with pytest.raises(ProtocolError):
        host_rows(offer, [2])


def test_pool_path_gives_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: tiny chunks so several chunks per step run on the 2-process pool
    monkeypatch.setattr(pp, "CHUNK_ITEMS", 97)
    guest, host = _sets(400, 300, 120, seed=11)
    host2 = host[:150]
    # Execute
    res = psi_in_process(guest, {"tax": host, "court": host2}, workers=2)
    sizes = psi_in_process(guest, {"tax": host}, workers=2, cardinality_only=True)
    # Assert
    assert isinstance(res, PsiResult)
    assert res.per_host["tax"].ids == sorted(set(guest) & set(host))
    assert [host2[r] for r in res.common_rows("court")] == sorted(set(guest) & set(host2))
    assert sizes == {"tax": 120}
