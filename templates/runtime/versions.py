"""What the runtime knows of an integration version: the one interface to the schema.

The fixed modules of this package read the schema only through ``integration.VERSIONS``, a
mapping from each integration version to an ``IntegrationVersion``; ``integration`` is the
module that enrichgen writes from the schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from .item import ItemEnvelope, ItemKey
from .wire_model import WireModel

FieldType = Literal["STRING", "INT", "FLOAT", "BOOL", "DATETIME"]


class CheckedItems(NamedTuple):
    """A chunk of items that a version's straight-line check (``check_items``) let
    through: what is left for ``validation.validate_run`` to do at once for the chunk.
    """

    keys: list[ItemKey]
    """The items' keys, in order."""
    datetimes: list[str]
    """Every DATETIME text of the items, matched against the wire pattern in one go."""
    wire: list[Any]
    """The items to encode: the chunk itself, or a copy in which the items that left out
    ``enrichmentNumber`` or gave an optional field as None are their wire form."""


def completed_item(item: Any, found: int, optional: frozenset[str]) -> Any:
    """The wire form of ``item``, whose values ``check_items`` found good, when it differs
    from it only as the rules allow: ``enrichmentNumber`` left out (1), optional fields
    given as None (left out). None when it holds an unknown key at either level.

    ``found`` is how many fields of its enrichment hold a good value; ``userId``,
    ``sessionNumber`` and ``enrichment`` are there, and ``enrichmentNumber`` is good or
    left out (``check_items`` made sure).
    """
    enrichment = item["enrichment"]
    nones = [name for name, value in enrichment.items() if value is None]
    if found + len(nones) != len(enrichment) or not optional.issuperset(nones):
        return None
    if len(item) != (4 if "enrichmentNumber" in item else 3):
        return None
    # In the order the bulk validator gives: the item's own, a default number last.
    completed = {**item, "enrichment": {**enrichment}}
    for name in nones:
        del completed["enrichment"][name]
    completed.setdefault("enrichmentNumber", 1)
    return completed


ItemsCheck = Callable[[list[Any]], CheckedItems | None]
"""A version's straight-line check of a chunk of items (see ``IntegrationVersion``)."""


@dataclass(frozen=True)
class IntegrationVersion:
    """One version of the integration: its models and its fields."""

    number: int
    """The ``integrationVersion`` sent with every batch."""
    enrichment: type[WireModel]
    """The ``Enrichment`` model of this version."""
    item: type[ItemEnvelope]
    """The ``EnrichmentItem`` model of this version."""
    item_wire: Any
    """The ``TypedDict`` of an item in its wire form, for the bulk validator."""
    field_types: Mapping[str, FieldType]
    """Each field's wire name and type, in schema order."""
    optional_fields: frozenset[str]
    """The wire names of the fields an enrichment may leave out."""
    check_items: ItemsCheck
    """The chunk's ``CheckedItems`` when every item is a ``dict`` whose values are of their
    exact wire types and plainly valid, as nearly every input is; else None, and the
    bulk validator decides. Straight-line code generated from the schema, one test per
    field, with no Python call per value: the cheapest way to the wire form."""
