"""The public face of the crypto package's parallel and precomputed work.

Protocols use these names; the modules behind them (process pools on raw integers, pipe
workers, precomputed obfuscators) are private and may change. Everything here runs on the
calling party's own machine: worker processes receive integers the party already holds
and return integers, nothing crosses a party boundary.
"""

from __future__ import annotations

from crypto._pool import (
    ObfuscatorPool,
    PendingObfuscators,
    default_workers,
    get_executor,
    new_executor,
    parallel_crt_obfuscators,
    parallel_decrypt,
    parallel_multi_exp,
    parallel_obfuscators,
    shutdown,
    start_crt_obfuscators,
    warm_crt_tables,
)
from crypto._psi_parallel import backend_name as psi_backend_name

__all__ = [
    "ObfuscatorPool",
    "PendingObfuscators",
    "default_workers",
    "get_executor",
    "new_executor",
    "parallel_crt_obfuscators",
    "parallel_decrypt",
    "parallel_multi_exp",
    "parallel_obfuscators",
    "psi_backend_name",
    "shutdown",
    "start_crt_obfuscators",
    "warm_crt_tables",
]
