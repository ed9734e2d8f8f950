"""Batches: at most ``max_size`` items and ``max_bytes`` bytes of JSON body, one key once."""

from __future__ import annotations

import json
from collections.abc import Iterable

from .item import ItemKey
from .validation import ValidItem


class BatchBuilder:
    """Collects validated items into batches for one project and integration version.

    A key seen again while its batch is still being built replaces the earlier item (which
    is then superseded): the last one is the one sent.
    """

    def __init__(
        self, integration_version: int, project_id: int, max_size: int, max_bytes: int
    ) -> None:
        envelope = {"integrationVersion": integration_version, "projectId": project_id}
        # The body is this envelope with the items' JSON spliced into "enrichments".
        self.prefix = json.dumps(envelope, separators=(",", ":"))[:-1].encode()
        self.prefix += b',"enrichments":['

        self.suffix = b"]}"
        # Bytes of a body besides its items' JSON and the commas between them.
        self._overhead = len(self.prefix) + len(self.suffix)
        self.max_size = max_size
        self.max_bytes = max_bytes
        self._pending: dict[ItemKey, ValidItem] = {}
        self._items_bytes = 0

    @property
    def pending(self) -> list[ValidItem]:
        """The items of the batch being built."""
        return list(self._pending.values())

    @property
    def count(self) -> int:
        return len(self._pending)

    def holds_any(self, keys: Iterable[ItemKey]) -> bool:
        """One of ``keys`` is in the batch being built."""
        return not self._pending.keys().isdisjoint(keys)

    def fits_alone(self, item: ValidItem) -> bool:
        return self.fits(len(item.wire))

    def fits(self, wire_size: int) -> bool:
        """An item of ``wire_size`` bytes of JSON fits in a batch of its own."""
        return self._overhead + wire_size <= self.max_bytes

    def fits_more(self, count: int, json_size: int) -> bool:
        """``count`` more items, ``json_size`` bytes of JSON with their commas, fit in the
        batch being built."""
        pending = len(self._pending)
        return pending + count <= self.max_size and (
            # pending commas: between the items built so far, and one before the others
            self._overhead + self._items_bytes + pending + json_size
            <= self.max_bytes
        )

    def add(self, item: ValidItem) -> tuple[list[ValidItem], ValidItem | None]:
        """Add ``item``; returns (a full batch to send first or [], the item it superseded)."""
        superseded = self._pending.pop(item.key, None)
        if superseded is not None:
            self._items_bytes -= len(superseded.wire)
        ready: list[ValidItem] = []
        pending = len(self._pending)
        size = len(item.wire)
        # With this item: pending + 1 items, pending commas between them.
        if pending and (
            pending >= self.max_size
            or self._overhead + self._items_bytes + size + pending > self.max_bytes
        ):
            ready = self.flush()
        self._pending[item.key] = item
        self._items_bytes += size
        return ready, superseded

    def extend(self, items: list[ValidItem]) -> tuple[list[list[ValidItem]], int]:
        """``add`` for many items at once (the hot path of a send): returns the full
        batches to send first, and how many items were superseded."""
        batches: list[list[ValidItem]] = []
        superseded = 0
        pending = self._pending
        size = self._items_bytes
        max_size = self.max_size
        room = self.max_bytes - self._overhead
        # item[2] and item[3] are ValidItem.key and .wire: indexing a tuple is cheaper than
        # its named attributes, once per item of every send.
        for item in items:
            key = item[2]
            earlier = pending.pop(key, None)
            if earlier is not None:
                superseded += 1
                size -= len(earlier[3])
            count = len(pending)
            wire = len(item[3])
            # With this item: count + 1 items, count commas between them.
            if count and (count >= max_size or size + wire + count > room):
                batches.append(list(pending.values()))
                pending = self._pending = {}
                size = 0
            pending[key] = item
            size += wire
        self._items_bytes = size
        return batches, superseded

    def flush(self) -> list[ValidItem]:
        batch = list(self._pending.values())
        self._pending.clear()
        self._items_bytes = 0
        return batch

    def body(self, items: list[ValidItem]) -> bytes:
        return self.prefix + b",".join(item.wire for item in items) + self.suffix
