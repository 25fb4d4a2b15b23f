"""A host's bin sums and packing split across its own worker processes.

Nothing here leaves the host: the worker processes read this tree's ciphertexts (the
guest's, nothing else) from a file in the host's work dir, written once per tree and
deleted at ``sb.commit``, and return their sums to the host process. A pool that is missing
or broken costs time only: the host computes the same sums itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gmpy2
import numpy as np

from crypto import parallel
from crypto.atomic import atomic_write_bytes
from crypto.paillier import EncryptedArray, PaillierPublicKey
from federation.secureboost.cipher import HostCipher, pack_sums, segment_reduce
from federation.secureboost.histograms import Plan, cube_sums

ROWS_FILE = ".sb_rows.bin"
_MIN_ROWS_FOR_POOL = 2_000  # rows of a level's built nodes (each ~ a few products)
_MIN_GROUPS_FOR_POOL = 4  # packed ciphertexts of a level (each ~(k - 1) * w squarings)
# The last tree's ciphertexts a worker process parsed: a process-wide cache of the pool's
# worker processes (they have no party context), named by the tree's token.
_WORKER_ROWS: dict[str, Any] = {}


@dataclass(frozen=True)
class Unit:
    """Rows of one built node (or a share of them) for :func:`cube_sums`: ``base`` is the
    node's first grid key, ``idx`` the rows' positions among the tree's ciphertexts."""

    base: int
    idx: np.ndarray
    sub: np.ndarray
    modes: np.ndarray


@dataclass(frozen=True)
class Work:
    """One level's work at a host: its cipher, this tree's ciphertexts, and where the
    worker processes find them (``rows_file``, ``token``; no file: no worker processes)."""

    cipher: HostCipher
    cts: np.ndarray  # object array of this tree's ciphertexts (plaintext: ints)
    workers: int
    rows_file: str | None
    token: str


def share_rows(work_dir: Path, blob: bytes, backend: str, workers: int) -> str | None:
    """Write this tree's ciphertexts for the worker processes; ``None`` = no workers."""
    if backend != "paillier" or workers < 2:
        return None
    path = Path(work_dir) / ROWS_FILE
    atomic_write_bytes(path, blob)
    return str(path)


def new_token() -> str:
    return os.urandom(8).hex()


def _units_sums(
    units: Sequence[Unit], plan: Plan, nbmax: int, cts: Sequence[Any] | np.ndarray, modulus: Any
) -> tuple[np.ndarray, list[Any]]:
    keys: list[np.ndarray] = []
    vals: list[Any] = []
    for u in units:
        cs, bs, sums = cube_sums(u.sub, u.modes, plan, [cts[i] for i in u.idx.tolist()], modulus)
        keys.append(u.base + cs * nbmax + bs)
        vals.extend(sums)
    return (np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)), vals


def _rows_in_worker(path: str, token: str, public: bytes) -> list[Any]:
    if _WORKER_ROWS.get("token") != token:
        pk = PaillierPublicKey.from_bytes(public)
        _WORKER_ROWS.clear()
        _WORKER_ROWS.update(
            token=token,
            modulus=pk.nsquare,
            cts=EncryptedArray.from_bytes(pk, Path(path).read_bytes()).raw_ciphertexts(),
        )
    cts: list[Any] = _WORKER_ROWS["cts"]
    return cts


def _dump_ints(values: Sequence[Any], width: int) -> bytes:
    return b"".join(v.to_bytes(width, "big") for v in values)


def _load_mpz(blob: bytes, width: int) -> list[Any]:
    frm = gmpy2.mpz.from_bytes
    return [frm(blob[i : i + width], "big") for i in range(0, len(blob), width)]


def _units_job(
    path: str, token: str, public: bytes, units: list[Unit], plan: Plan, nbmax: int, width: int
) -> tuple[np.ndarray, bytes]:
    cts = _rows_in_worker(path, token, public)
    keys, vals = _units_sums(units, plan, nbmax, cts, _WORKER_ROWS["modulus"])
    return keys, _dump_ints(vals, width)


def _pack_job(blob: bytes, width: int, w: int, k: int, modulus: int) -> bytes:
    return _dump_ints(pack_sums(_load_mpz(blob, width), w, k, gmpy2.mpz(modulus)), width)


def _share_units(units: list[Unit], parts: int) -> list[list[Unit]]:
    """Units (nodes) for ``parts`` processes with equal numbers of rows: the largest nodes
    first, each process filled up to its share, a node that overflows it cut into row
    ranges (their sums are multiplied after; at most ``parts - 1`` cuts)."""
    cap = sum(u.idx.size for u in units) / parts
    shares: list[list[Unit]] = [[] for _ in range(parts)]
    j, room = 0, cap
    for u in sorted(units, key=lambda u: -u.idx.size):
        lo = 0
        while lo < u.idx.size:
            rest = u.idx.size - lo
            take = rest if j == parts - 1 or rest - room < 64 else max(64, int(room))
            shares[j].append(Unit(u.base, u.idx[lo : lo + take], u.sub[lo : lo + take], u.modes))
            lo += take
            room -= take
            if room < 64 and j < parts - 1:
                j, room = j + 1, room + cap
    return shares


def _pool_or_none(work: Work, enough: bool) -> tuple[Any, int]:
    """The crypto worker pool and the number of processes to use (``None, 1``: in-process,
    also when there is not ``enough`` work)."""
    parts = work.workers
    if work.rows_file is None or parts < 2 or not enough:
        return None, 1
    try:
        return parallel.get_executor(parts), parts
    except RuntimeError:  # the pool is shut down or broken: this process does it all
        return None, 1


def _submit_units(
    work: Work, ex: Any, shares: list[list[Unit]], plan: Plan, nbmax: int
) -> dict[int, Any]:
    futs: dict[int, Any] = {}
    if ex is None or work.rows_file is None:
        return futs
    public = work.cipher.pk.to_bytes()
    for j in range(1, len(shares)):
        if shares[j]:
            try:
                futs[j] = ex.submit(
                    _units_job,
                    work.rows_file,
                    work.token,
                    public,
                    shares[j],
                    plan,
                    nbmax,
                    work.cipher.width,
                )
            except RuntimeError:
                break
    return futs


def unit_sums(
    work: Work, units: list[Unit], plan: Plan, nbmax: int
) -> tuple[np.ndarray, list[Any]]:
    """Grid keys (sorted) and sums of the non-empty bins of all units, split across the
    worker processes (each reads the tree's ciphertexts from the shared file)."""
    cipher = work.cipher
    modulus = None if cipher.backend == "plaintext" else cipher.modulus
    ex, parts = _pool_or_none(work, sum(u.idx.size for u in units) >= _MIN_ROWS_FOR_POOL)
    shares = _share_units(units, parts) if parts > 1 else [units]
    futs = _submit_units(work, ex, shares, plan, nbmax)
    results = [_units_sums(shares[0], plan, nbmax, work.cts, modulus)]
    for j in range(1, parts):
        if not shares[j]:
            continue
        try:
            keys, blob = futs[j].result()
            results.append((keys, _load_mpz(blob, cipher.width)))
        except (KeyError, BrokenProcessPool, OSError):
            results.append(_units_sums(shares[j], plan, nbmax, work.cts, modulus))
    keys = np.concatenate([r[0] for r in results])
    vals = [v for r in results for v in r[1]]
    order = np.argsort(keys, kind="stable")
    keys, vals = keys[order], [vals[i] for i in order.tolist()]
    if keys.size and (keys[1:] == keys[:-1]).any():  # a node cut into row ranges
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        vals = segment_reduce(vals, starts.tolist(), modulus)
        keys = keys[starts]
    return keys, vals


def pack_parallel(work: Work, sums: list[Any], w: int, k: int) -> list[Any]:
    """Pack ``k`` sums per ciphertext (:func:`pack_sums`), groups split across processes."""
    cipher = work.cipher
    ngroups = -(-len(sums) // k)
    ex, parts = _pool_or_none(work, ngroups >= _MIN_GROUPS_FOR_POOL)
    if ex is None:
        return cipher.pack(sums, w, k)
    cuts = [int(round(ngroups * j / parts)) * k for j in range(parts + 1)]
    futs: dict[int, Any] = {}
    for j in range(1, parts):
        try:
            futs[j] = ex.submit(
                _pack_job,
                _dump_ints(sums[cuts[j] : cuts[j + 1]], cipher.width),
                cipher.width,
                w,
                k,
                int(cipher.modulus),
            )
        except RuntimeError:
            break
    out = cipher.pack(sums[cuts[0] : cuts[1]], w, k)
    for j in range(1, parts):
        try:
            out.extend(_load_mpz(futs[j].result(), cipher.width))
        except (KeyError, BrokenProcessPool, OSError):
            out.extend(cipher.pack(sums[cuts[j] : cuts[j + 1]], w, k))
    return out


__all__ = ["ROWS_FILE", "Unit", "Work", "new_token", "pack_parallel", "share_rows", "unit_sums"]
