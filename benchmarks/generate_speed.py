"""Cold-start time of generating the call-tracking example, against two other generators.

    .venv/bin/python benchmarks/generate_speed.py [--runs 5]

Each run is a new process (cold: imports included), into a new directory:
  enrichgen             - enrichgen generate: the whole package (models, client, tests), black
  datamodel-codegen     - the models alone, from the same JSON Schema enrichgen derives
  openapi-python-client - a client package from an equivalent OpenAPI document
openapi-python-client is a benchmark-only extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "integration_schemas" / "call_tracking.json"
BIN = Path(sys.executable).parent


JSON_TYPES = {"STRING": {"type": "string"}, "INT": {"type": "integer"},
              "FLOAT": {"type": "number"}, "BOOL": {"type": "boolean"},
              "DATETIME": {"type": "string", "format": "date-time"}}


def plain_json_schema(enrichment_schema: dict) -> dict:
    """enrichgen's derived schema with standard JSON Schema types instead of customTypePath."""
    plain = json.loads(json.dumps(enrichment_schema))
    plain.pop("description", None)
    kinds = {f["name"]: f["type"] for f in json.loads(SCHEMA.read_text())["fields"]}
    for name, prop in plain["properties"].items():
        prop.pop("customTypePath", None)
        prop.update(JSON_TYPES[kinds[name]])
    return plain


def openapi_document(enrichment: dict) -> dict:
    item = {
        "type": "object",
        "required": ["userId", "sessionNumber", "enrichment"],
        "properties": {
            "userId": {"type": "string"},
            "sessionNumber": {"type": "integer"},
            "enrichmentNumber": {"type": "integer"},
            "enrichment": {"$ref": "#/components/schemas/Enrichment"},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Call tracking enrichment", "version": "1"},
        "paths": {
            "/v1/enrichments": {
                "post": {
                    "operationId": "send_enrichments",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["integrationVersion", "projectId", "enrichments"],
                        "properties": {
                            "integrationVersion": {"type": "integer"},
                            "projectId": {"type": "integer"},
                            "enrichments": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                        },
                    }}}},
                    "responses": {"200": {"description": "accepted"}},
                }
            }
        },
        "components": {"schemas": {"Enrichment": enrichment, "Item": item}},
    }


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from generator.integration_spec import load_integration
    from generator.model_source import enrichment_json_schema

    plain_schema = plain_json_schema(enrichment_json_schema(load_integration(str(SCHEMA))))
    commands = {
        "enrichgen": lambda d: [str(BIN / "enrichgen"), "generate", str(SCHEMA), "--out", str(d / "out")],
        "datamodel-codegen": lambda d: [str(BIN / "datamodel-codegen"), "--input", str(d / "schema.json"),
                                        "--input-file-type", "jsonschema", "--output-model-type",
                                        "pydantic_v2.BaseModel", "--output", str(d / "models.py")],
    }
    if shutil.which("openapi-python-client", path=str(BIN)):
        commands["openapi-python-client"] = lambda d: [
            str(BIN / "openapi-python-client"), "generate", "--path", str(d / "openapi.json"),
            "--output-path", str(d / "client"), "--overwrite"]
    else:
        print("openapi-python-client is not installed: pip install -e '.[bench]'", file=sys.stderr)
    results: dict[str, list[float]] = {name: [] for name in commands}
    for run in range(args.runs):
        for name, command in commands.items():
            with tempfile.TemporaryDirectory() as directory:
                workdir = Path(directory)
                (workdir / "schema.json").write_text(json.dumps(plain_schema))
                (workdir / "openapi.json").write_text(json.dumps(openapi_document(plain_schema)))
                results[name].append(timed(command(workdir), workdir))
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    print(f"{'generator':<24} {'median s':>9} {'min s':>7}")
    for name, times in results.items():
        print(f"{name:<24} {statistics.median(times):>9.2f} {min(times):>7.2f}")


if __name__ == "__main__":
    main()
