"""The sandbox's own reading of a request body: the rules of the API, written from its documentation.

Deliberately independent of the generated package: the sandbox stands in for Contentsquare, so
a client bug must not be hidden by the same bug on the server side.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

from generator.integration_spec import FieldType, Integration

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
MAX_STRING_BYTES = 50
DATETIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
ENVELOPE_KEYS = {"integrationVersion", "projectId", "enrichments"}
ITEM_KEYS = {"userId", "sessionNumber", "enrichmentNumber", "enrichment"}


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: an HTTP status and the API's error body."""

    status: int
    code: str
    message: str
    index: int | None = None
    field: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "success": False,
            "errorCode": self.code,
            "errorMessage": self.message,
        }
        if self.index is not None:
            body["index"] = self.index
        if self.field is not None:
            body["field"] = self.field
        return body


@dataclass(frozen=True)
class StoredItem:
    user_id: str
    session_number: int
    enrichment_number: int
    enrichment: dict[str, Any]


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(content: bytes) -> Any:
    """Strict JSON: no NaN or Infinity, numbers that overflow to infinity refused."""
    return json.loads(content, parse_constant=_refuse_constant)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def value_problem(kind: FieldType, value: object) -> str | None:
    """What is wrong with ``value`` for a field of type ``kind``, or None."""
    if value is None:
        return "null is not a value: leave an optional field out instead"
    if kind is FieldType.STRING:
        if not isinstance(value, str):
            return f"expected a string, got {_json_type(value)}"
        problem = utf8_problem(value)
        if problem is not None:
            return problem
        size = len(value.encode("utf-8"))
        if size > MAX_STRING_BYTES:
            return f"a string has at most {MAX_STRING_BYTES} UTF-8 bytes, this one has {size}"
    elif kind is FieldType.INT:
        if not _is_int(value):
            return f"expected an integer, got {_json_type(value)}"
        if not INT_MIN <= value <= INT_MAX:
            return f"an INT is between {INT_MIN} and {INT_MAX}"
    elif kind is FieldType.FLOAT:
        if not (_is_int(value) or isinstance(value, float)):
            return f"expected a number, got {_json_type(value)}"
        if not math.isfinite(value):
            return "a FLOAT is a finite number"
    elif kind is FieldType.BOOL:
        if not isinstance(value, bool):
            return f"expected true or false, got {_json_type(value)}"
    elif kind is FieldType.DATETIME:
        if not isinstance(value, str) or not DATETIME_TEXT.fullmatch(value):
            return 'expected a UTC date and time "YYYY-MM-DDThh:mm:ssZ"'
        try:
            datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return f"{value!r} is not a real date and time"
    return None


def utf8_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent as UTF-8 (a lone surrogate from a ``\\ud800`` escape), or
    None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "the string is not valid UTF-8 (it holds a lone surrogate)"
    return None


def shortened(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters: a client's text quoted in an answer."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _item_problem(
    integration: Integration, item: object
) -> tuple[str | None, str] | None:
    """``(field, message)`` for the first problem of one item, or None."""
    if not isinstance(item, dict):
        return None, f"an enrichment item is an object, got {_json_type(item)}"
    unknown = sorted(set(item) - ITEM_KEYS)
    if unknown:
        return unknown[0], f"unknown key {shortened(unknown[0])}"
    user_id = item.get("userId")
    if not isinstance(user_id, str) or not user_id:
        return "userId", "userId is a non-empty string"
    problem = utf8_problem(user_id)
    if problem is not None:
        return "userId", f"userId: {problem}"
    session_number = item.get("sessionNumber")
    if not _is_int(session_number) or not 1 <= session_number <= INT_MAX:
        return "sessionNumber", f"sessionNumber is an integer from 1 to {INT_MAX}"
    number = item.get("enrichmentNumber", 1)
    if not _is_int(number) or number not in (1, 2, 3):
        return "enrichmentNumber", "enrichmentNumber is 1, 2 or 3"
    enrichment = item.get("enrichment")
    if not isinstance(enrichment, dict):
        return "enrichment", f"enrichment is an object, got {_json_type(enrichment)}"
    types = {field.wire_name: field for field in integration.fields}
    for key in enrichment:
        if key not in types:
            return (
                key,
                f"unknown field {shortened(key)}: this integration has {sorted(types)}",
            )
    for field in integration.fields:
        if field.wire_name not in enrichment:
            if field.optional:
                continue
            return field.wire_name, f"the required field {field.wire_name!r} is missing"
        problem = value_problem(field.type, enrichment[field.wire_name])
        if problem is not None:
            return field.wire_name, f"{field.wire_name} ({field.type.value}): {problem}"
    return None


def parse_body(content: bytes) -> Any:
    """The request's JSON, or a ``Refusal`` when it is not valid JSON."""
    try:
        return parse_json(content)
    except (ValueError, RecursionError) as error:
        return Refusal(400, "INVALID_JSON", f"the body is not valid JSON: {error}")


def batch_size(body: Any) -> int:
    """How many items a parsed body holds (0 when it has no list of them)."""
    enrichments = body.get("enrichments") if isinstance(body, dict) else None
    return len(enrichments) if isinstance(enrichments, list) else 0


def read_batch(
    integrations: Mapping[int, Integration], project_id: int, body: Any
) -> list[StoredItem] | Refusal:
    """The items of a valid request body, or why the whole request is refused.

    ``integrations`` holds every version of the integration the sandbox serves, by
    ``integrationVersion``: each request is checked against the version it names.
    """
    if not isinstance(body, dict):
        return Refusal(400, "INVALID_REQUEST", "the body is a JSON object")
    unknown = sorted(set(body) - ENVELOPE_KEYS)
    if unknown:
        return Refusal(
            400,
            "INVALID_REQUEST",
            f"unknown key {shortened(unknown[0])} in the body",
            field=unknown[0],
        )
    for key in ("integrationVersion", "projectId", "enrichments"):
        if key not in body:
            return Refusal(
                400, "INVALID_REQUEST", f"the body has no {key!r}", field=key
            )
    version = body["integrationVersion"]
    integration = integrations.get(version) if _is_int(version) else None
    if integration is None:
        known = ", ".join(str(known) for known in sorted(integrations))
        return Refusal(
            400,
            "INVALID_INTEGRATION_VERSION",
            f"integrationVersion {shortened(version)} is not known: this integration has "
            f"version{'s' if len(integrations) > 1 else ''} {known}",
            field="integrationVersion",
        )
    if not _is_int(body["projectId"]) or body["projectId"] != project_id:
        return Refusal(
            403,
            "FORBIDDEN_PROJECT",
            f"the token is for project {project_id}, not {shortened(body['projectId'])}",
            field="projectId",
        )
    enrichments = body["enrichments"]
    if not isinstance(enrichments, list) or not enrichments:
        return Refusal(
            400,
            "INVALID_REQUEST",
            "enrichments is a non-empty array",
            field="enrichments",
        )
    for index, item in enumerate(enrichments):
        problem = _item_problem(integration, item)
        if problem is not None:
            field, message = problem
            return Refusal(
                400,
                "INVALID_ENRICHMENT",
                f"enrichments[{index}]: {message}",
                index=index,
                field=field,
            )
    return [
        StoredItem(
            item["userId"],
            item["sessionNumber"],
            item.get("enrichmentNumber", 1),
            item["enrichment"],
        )
        for item in enrichments
    ]
