"""The source of the ``Enrichment`` models, through datamodel-code-generator (a library call).

enrichgen derives a JSON Schema from the integration and lets datamodel-code-generator write
the pydantic v2 model. Each field refers to one definition per field type (``WireString``, …);
the public ``type_overrides`` option replaces each definition with the annotated type of the
package's ``field_types`` module, where the value rules live. datamodel-code-generator only
takes absolute import paths, so it is handed a placeholder package that becomes a relative
import here (a vendored package must not depend on its own name), and isort then orders the
imports as ruff expects. Nothing else of its output is touched.

A package of several integration versions gets one class per version from one JSON Schema:
the latest is the schema itself (``Enrichment``), each older version a definition of it
(``EnrichmentV1``, …), which datamodel-code-generator writes as a class of its own.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

from generator.field_specs import FIELD_SPECS
from generator.integration_spec import Integration
from generator.problems import one_line

_PLACEHOLDER = "enrichgen_placeholder_package"
_SINGLE_HEADER = '"""The Enrichment model: one attribute per field of the schema."""'
_VERSIONS_HEADER = (
    '"""The Enrichment models: one class per integration version (the latest is '
    '``Enrichment``), one attribute per field of its schema."""'
)


def versioned_name(name: str, version: int) -> str:
    """The name of an older version's class: ``Enrichment`` → ``EnrichmentV1``."""
    return f"{name}V{version}"


def enrichment_json_schema(integration: Integration) -> dict[str, Any]:
    """The JSON Schema of one enrichment, as datamodel-code-generator reads it.

    ``additionalProperties`` is left to the model's base class (``WireModel`` forbids unknown
    keys), so the generated class carries no configuration of its own.
    """
    return versions_json_schema([integration])


def versions_json_schema(versions: Sequence[Integration]) -> dict[str, Any]:
    """The JSON Schema of the latest of ``versions`` (oldest first), each older version one of
    its definitions, named ``EnrichmentV<n>``."""
    *older, latest = versions
    used = sorted(
        {FIELD_SPECS[field.type].annotation for version in versions for field in version.fields}
    )
    definitions: dict[str, Any] = {
        spec.annotation: spec.json_schema for spec in FIELD_SPECS.values()
    }
    schema = {"title": "Enrichment", **_object_schema(latest)}
    schema["$defs"] = {name: definitions[name] for name in used}
    for version in older:
        name = versioned_name("Enrichment", version.version)
        schema["$defs"][name] = {"title": name, **_object_schema(version)}
    return {key: schema[key] for key in _KEY_ORDER}


# The order of today's single-version schema, kept so that its output does not move.
_KEY_ORDER = ("title", "description", "type", "$defs", "properties", "required")


def _object_schema(integration: Integration) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for field in integration.fields:
        prop: dict[str, Any] = {"$ref": f"#/$defs/{FIELD_SPECS[field.type].annotation}"}
        if field.label is not None:
            prop["title"] = field.label
        if field.description is not None:
            prop["description"] = field.description
        properties[field.wire_name] = prop
    return {
        "description": _class_docstring(integration),
        "type": "object",
        "properties": properties,
        "required": [field.wire_name for field in integration.fields if not field.optional],
    }


def _class_docstring(integration: Integration) -> str:
    title = integration.label or integration.name
    lines = [f"One enrichment of the {title} integration (version {integration.version})."]
    if integration.description:
        lines += ["", integration.description]
    lines += ["", "Attributes are the schema's fields; each field's wire name is its alias."]
    # Documentation only: keep it to printable text so no character can change its meaning.
    return "\n".join(one_line(line) for line in lines)


def render_models(versions: Sequence[Integration]) -> str:
    """Python source of the models module body (not yet formatted by black, no header):
    one class per integration version (``versions`` oldest first)."""
    import isort
    from datamodel_code_generator import InputFileType, PythonVersion, generate
    from datamodel_code_generator.enums import DataModelType

    overrides = {
        spec.annotation: f"{_PLACEHOLDER}.field_types.{spec.annotation}"
        for spec in FIELD_SPECS.values()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = generate(
            json.dumps(versions_json_schema(versions)),
            input_file_type=InputFileType.JsonSchema,
            output_model_type=DataModelType.PydanticV2BaseModel,
            target_python_version=PythonVersion.PY_310,
            base_class=f"{_PLACEHOLDER}.wire_model.WireModel",
            type_overrides=overrides,
            aliases={
                field.wire_name: field.identifier
                for version in versions
                for field in version.fields
                if field.wire_name != field.identifier
            },
            use_annotated=True,
            use_schema_description=True,
            use_field_description=False,
            field_constraints=True,
            disable_timestamp=True,
            custom_file_header=(
                _SINGLE_HEADER if len(versions) == 1 else _VERSIONS_HEADER
            ),
            formatters=[],
        )
    assert isinstance(source, str)
    source = source.replace(f"from {_PLACEHOLDER}.", "from .")
    return isort.code(source, profile="black", py_version="310")
