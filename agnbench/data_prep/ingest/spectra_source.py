"""Prep, step 1 for ``--source spectra``: a folder (or a list) of spectrum files is the objects table.

list files -> read each file's metadata (redshift, class, ids; unreadable files are quarantined with
their path) -> de-duplicate -> labels (the files' own pipeline ``CLASS`` for ``labels.scheme
sdss_class``, or a user table joined by id, file name or plate/mjd/fiber) -> cuts (``ZWARNING``,
and a redshift range in the rest frame only) -> splits. The spectra themselves are read in the
store's second pass (:mod:`agnbench.data_prep.ingest.spectra`) from the files recorded here.
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from agnbench.config.core import Config
from agnbench.config.prep import ReaderConfig
from agnbench.data_prep.formats.catalog import read_table
from agnbench.data_prep.formats.table_values import id_text
from agnbench.data_prep.formats.sdss_files import SurveyFileError
from agnbench.data_prep.formats.spectrum1d import read_spectrum_1d
from agnbench.data_prep.ingest.labels import assign_labels, class_names, labels_from_map, parse_label_map
from agnbench.data_prep.ingest.objects import Selection, _cut, _finish
from agnbench.errors import AgnbenchError
from agnbench.fileio import default_workers

log = logging.getLogger(__name__)

#: Spellings (any case) of the columns a label table may be joined on, besides ``--id-col``.
JOIN_KEYS = {"plate": ("plate", "plateid", "plate_id"), "mjd": ("mjd",), "fiber": ("fiberid", "fiber", "fiber_id")}
_LIST_SUFFIXES = (".txt", ".lst", ".list", ".csv")
_BPT_OF_NAME = {"sf": 1, "composite": 3, "agn": 4, "liner": 4}


def resolved_frame(cfg: Config) -> str:
    """``prep.frame`` with ``auto`` resolved: observed for ``labels.scheme sdss_class``, rest otherwise."""
    if cfg.prep.frame != "auto":
        return cfg.prep.frame
    return "observed" if cfg.labels.scheme == "sdss_class" else "rest"


def list_spectrum_files(raw: Path, *, pattern: str) -> list[Path]:
    """The spectrum files of a folder (comma-separated globs ``pattern``), a list file, or one file.

    A list file (``.txt``/``.lst``/``.list``/``.csv``) holds one path per line (``#`` comments; relative
    paths are relative to the list file); a CSV list uses its first column.

    Raises
    ------
    AgnbenchError
        If ``raw`` does not exist or holds no matching file.
    """
    raw = Path(raw)
    if not raw.exists():
        raise AgnbenchError(f"{raw}: no such folder or file (--raw for --source spectra: a folder of spectrum "
                            "files, a text file listing them, or one file)")
    if raw.is_dir():
        found = sorted({p for glob in pattern.split(",") if glob.strip() for p in raw.glob(glob.strip())
                        if p.is_file()})
        if not found:
            raise AgnbenchError(f"{raw}: no file matches prep.reader.pattern {pattern!r}; set it to your files' "
                                "names, e.g. --set prep.reader.pattern='**/*.fits.fz'")
        return found
    if raw.suffix.lower() in _LIST_SUFFIXES:
        lines = [ln.split(",")[0].strip() for ln in raw.read_text().splitlines()]
        paths = [Path(ln) for ln in lines if ln and not ln.startswith("#")]
        if raw.suffix.lower() == ".csv" and paths and not paths[0].suffix:
            paths = paths[1:]  # a header row
        if not paths:
            raise AgnbenchError(f"{raw}: the list names no spectrum file")
        return [p if p.is_absolute() else raw.parent / p for p in paths]
    return [raw]


def _read_meta(path: Path, reader: ReaderConfig) -> tuple[dict[str, Any] | None, str]:
    """(metadata, "") or (None, reason) for one file; never raises."""
    if not path.exists():
        return None, "listed file does not exist"
    try:
        return read_spectrum_1d(path, reader, arrays=False).meta, ""
    except SurveyFileError as exc:
        return None, f"unreadable spectrum: {exc}"
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop prep
        return None, f"unexpected {type(exc).__name__} while reading the header: {exc}"


def _read_chunk(paths: list[Path], reader: ReaderConfig) -> list[tuple[dict[str, Any] | None, str]]:
    return [_read_meta(p, reader) for p in paths]


def read_metadata(paths: list[Path], reader: ReaderConfig, *, workers: int = 1,
                  progress: bool = True) -> list[tuple[dict[str, Any] | None, str]]:
    """Metadata of every file, in order (files read in chunks on ``workers`` processes)."""
    chunks = [paths[i : i + 256] for i in range(0, len(paths), 256)]
    out: list[tuple[dict[str, Any] | None, str]] = []
    with tqdm(total=len(paths), desc="prep headers", unit="file", disable=not progress, leave=False) as bar:
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                out.extend(_read_chunk(chunk, reader))
                bar.update(len(chunk))
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
                for chunk, result in zip(chunks, pool.map(_read_chunk, chunks, [reader] * len(chunks))):
                    out.extend(result)
                    bar.update(len(chunk))
    return out


def _frame_from_files(paths: list[Path], metas: list[tuple[dict[str, Any] | None, str]],
                      quarantine: list[dict]) -> pd.DataFrame:
    rows = []
    for path, (meta, reason) in zip(paths, metas):
        if meta is None:
            quarantine.append({"object_id": path.stem, "file": str(path), "stage": "spectra", "reason": reason})
            continue
        sid = str(meta.get("specobjid", "")).strip()
        rows.append({
            "object_id": sid if sid and sid != "0" else path.stem, "file": str(path), "stem": path.stem,
            "name": str(meta.get("name", "")).strip(), "z": _float(meta.get("z")),
            "ra": _float(meta.get("ra")), "dec": _float(meta.get("dec")),
            "spec_class": str(meta.get("spec_class", "")).strip(), "subclass": str(meta.get("subclass", "")).strip(),
            "zwarning": _float(meta.get("zwarning")), "plate": meta.get("plate"), "mjd": meta.get("mjd"),
            "fiber": meta.get("fiber"), "medium": meta.get("medium", ""),
        })
    if not rows:
        raise AgnbenchError(f"none of the {len(paths)} spectrum files could be read; see the reasons: "
                            f"{quarantine[0]['file']}: {quarantine[0]['reason']}" if quarantine else "no files")
    return pd.DataFrame(rows)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _join_labels(frame: pd.DataFrame, table: Path, *, id_col: str | None, label_col: str,
                 label_map: str) -> tuple[pd.Series, str]:
    """The label-table value of every object (NaN where it has no row) and how the join was made."""
    if id_col is not None and id_col.lower() == label_col.lower():
        raise AgnbenchError(f"{table}: --id-col and --label-col are both {id_col!r}; the ids and the labels must be "
                            "different columns")
    tab = read_table(Path(table), text_columns=(id_col,) if id_col else ())
    if label_col not in tab.columns:
        raise AgnbenchError(f"{table}: no column {label_col!r} (--label-col); columns are: {', '.join(map(str, tab.columns))}")
    lower = {str(c).lower(): c for c in tab.columns}
    keys = {k: next((lower[n] for n in names if n in lower), None) for k, names in JOIN_KEYS.items()}
    if id_col is None and all(keys.values()) and frame[["plate", "mjd", "fiber"]].notna().all().all():
        left = frame[["plate", "mjd", "fiber"]].astype(np.int64).apply(tuple, axis=1)
        right = tab[[keys["plate"], keys["mjd"], keys["fiber"]]].astype(np.int64).apply(tuple, axis=1)
        how = f"plate/mjd/fiber ({', '.join(str(keys[k]) for k in ('plate', 'mjd', 'fiber'))})"
    elif id_col is not None:
        if id_col not in tab.columns:
            raise AgnbenchError(f"{table}: no column {id_col!r} (--id-col); columns are: {', '.join(map(str, tab.columns))}")
        right = pd.Series(id_text(tab[id_col], column=id_col, source=str(table)), dtype=object)
        empty = (right == "").to_numpy()
        if empty.any():
            log.warning("%s: %d row(s) have no %s (--id-col) and join to no spectrum", table, int(empty.sum()), id_col)
            tab, right = tab.loc[~empty].reset_index(drop=True), right[~empty].reset_index(drop=True)
        best = max(("object_id", "stem", "name"), key=lambda c: frame[c].isin(set(right)).sum())
        left, how = frame[best], f"{id_col} = the spectra's {'object id' if best == 'object_id' else 'file name' if best == 'stem' else 'header name'}"
    else:
        raise AgnbenchError(f"{table}: cannot join labels to spectra: give --id-col (matched against the object id, "
                            "the file name without suffix, or the header's object name), or have plate, mjd and "
                            "fiberid columns in the table and the files")
    dup = right.duplicated(keep=False)
    if dup.any():
        raise AgnbenchError(f"{table}: {int(dup.sum())} rows share a join key ({how}), e.g. {right[dup].iloc[0]!r}; "
                            "make the key unique")
    values = pd.Series(tab[label_col].to_numpy(), index=pd.Index(right.to_numpy()))
    joined = pd.Series(left.map(values).to_numpy(), index=frame.index)
    n = int(joined.notna().sum())
    log.info("labels joined from %s on %s: %d of %d spectra matched", table, how, n, len(frame))
    if n == 0:
        raise AgnbenchError(f"{table}: no spectrum matched a row on {how}; check --id-col and the file names")
    return joined, how


def select_spectra(raw: Path, cfg: Config, *, table: Path | None = None, id_col: str | None = None,
                   label_col: str | None = None, label_map: str | None = None, progress: bool = True) -> Selection:
    """The objects of a folder/list of spectrum files (module docstring).

    Raises
    ------
    AgnbenchError
        No readable file; labels impossible (scheme other than ``sdss_class`` without a table,
        no ``CLASS`` in the files, a table that joins to nothing); fewer than two classes.
    """
    p = cfg.prep
    if table is None and cfg.labels.scheme != "sdss_class":
        raise AgnbenchError(
            f"labels.scheme {cfg.labels.scheme!r} needs BPT classes, which spectrum files do not carry: give "
            "--table LABELS --id-col ID --label-col COL --label-map ..., or use --set labels.scheme=sdss_class "
            "(the files' own galaxy/qso/star CLASS)")
    if table is not None and (label_col is None or label_map is None):
        raise AgnbenchError("--table with --source spectra needs --label-col and --label-map (and --id-col "
                            "unless the table has plate, mjd and fiberid columns)")
    frame_kind = resolved_frame(cfg)
    paths = list_spectrum_files(Path(raw), pattern=p.reader.pattern)
    log.info("--source spectra: %d file(s) from %s; %s-frame grid", len(paths), raw, frame_kind)
    quarantine: list[dict] = []
    metas = read_metadata(paths, p.reader, workers=default_workers(p.workers), progress=progress)
    frame = _frame_from_files(paths, metas, quarantine)
    dup = frame["object_id"].duplicated(keep="first")
    for row in frame[dup].itertuples():
        quarantine.append({"object_id": row.object_id, "file": row.file, "stage": "spectra",
                           "reason": "duplicate object id (the same spectrum twice?); the first file was kept"})
    frame = frame[~dup].reset_index(drop=True)
    cuts = [("input (readable spectrum files)", len(frame))]
    assumed = int(frame["medium"].astype(str).str.contains("assumed").sum())
    if assumed:
        log.warning("%d file(s) do not say whether wavelengths are air or vacuum; taken as vacuum "
                    "(set prep.reader.medium if they are air)", assumed)
    if p.require_zwarning_zero and frame["zwarning"].notna().any():
        frame = _cut(frame, (frame["zwarning"].fillna(0) == 0).to_numpy(), "ZWARNING == 0", cuts)
    if frame_kind == "rest":
        z = frame["z"].to_numpy(np.float64)
        frame = _cut(frame, (z >= p.z_min) & (z <= p.z_max), f"{p.z_min} <= z <= {p.z_max} (rest-frame grid)", cuts)
    if frame.empty:
        raise AgnbenchError(f"{raw}: no spectrum passes the cuts ({'; '.join(f'{n}: {k}' for n, k in cuts)})")
    if table is not None:
        assert label_col is not None and label_map is not None
        values, how = _join_labels(frame, Path(table), id_col=id_col, label_col=label_col, label_map=label_map)
        label, label_name, role, classes = labels_from_map(values, parse_label_map(label_map))
        inputs = {"spectra": str(raw), "labels": str(table), "join": how}
    else:
        if (frame["spec_class"] == "").all():
            raise AgnbenchError(f"{raw}: the files carry no pipeline CLASS (SPECOBJ/SPALL CLASS or a CLASS/SPECTYPE "
                                "header keyword); give labels with --table")
        label, label_name, role = assign_labels(np.full(len(frame), -1), scheme="sdss_class",
                                                sdss_class=frame["spec_class"].to_numpy())
        classes = class_names("sdss_class")
        inputs = {"spectra": str(raw), "labels": "the files' pipeline CLASS"}
    objects = pd.DataFrame({
        "object_id": frame["object_id"].astype(str).to_numpy(), "ra": frame["ra"].to_numpy(np.float64),
        "dec": frame["dec"].to_numpy(np.float64), "z": frame["z"].to_numpy(np.float64),
        "label": label, "label_name": label_name,
        "bpt_class": np.array([_BPT_OF_NAME.get(n, -1) for n in label_name], dtype=np.int64),
    })
    for key in ("plate", "mjd", "fiber"):
        if frame[key].notna().all():
            objects[key if key != "fiber" else "fiberid"] = frame[key].astype(np.int64).to_numpy()
    empty = pd.DataFrame(index=objects.index)
    sel = _finish(objects, role, empty, empty.copy(), cfg, allow_leaky=False, explicit=False, source=str(raw))
    sel.cuts, sel.quarantine, sel.inputs, sel.classes = cuts, quarantine, inputs, classes
    sel.spec_files = dict(zip(objects["object_id"], frame["file"]))
    sel.not_applied = {
        **{k: "not applied: spectrum files carry no MPA-JHU RELIABLE/SPECTROTYPE or photometry"
           for k in ("require_reliable", "require_galaxy", "r_min", "r_max")},
        **({k: "not applied: no redshift cut on an observed-frame grid" for k in ("z_min", "z_max")}
           if frame_kind == "observed" else {}),
        **({k: f"not applied: the grid is in the {frame_kind} frame" for k in
            (("wave_min", "wave_max") if frame_kind == "observed" else ("observed_wave_min", "observed_wave_max"))}),
    }
    if not (p.require_zwarning_zero and frame["zwarning"].notna().any()):
        sel.not_applied["require_zwarning_zero"] = "not applied: the files carry no ZWARNING"
    return sel
