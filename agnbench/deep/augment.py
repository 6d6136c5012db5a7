"""Batch augmentations for the deep tracks, vectorised over the batch, with explicit generators.

Every function takes a ``torch.Generator`` and never touches global RNG, so a batch's
augmentation depends only on the seed the trainer derives for it (run seed, epoch, batch
index), whatever process or worker computes it.

Images (``(batch, bands, H, W)``): the 8 transforms of the dihedral group (rotations by 90
degrees and flips, under which galaxy morphology is invariant), sub-pixel shifts, Gaussian noise.
Spectra (``(batch, channels, L)``, channel 0 = flux, optional channel 1 = weight sqrt(ivar)):
noise drawn from each pixel's ivar, a small redshift jitter (a shift along the log-wavelength
grid) and blanking of short windows (flux interpolated across, weight 0 -- the store's masking
convention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

N_DIHEDRAL = 8


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Apply dihedral transform ``k`` (0..7): rotate by ``k % 4`` quarter turns, then transpose-flip if ``k >= 4``."""
    if not 0 <= k < N_DIHEDRAL:
        raise ValueError(f"dihedral transform index must be 0..7, got {k}")
    out = torch.rot90(x, k % 4, dims=(-2, -1))
    return out.flip(-1) if k >= 4 else out


def random_dihedral(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random dihedral transform per image of ``x`` (batch, bands, H, W), H == W."""
    ks = torch.randint(0, N_DIHEDRAL, (x.shape[0],), generator=generator)
    out = torch.empty_like(x)
    for k in range(N_DIHEDRAL):
        sel = ks == k
        if sel.any():
            out[sel] = dihedral(x[sel], k)
    return out


def subpixel_shift(x: torch.Tensor, max_shift: float, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by a uniform random (dx, dy) in [-max_shift, max_shift] pixels (bilinear, edge-padded)."""
    if max_shift <= 0:
        return x
    return translate(x, (torch.rand((x.shape[0], 2), generator=generator) * 2 - 1) * max_shift)


def translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Move image ``b`` of ``x`` (batch, bands, H, W) by ``shift[b] = (dx, dy)`` pixels (bilinear, edge-padded).

    Positive ``dx`` moves the content towards larger column index: ``out[..., j] = x[..., j - dx]``.
    """
    b, _, h, w = x.shape
    theta = torch.zeros((b, 2, 3), dtype=torch.float32)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * shift[:, 0] / w  # normalised coordinates span 2 over the width
    theta[:, 1, 2] = -2 * shift[:, 1] / h
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """``x`` plus N(0, sigma^2) noise."""
    if sigma <= 0:
        return x
    return x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def augment_images(x: torch.Tensor, *, generator: torch.Generator, shift: float, noise: float) -> torch.Tensor:
    """Dihedral transform, sub-pixel shift and noise, in that order; ``x`` (batch, bands, H, W) float32."""
    return gaussian_noise(subpixel_shift(random_dihedral(x, generator), shift, generator), noise, generator)


def ivar_noise(flux: torch.Tensor, ivar: torch.Tensor, scale: float, generator: torch.Generator) -> torch.Tensor:
    """``flux`` plus noise of ``scale`` times each pixel's sigma = 1/sqrt(ivar) (none where ivar == 0)."""
    if scale <= 0:
        return flux
    sigma = torch.where(ivar > 0, torch.rsqrt(ivar.clamp_min(1e-30)), torch.zeros_like(ivar))
    return flux + scale * sigma * torch.randn(flux.shape, generator=generator, dtype=flux.dtype)


def shift_spectra(x: torch.Tensor, max_shift: float, generator: torch.Generator) -> torch.Tensor:
    """Shift each spectrum (all channels) by a uniform random amount in [-max_shift, max_shift] grid pixels.

    Linear interpolation; the edges are extended. On a log-uniform grid with step ``dloglam``
    a shift of ``s`` pixels is a redshift error ``dz / (1 + z) = 10**(s * dloglam) - 1``.
    """
    if max_shift <= 0:
        return x
    b, _, length = x.shape
    shift = (torch.rand((b, 1), generator=generator) * 2 - 1) * max_shift
    pos = (torch.arange(length, dtype=torch.float32)[None, :] - shift).clamp(0, length - 1)
    lo = pos.floor().long().clamp(max=length - 2)
    frac = (pos - lo).to(x.dtype)[:, None, :]
    idx = lo[:, None, :].expand(-1, x.shape[1], -1)
    left, right = torch.gather(x, 2, idx), torch.gather(x, 2, idx + 1)
    return left + frac * (right - left)


def mask_windows(flux: torch.Tensor, weight: torch.Tensor | None, *, n_windows: int, width: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Blank ``n_windows`` random windows of ``width`` pixels per spectrum.

    Inside a window the flux is interpolated linearly between the pixels just outside it and the
    weight is set to 0 (how the store masks lines), so a window carries no information and no
    artificial edge. ``flux`` (batch, L); ``weight`` (batch, L) or None.
    """
    b, length = flux.shape
    if n_windows <= 0 or width >= length - 2:
        return flux, weight
    idx = torch.arange(length)[None, :]
    for _ in range(n_windows):
        start = torch.randint(1, length - width - 1, (b, 1), generator=generator)
        inside = (idx >= start) & (idx < start + width)
        left = torch.gather(flux, 1, start - 1)
        right = torch.gather(flux, 1, start + width)
        t = ((idx - start + 1).to(flux.dtype) / (width + 1)).clamp(0, 1)
        flux = torch.where(inside, left + (right - left) * t, flux)
        if weight is not None:
            weight = torch.where(inside, torch.zeros_like(weight), weight)
    return flux, weight
