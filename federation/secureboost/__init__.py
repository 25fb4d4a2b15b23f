"""SecureBoost: vertical gradient-boosted trees with Paillier-encrypted gradients.

The guest (label holder) is the key holder; every message travels through the coordinator.
Message by message: docs/protocols/secureboost.md. What leaves each party, and to whom, is
in the docstring of the module that sends it: :mod:`.setup` (keys, layout, bin counts),
:mod:`.guest` (encrypted rows, split requests, masks, metrics), :mod:`.host` (encrypted
histograms, masks), :mod:`.model` (split ids kept), :mod:`.inference` (joint prediction).

The option ``guest_only_first_trees = k`` builds the first ``k`` trees from guest features
only (hosts receive nothing for those trees): the first split of a boosted model reveals the
most about the label, and this keeps it at the guest.

Importing this package registers every party handler (``federation.party``).
"""

from __future__ import annotations

from federation.secureboost import guest, host, inference, model, setup
from federation.secureboost.cipher import GuestCipher, HostCipher, pack_sums, segment_reduce
from federation.secureboost.driver import drive
from federation.secureboost.histograms import cube_sums, merge_plan, restrict_plan
from federation.secureboost.inference import PredictOutcome, joint_predict, predict
from federation.secureboost.layout import Layout
from federation.secureboost.model import MODEL_FILE, load_piece
from federation.secureboost.params import SecureBoostParams, parse_params
from federation.secureboost.prefetch import background_executor
from federation.secureboost.tree import best_split

__all__ = [
    "GuestCipher",
    "HostCipher",
    "Layout",
    "MODEL_FILE",
    "PredictOutcome",
    "SecureBoostParams",
    "background_executor",
    "best_split",
    "cube_sums",
    "drive",
    "guest",
    "host",
    "inference",
    "joint_predict",
    "load_piece",
    "merge_plan",
    "model",
    "pack_sums",
    "parse_params",
    "predict",
    "restrict_plan",
    "segment_reduce",
    "setup",
]
