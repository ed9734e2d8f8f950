"""The integration versions one sandbox serves: schemas of one integration, one per version."""

from __future__ import annotations

from collections.abc import Sequence

from generator import integration_versions as _versions
from generator.integration_spec import Integration

VersionsError = _versions.VersionsError


def integration_versions(integrations: Sequence[Integration]) -> dict[int, Integration]:
    """The schemas by ``integrationVersion``, latest last (see
    ``generator.integration_versions``)."""
    if not integrations:
        raise VersionsError("the sandbox needs at least one integration schema")
    # A schema's integrationVersion is at most 2**31 - 1 (see integration_schema.json): every
    # one fits in the store.
    return _versions.integration_versions(
        integrations,
        'one sandbox serves the versions of one integration; give them the same "name" or '
        "start one sandbox per integration",
    )
