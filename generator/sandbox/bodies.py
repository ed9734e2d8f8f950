"""Reading a request body with a cap and a deadline, before anything is buffered.

Without them a 400 MB POST was held whole in memory before the size check, and a body sent a
byte at a time kept a request open for ever.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

MAX_BODY_BYTES = 10_000_000
"""The largest enrichment request body read; a larger one is refused (413) unread."""
MAX_TOKEN_BODY_BYTES = 65_536
"""The largest token request body read: a few credentials need far less."""


@dataclass(frozen=True)
class BodyProblem:
    """Why a request body was not read whole: too large (413), too slow (408), or cut (400)."""

    status: int
    message: str


async def read_body(
    request: Request, limit: int, timeout: float
) -> bytes | BodyProblem:
    """The request body, read at most ``limit`` bytes and ``timeout`` seconds: a larger
    declared size is refused before a byte is read, a larger body as soon as it passes the
    limit, so that memory never holds more than ``limit`` bytes of it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return BodyProblem(413, f"the body is more than {limit} bytes")
    try:
        return await asyncio.wait_for(_read_at_most(request, limit), timeout)
    except asyncio.TimeoutError:
        return BodyProblem(408, f"the body did not arrive whole within {timeout:g} s")
    except ClientDisconnect:
        return BodyProblem(400, "the connection was closed before the end of the body")


async def _read_at_most(request: Request, limit: int) -> bytes | BodyProblem:
    chunks, size = [], 0
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                return BodyProblem(413, f"the body is more than {limit} bytes")
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
