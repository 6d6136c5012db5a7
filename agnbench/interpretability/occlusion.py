"""Occlusion probes: how much the target-class probability drops when part of the input is hidden.

* :func:`occlude_windows` (spectra) slides a window in wavelength over the flux channel and
  replaces it by a straight line between the window's edges (or by a given baseline): a
  drop at [NII]/Halpha or [OIII]/Hbeta means the class rests on those lines.
* :func:`occlude_rings` (cutouts) fills, one at a time, equal-area rings around the centre
  (:func:`equal_area_rings`: every ring holds the same number of pixels) with the local sky (each
  band's median over the outermost ring) or a blurred copy, so the drops of the nucleus and of the
  outskirts are comparable per pixel.
* :func:`occlude_centre_outskirts` (cutouts) fills the central disk (nucleus, bulge) or
  everything outside it (disk, companions). The two regions are not of equal area (a disk of two
  PSF FWHM is a few per cent of a cutout): their drops are not comparable with each other.

Model-agnostic (forward passes only, ``torch.inference_mode``), batched over objects x
occlusions: every chunk of ``batch_size`` occluded copies is one forward pass.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from agnbench.data_prep.ingest.spectra import EDGE_PIXELS
from agnbench.errors import AgnbenchError
from agnbench.interpretability.gradients import as_float_tensor, check_target, chunks, frozen_eval

log = logging.getLogger(__name__)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _p_target(model: nn.Module, x: torch.Tensor, target: torch.Tensor, scalars: torch.Tensor | None) -> torch.Tensor:
    logits = model(x) if scalars is None else model(x, scalars)
    return torch.softmax(logits.float(), dim=1).gather(1, target[:, None])[:, 0]


def target_probability(model: nn.Module, x: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *,
                       batch_size: int = 256, scalars: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
    """Softmax probability (n,) of each object's ``target`` class."""
    device = _device(model)
    xt = as_float_tensor(x, device)
    tt = check_target(target, xt.shape[0], device)
    st = None if scalars is None else as_float_tensor(scalars, device)
    out = np.empty(xt.shape[0], dtype=np.float32)
    with frozen_eval(model), torch.inference_mode():
        for sl in chunks(xt.shape[0], batch_size):
            out[sl] = _p_target(model, xt[sl], tt[sl], None if st is None else st[sl]).cpu().numpy()
    return out


def _edge_anchors(flux: np.ndarray, wave: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
    """Median flux (n, W) and mean wavelength (W,) of ``EDGE_PIXELS`` left and right of each window."""
    L = wave.size
    k = np.arange(EDGE_PIXELS)
    left, right = lo[:, None] - 1 - k, hi[:, None] + k  # (W, E)
    no_left, no_right = lo == 0, hi >= L
    left[no_left], right[no_right] = right[no_left], left[no_right]  # one-sided windows use the other side
    out = []
    for idx in (left, right):
        ok = (idx >= 0) & (idx < L)
        vals = np.where(ok, flux[:, np.clip(idx, 0, L - 1)], np.nan)  # (n, W, E)
        out += [np.nanmedian(vals, axis=-1), np.nanmean(np.where(ok, wave[np.clip(idx, 0, L - 1)], np.nan), axis=-1)]
    y0, w0, y1, w1 = out
    w1 = np.where(w1 == w0, w0 + 1.0, w1)
    return y0, w0, y1, w1


def occlude_windows(model: nn.Module, x: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray,
                    wave: np.ndarray, *, width_A: float = 30.0, stride_A: float = 15.0,
                    baseline: np.ndarray | None = None, batch_size: int = 256,
                    scalars: torch.Tensor | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Drop in target probability when each wavelength window of the flux channel is occluded.

    Parameters
    ----------
    model : nn.Module
        Spectra classifier returning logits (B, K).
    x : torch.Tensor or np.ndarray
        (n, C, L) spectra, channel 0 the normalised flux.
    target : torch.Tensor or np.ndarray
        (n,) int class index per object.
    wave : np.ndarray
        (L,) rest-frame wavelengths (A).
    width_A, stride_A : float
        Window width and spacing of the window centres (A).
    baseline : np.ndarray, optional
        (n, C, L) or (C, L): what replaces the window (its flux channel). Default: a straight line
        between the median flux of the 3 pixels each side of the window.
    batch_size : int
        Occluded copies per forward pass.
    scalars : torch.Tensor or np.ndarray, optional
        (n, S) extra scalar inputs.

    Returns
    -------
    drop : np.ndarray
        (n, n_windows) ``p_target(x) - p_target(occluded)``; positive where the window supported the class.
    centres_A : np.ndarray
        (n_windows,) window centres (A).
    """
    device = _device(model)
    xt = as_float_tensor(x, device)
    wave = np.asarray(wave, dtype=np.float64)
    if xt.ndim != 3 or xt.shape[-1] != wave.size:
        raise AgnbenchError(f"occlude_windows needs (n, C, L) spectra with L = len(wave) = {wave.size}; "
                            f"got {tuple(xt.shape)}")
    if not (width_A > 0 and stride_A > 0) or wave[-1] - wave[0] < width_A:
        raise AgnbenchError(f"window width {width_A} A / stride {stride_A} A do not fit the grid "
                            f"{wave[0]:.0f}-{wave[-1]:.0f} A")
    n, _, L = xt.shape
    tt = check_target(target, n, device)
    st = None if scalars is None else as_float_tensor(scalars, device)
    centres = np.arange(wave[0] + width_A / 2, wave[-1] - width_A / 2 + 1e-9, stride_A)
    lo = np.searchsorted(wave, centres - width_A / 2, side="left")
    hi = np.searchsorted(wave, centres + width_A / 2, side="right")
    n_win = centres.size
    pix = np.arange(L)
    mask = torch.as_tensor((pix >= lo[:, None]) & (pix < hi[:, None]), device=device)  # (W, L)
    if baseline is None:
        y0, w0, y1, w1 = (torch.as_tensor(a, dtype=torch.float32, device=device)
                          for a in _edge_anchors(xt[:, 0].cpu().numpy(), wave, lo, hi))
        slope = (y1 - y0) / (w1 - w0)  # (n, W) flux per A
        wave_t = torch.as_tensor(wave, dtype=torch.float32, device=device)
    else:
        bt = as_float_tensor(baseline, device)
        bt = bt[None] if bt.ndim == 2 else bt
        if bt.ndim != 3 or bt.shape[0] not in (1, n) or bt.shape[-1] != L:
            raise AgnbenchError(f"baseline must be (n, C, L) or (C, L) like the spectra {tuple(xt.shape)}; "
                                f"got {tuple(bt.shape)}")
        base_flux = bt[:, 0].expand(n, L)
    p_orig = target_probability(model, xt, tt, batch_size=batch_size, scalars=st)
    p_occ = np.empty(n * n_win, dtype=np.float32)
    with frozen_eval(model), torch.inference_mode():
        for sl in chunks(n * n_win, batch_size):
            k = torch.arange(sl.start, sl.stop, device=device)
            obj, win = k // n_win, k % n_win
            rows = xt[obj].clone()
            if baseline is None:
                repl = y0[obj, win, None] + slope[obj, win, None] * (wave_t[None] - w0[win, None])
            else:
                repl = base_flux[obj]
            rows[:, 0] = torch.where(mask[win], repl, rows[:, 0])
            p_occ[sl] = _p_target(model, rows, tt[obj], None if st is None else st[obj]).cpu().numpy()
    log.info("occluded %d windows of %.0f A in %d spectra (%d forward rows)", n_win, width_A, n, n * n_win)
    return p_orig[:, None] - p_occ.reshape(n, n_win), centres


def _cutouts(model: nn.Module, x: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray,
             what: str) -> tuple[torch.device, torch.Tensor, torch.Tensor]:
    """The model's device, the (n, bands, H, W) cutouts and the (n,) targets on it; ``what`` names the caller."""
    device = _device(model)
    xt = as_float_tensor(x, device)
    if xt.ndim != 4:
        raise AgnbenchError(f"{what} needs (n, bands, H, W) cutouts; got {tuple(xt.shape)}")
    return device, xt, check_target(target, xt.shape[0], device)


def equal_area_rings(h: int, w: int, n_rings: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Split an ``h`` x ``w`` cutout into ``n_rings`` rings around its centre holding equal numbers of pixels.

    Pixels are ordered by distance from the centre ``((h - 1) / 2, (w - 1) / 2)`` (ties by position
    angle) and cut into ``n_rings`` consecutive runs, so ring sizes differ by at most one pixel.

    Returns
    -------
    ring : numpy.ndarray of int, shape (h, w)
        Ring index of each pixel, 0 = innermost.
    rings : pandas.DataFrame
        One row per ring: ``ring`` (1 = innermost), ``n_pixels``, ``r_inner_pix``, ``r_outer_pix`` (smallest and
        largest pixel-centre distance in the ring).
    """
    if n_rings < 1 or n_rings > h * w:
        raise AgnbenchError(f"n_rings must be between 1 and the {h * w} pixels of a {h}x{w} cutout; got {n_rings}")
    yy, xx = np.mgrid[0:h, 0:w]
    dy, dx = yy - (h - 1) / 2, xx - (w - 1) / 2
    r = np.hypot(dy, dx).ravel()
    order = np.lexsort((np.arctan2(dy, dx).ravel(), np.round(r, 9)))
    ring = np.empty(h * w, dtype=np.int64)
    ring[order] = np.arange(h * w) * n_rings // (h * w)
    table = pd.DataFrame({"ring": np.arange(1, n_rings + 1), "n_pixels": np.bincount(ring, minlength=n_rings),
                          "r_inner_pix": [float(r[ring == j].min()) for j in range(n_rings)],
                          "r_outer_pix": [float(r[ring == j].max()) for j in range(n_rings)]})
    return ring.reshape(h, w), table


def fill_values(x: np.ndarray, fill: float | str, *, sky_mask: np.ndarray | None = None,
                blur_sigma_pix: float = 4.0) -> np.ndarray:
    """What occluded pixels are replaced by, per object, band and pixel.

    Parameters
    ----------
    x : numpy.ndarray, shape (n, bands, H, W)
        Cutouts.
    fill : float or {"sky", "blur"}
        A constant; ``"sky"``: each object's per-band median over ``sky_mask`` (the outermost ring: the
        local sky, companions and all); ``"blur"``: the cutout smoothed by a Gaussian of
        ``blur_sigma_pix`` (keeps the local flux level, removes small-scale structure).
    sky_mask : numpy.ndarray of bool, shape (H, W), optional
        The sky pixels (default: the outermost of 5 equal-area rings).

    Returns
    -------
    numpy.ndarray, shape (n, bands, H, W), float32
    """
    x = np.asarray(x, dtype=np.float32)
    if isinstance(fill, str):
        if fill == "sky":
            if sky_mask is None:
                ring, _ = equal_area_rings(x.shape[-2], x.shape[-1], 5)
                sky_mask = ring == 4
            sky = np.median(x[..., sky_mask], axis=-1)  # (n, bands)
            return np.broadcast_to(sky[..., None, None], x.shape).astype(np.float32)
        if fill == "blur":
            return gaussian_filter(x, sigma=(0, 0, blur_sigma_pix, blur_sigma_pix), mode="reflect")
        raise AgnbenchError(f"fill must be a number, 'sky' or 'blur'; got {fill!r}")
    return np.full(x.shape, float(fill), dtype=np.float32)


def occlude_rings(model: nn.Module, x: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *,
                  n_rings: int = 6, fill: float | str = "sky", blur_sigma_pix: float = 4.0,
                  batch_size: int = 128) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop in target probability when each of ``n_rings`` equal-area rings is filled, one at a time.

    Parameters
    ----------
    model : nn.Module
        Image classifier returning logits (B, K).
    x : torch.Tensor or np.ndarray
        (n, bands, H, W) cutouts; the galaxy is at the centre.
    target : torch.Tensor or np.ndarray
        (n,) int class index per object.
    n_rings : int
        Rings of equal pixel count (:func:`equal_area_rings`).
    fill : float or {"sky", "blur"}
        See :func:`fill_values`; ``"sky"`` is each band's median over the outermost ring.
    blur_sigma_pix : float
        Gaussian sigma of ``fill="blur"`` (pixels).
    batch_size : int
        Occluded copies per forward pass.

    Returns
    -------
    drops : pandas.DataFrame
        One row per object: ``target``, ``p_target`` and per ring ``j`` (1 = innermost) ``drop_ring<j>``
        = ``p_target`` minus the probability with ring ``j`` filled. The rings have equal areas, so the
        drops compare per pixel; divide by ``n_pixels`` for a drop per pixel.
    rings : pandas.DataFrame
        :func:`equal_area_rings` table (``ring``, ``n_pixels``, ``r_inner_pix``, ``r_outer_pix``).
    """
    device, xt, tt = _cutouts(model, x, target, "occlude_rings")
    n, _, h, w = xt.shape
    ring, rings = equal_area_rings(h, w, n_rings)
    fills = as_float_tensor(fill_values(xt.cpu().numpy(), fill, sky_mask=ring == n_rings - 1,
                                        blur_sigma_pix=blur_sigma_pix), device)
    masks = torch.as_tensor(ring[None] == np.arange(n_rings)[:, None, None], device=device)  # (R, H, W)
    p_orig = target_probability(model, xt, tt, batch_size=batch_size)
    p_occ = np.empty(n * n_rings, dtype=np.float32)
    with frozen_eval(model), torch.inference_mode():
        for sl in chunks(n * n_rings, batch_size):
            k = torch.arange(sl.start, sl.stop, device=device)
            obj, j = k // n_rings, k % n_rings
            rows = torch.where(masks[j][:, None], fills[obj], xt[obj])
            p_occ[sl] = _p_target(model, rows, tt[obj], None).cpu().numpy()
    drop = p_orig[:, None] - p_occ.reshape(n, n_rings)
    log.info("occluded %d equal-area rings of %d pixels in %d cutouts (fill %s)", n_rings,
             int(rings["n_pixels"].min()), n, fill)
    frame = pd.DataFrame({"target": tt.cpu().numpy(), "p_target": p_orig,
                          **{f"drop_ring{j + 1}": drop[:, j] for j in range(n_rings)}})
    return frame, rings


def occlude_centre_outskirts(model: nn.Module, x: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *,
                             radius_pix: float | np.ndarray, fill: float | str = 0.0,
                             batch_size: int = 128) -> pd.DataFrame:
    """Drop in target probability when the central disk, or everything outside it, is filled.

    Parameters
    ----------
    model : nn.Module
        Image classifier returning logits (B, K).
    x : torch.Tensor or np.ndarray
        (n, bands, H, W) cutouts; the galaxy is at the centre ``((H - 1) / 2, (W - 1) / 2)``.
    target : torch.Tensor or np.ndarray
        (n,) int class index per object.
    radius_pix : float or np.ndarray
        Disk radius (pixels), one for all or (n,) per object (e.g. twice the PSF FWHM or the
        half-light radius).
    fill : float or {"sky", "blur"}
        Value of the filled pixels (see :func:`fill_values`; 0 = the nominal sky of stretched,
        background-subtracted cutouts, ``"sky"`` each band's median over the outermost fifth of the pixels).
    batch_size : int
        Images per forward pass (original, centre-filled and outskirts-filled copies together).

    Returns
    -------
    pd.DataFrame
        One row per object: ``target``, ``radius_pix``, ``p_target``, ``p_centre_filled``,
        ``p_outskirts_filled``, ``drop_centre`` and ``drop_outskirts`` (``p_target`` minus the filled one).
    """
    device, xt, tt = _cutouts(model, x, target, "occlude_centre_outskirts")
    n, _, h, w = xt.shape
    radius = np.full(n, float(radius_pix)) if np.ndim(radius_pix) == 0 else np.asarray(radius_pix, dtype=np.float64)
    if radius.shape != (n,):
        raise AgnbenchError(f"radius_pix must be a number or one per object ({n},); got shape {radius.shape}")
    yy, xx = torch.meshgrid(torch.arange(h, device=device) - (h - 1) / 2, torch.arange(w, device=device) - (w - 1) / 2,
                            indexing="ij")
    r = torch.sqrt(yy**2 + xx**2)
    rad_t = torch.as_tensor(radius, dtype=torch.float32, device=device)
    probs = np.empty((3, n), dtype=np.float32)
    fills = as_float_tensor(fill_values(xt.cpu().numpy(), fill), device)
    with frozen_eval(model), torch.inference_mode():
        for sl in chunks(n, max(1, batch_size // 3)):
            xc = xt[sl]
            inside = (r[None] < rad_t[sl, None, None])[:, None]  # (m, 1, H, W)
            fill_t = fills[sl]
            stacked = torch.cat([xc, torch.where(inside, fill_t, xc), torch.where(inside, xc, fill_t)])
            p = _p_target(model, stacked, tt[sl].repeat(3), None)
            probs[:, sl] = p.reshape(3, -1).cpu().numpy()
    return pd.DataFrame({"target": tt.cpu().numpy(), "radius_pix": radius, "p_target": probs[0],
                         "p_centre_filled": probs[1], "p_outskirts_filled": probs[2],
                         "drop_centre": probs[0] - probs[1], "drop_outskirts": probs[0] - probs[2]})
