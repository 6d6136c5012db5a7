"""Config section ``fetch``: where ``agnbench fetch`` downloads from, and how politely.

URLs are Python format templates, so a mirror only changes ``sas_base``/``legacy_base`` (or a whole
template). Placeholders: ``{sas_base}``, ``{legacy_base}``, ``{mpa_base}``, ``{name}`` (catalog file),
``{run2d}``, ``{plate}``, ``{mjd}``, ``{fiber}`` (spectra), ``{ra}``, ``{dec}`` (deg), ``{layer}``,
``{pixscale}`` (arcsec/pixel), ``{size}`` (pixels), ``{bands}`` (cutouts). Every URL's host must be in
``allowed_hosts`` (checked here for the templates the ``release`` uses, and again for every request
and redirect).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from agnbench.config.choices import FETCH_RELEASES, FETCH_VERIFY
from agnbench.config.rules import alternatives, check_rules

#: Values used to check that every template formats (and to estimate plans).
_SAMPLE = MappingProxyType({"name": "galSpecInfo-dr8.fits", "run2d": "26", "plate": 266, "mjd": 51630, "fiber": 168,
                            "ra": 146.714, "dec": -1.041, "layer": "ls-dr10", "pixscale": 0.262, "size": 160,
                            "bands": "grz"})


@dataclass(frozen=True)
class FetchMaxBytes:
    """Largest download accepted per kind of file, in bytes (``fetch.max_bytes.<kind>``).

    A file whose Content-Length says more, or whose body grows past the limit while streaming (a
    server that sends no length or lies), is cut off, deleted and recorded as failed. The defaults
    leave wide headroom over the real files: an SDSS-I/II spec-lite file is ~175 kB, a BOSS one
    ~220 kB and a full spec file with every exposure 1-2 MB (``spectrum``: 20 MB); the largest MPA-JHU
    tables (DR8 galSpecLine/galSpecIndx) are of order 1 GB and the DR7 ``gal_*.fit.gz`` files hundreds
    of MB (``catalog``: 8 GB); a FITS cutout is 4 bytes x bands x size^2 + 5,760 header bytes, 3.1 MB at the
    largest allowed size (512 pixels, 3 bands; ``cutout``: 32 MB); a colour JPEG is tens of kB
    (``jpeg``: 8 MB).
    """

    catalog: int = 8_000_000_000
    spectrum: int = 20_000_000
    cutout: int = 32_000_000
    jpeg: int = 8_000_000

    def validate(self) -> None:
        """Every limit is a positive number of bytes."""
        check_rules("fetch.max_bytes", self, [(k, getattr(self, k) > 0, "must be > 0 bytes")
                                              for k in ("catalog", "spectrum", "cutout", "jpeg")])


@dataclass(frozen=True)
class FetchConfig:
    """Downloads of real survey files (``agnbench fetch catalog|spectra|images``).

    Catalogs: the MPA-JHU DR8 ``galSpec*`` files from the SDSS Science Archive Server (``release:
    dr8``), or the DR7 ``gal_*`` files from MPA Garching (``dr7``). Spectra: SDSS spec-lite files by
    run2d/plate/mjd/fiber (``boss_spectra_url`` for BOSS ``v5_*`` reductions). Images: Legacy Survey
    viewer FITS cutouts (``layer``, ``pixscale`` arcsec/pixel, ``size`` pixels, ``bands``) and, with
    ``--jpeg``, colour JPEGs (``jpeg_layer: sdss`` gives SDSS gri at 0.396 arcsec/pixel, the JPEG
    source of ``agnbench prep``). Politeness: ``concurrency`` connections, each waiting ``delay_s``
    seconds between requests; retries with exponential backoff (``backoff_s`` doubling up to
    ``max_backoff_s``, jittered) on timeouts, dropped connections, 5xx and 429 (Retry-After honoured
    up to ``max_backoff_s``; a longer one fails the item for a later run). ``verify: sha256`` re-hashes
    finished files before skipping them; ``size`` trusts the size recorded in the manifest.

    Limits against a hostile or broken server (an allowed host or mirror): ``max_bytes.<kind>`` caps
    each file's size (see :class:`FetchMaxBytes`); every attempt at a file must finish within
    ``max(file_deadline_s, bytes / min_bytes_per_s)`` seconds, ``bytes`` being the Content-Length, or
    ``max_bytes.<kind>`` when the server sends none (so a 1-byte-per-second drip is cut, not waited
    for: ``timeout_s`` only bounds each single read); a gzip file (DR7 catalogs) may decompress to at
    most ``max_gunzip_ratio`` x max(its size, 1 MiB) bytes, checked while streaming (a gzip bomb is
    refused after reading a bounded amount). Proxies: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (or
    lower case) from the environment are honoured, as curl and pip do.
    """

    release: str = "dr8"  # choices.FETCH_RELEASES: dr8 (SAS galSpec*) | dr7 (MPA Garching gal_*)
    sas_base: str = "https://data.sdss.org/sas/dr17"
    legacy_base: str = "https://www.legacysurvey.org"
    mpa_base: str = "https://wwwmpa.mpa-garching.mpg.de/SDSS/DR7/Data"
    catalog_url: str = "{sas_base}/sdss/spectro/redux/{name}"
    catalog_files: tuple[str, ...] = ("galSpecInfo-dr8.fits", "galSpecExtra-dr8.fits", "galSpecLine-dr8.fits",
                                      "galSpecIndx-dr8.fits")
    dr7_catalog_url: str = "{mpa_base}/{name}"
    dr7_catalog_files: tuple[str, ...] = ("gal_info_dr7_v5_2.fit.gz", "gal_line_dr7_v5_2.fit.gz",
                                          "gal_indx_dr7_v5_2.fit.gz")
    spectra_url: str = ("{sas_base}/sdss/spectro/redux/{run2d}/spectra/lite/{plate:04d}/"
                        "spec-{plate:04d}-{mjd:05d}-{fiber:04d}.fits")
    boss_spectra_url: str = ("{sas_base}/eboss/spectro/redux/{run2d}/spectra/lite/{plate:04d}/"
                             "spec-{plate:04d}-{mjd:05d}-{fiber:04d}.fits")
    run2d: str = "26"  # when the catalog's specObjID does not encode it (SDSS-I/II plates: 26)
    cutout_url: str = ("{legacy_base}/viewer/fits-cutout?ra={ra:.6f}&dec={dec:.6f}&layer={layer}"
                       "&pixscale={pixscale}&size={size}&bands={bands}")
    layer: str = "ls-dr10"
    pixscale: float = 0.262  # arcsec / pixel
    size: int = 160  # cutout side, pixels
    bands: str = "grz"
    jpeg_url: str = ("{legacy_base}/viewer/jpeg-cutout?ra={ra:.6f}&dec={dec:.6f}&layer={layer}"
                     "&pixscale={pixscale}&size={size}")
    jpeg_layer: str = "sdss"  # SDSS gri colour images
    jpeg_pixscale: float = 0.396  # arcsec / pixel (SDSS)
    jpeg_size: int = 106  # pixels: the same 42 arcsec field as the FITS cutouts
    allowed_hosts: tuple[str, ...] = ("data.sdss.org", "www.legacysurvey.org", "wwwmpa.mpa-garching.mpg.de")
    https_only: bool = True
    concurrency: int = 4  # simultaneous connections
    delay_s: float = 0.05  # pause of each connection between requests
    timeout_s: float = 60.0  # per connect / read
    retries: int = 5  # further attempts after the first
    backoff_s: float = 1.0  # first retry wait; doubles per attempt
    max_backoff_s: float = 60.0
    limit: int = 0  # objects for spectra/images; 0 = every object passing prep's quality cuts
    stratify: bool = True  # --limit: equal numbers per label (composites count as one), seeded
    verify: str = "sha256"  # choices.FETCH_VERIFY: how a finished file is checked before it is skipped
    max_bytes: FetchMaxBytes = field(default_factory=FetchMaxBytes)  # per kind of file
    file_deadline_s: float = 60.0  # least time allowed for one file (see min_bytes_per_s)
    min_bytes_per_s: float = 50_000.0  # a file of N bytes gets max(file_deadline_s, N / this) seconds; 0 = no scaling
    max_gunzip_ratio: float = 50.0  # a .gz may decompress to at most this x max(its size, 1 MiB)
    user_agent: str = "agnbench-fetch"

    def urls(self) -> dict[str, str]:
        """Every URL template formatted with sample values (used for checks and messages)."""
        bases = {"sas_base": self.sas_base, "legacy_base": self.legacy_base, "mpa_base": self.mpa_base}
        out = {}
        for key in ("catalog_url", "dr7_catalog_url", "spectra_url", "boss_spectra_url", "cutout_url", "jpeg_url"):
            try:
                out[key] = getattr(self, key).format(**bases, **_SAMPLE)
            except (KeyError, IndexError, ValueError) as exc:
                out[key] = f"<unformattable: {type(exc).__name__}: {exc}>"
        return out

    def validate(self) -> None:
        """Check ranges, templates and hosts; raise :class:`~agnbench.errors.ConfigError` naming the key."""
        urls = self.urls()
        rules = [
            ("release", self.release in FETCH_RELEASES, f"must be {alternatives(FETCH_RELEASES, quote=True)}"),
            ("catalog_files", len(self.catalog_files) > 0, "must list at least galSpecInfo"),
            ("dr7_catalog_files", len(self.dr7_catalog_files) > 0, "must list at least gal_info"),
            ("run2d", self.run2d.strip() != "", "must be a reduction name such as 26, 103, 104 or v5_13_2"),
            ("pixscale", 0 < self.pixscale <= 10, "must be in (0, 10] arcsec/pixel"),
            ("size", 16 <= self.size <= 512, "must be 16..512 pixels (the viewer's limit is 512)"),
            ("bands", bool(self.bands) and self.bands.isalpha(), "must be band letters such as grz"),
            ("jpeg_pixscale", 0 < self.jpeg_pixscale <= 10, "must be in (0, 10] arcsec/pixel"),
            ("jpeg_size", 16 <= self.jpeg_size <= 512, "must be 16..512 pixels"),
            ("allowed_hosts", len(self.allowed_hosts) > 0 and all(h.strip() for h in self.allowed_hosts),
             "must list the host names that may be contacted"),
            ("concurrency", 1 <= self.concurrency <= 32, "must be 1..32 (a few connections is polite)"),
            ("delay_s", 0 <= self.delay_s <= 60, "must be in [0, 60] seconds"),
            ("timeout_s", 0 < self.timeout_s <= 3600, "must be in (0, 3600] seconds"),
            ("retries", 0 <= self.retries <= 20, "must be 0..20"),
            ("backoff_s", 0 <= self.backoff_s <= self.max_backoff_s, "must be in [0, max_backoff_s]"),
            ("max_backoff_s", 0 <= self.max_backoff_s <= 3600, "must be in [0, 3600] seconds"),
            ("limit", self.limit >= 0, "must be >= 0 (0 = all objects)"),
            ("file_deadline_s", 0 < self.file_deadline_s <= 7 * 86400, "must be in (0, 604800] seconds"),
            ("min_bytes_per_s", self.min_bytes_per_s >= 0, "must be >= 0 bytes/s (0 = a fixed file_deadline_s)"),
            ("max_gunzip_ratio", self.max_gunzip_ratio >= 1, "must be >= 1 (decompressed / compressed size)"),
            ("verify", self.verify in FETCH_VERIFY, f"must be {alternatives(FETCH_VERIFY, quote=True)}"),
            ("user_agent", self.user_agent.strip() != "", "must not be empty"),
        ]
        unused = "dr7_catalog_url" if self.release == "dr8" else "catalog_url"
        for key, url in urls.items():
            rules.append((key, *self._url_rule(url)) if key != unused else (key, True, ""))
        check_rules("fetch", self, rules)

    def _url_rule(self, url: str) -> tuple[bool, str]:
        if url.startswith("<unformattable"):
            return False, f"is not a valid template ({url[1:-1]}); placeholders are listed in the fetch docs"
        parts = urlsplit(url)
        schemes = ("https",) if self.https_only else ("https", "http")
        if parts.scheme not in schemes:
            return False, (f"gives {url!r}: scheme must be {' or '.join(schemes)}"
                           + (" (set fetch.https_only=false for a plain-http mirror)" if self.https_only else ""))
        if not host_allowed(parts.hostname or "", parts.port, self.allowed_hosts):
            return False, f"gives {url!r} whose host is not in fetch.allowed_hosts {list(self.allowed_hosts)}"
        return True, ""


def host_allowed(host: str, port: int | None, allowed: tuple[str, ...]) -> bool:
    """Whether ``host`` (and ``port``) matches an ``allowed_hosts`` entry (``name`` or ``name:port``).

    Parameters
    ----------
    host : str
        Host name of a URL (case-insensitive).
    port : int or None
        Explicit port of the URL, if any.
    allowed : tuple of str
        Entries ``name`` (any port) or ``name:port`` (that port only).
    """
    host = host.lower().rstrip(".")
    for entry in allowed:
        name, sep, want = entry.strip().lower().rpartition(":")
        if not sep or not want.isdigit():
            name, want = entry.strip().lower(), ""
        if name.rstrip(".") == host and (not want or (port is not None and int(want) == port)):
            return True
    return False
