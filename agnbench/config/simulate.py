"""Config section ``simulate``: the mock survey (``agnbench simulate``)."""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.rules import Message, check_rules

_FRACTIONS = ("frac_seyfert", "frac_liner", "frac_composite")


@dataclass(frozen=True)
class SimulateConfig:
    """Mock survey parameters (``agnbench simulate``).

    Results depend only on the root ``seed`` and ``chunk_size`` (the work unit that owns a
    random stream), never on ``workers``. Magnitudes are AB, angles in arcsec.
    """

    n: int = 3000  # number of galaxies
    image_size: int = 64  # cutout side (pixels)
    pixel_scale: float = 0.262  # arcsec / pixel (Legacy Survey)
    z_min: float = 0.02
    z_max: float = 0.2
    r_limit: float = 17.77  # SDSS main-sample Petrosian r limit (mag)
    frac_seyfert: float = 0.14  # true class fractions; star-forming is the remainder
    frac_liner: float = 0.07
    frac_composite: float = 0.12
    snr_scale: float = 1.0  # multiplies the spectral S/N
    psf_fwhm_min: float = 1.1  # arcsec
    psf_fwhm_max: float = 1.5
    point_source_fraction: float = 0.5  # Seyferts with a visible nuclear point source
    point_source_strength: float = 1.0  # multiplies the point-source flux fraction
    image_depth_r: float = 23.5  # 5-sigma point-source depth in r (mag)
    chunk_size: int = 250  # galaxies per work unit (each has its own random stream)
    workers: int = 0  # processes; 0 = all usable cores

    def validate(self) -> None:
        """Check ranges; raise :class:`~agnbench.errors.ConfigError` naming the first bad key."""
        total = sum(getattr(self, name) for name in _FRACTIONS)
        check_rules("simulate", self, [
            ("n", self.n > 0, "must be > 0"),
            ("image_size", 16 <= self.image_size <= 160, "must be 16..160"),
            ("pixel_scale", self.pixel_scale > 0, "must be > 0"),
            ("z_min", self.z_min > 0, "must be > 0"),
            ("z_max", self.z_min < self.z_max <= 0.4, f"must be > z_min ({self.z_min}) and <= 0.4"),
            *((name, 0 <= getattr(self, name) < 1, "must be in [0, 1)") for name in _FRACTIONS),
            ("snr_scale", self.snr_scale > 0, "must be > 0"),
            ("psf_fwhm_min", self.psf_fwhm_min > 0, "must be > 0"),
            ("psf_fwhm_max", self.psf_fwhm_max >= self.psf_fwhm_min,
             f"must be >= psf_fwhm_min ({self.psf_fwhm_min})"),
            ("point_source_fraction", 0 <= self.point_source_fraction <= 1, "must be in [0, 1]"),
            ("point_source_strength", self.point_source_strength >= 0, "must be >= 0"),
            ("chunk_size", self.chunk_size > 0, "must be > 0"),
            ("workers", self.workers >= 0, "must be >= 0 (0 = all cores)"),
            ("frac_seyfert", total < 1,
             Message(f"simulate.frac_seyfert + frac_liner + frac_composite = {total:g} is out of range: "
                     "must be < 1 (star-forming galaxies are the remainder)")),
        ])
