"""Fault injection for testing clients: every random choice comes from one seeded generator."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MIN_RATE_LIMIT = 0.001
"""The lowest ``rate_limit``, one request every 1,000 s: lower, a client would be told to
wait for hours."""


@dataclass(frozen=True)
class FaultSettings:
    """What can go wrong on ``POST /v1/enrichments`` (the token endpoint always answers)."""

    fail_rate: float = 0.0
    """Share of requests answered 500, 502 or 503 before anything is stored."""
    rate_limit: float | None = None
    """Requests per second; beyond it, 429 with ``Retry-After``. Below 1, one request every
    ``1 / rate_limit`` seconds."""
    latency: float = 0.0
    """Seconds added before each request is handled."""
    drop_rate: float = 0.0
    """Share of requests whose connection is closed without an answer, after the batch was
    stored (the doubtful case: the client cannot know it arrived)."""
    max_batch_size: int | None = None
    """Items per request; beyond it, 413."""
    seed: int | None = None

    def problems(self) -> list[str]:
        problems = []
        for name in ("fail_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(
                    f"--{name.replace('_', '-')} is a share between 0 and 1"
                )
        if self.rate_limit is not None and not self.rate_limit >= MIN_RATE_LIMIT:
            problems.append(
                f"--rate-limit is a number of requests per second, {MIN_RATE_LIMIT:g} "
                f"(one every {1 / MIN_RATE_LIMIT:g} s) or more"
            )
        if not self.latency >= 0 or not math.isfinite(self.latency):
            problems.append("--latency is a number of seconds, 0 or more")
        if self.max_batch_size is not None and self.max_batch_size < 1:
            problems.append("--max-batch-size is 1 or more")
        return problems


class Faults:
    """Decides, request by request, which fault to inject."""

    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._window = -1
        self._in_window = 0

    def server_error(self) -> int | None:
        """A 5xx status to answer instead of handling the request, or None."""
        if self.settings.fail_rate and self._rng.random() < self.settings.fail_rate:
            return self._rng.choice((500, 502, 503))
        return None

    def retry_after(self, now: float) -> int | None:
        """Seconds to wait when this request is over the rate limit, else None.

        Fixed windows of one second, at most ``rate_limit`` requests in each; below one
        request a second, windows of ``1 / rate_limit`` seconds with one request in each (0.5
        is one request every 2 s, where a window of one second would allow none).
        """
        limit = self.settings.rate_limit
        if limit is None:
            return None
        length = max(1.0, 1 / limit)
        window = math.floor(now / length)
        if window != self._window:
            self._window, self._in_window = window, 0
        self._in_window += 1
        if self._in_window <= max(1.0, limit):
            return None
        return max(1, math.ceil((window + 1) * length - now))

    def too_large(self, items: int) -> bool:
        limit = self.settings.max_batch_size
        return limit is not None and items > limit

    def drop(self) -> bool:
        return (
            bool(self.settings.drop_rate)
            and self._rng.random() < self.settings.drop_rate
        )
