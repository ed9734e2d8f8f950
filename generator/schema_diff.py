"""What a schema change means: each difference between two integrations, classified.

For every change it says three things a Provider must know before regenerating:

- whether Contentsquare must register a new ``integrationVersion``. Contentsquare checks each
  enrichment against the fields of the version the request names, so any change of the fields
  (added, removed, renamed, another type, optional or not) needs a new version. Labels and
  descriptions never travel with an enrichment (a request carries field names and values only),
  so changing them alone does not;
- which attributes of the generated ``Enrichment`` model change (old and new Python names), and
  whether the Provider's code that uses them breaks;
- whether data already sent (enrichments in OLD's shape) is still valid under NEW.

Pure logic on two loaded integrations; ``enrichgen diff`` prints it, and ``generate`` can print
``summary_lines`` when it regenerates over an older package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from generator.integration_spec import Field, FieldType, Integration
from generator.names import package_identifier
from generator.problems import one_line

# Version of the JSON structure printed by ``enrichgen diff --format json``; bumped only when a
# key is removed or changes meaning (keys may be added).
JSON_FORMAT_VERSION = 1

MODEL = "Enrichment"

# The Python type a Provider passes for each field type.
PYTHON_TYPES = {
    FieldType.STRING: "str",
    FieldType.INT: "int",
    FieldType.FLOAT: "float",
    FieldType.BOOL: "bool",
    FieldType.DATETIME: "datetime",
}

# Type changes that every value already sent survives: an INT is a valid FLOAT, and a DATETIME
# is sent as a 20-byte string, a valid STRING.
_WIDENINGS = {(FieldType.INT, FieldType.FLOAT), (FieldType.DATETIME, FieldType.STRING)}

_NO_VERSION_FOR_TEXT = (
    "an enrichment carries field names and values, never labels or descriptions, so the "
    "registered version still describes the data"
)
_NO_VERSION_FOR_NAME = (
    "the name is enrichgen's key, not part of the fields Contentsquare registers"
)
_VERSION_FOR_FIELDS = (
    "Contentsquare checks every enrichment against the fields of the integrationVersion it "
    "names, so changed fields need a newly registered version"
)


class Kind(str, Enum):
    """What changed; the value is the ``kind`` of the JSON output (stable)."""

    INTEGRATION_RENAMED = "integration_renamed"
    INTEGRATION_VERSION_CHANGED = "integration_version_changed"
    INTEGRATION_LABEL_CHANGED = "integration_label_changed"
    INTEGRATION_DESCRIPTION_CHANGED = "integration_description_changed"
    FIELD_REMOVED = "field_removed"
    FIELD_RENAMED = "field_renamed"
    FIELD_TYPE_CHANGED = "field_type_changed"
    FIELD_NOW_REQUIRED = "field_now_required"
    FIELD_NOW_OPTIONAL = "field_now_optional"
    FIELD_LABEL_CHANGED = "field_label_changed"
    FIELD_DESCRIPTION_CHANGED = "field_description_changed"
    FIELD_ADDED_REQUIRED = "field_added_required"
    FIELD_ADDED_OPTIONAL = "field_added_optional"


class DataAlreadySent(str, Enum):
    """Whether enrichments sent in OLD's shape pass NEW's rules."""

    VALID = "valid"
    PARTLY = "partly"  # some do: those that set (or left out) the field concerned
    INVALID = "invalid"


_DATA_WORDS = {
    DataAlreadySent.VALID: "still valid",
    DataAlreadySent.PARTLY: "partly invalid",
    DataAlreadySent.INVALID: "no longer valid",
}


@dataclass(frozen=True)
class PythonChange:
    """One name of the generated package that changes: ``old``/``new`` are dotted names
    (``Enrichment.call_duration``, or the package for an integration rename), ``None`` when
    the name does not exist on that side; the types are Python annotations."""

    old: str | None
    new: str | None
    old_type: str | None
    new_type: str | None
    breaks: bool  # code that uses the old name or type fails (at run time or under mypy)
    note: str


@dataclass(frozen=True)
class Change:
    """One classified change and what it means; ``line()`` and ``to_json()`` present it."""

    kind: Kind
    what: str  # one line: what changed
    new_version: bool  # Contentsquare must register a new integrationVersion
    version_reason: str
    python: tuple[PythonChange, ...]
    data: DataAlreadySent
    data_reason: str
    old: Any = None  # the field (as a JSON object) or the integration-level value in OLD
    new: Any = None
    guess: bool = False
    field: str | None = None  # the wire name concerned (NEW's for a rename)

    def line(self) -> str:
        """The change as one line of text."""
        if self.new_version:
            version = "new integrationVersion needed"
        elif self.kind is Kind.INTEGRATION_VERSION_CHANGED:
            version = self.version_reason
        else:
            version = f"no new integrationVersion: {self.version_reason}"
        python = "; ".join(change.note for change in self.python) or "unchanged"
        data = _DATA_WORDS[self.data]
        return one_line(
            f"{self.what} — {version}; Python: {python}; "
            f"data already sent: {data} ({self.data_reason})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "guess": self.guess,
            "new_integration_version": self.new_version,
            "new_integration_version_reason": self.version_reason,
            "python": [
                {
                    "old": change.old,
                    "new": change.new,
                    "old_type": change.old_type,
                    "new_type": change.new_type,
                    "breaks": change.breaks,
                    "note": change.note,
                }
                for change in self.python
            ],
            "data_already_sent": self.data.value,
            "data_already_sent_reason": self.data_reason,
            "text": self.line(),
        }


@dataclass(frozen=True)
class DiffWarning:
    """Something about the versions to check by hand (``kind`` is stable, as in the JSON)."""

    kind: str
    text: str


@dataclass(frozen=True)
class SchemaDiff:
    """Every change from ``old`` to ``new``, in a stable order: the integration's own keys,
    then OLD's fields in their order, then the fields NEW adds."""

    old: Integration
    new: Integration
    changes: tuple[Change, ...]
    warnings: tuple[DiffWarning, ...]

    @property
    def new_version_needed(self) -> bool:
        return any(change.new_version for change in self.changes)

    @property
    def breaking_names(self) -> list[str]:
        """The old Python names whose users break (the new name when there is no old one)."""
        names = []
        for change in self.changes:
            for python in change.python:
                name = python.old or python.new
                if python.breaks and name is not None and name not in names:
                    names.append(name)
        return names

    @property
    def data_already_sent(self) -> DataAlreadySent:
        kinds = {change.data for change in self.changes}
        for worst in (DataAlreadySent.INVALID, DataAlreadySent.PARTLY):
            if worst in kinds:
                return worst
        return DataAlreadySent.VALID

    def verdict(self) -> str:
        """One short line: what the changes mean as a whole."""
        if not self.changes:
            return "no change: OLD and NEW describe the same integration"
        count = len(self.changes)
        guesses = sum(change.guess for change in self.changes)
        parts = [f"{count} change{'s' if count > 1 else ''}"]
        if guesses:
            parts[0] += f" ({guesses} guessed)"
        if self.new_version_needed:
            parts.append(
                "Contentsquare must register a new integrationVersion; customers still on "
                f"version {self.old.version} need OLD's fields: generate both schemas into one "
                "package to serve both"
            )
        else:
            parts.append("no new integrationVersion needed")
        breaking = self.breaking_names
        parts.append(
            f"Provider code breaks where it uses {', '.join(breaking)}"
            if breaking
            else "no Provider code breaks"
        )
        data = {
            DataAlreadySent.VALID: "data already sent stays valid",
            DataAlreadySent.PARTLY: "some data already sent is not valid under NEW",
            DataAlreadySent.INVALID: "data already sent is not valid under NEW",
        }[self.data_already_sent]
        parts.append(data)
        return one_line("verdict: " + "; ".join(parts))

    def lines(self) -> list[str]:
        """One line per change, one per warning, then the verdict."""
        return (
            [change.line() for change in self.changes]
            + [one_line(f"warning: {warning.text}") for warning in self.warnings]
            + [self.verdict()]
        )

    def to_json(self, old_source: str, new_source: str) -> dict[str, Any]:
        """The documented structure of ``enrichgen diff --format json``."""

        def side(source: str, integration: Integration) -> dict[str, Any]:
            return {
                "source": source,
                "name": integration.name,
                "integration_version": integration.version,
            }

        return {
            "format_version": JSON_FORMAT_VERSION,
            "old": side(old_source, self.old),
            "new": side(new_source, self.new),
            "changed": bool(self.changes),
            "new_integration_version_needed": self.new_version_needed,
            "python_breaks": self.breaking_names,
            "data_already_sent": self.data_already_sent.value,
            "changes": [change.to_json() for change in self.changes],
            "warnings": [{"kind": warning.kind, "text": warning.text} for warning in self.warnings],
            "verdict": self.verdict(),
        }


def summary_lines(old: Integration, new: Integration) -> list[str]:
    """The summary ``enrichgen diff`` prints: one line per change, per warning, then a verdict
    (a single "no change" line when the two describe the same integration)."""
    return compare(old, new).lines()


def compare(old: Integration, new: Integration) -> SchemaDiff:
    """Classify every difference between two loaded integrations."""
    changes = _integration_changes(old, new) + _field_changes(old, new)
    return SchemaDiff(old, new, tuple(changes), tuple(_warnings(old, new, changes)))


def _quote(text: str | None) -> str:
    return "none" if text is None else json.dumps(text, ensure_ascii=False)


def _attribute(field: Field) -> str:
    return f"{MODEL}.{field.identifier}"


def _annotation(field: Field) -> str:
    python_type = PYTHON_TYPES[field.type]
    return f"{python_type} | None" if field.optional else python_type


def _field_json(field: Field) -> dict[str, Any]:
    return {
        "name": field.wire_name,
        "type": field.type.value,
        "optional": field.optional,
        "label": field.label,
        "description": field.description,
        "python_name": field.identifier,
    }


def _attribute_change(old: Field | None, new: Field | None, breaks: bool, note: str) -> PythonChange:
    return PythonChange(
        old=None if old is None else _attribute(old),
        new=None if new is None else _attribute(new),
        old_type=None if old is None else _annotation(old),
        new_type=None if new is None else _annotation(new),
        breaks=breaks,
        note=note,
    )


def _field_change(
    kind: Kind,
    old: Field | None,
    new: Field | None,
    what: str,
    python: PythonChange,
    data: tuple[DataAlreadySent, str],
    guess: bool = False,
) -> Change:
    """A change of the fields themselves: always a new integrationVersion."""
    field = new or old
    assert field is not None
    return Change(
        kind=kind,
        what=what,
        new_version=True,
        version_reason=_VERSION_FOR_FIELDS,
        python=(python,),
        data=data[0],
        data_reason=data[1],
        old=None if old is None else _field_json(old),
        new=None if new is None else _field_json(new),
        guess=guess,
        field=field.wire_name,
    )


def _documentation_change(
    kind: Kind, subject: str, old_text: str | None, new_text: str | None, field: Field | None
) -> Change:
    """A label or description change: nothing that is sent or called changes."""
    return Change(
        kind=kind,
        what=f"{subject} {_quote(old_text)} → {_quote(new_text)}",
        new_version=False,
        version_reason=_NO_VERSION_FOR_TEXT,
        python=(),
        data=DataAlreadySent.VALID,
        data_reason="only documentation changed",
        old=old_text,
        new=new_text,
        field=None if field is None else field.wire_name,
    )


_FROM_FILE_NAMES = (
    ' (each is its file\'s name, which is the integration name when there is no "name" key: '
    'give both schemas the same "name" to keep one package)'
)


def _named_by_file(integration: Integration) -> bool:
    """Whether the name may come from the file name (a "name" key equal to it looks the same)."""
    stem = Path(integration.schema_path).stem
    return package_identifier(stem) == f"{integration.name}_enrichment"


def _integration_changes(old: Integration, new: Integration) -> list[Change]:
    changes = []
    if old.name != new.name:
        old_package, new_package = package_identifier(old.name), package_identifier(new.name)
        package_change = PythonChange(
            old=old_package,
            new=new_package,
            old_type=None,
            new_type=None,
            breaks=True,
            note=(
                f"the default package name {old_package} becomes {new_package}: imports "
                "change unless you generate with --package"
            ),
        )
        changes.append(
            Change(
                kind=Kind.INTEGRATION_RENAMED,
                what=(
                    f"integration name {_quote(old.name)} → {_quote(new.name)}"
                    + (_FROM_FILE_NAMES if _named_by_file(old) and _named_by_file(new) else "")
                ),
                new_version=False,
                version_reason=_NO_VERSION_FOR_NAME,
                python=(package_change,),
                data=DataAlreadySent.VALID,
                data_reason="the name is not sent",
                old=old.name,
                new=new.name,
            )
        )
    if old.version != new.version:
        version_change = PythonChange(
            old="INTEGRATION_VERSION",
            new="INTEGRATION_VERSION",
            old_type=None,
            new_type=None,
            breaks=False,
            note=(
                f"INTEGRATION_VERSION {old.version} → {new.version}: the client sends "
                f"integrationVersion {new.version}"
            ),
        )
        changes.append(
            Change(
                kind=Kind.INTEGRATION_VERSION_CHANGED,
                what=f"integrationVersion {old.version} → {new.version}",
                new_version=False,
                version_reason=(
                    "the number itself; whether NEW needs a new version follows from the "
                    "other changes"
                ),
                python=(version_change,),
                data=DataAlreadySent.VALID,
                data_reason=f"what was sent as version {old.version} stays under that version",
                old=old.version,
                new=new.version,
            )
        )
    if old.label != new.label:
        changes.append(
            _documentation_change(
                Kind.INTEGRATION_LABEL_CHANGED, "integration label", old.label, new.label, None
            )
        )
    if old.description != new.description:
        changes.append(
            _documentation_change(
                Kind.INTEGRATION_DESCRIPTION_CHANGED,
                "integration description",
                old.description,
                new.description,
                None,
            )
        )
    return changes


def _alike(old: Field, new: Field) -> bool:
    """Could ``new`` be ``old`` renamed? The same type, and the same label or Python name."""
    same_label = old.label is not None and old.label == new.label
    return old.type is new.type and (same_label or old.identifier == new.identifier)


def _renames(removed: list[Field], added: list[Field]) -> dict[str, Field]:
    """Guess which removed field became which added one: alike, and no other candidate on
    either side (two look-alikes are left as removals and additions). Old wire name → field."""
    renames = {}
    for old in removed:
        candidates = [new for new in added if _alike(old, new)]
        if len(candidates) == 1 and sum(_alike(other, candidates[0]) for other in removed) == 1:
            renames[old.wire_name] = candidates[0]
    return renames


def _field_changes(old: Integration, new: Integration) -> list[Change]:
    new_by_name = {field.wire_name: field for field in new.fields}
    old_names = {field.wire_name for field in old.fields}
    removed = [field for field in old.fields if field.wire_name not in new_by_name]
    added = [field for field in new.fields if field.wire_name not in old_names]
    renames = _renames(removed, added)
    renamed_to = {field.wire_name for field in renames.values()}
    changes: list[Change] = []
    for field in old.fields:
        if field.wire_name in new_by_name:
            changes += _changes_of_kept_field(field, new_by_name[field.wire_name])
        elif field.wire_name in renames:
            target = renames[field.wire_name]
            changes.append(_renamed(field, target))
            changes += _changes_of_kept_field(field, target)
        else:
            changes.append(_removed(field))
    changes += [_added(field) for field in added if field.wire_name not in renamed_to]
    return changes


def _refused(field: Field, why: str) -> tuple[DataAlreadySent, str]:
    """What becomes of the data sent when NEW refuses every value OLD sent for ``field``."""
    name = _quote(field.wire_name)
    if field.optional:
        return (
            DataAlreadySent.PARTLY,
            f"enrichments that set {name} are refused, {why}; those that left it out stay valid",
        )
    return DataAlreadySent.INVALID, f"every enrichment sent has {name}, and {why}"


def _describe(field: Field) -> str:
    required = "optional" if field.optional else "required"
    return f"field {_quote(field.wire_name)} ({field.type.value}, {required})"


def _removed(field: Field) -> Change:
    return _field_change(
        Kind.FIELD_REMOVED,
        field,
        None,
        what=f"{_describe(field)} removed",
        python=_attribute_change(
            field, None, True, f"{_attribute(field)} removed: code that sets or reads it breaks"
        ),
        data=_refused(field, "NEW does not know it"),
    )


def _added(field: Field) -> Change:
    if field.optional:
        return _field_change(
            Kind.FIELD_ADDED_OPTIONAL,
            None,
            field,
            what=f"{_describe(field)} added",
            python=_attribute_change(
                None, field, False, f"new {_attribute(field)}, optional: nothing breaks"
            ),
            data=(DataAlreadySent.VALID, "the new field is optional"),
        )
    return _field_change(
        Kind.FIELD_ADDED_REQUIRED,
        None,
        field,
        what=f"{_describe(field)} added",
        python=_attribute_change(
            None,
            field,
            True,
            f"{MODEL}({field.identifier}=...) now required: every construction without it breaks",
        ),
        data=(
            DataAlreadySent.INVALID,
            f"no enrichment sent has {_quote(field.wire_name)}, which NEW requires",
        ),
    )


def _renamed(old: Field, new: Field) -> Change:
    if old.label is not None and old.label == new.label:
        evidence = f"label {_quote(old.label)}"
    else:
        evidence = f"Python name {old.identifier}"
    if old.identifier == new.identifier:
        python = _attribute_change(
            old,
            new,
            False,
            f"{_attribute(new)} unchanged; only the wire name changes (wire-format mappings "
            f"must now use {_quote(new.wire_name)})",
        )
    else:
        python = _attribute_change(
            old,
            new,
            True,
            f"{_attribute(old)} becomes {_attribute(new)}: code that uses the old name breaks",
        )
    return _field_change(
        Kind.FIELD_RENAMED,
        old,
        new,
        what=(
            f"field {_quote(old.wire_name)} renamed to {_quote(new.wire_name)} (a guess: same "
            f"type {new.type.value} and {evidence}; if it is not a rename, it is a removal and "
            "an addition)"
        ),
        python=python,
        data=_refused(old, f"NEW knows it as {_quote(new.wire_name)}"),
        guess=True,
    )


def _changes_of_kept_field(old: Field, new: Field) -> list[Change]:
    """What changed in a field present on both sides (under the same or a guessed new name)."""
    changes = []
    if old.type is not new.type:
        changes.append(_type_changed(old, new))
    name = _quote(new.wire_name)
    if old.optional and not new.optional:
        changes.append(
            _field_change(
                Kind.FIELD_NOW_REQUIRED,
                old,
                new,
                what=f"field {name} ({new.type.value}) optional → required",
                python=_attribute_change(
                    old,
                    new,
                    True,
                    f"{MODEL}({new.identifier}=...) now required: every construction without "
                    "it breaks",
                ),
                data=(
                    DataAlreadySent.PARTLY,
                    f"enrichments that left {name} out are refused; those that set it stay valid",
                ),
            )
        )
    if new.optional and not old.optional:
        changes.append(
            _field_change(
                Kind.FIELD_NOW_OPTIONAL,
                old,
                new,
                what=f"field {name} ({new.type.value}) required → optional",
                python=_attribute_change(
                    old,
                    new,
                    False,
                    f"{_attribute(new)} may now be None: nothing breaks at run time, but code "
                    "that reads it must handle None (mypy shows where)",
                ),
                data=(DataAlreadySent.VALID, "a field that may be left out may still be set"),
            )
        )
    if old.label != new.label:
        changes.append(
            _documentation_change(
                Kind.FIELD_LABEL_CHANGED, f"field {name}: label", old.label, new.label, new
            )
        )
    if old.description != new.description:
        changes.append(
            _documentation_change(
                Kind.FIELD_DESCRIPTION_CHANGED,
                f"field {name}: description",
                old.description,
                new.description,
                new,
            )
        )
    return changes


def _type_changed(old: Field, new: Field) -> Change:
    was = f"{_attribute(new)} is now {_annotation(new)} (was {_annotation(old)})"
    data: tuple[DataAlreadySent, str]
    if (old.type, new.type) in _WIDENINGS:
        data = (
            DataAlreadySent.VALID,
            f"every {old.type.value} value sent is also a valid {new.type.value}",
        )
    else:
        data = _refused(old, f"a {old.type.value} value is not a valid {new.type.value}")
    if (old.type, new.type) == (FieldType.INT, FieldType.FLOAT):
        note = f"{was}: passing an int still works, code that reads it as an int breaks"
    else:
        note = f"{was}: code that sets or reads it breaks"
    return _field_change(
        Kind.FIELD_TYPE_CHANGED,
        old,
        new,
        what=f"field {_quote(new.wire_name)}: type {old.type.value} → {new.type.value}",
        python=_attribute_change(old, new, True, note),
        data=data,
    )


def _warnings(old: Integration, new: Integration, changes: list[Change]) -> list[DiffWarning]:
    warnings = []
    fields_changed = any(change.new_version for change in changes)
    if fields_changed and new.version == old.version:
        warnings.append(
            DiffWarning(
                "integration_version_not_bumped",
                f"NEW changes fields but keeps integrationVersion {old.version}: register NEW "
                "with Contentsquare and set the integrationVersion it answers "
                f"({old.version + 1} if {old.version} is the latest) in NEW",
            )
        )
    if new.version < old.version:
        warnings.append(
            DiffWarning(
                "integration_version_lowered",
                f"NEW's integrationVersion {new.version} is lower than OLD's {old.version}: "
                "are OLD and NEW the wrong way round?",
            )
        )
    elif new.version > old.version and not fields_changed:
        warnings.append(
            DiffWarning(
                "integration_version_changed_without_field_change",
                f"integrationVersion changes ({old.version} → {new.version}) but no field does: "
                "Contentsquare gives a new version only to a changed list of fields",
            )
        )
    return warnings
