"""Loss, optimiser and learning-rate schedule of the deep-track trainer.

- class weights ``n / (K * n_k)`` (``balanced``) in the loss;
- cross-entropy with label smoothing, or the focal loss (Lin et al. 2017) with the same smoothing;
- AdamW without weight decay on biases and normalisation parameters;
- linear warm-up then cosine decay, a pure function of the step (so resuming needs no scheduler state).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def class_weights(y_train: np.ndarray, n_classes: int, *, mode: str) -> torch.Tensor | None:
    """``balanced``: weight ``n / (K * n_k)`` per class (1 for a perfectly balanced set); ``none``: None."""
    if mode == "none":
        return None
    counts = np.bincount(y_train, minlength=n_classes).astype(np.float64)
    return torch.tensor(y_train.size / (n_classes * np.maximum(counts, 1)), dtype=torch.float32)


def classification_loss(logits: torch.Tensor, y: torch.Tensor, *, weight: torch.Tensor | None, kind: str,
                        gamma: float, smoothing: float) -> torch.Tensor:
    """Mean loss of a batch (weighted mean when class weights are given, as in ``F.cross_entropy``).

    Parameters
    ----------
    logits : torch.Tensor, shape (batch, K)
    y : torch.Tensor of int64, shape (batch,)
    kind : {"ce", "focal"}
        ``focal`` multiplies each class term of the (smoothed) cross-entropy by ``(1 - p_k)**gamma``;
        with ``gamma = 0`` it equals ``ce``.
    """
    logits = logits.float()
    if kind == "ce":
        return F.cross_entropy(logits, y, weight=weight, label_smoothing=smoothing)
    n_classes = logits.shape[1]
    logp = F.log_softmax(logits, dim=1)
    target = F.one_hot(y, n_classes).float() * (1 - smoothing) + smoothing / n_classes
    per_sample = -(target * (1 - logp.exp()).pow(gamma) * logp).sum(dim=1)
    w = torch.ones_like(per_sample) if weight is None else weight.to(logits.device)[y]
    return (w * per_sample).sum() / w.sum()


def make_optimizer(model: nn.Module, *, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; parameters with one dimension (biases, batch-norm scales) get no weight decay."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr)


def lr_at(step: int, *, peak: float, warmup_steps: int, total_steps: int) -> float:
    """Learning rate at optimiser step ``step`` (0-based): linear warm-up to ``peak``, cosine to 0 at ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = lr
