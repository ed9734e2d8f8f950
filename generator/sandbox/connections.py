"""The sandbox's HTTP connections: uvicorn's h11 protocol, answering at once and never waiting
forever for a client.

Two changes to uvicorn's protocol, both set when a connection is accepted:

- ``TCP_NODELAY``. uvicorn writes an answer's head and its body in separate writes. With
  Nagle's algorithm on, the body waits for the client to acknowledge the head, and the client
  delays that acknowledgement (40 ms on Linux): every request after the first on a kept-alive
  connection took 44 ms. asyncio sets the option itself only on sockets created with
  ``IPPROTO_TCP`` as their protocol, which a socket made by hand (as the sandbox's is) is not.
- A deadline for the next request's head. uvicorn closes a kept-alive connection idle after an
  answer, but not one that never sends a request or sends its head a byte at a time: such
  connections were held for ever. Here a connection has ``idle_timeout`` seconds, from its
  start or its previous answer, to deliver a whole request head (which subsumes uvicorn's
  keep-alive timeout); the body has its own deadline in the application.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState


class SandboxConnection(H11Protocol):
    """One client connection: no Nagle delay, and a bounded wait for each request head."""

    idle_timeout: float = 5.0

    @classmethod
    def waiting_at_most(cls, idle_timeout: float) -> type[SandboxConnection]:
        """The protocol class, for uvicorn, of connections that wait ``idle_timeout`` s."""
        return type(cls.__name__, (cls,), {"idle_timeout": idle_timeout})

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        if not self.transport.is_closing():
            self._head_deadline = self.loop.call_later(
                self.idle_timeout, self._head_overdue
            )

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self) -> None:
        self._head_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            # A request is being handled: its body has its own deadline.
            return
        self.transport.close()
