"""Grouped SHAP: attributions of groups of correlated catalog features, defined once here.

Colours, magnitudes and sizes are strongly correlated, so a tree ensemble may split on either of
two nearly equivalent colours and the per-feature ranking then depends on that choice. Summing the
SHAP values of an object over a group of features gives the group's attribution, which does not:
by additivity the group sums of an object add up to its total SHAP sum (model output minus the base
value). The global importance of a group is the mean over objects of |group sum| -- not the sum of
its members' mean |SHAP|, which counts members that cancel each other as if they added.

:data:`FEATURE_GROUPS` maps feature-name patterns to groups (first match wins); a feature that no
pattern matches is in :data:`OTHER`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from agnbench.errors import AgnbenchError

#: Group name -> regular expressions matched (``re.search``, case-insensitive) against the feature
#: name without its ``feat_`` prefix; the first group with a matching pattern wins.
FEATURE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("colours", (r"^[ugrizy]_[ugrizy]$", r"colou?r")),
    ("size/morphology", (r"petro", r"concentration", r"fracdev", r"sersic", r"^r[59]0", r"ellip", r"axis_ratio")),
    ("distance/luminosity", (r"^z$", r"^redshift$", r"^abs_", r"^dered_[ugrizy]$", r"mag", r"lum", r"dist")),
    ("spectral indices/physical", (r"d4000", r"dn4000", r"lick", r"v_?disp", r"mass", r"sfr", r"age", r"metal")),
)
#: The group of features that match no pattern.
OTHER = "other"
#: Every group, in reporting order.
GROUP_NAMES: tuple[str, ...] = (*(name for name, _ in FEATURE_GROUPS), OTHER)


def feature_group(name: str) -> str:
    """The group of a feature column (``feat_g_r`` -> ``"colours"``); :data:`OTHER` if none matches."""
    base = re.sub(r"^(feat_|q_)", "", str(name)).lower()
    for group, patterns in FEATURE_GROUPS:
        if any(re.search(p, base) for p in patterns):
            return group
    return OTHER


def group_members(feature_names: Sequence[str]) -> dict[str, list[str]]:
    """Group -> its features among ``feature_names`` (groups without members left out), in :data:`GROUP_NAMES` order."""
    members: dict[str, list[str]] = {g: [] for g in GROUP_NAMES}
    for f in feature_names:
        members[feature_group(f)].append(str(f))
    return {g: fs for g, fs in members.items() if fs}


def grouped_shap(values: np.ndarray, feature_names: Sequence[str]) -> pd.DataFrame:
    """Per-object sums of SHAP values over each feature group.

    Parameters
    ----------
    values : numpy.ndarray, shape (n, d)
        SHAP values of one model output (units of that output, e.g. log-odds).
    feature_names : sequence of str, length d

    Returns
    -------
    pandas.DataFrame, shape (n, groups)
        One column per group present; row sums equal ``values.sum(axis=1)`` (additivity).
    """
    values = np.asarray(values, dtype=np.float64)
    names = [str(f) for f in feature_names]
    if values.ndim != 2 or values.shape[1] != len(names):
        raise AgnbenchError(f"SHAP values must be (n, {len(names)}) for {len(names)} feature names; "
                            f"got shape {values.shape}")
    index = {f: j for j, f in enumerate(names)}
    return pd.DataFrame({g: values[:, [index[f] for f in fs]].sum(axis=1) for g, fs in group_members(names).items()})


def group_importance(values: np.ndarray, feature_names: Sequence[str], classes_out: Sequence[int]) -> pd.DataFrame:
    """Global importance of each feature group per model output.

    Parameters
    ----------
    values : numpy.ndarray, shape (n, K, d)
        SHAP values (:attr:`~agnbench.interpretability.tree_shap.ShapResult.values`).
    feature_names : sequence of str, length d
    classes_out : sequence of int, length K
        The class explained by each output.

    Returns
    -------
    pandas.DataFrame
        ``class_out``, ``group``, ``mean_abs_group_shap`` (mean over objects of |sum of the group's SHAP
        values|), ``sum_mean_abs_shap`` (sum over the group's features of their mean |SHAP|: an upper
        bound, reached when the members never cancel), ``rank`` (1 = largest ``mean_abs_group_shap``
        within the output), ``n_features``, ``features`` (space-separated). Sorted by ``class_out``, ``rank``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3 or values.shape[1] != len(classes_out):
        raise AgnbenchError(f"SHAP values must be (n, {len(classes_out)}, d); got shape {values.shape}")
    members = group_members(feature_names)
    frames = []
    for k, cls in enumerate(classes_out):
        sums = grouped_shap(values[:, k, :], feature_names)
        per_feature = pd.Series(np.abs(values[:, k, :]).mean(axis=0) if len(values) else 0.0,
                                index=[str(f) for f in feature_names])
        part = pd.DataFrame({"class_out": int(cls), "group": list(members),
                             "mean_abs_group_shap": [float(sums[g].abs().mean()) if len(sums) else 0.0
                                                     for g in members],
                             "sum_mean_abs_shap": [float(per_feature[fs].sum()) for fs in members.values()],
                             "n_features": [len(fs) for fs in members.values()],
                             "features": [" ".join(fs) for fs in members.values()]})
        part.insert(3, "rank", part["mean_abs_group_shap"].rank(ascending=False, method="first").astype(np.int64))
        frames.append(part)
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["class_out", "rank"], ignore_index=True)
