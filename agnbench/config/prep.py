"""Config section ``prep``: building the dataset store (``agnbench prep``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agnbench.config.choices import (IMAGE_SOURCES, MASKED_LINE_SETS, NOISE_KINDS, NORM_FALLBACKS, NORM_METHODS,
                                     SPECTRA_FRAMES, SPPIXMASK_BITS, SPECTRUM_LAYOUTS, STRETCH_METHODS, WAVELENGTH_MEDIA)
from agnbench.config.rules import alternatives, check_rules


@dataclass(frozen=True)
class ReaderConfig:
    """How to read 1-D spectrum files (``prep.reader``; agnbench.data_prep.formats.spectrum1d).

    ``layout`` auto-detects SDSS/BOSS spec files (COADD HDU), binary tables with wavelength and flux
    columns (DESI/LAMOST-like) and images with a wavelength WCS whose rows are flux, noise, sky
    (6dF, IRAF). The other keys only matter when the files need them.
    """

    layout: str = "auto"  # auto | sdss | table | image
    hdu: str = ""  # HDU name or number holding the spectrum ("" = the first that fits the layout)
    flux_row: int = 0  # image layout: row of the flux
    noise_row: int = 1  # image layout: row of the noise (-1 = none: equal weights)
    noise: str = "variance"  # image layout: the noise row holds variance | sigma | ivar
    columns: str = ""  # table layout: role=COLUMN pairs, e.g. "wave=LAMBDA,flux=FLUX,ivar=IVAR" (roles: wave,
    # loglam, flux, ivar, sigma, variance, mask); unnamed roles are found by their usual names
    medium: str = "auto"  # auto (CTYPE1 AWAV / AIRORVAC / VACUUM keywords, else vacuum) | vacuum | air
    and_mask_ignore: str = "BRIGHTSKY"  # and_mask bits that do NOT reject a pixel (SPPIXMASK names or numbers)
    pattern: str = "**/*.fits,**/*.fit,**/*.fits.gz,**/*.fit.gz"  # --source spectra: files of a folder (globs)

    def validate(self) -> None:
        """Check the choices; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("prep.reader", self, [
            ("layout", self.layout in SPECTRUM_LAYOUTS, f"must be {alternatives(SPECTRUM_LAYOUTS, quote=True)}"),
            ("flux_row", self.flux_row >= 0, "must be >= 0"),
            ("noise_row", self.noise_row >= -1 and self.noise_row != self.flux_row,
             "must be >= 0 and differ from flux_row, or -1 for none"),
            ("noise", self.noise in NOISE_KINDS, f"must be {alternatives(NOISE_KINDS, quote=True)}"),
            ("columns", all("=" in p for p in self.columns.split(",") if p.strip()),
             "must be role=COLUMN pairs separated by commas, e.g. wave=LAMBDA,flux=FLUX,ivar=IVAR"),
            ("medium", self.medium in WAVELENGTH_MEDIA, f"must be {alternatives(WAVELENGTH_MEDIA, quote=True)}"),
            ("and_mask_ignore", _bits_ok(self.and_mask_ignore),
             "must be comma-separated SDSS SPPIXMASK bit names (e.g. BRIGHTSKY) or bit numbers 0-62"),
            ("pattern", bool(self.pattern.strip()), "must name at least one glob, e.g. **/*.fits"),
        ])


def _bits_ok(text: str) -> bool:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return all((p.isdigit() and int(p) < 63) or p.upper() in SPPIXMASK_BITS for p in parts)


@dataclass(frozen=True)
class PrepConfig:
    """Dataset-store preparation (``agnbench prep``): quality cuts, splits, spectra and cutouts.

    Cuts follow the usual MPA-JHU practice (RELIABLE == 1, SPECTROTYPE == GALAXY,
    Z_WARNING == 0, a redshift and a dereddened-r range); each applies only where its column exists
    and the manifest lists those applied. ``wave_*`` and ``norm_wave_*`` are rest-frame Angstrom;
    ``observed_wave_*`` bound the grid of an observed-frame store (``frame``). Redshifts may be negative
    (stars) down to ``z_min`` when the scheme keeps stars.
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
    frame: str = "auto"  # auto (observed for labels.scheme sdss_class, else rest) | rest | observed
    observed_wave_min: float = 3800.0  # observed-frame grid: covered by SDSS-I/II (3800-9200 A) and BOSS
    observed_wave_max: float = 9200.0
    norm_method: str = "auto"  # auto (window in the rest frame, median in the observed) | window | median
    norm_floor: float = 0.1  # a window median below norm_floor * median|flux| over the grid is near zero
    norm_fallback: str = "median_abs"  # near-zero/negative window median: median_abs (divide by it) | quarantine
    mask_lines: bool = False  # blank emission lines in the spectra (ablation)
    masked_lines: str = "all"  # all (every emission line: continuum-only) | bpt (Hb, [OIII], [NII], Ha only)
    max_uncovered: float = 0.05  # largest fraction of the grid a spectrum may leave uncovered
    image_size: int = 64  # cutouts are centre-cropped or resampled to this side (pixels)
    image_source: str = "fits"  # fits (Legacy Survey grz) | jpeg (SDSS gri, 8-bit)
    stretch: str = "asinh_global"  # asinh_global (one scale per band) | minmax_per_image
    shard_size: int = 512  # objects per work unit (resume granularity)
    workers: int = 0  # processes; 0 = all usable cores; results independent of it
    scheduler: str = ""  # a Dask scheduler (tcp://host:port) to run the shards on; "" = local processes
    scheduler_timeout: float = 10.0  # seconds to wait for the scheduler to answer, and for its first worker
    reader: ReaderConfig = field(default_factory=ReaderConfig)

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        check_rules("prep", self, [
            ("z_max", -1 < self.z_min < self.z_max, f"must be > z_min ({self.z_min}) > -1"),
            ("r_max", self.r_min < self.r_max, f"must be > r_min ({self.r_min})"),
            ("val_fraction", 0 < self.val_fraction < 1, "must be in (0, 1)"),
            ("test_fraction", 0 < self.test_fraction < 1 - self.val_fraction, "must be in (0, 1 - val_fraction)"),
            ("wave_max", 900 < self.wave_min < self.wave_max, f"must be > wave_min ({self.wave_min}) > 900"),
            ("dloglam", 0 < self.dloglam <= 1e-2, "must be in (0, 0.01]"),
            ("norm_wave_max", self.wave_min <= self.norm_wave_min < self.norm_wave_max <= self.wave_max,
             "must satisfy wave_min <= norm_wave_min < norm_wave_max <= wave_max"),
            ("frame", self.frame in SPECTRA_FRAMES, f"must be {alternatives(SPECTRA_FRAMES, quote=True)}"),
            ("observed_wave_max", 900 < self.observed_wave_min < self.observed_wave_max,
             f"must be > observed_wave_min ({self.observed_wave_min}) > 900"),
            ("norm_method", self.norm_method in NORM_METHODS, f"must be {alternatives(NORM_METHODS, quote=True)}"),
            ("norm_floor", 0 <= self.norm_floor < 1, "must be in [0, 1)"),
            ("norm_fallback", self.norm_fallback in NORM_FALLBACKS,
             f"must be {alternatives(NORM_FALLBACKS, quote=True)}"),
            ("max_uncovered", 0 <= self.max_uncovered < 1, "must be in [0, 1)"),
            ("masked_lines", self.masked_lines in MASKED_LINE_SETS, "must be 'all' (continuum-only) or 'bpt'"),
            ("image_size", 16 <= self.image_size <= 256, "must be 16..256"),
            ("image_source", self.image_source in IMAGE_SOURCES, f"must be {alternatives(IMAGE_SOURCES, quote=True)}"),
            ("stretch", self.stretch in STRETCH_METHODS, f"must be {alternatives(STRETCH_METHODS, quote=True)}"),
            ("shard_size", self.shard_size > 0, "must be > 0"),
            ("workers", self.workers >= 0, "must be >= 0"),
            ("scheduler", self.scheduler == self.scheduler.strip() and " " not in self.scheduler,
             "must be a Dask scheduler address such as tcp://host:8786, or empty for local processes"),
            ("scheduler_timeout", self.scheduler_timeout > 0, "must be > 0 (seconds)"),
        ])
        self.reader.validate()
