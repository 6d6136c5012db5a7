"""Prep step 1: objects tables from MPA-JHU files (DR8 and DR7 spellings) and from a user's table."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from agnbench.config.core import load_config
from agnbench.data_prep.bpt import bpt_class
from agnbench.data_prep.ingest.objects import select_mpajhu, select_table
from agnbench.errors import AgnbenchError
from agnbench.contracts.schema import validate_objects

from tests.conftest import REAL, read_catalog

UV = REAL / "uv_optical_sdss_reduced.csv"
UV_MAP = "SF:sf,AGN:agn,Composite:ood"


def test_real_table_refuses_its_line_columns() -> None:
    sel = select_table(UV, load_config(), id_col="Objid", label_col="BPT_class", label_map=UV_MAP)
    objects = sel.objects
    validate_objects(objects)
    feats = [c for c in objects if c.startswith("feat_")]
    assert set(sel.leakage.by_name) == {"feat_ew_halpha", "feat_f_halpha", "feat_f_hbeta", "feat_f_oiii", "feat_f_nii"}
    assert not any(f in feats for f in sel.leakage.by_name)
    assert {"feat_dered_g", "feat_petror90_r", "feat_dn4000_obs", "feat_z", "feat_u_g"} <= set(feats)
    assert "feat_redshift" not in feats  # the redshift column enters as the canonical feat_z
    assert not {"feat_plate", "feat_mjd", "feat_fiberid", "feat_objid"} & set(feats)  # identifiers are not inputs
    counts = objects.groupby(["split", "label_name"]).size()
    assert counts["ood", "ood"] == 186  # the composites
    assert counts["train", "sf"] + counts["val", "sf"] + counts["test", "sf"] == 1350
    assert counts["train", "agn"] + counts["val", "agn"] + counts["test", "agn"] == 54
    assert objects["z"].between(0.05, 0.075).all()


def test_real_table_explicit_leaky_feature_is_an_error(tmp_path: Path) -> None:
    cfg = load_config()
    with pytest.raises(AgnbenchError, match=r"F_Halpha|f_halpha.*Balmer emission line.*--allow-leaky"):
        select_table(UV, cfg, id_col="Objid", label_col="BPT_class", label_map=UV_MAP, features=["dered_g", "F_Halpha"])
    sel = select_table(UV, cfg, id_col="Objid", label_col="BPT_class", label_map=UV_MAP,
                       features=["dered_g", "F_Halpha"], allow_leaky=True)
    assert "feat_f_halpha" in sel.objects and sel.leakage.as_dict()["allow_leaky"] is True


def test_table_bad_inputs(tmp_path: Path) -> None:
    cfg = load_config()
    with pytest.raises(AgnbenchError, match=r"uv_optical_sdss_reduced.csv: no column 'ID' \(--id-col\)"):
        select_table(UV, cfg, id_col="ID", label_col="BPT_class", label_map=UV_MAP)
    with pytest.raises(AgnbenchError, match="1 class"):
        select_table(UV, cfg, id_col="Objid", label_col="BPT_class", label_map="SF:sf,Composite:ood")
    df = pd.read_csv(UV).head(300)
    conflicting = df.iloc[3:5].assign(BPT_class="AGN")
    df = pd.concat([df, df.iloc[:3], conflicting])  # three exact copies, two rows that disagree
    path = tmp_path / "dups.parquet"
    df.to_parquet(path)
    sel = select_table(path, cfg, id_col="Objid", label_col="BPT_class", label_map=UV_MAP)
    assert len(sel.objects) == 298 and len(sel.quarantine) == 2
    assert sel.cleaning["duplicate_rows_collapsed"] == {"dups.parquet": 3}
    assert all(q["reason"].startswith("duplicate 'Objid'") for q in sel.quarantine)


def test_mpajhu_mock_selection(mock_survey: Path) -> None:
    sel = select_mpajhu(mock_survey, load_config())
    objects = sel.objects
    validate_objects(objects)
    extra = read_catalog(mock_survey, "galSpecExtra").set_index("SPECOBJID")
    np.testing.assert_array_equal(objects["bpt_class"], extra.loc[objects["object_id"], "BPTCLASS"])
    assert (objects.loc[objects.bpt_class == 1, "label_name"] == "sf").all()
    assert (objects.loc[objects.bpt_class == 3, "split"] == "ood").all()
    names = [c for c, _ in sel.cuts]
    assert names[:4] == ["input", "RELIABLE == 1", "SPECTROTYPE == GALAXY", "Z_WARNING == 0"]
    assert sel.cuts[0][1] == 2000 and sel.cuts[-1][1] == len(objects)
    # the mock marks ~0.5% Z_WARNING != 0 and ~0.3% RELIABLE == 0: both cuts removed something
    assert sel.cuts[1][1] < 2000
    feats = {c for c in objects if c.startswith("feat_")}
    assert {"feat_g_r", "feat_concentration", "feat_logmass", "feat_d4000_n", "feat_z", "feat_abs_r"} <= feats
    assert not any("flux" in f or "eqw" in f for f in feats)
    assert {"q_log_nii_ha", "q_log_oiii_hb", "q_sn_median"} <= set(objects.columns)
    # the mock's photometric and physical features are legitimate: nothing flagged, alone or in pairs
    record = sel.leakage.as_dict()
    assert record["leaky"] == [] and record["flagged_pairs"] == [] and record["flagged_by_bpt"] == []
    assert record["pair_check"]["n_pairs"] == len(feats) * (len(feats) - 1) // 2


def test_mpajhu_dr7_spellings_give_the_same_objects(mock_survey: Path, tmp_path: Path) -> None:
    """Lower-case columns, DR7 file names and no SPECOBJID (ids rebuilt from plate/mjd/fiber)."""
    raw = tmp_path / "dr7"
    (raw / "catalog").mkdir(parents=True)
    for dr8, dr7 in (("galSpecInfo", "gal_info_dr7_v5_2"), ("galSpecExtra", "gal_extra"), ("galSpecLine", "gal_line_dr7_v5_2"),
                     ("galSpecIndx", "gal_indx_dr7_v5_2")):
        t = Table.read(mock_survey / "catalog" / f"{dr8}.fits")
        t.remove_column("SPECOBJID")
        t.rename_columns(t.colnames, [c.lower() for c in t.colnames])
        t["photoid5"] = np.zeros((len(t), 5), dtype=np.int32)  # a multidimensional column, as in DR7
        t.write(raw / "catalog" / f"{dr7}.fits")
    shutil.copy(mock_survey / "catalog" / "photometry.fits", raw / "catalog" / "photometry.fits")
    dr8 = select_mpajhu(mock_survey, load_config()).objects
    dr7 = select_mpajhu(raw, load_config()).objects
    pd.testing.assert_frame_equal(dr7[dr8.columns], dr8)


def test_mpajhu_missing_required_column(mock_survey: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(mock_survey / "catalog", raw / "catalog")
    t = Table.read(raw / "catalog" / "galSpecInfo.fits")
    t.remove_column("Z")
    t.write(raw / "catalog" / "galSpecInfo.fits", overwrite=True)
    with pytest.raises(AgnbenchError, match=r"galSpecInfo.fits: missing required column\(s\) Z"):
        select_mpajhu(raw, load_config())


def test_bptclass_recomputed_when_galspecextra_is_absent(mock_survey: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(mock_survey / "catalog", raw / "catalog")
    (raw / "catalog" / "galSpecExtra.fits").unlink()
    objects = select_mpajhu(raw, load_config()).objects
    line = read_catalog(mock_survey, "galSpecLine").set_index("SPECOBJID").loc[objects["object_id"]]
    args = [line[f"{n}_FLUX{e}"] for n in ("NII_6584", "H_ALPHA", "OIII_5007", "H_BETA") for e in ("", "_ERR")]
    np.testing.assert_array_equal(objects["bpt_class"], bpt_class(*args))


def test_cuts_that_could_not_be_applied_are_recorded(mock_survey: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(mock_survey / "catalog", raw / "catalog")
    (raw / "catalog" / "photometry.fits").unlink()
    sel = select_mpajhu(raw, load_config())
    assert not any("r_dered" in name for name, _ in sel.cuts)
    assert set(sel.not_applied) == {"r_min", "r_max"} and "no r-band photometry" in sel.not_applied["r_min"]
    assert select_mpajhu(mock_survey, load_config()).not_applied == {}


def test_empty_result_is_fatal_with_the_cut_counts(mock_survey: Path) -> None:
    cfg = load_config(overrides=["prep.z_min=0.3", "prep.z_max=0.39"])
    with pytest.raises(AgnbenchError, match=r"no object passes the quality cuts .*0.3 <= z <= 0.39: 0"):
        select_mpajhu(mock_survey, cfg)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_photometry_as_csv_or_parquet_with_plate_mjd_fiber(mock_survey: Path, tmp_path: Path, fmt: str) -> None:
    """A CasJobs export without specObjID joins on plate/mjd/fiberID and gives the same features."""
    raw = tmp_path / "raw"
    shutil.copytree(mock_survey / "catalog", raw / "catalog")
    phot = read_catalog(mock_survey, "photometry")
    info = read_catalog(mock_survey, "galSpecInfo")
    phot = phot.drop(columns=["specObjID"]).assign(plate=info["PLATEID"], mjd=info["MJD"], fiberID=info["FIBERID"])
    (raw / "catalog" / "photometry.fits").unlink()
    if fmt == "csv":
        phot.to_csv(raw / "catalog" / "photometry.csv", index=False)
    else:
        phot.to_parquet(raw / "catalog" / "photometry.parquet")
    ref = select_mpajhu(mock_survey, load_config()).objects
    got = select_mpajhu(raw, load_config()).objects
    feats = [c for c in ref if c.startswith("feat_")]
    np.testing.assert_allclose(got[feats].to_numpy(float), ref[feats].to_numpy(float), rtol=1e-12, equal_nan=True)


def test_mpajhu_keeps_only_the_fetched_selection(mock_survey: Path, tmp_path: Path) -> None:
    """After `agnbench fetch --limit`, RAW/selection.csv restricts prep to the objects that have files."""
    raw = tmp_path / "raw"
    shutil.copytree(mock_survey / "catalog", raw / "catalog")
    full = select_mpajhu(raw, load_config())
    chosen = full.objects["object_id"].sample(40, random_state=0)
    pd.DataFrame({"object_id": list(chosen) + ["999"]}).to_csv(raw / "selection.csv", index=False)
    sel = select_mpajhu(raw, load_config())
    assert set(sel.objects["object_id"]) == set(chosen)
    assert sel.cuts[1] == ("in selection.csv (the objects agnbench fetch chose)", 40)
