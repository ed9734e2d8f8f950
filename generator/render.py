"""The package's sources for one integration: the fixed runtime, copied, and the few
schema-dependent templates, rendered.

``templates/runtime/`` is ordinary Python (and one JavaScript file), copied into every package
as it is. ``templates/package/`` holds the ``.jinja`` templates of the modules that depend on
the schema; each is rendered, never guessed at: a file is a template because its name ends in
``.jinja``. The template context is built here, in Python, from the field type specifications;
text from the schema reaches it only as a Python literal (``repr``) or as one printable line.

``templates/runtime/`` also holds a reference copy of the schema-dependent modules, generated
from ``REFERENCE_SCHEMA``, so that the runtime imports, type-checks and runs its own tests in
place; those reference files are never copied.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from generator.field_specs import FIELD_SPECS
from generator.integration_spec import FieldType, Integration
from generator.names import is_plain_name
from generator.problems import one_line

TEMPLATE_SUFFIX = ".jinja"
MODELS = "models.py"
REFERENCE_SCHEMA = "integration_schemas/call_tracking.json"
"""The schema of the reference modules kept in ``templates/runtime/`` (relative to the
repository root)."""
_RUNTIME_SUFFIXES = (".py", ".js")
PACKAGE_REQUIREMENTS = ("pydantic>=2.6,<3", "httpx>=0.25,<1")
"""What a generated package needs at run time: the ranges enrichgen's tests run a package's own
tests with (the oldest in a throwaway environment, see the README's vendoring guide)."""
_FIXED_EXPORTS = [
    "DEFAULT_AUTH_URL",
    "INTEGRATION_VERSION",
    "AsyncEnrichmentClient",
    "AuthenticationError",
    "EnrichmentClient",
    "EnrichmentError",
    "InvalidSessionKey",
    "ItemFailure",
    "SendControl",
    "SendInterrupted",
    "SendReport",
    "SessionKey",
    "UnsafeEndpointError",
    "parse_session_key",
]


def _export_order(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions, each alphabetical (isort's order by type)."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def templates_root() -> Path:
    return Path(str(resources.files("generator.templates")))


@functools.cache
def template_sources() -> dict[str, str]:
    """``{template name: source}`` of ``templates/package/``, read once."""
    root = templates_root() / "package"
    return {
        path.relative_to(root).as_posix(): path.read_text("utf-8")
        for path in sorted(root.rglob(f"*{TEMPLATE_SUFFIX}"))
    }


def schema_dependent_outputs() -> set[str]:
    """Output paths that depend on the schema: the rendered templates and the models."""
    return {name.removesuffix(TEMPLATE_SUFFIX) for name in template_sources()} | {MODELS}


@functools.cache
def runtime_sources() -> dict[str, str]:
    """``{output path: source}`` of the fixed runtime, read once."""
    root = templates_root() / "runtime"
    reference = schema_dependent_outputs()
    return {
        relative: path.read_text("utf-8")
        for path in sorted(root.rglob("*"))
        if path.suffix in _RUNTIME_SUFFIXES
        and "__pycache__" not in path.parts
        and (relative := path.relative_to(root).as_posix()) not in reference
    }


@dataclass(frozen=True)
class FieldContext:
    """One field as the templates print it: every value is ready-made source text."""

    wire_name: str
    wire_literal: str
    identifier_literal: str
    type: str
    type_literal: str
    wire_annotation: str
    sample_wire: str
    sample_python: str
    optional: bool
    straight_refusal: str
    straight_comment: str
    is_datetime: bool


@dataclass(frozen=True)
class VersionContext:
    """One integration version as the templates print it. The latest has the plain names
    (``suffix`` empty); an older one has its own (``EnrichmentV1``, ``FIELD_TYPES_V1``)."""

    number: str
    suffix: str
    constant_suffix: str
    fields: list[FieldContext]
    optional_fields: list[str]
    required_count: int
    wire_class_syntax: bool


def _fields(integration: Integration) -> list[FieldContext]:
    fields = []
    for index, field in enumerate(integration.fields, start=1):
        spec = FIELD_SPECS[field.type]
        annotation = spec.wire_annotation
        fields.append(
            FieldContext(
                wire_name=field.wire_name,
                wire_literal=repr(field.wire_name),
                identifier_literal=repr(field.identifier),
                type=field.type.value,
                type_literal=repr(field.type.value),
                wire_annotation=(
                    f"NotRequired[{annotation} | None]" if field.optional else annotation
                ),
                sample_wire=spec.sample_wire(index),
                sample_python=spec.sample_python(index),
                optional=field.optional,
                straight_refusal=spec.straight_refusal,
                straight_comment=spec.straight_comment,
                is_datetime=field.type is FieldType.DATETIME,
            )
        )
    return fields


def _types(integrations: Sequence[Integration]) -> list[str]:
    present = {field.type for integration in integrations for field in integration.fields}
    return [kind.value for kind in FieldType if kind in present]


def _version_context(integration: Integration, latest: bool) -> VersionContext:
    suffix = "" if latest else f"V{integration.version}"
    return VersionContext(
        number=str(integration.version),
        suffix=suffix,
        constant_suffix=suffix and f"_{suffix}",
        fields=_fields(integration),
        optional_fields=[repr(f.wire_name) for f in integration.fields if f.optional],
        required_count=sum(not f.optional for f in integration.fields),
        wire_class_syntax=all(is_plain_name(f.wire_name) for f in integration.fields),
    )


def template_context(versions: Sequence[Integration]) -> dict[str, Any]:
    """Everything the templates print, as source text. ``versions`` are the integration
    versions of the package, oldest first; the single-version names describe the latest."""
    *_, integration = versions
    fields = _fields(integration)
    present = {field.type for version in versions for field in version.fields}
    version_contexts = [
        _version_context(version, version is integration) for version in versions
    ]
    several = len(versions) > 1
    # With several versions each has its own names (``EnrichmentV1``, ``EnrichmentItemV1``):
    # the older versions' enrichments are classes of ``models``; everything else, the latest
    # version's own names among them (aliases of the plain ones), is in ``integration``.
    own_names = [
        f"{name}V{version.version}"
        for version in versions
        for name in ("Enrichment", "EnrichmentItem")
        if several
    ]
    older_enrichments = [f"EnrichmentV{version.version}" for version in versions[:-1]]
    in_integration = [name for name in own_names if name not in older_enrichments]
    return {
        "integration": {
            "name": repr(integration.name),
            "name_text": one_line(integration.name),
            "version": str(integration.version),
            "versions_text": ", ".join(str(version.version) for version in versions),
            "label": repr(integration.label),
            "description": repr(integration.description),
        },
        "fields": fields,
        "optional_fields": [repr(f.wire_name) for f in integration.fields if f.optional],
        "all_optional": all(f.optional for f in integration.fields),
        "types": _types([integration]),
        "versions": version_contexts,
        "older_versions": version_contexts[:-1],
        "several_versions": several,
        "public_items": sorted(["EnrichmentItem", *in_integration]),
        "public_enrichments": sorted(["Enrichment", *older_enrichments]),
        "exports": sorted(
            _FIXED_EXPORTS + ["Enrichment", "EnrichmentItem", *own_names], key=_export_order
        ),
        "test_imports": sorted(
            ["Enrichment", "EnrichmentItem"] + (["INTEGRATION_VERSION", *own_names] if several else []),
            key=_export_order,
        ),
        "requirements_text": " and ".join(PACKAGE_REQUIREMENTS),
        "requirements": PACKAGE_REQUIREMENTS,
        "required_bools": [
            f.identifier
            for f in integration.fields
            if f.type is FieldType.BOOL and not f.optional
        ],
        "wire_annotations": sorted({FIELD_SPECS[kind].wire_annotation for kind in present}),
        # sessionNumber's check uses INT_MAX whatever the fields
        "straight_names": sorted(
            {"INT_MAX"}.union(*(FIELD_SPECS[kind].straight_names for kind in present))
        ),
        "wire_class_syntax": all(is_plain_name(f.wire_name) for f in integration.fields),
    }


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.DictLoader(template_sources()),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render_templates(versions: Sequence[Integration]) -> dict[str, str]:
    """``{relative output path: text}`` for every schema-dependent template."""
    environment = _environment()
    context = template_context(versions)
    return {
        name.removesuffix(TEMPLATE_SUFFIX): environment.get_template(name).render(context)
        for name in sorted(template_sources())
    }
