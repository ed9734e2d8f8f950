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


def template_context(integration: Integration) -> dict[str, Any]:
    """Everything the templates print, as source text."""
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
            )
        )
    present = {field.type for field in integration.fields}
    return {
        "integration": {
            "name": repr(integration.name),
            "name_text": one_line(integration.name),
            "version": str(integration.version),
            "label": repr(integration.label),
            "description": repr(integration.description),
        },
        "fields": fields,
        "optional_fields": [repr(f.wire_name) for f in integration.fields if f.optional],
        "types": [kind.value for kind in FieldType if kind in present],
        "required_bools": [
            f.identifier
            for f in integration.fields
            if f.type is FieldType.BOOL and not f.optional
        ],
        "wire_annotations": sorted({FIELD_SPECS[kind].wire_annotation for kind in present}),
        "wire_class_syntax": all(is_plain_name(f.wire_name) for f in integration.fields),
    }


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.DictLoader(template_sources()),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render_templates(integration: Integration) -> dict[str, str]:
    """``{relative output path: text}`` for every schema-dependent template."""
    environment = _environment()
    context = template_context(integration)
    return {
        name.removesuffix(TEMPLATE_SUFFIX): environment.get_template(name).render(context)
        for name in sorted(template_sources())
    }
