"""The report's interpretability and error-analysis figures, built from a comparison's runs.

:func:`build_interpretability_figures` reads each run's ``attributions/`` (``agnbench explain``)
and the comparison's ``crosstrack/`` (``agnbench explain --compare``); :func:`build_error_figures`
reads the runs' predictions and the dataset store. Each figure is saved with
:func:`~agnbench.reports.style.save_figure` and a factual caption, each table it is drawn from as
``tables_dir/<name>.csv``. Whatever is missing (a run never explained, the store moved, a
modality absent) is skipped through :class:`~agnbench.reports.skips.Skips` (one INFO log line saying
which figure and why, listed in the report) and fewer records; nothing is invented.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.contracts import files
from agnbench.contracts.run_dir import read_attributions_summary
from agnbench.contracts.store import read_manifest, spectra_frame, store_paths, survey_paths
from agnbench.reports.fig_attribution import (class_mean_spectra, plot_cross_track, plot_image_attribution_examples,
                                              plot_radial_profile, plot_score_drivers, plot_spectral_attribution,
                                              radial_profile_table)
from agnbench.reports.fig_common import gallery_stretch
from agnbench.reports.fig_errors import confident_mistakes, plot_image_gallery, plot_spectrum_gallery
from agnbench.reports.fig_shap import feature_label, plot_shap_beeswarm, plot_shap_dependence
from agnbench.reports.interpret_checks import SECTION_I as _SECTION_I
from agnbench.reports.interpret_checks import group_figure, occlusion_figure, window_text
from agnbench.reports.interpret_checks import slug as _slug
from agnbench.reports.interpret_checks import grid_note, who as _who
from agnbench.reports.interpret_checks import write_table as _table
from agnbench.reports.report_inputs import ReportInputs
from agnbench.reports.skips import Skips
from agnbench.reports.display import relabel
from agnbench.reports.style import FigureRecord, journal_style, new_figure, save_figure
from agnbench.fileio import read_json, read_parquet

log = logging.getLogger(__name__)
_REDO_EXPLAIN = "re-run agnbench explain with --overwrite"

_BASELINES = {"expected_gradients": "expected gradients (Erion et al. 2021): IG averaged over {refs} class-balanced "
                                    "training spectra, a baseline that singles out no wavelength",
              "continuum": "each spectrum's own line-free continuum (emission-line windows bridged by straight lines; "
                           "input and baseline differ only there, so all attribution lies in those windows by "
                           "construction)",
              "class_mean": "the mean training spectrum of the first class ({first})",
              "zeros": "zero input (empty sky for cutouts)",
              "blurred": "the cutout blurred by a Gaussian (sigma 2 pixels)"}
_MARKS = ("dotted lines: [OII] 3727, Hβ, [OIII] 4959/5007, [OI] 6300, Hα, [NII] 6548/6584, [SII] 6717/6731; "
          "dash-dotted: Ca K and H; grey bands: the D4000 continuum windows (3850-3950, 4000-4100 Å)")
_SECTION_E = "errors"
_MAX_EXAMPLES = 6  # image-attribution columns on a 7 in page
_PLAIN = {"z": "redshift", "q_logmass": "stellar mass", "q_g_r": "g − r", "q_d4000_n": "Dn4000",
          "q_sn_median": "median spectral S/N"}


def _baseline(summary: dict, classes: list[str]) -> str:
    """The IG baseline of ``summary.json`` in words (the class-mean baseline is the mean of class 0)."""
    kind = summary.get("baseline")
    text = _BASELINES.get(kind, str(kind if kind is not None else "?"))
    refs = (summary.get("references") or {}).get("n", "several")
    return text.format(first=classes[0] if classes else "class 0", refs=refs)


def _class_names(codes, classes: list[str]) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    return np.array([classes[c] if 0 <= c < len(classes) else "unlabelled" for c in codes], dtype=object)


def build_interpretability_figures(inputs: ReportInputs, *, figures_dir: Path, tables_dir: Path,
                                   k: int = 8, skips: Skips | None = None) -> list[FigureRecord]:
    """SHAP, spectral and image attribution, radial profile and cross-track figures (section ``interpretability``).

    Parameters
    ----------
    inputs : ReportInputs
        The comparison; runs without ``attributions/`` are skipped (logged).
    figures_dir, tables_dir : Path
        Where figures (PDF + PNG) and their tables (CSV) go.
    k : int
        Example cutouts shown in the image-attribution figure (at most).
    skips : Skips, optional
        Collects the figures skipped for want of input (and logs each once).

    Returns
    -------
    list of FigureRecord
    """
    skips = Skips() if skips is None else skips
    records: list[FigureRecord] = []
    for run in inputs.runs:
        if run.attributions is None:
            skips.skip(f"Interpretability figures of {run.shown}",
                       f"the run has no completed attributions (run `agnbench explain {run.path}`)", logger=log)
            continue
        summary = read_attributions_summary(run.path)
        build = {"catalog": _catalog, "spectra": _spectra, "images": _images}.get(run.track)
        if build is None:
            skips.skip(f"Interpretability figures of {run.shown}", f"no figures are defined for track {run.track!r}",
                       logger=log)
            continue
        with journal_style():
            records += build(run, summary, inputs, Path(figures_dir), Path(tables_dir), k, skips)
    if inputs.cross_track is not None:
        with journal_style():
            records += _cross_track(inputs, Path(figures_dir), Path(tables_dir), skips)
    elif len(inputs.runs) > 1:
        skips.skip("Cross-track figures", f"the comparison has no crosstrack/ (run `agnbench explain --compare "
                   f"RUN... --out {inputs.comparison}/crosstrack`)", logger=log)
    return records


def _catalog(run, summary, inputs, fig_dir, tab_dir, k, skips) -> list[FigureRecord]:
    att = run.attributions
    what = f"SHAP figures of {run.shown}"
    if not (att / files.ATTRIBUTIONS_SHAP).exists():
        skips.skip(what, f"no shap.parquet in {att}", logger=log)
        return []
    shap = read_parquet(att / files.ATTRIBUTIONS_SHAP, fix=_REDO_EXPLAIN)
    info = summary.get("shap", {})
    output = info.get("output", "log-odds")
    feats = [c for c in shap.columns if c not in ("object_id", "class_out", "base")]  # the model's own columns
    if shap.empty or "class_out" not in shap.columns or not feats:
        skips.skip(what, "shap.parquet holds no feature columns or no rows", logger=log)
        return []
    class_out = int(shap["class_out"].max())
    positive = inputs.classes[class_out] if class_out < len(inputs.classes) else None
    values = inputs.objects[["object_id", *[f for f in feats if f in inputs.objects.columns]]] \
        if inputs.objects is not None else None
    top = min(10, len(feats))
    n = int(shap["object_id"].nunique())
    base = (f"{_who(run)}: {info.get('method', 'TreeSHAP')}, on {n} {summary.get('split', 'test')} objects "
            f"(a seeded, class-stratified subset); SHAP values in {output}"
            f"{' of ' + positive if positive else ''}; maximum additivity error "
            f"{info.get('max_additivity_error', float('nan')):.1e}.")
    names = []
    if (att / files.ATTRIBUTIONS_IMPORTANCE).exists():
        imp = pd.read_csv(att / files.ATTRIBUTIONS_IMPORTANCE)
        imp.insert(2, "label", [feature_label(f) for f in imp["feature"]])
        names.append(_table(tab_dir, f"shap_importance_{_slug(run.name)}", imp))
    fig, ax = new_figure("column", aspect=0.3 + 0.075 * top)
    plot_shap_beeswarm(shap, values, ax=ax, top=top, class_out=class_out, output=output, positive=positive)
    colour = ("colour = rank of the feature's value among the explained objects (low to high)" if values is not None
              else "one colour (the store's feature values were not available)")
    out = [save_figure(fig, fig_dir, f"shap_beeswarm_{_slug(run.name)}", section=_SECTION_I,
                       title=f"SHAP summary: {run.shown}", tables=names,
                       caption=f"{base} Rows: the {top} features with the largest mean |SHAP|, largest at the top; "
                               f"each point is one object, jittered vertically by local density; {colour}.")]
    out += group_figure(run, shap, feats, att, base, fig_dir, tab_dir, class_out, output, positive)
    if (att / files.ATTRIBUTIONS_DEPENDENCE).exists():
        dep = read_parquet(att / files.ATTRIBUTIONS_DEPENDENCE, fix=_REDO_EXPLAIN)
        ranked = shap[shap["class_out"] == class_out][feats].abs().mean().sort_values(ascending=False).index
        show = [f for f in ranked if f in set(dep["feature"])][:4]
        if show:
            fig, axs = new_figure("page", aspect=0.3 if len(show) > 2 else 0.4, ncols=len(show))
            for a, f in zip(np.atleast_1d(axs), show):
                plot_shap_dependence(dep, f, ax=a, class_out=class_out, output=output, positive=positive)
            out.append(save_figure(fig, fig_dir, f"shap_dependence_{_slug(run.name)}", section=_SECTION_I,
                                   title=f"SHAP dependence: {run.shown}", tables=names,
                                   caption=f"{base} SHAP value against feature value for the {len(show)} most "
                                           f"important features; black line: median in quantile bins."))
    return out


def _spectra(run, summary, inputs, fig_dir, tab_dir, k, skips) -> list[FigureRecord]:
    att = run.attributions
    if not (att / files.ATTRIBUTIONS_STACKED).exists():
        skips.skip(f"Spectral attribution figure of {run.shown}", "no stacked_by_class.csv (IG was not computed)",
                   logger=log)
        return []
    stacked = pd.read_csv(att / files.ATTRIBUTIONS_STACKED)
    names = [_table(tab_dir, f"spectral_attribution_{_slug(run.name)}", stacked)]
    mean = None
    if inputs.store is not None and inputs.objects is not None and store_paths(inputs.store).flux.exists():
        expl = read_parquet(att / files.ATTRIBUTIONS_OBJECTS, columns=["object_id", "label"], fix=_REDO_EXPLAIN)
        expl = expl.astype({"object_id": str})
        rows = inputs.objects.assign(object_id=inputs.objects["object_id"].astype(str))[["object_id", "spec_row"]]
        expl = expl.merge(rows, on="object_id", how="left", validate="one_to_one")
        expl = expl[expl["spec_row"].fillna(-1).to_numpy() >= 0]
        if len(expl):
            idx = expl["spec_row"].to_numpy(np.int64)
            order = np.argsort(idx)
            spec = store_paths(inputs.store)
            flux = np.load(spec.flux, mmap_mode="r")[idx[order]]
            ivar = np.load(spec.ivar, mmap_mode="r")[idx[order]] if spec.ivar.exists() else None
            labels = _class_names(expl["label"].to_numpy()[order], inputs.classes)
            mean = class_mean_spectra(flux, np.load(spec.wave), labels, ivar=ivar)
            names.append(_table(tab_dir, f"mean_spectra_{_slug(run.name)}", mean))
    else:
        log.info("run %s: store spectra not available; the class-mean spectra panel is left out", run.name)
    fig, axs = new_figure("page", aspect=0.55 if mean is not None else 0.3, nrows=2 if mean is not None else 1,
                          sharex=True)
    frame = spectra_frame(read_manifest(inputs.store)) if inputs.store is not None else "rest"
    plot_spectral_attribution(stacked, ax=axs, mean_spectra=mean, frame=frame)
    ig, win = summary.get("ig", {}), summary.get("bpt_windows", {})
    check = (f" Completeness: {ig.get('fraction_complete', float('nan')):.0%} of objects within tolerance "
             f"({ig.get('steps', '?')} steps)." if ig else "")
    frac = window_text(win) if win else ""
    top = "Top: class-mean normalised spectra of the same objects. " if mean is not None else ""
    cap = (f"{_who(run)}: Integrated Gradients of the {summary.get('target', 'predicted')}-class logit on "
           f"{summary.get('n', '?')} {summary.get('split', 'test')} spectra, baseline: "
           f"{_baseline(summary, inputs.classes)}. {top}Bottom: mean |IG| of the "
           f"flux channel per pixel, stacked by true class (n per class in the legend), against {frame} "
           f"wavelength.{frac}{check}" + (f" {_MARKS}." if frame == "rest" else ""))
    return [save_figure(fig, fig_dir, f"spectral_attribution_{_slug(run.name)}", section=_SECTION_I,
                        title=f"Spectral attribution: {run.shown}", caption=cap, tables=names)]


def _find_truth(store: Path | None) -> pd.DataFrame | None:
    """The mock survey's ``truth.parquet`` (object_id, ps_frac) next to the raw files the store was prepped from."""
    if store is None or not store_paths(store).manifest.exists():
        return None
    manifest = read_manifest(store)
    for value in (manifest.get("inputs") or {}).values():
        if not isinstance(value, str):
            continue
        raw = Path(value).parent.parent  # raw/<name>/catalog/<table>.fits -> raw/<name>
        for cand in ([raw] if raw.is_absolute() else [store.parent.parent / raw, raw]):  # next to the store first
            if survey_paths(cand).truth.exists():
                truth = read_parquet(survey_paths(cand).truth, fix="re-run agnbench simulate")
                if "ps_frac" in truth.columns:
                    return truth[["object_id", "ps_frac"]].astype({"object_id": str})
    return None


def _step(unit_pix: float) -> float:
    """Annulus width in that unit: a multiple of 0.25 spanning at least 2 pixels (fewer pixels are noise)."""
    return float(np.ceil(2.0 / unit_pix / 0.25) * 0.25) if unit_pix > 0 else 0.25


def _pixel_scale(store: Path | None) -> float | None:
    meta = store_paths(store).images_meta if store is not None else None
    if meta is None or not meta.exists():
        return None
    return float(read_json(meta, fix="re-run agnbench prep").get("pixel_scale_arcsec", 0.262))


def _images(run, summary, inputs, fig_dir, tab_dir, k, skips) -> list[FigureRecord]:
    att = run.attributions
    what = f"Image attribution figures of {run.shown}"
    if not (att / files.ATTRIBUTIONS_IG).exists() or not (att / files.ATTRIBUTIONS_OBJECTS).exists():
        skips.skip(what, f"no ig.npy / objects.parquet in {att}", logger=log)
        return []
    objs = read_parquet(att / files.ATTRIBUTIONS_OBJECTS, fix=_REDO_EXPLAIN).astype({"object_id": str})
    ig = np.load(att / files.ATTRIBUTIONS_IG, mmap_mode="r")
    if len(objs) != ig.shape[0]:
        log.warning("run %s: ig.npy has %d rows but objects.parquet %d", run.name, ig.shape[0], len(objs))
        skips.skip(what, "ig.npy and objects.parquet disagree in length", logger=log)
        return []
    ig = np.asarray(ig, dtype=np.float32)
    labels = _class_names(objs["label"].to_numpy(), inputs.classes)
    groups = labels.astype(str)
    truth = _find_truth(inputs.store)
    ps = None if truth is None else objs[["object_id"]].merge(truth, on="object_id", how="left",
                                                              validate="one_to_one")["ps_frac"].to_numpy()
    if ps is not None and not np.isfinite(ps).all():
        log.info("run %s: the truth table found does not cover the explained objects; no point-source split", run.name)
        truth = None
    if truth is not None:
        pos = (groups == inputs.positive) & np.isfinite(ps)
        groups = np.where(pos & (ps > 0), f"{inputs.positive}, point source",
                          np.where(pos, f"{inputs.positive}, no point source", groups))
    base = (f"{_who(run)}: Integrated Gradients ({summary.get('ig', {}).get('steps', '?')} steps) of the "
            f"{summary.get('target', 'predicted')}-class logit on {len(objs)} {summary.get('split', 'test')} cutouts, "
            f"baseline: {_baseline(summary, inputs.classes)}.")
    out = _radial_figure(run, summary, inputs, objs, ig, groups, truth is not None, base, fig_dir, tab_dir, skips)
    out += occlusion_figure(run, summary, objs, groups, truth is not None, fig_dir, tab_dir, skips)
    return out + _example_figure(run, summary, inputs, objs, ig, groups, base, fig_dir, k, skips)


def _radial_figure(run, summary, inputs, objs, ig, groups, split_by_truth, base, fig_dir, tab_dir,
                   skips) -> list[FigureRecord]:
    psf, scale = summary.get("psf_fwhm_pix"), _pixel_scale(inputs.store)
    half = min(ig.shape[-2:]) / 2
    parts, units, widths = [], [], []
    if psf:
        parts.append(radial_profile_table(ig, groups, unit_pix=psf, unit="psf_fwhm",
                                          edges=np.arange(0, half / psf + 1e-9, _step(psf))))
        units.append("psf_fwhm")
        widths.append(f"{_step(psf):g} PSF FWHM")
    if scale and inputs.objects is not None and "feat_petror50_r" in inputs.objects.columns:
        r50 = objs[["object_id"]].merge(inputs.objects.assign(object_id=inputs.objects["object_id"].astype(str))[
            ["object_id", "feat_petror50_r"]], on="object_id", how="left", validate="one_to_one")["feat_petror50_r"]
        r50_pix = r50.to_numpy(np.float64) / scale
        ok = np.isfinite(r50_pix) & (r50_pix > 0)
        if ok.sum() > 1:
            step = _step(float(np.median(r50_pix[ok])))
            parts.append(radial_profile_table(ig[ok], groups[ok], unit_pix=r50_pix[ok], unit="r50",
                                              edges=np.arange(0, 5.0 + 1e-9, step)))
            units.append("r50")
            widths.append(f"{step:g} R50")
    if not parts:
        skips.skip(f"Radial attribution profile of {run.shown}", "neither the PSF FWHM nor galaxy sizes are known",
                   logger=log)
        return []
    prof = pd.concat(parts, ignore_index=True)
    names = [_table(tab_dir, f"radial_profile_{_slug(run.name)}", prof)]
    fig, axs = new_figure("column" if len(units) == 1 else "page", aspect=0.75 if len(units) == 1 else 0.38,
                          ncols=len(units))
    for a, u in zip(np.atleast_1d(axs), units):
        plot_radial_profile(prof, ax=a, unit=u)
    split = (f"; {inputs.positive} split by the mock's planted nuclear point source (truth.parquet ps_frac > 0)"
             if split_by_truth else "")
    psf_txt = (f"; dotted line: 1 PSF FWHM = {psf:.1f} pixels" + (f" = {psf * scale:.2f} arcsec" if scale else "")
               if psf else "")
    r50_txt = "; right: radius in units of each galaxy's catalog Petrosian r-band R50" if "r50" in units else ""
    return [save_figure(
        fig, fig_dir, f"radial_profile_{_slug(run.name)}", section=_SECTION_I, tables=names,
        title=f"Radial profile of image attribution: {run.shown}",
        caption=f"{base} |IG| summed over g, r, z with each object's map scaled to mean 1 over the cutout, averaged in "
                f"annuli ({' and '.join(widths)} wide) around the cutout centre, per true class{split}; bands: ±1 "
                f"standard error over objects; horizontal line: no radial preference{psf_txt}{r50_txt}.")]


def _example_figure(run, summary, inputs, objs, ig, groups, base, fig_dir, k, skips) -> list[FigureRecord]:
    cams = run.attributions / files.ATTRIBUTIONS_GRADCAM
    psf = summary.get("psf_fwhm_pix")
    if inputs.store is None or inputs.objects is None or not store_paths(inputs.store).cutouts.exists() \
            or not cams.exists():
        skips.skip(f"Image attribution examples of {run.shown}", "the store's cutouts or gradcam.npy are not available",
                   logger=log)
        return []
    rows = objs[["object_id"]].merge(inputs.objects.assign(object_id=inputs.objects["object_id"].astype(str))[
        ["object_id", "image_row"]], on="object_id", how="left", validate="one_to_one")["image_row"]
    good = (objs["predicted"].to_numpy() == objs["label"].to_numpy()) & (rows.fillna(-1).to_numpy() >= 0)
    if "ig_complete" in objs.columns:
        good &= objs["ig_complete"].to_numpy(bool)
    gap = objs.get("ig_logit_gap", pd.Series(0.0, index=objs.index)).abs().to_numpy()
    uniq = list(pd.unique(groups))
    shown = min(k, _MAX_EXAMPLES)
    per = max(1, shown // max(len(uniq), 1))
    pick = [i for g in uniq for i in sorted(np.flatnonzero(good & (groups == g)), key=lambda i: -gap[i])[:per]][:shown]
    if not pick:
        skips.skip(f"Image attribution examples of {run.shown}", "no correctly classified object with an image among "
                   "the explained", logger=log)
        return []
    cut = np.load(store_paths(inputs.store).cutouts, mmap_mode="r")
    image_rows = rows.to_numpy(np.int64)[pick]
    cutouts = np.stack([np.asarray(cut[r], dtype=np.float32) for r in image_rows])
    stretch = gallery_stretch(cutouts)
    axs = plot_image_attribution_examples(cutouts, ig[pick], np.load(cams, mmap_mode="r")[pick],
                                          [f"{objs['object_id'].iloc[i]}\n{groups[i]}" for i in pick],
                                          stretch=stretch, psf_fwhm_pix=psf)
    return [save_figure(
        axs[0, 0].figure, fig_dir, f"image_attribution_{_slug(run.name)}", section=_SECTION_I,
        title=f"Image attribution examples: {run.shown}",
        caption=f"{base} Columns: up to {per} correctly classified objects per group (largest |logit change| from the "
                f"baseline first; titles: object id, true class). Top: grz composite (red z, green r, blue g; "
                f"{stretch.describe()}). Middle: IG summed over bands (red towards the explained class, blue against; "
                f"symmetric colour scale per object at the 99.5th percentile of |IG|; dashed circle: radius 1 PSF "
                f"FWHM). Bottom: Grad-CAM of the last stage, upsampled to the cutout and scaled to its maximum, over "
                f"the mean of the three bands.{grid_note(run, ig[pick])}")]


def _cross_track(inputs, fig_dir, tab_dir, skips) -> list[FigureRecord]:
    ct = inputs.cross_track
    if not (ct / files.CROSSTRACK_SCORES).exists() or not (ct / files.CROSSTRACK_CORRELATIONS).exists():
        skips.skip("Cross-track figures", f"{ct} lacks scores.parquet / correlations.csv", logger=log)
        return []
    scores = read_parquet(ct / files.CROSSTRACK_SCORES, fix=_REDO_EXPLAIN).astype({"object_id": str})
    corr = pd.read_csv(ct / files.CROSSTRACK_CORRELATIONS)
    preds = inputs.runs[0].predictions
    truth = preds[preds["split"] == inputs.split][["object_id", "y_true"]].astype({"object_id": str})
    n = len(scores)
    scores = scores.merge(truth, on="object_id", how="left", validate="one_to_one")
    assert len(scores) == n, "joining the true classes changed the number of cross-track objects"
    scores["true_class"] = _class_names(scores["y_true"].fillna(-1).to_numpy(), inputs.classes)
    names = [_table(tab_dir, "cross_track_correlations", corr)]
    if (ct / files.CROSSTRACK_DISAGREEMENTS).exists():
        names.append(_table(tab_dir, "cross_track_disagreements", pd.read_csv(ct / files.CROSSTRACK_DISAGREEMENTS)))
    axs = plot_cross_track(scores.rename(columns=inputs.display), relabel(corr, inputs.display),
                           positive=inputs.positive)
    out = [save_figure(axs[0].figure, fig_dir, "cross_track_scores", section=_SECTION_I, tables=names,
                       title=f"Cross-track agreement of the {inputs.positive} scores",
                       caption=f"p({inputs.positive}) of each pair of runs on the {n} {inputs.split} objects every run "
                               f"scored, coloured by true class; logit axes (probabilities clipped to "
                               f"[1e-4, 1 - 1e-4]); "
                               f"grey line: equal scores; Spearman rank correlation and n in each panel.")]
    if (ct / files.CROSSTRACK_DRIVERS).exists():
        drivers = pd.read_csv(ct / files.CROSSTRACK_DRIVERS)
        fig, ax = new_figure("column", aspect=0.25 + 0.1 * drivers["property"].nunique())
        plot_score_drivers(relabel(drivers, inputs.display), ax=ax, colors=inputs.colors, positive=inputs.positive)
        props = ", ".join(_PLAIN.get(p, p) for p in pd.unique(drivers["property"]))
        out.append(save_figure(fig, fig_dir, "score_drivers", section=_SECTION_I,
                               tables=[_table(tab_dir, "score_drivers", drivers)],
                               title=f"What drives each track's {inputs.positive} score",
                               caption=f"Spearman rank correlation of each run's p({inputs.positive}) with {props} "
                                       f"over "
                                       f"the {int(drivers['n'].max())} shared {inputs.split} objects (store catalog "
                                       f"values)."))
    return out


def build_error_figures(inputs: ReportInputs, *, figures_dir: Path, tables_dir: Path, k: int = 8,
                        skips: Skips | None = None) -> list[FigureRecord]:
    """Each run's ``k`` most confident mistakes on the comparison split: table, image and spectrum galleries.

    Writes ``tables_dir/mistakes_<run>.csv`` for every run (ids and store properties for follow-up)
    and, when the store is available, the galleries ``mistakes_images_<run>`` and
    ``mistakes_spectra_<run>`` (section ``errors``).

    skips : Skips, optional
        Collects the galleries skipped for want of input (and logs each once).

    Returns
    -------
    list of FigureRecord
    """
    skips = Skips() if skips is None else skips
    records: list[FigureRecord] = []
    store, objects = inputs.store, inputs.objects
    have_img = store is not None and store_paths(store).cutouts.exists()
    have_spec = store is not None and store_paths(store).flux.exists()
    if store is None:
        skips.skip("Mistake galleries", "the dataset store was not found (pass --data); mistakes tables only",
                   logger=log)
    elif not (have_img or have_spec):
        skips.skip("Mistake galleries", "the store has no spectra or images (a catalog-only store); mistakes tables "
                   "only", logger=log)
    for run in inputs.runs:
        table = confident_mistakes(run.predictions, split=inputs.split, k=k, classes=inputs.classes, objects=objects)
        name = _table(tables_dir, f"mistakes_{_slug(run.name)}", table)
        if table.empty:
            log.info("run %s made no mistake on %s; no gallery", run.name, inputs.split)
            continue
        titles = [f"{r.object_id}\n{r.true} → {r.predicted}, p = {r.p:.2f}" for r in table.itertuples()]
        what = (f"{_who(run)}: the {len(table)} {inputs.split} objects with the highest probability on a wrong class "
                f"(left to right, top to bottom; titles: object id, true → predicted class, that probability). Ids "
                f"and properties in tables/{name}.csv.")
        with journal_style():
            if have_img and "image_row" in table.columns:
                records += _image_gallery(run, table, titles, what, store, figures_dir, name)
            if have_spec and "spec_row" in table.columns:
                records += _spectrum_gallery(run, table, titles, what, store, figures_dir, name)
    return records


def _rows(table: pd.DataFrame, column: str) -> np.ndarray:
    return table[column].fillna(-1).to_numpy(np.int64)


def _image_gallery(run, table, titles, what, store, figures_dir, name) -> list[FigureRecord]:
    rows = _rows(table, "image_row")
    if (rows < 0).all():
        log.info("run %s: none of its mistakes has an image; image gallery skipped", run.name)
        return []
    cut = np.load(store_paths(store).cutouts, mmap_mode="r")
    shape = cut.shape[1:]
    cutouts = np.stack([np.asarray(cut[r], dtype=np.float32) if r >= 0 else np.full(shape, np.nan, np.float32)
                        for r in rows])
    stretch = gallery_stretch(cutouts[rows >= 0])
    axs = plot_image_gallery(cutouts, titles, stretch=stretch)
    scale = _pixel_scale(store)
    size = f" {shape[-1]}×{shape[-2]} pixels" + (f" of {scale:g} arcsec" if scale else "") + "."
    return [save_figure(axs[0].figure, figures_dir, f"mistakes_images_{_slug(run.name)}", section=_SECTION_E,
                        title=f"Confident mistakes (images): {run.shown}", tables=[name],
                        caption=f"{what} grz composites (red z, green r, blue g), {stretch.describe()};{size}")]


def _spectrum_gallery(run, table, titles, what, store, figures_dir, name) -> list[FigureRecord]:
    rows = _rows(table, "spec_row")
    if (rows < 0).all():
        log.info("run %s: none of its mistakes has a spectrum; spectrum gallery skipped", run.name)
        return []
    spec = store_paths(store)
    wave = np.load(spec.wave)
    flux_mm = np.load(spec.flux, mmap_mode="r")
    ivar_mm = np.load(spec.ivar, mmap_mode="r") if spec.ivar.exists() else None
    flux = np.stack([np.asarray(flux_mm[r], np.float64) if r >= 0 else np.full(wave.size, np.nan) for r in rows])
    ivar = None if ivar_mm is None else np.stack([np.asarray(ivar_mm[r]) if r >= 0 else np.ones(wave.size)
                                                  for r in rows])
    manifest = read_manifest(store)
    frame = spectra_frame(manifest)
    axs = plot_spectrum_gallery(wave, flux, titles, ivar=ivar, frame=frame)
    prep, grid = manifest.get("prep", {}), manifest.get("spectra") or {}
    norm = (" (f_λ divided by its median |f_λ| over the grid)" if grid.get("norm") == "median_abs" else
            f" (f_λ divided by its median at {prep['norm_wave_min']:g}-{prep['norm_wave_max']:g} Å)"
            if "norm_wave_min" in prep and "norm_wave_max" in prep else "")
    return [save_figure(axs[0].figure, figures_dir, f"mistakes_spectra_{_slug(run.name)}", section=_SECTION_E,
                        title=f"Confident mistakes (spectra): {run.shown}", tables=[name],
                        caption=f"{what} Normalised flux{norm} against {frame} wavelength; pixels with zero "
                                f"inverse variance are not drawn"
                                + (f"; {_MARKS.split('; grey')[0]}." if frame == "rest" else "."))]
