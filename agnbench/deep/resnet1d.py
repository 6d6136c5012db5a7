"""A 1D ResNet for spectra: residual Conv1d/BatchNorm/ReLU blocks, strided stages, global pooling.

Every activation is its own module (never one ReLU reused inside a block), so hooks and
captum's DeepLift see each use separately. The input length is whatever the store's
wavelength grid has (global average pooling makes the head length-independent).
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock1d(nn.Module):
    """Two ``kernel_size`` convolutions with batch norm and a (projected) identity shortcut.

    Parameters
    ----------
    c_in, c_out : int
        Channels in and out.
    stride : int
        Stride of the first convolution (and of the shortcut projection).
    kernel_size : int
        Odd kernel size; padding keeps the length (divided by ``stride``).
    """

    def __init__(self, c_in: int, c_out: int, *, stride: int, kernel_size: int) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out))
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, c_in, L) -> (batch, c_out, ceil(L / stride))."""
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ResNet1d(nn.Module):
    """1D ResNet classifier.

    Parameters
    ----------
    in_channels : int
        Input channels (1 = flux; 2 = flux and an ivar-derived weight).
    n_classes : int
    width : int
        Channels of the first stage; stage ``s`` has ``width * 2**s``.
    blocks : sequence of int
        Residual blocks per stage; every stage after the first halves the length.
    kernel_size : int
    stem_stride : int
        1, 2 or 4 (4 = stride-2 convolution followed by a stride-2 max-pool).
    dropout : float
        Dropout before the linear head.
    n_scalars : int
        Extra scalar inputs (e.g. redshift) concatenated to the pooled features.
    pool : {"avgmax", "avg"}
        Global pooling: the average and the maximum of every channel concatenated, or the average
        only. A narrow feature (an emission line of ~10 pixels in ~3000) moves a channel's average by
        ~1/300 of its size but its maximum fully, so ``avgmax`` learns such features from a few dozen
        spectra where ``avg`` needs thousands.
    """

    def __init__(self, *, in_channels: int, n_classes: int, width: int = 16, blocks: tuple[int, ...] = (1, 1, 1, 1),
                 kernel_size: int = 7, stem_stride: int = 4, dropout: float = 0.0, n_scalars: int = 0,
                 pool: str = "avgmax") -> None:
        super().__init__()
        stem: list[nn.Module] = [
            nn.Conv1d(in_channels, width, kernel_size, stride=min(stem_stride, 2), padding=kernel_size // 2, bias=False),
            nn.BatchNorm1d(width), nn.ReLU()]
        if stem_stride == 4:
            stem.append(nn.MaxPool1d(2))
        self.stem = nn.Sequential(*stem)
        layers: list[nn.Module] = []
        c_in = width
        for s, n_blocks in enumerate(blocks):
            c_out = width * 2**s
            for b in range(n_blocks):
                layers.append(BasicBlock1d(c_in, c_out, stride=2 if (s > 0 and b == 0) else 1, kernel_size=kernel_size))
                c_in = c_out
        self.stages = nn.Sequential(*layers)
        if pool not in ("avgmax", "avg"):
            raise ValueError(f"pool must be 'avgmax' or 'avg', got {pool!r}")
        self.pool = AvgMaxPool1d() if pool == "avgmax" else nn.AdaptiveAvgPool1d(1)
        self.dropout = nn.Dropout(dropout)
        self.n_scalars = n_scalars
        self.head = nn.Linear(c_in * (2 if pool == "avgmax" else 1) + n_scalars, n_classes)
        init_resnet(self)

    def forward(self, x: torch.Tensor, scalars: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (batch, n_classes) of spectra ``x`` (batch, in_channels, L) [and ``scalars`` (batch, n_scalars)]."""
        h = self.pool(self.stages(self.stem(x))).flatten(1)
        if self.n_scalars:
            if scalars is None:
                raise ValueError(f"this model takes {self.n_scalars} scalar input(s) (e.g. redshift); pass scalars=")
            h = torch.cat([h, scalars.to(h.dtype)], dim=1)
        return self.head(self.dropout(h))


class AvgMaxPool1d(nn.Module):
    """(batch, C, L) -> (batch, 2C, 1): every channel's mean over L, then its maximum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1, keepdim=True), x.amax(dim=-1, keepdim=True)], dim=1)


def init_resnet(model: nn.Module) -> None:
    """Kaiming-normal convolutions, unit batch norms, and zero-initialised last BN of each residual branch.

    Zero-initialising ``bn2`` makes every block start as the identity (Goyal et al. 2017),
    which stabilises training of small models at high learning rates.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    for m in model.modules():
        if hasattr(m, "bn2") and hasattr(m, "shortcut"):
            nn.init.zeros_(m.bn2.weight)
