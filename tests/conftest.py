"""Shared helpers: the repository's paths and running the enrichgen CLI in-process."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "integration_schemas"
EXAMPLES = ROOT / "generated_examples"

# The generated example packages are imported by the client tests.
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def enrichgen(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def run() -> object:
    return enrichgen
