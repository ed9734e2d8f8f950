"""The sandbox's access tokens: real JWTs (PyJWT, HS256) signed with a key of this run."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

import jwt


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    project_id: int
    scope: str | None


class TokenExpired(Exception):
    pass


class TokenInvalid(Exception):
    pass


class TokenIssuer:
    """Signs and checks tokens. A new key for each sandbox run: older tokens are forged."""

    def __init__(self, issuer: str, ttl: int) -> None:
        self.issuer = issuer
        self.ttl = ttl
        self._key = secrets.token_bytes(32)

    def issue(self, claims: TokenClaims, now: float) -> str:
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": claims.client_id,
            "project_id": claims.project_id,
            "iat": math.floor(now),
            # Whole seconds, rounded up: the token lasts at least the ttl it announces.
            "exp": math.ceil(now + self.ttl),
            "jti": secrets.token_hex(8),
        }
        if claims.scope is not None:
            payload["scope"] = claims.scope
        return jwt.encode(payload, self._key, algorithm="HS256")

    def check(self, token: str, now: float) -> TokenClaims:
        """The token's claims; ``TokenExpired`` or ``TokenInvalid`` when it may not be used."""
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=self.issuer,
                # Time is checked below, against the sandbox's clock (tests move it forward).
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "sub", "project_id"],
                },
            )
        except jwt.InvalidTokenError as error:
            raise TokenInvalid(str(error)) from None
        if payload["exp"] <= now:
            raise TokenExpired()
        project_id = payload["project_id"]
        if not isinstance(project_id, int):
            raise TokenInvalid("project_id is not an integer")
        return TokenClaims(str(payload["sub"]), project_id, payload.get("scope"))
