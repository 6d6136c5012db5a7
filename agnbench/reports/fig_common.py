"""Pieces shared by the interpretability and error-analysis figures: class colours, spectral line
markers, and the one display stretch of grz cutouts.

Line positions are not re-typed here: emission lines come from
:data:`agnbench.data_prep.lines.EMISSION_LINES` (the wavelengths the mock survey plants and
:mod:`agnbench.interpretability.ig_baselines` bridges), Ca H&K and the D4000 bands from
:data:`agnbench.data_prep.lines.SPECTRAL_FEATURES` (the windows the probes score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory

from agnbench.data_prep.lines import EMISSION_LINES, SPECTRAL_FEATURES
from agnbench.errors import AgnbenchError

#: Colour per class name (Okabe-Ito, colour-blind safe); unknown classes take the extras in order.
CLASS_COLORS = {"sf": "#0072B2", "agn": "#D55E00", "composite": "#009E73", "liner": "#CC79A7",
                "galaxy": "#0072B2", "qso": "#D55E00", "star": "#009E73"}
_EXTRA = ("#E69F00", "#56B4E9", "#CC79A7", "#009E73", "#000000")

#: Emission lines marked on spectra: (group label, EMISSION_LINES key); one label per group.
_EMISSION_MARKS = (("[OII]", "OII_3726"), ("Hβ", "H_BETA"), ("[OIII]", "OIII_4959"), ("[OIII]", "OIII_5007"),
                   ("[OI]", "OI_6300"), ("Hα+[NII]", "NII_6548"), ("Hα+[NII]", "H_ALPHA"),
                   ("Hα+[NII]", "NII_6584"), ("[SII]", "SII_6717"), ("[SII]", "SII_6731"))
#: Absorption features marked at the centre of their probe window: (group label, SPECTRAL_FEATURES key).
_ABSORPTION_MARKS = (("Ca H&K", "CaII K"), ("Ca H&K", "CaII H"))
#: Shaded bands: the D4000 (narrow definition) continuum windows.
_BANDS = ("D4000 blue", "D4000 red")


@dataclass(frozen=True)
class LineMarker:
    """One marked spectral feature.

    Attributes
    ----------
    name : str
        The feature (``EMISSION_LINES`` / ``SPECTRAL_FEATURES`` key).
    group : str
        Label shared by close lines (e.g. ``Hα+[NII]``), drawn once at the group's mean wavelength.
    wave : float
        Rest-frame vacuum wavelength (Å).
    kind : {"emission", "absorption"}
    """

    name: str
    group: str
    wave: float
    kind: str


def line_markers() -> list[LineMarker]:
    """The emission lines and absorption features marked on every spectral figure, by wavelength."""
    out = [LineMarker(key, group, float(EMISSION_LINES[key]), "emission") for group, key in _EMISSION_MARKS]
    out += [LineMarker(key, group, float(np.mean(SPECTRAL_FEATURES[key])), "absorption")
            for group, key in _ABSORPTION_MARKS]
    return sorted(out, key=lambda m: m.wave)


def d4000_bands() -> list[tuple[float, float]]:
    """The D4000 blue and red continuum windows (Å, rest frame)."""
    return [tuple(map(float, SPECTRAL_FEATURES[name])) for name in _BANDS]


def mark_lines(ax: Axes, *, labels: bool = True, bands: bool = True, fontsize: float = 5.5) -> list:
    """Mark :func:`line_markers` (and the D4000 bands) on a wavelength axis, inside its current x range.

    Emission lines are dotted grey, absorption features dash-dotted; D4000 windows are light grey
    bands. Labels sit along the top edge, one per group. Returns the drawn vertical lines.
    """
    lo, hi = sorted(ax.get_xlim())
    drawn = []
    if bands:
        for a, b in d4000_bands():
            if b > lo and a < hi:
                ax.axvspan(max(a, lo), min(b, hi), color="0.92", lw=0, zorder=0)
    groups: dict[str, list[float]] = {}
    for m in line_markers():
        if not lo <= m.wave <= hi:
            continue
        drawn.append(ax.axvline(m.wave, color="0.55", lw=0.5, ls=":" if m.kind == "emission" else "-.", zorder=0.5))
        groups.setdefault(m.group, []).append(m.wave)
    if labels:
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        for group, waves in groups.items():
            ax.text(float(np.mean(waves)), 0.98, group, transform=trans, rotation=90, ha="center", va="top",
                    fontsize=fontsize, color="0.3", bbox={"fc": "white", "ec": "none", "pad": 0.3, "alpha": 0.8})
        red = d4000_bands()[-1]
        if bands and lo < (red[0] + red[1]) / 2 < hi:  # one label, on the red window (Ca H&K sit in the blue one)
            ax.text((red[0] + red[1]) / 2, 0.98, "D4000", transform=trans, rotation=90, ha="center", va="top",
                    fontsize=fontsize, color="0.3")
    ax.set_xlim(lo, hi)
    return drawn


def class_colors(classes: Sequence[str]) -> dict[str, str]:
    """A colour per class name: :data:`CLASS_COLORS` where known, else an extra palette in order."""
    out, extra = {}, iter(_EXTRA * (1 + len(classes)))
    for c in classes:
        out[c] = CLASS_COLORS.get(str(c).lower()) or next(extra)
    return out


@dataclass(frozen=True)
class Stretch:
    """A linear display stretch ``(v - lo) / (hi - lo)`` clipped to [0, 1], the same for every band and panel.

    The store's cutouts are already asinh-stretched per band (``images/meta.json``), so a linear map
    of those values is an asinh stretch of the flux.
    """

    lo: float
    hi: float

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Map values to [0, 1] (monotone non-decreasing)."""
        scaled = np.clip((np.asarray(values, dtype=np.float64) - self.lo) / (self.hi - self.lo), 0.0, 1.0)
        return np.nan_to_num(scaled, nan=0.0)  # missing pixels are shown black

    def describe(self) -> str:
        """One sentence for a caption."""
        return (f"one linear stretch for all panels and bands on the store's asinh-scaled values, "
                f"black at {self.lo:.2f} and white at {self.hi:.2f}")


def gallery_stretch(cutouts: np.ndarray, *, lo_pct: float = 1.0, hi_pct: float = 99.5) -> Stretch:
    """The one stretch for a set of cutouts: percentiles of all their finite pixels in all bands.

    Parameters
    ----------
    cutouts : numpy.ndarray, shape (n, bands, H, W)
        The cutouts that will be shown (asinh-stretched store values).
    lo_pct, hi_pct : float
        Percentiles mapped to black and white.
    """
    v = np.asarray(cutouts, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise AgnbenchError("no finite pixel in the cutouts; cannot choose a display stretch")
    lo, hi = np.percentile(v, [lo_pct, hi_pct])
    return Stretch(float(lo), float(hi if hi > lo else lo + 1.0))


def grz_rgb(cutout: np.ndarray, stretch: Stretch) -> np.ndarray:
    """RGB image (H, W, 3) of one (3, H, W) grz cutout: red = z, green = r, blue = g, all with ``stretch``."""
    c = np.asarray(cutout)
    if c.ndim != 3 or c.shape[0] != 3:
        raise AgnbenchError(f"a grz cutout must have shape (3, H, W); got {c.shape}")
    return np.moveaxis(stretch(c[::-1]), 0, -1)
