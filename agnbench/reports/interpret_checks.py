"""Report pieces that keep attribution claims honest: grouped SHAP, the BPT-window enrichment against the
region the IG baseline leaves free, and equal-area ring occlusion (issue 17, items 4, 5 and 11).

Used by :mod:`agnbench.reports.build_interpret`, which also takes the shared helpers from here.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.contracts import files
from agnbench.contracts.run_dir import read_run_config
from agnbench.interpretability.feature_groups import group_importance
from agnbench.reports.fig_attribution import occlusion_ring_table, plot_occlusion_rings
from agnbench.reports.fig_shap import feature_label, plot_group_importance
from agnbench.reports.report_inputs import RunInfo
from agnbench.reports.style import FigureRecord, new_figure, save_figure
from agnbench.fileio import atomic_write_text

log = logging.getLogger(__name__)
SECTION_I = "interpretability"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


def write_table(tables_dir: Path, name: str, frame: pd.DataFrame) -> str:
    Path(tables_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(tables_dir) / f"{name}.csv", frame.to_csv(index=False))
    return name


def who(run: RunInfo) -> str:
    if run.shown == run.name:
        return f"{run.name} ({run.track} track, {run.model}, seed {run.seed})"
    return f"{run.shown} (run {run.name}, seed {run.seed})"


def group_figure(run, shap, feats, att, base, fig_dir, tab_dir, class_out, output, positive) -> list[FigureRecord]:
    """Grouped SHAP bars from ``importance_groups.csv`` (computed from ``shap.parquet`` for older explanations)."""
    if (att / files.ATTRIBUTIONS_IMPORTANCE_GROUPS).exists():
        groups = pd.read_csv(att / files.ATTRIBUTIONS_IMPORTANCE_GROUPS)
    else:
        outs = sorted(pd.unique(shap["class_out"]))
        values = np.stack([shap[shap["class_out"] == c][feats].to_numpy(np.float64) for c in outs], axis=1)
        groups = group_importance(values, feats, outs)
    names = [write_table(tab_dir, f"shap_groups_{slug(run.name)}", groups)]
    shown = groups[groups["class_out"] == class_out]
    fig, ax = new_figure("column", aspect=0.2 + 0.08 * max(len(shown), 1))
    plot_group_importance(groups, ax=ax, class_out=class_out, output=output, positive=positive)
    members = "; ".join(f"{r.group}: {', '.join(feature_label(f) for f in str(r.features).split())}"
                        for r in shown.itertuples())
    return [save_figure(fig, fig_dir, f"shap_groups_{slug(run.name)}", section=SECTION_I,
                        title=f"Grouped SHAP: {run.shown}", tables=names,
                        caption=f"{base} Bars: mean over objects of |sum of the SHAP values of a group of correlated "
                                f"features| (number of features in brackets), so the ranking does not depend on "
                                f"which of two correlated features the model used; the group sums of an object add "
                                f"up to its total SHAP sum. Open diamonds: the sum of the members' mean |SHAP| (larger "
                                f"where members cancel). Groups: {members}.")]


def window_text(win: dict) -> str:
    """The BPT-window fraction against the grid and against the region the baseline leaves free."""
    text = (f" Median fraction of |IG| inside the BPT line windows {win['median_fraction']:.2f}, against their "
            f"{win['grid_share']:.3f} share of the grid (enrichment relative to the grid "
            f"×{win['median_enrichment']:.1f}).")
    if win.get("median_enrichment_vs_free") is None:
        return text + (" The region the baseline leaves free (where input and baseline differ, the only pixels IG "
                       "can attribute) was not recorded; re-run agnbench explain to get the enrichment relative to it.")
    return text + (f" The baseline leaves a median {win['median_free_share']:.1%} of the grid free (pixels where input "
                   f"and baseline differ), which holds {win['median_fraction_in_free']:.1%} of |IG| (IG is zero "
                   f"elsewhere by construction); the BPT windows are {win['median_windows_share_of_free']:.3f} of that "
                   f"free region, so the enrichment relative to the free region is "
                   f"×{win['median_enrichment_vs_free']:.2f} (median over objects).")


def occlusion_figure(run, summary, objs, groups, split_by_truth, fig_dir, tab_dir, skips) -> list[FigureRecord]:
    occ = summary.get("occlusion") or {}
    rings = occ.get("rings") or {}
    cols = [f"occlusion_drop_ring{j}" for j in range(1, int(rings.get("n_rings", 0)) + 1)]
    if not cols or not set(cols) <= set(objs.columns):
        skips.skip(f"Ring occlusion figure of {run.shown}", "no equal-area ring occlusion in its attributions (re-run "
                   "agnbench explain with --overwrite)", logger=log)
        return []
    info = pd.DataFrame({"ring": np.arange(1, len(cols) + 1), "n_pixels": rings["n_pixels"],
                         "r_inner_pix": rings["r_inner_pix"], "r_outer_pix": rings["r_outer_pix"]})
    table = occlusion_ring_table(objs[cols].to_numpy(np.float64), groups, info)
    names = [write_table(tab_dir, f"occlusion_rings_{slug(run.name)}", table)]
    fig, ax = new_figure("column", aspect=0.75)
    psf = summary.get("psf_fwhm_pix")
    plot_occlusion_rings(table, ax=ax, psf_fwhm_pix=psf)
    first, last = table[table["ring"] == 1], table[table["ring"] == len(cols)]
    facts = "; ".join(f"{g}: {a:+.3f} innermost, {b:+.3f} outermost" for g, a, b in
                      zip(first["group"], first["mean_drop"], last["mean_drop"]))
    split = (" AGN are split by the mock's planted nuclear point source (truth.parquet ps_frac > 0): a model that "
             "reads the nucleus loses more in ring 1 for AGN with a point source than without."
             if split_by_truth else "")
    return [save_figure(
        fig, fig_dir, f"occlusion_rings_{slug(run.name)}", section=SECTION_I, tables=names,
        title=f"Equal-area ring occlusion: {run.shown}",
        caption=f"{who(run)}: mean drop in the probability of the explained ({summary.get('target', 'predicted')}) "
                f"class when one of {len(cols)} concentric rings of equal area ({int(min(rings['n_pixels']))}-"
                f"{int(max(rings['n_pixels']))} pixels each) around the cutout centre is filled with the local sky "
                f"(each band's median over the outermost ring), per true class; the rings have equal areas, so the "
                f"drops compare per pixel; error bars: ±1 standard error over objects"
                + (f"; dotted line: 1 PSF FWHM = {psf:.1f} pixels" if psf else "") + f". Mean drops: {facts}.{split}")]



def lattice_share(maps: np.ndarray, period: int) -> float:
    """Share of the squared attribution on the busiest pixel sublattice of a period (a grid artefact's measure).

    Parameters
    ----------
    maps : numpy.ndarray, shape (n, H, W)
        Attribution maps (e.g. IG summed over bands).
    period : int
        Lattice period in pixels: the sublattices are ``x = a, y = b (mod period)``, ``period**2`` of them.

    Returns
    -------
    float
        Largest share, over the sublattices, of the maps' summed squared attribution (NaN for all-zero maps). Without
        a grid it is about ``1 / period**2``; attribution that flows through the pixels a strided layer samples puts
        far more on one sublattice.
    """
    e = np.asarray(maps, dtype=np.float64) ** 2
    total = float(e.sum())
    if not total > 0:
        return float("nan")
    return max(float(e[:, a::period, b::period].sum()) for a in range(period) for b in range(period)) / total


def grid_note(run, maps: np.ndarray) -> str:
    """A caption sentence on the regular grid in image IG maps: how strong it is here and where it comes from."""
    maps = np.asarray(maps, dtype=np.float64)
    maps = maps.sum(axis=1) if maps.ndim == 4 else maps  # (n, bands, H, W): summed over bands, as drawn
    two, eight = lattice_share(maps, 2), lattice_share(maps, 8)
    if not np.isfinite(two):
        return ""
    images = (read_run_config(run.path) or {}).get("images") or {}
    stem = f"the stride-{images['stem_stride']} stem, " if int(images.get("stem_stride") or 1) > 1 else ""
    return (f" The regular grid in the IG maps is a property of the network, not of the display (each cutout pixel "
            f"is drawn as one block, nearest-neighbour): the gradient reaches the input mostly through the pixels "
            f"that its strided layers ({stem}the stride-2 convolutions and 1x1 shortcuts of stages 2-4) sample, so "
            f"the attribution piles up on a sublattice (aliasing of strided downsampling; Zhang 2019). Here "
            f"{100 * two:.0f}% of the squared IG lies on one of the 4 period-2 sublattices (25% without a grid) and "
            f"{100 * eight:.0f}% on one of the 64 period-8 sublattices ({100 / 64:.1f}%). Read the maps for their "
            "large-scale structure; the radial profile and ring occlusion average the grid out.")
