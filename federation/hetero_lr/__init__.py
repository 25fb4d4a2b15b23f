"""Hetero (vertical) logistic regression with the coordinator as arbiter (key holder).

FATE-style coordinated LR with a Taylor approximation of the logistic loss. The coordinator
generates the key pair and is the only party that can decrypt; the guest holds the label;
every party keeps its own weights. Message by message, see docs/protocols/hetero_lr.md.
One module per job: ``params`` (``[params]``), ``backends`` (plaintext / Paillier / CKKS),
``messages`` (actions, typed ``lr.init`` payloads), ``state`` (typed party state),
``batches`` (batch plans, masks' bound), ``data`` (a party's rows and matrix sources),
``updates`` (a party's gradient step), ``guest``/``host``/``handlers`` (party handlers),
``training``/``driver`` (the coordinator), ``model`` (the model pieces).

What leaves each party, and to whom (all messages travel through the coordinator):

1. Every party sends the coordinator an X25519 public key (``lr.init``); the coordinator
   relays the guest's key to each host and the hosts' keys to the guest. Guest and host
   derive a pairwise secret the coordinator cannot compute; it seeds the masks of 2. and 3.
2. A host sends ``0.25 * X_h w_h + r`` for the rows of one mini-batch, masked with ``r``
   from its guest-host key (uniform noise to the coordinator, which cannot derive ``r``).
   The coordinator adds the hosts' masked vectors, *encrypts the sum* under its own key
   and sends the ciphertext to the guest: the guest can neither decrypt it nor remove one
   host's mask without the others', it only strips the sum of masks homomorphically.
   (This is FATE's ``[[X_h w_h]]`` step with the encryption done once, by the key holder,
   instead of once per host: the coordinator could decrypt the hosts' ciphertexts anyway,
   so what protects host scores from it is the pairwise mask in both variants.)
3. The guest sends ``[[d + r']]`` for each host, with ``d = cw * (0.25 z + 0.5 - y)``
   (``r'`` from that host's guest-host key). A host never sees ``d`` in the clear, the
   coordinator never sees it unmasked.
4. Each party sends ``[[X^T d + m]]`` (its own uniform mask ``m``); the coordinator decrypts
   and returns the masked sums ``X^T d + m`` only. The party removes ``m`` and updates its
   own weights locally: weights never leave a party.
5. The guest sends the indices (positions in the aligned order) of its validation rows;
   hosts send masked partial scores of those rows once per epoch; the guest learns the sum
   over hosts of their partial scores on validation rows (needed for the loss, AUC and KS).
6. The guest sends the coordinator public metrics (loss per epoch, AUC, KS, counts).
"""

from features.metrics import validation_split
from federation.hetero_lr import guest, handlers, host  # noqa: F401 - registers the handlers
from federation.hetero_lr.backends import (
    PAILLIER_FEATURE_BITS,
    KeyHolder,
    LrBackend,
    Session,
    get_backend,
)
from federation.hetero_lr.batches import (
    FORWARD_MASK_BOUND,
    PAIRWISE_MASK_BOUND,
    batch_plan,
    batch_sizes,
    mask_bound,
    n_batches,
    secret_batch_plan,
)
from federation.hetero_lr.data import MatrixSource, register_matrix_source
from federation.hetero_lr.driver import drive, train_aligned
from federation.hetero_lr.model import MODEL_FILE, ModelPiece, load_piece, save_piece
from federation.hetero_lr.params import LrParams, parse_params
from federation.hetero_lr.state import STATE_KEY, LrPartyState, find_state, party_state

__all__ = [
    "FORWARD_MASK_BOUND",
    "MODEL_FILE",
    "PAILLIER_FEATURE_BITS",
    "PAIRWISE_MASK_BOUND",
    "STATE_KEY",
    "KeyHolder",
    "LrBackend",
    "LrParams",
    "LrPartyState",
    "MatrixSource",
    "ModelPiece",
    "Session",
    "batch_plan",
    "batch_sizes",
    "drive",
    "find_state",
    "get_backend",
    "load_piece",
    "mask_bound",
    "n_batches",
    "parse_params",
    "party_state",
    "register_matrix_source",
    "save_piece",
    "secret_batch_plan",
    "train_aligned",
    "validation_split",
]
