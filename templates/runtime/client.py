"""The clients: thin synchronous and asyncio shells that carry out a send plan.

Everything that decides — batching, concurrency, retries, splitting, the breaker — is in
``sending``; how answers are read is in ``retry`` and ``token``. ``BaseClient`` holds what both
clients share: the options and their checks, the token cache rule, the plan's settings, the
headers, fork safety and the repr. ``EnrichmentClient`` (threads) and
``AsyncEnrichmentClient`` (tasks) keep only the I/O: fetching a token, posting, waiting for
answers, closing.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import itertools
import logging
import numbers
import operator
import os
import queue
import random
import ssl
import threading
import time
import urllib.request
import weakref
import zlib
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Iterator,
)
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpcore
import httpx

from .attempt_deadline import (
    bounded_pool,
    ending_by,
    enforce_deadlines,
    enforce_deadlines_in_client,
)
from .endpoint import auth_url_is_loopback_http, check_url, enrichments_url
from .errors import (
    AuthenticationError,
    EnrichmentError,
    SendInterrupted,
    UnsafeEndpointError,
)
from .integration import LATEST, VERSIONS
from .report import ItemFailure, SendReport
from .sending import (
    DEFAULT_FAILURE_THRESHOLD,
    DEFAULT_MAX_IN_FLIGHT,
    Answer,
    Finished,
    InputPaused,
    NoAnswer,
    Post,
    ReadItems,
    SendControl,
    SendPlan,
    SendSettings,
)
from .server_text import clean
from .token import (
    DEFAULT_AUTH_URL,
    Token,
    TokenUnavailable,
    read_token_answer,
    token_request_body,
)

logger = logging.getLogger(__package__)

USER_AGENT = f"{(__package__ or '').rpartition('.')[2]}/enrichgen".encode(
    "ascii", "replace"
).decode()
"""The package's own name, not where it is vendored (``vendor.données.<package>``), in
ASCII as a header must be."""
MAX_ANSWER_BYTES = 64 * 1024
"""Bytes of an answer read at most: enough for any error body, and no more."""

HttpClient = TypeVar("HttpClient", httpx.Client, httpx.AsyncClient)
OnFailure = Callable[[ItemFailure], None]

_CLIENTS: weakref.WeakSet[BaseClient[Any]] = weakref.WeakSet()


class _AttemptTooLong(Exception):
    """The answer was still coming in when the attempt's deadline passed."""


MAX_SECONDS = 10_000_000.0
"""The longest ``timeout``, ``batch_deadline`` or ``send_deadline`` (about 115 days): the
operating system's timers take no more than a few times that."""
_LONGEST_WAIT = 3600.0
"""A shell waits at most this long before asking its plan again."""


def _count(name: str, value: int, minimum: int) -> int:
    """``value`` as an int of at least ``minimum`` (an integer type, not a bool)."""
    if not isinstance(value, bool):
        with contextlib.suppress(TypeError):
            number = operator.index(value)
            if number >= minimum:
                return number
    raise ValueError(
        f"{name} must be a whole number of at least {minimum}, not {value!r}"
    )


def _what(value: object) -> str:
    """What ``value`` is, without showing it."""
    return "an empty str" if value == "" else f"a {type(value).__name__}"


def _seconds(name: str, value: float) -> float:
    """``value`` as seconds: a real number above 0, at most ``MAX_SECONDS``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        seconds = float(value)  # numbers.Real: numpy's floats and ints too
        if 0 < seconds <= MAX_SECONDS:  # NaN is neither
            return seconds
    raise ValueError(
        f"{name} must be a number of seconds above 0 and at most {MAX_SECONDS:,.0f}, "
        f"not {value!r}"
    )


class BaseClient(Generic[HttpClient]):
    """What the synchronous and the asyncio client share; see ``EnrichmentClient``."""

    _clock: Callable[[], float] = staticmethod(time.monotonic)
    """The clock of deadlines, backoff and token expiry (tests may replace it)."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        project_id: int,
        *,
        auth_url: str = DEFAULT_AUTH_URL,
        scope: str | None = "enrichment",
        timeout: float = 30.0,
        max_batch_size: int = 500,
        max_batch_bytes: int = 1_000_000,
        max_retries: int = 5,
        allowed_hosts: Collection[str] | None = None,
        http_client: HttpClient | None = None,
        batch_deadline: float | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        send_deadline: float | None = None,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        integration_version: int | None = None,
    ) -> None:
        for name, value in (("client_id", client_id), ("client_secret", client_secret)):
            if not isinstance(value, str) or not value:
                # the type alone: the value may be the secret
                raise ValueError(f"{name} must be a non-empty str, not {_what(value)}")
        if isinstance(allowed_hosts, (str, bytes)):
            raise ValueError(
                "allowed_hosts must be a collection of host names (a list, a set), "
                "not one str"
            )
        if (
            isinstance(project_id, bool)
            or not isinstance(project_id, int)
            or project_id < 1
        ):
            raise ValueError("project_id must be a positive int")
        max_batch_size = _count("max_batch_size", max_batch_size, 1)
        max_batch_bytes = _count("max_batch_bytes", max_batch_bytes, 1)
        max_in_flight = _count("max_in_flight", max_in_flight, 1)
        failure_threshold = _count("failure_threshold", failure_threshold, 1)
        max_retries = _count("max_retries", max_retries, 0)
        timeout = _seconds("timeout", timeout)
        if batch_deadline is not None:
            batch_deadline = _seconds("batch_deadline", batch_deadline)
        if send_deadline is not None:
            send_deadline = _seconds("send_deadline", send_deadline)
        version = (
            LATEST
            if integration_version is None
            else VERSIONS.get(_count("integration_version", integration_version, 1))
        )
        if version is None:
            known = ", ".join(str(number) for number in sorted(VERSIONS))
            raise ValueError(
                f"integration_version {integration_version!r} is not one of this "
                f"package's: {known}"
            )
        self.client_id = client_id
        self._client_secret = client_secret
        self.project_id = project_id
        self.auth_url = auth_url
        self.scope = scope
        self.timeout = timeout
        self.allowed_hosts = frozenset(allowed_hosts or ())
        # The secret is sent to auth_url: it must pass the same check as the endpoint.
        check_url(
            auth_url,
            what="auth_url",
            allowed_hosts=self.allowed_hosts,
            loopback_http_allowed=True,
        )
        self._loopback_http_allowed = auth_url_is_loopback_http(auth_url)
        self.settings = SendSettings(
            version=version,
            project_id=project_id,
            max_batch_size=max_batch_size,
            max_batch_bytes=max_batch_bytes,
            max_retries=max_retries,
            batch_deadline=(
                batch_deadline
                if batch_deadline is not None
                else timeout * (max_retries + 1) + 60.0 * max_retries
            ),
            max_in_flight=max_in_flight,
            failure_threshold=failure_threshold,
            send_deadline=send_deadline,
        )
        self._owns_http = http_client is None
        self._http: HttpClient = http_client or self._new_http_client()
        self._token: Token | None = None
        self._earlier_tokens: deque[str] = deque(maxlen=4)
        """Tokens replaced lately: a late answer may still echo one."""
        self._token_failure: tuple[float, EnrichmentError] | None = None
        """When the last token request failed, and why."""
        self._rng = random.Random()
        self._pid = os.getpid()
        self._start_io()
        _CLIENTS.add(self)

    # -- what each shell provides ---------------------------------------------------

    def _new_http_client(self) -> HttpClient:
        raise NotImplementedError

    def _start_io(self) -> None:
        """Create the shell's locks and workers (again in a forked child)."""
        raise NotImplementedError

    # -- shared rules ---------------------------------------------------------------

    @property
    def integration_version(self) -> int:
        return self.settings.version.number

    def _after_fork(self) -> None:
        # The parent's locks are not the child's: one held by a thread of the parent would
        # never be released. Its pooled connections are replaced on first use (_pool_http),
        # not here: a fork must stay cheap however many clients the process holds.
        self._start_io()
        self._rng.seed()  # children must not all draw the same backoff

    def _pool_http(self) -> HttpClient:
        """The HTTP client of this process: a connection shared by two processes would mix
        their answers, so a forked child makes its own."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            if self._owns_http:
                self._http = self._new_http_client()
        return self._http

    def _usable_token(self, stale: object | None, asked: float = 0.0) -> Token | None:
        """The cached token, unless it is the one just refused or near its expiry.

        Else a caller that asked at ``asked`` and waited for the lock while another tried
        the token endpoint in vain gets that failure, not a request of its own: a dead
        token endpoint is tried once per batch, and refused credentials once per send, not
        once per waiting thread or task.
        """
        token = self._token
        if token is not None and token is not stale:
            if not token.needs_renewal(self._clock()):
                return token
        failure = self._token_failure
        if failure is not None and failure[0] >= asked > 0.0:
            # A copy for each caller: the send it ends attaches its own report to it.
            raise copy.copy(failure[1])
        return None

    @contextlib.contextmanager
    def _noting_token_failure(self) -> Iterator[None]:
        """Records why the token request made in this block failed, for the callers
        waiting for it (see ``_usable_token``)."""
        try:
            yield
        except (TokenUnavailable, AuthenticationError) as error:
            self._token_failure = (self._clock(), copy.copy(error))  # before any report
            raise

    def _secrets(self) -> tuple[str, ...]:
        """What must never appear in a reason, a log line or an exception."""
        token = self._token
        current: tuple[str, ...] = (token.access_token,) if token else ()
        return (self._client_secret, *current, *self._earlier_tokens)

    def _token_request(self) -> dict[str, Any]:
        return token_request_body(
            self.client_id, self._client_secret, self.scope, self.project_id
        )

    def _read_token_answer(
        self, status: int, content: bytes, retry_after: str | None
    ) -> Token:
        token = read_token_answer(
            status,
            content,
            retry_after,
            self._clock(),
            auth_url=self.auth_url,
            client_id=self.client_id,
            project_id=self.project_id,
            secrets=(self._client_secret,),
        )
        try:
            check_url(
                token.endpoint,
                what="endpoint in the token answer",
                allowed_hosts=self.allowed_hosts,
                loopback_http_allowed=self._loopback_http_allowed,
            )
        except UnsafeEndpointError as unsafe:  # its host is the server's text
            secrets = (self._client_secret, token.access_token)
            raise UnsafeEndpointError(clean(str(unsafe), secrets)) from None
        logger.info("new token, valid for %.0f s", token.lifetime)
        if self._token is not None:
            self._earlier_tokens.append(self._token.access_token)
        self._token = token
        return token

    def _unreachable(self, url: str, error: Exception, deadline: float) -> str:
        # The endpoint's URL comes from the token answer: a server may put anything in it,
        # the token or the secret included.
        url = clean(url, self._secrets())
        at_deadline = self._clock() >= deadline
        if isinstance(error, _AttemptTooLong) or (
            isinstance(error, httpx.ReadTimeout) and at_deadline
        ):
            return f"{url} was still answering when the attempt's deadline passed"
        if isinstance(error, httpx.WriteTimeout) and at_deadline:
            return (
                f"{url} was still taking the request when the attempt's deadline passed"
            )
        return f"{url} could not be reached ({type(error).__name__})"

    def _post_request(self, post: Post, token: Token) -> dict[str, Any]:
        return {
            "url": enrichments_url(token.endpoint),
            "content": post.body,
            "headers": {
                "Authorization": f"Bearer {token.access_token}",
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Accept-Encoding": "identity",  # see _AnswerBody
            },
            "timeout": self._attempt_timeout(post.deadline),
            "follow_redirects": False,
        }

    def _token_post_request(self) -> dict[str, Any]:
        return {
            "url": self.auth_url,
            "json": self._token_request(),
            "headers": {"Accept-Encoding": "identity"},  # see _AnswerBody
            "timeout": self.timeout,
            "follow_redirects": False,
        }

    def _too_late(self, post: Post) -> NoAnswer | None:
        """A post whose deadline passed while it waited for the token is not made: it
        could still land after the plan has counted it unanswered."""
        if self._clock() < post.deadline:
            return None
        return NoAnswer(
            "not sent: its deadline passed while it waited for a token",
            reached_endpoint=False,
            maybe_applied=False,
        )

    def _attempt_timeout(self, deadline: float) -> float:
        return max(0.001, min(self.timeout, deadline - self._clock()))

    def _check_answer_time(self, deadline: float) -> None:
        if self._clock() > deadline:
            raise _AttemptTooLong

    def _answer(
        self, response: httpx.Response | _CoreAnswer, content: bytes, token: Token
    ) -> Answer:
        return Answer(
            response.status_code,
            content,
            response.headers.get("retry-after"),
            token,
            token.obtained_at,
        )

    def _no_answer(self, url: str, error: Exception, deadline: float) -> NoAnswer:
        """The outcome of a post that failed with ``error`` (raised by httpx) before
        ``deadline``, or at it."""
        reached = _maybe_applied(error)  # else no connection was made
        return NoAnswer(
            self._unreachable(url, error, deadline),
            reached_endpoint=reached,
            maybe_applied=reached,
        )

    def _check_open(self) -> None:
        """A client whose own HTTP client was closed cannot send: say so before any item
        is read (``close()`` leaves a caller's ``http_client`` open, and usable)."""
        if self._owns_http and self._http.is_closed:
            raise RuntimeError(
                f"this {type(self).__name__} is closed: make a new one to send"
            )

    def _plan(self, on_failure: OnFailure | None) -> SendPlan:
        return SendPlan(
            self.settings,
            self._rng,
            self._clock,
            on_failure=on_failure,
            secrets=self._secrets,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(client_id={self.client_id!r}, "
            f"project_id={self.project_id}, auth_url={self.auth_url!r}, "
            f"integration_version={self.integration_version})"
        )


def _after_fork_in_child() -> None:
    for client in list(_CLIENTS):
        client._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


_Outcomes = queue.SimpleQueue[tuple[Post, "Answer | NoAnswer | Exception"]]
"""Where the worker threads of a send put the outcomes of their posts."""


_Read = tuple[list[object], Exception | None, bool]
"""The items read, what reading them raised, and whether the input paused."""


def _read(items: Iterator[object], count: int) -> _Read:
    read: list[object] = []
    try:
        read.extend(itertools.islice(items, count))
    except InputPaused:
        return read, None, True
    except Exception as error:  # the plan sends what was read, then raises it
        return read, error, False
    return read, None, False


async def _read_async(items: AsyncIterator[object], count: int) -> _Read:
    read: list[object] = []
    try:
        while len(read) < count:
            read.append(await anext(items))
    except StopAsyncIteration:
        pass
    except InputPaused:
        return read, None, True
    except Exception as error:  # the plan sends what was read, then raises it
        return read, error, False
    return read, None, False


def _give_read(plan: SendPlan, read: _Read) -> None:
    items, error, paused = read
    if error is None:
        plan.items_read(items, paused)
    else:
        plan.input_failed(error, items)


def _wait_seconds(
    until: float | None, now: float, control: SendControl | None
) -> float | None:
    """How long a shell may wait for an answer before asking the plan again."""
    seconds = None if until is None else min(max(0.0, until - now), _LONGEST_WAIT)
    if control is not None:
        seconds = (
            min(seconds, control.POLL_SECONDS)
            if seconds is not None
            else control.POLL_SECONDS
        )
    return seconds


class _AnswerBody:
    """An answer's body, decoded and kept up to ``MAX_ANSWER_BYTES``. A compressed body is
    inflated no further than that as it comes (httpx inflates each chunk whole: a few
    kilobytes of gzip can hold gigabytes). The client asks for no encoding; one it cannot
    inflate so is ``httpx.DecodingError``, as a broken body is: no usable answer."""

    def __init__(self, response: httpx.Response | _CoreAnswer) -> None:
        self.content = bytearray()
        self.full = response.is_stream_consumed  # read by httpx (a MockTransport's)
        if self.full:
            self.content += response.content[:MAX_ANSWER_BYTES]
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        self._inflate: Any = None
        # deflate: zlib's wrapper, or else bare deflate, told by the first chunk (as httpx)
        self._may_be_bare = encoding == "deflate"
        if encoding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflate = zlib.decompressobj()
        elif encoding != "identity" and not self.full:
            raise httpx.DecodingError(f"an answer in the {encoding!r} encoding")

    def add(self, chunk: bytes) -> bool:
        """Add the next chunk as it came; True once the body kept is full."""
        room = MAX_ANSWER_BYTES - len(self.content)
        if room <= 0:
            return True
        if self._inflate is not None:
            try:
                inflated = self._inflate.decompress(chunk, room)
            except zlib.error as error:
                if not self._may_be_bare:
                    raise httpx.DecodingError(str(error)) from None
                self._may_be_bare = False
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.add(chunk)
            self._may_be_bare = False
            chunk = inflated
        self.content += chunk[:room]
        return len(self.content) >= MAX_ANSWER_BYTES


def _without_token(unavailable: TokenUnavailable) -> NoAnswer:
    """The outcome of a post that had no token: no request reached the enrichment
    endpoint, so nothing of it can land later."""
    return NoAnswer(
        str(unavailable), unavailable.retry_after, False, maybe_applied=False
    )


def _maybe_applied(error: Exception) -> bool:
    """An attempt that failed with ``error`` may have reached the server: anything but
    a connection that was never made (or a URL never tried)."""
    return not isinstance(
        error,
        (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.PoolTimeout,
            httpx.InvalidURL,
            httpx.UnsupportedProtocol,
        ),
    )


def _proxied(proxies: dict[str, str]) -> bool:
    """A proxy is set (for some scheme or host: ``NO_PROXY`` alone is not one) in
    ``proxies``, those of ``urllib.request.getproxies()``."""
    return bool(proxies.keys() - {"no"})


@functools.lru_cache(maxsize=16)
def _parsed_url(url: str) -> httpx.URL:
    """``url`` parsed once (httpx parses a URL given as text on each request: about a
    tenth of a post's CPU). Messages name the URL as text: httpx's form percent-encodes
    characters, which would hide a secret in it from redaction (``server_text.clean``).
    """
    return httpx.URL(url)


_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)
"""httpcore's errors and the httpx errors an ``httpx.HTTPTransport`` raises for them, each
before the wider ones."""


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """httpcore's errors raised in the block as httpx's (what ``_no_answer`` reads)."""
    try:
        yield
    except Exception as error:
        for raised, mapped in _HTTPX_ERRORS:
            if isinstance(error, raised):
                raise mapped(str(error)) from error
        raise


class _CoreAnswer:
    """httpcore's answer to the post of a batch, as much of an ``httpx.Response`` as
    ``_AnswerBody`` and ``_answer`` read; its errors are httpx's."""

    is_stream_consumed = False
    content = b""

    def __init__(self, response: httpcore.Response) -> None:
        self._response = response
        self.status_code = response.status
        self.headers = httpx.Headers(response.headers)

    def iter_raw(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._response.iter_stream()

    def close(self) -> None:
        with _as_httpx_errors():
            self._response.close()


def _core_request(request: dict[str, Any]) -> httpcore.Request:
    """The post of a batch (``_post_request``) for an httpcore pool itself: the headers
    httpx would send, ``Host`` and ``Content-Length`` among them. What ``httpx.Client``
    adds around a request (cookies, redirects, authentication, hooks, URL merging; a post
    of a batch uses none of them) costs as much CPU as the pool's own work, and building
    the httpx request and answer around the pool's another quarter of it."""
    url = _parsed_url(request["url"])
    content: bytes = request["content"]
    headers = [(b"Host", url.netloc)]
    headers += [
        (name.encode("ascii"), value.encode("ascii"))
        for name, value in request["headers"].items()
    ]
    headers.append((b"Content-Length", str(len(content)).encode("ascii")))
    return httpcore.Request(
        b"POST",
        httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        ),
        headers=headers,
        content=content,
        extensions={"timeout": httpx.Timeout(request["timeout"]).as_dict()},
    )


def _direct_request(request: dict[str, Any]) -> httpx.Request:
    """The post of a batch (``_post_request``), for a connection pool itself rather than
    an ``httpx.Client`` (see ``_core_request``)."""
    return httpx.Request(
        "POST",
        _parsed_url(request["url"]),
        content=request["content"],
        headers=request["headers"],
        extensions={"timeout": httpx.Timeout(request["timeout"]).as_dict()},
    )


def _give_outcomes(
    plan: SendPlan, first: tuple[Post, Answer | NoAnswer | Exception], done: _Outcomes
) -> int:
    """``first`` and the outcomes already in ``done`` to ``plan``; how many there were.
    An exception raised in a worker is raised here."""
    outcomes = [first, *_drain(done)]
    for post, outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
        _give_outcome(plan, post, outcome)
    return len(outcomes)


def _give_outcome(plan: SendPlan, post: Post, outcome: Answer | NoAnswer) -> None:
    if isinstance(outcome, Answer):
        plan.post_answered(post, outcome)
    else:
        plan.post_failed(post, outcome)


def _drain(done: _Outcomes) -> list[tuple[Post, Answer | NoAnswer | Exception]]:
    """The outcomes already in ``done``."""
    outcomes = []
    while not done.empty():
        outcomes.append(done.get())
    return outcomes


@contextlib.contextmanager
def _setting_on_exit(event: threading.Event) -> Iterator[None]:
    try:
        yield
    finally:
        event.set()


@contextlib.contextmanager
def _reporting(
    plan: SendPlan, answers_in: Callable[[], None] = lambda: None
) -> Iterator[None]:
    """An exception that ends a send carries the report of what happened until then;
    on Ctrl-C or a cancellation, ``answers_in`` first gives ``plan`` the answers already
    in (outcomes, not posts abandoned in flight)."""
    try:
        yield
    except KeyboardInterrupt as interrupt:
        answers_in()
        raise SendInterrupted(plan.abandon().report) from interrupt
    except asyncio.CancelledError as cancelled:
        # An asyncio send cancelled (a timeout around it, its task group ending) ends at
        # once, as ``SendControl.abandon`` would; the same error goes on, with the report.
        answers_in()
        cancelled.report = plan.abandon().report  # type: ignore[attr-defined]
        raise
    except Exception as error:
        # An EnrichmentError (refused credentials, an unsafe endpoint), the caller's own
        # code (the items' iterable, an on_failure callback) or a misuse (the client
        # closed under the send): the same error goes on, with the report, when it can
        # hold one. No answer is given to the plan here: that would call on_failure
        # again, which may be what raised.
        if getattr(error, "report", None) is None:
            with contextlib.suppress(AttributeError):
                error.report = plan.abandon().report  # type: ignore[attr-defined]
        raise


def _end(finished: Finished) -> SendReport:
    if finished.error is not None:
        raise finished.error
    return finished.report


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The TLS settings of every client of the process: making them reads the CA bundle,
    about 40 ms, which a client made per send (or per request) would pay each time."""
    return httpx.create_ssl_context()


_SEND_WORKER = threading.local()


def _mark_send_worker() -> None:
    """Run first in each worker thread of a sync client (its requests get a pool each)."""
    _SEND_WORKER.active = True


class _PoolPerThread(httpx.BaseTransport):
    """A connection pool for each worker thread of a client's sends; other threads (a
    caller of ``token()``, say) share one, so that short-lived threads leave no pools.

    httpcore's pool checks every connection it holds on each request and each answer, so
    with 16 threads sharing one pool the client spent more CPU on the pool than on
    posting (about 3 ms per request, measured); each worker reuses its own connection.
    A worker's posts of batches (``post``) go to an httpcore pool of its own, straight;
    what else it asks (a token) goes through ``httpx.Client`` to its httpx transport.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pools: list[httpx.HTTPTransport | httpcore.ConnectionPool] = []
        self._shared: httpx.HTTPTransport | None = None
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the HTTP client of this EnrichmentClient is closed")

    def post(self, request: dict[str, Any]) -> _CoreAnswer:
        """The answer to the post of a batch (``_post_request``), made by the worker
        thread's own httpcore pool, with no httpx request or response around it."""
        self._check_open()
        pool: httpcore.ConnectionPool | None = getattr(self._local, "posts", None)
        if pool is None:
            with self._lock:
                self._check_open()
                pool = self._local.posts = bounded_pool(self._ssl_context)
                self._pools.append(pool)
        with _as_httpx_errors():
            return _CoreAnswer(pool.handle_request(_core_request(request)))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._check_open()
        if getattr(_SEND_WORKER, "active", False):
            pool: httpx.HTTPTransport | None = getattr(self._local, "pool", None)
            if pool is None:
                pool = self._local.pool = self._new_pool()
        else:
            with self._lock:
                shared = self._shared
            pool = shared or self._new_pool(shared=True)
        return pool.handle_request(request)

    def _new_pool(self, shared: bool = False) -> httpx.HTTPTransport:
        with self._lock:
            self._check_open()
            if shared and self._shared is not None:
                return self._shared
            pool = httpx.HTTPTransport(verify=self._ssl_context)
            enforce_deadlines(pool)
            self._pools.append(pool)
            if shared:
                self._shared = pool
            return pool

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools, self._pools = self._pools, []
        for pool in pools:
            pool.close()


class _PoolPerPost:
    """The asyncio client's connection pools for posts of batches: one per post under
    way, reused by the next (``_PoolPerThread``'s reason, for tasks). At most ``keep``
    stay open between posts; a pool beyond them is closed when its post ends, so that a
    burst of sends at once leaves no more connections open than one send does."""

    def __init__(self, ssl_context: ssl.SSLContext, keep: int) -> None:
        self._ssl_context = ssl_context
        self._keep = keep
        self._idle: list[httpx.AsyncHTTPTransport] = []
        self._pools: list[httpx.AsyncHTTPTransport] = []
        self._closed = False

    @contextlib.asynccontextmanager
    async def posting(self, request: httpx.Request) -> AsyncIterator[httpx.Response]:
        if self._closed:
            raise RuntimeError(
                "the HTTP client of this AsyncEnrichmentClient is closed"
            )
        if self._idle:
            pool = self._idle.pop()
        else:
            pool = httpx.AsyncHTTPTransport(verify=self._ssl_context)
            enforce_deadlines(pool)
            self._pools.append(pool)
        try:
            response = await pool.handle_async_request(request)
            try:
                yield response
            finally:
                await response.aclose()
        finally:
            if len(self._idle) < self._keep and not self._closed:
                self._idle.append(pool)
            else:
                if pool in self._pools:
                    self._pools.remove(pool)
                await pool.aclose()

    async def aclose(self) -> None:
        """Close every pool, even when closing one of them raises."""
        self._closed = True
        pools, self._pools, self._idle = self._pools, [], []
        async with contextlib.AsyncExitStack() as closing:
            for pool in pools:
                closing.push_async_callback(pool.aclose)


class EnrichmentClient(BaseClient[httpx.Client]):
    """Sends enrichments of this integration to Contentsquare (synchronous).

    One client holds one customer's credentials for one project. Batches go out from up to
    ``max_in_flight`` threads at once. The client is safe to share between threads and
    survives ``os.fork()``; several clients may share one ``httpx.Client``
    (``http_client=``), which the client then does not close.
    """

    _direct: _PoolPerThread | None = None
    """The pools that post the batches themselves, when no proxy is in the way (see
    ``_posting``)."""

    def _new_http_client(self) -> httpx.Client:
        # Proxies from the environment still apply: httpx mounts them for their schemes
        # and hosts, before "all://" - or at "all://" itself (ALL_PROXY), which is then
        # left to the proxy.
        ssl_context = _ssl_context()
        proxies = urllib.request.getproxies()
        pools = None if "all" in proxies else _PoolPerThread(ssl_context)
        self._direct = None if _proxied(proxies) else pools
        http = httpx.Client(
            timeout=self.timeout,
            verify=ssl_context,
            mounts={"all://": pools} if pools else {},
        )
        enforce_deadlines_in_client(http)
        return http

    @contextlib.contextmanager
    def _posting(
        self, request: dict[str, Any]
    ) -> Iterator[httpx.Response | _CoreAnswer]:
        """The answer to ``request``, streamed: from the client's own pools straight
        (``_PoolPerThread.post``) when no proxy is set, else through ``httpx.Client``.
        """
        http = self._pool_http()  # a forked child makes its own pools here
        pools = self._direct
        if pools is None:
            with http.stream("POST", **request) as response:
                yield response
            return
        answer = pools.post(request)
        try:
            yield answer
        finally:
            answer.close()

    def _start_io(self) -> None:
        self._token_lock = threading.Lock()
        self._workers: ThreadPoolExecutor | None = None
        self._workers_lock = threading.Lock()

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _pool(self) -> ThreadPoolExecutor:
        with self._workers_lock:
            if self._workers is None:
                self._workers = ThreadPoolExecutor(
                    self.settings.max_in_flight,
                    thread_name_prefix=f"{__package__}",
                    initializer=_mark_send_worker,
                )
            return self._workers

    def token(self, stale: object | None = None) -> Token:
        """A valid token: the cached one, or a new one (one request at a time)."""
        token = self._usable_token(stale)
        if token is not None:
            return token
        asked = self._clock()
        with self._token_lock:
            token = self._usable_token(stale, asked)
            if token is None:
                with self._noting_token_failure():
                    token = self._fetch_token()
            return token

    def _fetch_token(self) -> Token:
        deadline = self._clock() + self.timeout
        try:
            with (
                ending_by(self._clock, deadline),
                self._pool_http().stream(
                    "POST", **self._token_post_request()
                ) as response,
            ):
                content = self._read_answer(response, deadline)
        except (httpx.HTTPError, httpx.InvalidURL, _AttemptTooLong) as error:
            reason = self._unreachable(self.auth_url, error, deadline)
            raise TokenUnavailable(reason) from None
        return self._read_token_answer(
            response.status_code, content, response.headers.get("retry-after")
        )

    def _read_answer(
        self, response: httpx.Response | _CoreAnswer, deadline: float
    ) -> bytes:
        answer = _AnswerBody(response)
        if not answer.full:
            for chunk in response.iter_raw():
                self._check_answer_time(deadline)
                if answer.add(chunk):
                    break
        return bytes(answer.content)

    def _attempt(self, post: Post) -> Answer | NoAnswer:
        try:
            token = self.token(stale=post.refused_token)
        except TokenUnavailable as unavailable:
            return _without_token(unavailable)
        late = self._too_late(post)
        if late is not None:
            return late
        request = self._post_request(post, token)
        try:
            with (
                ending_by(self._clock, post.deadline),
                self._posting(request) as response,
            ):
                content = self._read_answer(response, post.deadline)
        except (httpx.HTTPError, httpx.InvalidURL, _AttemptTooLong) as error:
            return self._no_answer(request["url"], error, post.deadline)
        return self._answer(response, content, token)

    def _attempt_into(
        self, post: Post, done: _Outcomes, send_ended: threading.Event
    ) -> None:
        """``_attempt`` in a worker thread: its outcome goes to ``done``, and so does what
        it raised (the sending thread raises it). Not made once the send has ended (it
        raised): nothing would read the outcome."""
        if send_ended.is_set():
            return
        try:
            outcome: Answer | NoAnswer | Exception = self._attempt(post)
        except Exception as error:
            outcome = error
        done.put((post, outcome))

    def send(
        self,
        items: Iterable[object],
        *,
        on_failure: OnFailure | None = None,
        control: SendControl | None = None,
    ) -> SendReport:
        """Validate, batch and send ``items``; every item ends in one outcome of the report.

        ``items`` is any iterable of ``EnrichmentItem`` or wire-format mappings, read lazily,
        500 at a time: reading blocks the send (for a live feed, send each group of events
        as it comes).
        ``on_failure`` receives each rejected or failed item as soon as it is decided (the
        report then only counts them); ``control`` stops the send from outside.
        Raises only ``AuthenticationError`` or ``UnsafeEndpointError`` (their ``report``
        says what happened until then), or what reading ``items`` raised, once the items
        read before are sent.
        """
        self._check_open()
        plan = self._plan(on_failure)
        iterator = iter(items)
        running = 0
        done: _Outcomes = queue.SimpleQueue()
        ended = threading.Event()

        def answers_in() -> None:
            for post, outcome in _drain(done):
                if not isinstance(outcome, Exception):
                    _give_outcome(plan, post, outcome)

        with _reporting(plan, answers_in), _setting_on_exit(ended):
            while True:
                if not done.empty():
                    # Answers first: each frees a place in flight, which a batch ready
                    # now takes at once, rather than after the next chunk is validated.
                    running -= _give_outcomes(plan, done.get(), done)
                finished = control.steer(plan) if control else None
                action = finished or plan.next_action()
                if isinstance(action, ReadItems):
                    _give_read(plan, _read(iterator, action.count))
                    time.sleep(0)  # the GIL to the workers, whose answers wait for it
                elif isinstance(action, Post):
                    self._pool().submit(self._attempt_into, action, done, ended)
                    running += 1
                elif isinstance(action, Finished):
                    return _end(action)
                else:
                    seconds = _wait_seconds(action.until, self._clock(), control)
                    if not running:
                        self._sleep(seconds or 0.0)
                        continue
                    try:
                        first = done.get(timeout=seconds)
                    except queue.Empty:
                        continue
                    running -= _give_outcomes(plan, first, done)

    def close(self) -> None:
        with self._workers_lock:
            workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown(wait=False)
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> EnrichmentClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncEnrichmentClient(BaseClient[httpx.AsyncClient]):
    """Sends enrichments of this integration to Contentsquare (asyncio).

    The same options and behaviour as ``EnrichmentClient``, with tasks in place of threads;
    ``send`` is awaitable and one client may be used by many tasks at once.
    """

    _direct: _PoolPerPost | None = None
    """The pools that post the batches themselves, when no proxy is in the way (see
    ``EnrichmentClient._posting``)."""

    def _new_http_client(self) -> httpx.AsyncClient:
        ssl_context = _ssl_context()
        self._direct = (
            None
            if _proxied(urllib.request.getproxies())
            else _PoolPerPost(ssl_context, self.settings.max_in_flight)
        )
        http = httpx.AsyncClient(timeout=self.timeout, verify=ssl_context)
        enforce_deadlines_in_client(http)
        return http

    @contextlib.asynccontextmanager
    async def _posting(self, request: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """The answer to ``request``, streamed (see ``EnrichmentClient._posting``)."""
        http = self._pool_http()  # a forked child makes its own pools here
        pools = self._direct
        if pools is None:
            async with http.stream("POST", **request) as response:
                yield response
            return
        async with pools.posting(_direct_request(request)) as response:
            yield response

    _loop: asyncio.AbstractEventLoop | None = None
    """The event loop the client was last used in."""

    def _start_io(self) -> None:
        self._token_lock: asyncio.Lock | None = None  # made in the running loop

    def _in_this_loop(self) -> None:
        """A client used in another event loop than before (a second ``asyncio.run``)
        makes its own pools and lock there: the first loop's belong to it, and it may be
        closed. (Its pooled connections cannot be closed from here: they are let go.)"""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        if self._loop is not None:
            self._start_io()
            if self._owns_http:
                self._http = self._new_http_client()
        self._loop = loop

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def token(self, stale: object | None = None) -> Token:
        """A valid token: the cached one, or a new one (one request at a time)."""
        self._in_this_loop()
        token = self._usable_token(stale)
        if token is not None:
            return token
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        asked = self._clock()
        async with self._token_lock:
            token = self._usable_token(stale, asked)
            if token is None:
                with self._noting_token_failure():
                    token = await self._fetch_token()
            return token

    async def _fetch_token(self) -> Token:
        deadline = self._clock() + self.timeout
        try:
            with ending_by(self._clock, deadline):
                async with self._pool_http().stream(
                    "POST", **self._token_post_request()
                ) as response:
                    content = await self._read_answer(response, deadline)
        except (httpx.HTTPError, httpx.InvalidURL, _AttemptTooLong) as error:
            reason = self._unreachable(self.auth_url, error, deadline)
            raise TokenUnavailable(reason) from None
        return self._read_token_answer(
            response.status_code, content, response.headers.get("retry-after")
        )

    async def _read_answer(self, response: httpx.Response, deadline: float) -> bytes:
        answer = _AnswerBody(response)
        if not answer.full:
            async for chunk in response.aiter_raw():
                self._check_answer_time(deadline)
                if answer.add(chunk):
                    break
        return bytes(answer.content)

    async def _attempt(self, post: Post) -> Answer | NoAnswer:
        try:
            token = await self.token(stale=post.refused_token)
        except TokenUnavailable as unavailable:
            return _without_token(unavailable)
        late = self._too_late(post)
        if late is not None:
            return late
        request = self._post_request(post, token)
        try:
            with ending_by(self._clock, post.deadline):
                async with self._posting(request) as response:
                    content = await self._read_answer(response, post.deadline)
        except (httpx.HTTPError, httpx.InvalidURL, _AttemptTooLong) as error:
            return self._no_answer(request["url"], error, post.deadline)
        return self._answer(response, content, token)

    async def send(
        self,
        items: Iterable[object] | AsyncIterable[object],
        *,
        on_failure: OnFailure | None = None,
        control: SendControl | None = None,
    ) -> SendReport:
        """Validate, batch and send ``items``; every item ends in one outcome of the report.

        ``items`` is any iterable or async iterable of ``EnrichmentItem`` or wire-format
        mappings, read lazily. The rest is as for ``EnrichmentClient.send``.
        """
        self._check_open()
        self._in_this_loop()
        plan = self._plan(on_failure)
        if isinstance(items, AsyncIterable):
            async_items = aiter(items)
        else:
            sync_items = iter(items)
        running: dict[asyncio.Task[Answer | NoAnswer], Post] = {}

        def answers_in() -> None:
            for task in [task for task in running if task.done()]:
                if not task.cancelled() and task.exception() is None:
                    _give_outcome(plan, running.pop(task), task.result())

        try:
            with _reporting(plan, answers_in):
                while True:
                    # Answers first (see EnrichmentClient.send).
                    for task in [task for task in running if task.done()]:
                        _give_outcome(plan, running.pop(task), task.result())
                    finished = control.steer(plan) if control else None
                    action = finished or plan.next_action()
                    if isinstance(action, ReadItems):
                        # The posts just started go out before the loop is held by
                        # reading and validating a chunk (an async iterable may never
                        # wait either).
                        await asyncio.sleep(0)
                        if isinstance(items, AsyncIterable):
                            _give_read(
                                plan, await _read_async(async_items, action.count)
                            )
                        else:
                            _give_read(plan, _read(sync_items, action.count))
                    elif isinstance(action, Post):
                        running[asyncio.create_task(self._attempt(action))] = action
                    elif isinstance(action, Finished):
                        return _end(action)
                    else:
                        seconds = _wait_seconds(action.until, self._clock(), control)
                        if not running:
                            await self._sleep(seconds or 0.0)
                            continue
                        done, _ = await asyncio.wait(
                            running,
                            timeout=seconds,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                        for task in done:
                            _give_outcome(plan, running.pop(task), task.result())
        finally:
            for task in running:
                task.cancel()

    async def aclose(self) -> None:
        self._in_this_loop()  # what another loop pooled cannot be closed from this one
        if self._owns_http:
            try:
                await self._http.aclose()
            finally:
                if self._direct is not None:
                    await self._direct.aclose()

    async def close(self) -> None:
        await self.aclose()

    async def __aenter__(self) -> AsyncEnrichmentClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
