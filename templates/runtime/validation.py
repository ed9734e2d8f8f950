"""Bulk validation of items: whole chunks at once, straight into their wire form.

The rules are the annotated types of ``field_types`` and ``item``, the ones the models use,
gathered per integration version in its ``item_wire`` TypedDict (see ``versions``), so the bulk
path accepts and refuses exactly what ``EnrichmentItem.model_validate`` does for wire-format
mappings; the package's tests and enrichgen's property tests hold it to that.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import pydantic_core
from pydantic import ConfigDict, TypeAdapter, ValidationError

from .item import ItemEnvelope, ItemKey
from .versions import IntegrationVersion


@functools.cache
def _adapter(item_wire: Any) -> TypeAdapter[list[dict[str, Any]]]:
    # The list adapter's config reaches the TypedDicts inside it (they have none of their
    # own).
    return TypeAdapter(
        list[item_wire], config=ConfigDict(extra="forbid", hide_input_in_errors=True)
    )


class ValidItem(NamedTuple):  # a tuple: millions are made, they must be cheap
    position: int  # in the input
    item: Any  # the input as given
    key: ItemKey
    wire: bytes  # the item's JSON, exactly as it goes into a batch body


@dataclass(frozen=True)
class InvalidItem:
    position: int  # in the input
    item: Any
    reason: str
    field: str | None


def _describe(errors: list[Any]) -> tuple[str, str | None]:
    """Every error of one item in one line, and the wire name of the first bad field."""
    reasons = []
    fields = []
    for error in errors:
        location = list(error["loc"][1:])  # without the position in the list
        if len(location) >= 2 and location[0] == "enrichment":
            fields.append(str(location[1]))
        elif location and isinstance(location[0], str):
            fields.append(location[0])
        where = ".".join(str(part) for part in location) or "item"
        reasons.append(f"{where}: {error['msg']}")
    return "; ".join(reasons), (fields[0] if fields else None)


def _encode(index: int, original: Any, valid: dict[str, Any]) -> ValidItem:
    enrichment = valid["enrichment"]
    if None in enrichment.values():
        # An optional field set to None is left out of the wire form.
        valid["enrichment"] = {k: v for k, v in enrichment.items() if v is not None}
    number = valid.setdefault("enrichmentNumber", 1)
    key = (valid["userId"], valid["sessionNumber"], number)
    return ValidItem(index, original, key, pydantic_core.to_json(valid))


def _from_model(index: int, item: ItemEnvelope) -> ValidItem:
    return ValidItem(index, item, item.key, pydantic_core.to_json(item.to_wire()))


def validate_chunk(
    first_index: int, chunk: list[Any], version: IntegrationVersion
) -> list[ValidItem | InvalidItem]:
    """Validate ``chunk`` (items numbered from ``first_index``) by the rules of ``version``,
    in input order."""
    adapter = _adapter(version.item_wire)
    results: list[ValidItem | InvalidItem | None] = [None] * len(chunk)
    mappings: list[Any] = []
    positions: list[int] = []
    for position, item in enumerate(chunk):
        if isinstance(item, version.item):
            results[position] = _from_model(first_index + position, item)
        elif isinstance(item, Mapping):
            mappings.append(item)
            positions.append(position)
        else:
            expected = version.item.__name__
            results[position] = InvalidItem(
                first_index + position,
                item,
                f"an item must be an {expected} or a mapping, not {type(item).__name__}",
                None,
            )
    if mappings:
        try:
            validated = adapter.validate_python(mappings)
        except ValidationError:
            validated = None
        for offset, position in enumerate(positions):
            index = first_index + position
            if validated is not None:
                results[position] = _encode(
                    index, chunk[position], dict(validated[offset])
                )
                continue
            try:
                [one] = adapter.validate_python([chunk[position]])
            except ValidationError as error:
                reason, field = _describe(error.errors(include_url=False))
                results[position] = InvalidItem(index, chunk[position], reason, field)
            else:
                results[position] = _encode(index, chunk[position], dict(one))
    return [result for result in results if result is not None]
