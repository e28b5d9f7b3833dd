"""The one serialiser, both ways: a record as JSON types (`to_json`, `dumps`) and back (`from_json`), and a
document of any schema version this code knows read as its record (`read_document`).

Serialization rule: a field whose default is None is left out of the JSON when it is None (an
optional key); any other field is always written, `null` included where its type allows it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

from audit.records.documents import DOCUMENTS, Document
from audit.records.parts import SCHEMA_VERSION

T = TypeVar("T")


class RecordError(ValueError):
    """A document that does not have the shape of its record (names the offending key)."""


def to_json(value: Any) -> Any:
    """A record (or any value holding records) as JSON types: dicts, lists, strings, numbers, None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None and f.default is None:
                continue
            out[f.metadata.get("json", f.name)] = to_json(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(document: Any) -> str:
    """The file text of a record: indented JSON (NaN where a rate has no photos)."""
    return json.dumps(to_json(document), indent=2, default=str) + "\n"


def from_json(kind: type[T], data: Any) -> T:
    """The record of type `kind` that `data` (parsed JSON) holds; RecordError names what is wrong.
    Unknown keys are ignored: a newer writer's additions do not stop an older reader."""
    return _parse(kind, data, kind.__name__)


def _parse(kind: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, found {type(value).__name__}")
        hints, given = typing.get_type_hints(kind), {}
        for f in dataclasses.fields(kind):
            key = f.metadata.get("json", f.name)
            if key in value:
                given[f.name] = _parse(hints[f.name], value[key], f"{where}.{key}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{where}: no {key!r}")
        return kind(**given)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _parse(inner, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, found {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise RecordError(f"{where}: expected {len(args)} values, found {len(value)}")
        return tuple(_parse(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, found {type(value).__name__}")
        return {k: _parse(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is Literal and value not in args:
        raise RecordError(f"{where}: {value!r}, expected {' or '.join(map(repr, args))}")
    return value


def read_document(kind: str, data: dict) -> Document:
    """A run, verify or compare document of any schema version this code knows, as its record."""
    if kind not in DOCUMENTS:
        raise RecordError(f"unknown document kind {kind!r}; one of {', '.join(DOCUMENTS)}")
    version = data.get("schema_version", 1)  # compare documents carried no version before 2
    if version == 1:
        data = upgrade_v1(kind, data)
    elif version != SCHEMA_VERSION:
        raise RecordError(f"a {kind} document of schema version {version}; this cloak-audit reads 1 and "
                          f"{SCHEMA_VERSION} (a newer cloak-audit wrote it?)")
    return from_json(DOCUMENTS[kind], data)


def upgrade_v1(kind: str, data: dict) -> dict:
    """A version-1 document in version 2's shape: the same content, a few keys renamed or added."""
    data = {**data, "schema_version": SCHEMA_VERSION, "kind": kind}
    if kind == "run":
        data["detection"] = [{"cloak_detector": d.get("detector"), "extractor": "dlib-resnet", **d}
                             for d in data.get("detection", [])]  # early reports called it `detector`
    if kind == "verify":
        nan = float("nan")  # version 1 gave the crowd's accuracy without an interval
        data["results"] = [{**r, "normal_accuracy": {"ci95": [nan, nan], **r["normal_accuracy"]}}
                           for r in data["results"]]
    return data
