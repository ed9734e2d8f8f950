"""The sandbox's accept loop: connections taken from the listening socket, and a pause rather
than a flood when the process runs out of file descriptors.

asyncio's own accept loop goes on calling ``accept()`` after it fails with EMFILE (CPython
issue 151615, fixed only in recent releases): every failure logs a traceback and schedules
one more retry. Under ``ulimit -n 1024``, 1,100 idle connections made the sandbox log 40,000
tracebacks in a few seconds, and every request waited behind them. Here a failure logs one
line and stops accepting for ``ACCEPT_PAUSE`` seconds, then accepting is tried again. The
connections already open are served all along; new ones wait in the listen backlog until
descriptors are free (an idle connection is closed after ``idle_timeout``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

logger = logging.getLogger("enrichgen.sandbox")

ACCEPT_PAUSE = 0.1
"""Seconds without accepting after ``accept()`` failed (out of file descriptors, of memory)."""
ACCEPTS_AT_ONCE = 100
"""Connections accepted in one go before the loop turns to other work (asyncio's default)."""


class Listener:
    """Accepts connections on ``sock`` until ``close()``, each with a new
    ``protocol_factory()`` on ``loop``."""

    def __init__(
        self,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._sock = sock
        self._protocol_factory = protocol_factory
        self._loop = loop
        self._resume: asyncio.TimerHandle | None = None
        # Whether the current shortage was logged; it ends when the backlog is empty.
        self._short = False
        self._connecting: set[asyncio.Task[None]] = set()
        sock.setblocking(False)
        loop.add_reader(sock, self._accept)

    def close(self) -> None:
        """Stop accepting; the socket stays open (its owner closes it)."""
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        self._loop.remove_reader(self._sock)

    def _accept(self) -> None:
        for _ in range(ACCEPTS_AT_ONCE):
            try:
                connection, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                self._short = False
                return
            except ConnectionAbortedError:
                continue  # the client gave up while it waited in the backlog
            except OSError as error:
                self._pause(error)
                return
            connection.setblocking(False)
            task = self._loop.create_task(self._connect(connection))
            # The loop keeps only weak references to tasks.
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, connection: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol_factory, connection)
        except OSError:
            connection.close()  # reset by the client before it could be served

    def _pause(self, error: OSError) -> None:
        if not self._short:
            self._short = True
            logger.warning(
                "cannot accept connections (%s): pausing %g s at a time until some close",
                error.strerror or error,
                ACCEPT_PAUSE,
            )
        self._loop.remove_reader(self._sock)
        self._resume = self._loop.call_later(ACCEPT_PAUSE, self._listen_again)

    def _listen_again(self) -> None:
        self._resume = None
        self._loop.add_reader(self._sock, self._accept)
