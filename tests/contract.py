"""The output contract's check (issue 32 item 1): a `-o json|yaml` document against its kind's JSON Schema in
docs/schemas/, the schema files themselves being what users are pointed at."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parent.parent / "docs" / "schemas"
KINDS = ("HistoryResult", "RollbackResult", "RecordResult", "VerifyResult", "ResumeResult", "MarkBadResult",
         "BarrierResult", "FleetResult", "DiffResult", "Result")


def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def schema_of(kind: str) -> dict:
    return json.loads((SCHEMAS / f"{kind}.json").read_text())


def validated(text: str, fmt: str, kind: str) -> dict:
    """The document printed with `-o fmt`, checked against `kind`'s schema (its own `kind` must be that one)."""
    document = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    jsonschema.Draft202012Validator(schema_of(kind), registry=REGISTRY).validate(document)
    return document
