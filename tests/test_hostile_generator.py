"""The generator against hostile input: manifests, package directories, schema files, schemas.

Each case is data: what an attacker (or an accident) puts in front of ``enrichgen validate`` or
``enrichgen generate [--check]``, and what must happen — one clear line and a documented exit
code, never a traceback (``enrichgen`` here runs the CLI in-process with exceptions raised),
never a read or a deletion outside the package directory.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from conftest import SCHEMAS, Result, enrichgen
from generator.package import MANIFEST_NAME
from generator.schema_loader import MAX_SCHEMA_BYTES

SECRET = "HUNTER2-not-for-the-ci-log"
PACKAGE = "call_tracking_enrichment"


def _fields(*names: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"name": name, "type": "STRING", "optional": True, **extra} for name in names]


def _schema_file(directory: Path, document: Any, name: str = "schema.json") -> Path:
    path = directory / name
    # ensure_ascii: a lone surrogate can only be written as an escape
    path.write_text(json.dumps(document), "utf-8")
    return path


def _one_line_error(result: Result, exit_code: int) -> str:
    assert result.exit_code == exit_code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with one schema and its generated package, next to a victim file."""
    work = tmp_path / "repo"
    work.mkdir()
    shutil.copy(SCHEMAS / "call_tracking.json", work / "schema.json")
    (tmp_path / "victim.txt").write_text(SECRET)
    monkeypatch.chdir(work)
    assert enrichgen("generate", "schema.json", "--out", "vendor").exit_code == 0
    return work / "vendor" / PACKAGE


def _check() -> Result:
    return enrichgen("generate", "schema.json", "--out", "vendor", "--check")


def _generate() -> Result:
    return enrichgen("generate", "schema.json", "--out", "vendor")


def _list_in_manifest(package: Path, *paths: str) -> None:
    manifest = json.loads((package / MANIFEST_NAME).read_text())
    for path in paths:
        manifest["files"][path] = "0" * 64
    (package / MANIFEST_NAME).write_text(json.dumps(manifest))


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


# --- item 1: the manifest's file list is untrusted ------------------------------------------


def _outside_paths(project: Path) -> list[str]:
    victim = project.parent.parent.parent / "victim.txt"
    return [
        "../../../victim.txt",
        "sub/../../../../victim.txt",
        str(victim),  # absolute
        "/proc/self/environ",
    ]


def test_check_never_reads_a_manifest_path_outside_the_package(project: Path) -> None:
    paths = _outside_paths(project)
    _list_in_manifest(project, *paths)
    result = _check()
    assert result.exit_code == 1
    assert SECRET not in result.stdout + result.stderr
    assert "HOME=" not in result.stdout + result.stderr and "PATH=" not in result.stdout
    for path in paths:
        assert f"lists {path!r}, which" in result.stderr
    assert "refused, enrichgen never reads or deletes such a path" in result.stderr
    assert "restore enrichgen-manifest.json from version control" in result.stderr


def test_generate_never_deletes_a_manifest_path_outside_the_package(project: Path) -> None:
    _list_in_manifest(project, *_outside_paths(project))
    before = _snapshot(project)
    result = _generate()
    line = _one_line_error(result, 1)
    assert "'../../../victim.txt', which holds a '..' part" in line
    assert "nothing was written or deleted" in line
    assert (project.parent.parent.parent / "victim.txt").read_text() == SECRET
    assert _snapshot(project) == before


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("C:/Windows/win.ini", "names a drive"),
        ("c:victim.txt", "names a drive"),
        ("..\\..\\victim.txt", "holds a backslash"),
        ("models.py\x00../../victim.txt", "U+0000"),
        ("", "is not a file name"),
        ("./models.py", "holds an empty or '.' part"),
        ("tests//x.py", "holds an empty or '.' part"),
        ("..", "holds a '..' part"),
        ("a\u202e.py", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("line\nbreak.py", "U+000A"),
    ],
)
def test_manifest_paths_that_are_not_plain_relative_paths_are_refused(
    project: Path, path: str, why: str
) -> None:
    _list_in_manifest(project, path)
    result = _check()
    assert result.exit_code == 1
    line = next(line for line in result.stderr.splitlines() if "refused" in line)
    assert why in line
    assert "\n" not in line and "\u202e" not in result.stderr
    assert _one_line_error(_generate(), 1).startswith("error: ")


def test_a_manifest_entry_linking_outside_is_neither_read_nor_deleted(project: Path) -> None:
    victim = project.parent.parent.parent / "victim.txt"
    (project / "old.py").symlink_to(victim)
    (project / "old_dir").symlink_to(victim.parent, target_is_directory=True)
    _list_in_manifest(project, "old.py", "old_dir/victim.txt")
    result = _check()
    assert result.exit_code == 1
    assert SECRET not in result.stdout + result.stderr
    assert "old.py: no longer generated, and in the way: it leads outside" in result.stderr
    assert "old_dir/victim.txt: no longer generated, and in the way: it leads" in result.stderr
    assert "to fix: move away what is marked 'in the way'" in result.stderr
    assert "error: " in _one_line_error(_generate(), 1)
    assert victim.read_text() == SECRET


def test_a_generated_file_replaced_by_a_link_outside_is_not_read_or_written(
    project: Path,
) -> None:
    victim = project.parent.parent.parent / "victim.txt"
    (project / "models.py").unlink()
    (project / "models.py").symlink_to(victim)
    result = _check()
    assert result.exit_code == 1
    assert SECRET not in result.stdout + result.stderr
    assert "models.py: in the way: it leads outside" in result.stderr
    line = _one_line_error(_generate(), 1)
    assert "models.py leads outside the package directory" in line
    assert victim.read_text() == SECRET


def test_a_package_directory_linking_outside_is_not_written_through(project: Path) -> None:
    outside = project.parent.parent.parent / "elsewhere"
    outside.mkdir()
    shutil.rmtree(project / "tests")
    (project / "tests").symlink_to(outside, target_is_directory=True)
    result = _check()
    assert result.exit_code == 1
    assert "tests/test_models.py: in the way: it leads outside" in result.stderr
    assert "leads outside" in _one_line_error(_generate(), 1)
    assert list(outside.iterdir()) == []


def test_a_manifest_linking_outside_is_not_read(project: Path) -> None:
    secret = project.parent.parent.parent / "secret.json"
    secret.write_text(json.dumps({"generator": "enrichgen", "files": {}, "token": SECRET}))
    (project / MANIFEST_NAME).unlink()
    (project / MANIFEST_NAME).symlink_to(secret)
    result = _check()
    assert result.exit_code == 1
    assert SECRET not in result.stdout + result.stderr


def test_a_fifo_in_the_package_is_not_read(project: Path) -> None:
    (project / "models.py").unlink()
    os.mkfifo(project / "models.py")  # reading it would block for ever
    result = _check()
    assert result.exit_code == 1
    assert "models.py: in the way: it is not a regular file" in result.stderr
    assert "is not a regular file" in _one_line_error(_generate(), 1)


# --- item 10: files enrichgen did not write -------------------------------------------------


def test_check_reports_a_stray_file_and_says_how_to_fix_it(project: Path) -> None:
    (project / "stray.py").write_text("import os\n")
    (project / "tests" / "conftest.py").write_text("")
    result = _check()
    assert result.exit_code == 1
    assert f"{PACKAGE}/stray.py: not generated by enrichgen" in result.stderr
    assert f"{PACKAGE}/tests/conftest.py: not generated by enrichgen" in result.stderr
    assert "remove the files marked 'not generated by enrichgen'" in result.stderr
    assert "without --check" not in result.stderr  # generate would leave them in place
    assert _generate().exit_code == 0
    assert _check().exit_code == 1


def test_check_ignores_caches(project: Path) -> None:
    for cache in ("__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis"):
        (project / cache).mkdir()
        (project / cache / "entry").write_text("cached")
    (project / "tests" / "__pycache__").mkdir()
    (project / "tests" / "__pycache__" / "test_models.cpython-311.pyc").write_bytes(b"\0")
    (project / "client.pyc").write_bytes(b"\0")
    result = _check()
    assert result.exit_code == 0, result.stderr


def test_check_on_a_foreign_directory_does_not_suggest_what_generate_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(SCHEMAS / "call_tracking.json", "schema.json")
    foreign = tmp_path / "vendor" / PACKAGE
    foreign.mkdir(parents=True)
    (foreign / "precious.py").write_text("x = 1\n")
    result = _check()
    assert result.exit_code == 1
    assert "precious.py: not generated by enrichgen" in result.stderr
    assert "without --check" not in result.stderr
    assert "generate refuses to write into it: move it away" in result.stderr
    assert "not generated by enrichgen" in _one_line_error(_generate(), 1)


def test_check_on_a_missing_package_suggests_generating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(SCHEMAS / "call_tracking.json", "schema.json")
    result = _check()
    assert result.exit_code == 1
    assert "to fix: run the same command without --check" in result.stderr
    assert _generate().exit_code == 0 and _check().exit_code == 0


def test_check_on_a_file_where_the_package_should_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(SCHEMAS / "call_tracking.json", "schema.json")
    Path("vendor").mkdir()
    Path("vendor", PACKAGE).write_text("a file")
    result = _check()
    assert result.exit_code == 1 and "is not a directory" in result.stderr
    assert "is not a directory" in _one_line_error(_generate(), 1)


# --- the disk in the way: a directory for a file, a file for a directory, odd --out ----------


@pytest.mark.parametrize(
    ("name", "generate_says"),
    [
        ("client.py", "client.py is not a regular file (a directory): move it away"),
        ("tests/test_models.py", "test_models.py is not a regular file (a directory): move it"),
        # Without its manifest the package is no longer known to be enrichgen's: the
        # message says what became of the manifest.
        (
            MANIFEST_NAME,
            f"{PACKAGE} exists and was not generated by enrichgen (its {MANIFEST_NAME} is "
            "not a regular file (a directory)): move it away",
        ),
    ],
)
def test_a_directory_where_a_generated_file_belongs_is_in_the_way(
    project: Path, name: str, generate_says: str
) -> None:
    (project / name).unlink()
    (project / name).mkdir()
    (project / name / "mine.txt").write_text("kept")
    result = _check()
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert f"{PACKAGE}/{name}: in the way: it is not a regular file (a directory)" in result.stderr
    before = _snapshot(project)
    line = _one_line_error(_generate(), 1)
    assert line.startswith("error: ") and generate_says in line
    assert _snapshot(project) == before  # nothing written, nothing deleted


@pytest.mark.parametrize(
    ("manifest", "why"),
    [
        (None, "is missing"),
        (b"{not json", "is not valid JSON"),
        (b'{"generator": "other", "files": {}}', "was not written by enrichgen"),
        (b'{"generator": "enrichgen"}', "lists no files"),
    ],
)
def test_a_package_whose_manifest_is_unusable_says_what_is_wrong_with_it(
    project: Path, manifest: bytes | None, why: str
) -> None:
    (project / MANIFEST_NAME).unlink()
    if manifest is not None:
        (project / MANIFEST_NAME).write_bytes(manifest)
    result = _check()
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    if manifest is None:
        assert f"{PACKAGE}/{MANIFEST_NAME}: missing" in result.stderr
    else:
        assert f"{MANIFEST_NAME}: not an enrichgen manifest: it {why}" in result.stderr
    assert "without a usable enrichgen manifest" in result.stderr
    before = _snapshot(project)
    line = _one_line_error(_generate(), 1)
    said = f"{PACKAGE} exists and was not generated by enrichgen (its {MANIFEST_NAME} {why})"
    assert said in line
    assert _snapshot(project) == before


def test_a_file_where_the_tests_directory_belongs_is_in_the_way(project: Path) -> None:
    shutil.rmtree(project / "tests")
    (project / "tests").write_text("mine")
    result = _check()
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert (
        f"{PACKAGE}/tests: in the way: it exists and is not a directory, where enrichgen "
        "writes the directory tests/"
    ) in result.stderr
    assert "tests: not generated by enrichgen" not in result.stderr
    assert "move away what is marked 'in the way'" in result.stderr
    before = _snapshot(project)
    line = _one_line_error(_generate(), 1)
    assert line == (
        f"error: vendor/{PACKAGE}/tests exists and is not a directory, where enrichgen writes "
        "the directory tests/: move it away, then generate again"
    )
    assert _snapshot(project) == before  # checked before anything was written
    (project / "tests").unlink()
    assert _generate().exit_code == 0 and _check().exit_code == 0


def _loop(directory: Path) -> Path:
    (directory / "loop_a").symlink_to("loop_b")
    (directory / "loop_b").symlink_to("loop_a")
    return directory / "loop_a"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda directory: Path("/dev/null"), "exists and is not a directory"),
        (_loop, "cannot be used: Too many levels of symbolic links"),
    ],
    ids=["device", "link-loop"],
)
@pytest.mark.parametrize("check", [False, True], ids=["generate", "check"])
def test_an_out_that_cannot_be_a_directory_is_a_usage_error(
    tmp_path: Path, make: Any, reason: str, check: bool
) -> None:
    schema = _schema_file(tmp_path, {"name": "calls", "fields": _fields("a")})
    out = make(tmp_path)
    command = ["generate", str(schema), "--out", str(out), *(["--check"] if check else [])]
    line = _one_line_error(enrichgen(*command), 2)
    assert line == (
        f"error: --out {out} {reason}: choose a directory (it is created when it does not exist)"
    )


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_out_where_nothing_can_be_created_is_one_line(tmp_path: Path) -> None:
    schema = _schema_file(tmp_path, {"name": "calls", "fields": _fields("a")})
    out = "/proc/enrichgen-no-such-directory/vendor"
    line = _one_line_error(enrichgen("generate", str(schema), "--out", out), 1)
    assert line.startswith("error: /proc/enrichgen-no-such-directory cannot be created: ")
    assert line.endswith(": fix that or choose another --out, then generate again")


def _generate_with_files_at_most(size: int, out: Path) -> subprocess.CompletedProcess[str]:
    """``enrichgen generate`` in a process that cannot write a file larger than ``size``
    bytes: a real write failure half-way through (the kernel answers EFBIG)."""

    def limit() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return subprocess.run(
        [sys.executable, "-m", "generator", "generate", "schema.json", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
def test_a_write_failing_half_way_leaves_nothing_that_stops_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(SCHEMAS / "call_tracking.json", "schema.json")
    out = tmp_path / "new" / "vendor"
    # Small files are written (README.md, __init__.py, ...), client.py (about 38 kB) is not.
    result = _generate_with_files_at_most(16 * 1024, out)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: {out}/{PACKAGE}/client.py cannot be written: File too large: fix that or "
        "choose another --out, then generate again"
    ]
    assert not (tmp_path / "new").exists()  # what the failed run created is gone
    assert _generate_with_files_at_most(10**9, out).returncode == 0
    assert enrichgen("generate", "schema.json", "--out", str(out), "--check").exit_code == 0


def test_a_new_package_interrupted_half_way_leaves_nothing_in_the_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or a kill) while a new package is written: it goes into a hidden directory
    renamed into place once complete, so no half package is left for the next run to refuse
    as not enrichgen's."""
    from generator import output

    monkeypatch.chdir(tmp_path)
    shutil.copy(SCHEMAS / "call_tracking.json", "schema.json")
    written = []
    real_write = output._write_atomically

    def write_then_interrupt(target: Path, data: bytes) -> None:
        if len(written) == 5:
            raise KeyboardInterrupt
        written.append(target)
        real_write(target, data)

    monkeypatch.setattr(output, "_write_atomically", write_then_interrupt)
    assert enrichgen("generate", "schema.json", "--out", "vendor").exit_code != 0  # Aborted
    assert len(written) == 5 and list(tmp_path.iterdir()) == [tmp_path / "schema.json"]
    monkeypatch.setattr(output, "_write_atomically", real_write)
    assert enrichgen("generate", "schema.json", "--out", "vendor").exit_code == 0
    assert enrichgen("generate", "schema.json", "--out", "vendor", "--check").exit_code == 0


@pytest.mark.skipif(sys.platform == "win32", reason="the lock is POSIX only")
def test_a_second_run_into_a_package_being_written_is_refused_not_mixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import output

    monkeypatch.chdir(tmp_path)
    schema = json.loads((SCHEMAS / "call_tracking.json").read_text())
    Path("schema.json").write_text(json.dumps(schema))
    assert enrichgen("generate", "schema.json", "--out", "vendor").exit_code == 0
    schema["fields"] = schema["fields"][:-1]  # a change: the first run rewrites files
    Path("schema.json").write_text(json.dumps(schema))
    second: list[Result] = []
    started = []
    real_write = output._write_atomically

    def write_while_another_run_starts(target: Path, data: bytes) -> None:
        if not started:  # the other run starts while this one writes its first file
            started.append(True)
            second.append(enrichgen("generate", "schema.json", "--out", "vendor"))
        real_write(target, data)

    monkeypatch.setattr(output, "_write_atomically", write_while_another_run_starts)
    assert enrichgen("generate", "schema.json", "--out", "vendor").exit_code == 0
    [refused] = second
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        f"error: another enrichgen run is writing vendor/{PACKAGE}: let it finish, then "
        "generate again"
    )
    monkeypatch.setattr(output, "_write_atomically", real_write)
    assert enrichgen("generate", "schema.json", "--out", "vendor", "--check").exit_code == 0


@pytest.mark.skipif(sys.platform == "win32", reason="the lock is POSIX only")
def test_a_package_directory_that_cannot_be_listed_is_written_without_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory one may write but not read (mode 0300) cannot be opened for the lock:
    generate goes on without it, as it did before there was one. (Simulated: the tests
    run as root, whom no mode stops.)"""
    from generator import output

    monkeypatch.chdir(tmp_path)
    schema = json.loads((SCHEMAS / "call_tracking.json").read_text())
    Path("schema.json").write_text(json.dumps(schema))
    assert enrichgen("generate", "schema.json", "--out", "vendor").exit_code == 0
    schema["fields"] = schema["fields"][:-1]
    Path("schema.json").write_text(json.dumps(schema))
    package = (tmp_path / "vendor" / PACKAGE).resolve()
    real_open = os.open

    def no_read_permission(path: Any, flags: int, *args: Any, **options: Any) -> int:
        if not options and Path(path).resolve() == package:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **options)

    monkeypatch.setattr(output.os, "open", no_read_permission)
    result = enrichgen("generate", "schema.json", "--out", "vendor")
    assert result.exit_code == 0, result.stderr
    monkeypatch.setattr(output.os, "open", real_open)
    assert enrichgen("generate", "schema.json", "--out", "vendor", "--check").exit_code == 0


def test_a_schema_path_starting_with_a_dash_is_recorded_so_that_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(SCHEMAS / "call_tracking.json", "-calls.json")
    assert enrichgen("generate", "./-calls.json", "--out", "vendor").exit_code == 0
    manifest = json.loads((tmp_path / "vendor" / PACKAGE / MANIFEST_NAME).read_text())
    assert manifest["command"] == "enrichgen generate ./-calls.json --out vendor"
    arguments = shlex.split(manifest["command"])[2:]
    assert enrichgen("generate", *arguments, "--check").exit_code == 0


def test_generate_from_a_deleted_directory_is_one_line(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    script = (
        "import os, sys; os.chdir(sys.argv[1]); os.rmdir(sys.argv[1]);"
        "from generator.cli import main; sys.argv = ['enrichgen', 'generate', sys.argv[2],"
        " '--out', sys.argv[3]]; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(gone), str(SCHEMAS / "call_tracking.json"),
         str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (
        "error: the current directory no longer exists (it was deleted or moved): cd to one "
        "that does, then generate again\n"
    )


# --- item 8: hostile schema files -----------------------------------------------------------


def test_a_lone_surrogate_in_a_label_is_refused_before_generation(tmp_path: Path) -> None:
    path = _schema_file(tmp_path, {"fields": _fields("a", label="x\ud800")})
    line = _one_line_error(enrichgen("validate", str(path)), 1)
    assert line.startswith(f"{path}: /fields/0/label: the text holds U+D800, a lone surrogate")
    _one_line_error(enrichgen("generate", str(path), "--out", str(tmp_path / "out")), 1)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ({"fields": _fields("a\udc00")}, "/fields/0/name"),
        ({"name": "n\ud800", "fields": _fields("a")}, "/name"),
        ({"fields": [{"name": "a", "type": "INT", "optional": True, "x\ud800": 1}]}, "/fields/0/x\ud800"),
        ({"fields": _fields("a"), "description": "\udfff"}, "/description"),
    ],
)
def test_lone_surrogates_anywhere_are_one_clear_line(
    tmp_path: Path, document: Any, pointer: str
) -> None:
    result = enrichgen("validate", str(_schema_file(tmp_path, document)))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "lone surrogate" in line]
    assert len(lines) == 1
    assert f": {pointer.encode('ascii', 'backslashreplace').decode()}: " in lines[0]
    result.stderr.encode("utf-8")  # what reached the terminal is text


BIDI_AND_INVISIBLE = [
    *(chr(code) for code in range(0x202A, 0x202F)),  # embeddings and overrides
    *(chr(code) for code in range(0x2066, 0x206A)),  # isolates
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u061c",  # ARABIC LETTER MARK
    "\u200b",  # ZERO WIDTH SPACE
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (BOM)
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A
]


@pytest.mark.parametrize("character", BIDI_AND_INVISIBLE, ids=lambda ch: f"U+{ord(ch):04X}")
@pytest.mark.parametrize("where", ["label", "description", "field label", "field description", "field name", "name"])
def test_trojan_source_characters_are_refused_in_any_text(
    tmp_path: Path, character: str, where: str
) -> None:
    document: dict[str, Any] = {"name": "trojan", "fields": _fields("a")}
    text = f"admin{character} = False  # check"
    if where.startswith("field "):
        document["fields"][0][where.removeprefix("field ")] = text
        pointer = f"/fields/0/{where.removeprefix('field ')}"
    else:
        document[where] = text
        pointer = f"/{where}"
    result = enrichgen("validate", str(_schema_file(tmp_path, document)))
    assert result.exit_code == 1
    assert f": {pointer}: the text holds U+{ord(character):04X}" in result.stderr
    assert character not in result.stderr


def test_joiners_stay_allowed_in_labels_and_descriptions(tmp_path: Path) -> None:
    """Persian needs ZWNJ and emoji sequences ZWJ; neither reorders text."""
    document = {
        "label": "می\u200cخواهم",
        "fields": _fields("a", label="👩\u200d💻", description="می\u200cخواهم"),
    }
    result = enrichgen("validate", str(_schema_file(tmp_path, document)))
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    "name",
    ["userId", "sessionNumber", "enrichmentNumber", "enrichment", "user_id", "UserID",
     "session-number", "enrichment_number"],
)
def test_field_names_of_the_envelope_are_refused(tmp_path: Path, name: str) -> None:
    path = _schema_file(tmp_path, {"fields": _fields("a", name)})
    line = _one_line_error(enrichgen("validate", str(path)), 1)
    assert line == (
        f"{path}: /fields/1/name: field name {name!r} is taken by the item envelope (userId, "
        "sessionNumber, enrichmentNumber, enrichment), which every item already has: rename "
        "the field"
    )


def test_a_schema_nested_100000_levels_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"fields": ' + "[" * 100_000 + "]" * 100_000 + "}")
    line = _one_line_error(enrichgen("validate", str(path)), 1)
    assert line == f"{path}: /: the JSON is nested too deeply to read; an integration schema has 3 levels"


def test_a_schema_file_is_read_up_to_1_mib(tmp_path: Path) -> None:
    source = str(tmp_path / "big.json")
    Path(source).write_text('{"fields": []' + " " * MAX_SCHEMA_BYTES + "}")
    line = _one_line_error(enrichgen("validate", source), 1)
    assert line.startswith(f"{source}: /: the file is larger than 1 MiB (1048576 bytes)")


def _special_file(directory: Path, kind: str) -> str:
    if kind == "named pipe":
        os.mkfifo(directory / "calls.json")  # opening it for reading waits for a writer
        return str(directory / "calls.json")
    return {"device": "/dev/zero", "empty device": "/dev/null"}[kind]


@pytest.mark.parametrize("kind", ["named pipe", "device", "empty device"])
@pytest.mark.parametrize("command", ["validate", "generate", "diff old", "diff new", "sandbox"])
def test_a_schema_path_that_is_not_a_regular_file_is_a_usage_error(
    tmp_path: Path, kind: str, command: str
) -> None:
    path = _special_file(tmp_path, kind)
    good = str(SCHEMAS / "call_tracking.json")
    arguments = {
        "validate": ["validate", path],
        "generate": ["generate", path, "--out", str(tmp_path / "out")],
        "diff old": ["diff", path, good],
        "diff new": ["diff", good, path],
        "sandbox": ["sandbox", path, "--port", "0"],
    }[command]
    # A process of its own: before the fix, reading the pipe waited for ever (the timeout
    # only ends such a hang; nothing is measured).
    result = subprocess.run(
        [sys.executable, "-m", "generator", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    word = "a named pipe" if kind == "named pipe" else "a device"
    assert result.stderr.splitlines() == [
        f"{path}: /: is not a regular file ({word}): name the schema's JSON file"
    ]
    assert not (tmp_path / "out").exists()


def test_a_schema_of_exactly_1_mib_is_read(tmp_path: Path) -> None:
    text = json.dumps({"fields": _fields("a")})
    path = tmp_path / "padded.json"
    path.write_text(text + " " * (MAX_SCHEMA_BYTES - len(text)))
    assert enrichgen("validate", str(path)).exit_code == 0


def test_a_file_name_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/calls\xff\xfe.json"
    with open(raw, "w") as stream:
        json.dump({"name": "calls", "fields": _fields("a")}, stream)
    path = os.fsdecode(raw)
    line = _one_line_error(enrichgen("validate", path), 2)
    assert line == (
        f"{tmp_path}/calls\\xff\\xfe.json: /: the file name is not valid UTF-8: rename the "
        "file (letters, digits, - and _)"
    )
    _one_line_error(enrichgen("generate", path, "--out", str(tmp_path / "out")), 2)
    assert not (tmp_path / "out").exists()


def test_a_file_name_with_a_bidi_override_is_a_usage_error(tmp_path: Path) -> None:
    path = _schema_file(tmp_path, {"fields": _fields("a")}, name="calls\u202enosj.json")
    line = _one_line_error(enrichgen("generate", str(path), "--out", str(tmp_path / "o")), 2)
    assert "the file name holds the character U+202E (RIGHT-TO-LEFT OVERRIDE)" in line
    assert "\u202e" not in line


def test_an_output_directory_that_is_not_text_is_a_usage_error(tmp_path: Path) -> None:
    path = _schema_file(tmp_path, {"name": "calls", "fields": _fields("a")})
    for out in (os.fsdecode(os.fsencode(tmp_path) + b"/out\xff"), str(tmp_path / "out\u2066")):
        line = _one_line_error(enrichgen("generate", str(path), "--out", out), 2)
        assert line.startswith("error: --out ") and "choose another directory name" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schema.json"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda directory: directory / "absent.json", "no such file: check the path"),
        (lambda directory: directory, "is a directory: name the schema's JSON file"),
    ],
)
def test_a_file_that_cannot_be_opened_is_a_usage_error(
    tmp_path: Path, make: Any, message: str
) -> None:
    path = make(tmp_path)
    for command in (["validate", str(path)], ["generate", str(path), "--out", str(tmp_path / "o")]):
        line = _one_line_error(enrichgen(*command), 2)
        assert line.startswith(f"{path}: /: {message}")


def test_a_missing_file_among_bad_ones_still_reports_them_all(tmp_path: Path) -> None:
    bad = _schema_file(tmp_path, {"fields": []})
    result = enrichgen("validate", str(tmp_path / "absent.json"), str(bad))
    assert result.exit_code == 2
    assert "no such file" in result.stderr and "at least one field" in result.stderr


@pytest.mark.parametrize(
    ("text", "position", "hint"),
    [
        ('{"fields": [{"name": "a", "type": "INT", "optional": true},]}', "1:59", "before ']'"),
        ('{"fields": [{"name": "a", "type": "INT", "optional": true,}]}', "1:58", "before '}'"),
        ('{\n  "fields": [],\n}\n', "2:15", "before '}'"),
    ],
)
def test_a_trailing_comma_gets_a_hint(tmp_path: Path, text: str, position: str, hint: str) -> None:
    path = tmp_path / "comma.json"
    path.write_text(text)
    line = _one_line_error(enrichgen("validate", str(path)), 1)
    assert line == f"{path}:{position}: invalid JSON: a trailing comma {hint}: remove the comma"


def test_a_comment_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "comment.json"
    path.write_text('{\n  // the fields\n  "fields": []\n}')
    line = _one_line_error(enrichgen("validate", str(path)), 1)
    assert line == f"{path}:2:3: invalid JSON: JSON has no comments: remove it"


def _ruff(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "E,F,W,I,B,UP",
         "--ignore", "E501", "--target-version", "py310", "."],
        cwd=directory, capture_output=True, text=True,
    )


def test_a_non_ascii_field_name_generates_importable_code(tmp_path: Path) -> None:
    path = _schema_file(tmp_path, {"name": "accents", "fields": _fields("ééé", "ok")})
    result = enrichgen("generate", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    probe = (
        "from accents_enrichment import Enrichment\n"
        "print(Enrichment(eee='x').to_wire())\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path / "out", capture_output=True, text=True,
        check=True,
    ).stdout
    assert shown.strip() == "{'ééé': 'x'}"


def test_a_non_ascii_field_name_generates_code_passing_ruff(tmp_path: Path) -> None:
    path = _schema_file(tmp_path, {"name": "accents", "fields": _fields("ééé", "ok")})
    assert enrichgen("generate", str(path), "--out", str(tmp_path / "out")).exit_code == 0
    checked = _ruff(tmp_path / "out")
    assert checked.returncode == 0, checked.stdout


# --- fuzzing: random bytes and random JSON into validate ------------------------------------

_PROBLEM_LINE = r"^{path}(: /.*: |:\d+:\d+: ).+$"


def _assert_clear_outcome(path: Path, result: Result) -> None:
    """Valid (exit 0, one line saying so) or invalid (exit 1, only problem lines)."""
    import re

    assert "Traceback" not in result.stderr
    result.stderr.encode("utf-8")
    lines = result.stderr.splitlines()
    if result.exit_code == 0:
        assert lines == [f"{path}: valid"]
        return
    assert result.exit_code == 1, result.stderr
    assert lines
    pattern = re.compile(_PROBLEM_LINE.format(path=re.escape(str(path))))
    for line in lines:
        assert pattern.match(line), line


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# Characters that broke enrichgen once, often enough to meet in a few hundred examples.
_HOSTILE_CHARACTERS = st.sampled_from(["\ud800", "\udfff", "\u202e", "\u2066", "\x00", "\n", "é"])
_TEXT = st.text(
    st.one_of(
        st.characters(),
        st.characters(categories=["Cs", "Cf", "Cc", "Zl", "Zp"]),
        _HOSTILE_CHARACTERS,
    ),
    max_size=40,
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_TEXT, children, max_size=5),
    max_leaves=30,
)
_FIELD = st.fixed_dictionaries(
    {
        "name": st.one_of(_TEXT, st.sampled_from(["a", "userId", "ééé", "class", "a-b"])),
        "type": st.one_of(st.sampled_from(["STRING", "INT", "FLOAT", "BOOL", "DATETIME"]), _JSON),
        "optional": st.one_of(st.booleans(), _JSON),
    },
    optional={"label": _TEXT, "description": _TEXT, "extra": _JSON},
)
_SCHEMA = st.fixed_dictionaries(
    {"fields": st.lists(_FIELD, min_size=1, max_size=12)},
    optional={
        "name": st.one_of(_TEXT, st.just("fuzz")),
        "integrationVersion": st.one_of(st.integers(), _JSON),
        "label": _TEXT,
        "description": _TEXT,
    },
)


@settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.one_of(
        st.binary(max_size=2000),
        # deep nesting, never closed: the parser recurses once per level
        st.builds(
            lambda depth, opening: opening * depth,
            st.integers(0, 100_000),
            st.sampled_from([b"[", b'{"fields":', b'{"a":[']),
        ),
    )
)
def test_fuzz_validate_with_random_bytes(fuzz_dir: Path, data: bytes) -> None:
    path = fuzz_dir / "bytes.json"
    path.write_bytes(data)
    _assert_clear_outcome(path, enrichgen("validate", str(path)))


@settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=st.one_of(_SCHEMA, _JSON), indent=st.sampled_from([None, 2]))
@example(document={"²": None}, indent=None)  # "²".isdigit(), but int("²") raises
@example(document={"9" * 5000: 1}, indent=None)  # more digits than int() reads
def test_fuzz_validate_with_random_json(fuzz_dir: Path, document: Any, indent: int | None) -> None:
    path = fuzz_dir / "document.json"
    path.write_text(json.dumps(document, indent=indent), "utf-8")
    _assert_clear_outcome(path, enrichgen("validate", str(path)))


_GENERATABLE_FIELD: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text("abcxyzéßA_-0", min_size=1, max_size=10),
    "type": st.sampled_from(["STRING", "INT", "FLOAT", "BOOL", "DATETIME"]),
    "optional": st.booleans(),
}
_GENERATABLE_FIELDS = st.lists(
    st.fixed_dictionaries(_GENERATABLE_FIELD, optional={"label": _TEXT, "description": _TEXT}),
    min_size=1,
    max_size=5,
    unique_by=lambda field: field["name"],
)
_GENERATABLE_TOP: dict[str, st.SearchStrategy[Any]] = {
    "name": st.just("fuzz"),
    "fields": _GENERATABLE_FIELDS,
}
_GENERATABLE = st.fixed_dictionaries(
    _GENERATABLE_TOP, optional={"label": _TEXT, "description": _TEXT}
)


@settings(
    max_examples=12,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=_GENERATABLE)
def test_fuzz_what_validate_accepts_generates(fuzz_dir: Path, document: Any) -> None:
    """The lone surrogate that passed validate and then crashed black: validate's yes is a promise."""
    path = fuzz_dir / "generate.json"
    path.write_text(json.dumps(document), "utf-8")
    if enrichgen("validate", str(path)).exit_code != 0:
        event("refused by validate")
        return
    event("generated")
    out = fuzz_dir / "out"
    shutil.rmtree(out, ignore_errors=True)
    result = enrichgen("generate", str(path), "--out", str(out))
    assert result.exit_code == 0, result.stderr
