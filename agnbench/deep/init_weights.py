"""Pretrained ResNet-18 weights from a local file (``agnbench train images --init-weights PATH``).

The file is a torchvision or timm ResNet-18 ``state_dict`` (both use the same names: ``conv1``, ``bn1``,
``layer1.0.conv1`` ... ``layer4.1.bn2``, ``layer2.0.downsample.0``, ``fc``), read with
``torch.load(weights_only=True)`` -- nothing is downloaded and nothing is unpickled. Its keys are mapped
onto :class:`agnbench.deep.resnet2d.ResNet18`:

=============================  ===================================
torchvision / timm             agnbench
=============================  ===================================
``conv1.weight``               ``stem.0.weight``
``bn1.*``                      ``stem.1.*``
``layer{i}.{b}.conv1|bn1...``  ``stages.{i-1}.{b}.conv1|bn1...``
``layer{i}.{b}.downsample.k``  ``stages.{i-1}.{b}.shortcut.k``
``fc.weight``, ``fc.bias``     ``head.weight``, ``head.bias``
=============================  ===================================

A file already in agnbench's names is read as it is. Wrappers are unwrapped (a ``state_dict`` / ``model``
entry; ``module.`` from DistributedDataParallel, ``_orig_mod.`` from ``torch.compile``).

- The head (``fc``: 1000 ImageNet classes) is kept freshly initialised unless its shape matches.
- The first convolution's input channels: 3 (RGB) onto 3 bands (grz) is copied channel for channel (R onto
  the store's first band); another band count is adapted as timm's ``adapt_input_conv`` does (1 band: the
  sum over RGB; more: RGB repeated, cut to the band count and scaled by 3 / bands), and recorded.
- Any other shape difference is an error naming the key: the pretrained backbone needs ``images.width: 1.0``
  (64-512 channels) and ``images.stem: imagenet`` (the 7x7 stem).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import torch
from torch import nn

from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

__all__ = ["load_init_weights", "map_key"]

_OPTION = "--init-weights/images.init_weights"
#: Wrapping prefixes stripped from every key (DistributedDataParallel, torch.compile).
_PREFIXES = ("module.", "_orig_mod.")
#: Container entries that hold the state dict itself (training checkpoints).
_CONTAINERS = ("state_dict", "model", "model_state_dict")
_RULES: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"^conv1\.weight$", "stem.0.weight"),
    (r"^bn1\.(.+)$", r"stem.1.\1"),
    (r"^layer([1-4])\.([01])\.(conv[12]|bn[12])\.(.+)$", r"stages.{s}.\2.\3.\4"),
    (r"^layer([1-4])\.([01])\.downsample\.([01])\.(.+)$", r"stages.{s}.\2.shortcut.\3.\4"),
    (r"^fc\.(weight|bias)$", r"head.\1"),
))
_HINT = ("a torchvision/timm ResNet-18 needs images.width=1.0 (channels 64-512) and images.stem=imagenet "
         "(the 7x7 stem); set them with --set")


def map_key(key: str, own: set[str] | frozenset[str] = frozenset()) -> str | None:
    """agnbench's name for a torchvision/timm ResNet-18 key (``own``: names kept as they are), else None."""
    if key in own:
        return key
    for pattern, repl in _RULES:
        m = pattern.match(key)
        if m:
            stage = str(int(m.group(1)) - 1) if m.re.groups >= 2 and key.startswith("layer") else ""
            return m.expand(repl.replace("{s}", stage))
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    """The file's tensors by name, unwrapped; AgnbenchError if it is not a state dict."""
    if not path.is_file():
        raise AgnbenchError(f"{_OPTION} {path}: no such file; give a ResNet-18 state_dict saved with torch.save "
                            "(e.g. torch.save(torchvision.models.resnet18(weights=...).state_dict(), 'resnet18.pt'))")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for files it cannot read safely
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise AgnbenchError(f"{_OPTION} {path}: not a torch file readable with weights_only=True ({reason}); "
                            "save the model's state_dict() with torch.save") from None
    for name in _CONTAINERS:
        if isinstance(state, dict) and isinstance(state.get(name), dict):
            state = state[name]
            break
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise AgnbenchError(f"{_OPTION} {path}: not a state dict (a mapping of parameter names to tensors; got "
                            f"{type(state).__name__}); save the model's state_dict() with torch.save")
    out = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def _adapt_input_conv(weight: torch.Tensor, bands: int) -> torch.Tensor:
    """A (out, 3, k, k) RGB kernel for ``bands`` input channels (timm's ``adapt_input_conv`` rule)."""
    if bands == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-bands // weight.shape[1])
    return weight.repeat(1, repeats, 1, 1)[:, :bands] * (weight.shape[1] / bands)


def load_init_weights(model: nn.Module, path: str | Path) -> dict:
    """Copy a torchvision/timm ResNet-18 state dict in ``path`` into agnbench's ``model``; return the record.

    Parameters
    ----------
    model : nn.Module
        An agnbench :class:`~agnbench.deep.resnet2d.ResNet18` (weights already initialised).
    path : str or Path
        The ``state_dict`` file (``torch.save``), read with ``weights_only=True``.

    Returns
    -------
    dict
        ``path`` (absolute), ``sha256``, ``bytes``, ``layout`` (``torchvision/timm`` or ``agnbench``),
        ``loaded`` (agnbench key -> the file's key), ``adapted`` (input-channel adaptations), ``skipped`` (the
        file's keys not used, each with ``reason``) and ``fresh`` (agnbench keys left as initialised): what
        ``init_weights.json`` in the run directory holds.

    Raises
    ------
    AgnbenchError
        Missing file, not a state dict, no key matching, or a backbone tensor of another shape (named).
    """
    path = Path(path).expanduser()
    state = _read_state(path)
    own = model.state_dict()
    native = sum(k in own for k in state) > sum(map_key(k) is not None for k in state)
    loaded: dict[str, str] = {}
    skipped: list[dict[str, str]] = []
    adapted: list[dict] = []
    new: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        target = key if native and key in own else (None if native else map_key(key))
        if target is None or target not in own:
            skipped.append({"key": key, "reason": "no counterpart in agnbench's ResNet-18"})
            continue
        want = tuple(own[target].shape)
        got = tuple(value.shape)
        if got != want and target.startswith("head."):
            skipped.append({"key": key, "reason": f"head of shape {list(got)}, this model's is {list(want)} "
                                                  f"({want[0]} classes): left freshly initialised"})
            continue
        if target == "stem.0.weight" and got != want and got[1] == 3 and (got[0], *got[2:]) == (want[0], *want[2:]):
            value = _adapt_input_conv(value, want[1])
            adapted.append({"key": target, "from_channels": got[1], "to_channels": want[1],
                            "rule": "1 band: sum over RGB; more: RGB repeated, cut and scaled by 3 / bands (timm)"})
        elif got != want:
            raise AgnbenchError(f"{_OPTION} {path}: {key} (agnbench {target}) has shape {list(got)}, this model's is "
                                f"{list(want)}; {_HINT}")
        new[target] = value.to(own[target].dtype)
        loaded[target] = key
    if not any(k != "head.weight" and v.ndim >= 2 for k, v in new.items()):
        raise AgnbenchError(f"{_OPTION} {path}: no tensor of the file matches agnbench's ResNet-18 (keys such as "
                            f"{', '.join(list(state)[:3])}); give a torchvision or timm ResNet-18 state_dict")
    own.update(new)
    model.load_state_dict(own)
    fresh = sorted(set(own) - set(new))
    record = {"path": str(path.resolve()), "sha256": _sha256(path), "bytes": path.stat().st_size,
              "layout": "agnbench" if native else "torchvision/timm", "loaded": loaded, "adapted": adapted,
              "skipped": skipped, "fresh": fresh}
    log.info("init weights %s: %d tensors loaded, %d of the file's keys skipped, %d kept fresh (%s)", path.name,
             len(loaded), len(skipped), len(fresh), ", ".join(fresh[:4]) + ("..." if len(fresh) > 4 else ""))
    return record
