"""Physics probes: planted attributions with known fractions, profiles and correlations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agnbench.errors import AgnbenchError
from agnbench.interpretability import probes as P

WAVE = 10 ** (np.log10(3750) + 1e-4 * np.arange(2952))


def test_window_fraction_of_planted_attribution() -> None:
    rng = np.random.default_rng()
    attr = np.zeros((3, WAVE.size))
    ha = (WAVE > 6555) & (WAVE < 6575)
    attr[0, ha] = rng.normal(size=ha.sum())  # all inside a BPT window
    attr[1] = 1.0  # uniform: the fraction equals the windows' share
    attr[2, WAVE < 4000] = 1.0  # none inside
    out = P.window_fraction(attr, WAVE)
    share = P.window_mask(WAVE).mean()
    assert out["fraction_in_windows"].tolist() == pytest.approx([1.0, share, 0.0])
    assert out["enrichment"][0] == pytest.approx(1 / share) and out["enrichment"][1] == pytest.approx(1.0)
    with pytest.raises(AgnbenchError, match="wavelength grid"):
        P.window_fraction(attr[:, :10], WAVE)


def test_stack_by_class() -> None:
    attr = np.vstack([np.ones((4, WAVE.size)), -2 * np.ones((2, WAVE.size))])
    y = np.array([0, 0, 0, 0, 1, 1])
    out = P.stack_by_class(attr, WAVE, y, ("sf", "agn"))
    assert set(out["class"]) == {"sf", "agn"}
    agn = out[out["class"] == "agn"]
    assert (agn["mean_attr"] == -2).all() and (agn["mean_abs_attr"] == 2).all() and (agn["n"] == 2).all()


def test_radial_profile_and_central_fraction() -> None:
    attr = np.zeros((2, 3, 33, 33))
    attr[0, :, 16, 16] = 1.0  # a point at the centre
    attr[1] = 1.0  # uniform
    prof = P.radial_profile(attr, unit_pix=np.array([4.0, 4.0]), edges=[0, 1, 2, 4])
    assert prof[0].tolist() == pytest.approx([1, 0, 0, 0])
    r = np.hypot(*np.mgrid[-16:17, -16:17])
    expect = [np.mean(r < 4), np.mean((r >= 4) & (r < 8)), np.mean((r >= 8) & (r < 16)), np.mean(r >= 16)]
    assert prof[1] == pytest.approx(expect)
    assert P.central_fraction(attr, 4.0) == pytest.approx([1.0, np.mean(r < 4)])


def test_band_fractions() -> None:
    attr = np.zeros((1, 3, 8, 8))
    attr[0, 0] = 1.0
    attr[0, 2] = -3.0
    out = P.band_fractions(attr, "grz")
    assert out.iloc[0].tolist() == pytest.approx([0.25, 0.0, 0.75])
    with pytest.raises(AgnbenchError):
        P.band_fractions(attr, "gr")


def test_cross_track_probes() -> None:
    rng = np.random.default_rng(0)
    n = 300
    ids = [f"o{i}" for i in range(n)]
    mass = rng.normal(10.5, 0.5, n)
    base = 1 / (1 + np.exp(-(mass - 10.5) * 3))
    a = pd.DataFrame({"object_id": ids, "split": "test", "p_agn": base})
    b = pd.DataFrame({"object_id": ids, "split": "test", "p_agn": base + rng.normal(0, 0.01, n)})
    b.loc[7, "p_agn"] = 1 - base[7] if abs(1 - 2 * base[7]) > 0.5 else 2.0  # a planted disagreement
    wide = P.score_table({"a": a, "b": b})
    corr = P.score_correlations(wide)
    assert corr["spearman"].iloc[0] > 0.9
    objects = pd.DataFrame({"object_id": ids, "q_logmass": mass, "z": rng.uniform(0.02, 0.2, n)})
    dis = P.disagreements(wide, objects, k=3)
    assert dis["object_id"].iloc[0] == "o7" and "q_logmass" in dis.columns
    drivers = P.score_drivers(wide, objects).set_index(["run", "property"])["spearman"]
    assert drivers[("a", "q_logmass")] == pytest.approx(1.0) and abs(drivers[("a", "z")]) < 0.3
    with pytest.raises(AgnbenchError, match="p_agn"):
        P.score_table({"x": a.rename(columns={"p_agn": "p_qso"})})
