"""Several integration versions in one package: ``enrichgen generate v1.json v2.json --package``,
the refusals, the summary of what a regeneration changes, and the golden two-version package
end to end against the sandbox serving both versions (sync and async clients, the command
line with ``--integration-version``)."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_end_to_end import wire_items

from conftest import EXAMPLES, VERSIONED_PACKAGE, VERSIONED_SCHEMAS, enrichgen
from generator.integration_spec import load_integration
from generator.package import MANIFEST_NAME
from generator.sandbox import Sandbox

V1, V2 = (load_integration(str(path)) for path in VERSIONED_SCHEMAS)
Key = tuple[str, int, int]


def _files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture
def schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding v1.json and v2.json (the two call-tracking versions)."""
    monkeypatch.chdir(tmp_path)
    for name, source in zip(("v1.json", "v2.json"), VERSIONED_SCHEMAS, strict=True):
        shutil.copy(source, tmp_path / name)
    return tmp_path


# --- generate -------------------------------------------------------------------------------


def test_two_versions_make_one_package_whatever_their_order(schemas: Path) -> None:
    result = enrichgen("generate", "v2.json", "v1.json", "--out", "out", "--package", "calls")
    assert result.exit_code == 0, result.stderr
    package = _files(schemas / "out" / "calls")
    golden = _files(EXAMPLES / VERSIONED_PACKAGE)
    # Only the manifest says how the package was generated (its command and schema paths).
    assert {k: v for k, v in package.items() if k != MANIFEST_NAME} == {
        k: v for k, v in golden.items() if k != MANIFEST_NAME
    }
    manifest = json.loads(package[MANIFEST_NAME])
    assert [entry["integrationVersion"] for entry in manifest["integrations"]] == [1, 2]
    assert [entry["path"] for entry in manifest["integrations"]] == ["v1.json", "v2.json"]
    assert manifest["command"] == "enrichgen generate v1.json v2.json --out out --package calls"
    assert enrichgen(
        "generate", "v1.json", "v2.json", "--out", "out", "--package", "calls", "--check"
    ).exit_code == 0


def test_the_golden_package_exports_every_version() -> None:
    package = importlib.import_module(VERSIONED_PACKAGE)
    integration = importlib.import_module(f"{VERSIONED_PACKAGE}.integration")
    assert package.INTEGRATION_VERSION == 2
    assert sorted(integration.VERSIONS) == [1, 2]
    assert package.EnrichmentV2 is package.Enrichment
    assert package.EnrichmentItemV2 is package.EnrichmentItem
    assert integration.VERSIONS[1].enrichment is package.EnrichmentV1
    assert integration.VERSIONS[1].item is package.EnrichmentItemV1
    assert set(package.EnrichmentV1.model_fields) == {f.identifier for f in V1.fields}
    assert set(package.Enrichment.model_fields) == {f.identifier for f in V2.fields}
    for name in ("EnrichmentV1", "EnrichmentItemV1", "EnrichmentV2", "EnrichmentItemV2"):
        assert name in package.__all__
    manifest = json.loads((EXAMPLES / VERSIONED_PACKAGE / MANIFEST_NAME).read_text("utf-8"))
    assert [entry["schema"] for entry in manifest["integrations"]] == [V1.schema, V2.schema]


def _refused(result: Any, *fragments: str) -> None:
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_schemas_that_would_share_a_package_need_package(schemas: Path) -> None:
    _refused(
        enrichgen("generate", "v1.json", "v2.json", "--out", "out"),
        "v1.json and v2.json both give the package name 'call_tracking_enrichment'",
        "add --package call_tracking_enrichment",
    )
    assert not (schemas / "out").exists()


@pytest.mark.parametrize("package", ["my-pkg", "1abc", "class", ""])
def test_a_package_name_python_cannot_import_is_a_usage_error(
    schemas: Path, package: str
) -> None:
    """A bad --package is a bad option (exit 2, one line), not a problem in a schema."""
    _refused(
        enrichgen("generate", "v1.json", "--out", "out", "--package", package),
        f"--package {package!r} is not a valid Python package name",
    )
    assert not (schemas / "out").exists()


def test_two_schemas_of_one_version_are_refused(schemas: Path) -> None:
    shutil.copy("v1.json", "again.json")
    _refused(
        enrichgen("generate", "v1.json", "again.json", "--out", "out", "--package", "calls"),
        "v1.json and again.json are both integrationVersion 1",
    )
    assert not (schemas / "out").exists()


def test_schemas_of_different_integrations_are_refused(schemas: Path) -> None:
    shutil.copy(EXAMPLES.parent / "integration_schemas" / "lead_scoring.json", "leads.json")
    _refused(
        enrichgen("generate", "v1.json", "leads.json", "--out", "out", "--package", "calls"),
        "different integrations (call_tracking, lead_scoring)",
    )
    assert not (schemas / "out").exists()


def test_a_gap_between_versions_is_fine(schemas: Path) -> None:
    v3 = json.loads(Path("v2.json").read_text("utf-8"))
    v3["integrationVersion"] = 3
    Path("v3.json").write_text(json.dumps(v3), "utf-8")
    assert enrichgen("generate", "v1.json", "v3.json", "--out", "out", "--package", "calls").exit_code == 0
    own_tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "calls"],
        cwd=schemas / "out", capture_output=True, text=True, check=False,
    )
    assert own_tests.returncode == 0, own_tests.stdout + own_tests.stderr
    probe = "from calls import integration; print(sorted(integration.VERSIONS), integration.INTEGRATION_VERSION)"
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=schemas / "out", capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "[1, 3] 3"


# --- what a regeneration changes ----------------------------------------------------------------


def test_regenerating_prints_what_changed_in_the_schema(schemas: Path) -> None:
    shutil.copy("v1.json", "calls.json")
    first = enrichgen("generate", "calls.json", "--out", "out")
    assert first.exit_code == 0 and "  " not in first.stderr
    shutil.copy("v2.json", "calls.json")
    second = enrichgen("generate", "calls.json", "--out", "out")
    assert second.exit_code == 0, second.stderr
    summary = [line.strip() for line in second.stderr.splitlines() if line.startswith("  ")]
    assert [line.split(" —")[0] for line in summary[:-1]] == [
        "integrationVersion 1 → 2",
        'field "client_rating": type FLOAT → INT',
        'field "client_rating": description "Rating the caller gave at the end of the call, '
        'from 0 to 5" → "Rating the caller gave at the end of the call, from 0 to 5 stars"',
        'field "queue_seconds" (INT, optional) added',
    ]
    assert summary[-1].startswith("verdict: 4 changes")
    # Nothing changed: nothing to say.
    third = enrichgen("generate", "calls.json", "--out", "out")
    assert third.exit_code == 0 and "  " not in third.stderr


def test_each_kept_version_is_compared_with_itself(schemas: Path) -> None:
    arguments = ("generate", "v1.json", "v2.json", "--out", "out", "--package", "calls")
    assert enrichgen(*arguments).exit_code == 0
    v2 = json.loads(Path("v2.json").read_text("utf-8"))
    v2["fields"][0]["label"] = "Picked up"
    Path("v2.json").write_text(json.dumps(v2), "utf-8")
    result = enrichgen(*arguments)
    summary = [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]
    assert summary[0].startswith(
        'integrationVersion 2: field "call_answered": label "Call answered" → "Picked up"'
    )
    assert summary[-1].startswith("integrationVersion 2: verdict: 1 change")


def test_a_package_without_schemas_in_its_manifest_gets_no_summary(schemas: Path) -> None:
    shutil.copy("v1.json", "calls.json")
    assert enrichgen("generate", "calls.json", "--out", "out").exit_code == 0
    manifest_path = schemas / "out" / "call_tracking_enrichment" / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text("utf-8"))
    del manifest["integrations"]  # as enrichgen 0.1 wrote it
    manifest_path.write_text(json.dumps(manifest), "utf-8")
    shutil.copy("v2.json", "calls.json")
    result = enrichgen("generate", "calls.json", "--out", "out")
    assert result.exit_code == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("  ")] == []


# --- end to end: both versions in one run -------------------------------------------------


def _items(version: int, count: int) -> list[dict[str, Any]]:
    """Valid items of one version, on keys of their own (user ids ``v<N>-...``)."""
    integration = V1 if version == 1 else V2
    items = wire_items(integration, count, random.Random(version), count // 4)
    return [{**item, "userId": f"v{version}-{item['userId']}"} for item in items]


def _last_writes(items: list[dict[str, Any]], version: int) -> dict[Key, tuple[int, Any]]:
    return {
        (item["userId"], item["sessionNumber"], item["enrichmentNumber"]): (
            version,
            item["enrichment"],
        )
        for item in items
    }


def _stored(sandbox: Sandbox) -> dict[Key, tuple[int, Any]]:
    return {
        (entry["userId"], entry["sessionNumber"], entry["enrichmentNumber"]): (
            entry["integrationVersion"],
            entry["enrichment"],
        )
        for entry in sandbox.store.enrichments()
    }


# A version 1 enrichment that version 2 refuses: its client_rating is a FLOAT, an INT in v2.
V1_ONLY = {
    "userId": "v1-rated",
    "sessionNumber": 1,
    "enrichmentNumber": 1,
    "enrichment": {
        "call_answered": True,
        "call_duration": 30,
        "call_started_at": "2026-01-01T10:00:00Z",
        "client_rating": 4.5,
    },
}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_both_versions_in_one_run_against_the_sandbox(mode: str) -> None:
    package = importlib.import_module(VERSIONED_PACKAGE)
    v1_items, v2_items = _items(1, 400) + [V1_ONLY], _items(2, 400)
    with Sandbox([V1, V2]) as sandbox:
        credentials = (sandbox.client_id, sandbox.client_secret, sandbox.project_id)
        options = {"auth_url": sandbox.auth_url, "max_batch_size": 50}
        if mode == "sync":
            with package.EnrichmentClient(
                *credentials, integration_version=1, **options
            ) as old, package.EnrichmentClient(*credentials, **options) as latest:
                assert (old.integration_version, latest.integration_version) == (1, 2)
                reports = [old.send(v1_items), latest.send(v2_items), latest.send([V1_ONLY])]
        else:

            async def send() -> list[Any]:
                async with package.AsyncEnrichmentClient(
                    *credentials, integration_version=1, **options
                ) as old, package.AsyncEnrichmentClient(*credentials, **options) as latest:
                    return list(
                        await asyncio.gather(
                            old.send(v1_items), latest.send(v2_items), latest.send([V1_ONLY])
                        )
                    )

            reports = asyncio.run(send())
        v1_report, v2_report, refused = reports
        assert v1_report.ok and v2_report.ok, (v1_report, v2_report)
        assert v1_report.accepted + v1_report.superseded == len(v1_items)
        assert v2_report.accepted + v2_report.superseded == len(v2_items)
        # Validated with version 2's rules, locally: never sent.
        assert refused.accepted == 0 and refused.batches == 0
        assert [failure.field for failure in refused.rejected] == ["client_rating"]
        assert _stored(sandbox) == {**_last_writes(v1_items, 1), **_last_writes(v2_items, 2)}


def test_the_command_line_sends_each_version(tmp_path: Path) -> None:
    v1_file, v2_file = tmp_path / "v1.jsonl", tmp_path / "v2.jsonl"
    v1_items, v2_items = _items(1, 200) + [V1_ONLY], _items(2, 200)
    for path, items in ((v1_file, v1_items), (v2_file, v2_items)):
        path.write_text("".join(json.dumps(item) + "\n" for item in items), "utf-8")
    with Sandbox([V1, V2]) as sandbox:
        environment = {
            **os.environ,
            "PYTHONPATH": str(EXAMPLES),
            "CS_CLIENT_ID": sandbox.client_id,
            "CS_CLIENT_SECRET": sandbox.client_secret,
            "CS_PROJECT_ID": str(sandbox.project_id),
            "CS_AUTH_URL": sandbox.auth_url,
        }

        def run(*arguments: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", VERSIONED_PACKAGE, *arguments],
                env=environment, capture_output=True, text=True, timeout=120, check=False,
            )

        # Version 2 (the default) refuses the version 1 file's FLOAT ratings.
        checked = run("validate", str(v1_file))
        assert checked.returncode == 1 and "client_rating" in checked.stdout
        assert run("validate", str(v1_file), "--integration-version", "1").returncode == 0
        sent_v1 = run("send", str(v1_file), "--integration-version", "1")
        assert sent_v1.returncode == 0, sent_v1.stdout + sent_v1.stderr
        sent_v2 = run("send", str(v2_file))
        assert sent_v2.returncode == 0, sent_v2.stdout + sent_v2.stderr
        unknown = run("send", str(v2_file), "--integration-version", "3")
        assert unknown.returncode == 2
        assert "--integration-version 3 is not one of this package's: 1, 2" in unknown.stderr
        assert _stored(sandbox) == {**_last_writes(v1_items, 1), **_last_writes(v2_items, 2)}
