"""Baselines for integrated gradients: what the network should see "without the evidence".

Integrated gradients attributes ``f(x) - f(baseline)``, so the baseline decides the question
being answered:

* :func:`reference_rows` (spectra, the default) -- a class-balanced set of training spectra for
  expected gradients (:func:`~agnbench.interpretability.gradients.expected_gradients`, Erion et
  al. 2021): IG averaged over the references explains "why this object rather than a typical
  training galaxy" and singles out no wavelength, so where the attribution lands is the model's
  doing, not the baseline's.
* :func:`continuum_baseline` (spectra) -- the same spectrum with every emission line replaced by
  a straight line through its neighbouring continuum. IG then explains the difference between
  the galaxy and its own line-free version. Input and baseline differ only in the bridged line
  windows, so ALL attribution lies there by construction, whatever the model does (stellar
  continuum, 4000 A break and absorption features are shared by both ends of the path and get
  none): a fraction of attribution "in the lines" under this baseline says nothing about the
  model; compare it with the windows' share of the region the baseline leaves free
  (:func:`~agnbench.interpretability.probes.window_fraction`, ``enrichment_vs_free``). A
  smoothed-spectrum baseline (a median filter wide enough to erase the lines) would select the
  lines in the same way.
* :func:`class_mean_baseline` (spectra) -- the mean of one class (e.g. the star-forming training
  spectra). IG then explains "why this object rather than a typical SF galaxy": line ratios,
  but also continuum shape (stellar age, dust), which differ between AGN hosts and SF galaxies.
* :func:`zero_baseline` -- zero input. For cutouts zero is the sky (background-subtracted,
  stretched images have background ~0): IG explains the galaxy against empty sky. For
  spectra zero flux is far outside the training distribution and mostly attributes the
  continuum level; use it only as a contrast.
* :func:`blurred_baseline` (cutouts) -- the cutout smoothed with a Gaussian. IG then explains
  the small-scale structure (a point-like nucleus, bars, spiral arms, compact bulges) that
  the blur removes, while total flux and colour are kept at both ends of the path.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.ndimage import gaussian_filter

from agnbench.data_prep.ingest.spectra import EDGE_PIXELS
from agnbench.data_prep.lines import LINE_HALF_WIDTH, line_centres
from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)


def line_windows(wave: np.ndarray, *, line_set: str = "all",
                 half_width: float = LINE_HALF_WIDTH) -> list[tuple[int, int]]:
    """Pixel ranges within ``half_width`` of an emission line, merged where they overlap.

    Parameters
    ----------
    wave : np.ndarray
        (L,) increasing rest-frame wavelengths (A).
    line_set : {"all", "bpt"}
        Lines of :func:`~agnbench.data_prep.lines.line_centres`.
    half_width : float
        Half width of each window (A, rest frame).

    Returns
    -------
    list of (int, int)
        ``(lo, hi)`` half-open pixel ranges ``[lo, hi)``; lines off the grid give none.
    """
    wave = np.asarray(wave, dtype=np.float64)
    try:
        centres = line_centres(line_set)
    except ValueError as exc:
        raise AgnbenchError(str(exc)) from None
    inside = np.zeros(wave.size, dtype=bool)
    for centre in centres:
        inside |= np.abs(wave - centre) <= half_width
    edges = np.diff(np.concatenate([[0], inside.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def bridge(flux: np.ndarray, wave: np.ndarray, lo: int, hi: int, *, edge_pixels: int = EDGE_PIXELS) -> np.ndarray:
    """Straight line across pixels ``[lo, hi)`` between the median flux of ``edge_pixels`` each side.

    Parameters
    ----------
    flux : np.ndarray
        (..., L) fluxes.
    wave : np.ndarray
        (L,) wavelengths (A); the line is straight in wavelength, anchored at each side's mean wavelength.
    lo, hi : int
        Half-open pixel range to bridge.
    edge_pixels : int
        Pixels each side whose median anchors the line (one side only at a grid edge).

    Returns
    -------
    np.ndarray
        (..., hi - lo) bridged fluxes; the input unchanged where no side exists.
    """
    L = flux.shape[-1]
    sides = [s for s in (slice(max(0, lo - edge_pixels), lo), slice(hi, min(L, hi + edge_pixels))) if s.stop > s.start]
    if not sides:
        log.warning("window [%d, %d) covers the whole grid; nothing to bridge", lo, hi)
        return flux[..., lo:hi].copy()
    ys = [np.median(flux[..., s], axis=-1) for s in sides]
    if len(sides) == 1:
        return np.repeat(ys[0][..., None], hi - lo, axis=-1)
    w0, w1 = (wave[s].mean() for s in sides)
    frac = (wave[lo:hi] - w0) / (w1 - w0)
    return ys[0][..., None] + (ys[1] - ys[0])[..., None] * frac


def continuum_baseline(x: np.ndarray, wave: np.ndarray, *, line_set: str = "all",
                       half_width: float = LINE_HALF_WIDTH) -> np.ndarray:
    """The line-free version of each spectrum: emission-line windows bridged by straight lines.

    Parameters
    ----------
    x : np.ndarray
        (n, C, L) spectra; channel 0 is the normalised flux (bridged), further channels (the
        weight) are kept as they are.
    wave : np.ndarray
        (L,) rest-frame wavelengths (A).
    line_set : {"all", "bpt"}
    half_width : float
        Half width of each line window (A).

    Returns
    -------
    np.ndarray
        (n, C, L) float32 baseline.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != len(wave):
        raise AgnbenchError(f"spectra must be (n, C, L) with L = len(wave) = {len(wave)}; got {x.shape}")
    out = np.array(x, dtype=np.float32, copy=True)
    flux = out[:, 0]
    for lo, hi in line_windows(wave, line_set=line_set, half_width=half_width):
        flux[:, lo:hi] = bridge(flux, np.asarray(wave, dtype=np.float64), lo, hi)
    return out


def class_mean_baseline(x_class: np.ndarray, n: int) -> np.ndarray:
    """The mean input of one class (e.g. the SF training spectra), repeated ``n`` times.

    Parameters
    ----------
    x_class : np.ndarray
        (m, ...) inputs of the reference class.
    n : int
        Number of objects to explain.

    Returns
    -------
    np.ndarray
        (n, ...) float32.
    """
    x_class = np.asarray(x_class, dtype=np.float32)
    if x_class.shape[0] == 0:
        raise AgnbenchError("class_mean_baseline needs at least one reference object")
    mean = x_class.mean(axis=0, dtype=np.float64).astype(np.float32)
    return np.broadcast_to(mean, (n, *mean.shape)).copy()


def reference_rows(labels: np.ndarray, k: int, *, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` reference objects drawn without replacement, as evenly over the classes as they allow.

    Parameters
    ----------
    labels : numpy.ndarray, shape (m,)
        Class of each candidate (the training split's objects; negative = unlabelled, never drawn).
    k : int
        References wanted (capped at the labelled candidates).
    rng : numpy.random.Generator
        Seeded generator (the draw is reproducible).

    Returns
    -------
    numpy.ndarray of int, shape (min(k, m_labelled),)
        Sorted indices into ``labels``; classes take turns, a class that runs out leaves its turns to the others.
    """
    labels = np.asarray(labels)
    if k < 1:
        raise AgnbenchError(f"the number of references must be >= 1, got {k}")
    pools = [list(rng.permutation(np.flatnonzero(labels == c))) for c in np.unique(labels[labels >= 0])]
    if not pools:
        raise AgnbenchError("no labelled reference object to draw expected-gradients references from")
    chosen: list[int] = []
    while len(chosen) < k and any(pools):
        for pool in pools:
            if pool and len(chosen) < k:
                chosen.append(int(pool.pop()))
    return np.sort(np.asarray(chosen, dtype=np.int64))


def zero_baseline(x: np.ndarray) -> np.ndarray:
    """Zeros shaped like ``x`` (float32): empty sky for cutouts."""
    return np.zeros(np.shape(x), dtype=np.float32)


def blurred_baseline(images: np.ndarray, sigma_pix: float) -> np.ndarray:
    """Each band of each cutout smoothed by a Gaussian of ``sigma_pix`` pixels (reflecting edges).

    Parameters
    ----------
    images : np.ndarray
        (n, bands, H, W) cutouts.
    sigma_pix : float
        Gaussian sigma (pixels); a few times the PSF sigma removes nuclear point sources.

    Returns
    -------
    np.ndarray
        (n, bands, H, W) float32.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise AgnbenchError(f"blurred_baseline needs (n, bands, H, W) cutouts; got shape {images.shape}")
    if sigma_pix < 0:
        raise AgnbenchError(f"sigma_pix must be >= 0, got {sigma_pix}")
    return gaussian_filter(images, sigma=(0, 0, sigma_pix, sigma_pix), mode="reflect")
