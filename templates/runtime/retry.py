"""What to do with the enrichment endpoint's answer, and how long to wait before a retry."""

from __future__ import annotations

import enum
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from .server_text import clean

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
SLOW_DOWN_STATUSES = frozenset({429, 503})
"""Answers that mean "too much at once": fewer batches in flight after them."""
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    RETRY = "retry"
    RENEW_TOKEN = "renew token"
    SPLIT = "split"  # 400/422: find the items the server refuses
    SPLIT_SMALLER = "split smaller"  # 413: split, and use smaller batches from now on
    FAIL = "fail"


def classify(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict.ACCEPTED
    if status in RETRYABLE_STATUSES:
        return Verdict.RETRY
    if status == 401:
        return Verdict.RENEW_TOKEN
    if status in (400, 422):
        return Verdict.SPLIT
    if status == 413:
        return Verdict.SPLIT_SMALLER
    return Verdict.FAIL


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), if usable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds or seconds == float("inf"):
        return None
    return min(max(0.0, seconds), 24 * 3600.0)


def backoff_delay(
    retry_number: int,
    retry_after: float | None,
    rng: random.Random,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
) -> float:
    """Exponential backoff with full jitter; ``Retry-After`` is a floor."""
    delay = rng.uniform(0.0, min(cap, base * 2.0 ** min(retry_number - 1, 32)))
    return max(delay, retry_after or 0.0)


@dataclass(frozen=True)
class ServerError:
    """The server's explanation of a refusal, when it gave one (already cleaned)."""

    code: str | None
    message: str
    field: str | None = None
    index: int | None = None
    """Position in the batch of the item the server refused, when it says."""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


def parse_error(
    status: int, content: bytes, secrets: Iterable[str] = ()
) -> ServerError:
    """``{success, errorMessage, errorCode, field, index}`` when present, else the text of
    the answer; every piece of text cleaned (see ``server_text``)."""
    secrets = tuple(secrets)
    try:
        answer = json.loads(content)
    except (ValueError, RecursionError):
        answer = None
    if isinstance(answer, dict) and ("errorMessage" in answer or "errorCode" in answer):
        code = answer.get("errorCode")
        field = answer.get("field")
        index = answer.get("index")
        return ServerError(
            clean(code, secrets) or None if isinstance(code, str) else None,
            clean(str(answer.get("errorMessage", "")), secrets),
            clean(field, secrets) or None if isinstance(field, str) else None,
            index if isinstance(index, int) and not isinstance(index, bool) else None,
        )
    text = clean(content.decode("utf-8", "replace"), secrets)
    return ServerError(None, f"HTTP {status}" + (f": {text}" if text else ""))
