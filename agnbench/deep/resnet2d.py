"""ResNet-18 layout for image cutouts, written here (no torchvision).

conv stem -> 4 stages x 2 BasicBlocks (channels 64, 128, 256, 512 times ``width``; strides
1, 2, 2, 2) -> global average pooling -> dropout -> linear head. The ``small`` stem (one 3x3
convolution, no max-pool) keeps the resolution that 32-160 px galaxy cutouts need; the ``patch``
stem (one non-overlapping ``stem_stride`` x ``stem_stride`` convolution, as in ConvNeXt) cuts a
64 px cutout to 16 px at stride 4 -- each patch (1 arcsec) is smaller than the seeing, so little is
lost, and every stage costs 4x less than after the small stem at stride 2; the ``imagenet`` stem
is the original 7x7/2 convolution plus a 3x3/2 max-pool. Every activation
is its own module, so captum (DeepLift, Grad-CAM hooks on ``stages[-1]``) works.
"""

from __future__ import annotations

import torch
from torch import nn

from agnbench.deep.resnet1d import init_resnet

RESNET18_CHANNELS = (64, 128, 256, 512)


class BasicBlock2d(nn.Module):
    """Two 3x3 convolutions with batch norm and a (projected) identity shortcut."""

    def __init__(self, c_in: int, c_out: int, *, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, c_in, H, W) -> (batch, c_out, H / stride, W / stride)."""
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 classifier for ``in_channels``-band cutouts.

    Parameters
    ----------
    in_channels : int
        Bands (3 for grz).
    n_classes : int
    width : float
        Multiplier of the ResNet-18 channel counts (0.5 -> 32, 64, 128, 256).
    stem : {"small", "patch", "imagenet"}
    stem_stride : int
        Stride of the small stem (1, 2, or 4 = a stride-2 convolution and a 2x2 max-pool) or the patch
        size of the patch stem.
    dropout : float
    """

    def __init__(self, *, in_channels: int, n_classes: int, width: float = 1.0, stem: str = "small",
                 stem_stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        chans = [max(8, int(round(c * width))) for c in RESNET18_CHANNELS]
        if stem == "imagenet":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, chans[0], 7, stride=2, padding=3, bias=False),
                                      nn.BatchNorm2d(chans[0]), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        elif stem == "small":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, chans[0], 3, stride=min(stem_stride, 2), padding=1,
                                                bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(),
                                      *([nn.MaxPool2d(2)] if stem_stride == 4 else []))
        elif stem == "patch":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, chans[0], stem_stride, stride=stem_stride, bias=False),
                                      nn.BatchNorm2d(chans[0]), nn.ReLU())
        else:
            raise ValueError(f"stem={stem!r}: use 'small', 'patch' or 'imagenet'")
        stages = []
        c_in = chans[0]
        for s, c_out in enumerate(chans):
            stages.append(nn.Sequential(BasicBlock2d(c_in, c_out, stride=1 if s == 0 else 2),
                                        BasicBlock2d(c_out, c_out, stride=1)))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, n_classes)
        init_resnet(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, n_classes) of cutouts ``x`` (batch, in_channels, H, W)."""
        return self.head(self.dropout(self.pool(self.stages(self.stem(x))).flatten(1)))
