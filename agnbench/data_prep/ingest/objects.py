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
    Cleaning,
    column,
    find_photometry,
    find_position_columns,
    join_photometry,
    read_mpajhu,
    read_table,
)
from agnbench.data_prep.formats.table_values import (
    describe_text,
    duplicate_rows,
    finite_features,
    id_text,
    numbers_from_text,
)
from agnbench.data_prep.ingest.features import canonical_inputs, catalog_features, dereddened_mags, quality_columns
from agnbench.data_prep.ingest.labels import assign_labels, class_names, labels_from_map, parse_label_map
from agnbench.protocol.leakage import LeakageReport, check_leakage
from agnbench.data_prep.ingest.splits import assign_splits
from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

#: Survey identifiers and bookkeeping columns: never model inputs.
IDENTIFIER = re.compile(
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
    #: What reading the inputs cleaned without dropping an object (manifest ``cleaning``):
    #: ``duplicate_rows_collapsed`` (file -> n) and ``infinite_features_set_to_nan`` (feat_* -> n).
    cleaning: dict[str, dict[str, int]] = field(default_factory=dict)


def _cut(frame: pd.DataFrame, keep: np.ndarray, name: str, cuts: list[tuple[str, int]]) -> pd.DataFrame:
    out = frame.loc[keep].reset_index(drop=True)
    cuts.append((name, len(out)))
    return out


def select_mpajhu(raw: Path, cfg: Config, *, allow_leaky: bool = False) -> Selection:
    """Objects from MPA-JHU galSpec files (+ photometry) in ``raw/catalog``."""
    cleaning = Cleaning()
    frame, inputs = read_mpajhu(raw, cleaning=cleaning)
    phot = find_photometry(raw)
    if phot is not None:
        frame = join_photometry(frame, phot, cleaning=cleaning)
        inputs["photometry"] = str(phot)
    quarantine = cleaning.quarantine
    p = cfg.prep
    cuts = [("input", len(frame))]
    selection = Path(raw) / "selection.csv"
    if selection.exists():  # a pilot fetched with `agnbench fetch --limit`: only those objects have files
        chosen = set(pd.read_csv(selection, dtype={"object_id": str}, usecols=["object_id"])["object_id"].str.strip())
        frame = _cut(frame, frame["SPECOBJID"].isin(chosen).to_numpy(), f"in {selection.name} (the objects agnbench fetch chose)",
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
        "object_id": frame["SPECOBJID"].to_numpy(object),
        "ra": frame["RA"].to_numpy(np.float64), "dec": frame["DEC"].to_numpy(np.float64),
        "z": frame["Z"].to_numpy(np.float64), "label": label, "label_name": label_name,
        "bpt_class": bpt.astype(np.int64),
    })
    for name in ("PLATEID", "MJD", "FIBERID"):
        if name in frame:
            objects[name.lower().replace("plateid", "plate")] = frame[name].to_numpy(np.int64)
    photo = column(frame, "objID", "PHOTOID", "BESTOBJID")
    if photo is not None:  # the photometric id names SDSS JPEG cutouts
        objects["objid"] = id_text(photo, column=str(photo.name), source=inputs.get("photometry", inputs["info"]))
    sel = _finish(objects, role, catalog_features(frame), q, cfg, allow_leaky=allow_leaky, explicit=False,
                  source=inputs["info"])
    sel.cuts, sel.quarantine, sel.inputs, sel.not_applied = cuts, quarantine, inputs, not_applied
    sel.classes = class_names(cfg.labels.scheme)
    if cleaning.collapsed:
        sel.cleaning["duplicate_rows_collapsed"] = dict(cleaning.collapsed)
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
    frame = read_table(Path(path), text_columns=(id_col,))
    for flag, col in (("--id-col", id_col), ("--label-col", label_col)):
        if col not in frame.columns:
            raise AgnbenchError(f"{path}: no column {col!r} ({flag}); columns are: {', '.join(map(str, frame.columns))}")
    mapping = parse_label_map(label_map)
    given = {"ra": ra_col, "dec": dec_col, "z": z_col, "plate": plate_col, "mjd": mjd_col, "fiberid": fiber_col}
    found = find_position_columns(list(frame.columns), given, source=str(path))
    _refuse_overlaps(path, id_col=id_col, label_col=label_col, found=found)
    log.info("%s: recognised %s", Path(path).name,
             ", ".join(f"{k}={v}" for k, v in found.items() if v is not None) or "no position or spectrum-id column")
    if features is not None:
        features = list(dict.fromkeys(features))
        unknown = [f for f in features if f not in frame.columns]
        if unknown:
            raise AgnbenchError(f"{path}: --features names unknown column(s) {', '.join(unknown)}")
    quarantine: list[dict] = []
    frame, ids = _clean_table(frame, path, id_col=id_col, label_col=label_col, found=found, features=features,
                              quarantine=quarantine)
    keep, conflicts, n_collapsed = duplicate_rows(frame.drop(columns=[id_col]), ids, id_name=f"{id_col!r}",
                                                  file=Path(path).name)
    for key, reason in conflicts.items():
        quarantine.append({"object_id": key, "file": str(path), "stage": "catalog", "reason": reason})
    frame, ids = frame.loc[keep].reset_index(drop=True), ids[keep]
    cuts = [("input", len(frame))]
    label, label_name, role, classes = labels_from_map(frame[label_col], mapping)
    _log_unmapped(frame[label_col], role, source=str(path), label_col=label_col)
    pos = {k: np.full(len(frame), np.nan) if c is None else frame[c].to_numpy(np.float64, na_value=np.nan)
           for k, c in found.items()}
    objects = pd.DataFrame({
        "object_id": ids, "ra": pos["ra"], "dec": pos["dec"], "z": pos["z"],
        "label": label, "label_name": label_name,
        "bpt_class": np.array([_NAME_TO_BPT.get(n, -1) for n in label_name], dtype=np.int64),
    })
    if all(found[k] is not None for k in ("plate", "mjd", "fiberid")):  # spectra can be found by plate-mjd-fiber
        for k in ("plate", "mjd", "fiberid"):
            objects[k] = np.nan_to_num(pos[k], nan=-1).astype(np.int64)
    skip = {id_col, label_col} | {c for c in found.values() if c is not None}
    if features is not None:
        positional = [f for f in features if f in skip]
        if positional:
            raise AgnbenchError(f"{path}: --features names {', '.join(positional)}, the id, label, position or "
                                "spectrum-id column(s); these are never features (the redshift enters as feat_z "
                                "when --features is not given)")
        _refuse_collisions(features, source=str(path))
        feats = pd.DataFrame({feature_name(c): frame[c].to_numpy(np.float64, na_value=np.nan) for c in features},
                             index=frame.index)
        feats.attrs["source_names"] = {feature_name(c): str(c) for c in features}
    else:
        feats = table_features(frame, column_map=column_map, z=pos["z"] if found["z"] is not None else None,
                               skip=skip, source=str(path))
    sel = _finish(objects, role, feats, quality_columns(frame), cfg, allow_leaky=allow_leaky,
                  explicit=features is not None, source=str(path))
    sel.cuts, sel.quarantine, sel.inputs, sel.classes = cuts, quarantine, {"table": str(path)}, classes
    sel.not_applied = dict(TABLE_NOT_APPLIED)
    if n_collapsed:
        sel.cleaning["duplicate_rows_collapsed"] = {Path(path).name: n_collapsed}
    return sel


def _refuse_overlaps(path: Path, *, id_col: str, label_col: str, found: dict[str, str | None]) -> None:
    """One column may play one part only: the id, the label, or one position / spectrum-id column."""
    parts: dict[object, list[str]] = {}
    for part, col in (("--id-col", id_col), ("--label-col", label_col), *((f"the {k} column", c) for k, c in found.items())):
        if col is not None:
            parts.setdefault(col, []).append(part)
    clash = {c: p for c, p in parts.items() if len(p) > 1}
    if clash:
        raise AgnbenchError(f"{path}: " + "; ".join(f"column {c!r} is both {' and '.join(p)}" for c, p in clash.items())
                            + "; give each part its own column (--id-col, --label-col, --ra-col, --z-col ...)")


def _clean_table(frame: pd.DataFrame, path: Path, *, id_col: str, label_col: str, found: dict[str, str | None],
                 features: list[str] | None, quarantine: list[dict]) -> tuple[pd.DataFrame, np.ndarray]:
    """Ids as full text and numeric columns as numbers; rows without an id or with a non-number quarantined.

    A text column whose non-empty values are at least half numbers is read as numbers; its other
    values quarantine their rows when the column is used (a position column, a named feature, or any
    candidate feature when ``--features`` is not given). A position column or a named feature that
    is text is refused.
    """
    source = str(path)
    ids = id_text(frame[id_col], column=id_col, source=source)
    positions = {c: k for k, c in found.items() if c is not None}
    skip = {id_col, label_col} | {c for c in frame.columns if IDENTIFIER.search(str(c)) and c not in positions}
    conv = numbers_from_text(frame, skip=skip, source=source)
    for col in conv.text:
        if col in positions or (features is not None and col in features):
            part = f"the {positions[col]} column" if col in positions else "named in --features"
            raise AgnbenchError(
                f"{source}: column {col!r} ({part}) holds text, not numbers (e.g. "
                f"{describe_text(frame[col], frame[col].notna().to_numpy())}); only numeric columns can be "
                "positions or features (a column of numbers stored as text is read as numbers)")
    used = set(positions) | (set(features) if features is not None else set(frame.columns) - skip)
    reasons: dict[int, list[str]] = {}
    for col, bad in conv.bad.items():
        if col in used:
            for i, text in zip(np.flatnonzero(bad), conv.examples[col]):
                reasons.setdefault(int(i), []).append(f"column {col!r} holds {text!r}, not a number")
    drop = ids == ""
    for i in np.flatnonzero(drop):
        quarantine.append({"object_id": "", "file": source, "stage": "catalog",
                           "reason": f"row {i + 1}: empty {id_col!r} (--id-col); an object needs an id"})
    for i, why in sorted(reasons.items()):
        if not drop[i]:
            quarantine.append({"object_id": ids[i], "file": source, "stage": "catalog",
                               "reason": f"row {i + 1}: " + "; ".join(why)})
            drop[i] = True
    if drop.any():
        log.warning("%s: %d row(s) quarantined (%d without an id, %d with a value that is not a number); see "
                    "quarantine.csv", source, int(drop.sum()), int((ids == "").sum()), int(drop.sum() - (ids == "").sum()))
    out = conv.frame.loc[~drop].reset_index(drop=True)
    return out, ids[~drop]


def _log_unmapped(values: pd.Series, role: np.ndarray, *, source: str, label_col: str) -> None:
    """Warn about label values that --label-map does not name (their objects are excluded)."""
    unmapped = values[role == "excluded"].astype(object).value_counts(dropna=False)
    if len(unmapped):
        log.warning("%s: %d row(s) have %s values not in --label-map and are excluded: %s", source,
                    int(unmapped.sum()), label_col, ", ".join(f"{k!r} x{n}" for k, n in unmapped.head(5).items()))


def _refuse_collisions(columns: list, *, source: str) -> None:
    """Refuse columns whose ``feat_*`` names coincide (``g-r``, ``g_r``, ``G R`` -> ``feat_g_r``)."""
    by_name: dict[str, list[str]] = {}
    for col in columns:
        by_name.setdefault(feature_name(col), []).append(str(col))
    clash = {n: cols for n, cols in by_name.items() if len(cols) > 1}
    if clash:
        raise AgnbenchError(f"{source}: " + "; ".join(f"columns {', '.join(map(repr, cols))} would all become {n}"
                                                      for n, cols in clash.items())
                            + "; rename them in the table, or choose one with --features (--column-map names the "
                            "canonical inputs)")


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
    chosen = [c for c in numeric if not IDENTIFIER.search(str(c)) and feature_name(c) not in feats.columns]
    _refuse_collisions(chosen, source=source)
    if len(chosen) < len(numeric):
        log.info("not used as raw features (identifiers, or given as canonical feat_*): %s",
                 ", ".join(map(str, sorted(set(numeric) - set(chosen), key=str))))
    raw = pd.DataFrame({feature_name(c): frame[c].to_numpy(np.float64, na_value=np.nan) for c in chosen},
                       index=frame.index)
    out = pd.concat([feats, raw], axis=1)
    out.attrs["source_names"] = {feature_name(c): str(c) for c in chosen}
    return out


def _finish(objects: pd.DataFrame, role: np.ndarray, feats: pd.DataFrame, q: pd.DataFrame, cfg: Config, *,
            allow_leaky: bool, explicit: bool, source: str) -> Selection:
    """Infinite features to NaN, splits, leakage guard on the training rows, and assembly."""
    feats, n_inf = finite_features(feats, source=source, names=feats.attrs.get("source_names"))
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
    return Selection(objects=out, classes=(), leakage=report,
                     cleaning={"infinite_features_set_to_nan": n_inf} if n_inf else {})
