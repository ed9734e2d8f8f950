"""The value rules of the Enrichment API, one annotated type per field type.

Every rule a value must follow lives here, once: the generated models and the bulk validator
of the client both use these types.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    TypeAdapter,
)

MAX_STRING_BYTES = 50
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
WIRE_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _check_string_bytes(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > MAX_STRING_BYTES:
        raise ValueError(
            f"must be at most {MAX_STRING_BYTES} bytes in UTF-8, got {size} bytes"
        )
    return value


def _refuse_non_datetime(value: Any) -> Any:
    # pydantic would read numbers as Unix timestamps; the wire format is a string.
    if isinstance(value, (datetime, str)):
        return value
    raise ValueError(
        "must be a timezone-aware datetime or a string like 2024-03-10T10:00:00Z"
    )


def _check_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "must say its timezone: add Z or an offset such as +02:00 to the text, "
            "or give the datetime a tzinfo"
        )
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    return value


def to_wire_datetime(value: datetime) -> str:
    """UTC, whole seconds: ``2024-03-10T12:00:00.5+02:00`` → ``2024-03-10T10:00:00Z``."""
    return value.astimezone(timezone.utc).strftime(WIRE_DATETIME_FORMAT)


WireString = Annotated[str, Strict(), AfterValidator(_check_string_bytes)]
"""STRING: at most 50 bytes of UTF-8 (bytes, not characters)."""

WireInt = Annotated[int, Strict(), Field(ge=INT_MIN, le=INT_MAX)]
"""INT: a real int (not a bool, not 1.5) within int32."""

WireFloat = Annotated[float, Strict(), AllowInfNan(False)]
"""FLOAT: a finite number (NaN, ±inf and bools refused)."""

WireBool = Annotated[bool, Strict()]
"""BOOL: a real bool (not 0/1, not "true")."""

WireDatetime = Annotated[
    datetime,
    BeforeValidator(_refuse_non_datetime),
    AfterValidator(_check_aware),
    PlainSerializer(to_wire_datetime, return_type=str, when_used="json"),
]
"""DATETIME: timezone-aware; sent as UTC ``YYYY-MM-DDThh:mm:ssZ``."""

_WIRE_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_DATETIME_ADAPTER: TypeAdapter[datetime] | None = None


def to_wire_datetime_text(value: Any) -> str:
    """Validate a DATETIME value straight into its wire text (for the bulk validator).

    A string already in the wire form only needs a calendar check; anything else goes
    through the same rules as ``WireDatetime``.
    """
    global _DATETIME_ADAPTER
    if type(value) is str and _WIRE_DATETIME.fullmatch(value):
        try:
            datetime.fromisoformat(value[:-1])
        except ValueError:
            pass  # let the full rules explain what is wrong
        else:
            return value
    if _DATETIME_ADAPTER is None:
        _DATETIME_ADAPTER = TypeAdapter(WireDatetime)
    return to_wire_datetime(_DATETIME_ADAPTER.validate_python(value))


WireDatetimeText = Annotated[str, PlainValidator(to_wire_datetime_text)]
"""DATETIME validated straight into its wire text (for the bulk validator)."""
