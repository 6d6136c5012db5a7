"""Tests for agnbench.data_prep.ingest.images: cutout ingestion, quarantine, crop/resample and stretches."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from agnbench.config.core import load_config
from agnbench.data_prep.ingest import images as im
from agnbench.data_prep.formats import sdss_files as sf
from agnbench.data_prep.ingest.images import (
    ImageShard,
    Stretch,
    apply_stretch,
    centre_crop_or_resample,
    fit_stretch,
    ingest_cutouts,
)

REAL_JPEG = Path(__file__).parents[2] / "data" / "real" / "jpeg"
SEEDS = [0, 1, 7]


@pytest.fixture(scope="module")
def sim_cutouts(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """30 simulated 48x48 grz cutouts (nanomaggies) as (object_id, path) items."""
    from agnbench.data_prep.mock.simulate import simulate

    out = simulate(load_config(overrides=["simulate.n=30", "simulate.image_size=48"]),
                   tmp_path_factory.mktemp("sim") / "s", progress=False)
    paths = sorted((out / "images").glob("*.fits"))
    assert len(paths) == 30
    return [(p.stem, str(p)) for p in paths]


def _galaxy(size: int, rng: np.random.Generator) -> np.ndarray:
    """A positive, off-centre elliptical blob (size, size) with total flux ~100."""
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = size / 2 + rng.uniform(-3, 3, 2)
    prof = np.exp(-0.5 * (((yy - cy) / rng.uniform(2, 5)) ** 2 + ((xx - cx) / rng.uniform(2, 5)) ** 2))
    return 100.0 * prof / prof.sum()


def _write(path: Path, image: np.ndarray, bands: str = "grz") -> tuple[str, str]:
    sf.write_cutout(path, np.asarray(image, dtype=np.float32), ra=150.0, dec=2.0, pixel_scale=0.262, bands=bands)
    return path.stem, str(path)


# -- crop / resample ------------------------------------------------------------------------------

def test_centre_crop_is_the_exact_slice(sim_cutouts) -> None:
    data = np.stack([sf.read_cutout(p)[0] for _, p in sim_cutouts])
    for img in data:
        np.testing.assert_array_equal(centre_crop_or_resample(img, 32), img[:, 8:40, 8:40])
    shard = ingest_cutouts(sim_cutouts, size=32, bands="grz", source="fits")
    assert shard.ok.all() and shard.images.dtype == np.float32 and shard.images.shape == (30, 3, 32, 32)
    np.testing.assert_array_equal(shard.images, data[:, :, 8:40, 8:40])
    full = ingest_cutouts(sim_cutouts, size=48)
    np.testing.assert_array_equal(full.images, data)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_in, size", [(24, 40), (30, 40), (33, 48), (17, 32)])
def test_upsampling_conserves_total_flux(seed: int, n_in: int, size: int) -> None:
    rng = np.random.default_rng(seed)
    img = np.stack([_galaxy(n_in, rng) * f for f in (1.0, 2.5, 7.0)]).astype(np.float32)
    img += rng.normal(0, 0.01, img.shape).astype(np.float32)
    out = centre_crop_or_resample(img, size)
    assert out.shape == (3, size, size) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=(1, 2), dtype=np.float64), img.sum(axis=(1, 2), dtype=np.float64),
                               rtol=1e-5)
    # area average (JPEG) keeps a flat image flat instead
    flat = centre_crop_or_resample(np.full((3, n_in, n_in), 0.4, np.float32), size, flux_conserving=False)
    np.testing.assert_allclose(flat, 0.4, rtol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_odd_margin_is_a_half_pixel_shift_that_conserves_window_flux(seed: int) -> None:
    rng = np.random.default_rng(seed)
    img = rng.normal(5, 2, (3, 49, 49))
    out = centre_crop_or_resample(img, 32)  # 49 - 32 = 17 odd: window [8.5, 40.5], same pixel scale
    blocks = 0.25 * (img[:, 8:40, 8:40] + img[:, 9:41, 8:40] + img[:, 8:40, 9:41] + img[:, 9:41, 9:41])
    np.testing.assert_allclose(out, blocks, rtol=1e-12)
    v = np.zeros(49)
    v[9:40], v[8], v[40] = 1.0, 0.5, 0.5
    np.testing.assert_allclose(out.sum(axis=(1, 2)), np.einsum("y,byx,x->b", v, img, v), rtol=1e-10)


def test_axes_are_handled_independently() -> None:
    img = np.arange(3 * 48 * 30, dtype=np.float32).reshape(3, 48, 30)
    out = centre_crop_or_resample(img, 40)  # rows: crop [4:44]; columns: 30 -> 40 upsampled
    assert out.shape == (3, 40, 40)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), img[:, 4:44].sum(axis=(1, 2)), rtol=1e-5)
    with pytest.raises(ValueError, match="n_band, H, W"):
        centre_crop_or_resample(img[0], 16)


# -- sky noise and stretches ---------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_sky_sigma_recovers_planted_noise(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sigma = np.array([0.003, 0.006, 0.02])
    noise = rng.normal(0, 1, (12, 3, 64, 64)) * sigma[:, None, None]
    items = [_write(tmp_path / f"n{i}.fits", 40 * _galaxy(64, rng) + noise[i]) for i in range(12)]
    shard = ingest_cutouts(items, size=64)
    assert shard.ok.all() and shard.sky_sigma.dtype == np.float64 and shard.sky_sigma.shape == (12, 3)
    np.testing.assert_allclose(np.median(shard.sky_sigma, axis=0), sigma, rtol=0.1)
    stretch = fit_stretch(shard.sky_sigma, bands="grz")
    np.testing.assert_allclose(stretch.scale, 3 * sigma, rtol=0.1)


@pytest.mark.parametrize("seed", SEEDS)
def test_fit_stretch_is_k_times_the_median(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sky = rng.lognormal(-4, 0.5, (101, 3))
    sky[rng.choice(101, 7, replace=False)] = np.nan  # not-ok rows are ignored
    st = fit_stretch(sky, bands="grz", k=2.5)
    good = sky[np.isfinite(sky[:, 0])]
    assert st.method == "asinh_global" and st.bands == "grz"
    assert st.scale == tuple(2.5 * float(np.median(good[:, b])) for b in range(3))
    assert Stretch(**json.loads(json.dumps(dataclasses.asdict(st)))) == st  # JSON round trip
    mm = fit_stretch(sky, bands="grz", method="minmax_per_image")
    assert mm.scale == () and mm.method == "minmax_per_image"
    with pytest.raises(ValueError, match="shape"):
        fit_stretch(sky[:, :2], bands="grz")
    with pytest.raises(ValueError, match="band 'r'"):
        fit_stretch(np.where(np.arange(3) == 1, np.nan, sky), bands="grz")
    with pytest.raises(ValueError, match="method"):
        fit_stretch(sky, bands="grz", method="linear")


@pytest.mark.parametrize("seed", SEEDS)
def test_asinh_global_keeps_colours(seed: int) -> None:
    rng = np.random.default_rng(seed)
    prof = _galaxy(32, rng)
    st = Stretch("asinh_global", "grz", tuple(rng.uniform(0.01, 0.1, 3)))
    # flux ratio g/r increasing -> stretched g increasing at every pixel, r unchanged
    ratios = np.sort(rng.uniform(0.1, 3.0, 6))
    batch = np.stack([np.stack([q * prof, prof, prof]) for q in ratios])
    out = apply_stretch(batch, st, dtype=np.float32)
    assert out.shape == batch.shape and out.dtype == np.float32
    assert (np.diff(out[:, 0], axis=0) > 0).all()
    assert (out[:, 1] == out[0, 1]).all()
    # same SED, 30x brighter: the same ordering of the bands at every pixel
    sed = rng.uniform(0.2, 5.0, 3)
    faint = np.stack([s * prof for s in sed])
    pair = apply_stretch(np.stack([faint, 30 * faint]), st, dtype=np.float32)
    np.testing.assert_array_equal(np.argsort(pair[0], axis=0), np.argsort(pair[1], axis=0))
    np.testing.assert_array_equal(np.argsort(pair[0], axis=0)[:, 16, 16], np.argsort(sed / np.array(st.scale)))
    np.testing.assert_allclose(pair[0], np.arcsinh(faint / np.array(st.scale)[:, None, None]), rtol=1e-5, atol=1e-6)
    assert apply_stretch(faint, st).dtype == np.float16 and apply_stretch(faint, st).shape == faint.shape


@pytest.mark.parametrize("seed", SEEDS)
def test_minmax_per_image_destroys_colour(seed: int) -> None:
    rng = np.random.default_rng(seed)
    prof = _galaxy(32, rng)
    red, blue = np.stack([0.2 * prof, prof, 4 * prof]), np.stack([4 * prof, prof, 0.2 * prof])
    st = fit_stretch(np.ones((2, 3)), bands="grz", method="minmax_per_image")
    out = apply_stretch(np.stack([red, blue]), st, dtype=np.float32)
    np.testing.assert_allclose(out.max(axis=(2, 3)), 1.0)
    np.testing.assert_allclose(out.min(axis=(2, 3)), 0.0)
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)  # different colours, same output
    asinh = apply_stretch(np.stack([red, blue]), Stretch("asinh_global", "grz", (0.05, 0.05, 0.05)), dtype=np.float32)
    assert np.abs(asinh[0] - asinh[1]).max() > 0.5  # the global stretch keeps them apart


# -- quarantine ----------------------------------------------------------------------------------

def _bad_items(tmp: Path, rng: np.random.Generator) -> dict[str, tuple[str, str]]:
    """One file per failure mode -> (item, expected reason fragment)."""
    good = np.stack([_galaxy(48, rng) for _ in range(3)]) + rng.normal(0, 0.01, (3, 48, 48))
    cases: dict[str, tuple[str, str]] = {}
    full = tmp / "full.fits"
    _write(full, good)
    (tmp / "truncated.fits").write_bytes(full.read_bytes()[:5000])
    cases["truncated.fits"] = "truncated"
    (tmp / "corrupt.fits").write_bytes(b"this is not a FITS file at all\n" * 200)
    cases["corrupt.fits"] = "corrupt.fits: "  # the reader's message, naming the file
    cases["absent.fits"] = "No such file"
    _write(tmp / "twoband.fits", good[:2], bands="gr")
    cases["twoband.fits"] = "missing band(s) 'z': bands in file 'gr', expected 'grz'"
    _write(tmp / "zeros.fits", np.where(np.arange(3)[:, None, None] == 1, 0.0, good))
    cases["zeros.fits"] = "band 'r' is blank (all zeros)"
    _write(tmp / "allnan.fits", np.where(np.arange(3)[:, None, None] == 2, np.nan, good))
    cases["allnan.fits"] = "band 'z' is blank (all pixels NaN/inf)"
    many = good.copy()
    many[0, :5, :] = np.nan  # 240 / 2304 = 10.4% of band g
    _write(tmp / "manynan.fits", many)
    cases["manynan.fits"] = "band 'g' has 10.4% non-finite (NaN/inf) pixels (> 5% allowed)"
    _write(tmp / "small.fits", good[:, :23, :30])
    cases["small.fits"] = "image shape (3, 23, 30) is smaller than size/2 = 24 pixels on a side"
    return {name: ((name.split(".")[0], str(tmp / name)), why) for name, why in cases.items()}


@pytest.mark.parametrize("seed", SEEDS)
def test_bad_inputs_are_quarantined_with_reasons(tmp_path: Path, sim_cutouts, seed: int) -> None:
    bad = _bad_items(tmp_path, np.random.default_rng(seed))
    items = [sim_cutouts[0], *[item for item, _ in bad.values()], sim_cutouts[1]]
    shard = ingest_cutouts(items, size=48)
    assert isinstance(shard, ImageShard)
    assert shard.ok.tolist() == [True] + [False] * len(bad) + [True]
    rows = {Path(q["file"]).name: q for q in shard.quarantine}
    assert set(rows) == set(bad)
    for name, ((oid, path), why) in bad.items():
        assert rows[name]["object_id"] == oid and rows[name]["file"] == path and rows[name]["stage"] == "images"
        assert why in rows[name]["reason"], (name, rows[name]["reason"])
    assert (shard.images[~shard.ok] == 0).all() and np.isnan(shard.sky_sigma[~shard.ok]).all()
    assert np.isfinite(shard.sky_sigma[shard.ok]).all()
    alone = ingest_cutouts([sim_cutouts[0], sim_cutouts[1]], size=48)
    np.testing.assert_array_equal(shard.images[shard.ok], alone.images)
    np.testing.assert_array_equal(shard.sky_sigma[shard.ok], alone.sky_sigma)


@pytest.mark.parametrize("seed", SEEDS)
def test_few_nonfinite_pixels_are_zeroed_and_extra_bands_dropped(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    img = np.stack([_galaxy(48, rng) for _ in range(4)]) + rng.normal(0, 0.01, (4, 48, 48))
    img = img.astype(np.float32)
    holes = img.copy()
    idx = rng.choice(48 * 48, 100, replace=False)  # 4.3% of band r, some in the sky ring
    holes[1] += 1.0  # a sky level, so zeros would bias the noise estimate
    holes[1].flat[idx[:50]] = np.nan
    holes[1].flat[idx[50:]] = np.inf
    griz = _write(tmp_path / "griz.fits", holes, bands="griz")
    shard = ingest_cutouts([griz], size=48, bands="grz")
    assert shard.ok.all() and not shard.quarantine
    expect = holes[[0, 1, 3]].copy()
    expect[1].flat[idx] = 0.0
    np.testing.assert_array_equal(shard.images[0], expect)
    # the sky noise leaves the repaired pixels out (5-pixel outer ring of a 48-pixel image)
    ring = np.ones((48, 48), bool)
    ring[5:43, 5:43] = False
    for j, band in enumerate((0, 1, 3)):
        keep = ring & np.isfinite(holes[band])
        vals = holes[band][keep].astype(np.float64)
        mad = np.median(np.abs(vals - np.median(vals)))
        assert shard.sky_sigma[0, j] == pytest.approx(1.4826 * mad, rel=1e-12)


def test_jpeg_problems_are_quarantined(tmp_path: Path) -> None:
    from PIL import Image

    real = sorted(REAL_JPEG.glob("*.jpeg"))[0]
    (tmp_path / "cut.jpeg").write_bytes(real.read_bytes()[:4000])
    (tmp_path / "junk.jpeg").write_bytes(b"\xff\xd8 not really a jpeg" * 10)
    Image.fromarray(np.full((64, 64), 128, np.uint8), mode="L").save(tmp_path / "grey.jpeg")
    items = [(p, str(tmp_path / f"{p}.jpeg")) for p in ("cut", "junk", "grey")] + [("real", str(real))]
    shard = ingest_cutouts(items, size=64, source="jpeg")
    assert shard.ok.tolist() == [False, False, False, True]
    reasons = [q["reason"] for q in shard.quarantine]
    assert "truncated" in reasons[0]
    assert "cannot read as a JPEG" in reasons[1]
    assert "mode 'L'" in reasons[2] and "'gri'" in reasons[2]


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="source"):
        ingest_cutouts([], size=32, source="png")
    with pytest.raises(ValueError, match="bands"):
        ingest_cutouts([], size=32, bands="grz", source="jpeg")
    empty = ingest_cutouts([], size=32)
    assert empty.images.shape == (0, 3, 32, 32) and empty.quarantine == []


# -- real JPEGs, determinism, reader equivalence ---------------------------------------------------

def test_real_sdss_jpegs_load_and_crop() -> None:
    from PIL import Image

    paths = sorted(REAL_JPEG.glob("*.jpeg"))
    assert len(paths) == 2
    items = [(p.stem, str(p)) for p in paths]
    full = ingest_cutouts(items, size=256, source="jpeg")
    assert full.ok.all() and full.images.shape == (2, 3, 256, 256)
    assert full.images.min() >= 0.0 and full.images.max() <= 1.0 and full.images.max() > 0.5
    rgb = np.asarray(Image.open(paths[0]))
    for band, channel in (("g", 2), ("r", 1), ("i", 0)):  # SDSS colour JPEGs: RGB = i, r, g
        np.testing.assert_array_equal(full.images[0, "gri".index(band)], rgb[:, :, channel] / np.float32(255))
    crop = ingest_cutouts(items, size=64, bands="gri", source="jpeg")
    assert crop.ok.all() and crop.images.shape == (2, 3, 64, 64)
    np.testing.assert_array_equal(crop.images, full.images[:, :, 96:160, 96:160])
    assert (crop.sky_sigma > 0).all()
    assert (crop.images[:, :, 28:36, 28:36].mean() > crop.images[:, :, :4, :4].mean())  # galaxy at centre


def test_deterministic_and_independent_of_other_items(sim_cutouts) -> None:
    a = ingest_cutouts(sim_cutouts, size=40)
    b = ingest_cutouts(sim_cutouts, size=40)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.sky_sigma, b.sky_sigma)
    order = np.random.default_rng(0).permutation(len(sim_cutouts))
    c = ingest_cutouts([sim_cutouts[i] for i in order], size=40)
    np.testing.assert_array_equal(c.images, a.images[order])
    np.testing.assert_array_equal(c.sky_sigma, a.sky_sigma[order])
    one = ingest_cutouts(sim_cutouts[5:6], size=40)
    np.testing.assert_array_equal(one.images[0], a.images[5])


def test_fits_reader_matches_astropy(sim_cutouts, tmp_path: Path) -> None:
    from astropy.io import fits

    other = tmp_path / "band_keys.fits"  # float64 data, BAND0.. without BANDS, CDELT2 without CD
    hdu = fits.PrimaryHDU(np.random.default_rng(0).normal(size=(2, 9, 7)))
    hdu.header["BAND0"], hdu.header["BAND1"], hdu.header["CDELT2"] = "r", "z", 0.396 / 3600
    hdu.writeto(other)
    for path in [p for _, p in sim_cutouts] + [str(other)]:
        data, bands, scale = im._read_fits_cutout(path)
        ref, ref_bands, ref_scale = sf.read_cutout(path)
        assert data.dtype == np.float32 and data.shape == ref.shape
        np.testing.assert_array_equal(data, ref)
        assert bands == ref_bands and scale == pytest.approx(ref_scale, rel=1e-12)
    assert bands == "rz" and scale == pytest.approx(0.396)
    flat = tmp_path / "flat.fits"
    fits.PrimaryHDU(np.zeros((8, 8), np.float32)).writeto(flat)
    with pytest.raises(sf.SurveyFileError, match="n_band, H, W"):
        im._read_fits_cutout(flat)
    _write(tmp_path / "good.fits", np.ones((3, 32, 32)))
    (tmp_path / "cut.fits").write_bytes((tmp_path / "good.fits").read_bytes()[:5000])
    with pytest.raises(sf.SurveyFileError, match="truncated"):
        im._read_fits_cutout(tmp_path / "cut.fits")
