"""The source of the ``Enrichment`` model, through datamodel-code-generator (a library call).

enrichgen derives a JSON Schema from the integration and lets datamodel-code-generator write
the pydantic v2 model. Each field refers to one definition per field type (``WireString``, …);
the public ``type_overrides`` option replaces each definition with the annotated type of the
package's ``field_types`` module, where the value rules live. datamodel-code-generator only
takes absolute import paths, so it is handed a placeholder package that becomes a relative
import here (a vendored package must not depend on its own name), and isort then orders the
imports as ruff expects. Nothing else of its output is touched.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from generator.field_specs import FIELD_SPECS
from generator.integration_spec import Integration
from generator.problems import one_line

_PLACEHOLDER = "enrichgen_placeholder_package"


def enrichment_json_schema(integration: Integration) -> dict[str, Any]:
    """The JSON Schema of one enrichment, as datamodel-code-generator reads it.

    ``additionalProperties`` is left to the model's base class (``WireModel`` forbids unknown
    keys), so the generated class carries no configuration of its own.
    """
    used = sorted({FIELD_SPECS[field.type].annotation for field in integration.fields})
    definitions = {spec.annotation: spec.json_schema for spec in FIELD_SPECS.values()}
    properties: dict[str, Any] = {}
    for field in integration.fields:
        prop: dict[str, Any] = {"$ref": f"#/$defs/{FIELD_SPECS[field.type].annotation}"}
        if field.label is not None:
            prop["title"] = field.label
        if field.description is not None:
            prop["description"] = field.description
        properties[field.wire_name] = prop
    return {
        "title": "Enrichment",
        "description": _class_docstring(integration),
        "type": "object",
        "$defs": {name: definitions[name] for name in used},
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


def render_models(integration: Integration) -> str:
    """Python source of the models module body (not yet formatted by black, no header)."""
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
            json.dumps(enrichment_json_schema(integration)),
            input_file_type=InputFileType.JsonSchema,
            output_model_type=DataModelType.PydanticV2BaseModel,
            target_python_version=PythonVersion.PY_310,
            base_class=f"{_PLACEHOLDER}.wire_model.WireModel",
            type_overrides=overrides,
            aliases={
                field.wire_name: field.identifier
                for field in integration.fields
                if field.wire_name != field.identifier
            },
            use_annotated=True,
            use_schema_description=True,
            use_field_description=False,
            field_constraints=True,
            disable_timestamp=True,
            custom_file_header='"""The Enrichment model: one attribute per field of the schema."""',
            formatters=[],
        )
    assert isinstance(source, str)
    source = source.replace(f"from {_PLACEHOLDER}.", "from .")
    return isort.code(source, profile="black", py_version="310")
