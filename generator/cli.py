"""The ``enrichgen`` command line."""

from __future__ import annotations

import os
import signal
import stat
import sys
from pathlib import Path

import click

from generator import __version__
from generator.integration_spec import Integration, load_integration
from generator.integration_versions import VersionsError, integration_versions
from generator.names import is_package_name
from generator.output import OutputError, check_package, write_package
from generator.problems import SchemaError, display_path, one_line, why_unfit_name
from generator.schema_loader import SchemaArgumentError

# Exit codes of validate and generate (documented in the README).
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


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


def _exit_code(error: SchemaError) -> int:
    return EXIT_USAGE if isinstance(error, SchemaArgumentError) else EXIT_PROBLEMS


def _check_out_dir(out_dir: str) -> None:
    reason = why_unfit_name(out_dir)
    if reason is not None:
        click.echo(
            f"error: --out {display_path(out_dir)} {reason}; it is written into the generated "
            "files' headers: choose another directory name",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    # click refuses a regular file; a device, a loop of links or a path that cannot be
    # looked at is refused here, before anything is built (exit 2 like click's refusal).
    try:
        is_directory = stat.S_ISDIR(os.stat(out_dir).st_mode)
    except FileNotFoundError:
        return  # created with the first package
    except OSError as error:
        reason = f"cannot be used: {error.strerror or type(error).__name__}"
    else:
        if is_directory:
            return
        reason = "exists and is not a directory"
    click.echo(
        f"error: --out {display_path(out_dir)} {reason}: choose a directory (it is created "
        "when it does not exist)",
        err=True,
    )
    sys.exit(EXIT_USAGE)


# The schema files are checked by the loader, not by click: a missing file or a directory is
# one line naming it (exit 2), like every other problem, not click's three-line usage text.
@cli.command()
@click.argument("schemas", nargs=-1, required=True)
def validate(schemas: tuple[str, ...]) -> None:
    """Check integration schema files against every rule of the API.

    Prints one line per problem (PATH: /json/pointer: message) and exits 1 when any file has
    a problem, 2 when a file cannot be read at all (missing, a directory, a named pipe, a
    device), 0 when all are valid.
    """
    status = EXIT_OK
    for path in schemas:
        try:
            load_integration(path)
        except SchemaError as error:
            _report(list(error.problems))
            status = max(status, _exit_code(error))
        else:
            click.echo(f"{display_path(path)}: valid", err=True)
    sys.exit(status)


@cli.command()
@click.argument("schemas", nargs=-1, required=True)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory that receives the packages: DIR/<package>/ for each schema, or for "
    "the versions given with --package.",
)
@click.option(
    "--package",
    help="Package name (default: <schema name>_enrichment). With several SCHEMAs: they are "
    "the versions of one integration, generated into this one package.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 when DIR/<package>/ differs from what would be generated.",
)
def generate(schemas: tuple[str, ...], out_dir: str, package: str | None, check: bool) -> None:
    """Generate the client package of each integration schema.

    Several schemas of one integration (the same name, each its own integrationVersion) go
    into one package with --package. Running it again over a package it generated replaces
    exactly the files it wrote before, and says what changed in the schemas.

    Exit status: 0 written (or, with --check, up to date); 1 an invalid schema, a
    directory enrichgen will not write into, or (--check) a difference; 2 a usage error.
    """
    from generator.package import build_package
    from generator.package_changes import changes_since

    try:
        os.getcwd()  # the recorded command's paths are made relative from it
    except FileNotFoundError:
        click.echo(
            "error: the current directory no longer exists (it was deleted or moved): cd to "
            "one that does, then generate again",
            err=True,
        )
        sys.exit(2)
    _check_out_dir(out_dir)
    if package is not None and not is_package_name(package):
        # a bad option, not a problem in a schema: one line, exit 2, before any schema
        click.echo(
            f"error: --package {one_line(repr(package))} is not a valid Python package "
            "name (ASCII letters, digits and _, not starting with a digit, not a keyword)",
            err=True,
        )
        sys.exit(2)
    integrations: list[Integration] = []
    status = EXIT_OK
    for path in schemas:
        try:
            integrations.append(load_integration(path, package))
        except SchemaError as error:
            _report(list(error.problems))
            status = max(status, _exit_code(error))
    if status != EXIT_OK:
        sys.exit(status)
    try:
        packages = _package_versions(integrations, package is not None)
    except VersionsError as error:
        click.echo(f"error: {one_line(str(error))}", err=True)
        sys.exit(2)
    out = Path(out_dir)
    failed = False
    fixes: dict[str, None] = {}  # what to do about the differences found, in order
    for number, versions in enumerate(packages, start=1):
        progress = f"[{number}/{len(packages)}]" if len(packages) > 1 else ""
        files = build_package(versions, out_dir, package is not None)
        package_dir = out / versions[-1].package
        if check:
            findings = check_package(package_dir, files)
            for finding in findings:
                where = display_path(str(package_dir / one_line(finding.path)))
                click.echo(f"{where}: {finding.reason}", err=True)
                if finding.diff:
                    click.echo(finding.diff, nl=False)
                fixes[finding.fix] = None
            if not findings:
                click.echo(f"{progress} {package_dir}: up to date".lstrip(), err=True)
            continue
        changes = changes_since(package_dir, versions)
        try:
            warnings = write_package(package_dir, files)
        except OutputError as error:
            click.echo(f"error: {one_line(str(error))}", err=True)
            failed = True
            continue
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        sources = ", ".join(version.schema_path for version in versions)
        click.echo(
            f"{progress} {sources} → {package_dir} ({len(files)} files)".lstrip(), err=True
        )
        for line in changes:
            click.echo(f"  {line}", err=True)
    if fixes:
        click.echo("the packages above differ from what enrichgen would generate:", err=True)
        for fix in fixes:
            click.echo(f"  to fix: {fix}", err=True)
    sys.exit(EXIT_PROBLEMS if failed or fixes else EXIT_OK)


def _package_versions(
    integrations: list[Integration], package_given: bool
) -> list[list[Integration]]:
    """The schemas of each package, oldest version first. With --package all are versions of
    one integration; without, each package name must come from one schema."""
    if package_given:
        hint = (
            'one package holds the versions of one integration; give them the same "name", or '
            "generate each integration into its own package"
        )
        return [list(integration_versions(integrations, hint).values())]
    by_package: dict[str, list[Integration]] = {}
    for integration in integrations:
        by_package.setdefault(integration.package, []).append(integration)
    for name, group in sorted(by_package.items()):
        if len(group) > 1:
            paths = " and ".join(integration.schema_path for integration in group[:2])
            raise VersionsError(
                f"{paths} both give the package name {name!r}: to generate several "
                f"integration versions into one package, add --package {name}; otherwise "
                'give the schemas distinct "name" keys'
            )
    return [[integration] for integration in integrations]


@cli.command()
@click.argument("old")
@click.argument("new")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per change and a verdict; json: the same as one JSON document.",
)
@click.option(
    "--integration-version",
    type=click.IntRange(min=1),
    help="For a package holding several integration versions: the one to compare "
    "(default: the latest).",
)
def diff(old: str, new: str, output_format: str, integration_version: int | None) -> None:
    """Say what changes from OLD to NEW and what it means.

    OLD and NEW are schema files or generated package directories. Each change is classified
    (field added, removed, renamed, type changed, optional/required, label or description), with
    whether Contentsquare must register a new integrationVersion, which Python names of the
    package change, and whether data already sent stays valid. Exit 0 when nothing changed, 1
    when something did, 2 for bad input.
    """
    import json

    from generator.package_schemas import PackageError, load_schema_or_package
    from generator.schema_diff import compare

    if integration_version is not None and not (Path(old).is_dir() or Path(new).is_dir()):
        raise click.UsageError("--integration-version is only for a generated package directory")
    sides = []
    for path in (old, new):
        try:
            sides.append(load_schema_or_package(path, integration_version))
        except SchemaError as error:
            _report(list(error.problems))
        except PackageError as error:
            click.echo(f"error: {error}", err=True)
    if len(sides) < 2:
        sys.exit(2)
    result = compare(sides[0], sides[1])
    if output_format == "json":
        click.echo(json.dumps(result.to_json(old, new), indent=2, ensure_ascii=False))
    else:
        for line in result.lines():
            click.echo(line)
    sys.exit(1 if result.changes else 0)


@cli.command()
@click.argument("schemas", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Loopback address to listen on.",
)
@click.option(
    "--port",
    default=0,
    type=click.IntRange(0, 65535),
    help="Port to listen on (default: a free one).",
)
@click.option(
    "--client-id", help="Client id to accept (default: generated and printed)."
)
@click.option(
    "--client-secret", help="Client secret to accept (default: generated and printed)."
)
@click.option(
    "--project-id",
    default=123456,
    show_default=True,
    type=click.IntRange(min=1),
    help="The project.",
)
@click.option(
    "--token-ttl",
    default=3600,
    show_default=True,
    type=click.IntRange(min=1),
    help="Lifetime of the access tokens, in seconds.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="SQLite file to keep what arrives (default: in memory).",
)
@click.option(
    "--fail-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of requests answered 500/502/503.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    help="Requests per second; beyond it 429 with Retry-After.",
)
@click.option(
    "--latency",
    default=0.0,
    type=click.FloatRange(min=0),
    help="Seconds added to each request.",
)
@click.option(
    "--drop-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of requests whose connection is closed without an answer (after storing).",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    help="Items per request; beyond it 413.",
)
@click.option(
    "--seed", type=int, help="Seed of the random faults, to repeat a run exactly."
)
def sandbox(
    schemas: tuple[str, ...],
    host: str,
    port: int,
    client_id: str | None,
    client_secret: str | None,
    project_id: int | None,
    token_ttl: int,
    db: str | None,
    fail_rate: float,
    rate_limit: float | None,
    latency: float,
    drop_rate: float,
    max_batch_size: int | None,
    seed: int | None,
) -> None:
    """Serve a local stand-in for Contentsquare's endpoints.

    The token and the enrichment endpoints, on a loopback address.

    It checks every request against SCHEMAS like the real API (all or nothing, 400 naming the
    item and the field), stores what it accepts (GET /sandbox/enrichments) and counts what it
    saw (GET /sandbox/stats). Several SCHEMAS are versions of one integration (same name, each
    its own integrationVersion): a request is checked against the version it names. Fault
    options make it misbehave, to test a client. Stop it with Ctrl-C.
    """
    import logging

    from generator.sandbox import FaultSettings, Sandbox, SandboxError, SandboxOptionError
    from generator.sandbox.banner import banner
    from generator.sandbox.server import DEFAULT_PROJECT_ID
    integrations = []
    problems: list[object] = []
    status = EXIT_OK
    for schema in schemas:
        try:
            integrations.append(load_integration(schema))
        except SchemaError as error:
            problems.extend(error.problems)
            status = max(status, _exit_code(error))
    if problems:
        _report(problems)
        sys.exit(status)
    faults = FaultSettings(
        fail_rate=fail_rate,
        rate_limit=rate_limit,
        latency=latency,
        drop_rate=drop_rate,
        max_batch_size=max_batch_size,
        seed=seed,
    )
    try:
        server = Sandbox(
            integrations,
            host=host,
            port=port,
            client_id=client_id,
            client_secret=client_secret,
            project_id=project_id or DEFAULT_PROJECT_ID,
            token_ttl=token_ttl,
            faults=faults,
            db=db,
        )
    except SandboxOptionError as error:
        raise click.UsageError(str(error)) from None
    except SandboxError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    click.echo(banner(server))
    sys.stdout.flush()
    # SIGTERM (a service manager, a script's terminate()) stops it like Ctrl-C: uvicorn shuts
    # down, then passes the signal on to this handler.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    click.echo("sandbox stopped", err=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    cli(prog_name="enrichgen")
