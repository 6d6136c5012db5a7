"""Contract 4, a comparison directory (``agnbench compare``), with its cross-track attributions and its report.

Layout (names in :mod:`agnbench.contracts.files`)::

    comparisons/NAME/
        replicates.parquet   one row per (replicate, run, metric)
        summary.csv          point estimate and interval per (run, metric)
        tests.csv            paired tests per (metric, run pair)
        <table>.csv          optional tables (:data:`OPTIONAL_TABLES`), when they apply
        inputs.yaml          runs, classes, counts, settings, environment; written last
        crosstrack/          ``agnbench explain --compare`` (summary.json written last)
        report/              ``agnbench report`` (report.html)

:func:`write_comparison` writes the files (into the temporary directory of an atomic rename),
:func:`read_inputs` (with :func:`compared_run_path`), :func:`read_table`, :func:`read_optional_tables` and
:func:`read_replicates` read them, and :func:`comparison_complete`, :func:`crosstrack_complete` and
:func:`report_complete` say whether each stage finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from agnbench.contracts import files
from agnbench.errors import AgnbenchError
from agnbench.fileio import atomic_write_parquet, atomic_write_text, read_csv, read_parquet

#: Tables every comparison has (file stems).
REQUIRED_TABLES: tuple[str, ...] = ("summary", "tests")
#: Columns each required table must have (checked when read).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("metric", "run", "estimate"),
    "tests": ("metric", "run_a", "run_b"),
}
#: What to do about a damaged comparison file.
_REDO = "re-run agnbench compare with --overwrite"
#: Tables written by ``agnbench compare`` when they apply (file stems).
OPTIONAL_TABLES: tuple[str, ...] = ("seeds", "calibration", "subgroups", "ood", "thresholds", "abstention",
                                  "primary", "incremental")


@dataclass(frozen=True)
class ComparisonPaths:
    """The files of one comparison directory (none need exist).

    Attributes
    ----------
    root : Path
        The comparison directory.
    """

    root: Path

    @property
    def inputs(self) -> Path:
        """``inputs.yaml``: what was compared and how; written last."""
        return self.root / files.COMPARISON_INPUTS

    @property
    def summary(self) -> Path:
        """``summary.csv``."""
        return self.root / files.SUMMARY

    @property
    def tests(self) -> Path:
        """``tests.csv``."""
        return self.root / files.TESTS

    @property
    def replicates(self) -> Path:
        """``replicates.parquet``."""
        return self.root / files.REPLICATES

    def table(self, stem: str) -> Path:
        """``<stem>.csv`` (``summary``, ``tests`` or one of :data:`OPTIONAL_TABLES`)."""
        return self.root / f"{stem}{files.TABLE_SUFFIX}"

    @property
    def crosstrack_dir(self) -> Path:
        """``crosstrack/``: ``agnbench explain --compare`` of one run per track."""
        return self.root / files.CROSSTRACK_DIR

    @property
    def crosstrack_summary(self) -> Path:
        """``crosstrack/summary.json``, written last."""
        return self.crosstrack_dir / files.CROSSTRACK_SUMMARY

    @property
    def report_dir(self) -> Path:
        """``report/``: ``agnbench report``."""
        return self.root / files.REPORT_DIR

    @property
    def report_html(self) -> Path:
        """``report/report.html``."""
        return self.report_dir / files.REPORT_HTML


def comparison_paths(comparison: str | Path) -> ComparisonPaths:
    """The files of the comparison directory ``comparison``."""
    return ComparisonPaths(Path(comparison))


# --------------------------------------------------------------------------- completion


def comparison_complete(comparison: str | Path) -> bool:
    """True if ``agnbench compare`` finished ``comparison`` (its ``inputs.yaml`` exists)."""
    return comparison_paths(comparison).inputs.exists()


def crosstrack_complete(comparison: str | Path) -> bool:
    """True if the comparison's ``crosstrack/summary.json`` exists."""
    return comparison_paths(comparison).crosstrack_summary.exists()


def report_complete(comparison: str | Path) -> bool:
    """True if the comparison's ``report/report.html`` exists."""
    return comparison_paths(comparison).report_html.exists()


# --------------------------------------------------------------------------- writing


def write_comparison(
    directory: str | Path,
    *,
    replicates: pd.DataFrame,
    summary: pd.DataFrame,
    tests: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame | None],
    inputs: Mapping[str, Any],
) -> Path:
    """Write a comparison's files into ``directory``, ``inputs.yaml`` last.

    Parameters
    ----------
    directory : path
        Normally the temporary directory of :func:`agnbench.fileio.atomic_directory`.
    replicates : pandas.DataFrame
        Long form: replicate, run, metric, value.
    summary, tests : pandas.DataFrame
    tables : mapping of str to pandas.DataFrame or None
        Optional tables by stem; None or empty ones are not written.
    inputs : mapping
        The contents of ``inputs.yaml`` (key order kept).
    """
    paths = comparison_paths(directory)
    atomic_write_parquet(paths.replicates, replicates)
    atomic_write_text(paths.summary, summary.to_csv(index=False))
    atomic_write_text(paths.tests, tests.to_csv(index=False))
    for stem, table in tables.items():
        if table is not None and len(table):
            atomic_write_text(paths.table(stem), table.to_csv(index=False))
    atomic_write_text(paths.inputs, yaml.safe_dump(dict(inputs), sort_keys=False))
    return paths.root


# --------------------------------------------------------------------------- reading


def read_inputs(comparison: str | Path) -> dict[str, Any]:
    """The comparison's ``inputs.yaml`` (``{}`` if empty); raises FileNotFoundError if absent."""
    path = comparison_paths(comparison).inputs
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise AgnbenchError(f"{path}: not valid YAML; the file is damaged: {_REDO}") from None
    if not isinstance(data, Mapping):
        raise AgnbenchError(f"{path}: not a mapping of settings; the file is damaged: {_REDO}")
    return dict(data)


def compared_run_path(entry: Mapping[str, Any], comparison: str | Path) -> Path:
    """Where the run of one ``inputs.yaml`` ``runs`` entry is: its recorded ``path``, or, when that is relative
    and not found from here, the same path under ``comparison`` (a comparison moved together with its runs)."""
    path = Path(str(entry.get("path", "")))
    if not path.is_absolute() and not path.exists():
        path = Path(comparison) / path
    return path


def read_table(comparison: str | Path, stem: str) -> pd.DataFrame:
    """The comparison's ``<stem>.csv``; raises FileNotFoundError if absent."""
    return read_csv(comparison_paths(comparison).table(stem), required=REQUIRED_COLUMNS.get(stem, ()), fix=_REDO)


def read_optional_tables(comparison: str | Path) -> dict[str, pd.DataFrame]:
    """Each of :data:`OPTIONAL_TABLES` that the comparison holds (non-empty files), by stem."""
    paths = comparison_paths(comparison)
    out = {}
    for stem in OPTIONAL_TABLES:
        path = paths.table(stem)
        if path.exists() and path.stat().st_size > 0:
            out[stem] = read_csv(path, fix=_REDO)
    return out


def read_replicates(comparison: str | Path) -> pd.DataFrame | None:
    """The comparison's ``replicates.parquet``; None if absent."""
    path = comparison_paths(comparison).replicates
    return read_parquet(path, fix=_REDO) if path.exists() else None
