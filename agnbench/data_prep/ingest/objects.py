"""Prep, step 1: the objects table (Contract 1 columns, ``feat_*``, ``q_*``) from either source.

select (read + join) -> de-duplicate (quarantine) -> quality cuts (counted) -> labels -> splits
-> features -> leakage guard (on the training split only).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from agnbench.config.core import Config
from agnbench.data_prep.bpt import bpt_class as compute_bpt_class
from agnbench.data_prep.formats.catalog import (
    column,
    find_photometry,
    find_position_columns,
    join_photometry,
    read_mpajhu,
    read_table,
)
from agnbench.data_prep.ingest.features import canonical_inputs, catalog_features, dereddened_mags, quality_columns
from agnbench.data_prep.ingest.labels import assign_labels, class_names, labels_from_map, parse_label_map
from agnbench.protocol.leakage import LeakageReport, check_leakage
from agnbench.data_prep.ingest.splits import assign_splits
from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

#: Survey identifiers and bookkeeping columns: never model inputs.
_IDENTIFIER = re.compile(
    r"^(obj_?id|specobj_?id|bestobj_?id|photo_?id|thing_?id|plate(id)?|mjd|fiber(id)?|run|rerun|camcol|field|"
    r"id|index|row|survey|tile)$|_id$",
    re.IGNORECASE,
)
_NAME_TO_BPT = {"sf": 1, "composite": 3, "ood": 3, "agn": 4, "liner": 4}


@dataclass
class Selection:
    """The objects table and how it was made."""

    objects: pd.DataFrame
    classes: tuple[str, ...]
    cuts: list[tuple[str, int]] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    leakage: LeakageReport | None = None
    #: ``--source spectra``: the spectrum file of every object (object_id -> path); None = find by plate/mjd/fiber
    spec_files: dict[str, str] | None = None
    #: Prep settings that did not shape this selection: key -> why (kept out of the manifest's ``prep``).
    not_applied: dict[str, str] = field(default_factory=dict)


def _dedupe(frame: pd.DataFrame, ids: pd.Series, source: str, quarantine: list[dict]) -> pd.DataFrame:
    dup = ids.duplicated(keep="first")
    for i in np.flatnonzero(dup.to_numpy()):
        quarantine.append({"object_id": ids.iloc[i], "file": source, "stage": "catalog",
                           "reason": "duplicate object_id; the first row was kept"})
    if dup.any():
        log.warning("%s: %d duplicate id(s) quarantined", source, int(dup.sum()))
    return frame.loc[~dup.to_numpy()].reset_index(drop=True)


def _cut(frame: pd.DataFrame, keep: np.ndarray, name: str, cuts: list[tuple[str, int]]) -> pd.DataFrame:
    out = frame.loc[keep].reset_index(drop=True)
    cuts.append((name, len(out)))
    return out


def select_mpajhu(raw: Path, cfg: Config, *, allow_leaky: bool = False) -> Selection:
    """Objects from MPA-JHU galSpec files (+ photometry) in ``raw/catalog``."""
    frame, inputs = read_mpajhu(raw)
    phot = find_photometry(raw)
    if phot is not None:
        frame = join_photometry(frame, phot)
        inputs["photometry"] = str(phot)
    quarantine: list[dict] = []
    frame = _dedupe(frame, frame["SPECOBJID"], inputs["info"], quarantine)
    p = cfg.prep
    cuts = [("input", len(frame))]
    selection = Path(raw) / "selection.csv"
    if selection.exists():  # a pilot fetched with `agnbench fetch --limit`: only those objects have files
        chosen = set(pd.read_csv(selection, dtype={"object_id": str}, usecols=["object_id"])["object_id"].str.strip())
        ids = frame["SPECOBJID"].map(lambda v: v.decode() if isinstance(v, bytes) else v).astype(str).str.strip()
        frame = _cut(frame, ids.isin(chosen).to_numpy(), f"in {selection.name} (the objects agnbench fetch chose)",
                     cuts)
    # a cut whose column the catalog lacks is not applied: the manifest says so instead of listing it
    not_applied = {key: f"not applied: the catalog has no {col} column"
                   for key, col in (("require_reliable", "RELIABLE"), ("require_galaxy", "SPECTROTYPE"),
                                    ("require_zwarning_zero", "Z_WARNING")) if col not in frame}
    if p.require_reliable and "RELIABLE" in frame:
        frame = _cut(frame, (frame["RELIABLE"] == 1).to_numpy(), "RELIABLE == 1", cuts)
    if p.require_galaxy and "SPECTROTYPE" in frame:
        frame = _cut(frame, (frame["SPECTROTYPE"].astype(str).str.strip().str.upper() == "GALAXY").to_numpy(),
                     "SPECTROTYPE == GALAXY", cuts)
    if p.require_zwarning_zero and "Z_WARNING" in frame:
        frame = _cut(frame, (frame["Z_WARNING"] == 0).to_numpy(), "Z_WARNING == 0", cuts)
    z = frame["Z"].to_numpy(np.float64)
    frame = _cut(frame, (z >= p.z_min) & (z <= p.z_max), f"{p.z_min} <= z <= {p.z_max}", cuts)
    mags = dereddened_mags(frame)
    if "r" in mags:
        r = mags["r"]
        frame = _cut(frame, (r >= p.r_min) & (r <= p.r_max), f"{p.r_min} <= r_dered <= {p.r_max}", cuts)
    else:
        not_applied.update({k: "not applied: no r-band photometry (modelMag_r or dered_r)" for k in ("r_min", "r_max")})
    if frame.empty:
        raise AgnbenchError(f"{raw}: no object passes the quality cuts ({'; '.join(f'{n}: {k}' for n, k in cuts)})")
    bpt = _bpt_codes(frame)
    q = quality_columns(frame)
    label, label_name, role = assign_labels(
        bpt, scheme=cfg.labels.scheme,
        log_nii_ha=q["q_log_nii_ha"].to_numpy() if "q_log_nii_ha" in q else None,
        log_oiii_hb=q["q_log_oiii_hb"].to_numpy() if "q_log_oiii_hb" in q else None,
        sdss_class=column(frame, "SPECTROTYPE", "CLASS").to_numpy() if column(frame, "SPECTROTYPE", "CLASS") is not None else None,
    )
    objects = pd.DataFrame({
        "object_id": frame["SPECOBJID"].astype(str).to_numpy(),
        "ra": frame["RA"].to_numpy(np.float64), "dec": frame["DEC"].to_numpy(np.float64),
        "z": frame["Z"].to_numpy(np.float64), "label": label, "label_name": label_name,
        "bpt_class": bpt.astype(np.int64),
    })
    for name in ("PLATEID", "MJD", "FIBERID"):
        if name in frame:
            objects[name.lower().replace("plateid", "plate")] = frame[name].to_numpy(np.int64)
    photo = column(frame, "objID", "PHOTOID", "BESTOBJID")
    if photo is not None:  # the photometric id names SDSS JPEG cutouts
        objects["objid"] = photo.map(lambda v: v.decode() if isinstance(v, bytes) else v).astype(str).str.strip().to_numpy()
    sel = _finish(objects, role, catalog_features(frame), q, cfg, allow_leaky=allow_leaky, explicit=False,
                  source=inputs["info"])
    sel.cuts, sel.quarantine, sel.inputs, sel.not_applied = cuts, quarantine, inputs, not_applied
    sel.classes = class_names(cfg.labels.scheme)
    return sel


def _bpt_codes(frame: pd.DataFrame) -> np.ndarray:
    if "BPTCLASS" in frame:
        return pd.to_numeric(frame["BPTCLASS"], errors="coerce").fillna(-1).to_numpy(np.int64)
    needed = [f"{n}_FLUX{e}" for n in ("NII_6584", "H_ALPHA", "OIII_5007", "H_BETA") for e in ("", "_ERR")]
    if all(c in frame for c in needed):
        return compute_bpt_class(*(frame[c].to_numpy(np.float64) for c in needed)).astype(np.int64)
    raise AgnbenchError("catalog has neither BPTCLASS (galSpecExtra) nor the four BPT line fluxes (galSpecLine)")


#: Prep settings the table path never applies (its rows are the user's selection), by reason.
TABLE_NOT_APPLIED = {k: "not applied: --source table keeps every row of the table (no quality cuts)" for k in (
    "require_reliable", "require_galaxy", "require_zwarning_zero", "z_min", "z_max", "r_min", "r_max")}


def select_table(
    path: Path, cfg: Config, *, id_col: str, label_col: str, label_map: str, ra_col: str | None = None,
    dec_col: str | None = None, z_col: str | None = None, plate_col: str | None = None,
    mjd_col: str | None = None, fiber_col: str | None = None, column_map: dict[str, str] | None = None,
    features: list[str] | None = None, allow_leaky: bool = False,
) -> Selection:
    """Objects from a user's table (CSV/Parquet/FITS) with a label column and a label map.

    Position and spectrum-id columns are recognised by their usual spellings
    (:data:`~agnbench.data_prep.formats.catalog.POSITION_SPELLINGS`, any case) unless named
    explicitly, and are never features. Without ``features`` the features are the canonical
    ``feat_*`` of the MPA-JHU path (:func:`catalog_features`: magnitudes, colours, sizes, ... from
    columns under their MPA-JHU/CasJobs names or mapped by ``column_map``) plus every other numeric,
    non-identifier column under its own name; with ``features`` exactly those columns.
    """
    frame = read_table(Path(path))
    for flag, col in (("--id-col", id_col), ("--label-col", label_col)):
        if col not in frame.columns:
            raise AgnbenchError(f"{path}: no column {col!r} ({flag}); columns are: {', '.join(map(str, frame.columns))}")
    mapping = parse_label_map(label_map)
    quarantine: list[dict] = []
    ids = frame[id_col].map(lambda v: v.decode() if isinstance(v, bytes) else v).astype(str).str.strip()
    frame = _dedupe(frame.assign(**{id_col: ids}), ids, str(path), quarantine)
    cuts = [("input", len(frame))]
    label, label_name, role, classes = labels_from_map(frame[label_col], mapping)
    given = {"ra": ra_col, "dec": dec_col, "z": z_col, "plate": plate_col, "mjd": mjd_col, "fiberid": fiber_col}
    found = find_position_columns(list(frame.columns), given, source=str(path))
    log.info("%s: recognised %s", Path(path).name,
             ", ".join(f"{k}={v}" for k, v in found.items() if v is not None) or "no position or spectrum-id column")
    pos = {k: np.full(len(frame), np.nan) if c is None else pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)
           for k, c in found.items()}
    objects = pd.DataFrame({
        "object_id": frame[id_col].to_numpy(str), "ra": pos["ra"], "dec": pos["dec"], "z": pos["z"],
        "label": label, "label_name": label_name,
        "bpt_class": np.array([_NAME_TO_BPT.get(n, -1) for n in label_name], dtype=np.int64),
    })
    if all(found[k] is not None for k in ("plate", "mjd", "fiberid")):  # spectra can be found by plate-mjd-fiber
        for k in ("plate", "mjd", "fiberid"):
            objects[k] = np.nan_to_num(pos[k], nan=-1).astype(np.int64)
    skip = {id_col, label_col} | {c for c in found.values() if c is not None}
    if features is not None:
        unknown = [f for f in features if f not in frame.columns]
        if unknown:
            raise AgnbenchError(f"{path}: --features names unknown column(s) {', '.join(unknown)}")
        positional = [f for f in features if f in skip]
        if positional:
            raise AgnbenchError(f"{path}: --features names {', '.join(positional)}, the id, label, position or "
                                "spectrum-id column(s); these are never features (the redshift enters as feat_z "
                                "when --features is not given)")
        feats = pd.DataFrame({feature_name(c): pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)
                              for c in features}, index=frame.index)
        feats.attrs["source_names"] = {feature_name(c): str(c) for c in features}
    else:
        feats = table_features(frame, column_map=column_map, z=pos["z"] if found["z"] is not None else None,
                               skip=skip, source=str(path))
    sel = _finish(objects, role, feats, quality_columns(frame), cfg, allow_leaky=allow_leaky,
                  explicit=features is not None, source=str(path))
    sel.cuts, sel.quarantine, sel.inputs, sel.classes = cuts, quarantine, {"table": str(path)}, classes
    sel.not_applied = dict(TABLE_NOT_APPLIED)
    return sel


def feature_name(col: object) -> str:
    """The ``feat_*`` name prep gives a user's table column (``"Dn4000(obs)"`` -> ``feat_dn4000_obs``)."""
    return "feat_" + re.sub(r"[^0-9a-zA-Z]+", "_", str(col)).strip("_").lower()


def table_features(frame: pd.DataFrame, *, column_map: dict[str, str] | None, z: np.ndarray | None,
                   skip: set, source: str) -> pd.DataFrame:
    """The ``feat_*`` columns of a user's table, as ``prep --source table`` makes them.

    The canonical features of the MPA-JHU path (:func:`catalog_features`, from columns under their
    MPA-JHU/CasJobs names or mapped by ``column_map``), then every other numeric, non-identifier
    column not in ``skip`` under :func:`feature_name`. ``agnbench predict`` calls this too, so a new
    table's features are computed exactly as the run's store's were.

    Returns
    -------
    DataFrame
        Row-aligned with ``frame``; ``attrs["source_names"]`` maps raw ``feat_*`` names to columns.
    """
    inputs, used = canonical_inputs(frame, column_map or {}, z=z, source=source)
    feats = catalog_features(inputs)
    numeric = [c for c in frame.columns if c not in skip and c not in used and pd.api.types.is_numeric_dtype(frame[c])]
    chosen = [c for c in numeric if not _IDENTIFIER.search(str(c)) and feature_name(c) not in feats.columns]
    if len(chosen) < len(numeric):
        log.info("not used as raw features (identifiers, or given as canonical feat_*): %s",
                 ", ".join(map(str, sorted(set(numeric) - set(chosen), key=str))))
    raw = pd.DataFrame({feature_name(c): pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)
                        for c in chosen}, index=frame.index)
    out = pd.concat([feats, raw], axis=1)
    out.attrs["source_names"] = {feature_name(c): str(c) for c in chosen}
    return out


def _finish(objects: pd.DataFrame, role: np.ndarray, feats: pd.DataFrame, q: pd.DataFrame, cfg: Config, *,
            allow_leaky: bool, explicit: bool, source: str) -> Selection:
    """Splits, leakage guard on the training rows, and assembly."""
    n_labelled = np.unique(objects["label"][role == "labelled"]).size
    if n_labelled < 2:
        raise AgnbenchError(f"{source}: the label scheme leaves {n_labelled} class(es) among the selected objects; "
                            "at least two are needed (check the cuts, --label-map or labels.scheme)")
    objects["split"] = assign_splits(objects["object_id"].to_numpy(), objects["label"].to_numpy(), role,
                                     val_fraction=cfg.prep.val_fraction, test_fraction=cfg.prep.test_fraction,
                                     seed=cfg.seed)
    train = (objects["split"] == "train").to_numpy()
    report = check_leakage(feats, list(feats.columns), label=objects["label"].to_numpy(), train=train,
                           allow_leaky=allow_leaky, raise_on_leak=explicit, source=source)
    if report.leaky and not allow_leaky:
        # automatic feature discovery: refuse leaky columns by leaving them out, loudly
        names = feats.attrs.get("source_names", {})
        log.warning("refused %d label-defining column(s) as features: %s (use --allow-leaky to keep them): %s",
                    len(report.leaky), ", ".join(names.get(f, f) for f in report.leaky), "; ".join(report.describe()))
        feats = feats.drop(columns=report.leaky)
    objects["spec_row"] = -1
    objects["image_row"] = -1
    out = pd.concat([objects, feats.reset_index(drop=True), q.reset_index(drop=True)], axis=1)
    return Selection(objects=out, classes=(), leakage=report)
