"""The ``Enrichment`` model, through datamodel-code-generator (called as a library).

enrichgen derives a JSON Schema from the integration and lets datamodel-code-generator write the
pydantic v2 model. Each field's type is one of the annotated types of the package's
``field_types`` module, where the value rules live; the JSON Schema points at them with
``customTypePath``. datamodel-code-generator only takes absolute import paths, so it is handed a
placeholder module that is turned into a relative import here: a vendored package must not
depend on its own name.
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

from generator.integration import FieldType, Integration
from generator.render import pycomment

_PLACEHOLDER = "enrichgen_placeholder_package"

# The annotated type (in the generated field_types module) that carries each type's rules.
FIELD_TYPE_ANNOTATIONS = {
    FieldType.STRING: "WireString",
    FieldType.INT: "WireInt",
    FieldType.FLOAT: "WireFloat",
    FieldType.BOOL: "WireBool",
    FieldType.DATETIME: "WireDatetime",
}

# The bulk validator reads DATETIME straight into its wire text.
VALIDATION_ANNOTATIONS = {
    **FIELD_TYPE_ANNOTATIONS,
    FieldType.DATETIME: "WireDatetimeText",
}


def enrichment_json_schema(integration: Integration) -> dict[str, Any]:
    """The JSON Schema of one enrichment, as datamodel-code-generator reads it."""
    properties: dict[str, Any] = {}
    for field in integration.fields:
        prop: dict[str, Any] = {
            "customTypePath": f"{_PLACEHOLDER}.field_types.{FIELD_TYPE_ANNOTATIONS[field.type]}"
        }
        if field.label is not None:
            prop["title"] = field.label
        if field.description is not None:
            prop["description"] = field.description
        properties[field.wire_name] = prop
    return {
        "title": "Enrichment",
        "description": _class_docstring(integration),
        "type": "object",
        "properties": properties,
        "required": [field.wire_name for field in integration.fields if not field.optional],
        "additionalProperties": False,
    }


def _class_docstring(integration: Integration) -> str:
    title = integration.label or integration.name
    lines = [f"One enrichment of the {title} integration (version {integration.version})."]
    if integration.description:
        lines += ["", integration.description]
    lines += ["", "Attributes are the schema's fields; each field's wire name is its alias."]
    # Documentation only: keep it to printable text so no character can change its meaning.
    return "\n".join(pycomment(line) for line in lines)


def _import_group(line: str) -> int:
    module = line.split()[1]
    if module == "__future__":
        return 0
    if module.startswith("."):
        return 3
    return 1 if module.split(".")[0] in sys.stdlib_module_names else 2


def _group_imports(source: str) -> str:
    """Order the import block as isort (and ruff) expect: future, stdlib, third party, local."""
    lines = source.splitlines(keepends=True)
    imports = [line for line in lines if line.startswith(("from ", "import "))]
    first = lines.index(imports[0])
    last = lines.index(imports[-1])
    groups: list[list[str]] = [[], [], [], []]
    for line in imports:
        groups[_import_group(line)].append(line)
    block = "\n".join("".join(sorted(group)) for group in groups if group)
    return "".join(lines[:first]) + block + "".join(lines[last + 1 :])


def render_models(integration: Integration) -> str:
    """Python source of the models module body (not yet formatted, no header)."""
    from datamodel_code_generator import InputFileType, PythonVersion, generate
    from datamodel_code_generator.enums import DataModelType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = generate(
            json.dumps(enrichment_json_schema(integration)),
            input_file_type=InputFileType.JsonSchema,
            output_model_type=DataModelType.PydanticV2BaseModel,
            target_python_version=PythonVersion.PY_310,
            base_class=f"{_PLACEHOLDER}.wire_model.WireModel",
            aliases={
                field.wire_name: field.identifier
                for field in integration.fields
                if field.wire_name != field.identifier
            },
            use_annotated=True,
            use_double_quotes=True,
            use_schema_description=True,
            use_field_description=False,
            field_constraints=True,
            disable_timestamp=True,
            custom_file_header='"""The Enrichment model: one attribute per field of the schema."""',
            formatters=[],
        )
    assert isinstance(source, str)
    source = source.replace(f"from {_PLACEHOLDER}.", "from .")
    source = _group_imports(source)
    # field_types declares arbitrary types itself; the option datamodel-code-generator adds
    # for custom types is noise here.
    source = source.replace("        arbitrary_types_allowed=True,\n", "")
    return source
