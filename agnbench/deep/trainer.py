"""The one trainer of both deep tracks: epochs, early stopping, checkpoints, exact resume, prediction.

Reproducibility: an epoch's batches and augmentations are functions of (seed, epoch, batch
index) and dropout is seeded per epoch inside :func:`torch.random.fork_rng` (the caller's
global RNG is left untouched); the learning rate is a function of the step. The checkpoint
written after every epoch (``checkpoint_last.pt``: weights, optimiser, loop state) therefore
lets an interrupted run continue to the same final weights as an uninterrupted one on CPU.
Checkpoints hold only tensors and plain values and are read with ``weights_only=True``.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score, roc_auc_score
from torch import nn
from tqdm.auto import tqdm

from agnbench.config.deep import DeepTrainConfig
from agnbench.contracts.run_dir import history_path
from agnbench.deep.augment import N_DIHEDRAL, dihedral
from agnbench.deep.data import EpochBatches, TrackData, batch_loader
from agnbench.deep.device import autocast
from agnbench.deep.distributed import Distributed
from agnbench.errors import AgnbenchError
from agnbench.deep.optim import classification_loss, lr_at, make_optimizer, set_lr
from agnbench.fileio import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)
LAST, BEST = "checkpoint_last.pt", "model_best.pt"


@dataclass
class LoopState:
    """Where the training loop is; saved in ``checkpoint_last.pt`` after every epoch."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    best_score: float = -np.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Runtime:
    """Where and how to compute: device, autocast dtype (None = fp32), memory format, workers, progress."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    workers: int
    progress: bool


def val_score(y: np.ndarray, proba: np.ndarray) -> float:
    """Early-stopping score: ROC-AUC for two classes, macro-F1 of the argmax for more."""
    if proba.shape[1] == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(f1_score(y, proba.argmax(1), labels=np.arange(proba.shape[1]), average="macro", zero_division=0))


def save_torch(obj: object, path: Path) -> None:
    """``torch.save`` to ``path`` atomically (a crash never leaves a truncated checkpoint)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_torch(path: Path, device: torch.device | str = "cpu", *, fix: str = "re-create it") -> dict:
    """Read a checkpoint written by :func:`save_torch` with ``weights_only=True`` (no pickle code runs).

    A truncated or foreign file is one :class:`AgnbenchError` naming the file and ``fix``.
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise AgnbenchError(f"{path}: file not found; {fix}") from None
    except Exception as exc:  # noqa: BLE001 -- torch raises RuntimeError, UnpicklingError, EOFError... for bad files
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise AgnbenchError(f"{path}: not a readable torch checkpoint ({reason}); it may be truncated or "
                            f"corrupt: {fix}") from None


def _to_device(x: torch.Tensor, rt: Runtime) -> torch.Tensor:
    x = x.to(rt.device, non_blocking=True)
    if rt.channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _forward(model: nn.Module, x: torch.Tensor, scalars: torch.Tensor | None) -> torch.Tensor:
    return model(x, scalars) if scalars is not None and scalars.numel() else model(x)


@torch.inference_mode()
def view_averaged_proba(model: nn.Module, x: torch.Tensor, scalars: torch.Tensor | None, *, rt: Runtime,
                        tta: bool) -> torch.Tensor:
    """Softmax (batch, K) of ``x``; with ``tta`` and images, the mean over the 8 dihedral transforms.

    The TTA average is invariant under any dihedral transform of the input (the group maps onto
    itself), so a prediction does not depend on the cutout's orientation.
    """
    views = range(N_DIHEDRAL) if tta and x.ndim == 4 else (0,)
    acc = None
    for k in views:
        with autocast(rt.device, rt.amp_dtype):
            logits = _forward(model, dihedral(x, k) if k else x, scalars)
        p = torch.softmax(logits.float(), dim=1)
        acc = p if acc is None else acc + p
    return acc / len(views)


@torch.inference_mode()
def predict_proba(model: nn.Module, data: TrackData, positions: np.ndarray, *, rt: Runtime, batch_size: int,
                  tta: bool = False) -> np.ndarray:
    """Softmax probabilities (n, K) float64 for the objects at ``positions``, in that order (see TTA above)."""
    model.eval()
    out = []
    for start in range(0, positions.size, batch_size):
        x, scalars = data.inputs(positions[start : start + batch_size])
        scalars = None if scalars is None else scalars.to(rt.device)
        out.append(view_averaged_proba(model, _to_device(x, rt), scalars, rt=rt, tta=tta).double().cpu().numpy())
    if not out:
        return np.zeros((0, model.head.out_features))
    proba = np.concatenate(out)
    return proba / proba.sum(axis=1, keepdims=True)


def _set_frozen(model: nn.Module, frozen: bool) -> None:
    """Freeze (or unfreeze) everything but the head; frozen batch norms also stop updating their statistics."""
    for name, p in model.named_parameters():
        p.requires_grad_(not frozen or name.startswith("head."))
    if frozen:
        for name, m in model.named_modules():
            if not name.startswith("head") and isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def train_loop(model: nn.Module, data: TrackData, cfg: DeepTrainConfig, *, run_dir: Path, rt: Runtime,
               weights: torch.Tensor | None, freeze_epochs: int = 0, checkpoint: dict | None = None,
               on_epoch_end: Callable[[LoopState], None] | None = None, ddp: Distributed | None = None) -> LoopState:
    """Train ``model`` until ``cfg.epochs`` or early stopping; return the final loop state.

    Writes after every epoch: ``history.csv``, ``model_best.pt`` (when val improves) and
    ``checkpoint_last.pt`` (to resume). To resume, load the checkpoint's ``model`` weights into
    ``model`` and pass the whole ``checkpoint``: optimiser, scaler and loop state continue.
    ``freeze_epochs`` (fine-tuning from ``--init-from``): the first epochs train the head only.
    ``on_epoch_end`` is called after each epoch's checkpoint is written.
    ``ddp``: this process's place under torchrun (:mod:`agnbench.deep.distributed`): the model trains
    wrapped in DistributedDataParallel on this process's share of each epoch; val predictions are gathered
    from all processes and only rank 0 writes files.
    """
    state = LoopState() if checkpoint is None else loop_state_from(checkpoint)
    ddp = ddp or Distributed()
    model.to(rt.device)
    if rt.channels_last:
        model.to(memory_format=torch.channels_last)
    net = ddp.wrap(model, rt.device, find_unused=freeze_epochs > 0)  # the training forward; `model` otherwise
    optimizer = make_optimizer(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler(rt.device.type, enabled=rt.amp_dtype == torch.float16)
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        scaler.load_state_dict(checkpoint["scaler"])
    steps_per_epoch = len(ddp.epoch_plan(data, 0))
    total = cfg.epochs * steps_per_epoch
    warmup = int(round(min(cfg.warmup_epochs, cfg.epochs / 2) * steps_per_epoch))
    val = data.indices("val")
    y_val = data.labels(val)
    weights = None if weights is None else weights.to(rt.device)
    while state.epoch < cfg.epochs and not state.stopped_early:
        epoch = state.epoch
        t0 = time.perf_counter()
        model.train()
        _set_frozen(model, epoch < freeze_epochs)
        batches = EpochBatches(data, ddp.epoch_plan(data, epoch), epoch=epoch, augment_inputs=cfg.augment,
                               **ddp.batch_keys())
        losses, seen = [], 0
        bar = tqdm(total=len(batches), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=True,
                   disable=not rt.progress)
        devices = [rt.device.index or 0] if rt.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(ddp.dropout_seed(data.seed, epoch))
            for x, scalars, y in batch_loader(batches, workers=rt.workers, seed=data.seed,
                                              pin_memory=rt.device.type == "cuda"):
                set_lr(optimizer, lr_at(state.step, peak=cfg.lr, warmup_steps=warmup, total_steps=total))
                x, y = _to_device(x, rt), y.to(rt.device, non_blocking=True)
                with autocast(rt.device, rt.amp_dtype):
                    logits = _forward(net, x, scalars.to(rt.device) if scalars.numel() else None)
                loss = classification_loss(logits, y, weight=weights, kind=cfg.loss, gamma=cfg.focal_gamma,
                                           smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                state.step += 1
                losses.append(float(loss.detach()))
                seen += y.shape[0]
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses):.4f}", rate=f"{seen / (time.perf_counter() - t0):.0f}/s")
        train_seconds = time.perf_counter() - t0
        train_loss, seen = ddp.mean(float(np.mean(losses))), seen * ddp.world_size
        ddp.sync_buffers(model)
        proba = ddp.map_positions(lambda pos: predict_proba(model, data, pos, rt=rt, batch_size=cfg.eval_batch_size),
                                  val)
        score = val_score(y_val, proba)
        val_loss = float(-np.mean(np.log(np.clip(proba[np.arange(y_val.size), y_val], 1e-12, 1))))
        metric = "auc" if proba.shape[1] == 2 else "macro_f1"
        bar.set_postfix(loss=f"{train_loss:.4f}", **{f"val_{metric}": f"{score:.4f}"},
                        rate=f"{seen / train_seconds:.0f}/s")
        bar.close()
        improved = score > state.best_score
        if improved:
            state.best_score, state.best_epoch, state.bad_epochs = score, epoch, 0
            if ddp.is_main:
                save_torch(model.state_dict(), run_dir / BEST)
        else:
            state.bad_epochs += 1
        state.history.append({
            "epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "train_loss": train_loss,
            "val_loss": val_loss, "val_score": score, "val_accuracy": float(np.mean(proba.argmax(1) == y_val)),
            "frozen_backbone": epoch < freeze_epochs, "train_samples_per_s": seen / train_seconds,
            "seconds": time.perf_counter() - t0, "best": improved})
        state.epoch += 1
        state.stopped_early = state.bad_epochs >= cfg.patience
        if ddp.is_main:
            atomic_write_text(history_path(run_dir), pd.DataFrame(state.history).to_csv(index=False))
            save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict(), "loop": asdict(state)}, run_dir / LAST)
        log.info("epoch %d/%d: train loss %.4f, val loss %.4f, val %s %.4f%s, %.0f samples/s", epoch + 1, cfg.epochs,
                 train_loss, val_loss, metric, score, " (best)" if improved else "", seen / train_seconds)
        if on_epoch_end is not None:
            on_epoch_end(state)
    if state.stopped_early:
        log.info("early stop after epoch %d: no val improvement for %d epochs (best epoch %d)", state.epoch,
                 cfg.patience, state.best_epoch + 1)
    return state


def loop_state_from(checkpoint: dict) -> LoopState:
    """The :class:`LoopState` stored in a ``checkpoint_last.pt`` dictionary."""
    return LoopState(**checkpoint["loop"])
