"""Session identifiers, as the Contentsquare tag gives them in the browser.

The tag's ``afterPageView`` callback receives a ``sessionKey`` of the form
``"<userId>.<sessionNumber>"`` (``session_capture.js`` in this package shows how to capture
it). Store it with your own event, then split it here when you build the enrichment.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import EnrichmentError


class InvalidSessionKey(EnrichmentError, ValueError):
    """A session key that is not ``"<userId>.<sessionNumber>"``."""


class SessionKey(NamedTuple):
    user_id: str
    session_number: int


def parse_session_key(session_key: str) -> SessionKey:
    """Split ``"userId.sessionNumber"`` into its user ID and its session number.

    The session number is the part after the last dot: a positive integer written in
    digits. ``InvalidSessionKey`` (a ``ValueError``) says what is wrong otherwise; its
    message does not repeat the key.
    """
    if not isinstance(session_key, str):
        raise InvalidSessionKey(
            f"a session key is a string, not {type(session_key).__name__}"
        )
    user_id, dot, number = session_key.strip().rpartition(".")
    if not dot:
        raise InvalidSessionKey(
            'a session key is "<userId>.<sessionNumber>": this one has no dot'
        )
    if not user_id:
        raise InvalidSessionKey("the session key has no user ID before its dot")
    if (
        not (number.isascii() and number.isdigit())
        or len(number) > 15
        or int(number) < 1
    ):
        raise InvalidSessionKey(
            "the session number (after the last dot) is a positive integer"
        )
    return SessionKey(user_id, int(number))
