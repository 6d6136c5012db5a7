"""``agnbench prep --scheduler ADDRESS``: shards run on a ``dask.distributed`` cluster (here a LocalCluster of two
worker processes) and the store is byte-identical to the local build, on a mock survey (spectra and FITS cutouts)
and on real files (SDSS/BOSS spectra; a real table with real spectra and SDSS JPEG cutouts). A scheduler that does
not answer is one line naming the address, within the timeout."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from agnbench.cli.main import main
from agnbench.config.core import load_config
from agnbench.data_prep.ingest.store import prep

from tests.conftest import REAL
from tests.data_prep.ingest.test_table_source import real_table_with_raw

distributed = pytest.importorskip("distributed")

#: Files that may differ between two builds of the same store: the output marker (its creation time) and
#: config.yaml (the resolved config, which records the runtime-only prep.workers and prep.scheduler).
PROVENANCE = {".agnbench-output.json", "config.yaml"}


@pytest.fixture(scope="module")
def scheduler() -> str:
    """The address of a LocalCluster of two single-threaded worker processes on 127.0.0.1, shared by the module."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def assert_same_store(local: Path, other: Path) -> None:
    """Every file byte-identical; config.yaml equal but for the runtime-only prep keys; the marker but its time."""
    names = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(other).as_posix() for p in other.rglob("*") if p.is_file())
    assert {"objects.parquet", "manifest.json", "quarantine.csv"} <= set(names)
    for name in set(names) - PROVENANCE:
        assert (local / name).read_bytes() == (other / name).read_bytes(), name
    a, b = (yaml.safe_load((d / "config.yaml").read_text()) for d in (local, other))
    assert b["prep"].pop("scheduler").startswith("tcp://127.0.0.1:") and a["prep"].pop("scheduler") == ""
    for key in ("workers", "scheduler_timeout"):
        a["prep"].pop(key), b["prep"].pop(key)
    assert a == b


def test_mock_survey_store_is_byte_identical_on_the_cluster(scheduler: str, tmp_path: Path) -> None:
    from agnbench.data_prep.mock.simulate import simulate

    raw = simulate(load_config(overrides=["seed=5", "simulate.n=200", "simulate.image_size=16",
                                          "simulate.workers=1"]), tmp_path / "raw", progress=False)
    common = ["prep.image_size=16", "prep.shard_size=40"]  # 4-5 shards per kind, spread over both workers
    local = prep(load_config(overrides=[*common, "prep.workers=1"]), source="mpajhu", raw=raw, out=tmp_path / "local",
                 progress=False)
    # the CLI recipe of docs/scale.md
    assert main(["prep", "--source", "mpajhu", "--raw", str(raw), "--out", str(tmp_path / "dask"), "--scheduler",
                 scheduler, "-q", *[a for c in common for a in ("--set", c)]]) == 0
    objects = pd.read_parquet(local / "objects.parquet")
    assert (objects["spec_row"] >= 0).sum() > 100 and (objects["image_row"] >= 0).sum() > 100
    assert_same_store(local, tmp_path / "dask")
    assert not list(tmp_path.glob(".dask.*"))  # the work directory is gone


def test_real_spectra_and_real_table_with_jpegs_are_byte_identical(scheduler: str, tmp_path: Path) -> None:
    spectra = sorted((REAL / "speclite").glob("*.fits")) + sorted((REAL / "eboss").glob("*.fits"))
    cfg = ["labels.scheme=sdss_class", "prep.shard_size=1"]  # one shard per real spectrum
    folder = _spectra_folder(tmp_path, spectra)
    stores = {name: prep(load_config(overrides=[*cfg, *extra]), source="spectra", raw=folder, out=tmp_path / name,
                         progress=False)
              for name, extra in (("local", ["prep.workers=1"]), ("dask", [f"prep.scheduler={scheduler}"]))}
    assert len(pd.read_parquet(stores["local"] / "objects.parquet")) == len(spectra)
    assert_same_store(stores["local"], stores["dask"])

    # the real BPT table with two real spec-lite files and their real SDSS JPEG cutouts attached
    table, raw = real_table_with_raw(tmp_path)
    jpeg = ["prep.image_source=jpeg", "prep.image_size=32", "prep.stretch=minmax_per_image", "prep.shard_size=1"]
    built = {name: prep(load_config(overrides=[*jpeg, *extra]), source="table", table=table, id_col="Objid",
                        label_col="BPT_class", label_map="SF:sf,AGN:agn,Composite:ood", raw=raw,
                        out=tmp_path / f"table-{name}", progress=False)
             for name, extra in (("local", ["prep.workers=1"]), ("dask", [f"prep.scheduler={scheduler}"]))}
    objects = pd.read_parquet(built["local"] / "objects.parquet")
    assert (objects["spec_row"] >= 0).sum() == 2 and (objects["image_row"] >= 0).sum() == 2
    assert np.load(built["dask"] / "images" / "cutouts.npy").shape == (2, 3, 32, 32)
    assert_same_store(built["local"], built["dask"])


def _spectra_folder(tmp_path: Path, spectra: list[Path]) -> Path:
    """``tmp_path/spectra`` holding copies of ``spectra`` (made once per test)."""
    folder = tmp_path / "spectra"
    if not folder.exists():
        folder.mkdir()
        for path in spectra:
            shutil.copy(path, folder / path.name)
    return folder


def test_a_scheduler_that_does_not_answer_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spectra = _spectra_folder(tmp_path, sorted((REAL / "speclite").glob("*.fits")) + sorted((REAL / "eboss").glob(
        "*.fits")))
    start = time.monotonic()
    code = main(["prep", "--source", "spectra", "--raw", str(spectra), "--out", str(tmp_path / "s"), "--scheduler",
                 f"127.0.0.1:{port}", "--set", "labels.scheme=sdss_class", "--set", "prep.scheduler_timeout=2", "-q"])
    took = time.monotonic() - start
    err = capsys.readouterr().err.strip()
    assert code != 0 and took < 10
    assert f"127.0.0.1:{port}" in err and "no Dask scheduler answered" in err and "dask worker" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "s").exists() and not list(tmp_path.glob(".s.*"))
