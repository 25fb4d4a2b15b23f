"""ECDH private set intersection over X25519, as explicit message steps.

Privacy constraints (semi-honest parties; see docs/crypto/psi.md):

1. Guest -> host: ``a = blind(kg, guest_ids)``: the guest's IDs hashed to Curve25519 and
   multiplied by the guest's secret scalar. Without ``kg`` these are pseudo-random points
   (DDH): the host learns only how many IDs the guest has.
2. Host -> guest: ``ab = reblind(kh, a)`` (same order as ``a``, truncated to
   ``COMPARE_BYTES``; shuffled too in cardinality-only mode) and ``b``, the host's IDs
   blinded with ``kh``, in a fresh random order. The guest learns which of its own IDs are
   in the host's set (``ab`` in ``b^kg``), and the host set's size; nothing about the
   host's other IDs, nor their positions in the host's data.
3. Guest -> host (optional, only when the protocol needs the host aligned): the indices
   into ``b`` of the intersection, in canonical (sorted-ID) order. The host maps them to its
   rows and learns the intersection, nothing more.
4. Secret scalars (``PsiKey``) never leave their owner; their repr shows a fingerprint only.

In cardinality-only mode the host shuffles ``ab`` as well, so the guest learns only
``|intersection|`` and step 3 does not happen.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crypto._psi_parallel import (
    HASH_DOMAIN,
    PARALLEL_MIN_ITEMS,
    POINT_BYTES,
    Pending,
    PsiPool,
    backend_name,
    blind_packed,
    reblind_packed,
)
from crypto.atomic import atomic_open
from crypto.errors import AlignmentError, CryptoError, DataValidationError, ProtocolError

__all__ = [
    "COMPARE_BYTES",
    "HostBlindCache",
    "HostOffer",
    "PsiAlignment",
    "Pending",
    "PsiKey",
    "PsiPool",
    "PsiResult",
    "backend_name",
    "blind",
    "blind_async",
    "host_offer",
    "host_rows",
    "index_packed",
    "intersect_guest",
    "intersect_guest_packed",
    "intersection_size",
    "pack_points",
    "psi_in_process",
    "reblind",
    "reblind_async",
    "shuffle_points",
    "truncate",
    "truncate_packed",
    "unpack_points",
]

# Doubly blinded values are compared on their first 12 bytes (96 bits of the x-coordinate).
# A false match between two distinct IDs has probability <= 2^-92 (docs/crypto/psi.md), so
# <= n_g * n_h * 2^-92 over all pairs: 2^-52 for 1M x 1M.
COMPARE_BYTES = 12
_KEY_FP_DOMAIN = b"fedlab/psi/key-fingerprint/v1\x00"


class PsiKey:
    """A party's secret X25519 scalar for one PSI role. Never printed, logged or sent."""

    __slots__ = ("_k",)

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, (bytes, bytearray)) or len(secret) != 32:
            raise CryptoError(
                "a PSI key is 32 secret bytes", hint="Create one with PsiKey.generate()."
            )
        self._k = bytes(secret)

    @classmethod
    def generate(cls) -> PsiKey:
        return cls(secrets.token_bytes(32))

    def fingerprint(self) -> str:
        """One-way identifier of the key (16 hex digits); safe to log and store."""
        return hashlib.sha256(_KEY_FP_DOMAIN + self._k).hexdigest()[:16]

    def secret_bytes(self) -> bytes:
        """The raw scalar, for the owner's own key file only."""
        return self._k

    def save(self, path: str | Path) -> None:
        """Write the key to ``path`` readable by its owner only (mode 0600)."""
        p = Path(path)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self._k)
        os.chmod(p, 0o600)

    @classmethod
    def load(cls, path: str | Path) -> PsiKey:
        data = Path(path).read_bytes()
        if len(data) != 32:
            raise CryptoError(f"PSI key file {path} does not hold a 32-byte key")
        return cls(data)

    def __repr__(self) -> str:
        return f"PsiKey(fingerprint={self.fingerprint()})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PsiKey) and secrets.compare_digest(self._k, other._k)

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __reduce__(self) -> tuple[object, ...]:
        raise CryptoError(
            "PsiKey cannot be pickled", hint="Store it with PsiKey.save() at its owner only."
        )


# ---- points ---------------------------------------------------------------------------------
def pack_points(points: Sequence[bytes]) -> bytes:
    """Concatenate 32-byte points (the wire form)."""
    packed = b"".join(points)
    if len(packed) != POINT_BYTES * len(points):
        raise ProtocolError(f"PSI points must be {POINT_BYTES} bytes each")
    return packed


def unpack_points(packed: bytes, width: int = POINT_BYTES) -> list[bytes]:
    if len(packed) % width:
        raise ProtocolError(
            f"packed PSI values have {len(packed)} bytes, not a multiple of {width}",
            hint="The peer's message was truncated or is not a PSI value list.",
        )
    return [packed[i : i + width] for i in range(0, len(packed), width)]


def _check_ids(ids: Sequence[str], who: str) -> None:
    if ids and not isinstance(ids[0], str):
        raise DataValidationError(f"{who} IDs must be strings, got {type(ids[0]).__name__}")


def blind(
    key: PsiKey, ids: Sequence[str], *, workers: int | None = None, pool: PsiPool | None = None
) -> list[bytes]:
    """``H(id)^k`` for each id (32 bytes each), same order; parallel for large inputs."""
    _check_ids(ids, "PSI")
    return unpack_points(blind_packed(key.secret_bytes(), ids, workers=workers, pool=pool))


def reblind(
    key: PsiKey,
    points: Sequence[bytes],
    *,
    workers: int | None = None,
    pool: PsiPool | None = None,
) -> list[bytes]:
    """``p^k`` for each received 32-byte point, same order."""
    packed = pack_points(points)
    return unpack_points(reblind_packed(key.secret_bytes(), packed, workers=workers, pool=pool))


def blind_async(pool: PsiPool, key: PsiKey, ids: Sequence[str]) -> Pending:
    """Queue a blinding on ``pool``; ``.result()`` gives the packed points."""
    _check_ids(ids, "PSI")
    return pool.blind(key.secret_bytes(), ids)


def reblind_async(pool: PsiPool, key: PsiKey, packed: bytes) -> Pending:
    """Queue a reblinding of packed points on ``pool``; ``.result()`` gives packed points."""
    return pool.reblind(key.secret_bytes(), packed)


def truncate(points: Sequence[bytes], nbytes: int = COMPARE_BYTES) -> list[bytes]:
    """First ``nbytes`` of each doubly blinded value: all the guest needs for comparing."""
    return [p[:nbytes] for p in points]


def truncate_packed(packed: bytes, nbytes: int = COMPARE_BYTES) -> bytes:
    """``truncate`` on packed 32-byte points; returns packed ``nbytes``-wide values."""
    arr = np.frombuffer(packed, dtype=np.uint8).reshape(-1, POINT_BYTES)
    return arr[:, :nbytes].tobytes()


def shuffle_points(
    points: Sequence[bytes], rng: np.random.Generator | None = None
) -> tuple[list[bytes], np.ndarray]:
    """Points in a fresh random order, and ``perm`` with ``out[i] = points[perm[i]]``."""
    gen = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
    perm = gen.permutation(len(points))
    return [points[i] for i in perm], perm


# ---- host side ------------------------------------------------------------------------------
def _data_hash(ids: Sequence[str]) -> str:
    lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
    h = hashlib.sha256(b"fedlab/psi/id-list/v1\x00")
    h.update(HASH_DOMAIN)
    h.update(lengths.tobytes())
    h.update("".join(ids).encode("utf-8"))
    return h.hexdigest()


class HostBlindCache:
    """The host's blinded own set from an offline phase, stored at a path the host chooses.

    The file holds ``H(id)^kh`` in the order of the host's ID list, the key's fingerprint
    and a hash of the ID list; it is rebuilt when either changes. The blinded values are
    what the host sends to every guest anyway, so the file is not secret, but it is written
    with mode 0600 since it describes the host's registry.
    """

    _MAGIC = b"FCLPSIC1"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.last_hit = False

    def _read(self, key_fp: str, data_hash: str, n: int) -> bytes | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw.startswith(self._MAGIC):
            return None
        end = raw.find(b"\n", len(self._MAGIC))
        if end < 0:
            return None
        try:
            head = json.loads(raw[len(self._MAGIC) : end])
        except ValueError:
            return None
        body = raw[end + 1 :]
        if (
            head.get("key") != key_fp
            or head.get("data") != data_hash
            or head.get("n") != n
            or len(body) != n * POINT_BYTES
        ):
            return None
        return body

    def is_valid(self, key: PsiKey, ids: Sequence[str]) -> bool:
        return self._read(key.fingerprint(), _data_hash(ids), len(ids)) is not None

    def blinded(
        self,
        key: PsiKey,
        ids: Sequence[str],
        *,
        workers: int | None = None,
        pool: PsiPool | None = None,
    ) -> bytes:
        """Packed ``H(id)^kh`` in ID order: from the file when valid, else computed and stored."""
        _check_ids(ids, "host")
        fp, dh = key.fingerprint(), _data_hash(ids)
        body = self._read(fp, dh, len(ids))
        self.last_hit = body is not None
        if body is not None:
            return body
        body = blind_packed(key.secret_bytes(), ids, workers=workers, pool=pool)
        head = json.dumps({"key": fp, "data": dh, "n": len(ids)}).encode()
        with atomic_open(self.path, "binary") as f:  # 0600: the owner's blinded set
            f.write(self._MAGIC + head + b"\n")
            f.write(body)
        return body


@dataclass(frozen=True)
class HostOffer:
    """What the host sends (``packed``/``b``, shuffled) and keeps.

    ``perm``: b[i] is row perm[i].
    """

    packed: bytes = field(repr=False)
    perm: np.ndarray = field(repr=False)

    @property
    def b(self) -> list[bytes]:
        return unpack_points(self.packed)

    def __len__(self) -> int:
        return len(self.perm)

    def __repr__(self) -> str:
        return f"HostOffer(n={len(self.perm)})"


def host_offer(
    key: PsiKey,
    ids: Sequence[str],
    *,
    cache: HostBlindCache | None = None,
    rng: np.random.Generator | None = None,
    workers: int | None = None,
    pool: PsiPool | None = None,
    blinded: bytes | None = None,
) -> HostOffer:
    """The host's blinded set in a fresh random order.

    From ``blinded`` (packed, ID order) when given, else from the cache when valid, else
    computed now.
    """
    if blinded is not None:
        packed = blinded
    elif cache is not None:
        packed = cache.blinded(key, ids, workers=workers, pool=pool)
    else:
        _check_ids(ids, "host")
        packed = blind_packed(key.secret_bytes(), ids, workers=workers, pool=pool)
    if len(packed) != POINT_BYTES * len(ids):
        raise CryptoError(
            f"host blinded set has {len(packed) // POINT_BYTES} points for {len(ids)} IDs"
        )
    gen = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
    perm = gen.permutation(len(ids))
    arr = np.frombuffer(packed, dtype=np.uint8).reshape(-1, POINT_BYTES)[perm]
    return HostOffer(packed=arr.tobytes(), perm=perm)


def host_rows(offer: HostOffer, indices: Sequence[int]) -> list[int]:
    """The host's own row numbers for the indices into ``b`` the guest sent back."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= len(offer)):
        raise ProtocolError(
            f"PSI indices out of range for a host set of {len(offer)}",
            hint="The guest's alignment message does not belong to this PSI run.",
        )
    return [int(i) for i in offer.perm[idx]]


# ---- guest side -----------------------------------------------------------------------------
def _index(values: Sequence[bytes]) -> dict[bytes, int]:
    return {v[:COMPARE_BYTES]: i for i, v in enumerate(values)}


def intersect_guest(
    guest_ids: Sequence[str], ab: Sequence[bytes], ba: Sequence[bytes]
) -> tuple[list[str], list[int]]:
    """(sorted intersection IDs, indices into the host's ``b`` list in the same order).

    ``ab[i]`` must belong to ``guest_ids[i]``; ``ba[j] = b[j]^kg``.
    """
    if len(ab) != len(guest_ids):
        raise ProtocolError(
            f"host returned {len(ab)} doubly blinded values for {len(guest_ids)} guest IDs",
            hint="The host's reply does not belong to this PSI request.",
        )
    where = _index(ba)
    found: dict[str, int] = {}
    for gid, v in zip(guest_ids, ab, strict=False):
        j = where.get(v[:COMPARE_BYTES])
        if j is not None:
            found[gid] = j
    ids = sorted(found)
    return ids, [found[i] for i in ids]


def index_packed(ba: bytes) -> dict[bytes, int]:
    """Lookup table of the guest's ``ba`` (packed 32-byte values): compared prefix -> index."""
    c = COMPARE_BYTES
    return {ba[o : o + c]: i for i, o in enumerate(range(0, len(ba), POINT_BYTES))}


def intersect_guest_packed(
    guest_ids: Sequence[str],
    ab: bytes,
    ba: bytes = b"",
    *,
    ab_width: int = COMPARE_BYTES,
    index: dict[bytes, int] | None = None,
) -> tuple[list[str], list[int]]:
    """``intersect_guest`` on packed values: ``ab`` of ``ab_width`` bytes each, ``ba`` of 32.

    ``index`` (from ``index_packed(ba)``) may be built beforehand, while ``ab`` is on its way.
    """
    if ab_width < COMPARE_BYTES or len(ab) != ab_width * len(guest_ids):
        raise ProtocolError(
            f"host returned {len(ab)} bytes of doubly blinded values for {len(guest_ids)} "
            f"guest IDs ({ab_width} bytes each expected)",
            hint="The host's reply does not belong to this PSI request.",
        )
    c = COMPARE_BYTES
    where = index if index is not None else index_packed(ba)
    found: dict[str, int] = {}
    get = where.get
    for gid, o in zip(guest_ids, range(0, len(ab), ab_width), strict=False):
        j = get(ab[o : o + c])
        if j is not None:
            found[gid] = j
    ids = sorted(found)
    return ids, [found[i] for i in ids]


def intersection_size(ab: Sequence[bytes], ba: Sequence[bytes]) -> int:
    """|intersection| from shuffled ``ab`` (cardinality-only mode)."""
    mine = {v[:COMPARE_BYTES] for v in ab}
    return sum(1 for v in ba if v[:COMPARE_BYTES] in mine)


# ---- one-process helper ---------------------------------------------------------------------
@dataclass(frozen=True)
class PsiAlignment:
    """The intersection with one host: sorted IDs and the host's rows for them."""

    ids: list[str]
    host_rows: list[int]


@dataclass(frozen=True)
class PsiResult:
    per_host: dict[str, PsiAlignment]

    @property
    def common_ids(self) -> list[str]:
        """IDs present at the guest and at every host, sorted."""
        sets = [set(a.ids) for a in self.per_host.values()]
        return sorted(set.intersection(*sets)) if sets else []

    def common_rows(self, host: str) -> list[int]:
        """The host's rows for ``common_ids``, in that order."""
        a = self.per_host[host]
        row = dict(zip(a.ids, a.host_rows, strict=False))
        return [row[i] for i in self.common_ids]


def _unique(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def psi_in_process(
    guest_ids: Sequence[str],
    hosts: Mapping[str, Sequence[str]],
    *,
    cardinality_only: bool = False,
    host_keys: Mapping[str, PsiKey] | None = None,
    host_caches: Mapping[str, HostBlindCache] | None = None,
    workers: int | None = None,
) -> PsiResult | dict[str, int]:
    """Run the message steps for one guest against several hosts in this process (tests).

    Returns a ``PsiResult`` or, in cardinality-only mode, ``{host: |intersection|}``.
    The guest blinds its set once and sends the same ``a`` to every host.
    """
    if not hosts:
        raise AlignmentError("PSI needs at least one host")
    gids = _unique(guest_ids)
    _check_ids(gids, "guest")
    total = len(gids) + sum(len(h) for h in hosts.values())
    parallel = workers != 1 and (workers is not None or total >= PARALLEL_MIN_ITEMS)
    pool = PsiPool(workers) if parallel else None
    try:
        return _run_steps(gids, hosts, cardinality_only, host_keys or {}, host_caches or {}, pool)
    finally:
        if pool is not None:
            pool.close()


def _run_steps(
    gids: list[str],
    hosts: Mapping[str, Sequence[str]],
    cardinality_only: bool,
    host_keys: Mapping[str, PsiKey],
    host_caches: Mapping[str, HostBlindCache],
    pool: PsiPool | None,
) -> PsiResult | dict[str, int]:
    w = 1 if pool is None else None
    kg = PsiKey.generate()
    a = blind_packed(kg.secret_bytes(), gids, workers=w, pool=pool)  # guest -> every host
    sizes: dict[str, int] = {}
    per_host: dict[str, PsiAlignment] = {}
    for name, hids in hosts.items():
        kh = host_keys.get(name) or PsiKey.generate()
        h_ids = list(hids)
        if len(set(h_ids)) != len(h_ids):
            raise DataValidationError(
                f"host {name!r} has duplicate IDs; its rows could not be aligned uniquely",
                hint="Deduplicate the host's ID column before PSI.",
            )
        # host -> guest: ab (truncated) and the shuffled offer b
        ab = truncate_packed(reblind_packed(kh.secret_bytes(), a, workers=w, pool=pool))
        offer = host_offer(kh, h_ids, cache=host_caches.get(name), workers=w, pool=pool)
        if cardinality_only:
            ab = _shuffle_packed(ab, COMPARE_BYTES)
        ba = reblind_packed(kg.secret_bytes(), offer.packed, workers=w, pool=pool)  # guest
        if cardinality_only:
            sizes[name] = intersection_size(unpack_points(ab, COMPARE_BYTES), unpack_points(ba))
            continue
        ids, idx = intersect_guest_packed(gids, ab, ba)
        per_host[name] = PsiAlignment(ids=ids, host_rows=host_rows(offer, idx))  # guest -> host
    return sizes if cardinality_only else PsiResult(per_host=per_host)


def _shuffle_packed(packed: bytes, width: int) -> bytes:
    arr = np.frombuffer(packed, dtype=np.uint8).reshape(-1, width)
    perm = np.random.default_rng(secrets.randbits(128)).permutation(arr.shape[0])
    return arr[perm].tobytes()
