"""What a user would write without agnbench: read every spectrum and cutout with astropy, put the
spectrum on a rest-frame grid with np.interp, keep everything in lists, stack at the end.

Usage: python benchmarks/_baseline_prep.py RAW
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

raw = Path(sys.argv[1])
info = Table.read(raw / "catalog" / "galSpecInfo.fits").to_pandas()
grid = 10 ** np.arange(np.log10(3750), np.log10(7400), 1e-4)
spectra, images = [], []
for row in info.itertuples():
    p, m, f = int(row.PLATEID), int(row.MJD), int(row.FIBERID)
    t = Table.read(raw / "spectra" / f"{p:04d}" / f"spec-{p:04d}-{m:05d}-{f:04d}.fits", hdu=1)
    rest = 10 ** np.asarray(t["loglam"], dtype=float) / (1 + row.Z)
    flux = np.interp(grid, rest, np.asarray(t["flux"], dtype=float))
    spectra.append(flux / np.median(flux[(grid > 5300) & (grid < 5700)]))
    sid = row.SPECOBJID.decode() if isinstance(row.SPECOBJID, bytes) else str(row.SPECOBJID)
    images.append(fits.getdata(raw / "images" / f"{sid.strip()}.fits"))
np.save("/dev/null", np.stack(spectra).astype(np.float32))
np.save("/dev/null", np.arcsinh(np.stack(images)).astype(np.float16))
