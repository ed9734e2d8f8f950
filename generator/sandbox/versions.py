"""The integration versions one sandbox serves: schemas of one integration, one per version."""

from __future__ import annotations

from collections.abc import Sequence

from generator import integration_versions as _versions
from generator.integration_spec import Integration
from generator.sandbox.store import MAX_INTEGER

VersionsError = _versions.VersionsError


def integration_versions(integrations: Sequence[Integration]) -> dict[int, Integration]:
    """The schemas by ``integrationVersion``, latest last (see
    ``generator.integration_versions``)."""
    if not integrations:
        raise VersionsError("the sandbox needs at least one integration schema")
    served = _versions.integration_versions(
        integrations,
        'one sandbox serves the versions of one integration; give them the same "name" or '
        "start one sandbox per integration",
    )
    for version, integration in served.items():
        if version > MAX_INTEGER:
            # Every batch of it would fail to be stored: refused now rather than with a 500.
            raise VersionsError(
                f"{integration.schema_path}: the sandbox serves an integrationVersion up "
                f"to {MAX_INTEGER} (the largest integer SQLite stores), not {version}"
            )
    return served
