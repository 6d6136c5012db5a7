"""``agnbench fetch catalog|spectra|images --raw DIR``: real survey files in the layout prep reads.

::

    RAW/catalog/galSpecInfo-dr8.fits galSpecExtra-dr8.fits galSpecLine-dr8.fits galSpecIndx-dr8.fits
    RAW/catalog/photometry.csv          (--photometry: your CasJobs export, checked and stored)
    RAW/spectra/PLATE/spec-PLATE-MJD-FIBER.fits   (PLATE zero-padded to 4 digits, as on the SAS)
    RAW/images/<object_id>.fits         (Legacy Survey grz cutouts; RAW/jpeg/<object_id>.jpeg with --jpeg)
    RAW/selection.csv                   (the objects of spectra/images, drawn once; see fetch_select)
    RAW/fetch_manifest.json             (every file: done/missing/failed, bytes, sha256; see fetch_manifest)

Run ``catalog`` first; ``spectra`` and ``images`` read its galSpecInfo/galSpecExtra. Every command
resumes: a file is skipped when the manifest lists it as done and it still has the recorded size
(and, with ``fetch.verify: sha256``, hash) and validates; failed files are retried; missing ones
(404, or a cutout outside the survey) only with ``retry_missing``. ``plan_fetch`` (``--dry-run``)
builds the same plan, reads but writes nothing, and estimates the bytes: HEAD requests for the
catalogs, typical sizes otherwise (175 kB per SDSS-I/II spec-lite, 220 kB per BOSS one; a FITS
cutout is exactly 4 bytes x bands x size^2 plus 5,760 header bytes; a JPEG about 0.4 byte per pixel).

Photometry is not on the SAS as a file: run this query in CasJobs (https://skyserver.sdss.org/CasJobs,
context DR17; any DR8+ release has the same specObjIDs), download the result as CSV and pass it with
``agnbench fetch catalog --raw RAW --photometry result.csv``::

    SELECT s.specObjID, s.plate, s.mjd, s.fiberID, p.objID, p.ra, p.dec, p.type,
           p.modelMag_u, p.modelMag_g, p.modelMag_r, p.modelMag_i, p.modelMag_z,
           p.modelMagErr_u, p.modelMagErr_g, p.modelMagErr_r, p.modelMagErr_i, p.modelMagErr_z,
           p.extinction_u, p.extinction_g, p.extinction_r, p.extinction_i, p.extinction_z,
           p.petroRad_r, p.petroR50_r, p.petroR90_r, p.fracDeV_r
    INTO mydb.agnbench_photometry
    FROM galSpecInfo AS g
    JOIN SpecObj AS s ON s.specObjID = g.specObjID
    JOIN PhotoObj AS p ON p.objID = s.bestObjID
    WHERE g.reliable = 1 AND g.z BETWEEN 0.02 AND 0.2
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from agnbench.config.core import Config
from agnbench.data_prep.fetch import select as sel
from agnbench.data_prep.formats.catalog import find_photometry
from agnbench.data_prep.fetch.http import HttpClient, Job, Result
from agnbench.data_prep.fetch.manifest import Manifest, locked
from agnbench.data_prep.fetch.validate import (CATALOG_COLUMNS, validate_catalog, validate_cutout, validate_jpeg,
                                               validate_spectrum)
from agnbench.data_prep.formats.sdss_files import spec_filename
from agnbench.errors import AgnbenchError
from agnbench.fileio import sha256_file
from agnbench.config.choices import FETCH_TARGETS as WHAT

log = logging.getLogger(__name__)

SPEC_BYTES = {"sdss": 175_000, "boss": 220_000}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class FetchPlan:
    """What one ``agnbench fetch`` would do.

    Attributes
    ----------
    what : str
        ``catalog``, ``spectra`` or ``images``.
    raw : Path
    jobs : list of Job
        Every file of the plan (finished ones are skipped when run).
    todo : int
        Files that would be downloaded (not done per the manifest, or not of the recorded size).
    known_missing : int
        Files recorded as missing (404 / no coverage) that are not retried.
    rejected : list of (str, str)
        (object id, reason) of objects whose id or coordinates cannot become a safe request.
    est_bytes : int
        Estimated bytes to download (see the module docstring); ``unknown`` files not counted.
    unknown : int
        Files of unknown size.
    selection : DataFrame or None
        The objects (spectra/images).
    selection_meta : dict
        How the selection was drawn (written into the manifest).
    """

    what: str
    raw: Path
    jobs: list[Job]
    todo: int = 0
    known_missing: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    est_bytes: int = 0
    unknown: int = 0
    selection: pd.DataFrame | None = None
    selection_meta: dict = field(default_factory=dict)
    selection_new: bool = False

    def describe(self) -> str:
        """The plan as text (``--dry-run`` output)."""
        lines = [f"agnbench fetch {self.what} --raw {self.raw} (dry run)"]
        if self.selection is not None:
            counts = self.selection["stratum"].value_counts().sort_index() if "stratum" in self.selection else {}
            per = ", ".join(f"{k} {v}" for k, v in dict(counts).items())
            lines.append(f"  objects: {len(self.selection)} ({self.selection_meta.get('how', 'selection.csv')}"
                         + (f"; {per}" if per else "") + ")")
        done = len(self.jobs) - self.todo - self.known_missing
        lines.append(f"  files: {len(self.jobs)} planned, {done} already done, {self.known_missing} known missing, "
                     f"{self.todo} to download" + (f", {len(self.rejected)} rejected ids" if self.rejected else ""))
        if self.jobs:
            lines.append(f"  first URL: {self.jobs[0].url}")
        size = f"{self.est_bytes / 1e6:,.1f} MB"
        size += f" + {self.unknown} file(s) of unknown size" if self.unknown else ""
        lines.append(f"  estimated download: {size}")
        where = _existing(self.raw)
        lines.append(f"  free disk space at {where}: {shutil.disk_usage(where).free / 1e9:,.1f} GB")
        lines.append("  nothing was downloaded or written")
        return "\n".join(lines)


def _existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return path


def _inside(raw: Path, dest: Path) -> bool:
    try:
        dest.resolve().relative_to(raw.resolve())
    except ValueError:
        return False
    return True


def _bases(cfg: Config) -> dict[str, str]:
    f = cfg.fetch
    return {"sas_base": f.sas_base.rstrip("/"), "legacy_base": f.legacy_base.rstrip("/"),
            "mpa_base": f.mpa_base.rstrip("/")}


def _catalog_jobs(cfg: Config, raw: Path) -> list[Job]:
    f = cfg.fetch
    dr8 = f.release == "dr8"
    names, template = (f.catalog_files, f.catalog_url) if dr8 else (f.dr7_catalog_files, f.dr7_catalog_url)
    jobs = []
    for name in names:
        stem = next((s for s in CATALOG_COLUMNS if name.startswith(s)), None)
        if not _SAFE_NAME.match(name) or ".." in name or stem is None:
            raise AgnbenchError(f"fetch.catalog_files entry {name!r}: not a galSpec*/gal_* file name "
                                f"(expected one of the stems {', '.join(CATALOG_COLUMNS)})")
        jobs.append(Job(f"catalog/{name}", template.format(**_bases(cfg), name=name), raw / "catalog" / name,
                        functools.partial(validate_catalog, stem=stem, max_gunzip_ratio=f.max_gunzip_ratio)))
    return jobs


def _object_jobs(cfg: Config, raw: Path, what: str, selection: pd.DataFrame, *, jpeg: bool,
                 rejected: list[tuple[str, str]]) -> list[Job]:
    f, bases, jobs = cfg.fetch, _bases(cfg), []
    for row in selection.itertuples(index=False):
        oid = str(row.object_id)
        try:
            plate, mjd, fiber = int(row.plate), int(row.mjd), int(row.fiber)
            ra, dec = float(row.ra), float(row.dec)
        except (TypeError, ValueError):
            rejected.append((oid, "plate/mjd/fiber/ra/dec are not numbers"))
            continue
        if what == "spectra":
            run2d = str(row.run2d).strip()
            ids_ok = 0 < plate < 100_000 and 50_000 <= mjd < 100_000 and 0 < fiber <= 1000
            if not ids_ok or not sel.SAFE_RUN2D.match(run2d):
                rejected.append((oid, f"bad plate/mjd/fiber/run2d {plate}/{mjd}/{fiber}/{run2d!r}"))
                continue
            template = f.spectra_url if run2d.isdigit() else f.boss_spectra_url
            name = spec_filename(plate, mjd, fiber)
            url = template.format(**bases, run2d=run2d, plate=plate, mjd=mjd, fiber=fiber)
            jobs.append(Job(f"spectra/{plate:04d}/{name}", url, raw / "spectra" / f"{plate:04d}" / name,
                            functools.partial(validate_spectrum, plate=plate, mjd=mjd, fiber=fiber)))
            continue
        why = sel.unsafe_id(oid)
        if why is None and not (0 <= ra < 360 and -90 <= dec <= 90):
            why = f"coordinates ra={ra}, dec={dec} are out of range"
        if why is not None:
            rejected.append((oid, why))
            continue
        url = f.cutout_url.format(**bases, ra=ra, dec=dec, layer=f.layer, pixscale=f.pixscale, size=f.size,
                                  bands=f.bands)
        jobs.append(Job(f"images/{oid}.fits", url, raw / "images" / f"{oid}.fits",
                        functools.partial(validate_cutout, size=f.size, bands=f.bands)))
        if jpeg:
            url = f.jpeg_url.format(**bases, ra=ra, dec=dec, layer=f.jpeg_layer, pixscale=f.jpeg_pixscale,
                                    size=f.jpeg_size)
            jobs.append(Job(f"jpeg/{oid}.jpeg", url, raw / "jpeg" / f"{oid}.jpeg",
                            functools.partial(validate_jpeg, size=f.jpeg_size)))
    for job in jobs:
        if not _inside(raw, job.dest):
            raise AgnbenchError(f"{job.dest}: outside {raw}; refusing to write there (a crafted catalog?)")
    return jobs


def _selection(cfg: Config, raw: Path, manifest: Manifest, limit: int) -> tuple[pd.DataFrame, dict, bool]:
    """(selection, how it was drawn, whether it is new) for spectra/images."""
    want = {"limit": limit, "stratify": cfg.fetch.stratify, "seed": cfg.seed, "scheme": cfg.labels.scheme}
    path = raw / sel.SELECTION
    if path.exists():
        old = manifest.meta.get("selection")
        if old is not None and any(old.get(k) != v for k, v in want.items()):
            raise AgnbenchError(
                f"{path} was drawn with {', '.join(f'{k}={old.get(k)}' for k in want)}; this run asks for "
                f"{', '.join(f'{k}={v}' for k, v in want.items())}. Use the same settings so spectra and images match, "
                "or delete selection.csv to draw anew (files already fetched are kept)")
        meta = old or {"how": "hand-written selection.csv"}
        return sel.read_selection(path), meta, False
    targets = sel.targets(raw, cfg)
    chosen = sel.choose(targets, limit=limit, stratify=cfg.fetch.stratify, seed=cfg.seed)
    how = (f"all {len(targets)} objects passing the quality cuts" if limit <= 0 else
           f"{'stratified ' if cfg.fetch.stratify else ''}random {len(chosen)} of {len(targets)}, seed {cfg.seed}")
    counts = {str(k): int(v) for k, v in chosen["stratum"].value_counts().sort_index().items()}
    return chosen, {**want, "how": how, "n": len(chosen), "counts": counts}, True


def _estimate(cfg: Config, job: Job, client: HttpClient | None) -> int | None:
    f = cfg.fetch
    if job.key.startswith("catalog/"):
        return client.head_size(job.url) if client is not None else None
    if job.key.startswith("spectra/"):
        return SPEC_BYTES["boss" if "/eboss/" in job.url else "sdss"]
    if job.key.startswith("images/"):
        return 4 * len(f.bands) * f.size**2 + 5760
    return int(0.4 * 3 * f.jpeg_size**2)


def plan_fetch(cfg: Config, *, what: str, raw: Path, limit: int | None = None, jpeg: bool = False,
               retry_missing: bool = False, estimate: bool = False) -> FetchPlan:
    """Build the plan of one fetch without writing anything (``--dry-run`` prints :meth:`FetchPlan.describe`).

    Parameters
    ----------
    what : {"catalog", "spectra", "images"}
    raw : Path
        Raw survey directory.
    limit : int, optional
        Objects for spectra/images (default ``fetch.limit``; 0 = all).
    jpeg : bool
        Images: also the colour JPEG of each object.
    retry_missing : bool
        Count files recorded as missing as to-do.
    estimate : bool
        Estimate the download size (HEAD requests for catalogs).
    """
    return _plan(cfg, what=what, raw=Path(raw), manifest=Manifest(Path(raw)), limit=limit, jpeg=jpeg,
                 retry_missing=retry_missing, estimate=estimate)


def _plan(cfg: Config, *, what: str, raw: Path, manifest: Manifest, limit: int | None, jpeg: bool,
          retry_missing: bool, estimate: bool) -> FetchPlan:
    if what not in WHAT:
        raise AgnbenchError(f"fetch {what!r}: choose one of {', '.join(WHAT)}")
    limit = cfg.fetch.limit if limit is None else limit
    if limit < 0:
        raise AgnbenchError(f"--limit {limit}: must be >= 0 (0 = all objects)")
    plan = FetchPlan(what, raw, [])
    if what == "catalog":
        plan.jobs = _catalog_jobs(cfg, raw)
    else:
        plan.selection, plan.selection_meta, plan.selection_new = _selection(cfg, raw, manifest, limit)
        plan.jobs = _object_jobs(cfg, raw, what, plan.selection, jpeg=jpeg, rejected=plan.rejected)
    client = HttpClient(cfg.fetch, seed=cfg.seed) if estimate else None
    try:
        for job in plan.jobs:
            entry = manifest.get(job.key) or {}
            if entry.get("status") == "missing" and not retry_missing:
                plan.known_missing += 1
                continue
            if entry.get("status") == "done" and job.dest.exists() and job.dest.stat().st_size == entry.get("bytes"):
                continue
            plan.todo += 1
            if estimate:
                size = _estimate(cfg, job, client)
                plan.est_bytes += size or 0
                plan.unknown += size is None
    finally:
        if client is not None:
            client.close()
    return plan


def fetch(cfg: Config, *, what: str, raw: Path, limit: int | None = None, photometry: Path | None = None,
          jpeg: bool = False, retry_missing: bool = False, progress: bool = True,
          stop: threading.Event | None = None) -> Path:
    """Download (or resume downloading) one kind of raw survey file into ``raw``; see the module docstring.

    Parameters
    ----------
    cfg : Config
        ``cfg.fetch`` holds URLs, hosts and politeness; ``cfg.seed`` seeds the selection and the jitter.
    what : {"catalog", "spectra", "images"}
    raw : Path
        Raw survey directory (created if needed).
    limit : int, optional
        Objects for spectra/images (default ``fetch.limit``; 0 = all passing the quality cuts).
    photometry : Path, optional
        With ``catalog``: a CasJobs photometry export to check and store as ``RAW/catalog/photometry.*``.
    jpeg : bool
        With ``images``: also fetch the colour JPEGs into ``RAW/jpeg/``.
    retry_missing : bool
        Try files recorded as missing (404 / no coverage) again.
    progress : bool
        Show a tqdm bar (files, MB, MB/s, missing, failed).
    stop : threading.Event, optional
        Set it to stop early (as Ctrl-C does); the manifest is saved.

    Returns
    -------
    Path
        ``raw``.

    Raises
    ------
    AgnbenchError
        Bad options, a catalog that is not there yet, a selection drawn with other settings, or (after
        everything else is done and the manifest saved) files that failed: run the command again.
    """
    raw = Path(raw)
    if photometry is not None and what != "catalog":
        raise AgnbenchError("--photometry goes with `agnbench fetch catalog`")
    if jpeg and what != "images":
        raise AgnbenchError("--jpeg goes with `agnbench fetch images`")
    with locked(raw):
        manifest = Manifest(raw)
        plan = _plan(cfg, what=what, raw=raw, manifest=manifest, limit=limit, jpeg=jpeg,
                     retry_missing=retry_missing, estimate=False)
        if plan.selection_new:
            digest = sel.write_selection(raw / sel.SELECTION, plan.selection)
            manifest.meta["selection"] = {**plan.selection_meta, "sha256": digest}
            log.info("%s: %s", raw / sel.SELECTION, plan.selection_meta["how"])
        for oid, why in plan.rejected:
            key = f"rejected/{what}/{hashlib.sha256(oid.encode('utf-8', 'replace')).hexdigest()[:16]}"
            manifest.record(key, {"status": "failed", "url": "", "object_id": oid[:200], "reason": why})
        try:
            stats, failures = _run(cfg, plan, manifest, retry_missing=retry_missing, progress=progress, stop=stop)
            manifest.meta.setdefault("runs", {})[what] = stats
        finally:
            manifest.save()
    if what == "catalog":
        if photometry is not None:
            sel.import_photometry(Path(photometry), raw)
        elif find_photometry(raw) is None:
            log.warning("%s: no photometry table; prep will have no photometric features. Run the CasJobs query in "
                        "the README and pass its CSV with --photometry FILE", raw / "catalog")
    failures = [(f"object {oid}", why) for oid, why in plan.rejected] + failures
    if failures:
        key, why = failures[0]
        total = len(plan.jobs) + len(plan.rejected)
        raise AgnbenchError(f"{len(failures)} of {total} {what} items failed (first: {key}: {why}); see "
                            f"{manifest.path}, then run the same command again to retry them")
    return raw


def _verify(job: Job, entry: dict, verify: str) -> Result | None:
    """A ``skipped`` result if the file at ``job.dest`` is the finished one, ``adopted`` if a valid file has no
    manifest entry (e.g. a crash between rename and journal), None if it must be downloaded."""
    size = job.dest.stat().st_size
    try:
        if entry.get("status") == "done" and entry.get("bytes") == size:
            if verify == "size":
                return Result(job.key, job.url, "skipped", size, entry.get("sha256", ""))
            digest = sha256_file(job.dest)
            if digest == entry.get("sha256") and job.validate(job.dest) is None:
                return Result(job.key, job.url, "skipped", size, digest)
            log.info("%s: differs from the manifest or no longer validates; downloading it again", job.dest)
            return None
        if entry.get("status") != "done" and job.validate(job.dest) is None:
            return Result(job.key, job.url, "adopted", size, sha256_file(job.dest))
    except Exception as exc:  # an unreadable old file is simply fetched again
        log.debug("%s: cannot verify (%s)", job.dest, exc)
    return None


def _run(cfg: Config, plan: FetchPlan, manifest: Manifest, *, retry_missing: bool, progress: bool,
         stop: threading.Event | None) -> tuple[dict, list[tuple[str, str]]]:
    """Run the plan's jobs; record each outcome; return (summary, [(key, reason) of failures])."""
    client = HttpClient(cfg.fetch, seed=cfg.seed, stop=stop)

    def work(job: Job) -> Result:
        entry = manifest.get(job.key) or {}
        if entry.get("status") == "missing" and not retry_missing:
            return Result(job.key, job.url, "known_missing", reason=entry.get("reason", ""))
        if job.dest.exists():
            kept = _verify(job, entry, cfg.fetch.verify)
            if kept is not None:
                return kept
        return client.download(job)

    counts = dict.fromkeys(("downloaded", "skipped", "missing", "failed"), 0)
    failures: list[tuple[str, str]] = []
    missing: list[tuple[str, str]] = []
    new_bytes, start = 0, time.perf_counter()
    bar = tqdm(total=len(plan.jobs), desc=f"fetch {plan.what}", unit="file", disable=not progress, dynamic_ncols=True)
    try:
        for res in client.run(plan.jobs, work=work):
            if res.status in ("done", "adopted", "missing", "failed"):
                entry = {"status": "done" if res.status == "adopted" else res.status, "url": res.url,
                         "bytes": res.bytes, "sha256": res.sha256, "attempts": res.attempts, "reason": res.reason}
                manifest.record(res.key, entry)
            if res.status == "done":
                counts["downloaded"] += 1
                new_bytes += res.bytes
            elif res.status in ("skipped", "adopted"):
                counts["skipped"] += 1
            elif res.status in ("missing", "known_missing"):
                counts["missing"] += 1
                missing.append((res.key, res.reason))
            else:
                counts["failed"] += 1
                failures.append((res.key, res.reason))
            elapsed = max(time.perf_counter() - start, 1e-9)
            bar.set_postfix_str(f"{new_bytes / 1e6:.1f} MB, {new_bytes / 1e6 / elapsed:.2f} MB/s, "
                                f"{counts['missing']} missing, {counts['failed']} failed", refresh=False)
            bar.update(1)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    stats = {"files": len(plan.jobs), **counts, "rejected": len(plan.rejected), "bytes": new_bytes,
             "seconds": round(seconds, 3), "mb_per_s": round(new_bytes / 1e6 / max(seconds, 1e-9), 3),
             "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    log.info("fetch %s: %d downloaded (%.1f MB, %.2f MB/s), %d already there, %d missing, %d failed in %.1f s",
             plan.what, counts["downloaded"], new_bytes / 1e6, stats["mb_per_s"], counts["skipped"],
             counts["missing"], counts["failed"], seconds)
    for key, why in missing[:5]:
        log.warning("missing %s: %s", key, why)
    if len(missing) > 5:
        log.warning("... and %d more missing (see %s)", len(missing) - 5, manifest.path)
    return stats, failures
