"""How schema names become Python identifiers.

Field names become snake_case attribute names of the generated ``Enrichment`` model; the wire
name always stays the alias. Anything that would shadow a keyword, a builtin or an attribute that
pydantic's ``BaseModel`` (or our own ``to_wire``) already has gets a trailing ``_``.
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata

from pydantic import BaseModel

# Attribute names the generated models already use: a field must not shadow them.
_MODEL_ATTRIBUTES = frozenset(name for name in dir(BaseModel) if not name.startswith("__")) | {
    "to_wire",
    "model_config",
    "model_fields",
    "model_computed_fields",
}
RESERVED = (
    frozenset(keyword.kwlist)
    | frozenset(keyword.softkwlist)
    | frozenset(dir(builtins))
    | _MODEL_ATTRIBUTES
)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _to_ascii_where_possible(text: str) -> str:
    """Strip accents (``é`` → ``e``); letters with no ASCII form stay as they are."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Python itself compares identifiers in NFKC form, so we must too.
    return unicodedata.normalize("NFKC", stripped)


def _known_to_python_310(ch: str) -> bool:
    """True when ``ch`` may be part of a name on every Python the packages support.

    The generated packages run on 3.10, whose Unicode database is older than this
    interpreter's: a letter added since (U+1E7E0, say) cannot be part of a name there. The
    standard library keeps only one older database, Unicode 3.2; a character assigned there
    is a word character on 3.10 exactly when it is one here (Unicode keeps identifier
    characters stable), so that is the rule: conservative, and public API only.
    """
    return ch.isascii() or unicodedata.ucd_3_2_0.category(ch) != "Cn"


def snake_case(text: str) -> str:
    """``callDuration`` → ``call_duration``; ``Call centre-name`` → ``call_centre_name``."""
    text = _to_ascii_where_possible(text)
    text = _CAMEL_BOUNDARY.sub("_", text)
    text = "".join(
        ch if _known_to_python_310(ch) and ((ch + "a").isidentifier() or ch.isdigit()) else "_"
        for ch in text
    )
    text = unicodedata.normalize("NFKC", text.lower())
    return re.sub(r"_+", "_", text).strip("_")


def field_identifier(wire_name: str) -> str:
    """The attribute name of a field in the generated model."""
    name = snake_case(wire_name) or "field"
    # Numeric, not only digits, as datamodel-code-generator tells it: "𦉭" (a CJK numeral)
    # starts a name that it prefixes.
    if name[0].isnumeric():
        name = f"field_{name}"
    if name in RESERVED:
        name = f"{name}_"
    return name


def package_identifier(schema_name: str) -> str:
    """The default package name for a schema: ``<schema name>_enrichment``.

    Returns an empty string when the schema name holds nothing usable.
    """
    base = snake_case(schema_name)
    if not base:
        return ""
    if base[0].isdigit():
        base = f"integration_{base}"
    return f"{base}_enrichment"


def is_plain_name(name: str) -> bool:
    """True when ``name`` can be written in Python source as it is: as a key in a class body
    it stays the same string (no keyword, no NFKC folding, no ``__private`` mangling)."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and unicodedata.normalize("NFKC", name) == name
        and not (name.startswith("__") and not name.endswith("__"))
    )


def is_package_name(name: str) -> bool:
    """A plain name in ASCII: what a directory of importable Python may be called."""
    return is_plain_name(name) and name.isascii()
