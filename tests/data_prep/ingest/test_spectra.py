"""spectra: fast reading, flux-conserving rest-frame resampling, normalisation, line masking, quarantine."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from agnbench.config.core import load_config
from agnbench.data_prep import lines
from agnbench.data_prep.ingest import spectra as sp
from agnbench.data_prep.formats.fastfits import read_bintable
from agnbench.data_prep.formats.sdss_files import SurveyFileError, read_spectrum, write_speclite
from agnbench.data_prep.lines import EMISSION_LINES
from agnbench.data_prep.mock.simulate import simulate

from tests.conftest import REAL

SDSS = sorted((REAL / "speclite").glob("*.fits"))
BOSS = sorted((REAL / "eboss").glob("*.fits"))
GRID = sp.rest_grid(wave_min=3750.0, wave_max=7400.0, dloglam=1e-4)


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = load_config(overrides=["simulate.n=30", "simulate.image_size=16"])
    return simulate(cfg, tmp_path_factory.mktemp("spmock") / "s", progress=False)


def _mock_items(mock: Path) -> list[tuple[str, str, float]]:
    """(object_id, path, catalog z) for every mock spectrum, joined on SPECOBJID."""
    cat = read_bintable(mock / "catalog" / "galSpecInfo.fits", 1, ["SPECOBJID", "Z"])
    z = dict(zip((s.strip() for s in cat["SPECOBJID"]), cat["Z"]))
    items = []
    for path in sorted((mock / "spectra").rglob("*.fits")):
        oid = sp.read_spectrum_fast(path).specobjid
        items.append((oid, str(path), float(z[oid])))
    assert len(items) == len(z) == 30
    return items


def _write_spectrum(path: Path, flux: np.ndarray, *, ivar: np.ndarray | None = None, and_mask: np.ndarray | None = None,
                    loglam0: float = 3.5800, z: float = 0.1) -> Path:
    """An SDSS-I/II spec-lite file with the given observed-frame flux on loglam0 + 1e-4 k."""
    n = flux.size
    ones = np.ones(n, dtype=np.float32)
    coadd = {"flux": flux.astype(np.float32), "loglam": (loglam0 + 1e-4 * np.arange(n)).astype(np.float32),
             "ivar": ones if ivar is None else ivar.astype(np.float32),
             "and_mask": np.zeros(n, np.int32) if and_mask is None else and_mask.astype(np.int32),
             "or_mask": np.zeros(n, np.int32), "wdisp": ones, "sky": ones, "model": flux.astype(np.float32)}
    specobj = {"PLATE": (1000, "J"), "MJD": (52000, "J"), "FIBERID": (1, "J"), "SPECOBJID": ("  123", "22A"),
               "Z": (z, "E"), "CLASS": ("GALAXY", "6A"), "SUBCLASS": ("", "21A")}
    write_speclite(path, header={"PLATEID": 1000, "MJD": 52000, "FIBERID": 1}, coadd=coadd, specobj=specobj,
                   spzline={"LINENAME": (np.array(["H_alpha"]), "13A")})
    return path


def _obs_wave(n: int = 3900, loglam0: float = 3.5800) -> np.ndarray:
    """Observed wavelengths (A) of the pixels :func:`_write_spectrum` writes (its float32 loglam)."""
    return 10.0 ** (loglam0 + 1e-4 * np.arange(n)).astype(np.float32).astype(np.float64)


def _gaussian(wave: np.ndarray, centre: float, sigma: float, flux: float, cut: float) -> np.ndarray:
    """A Gaussian line of total flux ``flux`` sampled at ``wave``, exactly 0 beyond ``cut`` A."""
    g = flux / (sigma * math.sqrt(2 * math.pi)) * np.exp(-0.5 * ((wave - centre) / sigma) ** 2)
    return np.where(np.abs(wave - centre) <= cut, g, 0.0)


def test_rest_grid() -> None:
    assert GRID[0] == math.log10(3750.0)
    np.testing.assert_allclose(np.diff(GRID), 1e-4, rtol=1e-9)
    assert 10 ** GRID[-1] <= 7400.0 < 10 ** (GRID[-1] + 1e-4)
    assert sp.rest_grid(wave_min=4000, wave_max=4000 * 10**0.01, dloglam=1e-3).size == 11
    with pytest.raises(ValueError, match="wave_min < wave_max"):
        sp.rest_grid(wave_min=5000, wave_max=4000)


def test_read_spectrum_fast_equals_read_spectrum(mock: Path) -> None:
    for path in SDSS + BOSS + [Path(p) for _, p, _ in _mock_items(mock)[:5]]:
        ref, ours = read_spectrum(path), sp.read_spectrum_fast(path)
        for name in ref.__dataclass_fields__:
            a, b = getattr(ref, name), getattr(ours, name)
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and np.array_equal(a, b), (path.name, name)
            else:
                assert type(a) is type(b) and a == b, (path.name, name, a, b)
    assert sp.read_spectrum_fast(BOSS[0]).layout == "boss" and sp.read_spectrum_fast(SDSS[0]).layout == "sdss"


def test_read_spectrum_fast_errors(tmp_path: Path) -> None:
    raw = SDSS[0].read_bytes()
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(raw[: len(raw) // 3])
    html = tmp_path / "page.fits"
    html.write_text("<html>502</html>")
    for path, words in ((truncated, "truncated"), (html, "not a FITS file")):
        with pytest.raises(SurveyFileError) as err:
            sp.read_spectrum_fast(path)
        assert str(path) in str(err.value) and words in str(err.value)


def _naive_resample(in_loglam, flux, ivar, out_loglam):
    """The definition, pixel pair by pixel pair (O(n_in * n_out))."""
    def edges(c):
        mid = 0.5 * (c[1:] + c[:-1])
        return 10.0 ** np.concatenate(([2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]))
    a, b = edges(in_loglam), edges(out_loglam)
    w = np.clip(np.minimum(a[1:, None], b[None, 1:]) - np.maximum(a[:-1, None], b[None, :-1]), 0, None)
    w = w * (ivar > 0)[:, None]
    sw = w.sum(0)
    f = np.where(sw > 0, (w * flux[:, None]).sum(0) / np.where(sw > 0, sw, 1), 0.0)
    var = (w**2 * np.where(ivar > 0, 1 / np.where(ivar > 0, ivar, 1), 0)[:, None]).sum(0) / np.where(sw > 0, sw, 1) ** 2
    ok = sw >= 0.5 * np.diff(b)
    return f, np.where(ok & (var > 0), 1 / np.where(var > 0, var, 1), 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_resample_matches_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    in_loglam = 3.6 + 1e-4 * np.arange(300) + rng.uniform(-2e-5, 2e-5, 300)
    flux = rng.normal(size=300)
    ivar = rng.uniform(0.5, 2.0, 300) * (rng.random(300) > 0.2)
    out_loglam = 3.6 - 0.003 + rng.uniform(1.1e-4, 1.4e-4) * np.arange(260)
    f, iv, _, _ = sp.resample(in_loglam, flux, ivar, out_loglam)
    f_ref, iv_ref = _naive_resample(in_loglam, flux, ivar, out_loglam)
    np.testing.assert_allclose(f, f_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(iv, iv_ref, rtol=1e-10, atol=1e-12)
    assert (iv[:20] == 0).all() and (iv > 0).sum() > 100  # uncovered start, covered middle


def test_resample_conserves_flux() -> None:
    rng = np.random.default_rng()
    in_loglam = 3.58 + 1e-4 * np.arange(3000)
    wave = 10**in_loglam
    flux = 10 + 3 * np.sin(wave / 300.0 + rng.uniform(0, 6)) + wave / 2000.0  # smooth
    out_loglam = 3.60 + rng.uniform(0.9e-4, 2.5e-4) * np.arange(1000)
    out_loglam = out_loglam[out_loglam < in_loglam[-1] - 0.01]
    f, iv, _, _ = sp.resample(in_loglam, flux, np.ones_like(flux), out_loglam)
    mid_in = 0.5 * (in_loglam[1:] + in_loglam[:-1])
    in_edges = 10 ** np.concatenate(([in_loglam[0] - 5e-5], mid_in, [in_loglam[-1] + 5e-5]))
    mid_out = 0.5 * (out_loglam[1:] + out_loglam[:-1])
    out_edges = 10**mid_out  # inner edges of the output grid
    cumulative = np.concatenate(([0.0], np.cumsum(flux * np.diff(in_edges))))
    for lo, hi in ((0, len(out_edges) - 1), (10, 400), (333, 334)):
        before = np.interp(out_edges[hi], in_edges, cumulative) - np.interp(out_edges[lo], in_edges, cumulative)
        after = np.sum(f[lo + 1 : hi + 1] * np.diff(out_edges[lo : hi + 1]))
        assert after == pytest.approx(before, rel=1e-6)
    assert (iv > 0).all()


def test_planted_line_keeps_its_flux(tmp_path: Path) -> None:
    rng = np.random.default_rng()
    z = float(rng.uniform(0.02, 0.15))
    wave = _obs_wave()
    line_flux, continuum = float(rng.uniform(200, 2000)), 10.0
    flux = continuum + _gaussian(wave, EMISSION_LINES["H_ALPHA"] * (1 + z), 3.0 * (1 + z), line_flux, 40.0)
    path = _write_spectrum(tmp_path / "line.fits", flux, z=z)
    shard = sp.ingest_spectra([("a", str(path), z)], loglam=GRID)
    assert shard.ok.all() and shard.norm[0] == pytest.approx(continuum, rel=1e-6)
    rest_edges = 10 ** np.concatenate(([GRID[0] - 5e-5], 0.5 * (GRID[1:] + GRID[:-1]), [GRID[-1] + 5e-5]))
    excess = (shard.flux[0].astype(np.float64) - 1.0) * shard.norm[0]
    after = np.sum(excess * np.diff(rest_edges))
    # observed f_lambda relabelled to rest wavelengths: the integral over rest A is the input's / (1 + z)
    loglam = np.log10(wave)
    obs_edges = 10 ** np.concatenate(([1.5 * loglam[0] - 0.5 * loglam[1]], 0.5 * (loglam[1:] + loglam[:-1]),
                                      [1.5 * loglam[-1] - 0.5 * loglam[-2]]))
    before = np.sum((flux.astype(np.float32) - continuum) * np.diff(obs_edges)) / (1 + z)
    assert after == pytest.approx(before, rel=1e-5)
    assert after == pytest.approx(line_flux / (1 + z), rel=1e-3)  # the sampled Gaussian holds ~ its nominal flux


def test_mask_lines_makes_the_lines_irrelevant(tmp_path: Path) -> None:
    rng = np.random.default_rng()
    z = float(rng.uniform(0.02, 0.15))
    wave = _obs_wave()
    base = 5 + wave / 3000.0 + rng.normal(0, 0.3, wave.size)
    ivar = np.full(wave.size, 4.0)
    ivar[rng.choice(wave.size, 30, replace=False)] = 0.0  # some masked pixels too
    halpha = _gaussian(wave, EMISSION_LINES["H_ALPHA"] * (1 + z), 2.5 * (1 + z), 1e5, 9.0 * (1 + z))
    plain = _write_spectrum(tmp_path / "plain.fits", base, ivar=ivar, z=z)
    lined = _write_spectrum(tmp_path / "lined.fits", base + halpha, ivar=ivar, z=z)
    items = [("p", str(plain), z), ("l", str(lined), z)]
    masked = sp.ingest_spectra(items, loglam=GRID, mask_lines=True)
    assert masked.ok.all()
    for name in ("flux", "ivar", "norm", "sn_median"):
        a, b = getattr(masked, name)
        assert np.array_equal(a, b), name
    unmasked = sp.ingest_spectra(items, loglam=GRID, mask_lines=False)
    assert not np.array_equal(unmasked.flux[0], unmasked.flux[1])  # the test can fail
    wave_rest = 10**GRID
    for name in lines.BPT_LINES:
        inside = np.abs(wave_rest - EMISSION_LINES[name]) <= lines.LINE_HALF_WIDTH
        assert (masked.ivar[0, inside] == 0).all() and (unmasked.ivar[0, inside] > 0).mean() > 0.5
    ha = np.abs(wave_rest - EMISSION_LINES["H_ALPHA"]) <= 5
    np.testing.assert_allclose(np.diff(masked.flux[0, ha], 2), 0, atol=1e-4)  # a straight line under Halpha


def test_line_sets_all_and_bpt(tmp_path: Path) -> None:
    z = 0.05
    wave = _obs_wave()
    oii = _gaussian(wave, EMISSION_LINES["OII_3729"] * (1 + z), 2.5 * (1 + z), 1e5, 9.0 * (1 + z))
    path = _write_spectrum(tmp_path / "s.fits", 5 + wave / 3000.0 + oii, ivar=np.full(wave.size, 4.0), z=z)
    wave_rest = 10**GRID
    near = {name: np.abs(wave_rest - centre) <= 3 for name, centre in
            (("oii", EMISSION_LINES["OII_3729"]), ("sii", EMISSION_LINES["SII_6717"]), ("hb", EMISSION_LINES["H_BETA"]),
             ("heii", lines.EXTRA_LINES["HEII_4686"]), ("cont", 5500.0))}
    every = sp.ingest_spectra([("a", str(path), z)], loglam=GRID, mask_lines=True, line_set="all")
    bpt = sp.ingest_spectra([("a", str(path), z)], loglam=GRID, mask_lines=True, line_set="bpt")
    for name in ("oii", "sii", "hb", "heii"):
        assert (every.ivar[0, near[name]] == 0).all(), name
    assert (bpt.ivar[0, near["hb"]] == 0).all()
    assert (bpt.ivar[0, near["oii"]] > 0).all() and (bpt.ivar[0, near["sii"]] > 0).all()
    assert (every.ivar[0, near["cont"]] > 0).all()
    assert len(lines.line_centres("all")) == len(EMISSION_LINES) + len(lines.EXTRA_LINES)
    with pytest.raises(ValueError, match="line_set"):
        lines.line_centres("some")


def test_bad_items_are_quarantined_with_reasons(tmp_path: Path) -> None:
    wave = _obs_wave()
    flux = 3 + wave / 5000.0
    good = _write_spectrum(tmp_path / "good.fits", flux)
    raw = good.read_bytes()
    (tmp_path / "trunc.fits").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "html.fits").write_text("<html>404</html>")
    zero = _write_spectrum(tmp_path / "zero.fits", flux, ivar=np.zeros(wave.size))
    nan = _write_spectrum(tmp_path / "nan.fits", np.full(wave.size, np.nan))
    flagged = _write_spectrum(tmp_path / "flag.fits", flux, and_mask=np.full(wave.size, 4))
    holes = np.ones(wave.size)
    holes[(wave > 5000) & (wave < 5600)] = 0.0
    holey = _write_spectrum(tmp_path / "holes.fits", flux, ivar=holes)
    cases = [
        (good, float("nan"), ["invalid redshift z=nan"]),
        (good, -1.5, ["invalid redshift z=-1.5", "> -1"]),
        (good, None, ["missing redshift (z=None)"]),
        (tmp_path / "trunc.fits", 0.1, ["unreadable spectrum", "truncated", str(tmp_path / "trunc.fits")]),
        (tmp_path / "html.fits", 0.1, ["unreadable spectrum", "not a FITS file"]),
        (tmp_path / "missing.fits", 0.1, ["unreadable spectrum", "cannot open"]),
        (zero, 0.1, ["no usable pixels", f"all {wave.size} are masked", f"ivar <= 0: {wave.size}"]),
        (nan, 0.1, ["no usable pixels", f"NaN/inf flux or ivar: {wave.size}"]),
        (flagged, 0.1, ["no usable pixels", f"rejecting mask bits: {wave.size}"]),
        (good, 0.9, ["wavelength coverage: rest", "does not cover the rest-frame grid 3750-7400 A", "z=0.9000",
                     "observed 3802-"]),
        (holey, 0.05, ["wavelength coverage: after masking", "does not cover the rest-frame grid", "masked"]),
        (BOSS[0], float(read_spectrum(BOSS[0]).z), ["wavelength coverage: rest", "z=1.4992", "observed 3591-10330 A"]),
    ]
    items = [("good-first", str(good), 0.1)] + [(f"bad{i}", str(p), z) for i, (p, z, _) in enumerate(cases)]
    items.append(("good-last", str(good), 0.1))
    shard = sp.ingest_spectra(items, loglam=GRID)
    assert shard.ok.tolist() == [True] + [False] * len(cases) + [True]
    assert [q["object_id"] for q in shard.quarantine] == [f"bad{i}" for i in range(len(cases))]
    for q, (path, _, words) in zip(shard.quarantine, cases):
        assert q["stage"] == "spectra" and q["file"] == str(path)
        for word in words:
            assert word in q["reason"], (word, q["reason"])
    bad = ~shard.ok
    assert (shard.flux[bad] == 0).all() and (shard.ivar[bad] == 0).all()
    assert np.isnan(shard.norm[bad]).all() and np.isnan(shard.sn_median[bad]).all()
    alone = sp.ingest_spectra([("good", str(good), 0.1)], loglam=GRID)
    assert np.array_equal(alone.flux[0], shard.flux[0]) and np.array_equal(alone.flux[0], shard.flux[-1])


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="norm_window"):
        sp.ingest_spectra([], loglam=GRID, norm_window=(8000.0, 9000.0))
    with pytest.raises(ValueError, match="strictly increasing"):
        sp.ingest_spectra([], loglam=GRID[::-1])
    assert sp.ingest_spectra([], loglam=GRID).flux.shape == (0, GRID.size)


def test_real_spectra() -> None:
    qsos = [p for p in BOSS if p.name in ("spec-10000-58462-0010.fits", "spec-10000-58514-0050.fits")]
    items = [(p.stem, str(p), read_spectrum(p).z) for p in SDSS + qsos]
    items.append(("boss-lowz", str(BOSS[0]), 0.05))  # the BOSS range at a galaxy's redshift covers the grid
    shard = sp.ingest_spectra(items, loglam=GRID)
    assert shard.ok.tolist() == [True, True, False, False, True]
    for q in shard.quarantine:  # the z ~ 1.5 QSOs reach rest 1440-4130 A only
        assert "wavelength coverage: rest 14" in q["reason"] and "does not cover the rest-frame grid 3750-7400 A" in q["reason"]
    window = (10**GRID >= 5300) & (10**GRID <= 5700)
    for i in np.flatnonzero(shard.ok):
        good = shard.ivar[i] > 0
        assert good.mean() > 0.95 and np.isfinite(shard.flux[i]).all()
        assert np.median(shard.flux[i, window & good]) == pytest.approx(1.0, abs=1e-6)
        assert shard.sn_median[i] > (3 if i < len(SDSS) else 1) and shard.norm[i] > 0
    assert shard.sn_median[0] == pytest.approx(33.2, abs=0.5)  # spec-0266-51630-0168: a bright star-forming galaxy


def test_mock_spectra_are_deterministic_and_independent(mock: Path) -> None:
    items = _mock_items(mock)
    shard = sp.ingest_spectra(items, loglam=GRID)
    assert shard.ok.all(), shard.quarantine
    assert shard.flux.dtype == shard.ivar.dtype == np.float32 and shard.flux.shape == (30, GRID.size)
    assert (shard.ivar >= 0).all() and np.isfinite(shard.flux).all() and np.isfinite(shard.ivar).all()
    reversed_shard = sp.ingest_spectra(items[::-1], loglam=GRID, mask_lines=False)
    assert np.array_equal(reversed_shard.flux[::-1], shard.flux)
    assert np.array_equal(reversed_shard.ivar[::-1], shard.ivar)
    assert np.array_equal(reversed_shard.sn_median[::-1], shard.sn_median)
    # the mock's own S/N (catalog SN_MEDIAN, per observed pixel) tracks ours
    cat = read_bintable(mock / "catalog" / "galSpecInfo.fits", 1, ["SPECOBJID", "SN_MEDIAN"])
    sn = dict(zip((s.strip() for s in cat["SPECOBJID"]), cat["SN_MEDIAN"]))
    ref = np.array([sn[oid] for oid, _, _ in items])
    assert np.corrcoef(np.log(ref), np.log(shard.sn_median))[0, 1] > 0.8
