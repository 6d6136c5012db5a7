"""Tests for agnbench.data_prep.lines: the one line table (wavelengths, BPT lines, feature windows)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import agnbench
from agnbench.config.core import load_config
from agnbench.data_prep import lines
from agnbench.data_prep.formats.fastfits import read_bintable
from agnbench.data_prep.formats.sdss_files import write_speclite
from agnbench.data_prep.ingest.spectra import ingest_spectra, rest_grid

from tests.conftest import REAL

REAL_SPEC = sorted((REAL / "speclite").glob("*.fits")) + sorted((REAL / "eboss").glob("*.fits"))
#: The four lines of the BPT diagram (what :func:`agnbench.data_prep.bpt.bpt_class` reads).
DIAGRAM_LINES = {"H_BETA", "OIII_5007", "H_ALPHA", "NII_6584"}
#: Known departures of the table from SDSS's LINEWAVE (A): the mock plants [NeIII] 0.30 A red of 3869.86 A.
KNOWN_OFFSETS = {"NEIII_3869": 0.30}


def _sdss_linewave(path: Path) -> dict[str, float]:
    """LINENAME -> LINEWAVE (vacuum A) of a real SDSS spec file's SPZLINE HDU."""
    spz = read_bintable(path, "SPZLINE", ["LINENAME", "LINEWAVE"])
    return {str(n).strip(): float(w) for n, w in zip(spz["LINENAME"], spz["LINEWAVE"])}


def test_names_unique_kinds_known_and_views_partition_the_table() -> None:
    names = [ln.name for ln in lines.LINES]
    assert len(names) == len(set(names))
    assert {ln.kind for ln in lines.LINES} == set(lines.LINE_KINDS)
    assert all(isinstance(ln.wave, float) and 3000 < ln.wave < 9000 for ln in lines.LINES)
    views = [lines.EMISSION_LINES, lines.EXTRA_LINES, lines.ABSORPTION_WAVES]
    assert sum(len(v) for v in views) == len(lines.LINES)
    assert set().union(*views) == set(names)
    for view in views:  # each view in wavelength order (the mock's column and absorption-loop order)
        assert list(view.values()) == sorted(view.values())
    assert set(lines.SPZLINE_NAMES) == set(lines.EMISSION_LINES)
    assert lines.BALMER_LINES <= set(lines.EMISSION_LINES)


@pytest.mark.parametrize("path", REAL_SPEC, ids=lambda p: p.name)
def test_catalog_lines_are_sdss_vacuum_wavelengths(path: Path) -> None:
    sdss = _sdss_linewave(path)
    for name, wave in lines.EMISSION_LINES.items():
        spz = lines.SPZLINE_NAMES[name]
        assert spz in sdss, spz
        assert wave - sdss[spz] == pytest.approx(KNOWN_OFFSETS.get(name, 0.0), abs=0.01), name
    # the extra lines SDSS also fits are given to 0.1 A
    for name, spz in (("OIII_4363", "[O_III] 4363"), ("HEII_4686", "He_II 4685"), ("HEI_5876", "He_I 5876"),
                      ("OI_6364", "[O_I] 6363"), ("ARIII_7136", "[Ar_III] 7135")):
        if spz in sdss:
            assert lines.EXTRA_LINES[name] == pytest.approx(sdss[spz], abs=0.05), name
    # vacuum, not air: Halpha is 6562.80 A in air
    assert lines.EMISSION_LINES["H_ALPHA"] - 6562.80 > 1.7


def test_absorption_centres_match_the_emission_lines_and_ca_hk() -> None:
    for absorption, emission in (("Hdelta", "H_DELTA"), ("Hgamma", "H_GAMMA"), ("Hbeta", "H_BETA"),
                                 ("Halpha", "H_ALPHA")):
        assert lines.ABSORPTION_WAVES[absorption] == pytest.approx(lines.EMISSION_LINES[emission], abs=0.05)
    assert lines.ABSORPTION_WAVES["CaK"] == pytest.approx(3934.78, abs=0.05)  # Ca II K, vacuum
    assert lines.ABSORPTION_WAVES["CaH+Heps"] == pytest.approx(3969.59, abs=0.05)  # Ca II H, vacuum


def test_bpt_lines_are_the_diagram_lines_and_their_doublet_partners() -> None:
    partners = {weak for weak, (strong, _) in lines.DOUBLETS.items() if strong in DIAGRAM_LINES}
    assert set(lines.BPT_LINES) == DIAGRAM_LINES | partners == DIAGRAM_LINES | {"OIII_4959", "NII_6548"}
    assert lines.line_centres("bpt") == [lines.EMISSION_LINES[n] for n in lines.BPT_LINES]
    for weak, (strong, ratio) in lines.DOUBLETS.items():
        assert weak in lines.EMISSION_LINES and strong in lines.EMISSION_LINES and ratio > 1
        assert abs(lines.EMISSION_LINES[weak] - lines.EMISSION_LINES[strong]) < 50  # a close pair


def test_line_centres() -> None:
    every = lines.line_centres("all")
    assert every == sorted(every) and len(every) == len(lines.EMISSION_LINES) + len(lines.EXTRA_LINES) == 22
    assert set(every) == {ln.wave for ln in lines.LINES if ln.kind == lines.EMISSION}
    with pytest.raises(ValueError, match="line_set must be one of"):
        lines.line_centres("balmer")


@pytest.mark.parametrize("line_set", lines.LINE_SETS)
def test_prep_blanks_exactly_the_table_lines(tmp_path: Path, line_set: str) -> None:
    """A flat z = 0 spectrum through prep: the blanked pixels are exactly the line_set's windows."""
    n = 4000
    loglam = (3.5700 + 1e-4 * np.arange(n)).astype(np.float32)
    ones = np.ones(n, dtype=np.float32)
    coadd = {"flux": ones, "loglam": loglam, "ivar": ones, "and_mask": np.zeros(n, np.int32),
             "or_mask": np.zeros(n, np.int32), "wdisp": ones, "sky": ones, "model": ones}
    specobj = {"PLATE": (1000, "J"), "MJD": (52000, "J"), "FIBERID": (1, "J"), "SPECOBJID": ("  123", "22A"),
               "Z": (0.0, "E"), "CLASS": ("GALAXY", "6A"), "SUBCLASS": ("", "21A")}
    path = tmp_path / "flat.fits"
    write_speclite(path, header={"PLATEID": 1000, "MJD": 52000, "FIBERID": 1}, coadd=coadd, specobj=specobj,
                   spzline={"LINENAME": (np.array(["H_alpha"]), "13A")})
    cfg = load_config().prep
    grid = rest_grid(wave_min=cfg.wave_min, wave_max=cfg.wave_max, dloglam=cfg.dloglam)
    shard = ingest_spectra([("a", str(path), 0.0)], loglam=grid, mask_lines=True, line_set=line_set)
    assert shard.ok.all()
    wave = 10.0**grid
    expected = np.zeros(wave.size, dtype=bool)
    for centre in lines.line_centres(line_set):
        expected |= np.abs(wave - centre) <= lines.LINE_HALF_WIDTH
    np.testing.assert_array_equal(shard.ivar[0] == 0, expected)
    bpt = set(lines.BPT_LINES)
    for name, centre in lines.EMISSION_LINES.items():
        pix = int(np.argmin(np.abs(wave - centre)))
        if abs(wave[pix] - centre) < 1:  # on the grid ([OII] is blueward of it)
            assert (shard.ivar[0, pix] == 0) == (line_set == "all" or name in bpt), name


def test_feature_windows_on_the_store_grid() -> None:
    cfg = load_config().prep
    wave = 10.0 ** rest_grid(wave_min=cfg.wave_min, wave_max=cfg.wave_max, dloglam=cfg.dloglam)
    off_grid = set()
    for name, (lo, hi) in lines.SPECTRAL_FEATURES.items():
        assert lo < hi, name
        if not (wave[0] <= lo and hi <= wave[-1]):
            off_grid.add(name)
    # [OII]3727 lies blueward of the default 3750 A grid start (it scores only on a bluer store)
    assert off_grid == {"[OII]"}
    assert set(lines.BPT_FEATURES) <= set(lines.SPECTRAL_FEATURES)
    centres = [lines.EMISSION_LINES[n] for n in lines.BPT_LINES]
    for name in lines.BPT_FEATURES:  # each BPT window holds a BPT line, +-15 A around it to within 1 A
        lo, hi = lines.SPECTRAL_FEATURES[name]
        inside = [c for c in centres if lo < c < hi]
        assert inside, name
        assert any(abs(lo - (c - lines.LINE_HALF_WIDTH)) < 1 and abs(hi - (c + lines.LINE_HALF_WIDTH)) < 1
                   for c in inside), name
    for name, absorption in (("CaII K", "CaK"), ("CaII H", "CaH+Heps")):
        lo, hi = lines.SPECTRAL_FEATURES[name]
        assert lo < lines.ABSORPTION_WAVES[absorption] < hi
    assert lines.SPECTRAL_FEATURES["D4000 blue"] == lines.D4000_N_BANDS["blue"]
    assert lines.SPECTRAL_FEATURES["D4000 red"] == lines.D4000_N_BANDS["red"]


def test_index_bands() -> None:
    for bands in (lines.D4000_N_BANDS, lines.D4000_BANDS):
        assert bands["blue"][1] < 4000.0 <= bands["red"][0]
    hda = lines.HDELTA_A_BANDS
    assert hda["blue"][1] < hda["index"][0] < lines.ABSORPTION_WAVES["Hdelta"] < hda["index"][1] < hda["red"][0]
    for key, (a, b) in lines.HDELTA_A_BANDS_AIR.items():
        assert hda[key] == (a * lines.AIR_TO_VAC, b * lines.AIR_TO_VAC)


def test_real_data_prep_does_not_import_the_mock() -> None:
    root = Path(agnbench.__file__).parent / "data_prep"
    for sub in ("ingest", "formats", "fetch"):
        for path in (root / sub).glob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                        else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not any(m.startswith("agnbench.data_prep.mock") for m in mods), path
