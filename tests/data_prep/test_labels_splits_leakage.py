"""Label schemes, stratified splits and the leakage guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from agnbench.data_prep.ingest.labels import assign_labels, labels_from_map, parse_label_map
from agnbench.protocol.leakage import check_leakage, leaky_by_name, single_feature_auc
from agnbench.data_prep.ingest.splits import assign_splits
from agnbench.errors import AgnbenchError

BPT = np.array([-1, 1, 2, 3, 4, 5, 1, 4])


def test_agn_vs_sf() -> None:
    label, name, role = assign_labels(BPT, scheme="agn_vs_sf")
    assert list(label) == [-1, 0, -1, -1, 1, -1, 0, 1]
    assert list(name) == ["excluded", "sf", "excluded", "ood", "agn", "excluded", "sf", "agn"]
    assert list(role) == ["excluded", "labelled", "excluded", "ood", "labelled", "excluded", "labelled", "labelled"]


def test_agn_vs_sf_lowsn_includes_low_sn_classes() -> None:
    label, name, _ = assign_labels(BPT, scheme="agn_vs_sf_lowsn")
    assert list(label) == [-1, 0, 0, -1, 1, 1, 0, 1]
    assert name[3] == "ood"


def test_bpt4_splits_agn_by_schawinski() -> None:
    x = np.array([0.0, -0.6, 0.0, -0.2, 0.1, 0.0, -0.6, 0.2])
    y = np.array([0.0, -0.3, 0.0, 0.1, 0.9, 0.0, -0.3, 0.0])  # obj 4 Seyfert (above 1.05x+0.45), obj 7 LINER
    label, name, _ = assign_labels(BPT, scheme="bpt4", log_nii_ha=x, log_oiii_hb=y)
    assert list(name) == ["excluded", "sf", "excluded", "composite", "agn", "excluded", "sf", "liner"]
    assert list(label) == [-1, 0, -1, 1, 2, -1, 0, 3]
    with pytest.raises(AgnbenchError, match="bpt4"):
        assign_labels(BPT, scheme="bpt4")


def test_label_map_parsing_and_table_labels() -> None:
    mapping = parse_label_map("1:sf, 3:AGN,2:ood")
    assert mapping == {"1": "sf", "3": "agn", "2": "ood"}
    label, name, role, classes = labels_from_map(pd.Series([1, 3, 2, 7, 1.0]), mapping)
    assert classes == ("sf", "agn")
    assert list(label) == [0, 1, -1, -1, 0] and list(role) == ["labelled", "labelled", "ood", "excluded", "labelled"]
    for bad, words in (("1-sf", "VALUE:NAME"), ("1:sf", "at least two"), ("1:sf,1:agn", "twice")):
        with pytest.raises(AgnbenchError, match=words):
            parse_label_map(bad)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_splits_stratified_seeded_and_order_free(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    ids = np.array([f"id{i:05d}" for i in range(n)])
    label = (rng.random(n) < 0.2).astype(int)
    role = np.where(rng.random(n) < 0.1, "ood", "labelled")
    label[role == "ood"] = -1
    split = assign_splits(ids, label, role, val_fraction=0.15, test_fraction=0.15, seed=seed)
    assert set(split[role == "ood"]) == {"ood"}
    for k in (0, 1):
        members = split[(label == k) & (role == "labelled")]
        assert abs(np.mean(members == "val") - 0.15) < 0.01 and abs(np.mean(members == "test") - 0.15) < 0.01
    perm = rng.permutation(n)  # same objects in another order -> same assignment per object
    split2 = assign_splits(ids[perm], label[perm], role[perm], val_fraction=0.15, test_fraction=0.15, seed=seed)
    np.testing.assert_array_equal(split2, split[perm])
    other = assign_splits(ids, label, role, val_fraction=0.15, test_fraction=0.15, seed=seed + 10)
    assert np.mean(other != split) > 0.2


def test_leaky_names() -> None:
    leaky = leaky_by_name(["EW_Halpha", "F_Hbeta", "F_oiii", "F_nii", "BPT_class", "H_ALPHA_FLUX", "OIII_5007_EQW",
                           "SFR_TOT_P50", "OH_P50", "feat_g_r", "flux_u(E-17)", "D4000_N", "LICK_HD_A",
                           "LGM_TOT_P50", "petroR90_r", "Dn4000(obs)", "fiberMag_z"])
    assert set(leaky) == {"EW_Halpha", "F_Hbeta", "F_oiii", "F_nii", "BPT_class", "H_ALPHA_FLUX", "OIII_5007_EQW",
                          "SFR_TOT_P50", "OH_P50"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_feature_auc_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(500) < 0.3).astype(int)
    x = rng.normal(size=500) + 0.8 * y
    assert single_feature_auc(x, y) == pytest.approx(roc_auc_score(y, x), abs=1e-12)
    assert single_feature_auc(-x, y) == pytest.approx(roc_auc_score(y, x), abs=1e-12)  # orientation-free
    x[:10] = np.nan
    ok = np.isfinite(x)
    assert single_feature_auc(x, y) == pytest.approx(roc_auc_score(y[ok], x[ok]), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_guard_flags_a_planted_label_copy_by_auc(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    y = (rng.random(n) < 0.25).astype(int)
    df = pd.DataFrame({"feat_colour": rng.normal(size=n) + 0.7 * y,
                       "feat_innocent_name": y * 3.0 + rng.normal(0, 0.05, n)})  # leaky by behaviour only
    train = rng.random(n) < 0.7
    with pytest.raises(AgnbenchError, match="feat_innocent_name .*train AUC"):
        check_leakage(df, list(df.columns), label=y, train=train)
    report = check_leakage(df, list(df.columns), label=y, train=train, allow_leaky=True)
    assert report.leaky == ["feat_innocent_name"] and report.as_dict()["allow_leaky"] is True
    report = check_leakage(df, list(df.columns), label=y, train=train, raise_on_leak=False)
    assert report.leaky == ["feat_innocent_name"]
