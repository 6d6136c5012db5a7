"""Label schemes: MPA-JHU BPT classes (or SDSS pipeline classes) -> training labels.

==================  ==============================================================  =========
scheme              labels                                                          ood
==================  ==============================================================  =========
agn_vs_sf           bpt 1 -> sf, 4 -> agn                                           bpt 3
agn_vs_sf_lowsn     bpt {1, 2} -> sf, {4, 5} -> agn (Guo et al. 2022's labelling)   bpt 3
bpt4                bpt 1 -> sf, 3 -> composite, 4 above Schawinski -> agn,          none
                    4 below -> liner
sdss_class          SDSS CLASS galaxy / qso / star                                  none
==================  ==============================================================  =========

Everything not labelled and not ood is ``excluded``. Labels are integers 0..K-1 in the order of
:func:`class_names`; ood and excluded rows get label -1 and label_name ``ood`` / ``excluded``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agnbench.data_prep.bpt import AGN, COMPOSITE, LOWSN_LINER, LOWSN_SF, SF, is_seyfert
from agnbench.errors import AgnbenchError

SCHEME_CLASSES: dict[str, tuple[str, ...]] = {
    "agn_vs_sf": ("sf", "agn"),
    "agn_vs_sf_lowsn": ("sf", "agn"),
    "bpt4": ("sf", "composite", "agn", "liner"),
    "sdss_class": ("galaxy", "qso", "star"),
}


def class_names(scheme: str) -> tuple[str, ...]:
    """Class names of a scheme, in label order."""
    try:
        return SCHEME_CLASSES[scheme]
    except KeyError:
        raise AgnbenchError(f"unknown label scheme {scheme!r}; use one of {', '.join(SCHEME_CLASSES)}") from None


def assign_labels(
    bpt_class: np.ndarray,
    *,
    scheme: str,
    log_nii_ha: np.ndarray | None = None,
    log_oiii_hb: np.ndarray | None = None,
    sdss_class: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels for one scheme.

    Parameters
    ----------
    bpt_class : numpy.ndarray of int, shape (n,)
        MPA-JHU BPTCLASS codes.
    scheme : str
    log_nii_ha, log_oiii_hb : numpy.ndarray, shape (n,), optional
        Measured BPT ratios; required by ``bpt4`` (Seyfert vs LINER among class 4).
    sdss_class : numpy.ndarray of str, shape (n,), optional
        SDSS pipeline CLASS; required by ``sdss_class``.

    Returns
    -------
    label : numpy.ndarray of int64, shape (n,)
        0..K-1, or -1 for ood/excluded.
    label_name : numpy.ndarray of str, shape (n,)
    role : numpy.ndarray of str, shape (n,)
        ``labelled``, ``ood`` or ``excluded``.
    """
    names = class_names(scheme)
    bpt = np.asarray(bpt_class, dtype=np.int64)
    n = bpt.size
    target = np.full(n, "", dtype=object)
    role = np.full(n, "excluded", dtype=object)
    if scheme in ("agn_vs_sf", "agn_vs_sf_lowsn"):
        sf_codes = (SF,) if scheme == "agn_vs_sf" else (SF, LOWSN_SF)
        agn_codes = (AGN,) if scheme == "agn_vs_sf" else (AGN, LOWSN_LINER)
        target[np.isin(bpt, sf_codes)] = "sf"
        target[np.isin(bpt, agn_codes)] = "agn"
        role[bpt == COMPOSITE] = "ood"
    elif scheme == "bpt4":
        if log_nii_ha is None or log_oiii_hb is None:
            raise AgnbenchError("label scheme 'bpt4' needs the [NII]/Halpha and [OIII]/Hbeta line ratios "
                                "(galSpecLine); use agn_vs_sf or provide the line catalog")
        seyfert = is_seyfert(log_nii_ha, log_oiii_hb)
        target[bpt == SF] = "sf"
        target[bpt == COMPOSITE] = "composite"
        target[(bpt == AGN) & seyfert] = "agn"
        target[(bpt == AGN) & ~seyfert] = "liner"
    else:  # sdss_class
        if sdss_class is None:
            raise AgnbenchError("label scheme 'sdss_class' needs the SDSS pipeline CLASS of every spectrum")
        cls = np.char.lower(np.asarray(sdss_class, dtype=str))
        for name in names:
            target[cls == name] = name
    labelled = target != ""
    role[labelled] = "labelled"
    label = np.full(n, -1, dtype=np.int64)
    for k, name in enumerate(names):
        label[target == name] = k
    label_name = np.where(labelled, target, role).astype(str)
    return label, label_name, role.astype(str)


def parse_label_map(text: str) -> dict[str, str]:
    """Parse ``--label-map`` text such as ``1:sf,3:agn,2:ood`` into {value: name}.

    The name ``ood`` sends objects to the ood split; values not in the map are excluded.
    """
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        value, sep, name = part.partition(":")
        if not sep or not value.strip() or not name.strip():
            raise AgnbenchError(f"--label-map entry {part!r} is not VALUE:NAME (e.g. --label-map 1:sf,3:agn)")
        if value.strip() in mapping:
            raise AgnbenchError(f"--label-map gives value {value.strip()!r} twice")
        mapping[value.strip()] = name.strip().lower()
    names = {v for v in mapping.values() if v != "ood"}
    if len(names) < 2:
        raise AgnbenchError(f"--label-map {text!r} defines {len(names)} class(es); at least two are needed")
    return mapping


def labels_from_map(values: pd.Series, mapping: dict[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Labels for a user's table: class names in first-appearance order of the map."""
    names = tuple(dict.fromkeys(v for v in mapping.values() if v != "ood"))
    keys = values.map(_label_key)
    target = keys.map(mapping).fillna("").to_numpy(dtype=object)
    role = np.where(target == "ood", "ood", np.where(target == "", "excluded", "labelled"))
    label = np.full(len(values), -1, dtype=np.int64)
    for k, name in enumerate(names):
        label[target == name] = k
    label_name = np.where(role == "labelled", target, role).astype(str)
    return label, label_name, role.astype(str), names


def _label_key(value: object) -> str:
    """String form used to match table values against --label-map keys (1.0 matches '1')."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()
