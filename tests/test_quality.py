"""The generated packages pass black, ruff, mypy --strict and their own tests; enrichgen's own
code passes ruff (the same rules) and mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT

PACKAGES = sorted(path.name for path in EXAMPLES.iterdir() if (path / "__init__.py").exists())
RUFF_RULES = ["--select", "E,F,W,I,B,UP", "--ignore", "E501"]  # black owns line length


def _run(*command: str, cwd: Path = EXAMPLES) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_black() -> None:
    _run(sys.executable, "-m", "black", "--check", "--quiet", "--target-version", "py310", ".")


def test_ruff() -> None:
    _run(sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
         "--target-version", "py310", *RUFF_RULES, ".")


def test_mypy_strict() -> None:
    _run(sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--cache-dir", "/dev/null", *PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_own_tests_pass_offline(package: str) -> None:
    _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", package)


RUNTIME = ROOT / "templates" / "runtime"


def test_runtime_passes_black_in_place() -> None:
    """The runtime is copied into packages as it is: it must be black-formatted where it lives."""
    # From its parent: with the runtime's folder first on sys.path, its token.py would
    # shadow the standard library's token module that black imports.
    _run(sys.executable, "-m", "black", "--check", "--quiet", "--target-version", "py310",
         "runtime", cwd=RUNTIME.parent)


def test_runtime_passes_ruff_in_place() -> None:
    _run(sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
         "--target-version", "py310", *RUFF_RULES, ".", cwd=RUNTIME)


def test_runtime_passes_mypy_strict_in_place() -> None:
    """Against the reference modules beside it, so that its relative imports resolve."""
    _run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         "/dev/null", "runtime", cwd=RUNTIME.parent)


def test_runtime_tests_pass_in_place() -> None:
    _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "runtime/tests",
         cwd=RUNTIME.parent)


def test_runtime_reference_modules_are_up_to_date() -> None:
    """The schema-dependent modules beside the runtime are what enrichgen generates for the
    reference schema (``make regen`` rewrites them)."""
    from generator.reference import reference_files

    for path, data in reference_files().items():
        assert (RUNTIME / path).read_bytes() == data, f"{path}: run make regen"


def test_every_template_uses_jinja() -> None:
    """A ``.jinja`` file is rendered; a file with no template syntax belongs in the runtime."""
    from generator.render import template_sources

    for name, source in template_sources().items():
        assert "{{" in source or "{%" in source, f"{name} has no Jinja: move it to the runtime"


def test_own_code_passes_ruff() -> None:
    _run(sys.executable, "-m", "ruff", "check", "--no-cache", ".", cwd=ROOT)


def test_own_code_passes_mypy_strict() -> None:
    _run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         "/dev/null", "generator", "demo", cwd=ROOT)


def test_a_vendored_package_passes_mypy_strict_from_the_repository_root(tmp_path: Path) -> None:
    """The README's vendoring guide: ``vendor/<package>/`` plus an empty ``vendor/__init__.py``,
    imported as ``vendor.<package>``, and ``mypy --strict .`` at the root."""
    import shutil

    vendor = tmp_path / "vendor"
    shutil.copytree(EXAMPLES / "call_tracking_enrichment", vendor / "call_tracking_enrichment")
    (vendor / "__init__.py").write_text("")
    (tmp_path / "app.py").write_text(
        "from vendor.call_tracking_enrichment import Enrichment, EnrichmentClient\n\n"
        "print(Enrichment, EnrichmentClient)\n"
    )
    _run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         "/dev/null", ".", cwd=tmp_path)


def test_a_schema_with_no_optional_field_gives_a_package_that_passes_every_gate(
    tmp_path: Path,
) -> None:
    """The example schemas all have optional fields: one without any imported NotRequired
    for nothing (ruff F401)."""
    import json

    from conftest import enrichgen

    schema = tmp_path / "all_required.json"
    schema.write_text(json.dumps({"fields": [
        {"name": "answered", "type": "BOOL", "optional": False},
        {"name": "started_at", "type": "DATETIME", "optional": False},
    ]}))
    assert enrichgen("generate", str(schema), "--out", str(tmp_path)).exit_code == 0
    package = "all_required_enrichment"
    _run(sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
         "--target-version", "py310", *RUFF_RULES, package, cwd=tmp_path)
    _run(sys.executable, "-m", "black", "--check", "--quiet", "--target-version", "py310",
         package, cwd=tmp_path)
    _run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         "/dev/null", package, cwd=tmp_path)
    _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", package, cwd=tmp_path)
