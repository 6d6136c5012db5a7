"""The leakage guard beyond names: reasons by name, pairs by a 2-D rule, pairs through the BPT lines."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from agnbench.data_prep.bpt import above_kauffmann, above_kewley
from agnbench.errors import AgnbenchError
from agnbench.protocol.leakage import check_leakage, leaky_by_name
from agnbench.protocol.leakage_pairs import explain_away, grid_pair_scores, side_agreement, PairFinding

from tests.conftest import REAL

UV = REAL / "uv_optical_sdss_reduced.csv"
#: The real table's legitimate (non-line) quantities.
UV_LEGIT = ["dered_u", "dered_g", "dered_r", "dered_i", "dered_z", "petroR90_r", "Dn4000(obs)", "redshift"]


@pytest.mark.parametrize(("name", "reason"), [
    ("[NII]/Hα", "emission-line ratio"), ("NII/Halpha", "emission-line ratio"), ("log_nii_ha", "emission-line ratio"),
    ("q_log_oiii_hb", "emission-line ratio"), ("N2", "emission-line ratio"), ("O3", "emission-line ratio"),
    ("n2ha", "emission-line ratio"), ("o3hb", "emission-line ratio"), ("feat_o3n2", "emission-line ratio"),
    ("R23", "emission-line ratio"), ("line_ratio_1", "emission-line ratio"),
    ("F_Halpha", "Balmer emission line"), ("H_BETA_FLUX", "Balmer emission line"), ("flux_hα", "Balmer emission line"),
    ("F_oiii", "forbidden emission line"), ("NII_6584_FLUX", "forbidden emission line"),
    ("EW_Halpha", "emission-line equivalent width"), ("OIII_5007_EQW", "emission-line equivalent width"),
    ("BPT_class", "emission-line classification"), ("whan_type", "emission-line classification"),
    ("SFR_TOT_P50", "line-based star formation rate"), ("OH_P50", "line-based metallicity"),
    ("lineflux_x", "emission-line measurement"),
])
def test_every_name_pattern_gives_the_right_reason(name: str, reason: str) -> None:
    assert leaky_by_name([name]) == {name: reason}


def test_legitimate_names_pass() -> None:
    names = ["feat_g_r", "flux_u(E-17)", "D4000_N", "LICK_HD_A", "LGM_TOT_P50", "petroR90_r", "Dn4000(obs)",
             "fiberMag_z", "x_ratio1", "redshift", "modelMag_u", "feat_s2n_r", "feat_abs_r", "z"]
    assert leaky_by_name(names) == {}


def _frame(rng: np.random.Generator, n: int, k: int = 6) -> pd.DataFrame:
    return pd.DataFrame({f"noise{i}": rng.normal(size=n) for i in range(k)})


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("line", [above_kauffmann, above_kewley])
@pytest.mark.parametrize("linear", [False, True])
def test_planted_bpt_label_on_renamed_ratios_is_caught(seed: int, line, linear: bool) -> None:
    rng = np.random.default_rng(seed)
    n = 1200
    x, y = rng.uniform(-1.5, 0.4, n), rng.uniform(-1.2, 1.3, n)
    label = line(x, y).astype(int)
    df = _frame(rng, n).assign(x_ratio1=10**y if linear else y, x_ratio2=10**x if linear else x)  # y first: order-free
    train = rng.random(n) < 0.7
    report = check_leakage(df, list(df.columns), label=label, train=train, raise_on_leak=False)
    assert report.leaky == ["x_ratio1", "x_ratio2"]
    bpt = report.as_dict()["flagged_by_bpt"]
    assert len(bpt) == 1 and bpt[0]["x"] == "x_ratio2" and bpt[0]["y"] == "x_ratio1" and bpt[0]["score"] > 0.98
    assert ("Kauffmann et al. (2003)" if line is above_kauffmann else "Kewley et al. (2001)") in bpt[0]["line"] \
        or bpt[0]["score"] == 1.0  # between the lines, both may agree fully; the reason names the one used
    assert ("log10" in bpt[0]["transform"]) is linear
    with pytest.raises(AgnbenchError, match=r"x_ratio1, x_ratio2.*pair \(x_ratio2, x_ratio1\).*demarcation"):
        check_leakage(df, list(df.columns), label=label, train=train)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("rule", ["xor", "and", "rare_and"])
def test_planted_two_feature_rule_is_caught_as_a_pair(seed: int, rule: str) -> None:
    rng = np.random.default_rng(seed)
    n = 1500
    df = _frame(rng, n).assign(a=rng.normal(size=n), b=rng.normal(size=n))
    a, b = df["a"].to_numpy(), df["b"].to_numpy()
    label = {"xor": (a > 0) ^ (b > 0), "and": (a > 0.3) & (b > -0.2), "rare_and": (a > 1.2) & (b > 0.8)}[rule]
    train = rng.random(n) < 0.7
    report = check_leakage(df, list(df.columns), label=label.astype(int), train=train, raise_on_leak=False)
    assert report.leaky == ["a", "b"] and not report.by_auc and not report.by_name
    found = report.as_dict()["flagged_pairs"]
    assert [f["features"] for f in found] == [["a", "b"]]
    assert "out-of-fold train ROC AUC" in found[0]["reason"] and found[0]["score"] > 0.98


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_independent_noise_is_not_flagged_and_the_guard_is_deterministic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 1000
    df = _frame(rng, n, k=10)
    label = (rng.random(n) < 0.3).astype(int)
    train = rng.random(n) < 0.7
    first = check_leakage(df, list(df.columns), label=label, train=train)
    assert first.leaky == [] and first.pairs == ()
    assert first.pair_check["best"]["grid"]["score"] < 0.7
    second = check_leakage(df, list(df.columns), label=label, train=train)
    assert json.dumps(first.as_dict(), sort_keys=True) == json.dumps(second.as_dict(), sort_keys=True)


def test_only_training_rows_are_looked_at() -> None:
    rng = np.random.default_rng(0)
    n = 1000
    df = _frame(rng, n, k=2).assign(a=rng.normal(size=n), b=rng.normal(size=n))
    train = rng.random(n) < 0.6
    label = (rng.random(n) < 0.5).astype(int)
    xor = ((df["a"] > 0) ^ (df["b"] > 0)).to_numpy(int)
    label[~train] = xor[~train]  # the rule holds only outside the training split
    assert check_leakage(df, list(df.columns), label=label, train=train).leaky == []


def test_side_agreement_and_explain_away() -> None:
    y = np.array([0] * 50 + [1] * 50)
    assert side_agreement(y == 1, y) == 1.0 and side_agreement(y == 0, y) == 1.0
    assert side_agreement(np.ones(100, bool), y) == 0.5  # one side only: no information
    finding = PairFinding(features=("n2", "o3"), check="bpt", score=1.0, threshold=0.98, reason="r")
    weaker = PairFinding(features=("g_r", "o3"), check="grid", score=0.99, threshold=0.98, reason="r")
    assert explain_away([weaker, finding]) == [finding]  # the colour is not refused beside the ratio


def test_multiclass_grid_score() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 900))
    y = (a > 0).astype(int) + (b > 0).astype(int)  # three classes from two features
    scores = grid_pair_scores(np.column_stack([a, b]), y, ["a", "b"], [(0, 1)])
    assert scores[("a", "b")] > 0.98


def _uv_ratios() -> tuple[pd.DataFrame, np.ndarray]:
    df = pd.read_csv(UV)
    with np.errstate(divide="ignore", invalid="ignore"):
        n2 = np.log10(df["F_nii"] / df["F_Halpha"]).where((df["F_nii"] > 0) & (df["F_Halpha"] > 0))
        o3 = np.log10(df["F_oiii"] / df["F_Hbeta"]).where((df["F_oiii"] > 0) & (df["F_Hbeta"] > 0))
    legit = df[UV_LEGIT].assign(u_g=df["dered_u"] - df["dered_g"], g_r=df["dered_g"] - df["dered_r"],
                                r_i=df["dered_r"] - df["dered_i"], i_z=df["dered_i"] - df["dered_z"])
    label = df["BPT_class"].map({"SF": 0, "AGN": 1}).fillna(-1).to_numpy(int)
    return legit.assign(N2_=n2, O3_=o3), label


@pytest.mark.skipif(not UV.exists(), reason="real table absent")
@pytest.mark.parametrize(("x_name", "y_name"), [("N2", "O3"), ("n2ha", "o3hb"), ("x_ratio1", "x_ratio2")])
def test_real_renamed_bpt_ratios_are_refused_and_real_photometry_is_not(x_name: str, y_name: str) -> None:
    frame, label = _uv_ratios()
    frame = frame.rename(columns={"N2_": x_name, "O3_": y_name})
    train = np.random.default_rng(1).random(len(frame)) < 0.7
    report = check_leakage(frame, list(frame.columns), label=label, train=train, raise_on_leak=False)
    assert report.leaky == sorted([x_name, y_name])
    if x_name == "x_ratio1":  # innocuous names: caught by behaviour, through the BPT line
        assert not report.by_name and not report.by_auc
        bpt = report.as_dict()["flagged_by_bpt"]
        assert bpt[0]["x"] == "x_ratio1" and bpt[0]["y"] == "x_ratio2" and bpt[0]["score"] > 0.99
    legit = frame.drop(columns=[x_name, y_name])
    clean = check_leakage(legit, list(legit.columns), label=label, train=train)
    assert clean.leaky == []
    best = clean.pair_check["best"]
    assert max(best["grid"]["score"], best["tree"]["score"], best["bpt"]["score"]) < 0.95
