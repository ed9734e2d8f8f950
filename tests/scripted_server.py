"""A real HTTP server on 127.0.0.1 that plays the token and enrichment endpoints.

Each answer of the enrichment endpoint can be scripted: a status with a body and headers,
a dropped connection, or a stall longer than the client's timeout. Unscripted requests are
accepted and stored by key, last write wins, like the real API.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

TOKEN_PATH = "/v1/oauth/token"
ENRICHMENTS_PATH = "/v1/enrichments"


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"success": True})  # sent as JSON ...
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without an answer
    stall: float = 0.0  # wait this long before answering (and store nothing)
    delay: float = 0.0  # wait this long, then store and answer (a slow but working server)
    raw: bytes | None = None  # ... unless these bytes are given (a compressed body, say)


Script = Callable[[list[dict[str, Any]]], Reply | None]


class ScriptedServer:
    def __init__(self, token_ttl: int = 3600, endpoint: str | None = None) -> None:
        self.token_ttl = token_ttl
        self.endpoint_override = endpoint
        self.replies: deque[Reply] = deque()
        self.script: Script | None = None  # decides per request, when set
        self.token_replies: deque[Reply] = deque()
        self.token_requests: list[dict[str, Any]] = []
        self.enrichment_requests: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.store: dict[tuple[str, int, int], dict[str, Any]] = {}
        self.tokens_issued = 0
        self.in_flight = 0
        self.most_in_flight = 0  # enrichment requests being handled at once, at the most
        self.keys_in_flight: Counter[tuple[str, int, int]] = Counter()
        self.key_overlaps = 0  # keys that arrived while a request holding them was in flight
        self.peers: set[tuple[str, int]] = set()  # client addresses of enrichment requests
        self.token_peers: set[tuple[str, int]] = set()  # ... and of token requests
        self.paths: list[str] = []  # as requested: an absolute URL when asked as a proxy
        self.valid_tokens: set[str] = set()
        self.lock = threading.Lock()
        self.stop_stalls = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def auth_url(self) -> str:
        return self.url + TOKEN_PATH

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_stalls.set()
        self._server.shutdown()
        self._server.server_close()

    def revoke_tokens(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, reply: Reply) -> None:
                if reply.stall:
                    server.stop_stalls.wait(reply.stall)
                if reply.drop:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                data = json.dumps(reply.body).encode() if reply.raw is None else reply.raw
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                with server.lock:
                    server.paths.append(self.path)
                path = urlsplit(self.path).path
                if path == TOKEN_PATH:
                    self._token(body)
                elif path == ENRICHMENTS_PATH:
                    self._enrichments(body)
                else:
                    self._answer(Reply(404, {"success": False, "errorMessage": "not found"}))

            def _token(self, body: dict[str, Any]) -> None:
                with server.lock:
                    server.token_requests.append(body)
                    server.token_peers.add(self.client_address)
                    reply = server.token_replies.popleft() if server.token_replies else None
                    if reply is None:
                        server.tokens_issued += 1
                        token = f"token-{server.tokens_issued}"
                        server.valid_tokens.add(token)
                        reply = Reply(
                            200,
                            {
                                "access_token": token,
                                "expires_in": server.token_ttl,
                                "endpoint": server.endpoint_override or server.url + "/",
                            },
                        )
                self._answer(reply)

            def _enrichments(self, body: dict[str, Any]) -> None:
                items = body["enrichments"]
                with server.lock:
                    server.enrichment_requests.append(body)
                    server.headers_seen.append(dict(self.headers))
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    if token not in server.valid_tokens:
                        reply: Reply | None = Reply(
                            401,
                            {
                                "success": False,
                                "errorMessage": "Auth token is expired.",
                                "errorCode": "JWT_EXPIRED",
                            },
                        )
                    elif server.replies:
                        reply = server.replies.popleft()
                    elif server.script is not None:
                        reply = server.script(items)
                    else:
                        reply = None
                    if reply is None:
                        reply = Reply()
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                    keys = [
                        (item["userId"], item["sessionNumber"], item["enrichmentNumber"])
                        for item in items
                    ]
                    server.key_overlaps += sum(1 for key in keys if key in server.keys_in_flight)
                    server.keys_in_flight.update(keys)
                if reply.delay:
                    server.stop_stalls.wait(reply.delay)
                with server.lock:
                    server.in_flight -= 1
                    server.keys_in_flight.subtract(keys)
                    server.keys_in_flight = +server.keys_in_flight  # drop the zeros
                    if 200 <= reply.status < 300 and not reply.drop and not reply.stall:
                        for item in items:
                            key = (item["userId"], item["sessionNumber"], item["enrichmentNumber"])
                            server.store[key] = item["enrichment"]
                    server.peers.add(self.client_address)
                self._answer(reply)

        return Handler
