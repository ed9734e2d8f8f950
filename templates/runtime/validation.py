"""Bulk validation of items: whole chunks at once, straight into their wire form.

The rules are the annotated types of ``field_types`` and ``item``, the ones the models use,
gathered per integration version in its ``item_wire`` TypedDict (see ``versions``), so the bulk
path accepts and refuses exactly what ``EnrichmentItem.model_validate`` does for wire-format
mappings; the package's tests and enrichgen's property tests hold it to that.
"""

from __future__ import annotations

import functools
import operator
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import count, repeat
from typing import Any, Literal, NamedTuple

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_json

from .field_types import CalendarWireText
from .item import ItemEnvelope, ItemKey
from .versions import IntegrationVersion

ItemsAdapter = TypeAdapter[list[dict[str, Any]]]


@functools.cache
def _adapter(
    item_wire: Any, extra: Literal["forbid", "ignore"] = "forbid"
) -> ItemsAdapter:
    """The validator and encoder of lists of items. ``extra="ignore"`` leaves unknown
    keys out instead of refusing them: a third faster, for ``validate_run``, which then
    counts the keys."""
    # The list adapter's config reaches the TypedDicts inside it (they have none of their
    # own).
    return TypeAdapter(
        list[item_wire], config=ConfigDict(extra=extra, hide_input_in_errors=True)
    )


class ValidItem(NamedTuple):  # a tuple: millions are made, they must be cheap
    position: int  # in the input
    item: Any  # the input as given
    key: ItemKey
    wire: bytes  # the item's JSON, exactly as it goes into a batch body

    def __repr__(self) -> str:  # the item, its key and its JSON hold field values
        return f"ValidItem(position={self.position}, {len(self.wire)} bytes)"


@dataclass(frozen=True)
class InvalidItem:
    position: int  # in the input
    item: Any = field(repr=False)  # field values
    reason: str
    field: str | None


def _describe(errors: list[Any]) -> tuple[str, str | None]:
    """Every error of one item in one line, and the wire name of the first bad field.

    A value refused by both branches of a bulk type (see ``field_types``) has one error per
    branch; the last one, the full rule's, is the one that explains it.
    """
    messages: dict[tuple[str, ...], str] = {}
    for error in errors:
        location = tuple(str(part) for part in error["loc"][1:])  # without the position
        location = location[:2] if location[:1] == ("enrichment",) else location[:1]
        messages[location] = error["msg"]
    fields = [where[-1] for where in messages if where and where != ("enrichment",)]
    reasons = [
        f"{'.'.join(where) or 'item'}: {message}" for where, message in messages.items()
    ]
    return "; ".join(reasons), (fields[0] if fields else None)


_KEY = operator.itemgetter("userId", "sessionNumber", "enrichmentNumber")
_ENRICHMENT = operator.itemgetter("enrichment")
_SET_DEFAULT_NUMBER = operator.methodcaller("setdefault", "enrichmentNumber", 1)
_MODEL_KEY = operator.attrgetter("user_id", "session_number", "enrichment_number")


_SEPARATOR = b'},{"userId":'
"""Between two items in the JSON of a list of them, and nowhere else (see ``ValidRun``)."""


class ValidRun(NamedTuple):
    """Consecutive items of the input, all valid, in their wire form at once.

    ``json`` is the items' JSON objects separated by commas, exactly as they go into a
    batch body; ``items`` the input as given and ``keys`` their keys, in order. A send
    posts a run as it is; ``split`` makes its ``ValidItem``s when one item must be told
    from the others (a refusal, a failure).
    """

    first_position: int
    items: list[Any]
    keys: list[ItemKey]
    json: bytes

    def __repr__(self) -> str:  # the items, their keys and their JSON hold field values
        return (
            f"ValidRun(first_position={self.first_position}, {len(self.keys)} items, "
            f"{len(self.json)} bytes)"
        )

    def split(self) -> list[ValidItem]:
        """The run's items one by one.

        Each item's JSON starts with ``{"userId":``; ``},{"userId":`` cannot occur inside
        a value (a quote in a string is escaped, and an enrichment holds no object), so
        the cut is exact (``validate_run`` checks the count).
        """
        # JSON escapes every control character: a NUL byte can only be the one put in here.
        wires = self.json.replace(_SEPARATOR, b'}\x00{"userId":').split(b"\x00")
        rows = zip(count(self.first_position), self.items, self.keys, wires)
        # tuple.__new__ builds each ValidItem without a Python call per item.
        return list(map(tuple.__new__, repeat(ValidItem), rows))


def _wire_json(adapter: ItemsAdapter, valid: list[Any]) -> bytes:
    """The wire JSON of validated wire-format items, comma-separated: ``enrichmentNumber``
    defaulted to 1, optional fields given as None left out."""
    deque(map(_SET_DEFAULT_NUMBER, valid), maxlen=0)
    return adapter.dump_json(valid, exclude_none=True)[1:-1]


@functools.cache
def _model_adapter(item: Any) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[item])


def _models_json(models: list[ItemEnvelope], version: IntegrationVersion) -> bytes:
    """The wire JSON of models of one type, comma-separated, exactly as ``to_wire`` gives
    each: by alias, optional fields left unset or None left out.

    The JSON is checked by the wire rules, for a model is not always valid:
    ``model_copy(update=...)`` and ``model_construct`` skip validation. Raises
    ``ValidationError``, or ``PydanticSerializationError`` for a value of a type the
    model cannot encode.
    """
    adapter = _model_adapter(type(models[0]))
    text = adapter.dump_json(models, by_alias=True, exclude_none=True)
    _adapter(version.item_wire).validate_json(text)
    return text[1:-1]


def _as_run(
    first_index: int, chunk: list[Any], keys: list[ItemKey], text: bytes
) -> ValidRun | None:
    """``None`` if ``text`` cannot be cut at the items' boundaries (it always can: see
    ``ValidRun.split``)."""
    if text.count(_SEPARATOR) != len(chunk) - 1:
        return None
    return ValidRun(first_index, chunk, keys, text)


@functools.cache
def _calendar_texts() -> TypeAdapter[list[str]]:
    """The validator of DATETIME texts already in their wire form, all at once."""
    return TypeAdapter(list[CalendarWireText])


def _checked_run(
    first_index: int, chunk: list[Any], version: IntegrationVersion
) -> ValidRun | None:
    """``chunk`` as one run by the version's straight-line check, when it lets every item
    through; else None."""
    checked = version.check_items(chunk)
    if checked is None:
        return None
    keys, datetimes, wire = checked
    if datetimes:
        # Every DATETIME text of the chunk in one call, as the bulk validator's fast branch
        # checks each (field_types.BulkDatetime).
        try:
            _calendar_texts().validate_python(datetimes)
        except ValidationError:
            return None  # an offset, or 29 February, say: the full rules decide
    try:
        text = to_json(wire)[1:-1]
    except PydanticSerializationError:  # a lone surrogate in a string, say
        return None
    run = _as_run(first_index, chunk, keys, text)  # None if the cuts are not exact
    if run is None or not text.startswith(b'{"userId":'):
        # An item whose first key is not userId: the same items with it first.
        text = to_json([{"userId": item["userId"], **item} for item in wire])[1:-1]
        run = _as_run(first_index, chunk, keys, text)
    return run


def validate_run(
    first_index: int, chunk: list[Any], version: IntegrationVersion
) -> ValidRun | None:
    """``chunk`` (items numbered from ``first_index``) as one run, when every item is a
    valid wire-format ``dict`` (the common case, at no Python call per item) or every item
    is this version's ``EnrichmentItem``; else ``None``: ``validate_chunk`` tells which
    items are valid.

    Dicts go through the version's straight-line check first, which encodes them as they
    are; what it leaves is validated in bulk by pydantic into new dicts, then encoded.
    """
    return _checked_run(first_index, chunk, version) or _bulk_run(
        first_index, chunk, version
    )


def _bulk_run(
    first_index: int, chunk: list[Any], version: IntegrationVersion
) -> ValidRun | None:
    """``validate_run`` by pydantic: models, or dicts validated into new dicts."""
    types = set(map(type, chunk))
    if types == {version.item}:
        try:
            text = _models_json(chunk, version)
        except (ValidationError, PydanticSerializationError):
            return None  # validate_chunk tells which model is invalid
        return _as_run(first_index, chunk, list(map(_MODEL_KEY, chunk)), text)
    if types != {dict}:
        return None
    adapter = _adapter(version.item_wire, "ignore")
    try:
        valid = adapter.validate_python(chunk)
    except ValidationError:
        return None
    # Unknown keys were left out, and only they: each item and enrichment keeps at most
    # the keys it had, so as many keys in all as before, at both levels, means none.
    enrichments = list(map(_ENRICHMENT, chunk))
    if (
        set(map(type, enrichments)) != {dict}
        or sum(map(len, chunk)) != sum(map(len, valid))
        or sum(map(len, enrichments)) != sum(map(len, map(_ENRICHMENT, valid)))
    ):
        return None
    text = _wire_json(adapter, valid)
    return _as_run(first_index, chunk, list(map(_KEY, valid)), text)


def _encode(adapter: ItemsAdapter, index: int, item: Any, valid: Any) -> ValidItem:
    wire = _wire_json(adapter, [valid])
    return ValidItem(index, item, _KEY(valid), wire)


def _from_model(
    index: int, item: ItemEnvelope, version: IntegrationVersion
) -> ValidItem | InvalidItem:
    try:
        return ValidItem(index, item, item.key, _models_json([item], version))
    except ValidationError as error:  # changed by model_copy(update=...), unchecked
        reason, field = _describe(error.errors(include_url=False))
        return InvalidItem(index, item, reason, field)
    except PydanticSerializationError as error:
        # Made with model_construct (which checks nothing) from a value of the wrong
        # type: what can be told is that it cannot be encoded.
        reason = f"the item cannot be encoded: {error}"
        return InvalidItem(index, item, reason, None)


def validate_chunk(
    first_index: int,
    chunk: list[Any],
    version: IntegrationVersion,
    *,
    try_run: bool = True,
) -> list[ValidItem | InvalidItem]:
    """Validate ``chunk`` (items numbered from ``first_index``) by the rules of ``version``,
    in input order. ``try_run=False``: ``validate_run`` was tried on it already."""
    run = validate_run(first_index, chunk, version) if try_run else None
    if run is not None:
        return list(run.split())
    adapter = _adapter(version.item_wire)
    results: list[ValidItem | InvalidItem | None] = [None] * len(chunk)
    mappings: list[Any] = []
    positions: list[int] = []
    for position, item in enumerate(chunk):
        if isinstance(item, version.item):
            results[position] = _from_model(first_index + position, item, version)
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
                one = validated[offset]
            else:
                try:
                    [one] = adapter.validate_python([chunk[position]])
                except ValidationError as error:
                    reason, field = _describe(error.errors(include_url=False))
                    results[position] = InvalidItem(
                        index, chunk[position], reason, field
                    )
                    continue
            results[position] = _encode(adapter, index, chunk[position], one)
    return [result for result in results if result is not None]
