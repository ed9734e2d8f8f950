"""The reference copy of the schema-dependent modules kept in ``templates/runtime/``.

The fixed runtime imports ``integration`` and ``models`` and its tests import
``tests/test_models``; a copy of those modules, as generated from ``REFERENCE_SCHEMA``, lives
beside the runtime so that ruff, black, ``mypy --strict`` and the runtime's own tests run on
``templates/runtime/`` where it is. They are never copied into a package (``render`` skips
them). ``python -m generator.reference`` rewrites them (``make regen`` does it); a test checks
that they are up to date.
"""

from __future__ import annotations

from pathlib import Path

from generator.integration_spec import load_integration
from generator.package import build_package
from generator.render import REFERENCE_SCHEMA, schema_dependent_outputs, templates_root

ROOT = Path(__file__).resolve().parent.parent


def reference_files() -> dict[str, bytes]:
    """``{path in templates/runtime: content}`` of the reference modules."""
    integration = load_integration(str(ROOT / REFERENCE_SCHEMA))
    files = build_package([integration])
    return {
        path: files[path] for path in sorted(schema_dependent_outputs()) if path.endswith(".py")
    }


def main() -> None:
    runtime = templates_root() / "runtime"
    for path, data in reference_files().items():
        target = runtime / path
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
            print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
