"""The value rules of the Enrichment API, one annotated type per field type.

Every rule a value must follow lives here, once: the generated models and the bulk validator
of the client both use these types.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Union

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


def _check_string_bytes(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > MAX_STRING_BYTES:
        raise ValueError(
            f"must be at most {MAX_STRING_BYTES} bytes in UTF-8, got {size} bytes"
        )
    return value


def _refuse_non_datetime(value: Any) -> Any:
    # pydantic would read numbers as Unix timestamps, and so strings of digits too
    # ("20240310" would be 1970-08-23T06:18:30Z); the wire format is a dated string.
    if isinstance(value, datetime) or (
        isinstance(value, str) and not _is_number(value)
    ):
        return value
    raise ValueError(
        "must be a timezone-aware datetime or a string like 2024-03-10T10:00:00Z"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
    """UTC, whole seconds: ``2024-03-10T12:00:00.5+02:00`` → ``2024-03-10T10:00:00Z``.

    The year always has four digits (``strftime("%Y")`` gives "999" for the year 999 on
    some platforms, and the server refuses that).
    """
    utc = value.astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"


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

_WIRE_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
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


# The bulk validator's types: the same rules, with a fast path checked by pydantic-core alone
# (no Python call per value) for the values that make up nearly every input. Each is a union
# tried left to right: a value the fast branch refuses goes through the full rule, which
# accepts or refuses it exactly as the models do.

SHORT_STRING_CHARS = MAX_STRING_BYTES // 4
"""A string of at most this many characters cannot exceed 50 bytes of UTF-8 (4 bytes per
character at most)."""

BulkString = Annotated[
    Union[  # noqa: UP007 - pydantic reads union_mode on this form
        Annotated[str, Strict(), Field(max_length=SHORT_STRING_CHARS)],
        WireString,
    ],
    Field(union_mode="left_to_right"),
]
"""STRING for the bulk validator."""

_YEAR = r"(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
CALENDAR_WIRE_DATETIME = (
    rf"^{_YEAR}-{_MONTH_DAY}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"
)
"""Wire datetimes that are always valid dates (29 February goes the long way). ``[0-9]``, not
``\\d``: pydantic-core's regex takes ``\\d`` for any Unicode digit, which the models refuse."""

CalendarWireText = Annotated[str, Strict(), Field(pattern=CALENDAR_WIRE_DATETIME)]
"""A DATETIME text already in its wire form, and always a valid date."""

BulkDatetime = Annotated[
    Union[  # noqa: UP007 - pydantic reads union_mode on this form
        CalendarWireText,
        WireDatetimeText,
    ],
    Field(union_mode="left_to_right"),
]
"""DATETIME for the bulk validator: its wire text."""
