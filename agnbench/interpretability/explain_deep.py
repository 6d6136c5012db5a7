"""Attributions of a spectra or images run: Integrated Gradients, saliency / Grad-CAM, occlusion, probes.

Every attribution explains one class per object (``explain.target``: the predicted or the true
class) through its logit. Integrated Gradients checks its own completeness (the attributions of
an object sum to f(x) - f(baseline) of that logit); the worst relative error is recorded, and each
object gets only the path steps its completeness needs (``explain.ig_min_steps`` doubling up to
``explain.ig_steps``).
The randomised-weights sanity check (Adebayo et al. 2018) recomputes IG with the network's
weights re-initialised and reports the rank correlation of |attribution| with the trained one:
attributions that survive re-initialisation would describe the input, not the model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from agnbench.config.core import Config
from agnbench.contracts import files
from agnbench.contracts.store import Store
from agnbench.errors import AgnbenchError
from agnbench.deep.data import TrackData
from agnbench.deep.networks import build_model, load_run_model
from agnbench.interpretability import probes
from agnbench.fileio import atomic_write_parquet, atomic_write_text, read_json

log = logging.getLogger(__name__)

_IMAGE_EDGES = (0.0, 0.5, 1.0, 2.0, 4.0)  # radial profile annuli, in PSF FWHM
_N_RINGS = 6  # equal-area occlusion rings of a cutout


def explain_deep(run: Path, run_cfg: Config, track: str, store: Store, positions: np.ndarray, methods: list[str],
                 ec, seed: int, out: Path, *, progress: bool = True) -> dict:
    """Write the track's attribution arrays and tables into ``out``; return the summary numbers."""
    from agnbench.interpretability import gradients as G

    tc = getattr(run_cfg, track)
    model, meta = load_run_model(run, tc)
    data = TrackData(track, store, tc, run_cfg.seed)
    x, scalars = _inputs(data, positions)
    y = data.labels(positions)
    with torch.inference_mode():
        logits = torch.cat([model(x[i : i + 256]) if scalars is None else model(x[i : i + 256], scalars[i : i + 256])
                            for i in range(0, x.shape[0], 256)])
    predicted = logits.argmax(1)
    target = predicted if ec.target == "predicted" or (y < 0).any() else torch.from_numpy(y)
    classes = store.classes
    kind = ec.spectra_baseline if track == "spectra" else ec.image_baseline
    if kind == "continuum" and store.manifest.get("prep", {}).get("mask_lines"):
        kind = "class_mean"  # the lines are already blanked: the continuum baseline would equal the input
    if track == "spectra" and kind == "continuum" and store.spectra_frame == "observed":
        log.info("%s: observed-frame spectra have no fixed line positions; IG baseline class_mean instead of "
                 "continuum", store.path)
        kind = "class_mean"
    baseline, refs = _baseline(track, kind, x, data, store, ec, seed)
    summary: dict = {"baseline": kind}
    if refs is not None:
        summary["references"] = refs
    table = pd.DataFrame({"object_id": store.objects["object_id"].to_numpy()[positions].astype(str), "label": y,
                          "predicted": predicted.numpy(), "target": target.numpy()})
    bar = tqdm(total=len(methods) + int(ec.sanity_check and "ig" in methods), desc=f"explain {run.name}",
               disable=not progress)
    if "ig" in methods:
        ig, used = _attribute(model, x, baseline, target, ec=ec, scalars=scalars, references=refs is not None)
        np.save(out / files.ATTRIBUTIONS_IG, ig.attr.astype(np.float32))
        table["ig_steps"] = used
        summary["ig"] = _completeness(ig, table, ec.ig_steps)
        bar.update(1)
        free = probes.free_pixels(x.numpy(), baseline.numpy(), references=refs is not None)
        summary.update(_probe(track, ig.attr, y, classes, store, table, out, ec, free=free))
        if ec.sanity_check:
            summary["sanity_check"] = _randomised(model, meta, tc, x, baseline, target, scalars, ig.attr, ec, seed,
                                                  free=free, references=refs is not None)
            bar.update(1)
    if "saliency" in methods:
        sal = G.saliency(model, x, target, scalars=scalars)
        np.save(out / files.ATTRIBUTIONS_SALIENCY, sal.attr.astype(np.float32))
        if track == "spectra" and store.spectra_frame == "rest":
            table["saliency_fraction_in_bpt_windows"] = probes.window_fraction(
                sal.attr, np.load(store.paths.wave))["fraction_in_windows"].to_numpy()
        bar.update(1)
    if "gradcam" in methods:
        cam = G.grad_cam(model, x, target)
        np.save(out / files.ATTRIBUTIONS_GRADCAM, cam.astype(np.float32))
        table["gradcam_central_fraction"] = probes.central_fraction(np.clip(cam, 0, None), _psf_pix(store, ec))
        bar.update(1)
    if "occlusion" in methods:
        summary["occlusion"] = _occlusion(track, model, x, target, scalars, data, store, ec, table, out)
        bar.update(1)
    bar.close()
    atomic_write_parquet(out / files.ATTRIBUTIONS_OBJECTS, table)
    return summary


def _completeness(ig, table: pd.DataFrame, steps: int) -> dict:
    """Record each object's completeness error; refuse the result if more than 20% of objects fail it.

    An object passes when ``|delta| <= 0.1 |f(x) - f(baseline)| + 0.02`` (logits): the absolute
    term keeps objects whose logit barely moves from the baseline from failing on round-off. Each
    object's flag (``ig_complete``) is kept, so a user can restrict any summary to passing objects.
    ``table["ig_steps"]`` holds the path steps each object's adaptive attribution used.
    """
    gap = ig.attr.reshape(len(table), -1).sum(axis=1, dtype=np.float64) - ig.delta
    ok = np.abs(ig.delta) <= 0.1 * np.abs(gap) + 0.02
    table["ig_delta"], table["ig_logit_gap"], table["ig_complete"] = ig.delta, gap, ok
    if ok.mean() < 0.8:
        raise AgnbenchError(f"integrated gradients did not converge for {int((~ok).sum())} of {ok.size} objects with "
                            f"up to {steps} steps (completeness delta above 10% of the logit change); raise "
                            f"explain.ig_steps")
    used = table["ig_steps"].to_numpy()
    return {"steps": steps, "steps_used": {"min": int(used.min()), "median": float(np.median(used)),
                                           "max": int(used.max()), "fraction_refined": float((used > used.min()).mean())},
            "fraction_complete": float(ok.mean()),
            "median_relative_delta": float(np.median(np.abs(ig.delta) / np.maximum(np.abs(gap), 1e-3))),
            "max_abs_delta": float(np.abs(ig.delta).max())}


def _inputs(data: TrackData, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
    xs, ss = [], []
    for i in range(0, positions.size, 512):
        x, s = data.inputs(positions[i : i + 512])
        xs.append(x)
        ss.append(s)
    return torch.cat(xs), (None if ss[0] is None else torch.cat(ss))


def _baseline(track: str, kind: str, x: torch.Tensor, data: TrackData, store: Store, ec,
              seed: int) -> tuple[torch.Tensor, dict | None]:
    """The IG baseline (one per object) or, for expected gradients, the reference set and its description.

    Images: zeros / blurred. Spectra: ``expected_gradients`` (``ec.eg_references`` class-balanced training
    spectra, seeded), ``continuum``, the mean SF training spectrum (``class_mean``) or zeros.
    """
    from agnbench.interpretability import ig_baselines as B
    from agnbench.seeding import rng

    xn = x.numpy()
    refs = None
    if track == "images":
        base = B.zero_baseline(xn) if kind == "zeros" else B.blurred_baseline(xn, 2.0)
    elif kind == "expected_gradients":
        train = data.indices("train")
        labels = data.labels(train)
        pick = train[B.reference_rows(labels, ec.eg_references, rng=rng(seed, "explain", "references"))]
        base = data.inputs(pick)[0].numpy()
        chosen = data.labels(pick)
        refs = {"n": int(pick.size), "split": "train", "selection": "class-balanced, seeded",
                "per_class": {str(store.classes[c]) if 0 <= c < len(store.classes) else str(c): int((chosen == c).sum())
                              for c in np.unique(chosen)},
                "note": "expected gradients (Erion et al. 2021): IG averaged over these training spectra; "
                        "completeness is against f(x) minus the mean logit of the references"}
    elif kind == "continuum":
        base = B.continuum_baseline(xn, np.load(store.paths.wave))
    elif kind == "class_mean":
        train = data.indices("train")
        sf = train[data.labels(train) == 0][:2000]
        base = B.class_mean_baseline(data.inputs(sf)[0].numpy(), xn.shape[0])
    else:
        base = B.zero_baseline(xn)
    return torch.from_numpy(np.ascontiguousarray(base, dtype=np.float32)), refs


def _attribute(model, x, baseline, target, *, ec, scalars, references: bool):
    """Integrated gradients against one baseline per object, or expected gradients over a reference set.

    Adaptive steps (:func:`~agnbench.interpretability.adaptive_steps.refine_steps`): every object starts
    at ``ec.ig_min_steps`` and is refined (doubling) up to ``ec.ig_steps`` while its completeness error
    exceeds 5% of its logit change + 0.01. Returns the attribution and the (n,) steps each object used.
    """
    from agnbench.interpretability import gradients as G
    from agnbench.interpretability.adaptive_steps import refine_steps

    def attribute(rows: np.ndarray, steps: int):
        idx = torch.from_numpy(rows)
        sub = dict(steps=steps, scalars=None if scalars is None else scalars[idx], check=False)
        if references:
            return G.expected_gradients(model, x[idx], baseline, target[idx], **sub)
        return G.integrated_gradients(model, x[idx], baseline[idx], target[idx], **sub)

    return refine_steps(attribute, x.shape[0], min_steps=min(ec.ig_min_steps, ec.ig_steps), max_steps=ec.ig_steps)


def _psf_pix(store: Store, ec) -> float:
    meta = read_json(store.paths.images_meta, fix="re-run agnbench prep")
    return ec.psf_fwhm_arcsec / float(meta.get("pixel_scale_arcsec", 0.262))


def _probe(track: str, attr: np.ndarray, y: np.ndarray, classes, store: Store, table: pd.DataFrame, out: Path,
           ec, *, free: np.ndarray | None = None) -> dict:
    if track == "spectra":
        wave = np.load(store.paths.wave)
        if store.spectra_frame == "observed":  # rest-frame line windows mean nothing on an observed grid
            atomic_write_text(out / files.ATTRIBUTIONS_STACKED,
                              probes.stack_by_class(attr[:, 0], wave, y, classes).to_csv(index=False))
            log.info("%s: observed-frame spectra; the BPT-window probe is skipped", store.path)
            return {"bpt_windows": None, "frame": "observed"}
        frac = probes.window_fraction(attr[:, :1], wave, free=None if free is None else free[:, 0])  # flux channel
        table["ig_fraction_in_bpt_windows"] = frac["fraction_in_windows"].to_numpy()
        for col in ("free_share", "fraction_in_free", "enrichment_vs_free"):
            table[f"ig_{col}"] = frac[col].to_numpy()
        atomic_write_text(out / files.ATTRIBUTIONS_STACKED,
                          probes.stack_by_class(attr[:, 0], wave, y, classes).to_csv(index=False))
        return {"bpt_windows": {"median_fraction": float(np.nanmedian(frac["fraction_in_windows"])),
                                "grid_share": float(frac["grid_share"].iloc[0]),
                                "median_enrichment": float(np.nanmedian(frac["enrichment"])),
                                "median_free_share": float(np.nanmedian(frac["free_share"])),
                                "median_fraction_in_free": float(np.nanmedian(frac["fraction_in_free"])),
                                "median_windows_share_of_free": float(np.nanmedian(frac["windows_share_of_free"])),
                                "median_enrichment_vs_free": float(np.nanmedian(frac["enrichment_vs_free"])),
                                "note": "enrichment: fraction of |IG| in the BPT windows over their share of the "
                                        "grid; enrichment_vs_free: the same within the pixels where the input "
                                        "differs from the baseline (IG is zero elsewhere by construction)"}}
    bands = read_json(store.paths.images_meta, fix="re-run agnbench prep").get("bands", "grz")
    psf = _psf_pix(store, ec)
    profile = probes.radial_profile(attr, unit_pix=psf, edges=_IMAGE_EDGES)
    for j, lo in enumerate(_IMAGE_EDGES):
        table[f"ig_radial_{lo:g}fwhm"] = profile[:, j]
    table["ig_central_fraction"] = probes.central_fraction(attr, psf)
    band = probes.band_fractions(attr, list(bands))
    for col in band.columns:
        table[f"ig_{col}"] = band[col].to_numpy()
    return {"psf_fwhm_pix": psf, "median_central_fraction": float(np.nanmedian(table["ig_central_fraction"])),
            "mean_band_fractions": {c: float(band[c].mean()) for c in band.columns}}


def _randomised(model, meta: dict, tc, x, baseline, target, scalars, attr: np.ndarray, ec, seed: int, *,
                free: np.ndarray, references: bool) -> dict:
    arch = meta["architecture"]
    fresh = build_model(meta["track"], tc, in_channels=arch["in_channels"], n_classes=arch["n_classes"],
                        n_scalars=arch.get("n_scalars", 0), seed=seed + 1).eval()
    m = min(64, x.shape[0])
    rand, _ = _attribute(fresh, x[:m], baseline if references else baseline[:m], target[:m], ec=ec,
                      scalars=None if scalars is None else scalars[:m], references=references)
    moved = free[:m]  # elsewhere IG is zero for any model
    rho = [spearmanr(attr[i][moved[i]], rand.attr[i][moved[i]]).statistic if moved[i].sum() > 2 else np.nan
           for i in range(m)]
    return {"n": m, "median_spearman_trained_vs_reinitialised": float(np.nanmedian(rho)),
            "note": "Adebayo et al. (2018): Spearman correlation of the signed attributions over the inputs that "
                    "differ from the baseline; close to 1 would mean they do not depend on what was learned"}


def _occlusion(track: str, model, x, target, scalars, data: TrackData, store: Store, ec, table: pd.DataFrame,
               out: Path) -> dict:
    from agnbench.interpretability import occlusion as O

    if track == "spectra":
        wave = np.load(store.paths.wave)
        drops, centres = O.occlude_windows(model, x, target, wave, width_A=40.0, stride_A=20.0, scalars=scalars)
        frame = pd.DataFrame(drops, columns=[f"{c:.0f}" for c in centres])
        frame.insert(0, "object_id", table["object_id"].to_numpy())
        atomic_write_parquet(out / files.ATTRIBUTIONS_OCCLUSION_WINDOWS, frame)
        best = centres[np.argmax(np.nanmean(drops, axis=0))]
        return {"most_important_window_A": float(best)}
    res = O.occlude_centre_outskirts(model, x, target, radius_pix=_psf_pix(store, ec), fill="sky")
    for col in res.columns:
        table[f"occlusion_{col}"] = res[col].to_numpy()
    summary = {f"mean_{c}": float(np.nanmean(res[c])) for c in res.columns if c.startswith(("p_", "drop"))}
    drops, rings = O.occlude_rings(model, x, target, n_rings=_N_RINGS, fill="sky")
    ring_cols = [c for c in drops.columns if c.startswith("drop_ring")]
    for col in ring_cols:
        table[f"occlusion_{col}"] = drops[col].to_numpy()
    summary.update({f"mean_{c}": float(np.nanmean(drops[c])) for c in ring_cols})
    summary["fill"] = "sky: each band's median over the outermost equal-area ring (centre/outskirts: outermost fifth)"
    summary["rings"] = {"n_rings": _N_RINGS, "n_pixels": rings["n_pixels"].tolist(),
                        "r_inner_pix": rings["r_inner_pix"].tolist(), "r_outer_pix": rings["r_outer_pix"].tolist(),
                        "note": "equal-area rings (equal pixel counts), 1 = innermost; drop_ring<j> = p(target) minus "
                                "p(target) with ring j filled by the local sky"}
    return summary
