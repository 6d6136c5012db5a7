"""``prep --source spectra``: stores from folders of real SDSS/BOSS files and of files written by astropy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from agnbench.config.core import load_config
from agnbench.contracts.store import open_store
from agnbench.data_prep.ingest.store import prep
from agnbench.errors import AgnbenchError
from tests.conftest import REAL

REAL_SPECTRA = sorted((REAL / "speclite").glob("*.fits")) + sorted((REAL / "eboss").glob("*.fits"))


def write_6df_like(path: Path, *, z: float, line: float, rng: np.random.Generator, name: str = "",
                   continuum: float = 10.0) -> Path:
    """A 6dF-style image spectrum (rows: flux, variance, sky) on a linear air-wavelength WCS."""
    wave_air = 3900.0 + 1.6 * np.arange(3600)
    rest = wave_air / (1 + z)
    flux = continuum * (1 + 0.1 * np.sin(rest / 300.0)) + line * np.exp(-0.5 * ((rest - 6563.0) / 3.0) ** 2)
    flux = flux + rng.normal(0, 0.3, wave_air.size)
    hdu = fits.PrimaryHDU(np.vstack([flux, np.full(wave_air.size, 0.09), np.zeros(wave_air.size)]).astype(np.float32))
    h = hdu.header
    h["CRVAL1"], h["CDELT1"], h["CRPIX1"], h["CTYPE1"], h["Z"] = float(wave_air[0]), 1.6, 1.0, "AWAV", z
    if name:
        h["OBJNAME"] = name
    hdu.writeto(path)
    return path


def _cfg(*overrides: str):
    return load_config(overrides=["prep.workers=1", *overrides])


def test_real_sdss_and_boss_folder_is_an_observed_frame_store(tmp_path: Path) -> None:
    raw = tmp_path / "spectra"
    (raw / "nested").mkdir(parents=True)
    for i, path in enumerate(REAL_SPECTRA):
        shutil.copy(path, (raw / "nested" if i % 2 else raw) / path.name)
    out = prep(_cfg("labels.scheme=sdss_class"), source="spectra", raw=raw, out=tmp_path / "store", progress=False)
    store = open_store(out)
    obj = store.objects
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spectra"]["frame"] == "observed" and manifest["labels"]["classes"] == ["galaxy", "qso", "star"]
    assert len(obj) == len(REAL_SPECTRA) and (obj["spec_row"] >= 0).all()  # nothing quarantined
    assert pd.read_csv(out / "quarantine.csv").empty
    by_class = obj.groupby("label_name")["z"].agg(["min", "max"])
    assert by_class.loc["star", "max"] <= 0 < by_class.loc["galaxy", "min"]  # a star at z <= 0 is kept
    assert by_class.loc["qso", "min"] > 1.4  # QSOs at z ~ 1.5 too: no rest-frame grid could hold them all
    assert {"plate", "mjd", "fiberid"} <= set(obj.columns)
    wave = np.load(out / "spectra" / "wave.npy")
    assert wave[0] == pytest.approx(3800.0) and wave[-1] == pytest.approx(9200.0, rel=1e-4)
    assert (obj["q_spec_norm_fallback"] == 0).all()
    # the BOSS spectra carry BRIGHTSKY on ~6 % of pixels (> max_uncovered 5 % for some): they would be
    # quarantined if that informational bit rejected pixels
    strict = prep(_cfg("labels.scheme=sdss_class", "prep.reader.and_mask_ignore=''"), source="spectra", raw=raw,
                  out=tmp_path / "strict", progress=False)
    reasons = pd.read_csv(strict / "quarantine.csv")
    assert len(reasons) >= 1 and reasons["reason"].str.contains("masked").all()
    assert reasons["file"].str.endswith(".fits").all()


def test_unreadable_and_missing_files_get_quarantine_rows_with_their_path(tmp_path: Path) -> None:
    raw = tmp_path / "spectra"
    raw.mkdir()
    for path in REAL_SPECTRA:
        shutil.copy(path, raw / path.name)
    (raw / "broken.fits").write_text("<html>404 not found</html>")
    good = REAL_SPECTRA[0].read_bytes()
    (raw / "truncated.fits").write_bytes(good[: len(good) // 3])
    listing = tmp_path / "list.txt"
    listing.write_text("# my spectra\n" + "\n".join(f"spectra/{p.name}" for p in sorted(raw.iterdir())) +
                       "\nspectra/not-there.fits\n")
    out = prep(_cfg("labels.scheme=sdss_class"), source="spectra", raw=listing, out=tmp_path / "store",
               progress=False)
    q = pd.read_csv(out / "quarantine.csv").set_index("file")
    for name, words in (("broken.fits", "unreadable spectrum"), ("truncated.fits", "unreadable spectrum"),
                        ("not-there.fits", "does not exist")):
        assert words in q.loc[str(raw / name), "reason"]
    assert len(open_store(out).objects) == len(REAL_SPECTRA)


def test_6df_style_folder_with_a_label_table_joined_by_file_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    raw = tmp_path / "6df"
    raw.mkdir()
    rows = []
    for i in range(24):
        agn = i % 2 == 1
        z = 0.02 + 0.003 * i
        write_6df_like(raw / f"g{i:04d}.fits", z=z, line=40.0 if agn else 5.0, rng=rng, name=f"J{i:04d}")
        rows.append({"file": f"g{i:04d}", "bpt": 4 if agn else 1})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    out = prep(_cfg("prep.z_min=0.0"), source="spectra", raw=raw, table=tmp_path / "labels.csv", id_col="file",
               label_col="bpt", label_map="1:sf,4:agn", out=tmp_path / "store", progress=False)
    obj = open_store(out).objects
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spectra"]["frame"] == "rest" and manifest["inputs"]["join"].startswith("file = the spectra's")
    assert (obj["spec_row"] >= 0).all() and set(obj["label_name"]) == {"sf", "agn"}
    assert np.allclose(np.sort(obj["z"]), 0.02 + 0.003 * np.arange(24))
    flux = np.load(out / "spectra" / "flux.npy")
    wave = np.load(out / "spectra" / "wave.npy")
    ha = np.argmin(np.abs(wave - 6564.6))  # Halpha lands at its VACUUM rest wavelength: air was converted
    peak = flux[:, ha - 3 : ha + 4].max(axis=1)
    assert np.argmax(flux[0, ha - 10 : ha + 11]) in (9, 10, 11)
    agn = (obj.sort_values("spec_row")["label_name"] == "agn").to_numpy()
    assert peak[agn].min() > peak[~agn].max()  # the planted line strength survives the pipeline
    with pytest.raises(AgnbenchError, match="--id-col and --label-col are both 'bpt'"):
        prep(_cfg("prep.z_min=0.0"), source="spectra", raw=raw, table=tmp_path / "labels.csv", id_col="bpt",
             label_col="bpt", label_map="1:sf,4:agn", out=tmp_path / "store2", progress=False)
    assert not (tmp_path / "store2").exists()


def test_near_zero_normaliser_falls_back_or_is_quarantined(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    raw = tmp_path / "s"
    raw.mkdir()
    for i in range(8):
        write_6df_like(raw / f"n{i}.fits", z=0.05, line=5.0, rng=rng)
    # a pathological object: flux ~ 0 in the 5300-5700 A rest window, positive elsewhere
    path = write_6df_like(raw / "odd.fits", z=0.05, line=5.0, rng=rng)
    with fits.open(path, mode="update") as hdul:
        wave_rest = (3900.0 + 1.6 * np.arange(3600)) / 1.05
        window = (wave_rest > 5200) & (wave_rest < 5800)
        hdul[0].data[0, window] = 1e-4 * np.sign(rng.normal(size=int(window.sum())))
    labels = pd.DataFrame({"id": [f"n{i}" for i in range(8)] + ["odd"], "c": [0, 1] * 4 + [1]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    kw = {"source": "spectra", "raw": raw, "table": tmp_path / "labels.csv", "id_col": "id", "label_col": "c",
          "label_map": "0:sf,1:agn", "progress": False}
    out = prep(_cfg(), out=tmp_path / "fallback", **kw)
    obj = open_store(out).objects.set_index("object_id")
    assert obj.loc["odd", "q_spec_norm_fallback"] == 1 and (obj.drop("odd")["q_spec_norm_fallback"] == 0).all()
    flux = np.load(out / "spectra" / "flux.npy")
    assert np.abs(flux[obj.loc["odd", "spec_row"]]).max() < 10  # not 1e4 or more
    strict = prep(_cfg("prep.norm_fallback=quarantine"), out=tmp_path / "strict", **kw)
    q = pd.read_csv(strict / "quarantine.csv")
    assert q["object_id"].tolist() == ["odd"] and "near-zero or negative normaliser" in q["reason"][0]


def test_labels_need_a_table_unless_the_scheme_is_sdss_class(tmp_path: Path) -> None:
    with pytest.raises(AgnbenchError, match="labels.scheme 'agn_vs_sf' needs BPT classes.*--table"):
        prep(_cfg(), source="spectra", raw=REAL / "eboss", out=tmp_path / "s", progress=False)
    with pytest.raises(AgnbenchError, match="no file matches prep.reader.pattern"):
        prep(_cfg("labels.scheme=sdss_class", "prep.reader.pattern=*.fz"), source="spectra", raw=REAL / "eboss",
             out=tmp_path / "s", progress=False)
    with pytest.raises(AgnbenchError, match="mask_lines.*rest"):
        prep(_cfg("labels.scheme=sdss_class", "prep.mask_lines=true"), source="spectra", raw=REAL / "eboss",
             out=tmp_path / "s", progress=False)
