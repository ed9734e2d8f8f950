"""What the sandbox received: SQLite (standard library), in memory or in a file.

Items are keyed like the real API's writes, (project, userId, sessionNumber, enrichmentNumber):
a later write of the same key replaces the earlier one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from generator.sandbox.checks import StoredItem

MAX_INTEGER = 2**63 - 1
"""SQLite's integers are 64-bit: the largest project id or integrationVersion the store can
hold, and the largest integer filter of the listing."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS enrichments (
    project_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    session_number INTEGER NOT NULL,
    enrichment_number INTEGER NOT NULL,
    enrichment TEXT NOT NULL,
    integration_version INTEGER NOT NULL,
    written INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id, session_number, enrichment_number)
)
"""


class Store:
    """The enrichments received, last write wins. Used from one thread (the server's loop)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or ":memory:"
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute(_SCHEMA)
        self._db.commit()
        self._writes = self._db.execute(
            "SELECT COALESCE(MAX(written), 0) FROM enrichments"
        ).fetchone()[0]

    def write(self, project_id: int, version: int, items: Iterable[StoredItem]) -> int:
        """Store a whole batch in one transaction; returns how many items were written."""
        rows = []
        for item in items:
            self._writes += 1
            rows.append(
                (
                    project_id,
                    item.user_id,
                    item.session_number,
                    item.enrichment_number,
                    json.dumps(item.enrichment, ensure_ascii=False),
                    version,
                    self._writes,
                )
            )
        with self._db:
            self._db.executemany(
                "INSERT INTO enrichments VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (project_id, user_id, session_number, enrichment_number) "
                "DO UPDATE SET enrichment = excluded.enrichment, "
                "integration_version = excluded.integration_version, "
                "written = excluded.written",
                rows,
            )
        return len(rows)

    def enrichments(
        self,
        project_id: int | None = None,
        user_id: str | None = None,
        session_number: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Stored items in their wire form, in the order they were last written."""
        where, parameters = [], []
        for column, value in (
            ("project_id", project_id),
            ("user_id", user_id),
            ("session_number", session_number),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                parameters.append(value)
        query = (
            "SELECT project_id, user_id, session_number, enrichment_number, enrichment, "
            "integration_version FROM enrichments"
        )
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY written"
        if limit is not None:
            query += " LIMIT ?"
            parameters.append(limit)
        return [
            {
                "projectId": row[0],
                "userId": row[1],
                "sessionNumber": row[2],
                "enrichmentNumber": row[3],
                "enrichment": json.loads(row[4]),
                "integrationVersion": row[5],
            }
            for row in self._db.execute(query, parameters)
        ]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM enrichments").fetchone()[0])

    def close(self) -> None:
        self._db.close()
