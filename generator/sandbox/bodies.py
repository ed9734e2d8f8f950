"""Reading a request body with a cap and a deadline, before anything is buffered, within a
budget for all the bodies read at once.

Without them a 400 MB POST was held whole in memory before the size check, and a body sent a
byte at a time kept a request open for ever. Without the budget, 60 clients each holding a
body of 9.99 MB open, one byte short, took the sandbox from 56 MB to 646 MB (512 connections
could have taken it past 5 GB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

MAX_BODY_BYTES = 10_000_000
"""The largest enrichment request body read; a larger one is refused (413) unread."""
MAX_TOKEN_BODY_BYTES = 65_536
"""The largest token request body read: a few credentials need far less."""
MAX_BODY_BYTES_AT_ONCE = 64_000_000
"""The bytes of the bodies being read at once, all requests together; beyond it 503 with
``Retry-After``, which clients retry. Six of the largest bodies fit, or four times what a
generated client sends at once by default (16 requests in flight of at most 1,000,000 bytes);
a body alone always fits, so nothing within ``MAX_BODY_BYTES`` is refused for its size."""


class BodyBudget:
    """The bytes of the request bodies being read, all requests together: at most
    ``total``."""

    def __init__(self, total: int = MAX_BODY_BYTES_AT_ONCE) -> None:
        self.total = total
        self.held = 0

    def take(self, size: int) -> bool:
        """Whether ``size`` more bytes may be held; if so they are counted."""
        if self.held + size > self.total:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held -= size


@dataclass(frozen=True)
class BodyProblem:
    """Why a request body was not read whole: too large (413), too slow (408), or cut (400)."""

    status: int
    message: str


BUSY = BodyProblem(
    503, "the sandbox is reading too many request bodies at once: try again in a moment"
)


async def read_body(
    request: Request, limit: int, timeout: float, budget: BodyBudget
) -> bytes | BodyProblem:
    """The request body, read at most ``limit`` bytes and ``timeout`` seconds: a larger
    declared size is refused before a byte is read, a larger body as soon as it passes the
    limit, so that memory never holds more than ``limit`` bytes of it.

    The body counts against ``budget`` for its declared size before a byte is read (a body
    with no declared size, as it arrives) until it is returned: ``BUSY`` when it does not
    fit. The handlers parse and drop the body without waiting for anything, so that no other
    request runs while it is held uncounted."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return BodyProblem(413, f"the body is more than {limit} bytes")
    held = 0

    def hold(size: int) -> bool:
        nonlocal held
        if size > held:
            if not budget.take(size - held):
                return False
            held = size
        return True

    try:
        if declared.isdigit() and not hold(int(declared)):
            return BUSY
        return await asyncio.wait_for(_read_at_most(request, limit, hold), timeout)
    except asyncio.TimeoutError:
        return BodyProblem(408, f"the body did not arrive whole within {timeout:g} s")
    except ClientDisconnect:
        return BodyProblem(400, "the connection was closed before the end of the body")
    finally:
        budget.give_back(held)


async def _read_at_most(
    request: Request, limit: int, hold: Callable[[int], bool]
) -> bytes | BodyProblem:
    chunks, size = [], 0
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                return BodyProblem(413, f"the body is more than {limit} bytes")
            if not hold(size):
                return BUSY
            chunks.append(chunk)
    return b"".join(chunks)


def body_limit(path: str) -> int:
    """The largest body read on ``path`` (none on the pages that take no body)."""
    if path == "/v1/enrichments":
        return MAX_BODY_BYTES
    if path == "/v1/oauth/token":
        return MAX_TOKEN_BODY_BYTES
    return 0


def must_close(headers: list[tuple[bytes, bytes]], limit: int) -> bool:
    """Whether a connection must close after answering a request whose body was not read
    whole: uvicorn reads and throws away the rest to reuse the connection, which is fine
    for a body within ``limit`` and not for a larger or an endless (chunked) one."""
    lengths = [value for name, value in headers if name == b"content-length"]
    chunked = any(name == b"transfer-encoding" for name, _ in headers)
    return chunked or (bool(lengths) and int(lengths[0]) > limit)
