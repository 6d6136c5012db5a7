"""``agnbench simulate``: write a mock SDSS-like survey in the real file formats.

Steps (each a small function): check the output -> draw the population -> assign survey ids ->
render, measure and write spectra and cutouts in parallel chunks -> build the MPA-JHU catalogs
-> write catalogs, truth and manifest -> rename the temporary directory into place.

Output layout (what ``agnbench prep --source mpajhu`` reads)::

    DIR/catalog/galSpecInfo.fits, galSpecExtra.fits, galSpecLine.fits, galSpecIndx.fits,
                photometry.fits
    DIR/spectra/PLATE/spec-PLATE-MJD-FIBER.fits
    DIR/images/<object_id>.fits
    DIR/truth.parquet
    DIR/config.yaml, DIR/manifest.json

Determinism: every random stream derives from ``seed`` and a fixed key (``population``, ``ids``,
``spectra``/``images`` + chunk index), so the bytes depend on the seed and config only, not on
the number of workers or the order in which chunks finish.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from agnbench import __version__, seeding
from agnbench.config.core import Config, SimulateConfig, config_to_dict, dump_config
from agnbench.contracts import files
from agnbench.contracts.store import MOCK_SURVEY_KIND, survey_complete, survey_paths
from agnbench.data_prep.mock import images as sim_images
from agnbench.data_prep.mock import spectra as sim_spectra
from agnbench.data_prep.mock.linefit import continuum_level, fit_lines, spectral_indices
from agnbench.data_prep.formats.sdss_files import CutoutWriter, SpecliteWriter, spec_filename, write_table_fits
from agnbench.data_prep.lines import EMISSION_LINES, SPZLINE_NAMES
from agnbench.data_prep.mock.catalogs import assign_survey_ids, catalog_tables
from agnbench.data_prep.mock.population import draw_population
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_directory, atomic_write_json, atomic_write_parquet, default_workers
from agnbench.outputs import claiming

log = logging.getLogger(__name__)

RUNTIME_ONLY = frozenset({"workers"})
CATALOG_FILES = ("galSpecInfo", "galSpecExtra", "galSpecLine", "galSpecIndx", "photometry")
TRUTH_COLUMNS = (
    "object_id", "true_class", "z", "logmass", "bt", "ps_frac", "age_bulge", "age_disk", "ebv_gas", "ebv_mw",
    "log_nii_ha", "log_oiii_hb", "log_ew_ha", "sigma_gas", "sigma_star", "re_bulge", "re_disk", "q_bulge",
    "q_disk", "pa", "psf_fwhm", "seeing_sdss", "abs_r", "gr_rest",
)


@claiming("survey")
def simulate(cfg: Config, out: str | Path, *, overwrite: bool = False, progress: bool = True) -> Path:
    """Write a mock survey of ``cfg.simulate.n`` galaxies to ``out``.

    Parameters
    ----------
    cfg : Config
        Resolved configuration; ``cfg.seed`` and ``cfg.simulate`` are used.
    out : path
        Output directory; must not exist unless ``overwrite``.
    overwrite : bool
        Replace an existing survey (only once the new one is complete).
    progress : bool
        Show a tqdm progress bar over chunks.

    Returns
    -------
    Path
        The survey directory.
    """
    out = Path(out)
    _check_output(out, overwrite=overwrite)
    sim = cfg.simulate
    log.info("drawing a flux-limited population of %d galaxies (seed %d)", sim.n, cfg.seed)
    pop = draw_population(sim, seeding.rng(cfg.seed, "population"))
    pop = assign_survey_ids(pop, seeding.rng(cfg.seed, "ids"))
    with atomic_directory(out, kind="survey", overwrite=overwrite) as tmp:
        meas, hashes = _render_all(pop, cfg, tmp, progress=progress)
        tables = catalog_tables(pop, meas, seeding.rng(cfg.seed, "catalogs"))
        paths = survey_paths(tmp)
        paths.catalog_dir.mkdir()
        for name in CATALOG_FILES:
            path = paths.catalog_dir / f"{name}.fits"
            write_table_fits(path, tables[name], extname=name.upper())
            hashes[path.relative_to(tmp).as_posix()] = _sha256(path)
        truth = pop[list(TRUTH_COLUMNS)].copy()
        truth["bpt_class"] = tables["galSpecExtra"]["BPTCLASS"].to_numpy()
        for name in ("H_ALPHA", "H_BETA", "OIII_5007", "NII_6584"):
            truth[f"{name}_TRUE"] = meas[f"{name}_TRUE"].to_numpy()
        atomic_write_parquet(paths.truth, truth)
        hashes[files.SURVEY_TRUTH] = _sha256(paths.truth)
        dump_config(cfg, paths.config)
        atomic_write_json(paths.manifest, _manifest(cfg, tables, hashes))
    log.info("mock survey written to %s", out)
    return out


def _check_output(out: Path, *, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise AgnbenchError(f"{out} exists and is not a directory; choose another --out")
    if out.exists() and any(out.iterdir()) and not overwrite:
        what = "a survey" if survey_complete(out) else "files"
        raise AgnbenchError(f"{out} already holds {what}; pass --overwrite to replace it or choose another --out")
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryDirectory(dir=parent, prefix=f".{out.name}.probe-").cleanup()
    except OSError as exc:
        raise AgnbenchError(f"cannot write to {parent} ({exc.strerror or exc}); choose a writable --out") from None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _render_all(pop: pd.DataFrame, cfg: Config, tmp: Path, *, progress: bool) -> tuple[pd.DataFrame, dict[str, str]]:
    """Render every chunk (in parallel) and return measurements in population order + file hashes."""
    sim = cfg.simulate
    starts = list(range(0, len(pop), sim.chunk_size))
    tasks = [(pop.iloc[s : s + sim.chunk_size], sim, cfg.seed, i, tmp) for i, s in enumerate(starts)]
    workers = min(default_workers(sim.workers), len(tasks))
    results: list[tuple[pd.DataFrame, dict[str, str]] | None] = [None] * len(tasks)
    bar = tqdm(total=len(pop), desc="simulate", unit="gal", disable=not progress, leave=False)
    try:
        if workers <= 1:
            for i, task in enumerate(tasks):
                results[i] = _chunk(task)
                bar.update(len(task[0]))
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
                futures = {pool.submit(_chunk, task): i for i, task in enumerate(tasks)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update(len(tasks[futures[fut]][0]))
    finally:
        bar.close()
    meas = pd.concat([r[0] for r in results], ignore_index=True)
    hashes: dict[str, str] = {}
    for r in results:
        hashes.update(r[1])
    assert len(meas) == len(pop), "a chunk lost galaxies"
    return meas, hashes


def _worker_init() -> None:
    """Keep each worker on one BLAS thread so two workers use two cores."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass


def _chunk(task: tuple[pd.DataFrame, SimulateConfig, int, int, Path]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Render, measure and write one chunk of galaxies; return measurements and file hashes."""
    pop, sim, seed, index, out = task
    spec = sim_spectra.render_spectra(pop, seeding.rng(seed, "spectra", index), snr_scale=sim.snr_scale)
    meas = _measure(pop, spec)
    hashes = _write_spectra(pop, spec, meas, out)
    images, _ = sim_images.render_cutouts(
        pop, seeding.rng(seed, "images", index), size=sim.image_size, pixel_scale=sim.pixel_scale,
        image_depth_r=sim.image_depth_r,
    )
    (out / "images").mkdir(exist_ok=True)
    writer = CutoutWriter()
    for i, oid in enumerate(pop["object_id"]):
        data = writer.to_bytes(images[i], ra=pop["ra"].iloc[i], dec=pop["dec"].iloc[i], pixel_scale=sim.pixel_scale)
        (out / "images" / f"{oid}.fits").write_bytes(data)
        hashes[f"images/{oid}.fits"] = hashlib.sha256(data).hexdigest()
    return meas, hashes


def _measure(pop: pd.DataFrame, spec: sim_spectra.SpectraChunk) -> pd.DataFrame:
    """Line fluxes, continua, indices and S/N from the noisy spectra of one chunk."""
    z = pop["z"].to_numpy()
    # per-object valid pixel range: outside its plate's grid the object has no data
    pix = np.arange(spec.loglam.size)[None, :]
    inside = (pix >= spec.offset[:, None]) & (pix < (spec.offset + spec.npix)[:, None])
    ivar = np.where(inside, spec.ivar, 0.0)
    flux, err = fit_lines(spec.loglam, spec.flux, ivar, spec.stellar, z, spec.line_sigma_pix)
    cols: dict[str, np.ndarray] = {}
    for name, lam in EMISSION_LINES.items():
        cols[f"{name}_FLUX"] = flux[name].to_numpy()
        cols[f"{name}_FLUX_ERR"] = err[name].to_numpy()
        cols[f"{name}_CONT"] = continuum_level(spec.loglam, spec.stellar, z, lam)
        cols[f"{name}_TRUE"] = spec.line_true[name].to_numpy()
    emission = spec.model - spec.stellar
    idx = spectral_indices(spec.loglam, spec.flux - emission, ivar, z)
    wave = 10.0**spec.loglam
    rband = (wave > 5600) & (wave < 6800)
    sn = np.where(ivar[:, rband] > 0, spec.flux[:, rband] * np.sqrt(ivar[:, rband]), np.nan)
    cols["SN_MEDIAN"] = np.nanmedian(sn, axis=1)
    fib = sim_spectra.fiber_fractions(pop)
    flux_r = {c: 10 ** (-0.4 * pop[f"mag_{c}_sdssr"].to_numpy()) for c in ("bulge", "disk", "point")}
    total = sum(flux_r.values())
    cols["FIBER_FRAC_R"] = sum(np.nan_to_num(flux_r[c] * fib[c]) for c in flux_r) / total
    out = pd.DataFrame(cols)
    for k in idx.columns:
        out[k] = idx[k].to_numpy()
    return out


def _write_spectra(pop: pd.DataFrame, spec: sim_spectra.SpectraChunk, meas: pd.DataFrame, out: Path) -> dict[str, str]:
    hashes: dict[str, str] = {}
    names = list(EMISSION_LINES)
    writer = SpecliteWriter()
    for i in range(len(pop)):
        row = pop.iloc[i]
        plate, mjd, fiber = int(row["plate"]), int(row["mjd"]), int(row["fiberid"])
        lo, hi = int(spec.offset[i]), int(spec.offset[i] + spec.npix[i])
        coadd = {
            "flux": spec.flux[i, lo:hi].astype(np.float32), "loglam": spec.loglam[lo:hi].astype(np.float32),
            "ivar": spec.ivar[i, lo:hi].astype(np.float32), "and_mask": spec.and_mask[i, lo:hi],
            "or_mask": spec.or_mask[i, lo:hi], "wdisp": spec.wdisp[lo:hi].astype(np.float32),
            "sky": spec.sky[i, lo:hi].astype(np.float32), "model": spec.model[i, lo:hi].astype(np.float32),
        }
        header = {"PLATEID": plate, "MJD": mjd, "FIBERID": fiber, "TELESCOP": "SDSS 2.5-M",
                  "SPEC_ID": f"{row['specobjid']:>22}", "PLUG_RA": float(row["ra"]), "PLUG_DEC": float(row["dec"]),
                  "COEFF0": round(float(spec.loglam[lo]), 4), "COEFF1": 1e-4, "BUNIT": "1E-17 erg/cm^2/s/Ang",
                  "VACUUM": True, "WFITTYPE": "LOG-LINEAR", "EXPTIME": 3600.0, "MOCK": (True, "agnbench mock survey")}
        m = meas.iloc[i]
        specobj = {
            "SURVEY": ("sdss", "6A"), "INSTRUMENT": ("SDSS", "4A"), "PLATE": (plate, "J"), "MJD": (mjd, "J"),
            "FIBERID": (fiber, "J"), "SPECOBJID": (f"{row['specobjid']:>22}", "22A"),
            "BESTOBJID": (str(row["objid"]), "19A"), "RUN2D": ("26", "3A"), "RUN1D": ("", "1A"),
            "PLUG_RA": (float(row["ra"]), "D"), "PLUG_DEC": (float(row["dec"]), "D"), "CLASS": ("GALAXY", "6A"),
            "SUBCLASS": ("", "21A"), "Z": (float(row["z"]), "E"), "Z_ERR": (3e-5, "E"), "ZWARNING": (0, "J"),
            "VDISP": (float(row["sigma_star"]), "E"), "SN_MEDIAN_ALL": (float(m["SN_MEDIAN"]), "E"),
            "SPECPRIMARY": (1, "B"), "WAVEMIN": (float(10 ** spec.loglam[lo]), "E"),
            "WAVEMAX": (float(10 ** spec.loglam[hi - 1]), "E"),
        }
        sigma_kms = float(row["sigma_gas"])
        spz = {
            "PLATE": (np.full(len(names), plate, dtype=np.int32), "J"),
            "MJD": (np.full(len(names), mjd, dtype=np.int32), "J"),
            "FIBERID": (np.full(len(names), fiber, dtype=np.int32), "J"),
            "LINENAME": (np.array([SPZLINE_NAMES[n] for n in names]), "13A"),
            "LINEWAVE": (np.array([EMISSION_LINES[n] for n in names]), "D"),
            "LINEZ": (np.full(len(names), float(row["z"]), dtype=np.float32), "E"),
            "LINESIGMA": (np.full(len(names), sigma_kms, dtype=np.float32), "E"),
            "LINEAREA": (np.array([m[f"{n}_FLUX"] for n in names], dtype=np.float32), "E"),
            "LINEAREA_ERR": (np.array([m[f"{n}_FLUX_ERR"] for n in names], dtype=np.float32), "E"),
            "LINECONTLEVEL": (np.array([m[f"{n}_CONT"] for n in names], dtype=np.float32), "E"),
        }
        d = out / "spectra" / f"{plate:04d}"
        d.mkdir(parents=True, exist_ok=True)
        name = spec_filename(plate, mjd, fiber)
        data = writer.to_bytes(header=header, coadd=coadd, specobj=specobj, spzline=spz)
        (d / name).write_bytes(data)
        hashes[f"spectra/{plate:04d}/{name}"] = hashlib.sha256(data).hexdigest()
    return hashes


def _manifest(cfg: Config, tables: dict[str, pd.DataFrame], hashes: dict[str, str]) -> dict:
    bpt = tables["galSpecExtra"]["BPTCLASS"].value_counts().sort_index()
    return {
        "kind": MOCK_SURVEY_KIND,
        "agnbench_version": __version__,
        "seed": cfg.seed,
        # runtime-only settings (workers) do not change a byte of the survey, so they stay out
        "simulate": {k: v for k, v in config_to_dict(cfg.simulate).items() if k not in RUNTIME_ONLY},
        "n_galaxies": int(len(tables["galSpecInfo"])),
        "bptclass_counts": {str(int(k)): int(v) for k, v in bpt.items()},
        "files": {k: hashes[k] for k in sorted(hashes)},
    }

