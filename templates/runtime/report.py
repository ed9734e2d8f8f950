"""The outcome of a send: every item ends in exactly one of accepted, rejected, failed or
superseded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class ItemFailure:
    """An item that was not delivered, and why."""

    index: int
    """Position of the item in the input."""
    item: Any = field(repr=False)
    """The input as given (kept out of the repr: it holds field values)."""
    reason: str
    field: str | None = None
    """Wire name of the bad field, when one is known."""
    status: int | None = None
    """HTTP status of the answer, when the server gave one."""
    outcome: Literal["rejected", "failed"] = "rejected"
    """Which list of the report it belongs to (for ``send(on_failure=...)``)."""


@dataclass
class SendReport:
    """What happened to the items of one ``send``.

    When ``send`` is given ``on_failure``, each failure goes to it as it is decided instead
    of into ``rejected`` and ``failed`` (so that memory stays bounded); ``rejected_count``
    and ``failed_count`` count them either way.
    """

    accepted: int = 0
    rejected: list[ItemFailure] = field(default_factory=list)
    """Invalid locally, or refused by the server: resending the same data will not help."""
    failed: list[ItemFailure] = field(default_factory=list)
    """Not delivered: safe to resend later."""
    superseded: int = 0
    """Earlier writes of a key replaced before they were sent; the last one is sent."""
    requests: int = 0
    """HTTP requests made to the enrichment endpoint."""
    retries: int = 0
    rejected_count: int = 0
    failed_count: int = 0
    first_unfinished: int | None = None
    """Set when the send was stopped early: the position of the first item with no
    outcome. Every item before it has one; resume the input there."""

    @property
    def batches(self) -> int:
        """The old name of ``requests`` (it always counted HTTP requests)."""
        return self.requests

    @property
    def ok(self) -> bool:
        """True when nothing was rejected or failed (and nothing was left unfinished)."""
        return (
            not (
                self.rejected or self.failed or self.rejected_count or self.failed_count
            )
            and self.first_unfinished is None
        )

    @property
    def total(self) -> int:
        """Items with an outcome."""
        return self.accepted + self.rejected_count + self.failed_count + self.superseded

    def __str__(self) -> str:
        text = (
            f"{self.accepted} accepted, {self.rejected_count} rejected, "
            f"{self.failed_count} failed, {self.superseded} superseded "
            f"({self.requests} requests, {self.retries} retries)"
        )
        if self.first_unfinished is not None:
            text += f"; stopped before item {self.first_unfinished}"
        return text
