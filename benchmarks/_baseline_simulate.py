"""The straightforward way: the same simulation, one process, every FITS file built by astropy.

Usage: python benchmarks/_baseline_simulate.py N OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

from astropy.io import fits

from agnbench.config.core import load_config
from agnbench.data_prep.formats import sdss_files
from agnbench.data_prep.mock import simulate


class AstropySpecWriter:
    def to_bytes(self, **parts):
        return sdss_files._hdul_bytes(fits.HDUList(sdss_files._speclite_hdus(**parts)))


class AstropyCutoutWriter:
    def to_bytes(self, image, **kw):
        return sdss_files._hdul_bytes(fits.HDUList([sdss_files.cutout_hdu(image, **kw)]))


if __name__ == "__main__":
    n, out = int(sys.argv[1]), Path(sys.argv[2])
    simulate.SpecliteWriter = AstropySpecWriter
    simulate.CutoutWriter = AstropyCutoutWriter
    cfg = load_config(overrides=["seed=0", f"simulate.n={n}", "simulate.image_size=64", "simulate.workers=1"])
    simulate.simulate(cfg, out, progress=False)
