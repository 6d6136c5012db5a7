"""Spectral lines and feature windows: the one table the mock survey, prep, probes and reports read.

Every wavelength is a rest-frame **vacuum** wavelength in Å (the SDSS convention; ``loglam`` of
SDSS spectra is vacuum). The catalog emission lines carry their MPA-JHU ``galSpecLine`` names
and the SDSS ``spZline`` ``LINENAME``; their wavelengths agree with the ``LINEWAVE`` column of
real SDSS spec files to 0.01 Å, except [NeIII] 3869 (planted 0.30 Å red of SDSS's 3869.86 Å).
The other emission lines and the stellar absorption features are given to 0.1 Å, enough for
the ±:data:`LINE_HALF_WIDTH` Å windows they define and the mock's Gaussian absorption profiles.

Contents
--------
- :data:`LINES`: the table, one :class:`Line` per line (name, wavelength, kind, and whether it is
  an MPA-JHU catalog line, a BPT line, or the weak member of a fixed-ratio doublet).
- Views of it: :data:`EMISSION_LINES` (catalog lines, the ones the mock plants and fits),
  :data:`EXTRA_LINES` (further emission lines blanked by ``line_set="all"``),
  :data:`ABSORPTION_WAVES`, :data:`SPZLINE_NAMES`, :data:`BPT_LINES`, :data:`BALMER_LINES`,
  :data:`DOUBLETS`, and :func:`line_centres` (the lines prep blanks for each ``line_set``).
- Windows: the spectral-index bands (:data:`D4000_N_BANDS`, :data:`D4000_BANDS`,
  :data:`HDELTA_A_BANDS`) and the diagnostic windows the interpretability probes score and the
  figures mark (:data:`SPECTRAL_FEATURES`, :data:`BPT_FEATURES`).
"""

from __future__ import annotations

from dataclasses import dataclass

from agnbench.config.choices import MASKED_LINE_SETS

EMISSION, ABSORPTION = "emission", "absorption"
#: The kinds of :class:`Line`.
LINE_KINDS = (EMISSION, ABSORPTION)
#: ``line_set`` values of :func:`line_centres` (prep's ``masked_lines``): every emission line, or the BPT lines.
LINE_SETS = MASKED_LINE_SETS
#: Half width (Å, rest frame) of the window around each line that prep blanks and IG baselines bridge.
LINE_HALF_WIDTH = 15.0


@dataclass(frozen=True)
class Line:
    """One spectral line.

    Attributes
    ----------
    name : str
        Unique name; for catalog lines the MPA-JHU ``galSpecLine`` column prefix (e.g. ``H_ALPHA``).
    wave : float
        Rest-frame vacuum wavelength (Å).
    kind : {"emission", "absorption"}
    catalog : bool
        An MPA-JHU ``galSpecLine`` line: planted and fitted by the mock survey, a catalog column.
    spzline : str or None
        The SDSS ``spZline`` ``LINENAME`` of a catalog line (the spec files' SPZLINE HDU).
    bpt : bool
        Defines the BPT label (one of the four diagram lines or the fixed-ratio partner of one);
        blanked by prep with ``masked_lines: bpt``.
    doublet : (str, float) or None
        For the weak member of a doublet with an atomic-physics flux ratio: the strong partner's
        name and ``flux(partner) / flux(this line)``.
    """

    name: str
    wave: float
    kind: str
    catalog: bool = False
    spzline: str | None = None
    bpt: bool = False
    doublet: tuple[str, float] | None = None


#: The line table, by kind and wavelength: the MPA-JHU catalog emission lines, further emission lines of
#: galaxy and AGN spectra ([NeIII]+Heps, [OIII]4363, HeII, [NI], HeI, [FeVII], [OI]6364, [ArIII]; [OI], [SII]
#: and HeII are AGN diagnostics themselves, Veilleux & Osterbrock 1987), and the stellar absorption features
#: of the mock's SEDs (Balmer series, Ca H&K, G band, Fe, Mg b, Na D, Ca triplet).
LINES: tuple[Line, ...] = (
    Line("OII_3726", 3727.09, EMISSION, catalog=True, spzline="[O_II] 3725"),
    Line("OII_3729", 3729.88, EMISSION, catalog=True, spzline="[O_II] 3727"),
    Line("NEIII_3869", 3870.16, EMISSION, catalog=True, spzline="[Ne_III] 3868"),
    Line("H_DELTA", 4102.89, EMISSION, catalog=True, spzline="H_delta"),
    Line("H_GAMMA", 4341.68, EMISSION, catalog=True, spzline="H_gamma"),
    Line("H_BETA", 4862.68, EMISSION, catalog=True, spzline="H_beta", bpt=True),
    Line("OIII_4959", 4960.30, EMISSION, catalog=True, spzline="[O_III] 4959", bpt=True, doublet=("OIII_5007", 2.98)),
    Line("OIII_5007", 5008.24, EMISSION, catalog=True, spzline="[O_III] 5007", bpt=True),
    Line("OI_6300", 6302.05, EMISSION, catalog=True, spzline="[O_I] 6300"),
    Line("NII_6548", 6549.86, EMISSION, catalog=True, spzline="[N_II] 6548", bpt=True, doublet=("NII_6584", 3.05)),
    Line("H_ALPHA", 6564.61, EMISSION, catalog=True, spzline="H_alpha", bpt=True),
    Line("NII_6584", 6585.27, EMISSION, catalog=True, spzline="[N_II] 6583", bpt=True),
    Line("SII_6717", 6718.29, EMISSION, catalog=True, spzline="[S_II] 6716"),
    Line("SII_6731", 6732.67, EMISSION, catalog=True, spzline="[S_II] 6730"),
    Line("NEIII_HEPS_3969", 3969.6, EMISSION),
    Line("OIII_4363", 4364.4, EMISSION),
    Line("HEII_4686", 4687.0, EMISSION),
    Line("NI_5200", 5201.7, EMISSION),
    Line("HEI_5876", 5877.3, EMISSION),
    Line("FEVII_6087", 6088.5, EMISSION),
    Line("OI_6364", 6365.5, EMISSION),
    Line("ARIII_7136", 7137.8, EMISSION),
    Line("H9", 3836.5, ABSORPTION),
    Line("H8", 3890.2, ABSORPTION),
    Line("CaK", 3934.8, ABSORPTION),
    Line("CaH+Heps", 3969.6, ABSORPTION),
    Line("Hdelta", 4102.9, ABSORPTION),
    Line("Gband", 4305.6, ABSORPTION),
    Line("Hgamma", 4341.7, ABSORPTION),
    Line("Fe4383", 4384.5, ABSORPTION),
    Line("Hbeta", 4862.7, ABSORPTION),
    Line("Mgb", 5176.7, ABSORPTION),
    Line("Fe5270", 5271.2, ABSORPTION),
    Line("Fe5335", 5336.1, ABSORPTION),
    Line("NaD", 5895.6, ABSORPTION),
    Line("Halpha", 6564.6, ABSORPTION),
    Line("CaT1", 8500.4, ABSORPTION),
    Line("CaT2", 8544.4, ABSORPTION),
    Line("CaT3", 8664.5, ABSORPTION),
)

#: Catalog emission lines: MPA-JHU galSpecLine name -> vacuum rest wavelength (Å), in wavelength order
#: (the order of the mock's line columns and SPZLINE rows).
EMISSION_LINES: dict[str, float] = {ln.name: ln.wave for ln in LINES if ln.kind == EMISSION and ln.catalog}
#: Further emission lines (name -> vacuum rest wavelength, Å) that ``line_set="all"`` also blanks.
EXTRA_LINES: dict[str, float] = {ln.name: ln.wave for ln in LINES if ln.kind == EMISSION and not ln.catalog}
#: Stellar absorption features: name -> vacuum rest wavelength (Å), in wavelength order.
ABSORPTION_WAVES: dict[str, float] = {ln.name: ln.wave for ln in LINES if ln.kind == ABSORPTION}
#: SDSS spZline names of the catalog lines (used in the spec files' SPZLINE HDU).
SPZLINE_NAMES: dict[str, str] = {ln.name: ln.spzline for ln in LINES if ln.spzline is not None}
#: The lines that define the BPT label (Hbeta, [OIII]4959,5007, [NII]6548, Halpha, [NII]6584), by wavelength.
BPT_LINES: tuple[str, ...] = tuple(ln.name for ln in LINES if ln.bpt)
#: Weak doublet member -> (strong partner, flux(partner) / flux(member)), the ratios the mock plants.
DOUBLETS: dict[str, tuple[str, float]] = {ln.name: ln.doublet for ln in LINES if ln.doublet is not None}
#: The Balmer lines among the catalog lines.
BALMER_LINES = frozenset({"H_DELTA", "H_GAMMA", "H_BETA", "H_ALPHA"})

#: Dn4000 (Balogh et al. 1999): <f_nu> in the red band over the blue band (rest vacuum Å).
D4000_N_BANDS: dict[str, tuple[float, float]] = {"blue": (3850.0, 3950.0), "red": (4000.0, 4100.0)}
#: Broad D4000 (Bruzual 1983) bands (rest vacuum Å).
D4000_BANDS: dict[str, tuple[float, float]] = {"blue": (3750.0, 3950.0), "red": (4050.0, 4250.0)}
#: Lick HdeltaA bands (Worthey & Ottaviani 1997) in air Å, and the air-to-vacuum factor applied to them.
HDELTA_A_BANDS_AIR: dict[str, tuple[float, float]] = {"index": (4083.500, 4122.250), "blue": (4041.600, 4079.750),
                                                      "red": (4128.500, 4161.000)}
AIR_TO_VAC = 1.00028
#: Lick HdeltaA bands in rest vacuum Å (:data:`HDELTA_A_BANDS_AIR` times :data:`AIR_TO_VAC`).
HDELTA_A_BANDS: dict[str, tuple[float, float]] = {k: (a * AIR_TO_VAC, b * AIR_TO_VAC)
                                                  for k, (a, b) in HDELTA_A_BANDS_AIR.items()}

#: Diagnostic windows marked on and scored over stacked spectral attributions: name -> (lo, hi) rest vacuum Å.
#: Line windows are about ±15 Å around the lines (rounded to whole Å); Ca H&K ±10 Å; D4000 the Dn4000 bands.
SPECTRAL_FEATURES: dict[str, tuple[float, float]] = {
    "[OII]": (3712.0, 3745.0), "CaII K": (3924.0, 3944.0), "CaII H": (3959.0, 3979.0),
    "D4000 blue": D4000_N_BANDS["blue"], "D4000 red": D4000_N_BANDS["red"], "Hb": (4848.0, 4878.0),
    "[OIII]5007": (4993.0, 5023.0), "[OI]6300": (6287.0, 6317.0), "[NII]6548": (6535.0, 6565.0),
    "Ha": (6550.0, 6580.0), "[NII]6584": (6570.0, 6600.0), "[SII]": (6703.0, 6748.0),
}
#: The :data:`SPECTRAL_FEATURES` windows of the BPT lines (the probes' default; [OIII]4959 has none).
BPT_FEATURES = ("Hb", "[OIII]5007", "[NII]6548", "Ha", "[NII]6584")


def line_centres(line_set: str) -> list[float]:
    """Rest vacuum wavelengths (Å) of the emission lines prep blanks for ``line_set``.

    Parameters
    ----------
    line_set : {"all", "bpt"}
        ``bpt``: the :data:`BPT_LINES`, in wavelength order; ``all``: every emission line of
        :data:`LINES` (:data:`EMISSION_LINES` and :data:`EXTRA_LINES`), sorted.

    Returns
    -------
    list of float
        Wavelengths (Å), length 6 (``bpt``) or 22 (``all``).

    Raises
    ------
    ValueError
        ``line_set`` not in :data:`LINE_SETS`.
    """
    if line_set not in LINE_SETS:
        raise ValueError(f"line_set must be one of {LINE_SETS}, got {line_set!r}")
    if line_set == "bpt":
        return [EMISSION_LINES[name] for name in BPT_LINES]
    return sorted([*EMISSION_LINES.values(), *EXTRA_LINES.values()])
