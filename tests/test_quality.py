"""The generated packages pass black, ruff, mypy --strict and their own tests."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import EXAMPLES

PACKAGES = sorted(path.name for path in EXAMPLES.iterdir() if (path / "__init__.py").exists())
RUFF_RULES = ["--select", "E,F,W,I,B,UP", "--ignore", "E501"]  # black owns line length


def _run(*command: str) -> None:
    result = subprocess.run(command, cwd=EXAMPLES, capture_output=True, text=True)
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
