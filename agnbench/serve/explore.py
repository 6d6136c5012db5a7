"""What the explorer shows, as plain functions of a comparison directory (no web framework here).

:func:`open_explorer` reads a comparison (docs/contracts.md, Contract 4) once, through the report's
reader (:func:`agnbench.reports.report_inputs.load_report_inputs`: the runs' predictions, their
``attributions/`` and the dataset store they were trained on). The functions below take the
:class:`Explorer` and return tables and matplotlib figures drawn with the report's own plotting
functions, so the web app (:mod:`agnbench.serve.app`) only lays them out and a test can call them
without a browser:

- :func:`object_table`: the compared objects (the comparison's split, present in every run) with
  each run's probability of the positive class;
- :func:`object_probabilities`: every run's class probabilities and decision for one object;
- :func:`spectrum_figure`: its spectrum with the emission lines marked and, when a spectra run
  explained it, the Integrated Gradients attribution below;
- :func:`cutout_figure`: its grz cutout with IG and Grad-CAM when an images run explained it;
- :func:`shap_waterfall`: the catalog run's SHAP values for it, as a waterfall from the base value;
- :func:`mistakes`: a run's most confident mistakes (the report's table) with their cutouts and spectra.

Nothing here is recomputed: probabilities are the runs' ``predictions.parquet``, attributions the
arrays ``agnbench explain`` wrote. An object that was not explained has no attribution panel, and
the figure says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from agnbench.contracts import files
from agnbench.contracts.comparison import comparison_complete
from agnbench.contracts.store import read_manifest, spectra_frame, store_paths
from agnbench.errors import AgnbenchError
from agnbench.fileio import read_json, read_parquet
from agnbench.reports.fig_attribution import plot_image_attribution_examples
from agnbench.reports.fig_common import gallery_stretch, grz_rgb, mark_lines
from agnbench.reports.fig_errors import confident_mistakes, plot_image_gallery, plot_spectrum_gallery
from agnbench.reports.fig_shap import feature_label
from agnbench.reports.report_inputs import ReportInputs, RunInfo, load_report_inputs
from agnbench.reports.style import journal_style, new_figure

log = logging.getLogger(__name__)

__all__ = ["Explorer", "open_explorer", "object_table", "object_probabilities", "spectrum_figure", "cutout_figure",
           "shap_waterfall", "mistakes", "plot_spectrum"]

#: Features shown one by one in a SHAP waterfall; the rest are summed into one bar.
WATERFALL_TOP = 10


@dataclass
class Explorer:
    """A comparison opened for browsing.

    Attributes
    ----------
    inputs : ReportInputs
        The comparison, its runs (predictions, attributions) and the dataset store (``store`` and
        ``objects`` are None when the store was not found unchanged: no spectra or cutouts then).
    """

    inputs: ReportInputs
    _arrays: dict = field(default_factory=dict, repr=False)
    _attr: dict = field(default_factory=dict, repr=False)

    @property
    def comparison(self) -> Path:
        """The comparison directory."""
        return self.inputs.comparison

    @property
    def classes(self) -> list[str]:
        """Class names in label order."""
        return list(self.inputs.classes)

    @property
    def positive(self) -> str:
        """The class whose probability is the score (the last one, e.g. ``agn``)."""
        return self.inputs.positive

    def runs(self, track: str | None = None) -> list[RunInfo]:
        """The compared runs, of one track if given, in ``inputs.yaml`` order."""
        return [r for r in self.inputs.runs if track is None or r.track == track]

    def run(self, name: str) -> RunInfo:
        """The run called ``name``; AgnbenchError naming the runs if there is none."""
        try:
            return self.inputs.run(name)
        except KeyError:
            raise AgnbenchError(f"{self.comparison}: no run {name!r}; runs: "
                                f"{', '.join(r.name for r in self.inputs.runs)}") from None

    def store_array(self, name: str) -> np.ndarray | None:
        """The store's ``wave`` / ``flux`` / ``ivar`` / ``cutouts`` array (memory-mapped), or None if absent."""
        if name not in self._arrays:
            path = getattr(store_paths(self.inputs.store), name) if self.inputs.store is not None else None
            self._arrays[name] = np.load(path, mmap_mode="r") if path is not None and path.exists() else None
        return self._arrays[name]

    def store_row(self, object_id: str, column: str) -> int:
        """The object's ``spec_row`` / ``image_row`` in the store (-1: none, or no store)."""
        obj = self.inputs.objects
        if obj is None or column not in obj.columns:
            return -1
        hit = obj.loc[obj["object_id"].astype(str) == str(object_id), column]
        return int(hit.iloc[0]) if len(hit) else -1

    @property
    def spectra_frame(self) -> str:
        """``rest`` or ``observed``: the frame of the store's wavelength grid."""
        if self.inputs.store is None or not store_paths(self.inputs.store).manifest.exists():
            return "rest"
        return spectra_frame(read_manifest(self.inputs.store))

    def attributions(self, run: RunInfo) -> dict:
        """A run's attribution arrays keyed by name, with ``ids`` (object id -> row); empty if not explained."""
        if run.name in self._attr:
            return self._attr[run.name]
        out: dict = {}
        att = run.attributions
        if att is not None:
            if (att / files.ATTRIBUTIONS_SHAP).exists():
                out["shap"] = read_parquet(att / files.ATTRIBUTIONS_SHAP, fix="re-run agnbench explain").astype(
                    {"object_id": str})
            if (att / files.ATTRIBUTIONS_OBJECTS).exists():
                objs = read_parquet(att / files.ATTRIBUTIONS_OBJECTS, fix="re-run agnbench explain")
                out["ids"] = {str(o): i for i, o in enumerate(objs["object_id"])}
                for key, name in (("ig", files.ATTRIBUTIONS_IG), ("gradcam", files.ATTRIBUTIONS_GRADCAM)):
                    if (att / name).exists():
                        out[key] = np.load(att / name, mmap_mode="r")
            if (att / files.ATTRIBUTIONS_SUMMARY).exists():
                out["summary"] = read_json(att / files.ATTRIBUTIONS_SUMMARY, fix="re-run agnbench explain")
        self._attr[run.name] = out
        return out

    def explained_by(self, object_id: str, track: str, key: str) -> tuple[RunInfo, int] | None:
        """The first run of ``track`` whose attribution ``key`` covers the object, and its row there."""
        for run in self.runs(track):
            att = self.attributions(run)
            if key == "shap":
                if "shap" in att and (att["shap"]["object_id"] == str(object_id)).any():
                    return run, -1
            elif key in att and str(object_id) in att.get("ids", {}):
                return run, att["ids"][str(object_id)]
        return None


def open_explorer(comparison: str | Path, *, data: str | Path | None = None) -> Explorer:
    """Open a comparison directory (``agnbench compare ... --out DIR``) for browsing.

    Parameters
    ----------
    comparison : path
        The comparison directory (docs/contracts.md, Contract 4).
    data : path, optional
        The dataset store, if it moved since training (default: the one the runs recorded).

    Raises
    ------
    AgnbenchError
        Not a comparison directory (no ``inputs.yaml``), an incomplete one, or a run that vanished.
    """
    comparison = Path(comparison)
    if not comparison_complete(comparison):
        what = "no such directory" if not comparison.exists() else "not a comparison directory (no inputs.yaml)"
        raise AgnbenchError(f"{comparison}: {what}; give a directory made by `agnbench compare RUN... --out DIR` "
                            "(docs/contracts.md, Contract 4)")
    return Explorer(inputs=load_report_inputs(comparison, data=Path(data) if data is not None else None))


def _compared(ex: Explorer) -> pd.DataFrame:
    """Rows of the comparison's split present in every run: object_id and the first run's y_true."""
    ids = None
    for run in ex.runs():
        p = run.predictions
        got = set(p.loc[p["split"] == ex.inputs.split, "object_id"].astype(str))
        ids = got if ids is None else ids & got
    first = ex.runs()[0].predictions
    first = first[first["split"] == ex.inputs.split].assign(object_id=lambda d: d["object_id"].astype(str))
    return first[first["object_id"].isin(ids or set())][["object_id", "y_true"]]


def object_table(ex: Explorer) -> pd.DataFrame:
    """The compared objects, those explained by some run first, then by object id.

    Returns
    -------
    pandas.DataFrame
        ``object_id``, ``true`` (class name), ``explained`` (names of the runs with attributions for it,
        comma-separated; empty if none), then one column per run: its probability of :attr:`Explorer.positive`.
    """
    table = _compared(ex)
    names = np.asarray(ex.classes + ["(none)"], dtype=object)
    out = pd.DataFrame({"object_id": table["object_id"].to_numpy(),
                        "true": names[np.where(table["y_true"].to_numpy() >= 0, table["y_true"].to_numpy(), -1)]})
    explained = [[] for _ in range(len(out))]
    for run in ex.runs():
        att = ex.attributions(run)
        covered = set(att["shap"]["object_id"]) if "shap" in att else set(att.get("ids", {}))
        for i, oid in enumerate(out["object_id"]):
            if oid in covered:
                explained[i].append(run.name)
        p = run.predictions.assign(object_id=lambda d: d["object_id"].astype(str))
        p = p[p["split"] == ex.inputs.split].set_index("object_id")[f"p_{ex.positive}"]
        out[run.name] = p.reindex(out["object_id"]).to_numpy()
    out.insert(2, "explained", [", ".join(e) for e in explained])
    order = np.lexsort((out["object_id"].to_numpy(), out["explained"].eq("").to_numpy()))
    return out.iloc[order].reset_index(drop=True)


def object_probabilities(ex: Explorer, object_id: str) -> pd.DataFrame:
    """Every run's class probabilities and decision for one object.

    Returns
    -------
    pandas.DataFrame
        One row per run: ``run``, ``track``, ``model``, ``split``, ``true``, ``predicted``, ``p_<class>``.

    Raises
    ------
    AgnbenchError
        No run predicted the object.
    """
    rows = []
    names = ex.classes
    for run in ex.runs():
        p = run.predictions
        hit = p[p["object_id"].astype(str) == str(object_id)]
        if hit.empty:
            continue
        r = hit.iloc[0]
        rows.append({"run": run.name, "track": run.track, "model": run.model, "split": r["split"],
                     "true": names[int(r["y_true"])] if int(r["y_true"]) >= 0 else "(none)",
                     "predicted": names[int(r["y_pred"])],
                     **{f"p_{c}": float(r[f"p_{c}"]) for c in names}})
    if not rows:
        raise AgnbenchError(f"object {object_id!r} is in no run's predictions of {ex.comparison}")
    return pd.DataFrame(rows)


def plot_spectrum(wave: np.ndarray, flux: np.ndarray, *, ivar: np.ndarray | None = None,
                  attribution: np.ndarray | None = None, title: str = "", frame: str = "rest") -> Figure:
    """One spectrum with the diagnostic lines marked and, if given, its attribution in a panel below.

    Parameters
    ----------
    wave : numpy.ndarray, shape (L,)
        Wavelength (Å) of the store's grid.
    flux : numpy.ndarray, shape (L,)
        Normalised flux (a store row).
    ivar : numpy.ndarray, shape (L,), optional
        Pixels with ``ivar <= 0`` (masked, uncovered) are not drawn.
    attribution : numpy.ndarray, shape (L,), optional
        Integrated Gradients of the flux channel (logit units per pixel; positive = towards the explained class).
    title : str
    frame : {"rest", "observed"}
        Lines are marked only in the rest frame.
    """
    rows = 2 if attribution is not None else 1
    fig, axs = new_figure("page", aspect=0.28 * rows + 0.05, nrows=rows, sharex=True)
    axs = np.atleast_1d(axs)
    with journal_style():
        plot_spectrum_gallery(wave, np.asarray(flux)[None, :], [title], axes=axs[:1],
                              ivar=None if ivar is None else np.asarray(ivar)[None, :], ncols=1, frame=frame)
        if attribution is not None:
            ax = axs[1]
            a = np.asarray(attribution, dtype=np.float64)
            ax.plot(wave, a, color="k", lw=0.3)
            ax.fill_between(wave, 0, a, where=a >= 0, color="#D55E00", lw=0, step="mid")
            ax.fill_between(wave, 0, a, where=a < 0, color="#0072B2", lw=0, step="mid")
            ax.axhline(0, color="0.5", lw=0.4)
            ax.set_ylabel("IG (logit / pixel)")
            ax.set_xlabel(f"{frame} wavelength (Å)")
            if frame == "rest":
                mark_lines(ax, labels=False, bands=False)
            axs[0].set_xlabel("")
    return fig


def spectrum_figure(ex: Explorer, object_id: str) -> Figure | None:
    """The object's store spectrum, with the IG attribution of the first spectra run that explained it.

    Returns None when the store (or its spectra, or this object's spectrum) is not available.
    """
    row = ex.store_row(object_id, "spec_row")
    wave, flux, ivar = ex.store_array("wave"), ex.store_array("flux"), ex.store_array("ivar")
    if row < 0 or wave is None or flux is None:
        return None
    hit = ex.explained_by(object_id, "spectra", "ig")
    attribution, title = None, f"{object_id}: store spectrum"
    if hit is not None:
        run, i = hit
        ig = np.asarray(ex.attributions(run)["ig"][i], dtype=np.float64)
        attribution = ig[0] if ig.ndim == 2 else ig
        title += f"; Integrated Gradients of {run.name} below (orange: towards its explained class)"
    else:
        title += " (no spectra run explained this object)"
    return plot_spectrum(np.asarray(wave), np.asarray(flux[row], dtype=np.float64),
                         ivar=None if ivar is None else np.asarray(ivar[row]), attribution=attribution, title=title,
                         frame=ex.spectra_frame)


def cutout_figure(ex: Explorer, object_id: str) -> Figure | None:
    """The object's grz cutout, with IG and Grad-CAM of the first images run that explained it.

    Returns None when the store (or its cutouts, or this object's cutout) is not available.
    """
    row = ex.store_row(object_id, "image_row")
    cutouts = ex.store_array("cutouts")
    if row < 0 or cutouts is None:
        return None
    cut = np.asarray(cutouts[row], dtype=np.float32)[None]
    if cut.shape[1] != 3:
        raise AgnbenchError(f"{ex.inputs.store}: cutouts have {cut.shape[1]} bands; the explorer draws 3-band "
                            "composites")
    hit = ex.explained_by(object_id, "images", "ig")
    if hit is not None and "gradcam" in ex.attributions(hit[0]):
        run, i = hit
        att = ex.attributions(run)
        psf = att.get("summary", {}).get("psf_fwhm_pix")
        axes = plot_image_attribution_examples(cut, np.asarray(att["ig"][i])[None], np.asarray(att["gradcam"][i])[None],
                                               [f"{object_id} ({run.name})"], psf_fwhm_pix=psf)
        return axes[0, 0].figure
    fig, ax = new_figure(3.0, aspect=1.0)
    with journal_style():
        ax.imshow(grz_rgb(cut[0], gallery_stretch(cut)), origin="lower", interpolation="nearest")
        ax.set_title(f"{object_id} (no images run explained this object)", fontsize=6)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def shap_waterfall(ex: Explorer, object_id: str, *, top: int = WATERFALL_TOP) -> Figure | None:
    """The catalog run's SHAP values for one object as a waterfall, from the base value to its output.

    The ``top`` features with the largest |SHAP| are drawn one by one (largest at the top), the others summed
    into one bar; the output explained is the positive class's (``class_out`` = its index, or the single output
    of a binary model). Feature values come from the store when it is found.

    Returns None when no catalog run explained the object.
    """
    hit = ex.explained_by(object_id, "catalog", "shap")
    if hit is None:
        return None
    run = hit[0]
    shap = ex.attributions(run)["shap"]
    rows = shap[shap["object_id"] == str(object_id)]
    positive = len(ex.classes) - 1
    rows = rows[rows["class_out"] == positive] if (rows["class_out"] == positive).any() else rows.tail(1)
    r = rows.iloc[0]
    feats = [c for c in shap.columns if c not in ("object_id", "class_out", "base")]
    values = r[feats].to_numpy(np.float64)
    order = np.argsort(-np.abs(values), kind="stable")
    shown, rest = order[:top], order[top:]
    obj = ex.inputs.objects
    fv = obj.loc[obj["object_id"].astype(str) == str(object_id)] if obj is not None else None
    labels = []
    for j in shown:
        name = feature_label(feats[j])
        if fv is not None and len(fv) and feats[j] in fv.columns:
            name += f" = {float(fv[feats[j]].iloc[0]):.3g}"
        labels.append(name)
    contrib = list(values[shown])
    if rest.size:
        labels.append(f"{rest.size} other features")
        contrib.append(float(values[rest].sum()))
    base = float(r["base"])
    fig, ax = new_figure("page", aspect=0.06 * len(contrib) + 0.12)
    with journal_style():
        start = base + np.concatenate(([0.0], np.cumsum(contrib)[:-1]))
        ypos = np.arange(len(contrib))[::-1]
        colors = ["#D55E00" if c >= 0 else "#0072B2" for c in contrib]
        ax.barh(ypos, contrib, left=start, color=colors, height=0.7)
        for y, s, c in zip(ypos, start, contrib):
            ax.text(s + c, y, f" {c:+.3f}", va="center", ha="left" if c >= 0 else "right", fontsize=5.5)
        ax.set_yticks(ypos, labels)
        ax.axvline(base, color="0.5", lw=0.5, ls="--")
        ax.axvline(base + sum(contrib), color="k", lw=0.6)
        ends = np.concatenate(([base], start, start + np.asarray(contrib)))
        pad = 0.15 * (float(ends.max() - ends.min()) or 1.0)
        ax.set_xlim(float(ends.min()) - pad, float(ends.max()) + pad)  # room for the labels beside the bars
        output = ex.attributions(run).get("summary", {}).get("shap", {}).get("output", "log-odds")
        ax.set_xlabel(f"model output ({output} of {ex.classes[positive]}); dashed: base value {base:.3f}, "
                      f"solid: this object {base + sum(contrib):.3f}")
        ax.set_title(f"SHAP waterfall of {object_id} ({run.name}); orange: towards {ex.classes[positive]}",
                     fontsize=6)
    return fig


def mistakes(ex: Explorer, run_name: str, *, k: int = 8) -> tuple[pd.DataFrame, Figure | None, Figure | None]:
    """A run's ``k`` most confident mistakes on the comparison's split, with their cutouts and spectra.

    Returns
    -------
    table : pandas.DataFrame
        :func:`~agnbench.reports.fig_errors.confident_mistakes` (rank, object_id, true, predicted, p, p_true and
        the store's properties).
    cutouts, spectra : Figure or None
        The report's galleries of the mistakes that have a cutout / a spectrum in the store; None without.
    """
    run = ex.run(run_name)
    table = confident_mistakes(run.predictions, split=ex.inputs.split, k=k, classes=ex.classes,
                               objects=ex.inputs.objects)
    if table.empty:
        return table, None, None
    titles = [f"#{r.rank} {r.object_id}\n{r.true}, p({r.predicted}) = {r.p:.2f}" for r in table.itertuples()]
    images, spectra = None, None
    cutouts = ex.store_array("cutouts")
    if cutouts is not None and "image_row" in table.columns:
        rows = table["image_row"].fillna(-1).to_numpy(np.int64)
        if (rows >= 0).any():
            cut = np.stack([np.asarray(cutouts[r], dtype=np.float32) if r >= 0 else
                            np.full(cutouts.shape[1:], np.nan, np.float32) for r in rows])
            if cut.shape[1] == 3:
                with journal_style():
                    images = plot_image_gallery(cut, titles)[0].figure
    flux, wave, ivar = ex.store_array("flux"), ex.store_array("wave"), ex.store_array("ivar")
    if flux is not None and wave is not None and "spec_row" in table.columns:
        rows = table["spec_row"].fillna(-1).to_numpy(np.int64)
        if (rows >= 0).any():
            f = np.stack([np.asarray(flux[r], dtype=np.float64) if r >= 0 else np.full(flux.shape[1], np.nan)
                          for r in rows])
            iv = None if ivar is None else np.stack([np.asarray(ivar[r]) if r >= 0 else np.ones(flux.shape[1])
                                                     for r in rows])
            with journal_style():
                spectra = plot_spectrum_gallery(np.asarray(wave), f, titles, ivar=iv,
                                                frame=ex.spectra_frame)[0].figure
    return table, images, spectra
