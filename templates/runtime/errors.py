"""The exceptions of the package.

Exceptions are raised only for problems no item could survive; a bad item or a failed batch is
reported in the ``SendReport`` instead. No message ever holds a secret, a token or a field value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import SendReport


class EnrichmentError(Exception):
    """Base of the package's own errors: refused credentials, an unsafe endpoint, a token
    that cannot be had, a session key that cannot be read. Not of ``SendInterrupted`` (a
    ``KeyboardInterrupt``), nor of the ``ValueError`` of a bad option, nor of what the
    caller's own code raised during a send."""

    report: SendReport | None = None
    """Raised by ``send``: what happened to the items until then (what was in flight or
    not read has no outcome; ``report.first_unfinished`` says where to resume)."""


class AuthenticationError(EnrichmentError):
    """The token endpoint refused the credentials (or answered something unusable)."""


class UnsafeEndpointError(EnrichmentError):
    """A URL the client would send credentials or a token to is not allowed."""


class SendInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a signal handler raising ``KeyboardInterrupt``) during ``send``: its
    ``report`` says what happened until then and where to resume (``first_unfinished``).
    """

    def __init__(self, report: SendReport) -> None:
        super().__init__("the send was interrupted")
        self.report = report
