"""Apply a finished spectra or images run to another dataset store (``agnbench predict``).

:func:`deep_predictor` rebuilds the run's network from ``model_meta.json`` and ``model.pt`` and
predicts uncalibrated class probabilities for objects of a new store exactly as training predicted
its own val/test/ood objects (same batches, TTA, device and precision settings from the run's
``config.yaml``). The preprocessing fitted on the training store is the RUN's, never re-fitted:

- spectra: ``weight_scale`` (the weight channel's scale) and, with ``use_redshift``, ``z_mean`` /
  ``z_std``, read from ``model_meta.json`` ``inputs.preprocessing`` (runs written before it was saved
  recompute them from their own recorded store, with a warning);
- the new store's inputs must match the run's store (:func:`input_signature`): the same rest-frame
  grid (``spectra/wave.npy``), or the same cutout size, bands and stretch method. An
  ``asinh_global`` stretch fitted with other per-band scales is converted to the run's scales
  (``asinh(s_new / s_run * sinh(y))``), with a warning.

Calibration and the decision rule are applied by the caller (the shared protocol), not here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agnbench.config.core import load_config
from agnbench.contracts.run_dir import config_path, read_data_record, read_model_meta
from agnbench.contracts.store import Store, check_store, open_store
from agnbench.deep.data import TrackData
from agnbench.deep.device import resolve_device, resolve_precision, set_threads
from agnbench.deep.networks import load_run_model
from agnbench.deep.trainer import Runtime, _to_device, predict_proba, view_averaged_proba
from agnbench.errors import AgnbenchError
from agnbench.fileio import read_json

log = logging.getLogger(__name__)

__all__ = ["DeepPredictor", "deep_predictor", "input_signature", "restretch"]

#: Relative tolerance on the first and last wavelength of two grids that must be the same.
_GRID_RTOL = 1e-9


def input_signature(store: Store, track: str) -> dict:
    """What a deep run's inputs look like in ``store``: its spectra grid, or its cutouts' size, bands and stretch.

    Parameters
    ----------
    store : Store
    track : {"spectra", "images"}

    Returns
    -------
    dict
        spectra: ``n_pix``, ``wave_first``, ``wave_last`` (Å); images: ``size``, ``bands``, ``stretch``
        (``images/meta.json``). Empty if the store lacks the track's files.
    """
    paths = store.paths
    if track == "spectra":
        if not paths.wave.exists():
            return {}
        wave = np.load(paths.wave)
        return {"n_pix": int(wave.size), "wave_first": float(wave[0]), "wave_last": float(wave[-1])}
    if not paths.images_meta.exists():
        return {}
    meta = read_json(paths.images_meta, fix="re-run agnbench prep")
    return {"size": meta.get("size"), "bands": meta.get("bands"), "stretch": meta.get("stretch")}


def restretch(cutouts: torch.Tensor, *, ratio: np.ndarray) -> torch.Tensor:
    """Convert ``asinh(x / s_new)`` cutouts to ``asinh(x / s_run)``.

    ``y_run = asinh(ratio * sinh(y_new))`` with ``ratio = s_new / s_run`` per band.

    Parameters
    ----------
    cutouts : torch.Tensor, shape (n, n_band, H, W)
    ratio : numpy.ndarray, shape (n_band,)
    """
    r = torch.as_tensor(np.asarray(ratio, dtype=np.float32))[None, :, None, None]
    return torch.asinh(r * torch.sinh(cutouts.float()))


def _prep_hint(run_store: str | None) -> str:
    where = f"{run_store}/config.yaml" if run_store else "the run store's config.yaml"
    return (f"prep the new data with the run store's settings: agnbench prep ... --config {where} "
            "(the prep section: wavelength grid, normalisation, image size, bands, stretch)")


def _check_inputs(run_sig: dict, new_sig: dict, *, track: str, store: Store,
                  run_store: str | None) -> np.ndarray | None:
    """Refuse a store whose inputs differ from the run's; return the stretch ratio for images (None if equal)."""
    if not new_sig:
        needed = "spectra/wave.npy" if track == "spectra" else "images/meta.json"
        raise AgnbenchError(f"{store.path}: the store has no {track} (no {needed}); a {track} run needs a store with "
                            f"{track}. {_prep_hint(run_store)}")
    if "input_shape" in run_sig:  # an older run whose store is gone: the network's input shape only
        return _check_shape(run_sig["input_shape"], new_sig, track=track, store=store, run_store=run_store)
    if track == "spectra":
        same = (run_sig["n_pix"] == new_sig["n_pix"]
                and np.allclose([new_sig["wave_first"], new_sig["wave_last"]],
                                [run_sig["wave_first"], run_sig["wave_last"]], rtol=_GRID_RTOL, atol=0.0))
        if not same:
            raise AgnbenchError(
                f"{store.path}: spectra grid {new_sig['n_pix']} pixels {new_sig['wave_first']:.2f}-"
                f"{new_sig['wave_last']:.2f} Å differs from the run's {run_sig['n_pix']} pixels "
                f"{run_sig['wave_first']:.2f}-{run_sig['wave_last']:.2f} Å; {_prep_hint(run_store)}")
        return None
    for key in ("size", "bands"):
        if run_sig.get(key) != new_sig.get(key):
            raise AgnbenchError(f"{store.path}: cutout {key} {new_sig.get(key)!r} differs from the run's "
                                f"{run_sig.get(key)!r}; {_prep_hint(run_store)}")
    a, b = run_sig.get("stretch") or {}, new_sig.get("stretch") or {}
    if a.get("method") != b.get("method"):
        raise AgnbenchError(f"{store.path}: cutout stretch {b.get('method')!r} differs from the run's "
                            f"{a.get('method')!r}; {_prep_hint(run_store)}")
    if a.get("method") != "asinh_global" or np.allclose(a["scale"], b["scale"], rtol=1e-6):
        return None
    ratio = np.asarray(b["scale"], dtype=np.float64) / np.asarray(a["scale"], dtype=np.float64)
    log.warning("%s: asinh stretch scales %s differ from the run's %s; converting the cutouts to the run's "
                "stretch (ratio %s)", store.path, b["scale"], a["scale"], np.round(ratio, 4).tolist())
    return ratio


def _legacy_preprocessing(inputs: dict) -> dict | None:
    """The fitted values that runs written before ``inputs.preprocessing`` recorded beside their channels."""
    if "weight_scale" not in inputs:
        return None
    z = inputs.get("redshift") or {}
    return {"weight_scale": float(inputs["weight_scale"]), "z_mean": float(z.get("mean", 0.0)),
            "z_std": float(z.get("std", 1.0))}


def _check_shape(shape: list, new_sig: dict, *, track: str, store: Store, run_store: str | None) -> None:
    """Compare a store's inputs with the network's recorded input shape (channels first)."""
    have = [new_sig["n_pix"]] if track == "spectra" else [len(new_sig["bands"] or ""), new_sig["size"],
                                                          new_sig["size"]]
    want = shape[-1:] if track == "spectra" else shape
    if list(want) != list(have):
        raise AgnbenchError(f"{store.path}: inputs of shape {have} but the run's network takes {want}; "
                            f"{_prep_hint(run_store)}")
    return None


def _run_inputs(run_dir: Path, meta: dict, track: str, tc, seed: int) -> tuple[dict, dict, str | None]:
    """The run's fitted preprocessing and input signature.

    Read from ``model_meta.json`` ``inputs``; older runs: the values recorded beside the channels, else
    recomputed from the run's own recorded store (with a warning). Without a saved signature and without
    that store, the signature is the network's input shape only (with a warning).
    """
    inputs = meta.get("inputs") or {}
    record = read_data_record(run_dir)
    run_store = record.get("store")
    prep = inputs.get("preprocessing") or (_legacy_preprocessing(inputs) if track == "spectra" else {})
    sig = inputs.get("store_inputs")
    if prep is not None and sig is not None:
        return prep, sig, run_store
    if run_store and check_store(run_store, record.get("objects_sha256")):
        log.warning("%s: the run predates saved preprocessing/input format; recomputing it from its own store %s",
                    run_dir, run_store)
        old = open_store(run_store)
        prep = prep if prep is not None else TrackData(track, old, tc, seed).preprocessing()
        return prep, sig if sig is not None else input_signature(old, track), run_store
    if prep is None:
        raise AgnbenchError(f"{run_dir}: model_meta.json predates the saved preprocessing and the run's store "
                            f"({run_store}) is missing or changed, so it cannot be recomputed; restore the store")
    log.warning("%s: the run's store (%s) is gone and its input format was not saved; only the input shape %s can "
                "be checked", run_dir, run_store, meta.get("input_shape"))
    return prep, {"input_shape": list(meta.get("input_shape") or [])}, run_store


@dataclass
class DeepPredictor:
    """A deep run loaded for prediction on one store.

    Attributes
    ----------
    usable : numpy.ndarray of bool, shape (n_objects,)
        Objects of the store (``store.objects`` order) that have the track's input.
    predict : callable
        ``predict(positions) -> (n, K)`` uncalibrated probabilities for objects at ``positions``.
    preprocessing : dict
        The run's fitted preprocessing that was applied.
    """

    usable: np.ndarray
    predict: Callable[[np.ndarray], np.ndarray]
    preprocessing: dict


def deep_predictor(run_dir: str | Path, store: Store, *, progress: bool = False) -> DeepPredictor:
    """Load a finished spectra/images run for prediction on ``store``.

    Parameters
    ----------
    run_dir : path
        A complete deep-track run directory (``model_meta.json``, ``model.pt``, ``config.yaml``).
    store : Store
        The store to predict (may be the run's own).
    progress : bool
        Recorded in the runtime like training's (prediction itself shows no progress bar).

    Raises
    ------
    AgnbenchError
        Not a deep run, or the store's inputs do not match the run's (grid, size, bands, stretch).
    """
    run_dir = Path(run_dir)
    meta = read_model_meta(run_dir)
    track = meta["track"]
    if track not in ("spectra", "images"):
        raise AgnbenchError(f"{run_dir}: a {track} run, not a spectra or images run")
    cfg = load_config(config_path(run_dir))
    tc = getattr(cfg, track)
    prep, run_sig, run_store = _run_inputs(run_dir, meta, track, tc, cfg.seed)
    ratio = _check_inputs(run_sig, input_signature(store, track), track=track, store=store, run_store=run_store)
    data = TrackData(track, store, tc, cfg.seed, fitted=prep)
    model, _ = load_run_model(run_dir, tc)
    device = resolve_device(tc.device)
    rt = Runtime(device=device, amp_dtype=resolve_precision(tc.precision, device),
                 channels_last=bool(getattr(tc, "channels_last", False)) and device.type in ("cuda", "cpu"),
                 workers=0, progress=progress)
    set_threads(tc.threads)
    model.to(device)
    if rt.channels_last:
        model.to(memory_format=torch.channels_last)

    def predict(positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        if ratio is None:
            return predict_proba(model, data, positions, rt=rt, batch_size=tc.eval_batch_size, tta=tc.tta)
        return _predict_restretched(model, data, positions, rt=rt, batch_size=tc.eval_batch_size, tta=tc.tta,
                                    ratio=ratio)

    return DeepPredictor(usable=data.rows >= 0, predict=predict, preprocessing=prep)


@torch.inference_mode()
def _predict_restretched(model, data: TrackData, positions: np.ndarray, *, rt: Runtime, batch_size: int, tta: bool,
                         ratio: np.ndarray) -> np.ndarray:
    """:func:`~agnbench.deep.trainer.predict_proba` with the cutouts converted to the run's stretch."""
    model.eval()
    out = [np.zeros((0, model.head.out_features))]
    for start in range(0, positions.size, batch_size):
        x, _ = data.inputs(positions[start : start + batch_size])
        x = _to_device(restretch(x, ratio=ratio), rt)
        out.append(view_averaged_proba(model, x, None, rt=rt, tta=tta).double().cpu().numpy())
    proba = np.concatenate(out)
    return proba / proba.sum(axis=1, keepdims=True) if proba.size else proba
