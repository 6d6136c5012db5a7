"""Issue 16, items 4, 7, 12, 13 and 14 (cutout shape): prep's shards, resume and the store's arrays.

Real SDSS/BOSS files (tests/data/real) are copied and altered with astropy; the end-to-end checks use a
40-galaxy mock survey whose files are written in the real spec-lite / fits-cutout layouts.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from agnbench.config.core import load_config
from agnbench.contracts import store as store_contract
from agnbench.data_prep.ingest.images import ingest_cutouts
from agnbench.data_prep.ingest.objects import select_mpajhu
from agnbench.data_prep.ingest.spectra import ingest_spectra
from agnbench.data_prep.ingest.store import build_store, prep, spectra_settings
from agnbench.errors import SchemaError
from agnbench.fileio import file_manifest

from tests.conftest import REAL

PREP = ["prep.shard_size=10", "prep.image_size=32", "prep.workers=1"]
SPECLITE = REAL / "speclite"
EBOSS = REAL / "eboss"


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agnbench.data_prep.mock.simulate import simulate

    cfg = load_config(overrides=["seed=5", "simulate.n=40", "simulate.image_size=32", "simulate.chunk_size=40"])
    return simulate(cfg, tmp_path_factory.mktemp("raw") / "survey", progress=False)


def _copy(survey: Path, tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(survey, raw)
    return raw


def _spectrum_files(raw: Path) -> dict[str, Path]:
    """object_id -> spectrum file of a mock survey, in catalog order."""
    info = fits.getdata(raw / "catalog" / "galSpecInfo.fits")
    return {str(s).strip(): next((raw / "spectra").glob(f"**/spec-{p:04d}-{m:05d}-{f:04d}.fits"))
            for s, p, m, f in zip(info["SPECOBJID"], info["PLATEID"], info["MJD"], info["FIBERID"])}


def _first_shard_ids(raw: Path, cfg) -> list[str]:
    return list(select_mpajhu(raw, cfg).objects["object_id"][:10])


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def _interrupt(raw: Path, out: Path, cfg) -> None:
    with pytest.raises(KeyboardInterrupt):
        build_store(select_mpajhu(raw, cfg), cfg, out, raw=raw, progress=False, stop_after_shards=2)
    assert len(list(out.parent.glob(f".{out.name}.partial/*/shard-*.npz"))) == 2


# --------------------------------------------------------------------------- item 4: resume with changed inputs


def test_resume_redoes_a_shard_whose_spectrum_file_changed(survey: Path, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    raw = _copy(survey, tmp_path)
    cfg = load_config(overrides=PREP)
    _interrupt(raw, tmp_path / "resumed", cfg)
    oid = _first_shard_ids(raw, cfg)[2]
    path = _spectrum_files(raw)[oid]
    size = path.stat().st_size
    with fits.open(path, mode="update") as h:  # same size, another spectrum shape
        flux = h["COADD"].data["flux"]
        flux *= np.linspace(0.5, 2.0, flux.size, dtype=np.float32)
    _touch_later(path)
    assert path.stat().st_size == size
    with caplog.at_level(logging.INFO, logger="agnbench.data_prep.ingest"):
        resumed = prep(cfg, source="mpajhu", raw=raw, out=tmp_path / "resumed", progress=False)
    assert "spectra: 1 of 2 finished shards reused, 1 redone" in caplog.text, caplog.text
    assert path.name in caplog.text
    fresh = prep(cfg, source="mpajhu", raw=raw, out=tmp_path / "fresh", progress=False)
    assert file_manifest(resumed) == file_manifest(fresh)


def test_resume_redoes_shards_after_a_catalog_or_a_file_changed(survey: Path, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A redshift changed in galSpecInfo and a label in galSpecExtra, and a spectrum deleted: the resumed store
    equals a fresh prep of the inputs as they are now."""
    raw = _copy(survey, tmp_path)
    cfg = load_config(overrides=PREP)
    _interrupt(raw, tmp_path / "resumed", cfg)
    first = _first_shard_ids(raw, cfg)
    for name, column, change in (("galSpecInfo", "Z", lambda z: z * 1.01), ("galSpecExtra", "BPTCLASS", lambda c: 4)):
        table = Table.read(raw / "catalog" / f"{name}.fits")
        row = [str(s).strip() for s in table["SPECOBJID"]].index(first[1])
        table[column][row] = change(table[column][row])
        table.write(raw / "catalog" / f"{name}.fits", overwrite=True)
    gone = list(select_mpajhu(raw, cfg).objects["object_id"])[15]  # in the second shard
    _spectrum_files(raw)[gone].unlink()
    with caplog.at_level(logging.INFO, logger="agnbench.data_prep.ingest"):
        resumed = prep(cfg, source="mpajhu", raw=raw, out=tmp_path / "resumed", progress=False)
    assert "spectra: 0 of 2 finished shards reused, 2 redone" in caplog.text, caplog.text
    fresh = prep(cfg, source="mpajhu", raw=raw, out=tmp_path / "fresh", progress=False)
    assert file_manifest(resumed) == file_manifest(fresh)
    q = pd.read_csv(resumed / "quarantine.csv", dtype=str).fillna("")
    assert (q.loc[q["object_id"] == gone, "reason"] == "no spectrum file for this object's plate/mjd/fiber").all()


# --------------------------------------------------------------------------- item 7: values the store cannot hold


@pytest.mark.parametrize("column", ["flux", "ivar"])
def test_real_spectrum_with_a_3e38_value_is_quarantined(tmp_path: Path, column: str) -> None:
    grid, kw = spectra_settings(load_config())
    good = SPECLITE / "spec-0266-51630-0168.fits"
    bad = tmp_path / good.name
    shutil.copy(good, bad)
    with fits.open(bad, mode="update") as h:
        h["COADD"].data[column][1000:1003] = 3e38
    z = float(fits.getdata(good, "SPECOBJ")["Z"][0])
    shard = ingest_spectra([("good", str(good), z), ("bad", str(bad), z)], **kw)
    assert shard.ok.tolist() == [True, False]
    assert np.isfinite(shard.flux).all() and np.isfinite(shard.ivar).all()
    (row,) = shard.quarantine
    assert row["file"] == str(bad) and f"normalised {column}" in row["reason"] and "3e+38" in row["reason"]


def test_cutout_with_a_3e38_pixel_is_quarantined(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(0, 0.01, (3, 40, 40)).astype(np.float32)
    for name, value in (("ok", None), ("huge", 3e38), ("huge_neg", -3e38)):
        data = image.copy()
        if value is not None:
            data[1, 20, 20] = value
        hdu = fits.PrimaryHDU(data)
        hdu.header["BANDS"] = "grz"
        hdu.writeto(tmp_path / f"{name}.fits")
    items = [(n, str(tmp_path / f"{n}.fits")) for n in ("ok", "huge", "huge_neg")]
    shard = ingest_cutouts(items, size=32)
    assert shard.ok.tolist() == [True, False, False]
    for row, (oid, path) in zip(shard.quarantine, items[1:]):
        assert row["object_id"] == oid and row["file"] == path
        assert "band 'r'" in row["reason"] and "3e+38" in row["reason"]


def test_prep_quarantines_3e38_inputs_names_their_files_and_keeps_the_store_finite(survey: Path,
                                                                                   tmp_path: Path) -> None:
    """Items 7 and 12 end to end: every spectrum and cutout reject names its file; the arrays stay finite."""
    raw = _copy(survey, tmp_path)
    files = _spectrum_files(raw)
    ids = list(files)
    with fits.open(files[ids[0]], mode="update") as h:
        h["COADD"].data["ivar"][500:505] = 3e38
    with fits.open(files[ids[1]], mode="update") as h:
        h["COADD"].data["flux"][500:505] = 3e38
    with fits.open(raw / "images" / f"{ids[2]}.fits", mode="update") as h:
        h[0].data[0, 3, 3] = 3e38
    files[ids[3]].unlink()
    (raw / "images" / f"{ids[4]}.fits").unlink()
    out = prep(load_config(overrides=PREP), source="mpajhu", raw=raw, out=tmp_path / "store", progress=False)
    q = pd.read_csv(out / "quarantine.csv", dtype=str).fillna("").set_index(["object_id", "stage"])
    assert "3e+38" in q.loc[(ids[0], "spectra"), "reason"] and "ivar" in q.loc[(ids[0], "spectra"), "reason"]
    assert "3e+38" in q.loc[(ids[1], "spectra"), "reason"] and "flux" in q.loc[(ids[1], "spectra"), "reason"]
    assert "3e+38" in q.loc[(ids[2], "images"), "reason"]
    assert q.loc[(ids[0], "spectra"), "file"] == str(files[ids[0]])
    assert q.loc[(ids[2], "images"), "file"] == str(raw / "images" / f"{ids[2]}.fits")
    assert q.loc[(ids[3], "spectra"), "file"].endswith(files[ids[3]].name)  # the file looked for
    assert q.loc[(ids[4], "images"), "file"] == str(raw / "images" / f"{ids[4]}.fits")
    q = q.reset_index()
    assert (q.loc[q["stage"].isin(["spectra", "images"]), "file"] != "").all()
    for rel in ("spectra/flux.npy", "spectra/ivar.npy", "images/cutouts.npy"):
        assert np.isfinite(np.load(out / rel)).all(), rel
    store_contract.validate_store_arrays(out)


def test_validate_names_the_array_object_and_count_of_non_finite_values(survey: Path, tmp_path: Path) -> None:
    out = prep(load_config(overrides=PREP), source="mpajhu", raw=survey, out=tmp_path / "store", progress=False)
    store_contract.validate_store_arrays(out)
    objects = pd.read_parquet(out / "objects.parquet")
    flux = np.load(out / "spectra" / "flux.npy", mmap_mode="r+")
    flux[3, 10:12] = np.inf
    flux.flush()
    del flux
    cut = np.load(out / "images" / "cutouts.npy", mmap_mode="r+")
    cut[5, 0, 0, 0] = np.float16(np.nan)
    cut.flush()
    del cut
    with pytest.raises(SchemaError) as err:
        store_contract.validate_store_arrays(out)
    text = str(err.value)
    oid = objects.loc[objects["spec_row"] == 3, "object_id"].iloc[0]
    assert f"spectra/flux.npy: 2 value(s) not finite" in text and str(oid) in text and "[3]" in text
    oid = objects.loc[objects["image_row"] == 5, "object_id"].iloc[0]
    assert "images/cutouts.npy: 1 value(s)" in text and str(oid) in text
    assert "ivar.npy" not in text


# --------------------------------------------------------------------------- item 13: another object's spectrum


@pytest.mark.parametrize("folder, true_name, other_name", [
    (SPECLITE, "spec-0266-51630-0168.fits", "spec-0267-51608-0413.fits"),
    (EBOSS, "spec-10000-58462-0010.fits", "spec-10000-58462-0029.fits")])
def test_a_real_spectrum_under_another_objects_name_is_quarantined(tmp_path: Path, folder: Path, true_name: str,
                                                                   other_name: str) -> None:
    cfg = load_config(overrides=["prep.frame=observed"]) if folder == EBOSS else load_config()
    grid, kw = spectra_settings(cfg)
    impostor = tmp_path / true_name
    shutil.copy(folder / other_name, impostor)
    plate, mjd, fiber = (int(v) for v in true_name[5:-5].split("-"))
    z = float(fits.getdata(folder / true_name, 2)["Z"][0])
    shard = ingest_spectra([("true", str(folder / true_name), z, (plate, mjd, fiber)),
                            ("impostor", str(impostor), z, (plate, mjd, fiber))], **kw)
    assert shard.ok.tolist() == [True, False]
    (row,) = shard.quarantine
    o_plate, o_mjd, o_fiber = (int(v) for v in other_name[5:-5].split("-"))
    assert row["file"] == str(impostor) and "another object's spectrum" in row["reason"]
    assert f"FIBERID={o_fiber}, expected {fiber}" in row["reason"], row["reason"]
    assert f"{plate}/{mjd}/{fiber}" in row["reason"]


def test_a_spectrum_stating_no_identity_is_accepted(tmp_path: Path) -> None:
    src = SPECLITE / "spec-0266-51630-0168.fits"
    with fits.open(src) as h:
        for key in ("PLATEID", "MJD", "FIBERID"):
            del h[0].header[key]
        table = Table(h["SPECOBJ"].data)
        table.remove_columns(["PLATE", "MJD", "FIBERID"])
        h["SPECOBJ"] = fits.BinTableHDU(table, name="SPECOBJ")
        h.writeto(tmp_path / src.name)
    grid, kw = spectra_settings(load_config())
    z = float(fits.getdata(src, "SPECOBJ")["Z"][0])
    shard = ingest_spectra([("a", str(tmp_path / src.name), z, (999, 51630, 1))], **kw)
    assert shard.ok.tolist() == [True]


def test_prep_quarantines_a_mock_spectrum_copied_over_another(survey: Path, tmp_path: Path) -> None:
    raw = _copy(survey, tmp_path)
    files = _spectrum_files(raw)
    ids = list(files)
    shutil.copy(files[ids[1]], files[ids[0]])
    out = prep(load_config(overrides=PREP), source="mpajhu", raw=raw, out=tmp_path / "store", progress=False)
    q = pd.read_csv(out / "quarantine.csv", dtype=str).fillna("")
    (reason,) = q.loc[q["object_id"] == ids[0], "reason"]
    assert "another object's spectrum" in reason and "FIBERID=" in reason
    assert pd.read_parquet(out / "objects.parquet").set_index("object_id").loc[ids[0], "spec_row"] == -1


# --------------------------------------------------------------------------- item 14: cutout shape


def test_non_square_cutouts_are_quarantined_and_square_ones_resized(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    for name, shape in (("wide", (3, 64, 40)), ("square48", (3, 48, 48)), ("square20", (3, 20, 20))):
        hdu = fits.PrimaryHDU(rng.normal(0, 0.01, shape).astype(np.float32))
        hdu.header["BANDS"] = "grz"
        hdu.writeto(tmp_path / f"{name}.fits")
    items = [(n, str(tmp_path / f"{n}.fits")) for n in ("wide", "square48", "square20")]
    for size in (64, 32):
        shard = ingest_cutouts(items, size=size)
        ok = [True, True, size / 2 <= 20]
        assert shard.ok.tolist() == [False] + ok[1:], size
        assert "not square: shape (3, 64, 40)" in shard.quarantine[0]["reason"]
        assert shard.quarantine[0]["file"] == items[0][1]
    for name, (w, h) in (("wide_jpeg", (256, 200)), ("square_jpeg", (128, 128))):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"{name}.jpeg")
    real = sorted((REAL / "jpeg").glob("*.jpeg"))[0]
    shard = ingest_cutouts([("wide", str(tmp_path / "wide_jpeg.jpeg")), ("square", str(tmp_path / "square_jpeg.jpeg")),
                            ("real", str(real))], size=64, source="jpeg")
    assert shard.ok.tolist() == [False, True, True]
    assert "not square: shape (3, 200, 256)" in shard.quarantine[0]["reason"]


def test_validate_command_and_training_name_an_inf_in_the_store(survey: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    from agnbench.cli.main import main

    out = prep(load_config(overrides=PREP), source="mpajhu", raw=survey, out=tmp_path / "store", progress=False)
    assert main(["validate", str(out), "-q"]) == 0
    assert "valid store (40 objects" in capsys.readouterr().out
    cut = np.load(out / "images" / "cutouts.npy", mmap_mode="r+")
    cut[0, 1, 2, 3] = np.float16(np.inf)
    cut.flush()
    del cut
    assert main(["validate", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "images/cutouts.npy" in err and "changed since prep" in err
    # the same store with its manifest's checksums ignored: the arrays check names the value
    with pytest.raises(SchemaError, match=r"images/cutouts.npy: 1 value\(s\) not finite"):
        store_contract.validate_store_arrays(out)
    from agnbench.config.deep import ImagesConfig
    from agnbench.deep.data import TrackData

    with pytest.raises(SchemaError, match="images/cutouts.npy"):
        TrackData("images", store_contract.open_store(out), ImagesConfig(), seed=0)
