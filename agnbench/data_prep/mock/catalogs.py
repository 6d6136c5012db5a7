"""Mock survey, step 4: survey identifiers and the MPA-JHU / SDSS catalog tables.

Identifiers follow SDSS conventions: 640-fiber plates of 3 deg diameter, DR8 bit-packed
``specObjID`` (``plate << 50 | fiber << 38 | (mjd - 50000) << 24 | run2d << 10`` with
run2d = 26, checked against a real spec-lite file) and DR8 photometric ``objID``.

Tables use DR8 MPA-JHU column spellings (upper case). Equivalent widths follow the MPA-JHU sign
convention (negative = emission). Derived quantities that the real pipeline estimates by model
fitting (stellar mass, SFR) are the mock's truth plus a realistic scatter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agnbench.data_prep import photometry as ph
from agnbench.data_prep.bpt import AGN, SF, bpt_class
from agnbench.data_prep.lines import EMISSION_LINES
from agnbench.data_prep.formats.sdss_files import specobjid
from agnbench.data_prep.mock.population import total_magnitude
from agnbench.data_prep.mock.profiles import profile_components, petrosian_radii

FIBERS_PER_PLATE = 640
GALAXIES_PER_PLATE = 560
#: 5-sigma depths used for SDSS model-magnitude errors (AB).
_SDSS_M5 = {"u": 21.6, "g": 22.6, "r": 22.4, "i": 21.7, "z": 20.6}


def photo_objid(index: np.ndarray) -> np.ndarray:
    """DR8-style photometric objID (skyVersion 2, rerun 301) unique per index, as strings."""
    index = index.astype(np.int64)
    run = 1000 + index // (6 * 800 * 60000)
    camcol = 1 + index % 6
    field = 11 + (index // 6) % 800
    obj = (index // (6 * 800)) % 60000 + 1
    ids = (2 << 59) | (301 << 48) | (run << 32) | (camcol << 29) | (field << 16) | obj
    return np.array([str(int(v)) for v in ids])


def assign_survey_ids(pop: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Add plate, mjd, fiberid, ra, dec, specobjid, objid and object_id columns (copy)."""
    n = len(pop)
    out = pop.copy()
    plate_idx = np.arange(n) // GALAXIES_PER_PLATE
    n_plates = int(plate_idx.max()) + 1
    ra_c = rng.uniform(120.0, 240.0, n_plates)
    dec_c = np.rad2deg(np.arcsin(rng.uniform(np.sin(np.deg2rad(-5.0)), np.sin(np.deg2rad(60.0)), n_plates)))
    mjd_p = 51600 + 7 * np.arange(n_plates) + rng.integers(0, 5, n_plates)
    r = 1.49 * np.sqrt(rng.random(n))
    theta = rng.uniform(0, 2 * np.pi, n)
    dec = dec_c[plate_idx] + r * np.sin(theta)
    ra = (ra_c[plate_idx] + r * np.cos(theta) / np.cos(np.deg2rad(dec_c[plate_idx]))) % 360.0
    fiber = np.empty(n, dtype=np.int64)
    for p in range(n_plates):
        members = np.flatnonzero(plate_idx == p)
        fiber[members] = np.sort(rng.permutation(FIBERS_PER_PLATE)[: members.size] + 1)
    out["plate"] = (300 + plate_idx).astype(np.int64)
    out["mjd"] = mjd_p[plate_idx].astype(np.int64)
    out["fiberid"] = fiber
    out["ra"], out["dec"] = ra, dec
    out["specobjid"] = specobjid(out["plate"].to_numpy(), out["mjd"].to_numpy(), fiber)
    out["objid"] = photo_objid(np.arange(n))
    out["object_id"] = out["specobjid"]
    assert out["object_id"].is_unique, "survey ids are not unique"
    return out


def catalog_tables(pop: pd.DataFrame, meas: pd.DataFrame, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Build galSpecInfo, galSpecExtra, galSpecLine, galSpecIndx and the photometry table.

    Parameters
    ----------
    pop : DataFrame
        Population with survey ids (one row per galaxy).
    meas : DataFrame
        Per-galaxy measurements from the spectra, row-aligned with ``pop``: ``<LINE>_FLUX``,
        ``<LINE>_FLUX_ERR``, ``<LINE>_CONT``, ``D4000_N``, ``LICK_HD_A`` (+ errors), ``SN_MEDIAN``.
    rng : numpy.random.Generator
    """
    assert len(pop) == len(meas), "population and measurements differ in length"
    n = len(pop)
    ids = {"SPECOBJID": pop["specobjid"].to_numpy(), "PLATEID": pop["plate"].to_numpy(),
           "MJD": pop["mjd"].to_numpy(), "FIBERID": pop["fiberid"].to_numpy()}
    bpt = bpt_class(meas["NII_6584_FLUX"], meas["NII_6584_FLUX_ERR"], meas["H_ALPHA_FLUX"], meas["H_ALPHA_FLUX_ERR"],
                    meas["OIII_5007_FLUX"], meas["OIII_5007_FLUX_ERR"], meas["H_BETA_FLUX"], meas["H_BETA_FLUX_ERR"])
    z_warning = np.where(rng.random(n) < 0.005, 4, 0)
    reliable = np.where((z_warning == 0) & (rng.random(n) > 0.003), 1, 0)
    subclass = np.where(bpt == SF, "STARFORMING", np.where(bpt == AGN, "AGN", ""))
    info = pd.DataFrame({
        **ids, "PHOTOID": pop["objid"].to_numpy(), "RA": pop["ra"].to_numpy(), "DEC": pop["dec"].to_numpy(),
        "PRIMTARGET": np.full(n, 64, dtype=np.int32), "SECTARGET": np.zeros(n, dtype=np.int32),
        "TARGETTYPE": "GALAXY", "SPECTROTYPE": "GALAXY", "SUBCLASS": subclass,
        "Z": pop["z"].to_numpy(), "Z_ERR": 1e-5 * (1 + rng.exponential(1.0, n)), "Z_WARNING": z_warning.astype(np.int32),
        "V_DISP": pop["sigma_star"].to_numpy() * 10 ** rng.normal(0, 0.03, n),
        "V_DISP_ERR": pop["sigma_star"].to_numpy() * 0.07, "SN_MEDIAN": meas["SN_MEDIAN"].to_numpy(),
        "E_BV_SFD": pop["ebv_mw"].to_numpy(), "RELIABLE": reliable.astype(np.int32),
    })
    lgm = pop["logmass"].to_numpy() + rng.normal(0, 0.08, n)
    ha_corr = _dust_corrected_halpha(meas)
    lum_ha = ha_corr * 1e-17 * 4 * np.pi * (ph.luminosity_distance_mpc(pop["z"].to_numpy()) * ph.MPC_CM) ** 2
    fib_frac = np.clip(meas["FIBER_FRAC_R"].to_numpy(), 0.05, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sfr_fib = np.log10(np.maximum(lum_ha, 1e30) * 7.9e-42 / 1.5)
    sfr_d4000 = lgm - 9.5 - 2.8 * (meas["D4000_N"].to_numpy() - 1.2)
    use_lines = np.isin(bpt, (SF,))
    sfr_tot = np.where(use_lines, sfr_fib - np.log10(fib_frac), sfr_d4000)
    extra = pd.DataFrame({
        **ids, "BPTCLASS": bpt.astype(np.int32),
        "LGM_TOT_P16": lgm - 0.1, "LGM_TOT_P50": lgm, "LGM_TOT_P84": lgm + 0.1,
        "LGM_FIB_P50": lgm + np.log10(fib_frac),
        "SFR_TOT_P50": sfr_tot, "SFR_FIB_P50": np.where(use_lines, sfr_fib, sfr_d4000 + np.log10(fib_frac)),
        "SPECSFR_TOT_P50": sfr_tot - lgm,
    })
    line = pd.DataFrame(ids)
    for name in EMISSION_LINES:
        f, e, c = meas[f"{name}_FLUX"].to_numpy(), meas[f"{name}_FLUX_ERR"].to_numpy(), meas[f"{name}_CONT"].to_numpy()
        line[f"{name}_FLUX"], line[f"{name}_FLUX_ERR"], line[f"{name}_CONT"] = f, e, c
        with np.errstate(divide="ignore", invalid="ignore"):
            line[f"{name}_EQW"] = -f / c / (1 + pop["z"].to_numpy())
            line[f"{name}_EQW_ERR"] = e / np.abs(c) / (1 + pop["z"].to_numpy())
    line["SIGMA_BALMER"] = pop["sigma_gas"].to_numpy()
    line["SIGMA_FORBIDDEN"] = pop["sigma_gas"].to_numpy()
    indx = pd.DataFrame({**ids, **{k: meas[k].to_numpy() for k in ("D4000", "D4000_N", "D4000_N_ERR", "LICK_HD_A", "LICK_HD_A_ERR")}})
    return {"galSpecInfo": info, "galSpecExtra": extra, "galSpecLine": line, "galSpecIndx": indx,
            "photometry": photometry_table(pop, rng)}


def _dust_corrected_halpha(meas: pd.DataFrame) -> np.ndarray:
    ha, hb = meas["H_ALPHA_FLUX"].to_numpy(), meas["H_BETA_FLUX"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((hb > 0) & (ha > 0), ha / hb, 2.86)
    k_hb, k_ha = ph.ccm89(EMISSION_LINES["H_BETA"]), ph.ccm89(EMISSION_LINES["H_ALPHA"])
    ebv = np.clip(2.5 / (k_hb - k_ha) * np.log10(np.maximum(ratio, 2.86) / 2.86), 0, 1.5)
    return np.maximum(ha, 0) * 10 ** (0.4 * ebv * k_ha)


def photometry_table(pop: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """SDSS photometry as a CasJobs export: model magnitudes, errors, extinction, Petrosian radii."""
    n = len(pop)
    table = {"objID": pop["objid"].to_numpy(), "specObjID": pop["specobjid"].to_numpy(),
             "ra": pop["ra"].to_numpy(), "dec": pop["dec"].to_numpy(), "type": np.full(n, 3, dtype=np.int32)}
    for b in "ugriz":
        mag = total_magnitude(pop, f"sdss{b}") + ph.SDSS_EXTINCTION[b] * pop["ebv_mw"].to_numpy()
        snr = 5.0 * 10 ** (-0.4 * (mag - _SDSS_M5[b]))
        err = np.sqrt((1.0857 / snr) ** 2 + 0.01**2)
        table[f"modelMag_{b}"] = mag + rng.normal(0, 1, n) * err
        table[f"modelMagErr_{b}"] = err
        table[f"extinction_{b}"] = ph.SDSS_EXTINCTION[b] * pop["ebv_mw"].to_numpy()
    flux_r = {c: 10 ** (-0.4 * pop[f"mag_{c}_sdssr"].to_numpy()) for c in ("bulge", "disk", "point")}
    weights, variances = profile_components(
        flux_bulge=flux_r["bulge"], re_bulge=pop["re_bulge"], q_bulge=pop["q_bulge"],
        flux_disk=flux_r["disk"], re_disk=pop["re_disk"], q_disk=pop["q_disk"],
        flux_point=np.nan_to_num(flux_r["point"]), psf_fwhm=pop["seeing_sdss"],
    )
    r_petro, r50, r90 = petrosian_radii(weights, variances)
    table["petroRad_r"], table["petroR50_r"], table["petroR90_r"] = r_petro, r50, r90
    table["fracDeV_r"] = np.clip(pop["bt"].to_numpy() + rng.normal(0, 0.08, n), 0.0, 1.0)
    return pd.DataFrame(table)
