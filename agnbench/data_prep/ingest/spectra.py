"""Spectra into the dataset store's common rest-frame grid (Contract 1: ``spectra/flux.npy``, ``ivar.npy``).

Per spectrum: read any supported layout (:mod:`~agnbench.data_prep.formats.spectrum1d`) -> mask bad
pixels (ivar <= 0, non-finite, ``and_mask`` bits other than the ignored ones, BRIGHTSKY by default)
-> shift to the rest frame with the catalog redshift (or keep the observed frame) -> resample
flux-conservingly onto the log-uniform grid -> check the coverage -> divide by the median flux in a
line-free window (falling back to the robust scale median|flux| when that median is near zero or
negative), or by median|flux| in the observed frame -> optionally blank the BPT lines -> fill
masked pixels by interpolation. Flux values keep their observed-frame f_lambda units before
normalisation (only the wavelengths are relabelled), so ``norm`` is in 1e-17 erg/s/cm^2/A as observed.

A bad input becomes a quarantine row with a reason naming the value; it never raises out of
:func:`ingest_spectra` and never affects other items: every item is processed on its own. Besides
unreadable files, missing coverage and normalisers, two checks protect the store:

- identity: an item that carries the catalog row's (plate, mjd, fiber) is checked against what the
  SDSS/BOSS file itself says (primary header PLATEID/MJD/FIBERID, SPECOBJ/SPALL PLATE/MJD/FIBERID,
  :func:`~agnbench.data_prep.formats.sdss_files.identity_mismatches`); another object's spectrum
  under the right name is quarantined naming both. A file that states no identity is accepted.
- range: a spectrum whose normalised flux or ivar on the grid exceeds
  :data:`~agnbench.contracts.store.MAX_ABS_VALUE` (~1.8e19, e.g. a 3e38 fill value in the file) is
  quarantined naming the largest value in the file. It is not masked like a NaN pixel: such a value
  means a corrupt or fill-valued file, which quarantine.csv then shows, instead of a spectrum
  silently repaired.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agnbench.config.prep import ReaderConfig
from agnbench.contracts.store import MAX_ABS_VALUE
from agnbench.data_prep.formats.fastfits import FitsFile
from agnbench.data_prep.formats.sdss_files import Spectrum, SurveyFileError, identity_mismatches
from agnbench.data_prep.formats.spectrum1d import read_coadd, read_spectrum_1d
from agnbench.data_prep.lines import LINE_HALF_WIDTH, line_centres

log = logging.getLogger(__name__)

EDGE_PIXELS = 3  # pixels each side of a blanked window whose median anchors the straight line


def rest_grid(*, wave_min: float, wave_max: float, dloglam: float = 1e-4) -> np.ndarray:
    """The common rest-frame grid.

    Returns
    -------
    numpy.ndarray of float64, shape (n_pix,)
        log10 rest wavelength (A) of the pixel centres: ``log10(wave_min) + dloglam * k`` for every
        ``k`` with a centre <= ``log10(wave_max)``.
    """
    if not (0 < wave_min < wave_max and dloglam > 0):
        raise ValueError(f"need 0 < wave_min < wave_max and dloglam > 0, got {wave_min}, {wave_max}, {dloglam}")
    start = math.log10(wave_min)
    n_pix = int(math.floor((math.log10(wave_max) - start) / dloglam + 1e-6)) + 1
    return start + dloglam * np.arange(n_pix)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Pixel edges (n + 1,) at the midpoints of the centres (n,), the outer ones mirrored."""
    mid = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate(([2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]))


def read_spectrum_fast(path: str | Path) -> Spectrum:
    """Read an SDSS spec-lite / spec file (SPECOBJ or SPALL layout) with :mod:`fastfits`.

    Same fields and values as :func:`agnbench.data_prep.formats.sdss_files.read_spectrum`, many times faster.

    Raises
    ------
    SurveyFileError
        Unreadable, truncated or not FITS; no COADD HDU or COADD columns; no SPECOBJ/SPALL HDU.
    """
    path = Path(path)
    spec = read_spectrum_1d(path, ReaderConfig(layout="sdss"))
    meta = spec.meta
    missing = [col for key, col in (("plate", "PLATE"), ("mjd", "MJD"), ("fiber", "FIBERID")) if key not in meta]
    if missing:
        raise SurveyFileError(f"{path}: {meta['sdss_hdu']} HDU lacks column(s) {missing}")
    with FitsFile(path) as f:
        and_mask = read_coadd(f)["and_mask"].astype(np.int64)
    return Spectrum(loglam=spec.loglam, flux=spec.flux, ivar=spec.ivar, and_mask=and_mask, z=float(meta["z"]),
                    plate=int(meta["plate"]), mjd=int(meta["mjd"]), fiber=int(meta["fiber"]),
                    specobjid=str(meta.get("specobjid", "")), spec_class=str(meta.get("spec_class", "")),
                    subclass=str(meta.get("subclass", "")), layout="sdss" if meta["sdss_hdu"] == "SPECOBJ" else "boss")


@dataclass(frozen=True)
class SpectraShard:
    """Spectra of one shard of items on the common grid.

    Attributes
    ----------
    flux : numpy.ndarray of float32, shape (n, n_pix)
        Normalised flux (dimensionless, ~1 in the normalisation window); masked pixels hold a
        linear interpolation of their unmasked neighbours; 0 for items not ok.
    ivar : numpy.ndarray of float32, shape (n, n_pix)
        Inverse variance of ``flux`` (``ivar_in * norm**2``); 0 = masked, uncovered, blanked line, or
        item not ok.
    ok : numpy.ndarray of bool, shape (n,)
    norm : numpy.ndarray of float64, shape (n,)
        The normalisation divided out (1e-17 erg/s/cm^2/A, observed f_lambda); nan if not ok.
    sn_median : numpy.ndarray of float64, shape (n,)
        Median of ``flux * sqrt(ivar)`` over the unmasked grid pixels; nan if not ok.
    norm_fallback : numpy.ndarray of bool, shape (n,)
        True where the window median was near zero and the robust scale was divided out instead.
    quarantine : list of dict
        One ``{"object_id", "file", "stage": "spectra", "reason"}`` per item not ok.
    """

    flux: np.ndarray
    ivar: np.ndarray
    ok: np.ndarray
    norm: np.ndarray
    sn_median: np.ndarray
    norm_fallback: np.ndarray
    quarantine: list[dict]


class _Reject(Exception):
    """An item that goes to quarantine; the message is the reason."""


def resample(in_loglam: np.ndarray, flux: np.ndarray, ivar: np.ndarray, out_loglam: np.ndarray,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flux-conserving resampling of a piecewise-constant f_lambda onto another log grid.

    Pixel edges lie at the midpoints of the centres. Each output pixel is the overlap-weighted
    (in A) average of the unmasked inputs, ``var_out = sum(w_i**2 var_i) / (sum w_i)**2``; an output
    pixel more than half of whose width is masked or outside the input gets ivar 0.

    Parameters
    ----------
    in_loglam : numpy.ndarray, shape (n_in,)
        log10 wavelength (A) of the input pixel centres, strictly increasing.
    flux, ivar : numpy.ndarray, shape (n_in,)
        Input flux and inverse variance; ivar 0 = masked (no weight). ``flux`` must be finite where
        ``ivar > 0``.
    out_loglam : numpy.ndarray, shape (n_out,)
        log10 wavelength (A) of the output pixel centres, strictly increasing.

    Returns
    -------
    flux, ivar : numpy.ndarray of float64, shape (n_out,)
        Resampled flux (0 where no unmasked input overlaps) and inverse variance.
    good_width, covered_width : numpy.ndarray of float64, shape (n_out,)
        Per output pixel, its width (A) overlapped by unmasked input and by any input.
    """
    in_edges, out_edges = 10.0 ** _edges(in_loglam), 10.0 ** _edges(out_loglam)
    both = np.concatenate((in_edges, out_edges))
    order = np.argsort(both, kind="stable")
    breaks = both[order]
    # segment k = [breaks[k], breaks[k+1]] lies in input pixel (number of input edges <= breaks[k]) - 1
    is_in = order < in_edges.size
    i_in = np.cumsum(is_in)[:-1] - 1
    i_out = np.cumsum(~is_in)[:-1] - 1
    keep = (i_in >= 0) & (i_in < in_loglam.size) & (i_out >= 0) & (i_out < out_loglam.size)
    i_in, i_out, width = i_in[keep], i_out[keep], np.diff(breaks)[keep]
    n_out = out_loglam.size
    good = ivar[i_in] > 0
    w = np.where(good, width, 0.0)
    var = np.where(good, 1.0 / np.where(good, ivar[i_in], 1.0), 0.0)
    covered = np.bincount(i_out, weights=width, minlength=n_out)
    good_width = np.bincount(i_out, weights=w, minlength=n_out)
    total = np.bincount(i_out, weights=w * np.where(good, flux[i_in], 0.0), minlength=n_out)
    var_sum = np.bincount(i_out, weights=w * w * var, minlength=n_out)
    has = good_width > 0
    safe = np.where(has, good_width, 1.0)
    out_flux = np.where(has, total / safe, 0.0)
    ok = good_width >= 0.5 * np.diff(out_edges)
    out_ivar = np.where(ok & (var_sum > 0), safe**2 / np.where(var_sum > 0, var_sum, 1.0), 0.0)
    return out_flux, out_ivar, good_width, covered


def _line_windows(loglam: np.ndarray, line_set: str = "all") -> list[np.ndarray]:
    """Pixel index ranges (merged where they overlap) within LINE_HALF_WIDTH of a masked line."""
    wave = 10.0**loglam
    inside = np.zeros(wave.size, dtype=bool)
    for centre in line_centres(line_set):
        inside |= np.abs(wave - centre) <= LINE_HALF_WIDTH
    idx = np.flatnonzero(inside)
    return np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if idx.size else []


def _blank_lines(flux: np.ndarray, loglam: np.ndarray, windows: list[np.ndarray]) -> None:
    """Replace flux in each window by the straight line between the edges' median flux (in place)."""
    wave = 10.0**loglam
    for win in windows:
        left = np.arange(max(0, win[0] - EDGE_PIXELS), win[0])
        right = np.arange(win[-1] + 1, min(flux.size, win[-1] + 1 + EDGE_PIXELS))
        anchors = [(wave[s].mean(), np.median(flux[s])) for s in (left, right) if s.size]
        if not anchors:
            continue
        xs, ys = zip(*anchors)
        flux[win] = np.interp(wave[win], xs, ys) if len(xs) == 2 else ys[0]


def _redshift(z: object, frame: str) -> float:
    """The shift applied to the wavelengths: the catalog redshift (rest frame) or 0 (observed frame)."""
    if frame == "observed":
        return 0.0
    try:
        zf = float(z)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _Reject(f"missing redshift (z={z!r}); a rest-frame grid needs the redshift") from None
    if not (math.isfinite(zf) and zf > -1):
        raise _Reject(f"invalid redshift z={zf!r}: must be finite and > -1")
    return zf


def _normalise(out_flux: np.ndarray, usable: np.ndarray, norm_mask: np.ndarray | None, *,
               norm_window: tuple[float, float], norm_floor: float, fallback: str, zf: float) -> tuple[float, bool]:
    """(normaliser, fell_back): the window median, or the robust scale median|flux| when it is near zero.

    The robust scale is the median of |flux| over the usable grid pixels; a window median that is not
    finite, <= 0 or below ``norm_floor`` times that scale would blow the normalised spectrum up (one such
    object can wreck a network's training), so it falls back to the scale or, with ``fallback =
    "quarantine"``, rejects the spectrum.
    """
    scale = float(np.median(np.abs(out_flux[usable]))) if usable.any() else float("nan")
    if not (math.isfinite(scale) and scale > 0):
        raise _Reject(f"no flux: the median |flux| over {int(usable.sum())} usable grid pixels is {scale:.4g}")
    if norm_mask is None:
        return scale, False
    in_window = norm_mask & usable
    where = f"the normalisation window {norm_window[0]:g}-{norm_window[1]:g} A"
    norm = float(np.median(out_flux[in_window])) if in_window.any() else float("nan")
    if math.isfinite(norm) and norm > norm_floor * scale:
        return norm, False
    detail = (f"no unmasked pixels in {where} (z={zf:.4f})" if not in_window.any() else
              f"median flux in {where} is {norm:.4g}, below norm_floor {norm_floor:g} x median|flux| {scale:.4g}")
    if fallback == "quarantine":
        raise _Reject(f"near-zero or negative normaliser: {detail} (prep.norm_fallback = quarantine)")
    return scale, True


def _check_identity(path: str, meta: dict, expected: tuple[int, int, int] | None) -> None:
    """Raise :class:`_Reject` if an SDSS/BOSS file states another plate/mjd/fiber than ``expected``."""
    if expected is None:
        return
    plate, mjd, fiber = (int(v) for v in expected)
    if meta.get("layout") != "sdss":
        log.debug("%s: %s layout states no SDSS identity; not checked against plate/mjd/fiber %s",
                  path, meta.get("layout"), expected)
        return
    table = {"PLATE": meta.get("plate"), "MJD": meta.get("mjd"), "FIBERID": meta.get("fiber")}
    wrong = identity_mismatches(meta.get("header_ids", {}), plate=plate, mjd=mjd, fiber=fiber,
                                where="primary header") + \
        identity_mismatches(table, plate=plate, mjd=mjd, fiber=fiber, where=f"{meta.get('sdss_hdu')} HDU", table=True)
    if wrong:
        raise _Reject(f"the file holds another object's spectrum: {'; '.join(wrong)} (the catalog row's "
                      f"plate/mjd/fiber {plate}/{mjd}/{fiber})")
    if not meta.get("header_ids") and all(v is None for v in table.values()):
        log.debug("%s states no plate/mjd/fiber; accepted by its name", path)


def _check_range(path: str, spectrum: Any, flux: np.ndarray, ivar: np.ndarray, norm: float) -> None:
    """Raise :class:`_Reject` if the normalised ``flux``/``ivar`` hold a value beyond MAX_ABS_VALUE."""
    over = {name: int(np.sum(~(np.abs(arr) <= MAX_ABS_VALUE))) for name, arr in (("flux", flux), ("ivar", ivar))}
    if not any(over.values()):
        return
    good = spectrum.good
    parts = []
    for name, raw in (("flux", spectrum.flux), ("ivar", spectrum.ivar)):
        if over[name]:
            k = int(np.argmax(np.where(good, np.abs(raw), -np.inf)))
            parts.append(f"{over[name]} grid pixel(s) of the normalised {name} beyond {MAX_ABS_VALUE:.3g} (largest "
                         f"|{name}| in the file {abs(float(raw[k])):.4g} at {10 ** spectrum.loglam[k]:.1f} A)")
    raise _Reject(f"values too large for the store: {'; '.join(parts)}, normaliser {norm:.4g}: a corrupt or "
                  "fill value in the file")


def _process(path: str, z: object, *, loglam: np.ndarray, norm_mask: np.ndarray | None,
             norm_window: tuple[float, float], windows: list[np.ndarray] | None, max_uncovered: float,
             frame: str, norm_floor: float, norm_fallback: str, reader: ReaderConfig,
             expected: tuple[int, int, int] | None = None,
             ) -> tuple[np.ndarray, np.ndarray, float, float, bool]:
    """One item: (flux, ivar, norm, sn_median, norm_fell_back) on the grid, or raise :class:`_Reject`."""
    zf = _redshift(z, frame)
    try:
        spectrum = read_spectrum_1d(path, reader)
    except SurveyFileError as exc:
        raise _Reject(f"unreadable spectrum: {exc}") from None
    _check_identity(path, spectrum.meta, expected)
    obs, flux, ivar, good = spectrum.loglam, spectrum.flux, spectrum.ivar, spectrum.good
    if not good.any():
        finite = np.isfinite(flux) & np.isfinite(ivar)
        raise _Reject(f"no usable pixels: all {flux.size} are masked (ivar <= 0: {int(np.sum(ivar <= 0))}, "
                      f"NaN/inf flux or ivar: {int(np.sum(~finite))}, rejecting mask bits: "
                      f"{int(np.sum(finite & (ivar > 0) & ~good))})")
    rest = obs - math.log10(1.0 + zf)
    out_flux, out_ivar, good_width, covered = resample(rest, np.where(good, flux, 0.0), np.where(good, ivar, 0.0),
                                                       loglam)
    width = np.diff(10.0 ** _edges(loglam))
    uncovered = covered < 0.5 * width
    bad = out_ivar <= 0
    if bad.mean() > max_uncovered:
        grid, seen = 10.0 ** loglam[[0, -1]], 10.0 ** obs[[0, -1]]
        span = f"rest {seen[0] / (1 + zf):.0f}-{seen[1] / (1 + zf):.0f} A" if frame == "rest" else \
            f"observed {seen[0]:.0f}-{seen[1]:.0f} A"
        what = span if uncovered.mean() > max_uncovered else f"after masking, the spectrum ({span})"
        raise _Reject(f"wavelength coverage: {what} does not cover the {frame}-frame grid {grid[0]:.0f}-{grid[1]:.0f} A: "
                      f"{bad.mean():.1%} of its pixels uncovered or masked (uncovered {uncovered.mean():.1%}, "
                      f"masked {np.mean(bad & ~uncovered):.1%}) > max_uncovered {max_uncovered:.1%} "
                      + (f"(z={zf:.4f}, observed {seen[0]:.0f}-{seen[1]:.0f} A)" if frame == "rest" else ""))
    norm, fell_back = _normalise(out_flux, ~bad, norm_mask, norm_window=norm_window, norm_floor=norm_floor,
                                 fallback=norm_fallback, zf=zf)
    out_flux /= norm
    out_ivar *= norm * norm
    if windows:
        for win in windows:
            out_ivar[win] = 0.0
    usable = out_ivar > 0
    if not usable.all():
        pix = np.arange(out_flux.size)
        out_flux[~usable] = np.interp(pix[~usable], pix[usable], out_flux[usable])
    if windows:
        _blank_lines(out_flux, loglam, windows)
    _check_range(path, spectrum, out_flux, out_ivar, norm)
    sn = float(np.median(out_flux[usable] * np.sqrt(out_ivar[usable])))
    return out_flux, out_ivar, norm, sn, fell_back


def ingest_spectra(items: Sequence[tuple], *, loglam: np.ndarray,
                   norm_window: tuple[float, float] | None = (5300.0, 5700.0), mask_lines: bool = False,
                   line_set: str = "all", max_uncovered: float = 0.05, frame: str = "rest",
                   norm_floor: float = 0.1, norm_fallback: str = "median_abs",
                   reader: ReaderConfig | None = None) -> SpectraShard:
    """Read, shift to the grid's frame, resample and normalise the spectra of one shard.

    Parameters
    ----------
    items : sequence of (object_id, path, z) or (object_id, path, z, (plate, mjd, fiber))
        ``z`` is the catalog redshift (rest frame: a missing, NaN or <= -1 value quarantines the
        item; observed frame: not used). ``(plate, mjd, fiber)``, the catalog row's identity, is
        checked against what an SDSS/BOSS file says (module docstring).
    loglam : numpy.ndarray, shape (n_pix,)
        log10 wavelength (A) of the grid (:func:`rest_grid`), rest or observed frame (``frame``).
    norm_window : (float, float) or None
        Wavelength range (A, the grid's frame) whose median unmasked flux is divided out; None
        divides by the median |flux| over the grid (observed-frame stores).
    frame : {"rest", "observed"}
    norm_floor : float
        A window median below ``norm_floor`` times the spectrum's median |flux| over the grid counts
        as near zero: see :func:`_normalise`.
    norm_fallback : {"median_abs", "quarantine"}
    reader : ReaderConfig, optional
        How to read the files (``prep.reader``): layout, rows/columns, medium, ignored mask bits.
    mask_lines : bool
        Blank emission lines within +-15 A (ivar 0, flux a straight line between the windows'
        edges). With ``line_set="all"`` (every line of :func:`~agnbench.data_prep.lines.line_centres`)
        this is the continuum-only ablation; ``"bpt"`` blanks only Hbeta, [OIII]4959,5007, [NII]6548,6584 and
        Halpha, leaving [OII], [OI], [SII], [NeIII]... (which still separate AGN from star formation).
    max_uncovered : float
        Largest fraction of grid pixels that may be uncovered or masked (before line blanking).

    Returns
    -------
    SpectraShard
        Row ``i`` belongs to ``items[i]``; results do not depend on the other items.

    Raises
    ------
    ValueError
        Only for bad arguments (grid not strictly increasing, no grid pixel in ``norm_window``,
        ``max_uncovered`` outside [0, 1)); bad items are quarantined instead.
    """
    loglam = np.asarray(loglam, dtype=np.float64)
    if loglam.ndim != 1 or loglam.size < 2 or not np.all(np.isfinite(loglam)) or np.any(np.diff(loglam) <= 0):
        raise ValueError("loglam must be a finite, strictly increasing 1-D grid of >= 2 pixels")
    wave = 10.0**loglam
    norm_mask = None
    if norm_window is not None:
        norm_mask = (wave >= norm_window[0]) & (wave <= norm_window[1])
        if not norm_mask.any():
            raise ValueError(f"norm_window {norm_window} holds no pixel of the grid {wave[0]:.0f}-{wave[-1]:.0f} A")
    if frame not in ("rest", "observed"):
        raise ValueError(f"frame must be 'rest' or 'observed', got {frame!r}")
    reader = reader or ReaderConfig()
    if not 0 <= max_uncovered < 1:
        raise ValueError(f"max_uncovered must be in [0, 1), got {max_uncovered}")
    windows = _line_windows(loglam, line_set) if mask_lines else None
    n = len(items)
    flux = np.zeros((n, loglam.size), dtype=np.float32)
    ivar = np.zeros((n, loglam.size), dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    norm, sn = np.full(n, np.nan), np.full(n, np.nan)
    fell_back = np.zeros(n, dtype=bool)
    quarantine: list[dict] = []
    for i, (object_id, path, z, *rest) in enumerate(items):
        try:
            f, iv, norm[i], sn[i], fell_back[i] = _process(
                str(path), z, loglam=loglam, norm_mask=norm_mask, norm_window=norm_window or (0.0, 0.0),
                windows=windows, max_uncovered=max_uncovered, frame=frame, norm_floor=norm_floor,
                norm_fallback=norm_fallback, reader=reader, expected=rest[0] if rest else None)
            flux[i], ivar[i], ok[i] = f, iv, True
        except _Reject as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad item must never kill the shard
            log.warning("unexpected error on %s (%s)", path, object_id, exc_info=True)
            reason = f"unexpected {type(exc).__name__} while processing: {exc}"
        else:
            continue
        log.debug("quarantine %s (%s): %s", object_id, path, reason)
        quarantine.append({"object_id": str(object_id), "file": str(path), "stage": "spectra", "reason": reason})
    if quarantine:
        log.info("spectra shard: %d of %d items quarantined", len(quarantine), n)
    return SpectraShard(flux=flux, ivar=ivar, ok=ok, norm=norm, sn_median=sn, norm_fallback=fell_back,
                        quarantine=quarantine)
