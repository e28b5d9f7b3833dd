"""The one option syntax: `name:key=value,key=value` (a value without a key is positional)."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Spec:
    name: str
    positional: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def _items(text: str) -> tuple[str, list[tuple[str | None, str]]]:
    """`name:k=v,x` → name and its items in order, each (key, value), or (None, value) without a key."""
    name, _, rest = text.strip().partition(":")
    if not name:
        raise ValueError(f"empty name in {text!r}")
    items: list[tuple[str | None, str]] = []
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            items.append((None, item))
        elif not key.strip():
            raise ValueError(f"{text!r}: option {item!r} has no key")
        else:
            items.append((key.strip(), value.strip()))
    return name, items


def parse_spec(text: str) -> Spec:
    """Parse `name`, `name:k=v,k2=v2` or `name:POSITIONAL,k=v` (e.g. `onnx:model.onnx,size=112`)."""
    name, items = _items(text)
    positional, options = None, {}
    for key, value in items:
        if key is not None:
            options[key] = value
        elif positional is not None:
            raise ValueError(f"{text!r}: more than one value without a key ({positional!r}, {value!r})")
        else:
            positional = value
    return Spec(name, positional, options)


def with_option(text: str, key: str, value: str) -> str:
    """`text` with option `key` set to `value` (which may not hold a comma)."""
    if "," in value:
        raise ValueError(f"option {key}={value!r} would hold a comma, which the option syntax cannot carry")
    spec = parse_spec(text)
    options = {**spec.options, key: value}
    items = ([spec.positional] if spec.positional is not None else []) + [f"{k}={v}" for k, v in options.items()]
    return f"{spec.name}:{','.join(items)}"


def parse_sweep(text: str, sets: tuple[str, ...] = ()) -> list[Spec]:
    """`blur:kernel=3,5,7` → one Spec per value; several swept keys give every combination.

    A value without a key extends the key before it. Keys in `sets` (e.g. `at=train,test`)
    keep their values together as one comma-joined option instead of sweeping them.
    """
    name, items = _items(text)
    values: dict[str, list[str]] = {}
    last = None
    for key, value in items:
        if key is not None:
            last = key
            values[key] = [value]
        elif last is None:
            raise ValueError(f"{text!r}: value {value!r} comes before any key=")
        else:
            values[last].append(value)
    fixed = {k: ",".join(v) for k, v in values.items() if k in sets}
    swept = [(k, v) for k, v in values.items() if k not in sets]
    specs = []
    for combination in itertools.product(*(v for _, v in swept)):
        specs.append(Spec(name, None, {**dict(zip((k for k, _ in swept), combination)), **fixed}))
    return specs


def take(options: dict[str, str], key: str, default, kind=str):
    """Pop one option, converted to `kind`, with a clear error for a bad value."""
    if key not in options:
        return default
    raw = options.pop(key)
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"option {key}={raw!r} is not a valid {kind.__name__}") from None


def reject_unknown(name: str, options: dict[str, str]) -> None:
    if options:
        raise ValueError(f"{name}: unknown option(s) {', '.join(sorted(options))}")


def constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The options cls takes, following `**kwargs` into its base classes (a subclass adding options)."""
    known: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = list(inspect.signature(klass.__init__).parameters.values())[1:]
        for parameter in parameters:
            if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                known.setdefault(parameter.name, parameter)
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    return known


def summaries(registry: Mapping[str, type]) -> dict[str, str]:
    """Each registered name with the first line of its class's docstring (what `audit list` prints)."""
    return {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in registry.items()}


def build_registered(registry: Mapping[str, type], spec: Spec, kind: str):
    """The class registered as `spec.name`, built with spec's options; clear errors for the rest."""
    if spec.name not in registry:
        raise ValueError(f"unknown {kind} {spec.name!r}; available: {', '.join(registry)}")
    if spec.positional is not None:
        raise ValueError(f"{spec.name}:{spec.positional}: {kind} options need a key (key=value)")
    return construct(registry[spec.name], spec.name, dict(spec.options))


def construct(cls: type, name: str, options: dict[str, str]):
    """Call cls with string options converted to its constructor's annotated types."""
    known = constructor_parameters(cls)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return cls(**{key: convert(name, key, value, known[key]) for key, value in options.items()})


def convert(name: str, key: str, value: str, parameter: inspect.Parameter):
    kind = parameter.annotation if isinstance(parameter.annotation, str) else getattr(parameter.annotation, "__name__", "str")
    try:
        if "float" in kind:
            return float(value)
        if "int" in kind:
            return int(value)
        if "bool" in kind:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return value.lower() in ("true", "1", "yes")
    except ValueError:
        raise ValueError(f"{name}: option {key}={value!r} is not a valid {kind}") from None
    return value
