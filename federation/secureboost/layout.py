"""The fixed-point layout of one packed ``(count, g, h)`` plaintext.

The guest chooses the layout and sends it to every host at setup (step 1 of the protocol):
the hosts learn the slot widths, hence the bit length of the number of training rows, and
nothing about any gradient. A host packs its bin sums with it; the guest unpacks them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crypto.errors import ConfigError
from federation.transport import Payload


@dataclass(frozen=True)
class Layout:
    """Per-row plaintext ``1 << (S + Sh) | (gq + off) << Sh | hq``; a bin sum keeps the
    same slots.

    ``S`` bits hold a sum of up to ``n`` offset gradients (each in ``[0, 2 * off]``),
    ``Sh`` a sum of hessians (each at most ``wmax / 4``), ``Sc`` a row count; one bin takes
    ``W = Sc + S + Sh`` bits and ``K`` bins are packed (Horner, ``c**(2**W)``) into one
    plaintext of a ``key_bits`` key. Every slot is as narrow as its sums allow: the hosts'
    packing costs ``W`` squarings per bin.
    """

    frac: int  # fixed-point fractional bits F
    off: int  # offset added to gq so it is >= 0: 2**ceil(log2 wmax) * 2**F
    s: int
    sc: int
    k: int
    sh: int

    @property
    def w(self) -> int:
        return self.sc + self.s + self.sh

    @classmethod
    def make(cls, n_rows: int, wmax: float, frac: int, key_bits: int) -> Layout:
        wbits = max(0, math.ceil(math.log2(max(wmax, 1.0))))
        off = (1 << wbits) << frac
        nbits = max(1, n_rows.bit_length())  # n_rows < 2**nbits
        s = nbits + wbits + frac + 1  # sum of n values in [0, 2**(wbits + F + 1)]
        sh = max(1, nbits + wbits + frac - 2)  # sum of n values <= 2**(wbits + F - 2)
        sc = nbits
        k = (key_bits - 2) // (sc + s + sh)
        if s > 52 or k < 1:  # int64 histograms built through float64 sums: exact to 2**53
            raise ConfigError(
                f"secureboost: {n_rows} rows at precision_bits={frac} need {s}-bit slots; "
                f"lower precision_bits or scale_pos_weight"
            )
        return cls(frac, off, s, sc, k, sh)

    def encode_rows(self, g: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scale = float(2**self.frac)
        a = np.rint(g * scale).astype(np.int64) + self.off
        b = np.rint(h * scale).astype(np.int64)
        return a, b

    def pack_rows(self, a: np.ndarray, b: np.ndarray) -> list[int]:
        top = 1 << (self.s + self.sh)
        sh = self.sh
        return [top | (int(x) << sh) | int(y) for x, y in zip(a.tolist(), b.tolist(), strict=True)]

    def unpack_bins(self, plains: Sequence[int], n_bins: int) -> np.ndarray:
        """Decrypted packed plaintexts -> int64 array (n_bins, 3) of (count, A, B)."""
        out = np.empty((n_bins, 3), dtype=np.int64)
        wmask = (1 << self.w) - 1
        smask = (1 << self.s) - 1
        hmask = (1 << self.sh) - 1
        top, sh = self.s + self.sh, self.sh
        i = 0
        for gi, m in enumerate(plains):
            k = min(self.k, n_bins - gi * self.k)
            m = int(m)
            for j in range(k):
                v = (m >> (self.w * (k - 1 - j))) & wmask
                out[i] = (v >> top, (v >> sh) & smask, v & hmask)
                i += 1
        return out

    def to_payload(self) -> Payload:
        return {
            "frac": self.frac,
            "off": str(self.off),
            "s": self.s,
            "sc": self.sc,
            "k": self.k,
            "sh": self.sh,
        }

    @classmethod
    def from_payload(cls, p: Payload) -> Layout:
        return cls(
            int(p["frac"]), int(str(p["off"])), int(p["s"]), int(p["sc"]), int(p["k"]), int(p["sh"])
        )


__all__ = ["Layout"]
