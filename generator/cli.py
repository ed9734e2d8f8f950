"""The ``enrichgen`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from generator import __version__
from generator.integration import Integration, load_integration
from generator.output import OutputError, check_package, write_package
from generator.problems import SchemaError


def _report(problems: list[object]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="enrichgen")
def cli() -> None:
    """Generate typed Python clients for the Contentsquare Enrichment API.

    A Provider describes its data as an integration schema (a JSON file of typed fields);
    enrichgen checks it and writes a self-contained Python package that validates, batches
    and sends enrichments.
    """


@cli.command()
@click.argument("schemas", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(schemas: tuple[str, ...]) -> None:
    """Check integration schema files against every rule of the API.

    Prints one line per problem (PATH: /json/pointer: message) and exits 1 when any file has
    a problem, 0 when all are valid.
    """
    failed = False
    for path in schemas:
        try:
            load_integration(path)
        except SchemaError as error:
            _report(list(error.problems))
            failed = True
        else:
            click.echo(f"{path}: valid", err=True)
    sys.exit(1 if failed else 0)


@cli.command()
@click.argument("schemas", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory that receives one package per schema (DIR/<package>/).",
)
@click.option(
    "--package",
    help="Package name (default: <schema name>_enrichment). Only with a single schema.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 when DIR/<package>/ differs from what would be generated.",
)
def generate(schemas: tuple[str, ...], out_dir: str, package: str | None, check: bool) -> None:
    """Generate the client package of each integration schema.

    Running it again over a package it generated replaces exactly the files it wrote before.
    """
    from generator.package import build_package, regenerate_command

    if package is not None and len(schemas) > 1:
        raise click.UsageError("--package is only allowed with a single SCHEMA")
    integrations: list[Integration] = []
    failed = False
    for path in schemas:
        try:
            integrations.append(load_integration(path, package))
        except SchemaError as error:
            _report(list(error.problems))
            failed = True
    if failed:
        sys.exit(1)
    packages = [integration.package for integration in integrations]
    for name in sorted({name for name in packages if packages.count(name) > 1}):
        click.echo(f"error: two schemas give the package name {name!r}: add distinct \"name\" keys", err=True)
        failed = True
    if failed:
        sys.exit(1)
    out = Path(out_dir)
    differs = False
    for number, integration in enumerate(integrations, start=1):
        progress = f"[{number}/{len(integrations)}]" if len(integrations) > 1 else ""
        command = regenerate_command(integration, out_dir, package is not None)
        files = build_package(integration, command)
        package_dir = out / integration.package
        if check:
            findings = check_package(package_dir, files)
            for finding in findings:
                click.echo(f"{package_dir / finding.path}: {finding.reason}", err=True)
                if finding.diff:
                    click.echo(finding.diff, nl=False)
            if findings:
                differs = True
            else:
                click.echo(f"{progress} {package_dir}: up to date".lstrip(), err=True)
            continue
        try:
            warnings = write_package(package_dir, files)
        except OutputError as error:
            click.echo(f"error: {error}", err=True)
            failed = True
            continue
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(
            f"{progress} {integration.schema_path} → {package_dir} ({len(files)} files)".lstrip(),
            err=True,
        )
    if differs:
        click.echo(
            "the packages above differ from the schemas: run the same command without --check "
            "to regenerate them",
            err=True,
        )
    sys.exit(1 if failed or differs else 0)


def main() -> None:
    cli(prog_name="enrichgen")
