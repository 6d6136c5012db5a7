"""Tests for agnbench.contracts.store: store paths, opening, completion, and finding the store behind runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.contracts import files
from agnbench.contracts.run_dir import write_data_record
from agnbench.contracts.store import (
    STORE_CHANGED,
    STORE_MISSING,
    STORE_OK,
    STORE_UNKNOWN,
    check_store,
    locate_store,
    open_store,
    read_manifest,
    read_objects,
    read_survey_manifest,
    recorded_sha256,
    store_candidates,
    store_complete,
    store_paths,
    store_state,
    survey_complete,
    survey_has_catalog,
    survey_paths,
)
from agnbench.errors import AgnbenchError
from agnbench.fileio import sha256_file


def _objects(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({
        "object_id": [f"o{i}" for i in range(n)],
        "ra": np.linspace(150.0, 151.0, n),
        "dec": np.linspace(2.0, 2.5, n),
        "z": np.linspace(0.03, 0.18, n),
        "label": np.array([0, 1] * (n // 2), dtype=np.int64),
        "label_name": ["sf", "agn"] * (n // 2),
        "bpt_class": np.array([1, 4] * (n // 2), dtype=np.int64),
        "split": ["train", "train", "val", "val", "test", "test"][:n],
        "spec_row": np.arange(n, dtype=np.int64),
        "image_row": np.full(n, -1, dtype=np.int64),
    })


def _store(path: Path, *, objects: pd.DataFrame | None = None, manifest: bool = True) -> Path:
    path.mkdir(parents=True)
    (objects if objects is not None else _objects()).to_parquet(path / files.OBJECTS, index=False)
    if manifest:
        (path / files.MANIFEST).write_text(json.dumps({"labels": {"scheme": "agn_vs_sf", "classes": ["sf", "agn"]}}))
    return path


def _run(path: Path, record: dict | None) -> Path:
    path.mkdir(parents=True)
    if record is not None:
        write_data_record(path, record)
    return path


# --------------------------------------------------------------------------- paths and reading


def test_store_paths_name_every_file(tmp_path):
    p = store_paths(tmp_path)
    assert p.objects == tmp_path / "objects.parquet" and p.manifest == tmp_path / "manifest.json"
    assert p.quarantine == tmp_path / "quarantine.csv" and p.config == tmp_path / "config.yaml"
    assert (p.wave, p.flux, p.ivar) == tuple(tmp_path / "spectra" / f for f in ("wave.npy", "flux.npy", "ivar.npy"))
    assert p.cutouts == tmp_path / "images" / "cutouts.npy" and p.images_meta == tmp_path / "images" / "meta.json"
    s = survey_paths(tmp_path)
    assert (s.manifest, s.config, s.catalog_dir, s.truth) == (
        tmp_path / "manifest.json", tmp_path / "config.yaml", tmp_path / "catalog", tmp_path / "truth.parquet")


def test_open_store_and_fingerprint(tmp_path):
    store = open_store(_store(tmp_path / "s"))
    assert store.classes == ("sf", "agn") and len(store.objects) == 6
    fp = store.fingerprint()
    assert fp["objects_sha256"] == sha256_file(tmp_path / "s" / "objects.parquet")
    assert fp["label_scheme"] == "agn_vs_sf" and fp["counts"]["train/sf"] == 1
    assert store.paths.objects == tmp_path / "s" / "objects.parquet"


def test_open_store_errors(tmp_path):
    raw = tmp_path / "raw"
    (raw / "catalog").mkdir(parents=True)
    with pytest.raises(AgnbenchError, match=r"no objects.parquet\) \(it looks like a raw survey"):
        open_store(raw)
    with pytest.raises(AgnbenchError, match="not a dataset store"):
        open_store(tmp_path / "nothing")
    with pytest.raises(AgnbenchError, match="no manifest.json; the store is incomplete"):
        open_store(_store(tmp_path / "half", manifest=False))


def test_read_objects_and_manifests(tmp_path):
    store = _store(tmp_path / "s")
    assert read_objects(store)["object_id"].tolist() == [f"o{i}" for i in range(6)]
    assert read_manifest(store)["labels"]["scheme"] == "agn_vs_sf"
    assert read_manifest(tmp_path / "nothing") == {}
    assert read_survey_manifest(tmp_path / "nothing") == {}
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "manifest.json").write_text('{"kind": "agnbench mock survey"}')
    assert read_survey_manifest(tmp_path / "raw")["kind"] == "agnbench mock survey"


# --------------------------------------------------------------------------- completion


def test_store_complete_needs_the_manifest(tmp_path):
    assert not store_complete(tmp_path / "nothing")
    assert not store_complete(_store(tmp_path / "half", manifest=False))
    assert store_complete(_store(tmp_path / "full"))


def test_survey_complete_and_catalog(tmp_path):
    raw = tmp_path / "raw"
    assert not survey_complete(raw) and not survey_has_catalog(raw)
    (raw / "catalog").mkdir(parents=True)
    assert survey_has_catalog(raw) and not survey_complete(raw)  # fetched files, not a finished simulation
    (raw / "manifest.json").write_text("{}")
    assert survey_complete(raw)


# --------------------------------------------------------------------------- the store behind runs


def test_locate_store_from_records_or_explicit_data(tmp_path):
    store = _store(tmp_path / "store")
    other = tmp_path / "elsewhere"
    bare = _run(tmp_path / "bare", None)
    a = _run(tmp_path / "a", {"store": str(store), "objects_sha256": "abc"})
    b = _run(tmp_path / "b", {"store": str(other), "objects_sha256": "def"})
    assert locate_store([bare, a, b]) == store
    assert locate_store([a], data=other) == other
    assert locate_store([bare]) is None and locate_store([]) is None
    assert store_candidates([bare, a, b], data=tmp_path / "x") == [tmp_path / "x", store, other]
    assert recorded_sha256([bare, a, b]) == "abc" and recorded_sha256([bare]) is None


def test_moved_store_is_missing_until_given_again(tmp_path):
    store = _store(tmp_path / "store")
    sha = sha256_file(store / "objects.parquet")
    run = _run(tmp_path / "run", {"store": str(store), "objects_sha256": sha})
    assert store_state(locate_store([run]), sha) == STORE_OK
    moved = store.rename(tmp_path / "moved")
    assert store_state(locate_store([run]), sha) == STORE_MISSING
    assert not check_store(locate_store([run]), sha)
    assert store_state(locate_store([run], data=moved), sha) == STORE_OK
    assert check_store(moved, sha)


def test_changed_objects_sha_is_detected(tmp_path):
    store = _store(tmp_path / "store")
    sha = sha256_file(store / "objects.parquet")
    changed = _objects()
    changed.loc[0, "z"] = 0.5
    changed.to_parquet(store / "objects.parquet", index=False)
    assert store_state(store, sha) == STORE_CHANGED and not check_store(store, sha)
    assert store_state(store) == STORE_OK  # without a recorded sha256 nothing is compared
    assert check_store(store, None)


def test_unknown_store(tmp_path):
    assert store_state(None) == STORE_UNKNOWN and not check_store(None, None)
