"""One specification per field type: everything the generator says about STRING, INT, FLOAT,
BOOL and DATETIME, in one table.

The value rules themselves live in the package's runtime (``field_types``: the annotated types
the models and the bulk validator share; ``item_files``: reading a CSV cell); each
specification names them and says how the generated code and its tests use them. Templates
only print what is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.integration_spec import FieldType


@dataclass(frozen=True)
class FieldSpec:
    type: FieldType
    annotation: str
    """The annotated type of the package's ``field_types`` that the ``Enrichment`` model uses."""
    wire_annotation: str
    """The annotated type the bulk validator uses: the value straight into its wire form."""
    json_schema: dict[str, Any]
    """The JSON Schema of a value, as datamodel-code-generator reads it."""
    straight_refusal: str
    """Source of the test by which the package's straight-line check of items
    (``check_items`` in ``integration``) leaves ``value`` to the bulk validator: true for
    every value the rules refuse, and for the valid ones whose wire form is not the value
    itself."""
    straight_names: tuple[str, ...] = ()
    """The names of ``field_types`` that ``straight_refusal`` uses."""
    straight_comment: str = ""
    """A comment above ``straight_refusal`` in the generated code, when it needs one."""

    def sample_wire(self, index: int) -> str:
        """Source of a valid wire value, different for each ``index`` (1 to 10)."""
        if self.type is FieldType.STRING:
            return repr(f"sample {index}")
        if self.type is FieldType.INT:
            return str(40 + index)
        if self.type is FieldType.FLOAT:
            return f"{index}.5"
        if self.type is FieldType.BOOL:
            return str(index % 2 == 0)
        return repr(f"2024-03-10T12:{index:02d}:00Z")

    def sample_python(self, index: int) -> str:
        """Source of the same value as a Python user would write it."""
        if self.type is FieldType.DATETIME:
            return f"datetime(2024, 3, 10, 12, {index}, tzinfo=timezone.utc)"
        return self.sample_wire(index)


FIELD_SPECS: dict[FieldType, FieldSpec] = {
    spec.type: spec
    for spec in (
        FieldSpec(
            FieldType.STRING,
            "WireString",
            "BulkString",
            {"type": "string"},
            # Only a long string is encoded to count its bytes (surrogatepass: a lone
            # surrogate is then refused by the encoder, not raised here).
            "type(value) is not str or (len(value) > SHORT_STRING_CHARS and "
            'len(value.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES)',
            ("MAX_STRING_BYTES", "SHORT_STRING_CHARS"),
        ),
        FieldSpec(
            FieldType.INT,
            "WireInt",
            "WireInt",
            {"type": "integer"},
            "type(value) is not int or not INT_MIN <= value <= INT_MAX",
            ("INT_MAX", "INT_MIN"),
        ),
        FieldSpec(
            FieldType.FLOAT,
            "WireFloat",
            "WireFloat",
            {"type": "number"},
            "type(value) is not float or value - value != 0",
            straight_comment="# NaN and ±inf: value - value is NaN",
        ),
        FieldSpec(
            FieldType.BOOL, "WireBool", "WireBool", {"type": "boolean"}, "type(value) is not bool"
        ),
        FieldSpec(
            FieldType.DATETIME,
            "WireDatetime",
            "BulkDatetime",
            {"type": "string", "format": "date-time"},
            # The text itself is matched later, with the chunk's others (CheckedItems).
            "type(value) is not str",
        ),
    )
}
