"""``agnbench prep``: raw survey files or a user's table -> the dataset store (docs/contracts.md Contract 1).

Steps: select objects (:mod:`objects`) -> ingest spectra and cutouts in shards -> assemble the
memory-mapped arrays -> write objects.parquet, quarantine.csv, manifest.json, config.yaml ->
rename into place.

Resume: shard results are saved in a work directory ``.<name>.partial`` beside the output as
they finish; running the same command again skips finished shards, and the finished store is
byte-identical to an uninterrupted run on the inputs as they are now. The plan hash (object ids,
``--source spectra`` files, prep settings, seed, raw path) discards a work directory made with other
settings or objects. Each shard also records its items (object id, file, redshift, catalog
plate/mjd/fiber) and every input file's size and mtime_ns; a shard whose items or files changed
(or whose files vanished) since it was saved is redone, and the log says how many were. Everything
else taken from the catalogs (labels, splits, features, photometry) is rebuilt on every run, never
resumed. Before the store is renamed into place its arrays are checked
(:func:`~agnbench.contracts.store.validate_store_arrays`). Memory: arrays are streamed shard by shard into ``np.lib.format.open_memmap``
files, so peak memory does not grow with the number of objects. Shard work is a pure function of
its items (:func:`spectra.ingest_spectra`, :func:`images.ingest_cutouts`), run in local processes or on a
Dask cluster (``prep.scheduler``, ``--scheduler ADDRESS``: docs/scale.md); either way the results are saved
and assembled here, so the store is byte-identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from concurrent.futures import Executor
from typing import Any

import numpy as np
import pandas as pd

from agnbench import __version__
from agnbench.cluster import work_executor
from agnbench.config.choices import PREP_SOURCES
from agnbench.config.core import Config, config_to_dict, dump_config
from agnbench.config.provenance import RUNTIME_ONLY as _RUNTIME_ONLY
from agnbench.config.rules import alternatives
from agnbench.data_prep.ingest import images as img
from agnbench.data_prep.ingest import spectra as spec
from agnbench.data_prep.formats.sdss_files import spec_filename
from agnbench.data_prep.ingest.objects import Selection
from agnbench.data_prep.ingest.shards import load_shard, run_shards
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_directory, atomic_write_json, atomic_write_parquet, atomic_write_text, capture_env
from agnbench.fileio import default_workers, file_manifest
from agnbench.outputs import claiming
from agnbench.contracts import files
from agnbench.contracts.schema import validate_objects
from agnbench.contracts.store import STORE_KIND, store_paths, validate_store_arrays

log = logging.getLogger(__name__)
QUARANTINE_COLUMNS = ("object_id", "file", "stage", "reason")
#: Settings that change how fast the store is made but not a byte of it (kept out of the manifest
#: and of the resume plan; config.yaml still records them): the prep entry of the one definition.
RUNTIME_ONLY = _RUNTIME_ONLY["prep"]
#: Prep settings that shape only spectra, or only cutouts (not applied when a table store has none).
_SPECTRA_SETTINGS = ("wave_min", "wave_max", "dloglam", "norm_wave_min", "norm_wave_max", "mask_lines",
                     "masked_lines", "max_uncovered", "frame", "observed_wave_min", "observed_wave_max",
                     "norm_method", "norm_floor", "norm_fallback", "reader")
_IMAGE_SETTINGS = ("image_size", "image_source", "stretch")


def _science_prep(cfg: Config) -> dict:
    return {k: v for k, v in config_to_dict(cfg.prep).items() if k not in RUNTIME_ONLY}


@claiming("store", inputs=("raw",))
def build_store(sel: Selection, cfg: Config, out: Path, *, raw: Path | None, overwrite: bool = False,
                progress: bool = True, stop_after_shards: int | None = None,
                cluster: tuple[Executor, int] | None = None) -> Path:
    """Write the dataset store for a selection (see module docstring).

    Parameters
    ----------
    sel : Selection
        Objects table and provenance from :func:`objects.select_mpajhu` / :func:`objects.select_table`.
    cfg : Config
    out : Path
        Store directory; must not exist unless ``overwrite``.
    raw : Path or None
        Raw survey directory holding ``spectra/`` and ``images/`` (None: catalog-only store).
    stop_after_shards : int, optional
        Testing hook: stop (raise KeyboardInterrupt) after this many shards, as an interruption would.
    cluster : (Executor, int), optional
        An open Dask cluster's executor and slots (:func:`agnbench.cluster.work_executor`); by default
        ``prep.scheduler`` is connected to here when set.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise AgnbenchError(f"{out} already exists; pass --overwrite to replace it or choose another --out")
    objects = sel.objects.copy()
    quarantine = list(sel.quarantine)
    work = out.parent / f".{out.name}.partial"
    plan = _plan_hash(objects, cfg, raw, sel.spec_files)
    _prepare_work_dir(work, plan)
    budget = [stop_after_shards]
    spec_items, img_items = [], []
    if sel.spec_files is not None:
        spec_items = [(oid, sel.spec_files[oid], float(z)) for oid, z in zip(objects["object_id"], objects["z"])]
    elif raw is not None:
        spec_items = _spectra_items(objects, Path(raw), quarantine)
        img_items = _image_items(objects, Path(raw), cfg, quarantine)
    workers = default_workers(cfg.prep.workers)
    grid, spec_kw = spectra_settings(cfg)
    img_kw = {"size": cfg.prep.image_size, "bands": "grz" if cfg.prep.image_source == "fits" else "gri",
              "source": cfg.prep.image_source}
    size = cfg.prep.shard_size
    with contextlib.ExitStack() as stack:
        if cluster is None:
            cluster = _connect(cfg, stack)
        spec_shards = run_shards("spectra", spec_items, spec.ingest_spectra, spec_kw, work, shard_size=size,
                                 workers=workers, progress=progress, budget=budget, cluster=cluster)
        img_shards = run_shards("images", img_items, img.ingest_cutouts, img_kw, work, shard_size=size,
                                workers=workers, progress=progress, budget=budget, cluster=cluster)
    with atomic_directory(out, kind="store", overwrite=overwrite, inputs=[raw]) as tmp:
        paths = store_paths(tmp)
        if spec_shards:
            _assemble_spectra(tmp, spec_shards, objects, grid, quarantine)
        if img_shards:
            stretch = _assemble_images(tmp, img_shards, objects, cfg, quarantine)
            atomic_write_json(paths.images_meta, {
                "bands": img_kw["bands"], "size": cfg.prep.image_size, "source": cfg.prep.image_source,
                "pixel_scale_arcsec": 0.262 if cfg.prep.image_source == "fits" else 0.396,
                "units": "asinh(flux / scale) per band" if stretch.method == "asinh_global" else "per-image min-max",
                "stretch": asdict(stretch), "dtype": "float16"})
        validate_objects(objects, source=str(store_paths(out).objects))
        validate_store_arrays(tmp, objects)
        atomic_write_parquet(paths.objects, objects)
        qdf = pd.DataFrame(quarantine, columns=list(QUARANTINE_COLUMNS))
        atomic_write_text(paths.quarantine, qdf.to_csv(index=False))
        dump_config(cfg, paths.config)
        atomic_write_json(paths.manifest, _manifest(sel, cfg, objects, qdf, tmp))
    shutil.rmtree(work, ignore_errors=True)
    _log_summary(out, objects, qdf)
    return out


def _connect(cfg: Config, stack: contextlib.ExitStack) -> tuple[Executor, int] | None:
    """The Dask cluster of ``prep.scheduler``, held open by ``stack`` (None: local processes)."""
    if not cfg.prep.scheduler:
        return None
    return stack.enter_context(work_executor(cfg.prep.scheduler, workers=default_workers(cfg.prep.workers),
                                             key="--scheduler/prep.scheduler", timeout=cfg.prep.scheduler_timeout))


def spectra_settings(cfg: Config) -> tuple[np.ndarray, dict[str, Any]]:
    """The store's spectra grid (log10 A) and the keyword arguments of :func:`spectra.ingest_spectra`.

    The frame is ``prep.frame`` resolved (:func:`spectra_source.resolved_frame`); the normaliser is the
    window median (rest frame) or median|flux| over the grid (observed frame) unless ``prep.norm_method``
    says otherwise.
    """
    from agnbench.data_prep.ingest.spectra_source import resolved_frame

    p = cfg.prep
    frame = resolved_frame(cfg)
    if frame == "observed" and p.mask_lines:
        raise AgnbenchError("prep.mask_lines blanks rest-frame emission lines; it needs prep.frame rest, not an "
                            "observed-frame store (labels.scheme sdss_class defaults to observed)")
    lo, hi = (p.wave_min, p.wave_max) if frame == "rest" else (p.observed_wave_min, p.observed_wave_max)
    method = p.norm_method if p.norm_method != "auto" else ("window" if frame == "rest" else "median")
    if method == "window" and not (lo <= p.norm_wave_min < p.norm_wave_max <= hi):
        raise AgnbenchError(f"prep.norm_wave_min..max ({p.norm_wave_min:g}-{p.norm_wave_max:g} A) must lie inside "
                            f"the {frame}-frame grid {lo:g}-{hi:g} A")
    grid = spec.rest_grid(wave_min=lo, wave_max=hi, dloglam=p.dloglam)
    return grid, {"loglam": grid, "norm_window": (p.norm_wave_min, p.norm_wave_max) if method == "window" else None,
                  "mask_lines": p.mask_lines, "line_set": p.masked_lines, "max_uncovered": p.max_uncovered,
                  "frame": frame, "norm_floor": p.norm_floor, "norm_fallback": p.norm_fallback, "reader": p.reader}


def _plan_hash(objects: pd.DataFrame, cfg: Config, raw: Path | None, spec_files: dict[str, str] | None) -> str:
    h = hashlib.sha256()
    h.update("\n".join(objects["object_id"]).encode())
    if spec_files is not None:
        h.update("\n".join(f"{k}={v}" for k, v in sorted(spec_files.items())).encode())
    h.update(json.dumps({"prep": _science_prep(cfg), "seed": cfg.seed, "raw": str(raw)}, sort_keys=True).encode())
    return h.hexdigest()


def _prepare_work_dir(work: Path, plan: str) -> None:
    stamp = work / "plan.txt"
    if work.exists() and (not stamp.exists() or stamp.read_text() != plan):
        log.info("discarding %s: it was made with other inputs or settings", work)
        shutil.rmtree(work)
    if work.exists():
        log.info("resuming from %s", work)
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(stamp, plan)


def _spectra_items(objects: pd.DataFrame, raw: Path, quarantine: list[dict]) -> list[tuple]:
    """(object_id, file, z, (plate, mjd, fiber)) per object with a ``spec-PLATE-MJD-FIBER.fits``; the
    catalog row's identity is checked against the file's own by :func:`spectra.ingest_spectra`."""
    index = {}
    for path in sorted((raw / "spectra").glob("**/spec-*.fits")):
        parts = path.stem.split("-")
        if len(parts) == 4 and all(p.isdigit() for p in parts[1:]):
            index[(int(parts[1]), int(parts[2]), int(parts[3]))] = path
    others = [p for p in (raw / "spectra").glob("**/*.fit*") if p.is_file() and p not in set(index.values())]
    if others:
        log.warning("%s: %d FITS file(s) not named spec-PLATE-MJD-FIBER.fits were not examined (e.g. %s); "
                    "--source mpajhu matches spectra to the catalog by plate/mjd/fiber. For other surveys' "
                    "spectra use --source spectra (docs: README, 'A folder of spectra')", raw / "spectra",
                    len(others), others[0].name)
    if not index:
        log.warning("%s: no spec-PLATE-MJD-FIBER.fits files; the store will have no spectra", raw / "spectra")
        return []
    items = []
    for row in objects.itertuples(index=False):
        path = index.get((int(row.plate), int(row.mjd), int(row.fiberid))) if hasattr(row, "plate") else None
        if path is None:
            wanted = spec_filename(int(row.plate), int(row.mjd), int(row.fiberid)) if hasattr(row, "plate") else ""
            quarantine.append({"object_id": row.object_id, "file": str(raw / "spectra" / "**" / wanted) if wanted else "",
                               "stage": "spectra", "reason": "no spectrum file for this object's plate/mjd/fiber"})
        else:
            items.append((row.object_id, str(path), float(row.z), (int(row.plate), int(row.mjd), int(row.fiberid))))
    return items


def _image_items(objects: pd.DataFrame, raw: Path, cfg: Config, quarantine: list[dict]) -> list[tuple[str, str]]:
    """Cutout files per object: ``images/<object_id>.fits`` (Legacy Survey), or for JPEG sources
    ``images/`` or ``jpeg/`` named by object_id or by the photometric objID (SDSS's convention)."""
    fits_source = cfg.prep.image_source == "fits"
    suffixes = (".fits", ".fits.fz") if fits_source else (".jpeg", ".jpg")
    folders = [raw / "images"] + ([] if fits_source else [raw / "jpeg"])
    present = {p.name: p for folder in folders if folder.is_dir() for p in folder.iterdir()}
    if not present:
        log.warning("%s: no cutouts; the store will have no images", " or ".join(map(str, folders)))
        return []
    objids = objects["objid"] if "objid" in objects and not fits_source else pd.Series([""] * len(objects))
    items = []
    for oid, objid in zip(objects["object_id"], objids):
        names = [f"{key}{s}" for key in (oid, objid) if key for s in suffixes]
        path = next((present[n] for n in names if n in present), None)
        if path is None:
            quarantine.append({"object_id": oid, "file": str(folders[0] / names[0]), "stage": "images",
                               "reason": f"no cutout named {' or '.join(names[:: len(suffixes)])} (+{suffixes[0]}) in "
                                         f"{' or '.join(map(str, folders))}"})
        else:
            items.append((oid, str(path)))
    return items


def _assign_rows(shards: list[Path], objects: pd.DataFrame, column: str, quarantine: list[dict]) -> int:
    """Give the ok items of every shard compact row numbers (shard order = object order); return the count."""
    row, order = 0, {oid: i for i, oid in enumerate(objects["object_id"])}
    rows = objects[column].to_numpy().copy()
    for path in shards:
        shard = load_shard(path, ("object_ids", "ok", "quarantine"))
        quarantine.extend({"object_id": q["object_id"], "file": q.get("file", q.get("path", "")), "stage": q["stage"],
                           "reason": q["reason"]} for q in shard["quarantine"])
        for oid in shard["object_ids"][shard["ok"]]:
            rows[order[oid]] = row
            row += 1
    objects[column] = rows.astype(np.int64)
    return row


def _assemble_spectra(tmp: Path, shards: list[Path], objects: pd.DataFrame, grid: np.ndarray, quarantine: list[dict]) -> None:
    n_rows = _assign_rows(shards, objects, "spec_row", quarantine)
    paths = store_paths(tmp)
    paths.spectra_dir.mkdir()
    np.save(paths.wave, (10.0**grid).astype(np.float64))
    flux = np.lib.format.open_memmap(paths.flux, mode="w+", dtype=np.float32, shape=(n_rows, grid.size))
    ivar = np.lib.format.open_memmap(paths.ivar, mode="w+", dtype=np.float32, shape=(n_rows, grid.size))
    sn = np.full(len(objects), np.nan)
    fallback = np.full(len(objects), np.nan)
    order = {oid: i for i, oid in enumerate(objects["object_id"])}
    row = 0
    for path in shards:
        shard = load_shard(path, ("object_ids", "ok", "flux", "ivar", "sn_median", "norm_fallback"))
        ok = shard["ok"]
        n = int(ok.sum())
        flux[row : row + n] = shard["flux"][ok]
        ivar[row : row + n] = shard["ivar"][ok]
        for oid, value, fell in zip(shard["object_ids"][ok], shard["sn_median"][ok], shard["norm_fallback"][ok]):
            sn[order[oid]] = value
            fallback[order[oid]] = float(fell)
        row += n
    flux.flush()
    ivar.flush()
    del flux, ivar
    objects["q_spec_sn"] = sn
    objects["q_spec_norm_fallback"] = fallback
    if np.nansum(fallback):
        log.warning("%d spectra had a near-zero or negative median flux in the normalisation window and were "
                    "divided by their median |flux| instead (objects.parquet q_spec_norm_fallback = 1)",
                    int(np.nansum(fallback)))


def _assemble_images(tmp: Path, shards: list[Path], objects: pd.DataFrame, cfg: Config, quarantine: list[dict]) -> img.Stretch:
    n_rows = _assign_rows(shards, objects, "image_row", quarantine)
    split = dict(zip(objects["object_id"], objects["split"]))
    sigmas = []
    for path in shards:
        shard = load_shard(path, ("object_ids", "ok", "sky_sigma"))
        train = np.array([split[o] == "train" for o in shard["object_ids"]]) & shard["ok"]
        sigmas.append(shard["sky_sigma"][train])
    bands = "grz" if cfg.prep.image_source == "fits" else "gri"
    train_sigma = np.concatenate(sigmas) if sigmas else np.empty((0, len(bands)))
    if cfg.prep.stretch == "asinh_global" and len(train_sigma) == 0:
        raise AgnbenchError("no training-split cutout could be read; cannot fit the image stretch (see quarantine.csv)")
    stretch = img.fit_stretch(train_sigma, bands=bands, method=cfg.prep.stretch)
    paths = store_paths(tmp)
    paths.images_dir.mkdir()
    shape = (n_rows, len(bands), cfg.prep.image_size, cfg.prep.image_size)
    cutouts = np.lib.format.open_memmap(paths.cutouts, mode="w+", dtype=np.float16, shape=shape)
    row = 0
    for path in shards:
        shard = load_shard(path, ("ok", "images"))
        ok = shard["ok"]
        n = int(ok.sum())
        cutouts[row : row + n] = img.apply_stretch(shard["images"][ok], stretch, dtype=np.float16)
        row += n
    cutouts.flush()
    del cutouts
    return stretch


def _manifest(sel: Selection, cfg: Config, objects: pd.DataFrame, qdf: pd.DataFrame, tmp: Path) -> dict:
    counts = objects.groupby(["split", "label_name"]).size()
    env = capture_env()
    return {
        "kind": STORE_KIND,
        "agnbench_version": __version__,
        "inputs": sel.inputs,
        "seed": cfg.seed,
        "labels": {"scheme": cfg.labels.scheme, "classes": list(sel.classes)},
        "prep": {k: v for k, v in _science_prep(cfg).items() if k not in sel.not_applied},
        "prep_not_applied": sel.not_applied,
        "spectra": _spectra_record(cfg) if (objects["spec_row"] >= 0).any() else None,
        "cuts": [{"cut": name, "n_after": n} for name, n in sel.cuts],
        "counts": {f"{s}/{lab}": int(n) for (s, lab), n in counts.items()},
        "n_objects": len(objects),
        "n_spectra": int((objects["spec_row"] >= 0).sum()),
        "n_images": int((objects["image_row"] >= 0).sum()),
        "quarantine": {k: int(v) for k, v in qdf["stage"].value_counts().sort_index().items()},
        "cleaning": sel.cleaning,
        "leakage": sel.leakage.as_dict() if sel.leakage else None,
        "versions": env.get("packages", env.get("versions")),
        # config.yaml (the full resolved config, worker count included) is provenance beside the data
        "files": file_manifest(tmp, exclude=(files.CONFIG,)),
    }


def _spectra_record(cfg: Config) -> dict[str, Any]:
    """How the spectra grid was made: frame, range (A), step and normaliser, as resolved."""
    grid, kw = spectra_settings(cfg)
    return {"frame": kw["frame"], "wave_min": float(10 ** grid[0]), "wave_max": float(10 ** grid[-1]),
            "n_pix": int(grid.size), "dloglam": cfg.prep.dloglam,
            "norm": "window" if kw["norm_window"] else "median_abs",
            "norm_window": list(kw["norm_window"]) if kw["norm_window"] else None,
            "and_mask_ignore": cfg.prep.reader.and_mask_ignore}


def _log_summary(out: Path, objects: pd.DataFrame, qdf: pd.DataFrame) -> None:
    counts = objects.groupby(["split", "label_name"]).size().unstack(fill_value=0)
    log.info("store %s: %d objects, %d spectra, %d cutouts, %d quarantined\n%s", out, len(objects),
             int((objects["spec_row"] >= 0).sum()), int((objects["image_row"] >= 0).sum()), len(qdf), counts)


@claiming("store", inputs=("raw", "table"))
def prep(cfg: Config, *, source: str, out: Path, raw: Path | None = None, table: Path | None = None,
         id_col: str | None = None, label_col: str | None = None, label_map: str | None = None,
         ra_col: str | None = None, dec_col: str | None = None, z_col: str | None = None,
         plate_col: str | None = None, mjd_col: str | None = None, fiber_col: str | None = None,
         column_map: dict[str, str] | None = None, features: list[str] | None = None, allow_leaky: bool = False,
         overwrite: bool = False, progress: bool = True) -> Path:
    """Build a dataset store from ``--source mpajhu`` (raw survey dir), ``table`` (user's table) or ``spectra``
    (a folder or list of spectrum files, labelled by their pipeline CLASS or by ``table``).

    With ``--source table`` a ``raw`` directory attaches spectra (``raw/spectra/**/spec-PLATE-MJD-FIBER.fits``,
    found by the table's plate, MJD and fiber columns; the table's redshift puts them on the rest-frame
    grid) and cutouts (``raw/images/<object_id>.fits``, or JPEGs by object id); it is an error when
    nothing can be attached.
    """
    if Path(out).exists() and not overwrite:
        raise AgnbenchError(f"{out} already exists; pass --overwrite to replace it or choose another --out")
    with contextlib.ExitStack() as stack:
        # a scheduler that does not answer is refused before the objects are selected (headers read ...)
        cluster = _connect(cfg, stack)
        return _prep(cfg, source=source, out=Path(out), raw=raw, table=table, id_col=id_col, label_col=label_col,
                     label_map=label_map, ra_col=ra_col, dec_col=dec_col, z_col=z_col, plate_col=plate_col,
                     mjd_col=mjd_col, fiber_col=fiber_col, column_map=column_map, features=features,
                     allow_leaky=allow_leaky, overwrite=overwrite, progress=progress, cluster=cluster)


def _prep(cfg: Config, *, source: str, out: Path, raw: Path | None, table: Path | None, id_col: str | None,
          label_col: str | None, label_map: str | None, ra_col: str | None, dec_col: str | None, z_col: str | None,
          plate_col: str | None, mjd_col: str | None, fiber_col: str | None, column_map: dict[str, str] | None,
          features: list[str] | None, allow_leaky: bool, overwrite: bool, progress: bool,
          cluster: tuple[Executor, int] | None) -> Path:
    from agnbench.data_prep.ingest.objects import select_mpajhu, select_table

    if source == "mpajhu":
        if raw is None:
            raise AgnbenchError("--source mpajhu needs --raw DIR (a survey directory with catalog/, spectra/, images/)")
        sel = select_mpajhu(Path(raw), cfg, allow_leaky=allow_leaky)
        return build_store(sel, cfg, Path(out), raw=Path(raw), overwrite=overwrite, progress=progress, cluster=cluster)
    if source == "table":
        missing = [f for f, v in (("--table", table), ("--id-col", id_col), ("--label-col", label_col),
                                  ("--label-map", label_map)) if v is None]
        if missing:
            raise AgnbenchError(f"--source table needs {', '.join(missing)} (e.g. --label-map 1:sf,3:agn)")
        sel = select_table(Path(table), cfg, id_col=id_col, label_col=label_col, label_map=label_map,
                           ra_col=ra_col, dec_col=dec_col, z_col=z_col, plate_col=plate_col, mjd_col=mjd_col,
                           fiber_col=fiber_col, column_map=column_map, features=features, allow_leaky=allow_leaky)
        n_spec, n_img = _check_table_raw(sel, Path(raw), cfg) if raw is not None else (0, 0)
        for n, keys, what in ((n_spec, _SPECTRA_SETTINGS, "spectra"), (n_img, _IMAGE_SETTINGS, "cutouts")):
            if not n:
                sel.not_applied.update({k: f"not applied: the table store has no {what}" for k in keys})
        return build_store(sel, cfg, Path(out), raw=None if raw is None else Path(raw), overwrite=overwrite,
                           progress=progress, cluster=cluster)
    if source == "spectra":
        if raw is None:
            raise AgnbenchError("--source spectra needs --raw PATH: a folder of spectrum files, a text file "
                                "listing them, or one file")
        from agnbench.data_prep.ingest.spectra_source import select_spectra

        sel = select_spectra(Path(raw), cfg, table=table, id_col=id_col, label_col=label_col, label_map=label_map,
                             progress=progress)
        sel.not_applied.update({k: "not applied: a spectra store has no cutouts" for k in _IMAGE_SETTINGS})
        return build_store(sel, cfg, Path(out), raw=Path(raw), overwrite=overwrite, progress=progress, cluster=cluster)
    raise AgnbenchError(f"unknown --source {source!r}; use {alternatives(PREP_SOURCES)}")


def _check_table_raw(sel: Selection, raw: Path, cfg: Config) -> tuple[int, int]:
    """Spectra and cutouts that ``--raw`` can attach to a table's objects; an error when there are none."""
    if not raw.is_dir():
        raise AgnbenchError(f"--raw {raw}: not a directory (expected spectra/ and/or images/ inside)")
    objects = sel.objects
    n_spec = len(_spectra_items(objects, raw, [])) if "plate" in objects else 0
    n_img = len(_image_items(objects, raw, cfg, []))
    if n_spec + n_img == 0:
        why = ("the table has plate, mjd and fiber columns" if "plate" in objects else
               "spectra are found by plate, mjd and fiber columns, which the table lacks (name them with "
               "--plate-col, --mjd-col, --fiber-col)")
        raise AgnbenchError(
            f"--raw {raw}: nothing to attach to the table's {len(objects)} objects: no "
            f"{raw / 'spectra'}/**/spec-PLATE-MJD-FIBER.fits matches them ({why}) and no cutout in "
            f"{raw / 'images'} is named <object_id>.fits (or .jpeg/.jpg with prep.image_source=jpeg). "
            "Drop --raw for a catalog-only store")
    log.info("--raw %s: %d spectra and %d cutouts can be attached to the table's objects", raw, n_spec, n_img)
    return n_spec, n_img
