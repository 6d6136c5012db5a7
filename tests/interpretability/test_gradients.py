"""Gradient attributions, IG baselines and occlusion on planted models (tiny, seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from agnbench.data_prep.lines import line_centres
from agnbench.deep.resnet1d import ResNet1d
from agnbench.deep.resnet2d import ResNet18
from agnbench.errors import AgnbenchError
from agnbench.interpretability.ig_baselines import (blurred_baseline, class_mean_baseline, continuum_baseline,
                                                 line_windows, zero_baseline)
from agnbench.interpretability.gradients import (check_completeness, fold_batchnorm, frozen_eval, grad_cam,
                                                 integrated_gradients,
                                                 predicted_or_true, saliency)
from agnbench.interpretability.occlusion import occlude_centre_outskirts, occlude_windows

torch.set_num_threads(1)


def _wave(dloglam: float = 1e-3) -> np.ndarray:
    return 10 ** np.arange(np.log10(3750.0), np.log10(7400.0), dloglam)


class TwoWindowLinear(nn.Module):
    """logit_0 = sum(w * flux) over window A, logit_1 = sum(v * flux) over window B (the weight channel unused)."""

    def __init__(self, length: int, a: tuple[int, int], b: tuple[int, int], seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        w, v = torch.zeros(length), torch.zeros(length)
        w[a[0]:a[1]] = torch.rand(a[1] - a[0], generator=g) + 0.5
        v[b[0]:b[1]] = torch.rand(b[1] - b[0], generator=g) + 0.5
        self.weight = nn.Parameter(torch.stack([w, v]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0] @ self.weight.T


class SteepTanh(nn.Module):
    """A smooth but sharply non-linear logit: 5 tanh(10 (mean(flux) - 0.5)) and its negative."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = 5 * torch.tanh(self.scale * (x[:, 0].mean(dim=1) - 0.5))
        return torch.stack([s, -s], dim=1)


class CentreMasked(nn.Module):
    """Positive 3x3 convolution whose output is zeroed outside a central disk of radius 3 px."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        nn.init.uniform_(self.conv.weight, 0.1, 1.0)
        nn.init.zeros_(self.conv.bias)
        c = (size - 1) / 2
        yy, xx = np.mgrid[:size, :size]
        self.register_buffer("mask", torch.as_tensor(np.hypot(yy - c, xx - c) < 3, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.mask


class CentreNet(nn.Module):
    """An image model that sees only the central disk; class 0 logit grows with central flux."""

    def __init__(self, size: int = 16) -> None:
        super().__init__()
        self.stages = nn.Sequential(CentreMasked(size))
        self.head = nn.Linear(4, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]]))
            self.head.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(x).mean(dim=(2, 3)))


def _randomise(model: nn.Module, seed: int) -> nn.Module:
    """Give batch norms and the head non-trivial values (the init makes blocks identities, logits ~0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def tiny1d() -> ResNet1d:
    torch.manual_seed(0)
    return _randomise(ResNet1d(in_channels=2, n_classes=2, width=4, blocks=(1, 1), kernel_size=5), 1)


@pytest.fixture(scope="module")
def tiny2d() -> ResNet18:
    torch.manual_seed(0)
    return _randomise(ResNet18(in_channels=3, n_classes=2, width=0.125, stem_stride=1), 2)


def _spectra(n: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flux = 1 + 0.1 * rng.standard_normal((n, length))
    return np.stack([flux, np.full((n, length), 0.8)], axis=1).astype(np.float32)


# ---------------------------------------------------------------- integrated gradients


def test_ig_complete_on_resnet1d(tiny1d):
    x = torch.as_tensor(_spectra(6, 128))
    base = torch.zeros_like(x)
    res = integrated_gradients(tiny1d, x, base, torch.tensor([0, 1, 0, 1, 0, 1]), steps=64, batch_size=4)
    assert res.attr.shape == (6, 2, 128) and res.delta.shape == (6,)
    with torch.no_grad():
        gap = (tiny1d(x) - tiny1d(base))[torch.arange(6), res.target].numpy()
    assert np.abs(gap).min() > 1e-2  # the check below is not trivially satisfied
    np.testing.assert_allclose(res.attr.reshape(6, -1).sum(1), gap, rtol=0.05, atol=1e-3)
    np.testing.assert_allclose(res.delta, res.attr.reshape(6, -1).sum(1) - gap, atol=1e-4)
    assert res.max_relative_delta < 0.05


def _galaxies(n: int, size: int, seed: int) -> np.ndarray:
    """Exponential blobs of random size and colour plus a little noise, (n, 3, size, size)."""
    rng = np.random.default_rng(seed)
    c = (size - 1) / 2
    r = np.hypot(*np.mgrid[:size, :size] - c)[None, None]
    amp, scale = rng.uniform(0.5, 2.0, (n, 3, 1, 1)), rng.uniform(1.5, 4.0, (n, 1, 1, 1))
    return (amp * np.exp(-r / scale) + 0.05 * rng.standard_normal((n, 3, size, size))).astype(np.float32)


def test_ig_complete_on_resnet18(tiny2d):
    x = _galaxies(6, 16, seed=1)
    target = torch.tensor([1, 0, 1, 0, 1, 0])
    with torch.no_grad():
        gap = (tiny2d(torch.as_tensor(x)) - tiny2d(torch.zeros(1, 3, 16, 16)))[torch.arange(6), target].numpy()
    coarse = integrated_gradients(tiny2d, x, torch.zeros(1, 3, 16, 16), target, steps=4, check=False)
    res = integrated_gradients(tiny2d, x, torch.zeros(1, 3, 16, 16), target, steps=64, check=False,
                               baseline_name="zeros")
    assert res.baseline == "zeros" and res.method == "integrated_gradients"
    np.testing.assert_allclose(res.delta, res.attr.reshape(6, -1).sum(1) - gap, atol=1e-4)
    # a ReLU network's path integrand is piecewise constant (one jump per crossed kink), so the
    # error falls slowly with steps; judge it against the logit scale of the batch
    scale = np.abs(gap).max()
    assert scale > 0.1
    assert np.abs(res.delta).max() < 0.1 * scale < np.abs(coarse.delta).max()


def test_ig_with_scalars_is_complete():
    model = _randomise(ResNet1d(in_channels=1, n_classes=3, width=4, blocks=(1,), n_scalars=1), 3)
    x = torch.as_tensor(_spectra(4, 64)[:, :1])
    z = torch.tensor([[0.05], [0.1], [0.15], [0.2]])
    res = integrated_gradients(model, x, torch.ones_like(x), torch.tensor([0, 1, 2, 0]), steps=64, scalars=z)
    assert np.all(np.abs(res.delta) < 0.05 * np.abs(res.attr.reshape(4, -1).sum(1)) + 2e-3)


def test_ig_planted_linear_model_is_exact_and_targets_one_class():
    wave = _wave()
    L = wave.size
    model = TwoWindowLinear(L, (100, 120), (200, 230))
    x = _spectra(3, L, seed=2)
    base = continuum_baseline(x, wave)
    r0 = integrated_gradients(model, x, base, torch.zeros(3, dtype=torch.long), steps=8)
    r1 = integrated_gradients(model, x, base, torch.ones(3, dtype=torch.long), steps=8)
    w = model.weight.detach().numpy()
    np.testing.assert_allclose(r0.attr[:, 0], w[0] * (x[:, 0] - base[:, 0]), atol=1e-5)
    np.testing.assert_allclose(r1.attr[:, 0], w[1] * (x[:, 0] - base[:, 0]), atol=1e-5)
    outside = np.ones(L, dtype=bool)
    outside[100:120] = False
    assert np.all(r0.attr[:, 0, outside] == 0) and np.all(r0.attr[:, 1] == 0)
    assert not np.allclose(r0.attr, r1.attr)  # class 0 and class 1 are explained separately, not summed
    assert np.abs(r0.delta).max() < 1e-4


def test_ig_check_raises_for_too_few_steps_and_names_the_object():
    model = SteepTanh()
    x = torch.ones(3, 1, 50)
    x[1] = 0.3  # never crosses the tanh step: converges, unlike objects 0 and 2
    x[2] = 0.9
    with pytest.raises(AgnbenchError, match=r"object 0.*increase steps \(now 2\)"):
        integrated_gradients(model, x, torch.zeros_like(x), torch.zeros(3, dtype=torch.long), steps=2)
    res = integrated_gradients(model, x, torch.zeros_like(x), torch.zeros(3, dtype=torch.long), steps=2,
                               check=False)
    assert res.max_relative_delta > 0.5
    ok = integrated_gradients(model, x, torch.zeros_like(x), torch.zeros(3, dtype=torch.long), steps=128)
    assert ok.max_relative_delta < 0.05


def test_check_completeness_helper():
    check_completeness(np.array([0.01, -0.0005]), np.array([1.0, 0.0]), rtol=0.05)
    with pytest.raises(AgnbenchError, match="object 1"):
        check_completeness(np.array([0.01, 0.3, 0.2]), np.array([1.0, 1.0, 10.0]), rtol=0.05)


def test_frozen_eval_restores_mode_and_grads(tiny1d):
    tiny1d.train()
    with frozen_eval(tiny1d):
        assert not tiny1d.training and not any(p.requires_grad for p in tiny1d.parameters())
    assert tiny1d.training and all(p.requires_grad for p in tiny1d.parameters())
    tiny1d.eval()


def test_bad_target_and_baseline_raise(tiny1d):
    x = torch.as_tensor(_spectra(2, 64))
    with pytest.raises(AgnbenchError, match="one class index per object"):
        integrated_gradients(tiny1d, x, torch.ones_like(x), torch.tensor(0))
    with pytest.raises(AgnbenchError, match="baseline shape"):
        integrated_gradients(tiny1d, x, torch.ones(2, 2, 63), torch.tensor([0, 1]))


# ---------------------------------------------------------------- saliency, targets


def test_saliency_is_abs_weight_of_the_target_class():
    model = TwoWindowLinear(300, (10, 20), (50, 60))
    x = _spectra(2, 300)
    s0 = saliency(model, x, torch.tensor([0, 0]))
    s1 = saliency(model, x, torch.tensor([1, 1]))
    w = model.weight.detach().numpy()
    np.testing.assert_allclose(s0.attr[:, 0], np.abs(np.broadcast_to(w[0], (2, 300))))
    np.testing.assert_allclose(s1.attr[:, 0], np.abs(np.broadcast_to(w[1], (2, 300))))
    assert np.isnan(s0.delta).all() and s0.method == "saliency"


def test_predicted_or_true():
    model = TwoWindowLinear(40, (0, 10), (10, 20))
    x = np.zeros((2, 1, 40), dtype=np.float32)
    x[0, 0, :10] = 1.0
    x[1, 0, 10:20] = 1.0
    assert predicted_or_true(model, x, None).tolist() == [0, 1]
    assert predicted_or_true(model, x, np.array([1, 1]), mode="true").tolist() == [1, 1]
    with pytest.raises(AgnbenchError, match="mode"):
        predicted_or_true(model, x, None, mode="both")


# ---------------------------------------------------------------- Grad-CAM


def test_grad_cam_peaks_at_the_centre_for_a_centre_model():
    rng = np.random.default_rng(4)
    x = rng.uniform(0.2, 1.0, (3, 3, 16, 16)).astype(np.float32)
    x[:, :, 0:4, 0:4] += 5.0  # a bright corner the model cannot see
    model = CentreNet(16)
    cam = grad_cam(model, x, np.zeros(3, dtype=np.int64))
    assert cam.shape == (3, 16, 16) and (cam >= 0).all()
    peak = np.array(np.unravel_index(cam.reshape(3, -1).argmax(1), (16, 16))).T
    assert np.all(np.hypot(*(peak - 7.5).T) < 3)
    assert cam[:, :3, :3].max() < 0.05 * cam.max()
    cam1 = grad_cam(model, x, np.ones(3, dtype=np.int64))  # the class the centre argues against: ReLU'd away
    assert not cam1.any()


def test_grad_cam_on_resnet18_shape(tiny2d):
    x = torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    cam = grad_cam(tiny2d, x, torch.tensor([0, 1, 0, 1, 0]), batch_size=2)
    assert cam.shape == (5, 16, 16) and np.isfinite(cam).all() and (cam >= 0).all()


def test_grad_cam_refuses_a_spectra_model(tiny1d):
    with pytest.raises(AgnbenchError, match="Grad-CAM needs an image model"):
        grad_cam(tiny1d, torch.ones(2, 2, 64), torch.tensor([0, 1]))
    with pytest.raises(AgnbenchError, match="Grad-CAM needs an image model"):
        grad_cam(nn.Sequential(nn.Flatten(), nn.Linear(48, 2)), torch.ones(2, 3, 4, 4), torch.tensor([0, 1]))


# ---------------------------------------------------------------- baselines


def test_continuum_baseline_removes_a_line_and_keeps_the_rest():
    wave = _wave(1e-4)
    ha = min(line_centres("all"), key=lambda c: abs(c - 6564.6))
    continuum = 1.0 + 0.3 * (wave - 5500) / 3650 + 0.05 * np.sin(wave / 400)
    amp = 5.0
    flux = continuum + amp * np.exp(-0.5 * ((wave - ha) / 2.0) ** 2)
    x = np.stack([np.stack([flux, np.linspace(0.5, 1.0, wave.size)])] * 2).astype(np.float32)
    base = continuum_baseline(x, wave)
    windows = line_windows(wave)
    inside = np.zeros(wave.size, dtype=bool)
    for lo, hi in windows:
        inside[lo:hi] = True
    lo, hi = next((lo, hi) for lo, hi in windows if wave[lo] <= ha < wave[hi - 1])
    assert np.abs(base[:, 0, lo:hi] - continuum[lo:hi]).max() < 0.01 * amp
    assert np.abs(x[:, 0, lo:hi] - continuum[lo:hi]).max() > 0.9 * amp
    np.testing.assert_array_equal(base[:, 0, ~inside], x[:, 0, ~inside])
    np.testing.assert_array_equal(base[:, 1], x[:, 1])
    assert len(line_windows(wave, line_set="bpt")) < len(windows)


def test_other_baselines():
    rng = np.random.default_rng(5)
    sf = rng.normal(1, 0.1, (10, 2, 30))
    np.testing.assert_allclose(class_mean_baseline(sf, 4), np.broadcast_to(sf.mean(0), (4, 2, 30)), rtol=1e-6)
    assert zero_baseline(sf).shape == sf.shape and not zero_baseline(sf).any()
    img = np.zeros((2, 3, 21, 21), dtype=np.float32)
    img[:, :, 10, 10] = 1.0
    blur = blurred_baseline(img, 2.0)
    np.testing.assert_allclose(blur.sum(axis=(2, 3)), 1.0, rtol=1e-3)
    assert blur[0, 0, 10, 10] < 0.1 and blur[0, 0, 10, 12] > 0.01


# ---------------------------------------------------------------- occlusion


def test_occlusion_drop_is_largest_over_the_planted_region():
    wave = _wave(1e-4)
    L = wave.size
    line = int(np.searchsorted(wave, 5007.0))
    model = TwoWindowLinear(L, (line - 3, line + 4), (0, 1))
    with torch.no_grad():
        model.weight.mul_(0.1)  # keep the softmax away from saturation
    x = _spectra(2, L, seed=6)
    x[:, 0] = 1.0
    x[:, 0, line - 3:line + 4] += 3.0  # an emission line on the weighted pixels
    drop, centres = occlude_windows(model, x, torch.zeros(2, dtype=torch.long), wave, width_A=30, stride_A=15,
                                    batch_size=37)
    assert drop.shape == (2, centres.size)
    lo_w, hi_w = centres - 15.0, centres + 15.0
    overlaps = (lo_w <= wave[line + 3]) & (hi_w >= wave[line - 3])
    covers = (lo_w <= wave[line - 3]) & (hi_w >= wave[line + 3])
    far = np.abs(centres - 5007.0) > 60
    assert overlaps.sum() >= 3 and covers.any()
    np.testing.assert_allclose(drop[:, ~overlaps], 0, atol=1e-6)  # windows off the weighted pixels change nothing
    assert np.all(drop[:, covers] > 0.1)
    assert np.all(np.isin(drop.argmax(1), np.flatnonzero(covers)))
    drop_b, _ = occlude_windows(model, x, torch.zeros(2, dtype=torch.long), wave, baseline=np.ones((2, L)))
    np.testing.assert_allclose(drop_b[:, far], 0, atol=1e-6)
    assert np.all(np.abs(centres[drop_b.argmax(1)] - 5007.0) < 20) and drop_b.max() >= drop.max() - 1e-6


def test_occlusion_on_a_resnet_with_scalars():
    model = _randomise(ResNet1d(in_channels=2, n_classes=2, width=4, blocks=(1,), n_scalars=1), 4)
    wave = _wave(4e-3)
    x = _spectra(3, wave.size)
    drop, centres = occlude_windows(model, x, torch.tensor([0, 1, 0]), wave, width_A=200, stride_A=200,
                                    scalars=np.array([[0.1], [0.2], [0.05]]), batch_size=7)
    assert drop.shape == (3, centres.size) and np.isfinite(drop).all()


def test_centre_outskirts_occlusion():
    rng = np.random.default_rng(7)
    x = rng.uniform(0.2, 1.0, (4, 3, 16, 16)).astype(np.float32)
    df = occlude_centre_outskirts(CentreNet(16), x, np.zeros(4, dtype=np.int64), radius_pix=np.array([5, 5, 6, 7]),
                                  batch_size=5)
    assert len(df) == 4
    np.testing.assert_allclose(df["drop_outskirts"], 0, atol=1e-6)  # the model never looks there
    assert (df["drop_centre"] > 0.1).all()
    with pytest.raises(AgnbenchError, match="radius_pix"):
        occlude_centre_outskirts(CentreNet(16), x, np.zeros(4, dtype=np.int64), radius_pix=np.ones(3))


# ---------------------------------------------------------------- batch-norm folding


class BnBeforeConv(nn.Module):
    """A conv registered before a batch norm that is applied first: folding would be wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm1d(2)
        with torch.no_grad():
            self.bn.running_mean.fill_(0.7)
            self.bn.weight.fill_(3.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.bn(x)).mean(dim=2)


def test_fold_batchnorm_is_the_same_function(tiny1d, tiny2d):
    for model, x in ((tiny1d, torch.as_tensor(_spectra(3, 64))), (tiny2d, torch.as_tensor(_galaxies(3, 16, 0)))):
        folded = fold_batchnorm(model)
        assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in folded.modules())
        assert any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.modules())
        with torch.no_grad():
            torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)
    x = torch.as_tensor(_spectra(3, 64))
    fast = integrated_gradients(tiny1d, x, torch.zeros_like(x), torch.tensor([0, 1, 1]), steps=16, check=False)
    slow = integrated_gradients(tiny1d, x, torch.zeros_like(x), torch.tensor([0, 1, 1]), steps=16, check=False,
                                fold_bn=False)
    np.testing.assert_allclose(fast.attr, slow.attr, rtol=1e-3, atol=1e-5)


def test_fold_falls_back_when_it_would_change_the_model(caplog):
    model = BnBeforeConv().eval()
    x = torch.as_tensor(_spectra(2, 32))
    with torch.no_grad():
        assert not torch.allclose(fold_batchnorm(model)(x), model(x), atol=1e-3)
    res = integrated_gradients(model, x, torch.zeros_like(x), torch.tensor([0, 1]), steps=8)
    ref = integrated_gradients(model, x, torch.zeros_like(x), torch.tensor([0, 1]), steps=8, fold_bn=False)
    np.testing.assert_array_equal(res.attr, ref.attr)
    assert "folding batch norms changed the logits" in caplog.text
