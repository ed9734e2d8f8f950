"""Text that comes from a server, made safe to show: in a reason, a log line or an exception.

A server may echo what it was sent (the token, the client secret) or send escape sequences and
line breaks that forge log lines. Every piece of server text goes through ``clean`` first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

MAX_SERVER_TEXT = 200
"""Characters of server text kept (the rest is cut, with an ellipsis)."""
REDACTED = "[redacted]"
MIN_SECRET_CHARS = 6
"""Shorter values are not looked for (a one-letter test token would garble every text)."""


def clean(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` on one short line: control and format characters (escape sequences, line
    breaks, bidirectional overrides) dropped, spaces folded, then each secret replaced.

    Secrets go last: a character dropped from inside an echoed secret (a zero-width space,
    an escape) would otherwise put it back together after it was looked for.
    """
    folded = _one_line(text)
    for secret in secrets:
        # A value this short is no secret worth the name, and replacing it everywhere would
        # only garble the text.
        for form in {secret, _one_line(secret)}:
            if len(form) >= MIN_SECRET_CHARS:
                folded = folded.replace(form, REDACTED)
    if len(folded) > MAX_SERVER_TEXT:
        folded = folded[: MAX_SERVER_TEXT - 1] + "…"
    return folded


def _one_line(text: str) -> str:
    printable = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace()
        or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    return " ".join(printable.split())
