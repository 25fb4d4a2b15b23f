"""A party keeps the platform's receipt of the audit chain head for every run it joins.

The run's setup message may carry a receipt (``crypto.receipts.Receipt``, issued by the lab
when the run started: lab.audit_receipts). :func:`keep_receipt` checks that it names this
party and, when the node is given the platform's public key (node config
``platform-public-key``: a PEM file, federation.run_auth), that the platform signed it; a
receipt that fails either check stops the run at the party. The receipt is then written
atomically to the party's own disk, ``receipts/<run>.<party>.receipt.json`` under the
SuperNode's work dir (or the run's folder of a local run), where it outlives the run;
``fedlab lab audit verify --receipts DIR`` checks the catalog's trail against such files.

Revealed to whom: the party learns the chain's length and head hash and the run's name;
it sends nothing back about the receipt.
"""

from __future__ import annotations

from pathlib import Path

from crypto.atomic import atomic_write_text
from crypto.errors import ProtocolError
from crypto.receipts import Receipt, load_public_key
from federation.party import PartyContext
from federation.run_auth import PLATFORM_KEY_CONFIG

PUBLIC_KEY_CONFIG = PLATFORM_KEY_CONFIG
RECEIPTS_DIR = "receipts"
SUFFIX = ".receipt.json"


def receipt_path(ctx: PartyContext, receipt: Receipt) -> Path:
    """Where this party keeps a run's receipt."""
    base = ctx.home if ctx.home is not None else ctx.work_dir
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in receipt.run)
    return base / RECEIPTS_DIR / f"{safe}.{ctx.name}{SUFFIX}"


def keep_receipt(ctx: PartyContext, text: str) -> Path | None:
    """Check and store the run's receipt at this party (None: the run carries none)."""
    if not text:
        return None
    receipt = Receipt.from_json(text, f"party {ctx.name!r}: the run's audit receipt")
    if receipt.party != ctx.name:
        raise ProtocolError(
            f"party {ctx.name!r} was sent the audit receipt of party {receipt.party!r}"
        )
    key_file = ctx.node_config.get(PUBLIC_KEY_CONFIG)
    if key_file and not receipt.valid_under(load_public_key(str(key_file))):
        raise ProtocolError(
            f"party {ctx.name!r}: the run's audit receipt is not signed by the platform",
            hint="The run did not come from the platform's lab, or the node's "
            f"{PUBLIC_KEY_CONFIG} is not the platform's key.",
        )
    path = receipt_path(ctx, receipt)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, receipt.to_json() + "\n")
    return path


__all__ = ["PUBLIC_KEY_CONFIG", "RECEIPTS_DIR", "SUFFIX", "keep_receipt", "receipt_path"]
