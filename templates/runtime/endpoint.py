"""Where credentials and tokens may be sent, and the enrichment URL built from the endpoint."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit, urlunsplit

import httpx

from .errors import UnsafeEndpointError

TRUSTED_DOMAIN = "contentsquare.com"
ENRICHMENTS_PATH = "/v1/enrichments"


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(url: str, what: str) -> tuple[str, str]:
    # urlsplit silently drops tabs and line breaks that httpx then refuses: refuse them
    # here, where the message can say so.
    if not url.isascii() or not url.isprintable() or " " in url:
        raise UnsafeEndpointError(
            f"the {what} must be printable ASCII with no spaces or control characters"
        )
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise UnsafeEndpointError(f"the {what} is not a valid URL") from None
    if parts.username is not None or parts.password is not None:
        raise UnsafeEndpointError(f"the {what} must not carry credentials in the URL")
    if not host:
        raise UnsafeEndpointError(f"the {what} has no host")
    try:
        # The host as httpx decodes it (a request does) and as the socket layer encodes
        # it to look it up: a broken A-label ("xn--x-") fails the one, an empty label
        # ("api..example.com") the other, with a UnicodeError no caller expects.
        httpx.URL(url).host  # noqa: B018
        host.encode("idna")
    except (httpx.InvalidURL, UnicodeError):
        raise UnsafeEndpointError(
            f"the {what} host {_shown(host)} is not a valid host name"
        ) from None
    return parts.scheme.lower(), host


def check_url(
    url: str,
    *,
    what: str,
    allowed_hosts: Collection[str] | None,
    loopback_http_allowed: bool,
) -> None:
    """Raise ``UnsafeEndpointError`` unless ``url`` may receive a secret or a token.

    ``https`` to contentsquare.com or one of its subdomains, or to a host named in
    ``allowed_hosts``; plain ``http`` only to a loopback host, and only when the client talks
    to a local sandbox (``loopback_http_allowed``).
    """
    scheme, host = _host_of(url, what)
    if scheme == "http" and loopback_http_allowed and is_loopback_host(host):
        return
    if scheme != "https":
        raise UnsafeEndpointError(
            f"the {what} must use https (host {_shown(host)}); plain http is only accepted "
            "for a loopback sandbox"
        )
    allowed = {name.rstrip(".").lower() for name in allowed_hosts or ()}
    if host in allowed:
        return
    if host == TRUSTED_DOMAIN or host.endswith("." + TRUSTED_DOMAIN):
        return
    raise UnsafeEndpointError(
        f"the {what} host {_shown(host)} is not {TRUSTED_DOMAIN} or one of its subdomains; "
        "name it in allowed_hosts if you trust it"
    )


def _shown(host: str) -> str:
    """``host`` quoted for a message, cut: a token answer may hold any text there."""
    return repr(host if len(host) <= 80 else host[:79] + "…")


def auth_url_is_loopback_http(auth_url: str) -> bool:
    scheme, host = _host_of(auth_url, "auth_url")
    return scheme == "http" and is_loopback_host(host)


def enrichments_url(endpoint: str) -> str:
    """``endpoint`` with its path's trailing ``/`` removed and ``/v1/enrichments`` added
    unless already there: before any query, and without a fragment (never sent)."""
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    if not path.endswith(ENRICHMENTS_PATH):
        path += ENRICHMENTS_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
