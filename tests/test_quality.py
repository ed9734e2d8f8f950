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


def test_static_templates_are_kept_black_formatted() -> None:
    """generate skips black for templates that do not depend on the schema: they must be
    black-formatted as they are."""
    import black

    from generator.render import TEMPLATE_SUFFIX, static_outputs, templates_root

    mode = black.Mode(target_versions={black.TargetVersion.PY310})
    for output in sorted(static_outputs()):
        if output.endswith(".py"):
            source = (templates_root() / (output + TEMPLATE_SUFFIX)).read_text("utf-8")
            assert black.format_str(source, mode=mode) == source, f"run black on {output}"


def test_own_code_passes_ruff() -> None:
    _run(sys.executable, "-m", "ruff", "check", "--no-cache", ".", cwd=ROOT)


def test_own_code_passes_mypy_strict() -> None:
    _run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         "/dev/null", "generator", "demo", cwd=ROOT)
