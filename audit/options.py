"""The one option syntax: `name:key=value,key=value` (a value without a key is positional).

A value that itself holds commas — a nested spec with options, a list — is written in
brackets: `faiss:extractor=[onnx:/m.onnx,size=112]`. `format_spec` writes the same syntax,
so a spec string round-trips through `parse_spec`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

OPEN, CLOSE = "[", "]"


@dataclass(frozen=True)
class Spec:
    name: str
    positional: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split at separators outside brackets; an unbalanced bracket is an error that says where."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == OPEN:
            depth += 1
        elif char == CLOSE:
            depth -= 1
            if depth < 0:
                raise ValueError(f"{text!r}: ']' at position {i + 1} closes no '['")
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise ValueError(f"{text!r}: {depth} '[' never closed (a nested value is written [name:key=value,...])")
    parts.append(text[start:])
    return parts


def unbracket(value: str) -> str:
    """`[onnx:/m.onnx,size=112]` → `onnx:/m.onnx,size=112`; other values as they are."""
    value = value.strip()
    if value.startswith(OPEN) and value.endswith(CLOSE):
        inner = value[1:-1]
        split_top_level(inner)  # balanced inside, or the outer brackets did not pair with each other
        return inner
    return value


def _items(text: str) -> tuple[str, list[tuple[str | None, str]]]:
    """`name:k=v,x` → name and its items in order, each (key, value), or (None, value) without a key."""
    name, _, rest = text.strip().partition(":")
    if not name:
        raise ValueError(f"empty name in {text!r}")
    if OPEN in name or CLOSE in name:
        raise ValueError(f"{text!r}: a name cannot hold brackets")
    items: list[tuple[str | None, str]] = []
    for item in filter(None, (part.strip() for part in split_top_level(rest))):
        key, eq, value = item.partition("=")
        if not eq or OPEN in key:
            items.append((None, item))
        elif not key.strip():
            raise ValueError(f"{text!r}: option {item!r} has no key")
        else:
            items.append((key.strip(), value.strip()))
    return name, items


def parse_spec(text: str) -> Spec:
    """Parse `name`, `name:k=v,k2=v2`, `name:POSITIONAL,k=v` or `name:k=[nested:a=1,b=2]`."""
    name, items = _items(text)
    positional, options = None, {}
    for key, value in items:
        if key is not None:
            options[key] = unbracket(value)
        elif positional is not None:
            raise ValueError(f"{text!r}: more than one value without a key ({positional!r}, {value!r})")
        else:
            positional = unbracket(value)
    return Spec(name, positional, options)


def format_value(value: object) -> str:
    """One option value as the syntax writes it: brackets around anything holding a comma, a bracket or a `+` (an
    ensemble of models, whose members split at `+`)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    if any(char in text for char in ",[]+") or text != text.strip():
        split_top_level(text)  # a value with unbalanced brackets cannot be written
        return f"{OPEN}{text}{CLOSE}"
    return text


def format_spec(name: str, options: Mapping[str, object]) -> str:
    """`name:k=v,...` with values formatted by `format_value`; `name` alone without options."""
    if not options:
        return name
    return f"{name}:{','.join(f'{key}={format_value(value)}' for key, value in options.items())}"


@dataclass(frozen=True)
class Sweep:
    """A spec whose options may each list several values (`blur:kernel=3,5,7`): the one sweep syntax of every
    swept plugin (countermeasures, a cloaker's budget)."""

    name: str
    values: dict[str, list[str]]  # each option's values, in order; one value: not swept

    @property
    def swept(self) -> list[str]:
        return [key for key, values in self.values.items() if len(values) > 1]

    def specs(self) -> list[Spec]:
        """One Spec per combination of the swept values, in order (the first option varies slowest)."""
        keys = list(self.values)
        return [Spec(self.name, None, dict(zip(keys, combination)))
                for combination in itertools.product(*self.values.values())]


def parse_sweep(text: str, sets: tuple[str, ...] = ()) -> Sweep:
    """`blur:kernel=3,5,7` → kernel's three values; several swept keys give every combination.

    A value without a key extends the key before it; a bracketed value is one value. Keys in
    `sets` (e.g. `at=train,test`) keep their values together as one comma-joined option
    instead of sweeping them.
    """
    name, items = _items(text)
    values: dict[str, list[str]] = {}
    last = None
    for key, value in items:
        if key is not None:
            last = key
            values[key] = [unbracket(value)]
        elif last is None:
            raise ValueError(f"{text!r}: value {value!r} comes before any key=")
        else:
            values[last].append(unbracket(value))
    for key in sets:
        if key in values:
            values[key] = [",".join(values[key])]
    return Sweep(name, values)


def format_sweep(name: str, values: Mapping[str, list[object]]) -> str:
    """The sweep syntax `parse_sweep` reads: `name:key=a,b,other=c`, each value as `format_value` writes it."""
    items = [f"{key}={','.join(format_value(v) for v in given)}" for key, given in values.items()]
    return f"{name}:{','.join(items)}" if items else name


def spec_from_table(table: Mapping[str, object], where: str) -> str:
    """A TOML table `{name = "faiss", extractor = {name = "onnx", path = "m.onnx", size = 112}}` as a spec
    string; a nested table is a nested spec, a list of values sweeps."""
    if "name" not in table:
        raise ValueError(f"{where}: a table needs a name, e.g. {{name = \"faiss\", k = 3}}")
    options: dict[str, str] = {}
    for key, value in table.items():
        if key == "name":
            continue
        if isinstance(value, Mapping):
            options[key] = format_value(spec_from_table(value, f"{where}.{key}"))
        elif isinstance(value, list):
            options[key] = ",".join(format_value(spec_from_table(v, f"{where}.{key}") if isinstance(v, Mapping)
                                                 else v) for v in value)
        else:
            options[key] = format_value(value)
    return f"{table['name']}:{','.join(f'{k}={v}' for k, v in options.items())}" if options else str(table["name"])
