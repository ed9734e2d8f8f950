"""What a regeneration changes in a package's schemas: the ``enrichgen diff`` summary of the
package on disk against the schemas it is about to be generated from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from generator.integration_spec import Integration
from generator.package import MANIFEST_NAME
from generator.package_schemas import PackageError, package_integrations
from generator.problems import SchemaError
from generator.schema_diff import compare


def changes_since(package_dir: Path, versions: Sequence[Integration]) -> list[str]:
    """One line per change (and a verdict) from the package at ``package_dir`` to
    ``versions``; empty when there is no package, nothing changed, or the package cannot be
    read (an older enrichgen kept no schemas in its manifest: then there is nothing to say).

    Versions the package keeps are compared one with the other; when the set of versions
    changes (a version added, say), the old latest is compared with the new latest.
    """
    if not (package_dir / MANIFEST_NAME).is_file():
        return []
    try:
        old = package_integrations(package_dir)
    except (PackageError, SchemaError):
        return []
    new = {version.version: version for version in versions}
    lines = []
    if old.keys() == new.keys():
        pairs = [(old[number], new[number]) for number in sorted(new)]
    else:
        pairs = [(old[max(old)], new[max(new)])]
        if len(old) > 1 or len(new) > 1:  # one version for another: the diff says it
            lines.append(
                f"the package's integration versions: {', '.join(map(str, sorted(old)))} → "
                f"{', '.join(map(str, sorted(new)))}"
            )
    for before, after in pairs:
        result = compare(before, after)
        if result.changes:
            prefix = f"integrationVersion {after.version}: " if len(pairs) > 1 else ""
            lines += [prefix + line for line in result.lines()]
    return lines
