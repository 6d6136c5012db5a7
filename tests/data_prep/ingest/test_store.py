"""`agnbench prep`: the dataset store (Contract 1), quarantine, resume, determinism, CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from agnbench.config.core import load_config
from agnbench.data_prep.ingest.objects import select_mpajhu
from agnbench.data_prep.ingest.store import build_store, prep
from agnbench.fileio import file_manifest
from agnbench.contracts.schema import validate_objects

from tests.conftest import REAL

PREP = ["prep.shard_size=40", "prep.image_size=32", "prep.workers=1"]


@pytest.fixture(scope="module")
def small_survey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agnbench.data_prep.mock.simulate import simulate

    cfg = load_config(overrides=["seed=11", "simulate.n=150", "simulate.image_size=32", "simulate.chunk_size=50"])
    return simulate(cfg, tmp_path_factory.mktemp("raw") / "survey", progress=False)


@pytest.fixture(scope="module")
def store(small_survey: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = load_config(overrides=PREP)
    return prep(cfg, source="mpajhu", raw=small_survey, out=tmp_path_factory.mktemp("data") / "store", progress=False)


def test_store_follows_contract_1(store: Path) -> None:
    objects = pd.read_parquet(store / "objects.parquet")
    validate_objects(objects)
    flux = np.load(store / "spectra" / "flux.npy", mmap_mode="r")
    ivar = np.load(store / "spectra" / "ivar.npy", mmap_mode="r")
    wave = np.load(store / "spectra" / "wave.npy")
    assert flux.dtype == ivar.dtype == np.float32 and flux.shape == ivar.shape == (flux.shape[0], wave.size)
    np.testing.assert_allclose(np.diff(np.log10(wave)), 1e-4, rtol=1e-6)
    assert wave[0] == pytest.approx(3750.0, rel=1e-6) and wave[-1] <= 7400.0 * 1.0001
    cutouts = np.load(store / "images" / "cutouts.npy", mmap_mode="r")
    assert cutouts.dtype == np.float16 and cutouts.shape[1:] == (3, 32, 32)
    meta = json.loads((store / "images" / "meta.json").read_text())
    assert meta["bands"] == "grz" and meta["stretch"]["method"] == "asinh_global" and len(meta["stretch"]["scale"]) == 3
    # rows are dense and unique
    for col, n in (("spec_row", flux.shape[0]), ("image_row", cutouts.shape[0])):
        rows = objects.loc[objects[col] >= 0, col].to_numpy()
        assert sorted(rows) == list(range(n))
    assert (objects["spec_row"] >= 0).mean() > 0.95 and (objects["image_row"] >= 0).mean() > 0.95
    # spectra are normalised in the line-free window
    win = (wave > 5300) & (wave < 5700)
    norm = np.median(np.where(ivar[:, win] > 0, flux[:, win], np.nan), axis=1)
    np.testing.assert_allclose(np.nanmedian(norm), 1.0, atol=0.05)
    manifest = json.loads((store / "manifest.json").read_text())
    assert set(manifest["files"]) >= {"objects.parquet", "spectra/flux.npy", "images/cutouts.npy", "quarantine.csv"}
    assert manifest["files"]["objects.parquet"]["sha256"] == file_manifest(store)["objects.parquet"]["sha256"]
    assert sum(v for k, v in manifest["counts"].items()) == len(objects)
    assert manifest["leakage"]["allow_leaky"] is False
    assert not (store.parent / ".store.partial").exists()


def test_spectrum_rows_belong_to_their_objects(store: Path, small_survey: Path) -> None:
    """The row of an object holds that object's spectrum: its [OIII]/Halpha peaks sit where its z puts them."""
    objects = pd.read_parquet(store / "objects.parquet").set_index("object_id")
    truth = pd.read_parquet(small_survey / "truth.parquet").set_index("object_id")
    wave = np.load(store / "spectra" / "wave.npy")
    flux = np.load(store / "spectra" / "flux.npy", mmap_mode="r")
    strong = truth[(truth["true_class"] == "sf") & (truth["log_ew_ha"] > 1.6)].index.intersection(objects.index)
    ha = np.argmin(np.abs(wave - 6564.61))
    for oid in strong[:20]:
        row = objects.loc[oid, "spec_row"]
        assert row >= 0
        assert flux[row, ha - 2 : ha + 3].max() > 2 * np.median(flux[row])  # emission peak at rest Halpha


def _corrupt(raw: Path) -> dict[str, str]:
    """Break a few inputs of a copied survey in every way the issue lists; return id -> expected words."""
    info = fits.getdata(raw / "catalog" / "galSpecInfo.fits")
    ids = [str(s).strip() for s in info["SPECOBJID"]]
    paths = {oid: raw / "spectra" / f"{p:04d}" / f"spec-{p:04d}-{m:05d}-{f:04d}.fits"
             for oid, p, m, f in zip(ids, info["PLATEID"], info["MJD"], info["FIBERID"])}
    expect = {}
    oid = ids[3]  # truncated spectrum
    paths[oid].write_bytes(paths[oid].read_bytes()[:10000])
    expect[oid] = "truncated"
    oid = ids[5]  # all ivar = 0
    with fits.open(paths[oid], mode="update") as h:
        h["COADD"].data["ivar"][:] = 0
    expect[oid] = "ivar"
    oid = ids[7]  # NaN / inf flux everywhere
    with fits.open(paths[oid], mode="update") as h:
        h["COADD"].data["flux"][:] = np.nan
    expect[oid] = "NaN/inf"
    oid = ids[9]  # coverage: the file's loglam shifted far to the red
    with fits.open(paths[oid], mode="update") as h:
        h["COADD"].data["loglam"][:] += 0.2
    expect[oid] = "cover"
    oid = ids[11]  # missing spectrum file
    paths[oid].unlink()
    expect[oid] = "no spectrum file"
    oid = ids[13]  # cutout with a blank band
    with fits.open(raw / "images" / f"{oid}.fits", mode="update") as h:
        h[0].data[1] = 0.0
    expect[oid] = "blank"
    oid = ids[15]  # cutout missing a band
    data = fits.getdata(raw / "images" / f"{oid}.fits")
    hdu = fits.PrimaryHDU(data[:2])
    hdu.header["BANDS"] = "gr"
    hdu.writeto(raw / "images" / f"{oid}.fits", overwrite=True)
    expect[oid] = "band"
    return expect


def test_bad_inputs_are_quarantined_not_fatal(small_survey: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(small_survey, raw)
    expect = _corrupt(raw)
    out = prep(load_config(overrides=PREP), source="mpajhu", raw=raw, out=tmp_path / "store", progress=False)
    q = pd.read_csv(out / "quarantine.csv", dtype=str).fillna("")
    objects = pd.read_parquet(out / "objects.parquet").set_index("object_id")
    for oid, words in expect.items():
        rows = q[q["object_id"] == oid]
        assert len(rows) >= 1, f"{oid} ({words}) was not quarantined"
        assert rows["reason"].str.contains(words, case=False).any(), (words, rows["reason"].tolist())
        stage = rows["stage"].iloc[0]
        assert objects.loc[oid, "spec_row" if stage == "spectra" else "image_row"] == -1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quarantine"]["spectra"] >= 5 and manifest["quarantine"]["images"] >= 2


def test_resume_after_interruption_gives_identical_store(small_survey: Path, tmp_path: Path) -> None:
    cfg = load_config(overrides=PREP)
    full = prep(cfg, source="mpajhu", raw=small_survey, out=tmp_path / "full", progress=False)
    sel = select_mpajhu(small_survey, cfg)
    with pytest.raises(KeyboardInterrupt):
        build_store(sel, cfg, tmp_path / "resumed", raw=small_survey, progress=False, stop_after_shards=3)
    assert not (tmp_path / "resumed").exists()
    partial = tmp_path / ".resumed.partial"
    assert len(list(partial.glob("*/shard-*.npz"))) == 3
    resumed = prep(cfg, source="mpajhu", raw=small_survey, out=tmp_path / "resumed", progress=False)
    a, b = file_manifest(full), file_manifest(resumed)
    assert a == b
    assert not partial.exists()


def test_workers_do_not_change_the_store(small_survey: Path, tmp_path: Path, store: Path) -> None:
    cfg = load_config(overrides=["prep.shard_size=40", "prep.image_size=32", "prep.workers=2"])
    two = prep(cfg, source="mpajhu", raw=small_survey, out=tmp_path / "two", progress=False)
    a, b = file_manifest(two), file_manifest(store)
    assert a.pop("config.yaml") != b.pop("config.yaml")  # records the worker count; nothing else differs
    assert a == b


def test_table_source_store(tmp_path: Path) -> None:
    out = prep(load_config(), source="table", table=REAL / "uv_optical_sdss_reduced.csv", id_col="Objid",
               label_col="BPT_class", label_map="SF:sf,AGN:agn,Composite:ood", out=tmp_path / "uv", progress=False)
    objects = pd.read_parquet(out / "objects.parquet")
    validate_objects(objects)
    assert (objects["spec_row"] == -1).all() and not (out / "spectra").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert "feat_f_halpha" in manifest["leakage"]["refused_by_name"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agnbench", "prep", *args], capture_output=True, text=True, timeout=300)


def test_cli_prep(tmp_path: Path, small_survey: Path) -> None:
    res = _cli("--source", "table", "--table", str(REAL / "uv_optical_sdss_reduced.csv"), "--id-col", "Objid",
               "--label-col", "BPT_class", "--label-map", "SF:sf,AGN:agn,Composite:ood", "--out", str(tmp_path / "t"), "-q")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == str(tmp_path / "t")
    cases = [
        (["--source", "table", "--table", str(REAL / "uv_optical_sdss_reduced.csv"), "--out", str(tmp_path / "x")],
         "--source table needs --id-col, --label-col, --label-map"),
        (["--source", "mpajhu", "--out", str(tmp_path / "x")], "--source mpajhu needs --raw"),
        (["--source", "mpajhu", "--raw", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")], "no catalog directory"),
        (["--source", "table", "--table", str(REAL / "uv_optical_sdss_reduced.csv"), "--id-col", "Objid", "--label-col",
          "BPT_class", "--label-map", "SF:sf,AGN:agn", "--out", str(tmp_path / "t")], "already exists"),
    ]
    for args, words in cases:
        res = _cli(*args, "-q")
        assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and words in res.stderr, res.stderr


def test_documented_dask_example_matches_local(small_survey: Path) -> None:
    """The README's Dask example (shards as a dask.bag) gives exactly the local result."""
    db = pytest.importorskip("dask.bag")
    from agnbench.data_prep.ingest.spectra import ingest_spectra, rest_grid

    objects = select_mpajhu(small_survey, load_config()).objects
    items = [(r.object_id, str(small_survey / "spectra" / f"{r.plate:04d}" / f"spec-{r.plate:04d}-{r.mjd:05d}-{r.fiberid:04d}.fits"), r.z)
             for r in objects.head(60).itertuples()]
    shards = [items[i : i + 25] for i in range(0, len(items), 25)]
    grid = rest_grid(wave_min=3750, wave_max=7400)
    results = db.from_sequence(shards, npartitions=len(shards)).map(
        lambda shard: ingest_spectra(shard, loglam=grid)).compute(scheduler="processes", num_workers=2)
    local = [ingest_spectra(shard, loglam=grid) for shard in shards]
    for a, b in zip(results, local):
        np.testing.assert_array_equal(a.flux, b.flux)
        np.testing.assert_array_equal(a.ivar, b.ivar)
    assert sum(int(r.ok.sum()) for r in results) == 60


def test_jpeg_cutouts_found_by_photometric_objid(tmp_path: Path) -> None:
    """SDSS JPEG cutouts are named by the photometric objID; the store finds them that way too."""
    from agnbench.data_prep.ingest.store import _image_items

    raw = tmp_path / "raw"
    (raw / "jpeg").mkdir(parents=True)
    for jpeg in (REAL / "jpeg").glob("*.jpeg"):
        shutil.copy(jpeg, raw / "jpeg" / jpeg.name)
    objids = sorted(p.stem for p in (REAL / "jpeg").glob("*.jpeg"))
    objects = pd.DataFrame({"object_id": ["101", "102", "103"], "objid": objids + ["999"]})
    quarantine: list[dict] = []
    items = _image_items(objects, raw, load_config(overrides=["prep.image_source=jpeg"]), quarantine)
    assert [Path(p).stem for _, p in items] == objids and [o for o, _ in items] == ["101", "102"]
    assert len(quarantine) == 1 and quarantine[0]["object_id"] == "103" and "999" in quarantine[0]["reason"]
