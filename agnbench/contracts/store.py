"""Reading a dataset store (DESIGN Contract 1): every track opens it through :func:`open_store`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agnbench.errors import AgnbenchError
from agnbench.fileio import sha256_file
from agnbench.contracts.schema import validate_objects


@dataclass(frozen=True)
class Store:
    """An opened dataset store.

    Attributes
    ----------
    path : Path
    objects : pandas.DataFrame
        ``objects.parquet``, validated.
    manifest : dict
        ``manifest.json``.
    classes : tuple of str
        Class names in label order.
    """

    path: Path
    objects: pd.DataFrame
    manifest: dict
    classes: tuple[str, ...]

    def fingerprint(self) -> dict:
        """What a run records about its data: path, sha256 of objects.parquet, counts per split x label."""
        counts = self.objects.groupby(["split", "label_name"]).size()
        return {
            "store": str(self.path.resolve()),
            "objects_sha256": sha256_file(self.path / "objects.parquet"),
            "label_scheme": self.manifest.get("labels", {}).get("scheme"),
            "classes": list(self.classes),
            "counts": {f"{s}/{lab}": int(n) for (s, lab), n in counts.items()},
        }


def open_store(path: str | Path) -> Store:
    """Open and validate a store written by ``agnbench prep``.

    Raises
    ------
    AgnbenchError
        If the directory, ``objects.parquet`` or ``manifest.json`` is missing or invalid.
    """
    path = Path(path)
    if not (path / "objects.parquet").exists():
        hint = " (it looks like a raw survey: run agnbench prep first)" if (path / "catalog").is_dir() else ""
        raise AgnbenchError(f"{path}: not a dataset store (no objects.parquet){hint}; create one with agnbench prep")
    if not (path / "manifest.json").exists():
        raise AgnbenchError(f"{path}: no manifest.json; the store is incomplete, re-run agnbench prep")
    manifest = json.loads((path / "manifest.json").read_text())
    objects = pd.read_parquet(path / "objects.parquet")
    validate_objects(objects, source=str(path / "objects.parquet"))
    classes = tuple(manifest.get("labels", {}).get("classes") or ())
    if not classes:
        names = objects.loc[objects["label"] >= 0].sort_values("label").drop_duplicates("label")["label_name"]
        classes = tuple(names)
    return Store(path=path, objects=objects, manifest=manifest, classes=classes)
