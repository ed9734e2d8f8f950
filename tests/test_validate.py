"""``enrichgen validate``: every rule, one line per problem, snapshots of the messages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ROOT, SCHEMAS, enrichgen

BROKEN = ROOT / "tests" / "broken_schemas"
SNAPSHOT = BROKEN / "expected_messages.txt"


def _messages() -> str:
    blocks = []
    for path in sorted(BROKEN.glob("*.json")):
        relative = path.relative_to(ROOT).as_posix()
        result = enrichgen("validate", relative)
        assert result.exit_code == 1, relative
        assert "Traceback" not in result.stderr
        blocks.append(f"== {path.name} (exit {result.exit_code})\n{result.stderr}")
    return "\n".join(blocks)


def test_error_messages_match_the_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    messages = _messages()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(messages, "utf-8")
    assert messages == SNAPSHOT.read_text("utf-8"), (
        "error messages changed: review them, then update the snapshot with UPDATE_SNAPSHOTS=1 make test"
    )


def test_every_problem_line_names_the_file_and_a_pointer_or_position(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    for line in _messages().splitlines():
        if line.startswith("==") or not line:
            continue
        path, rest = line.split(": ", 1) if ".json: " in line else line.split(":", 1)
        assert path.startswith("tests/broken_schemas/"), line
        assert rest.startswith("/") or rest.split(":")[0].isdigit(), line


def test_all_problems_of_a_file_are_reported() -> None:
    result = enrichgen("validate", str(BROKEN / "field_errors.json"))
    pointers = {line.split(": ")[1] for line in result.stderr.splitlines()}
    assert {
        "/integrationVersion",
        "/fields/1/type",
        "/fields/3",
        "/fields/5/optinal",
        "/fields/6/name",
        "/fields/7/name",
        "/fields/11/name",
        "/fields/12",
    } <= pointers


def test_did_you_mean_for_misspelled_keys_and_types() -> None:
    stderr = enrichgen("validate", str(BROKEN / "field_errors.json")).stderr
    assert "did you mean 'INT'?" in stderr
    assert "did you mean 'STRING'?" in stderr
    assert "did you mean 'optional'?" in stderr


def test_identifier_collision_names_both_fields() -> None:
    stderr = enrichgen("validate", str(BROKEN / "field_errors.json")).stderr
    line = next(line for line in stderr.splitlines() if "/fields/11/name" in line)
    assert "'callDuration'" in line and "'call_duration'" in line


def test_json_syntax_error_gives_line_and_column() -> None:
    stderr = enrichgen("validate", str(BROKEN / "syntax_error.json")).stderr
    assert stderr.startswith(f"{BROKEN / 'syntax_error.json'}:2:1: invalid JSON")


def test_valid_examples_exit_0() -> None:
    result = enrichgen("validate", *map(str, sorted(SCHEMAS.glob("*.json"))))
    assert result.exit_code == 0, result.stderr


def test_one_bad_file_among_good_ones_exits_1() -> None:
    result = enrichgen(
        "validate", str(SCHEMAS / "call_tracking.json"), str(BROKEN / "no_fields.json")
    )
    assert result.exit_code == 1
    assert "no_fields.json: /fields: the schema needs at least one field" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert enrichgen("validate").exit_code == 2
    assert enrichgen("validate", "--nope", "x.json").exit_code == 2


def test_a_missing_file_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    result = enrichgen("validate", str(tmp_path / "absent.json"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no such file" in result.stderr


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"fields": [{"name": "a", "type": "INT", "optional": False}], "extra": 1}, "/extra"),
        ({"fields": [{"name": "a", "type": "DATE", "optional": False}]}, "DATETIME"),
        ({"fields": [{"name": "a", "type": "INT", "optional": None}]}, "true or false"),
        ({"fields": [{"name": "x" * 31, "type": "INT", "optional": False}]}, "31 bytes"),
        ({"fields": "nope"}, "must be a list"),
        ({"fields": [{"name": "a", "type": "INT", "optional": False}], "integrationVersion": 1.5}, "whole number, not 1.5"),
        # read as a float: the package would carry 1.0 where the API wants 1
        (
            {"fields": [{"name": "a", "type": "INT", "optional": False}], "integrationVersion": 1.0},
            "without a decimal point or exponent: 1, not 1.0",
        ),
        ({"fields": [{"name": "a", "type": "INT", "optional": False}], "integrationVersion": 1e400}, "not inf"),
        (
            {"fields": [{"name": "a", "type": "INT", "optional": False}], "integrationVersion": 2**63},
            "must be at most 2147483647 (got 9223372036854775808)",
        ),
    ],
)
def test_single_rules(tmp_path: Path, document: object, fragment: str) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(document))
    result = enrichgen("validate", str(path))
    assert result.exit_code == 1
    assert fragment in result.stderr


def test_a_file_name_that_gives_no_ascii_package_name_needs_a_name_key(tmp_path: Path) -> None:
    """The stem gives the package's name when the schema has none; a non-ASCII one would
    go into the User-Agent header, which only takes ASCII."""
    path = tmp_path / "δεδομένα.json"
    path.write_text(json.dumps({"fields": [{"name": "a", "type": "INT", "optional": False}]}))
    result = enrichgen("validate", str(path))
    assert result.exit_code == 1
    assert "the file name 'δεδομένα' must give an ASCII package name: add a \"name\" key" in result.stderr
    path.write_text(json.dumps({"name": "calls", "fields": [{"name": "a", "type": "INT", "optional": False}]}))
    assert enrichgen("validate", str(path)).exit_code == 0


def test_an_attribute_named_as_another_field_is_refused(tmp_path: Path) -> None:
    """Cyrillic palochka: "a\u04c0b" becomes the attribute "a\u04cfb", the other field's wire
    name; the model, which accepts both names, would send one value under both."""
    path = tmp_path / "schema.json"
    fields = [{"name": name, "type": "INT", "optional": True} for name in ("a\u04c0b", "a\u04cfb")]
    path.write_text(json.dumps({"name": "idem", "fields": fields}))
    result = enrichgen("validate", str(path))
    assert result.exit_code == 1
    assert "which is the name of /fields/1: rename one of them" in result.stderr


def test_a_huge_unknown_key_is_not_echoed_whole(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"fields": [{"name": "a", "type": "INT", "optional": True}], "k" * 100_000: 1}))
    result = enrichgen("validate", str(path))
    assert result.exit_code == 1 and len(result.stderr) < 500
    assert "unknown key 'kkkk" in result.stderr and "…" in result.stderr
