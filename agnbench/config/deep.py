"""Config sections of the deep tracks (``agnbench train spectra|images``).

One trainer serves both tracks, so both sections share :class:`DeepTrainConfig` (optimiser,
schedule, loss, sampler, early stopping, calibration, device) and add their model and
augmentation settings. Defaults are the quick configuration: sized to train on the
3,000-galaxy mock survey in a few minutes on a 2-core CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.choices import (
    CLASS_WEIGHTS,
    DEEP_CALIBRATION_METHODS,
    DEVICES,
    IMAGE_STEM_STRIDES,
    IMAGE_STEMS,
    LOSSES,
    PRECISIONS,
    SAMPLERS,
    SPECTRA_POOLS, SPECTRA_STEM_STRIDES,
    THRESHOLD_RULES,
)
from agnbench.config.rules import alternatives, check_rules


@dataclass(frozen=True)
class DeepTrainConfig:
    """Training settings shared by the spectra and images tracks.

    The learning rate follows a linear warm-up over ``warmup_epochs`` then a cosine decay to
    zero at ``epochs``; early stopping watches the val split (ROC-AUC for binary schemes,
    macro-F1 for multi-class) and keeps the best epoch's weights.
    """

    epochs: int = 20
    batch_size: int = 64
    eval_batch_size: int = 256
    lr: float = 3e-3  # AdamW peak learning rate
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0  # capped at half of ``epochs``
    loss: str = "ce"  # choices.LOSSES: ce (cross-entropy) | focal
    focal_gamma: float = 2.0
    class_weight: str = "balanced"  # choices.CLASS_WEIGHTS (weights in the loss)
    label_smoothing: float = 0.0
    sampler: str = "shuffle"  # choices.SAMPLERS: shuffle | balanced (class-balanced, with replacement)
    patience: int = 6  # epochs without val improvement before stopping
    calibration: str = "temperature"  # choices.DEEP_CALIBRATION_METHODS (fitted on val)
    threshold: str = "argmax"  # choices.THRESHOLD_RULES (chosen on val; binary)
    target_precision: float = 0.9
    augment: bool = True
    tta: bool = False  # test-time augmentation
    device: str = "auto"  # choices.DEVICES
    precision: str = "auto"  # choices.PRECISIONS; auto: bf16 on CUDA when supported, else fp32
    threads: int = 2  # CPU threads for torch (set explicitly; recorded in env.json)
    workers: int = 0  # data-loading processes (0 = in the main process); results do not depend on it
    freeze_epochs: int = 0  # with --init-from: epochs with the backbone frozen before unfreezing

    def _train_rules(self) -> list[tuple[str, bool, str]]:
        return [
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 2, "must be >= 2 (batch norm needs two samples)"),
            ("eval_batch_size", self.eval_batch_size >= 1, "must be >= 1"),
            ("lr", self.lr > 0, "must be > 0"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("warmup_epochs", self.warmup_epochs >= 0, "must be >= 0 (it is capped at half the run)"),
            ("loss", self.loss in LOSSES, f"must be {alternatives(LOSSES, quote=True)}"),
            ("focal_gamma", self.focal_gamma >= 0, "must be >= 0"),
            ("class_weight", self.class_weight in CLASS_WEIGHTS, f"must be {alternatives(CLASS_WEIGHTS, quote=True)}"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "must be in [0, 1)"),
            ("sampler", self.sampler in SAMPLERS, f"must be {alternatives(SAMPLERS, quote=True)}"),
            ("patience", self.patience >= 1, "must be >= 1"),
            ("calibration", self.calibration in DEEP_CALIBRATION_METHODS,
             f"must be {alternatives(DEEP_CALIBRATION_METHODS, quote=True)}"),
            ("threshold", self.threshold in THRESHOLD_RULES, f"must be {alternatives(THRESHOLD_RULES)}"),
            ("target_precision", 0 < self.target_precision < 1, "must be in (0, 1)"),
            ("device", self.device in DEVICES, f"must be one of {', '.join(DEVICES)}"),
            ("precision", self.precision in PRECISIONS, f"must be one of {', '.join(PRECISIONS)}"),
            ("threads", self.threads >= 1, "must be >= 1"),
            ("workers", self.workers >= 0, "must be >= 0 (0 = main process)"),
            ("freeze_epochs", 0 <= self.freeze_epochs < self.epochs, f"must be in [0, epochs={self.epochs})"),
        ]


@dataclass(frozen=True)
class SpectraConfig(DeepTrainConfig):
    """Spectra track: a 1D ResNet on the store's rest-frame spectra (``spectra/flux.npy``).

    Stage ``s`` has ``width * 2**s`` channels and ``blocks[s]`` residual blocks; every stage
    after the first halves the length. Augmentation: Gaussian noise drawn from each pixel's
    ivar (``noise_scale`` times the measured sigma), a redshift jitter of up to
    ``shift_pixels`` grid pixels (1 pixel = 1e-4 in log10 wavelength, dz/(1+z) = 2.3e-4), and
    ``mask_windows`` random windows of ``mask_width`` pixels blanked.
    """

    epochs: int = 10  # x 3 seeds in agnbench run (seeds): the quick config stays within its time budget
    patience: int = 4
    width: int = 16
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    kernel_size: int = 7
    stem_stride: int = 4  # stride of the stem (conv stride 2 x max-pool 2 at 4)
    pool: str = "avgmax"  # global pooling: avgmax (average and max concatenated) | avg
    use_ivar: bool = True  # second input channel: sqrt(ivar) divided by its median over training pixels
    use_redshift: bool = False  # redshift as an extra scalar input (a catalog quantity; recorded)
    dropout: float = 0.1  # before the head
    noise_scale: float = 1.0
    shift_pixels: float = 3.0
    mask_windows: int = 2
    mask_width: int = 30
    flux_clip: float = 50.0  # network input: normalised flux clipped to +-flux_clip (0 = off) so no object dominates

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("spectra", self, self._train_rules() + [
            ("width", self.width >= 1, "must be >= 1"),
            ("blocks", len(self.blocks) >= 1 and all(b >= 1 for b in self.blocks),
             "must be a non-empty list of positive block counts, e.g. [1, 1, 1, 1]"),
            ("kernel_size", self.kernel_size >= 1 and self.kernel_size % 2 == 1, "must be an odd number >= 1"),
            ("stem_stride", self.stem_stride in SPECTRA_STEM_STRIDES, f"must be {alternatives(SPECTRA_STEM_STRIDES)}"),
            ("pool", self.pool in SPECTRA_POOLS, f"must be {alternatives(SPECTRA_POOLS, quote=True)}"),
            ("dropout", 0 <= self.dropout < 1, "must be in [0, 1)"),
            ("flux_clip", self.flux_clip >= 0, "must be >= 0 (0 = no clipping)"),
            ("noise_scale", self.noise_scale >= 0, "must be >= 0"),
            ("shift_pixels", self.shift_pixels >= 0, "must be >= 0"),
            ("mask_windows", self.mask_windows >= 0, "must be >= 0"),
            ("mask_width", self.mask_width >= 1, "must be >= 1"),
        ])


@dataclass(frozen=True)
class ImagesConfig(DeepTrainConfig):
    """Images track: a ResNet-18 layout (stem, 4 stages x 2 BasicBlocks, GAP, head) on grz cutouts.

    ``width`` multiplies the standard ResNet-18 channel counts (64, 128, 256, 512). The
    ``small`` stem (3x3 conv, stride ``stem_stride``; at 4: stride 2 then a 2x2 max-pool) suits
    32-160 px cutouts; ``patch`` (a non-overlapping ``stem_stride`` x ``stem_stride`` conv) is the
    cheapest at stride 4;
    ``imagenet`` is the original 7x7 stride-2 conv + max-pool. Augmentation: the 8 flips and
    rotations of the dihedral group, sub-pixel shifts up to ``shift_pixels`` and Gaussian noise
    of ``noise_sigma`` (in the store's stretched units).
    """

    epochs: int = 8  # x 3 seeds in agnbench run (seeds): the quick config stays within its time budget
    lr: float = 2e-3
    patience: int = 3
    tta: bool = True  # average the 8 dihedral transforms at prediction time
    width: float = 0.5
    stem: str = "small"  # choices.IMAGE_STEMS
    stem_stride: int = 2
    dropout: float = 0.1
    shift_pixels: float = 1.0
    noise_sigma: float = 0.02
    channels_last: bool = True  # NHWC memory format (CUDA and CPU: 1.2-1.5x faster on a 2-core CPU)
    init_weights: str | None = None  # a torchvision/timm ResNet-18 state_dict file to start from (docs/init-weights.md)

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("images", self, self._train_rules() + [
            ("width", 0 < self.width <= 4, "must be in (0, 4]"),
            ("stem", self.stem in IMAGE_STEMS, f"must be {alternatives(IMAGE_STEMS, quote=True)}"),
            ("stem_stride", self.stem_stride in IMAGE_STEM_STRIDES, f"must be {alternatives(IMAGE_STEM_STRIDES)}"),
            ("dropout", 0 <= self.dropout < 1, "must be in [0, 1)"),
            ("shift_pixels", self.shift_pixels >= 0, "must be >= 0"),
            ("noise_sigma", self.noise_sigma >= 0, "must be >= 0"),
            ("init_weights", self.init_weights is None or bool(self.init_weights.strip()),
             "must be null or the path of a ResNet-18 state_dict file"),
        ])
