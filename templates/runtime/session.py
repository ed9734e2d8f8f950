"""Session identifiers, as the Contentsquare tag gives them in the browser.

The tag's ``afterPageView`` callback receives a ``sessionKey`` of the form
``"<userId>.<sessionNumber>"`` (``session_capture.js`` in this package shows how to capture
it). Store it with your own event, then split it here when you build the enrichment.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import EnrichmentError
from .field_types import INT_MAX

ASCII_SPACES = " \t\n\r\f\v"
"""What is stripped from around a session key (str.strip() would also take Unicode
spaces, which the browser snippet keeps)."""


class InvalidSessionKey(EnrichmentError, ValueError):
    """A session key that is not ``"<userId>.<sessionNumber>"``."""


class SessionKey(NamedTuple):
    user_id: str
    session_number: int


def parse_session_key(session_key: str) -> SessionKey:
    """Split ``"userId.sessionNumber"`` into its user ID and its session number.

    The session number is the part after the last dot: a positive integer written in
    ASCII digits, at most ``INT_MAX`` as ``sessionNumber`` must be. ``InvalidSessionKey``
    (a ``ValueError``) says what is wrong otherwise; its message does not repeat the key.
    """
    if not isinstance(session_key, str):
        raise InvalidSessionKey(
            f"a session key is a string, not {type(session_key).__name__}"
        )
    # ASCII spaces around it go (a key read from a line keeps its newline), and only
    # they, as in session_capture.js: the two accept exactly the same keys.
    user_id, dot, number = session_key.strip(ASCII_SPACES).rpartition(".")
    if not dot:
        raise InvalidSessionKey(
            'a session key is "<userId>.<sessionNumber>": this one has no dot'
        )
    if not user_id:
        raise InvalidSessionKey("the session key has no user ID before its dot")
    significant = number.lstrip("0")  # "007" is 7; a thousand zeros are no number
    if (
        not (number.isascii() and number.isdigit())
        or len(significant) > 10
        or not 1 <= int(significant or "0") <= INT_MAX
    ):
        raise InvalidSessionKey(
            "the session number (after the last dot) is a positive integer of at most "
            f"{INT_MAX} (int32, as sessionNumber)"
        )
    return SessionKey(user_id, int(significant))
