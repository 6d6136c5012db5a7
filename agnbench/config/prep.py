"""Config section ``prep``: building the dataset store (``agnbench prep``)."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.choices import IMAGE_SOURCES, MASKED_LINE_SETS, STRETCH_METHODS
from agnbench.config.rules import alternatives, check_rules


@dataclass(frozen=True)
class PrepConfig:
    """Dataset-store preparation (``agnbench prep``): quality cuts, splits, spectra and cutouts.

    Cuts follow the usual MPA-JHU practice (RELIABLE == 1, SPECTROTYPE == GALAXY,
    Z_WARNING == 0, a redshift and a dereddened-r range). Wavelengths are rest-frame Angstrom.
    """

    require_reliable: bool = True
    require_galaxy: bool = True
    require_zwarning_zero: bool = True
    z_min: float = 0.02
    z_max: float = 0.2
    r_min: float = 10.0  # dereddened model r magnitude range
    r_max: float = 17.77
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    wave_min: float = 3750.0  # common rest-frame grid, covered by SDSS-I/II spectra at z <= 0.2
    wave_max: float = 7400.0
    dloglam: float = 1e-4  # log10 step, the SDSS pixel
    norm_wave_min: float = 5300.0  # line-free window for the flux normalisation
    norm_wave_max: float = 5700.0
    mask_lines: bool = False  # blank emission lines in the spectra (ablation)
    masked_lines: str = "all"  # all (every emission line: continuum-only) | bpt (Hb, [OIII], [NII], Ha only)
    max_uncovered: float = 0.05  # largest fraction of the grid a spectrum may leave uncovered
    image_size: int = 64  # cutouts are centre-cropped or resampled to this side (pixels)
    image_source: str = "fits"  # fits (Legacy Survey grz) | jpeg (SDSS gri, 8-bit)
    stretch: str = "asinh_global"  # asinh_global (one scale per band) | minmax_per_image
    shard_size: int = 512  # objects per work unit (resume granularity)
    workers: int = 0  # processes; 0 = all usable cores; results independent of it

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("prep", self, [
            ("z_max", 0 <= self.z_min < self.z_max, f"must be > z_min ({self.z_min}) >= 0"),
            ("r_max", self.r_min < self.r_max, f"must be > r_min ({self.r_min})"),
            ("val_fraction", 0 < self.val_fraction < 1, "must be in (0, 1)"),
            ("test_fraction", 0 < self.test_fraction < 1 - self.val_fraction, "must be in (0, 1 - val_fraction)"),
            ("wave_max", 900 < self.wave_min < self.wave_max, f"must be > wave_min ({self.wave_min}) > 900"),
            ("dloglam", 0 < self.dloglam <= 1e-2, "must be in (0, 0.01]"),
            ("norm_wave_max", self.wave_min <= self.norm_wave_min < self.norm_wave_max <= self.wave_max,
             "must satisfy wave_min <= norm_wave_min < norm_wave_max <= wave_max"),
            ("max_uncovered", 0 <= self.max_uncovered < 1, "must be in [0, 1)"),
            ("masked_lines", self.masked_lines in MASKED_LINE_SETS, "must be 'all' (continuum-only) or 'bpt'"),
            ("image_size", 16 <= self.image_size <= 256, "must be 16..256"),
            ("image_source", self.image_source in IMAGE_SOURCES, f"must be {alternatives(IMAGE_SOURCES, quote=True)}"),
            ("stretch", self.stretch in STRETCH_METHODS, f"must be {alternatives(STRETCH_METHODS, quote=True)}"),
            ("shard_size", self.shard_size > 0, "must be > 0"),
            ("workers", self.workers >= 0, "must be >= 0"),
        ])
