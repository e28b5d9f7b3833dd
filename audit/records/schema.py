"""The JSON Schema of each document, derived from its record (`audit/schemas/`, shipped; after a record changes,
`python -m audit.records.schema` regenerates them, and a test fails while they are stale)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from audit.records.documents import DOCUMENTS
from audit.records.parts import SCHEMA_VERSION


def json_schema(document: type) -> dict:
    """The JSON Schema (2020-12) of a document record: every part an object with exactly its fields."""
    parts: dict[str, dict] = {}

    def schema(kind: Any) -> dict:
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if dataclasses.is_dataclass(kind):
            if kind.__name__ not in parts:
                parts[kind.__name__] = {}  # placeholder while its fields are derived
                hints, properties, required = typing.get_type_hints(kind), {}, []
                for f in dataclasses.fields(kind):
                    key, hint = f.metadata.get("json", f.name), hints[f.name]
                    if f.default is None:  # an optional key, never null
                        hint = typing.Union[tuple(a for a in typing.get_args(hint) if a is not type(None))]
                    else:
                        required.append(key)
                    properties[key] = schema(hint)
                description = (kind.__doc__ or kind.__name__).strip().splitlines()[0]
                parts[kind.__name__] = {"type": "object", "description": description, "properties": properties,
                                        "required": required, "additionalProperties": False}
            return {"$ref": f"#/$defs/{kind.__name__}"}
        if origin in (typing.Union, types.UnionType):
            return {"anyOf": [schema(a) for a in args]}
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": schema(args[0])}
            return {"type": "array", "prefixItems": [schema(a) for a in args], "minItems": len(args),
                    "maxItems": len(args)}
        if origin is dict:
            return {"type": "object", "additionalProperties": schema(args[1])}
        if origin is Literal:
            return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
        simple = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}
        return {"type": simple[kind]} if kind in simple else {}

    root = schema(document)["$ref"].split("/")[-1]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://github.com/cloak-audit/cloak-audit/schemas/{schema_file(document)}",
            "title": f"cloak-audit {document.__name__}, schema version {SCHEMA_VERSION}",
            **parts.pop(root), "$defs": dict(sorted(parts.items()))}


def schema_file(document: type) -> str:
    kind = next(k for k, v in DOCUMENTS.items() if v is document)
    return f"{kind}.schema.json"


def shipped_schema(kind: str) -> dict:
    """The schema file in the package for a document kind (run, verify, compare, scorecard, extractor-check)."""
    text = resources.files("audit").joinpath("schemas", schema_file(DOCUMENTS[kind])).read_text(encoding="utf-8")
    return json.loads(text)


def write_schemas(folder: Path) -> list[Path]:
    """Regenerate the shipped schemas from the records (after a record changes: `python -m audit.records`)."""
    written = []
    for document in DOCUMENTS.values():
        path = folder / schema_file(document)
        path.write_text(json.dumps(json_schema(document), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_schemas(Path(__file__).parents[1] / "schemas"):
        print(path)
