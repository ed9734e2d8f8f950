"""The sandbox's HTTP side: the token and enrichment endpoints, and two pages to look inside.

A Starlette application wrapped in a small ASGI layer that refuses a ``Host`` the sandbox does
not answer for, writes one log line per request and can drop a connection without answering (a
fault the client must survive).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from generator.integration_spec import Integration
from generator.sandbox.bodies import (
    BUSY,
    MAX_BODY_BYTES,
    MAX_TOKEN_BODY_BYTES,
    BodyBudget,
    BodyProblem,
    body_limit,
    must_close,
    read_body,
)
from generator.sandbox.checks import (
    Refusal,
    batch_size,
    parse_body,
    parse_json,
    read_batch,
    utf8_problem,
)
from generator.sandbox.faults import Faults
from generator.sandbox.hosts import host_header_problem
from generator.sandbox.store import MAX_INTEGER, Store
from generator.sandbox.tokens import (
    TokenClaims,
    TokenExpired,
    TokenInvalid,
    TokenIssuer,
)

logger = logging.getLogger("enrichgen.sandbox")

SCOPE = "enrichment"
TOKEN_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
_LOG_TEXT_MAX = 200
_DROP_HEADER = b"x-sandbox-drop"
_NOTE_HEADER = b"x-sandbox-note"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Stats:
    """What the sandbox has seen since it started (``GET /sandbox/stats``)."""

    requests: int = 0
    tokens_issued: int = 0
    tokens_refused: int = 0
    batches_accepted: int = 0
    items_accepted: int = 0
    requests_rejected: int = 0
    expired_tokens: int = 0
    faults: dict[str, int] = field(
        default_factory=lambda: {
            "serverErrors": 0,
            "rateLimited": 0,
            "dropped": 0,
            "tooLarge": 0,
        }
    )

    def as_json(self, stored: int) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "tokensIssued": self.tokens_issued,
            "tokensRefused": self.tokens_refused,
            "batchesAccepted": self.batches_accepted,
            "itemsAccepted": self.items_accepted,
            "requestsRejected": self.requests_rejected,
            "expiredTokens": self.expired_tokens,
            "faultsInjected": dict(self.faults),
            "stored": stored,
        }


@dataclass
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)
    project_id: int


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a client's text echoed in an answer (an
    unknown key holding a lone surrogate) can always be encoded."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode(
            "ascii"
        )


def printable(text: str, limit: int = _LOG_TEXT_MAX) -> str:
    """``text`` as one line of ASCII: control and non-ASCII characters escaped, cut to
    ``limit`` characters. A client's text (a path, an unknown key) goes through it before it
    reaches a log line, so that a ``\\r\\n`` in it cannot forge another line."""
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    escaped = "".join(
        char if char.isprintable() else f"\\x{ord(char):02x}" for char in escaped
    )
    return escaped if len(escaped) <= limit else escaped[:limit] + "..."


def _note(response: Response, note: str) -> Response:
    response.headers[_NOTE_HEADER.decode()] = printable(note)
    return response


def _refusal(refusal: Refusal) -> Response:
    detail = refusal.code + (
        f" item {refusal.index}" if refusal.index is not None else ""
    )
    if refusal.field is not None:
        detail += f" field {refusal.field}"
    return _note(AsciiJSONResponse(refusal.body(), status_code=refusal.status), detail)


def _busy(response: Response) -> Response:
    """An answer to a request whose body was left unread, too many being read at once: the
    client may send it again in a moment, on a new connection (this one would first have to
    carry the rest of the body)."""
    response.headers["Retry-After"] = "1"
    response.headers["Connection"] = "close"
    return response


def _oauth_error(status: int, error: str, description: str) -> Response:
    return _note(
        AsciiJSONResponse(
            {"error": error, "error_description": description}, status_code=status
        ),
        error,
    )


class SandboxApp:
    """The state behind the endpoints. Runs on one event loop: no locks needed."""

    def __init__(
        self,
        integrations: Mapping[int, Integration],
        credentials: Credentials,
        issuer: TokenIssuer,
        store: Store,
        faults: Faults,
        clock: Callable[[], float] = time.time,
        *,
        port: int,
        body_timeout: float = 30.0,
    ) -> None:
        self.integrations = dict(integrations)
        self.port = port
        self.body_timeout = body_timeout
        self.credentials = credentials
        self.issuer = issuer
        self.store = store
        self.faults = faults
        self.clock = clock
        self.base_url = issuer.issuer
        self.stats = Stats()
        self.bodies = BodyBudget()
        self.starlette = Starlette(
            routes=[
                Route("/v1/oauth/token", self.token, methods=["POST"]),
                Route("/v1/enrichments", self.enrichments, methods=["POST"]),
                Route("/sandbox/enrichments", self.list_enrichments, methods=["GET"]),
                Route("/sandbox/stats", self.show_stats, methods=["GET"]),
            ]
        )

    # -- the token endpoint -------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        # A web page can post text/plain or a form without asking the browser first (CORS);
        # JSON it cannot, and the form holds nothing a page could know (the secret).
        media_type = request.headers.get("content-type", "").partition(";")[0]
        media_type = media_type.strip().lower()
        if media_type not in TOKEN_CONTENT_TYPES:
            return self._token_refused(
                415,
                "invalid_request",
                "the body is application/json or application/x-www-form-urlencoded",
            )
        content = await read_body(
            request, MAX_TOKEN_BODY_BYTES, self.body_timeout, self.bodies
        )
        if content is BUSY:
            return _busy(
                self._token_refused(503, "temporarily_unavailable", BUSY.message)
            )
        if isinstance(content, BodyProblem):
            return self._token_refused(
                content.status, "invalid_request", content.message
            )
        form = media_type == "application/x-www-form-urlencoded"
        try:
            if form:
                answer = {
                    key: values[-1]
                    for key, values in parse_qs(
                        content.decode("utf-8"), max_num_fields=20
                    ).items()
                }
            else:
                answer = parse_json(content)
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            return self._token_refused(
                400, "invalid_request", "the body is a JSON object or an HTML form"
            )
        if answer.get("grant_type") != "client_credentials":
            return self._token_refused(
                400, "unsupported_grant_type", 'grant_type must be "client_credentials"'
            )
        client_id, client_secret = answer.get("client_id"), answer.get("client_secret")
        for name, value in (("client_id", client_id), ("client_secret", client_secret)):
            # A "\ud800" escape is valid JSON but no text a client has: it cannot be
            # encoded for the comparison below.
            problem = utf8_problem(value) if isinstance(value, str) else None
            if problem is not None:
                return self._token_refused(400, "invalid_request", f"{name}: {problem}")
        if not (
            isinstance(client_id, str)
            and isinstance(client_secret, str)
            and secrets.compare_digest(
                client_id.encode(), self.credentials.client_id.encode()
            )
            and secrets.compare_digest(
                client_secret.encode(), self.credentials.client_secret.encode()
            )
        ):
            return self._token_refused(
                401, "invalid_client", "unknown client_id or wrong client_secret"
            )
        scope = answer.get("scope")
        if scope is not None and scope != SCOPE:
            return self._token_refused(400, "invalid_scope", f'the scope is "{SCOPE}"')
        project_id = answer.get("project_id", self.credentials.project_id)
        if str(project_id) != str(self.credentials.project_id):
            return self._token_refused(
                403,
                "access_denied",
                f"these credentials are for project {self.credentials.project_id}",
            )
        self.stats.tokens_issued += 1
        claims = TokenClaims(client_id, self.credentials.project_id, SCOPE)
        return AsciiJSONResponse(
            {
                "access_token": self.issuer.issue(claims, self.clock()),
                "token_type": "Bearer",
                "expires_in": self.issuer.ttl,
                "endpoint": self.base_url,
                "project_id": self.credentials.project_id,
                "scope": SCOPE,
            }
        )

    def _token_refused(self, status: int, error: str, description: str) -> Response:
        self.stats.tokens_refused += 1
        return _oauth_error(status, error, description)

    # -- the enrichment endpoint --------------------------------------------------------

    def _bearer(self, request: Request) -> TokenClaims | Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _refusal(
                Refusal(
                    401,
                    "UNAUTHORIZED",
                    "an Authorization: Bearer <token> header is needed",
                )
            )
        try:
            return self.issuer.check(token.strip(), self.clock())
        except TokenExpired:
            self.stats.expired_tokens += 1
            return _refusal(Refusal(401, "JWT_EXPIRED", "Auth token is expired."))
        except TokenInvalid:
            return _refusal(
                Refusal(401, "JWT_INVALID", "the token was not issued by this sandbox")
            )

    async def enrichments(self, request: Request) -> Response:
        response = await self._enrichments(request)
        if 400 <= response.status_code < 500 and response.status_code not in (413, 429):
            self.stats.requests_rejected += 1
        return response

    async def _enrichments(self, request: Request) -> Response:
        settings = self.faults.settings
        if settings.latency:
            await asyncio.sleep(settings.latency)
        retry_after = self.faults.retry_after(self.clock())
        if retry_after is not None:
            self.stats.faults["rateLimited"] += 1
            response = _refusal(
                Refusal(
                    429,
                    "RATE_LIMITED",
                    f"more than {settings.rate_limit:g} requests a second",
                )
            )
            response.headers["Retry-After"] = str(retry_after)
            return response
        status = self.faults.server_error()
        if status is not None:
            self.stats.faults["serverErrors"] += 1
            return _refusal(Refusal(status, "INTERNAL_ERROR", "injected fault"))
        claims = self._bearer(request)
        if isinstance(claims, Response):
            return claims
        content = await read_body(
            request, MAX_BODY_BYTES, self.body_timeout, self.bodies
        )
        if content is BUSY:
            return _busy(_refusal(Refusal(503, "SERVER_BUSY", BUSY.message)))
        if isinstance(content, BodyProblem):
            if content.status == 413:
                self.stats.faults["tooLarge"] += 1
                return _refusal(Refusal(413, "PAYLOAD_TOO_LARGE", content.message))
            return _refusal(Refusal(content.status, "INVALID_REQUEST", content.message))
        body = parse_body(content)
        if isinstance(body, Refusal):
            return _refusal(body)
        if self.faults.too_large(batch_size(body)):
            self.stats.faults["tooLarge"] += 1
            return _refusal(
                Refusal(
                    413,
                    "PAYLOAD_TOO_LARGE",
                    f"at most {settings.max_batch_size} enrichments per request",
                )
            )
        items = read_batch(self.integrations, claims.project_id, body)
        if isinstance(items, Refusal):
            return _refusal(items)
        written = self.store.write(claims.project_id, body["integrationVersion"], items)
        self.stats.batches_accepted += 1
        self.stats.items_accepted += written
        if self.faults.drop():
            self.stats.faults["dropped"] += 1
            response = Response(status_code=200)
            response.headers[_DROP_HEADER.decode()] = "1"
            return _note(response, f"stored {written}, connection dropped")
        return _note(
            AsciiJSONResponse({"success": True, "accepted": written}),
            f"stored {written}",
        )

    # -- looking inside -----------------------------------------------------------------

    async def list_enrichments(self, request: Request) -> Response:
        query = request.query_params
        filters: dict[str, Any] = {}
        for name, key, kind in (
            ("projectId", "project_id", int),
            ("userId", "user_id", str),
            ("sessionNumber", "session_number", int),
            ("limit", "limit", int),
        ):
            if name not in query:
                continue
            value = query[name]
            if kind is str:
                filters[key] = value
            elif (
                value.isascii()
                and value.isdigit()
                and len(value) <= 19
                and int(value) <= MAX_INTEGER
            ):
                filters[key] = int(value)
            else:
                return AsciiJSONResponse(
                    {"error": f"{name} is an integer from 0 to {MAX_INTEGER}"},
                    status_code=400,
                )
        enrichments = self.store.enrichments(**filters)
        return AsciiJSONResponse(
            {"count": len(enrichments), "enrichments": enrichments}
        )

    async def show_stats(self, request: Request) -> Response:
        return AsciiJSONResponse(self.stats.as_json(self.store.count()))

    # -- the ASGI layer -----------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)
            return None
        started = time.perf_counter()
        self.stats.requests += 1
        dropped = False
        body_read = False
        limit = body_limit(scope["path"])

        async def receive_body() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body"):
                body_read = True
            return message

        async def send_answer(message: Message) -> None:
            nonlocal dropped
            if message["type"] == "http.response.start":
                headers, note = [], ""
                for name, value in message.get("headers", []):
                    if name == _DROP_HEADER:
                        dropped = True
                    elif name == _NOTE_HEADER:
                        note = value.decode("ascii")
                    else:
                        headers.append((name, value))
                # After a 408 or 413 the rest of the body is not read: the connection
                # cannot carry another request.
                if message["status"] in (408, 413) or (
                    not body_read and must_close(scope["headers"], limit)
                ):
                    headers.append((b"connection", b"close"))
                # Logged before the answer leaves: whoever reads it has the line already.
                logger.info(
                    "%s %s %s %.1f ms %s",
                    printable(scope["method"]),
                    printable(scope["path"]),
                    "dropped" if dropped else message["status"],
                    (time.perf_counter() - started) * 1000,
                    note,
                )
                message = {**message, "headers": headers}
            if not dropped:
                await send(message)

        host = [value for name, value in scope["headers"] if name == b"host"]
        problem = host_header_problem(
            host[0].decode("latin-1") if len(host) == 1 else None, self.port
        )
        if problem is not None:
            # 421 Misdirected Request: this server does not answer for that name.
            answer = _note(
                AsciiJSONResponse(
                    {"error": "misdirected_request", "error_description": problem},
                    status_code=421,
                ),
                "misdirected_request",
            )
            await answer(scope, receive_body, send_answer)
            return None
        try:
            await self.starlette(scope, receive_body, send_answer)
        except asyncio.CancelledError:
            # The sandbox is stopping (Ctrl-C, SIGTERM) and this request outlived uvicorn's
            # grace period, so uvicorn cancelled it. Left to uvicorn, the cancellation is a
            # traceback and a 500 that says the request failed here; the honest answer is
            # none: the connection is closed, and the client, not knowing, sends it again.
            logger.info(
                "%s %s dropped %.1f ms the sandbox is stopping",
                printable(scope["method"]),
                printable(scope["path"]),
                (time.perf_counter() - started) * 1000,
            )
            return "drop"
        if dropped:
            # Nothing has been written. uvicorn closes the connection without a byte when
            # the application returns something other than None: the client sees a
            # connection closed with no answer, as when a network or proxy fails.
            return "drop"
        return None


class QuietDrops(logging.Filter):
    """Hides the errors uvicorn logs for connections the sandbox closes without an answer on
    purpose: a dropped one, and those of the requests still running when it stops (which
    uvicorn cancels; the sandbox logs its own line for each)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return (
            "should return None" not in message
            and "timeout graceful shutdown exceeded" not in message
        )
