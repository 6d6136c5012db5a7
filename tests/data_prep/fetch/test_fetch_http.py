"""The fetch HTTP client against a real HTTP server on 127.0.0.1: retries, Retry-After, 404, truncation,
error pages, host allow-list, bounded concurrency. No test touches the internet."""

from __future__ import annotations

import email.utils
import functools
import time
from pathlib import Path

import pytest

from agnbench.config.core import load_config
from agnbench.data_prep.fetch.http import HttpClient, Job, retry_after_seconds
from agnbench.data_prep.fetch.validate import error_page, validate_cutout, validate_jpeg, validate_spectrum
from agnbench.errors import ConfigError

from tests.conftest import REAL
from tests.fetch_server import SurveyServer

SPEC = "spec-0266-51630-0168.fits"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny survey tree holding two real spec-lite files and one real-format cutout."""
    import shutil

    import numpy as np

    from agnbench.data_prep.formats.sdss_files import write_cutout, write_table_fits

    root = tmp_path_factory.mktemp("httptree")
    (root / "spectra" / "0266").mkdir(parents=True)
    (root / "spectra" / "0267").mkdir(parents=True)
    shutil.copy(REAL / "speclite" / SPEC, root / "spectra" / "0266" / SPEC)
    shutil.copy(REAL / "speclite" / "spec-0267-51608-0413.fits", root / "spectra" / "0267")
    (root / "catalog").mkdir()
    import pandas as pd

    write_table_fits(root / "catalog" / "galSpecInfo.fits", pd.DataFrame(
        {"SPECOBJID": ["299535582055393280"], "RA": [146.71421], "DEC": [-1.04128], "Z": [0.1]}), extname="INFO")
    (root / "images").mkdir()
    img = np.random.default_rng(0).normal(1.0, 0.1, (3, 32, 32)).astype(np.float32)
    write_cutout(root / "images" / "299535582055393280.fits", img, ra=146.71421, dec=-1.04128, pixel_scale=0.262)
    return root


@pytest.fixture()
def server(tree: Path):
    srv = SurveyServer(tree, jpeg=REAL / "jpeg" / "1237650795683184714.jpeg")
    yield srv
    srv.stop()


def _client(server: SurveyServer, **extra: object) -> HttpClient:
    return HttpClient(load_config(overrides=server.overrides(**extra)).fetch, seed=0)


def _spec_job(server: SurveyServer, dest_dir: Path, name: str = SPEC, url: str | None = None) -> Job:
    plate, mjd, fiber = (int(x) for x in name[5:-5].split("-"))
    url = url or f"{server.url}/sas/sdss/spectro/redux/26/spectra/lite/{plate:04d}/{name}"
    return Job(f"spectra/{plate:04d}/{name}", url, dest_dir / f"{plate:04d}" / name,
               functools.partial(validate_spectrum, plate=plate, mjd=mjd, fiber=fiber))


def _no_partials(root: Path) -> bool:
    return not [p for p in root.rglob("*") if ".part" in p.name]


def test_plain_download_is_byte_identical(server: SurveyServer, tree: Path, tmp_path: Path) -> None:
    res = _client(server).download(_spec_job(server, tmp_path))
    assert res.status == "done" and res.attempts == 1
    assert (tmp_path / "0266" / SPEC).read_bytes() == (tree / "spectra" / "0266" / SPEC).read_bytes()
    assert res.bytes == (tree / "spectra" / "0266" / SPEC).stat().st_size and len(res.sha256) == 64


def test_500_then_success_is_retried(server: SurveyServer, tmp_path: Path) -> None:
    server.faults[SPEC] = ["500", "500"]
    res = _client(server).download(_spec_job(server, tmp_path))
    assert res.status == "done" and res.attempts == 3
    assert [r[3] for r in server.requests_for(SPEC)] == [500, 500, 200]


def test_retries_give_up_and_keep_nothing(server: SurveyServer, tmp_path: Path) -> None:
    server.faults[SPEC] = ["500"] * 5
    res = _client(server).download(_spec_job(server, tmp_path))
    assert res.status == "failed" and res.attempts == 3 and "HTTP 500" in res.reason and "gave up" in res.reason
    assert not (tmp_path / "0266" / SPEC).exists() and _no_partials(tmp_path)


def test_429_retry_after_seconds_is_honoured(server: SurveyServer, tmp_path: Path) -> None:
    server.faults[SPEC] = ["429:1"]
    res = _client(server, **{"fetch.backoff_s": 0.01}).download(_spec_job(server, tmp_path))
    times = [r[0] for r in server.requests_for(SPEC)]
    assert res.status == "done" and res.attempts == 2 and len(times) == 2
    assert 0.95 <= times[1] - times[0] < 2.5  # the computed backoff alone would be ~0.01 s


def test_retry_after_longer_than_max_backoff_fails_for_later(server: SurveyServer, tmp_path: Path) -> None:
    server.faults[SPEC] = ["429:3600"]
    start = time.monotonic()
    res = _client(server).download(_spec_job(server, tmp_path))
    assert res.status == "failed" and "3600" in res.reason and time.monotonic() - start < 1.0


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds(date, now=now) == pytest.approx(30, abs=1.01)
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_404_is_missing_and_not_retried(server: SurveyServer, tmp_path: Path) -> None:
    server.faults[SPEC] = ["404"]
    res = _client(server).download(_spec_job(server, tmp_path))
    assert res.status == "missing" and res.attempts == 1 and "404" in res.reason
    assert len(server.requests_for(SPEC)) == 1 and not (tmp_path / "0266" / SPEC).exists()


def test_truncated_body_is_never_kept(server: SurveyServer, tree: Path, tmp_path: Path) -> None:
    server.faults[SPEC] = ["truncate"] * 3
    res = _client(server).download(_spec_job(server, tmp_path))
    assert res.status == "failed" and res.attempts == 3
    assert not (tmp_path / "0266" / SPEC).exists() and _no_partials(tmp_path)
    server.faults[SPEC] = ["truncate"]  # once: the retry gets the whole file
    res = _client(server).download(_spec_job(server, tmp_path))
    assert res.status == "done" and res.attempts == 2
    assert (tmp_path / "0266" / SPEC).read_bytes() == (tree / "spectra" / "0266" / SPEC).read_bytes()


@pytest.mark.parametrize("fault", ["html", "htmlbin"])
def test_html_error_page_with_status_200_is_rejected(server: SurveyServer, tmp_path: Path, fault: str) -> None:
    server.faults[SPEC] = [fault]
    res = _client(server).download(_spec_job(server, tmp_path))
    assert res.status == "failed" and "HTML" in res.reason and res.attempts == 1
    assert not (tmp_path / "0266" / SPEC).exists() and _no_partials(tmp_path)


def test_wrong_content_fails_validation(server: SurveyServer, tmp_path: Path) -> None:
    url = f"{server.url}/ls/viewer/jpeg-cutout?ra=1.000000&dec=2.000000"
    job = Job("images/x.fits", url, tmp_path / "x.fits", functools.partial(validate_cutout, size=32, bands="grz"))
    res = _client(server).download(job)
    assert res.status == "failed" and "not a FITS file" in res.reason and not job.dest.exists()
    job = Job("jpeg/x.jpeg", url, tmp_path / "x.jpeg", functools.partial(validate_jpeg, size=256))
    assert _client(server).download(job).status == "done"


def test_only_allowed_hosts_and_schemes(server: SurveyServer, tmp_path: Path) -> None:
    client = _client(server)
    for url in ("http://example.org/x.fits", f"http://localhost:{server.port}/x", "ftp://127.0.0.1/x"):
        res = client.download(_spec_job(server, tmp_path, url=url))
        assert res.status == "failed" and ("not in fetch.allowed_hosts" in res.reason or "refused" in res.reason)
    # a redirect to a host that is not allowed is not followed
    server.faults[SPEC] = [f"redirect:http://localhost:{server.port}/sas/sdss/spectro/redux/26/spectra/lite/0266/{SPEC}"]
    res = client.download(_spec_job(server, tmp_path))
    assert res.status == "failed" and "redirected to a refused URL" in res.reason
    assert all(not host.startswith("localhost") for _, host, _, _ in server.log)
    # https only by default: a plain-http URL is refused before any connection
    n = len(server.log)
    strict = HttpClient(_strict_cfg(server), seed=0)
    assert strict.download(_spec_job(server, tmp_path)).status == "failed" and len(server.log) == n


def _strict_cfg(server: SurveyServer):
    """allowed_hosts includes the server but https is required (its http templates are not validated here)."""
    import dataclasses

    return dataclasses.replace(load_config(overrides=server.overrides()).fetch, https_only=True)


def test_redirect_to_allowed_host_is_followed(server: SurveyServer, tree: Path, tmp_path: Path) -> None:
    server.faults["moved.fits"] = [f"redirect:/sas/sdss/spectro/redux/26/spectra/lite/0266/{SPEC}"]
    job = _spec_job(server, tmp_path, url=f"{server.url}/sas/sdss/spectro/redux/moved.fits")
    res = _client(server).download(job)
    assert res.status == "done" and job.dest.read_bytes() == (tree / "spectra" / "0266" / SPEC).read_bytes()


def test_concurrency_is_bounded(server: SurveyServer, tmp_path: Path) -> None:
    names = [SPEC, "spec-0267-51608-0413.fits"]
    jobs = []
    for k in range(12):
        name = names[k % 2]
        server.faults[name].append("slow")
        job = _spec_job(server, tmp_path / str(k), name=name)
        jobs.append(job)
    results = list(_client(server, **{"fetch.concurrency": 3}).run(jobs))
    assert sorted(r.status for r in results) == ["done"] * 12
    assert server.max_inflight <= 3 and server.max_inflight >= 2


def test_error_page_sniffing() -> None:
    assert error_page(b"<!DOCTYPE html><html>oops") is not None
    assert error_page(b'{"error": "rate limited"}') is not None
    assert error_page(b"SIMPLE  =                    T") is None
    assert error_page(b"\xff\xd8\xff\xe0JFIF") is None


def test_config_refuses_unlisted_hosts_and_http() -> None:
    with pytest.raises(ConfigError, match="fetch.sas_base|allowed_hosts"):
        load_config(overrides=["fetch.sas_base=https://mirror.example.org/sas"])
    with pytest.raises(ConfigError, match="scheme must be https"):
        load_config(overrides=["fetch.sas_base=http://data.sdss.org/sas/dr17"])
    with pytest.raises(ConfigError, match="fetch.concurrency"):
        load_config(overrides=["fetch.concurrency=0"])
    hosts = "[mirror.example.org, www.legacysurvey.org, wwwmpa.mpa-garching.mpg.de]"
    cfg = load_config(overrides=["fetch.sas_base=https://mirror.example.org/sas", f"fetch.allowed_hosts={hosts}"])
    assert cfg.fetch.urls()["spectra_url"].startswith("https://mirror.example.org/sas/sdss/spectro/redux/26/")


def test_catalog_validation_plain_and_gzip(tree: Path, tmp_path: Path) -> None:
    import gzip

    from agnbench.data_prep.fetch.validate import validate_catalog

    info = tree / "catalog" / "galSpecInfo.fits"
    assert validate_catalog(info, stem="galSpecInfo") is None
    bad = validate_catalog(info, stem="galSpecExtra")
    assert bad is not None and "BPTCLASS" in bad.reason
    packed = tmp_path / "gal_info_dr7_v5_2.fit.gz"
    packed.write_bytes(gzip.compress(info.read_bytes()))
    assert validate_catalog(packed, stem="gal_info") is None
    cut = tmp_path / "cut.fit.gz"
    cut.write_bytes(packed.read_bytes()[: len(packed.read_bytes()) // 2])
    bad = validate_catalog(cut, stem="gal_info")
    assert bad is not None and "truncated" in bad.reason
    half = tmp_path / "half.fits"
    half.write_bytes(info.read_bytes()[:4000])
    bad = validate_catalog(half, stem="galSpecInfo")
    assert bad is not None and "truncated" in bad.reason


def test_cutout_without_coverage_is_missing(tmp_path: Path) -> None:
    import numpy as np

    from agnbench.data_prep.formats.sdss_files import write_cutout

    path = tmp_path / "blank.fits"
    write_cutout(path, np.zeros((3, 32, 32), np.float32), ra=1.0, dec=2.0, pixel_scale=0.262)
    bad = validate_cutout(path, size=32, bands="grz")
    assert bad is not None and bad.missing and "coverage" in bad.reason
    bad = validate_cutout(path, size=64, bands="grz")
    assert bad is not None and not bad.missing and "shape" in bad.reason
