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
from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

BANDS = "ugriz"
#: Keys of a table's column map (``prep --column-map KEY=COLUMN,...``, case-insensitive) -> the input
#: column :func:`catalog_features` reads. ``u g r i z`` are dereddened magnitudes (``z`` is the band; the
#: redshift is ``--z-col``); ``modelmag_<b>`` with ``extinction_<b>`` are dereddened here.
CANONICAL_INPUTS: dict[str, str] = {
    **{b: f"dered_{b}" for b in BANDS},
    **{f"dered_{b}": f"dered_{b}" for b in BANDS},
    **{f"modelmag_{b}": f"modelMag_{b}" for b in BANDS},
    **{f"extinction_{b}": f"extinction_{b}" for b in BANDS},
    "petror50_r": "petroR50_r", "petror90_r": "petroR90_r", "fracdev_r": "fracDeV_r",
    "logmass": "LGM_TOT_P50", "lgm_tot_p50": "LGM_TOT_P50", "d4000_n": "D4000_N", "lick_hd_a": "LICK_HD_A",
    "v_disp": "V_DISP", "vdisp": "V_DISP",
}


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


def parse_column_map(text: str | None) -> dict[str, str]:
    """``"u=umag,g=gmag"`` -> ``{"dered_u": "umag", "dered_g": "gmag"}`` (canonical input -> user column).

    Raises
    ------
    AgnbenchError
        A malformed pair, an unknown key (the message lists the keys) or a key given twice.
    """
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, col = part.partition("=")
        key, col = key.strip().lower(), col.strip()
        if not sep or not key or not col:
            raise AgnbenchError(f"--column-map: {part.strip()!r} is not KEY=COLUMN "
                                "(e.g. u=umag,g=gmag,petror50_r=r50)")
        if key not in CANONICAL_INPUTS:
            raise AgnbenchError(f"--column-map: unknown key {key!r}; use {', '.join(CANONICAL_INPUTS)}")
        if CANONICAL_INPUTS[key] in out:
            raise AgnbenchError(f"--column-map: {key!r} maps {CANONICAL_INPUTS[key]} a second time")
        out[CANONICAL_INPUTS[key]] = col
    return out


def canonical_inputs(frame: pd.DataFrame, column_map: dict[str, str], *, z: np.ndarray | None,
                     source: str) -> tuple[pd.DataFrame, list[str]]:
    """The inputs of :func:`catalog_features` found in a user's table: mapped, or under their own names.

    Parameters
    ----------
    frame : DataFrame
        The user's table.
    column_map : dict
        Canonical input -> the user's column (:func:`parse_column_map`).
    z : numpy.ndarray or None, shape (n,)
        The recognised redshift column (gives ``feat_z`` and ``feat_abs_r``).
    source : str
        The table's path, for messages.

    Returns
    -------
    inputs : DataFrame
        Row-aligned with ``frame``, columns named as :func:`catalog_features` expects.
    used : list of str
        The user's columns consumed (not to be offered again as raw features).
    """
    missing = [c for c in column_map.values() if c not in frame.columns]
    if missing:
        raise AgnbenchError(f"{source}: --column-map names unknown column(s) {', '.join(missing)}; columns are: "
                            f"{', '.join(map(str, frame.columns))}")
    lower = {str(c).lower(): c for c in frame.columns}
    inputs, used = {}, []
    for name in dict.fromkeys(CANONICAL_INPUTS.values()):
        col = column_map.get(name, lower.get(name.lower()))
        if col is not None:
            if not (pd.api.types.is_numeric_dtype(frame[col].dtype) or pd.api.types.is_bool_dtype(frame[col].dtype)):
                sample = frame[col].dropna().astype(str).head(3).tolist()
                raise AgnbenchError(f"{source}: column {col!r} (the {name} input) holds text, not numbers (e.g. "
                                    f"{sample}); fix it, or map another column with --column-map")
            inputs[name] = frame[col].to_numpy(np.float64, na_value=np.nan)
            used.append(col)
    if z is not None:
        inputs["Z"] = z
    if used:
        log.info("catalog inputs recognised in the table: %s",
                 ", ".join(f"{name}={col}" for name, col in zip(inputs, used)))
    return pd.DataFrame(inputs, index=frame.index), used


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
