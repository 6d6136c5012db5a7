"""`prep --source table` on real tables: column spellings, canonical features, the column map, --raw,
honest manifests, and a renamed BPT-ratio pair refused by behaviour."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from agnbench.baselines.features import PHOTOMETRY, select_features
from agnbench.config.core import load_config
from agnbench.contracts.schema import validate_objects
from agnbench.data_prep.formats.catalog import POSITION_SPELLINGS, find_position_columns
from agnbench.data_prep.ingest.features import parse_column_map
from agnbench.data_prep.ingest.objects import select_table
from agnbench.data_prep.ingest.store import prep
from agnbench.errors import AgnbenchError

from tests.conftest import REAL

UV = REAL / "uv_optical_sdss_reduced.csv"
UV_MAP = "SF:sf,AGN:agn,Composite:ood"
pytestmark = pytest.mark.skipif(not UV.exists(), reason="real table absent")


def _uv(n: int | None = 600) -> pd.DataFrame:
    df = pd.read_csv(UV)
    return df if n is None else df.head(n)


def _with_bpt_ratios(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The real table with log [NII]/Hα and log [OIII]/Hβ under innocuous names and its flux columns dropped."""
    with np.errstate(divide="ignore", invalid="ignore"):
        n2 = np.log10(df["F_nii"] / df["F_Halpha"]).where((df["F_nii"] > 0) & (df["F_Halpha"] > 0))
        o3 = np.log10(df["F_oiii"] / df["F_Hbeta"]).where((df["F_oiii"] > 0) & (df["F_Hbeta"] > 0))
    return df.drop(columns=["F_nii", "F_Halpha", "F_oiii", "F_Hbeta", "EW_Halpha"]).assign(**{x: n2, y: o3})


@pytest.mark.parametrize(("ra", "dec", "z"), [("RA", "Dec", "Z"), ("RAJ2000", "DEJ2000", "zspec"),
                                              ("ra_deg", "dec_deg", "z_spec"), ("RA", "DECJ2000", "REDSHIFT")])
def test_position_columns_recognised_in_any_spelling(tmp_path: Path, ra: str, dec: str, z: str) -> None:
    orig = _uv(300)
    df = orig.rename(columns={"ra": ra, "dec": dec, "redshift": z, "plate": "PLATEID", "fiberid": "FIBER"})
    path = tmp_path / "t.fits"
    Table.from_pandas(df.drop(columns=["BPT_class", "AGN_class"]).assign(
        BPT_class=df["BPT_class"].astype(str))).write(path)  # written by astropy, read back as a FITS table
    sel = select_table(path, load_config(), id_col="Objid", label_col="BPT_class", label_map=UV_MAP)
    objects = sel.objects
    validate_objects(objects)
    np.testing.assert_allclose(objects["dec"], orig["dec"].to_numpy())
    np.testing.assert_allclose(objects["ra"], orig["ra"].to_numpy())
    np.testing.assert_allclose(objects["z"], orig["redshift"].to_numpy())
    assert (objects[["plate", "mjd", "fiberid"]].to_numpy() == orig[["plate", "mjd", "fiberid"]].to_numpy()).all()
    feats = {c for c in objects if c.startswith("feat_")}
    never = {f"feat_{n.lower()}" for n in (ra, dec, z, "plateid", "fiber", "mjd")} - {"feat_z"}
    assert not never & feats  # never features
    assert "feat_z" in feats  # the redshift enters only as the canonical feat_z


def test_spelling_table_and_ambiguity() -> None:
    assert {"dej2000", "decj2000", "dec_deg"} <= set(POSITION_SPELLINGS["dec"])
    cols = ["id", "RA", "ra_deg", "DEC"]
    with pytest.raises(AgnbenchError, match=r"'RA', 'ra_deg'.*ra column.*--ra-col"):
        find_position_columns(cols, {}, source="t.csv")
    assert find_position_columns(cols, {"ra": "ra_deg"}, source="t.csv")["ra"] == "ra_deg"
    with pytest.raises(AgnbenchError, match=r"no column 'nope' \(--dec-col\)"):
        find_position_columns(cols, {"ra": "RA", "dec": "nope"}, source="t.csv")
    bands = find_position_columns(["u", "g", "r", "i", "z", "zspec"], {}, source="t.csv")
    assert bands["z"] == "zspec"  # z beside u, g, r, i is the band


def test_real_table_gives_the_photometry_set() -> None:
    sel = select_table(UV, load_config(), id_col="Objid", label_col="BPT_class", label_map=UV_MAP)
    chosen = select_features(sel.objects, "photometry")
    assert set(chosen) == {"feat_dered_u", "feat_dered_g", "feat_dered_r", "feat_dered_i", "feat_dered_z", "feat_u_g",
                           "feat_g_r", "feat_r_i", "feat_i_z", "feat_petror90_r"}
    df = _uv(None)
    np.testing.assert_allclose(sel.objects["feat_g_r"], df["dered_g"] - df["dered_r"])
    assert set(select_features(sel.objects, "physical")) >= set(chosen) | {"feat_z", "feat_abs_r"}


def test_column_map_onto_canonical_inputs(tmp_path: Path) -> None:
    names = {f"dered_{b}": f"{b}mag" for b in "ugriz"} | {"petroR90_r": "R90", "Dn4000(obs)": "dn"}
    df = _uv(400).rename(columns=names)
    path = tmp_path / "mine.parquet"
    df.to_parquet(path)
    cfg = load_config()
    plain = select_table(path, cfg, id_col="Objid", label_col="BPT_class", label_map=UV_MAP).objects
    with pytest.raises(AgnbenchError) as err:
        select_features(plain, "photometry")
    for words in ("expected: feat_u_g", "feat_umag", "catalog.features=all", "--column-map"):
        assert words in str(err.value)
    cmap = parse_column_map("u=umag,g=gmag,r=rmag,i=imag,z=zmag,petror90_r=R90,D4000_N=dn")
    assert cmap["dered_z"] == "zmag" and cmap["D4000_N"] == "dn"
    mapped = select_table(path, cfg, id_col="Objid", label_col="BPT_class", label_map=UV_MAP, column_map=cmap).objects
    assert {"feat_u_g", "feat_i_z", "feat_dered_z", "feat_petror90_r", "feat_d4000_n"} <= set(mapped)
    assert not {"feat_umag", "feat_r90", "feat_dn"} & set(mapped)  # consumed, not offered twice
    np.testing.assert_allclose(mapped["feat_u_g"], df["umag"] - df["gmag"])
    for bad, words in (("u", "KEY=COLUMN"), ("colour=x", "unknown key 'colour'"), ("u=a,U=b", "second time")):
        with pytest.raises(AgnbenchError, match=words):
            parse_column_map(bad)
    with pytest.raises(AgnbenchError, match="--column-map names unknown column"):
        select_table(path, cfg, id_col="Objid", label_col="BPT_class", label_map=UV_MAP, column_map={"dered_u": "x"})


def test_manifest_records_only_applied_settings(tmp_path: Path) -> None:
    out = prep(load_config(), source="table", table=UV, id_col="Objid", label_col="BPT_class", label_map=UV_MAP,
               out=tmp_path / "uv", progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("z_min", "z_max", "r_min", "r_max", "require_reliable", "wave_min", "image_size"):
        assert key not in manifest["prep"] and manifest["prep_not_applied"][key].startswith("not applied")
    assert "no spectra" in manifest["prep_not_applied"]["wave_min"]
    assert manifest["prep"]["val_fraction"] == 0.15
    assert [c["cut"] for c in manifest["cuts"]] == ["input"]


@pytest.mark.parametrize(("x", "y"), [("N2", "O3"), ("n2ha", "o3hb"), ("x_ratio1", "x_ratio2")])
def test_renamed_bpt_pair_is_refused_and_recorded(tmp_path: Path, x: str, y: str) -> None:
    path = tmp_path / "ratios.csv"
    _with_bpt_ratios(_uv(None), x, y).to_csv(path, index=False)
    cfg = load_config()
    refused = rf"refusing label-defining feature\(s\) feat_{x.lower()}, feat_{y.lower()}"
    with pytest.raises(AgnbenchError, match=refused):
        select_table(path, cfg, id_col="Objid", label_col="BPT_class", label_map=UV_MAP,
                     features=["dered_g", x, y, "petroR90_r"])
    out = prep(cfg, source="table", table=path, id_col="Objid", label_col="BPT_class", label_map=UV_MAP,
               out=tmp_path / "store", progress=False)
    leakage = json.loads((out / "manifest.json").read_text())["leakage"]
    fx, fy = f"feat_{x.lower()}", f"feat_{y.lower()}"
    assert leakage["leaky"] == [fx, fy]
    assert not {fx, fy} & set(pd.read_parquet(out / "objects.parquet").columns)  # flagged and dropped
    if x == "x_ratio1":
        assert leakage["refused_by_name"] == {} and leakage["flagged_by_auc"] == {}
        bpt = leakage["flagged_by_bpt"][0]
        assert (bpt["x"], bpt["y"]) == (fx, fy) and bpt["score"] > 0.99
        assert bpt["line"] in bpt["reason"] and bpt["line"] in ("Kauffmann et al. (2003)", "Kewley et al. (2001)")
    else:
        assert leakage["refused_by_name"] == {fx: "emission-line ratio", fy: "emission-line ratio"}


def real_table_with_raw(tmp_path: Path, n: int = 300) -> tuple[Path, Path]:
    """The first ``n`` rows of the real BPT table (written to ``tmp_path/table.csv``) with its first rows pointed at
    the two real spec-lite files, and ``tmp_path/raw`` holding those spectra and their real SDSS JPEG cutouts."""
    df = _uv(n).copy()
    raw = tmp_path / "raw"
    (raw / "spectra").mkdir(parents=True)
    (raw / "jpeg").mkdir()
    for k, spec in enumerate(sorted((REAL / "speclite").glob("spec-*.fits"))):
        shutil.copy(spec, raw / "spectra" / spec.name)
        with fits.open(spec) as hdul:
            row = hdul[2].data[0]
            plate, mjd, fiber = (int(v) for v in spec.stem.split("-")[1:])
            df.loc[k, ["plate", "mjd", "fiberid", "redshift"]] = [plate, mjd, fiber, float(row["Z"])]
            df.loc[k, "Objid"] = int(row["BESTOBJID"])  # the SDSS JPEG cutouts are named by it
            shutil.copy(REAL / "jpeg" / f"{int(row['BESTOBJID'])}.jpeg", raw / "jpeg")
    path = tmp_path / "table.csv"
    df.to_csv(path, index=False)
    return path, raw


def test_raw_with_a_table_attaches_real_spectra_and_cutouts_or_is_refused(tmp_path: Path) -> None:
    path, raw = real_table_with_raw(tmp_path)
    cfg = load_config(overrides=["prep.image_source=jpeg", "prep.image_size=32", "prep.workers=1",
                                 "prep.stretch=minmax_per_image"])
    out = prep(cfg, source="table", table=path, id_col="Objid", label_col="BPT_class", label_map=UV_MAP, raw=raw,
               out=tmp_path / "store", progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_spectra"] == 2 and manifest["n_images"] == 2
    assert "wave_min" in manifest["prep"] and "z_min" not in manifest["prep"]
    objects = pd.read_parquet(out / "objects.parquet")
    assert (objects["spec_row"] >= 0).sum() == 2 and np.load(out / "spectra" / "flux.npy").shape[0] == 2
    empty = tmp_path / "empty"
    (empty / "spectra").mkdir(parents=True)
    with pytest.raises(AgnbenchError, match="nothing to attach.*Drop --raw"):
        prep(cfg, source="table", table=path, id_col="Objid", label_col="BPT_class", label_map=UV_MAP, raw=empty,
             out=tmp_path / "s2", progress=False)
    no_ids = tmp_path / "no_ids.csv"
    df = pd.read_csv(path)
    df.drop(columns=["plate", "mjd", "fiberid"]).assign(Objid=df["Objid"] + 1).to_csv(no_ids, index=False)
    with pytest.raises(AgnbenchError, match="lacks.*--plate-col"):
        prep(cfg, source="table", table=no_ids, id_col="Objid", label_col="BPT_class", label_map=UV_MAP, raw=raw,
             out=tmp_path / "s3", progress=False)
    assert not (tmp_path / "s2").exists() and not (tmp_path / "s3").exists()


def test_cli_column_map_and_raw_refusal(tmp_path: Path) -> None:
    import subprocess
    import sys

    table = tmp_path / "mine.csv"
    _uv(300).rename(columns={f"dered_{b}": f"{b}mag" for b in "ugriz"}).to_csv(table, index=False)
    base = [sys.executable, "-m", "agnbench", "prep", "--source", "table", "--table", str(table), "--id-col", "Objid",
            "--label-col", "BPT_class", "--label-map", UV_MAP, "-q"]
    ok = subprocess.run([*base, "--column-map", "u=umag,g=gmag,r=rmag,i=imag,z=zmag", "--out", str(tmp_path / "s")],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert set(PHOTOMETRY[:4]) <= set(pd.read_parquet(tmp_path / "s" / "objects.parquet").columns)
    (tmp_path / "raw" / "images").mkdir(parents=True)
    for extra, words in ((["--column-map", "colour=umag"], "unknown key 'colour'"),
                         (["--raw", str(tmp_path / "raw")], "nothing to attach")):
        res = subprocess.run([*base, *extra, "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=300)
        assert res.returncode == 1 and "Traceback" not in res.stderr and words in res.stderr, res.stderr
