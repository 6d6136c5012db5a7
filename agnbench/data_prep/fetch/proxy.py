"""HTTP(S) proxies from the environment, as curl, pip and ``requests`` read them.

``HTTPS_PROXY`` / ``https_proxy`` for https URLs, ``HTTP_PROXY`` / ``http_proxy`` for http URLs (the
lower-case spelling wins when both are set), and ``NO_PROXY`` / ``no_proxy``: a comma-separated list
of host names (a name also matches its subdomains), ``host:port`` entries, or ``*`` for every host,
contacted directly. An https URL goes through the proxy in a CONNECT tunnel (TLS end to end with the
archive, certificates checked as without a proxy); an http URL is sent to the proxy in absolute form.
``user:password@`` in the proxy URL becomes a ``Proxy-Authorization: Basic`` header. The proxy itself
must be reached over plain http (``http://host:port``, the usual form); the allow-list
``fetch.allowed_hosts`` applies to the archive hosts, not to the proxy.
"""

from __future__ import annotations

import base64
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from agnbench.errors import AgnbenchError


@dataclass(frozen=True)
class Proxy:
    """Where to send requests for one scheme: ``host``, ``port`` and extra proxy ``headers``."""

    host: str
    port: int
    headers: dict[str, str] = field(default_factory=dict, compare=False)
    url: str = ""  # as given, without the password (for logs)


class Proxies:
    """The proxy settings of the environment at construction time.

    Parameters
    ----------
    environ : dict, optional
        Mapping of scheme -> proxy URL and ``no`` -> bypass list, as
        :func:`urllib.request.getproxies_environment` returns; default: read the environment.

    Raises
    ------
    AgnbenchError
        A proxy URL that is not ``http://host[:port]``.
    """

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._env = dict(urllib.request.getproxies_environment() if environ is None else environ)
        self._by_scheme: dict[str, Proxy] = {}
        for scheme in ("http", "https"):
            url = self._env.get(scheme, "").strip()
            if url:
                self._by_scheme[scheme] = _parse(url, scheme)

    def for_url(self, scheme: str, host: str, port: int | None) -> Proxy | None:
        """The proxy for a request to ``scheme://host:port``, or None to connect directly."""
        proxy = self._by_scheme.get(scheme)
        if proxy is None:
            return None
        target = f"{host}:{port}" if port is not None else host
        if urllib.request.proxy_bypass_environment(target, self._env):
            return None
        return proxy


def _parse(url: str, scheme: str) -> Proxy:
    var = f"{scheme.upper()}_PROXY"
    if "://" not in url:
        url = f"http://{url}"  # "proxy:3128" is accepted by curl and pip
    parts = urlsplit(url)
    try:
        port = parts.port or 80
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise AgnbenchError(f"{var}={_shown(url)}: a proxy must be given as http://host:port (a proxy reached over "
                            "TLS or SOCKS is not supported); fix or unset it, or list the archive hosts in NO_PROXY")
    headers = {}
    if parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
    return Proxy(parts.hostname, port, headers, _shown(url))


def _shown(url: str) -> str:
    """``url`` without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
