"""Build a deep-track model from its config, seeded; load weights for fine-tuning (``--init-from``)."""

from __future__ import annotations

import dataclasses

import logging
from pathlib import Path

import torch
from torch import nn

from agnbench.config.deep import DeepTrainConfig, ImagesConfig, SpectraConfig
from agnbench.contracts.run_dir import has_model_meta, model_weights_path, read_model_meta
from agnbench.deep.resnet1d import ResNet1d
from agnbench.deep.resnet2d import ResNet18
from agnbench.deep.trainer import load_torch
from agnbench.errors import AgnbenchError
from agnbench.seeding import derive_seed

log = logging.getLogger(__name__)


def build_model(track: str, cfg: DeepTrainConfig, *, in_channels: int, n_classes: int, n_scalars: int = 0,
                seed: int) -> nn.Module:
    """The track's network with weights initialised from ``seed`` (global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "deep", "init"))
        if track == "spectra":
            assert isinstance(cfg, SpectraConfig)
            return ResNet1d(in_channels=in_channels, n_classes=n_classes, width=cfg.width, blocks=cfg.blocks,
                            kernel_size=cfg.kernel_size, stem_stride=cfg.stem_stride, dropout=cfg.dropout,
                            n_scalars=n_scalars, pool=cfg.pool)
        assert isinstance(cfg, ImagesConfig)
        return ResNet18(in_channels=in_channels, n_classes=n_classes, width=cfg.width, stem=cfg.stem,
                        stem_stride=cfg.stem_stride, dropout=cfg.dropout)


def architecture(track: str, cfg: DeepTrainConfig, *, in_channels: int, n_classes: int, n_scalars: int) -> dict:
    """What rebuilds the network (stored in ``model_meta.json``)."""
    keys = ("width", "blocks", "kernel_size", "stem_stride", "dropout", "pool") if track == "spectra" else \
        ("width", "stem", "stem_stride", "dropout")
    return {"class": "ResNet1d" if track == "spectra" else "ResNet18", "in_channels": in_channels,
            "n_classes": n_classes, "n_scalars": n_scalars,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in ((k, getattr(cfg, k)) for k in keys)}}


def load_init(model: nn.Module, path: Path) -> dict:
    """Copy every tensor of a checkpoint whose name and shape match ``model``'s; return what was done.

    ``path`` may be a run directory (its ``model.pt``), a ``state_dict`` file or a
    ``checkpoint_last.pt``. A head of a different shape (another number of classes) is left
    freshly initialised. Raises :class:`AgnbenchError` if nothing matches.
    """
    path = Path(path)
    if path.is_dir():
        path = model_weights_path(path)
    if not path.exists():
        raise AgnbenchError(f"--init-from {path}: no such checkpoint; give a run directory or a .pt state_dict file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for non-checkpoint files
        raise AgnbenchError(f"--init-from {path}: not a torch checkpoint readable with weights_only=True ({exc})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    own = model.state_dict()
    loaded = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    # a few same-shaped batch-norm buffers, or a head of the same width alone, are no match
    if not any(v.ndim >= 2 for k, v in loaded.items() if not k.startswith("head.")):
        raise AgnbenchError(f"--init-from {path}: no tensor matches this model (another track or architecture?)")
    skipped = sorted(set(own) - set(loaded))
    own.update(loaded)
    model.load_state_dict(own)
    log.info("initialised %d tensors from %s; %d kept fresh (%s)", len(loaded), path, len(skipped),
             ", ".join(skipped[:4]) + ("..." if len(skipped) > 4 else ""))
    return {"path": str(path.resolve()), "loaded": len(loaded), "fresh": skipped}


def load_run_model(run_dir: Path, track_cfg: DeepTrainConfig) -> tuple[nn.Module, dict]:
    """Rebuild a deep run's network from ``model_meta.json`` and load ``model.pt`` (``weights_only=True``).

    Returns the model in eval mode and the run's model metadata.
    """
    run_dir = Path(run_dir)
    weights = model_weights_path(run_dir)
    if not has_model_meta(run_dir) or not weights.exists():
        raise AgnbenchError(f"{run_dir}: no model_meta.json / model.pt; not a finished spectra or images run")
    meta = read_model_meta(run_dir)
    arch = meta["architecture"]
    if meta["track"] == "spectra":  # runs made before spectra.pool existed pooled by the average only
        track_cfg = dataclasses.replace(track_cfg, pool=arch.get("pool", "avg"))
    model = build_model(meta["track"], track_cfg, in_channels=arch["in_channels"], n_classes=arch["n_classes"],
                        n_scalars=arch.get("n_scalars", 0), seed=0)
    model.load_state_dict(load_torch(weights, fix="the run's weights are damaged: re-train the run"))
    return model.eval(), meta
