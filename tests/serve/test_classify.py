"""Classifying one uploaded file with a trained run: the file goes through prep's readers with the run store's
settings and through ``agnbench predict``, so a survey file of a test object gets exactly the probability the
run gave that object; real SDSS spec-lite and BOSS files are classified or refused with the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnbench.data_prep.formats.sdss_files import spec_filename, write_cutout
from agnbench.errors import AgnbenchError
from agnbench.serve.classify import classify_file
from tests.conftest import REAL


def _test_objects(run: Path, store: Path, n: int) -> pd.DataFrame:
    preds = pd.read_parquet(run / "predictions.parquet").astype({"object_id": str})
    objects = pd.read_parquet(store / "objects.parquet").astype({"object_id": str})
    test = preds[preds["split"] == "test"].merge(objects, on="object_id")
    return test.sort_values("object_id").head(n)


def test_a_survey_spectrum_gets_the_runs_own_probability(trained_runs: dict[str, Path], mock_store: Path,
                                                         mock_survey: Path) -> None:
    run = trained_runs["spectra"]
    for row in _test_objects(run, mock_store, 2).itertuples():
        path = next((mock_survey / "spectra").glob(f"**/{spec_filename(row.plate, row.mjd, row.fiberid)}"))
        got = classify_file(run, path, z=row.z)
        assert np.allclose([got.probabilities["sf"], got.probabilities["agn"]], [row.p_sf, row.p_agn], atol=1e-5)
        assert got.predicted == ("sf", "agn")[row.y_pred] and got.z == row.z
        flux = np.load(mock_store / "spectra" / "flux.npy", mmap_mode="r")[row.spec_row]
        assert np.array_equal(got.inputs, flux)  # what the run saw is the store's own row


def test_a_survey_cutout_gets_the_runs_own_probability(trained_runs: dict[str, Path], mock_store: Path,
                                                       mock_survey: Path, tmp_path: Path) -> None:
    run = trained_runs["images"]
    row = next(_test_objects(run, mock_store, 1).itertuples())
    got = classify_file(run, mock_survey / "images" / f"{row.object_id}.fits")
    assert np.allclose([got.probabilities["sf"], got.probabilities["agn"]], [row.p_sf, row.p_agn], atol=1e-5)
    cut = np.load(mock_store / "images" / "cutouts.npy", mmap_mode="r")[row.image_row]
    assert np.array_equal(got.inputs, np.asarray(cut, dtype=np.float32))
    jpeg = next((REAL / "jpeg").glob("*.jpeg"))
    with pytest.raises(AgnbenchError, match="JPEG cutout, but the run was trained on fits cutouts"):
        classify_file(run, jpeg)
    # a cutout written by astropy in the Legacy Survey layout, larger than the run's: centre-cropped as prep does
    rng = np.random.default_rng(0)
    image = rng.normal(0, 0.01, (3, 64, 64)).astype(np.float32)
    image[:, 28:36, 28:36] += 0.5
    write_cutout(tmp_path / "mine.fits", image, ra=150.0, dec=2.0, pixel_scale=0.262)
    mine = classify_file(run, tmp_path / "mine.fits")
    assert mine.inputs.shape == (3, 48, 48) and np.isclose(sum(mine.probabilities.values()), 1.0)


def test_real_sdss_and_boss_spectra(trained_runs: dict[str, Path], tmp_path: Path) -> None:
    run = trained_runs["spectra"]
    speclite = REAL / "speclite" / "spec-0266-51630-0168.fits"
    if not speclite.exists():
        pytest.skip("tests/data/real is absent")
    got = classify_file(run, speclite)
    assert np.isclose(sum(got.probabilities.values()), 1.0) and got.predicted in ("sf", "agn")
    assert got.z == pytest.approx(0.0674, abs=1e-4)  # the SPECOBJ Z of the file
    assert got.inputs.shape == got.wave.shape and np.isfinite(got.inputs).all()
    assert got.sentence().startswith(f"spectra classifies {speclite.name} at z = 0.0674 as {got.predicted}: p(sf) = ")
    # an explicit redshift replaces the file's
    assert classify_file(run, speclite, z=0.08).z == 0.08
    # a BOSS spectrum at z = 1.5 does not cover the run's rest-frame grid: the reason, from prep
    with pytest.raises(AgnbenchError, match="wavelength coverage: rest 1437-4133 A does not cover"):
        classify_file(run, REAL / "eboss" / "spec-10000-58462-0010.fits")
    # the BOSS layout (SPALL HDU) is read too: this file is a star at z = -0.0001, which covers the grid; the run
    # scores it like any spectrum (what a star means to an AGN/SF classifier is the user's call)
    boss = classify_file(run, REAL / "eboss" / "spec-10000-58462-0085.fits")
    assert np.isclose(sum(boss.probabilities.values()), 1.0) and boss.z == pytest.approx(-0.0001, abs=1e-4)
    bad = tmp_path / "not.fits"
    bad.write_bytes(b"SIMPLE  = nonsense")
    with pytest.raises(AgnbenchError, match="not.fits"):
        classify_file(run, bad)


def test_runs_that_cannot_classify_a_file(trained_runs: dict[str, Path], tmp_path: Path) -> None:
    speclite = REAL / "speclite" / "spec-0266-51630-0168.fits"
    with pytest.raises(AgnbenchError, match="a catalog run; an uploaded spectrum or cutout needs a spectra or images"):
        classify_file(trained_runs["catalog"], speclite)
    moved = tmp_path / "run"
    shutil.copytree(trained_runs["spectra"], moved,
                    ignore=shutil.ignore_patterns("checkpoint_last.pt", "model_best.pt"))
    data = (moved / "data.json").read_text()
    (moved / "data.json").write_text(data.replace('"store": "', '"store": "/nonexistent'))
    with pytest.raises(AgnbenchError, match="is not found"):
        classify_file(moved, speclite)
    with pytest.raises(AgnbenchError, match="no such file"):
        classify_file(trained_runs["spectra"], tmp_path / "missing.fits")
