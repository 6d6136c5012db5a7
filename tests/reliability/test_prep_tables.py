"""Issue 16, tables: ids keep their full text, duplicates and non-numbers are quarantined, feature names and
column roles never collide, infinities never reach a store (items 1, 5, 6 and parts of 14 and 15).

Every table here is the real SDSS BPT table (tests/data/real) or rows of it written by pandas/astropy, and
the MPA-JHU files are written in the real galSpec layout by the writer the mock survey uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from agnbench.cli.main import main
from agnbench.config.core import load_config
from agnbench.contracts.schema import validate_objects
from agnbench.data_prep.formats.sdss_files import specobjid, write_table_fits
from agnbench.data_prep.ingest.objects import select_mpajhu, select_table
from agnbench.data_prep.ingest.store import build_store
from agnbench.errors import AgnbenchError
from agnbench.transfer.new_data import load_new_data

from tests.conftest import REAL

UV = REAL / "uv_optical_sdss_reduced.csv"
UV_MAP = "SF:sf,AGN:agn,Composite:ood"
KEEP = ["Objid", "plate", "mjd", "fiberid", "ra", "dec", "redshift", "dered_u", "dered_g", "dered_r", "dered_i",
        "dered_z", "petroR90_r", "Dn4000(obs)", "BPT_class"]


def _uv() -> pd.DataFrame:
    """140 real rows (100 SF, 30 AGN, 10 composites) without the emission-line columns."""
    df = pd.read_csv(UV, dtype={"Objid": str})[KEEP]
    parts = [df[df.BPT_class == c].head(n) for c, n in (("SF", 100), ("AGN", 30), ("Composite", 10))]
    return pd.concat(parts).reset_index(drop=True)


def _select(path: Path, **kw):
    return select_table(path, load_config(), id_col=kw.pop("id_col", "Objid"), label_col=kw.pop("label_col", "BPT_class"),
                        label_map=UV_MAP, **kw)


def _text_ids(n: int) -> list[str | None]:
    ids = [f"galaxy-{i:04d}-SDSS" for i in range(n)]
    ids[7] = None  # one missing id
    return ids


# ---- item 1: text ids keep their full text, whatever the dtype; a missing id is quarantined ----------------

@pytest.mark.parametrize("kind", ["csv", "parquet", "fits"])
def test_text_ids_keep_full_text_and_missing_id_is_quarantined(tmp_path: Path, kind: str) -> None:
    df = _uv()
    df["Objid"] = pd.array(_text_ids(len(df)), dtype="str")  # pandas 3.1 string dtype, one missing
    path = tmp_path / f"t.{kind}"
    if kind == "csv":
        df.to_csv(path, index=False)
    elif kind == "parquet":
        df.to_parquet(path)
        assert pd.read_parquet(path)["Objid"].dtype == "str"
    else:
        t = Table.from_pandas(df.assign(Objid=df["Objid"].fillna("")))  # FITS has no null string: empty
        t.write(path)
    sel = _select(path)
    validate_objects(sel.objects)
    expected = sorted(i for i in _text_ids(len(df)) if i is not None)
    assert sorted(sel.objects["object_id"]) == expected  # every id whole, not its first character
    assert len(sel.quarantine) == 1
    q = sel.quarantine[0]
    assert q["object_id"] == "" and q["stage"] == "catalog" and "row 8" in q["reason"] and "'Objid'" in q["reason"]


def test_long_integer_ids_in_a_csv_with_an_empty_cell_keep_every_digit(tmp_path: Path) -> None:
    df = _uv()
    real = df["Objid"].tolist()
    df.loc[3, "Objid"] = None  # pandas would read the column as float64: 588848899897688275 -> 5.888488998976883e+17
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    sel = _select(path)
    assert set(sel.objects["object_id"]) == set(real) - {real[3]}
    assert [q["reason"].split(":")[0] for q in sel.quarantine] == ["row 4"]


def test_float_ids_beyond_2_53_are_refused(tmp_path: Path) -> None:
    df = _uv().assign(Objid=lambda d: d["Objid"].astype(np.float64))
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    with pytest.raises(AgnbenchError, match=r"'Objid' is stored as floating point .* above 2\*\*53"):
        _select(path)


def test_predict_table_keeps_text_ids_and_refuses_a_missing_one(tmp_path: Path) -> None:
    df = _uv().drop(columns=["BPT_class"])
    df["Objid"] = pd.array([f"new-{i}-abcdef" for i in range(len(df))], dtype="str")
    path = tmp_path / "new.parquet"
    df.to_parquet(path)
    new = load_new_data(path, classes=("sf", "agn"), id_col="Objid")
    assert list(new.object_id) == list(df["Objid"])
    df.loc[5, "Objid"] = None
    df.to_parquet(path)
    with pytest.raises(AgnbenchError, match=r"1 row\(s\) have no id in column 'Objid' \(e.g. row 6\)"):
        load_new_data(path, classes=("sf", "agn"), id_col="Objid")


# ---- item 5: duplicates -----------------------------------------------------------------------------------

def _mpajhu(root: Path, n: int = 200, seed: int = 0) -> tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """galSpecInfo, galSpecExtra and photometry in the real layout (the mock survey's writer)."""
    rng = np.random.default_rng(seed)
    plate, mjd, fiber = np.full(n, 266), np.full(n, 51602), np.arange(1, n + 1)
    ids = {"SPECOBJID": specobjid(plate, mjd, fiber), "PLATEID": plate, "MJD": mjd, "FIBERID": fiber}
    info = pd.DataFrame({**ids, "RA": rng.uniform(140, 150, n), "DEC": rng.uniform(-1, 1, n),
                         "Z": rng.uniform(0.03, 0.15, n), "Z_WARNING": np.zeros(n, np.int32),
                         "RELIABLE": np.ones(n, np.int32), "SPECTROTYPE": "GALAXY"})
    extra = pd.DataFrame({**ids, "BPTCLASS": np.where(np.arange(n) % 3 == 0, 4, 1).astype(np.int32),
                          "LGM_TOT_P50": rng.normal(10.5, 0.4, n)})
    phot = pd.DataFrame({"specObjID": ids["SPECOBJID"], "objID": np.arange(n, dtype=np.int64) + 10**17})
    for b, m in zip("ugriz", (18.5, 17.2, 16.6, 16.3, 16.1)):
        phot[f"modelMag_{b}"] = m + rng.normal(0, 0.4, n)
        phot[f"extinction_{b}"] = np.full(n, 0.05)
    raw = root / "raw"
    (raw / "catalog").mkdir(parents=True)
    return raw, info, extra, phot


def _write(raw: Path, info: pd.DataFrame, extra: pd.DataFrame, phot: pd.DataFrame) -> None:
    write_table_fits(raw / "catalog" / "galSpecInfo.fits", info, extname="GALSPECINFO")
    write_table_fits(raw / "catalog" / "galSpecExtra.fits", extra, extname="GALSPECEXTRA")
    write_table_fits(raw / "catalog" / "photometry.fits", phot, extname="PHOTOMETRY")


def test_mpajhu_conflicting_duplicates_quarantined_exact_ones_collapse(tmp_path: Path) -> None:
    raw, info, extra, phot = _mpajhu(tmp_path)
    flipped = extra.iloc[:20].assign(BPTCLASS=lambda d: np.where(d["BPTCLASS"] == 4, 1, 4).astype(np.int32))
    exact = extra.iloc[20:25]
    phot_conflict = phot.iloc[30:33].assign(modelMag_r=lambda d: d["modelMag_r"] + 1.0)
    _write(raw, pd.concat([info, info.iloc[40:42]]), pd.concat([extra, flipped, exact]),
           pd.concat([phot, phot_conflict, phot.iloc[50:51]]))
    sel = select_mpajhu(raw, load_config())
    q = pd.DataFrame(sel.quarantine)
    from_extra = q[q["file"].str.endswith("galSpecExtra.fits")]
    assert len(from_extra) == 20 and set(from_extra["object_id"]) == set(extra["SPECOBJID"].iloc[:20])
    row = extra.iloc[0]
    assert (f"duplicate SPECOBJID {row.SPECOBJID} in galSpecExtra.fits with BPTCLASS {row.BPTCLASS} and "
            f"{4 if row.BPTCLASS == 1 else 1}") in from_extra.set_index("object_id").loc[row.SPECOBJID, "reason"]
    from_phot = q[q["file"].str.endswith("photometry.fits")]
    assert set(from_phot["object_id"]) == set(phot["specObjID"].iloc[30:33])
    assert from_phot["reason"].str.contains("modelMag_r").all()
    # none flipped: every kept object has its one true class; the collapsed copies were counted
    kept = sel.objects.set_index("object_id")
    truth = extra.set_index("SPECOBJID")["BPTCLASS"]
    assert len(kept) == 200 - 23
    np.testing.assert_array_equal(kept["bpt_class"].to_numpy(), truth.loc[kept.index].to_numpy())
    assert sel.cleaning["duplicate_rows_collapsed"] == {"galSpecInfo.fits": 2, "galSpecExtra.fits": 5,
                                                        "photometry.fits": 1}


def test_table_conflicting_duplicates_quarantined_with_both_values(tmp_path: Path) -> None:
    df = _uv()
    clash = df.iloc[[0]].assign(BPT_class="AGN")
    path = tmp_path / "t.csv"
    pd.concat([df, df.iloc[[1, 2]], clash]).to_csv(path, index=False)
    sel = _select(path)
    assert len(sel.objects) == len(df) - 1
    assert sel.cleaning["duplicate_rows_collapsed"] == {"t.csv": 2}
    (q,) = sel.quarantine
    assert q["object_id"] == df["Objid"][0] and "BPT_class SF and AGN" in q["reason"]


# ---- item 6: feature names that collide after sanitising --------------------------------------------------

def test_colliding_feature_names_are_refused_naming_the_originals(tmp_path: Path) -> None:
    df = _uv()
    rng = np.random.default_rng(1)
    for col in ("g-r", "g_r", "G R", "size-ratio", "size_ratio", "Size Ratio"):
        df[col] = rng.normal(0.6, 0.1, len(df))
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    with pytest.raises(AgnbenchError, match=r"columns 'size-ratio', 'size_ratio', 'Size Ratio' would all become "
                                            r"feat_size_ratio"):
        _select(path)  # (g-r, g_r, G R give way to the canonical feat_g_r made from the dered magnitudes)
    with pytest.raises(AgnbenchError, match=r"columns 'g-r', 'G R' would all become feat_g_r"):
        _select(path, features=["g-r", "G R", "dered_r"])
    assert "feat_g_r" in _select(path, features=["g_r", "dered_r"]).objects


def test_cli_collision_is_one_line_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    df = _uv().assign(**{"Dn4000 obs": 1.0})  # collides with Dn4000(obs)
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    rc = main(["prep", "--source", "table", "--table", str(path), "--id-col", "Objid", "--label-col", "BPT_class",
               "--label-map", UV_MAP, "--out", str(tmp_path / "s"), "-q"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and "'Dn4000(obs)', 'Dn4000 obs' would all become feat_dn4000_obs" in err


# ---- item 14: text features, overlapping roles, infinities -------------------------------------------------

def test_text_feature_column_is_refused_and_numbers_as_text_are_read(tmp_path: Path) -> None:
    df = _uv()
    df["morph"] = np.where(np.arange(len(df)) % 2, "spiral", "elliptical")
    df["size_txt"] = df["petroR90_r"].map(lambda v: f"{v:.4f}")  # numbers stored as text
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    with pytest.raises(AgnbenchError, match=r"column 'morph' \(named in --features\) holds text, not numbers "
                                            r"\(e.g. 'elliptical' \(row 1\), 'spiral' \(row 2\)"):
        _select(path, features=["dered_r", "morph"])
    sel = _select(path, features=["dered_r", "size_txt"])
    np.testing.assert_allclose(sel.objects["feat_size_txt"], df.set_index("Objid").loc[sel.objects["object_id"],
                               "petroR90_r"], atol=1e-4)
    assert "feat_size_txt" in _select(path).objects  # found automatically too


@pytest.mark.parametrize(("kw", "words"), [
    ({"id_col": "BPT_class"}, "column 'BPT_class' is both --id-col and --label-col"),
    ({"id_col": "redshift"}, "column 'redshift' is both --id-col and the z column"),
    ({"z_col": "ra"}, "column 'ra' is both the ra column and the z column"),
])
def test_overlapping_column_roles_are_refused(tmp_path: Path, kw: dict, words: str) -> None:
    with pytest.raises(AgnbenchError, match=words):
        _select(UV, **kw)


def test_infinite_feature_values_become_nan_and_are_counted(tmp_path: Path) -> None:
    df = _uv()
    df.loc[[3, 9], "petroR90_r"] = np.inf
    df.loc[4, "Dn4000(obs)"] = -np.inf
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    sel = _select(path)
    feats = sel.objects.filter(like="feat_")
    assert not np.isinf(feats.to_numpy(np.float64)).any()
    assert sel.cleaning["infinite_features_set_to_nan"] == {"feat_petror90_r": 2, "feat_dn4000_obs": 1}
    out = build_store(sel, load_config(), tmp_path / "store", raw=None, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cleaning"]["infinite_features_set_to_nan"] == {"feat_petror90_r": 2, "feat_dn4000_obs": 1}
    assert not np.isinf(pd.read_parquet(out / "objects.parquet").filter(like="feat_").to_numpy(np.float64)).any()
    new = load_new_data(path, classes=("sf", "agn"), id_col="Objid")  # predict: the same rule
    assert new.fingerprint["infinite_features_set_to_nan"]["feat_petror90_r"] == 2
    assert not np.isinf(new.frame["feat_petror90_r"].to_numpy(np.float64)).any()


# ---- item 15: a text value in a numeric column -------------------------------------------------------------

def test_text_in_the_redshift_column_quarantines_that_row(tmp_path: Path) -> None:
    df = _uv().astype({"redshift": object})
    df.loc[5, "redshift"] = "abc"
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    sel = _select(path)
    (q,) = sel.quarantine
    assert q["object_id"] == df["Objid"][5] and q["reason"] == "row 6: column 'redshift' holds 'abc', not a number"
    assert len(sel.objects) == len(df) - 1 and sel.objects["z"].notna().all()


def test_a_text_position_column_is_refused(tmp_path: Path) -> None:
    df = _uv().assign(ra=lambda d: [f"09:{i % 60:02d}:00" for i in range(len(d))])  # sexagesimal, not degrees
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    with pytest.raises(AgnbenchError, match=r"column 'ra' \(the ra column\) holds text, not numbers \(e.g. '09:00:00'"):
        _select(path)


def test_predict_table_with_a_non_number_is_refused(tmp_path: Path) -> None:
    df = _uv().drop(columns=["BPT_class"]).astype({"dered_r": object})
    df.loc[2, "dered_r"] = "abc"
    path = tmp_path / "new.csv"
    df.to_csv(path, index=False)
    with pytest.raises(AgnbenchError, match=r"column 'dered_r' holds numbers and 1 value\(s\) that are not: 'abc' \(row 3\)"):
        load_new_data(path, classes=("sf", "agn"), id_col="Objid")


def test_mpajhu_text_redshift_quarantined_and_text_bpt_column_refused(tmp_path: Path) -> None:
    raw, info, extra, phot = _mpajhu(tmp_path)
    info = info.astype({"Z": object})
    info.loc[7, "Z"] = "abc"
    info["Z"] = info["Z"].astype(str)
    _write(raw, info, extra, phot)
    sel = select_mpajhu(raw, load_config())
    (q,) = sel.quarantine
    assert q["object_id"] == info["SPECOBJID"][7] and q["reason"] == "Z 'abc' in galSpecInfo.fits is not a number"
    assert len(sel.objects) == 199
    _write(raw, info.drop(index=7), extra.assign(BPTCLASS=["AGN", "SF"] * 100), phot)
    with pytest.raises(AgnbenchError, match=r"galSpecExtra.fits: column 'BPTCLASS' holds text, not numbers"):
        select_mpajhu(raw, load_config())


def test_a_text_column_mapped_as_a_canonical_input_is_refused(tmp_path: Path) -> None:
    df = _uv().assign(rmag=lambda d: np.where(np.arange(len(d)) % 2, "bright", "faint")).drop(columns=["dered_r"])
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    with pytest.raises(AgnbenchError, match=r"column 'rmag' \(the dered_r input\) holds text, not numbers"):
        _select(path, column_map={"dered_r": "rmag"})
