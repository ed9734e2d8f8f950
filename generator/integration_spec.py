"""The typed description of one integration: the one object everything after loading reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from generator.names import field_identifier, is_package_name, package_identifier
from generator.problems import Problem, SchemaError
from generator.schema_loader import read_schema_file
from generator.schema_rules import schema_problems


class FieldType(str, Enum):
    STRING = "STRING"
    INT = "INT"
    FLOAT = "FLOAT"
    BOOL = "BOOL"
    DATETIME = "DATETIME"


@dataclass(frozen=True)
class Field:
    wire_name: str
    identifier: str
    type: FieldType
    optional: bool
    label: str | None
    description: str | None


@dataclass(frozen=True)
class Integration:
    name: str  # the schema name as a Python identifier
    package: str
    version: int
    label: str | None
    description: str | None
    fields: tuple[Field, ...]
    schema_path: str
    schema_sha256: str
    schema: Any = field(default=None, compare=False, repr=False)
    """The schema document as it was read (the manifest keeps a copy, for ``enrichgen diff``)."""


def load_integration(path: str, package: str | None = None) -> Integration:
    """Read, validate and describe the schema at ``path``; ``SchemaError`` lists every problem."""
    schema_file = read_schema_file(path)
    stem = Path(path).stem
    problems = schema_problems(path, schema_file.document, stem)
    if package is not None and not is_package_name(package):
        problems.append(
            Problem(path, f"--package {package!r} is not a valid Python package name", pointer="/")
        )
    if problems:
        raise SchemaError(problems)
    document = schema_file.document
    schema_name = document.get("name") or stem
    default_package = package_identifier(schema_name)
    fields = tuple(
        Field(
            wire_name=field["name"],
            identifier=field_identifier(field["name"]),
            type=FieldType(field["type"]),
            optional=field["optional"],
            label=field.get("label"),
            description=field.get("description"),
        )
        for field in document["fields"]
    )
    return Integration(
        name=default_package.removesuffix("_enrichment"),
        package=package or default_package,
        version=document.get("integrationVersion", 1),
        label=document.get("label"),
        description=document.get("description"),
        fields=fields,
        schema_path=path,
        schema_sha256=schema_file.sha256,
        schema=document,
    )
