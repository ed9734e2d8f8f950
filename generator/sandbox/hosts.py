"""Which hosts the sandbox listens on and answers for: loopback only.

Listening on loopback keeps other machines out; checking the ``Host`` header keeps out a web
page that reaches the sandbox through a name it controls (DNS rebinding): the browser then
sends that name, not a loopback one.
"""

from __future__ import annotations

import ipaddress
import re

# A name or an IP literal, then an optional port: anything else (spaces, tabs, user info,
# several hosts) is refused before it is parsed.
_HOST_HEADER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(?::([0-9]{1,5}))?")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and for IP addresses of the loopback network."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_header_problem(value: str | None, port: int) -> str | None:
    """Why a request's ``Host`` header is not one the sandbox answers for, or None.

    Accepted: ``localhost`` or a loopback address, with the port the sandbox listens on
    (no port means 80, as in HTTP).
    """
    if value is None:
        return "the request has no Host header, or several"
    match = _HOST_HEADER.fullmatch(value)
    if match is None:
        return "the Host header is not a host name with an optional port"
    host, given_port = match.group(1), match.group(2)
    if not is_loopback(host.removeprefix("[").removesuffix("]")):
        return (
            "the sandbox answers only for localhost and loopback addresses, "
            "not for another host name"
        )
    if int(given_port or 80) != port:
        return f"the sandbox listens on port {port}"
    return None
