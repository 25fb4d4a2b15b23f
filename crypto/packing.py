"""Several bounded non-negative integers in one Paillier plaintext.

A row ``(v_0, ..., v_{s-1})`` becomes ``sum_j v_j * 2**(slot_bits * j)``. Adding up to
``max_terms`` packed plaintexts adds every slot independently as long as each value is
at most ``(2**slot_bits - 1) // max_terms`` (so no slot carries into the next); the
packed integer must also stay below ``n / 3``, which needs
``slot_bits * n_slots <= key_bits - 3``. Both bounds are checked: at construction
(slot layout vs key size) and in :meth:`PackedCodec.pack` (each value).

Use: SecureBoost packs a sample's (gradient, hessian) pair, offset and scaled to
non-negative integers by the guest, into one ciphertext; hosts only add them up.
Nothing leaves the party from this module: it only maps integers to integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from crypto.errors import CryptoError, EncodingOverflowError

if TYPE_CHECKING:
    from crypto.paillier import EncryptedArray, PaillierPrivateKey, PaillierPublicKey

HEADROOM_BITS = 3
"""Bits kept free at the top of the plaintext space (packed values stay below n/3)."""


class PackedCodec:
    """Pack ``n_slots`` values of ``slot_bits`` bits each into one plaintext."""

    def __init__(self, slot_bits: int, n_slots: int, *, max_terms: int, key_bits: int) -> None:
        if slot_bits < 1 or n_slots < 1 or max_terms < 1:
            raise CryptoError("slot_bits, n_slots and max_terms must all be positive")
        total = slot_bits * n_slots
        if total > key_bits - HEADROOM_BITS:
            raise EncodingOverflowError(
                f"{n_slots} slots of {slot_bits} bits need {total} bits; a {key_bits}-bit key "
                f"holds at most {key_bits - HEADROOM_BITS} bits per plaintext"
            )
        max_value = ((1 << slot_bits) - 1) // max_terms
        if max_value < 1:
            raise EncodingOverflowError(
                f"slots of {slot_bits} bits cannot hold sums of {max_terms} terms"
            )
        self.slot_bits = slot_bits
        self.n_slots = n_slots
        self.max_terms = max_terms
        self.key_bits = key_bits
        self.max_value = max_value
        """Largest value a slot may hold so that ``max_terms`` of them never carry."""

    def __repr__(self) -> str:
        return (
            f"PackedCodec(slot_bits={self.slot_bits}, n_slots={self.n_slots}, "
            f"max_terms={self.max_terms}, max_value={self.max_value})"
        )

    @classmethod
    def for_bound(
        cls, max_value: int, n_slots: int, *, max_terms: int, key_bits: int
    ) -> PackedCodec:
        """The narrowest codec whose slots hold ``max_terms`` values up to ``max_value``."""
        slot_bits = (int(max_value) * int(max_terms)).bit_length()
        return cls(slot_bits, n_slots, max_terms=max_terms, key_bits=key_bits)

    def pack(self, ints: object) -> list[int]:
        """Rows of ``n_slots`` values in ``[0, max_value]`` -> one integer per row."""
        arr = np.asarray(ints, dtype=object)
        if arr.ndim == 1 and self.n_slots == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.n_slots:
            raise CryptoError(f"packing expects shape (rows, {self.n_slots}), got {arr.shape}")
        rows = arr.tolist()
        out = []
        shift = self.slot_bits
        for i, row in enumerate(rows):
            acc = 0
            for j in range(self.n_slots - 1, -1, -1):
                v = row[j]
                if isinstance(v, (float, np.floating)) and not float(v).is_integer():
                    raise CryptoError(f"value at row {i}, slot {j} is not an integer")
                v = int(v)
                if not 0 <= v <= self.max_value:
                    raise EncodingOverflowError(
                        f"value at row {i}, slot {j} is {'negative' if v < 0 else 'too large'}; "
                        f"slots hold integers in [0, {self.max_value}] for sums of "
                        f"{self.max_terms} terms"
                    )
                acc = (acc << shift) | v
            out.append(acc)
        return out

    def unpack(self, ints: Sequence[int]) -> np.ndarray:
        """Packed integers -> array ``(rows, n_slots)`` (int64 when it fits, else object)."""
        mask = (1 << self.slot_bits) - 1
        limit = 1 << (self.slot_bits * self.n_slots)
        rows = []
        for i, packed in enumerate(ints):
            p = int(packed)
            if not 0 <= p < limit:
                raise EncodingOverflowError(
                    f"packed value at row {i} has {p.bit_length()} bits, more than "
                    f"{self.slot_bits * self.n_slots}: more than {self.max_terms} terms were "
                    "added, or a value was out of range"
                )
            rows.append([(p >> (self.slot_bits * j)) & mask for j in range(self.n_slots)])
        if self.slot_bits <= 62:
            return np.array(rows, dtype=np.int64).reshape(len(rows), self.n_slots)
        out = np.empty((len(rows), self.n_slots), dtype=object)
        for i, row in enumerate(rows):
            out[i, :] = row
        return out

    def encrypt(self, pk: PaillierPublicKey, ints: object) -> EncryptedArray:
        """Pack and encrypt (exponent 0)."""
        if pk.bits < self.key_bits:
            raise EncodingOverflowError(
                f"codec was sized for {self.key_bits}-bit keys, this key has {pk.bits} bits"
            )
        return pk.raw_encrypt(self.pack(ints))

    def decrypt(self, sk: PaillierPrivateKey, enc: EncryptedArray) -> np.ndarray:
        """Decrypt and unpack to ``(rows, n_slots)``."""
        return self.unpack(sk.decrypt_ints(enc))
