"""BPT diagnostics: demarcation lines and the MPA-JHU emission-line classification.

The BPT diagram plots ``x = log10([NII]6584 / Halpha)`` against ``y = log10([OIII]5007 / Hbeta)``.

Demarcation lines
-----------------
- Kauffmann et al. (2003): ``y = 0.61 / (x - 0.05) + 1.30`` (valid for ``x < 0.05``); the upper
  envelope of pure star formation.
- Kewley et al. (2001): ``y = 0.61 / (x - 0.47) + 1.19`` (valid for ``x < 0.47``); the maximum
  starburst line.
- Schawinski et al. (2007): ``y = 1.05 x + 0.45`` separates Seyferts (above) from LINERs (below)
  among objects above the Kewley line.

A point is *above* a hyperbolic line when it lies to the right of the asymptote or above the curve.

MPA-JHU ``BPTCLASS`` codes (Brinchmann et al. 2004, section 3)
------------------------------------------------------------
-1 unclassifiable, 1 star-forming, 2 low-S/N star-forming, 3 composite, 4 AGN, 5 low-S/N LINER.
Objects with S/N >= ``sn_strong`` (3) in all four lines are placed on the diagram: 1 below
Kauffmann, 3 between Kauffmann and Kewley, 4 above Kewley. Of the rest, objects with
S/N >= ``sn_weak`` (2) in Halpha and [NII]6584 are 2 if ``x < -0.4`` and 5 otherwise; everything
else is -1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

UNCLASSIFIABLE, SF, LOWSN_SF, COMPOSITE, AGN, LOWSN_LINER = -1, 1, 2, 3, 4, 5
BPT_NAMES = {
    UNCLASSIFIABLE: "unclassifiable",
    SF: "star-forming",
    LOWSN_SF: "low-S/N star-forming",
    COMPOSITE: "composite",
    AGN: "AGN",
    LOWSN_LINER: "low-S/N LINER",
}
#: log10([NII]/Halpha) threshold separating low-S/N SF from low-S/N LINER (Brinchmann et al. 2004).
LOWSN_NII_HA_SPLIT = -0.4


def kauffmann03(x: ArrayLike) -> NDArray[np.float64]:
    """Kauffmann et al. (2003) line, ``y(x)``; ``nan`` where ``x >= 0.05`` (past the asymptote)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x < 0.05, 0.61 / (x - 0.05) + 1.30, np.nan)


def kewley01(x: ArrayLike) -> NDArray[np.float64]:
    """Kewley et al. (2001) line, ``y(x)``; ``nan`` where ``x >= 0.47`` (past the asymptote)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x < 0.47, 0.61 / (x - 0.47) + 1.19, np.nan)


def schawinski07(x: ArrayLike) -> NDArray[np.float64]:
    """Schawinski et al. (2007) Seyfert/LINER line, ``y = 1.05 x + 0.45``."""
    return 1.05 * np.asarray(x, dtype=np.float64) + 0.45


def above_kauffmann(x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
    """True where ``(x, y)`` lies above (or right of the asymptote of) the Kauffmann line."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return (x >= 0.05) | (y > np.nan_to_num(kauffmann03(x), nan=np.inf))


def above_kewley(x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
    """True where ``(x, y)`` lies above (or right of the asymptote of) the Kewley line."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return (x >= 0.47) | (y > np.nan_to_num(kewley01(x), nan=np.inf))


def is_seyfert(x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
    """True where ``(x, y)`` lies above the Schawinski line (Seyfert side)."""
    return np.asarray(y, dtype=np.float64) > schawinski07(x)


def bpt_class(
    nii: ArrayLike,
    nii_err: ArrayLike,
    ha: ArrayLike,
    ha_err: ArrayLike,
    oiii: ArrayLike,
    oiii_err: ArrayLike,
    hb: ArrayLike,
    hb_err: ArrayLike,
    *,
    sn_strong: float = 3.0,
    sn_weak: float = 2.0,
) -> NDArray[np.int8]:
    """Classify galaxies from measured line fluxes with the MPA-JHU (Brinchmann 2004) rules.

    Parameters
    ----------
    nii, ha, oiii, hb : array_like, shape (n,)
        Fluxes of [NII]6584, Halpha, [OIII]5007 and Hbeta (any common unit, e.g. 1e-17 erg/s/cm^2).
    nii_err, ha_err, oiii_err, hb_err : array_like, shape (n,)
        1-sigma errors in the same unit. Non-positive or non-finite errors give S/N = 0.
    sn_strong : float, keyword-only
        S/N required in all four lines to place an object on the diagram.
    sn_weak : float, keyword-only
        S/N required in Halpha and [NII] for the low-S/N classes.

    Returns
    -------
    numpy.ndarray of int8, shape (n,)
        BPTCLASS codes: -1, 1, 2, 3, 4 or 5.
    """
    fluxes = [np.asarray(a, dtype=np.float64) for a in (nii, ha, oiii, hb)]
    errors = [np.asarray(a, dtype=np.float64) for a in (nii_err, ha_err, oiii_err, hb_err)]
    sn = [_signal_to_noise(f, e) for f, e in zip(fluxes, errors)]
    nii_f, ha_f, oiii_f, hb_f = fluxes
    strong = np.logical_and.reduce([s >= sn_strong for s in sn])
    weak = (sn[0] >= sn_weak) & (sn[1] >= sn_weak)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log10(nii_f / ha_f)
        y = np.log10(oiii_f / hb_f)
    out = np.full(x.shape, UNCLASSIFIABLE, dtype=np.int8)
    on_diagram = strong & np.isfinite(x) & np.isfinite(y)
    out[on_diagram] = SF
    out[on_diagram & above_kauffmann(x, y)] = COMPOSITE
    out[on_diagram & above_kewley(x, y)] = AGN
    lowsn = ~on_diagram & weak & np.isfinite(x)
    out[lowsn & (x < LOWSN_NII_HA_SPLIT)] = LOWSN_SF
    out[lowsn & (x >= LOWSN_NII_HA_SPLIT)] = LOWSN_LINER
    return out


def _signal_to_noise(flux: NDArray[np.float64], err: NDArray[np.float64]) -> NDArray[np.float64]:
    ok = np.isfinite(flux) & np.isfinite(err) & (err > 0)
    return np.where(ok, flux / np.where(ok, err, 1.0), 0.0)
