"""An absolute deadline on every socket operation of an attempt, headers included.

httpx bounds each read and write by ``timeout``, not the request as a whole: a server that
sends its answer's headers a byte at a time, each byte within ``timeout``, would hold the
request (and a worker thread, or the token lock) for as long as it likes. The connection
pools of the clients therefore reach the network through ``_BoundedBackend`` (and its
asyncio twin), whose connections give each operation no more time than is left before the
deadline of the attempt in progress, set with ``ending_by``; an operation started after it
fails at once with httpcore's timeout (httpx's ``ConnectTimeout``, ``ReadTimeout`` or
``WriteTimeout``). Not bounded by it: a sync connection's name lookup (``getaddrinfo``).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, NamedTuple

import httpcore
import httpx


class _Deadline(NamedTuple):
    clock: Callable[[], float]
    deadline: float  # on that clock


_DEADLINE: ContextVar[_Deadline | None] = ContextVar("_DEADLINE", default=None)
"""The deadline of the attempt in progress in this thread or task."""


@contextlib.contextmanager
def ending_by(clock: Callable[[], float], deadline: float) -> Iterator[None]:
    """Socket operations made in the block (in this thread or task) end by ``deadline``,
    a time on ``clock``."""
    reset = _DEADLINE.set(_Deadline(clock, deadline))
    try:
        yield
    finally:
        _DEADLINE.reset(reset)


def _time_left(
    timeout: float | None, timed_out: type[httpcore.TimeoutException]
) -> float | None:
    """``timeout``, cut to what is left of the attempt; ``timed_out`` if nothing is."""
    attempt = _DEADLINE.get()
    if attempt is None:
        return timeout
    left = attempt.deadline - attempt.clock()
    if left <= 0:
        raise timed_out("the attempt's deadline passed")
    return left if timeout is None else min(timeout, left)


def enforce_deadlines(
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None,
) -> None:
    """Make ``transport`` (a new one, made by httpx) reach the network through a bounded
    backend; any other transport is left as it is.

    httpx offers no way to give its transports a network backend, so this sets the one of
    the httpcore pool it makes (``_pool._network_backend``, the same in every httpx and
    httpcore these packages support; a proxy's pool is one too). Should a later version
    have neither, the transport is left as it is: each operation is then bounded by
    ``timeout`` alone.
    """
    if not isinstance(transport, (httpx.HTTPTransport, httpx.AsyncHTTPTransport)):
        return
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, (_BoundedBackend, _AsyncBoundedBackend)):
        return
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _BoundedBackend(backend)  # type: ignore[union-attr]
    elif isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = _AsyncBoundedBackend(backend)  # type: ignore[union-attr]


def bounded_pool(ssl_context: ssl.SSLContext) -> httpcore.ConnectionPool:
    """A connection pool of httpcore's own whose connections end by the deadline, with
    the limits httpx gives the pool of an ``httpx.HTTPTransport`` (its defaults)."""
    return httpcore.ConnectionPool(
        ssl_context=ssl_context,
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_BoundedBackend(httpcore.SyncBackend()),
    )


def enforce_deadlines_in_client(http: httpx.Client | httpx.AsyncClient) -> None:
    """``enforce_deadlines`` on the transports a new ``http`` made: its default one (which
    the hosts of ``NO_PROXY`` use), and those of the proxies of the environment
    (``_transport`` and ``_mounts``, as lasting as ``_pool``)."""
    mounts: dict[Any, Any] = getattr(http, "_mounts", {})
    for transport in [getattr(http, "_transport", None), *mounts.values()]:
        enforce_deadlines(transport)


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        # The standard library's create_connection gives each address of the host the
        # whole time it is given (an IPv6 and an IPv4 address that both drop the
        # connection: twice the time left); within an attempt, each address is tried
        # here, given what is left.
        addresses = [host] if _DEADLINE.get() is None else _addresses(host, port)
        options = list(socket_options or ())
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            left = _time_left(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._backend.connect_tcp(
                    address, port, left, local_address, options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
                continue
            return _BoundedStream(stream)
        assert failure is not None  # there is always one address at least
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_unix_socket(path, timeout, socket_options)
        return _BoundedStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _addresses(host: str, port: int) -> list[str]:
    """The addresses of ``host``, in the order ``create_connection`` would try them."""
    try:
        found = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except OSError as error:  # as httpcore reports a name that cannot be resolved
        raise httpcore.ConnectError(str(error)) from error
    return list(dict.fromkeys(str(info[4][0]) for info in found)) or [host]


def _plain_socket(stream: httpcore.NetworkStream) -> socket.socket | None:
    """The socket of a connection without TLS (where httpcore writes with ``send()``
    itself); None for any other."""
    if stream.get_extra_info("ssl_object") is not None:
        return None
    sock = stream.get_extra_info("socket")
    return sock if type(sock) is socket.socket else None


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self._plain = _plain_socket(stream)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout = _time_left(timeout, httpcore.ReadTimeout)
        return self._stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # The end of a body of known length: no system call (as httpcore).
        if not buffer:
            return
        left = _time_left(timeout, httpcore.WriteTimeout)
        plain = None if _DEADLINE.get() is None else self._plain
        if plain is None:
            self._stream.write(buffer, left)
            return
        # httpcore's write gives each send() of a plain socket the whole timeout: a server
        # that reads a little at a time would take a large body for as long as it likes.
        # sendall() takes what is left in all (TLS's write has one deadline already).
        try:
            plain.settimeout(left)
            plain.sendall(buffer)
        except TimeoutError as error:
            raise httpcore.WriteTimeout(str(error)) from error
        except OSError as error:
            raise httpcore.WriteError(str(error)) from error

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        stream = self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _BoundedStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _AsyncBoundedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        stream = await self._backend.connect_tcp(
            host, port, timeout, local_address, socket_options
        )
        return _AsyncBoundedStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return _AsyncBoundedStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _AsyncBoundedStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout = _time_left(timeout, httpcore.ReadTimeout)
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        timeout = _time_left(timeout, httpcore.WriteTimeout)
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        stream = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _AsyncBoundedStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
