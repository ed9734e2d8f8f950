"""Every rule an integration schema must follow.

The structural rules are a JSON Schema (``integration_schema.json``) checked with ``jsonschema``;
the rules it cannot say — UTF-8 byte lengths, fields per type, identifier collisions — are here.
Each broken rule becomes one ``Problem`` with a JSON pointer and a sentence that says the fix.
"""

from __future__ import annotations

import difflib
import json
import unicodedata
from collections import Counter, defaultdict
from importlib import resources
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the package

from generator.names import field_identifier, is_package_name, package_identifier
from generator.problems import Problem, describe_character

FIELD_TYPES = ("STRING", "INT", "FLOAT", "BOOL", "DATETIME")
MAX_FIELDS_PER_TYPE = 10
MAX_NAME_BYTES = 30

# The item envelope's wire names and attributes: a field with one of them would be ambiguous in
# the package's CSV files (one header row holds both) and in the code that reads items.
ENVELOPE_NAMES = {
    "userId": "user_id",
    "sessionNumber": "session_number",
    "enrichmentNumber": "enrichment_number",
    "enrichment": "enrichment",
}

# Keys whose text is prose for people: there the joiners that some scripts and emoji need are
# allowed; every other invisible format character is refused everywhere.
_PROSE_KEYS = frozenset({"label", "description"})
_JOINERS = frozenset({"\u200c", "\u200d"})  # ZERO WIDTH NON-JOINER, ZERO WIDTH JOINER

_STRUCTURE = json.loads(
    resources.files("generator").joinpath("integration_schema.json").read_text("utf-8")
)
# A JSON integer is one written as such: 1.0 and 1e2 (floats once read) are refused, for the
# generated code and the wire carry the number as written.
_INTEGERS_AS_WRITTEN = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, type_checker=_INTEGERS_AS_WRITTEN
)(_STRUCTURE)

_JSON_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}


def _pointer(parts: Any) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _cut(text: str, limit: int = 80) -> str:
    """``text``, or its start and an ellipsis: a message echoes what it refers to, not 100 kB."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == word.lower()]
    return f"; did you mean {close[0]!r}?" if close else ""


def _structural_problems(path: str, document: Any) -> list[Problem]:
    problems = []
    errors = sorted(_VALIDATOR.iter_errors(document), key=lambda e: (list(map(str, e.path)), e.validator))
    for error in errors:
        pointer = _pointer(error.absolute_path)
        for message_pointer, message in _explain(error):
            problems.append(Problem(path, message, pointer=pointer + message_pointer))
    return problems


def _explain(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    """Turn one jsonschema error into sentences for people (with an extra pointer suffix)."""
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    in_field = "name" in schema.get("properties", {}) and "optional" in schema.get("properties", {})
    where = "a field" if in_field else "the schema"
    if kind == "required":
        missing = error.message.split("'")[1]
        hints = {
            "fields": 'add "fields": [ ... ] with at least one field',
            "name": 'add "name": "<field name>"',
            "type": 'add "type": one of ' + ", ".join(FIELD_TYPES),
            "optional": 'add "optional": true or false',
        }
        return [("", f"{where} is missing the required key {missing!r}: {hints.get(missing, '')}".rstrip(": "))]
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        known = set(allowed)
        return [
            (
                "/" + _cut(key).replace("~", "~0").replace("/", "~1"),
                (
                    f"unknown key {_cut(key)!r} in {where}{_did_you_mean(key[:100], allowed)}"
                    f" (allowed: {', '.join(allowed)})"
                ),
            )
            for key in error.instance
            if key not in known
        ]
    if kind == "enum":
        value = error.instance
        if isinstance(value, str):
            hint = _did_you_mean(value.upper(), FIELD_TYPES) or _did_you_mean(value, FIELD_TYPES)
            return [("", f"unknown field type {value!r}{hint} (use one of {', '.join(FIELD_TYPES)})")]
        return [("", f"the field type must be a string, one of {', '.join(FIELD_TYPES)}; got {_describe(value)}")]
    if kind == "type":
        expected = _JSON_TYPE_NAMES.get(str(error.validator_value), str(error.validator_value))
        value = error.instance
        if expected == "a whole number" and isinstance(value, float):
            if value.is_integer():
                return [("", f"must be a whole number written without a decimal point or exponent: {int(value)}, not {value!r}")]
            return [("", f"must be a whole number, not {value!r}")]
        return [("", f"must be {expected}, not {_describe(value)}")]
    if kind == "minItems":
        return [("", "the schema needs at least one field")]
    if kind == "minLength":
        return [("", "must not be empty")]
    if kind == "maximum":
        return [("", f"must be at most {error.validator_value} (got {error.instance})")]
    if kind == "minimum":
        return [("", f"must be {error.validator_value} or more (got {error.instance})")]
    return [("", error.message)]


def _field_problems(path: str, fields: list[Any]) -> list[Problem]:
    problems: list[Problem] = []
    wire_names: dict[str, int] = {}
    identifiers: dict[str, list[int]] = defaultdict(list)
    type_counts: Counter[str] = Counter()
    for index, field in enumerate(fields):
        if not isinstance(field, dict):
            continue
        name = field.get("name")
        if isinstance(field.get("type"), str) and field["type"] in FIELD_TYPES:
            type_counts[field["type"]] += 1
        if not isinstance(name, str) or not name or _refused_character(name, prose=False):
            continue  # a name that is not text is reported by _text_problems
        size = len(name.encode("utf-8"))
        if size > MAX_NAME_BYTES:
            problems.append(
                Problem(
                    path,
                    f"field name {name!r} is {size} bytes in UTF-8; the API allows at most "
                    f"{MAX_NAME_BYTES}: shorten it",
                    pointer=f"/fields/{index}/name",
                )
            )
        if name in wire_names:
            problems.append(
                Problem(
                    path,
                    f"field name {name!r} is already used by /fields/{wire_names[name]}: "
                    "field names must be unique",
                    pointer=f"/fields/{index}/name",
                )
            )
            continue
        wire_names[name] = index
        identifier = field_identifier(name)
        if name in ENVELOPE_NAMES or identifier in ENVELOPE_NAMES.values():
            problems.append(
                Problem(
                    path,
                    f"field name {name!r} is taken by the item envelope (userId, "
                    "sessionNumber, enrichmentNumber, enrichment), which every item already "
                    "has: rename the field",
                    pointer=f"/fields/{index}/name",
                )
            )
            continue
        identifiers[identifier].append(index)
    for identifier, indexes in identifiers.items():
        # An attribute named as another field is on the wire would take that field's value
        # too (models accept both names): "aӀb" becomes the attribute "aӏb", say.
        other = wire_names.get(identifier)
        if other is not None and other not in indexes:
            problems.append(
                Problem(
                    path,
                    f"field name {fields[indexes[0]]['name']!r} becomes the Python attribute "
                    f"{identifier!r}, which is the name of /fields/{other}: rename one of them",
                    pointer=f"/fields/{indexes[0]}/name",
                )
            )
        if len(indexes) < 2:
            continue
        first = indexes[0]
        for index in indexes[1:]:
            problems.append(
                Problem(
                    path,
                    f"field names {fields[first]['name']!r} (/fields/{first}) and "
                    f"{fields[index]['name']!r} both become the Python attribute "
                    f"{identifier!r}: rename one of them",
                    pointer=f"/fields/{index}/name",
                )
            )
    for field_type, count in sorted(type_counts.items()):
        if count > MAX_FIELDS_PER_TYPE:
            problems.append(
                Problem(
                    path,
                    f"{count} fields of type {field_type}; the API allows at most "
                    f"{MAX_FIELDS_PER_TYPE} per type: remove {count - MAX_FIELDS_PER_TYPE}",
                    pointer="/fields",
                )
            )
    return problems


def _refused_character(text: str, *, prose: bool) -> str | None:
    """The first character of ``text`` that must not be in a schema, or None.

    Lone surrogates (``"\\ud800"`` without its pair) are not text: they cannot be written as
    UTF-8. Invisible format characters — bidi overrides and isolates (U+202A–U+202E,
    U+2066–U+2069), zero-width spaces, the BOM — would be copied into the generated code's
    docstrings and comments, where they make it read differently from what it does ("Trojan
    Source").
    """
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs" or (category == "Cf" and not (prose and ch in _JOINERS)):
            return ch
    return None


def _text_problem(path: str, pointer: str, what: str, ch: str) -> Problem:
    if unicodedata.category(ch) == "Cs":
        why = (
            "a lone surrogate (half of a UTF-16 pair, as in the escape \\ud800), which is not "
            "text: fix or remove the escape"
        )
    else:
        why = (
            "an invisible formatting character that changes how the text around it is shown "
            "(it could make the generated code read differently from what it does): remove it"
        )
    return Problem(path, f"{what} holds {describe_character(ch)}, {why}", pointer=pointer)


def _text_problems(path: str, document: Any) -> list[Problem]:
    """A problem for each key or string value of ``document`` holding a refused character."""
    problems = []
    stack: list[tuple[str, Any, bool]] = [("", document, False)]
    while stack:  # not recursive: the depth of the document is not ours to choose
        pointer, value, prose = stack.pop()
        if isinstance(value, str):
            bad = _refused_character(value, prose=prose)
            if bad is not None:
                problems.append(_text_problem(path, pointer or "/", "the text", bad))
        elif isinstance(value, list):
            stack.extend((f"{pointer}/{index}", item, False) for index, item in enumerate(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                member = pointer + _pointer([key])
                bad = _refused_character(key, prose=False)
                if bad is not None:
                    problems.append(_text_problem(path, member, "the key", bad))
                stack.append((member, item, key in _PROSE_KEYS))
    return problems


def _document_order(problem: Problem) -> list[tuple[int, str]]:
    parts = (problem.pointer or "").split("/")[1:]
    # An array index is a few ASCII digits; a key may be "²", which str.isdigit() accepts
    # too, or 5,000 digits, more than int() reads.
    return [
        (int(part), "") if len(part) <= 18 and part.isascii() and part.isdigit() else (-1, part)
        for part in parts
    ]


def schema_problems(path: str, document: Any, fallback_name: str) -> list[Problem]:
    """Every problem of ``document``, in document order; an empty list means it is valid."""
    return sorted(_all_problems(path, document, fallback_name), key=_document_order)


def _all_problems(path: str, document: Any, fallback_name: str) -> list[Problem]:
    problems = _structural_problems(path, document) + _text_problems(path, document)
    if not isinstance(document, dict):
        return problems
    fields = document.get("fields")
    if isinstance(fields, list):
        problems.extend(_field_problems(path, fields))
    name = document.get("name")
    if isinstance(name, str) and _refused_character(name, prose=False) is not None:
        return problems  # reported by _text_problems; no package name can come from it
    if isinstance(name, str) and name:
        if not package_identifier(name):
            problems.append(
                Problem(
                    path,
                    f"the schema name {name!r} has no letters or digits to build a package "
                    "name from: use letters, digits and underscores",
                    pointer="/name",
                )
            )
    elif "name" not in document and not package_identifier(fallback_name):
        problems.append(
            Problem(
                path,
                f"the file name {fallback_name!r} gives no package name: add a \"name\" key",
                pointer="/",
            )
        )
    if "name" not in document and package_identifier(fallback_name) and not is_package_name(package_identifier(fallback_name)):
        problems.append(
            Problem(
                path,
                f"the file name {fallback_name!r} must give an ASCII package name: add a "
                '"name" key with ASCII letters',
                pointer="/",
            )
        )
    if isinstance(name, str) and package_identifier(name) and not is_package_name(package_identifier(name)):
        problems.append(
            Problem(
                path,
                f"the schema name {name!r} must give an ASCII package name: use ASCII letters",
                pointer="/name",
            )
        )
    return problems
