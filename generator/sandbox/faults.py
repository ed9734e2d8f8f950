"""Fault injection for testing clients: every random choice comes from one seeded generator."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultSettings:
    """What can go wrong on ``POST /v1/enrichments`` (the token endpoint always answers)."""

    fail_rate: float = 0.0
    """Share of requests answered 500, 502 or 503 before anything is stored."""
    rate_limit: float | None = None
    """Requests per second; beyond it, 429 with ``Retry-After``."""
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
        if self.rate_limit is not None and not self.rate_limit > 0:
            problems.append("--rate-limit is a number of requests per second above 0")
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

        A fixed window of one second: at most ``rate_limit`` requests per whole second.
        """
        limit = self.settings.rate_limit
        if limit is None:
            return None
        window = math.floor(now)
        if window != self._window:
            self._window, self._in_window = window, 0
        self._in_window += 1
        if self._in_window <= limit:
            return None
        return max(1, math.ceil(window + 1 - now))

    def too_large(self, items: int) -> bool:
        limit = self.settings.max_batch_size
        return limit is not None and items > limit

    def drop(self) -> bool:
        return (
            bool(self.settings.drop_rate)
            and self._rng.random() < self.settings.drop_rate
        )
