"""``enrichgen diff``: every kind of change, its snapshots, packages as either side, bad input.

Each case compares two schemas of ``tests/diff_schemas/``; its text and JSON outputs are
compared exactly with ``tests/diff_snapshots/<case>.txt`` and ``<case>.json``. After a deliberate
change of the wording, review the new output and update the snapshots with
``UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_diff.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, ROOT, SCHEMAS, enrichgen
from generator.integration_spec import Field, FieldType, Integration, load_integration
from generator.names import field_identifier
from generator.package_schemas import MAX_INTEGRATIONS, MAX_MANIFEST_BYTES, MAX_SCHEMA_BYTES
from generator.schema_diff import Change, DataAlreadySent, Kind, compare, summary_lines

DIFF_SCHEMAS = ROOT / "tests" / "diff_schemas"
SNAPSHOTS = ROOT / "tests" / "diff_snapshots"
BASE = "tests/diff_schemas/base.json"

# case → (OLD, NEW), paths relative to the repository root (the tests run from there).
CASES = {
    "no_change": (BASE, "tests/diff_schemas/base_reformatted.json"),
    **{
        name: (BASE, f"tests/diff_schemas/{name}.json")
        for name in (
            "field_added_optional",
            "field_added_required",
            "field_removed_required",
            "field_removed_optional",
            "field_renamed",
            "field_renamed_wire_name_only",
            "field_type_changed",
            "field_type_widened",
            "field_now_required",
            "field_now_optional",
            "field_label_and_description",
            "integration_renamed_and_documented",
            "version_not_bumped",
            "version_bumped_only",
        )
    },
    "version_lowered": ("tests/diff_schemas/field_added_optional.json", BASE),
    "integration_named_by_files": (
        "tests/diff_schemas/calls_v1.json",
        "tests/diff_schemas/calls_v2.json",
    ),
    "ambiguous_rename": (
        "tests/diff_schemas/ambiguous_rename_old.json",
        "tests/diff_schemas/ambiguous_rename_new.json",
    ),
}


@pytest.fixture(autouse=True)
def _from_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # The outputs name the files as given: relative paths keep the snapshots stable.
    monkeypatch.chdir(ROOT)


def _matches_snapshot(name: str, actual: str) -> None:
    snapshot = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.write_text(actual, "utf-8")
    assert snapshot.exists(), f"no snapshot {snapshot}: run with UPDATE_SNAPSHOTS=1 once"
    assert actual == snapshot.read_text("utf-8"), (
        f"the output of case {name} changed: review it, then update the snapshots "
        "(UPDATE_SNAPSHOTS=1)"
    )


def _diff_json(*args: str) -> dict[str, Any]:
    result = enrichgen("diff", *args, "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.mark.parametrize("case", sorted(CASES))
def test_text_output_matches_the_snapshot(case: str) -> None:
    old, new = CASES[case]
    result = enrichgen("diff", old, new)
    assert result.stderr == ""
    assert result.exit_code == (0 if case == "no_change" else 1)
    _matches_snapshot(f"{case}.txt", result.stdout)


@pytest.mark.parametrize("case", sorted(CASES))
def test_json_output_matches_the_snapshot(case: str) -> None:
    old, new = CASES[case]
    result = enrichgen("diff", old, new, "--format", "json")
    assert result.exit_code == (0 if case == "no_change" else 1)
    _matches_snapshot(f"{case}.json", result.stdout)


def test_the_snapshots_cover_every_kind_of_change() -> None:
    seen = {change["kind"] for case in CASES for change in _diff_json(*CASES[case])["changes"]}
    assert seen == {kind.value for kind in Kind}


def test_no_stale_snapshot_is_left_behind() -> None:
    expected = {f"{case}.{suffix}" for case in CASES for suffix in ("txt", "json")}
    assert {path.name for path in SNAPSHOTS.iterdir()} == expected


def test_text_is_one_line_per_change_and_warning_then_the_verdict() -> None:
    document = _diff_json(*CASES["version_not_bumped"])
    lines = enrichgen("diff", *CASES["version_not_bumped"]).stdout.splitlines()
    assert lines == [change["text"] for change in document["changes"]] + [
        f"warning: {warning['text']}" for warning in document["warnings"]
    ] + [document["verdict"]]
    assert len(document["changes"]) == 1 and len(document["warnings"]) == 1


def test_a_change_of_fields_needs_a_new_version_and_documentation_does_not() -> None:
    for case in CASES:
        for change in _diff_json(*CASES[case])["changes"]:
            fields_changed = change["kind"].startswith("field_") and not change["kind"].endswith(
                ("_label_changed", "_description_changed")
            )
            assert change["new_integration_version"] is fields_changed, (case, change["kind"])
    labels = _diff_json(*CASES["field_label_and_description"])
    assert labels["new_integration_version_needed"] is False
    assert "never labels or descriptions" in labels["changes"][0]["text"]
    assert labels["python_breaks"] == []


def test_a_rename_is_called_a_guess_and_names_the_old_and_new_attribute() -> None:
    document = _diff_json(*CASES["field_renamed"])
    [change] = document["changes"][1:]  # after the integrationVersion change
    assert change["kind"] == "field_renamed" and change["guess"] is True
    assert "a guess" in change["text"]
    [python] = change["python"]
    assert (python["old"], python["new"], python["breaks"]) == (
        "Enrichment.call_duration",
        "Enrichment.call_length",
        True,
    )
    assert change["data_already_sent"] == "invalid"  # call_duration was required


def test_a_wire_name_change_that_keeps_the_python_name_breaks_no_attribute() -> None:
    document = _diff_json(*CASES["field_renamed_wire_name_only"])
    kinds = [change["kind"] for change in document["changes"]]
    assert kinds == ["integration_version_changed", "field_renamed", "field_label_changed"]
    python = document["changes"][1]["python"][0]
    assert python["old"] == python["new"] == "Enrichment.call_outcome"
    assert python["breaks"] is False
    assert document["new_integration_version_needed"] is True


def test_look_alike_fields_are_not_guessed_as_a_rename() -> None:
    kinds = [change["kind"] for change in _diff_json(*CASES["ambiguous_rename"])["changes"]]
    assert kinds == [
        "integration_version_changed",
        "field_removed",
        "field_removed",
        "field_added_optional",
    ]


def test_the_python_names_and_data_validity_of_each_field_change() -> None:
    expectations = {
        # case: (kind, old name, new name, breaks, data already sent)
        "field_added_optional": ("field_added_optional", None, "Enrichment.agent_name", False, "valid"),
        "field_added_required": ("field_added_required", None, "Enrichment.queue", True, "invalid"),
        "field_removed_required": (
            "field_removed", "Enrichment.call_duration", None, True, "invalid"
        ),
        "field_removed_optional": (
            "field_removed", "Enrichment.client_rating", None, True, "partly"
        ),
        "field_type_changed": (
            "field_type_changed", "Enrichment.client_rating", "Enrichment.client_rating", True,
            "partly",
        ),
        "field_now_required": (
            "field_now_required", "Enrichment.call_center_name", "Enrichment.call_center_name",
            True, "partly",
        ),
        "field_now_optional": (
            "field_now_optional", "Enrichment.call_answered", "Enrichment.call_answered", False,
            "valid",
        ),
    }
    for case, (kind, old, new, breaks, data) in expectations.items():
        change = _diff_json(*CASES[case])["changes"][-1]
        python = change["python"][0]
        assert (change["kind"], python["old"], python["new"], python["breaks"]) == (
            kind, old, new, breaks
        ), case
        assert change["data_already_sent"] == data, case
    required = _diff_json(*CASES["field_added_required"])["changes"][-1]["text"]
    assert "Enrichment(queue=...) now required" in required


def test_widening_type_changes_keep_the_data_already_sent_valid() -> None:
    document = _diff_json(*CASES["field_type_widened"])
    changes = [change for change in document["changes"] if change["kind"] == "field_type_changed"]
    assert [(c["old"]["type"], c["new"]["type"], c["data_already_sent"]) for c in changes] == [
        ("INT", "FLOAT", "valid"),
        ("DATETIME", "STRING", "valid"),
    ]
    assert changes[0]["python"][0]["old_type"] == "int"
    assert changes[0]["python"][0]["new_type"] == "float"


def test_same_integration_version_with_changed_fields_is_warned() -> None:
    document = _diff_json(*CASES["version_not_bumped"])
    assert [warning["kind"] for warning in document["warnings"]] == [
        "integration_version_not_bumped"
    ]
    assert "keeps integrationVersion 1" in document["warnings"][0]["text"]
    # A bumped version: no such warning.
    assert _diff_json(*CASES["field_added_optional"])["warnings"] == []


def test_hostile_text_stays_on_one_line() -> None:
    output = enrichgen("diff", *CASES["field_label_and_description"]).stdout
    assert "\x1b" not in output and "\u2028" not in output
    assert len(output.splitlines()) == 4  # two labels, one description, the verdict


def test_summary_lines_are_the_text_output() -> None:
    old, new = (load_integration(path) for path in CASES["field_renamed"])
    assert summary_lines(old, new) == enrichgen("diff", *CASES["field_renamed"]).stdout.splitlines()
    same = load_integration(BASE)
    assert summary_lines(same, same) == ["no change: OLD and NEW describe the same integration"]


def test_the_json_structure() -> None:
    document = _diff_json(*CASES["field_now_required"])
    assert list(document) == [
        "format_version",
        "old",
        "new",
        "changed",
        "new_integration_version_needed",
        "python_breaks",
        "data_already_sent",
        "changes",
        "warnings",
        "verdict",
    ]
    assert document["format_version"] == 1
    assert document["old"] == {"source": BASE, "name": "call_tracking", "integration_version": 1}
    assert document["python_breaks"] == ["Enrichment.call_center_name"]
    assert document["data_already_sent"] == DataAlreadySent.PARTLY.value
    change = document["changes"][-1]
    assert change["old"]["optional"] is True and change["new"]["optional"] is False
    assert change["old"]["python_name"] == "call_center_name"


def test_the_real_example_schemas_against_themselves() -> None:
    for path in sorted(SCHEMAS.glob("*.json")):
        integration = load_integration(str(path))
        assert compare(integration, integration).changes == ()


# --- a generated package as either side ---------------------------------------------------


def _schema(path: str) -> Any:
    return json.loads((ROOT / path).read_text("utf-8"))


def _package(tmp_path: Path, integrations: Any, name: str = "call_tracking_enrichment") -> str:
    """A package directory whose manifest carries ``integrations``, written by hand the way
    enrichgen writes it (the other files of a package play no part in a diff)."""
    package = tmp_path / name
    package.mkdir()
    manifest = {"generator": "enrichgen", "generator_version": "0.2.0", "files": {}}
    if integrations is not None:
        manifest["integrations"] = integrations
    (package / "enrichgen-manifest.json").write_text(json.dumps(manifest, indent=2), "utf-8")
    return str(package)


def _entry(path: str) -> dict[str, Any]:
    schema = _schema(path)
    return {"integrationVersion": schema.get("integrationVersion", 1), "schema": schema}


def test_a_package_compares_like_the_schema_it_was_generated_from(tmp_path: Path) -> None:
    package = _package(tmp_path, [_entry(BASE)])
    for old, new in ((package, CASES["field_renamed"][1]), (CASES["field_renamed"][1], package)):
        from_package = enrichgen("diff", old, new)
        from_schema = enrichgen(
            "diff", *(BASE if side == package else side for side in (old, new))
        )
        assert from_package.exit_code == 1
        assert from_package.stdout == from_schema.stdout
    assert enrichgen("diff", package, BASE).exit_code == 0


def test_a_package_with_several_versions_compares_the_latest_unless_told(tmp_path: Path) -> None:
    package = _package(
        tmp_path, [_entry("tests/diff_schemas/field_added_optional.json"), _entry(BASE)]
    )
    latest = enrichgen("diff", package, "tests/diff_schemas/field_added_optional.json")
    assert latest.exit_code == 0, latest.stdout
    first = enrichgen("diff", package, BASE, "--integration-version", "1")
    assert first.exit_code == 0, first.stdout
    second = enrichgen("diff", package, BASE, "--integration-version", "2")
    assert second.exit_code == 1
    assert "field \"agent_name\" (STRING, optional) removed" in second.stdout
    missing = enrichgen("diff", package, BASE, "--integration-version", "3")
    assert missing.exit_code == 2
    assert missing.stderr == (
        f"error: {package}: the package holds integrationVersion 1, 2, not 3: choose one of "
        "them with --integration-version\n"
    )


def test_two_packages_compare_the_version_asked_of_each(tmp_path: Path) -> None:
    renamed = "tests/diff_schemas/field_renamed.json"
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old = _package(tmp_path / "old", [_entry(BASE)])
    new = _package(tmp_path / "new", [_entry(BASE), _entry(renamed)])
    assert enrichgen("diff", old, new).stdout == enrichgen("diff", BASE, renamed).stdout
    assert enrichgen("diff", old, new, "--integration-version", "1").exit_code == 0


def test_a_schema_without_a_name_takes_the_package_name(tmp_path: Path) -> None:
    schema = _schema(BASE)
    del schema["name"]
    package = _package(tmp_path, [{"integrationVersion": 1, "schema": schema}])
    assert enrichgen("diff", package, BASE).exit_code == 0


def test_a_package_from_an_older_enrichgen_is_refused_clearly(tmp_path: Path) -> None:
    package = _package(tmp_path, None)
    result = enrichgen("diff", package, BASE)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {package}: this package was generated by an older enrichgen; regenerate it or "
        "diff two schema files\n"
    )
    assert result.stdout == ""


def test_a_golden_record_package_compares_equal_to_its_schema() -> None:
    result = enrichgen(
        "diff", str(EXAMPLES / "call_tracking_enrichment"), str(SCHEMAS / "call_tracking.json")
    )
    assert (result.exit_code, result.stderr) == (0, "")


def test_an_invalid_embedded_schema_gives_the_validate_messages_inside_the_manifest(
    tmp_path: Path,
) -> None:
    broken = ROOT / "tests" / "broken_schemas" / "field_errors.json"
    schema = json.loads(broken.read_text("utf-8"))
    package = _package(tmp_path, [{"integrationVersion": 1, "schema": schema}])
    result = enrichgen("diff", package, BASE)
    assert result.exit_code == 2
    manifest = f"{package}/enrichgen-manifest.json"
    expected = [
        line.replace(f"{broken}: /", f"{manifest}: /integrations/0/schema/").replace(
            "/schema/:", "/schema:"
        )
        for line in enrichgen("validate", str(broken)).stderr.splitlines()
    ]
    assert result.stderr.splitlines() == expected
    assert len(expected) > 5


@pytest.mark.parametrize(
    ("integrations", "message"),
    [
        ({"integrationVersion": 1}, "/integrations: must be a non-empty list"),
        ([], "/integrations: must be a non-empty list"),
        (["schema"], '/integrations/0: must be an object with "integrationVersion" and "schema"'),
        ([{"schema": {}}], "/integrations/0/integrationVersion: must be a whole number, 1 or more"),
        (
            [{"integrationVersion": True, "schema": {}}],
            "/integrations/0/integrationVersion: must be a whole number, 1 or more",
        ),
        (
            [{"integrationVersion": 2, "schema": _schema(BASE)}],
            "/integrations/0: the entry says integrationVersion 2 but its schema says 1",
        ),
        (
            [_entry(BASE), _entry(BASE)],
            "/integrations/1: integrationVersion 1 appears twice",
        ),
        ([_entry(BASE)] * (MAX_INTEGRATIONS + 1), f"{MAX_INTEGRATIONS + 1} entries, more than"),
        (
            [{"integrationVersion": 1, "schema": {**_schema(BASE), "label": "x" * MAX_SCHEMA_BYTES}}],
            f"/integrations/0/schema: larger than {MAX_SCHEMA_BYTES} bytes",
        ),
        (
            [{"integrationVersion": 1, "schema": {**_schema(BASE), "label": "\ud800"}}],
            "/integrations/0/schema: holds a lone surrogate",
        ),
    ],
)
def test_a_bad_manifest_is_refused_in_one_line(
    tmp_path: Path, integrations: Any, message: str
) -> None:
    package = _package(tmp_path, integrations)
    result = enrichgen("diff", BASE, package)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {package}/enrichgen-manifest.json: "), line
    assert message in line and line.endswith("regenerate the package")


def test_a_package_of_any_schema_generate_accepts_can_be_diffed(tmp_path: Path) -> None:
    """The manifest's schemas are read up to the size of a schema file, not less: a 700 kB
    schema (long descriptions) generated, and its package then could not be diffed."""
    schema = {**_schema(BASE), "description": "d" * 700_000}
    path = tmp_path / "call_tracking.json"
    path.write_text(json.dumps(schema))
    assert enrichgen("generate", str(path), "--out", str(tmp_path / "out")).exit_code == 0
    result = enrichgen("diff", str(tmp_path / "out" / "call_tracking_enrichment"), str(path))
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{\"generator\": ", "enrichgen-manifest.json:1:15: invalid JSON"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b"[]", "not an enrichgen manifest"),
        (b"{\"generator\": \"other\"}", "not an enrichgen manifest"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"generator": "enrichgen", "integrations": ' + b"9" * 5000 + b"}", "too long to read"),
        (b" " * (MAX_MANIFEST_BYTES + 1), "more than any manifest enrichgen writes"),
    ],
)
def test_an_unreadable_manifest_is_refused_in_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    package = tmp_path / "call_tracking_enrichment"
    package.mkdir()
    (package / "enrichgen-manifest.json").write_bytes(content)
    result = enrichgen("diff", str(package), BASE)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert message in line and str(package) in line, line


# --- bad input: exit 2, one line per problem, never a traceback ----------------------------


def test_a_missing_file_gives_the_validate_message() -> None:
    result = enrichgen("diff", "tests/diff_schemas/nope.json", BASE)
    assert result.exit_code == 2
    assert result.stderr == enrichgen("validate", "tests/diff_schemas/nope.json").stderr
    assert result.stderr.startswith("tests/diff_schemas/nope.json: /: no such file")


def test_an_invalid_schema_gives_the_validate_messages_for_each_side() -> None:
    broken = "tests/broken_schemas/field_errors.json"
    syntax = "tests/broken_schemas/syntax_error.json"
    result = enrichgen("diff", broken, syntax)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        enrichgen("validate", broken).stderr.replace(f"{broken}: valid\n", "")
        + enrichgen("validate", syntax).stderr
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000, "the JSON is nested too deeply to read; an integration schema has 3 levels"),
        (
            '{"integrationVersion": ' + "9" * 5000 + ', "fields": []}',
            "a number is too long to read (thousands of digits); write a small one",
        ),
    ],
)
def test_json_that_python_refuses_to_parse_is_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(text, "utf-8")
    result = enrichgen("diff", str(schema), BASE)
    assert result.exit_code == 2
    assert result.stderr == f"{schema}: /: {message}\n"
    assert enrichgen("validate", str(schema)).stderr == result.stderr


def test_a_directory_that_is_not_a_package(tmp_path: Path) -> None:
    result = enrichgen("diff", BASE, str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {tmp_path} is a directory but not a package generated by enrichgen (no "
        "enrichgen-manifest.json): give a schema file or a generated package\n"
    )


def test_usage_errors_exit_2() -> None:
    version = enrichgen("diff", BASE, BASE, "--integration-version", "1")
    assert version.exit_code == 2
    assert "--integration-version is only for a generated package directory" in version.stderr
    assert enrichgen("diff", BASE, BASE, "--format", "yaml").exit_code == 2
    assert enrichgen("diff", BASE).exit_code == 2
    assert enrichgen("diff", BASE, BASE, "--integration-version", "0").exit_code == 2


def test_the_installed_command_exits_with_the_documented_codes(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "generator", "diff", *args],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )

    assert run(BASE, CASES["no_change"][1]).returncode == 0
    changed = run(BASE, CASES["field_renamed"][1])
    assert changed.returncode == 1 and changed.stdout.startswith("integrationVersion 1 → 2")
    bad = run(BASE, str(tmp_path / "missing.json"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# --- properties of the classification on random integrations --------------------------------

# A small pool of names, labels and descriptions, so that random pairs share fields often.
_NAMES = ["call_duration", "call_length", "callOutcome", "agent", "queue", "rating"]


@st.composite
def _integrations(draw: st.DrawFn) -> Integration:
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=5, unique=True))
    fields = tuple(
        Field(
            wire_name=name,
            identifier=field_identifier(name),
            type=draw(st.sampled_from(FieldType)),
            optional=draw(st.booleans()),
            label=draw(st.sampled_from([None, "Duration", "Outcome"])),
            description=draw(st.sampled_from([None, "Seconds", "Free text\n\u2028"])),
        )
        for name in names
    )
    return Integration(
        name=draw(st.sampled_from(["call_tracking", "phone_calls"])),
        package="call_tracking_enrichment",
        version=draw(st.integers(1, 3)),
        label=draw(st.sampled_from([None, "Calls"])),
        description=None,
        fields=fields,
        schema_path="random.json",
        schema_sha256="",
    )


def _mirror(change: Change) -> Kind:
    """The kind the same change has when OLD and NEW are swapped."""
    if change.kind is Kind.FIELD_REMOVED:
        optional = change.old["optional"]
        return Kind.FIELD_ADDED_OPTIONAL if optional else Kind.FIELD_ADDED_REQUIRED
    return {
        Kind.FIELD_ADDED_OPTIONAL: Kind.FIELD_REMOVED,
        Kind.FIELD_ADDED_REQUIRED: Kind.FIELD_REMOVED,
        Kind.FIELD_NOW_REQUIRED: Kind.FIELD_NOW_OPTIONAL,
        Kind.FIELD_NOW_OPTIONAL: Kind.FIELD_NOW_REQUIRED,
    }.get(change.kind, change.kind)


def _wire_shape(integration: Integration) -> set[tuple[str, FieldType, bool]]:
    return {(field.wire_name, field.type, field.optional) for field in integration.fields}


@settings(max_examples=300, deadline=None)
@given(old=_integrations(), new=_integrations())
def test_the_classification_accounts_for_every_field_and_mirrors_when_swapped(
    old: Integration, new: Integration
) -> None:
    diff = compare(old, new)
    assert compare(old, old).changes == ()
    old_names = {field.wire_name for field in old.fields}
    new_names = {field.wire_name for field in new.fields}
    # Each field only on one side is in exactly one change that removes, adds or renames it.
    gone = [c.old["name"] for c in diff.changes if c.kind in (Kind.FIELD_REMOVED, Kind.FIELD_RENAMED)]
    came = [
        c.new["name"]
        for c in diff.changes
        if c.kind in (Kind.FIELD_ADDED_OPTIONAL, Kind.FIELD_ADDED_REQUIRED, Kind.FIELD_RENAMED)
    ]
    assert sorted(gone) == sorted(old_names - new_names)
    assert sorted(came) == sorted(new_names - old_names)
    # A new integrationVersion exactly when the wire shape (names, types, optionality) differs.
    assert diff.new_version_needed is (_wire_shape(old) != _wire_shape(new))
    # Swapping OLD and NEW mirrors every field change.
    mirrored = sorted(_mirror(c).value for c in diff.changes if c.field)
    assert mirrored == sorted(c.kind.value for c in compare(new, old).changes if c.field)
    for line in diff.lines():
        assert "\n" not in line and "\u2028" not in line
