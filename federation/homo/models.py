"""Torch models for horizontal FedAvg on tabular credit data, and their training loop.

Two model kinds, both scoring ``P(default)`` from standardized numeric indicators plus
categorical indicators given as integer codes (hashed into ``buckets`` per column):

* ``"lr"``: logistic regression; each categorical column adds a 1-wide embedding (the
  same as one-hot coefficients);
* ``"mlp"``: a small MLP over the numeric columns and a ``embedding_dim``-wide embedding of
  each categorical column.

The model's parameters travel as one flat float64 vector (:func:`flat_params` /
:func:`load_flat`); the layout is fixed by :class:`ModelSpec`, which every bank builds the
same way. Training (:func:`train_local`) is a standard torch loop (BCE loss, SGD or Adam,
optional FedProx term ``mu/2 |w - w_global|^2``) that the centralized reference uses too.

Nothing leaves a party here; ``federation.homo.party`` decides what (protected) vector is sent.
torch is imported inside this module only: the ClientApp imports it lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from crypto.errors import ConfigError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ModelSpec:
    """The architecture: every bank must build the same one."""

    kind: Literal["lr", "mlp"]
    n_numeric: int
    cat_buckets: tuple[int, ...] = ()  # one entry (number of hash buckets) per categorical column
    embedding_dim: int = 4
    hidden: tuple[int, ...] = (32, 16)

    def __post_init__(self) -> None:
        if self.kind not in ("lr", "mlp"):
            raise ConfigError(f"unknown homo model kind {self.kind!r}; use 'lr' or 'mlp'")
        if self.n_numeric + len(self.cat_buckets) == 0:
            raise ConfigError("a homo model needs at least one input column")


@dataclass(frozen=True)
class TrainConfig:
    """One bank's local training per round (or the central reference's whole run)."""

    epochs: int = 1
    batch_size: int = 128
    learning_rate: float = 0.05
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    mu: float = 0.0  # FedProx proximal weight (0 = plain FedAvg)


def _torch() -> object:
    import torch

    torch.set_num_threads(1)  # tiny models: one thread is fastest and deterministic
    return torch


def build_model(spec: ModelSpec, *, seed: int = 0) -> torch.nn.Module:
    """A freshly initialised model of ``spec`` (the same weights for the same seed)."""
    import torch
    from torch import nn

    _torch()

    class TabularNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            width = 1 if spec.kind == "lr" else spec.embedding_dim
            embeddings = [nn.Embedding(b, width) for b in spec.cat_buckets]
            self.emb = nn.ModuleList(embeddings)
            self.body: nn.Module
            if spec.kind == "lr":
                for e in embeddings:
                    nn.init.zeros_(e.weight)
                self.body = nn.Linear(spec.n_numeric, 1)
            else:
                layers: list[nn.Module] = []
                d_in = spec.n_numeric + width * len(spec.cat_buckets)
                for h in spec.hidden:
                    layers += [nn.Linear(d_in, h), nn.ReLU()]
                    d_in = h
                layers.append(nn.Linear(d_in, 1))
                self.body = nn.Sequential(*layers)

        def forward(self, xnum: torch.Tensor, xcat: torch.Tensor) -> torch.Tensor:
            if spec.kind == "lr":
                out: torch.Tensor = self.body(xnum).squeeze(-1)
                for j, e in enumerate(self.emb):
                    out = out + e(xcat[:, j]).squeeze(-1)
                return out
            parts = [xnum] + [e(xcat[:, j]) for j, e in enumerate(self.emb)]
            logits: torch.Tensor = self.body(torch.cat(parts, dim=1)).squeeze(-1)
            return logits

    torch.manual_seed(seed)
    return TabularNet()


def n_params(spec: ModelSpec) -> int:
    return int(flat_params(build_model(spec)).size)


def flat_params(model: torch.nn.Module) -> np.ndarray:
    """All parameters as one float64 vector (in ``model.parameters()`` order)."""
    return np.concatenate(
        [p.detach().cpu().numpy().astype(np.float64).ravel() for p in model.parameters()]
    )


def load_flat(model: torch.nn.Module, flat: np.ndarray) -> None:
    """Set the model's parameters from a vector made by :func:`flat_params`."""
    import torch

    flat = np.asarray(flat, dtype=np.float64)
    total = sum(p.numel() for p in model.parameters())
    if flat.size != total:
        raise ConfigError(
            f"model vector has {flat.size} values; the model has {total} parameters",
            hint="Every bank must use the same model spec.",
        )
    off = 0
    with torch.no_grad():
        for p in model.parameters():
            k = p.numel()
            p.copy_(torch.from_numpy(flat[off : off + k].reshape(p.shape)).to(p.dtype))
            off += k


class _Optimizer:
    """SGD (momentum, weight decay) and Adam steps written out (the update rules of
    ``torch.optim.SGD`` / ``torch.optim.Adam``): constructing a ``torch.optim`` optimizer
    imports torch's compiler stack, seconds per fresh ClientApp process."""

    def __init__(self, params: Sequence[torch.Tensor], cfg: TrainConfig) -> None:
        import torch

        self.params, self.cfg, self.t = params, cfg, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params] if cfg.optimizer == "adam" else []

    def step(self) -> None:
        import torch

        cfg = self.cfg
        self.t += 1
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                g = p.grad
                if cfg.weight_decay:
                    g = g + cfg.weight_decay * p
                if cfg.optimizer == "adam":
                    b1, b2, eps = 0.9, 0.999, 1e-8
                    self.m[i].mul_(b1).add_(g, alpha=1 - b1)
                    self.v[i].mul_(b2).addcmul_(g, g, value=1 - b2)
                    mh = self.m[i] / (1 - b1**self.t)
                    vh = self.v[i] / (1 - b2**self.t)
                    p.sub_(cfg.learning_rate * mh / (vh.sqrt() + eps))
                else:
                    if cfg.momentum:
                        buf = self.m[i]
                        if self.t == 1:
                            buf.copy_(g)
                        else:
                            buf.mul_(cfg.momentum).add_(g)
                        g = buf
                    p.sub_(cfg.learning_rate * g)


def _tensors(
    xnum: np.ndarray, xcat: np.ndarray | None, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    tn = torch.from_numpy(np.ascontiguousarray(xnum, dtype=np.float32))
    if xcat is None or xcat.size == 0:
        tc = torch.zeros((n, 0), dtype=torch.long)
    else:
        tc = torch.from_numpy(np.ascontiguousarray(xcat, dtype=np.int64))
    return tn, tc


def train_local(
    model: torch.nn.Module,
    xnum: np.ndarray,
    xcat: np.ndarray | None,
    y: np.ndarray,
    cfg: TrainConfig,
    *,
    seed: int,
    prox_ref: np.ndarray | None = None,
) -> float:
    """Train ``model`` in place for ``cfg.epochs`` epochs; return the mean training loss.

    ``prox_ref`` (the round's global parameters) with ``cfg.mu > 0`` adds the FedProx term.
    Mini-batches are shuffled with ``seed`` (deterministic).
    """
    import torch
    from torch import nn

    _torch()
    n = int(y.shape[0])
    tn, tc = _tensors(xnum, xcat, n)
    ty = torch.from_numpy(np.asarray(y, dtype=np.float32))
    params = list(model.parameters())
    opt = _Optimizer(params, cfg)
    ref = None
    if prox_ref is not None and cfg.mu > 0:
        ref_model = [p.detach().clone() for p in params]
        off = 0
        flat = np.asarray(prox_ref, dtype=np.float64)
        for r in ref_model:
            k = r.numel()
            r.copy_(torch.from_numpy(flat[off : off + k].reshape(r.shape)).to(r.dtype))
            off += k
        ref = ref_model
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    bs = n if cfg.batch_size <= 0 else min(cfg.batch_size, n)
    total, seen = 0.0, 0
    model.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            for p in params:
                p.grad = None
            loss = loss_fn(model(tn[idx], tc[idx]), ty[idx])
            if ref is not None:
                prox = sum(((p - r) ** 2).sum() for p, r in zip(params, ref, strict=False))
                loss = loss + 0.5 * cfg.mu * prox
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
            seen += idx.numel()
    return total / max(seen, 1)


def predict_proba(model: torch.nn.Module, xnum: np.ndarray, xcat: np.ndarray | None) -> np.ndarray:
    """``P(default)`` per row."""
    import torch

    _torch()
    tn, tc = _tensors(xnum, xcat, int(np.asarray(xnum).shape[0]))
    model.eval()
    with torch.no_grad():
        return torch.sigmoid(model(tn, tc)).numpy().astype(np.float64)


def train_central(
    spec: ModelSpec,
    xnum: np.ndarray,
    xcat: np.ndarray | None,
    y: np.ndarray,
    cfg: TrainConfig,
    *,
    seed: int = 0,
) -> torch.nn.Module:
    """The centralized reference: the same model and loop on pooled rows."""
    model = build_model(spec, seed=seed)
    train_local(model, xnum, xcat, y, cfg, seed=seed)
    return model


__all__ = [
    "ModelSpec",
    "TrainConfig",
    "build_model",
    "flat_params",
    "load_flat",
    "n_params",
    "predict_proba",
    "train_central",
    "train_local",
]
