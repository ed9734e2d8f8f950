"""Property-based tests: random valid schemas always give a working package; random broken
ones always give exit 1 and messages, never a traceback; the bulk validator of the client
accepts and refuses exactly what the pydantic models do."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta, timezone
from typing import Any

import pydantic_core
from call_tracking_enrichment import EnrichmentItem
from call_tracking_enrichment.integration import LATEST
from call_tracking_enrichment.validation import (
    InvalidItem,
    ValidItem,
    _bulk_run,
    _checked_run,
    validate_chunk,
    validate_run,
)
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from conftest import enrichgen
from generator.names import field_identifier
from generator.schema_rules import ENVELOPE_NAMES

TYPES = ["STRING", "INT", "FLOAT", "BOOL", "DATETIME"]


def _fits(name: str) -> bool:
    return 1 <= len(name.encode("utf-8")) <= 30


# Lone surrogates and invisible format characters (bidi overrides...) are refused in any text.
_TEXT_CHARACTERS = st.characters(blacklist_categories=("Cs", "Cf"))
field_names = st.text(alphabet=_TEXT_CHARACTERS, min_size=1, max_size=30).filter(_fits)


@st.composite
def valid_schemas(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 8))
    fields = []
    identifiers: set[str] = set()
    names: set[str] = set()
    for _ in range(count):
        name = draw(field_names)
        if name in names or field_identifier(name) in identifiers:
            continue
        if name in ENVELOPE_NAMES or field_identifier(name) in ENVELOPE_NAMES.values():
            continue
        names.add(name)
        identifiers.add(field_identifier(name))
        fields.append({
            "name": name,
            "type": draw(st.sampled_from(TYPES)),
            "optional": draw(st.booleans()),
            "label": draw(st.text(_TEXT_CHARACTERS, max_size=20)),
            "description": draw(st.text(_TEXT_CHARACTERS, max_size=40)),
        })
    # Every drawn name may collide with an envelope name ("enrichment_number"...): a schema needs a field.
    assume(fields)
    return {"name": "random", "integrationVersion": draw(st.integers(1, 50)), "fields": fields}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schema=valid_schemas())
# Found by this test: a CJK numeral first ("𦉭".isnumeric(), not isdigit()) got the prefix
# "field_" from datamodel-code-generator and not from enrichgen's names.
@example(schema={"name": "random", "integrationVersion": 1, "fields": [
    {"name": "\U0002626d", "type": "STRING", "optional": False, "label": "", "description": ""}
]})
def test_random_valid_schemas_generate_a_package_whose_tests_pass(
    tmp_path_factory: Any, schema: dict[str, Any]
) -> None:
    workdir = tmp_path_factory.mktemp("random")
    path = workdir / "schema.json"
    path.write_text(json.dumps(schema))
    result = enrichgen("generate", str(path), "--out", str(workdir / "out"))
    assert result.exit_code == 0, result.stderr
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "random_enrichment"],
        cwd=workdir / "out", capture_output=True, text=True,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def _break(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    how = draw(st.integers(0, 7))
    fields = schema["fields"]
    target = fields[draw(st.integers(0, len(fields) - 1))]
    if how == 0:
        target[draw(st.sampled_from(["name", "type", "optional"]))] = draw(json_values)
    elif how == 1:
        del target[draw(st.sampled_from(["name", "type", "optional"]))]
    elif how == 2:
        target[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in target))] = 1
    elif how == 3:
        target["name"] = "x" * draw(st.integers(31, 60))
    elif how == 4:
        fields.append(dict(target))
    elif how == 5:
        schema["fields"] = draw(json_values)
    elif how == 6:
        return draw(json_values)
    else:
        schema[draw(st.sampled_from(["integrationVersion", "name", "label"]))] = draw(json_values)
    return schema


@st.composite
def broken_documents(draw: st.DrawFn) -> tuple[Any, bool]:
    document = _break(draw, draw(valid_schemas()))
    return document, draw(st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_documents())
def test_random_broken_schemas_exit_1_with_messages(tmp_path_factory: Any, case: tuple[Any, bool]) -> None:
    document, truncate = case
    path = tmp_path_factory.mktemp("broken") / "schema.json"
    text = json.dumps(document)
    if truncate:
        text = text[: max(1, len(text) // 2)]
    path.write_text(text)
    result = enrichgen("validate", str(path))
    if result.exit_code == 0:
        return  # the change happened to keep the schema valid (a valid label, say)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(str(path) + ":") for line in lines)


# The bulk validator of the client against the pydantic model.
VALID_DATETIME_TEXTS = st.datetimes().map(
    lambda moment: f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"
)
WIRE_DATETIME_TEXTS = st.one_of(
    VALID_DATETIME_TEXTS,
    st.sampled_from([
        "2024-02-29T12:00:00Z", "2023-02-29T12:00:00Z", "2024-04-31T12:00:00Z",
        "2024-03-10T24:00:00Z", "0000-01-01T00:00:00Z", "2024-03-10T12:00:00Z\n",
        "2024-03-10T12:00:00+02:00", "2024-03-10t12:00:00z", "２024-03-10T12:00:00Z",
        "2024-03-1\u0660T12:00:00Z", "2024-03-10T1\u09e8:00:00Z", "\u0662024-03-10T12:00:00Z",
    ]),
)


ENRICHMENT_VALUES = {
    "call_answered": st.one_of(st.booleans(), st.integers(0, 1), st.just("true")),
    "call_duration": st.one_of(st.integers(-(2**31) - 2, 2**31 + 1), st.floats(), st.booleans()),
    "client_rating": st.one_of(st.none(), st.floats(), st.integers(), st.booleans(), st.just("1.5")),
    "call_center_name": st.one_of(st.none(), st.text(max_size=30), st.integers()),
    "call_started_at": st.one_of(
        st.datetimes(timezones=st.just(timezone(timedelta(hours=2)))),
        st.datetimes(timezones=st.none()),
        st.just("2024-03-10T12:00:00.5+02:00"), st.just("2024-03-10T12:00:00"), st.integers(),
        WIRE_DATETIME_TEXTS,
    ),
    "callOutcome": st.one_of(st.none(), st.text(max_size=30)),
    "call_outcome": st.text(max_size=5),  # the attribute name, not the wire name
    "unknown": st.integers(),
}


@st.composite
def wire_items(draw: st.DrawFn) -> Any:
    enrichment = {
        key: draw(strategy)
        for key, strategy in ENRICHMENT_VALUES.items()
        if draw(st.integers(0, 9)) < (9 if key not in ("call_outcome", "unknown") else 1)
    }
    item: dict[str, Any] = {
        "userId": draw(st.one_of(st.text(max_size=8), st.integers())),
        "sessionNumber": draw(st.one_of(st.integers(-1, 2**31), st.booleans())),
        "enrichment": enrichment,
    }
    if draw(st.booleans()):
        item["enrichmentNumber"] = draw(st.integers(0, 4))
    if draw(st.integers(0, 9)) == 0:
        item["unknown"] = draw(st.integers())
    return item


VALID_VALUES = {
    "call_answered": st.booleans(),
    "call_duration": st.integers(-(2**31), 2**31 - 1),
    "client_rating": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    "call_center_name": st.one_of(st.none(), st.text(max_size=12)),
    "call_started_at": st.just("2024-03-10T12:00:00Z"),
    "callOutcome": st.one_of(st.none(), st.text(max_size=12)),
}

@st.composite
def plain_items(draw: st.DrawFn, valid: bool = False, unknown: bool = False) -> Any:
    """Items of values of their exact wire types, keys in any order: what the straight-line
    check of ``check_items`` takes as it is (``valid``), or nearly; with ``unknown``, now
    and then an unknown key."""
    strings = st.text(max_size=20)
    if not valid:  # and strings of more than 50 bytes in UTF-8, in few characters
        strings = st.one_of(strings, st.text(alphabet="aé€😀", min_size=12, max_size=30))
    values = {
        "call_answered": st.booleans(),
        "call_duration": st.integers(-(2**31), 2**31 - 1) if valid else st.integers(),
        "client_rating": st.floats(allow_nan=not valid, allow_infinity=not valid),
        "call_center_name": strings,
        "call_started_at": VALID_DATETIME_TEXTS if valid else WIRE_DATETIME_TEXTS,
        "callOutcome": strings,
    }
    enrichment = {}
    for key, strategy in values.items():
        if key in LATEST.optional_fields and draw(st.integers(0, 3)) == 0:
            if draw(st.booleans()):
                enrichment[key] = None
            continue
        enrichment[key] = draw(strategy)
    if valid:
        # 29 February goes the long way (see field_types.CALENDAR_WIRE_DATETIME)
        assume(not enrichment["call_started_at"][5:].startswith("02-29"))
        assume(all(
            len(value.encode("utf-8", "surrogatepass")) <= 50
            for key, value in enrichment.items()
            if isinstance(value, str) and key != "call_started_at"
        ))
    item: dict[str, Any] = {
        "userId": draw(st.text(min_size=1, max_size=8)),
        "sessionNumber": draw(st.integers(1, 2**31 - 1)),
        "enrichment": dict(draw(st.permutations(list(enrichment.items())))),
    }
    if draw(st.booleans()):
        item["enrichmentNumber"] = draw(st.integers(1, 3))
    if unknown and draw(st.booleans()):  # at either level
        where = item if draw(st.booleans()) else item["enrichment"]
        name = draw(st.sampled_from(["unknown", "call_outcome", "enrichment_number"]))
        where[name] = draw(st.sampled_from([1, None]))
    return dict(draw(st.permutations(list(item.items()))))


@st.composite
def nearly_valid_items(draw: st.DrawFn) -> Any:
    """Valid items, with now and then one key too many (at either level) or one value
    from the wider strategies: what the fast path must tell from valid ones."""
    enrichment = {key: draw(strategy) for key, strategy in VALID_VALUES.items()}
    item: dict[str, Any] = {
        "userId": draw(st.text(min_size=1, max_size=8)),
        "sessionNumber": draw(st.integers(1, 2**31 - 1)),
        "enrichment": enrichment,
    }
    change = draw(st.integers(0, 5))
    if change == 0:
        item[draw(st.sampled_from(["unknown", "user_id", "enrichment_number"]))] = 1
    elif change == 1:
        enrichment[draw(st.sampled_from(["unknown", "call_outcome", "userId"]))] = "x"
    elif change == 2:
        key = draw(st.sampled_from(sorted(ENRICHMENT_VALUES)))
        enrichment[key] = draw(ENRICHMENT_VALUES[key])
    return item


chunks = st.lists(st.one_of(wire_items(), nearly_valid_items()), min_size=1, max_size=8)


def _valid_item_with(**values: Any) -> dict[str, Any]:
    enrichment = {"call_answered": True, "call_duration": 1, "call_started_at": "2024-03-10T12:00:00Z"}
    return {"userId": "u", "sessionNumber": 1, "enrichment": {**enrichment, **values}}


@settings(max_examples=600, deadline=None)
@given(items=chunks)
# digits of other scripts: "\d" in pydantic-core's regex (Rust) matches them, the model does not
@example(items=[_valid_item_with(call_started_at="2024-03-1\u0660T12:00:00Z")])
@example(items=[_valid_item_with(call_started_at="2024-03-10T1\u09e8:00:00Z")])
@example(items=[_valid_item_with(call_started_at="\u0662024-03-10T12:00:00Z")])
def test_bulk_validation_accepts_and_refuses_exactly_what_the_model_does(items: list[Any]) -> None:
    results = validate_chunk(0, items, LATEST)
    assert [result.position for result in results] == list(range(len(items)))
    for item, result in zip(items, results, strict=True):
        try:
            model = EnrichmentItem.model_validate(item, by_alias=True, by_name=False)
        except ValidationError:
            assert isinstance(result, InvalidItem), item
            continue
        assert isinstance(result, ValidItem), (item, result)
        assert json.loads(result.wire) == model.to_wire()


@settings(max_examples=400, deadline=None)
@given(items=chunks)
def test_a_chunk_is_one_run_exactly_when_the_model_accepts_every_item(items: list[Any]) -> None:
    """The send's fast path: a chunk of valid items becomes one run (one JSON encoding,
    posted as it is); with one item the model refuses, there is no run."""
    models = []
    for item in items:
        try:
            models.append(EnrichmentItem.model_validate(item, by_alias=True, by_name=False))
        except ValidationError:
            models.append(None)
    run = validate_run(7, items, LATEST)
    if None in models:
        assert run is None
        return
    assert run is not None
    split = run.split()
    assert [one.position for one in split] == list(range(7, 7 + len(items)))
    assert [one.item for one in split] == items
    assert run.keys == [one.key for one in split] == [model.key for model in models if model]
    assert [json.loads(one.wire) for one in split] == [model.to_wire() for model in models if model]
    assert run.json == b",".join(one.wire for one in split)


@settings(max_examples=600, deadline=None)
@given(items=st.lists(
    st.one_of(wire_items(), nearly_valid_items(), plain_items(), plain_items(True, unknown=True)),
    min_size=1, max_size=8,
))
def test_the_straight_line_check_takes_only_chunks_the_bulk_validator_takes_alike(
    items: list[Any],
) -> None:
    """``check_items`` (generated per schema) against pydantic's bulk validation: a chunk it
    lets through is one the bulk validator makes the same run of, item for item."""
    checked = _checked_run(5, items, LATEST)
    if checked is None:
        return  # the bulk validator decides (test_a_chunk_is_one_run_... holds it)
    bulk = _bulk_run(5, items, LATEST)
    assert bulk is not None, items
    assert checked.keys == bulk.keys
    assert checked.items == bulk.items == items
    checked_items, bulk_items = checked.split(), bulk.split()
    assert [json.loads(one.wire) for one in checked_items] == [
        json.loads(one.wire) for one in bulk_items
    ]
    assert all(one.wire.startswith(b'{"userId":') for one in checked_items)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(plain_items(valid=True), min_size=1, max_size=8))
def test_the_straight_line_check_takes_every_chunk_of_plain_valid_items(items: list[Any]) -> None:
    """Values of their exact wire types, optional fields left out or None, no number, keys in
    any order: the common input goes the cheap way."""
    assert _checked_run(0, items, LATEST) is not None, items


def test_the_straight_line_check_gives_the_bulk_validator_s_bytes_for_items_in_schema_order() -> None:
    items = [
        {"userId": "u1", "sessionNumber": 1, "enrichmentNumber": 2, "enrichment": {
            "call_answered": True, "call_duration": 60, "client_rating": 4.5,
            "call_center_name": "Lyon ü", "call_started_at": "2024-03-10T12:00:00Z"}},
        {"userId": "u2", "sessionNumber": 2, "enrichment": {
            "call_answered": False, "call_duration": -1, "client_rating": None,
            "call_center_name": "a long name of the call center", "call_started_at":
            "0999-12-31T23:59:59Z", "callOutcome": None}},
    ]
    checked, bulk = _checked_run(0, items, LATEST), _bulk_run(0, items, LATEST)
    assert checked is not None and bulk is not None
    assert checked.json == bulk.json
    assert items[1]["enrichment"]["callOutcome"] is None  # the input is left as it was


@settings(max_examples=200, deadline=None)
@given(items=st.lists(nearly_valid_items(), min_size=1, max_size=8))
def test_a_chunk_of_models_is_one_run_with_each_model_s_wire_form(items: list[Any]) -> None:
    models = []
    for item in items:
        try:
            models.append(EnrichmentItem.model_validate(item, by_alias=True, by_name=False))
        except ValidationError:
            pass
    assume(models)
    run = validate_run(3, models, LATEST)
    assert run is not None
    assert run.json == b",".join(pydantic_core.to_json(model.to_wire()) for model in models)
    assert run.keys == [model.key for model in models]
    assert [one.item for one in run.split()] == models
