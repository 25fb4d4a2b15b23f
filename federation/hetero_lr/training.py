"""The coordinator's training loop of hetero LR (taylor and exact sigmoid).

The coordinator holds the key pair. It sees, per batch: the sum of the hosts' masked
forwards (taylor) or the batch's logits in the guest's secret row order (exact, a multiset
not linked to rows), which it encrypts for the guest; the parties' masked gradients
``X^T d + m`` after decryption (it returns them masked; only the party can remove ``m``);
and the guest's loss per epoch. It never sees a label, a weight or an unmasked host score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crypto.errors import ProtocolError
from features.metrics import sigmoid
from federation.hetero_lr.messages import BACKWARD, FORWARD, GUEST_STEP, HOST_STEP
from federation.hetero_lr.params import LrParams
from federation.protocol import Exchanger, ProgressFn
from federation.transport import Envelope, Payload


@dataclass
class Run:
    """Coordinator-side state of one training run (public values and decrypted masked
    gradients waiting for their party's next message)."""

    ex: Exchanger
    keys: Any
    backend: str
    guest: str
    hosts: list[str]
    params: LrParams
    nb: int
    sizes: list[int]
    valid_idx: np.ndarray
    guest_dh: bytes
    host_dh: list[bytes]
    progress: ProgressFn
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    stopped: bool = False
    epochs_run: int = 0

    def guest_step(self, payload: Payload, epoch: int) -> Payload | None:
        """One ``lr.guest_step``; reports the loss of the epoch that ended (1-based, once per
        epoch), keeps the guest's decrypted masked gradient; None when the guest stops."""
        gr = self.ex([Envelope(self.guest, GUEST_STEP, payload)])[self.guest].payload
        if "loss" in gr:
            self.progress("epoch", {"epoch": epoch, "loss": float(gr["loss"])})
        if gr.get("stop"):
            self.stopped = True
            return None
        self.grads[self.guest] = self.keys.decrypt_gradient(bytes(gr["grad"]))
        return gr


def _checked_forward(run: Run, total: np.ndarray, epoch: int) -> np.ndarray:
    """CKKS (taylor): the masked sum must fit the encoding range; it only leaves it when the
    hosts' scores explode (masks are bounded by ``mask_bound``), i.e. training diverges."""
    if run.backend == "ckks":
        from crypto.ckks import MAX_ABS_VALUE

        if total.size and float(np.abs(total).max()) > MAX_ABS_VALUE:
            raise ProtocolError(
                f"hetero LR diverged in epoch {epoch + 1}: the hosts' scores left CKKS's "
                f"encoding range (|x| <= {MAX_ABS_VALUE:g})",
                hint='Lower [params] learning_rate, or use sigmoid = "exact" (bounded residuals).',
            )
    return total


def train_taylor(run: Run) -> None:
    """FATE's flow: hosts' masked forwards, the encrypted sum to the guest, host backward."""
    ex, keys, guest, hosts = run.ex, run.keys, run.guest, run.hosts
    first_host, first_guest = True, True
    for epoch in range(run.params.epochs):
        for batch in range(run.nb):
            # (1) hosts: apply last gradient, validation scores at an epoch start, forward
            report = batch == 0 and epoch > 0
            reqs = []
            for h in hosts:
                pl: Payload = {"epoch": epoch, "batch": batch, "forward": True}
                if first_host:
                    pl.update(valid_idx=run.valid_idx, guest_dh=run.guest_dh)
                if h in run.grads:
                    pl["grad"] = run.grads.pop(h)
                if report:
                    pl.update(report_valid=True, valid_epoch=epoch - 1)
                reqs.append(Envelope(h, HOST_STEP, pl))
            first_host = False
            hr = ex(reqs)
            fwd = keys.encrypt(
                _checked_forward(run, sum_arrays([hr[h].payload["fwd"] for h in hosts]), epoch)
            )
            # (2) guest: apply last gradient, loss of the previous epoch, [[d]], masked grad
            gp: Payload = {"epoch": epoch, "batch": batch, "fwd": fwd}
            if first_guest:
                gp.update(host_names=list(hosts), host_dh=run.host_dh)
                first_guest = False
            if guest in run.grads:
                gp["grad"] = run.grads.pop(guest)
            if report:
                gp.update(
                    valid=sum_arrays([hr[h].payload["valid"] for h in hosts]),
                    valid_epoch=epoch - 1,
                )
            gr = run.guest_step(gp, epoch)
            if gr is None:
                return
            # (3) hosts: [[d]] -> masked [[X_h^T d]]
            br = ex(
                [
                    Envelope(
                        h, BACKWARD, {"epoch": epoch, "batch": batch, "d": bytes(gr[f"d.{h}"])}
                    )
                    for h in hosts
                ]
            )
            for h in hosts:
                run.grads[h] = keys.decrypt_gradient(bytes(br[h].payload["grad"]))
        run.epochs_run = epoch + 1


def train_exact(run: Run) -> None:
    """Exact sigmoid: every party sends its masked logit share in the batch's secret row
    order; the coordinator sums them to the permuted logits, encrypts sigmoid(z) once per
    row and sends it to the guest; the rest is the taylor flow's backward."""
    ex, keys, guest, hosts = run.ex, run.keys, run.guest, run.hosts
    first = True
    for epoch in range(run.params.epochs):
        for batch in range(run.nb):
            report = batch == 0 and epoch > 0
            gp: Payload = {"epoch": epoch, "batch": batch}
            if first:
                # every weight starts at 0: z = 0 and s = 1/2 on the first batch (public),
                # so its forward exchange is skipped and the guest's batch seed can reach
                # the hosts with their first backward
                s = np.full(run.sizes[0], 0.5)
                gp.update(host_names=list(hosts), host_dh=run.host_dh)
            else:
                reqs = []
                for p in [guest, *hosts]:
                    pl: Payload = {"epoch": epoch, "batch": batch}
                    if p in run.grads:
                        pl["grad"] = run.grads.pop(p)
                    if report and p != guest:
                        pl.update(report_valid=True, valid_epoch=epoch - 1)
                    reqs.append(Envelope(p, FORWARD, pl))
                fr = ex(reqs)
                s = sigmoid(sum_arrays([fr[p].payload["z"] for p in [guest, *hosts]]))
                if report:
                    gp.update(
                        valid=sum_arrays([fr[h].payload["valid"] for h in hosts]),
                        valid_epoch=epoch - 1,
                    )
            gp["s"] = keys.encrypt(s)
            gr = run.guest_step(gp, epoch)
            if gr is None:
                return
            reqs = []
            for h in hosts:
                pl = {"epoch": epoch, "batch": batch, "d": bytes(gr[f"d.{h}"])}
                if first:
                    pl.update(
                        valid_idx=run.valid_idx, guest_dh=run.guest_dh, seed=bytes(gr[f"seed.{h}"])
                    )
                reqs.append(Envelope(h, BACKWARD, pl))
            first = False
            br = ex(reqs)
            for h in hosts:
                run.grads[h] = keys.decrypt_gradient(bytes(br[h].payload["grad"]))
        run.epochs_run = epoch + 1


def sum_arrays(arrays: Sequence[Any]) -> np.ndarray:
    out = np.zeros_like(np.asarray(arrays[0], dtype=np.float64))
    for a in arrays:
        out = out + np.asarray(a, dtype=np.float64)
    return out


__all__ = ["Run", "sum_arrays", "train_exact", "train_taylor"]
