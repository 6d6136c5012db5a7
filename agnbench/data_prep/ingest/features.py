"""Catalog-track inputs (``feat_*``) and quality/physics columns (``q_*``) of the objects table.

Features (each present only if its inputs are): dereddened model magnitudes and colours
(u-g, g-r, r-i, i-z), Petrosian R50/R90 in r and the concentration R90/R50, fracDeV_r,
redshift, absolute r magnitude (distance modulus only, no K-correction), stellar mass
(LGM_TOT_P50), Dn4000, Lick HdeltaA and the stellar velocity dispersion. None of them is computed
from emission lines; :mod:`agnbench.protocol.leakage` checks that by name and by train AUC.

``q_*`` columns are for subgroup analysis and plots, never model inputs: spectral S/N, mass,
colour, absolute magnitude, Milky Way E(B-V), and the measured BPT ratios (so composites can be
drawn on the BPT plane).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from agnbench.data_prep.formats.catalog import column
from agnbench.data_prep.photometry import distance_modulus

log = logging.getLogger(__name__)

BANDS = "ugriz"


def _num(series: pd.Series | None) -> np.ndarray | None:
    return None if series is None else pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)


def dereddened_mags(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Dereddened model magnitudes per band present (modelMag_b - extinction_b, or dered_b)."""
    out = {}
    for b in BANDS:
        dered = _num(column(frame, f"dered_{b}"))
        mag, ext = _num(column(frame, f"modelMag_{b}")), _num(column(frame, f"extinction_{b}"))
        if mag is not None:
            out[b] = mag - (ext if ext is not None else 0.0)
        elif dered is not None:
            out[b] = dered
    return out


def catalog_features(frame: pd.DataFrame) -> pd.DataFrame:
    """``feat_*`` columns from a joined MPA-JHU + photometry frame (row-aligned)."""
    feats: dict[str, np.ndarray] = {}
    mags = dereddened_mags(frame)
    for b, m in mags.items():
        feats[f"feat_dered_{b}"] = m
    for a, b in zip(BANDS, BANDS[1:]):
        if a in mags and b in mags:
            feats[f"feat_{a}_{b}"] = mags[a] - mags[b]
    r50, r90 = _num(column(frame, "petroR50_r")), _num(column(frame, "petroR90_r"))
    if r50 is not None:
        feats["feat_petror50_r"] = r50
    if r90 is not None:
        feats["feat_petror90_r"] = r90
    if r50 is not None and r90 is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            feats["feat_concentration"] = np.where(r50 > 0, r90 / r50, np.nan)
    for name, keys in (("fracdev_r", ("fracDeV_r",)), ("logmass", ("LGM_TOT_P50",)), ("d4000_n", ("D4000_N",)),
                       ("lick_hd_a", ("LICK_HD_A",)), ("v_disp", ("V_DISP", "VDISP"))):
        values = _num(column(frame, *keys))
        if values is not None:
            feats[f"feat_{name}"] = values
    z = _num(column(frame, "Z", "redshift", "z"))
    if z is not None:
        feats["feat_z"] = z
        if "r" in mags:
            ok = z > 0
            feats["feat_abs_r"] = np.where(ok, mags["r"] - distance_modulus(np.where(ok, z, 0.1)), np.nan)
    out = pd.DataFrame(feats, index=frame.index)
    log.info("catalog features: %s", ", ".join(out.columns) or "none")
    return out


def quality_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``q_*`` physics/quality columns for subgroups and plots (never model inputs)."""
    q: dict[str, np.ndarray] = {}
    mags = dereddened_mags(frame)
    for name, keys in (("sn_median", ("SN_MEDIAN", "s2n_r")), ("logmass", ("LGM_TOT_P50",)),
                       ("ebv_mw", ("E_BV_SFD", "e_bv")), ("d4000_n", ("D4000_N", "Dn4000(obs)"))):
        values = _num(column(frame, *keys))
        if values is not None:
            q[f"q_{name}"] = values
    if "g" in mags and "r" in mags:
        q["q_g_r"] = mags["g"] - mags["r"]
    if "r" in mags:
        q["q_r_mag"] = mags["r"]
    ratios = {"q_log_nii_ha": ("NII_6584_FLUX", "H_ALPHA_FLUX"), "q_log_oiii_hb": ("OIII_5007_FLUX", "H_BETA_FLUX")}
    for name, (num, den) in ratios.items():
        a, b = _num(column(frame, num)), _num(column(frame, den))
        if a is not None and b is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                q[name] = np.where((a > 0) & (b > 0), np.log10(np.where(a > 0, a, 1.0) / np.where(b > 0, b, 1.0)), np.nan)
    return pd.DataFrame(q, index=frame.index)
