"""Classify one uploaded file (a FITS spectrum, or a FITS/JPEG cutout) with a trained spectra/images run.

Nothing is re-implemented: the file goes through prep's own readers and processing with the settings
of the store the run was trained on (:func:`agnbench.data_prep.ingest.store.spectra_settings` +
:func:`~agnbench.data_prep.ingest.spectra.ingest_spectra` for a spectrum: any layout prep reads,
SDSS spec-lite and BOSS spec files included, shifted to the rest frame with the file's redshift or the
one given, resampled onto the run's grid and normalised; :func:`~agnbench.data_prep.ingest.images.ingest_cutouts`
and the store's fitted stretch for a cutout). The result is written as a one-object dataset store
(Contract 1, the object ``unlabelled``) in a temporary directory and scored by
:func:`agnbench.transfer.apply_run.predict` — the run's own preprocessing, calibrator and decision
rule, exactly as ``agnbench predict`` applies them.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.config.core import load_config
from agnbench.contracts import files
from agnbench.contracts.predictions import read_predictions
from agnbench.contracts.run_dir import read_data_record, read_model_meta
from agnbench.contracts.store import STORE_KIND, read_manifest, store_paths
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_write_json, atomic_write_parquet, read_json

log = logging.getLogger(__name__)

__all__ = ["Classification", "classify_file", "UPLOAD_SUFFIXES"]

#: File name endings an upload may have, per track.
UPLOAD_SUFFIXES = {"spectra": (".fits", ".fit", ".fits.gz", ".fit.gz"),
                   "images": (".fits", ".fit", ".fits.fz", ".jpeg", ".jpg")}
#: The object id the uploaded object gets in its one-object store.
UPLOAD_ID = "upload"


@dataclass(frozen=True)
class Classification:
    """One uploaded object classified by a run.

    Attributes
    ----------
    run : str
        The run's directory name.
    track : {"spectra", "images"}
    file : str
        The uploaded file's name.
    probabilities : dict of str to float
        Calibrated probability of each class (the run's calibrator), in label order.
    predicted : str
        The run's decision (its threshold rule, chosen on its val split).
    z : float or None
        The redshift used to shift a spectrum to the rest frame (None: observed frame, or a cutout).
    wave : numpy.ndarray or None, shape (L,)
        The run's wavelength grid (Å) for a spectrum.
    inputs : numpy.ndarray
        What the network saw: the normalised flux (L,) on the grid, or the stretched cutout (bands, H, W).
    ivar : numpy.ndarray or None, shape (L,)
        The flux's inverse variance on the grid (0 = masked / uncovered).
    """

    run: str
    track: str
    file: str
    probabilities: dict
    predicted: str
    z: float | None
    wave: np.ndarray | None
    inputs: np.ndarray
    ivar: np.ndarray | None = None

    def table(self) -> pd.DataFrame:
        """One row: ``run``, ``file``, ``predicted``, ``p_<class>`` (and ``z`` for a spectrum)."""
        row = {"run": self.run, "file": self.file, "predicted": self.predicted,
               **{f"p_{c}": p for c, p in self.probabilities.items()}}
        if self.z is not None:
            row["z"] = self.z
        return pd.DataFrame([row])

    def sentence(self) -> str:
        """``run classifies FILE as agn: p(sf) = 0.12, p(agn) = 0.88``."""
        probs = ", ".join(f"p({c}) = {p:.3f}" for c, p in self.probabilities.items())
        zs = f" at z = {self.z:.4f}" if self.z is not None else ""
        return f"{self.run} classifies {self.file}{zs} as {self.predicted}: {probs}"


def _run_store(run: Path) -> tuple[Path, dict]:
    """The store the run was trained on (its grid, settings and stretch), and the run's model_meta.json."""
    meta = read_model_meta(run)
    if meta["track"] not in ("spectra", "images"):
        raise AgnbenchError(f"{run}: a {meta['track']} run; an uploaded spectrum or cutout needs a spectra or "
                            "images run")
    store = read_data_record(run).get("store")
    if not store or not store_paths(store).manifest.exists():
        raise AgnbenchError(f"{run}: the store it was trained on ({store or 'not recorded in data.json'}) is not "
                            "found; an upload is processed with that store's settings (grid, normalisation, stretch)")
    return Path(store), meta


def _z_of(path: Path, z: float | None, reader) -> float:
    """The redshift given, else the one the file states (SDSS SPECOBJ/SPALL ``Z``)."""
    from agnbench.data_prep.formats.spectrum1d import read_spectrum_1d
    from agnbench.data_prep.formats.sdss_files import SurveyFileError

    if z is not None and math.isfinite(z):
        return float(z)
    try:
        found = read_spectrum_1d(path, reader, arrays=False).meta.get("z")
    except SurveyFileError as exc:
        raise AgnbenchError(f"{path.name}: cannot read as a spectrum: {exc}") from None
    if found is None or not math.isfinite(float(found)):
        raise AgnbenchError(f"{path.name}: the file states no redshift; give one (a rest-frame run needs it)")
    return float(found)


def _spectrum_store(path: Path, store: Path, tmp: Path, z: float | None) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Write the one-object store of a spectrum; return its flux, ivar and the redshift used."""
    from agnbench.data_prep.ingest.spectra import ingest_spectra
    from agnbench.data_prep.ingest.store import spectra_settings

    cfg = load_config(store_paths(store).config)
    grid, kw = spectra_settings(cfg)
    zf = _z_of(path, z, kw["reader"]) if kw["frame"] == "rest" else None
    shard = ingest_spectra([(UPLOAD_ID, str(path), zf if zf is not None else float("nan"))], **kw)
    if not shard.ok[0]:
        raise AgnbenchError(f"{path.name}: {shard.quarantine[0]['reason']}")
    paths = store_paths(tmp)
    paths.spectra_dir.mkdir(parents=True)
    shutil.copyfile(store_paths(store).wave, paths.wave)
    np.save(paths.flux, shard.flux)
    np.save(paths.ivar, shard.ivar)
    return shard.flux[0], shard.ivar[0], zf


def _cutout_store(path: Path, store: Path, tmp: Path) -> np.ndarray:
    """Write the one-object store of a cutout (read, cropped and stretched as the run's store was)."""
    from agnbench.data_prep.ingest.images import Stretch, apply_stretch, ingest_cutouts

    meta_path = store_paths(store).images_meta
    if not meta_path.exists():
        raise AgnbenchError(f"{store}: the run's store has no images/meta.json")
    meta = read_json(meta_path, fix="re-run agnbench prep")
    source = "jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "fits"
    if source != meta.get("source"):
        want = "a Legacy Survey grz FITS cutout" if meta.get("source") == "fits" else "an SDSS gri colour JPEG"
        raise AgnbenchError(f"{path.name}: a {source.upper()} cutout, but the run was trained on "
                            f"{meta.get('source')} cutouts ({meta.get('bands')}); upload {want}")
    shard = ingest_cutouts([(UPLOAD_ID, str(path))], size=int(meta["size"]), bands=str(meta["bands"]),
                           source=source)
    if not shard.ok[0]:
        raise AgnbenchError(f"{path.name}: {shard.quarantine[0]['reason']}")
    stretched = apply_stretch(shard.images, Stretch(**meta["stretch"]), dtype=np.float16)
    paths = store_paths(tmp)
    paths.images_dir.mkdir(parents=True)
    np.save(paths.cutouts, stretched)
    shutil.copyfile(meta_path, paths.images_meta)
    return np.asarray(stretched[0], dtype=np.float32)


def _write_objects(tmp: Path, store: Path, track: str) -> None:
    """``objects.parquet`` and ``manifest.json`` of the one-object store (the object unlabelled)."""
    manifest = read_manifest(store)
    objects = pd.DataFrame({"object_id": pd.Series([UPLOAD_ID], dtype=object), "ra": [np.nan], "dec": [np.nan],
                            "z": [np.nan], "label": np.array([-1], np.int64), "label_name": ["excluded"],
                            "bpt_class": np.array([-1], np.int64), "split": ["excluded"],
                            "spec_row": np.array([0 if track == "spectra" else -1], np.int64),
                            "image_row": np.array([0 if track == "images" else -1], np.int64)})
    atomic_write_parquet(store_paths(tmp).objects, objects)
    atomic_write_json(store_paths(tmp).manifest, {
        "kind": STORE_KIND, "inputs": {"upload": UPLOAD_ID}, "labels": manifest.get("labels", {}),
        "spectra": manifest.get("spectra") if track == "spectra" else None, "n_objects": 1})
    shutil.copyfile(store_paths(store).config, store_paths(tmp).config)


def classify_file(run: str | Path, path: str | Path, *, z: float | None = None,
                  name: str | None = None) -> Classification:
    """Classify one spectrum or cutout file with a trained spectra or images run.

    Parameters
    ----------
    run : path
        A complete spectra or images run directory whose training store is still where ``data.json`` says.
    path : path
        A spectrum (any layout ``agnbench prep`` reads: SDSS spec-lite, BOSS spec, 1-D FITS tables/images) for a
        spectra run; a cutout (Legacy Survey grz FITS, or SDSS gri JPEG, as the run's store was made) for an images run.
    z : float, optional
        Redshift for a rest-frame run; default: the one the file states.
    name : str, optional
        The file's name to report (an upload's original name); default ``path``'s.

    Returns
    -------
    Classification

    Raises
    ------
    AgnbenchError
        Not a spectra/images run, its store gone, an unreadable file, one that does not cover the run's grid,
        a cutout of another kind than the run's.
    """
    from agnbench.transfer.apply_run import predict

    run, path = Path(run), Path(path)
    if not path.is_file():
        raise AgnbenchError(f"{path}: no such file")
    store, meta = _run_store(run)
    track = meta["track"]
    with tempfile.TemporaryDirectory(prefix="agnbench-upload-") as work:
        tmp = Path(work) / "store"
        wave, ivar, zf = None, None, None
        if track == "spectra":
            inputs, ivar, zf = _spectrum_store(path, store, tmp, z)
            wave = np.load(store_paths(store).wave)
        else:
            inputs = _cutout_store(path, store, tmp)
        _write_objects(tmp, store, track)
        out = predict(run=run, data=tmp, out=Path(work) / "predictions", progress=False)
        preds = read_predictions(out / files.PREDICTIONS)
    classes = [c[2:] for c in preds.columns if c.startswith("p_")]
    row = preds.iloc[0]
    return Classification(run=run.name, track=track, file=name or path.name,
                          probabilities={c: float(row[f"p_{c}"]) for c in classes},
                          predicted=classes[int(row["y_pred"])], z=zf, wave=wave, inputs=np.array(inputs),
                          ivar=None if ivar is None else np.array(ivar))
