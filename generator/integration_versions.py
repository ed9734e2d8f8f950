"""Several schemas as the versions of one integration: the same ``name``, each its own
``integrationVersion``. One package (``generate --package``) and one sandbox hold them."""

from __future__ import annotations

from collections.abc import Sequence

from generator.integration_spec import Integration


class VersionsError(ValueError):
    """The schemas given are not versions of one integration (a one-line sentence)."""


def integration_versions(
    integrations: Sequence[Integration], different_names_hint: str
) -> dict[int, Integration]:
    """The schemas by ``integrationVersion``, latest last.

    All must have the same ``name`` and each its own ``integrationVersion``; versions need
    not follow each other (1 and 3 is fine: Contentsquare may have retired 2).
    ``different_names_hint`` ends the message about schemas of different integrations (what
    the user may do instead).
    """
    first = integrations[0]
    by_version: dict[int, Integration] = {}
    for integration in integrations:
        if integration.name != first.name:
            raise VersionsError(
                f"{first.schema_path} and {integration.schema_path} are schemas of "
                f"different integrations ({first.name}, {integration.name}): "
                + different_names_hint
            )
        earlier = by_version.get(integration.version)
        if earlier is not None:
            raise VersionsError(
                f"{earlier.schema_path} and {integration.schema_path} are both "
                f"integrationVersion {integration.version}: each schema of an integration "
                'has its own "integrationVersion"'
            )
        by_version[integration.version] = integration
    return dict(sorted(by_version.items()))
