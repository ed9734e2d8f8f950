"""What the runtime knows of an integration version: the one interface to the schema.

The fixed modules of this package read the schema only through ``integration.VERSIONS``, a
mapping from each integration version to an ``IntegrationVersion``; ``integration`` is the
module that enrichgen writes from the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .item import ItemEnvelope
from .wire_model import WireModel

FieldType = Literal["STRING", "INT", "FLOAT", "BOOL", "DATETIME"]


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
