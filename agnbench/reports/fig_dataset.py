"""Dataset tables and figures from the store (``objects.parquet`` and ``manifest.json``, Contract 1).

Table builders are pure functions of the objects table (or the manifest dict); each ``plot_*`` draws one of
those tables on a given axes (a new column-width figure when omitted), with no pyplot and no global state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from agnbench.errors import AgnbenchError
from agnbench.reports.fig_common import class_colors
from agnbench.reports.fig_performance import place_legend
from agnbench.reports.labels import quantity_label
from agnbench.reports.style import axes

__all__ = ["OOD_GROUP", "class_balance_table", "cuts_table", "distribution_table",
           "plot_class_balance", "plot_distribution", "split_class_counts"]

log = logging.getLogger(__name__)

#: Split order in tables, and the labelled splits (the ones with a class).
SPLIT_ORDER = ("train", "val", "test", "ood", "excluded")
LABELLED = ("train", "val", "test")
#: Default group name of the ``ood`` objects (BPT composites in the agn_vs_sf schemes) in distribution tables;
#: any group named ``ood`` or ``ood (...)`` is drawn as the ood group.
OOD_GROUP = "ood (composites)"


def _need(objects: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in objects.columns]
    if missing:
        raise AgnbenchError(f"objects.parquet lacks column(s) {missing}, needed for the {what}")


def _classes(objects: pd.DataFrame, classes: Sequence[str] | None) -> list[str]:
    if classes is not None:
        return list(classes)
    lab = objects[objects["split"].isin(LABELLED)]
    return list(lab.sort_values("label")["label_name"].drop_duplicates()) if "label" in lab else \
        sorted(lab["label_name"].unique())


def split_class_counts(objects: pd.DataFrame, *, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Objects per split and class (wide): one row per split (train, val, test, ood, excluded, total).

    Parameters
    ----------
    objects : pandas.DataFrame
        ``objects.parquet`` (split, label_name).
    classes : sequence of str, optional
        Class columns in label order (default: from the labelled splits, by ``label``).

    Returns
    -------
    pandas.DataFrame
        Columns ``split``, one per class, ``other`` (objects without a class: ood, excluded) and ``total``.
    """
    _need(objects, ("split", "label_name"), "split x class table")
    classes = _classes(objects, classes)
    grid = pd.crosstab(objects["split"], objects["label_name"])
    splits = [s for s in SPLIT_ORDER if s in grid.index] + sorted(set(grid.index) - set(SPLIT_ORDER))
    out = pd.DataFrame({"split": splits})
    for c in classes:
        out[c] = [int(grid.at[s, c]) if c in grid.columns else 0 for s in splits]
    out["other"] = [int(grid.loc[s].sum()) - int(sum(out.loc[i, c] for c in classes)) for i, s in enumerate(splits)]
    out["total"] = out[[*classes, "other"]].sum(axis=1)
    total = {"split": "total", **{c: int(out[c].sum()) for c in [*classes, "other", "total"]}}
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def class_balance_table(objects: pd.DataFrame, *, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Class counts and fractions within each labelled split (train, val, test).

    Returns
    -------
    pandas.DataFrame
        split, class, count, fraction (of the split's labelled objects), n_split.
    """
    _need(objects, ("split", "label_name"), "class balance")
    classes = _classes(objects, classes)
    rows = []
    for s in LABELLED:
        part = objects[objects["split"] == s]
        if part.empty:
            continue
        n = int(part["label_name"].isin(classes).sum())
        for c in classes:
            k = int((part["label_name"] == c).sum())
            rows.append({"split": s, "class": c, "count": k, "fraction": k / n if n else np.nan, "n_split": n})
    return pd.DataFrame(rows, columns=["split", "class", "count", "fraction", "n_split"])


def distribution_table(objects: pd.DataFrame, *, columns: Sequence[str] = ("z", "q_logmass", "q_g_r"),
                       classes: Sequence[str] | None = None, bins: int = 30, include_ood: bool = True,
                       percentiles: tuple[float, float] = (0.5, 99.5), ood_group: str = OOD_GROUP) -> pd.DataFrame:
    """Histograms of physical quantities per class (labelled splits pooled) and for the ood objects.

    Parameters
    ----------
    objects : pandas.DataFrame
    columns : sequence of str
        Store columns to histogram; absent ones are skipped (logged).
    classes : sequence of str, optional
    bins : int, default 30
        Equal-width bins over the ``percentiles`` range of each column (all groups share the edges).
    include_ood : bool, default True
        Add the ``ood`` split as group ``ood_group``.
    percentiles : (float, float), default (0.5, 99.5)
        Range of the bins, as percentiles of all the histogrammed values ((0, 100): the full range).
    ood_group : str, default :data:`OOD_GROUP`
        Name of the ood group (``"ood"`` when the ood objects are not BPT composites).

    Returns
    -------
    pandas.DataFrame
        variable, group, bin_lo, bin_hi, count, density (count / (n_group * bin width), so each group's
        histogram integrates to the fraction of its objects inside the range), n_group (finite values).
    """
    _need(objects, ("split", "label_name"), "distributions")
    classes = _classes(objects, classes)
    groups = {c: objects[objects["split"].isin(LABELLED) & (objects["label_name"] == c)] for c in classes}
    if include_ood and (objects["split"] == "ood").any():
        groups[ood_group] = objects[objects["split"] == "ood"]
    rows = []
    for col in columns:
        if col not in objects.columns:
            log.info("objects.parquet has no column %s; its distribution is left out", col)
            continue
        pooled = pd.concat([g[col] for g in groups.values()]).to_numpy(np.float64)
        pooled = pooled[np.isfinite(pooled)]
        if pooled.size == 0:
            continue
        lo, hi = np.percentile(pooled, list(percentiles))
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        for name, g in groups.items():
            v = g[col].to_numpy(np.float64)
            v = v[np.isfinite(v)]
            count, _ = np.histogram(v, bins=edges)
            with np.errstate(divide="ignore", invalid="ignore"):
                density = count / (v.size * np.diff(edges))
            rows.append(pd.DataFrame({"variable": col, "group": name, "bin_lo": edges[:-1], "bin_hi": edges[1:],
                                      "count": count, "density": density, "n_group": v.size}))
    cols = ["variable", "group", "bin_lo", "bin_hi", "count", "density", "n_group"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def cuts_table(manifest: Mapping) -> pd.DataFrame:
    """The sample selection of ``agnbench prep``: each cut with the objects left and removed.

    Parameters
    ----------
    manifest : mapping
        The store's ``manifest.json``: ``cuts`` (a list of ``{"cut", "n_after"}``, starting with the input),
        ``counts`` (``"split/label_name"`` -> objects) and ``labels.scheme``.

    Returns
    -------
    pandas.DataFrame
        step, cut, n_after, n_removed; the last row is the label scheme (objects given a class, with the
        objects sent to ood and excluded named in the cut text).

    Raises
    ------
    AgnbenchError
        ``cuts`` missing or malformed.
    """
    cuts = manifest.get("cuts")
    if not isinstance(cuts, list) or not all(isinstance(c, Mapping) and {"cut", "n_after"} <= set(c) for c in cuts):
        raise AgnbenchError("manifest.json has no 'cuts' list of {cut, n_after} entries (store made by an older "
                            "agnbench prep? re-run prep)")
    rows, previous = [], None
    for i, c in enumerate(cuts):
        n = int(c["n_after"])
        rows.append({"step": i, "cut": str(c["cut"]), "n_after": n,
                     "n_removed": 0 if previous is None else previous - n})
        previous = n
    counts = manifest.get("counts") or {}
    if counts and previous is not None:
        by_split: dict[str, int] = {}
        for key, v in counts.items():
            by_split[key.split("/")[0]] = by_split.get(key.split("/")[0], 0) + int(v)
        labelled = sum(by_split.get(s, 0) for s in LABELLED)
        scheme = (manifest.get("labels") or {}).get("scheme", "label scheme")
        extra = ", ".join(f"{by_split[s]} to {s}" for s in ("ood", "excluded") if by_split.get(s))
        rows.append({"step": len(rows), "cut": f"labels: {scheme}" + (f" ({extra})" if extra else ""),
                     "n_after": labelled, "n_removed": previous - labelled})
    return pd.DataFrame(rows, columns=["step", "cut", "n_after", "n_removed"])


def plot_class_balance(table: pd.DataFrame, *, ax: Axes | None = None,
                       colors: Mapping[str, str] | None = None, legend: str | None = "outside") -> Axes:
    """Class fractions per labelled split as horizontal stacked bars, annotated with the counts.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`class_balance_table`.
    colors : mapping of class to colour, optional
        Default :func:`agnbench.reports.fig_common.class_colors` (the report's colour per class).
    legend : str or None, default "outside"
    """
    ax = axes(ax, aspect=0.45)
    splits = list(dict.fromkeys(table["split"]))[::-1]
    classes = list(dict.fromkeys(table["class"]))
    left = np.zeros(len(splits))
    colors = {**class_colors(classes), **(colors or {})}
    for c in classes:
        d = table[table["class"] == c].set_index("split").reindex(splits)
        frac = d["fraction"].fillna(0).to_numpy()
        ax.barh(splits, frac, left=left, color=colors[c], height=0.6, label=c)
        for y, (f, k, x0) in enumerate(zip(frac, d["count"].fillna(0), left)):
            if f > 0.06:
                ax.text(x0 + f / 2, y, f"{int(k)}", ha="center", va="center", fontsize=6, color="white")
        left += frac
    ax.set(xlim=(0, 1), xlabel="Fraction of labelled objects")
    ax.tick_params(axis="y", length=0, right=False)
    place_legend(ax, legend, ncols=len(classes))
    return ax


def plot_distribution(table: pd.DataFrame, *, variable: str, ax: Axes | None = None,
                      colors: Mapping[str, str] | None = None, legend: str | None = "best") -> Axes:
    """Normalised step histograms of one quantity per class; ood objects dashed grey.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`distribution_table`.
    variable : str
        Store column (e.g. ``z``).
    colors : mapping of group to colour, optional
        Default: the report's class colours, grey for the ood group.
    legend : str or None, default "best"
        Where the legend goes (:func:`~agnbench.reports.fig_performance.place_legend`).
    """
    ax = axes(ax, aspect=0.75)
    d = table[table["variable"] == variable]
    if d.empty:
        raise AgnbenchError(f"no distribution rows for {variable!r} (variables: {sorted(set(table['variable']))})")
    groups = list(dict.fromkeys(d["group"]))
    oods = [g for g in groups if _is_ood_group(g)]
    colors = {**class_colors([g for g in groups if g not in oods]), **{g: "0.45" for g in oods}, **(colors or {})}
    for group in groups:
        g = d[d["group"] == group]
        edges = np.r_[g["bin_lo"].to_numpy(), g["bin_hi"].iloc[-1]]
        ood = group in oods
        c = colors[group]
        ax.stairs(g["density"].to_numpy(), edges, color=c, ls="--" if ood else "-", lw=1.0,
                  label=f"{group} ({int(g['n_group'].iloc[0])})")
    ax.set(xlabel=quantity_label(variable), ylabel="Probability density", ylim=(0, None))
    ax.set_xlim(float(d["bin_lo"].min()), float(d["bin_hi"].max()))
    place_legend(ax, legend)
    return ax


def _is_ood_group(group: str) -> bool:
    """``ood`` or ``ood (...)``: the ood group of :func:`distribution_table` (``ood`` is never a class name)."""
    return group == "ood" or group.startswith("ood (")
