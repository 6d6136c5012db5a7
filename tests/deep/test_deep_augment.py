"""Deep-track augmentations: group structure, exact shifts, noise level from ivar, masking, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agnbench.deep import augment as A


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_dihedral_is_the_group_of_8() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    views = [A.dihedral(x, k) for k in range(8)]
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    for v in views:  # each is a symmetry of the square: same pixels, an involution or rotation of the grid
        assert sorted(v.flatten().tolist()) == list(range(16))
    assert torch.equal(A.dihedral(A.dihedral(x, 1), 3), x)  # quarter turn then three quarter turns
    assert torch.equal(A.dihedral(A.dihedral(x, 4), 4), x)  # a flip is its own inverse
    with pytest.raises(ValueError):
        A.dihedral(x, 8)


def test_random_dihedral_keeps_each_image_content() -> None:
    x = torch.randn(32, 3, 8, 8)
    y = A.random_dihedral(x, _gen())
    assert torch.allclose(torch.sort(y.flatten(1)).values, torch.sort(x.flatten(1)).values)
    assert not torch.equal(x, y)


def test_translate_integer_shift_is_a_roll_and_half_pixel_averages() -> None:
    x = torch.randn(2, 3, 16, 16)
    one = A.translate(x, torch.tensor([[1.0, 0.0], [0.0, -2.0]]))
    assert torch.allclose(one[0, :, :, 1:], x[0, :, :, :-1], atol=1e-5)
    assert torch.allclose(one[1, :, :-2, :], x[1, :, 2:, :], atol=1e-5)
    half = A.translate(x[:1], torch.tensor([[0.5, 0.0]]))
    assert torch.allclose(half[0, :, :, 1:], 0.5 * (x[0, :, :, 1:] + x[0, :, :, :-1]), atol=1e-5)
    drawn = A.subpixel_shift(x, 1.0, _gen())
    assert drawn.shape == x.shape and not torch.equal(drawn, x)


def test_shift_spectra_integer_and_fractional() -> None:
    flux = torch.linspace(0, 99, 100).repeat(3, 2, 1)  # a ramp: shifting by s subtracts s
    out = A.shift_spectra(flux, 5.0, _gen(2))
    d = flux[:, :, 10:90] - out[:, :, 10:90]
    assert torch.allclose(d, d[:, :, :1].expand_as(d), atol=1e-4)  # a uniform shift per spectrum
    assert (d[:, 0, 0].abs() <= 5.0 + 1e-5).all() and d[:, 0, 0].abs().max() > 0
    assert torch.equal(d[:, 0], d[:, 1])  # both channels move together


def test_ivar_noise_has_the_measured_sigma() -> None:
    n = 200_000
    ivar = torch.full((2, n // 2), 4.0)
    ivar[:, :100] = 0  # masked pixels stay untouched
    flux = torch.zeros_like(ivar)
    out = A.ivar_noise(flux, ivar, 0.5, _gen(3))
    assert torch.equal(out[:, :100], flux[:, :100])
    assert abs(float(out[:, 100:].std()) - 0.5 * 0.5) < 0.005  # scale * 1/sqrt(ivar)


def test_mask_windows_interpolates_and_zeroes_weight() -> None:
    flux = torch.randn(5, 300)
    weight = torch.ones(5, 300)
    f2, w2 = A.mask_windows(flux, weight, n_windows=1, width=20, generator=_gen(4))
    for b in range(5):
        inside = np.flatnonzero((w2[b] == 0).numpy())
        assert inside.size == 20 and np.all(np.diff(inside) == 1)
        s, e = inside[0], inside[-1]
        expect = np.interp(np.arange(s, e + 1), [s - 1, e + 1], [flux[b, s - 1].item(), flux[b, e + 1].item()])
        np.testing.assert_allclose(f2[b, s : e + 1].numpy(), expect, atol=1e-5)
        keep = np.setdiff1d(np.arange(300), inside)
        assert torch.equal(f2[b, keep], flux[b, keep])


def test_same_generator_seed_same_augmentation() -> None:
    x = torch.randn(8, 3, 16, 16)
    a = A.augment_images(x, generator=_gen(7), shift=0.5, noise=0.1)
    b = A.augment_images(x, generator=_gen(7), shift=0.5, noise=0.1)
    c = A.augment_images(x, generator=_gen(8), shift=0.5, noise=0.1)
    assert torch.equal(a, b) and not torch.equal(a, c)
