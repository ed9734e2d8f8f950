"""Running the sandbox: uvicorn on a loopback socket, in the foreground or in a thread."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn

from generator.integration_spec import Integration
from generator.sandbox.app import Credentials, QuietDrops, SandboxApp
from generator.sandbox.checks import utf8_problem
from generator.sandbox.connections import SandboxConnection
from generator.sandbox.faults import Faults, FaultSettings
from generator.sandbox.hosts import is_loopback
from generator.sandbox.listener import Listener
from generator.sandbox.store import MAX_INTEGER, Store
from generator.sandbox.tokens import TokenIssuer
from generator.sandbox.versions import VersionsError, integration_versions

if TYPE_CHECKING:
    from typing_extensions import Self

DEFAULT_PROJECT_ID = 123456
IDLE_TIMEOUT = 5.0
"""Seconds a connection may wait, from its start or its last answer, before its next request
head has arrived whole; then it is closed."""
BODY_TIMEOUT = 30.0
"""Seconds a request body may take to arrive whole; then 408 and the connection is closed."""
MAX_CONNECTIONS = 512
"""Connections open at once beyond which requests are answered 503."""
MAX_TOKEN_TTL = 365 * 24 * 3600
"""The longest token lifetime, a year (the API's tokens last an hour): far beyond it the
expiry time is no longer a number the sandbox can compute."""


class SandboxError(Exception):
    """The sandbox cannot start (a port in use, a database it cannot open)."""


class SandboxOptionError(SandboxError):
    """An option the sandbox does not accept."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise SandboxError(
            f"cannot listen on {host} port {port}: {error.strerror}"
        ) from None
    sock.listen(1024)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, accepting connections with the sandbox's own loop (listener.py)."""

    def __init__(
        self,
        config: uvicorn.Config,
        sock: socket.socket,
        connection_class: type[SandboxConnection],
    ) -> None:
        super().__init__(config)
        self._sock = sock
        self._connection_class = connection_class
        self._listener: Listener | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        if not isinstance(loop, asyncio.SelectorEventLoop):
            # Windows' proactor loop cannot watch a socket: asyncio's own accept loop then.
            await super().startup(sockets=[self._sock])
            return
        await super().startup(sockets=[])
        self._listener = Listener(self._sock, self._new_connection, loop)

    def _new_connection(self) -> SandboxConnection:
        return self._connection_class(
            self.config, self.server_state, self.lifespan.state
        )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._listener is not None:
            self._listener.close()
        await super().shutdown(sockets=sockets)


class Sandbox:
    """A local stand-in for Contentsquare's token and enrichment endpoints, for one integration.

    ``with Sandbox(integration) as sandbox:`` starts it on a free loopback port in a thread;
    ``sandbox.auth_url``, ``sandbox.client_id``, ``sandbox.client_secret`` and
    ``sandbox.project_id`` are what a client needs. ``serve_forever()`` runs it in the
    foreground instead (the ``enrichgen sandbox`` command).

    ``Sandbox([v1, v2])`` serves several versions of one integration (same ``name``, each
    its own ``integrationVersion``): each request is checked against the version it names.
    ``idle_timeout`` and ``body_timeout`` bound how long a connection may keep the sandbox
    waiting, ``max_connections`` how many may be open before requests get 503 (see
    ``IDLE_TIMEOUT``, ``BODY_TIMEOUT`` and ``MAX_CONNECTIONS``).
    """

    def __init__(
        self,
        integration: Integration | Sequence[Integration],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str | None = None,
        client_secret: str | None = None,
        project_id: int = DEFAULT_PROJECT_ID,
        token_ttl: int = 3600,
        faults: FaultSettings | None = None,
        db: str | None = None,
        clock: Callable[[], float] = time.time,
        idle_timeout: float = IDLE_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        try:
            self.integrations = integration_versions(
                [integration] if isinstance(integration, Integration) else integration
            )
        except VersionsError as error:
            raise SandboxOptionError(str(error)) from None
        if not is_loopback(host):
            raise SandboxOptionError(
                f"--host {host} is not a loopback address: the sandbox serves plain http, "
                "which the generated clients accept only on 127.0.0.1, ::1 or localhost"
            )
        if not 1 <= token_ttl <= MAX_TOKEN_TTL:
            raise SandboxOptionError(
                f"--token-ttl is a number of seconds from 1 to {MAX_TOKEN_TTL} (a year)"
            )
        if not 1 <= project_id <= MAX_INTEGER:
            raise SandboxOptionError(
                f"--project-id is an integer from 1 to {MAX_INTEGER} "
                "(the largest integer SQLite stores)"
            )
        for option, value in (
            ("--client-id", client_id),
            ("--client-secret", client_secret),
        ):
            # No client could send such a credential, and comparing with it would fail.
            if value is not None and utf8_problem(value) is not None:
                raise SandboxOptionError(f"{option} is not valid UTF-8 text")
        if not (
            0 < idle_timeout < math.inf
            and 0 < body_timeout < math.inf
            and max_connections > 0
        ):
            raise SandboxOptionError(
                "the idle and body timeouts are finite seconds above 0, and "
                "max_connections 1 or more"
            )
        fault_settings = faults or FaultSettings()
        problems = fault_settings.problems()
        if problems:
            raise SandboxOptionError("; ".join(problems))
        # The latest version: what a client that names no version is generated for.
        self.integration = list(self.integrations.values())[-1]
        self.credentials = Credentials(
            client_id or f"sandbox-{secrets.token_hex(4)}",
            client_secret or secrets.token_urlsafe(24),
            project_id,
        )
        self._socket = _bind(host, port)
        bound_host, bound_port = self._socket.getsockname()[:2]
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown_host}:{bound_port}"
        try:
            self.store = Store(db)
        except sqlite3.Error as error:
            self._socket.close()
            raise SandboxError(f"cannot open the database {db}: {error}") from None
        self.app = SandboxApp(
            self.integrations,
            self.credentials,
            TokenIssuer(self.url, token_ttl),
            self.store,
            Faults(fault_settings),
            clock,
            port=bound_port,
            body_timeout=body_timeout,
        )
        connection_class = SandboxConnection.waiting_at_most(idle_timeout)
        self._server = _Server(
            uvicorn.Config(
                self.app,
                log_config=None,
                access_log=False,
                lifespan="off",
                http=connection_class,
                loop="asyncio",
                timeout_graceful_shutdown=2,
                # Our own deadline closes idle connections first (connections.py).
                timeout_keep_alive=math.ceil(idle_timeout),
                # uvicorn counts the connection asking among those open.
                limit_concurrency=max_connections + 1,
            ),
            self._socket,
            connection_class,
        )
        logging.getLogger("uvicorn.error").addFilter(QuietDrops())
        self._thread: threading.Thread | None = None

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v1/oauth/token"

    @property
    def client_id(self) -> str:
        return self.credentials.client_id

    @property
    def client_secret(self) -> str:
        return self.credentials.client_secret

    @property
    def project_id(self) -> int:
        return self.credentials.project_id

    def connection_sockets(self) -> list[Any]:
        """The sockets of the client connections open now (to look at their options and
        count them; closing them is uvicorn's business)."""
        return [
            connection.transport.get_extra_info("socket")
            for connection in list(self._server.server_state.connections)
        ]

    def stats(self) -> dict[str, Any]:
        return self.app.stats.as_json(self.store.count())

    def serve_forever(self) -> None:
        """Serve until interrupted (Ctrl-C or SIGTERM), then close the database."""
        try:
            self._server.run()
        finally:
            self._close()

    def start(self) -> None:
        """Serve from a background thread; returns once it accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run,
            name="enrichgen-sandbox",
            daemon=True,
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise SandboxError("the sandbox stopped while starting")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join()
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._socket.close()
        self.store.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
