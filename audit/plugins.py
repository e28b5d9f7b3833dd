"""What every plugin shares (cloakers, trackers, countermeasures, cloak and face detectors, extractors).

scikit-learn's `get_params` habit: a plugin's constructor arguments are its parameters, and
the constructor stores each one, unchanged, under its own name (derived values live in
properties). `params()` reads them back through the signature, so the canonical spec (how
results name a plugin), the cache key and `repr` all come from one place, and two plugins
built with different options can never share a label or a cache entry.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import ClassVar, TypeVar

from audit.options import Spec, format_spec

P = TypeVar("P", bound="Plugin")


def constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The options cls takes, following `**kwargs` into its base classes (a subclass adding options)."""
    known: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        parameters = list(inspect.signature(klass.__init__).parameters.values())[1:]
        for parameter in parameters:
            if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                known.setdefault(parameter.name, parameter)
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    return known


class Plugin:
    """A registered, configurable piece: `name`, and constructor arguments as its options."""

    name: ClassVar[str]
    # The option a value without a key sets (`onnx:model.onnx` sets `path`); None: every option needs a key.
    positional: ClassVar[str | None] = None
    # Options the spec must carry to reach this class through its registry (fawkes's `impl=builtin`).
    routing: ClassVar[Mapping[str, str]] = {}
    # Raised when what the plugin computes changes under the same options, so cached results of the old
    # version are never reused (a cloak's algorithm, a model's output).
    revision: ClassVar[int] = 1
    # Old option names, for an error that names the new one.
    renamed: ClassVar[Mapping[str, str]] = {}
    # Options that say where the work runs, not what it computes (`device`, see audit.devices): left out of
    # `cache_id`, so what a GPU computed is reused on a CPU and the other way round.
    placement: ClassVar[frozenset[str]] = frozenset({"device"})
    # The options a spec string set (`construct` records them), shown in the label even at their default.
    _written: frozenset[str] = frozenset()

    @classmethod
    def parameters(cls) -> dict[str, inspect.Parameter]:
        return constructor_parameters(cls)

    def params(self) -> dict[str, object]:
        """Every option with its value, in the constructor's order."""
        return {name: getattr(self, name) for name in self.parameters()}

    def shown_params(self) -> dict[str, object]:
        """The options a spec needs: those that differ from the constructor's defaults, and those written."""
        defaults = self.parameters()
        return {k: v for k, v in self.params().items()
                if k in self._written or defaults[k].default is inspect.Parameter.empty or v != defaults[k].default}

    @property
    def spec(self) -> str:
        """The spec in canonical form: the name and the shown options in the constructor's order, values
        normalised (`blur:kernel=5` for `blur:kernel=05`; `jpeg:quality=10` for any jpeg at quality 10)."""
        return format_spec(self.name, {**self.routing, **self.shown_params()})

    @property
    def label(self) -> str:
        """How results name it: differs between any two plugins whose options differ (two plugins with
        the same settings share a `cache_id`, which is what the run de-duplicates on)."""
        return self.spec

    @property
    def cache_id(self) -> str:
        """Every option but the placement ones, defaults included: a new default never reuses an old cache entry."""
        computing = {k: v for k, v in self.params().items() if k not in self.placement}
        return format_spec(self.name, {**self.routing, **computing}) + revision_suffix(self.revision)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"


def revision_suffix(revision: int) -> str:
    """What a revision adds to a cache key; nothing for revision 1, so entries made before revisions stay valid."""
    return f"|r{revision}" if revision > 1 else ""


def registry(*classes: type[P]) -> dict[str, type[P]]:
    return {cls.name: cls for cls in classes}


def summaries(registered: Mapping[str, type]) -> dict[str, str]:
    """Each registered name with the first line of its class's docstring (what `audit list` prints)."""
    return {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in registered.items()}


def build_registered(registered: Mapping[str, type[P]], spec: Spec, kind: str) -> P:
    """The class registered as `spec.name`, built with spec's options; clear errors for the rest."""
    if spec.name not in registered:
        raise ValueError(f"unknown {kind} {spec.name!r}; available: {', '.join(registered)}")
    return construct(registered[spec.name], spec.name, dict(spec.options), spec.positional)


def construct(cls: type[P], name: str, options: dict[str, str], positional: str | None = None) -> P:
    """Call cls with string options converted to its constructor's annotated types."""
    known = constructor_parameters(cls)
    if positional is not None:
        if cls.positional is None:
            raise ValueError(f"{name}:{positional}: options need a key (key=value); known: {', '.join(known)}")
        if cls.positional in options:
            raise ValueError(f"{name}: {cls.positional} given twice ({positional!r} and {options[cls.positional]!r})")
        options = {cls.positional: positional, **options}
    for old, new in cls.renamed.items():
        if old in options:
            raise ValueError(f"{name}: option {old}= is now called {new}=")
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    missing = [k for k, p in known.items() if p.default is inspect.Parameter.empty and k not in options]
    if missing:
        raise ValueError(f"{name}: option(s) {', '.join(missing)} must be given")
    plugin = cls(**{key: convert(name, key, value, known[key]) for key, value in options.items()})
    plugin._written = frozenset(options)
    return plugin


def convert(name: str, key: str, value: str, parameter: inspect.Parameter):
    """A string option as the annotated type: int, float, bool, or str; `None` where None is allowed."""
    kind = parameter.annotation if isinstance(parameter.annotation, str) else getattr(parameter.annotation, "__name__", "str")
    if "None" in kind and value == "None":
        return None
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
