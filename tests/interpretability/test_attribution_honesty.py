"""Attribution claims the method does not build in (issue 17, items 4, 5 and 11), on planted models.

* Spectra: under the line-free continuum baseline, integrated gradients puts 100 % of |IG| in the
  bridged line windows whatever the model, so enrichment is reported relative to the region the
  baseline leaves free; expected gradients over training spectra (the default) singles out no
  wavelength and finds a planted model's window, lines or continuum.
* Images: equal-area occlusion rings, filled with the local sky (not zeros), put a planted
  centre-only or outskirts-only model's drop in the right ring.
* Catalog: grouped SHAP adds up to the total SHAP sum, and a group whose correlated members cancel
  is not counted twice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from agnbench.baselines.catalog_models import fit_model
from agnbench.config.explain import ExplainConfig
from agnbench.data_prep.ingest.features import catalog_features
from agnbench.data_prep.lines import SPECTRAL_FEATURES
from agnbench.errors import AgnbenchError
from agnbench.interpretability.feature_groups import (GROUP_NAMES, OTHER, feature_group, group_importance,
                                                      grouped_shap)
from agnbench.interpretability.gradients import expected_gradients, integrated_gradients
from agnbench.interpretability.ig_baselines import continuum_baseline, line_windows, reference_rows
from agnbench.interpretability.occlusion import (equal_area_rings, fill_values, occlude_centre_outskirts,
                                                 occlude_rings)
from agnbench.interpretability.probes import free_pixels, window_fraction
from agnbench.interpretability.tree_shap import tree_shap
from agnbench.reports.interpret_checks import window_text
from tests.conftest import REAL

torch.set_num_threads(1)


def _wave() -> np.ndarray:
    return 10 ** np.arange(np.log10(3750.0), np.log10(7400.0), 1e-3)


def _in_windows(wave: np.ndarray) -> np.ndarray:
    inside = np.zeros(wave.size, dtype=bool)
    for lo, hi in line_windows(wave):
        inside[lo:hi] = True
    return inside


class Linear(nn.Module):
    """logit_0 = w . flux, logit_1 = -logit_0 (the weight channel unused): IG is exactly w * (x - x0)."""

    def __init__(self, w: np.ndarray) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x[:, 0] @ self.w
        return torch.stack([s, -s], dim=1)


def _spectra(wave: np.ndarray, n: int, *, seed: int, amp: float = 2.0, box: bool = False) -> np.ndarray:
    """(n, 2, L) flat-continuum spectra with emission in every bridged line window (boxes or noisy lines)."""
    rng = np.random.default_rng(seed)
    inside = _in_windows(wave)
    flux = np.ones((n, wave.size)) if box else 1.0 + rng.normal(0, 0.05, (n, wave.size))
    flux = flux + amp * inside * (1.0 if box else rng.uniform(0.2, 1.0, (n, 1)))
    return np.stack([flux, np.ones_like(flux)], axis=1).astype(np.float32)


# ---------------------------------------------------------------- item 4: spectra baselines


def test_continuum_baseline_puts_all_ig_in_the_free_region_by_construction():
    """A model with NO preference for any wavelength still gets 'x-fold enrichment in the lines' under the
    continuum baseline; relative to the region the baseline leaves free its enrichment is exactly 1."""
    wave = _wave()
    x = _spectra(wave, 3, seed=1, box=True)
    base = continuum_baseline(x, wave)
    model = Linear(np.ones(wave.size))  # uniform weights: no wavelength is preferred
    ig = integrated_gradients(model, x, base, np.zeros(3, dtype=np.int64), steps=8)
    free = free_pixels(x, base)[:, 0]
    np.testing.assert_array_equal(free, np.broadcast_to(_in_windows(wave), free.shape))  # free = bridged windows
    frac = window_fraction(ig.attr[:, :1], wave, free=free)
    np.testing.assert_allclose(frac["fraction_in_free"], 1.0, atol=1e-6)  # 100 % by construction
    assert (frac["enrichment"] > 2.0).all()  # the old headline: a spurious preference for the BPT windows
    np.testing.assert_allclose(frac["enrichment_vs_free"], 1.0, rtol=1e-5)  # honest: no preference
    np.testing.assert_allclose(frac["free_share"], _in_windows(wave).mean())
    # a random model too: every bit of |IG| lies in the bridged windows
    rnd = Linear(np.random.default_rng(2).normal(size=wave.size))
    ig = integrated_gradients(rnd, _spectra(wave, 2, seed=3), continuum_baseline(_spectra(wave, 2, seed=3), wave),
                              np.zeros(2, dtype=np.int64), steps=8)
    assert np.abs(ig.attr[:, 0, ~_in_windows(wave)]).max() == 0.0


def test_window_fraction_without_free_mask_is_the_grid_one():
    wave = _wave()
    attr = np.random.default_rng(0).normal(size=(4, wave.size))
    frac = window_fraction(attr, wave)
    np.testing.assert_allclose(frac["enrichment_vs_free"], frac["enrichment"])
    np.testing.assert_allclose(frac["fraction_in_free"], 1.0)
    assert (frac["free_share"] == 1.0).all()


def test_expected_gradients_find_a_planted_line_window_and_are_complete():
    wave = _wave()
    lo, hi = SPECTRAL_FEATURES["[OIII]5007"]
    window = (wave >= lo) & (wave <= hi)
    w = np.where(window, np.random.default_rng(4).uniform(0.5, 1.5, wave.size), 0.0)
    model = Linear(w)
    x, refs = _spectra(wave, 5, seed=5), _spectra(wave, 6, seed=6)
    eg = expected_gradients(model, x, refs, np.zeros(5, dtype=np.int64), steps=4)
    np.testing.assert_allclose(eg.attr[:, 0], w * (x[:, 0] - refs[:, 0].mean(axis=0)), atol=1e-4)
    gap = x[:, 0] @ w - (refs[:, 0] @ w).mean()  # f(x) - mean_k f(r_k)
    np.testing.assert_allclose(eg.attr.reshape(5, -1).sum(axis=1), gap, rtol=1e-4, atol=1e-4)
    assert np.abs(eg.delta).max() < 1e-3 and eg.method == "expected_gradients"
    free = free_pixels(x, refs, references=True)[:, 0]
    assert free.mean() > 0.99  # the reference set singles out no wavelength
    frac = window_fraction(eg.attr[:, :1], wave, ("[OIII]5007",), free=free)
    np.testing.assert_allclose(frac["fraction_in_windows"], 1.0)
    np.testing.assert_allclose(frac["enrichment_vs_free"], 1.0 / frac["windows_share_of_free"], rtol=1e-9)
    np.testing.assert_allclose(frac["enrichment_vs_free"], 1.0 / window.mean(), rtol=0.02)


def test_continuum_model_is_invisible_to_the_continuum_baseline_but_not_to_expected_gradients():
    """A model that reads only the continuum redward of the 4000 A break (line windows excluded)."""
    wave = _wave()
    region = (wave > 4000) & (wave < 4300) & ~_in_windows(wave)
    assert region.sum() > 10
    model = Linear(np.where(region, 1.0, 0.0))
    x, refs = _spectra(wave, 4, seed=7), _spectra(wave, 6, seed=8)
    x[:, 0, wave > 4000] += 0.3  # a stronger break than the references'
    target = np.zeros(4, dtype=np.int64)
    ig = integrated_gradients(model, x, continuum_baseline(x, wave), target, steps=4)
    assert np.abs(ig.attr).max() == 0.0  # f(x) = f(baseline): the evidence the model uses gets nothing
    eg = expected_gradients(model, x, refs, target, steps=4)
    a = np.abs(eg.attr[:, 0])
    np.testing.assert_allclose(a[:, region].sum(axis=1) / a.sum(axis=1), 1.0, rtol=1e-5)
    assert (eg.attr[:, 0, region].sum(axis=1) > 0.2 * region.sum()).all()


def test_expected_gradients_check_and_bad_input():
    wave = _wave()
    x = _spectra(wave, 2, seed=9)
    with pytest.raises(AgnbenchError, match="at least one reference"):
        expected_gradients(Linear(np.ones(wave.size)), x, x[:0], np.zeros(2, dtype=np.int64))


def test_reference_rows_are_class_balanced_seeded_and_labelled():
    labels = np.array([0] * 90 + [1] * 8 + [-1] * 20)
    pick = reference_rows(labels, 8, rng=np.random.default_rng(0))
    assert pick.size == 8 and np.bincount(labels[pick]).tolist() == [4, 4]
    np.testing.assert_array_equal(pick, reference_rows(labels, 8, rng=np.random.default_rng(0)))
    many = reference_rows(labels, 30, rng=np.random.default_rng(1))
    assert np.bincount(labels[many]).tolist() == [22, 8] and (labels[many] >= 0).all()  # class 1 runs out
    with pytest.raises(AgnbenchError, match="no labelled reference"):
        reference_rows(np.full(5, -1), 2, rng=np.random.default_rng(0))


def test_default_spectra_baseline_does_not_preselect_the_lines():
    assert ExplainConfig().spectra_baseline == "expected_gradients"
    assert ExplainConfig().eg_references >= 1


def test_report_states_enrichment_relative_to_the_free_region():
    win = {"median_fraction": 0.6, "grid_share": 0.033, "median_enrichment": 18.2, "median_free_share": 0.154,
           "median_fraction_in_free": 1.0, "median_windows_share_of_free": 0.197, "median_enrichment_vs_free": 3.05}
    text = window_text(win)
    assert "×18.2" in text and "relative to the grid" in text
    assert "100.0% of |IG|" in text and "15.4% of the grid free" in text
    assert "enrichment relative to the free region is ×3.05" in text
    old = window_text({k: win[k] for k in ("median_fraction", "grid_share", "median_enrichment")})
    assert "re-run agnbench explain" in old


# ---------------------------------------------------------------- item 5: equal-area ring occlusion


@pytest.mark.parametrize(("h", "w", "n"), [(48, 48, 6), (64, 64, 6), (47, 47, 5), (16, 20, 4), (64, 64, 4)])
def test_rings_have_equal_pixel_counts_and_are_nested(h, w, n):
    ring, table = equal_area_rings(h, w, n)
    counts = np.bincount(ring.ravel(), minlength=n)
    assert counts.sum() == h * w and counts.max() - counts.min() <= 1
    assert table["n_pixels"].tolist() == counts.tolist()
    assert (table["r_outer_pix"].to_numpy()[:-1] <= table["r_inner_pix"].to_numpy()[1:] + 1e-9).all()
    assert ring[(h - 1) // 2, (w - 1) // 2] == 0 and ring[0, 0] == n - 1


def _cutouts(n: int, size: int, *, seed: int) -> np.ndarray:
    """Sky (0.3, 0.5, 0.7 per band) + noise + a bright nucleus + a companion in a corner."""
    rng = np.random.default_rng(seed)
    sky = np.array([0.3, 0.5, 0.7])[None, :, None, None]
    x = sky + rng.normal(0, 0.01, (n, 3, size, size))
    c = (size - 1) / 2
    yy, xx = np.mgrid[:size, :size]
    x = x + 2.0 * np.exp(-0.5 * np.hypot(yy - c, xx - c) ** 2 / 1.5**2)
    x = x + 1.5 * np.exp(-0.5 * np.hypot(yy - 1.5, xx - 1.5) ** 2)  # the companion, in the outermost ring
    return x.astype(np.float32)


def test_sky_fill_is_the_local_sky_not_zero():
    x = _cutouts(2, 24, seed=0)
    fill = fill_values(x, "sky")
    np.testing.assert_allclose(fill[:, :, 0, 0], [[0.3, 0.5, 0.7]] * 2, atol=0.02)
    assert (fill > 0.25).all()
    blur = fill_values(x, "blur", blur_sigma_pix=2.0)
    assert blur.shape == x.shape and (blur > 0.2).all()
    np.testing.assert_array_equal(fill_values(x, 0.0), 0.0)
    with pytest.raises(AgnbenchError, match="fill must be"):
        fill_values(x, "zeros")


class MaskMean(nn.Module):
    """logit_0 = 20 * mean of the r band over a fixed pixel mask, logit_1 = 0."""

    def __init__(self, mask: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.float32))
        self.scale = nn.Parameter(torch.tensor(20.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale * (x[:, 1] * self.mask).sum(dim=(1, 2)) / self.mask.sum() - 10.0
        return torch.stack([s, torch.zeros_like(s)], dim=1)


def test_ring_occlusion_puts_a_planted_models_drop_in_the_right_ring():
    size, n_rings = 24, 6
    x = _cutouts(3, size, seed=1)
    ring, _ = equal_area_rings(size, size, n_rings)
    target = np.zeros(3, dtype=np.int64)
    yy, xx = np.mgrid[:size, :size]
    centre = np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2) < 1.5  # the nucleus, inside ring 1
    assert (ring[centre] == 0).all()
    drops, rings = occlude_rings(MaskMean(centre), x, target, n_rings=n_rings, fill="sky", batch_size=7)
    assert rings["n_pixels"].max() - rings["n_pixels"].min() <= 1 and len(rings) == n_rings
    d = drops[[f"drop_ring{j}" for j in range(1, n_rings + 1)]].to_numpy()
    assert (d[:, 0] > 0.1).all()
    np.testing.assert_allclose(d[:, 1:], 0.0, atol=1e-6)
    corner = np.hypot(yy - 1.5, xx - 1.5) < 2.0  # the companion, inside the outermost ring
    assert (ring[corner] == n_rings - 1).all()
    drops, _ = occlude_rings(MaskMean(corner), x, target, n_rings=n_rings, fill="sky")
    d = drops[[f"drop_ring{j}" for j in range(1, n_rings + 1)]].to_numpy()
    assert (d[:, -1] > 0.1).all()
    np.testing.assert_allclose(d[:, :-1], 0.0, atol=1e-6)
    with pytest.raises(AgnbenchError, match="n_rings"):
        occlude_rings(MaskMean(centre), x, target, n_rings=0)


def test_centre_outskirts_accepts_the_sky_fill():
    size = 24
    x = _cutouts(2, size, seed=2)
    yy, xx = np.mgrid[:size, :size]
    centre = np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2) < 1.5
    sky = occlude_centre_outskirts(MaskMean(centre), x, np.zeros(2, dtype=np.int64), radius_pix=3.0, fill="sky")
    zero = occlude_centre_outskirts(MaskMean(centre), x, np.zeros(2, dtype=np.int64), radius_pix=3.0)
    np.testing.assert_allclose(sky["drop_outskirts"], 0.0, atol=1e-6)
    assert (sky["drop_centre"] > 0.1).all() and (zero["p_centre_filled"] <= sky["p_centre_filled"]).all()


# ---------------------------------------------------------------- item 11: grouped SHAP


def _real_features() -> pd.DataFrame:
    path = REAL / "uv_optical_sdss_reduced.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    frame = pd.read_csv(path)
    frame = frame[frame["BPT_class"].isin(["SF", "AGN"])].reset_index(drop=True)
    feats = catalog_features(frame)
    feats["label"] = (frame["BPT_class"] == "AGN").astype(np.int64)
    return feats


def test_feature_groups_of_the_real_table_and_the_mock_store():
    feats = [c for c in _real_features().columns if c.startswith("feat_")]
    groups = {f: feature_group(f) for f in feats}
    assert {f for f, g in groups.items() if g == "colours"} == {"feat_u_g", "feat_g_r", "feat_r_i", "feat_i_z"}
    assert groups["feat_petror90_r"] == "size/morphology"
    assert {groups[f] for f in ("feat_z", "feat_abs_r", "feat_dered_r")} == {"distance/luminosity"}
    mock = {"feat_concentration": "size/morphology", "feat_fracdev_r": "size/morphology",
            "feat_petror50_r": "size/morphology", "feat_logmass": "spectral indices/physical",
            "feat_d4000_n": "spectral indices/physical", "feat_lick_hd_a": "spectral indices/physical",
            "feat_v_disp": "spectral indices/physical", "feat_dn4000_obs": "spectral indices/physical",
            "feat_ebv_mw": OTHER, "feat_something_new": OTHER}
    assert {f: feature_group(f) for f in mock} == mock
    assert GROUP_NAMES[-1] == OTHER


def test_grouped_shap_adds_up_to_the_total_on_the_real_table():
    feats = _real_features()
    names = [c for c in feats.columns if c.startswith("feat_")]
    X, y = feats[names].to_numpy(np.float64), feats["label"].to_numpy()
    half = len(X) // 2
    fit = fit_model("xgboost", X[:half], y[:half], X[half:], y[half:], n_classes=2, feature_names=names, seed=0,
                    params={"n_estimators": 30, "max_depth": 3, "learning_rate": 0.3}, threads=1)
    res = tree_shap(fit, X[half:])
    sums = grouped_shap(res.values[:, 0, :], res.feature_names)
    assert set(sums.columns) <= set(GROUP_NAMES) and "colours" in sums.columns
    np.testing.assert_allclose(sums.sum(axis=1), res.values[:, 0, :].sum(axis=1), rtol=1e-12, atol=1e-12)
    table = group_importance(res.values, res.feature_names, res.classes_out)
    assert table["n_features"].sum() == len(names) and table["rank"].tolist() == list(range(1, len(table) + 1))
    assert (table["mean_abs_group_shap"] <= table["sum_mean_abs_shap"] + 1e-12).all()
    np.testing.assert_allclose(table.set_index("group").loc[list(sums.columns), "mean_abs_group_shap"],
                               sums.abs().mean().to_numpy())


def test_group_importance_does_not_double_count_cancelling_members():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    values = np.stack([a, -a, 0.5 * rng.normal(size=200)], axis=1)[:, None, :]  # two colours that cancel
    table = group_importance(values, ["feat_g_r", "feat_r_i", "feat_petror50_r"], [1]).set_index("group")
    assert table.loc["colours", "mean_abs_group_shap"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["colours", "sum_mean_abs_shap"] == pytest.approx(2 * np.abs(a).mean())
    assert table.loc["size/morphology", "rank"] == 1
    with pytest.raises(AgnbenchError, match="SHAP values must be"):
        grouped_shap(values[:, 0, :2], ["feat_g_r", "feat_r_i", "feat_z"])

