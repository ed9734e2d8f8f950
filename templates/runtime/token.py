"""The OAuth token: what to ask for, how to read the answer, and when to renew (no I/O here)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import AuthenticationError, EnrichmentError
from .retry import parse_retry_after
from .server_text import clean

DEFAULT_AUTH_URL = "https://api.contentsquare.com/v1/oauth/token"
DEFAULT_EXPIRES_IN = 3600.0
MIN_RENEWAL_MARGIN = 60.0
# A bearer token goes into a header: visible ASCII only (RFC 6750's b64token and a bit more).
_PRINTABLE_TOKEN = re.compile(r"[\x21-\x7e]+")
RENEWAL_FRACTION = 0.1


@dataclass(frozen=True)
class Token:
    """An access token and the endpoint it is for. Its value never appears in a repr."""

    access_token: str = field(repr=False)
    endpoint: str
    lifetime: float
    obtained_at: float  # monotonic seconds

    @property
    def expires_at(self) -> float:
        return self.obtained_at + self.lifetime

    def needs_renewal(self, now: float) -> bool:
        """True when less than max(60 s, 10 % of its lifetime) remains.

        The margin is at most half the lifetime, so that a token shorter than two minutes
        (the sandbox can issue those) is used for a while rather than renewed at every request.
        """
        margin = max(MIN_RENEWAL_MARGIN, RENEWAL_FRACTION * self.lifetime)
        return now >= self.expires_at - min(margin, self.lifetime / 2)


def token_request_body(
    client_id: str, client_secret: str, scope: str | None, project_id: int
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "client_credentials",
        "project_id": project_id,
    }
    if scope is not None:
        body["scope"] = scope
    return body


class TokenUnavailable(EnrichmentError):
    """No token for now: the token endpoint could not be reached, or answered 408, 429 or
    5xx. The batch that needed it is retried like any batch without an answer; a direct
    call of ``token()`` raises it."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _server_reason(content: bytes, secrets: tuple[str, ...]) -> str:
    try:
        answer = json.loads(content)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(answer, dict):
        return ""
    parts = [
        clean(answer[key], secrets)
        for key in ("error", "error_description", "errorCode", "errorMessage")
        if isinstance(answer.get(key), str)
    ]
    text = clean(": ".join(part for part in parts if part))
    return f" ({text})" if text else ""


def _has_oauth_error(content: bytes) -> bool:
    try:
        answer = json.loads(content)
    except (ValueError, RecursionError):
        return False
    return isinstance(answer, dict) and any(
        key in answer for key in ("error", "errorCode", "errorMessage")
    )


def read_token_answer(
    status: int,
    content: bytes,
    retry_after: str | None,
    now: float,
    *,
    auth_url: str,
    client_id: str,
    project_id: int,
    secrets: tuple[str, ...],
) -> Token:
    """A ``Token`` from the token endpoint's answer.

    Raises ``TokenUnavailable`` for an answer worth retrying (408, 429, 5xx) and
    ``AuthenticationError`` when the credentials are refused (400, 401 or 403 with an OAuth
    error) or when ``auth_url`` does not look like a token endpoint (any other status, an
    answer that is not a token).
    """
    if status in (408, 429) or status >= 500:
        raise TokenUnavailable(
            f"the token endpoint {auth_url} answered HTTP {status}",
            parse_retry_after(retry_after),
        )
    if status in (400, 401, 403) and _has_oauth_error(content):
        hint = {
            400: "check the client_id, the scope and the project_id",
            401: "check client_id and client_secret (credentials may have expired)",
            403: f"check that these credentials give access to project {project_id} "
            "and the scope",
        }[status]
        raise AuthenticationError(
            f"the token endpoint refused client_id {clean(client_id)!r} for project "
            f"{project_id} with HTTP {status}{_server_reason(content, secrets)}: {hint}"
        )
    looks_wrong = f"auth_url {auth_url} does not look like the token endpoint"
    if not 200 <= status < 300:
        raise AuthenticationError(
            f"{looks_wrong}: it answered HTTP {status}{_server_reason(content, secrets)}"
        )
    try:
        answer = json.loads(content)
    except (ValueError, RecursionError):
        raise AuthenticationError(f"{looks_wrong}: its answer is not JSON") from None
    if not isinstance(answer, dict):
        raise AuthenticationError(f"{looks_wrong}: its answer is not a JSON object")
    access_token = answer.get("access_token")
    endpoint = answer.get("endpoint")
    if not isinstance(access_token, str) or not _PRINTABLE_TOKEN.fullmatch(
        access_token
    ):
        raise AuthenticationError(
            f"{looks_wrong}: its answer has no access_token of printable ASCII"
        )
    if not isinstance(endpoint, str) or not endpoint:
        raise AuthenticationError(f"{looks_wrong}: its answer has no endpoint")
    lifetime = _lifetime(answer.get("expires_in", DEFAULT_EXPIRES_IN))
    return Token(access_token, endpoint, lifetime, now)


def _lifetime(expires_in: object) -> float:
    """``expires_in`` in seconds, or the default when it is not a usable number."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        return DEFAULT_EXPIRES_IN
    try:
        seconds = float(expires_in)
    except (
        OverflowError
    ):  # an integer past any float (Python parses up to 4,300 digits)
        return DEFAULT_EXPIRES_IN
    return seconds if math.isfinite(seconds) and seconds > 0 else DEFAULT_EXPIRES_IN
