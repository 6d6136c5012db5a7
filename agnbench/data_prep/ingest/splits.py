"""Train/val/test splits, made once in prep and shared by every track.

Stratified by label and seeded. The assignment depends only on the seed, the fractions and the
set of (object_id, label) pairs — not on row order — because objects are ordered by id before
the per-class shuffle.
"""

from __future__ import annotations

import numpy as np

from agnbench import seeding


def assign_splits(
    object_id: np.ndarray,
    label: np.ndarray,
    role: np.ndarray,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> np.ndarray:
    """Split labels.

    Parameters
    ----------
    object_id : numpy.ndarray of str, shape (n,)
    label : numpy.ndarray of int, shape (n,)
        Class index, -1 for unlabelled rows.
    role : numpy.ndarray of str, shape (n,)
        ``labelled``, ``ood`` or ``excluded`` (from :mod:`agnbench.data_prep.ingest.labels`).
    val_fraction, test_fraction : float
        Fractions of each class sent to val and test (rounded per class).
    seed : int
        Master seed; the split stream is derived from it.

    Returns
    -------
    numpy.ndarray of str, shape (n,)
        ``train``, ``val``, ``test``, ``ood`` or ``excluded``.
    """
    object_id = np.asarray(object_id).astype(str)
    split = np.where(role == "ood", "ood", "excluded").astype(object)
    rng = seeding.rng(seed, "splits")
    for k in np.unique(label[role == "labelled"]):
        members = np.flatnonzero((label == k) & (role == "labelled"))
        members = members[np.argsort(object_id[members], kind="stable")]
        members = members[rng.permutation(members.size)]
        n_val = int(round(val_fraction * members.size))
        n_test = int(round(test_fraction * members.size))
        split[members[:n_val]] = "val"
        split[members[n_val : n_val + n_test]] = "test"
        split[members[n_val + n_test :]] = "train"
    return split.astype(str)
