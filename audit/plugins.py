"""What every plugin shares (cloakers, trackers, countermeasures, cloak and face detectors, extractors,
executors), and the one table of those kinds.

scikit-learn's `get_params` habit: a plugin's constructor arguments are its parameters, and
the constructor stores each one under its own name (derived values live in properties).
`params()` reads them back through the signature, so the canonical spec (how results name a
plugin), the cache key and `repr` all come from one place, and two plugins built with different
options can never share a label or a cache entry. `clone()` gives a fresh plugin with the same
parameters, as scikit-learn's does, nested plugins cloned too.

A spec string is parsed once. An option whose value is another plugin (a tracker's extractor and face
detector, detect-and-drop's cloak detector) or a value that parses itself (a budget, an ensemble of
models) is declared `Nested`: the spec text given for it becomes an object the moment it is stored,
and from then on travels as that object.

`KINDS` lists every kind of plugin once: its base class, its built-ins, how a spec becomes one,
and the entry-point group an outside package registers its own under. `audit list` and the
registries read it, and `check_plugin` (scikit-learn's `check_estimator`) checks any plugin,
built-in or outside, against the promises above.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar, TypeVar

from audit.options import Spec, format_spec, format_value

P = TypeVar("P", bound="Plugin")


class SpecValue:
    """A value a spec option holds besides a number, a flag or a word (a nested plugin, a budget, an ensemble of
    models): written in a spec as `spec`, keyed in caches by `cache_id`."""

    @property
    def spec(self) -> str:
        raise NotImplementedError

    @property
    def cache_id(self) -> str:
        return self.spec

    def __str__(self) -> str:
        return self.spec


def option_text(value: object, identity: bool = False) -> object:
    """A value as a spec writes it: a `SpecValue` by its spec (`identity`: by its cache key), anything else as it is."""
    if isinstance(value, SpecValue):
        return value.cache_id if identity else value.spec
    return value


class Nested:
    """A constructor option whose value is a plugin of another kind, or a `SpecValue` that parses itself: spec text
    stored in it is parsed there, once, and the object kept (an object is kept as it is; None stays None).

    `of` is a kind of `KINDS` (`"extractor"`) or a parser (`Budget.parse`)."""

    def __init__(self, of: str | Callable[[str], SpecValue]) -> None:
        self.of = of
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            return instance.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, instance: object, value: object) -> None:
        instance.__dict__[self.name] = self.parse(value) if isinstance(value, str) else value

    def parse(self, text: str) -> SpecValue:
        return build_plugin(self.of, text) if isinstance(self.of, str) else self.of(text)


def constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The options cls takes, following `**kwargs` into its base classes (a subclass adding options)."""
    known: dict[str, inspect.Parameter] = {}
    for klass in constructors(cls):
        for parameter in list(inspect.signature(klass.__init__).parameters.values())[1:]:
            if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                known.setdefault(parameter.name, parameter)
    return known


def constructors(cls: type) -> list[type]:
    """The classes whose `__init__` give cls its options: its own, then those its `**kwargs` pass on to."""
    found = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        found.append(klass)
        if not any(p.kind == p.VAR_KEYWORD for p in inspect.signature(klass.__init__).parameters.values()):
            break
    return found


HELP_LINE = re.compile(r"^(\w+): (.*)$")


def options_help(cls: type) -> dict[str, str]:
    """Each option's help, from the docstrings of the constructors in cls's ancestry (a subclass's own first, so an
    option a base class documents is documented once): one `option: what it does` line each, a longer help
    continued on indented lines."""
    found: dict[str, str] = {}
    for klass in [k for k in cls.__mro__ if "__init__" in vars(k) and k is not object]:
        current = None
        for line in inspect.cleandoc(klass.__init__.__doc__ or "").splitlines():
            matched = HELP_LINE.match(line)
            if matched:  # a subclass's line for an option wins over its base class's
                current = None if matched.group(1) in found else matched.group(1)
                if current:
                    found[current] = matched.group(2).strip()
            elif current and line.startswith(" ") and line.strip():
                found[current] += " " + line.strip()
            else:
                current = None
    return found


class Plugin(SpecValue):
    """A registered, configurable piece: `name`, and constructor arguments as its options."""

    name: ClassVar[str]
    # The option a value without a key sets (`onnx:model.onnx` sets `path`); None: every option needs a key.
    positional: ClassVar[str | None] = None
    # Raised when what the plugin computes changes under the same options, so cached results of the old
    # version are never reused (a cloak's algorithm, a model's output).
    revision: ClassVar[int] = 1
    # Old option names, for an error that names the new one.
    renamed: ClassVar[Mapping[str, str]] = {}
    # Options that are gone, each with what to write instead.
    retired: ClassVar[Mapping[str, str]] = {}
    # Short spellings a spec may use for an option (`format=` for `output_format=`).
    aliases: ClassVar[Mapping[str, str]] = {}
    # Options that say where the work runs, not what it computes (`device`, see audit.devices): left out of
    # `cache_id`, so what a GPU computed is reused on a CPU and the other way round.
    placement: ClassVar[frozenset[str]] = frozenset({"device"})
    # The options a spec string set (`construct` records them), shown in the label even at their default.
    _written: frozenset[str] = frozenset()

    @classmethod
    def parameters(cls) -> dict[str, inspect.Parameter]:
        return constructor_parameters(cls)

    def params(self, deep: bool = False) -> dict[str, object]:
        """Every option with its value, in the constructor's order; `deep` adds each nested plugin's options as
        `option__its_option` (scikit-learn's `get_params(deep=True)`)."""
        values = {name: getattr(self, name) for name in self.parameters()}
        if deep:
            for name, value in list(values.items()):
                if isinstance(value, Plugin):
                    values.update({f"{name}__{key}": inner for key, inner in value.params(deep=True).items()})
        return values

    def plain_params(self) -> dict[str, object]:
        """Every option as plain data, a nested plugin by its spec: what a record keeps."""
        return {name: option_text(value) for name, value in self.params().items()}

    def shown_params(self) -> dict[str, object]:
        """The options a spec needs: those that differ from the constructor's defaults, and those written."""
        defaults = self.parameters()
        return {k: v for k, v in self.params().items()
                if k in self._written or defaults[k].default is inspect.Parameter.empty
                or option_text(v) != option_text(defaults[k].default)}

    @property
    def spec(self) -> str:
        """The spec in canonical form: the name and the shown options in the constructor's order, values
        normalised (`blur:kernel=5` for `blur:kernel=05`; `jpeg:quality=10` for any jpeg at quality 10)."""
        return format_spec(self.name, {k: option_text(v) for k, v in self.shown_params().items()})

    @property
    def label(self) -> str:
        """How results name it: differs between any two plugins whose options differ (two plugins with
        the same settings share a `cache_id`, which is what the run de-duplicates on)."""
        return self.spec

    @property
    def cache_id(self) -> str:
        """Every option but the placement ones, defaults included, nested plugins by their own cache keys: a new
        default, here or in a nested plugin, never reuses an old cache entry."""
        computing = {k: option_text(v, identity=True) for k, v in self.params().items() if k not in self.placement}
        return format_spec(self.name, computing) + revision_suffix(self.revision)

    def clone(self: P, **changes: object) -> P:
        """A new plugin with the same parameters, `changes` applied, nested plugins cloned, and none of this one's
        state (scikit-learn's `clone` with `set_params` folded in): what a cell fits, or a tracker with its model
        swapped. `option__its_option=value` changes a nested plugin's option."""
        own = {k: v for k, v in changes.items() if "__" not in k}
        inner: dict[str, dict[str, object]] = {}
        for key, value in changes.items():
            if "__" in key:
                outer, _, rest = key.partition("__")
                inner.setdefault(outer, {})[rest] = value
        known = self.parameters()
        unknown = sorted(set(own) - set(known)) + sorted(k for k in inner if not isinstance(getattr(self, k, None),
                                                                                               Plugin))
        if unknown:
            raise ValueError(f"{self.name}: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
        values = {k: own[k] if k in own else cloned(v, inner.get(k, {})) for k, v in self.params().items()}
        twin = type(self)(**values)
        twin._written = self._written | frozenset(own) | frozenset(inner)
        return twin

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"


def cloned(value: object, changes: Mapping[str, object]) -> object:
    """A nested plugin's (or ensemble's) clone, `changes` applied; any other value as it is (it is immutable)."""
    clone = getattr(value, "clone", None)
    return clone(**changes) if callable(clone) and isinstance(value, SpecValue) else value


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
    options = {cls.aliases.get(key, key): value for key, value in options.items()}
    if positional is not None:
        if cls.positional is None:
            raise ValueError(f"{name}:{positional}: options need a key (key=value); known: {', '.join(known)}")
        if cls.positional in options:
            raise ValueError(f"{name}: {cls.positional} given twice ({positional!r} and {options[cls.positional]!r})")
        options = {cls.positional: positional, **options}
    for old, new in cls.renamed.items():
        if old in options:
            raise ValueError(f"{name}: option {old}= is now called {new}=")
    for old, instead in cls.retired.items():
        if old in options:
            raise ValueError(f"{name}: option {old}= is gone: {instead}")
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    missing = [k for k, p in known.items() if p.default is inspect.Parameter.empty and k not in options]
    if missing:
        raise ValueError(f"{name}: option(s) {', '.join(missing)} must be given")
    plugin = cls(**{key: convert(name, key, value, known[key]) for key, value in options.items()})
    plugin._written = frozenset(options)
    return plugin


def annotated_types(parameter: inspect.Parameter) -> list[str]:
    """The names of the types an option's annotation allows, in its order (`int | None` → ["int", "None"])."""
    annotation = parameter.annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "str")
    return [part.strip() for part in text.split("|")]


def convert(name: str, key: str, value: str, parameter: inspect.Parameter):
    """A string option as the annotated type: int, float, bool, or str (a nested spec stays text: its `Nested`
    option parses it); `None` where None is allowed."""
    kinds = annotated_types(parameter)
    if "None" in kinds and value == "None":
        return None
    try:
        if "float" in kinds:
            return float(value)
        if "int" in kinds:
            return int(value)
        if "bool" in kinds:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return value.lower() in ("true", "1", "yes")
    except ValueError:
        raise ValueError(f"{name}: option {key}={value!r} is not a valid {' | '.join(kinds)}") from None
    return value


@dataclass(frozen=True)
class PluginKind:
    """One kind of plugin. Written as `module:attribute`, so that this lowest layer imports none of them."""

    name: str  # as messages say it: "cloak detector"
    listing: str  # `audit list <listing>`
    base: str  # the class every plugin of the kind derives from
    built_in: str  # name → class of the built-ins (a mapping, or a function returning one)
    build: str  # spec string → one plugin
    group: str  # the entry-point group outside packages register theirs under

    def resolve(self, reference: str) -> Any:
        module, _, attribute = reference.partition(":")
        return getattr(importlib.import_module(module), attribute)


KINDS: dict[str, PluginKind] = {kind.name: kind for kind in (
    PluginKind("cloaker", "cloakers", "audit.cloakers.base:Cloaker", "audit.cloakers:BUILT_IN",
               "audit.cloakers:build_cloaker", "cloak_audit.cloakers"),
    PluginKind("tracker", "trackers", "trackers.base:Tracker", "trackers:BUILT_IN", "trackers:build_tracker",
               "cloak_audit.trackers"),
    PluginKind("countermeasure", "countermeasures", "countermeasures.base:Countermeasure",
               "countermeasures:BUILT_IN", "countermeasures:build_countermeasure", "cloak_audit.countermeasures"),
    PluginKind("cloak detector", "cloak-detectors", "countermeasures.cloak_detectors.base:CloakDetector",
               "countermeasures.cloak_detectors:BUILT_IN", "countermeasures.cloak_detectors:build_cloak_detector",
               "cloak_audit.cloak_detectors"),
    PluginKind("face detector", "face-detectors", "audit.face.detection:FaceDetector", "audit.face.detection:BUILT_IN",
               "audit.face.detection:build_face_detector", "cloak_audit.face_detectors"),
    PluginKind("extractor", "extractors", "audit.extractors.base:ExtractorSpec", "audit.extractors:built_in",
               "audit.extractors:extractor_spec", "cloak_audit.extractors"),
    PluginKind("executor", "executors", "audit.executors.base:Executor", "audit.executors:BUILT_IN",
               "audit.executors:build_executor", "cloak_audit.executors"),
)}


def build_plugin(kind: str, text: str) -> Plugin:
    """One plugin of `kind` from its spec string, through the kind's own builder."""
    table = KINDS[kind]
    return table.resolve(table.build)(text)


def built_ins(kind: str) -> dict[str, type]:
    """The kind's built-in plugins, by name."""
    table = KINDS[kind]
    found = table.resolve(table.built_in)
    return dict(found() if callable(found) else found)


def registered(kind: str) -> dict[str, type]:
    """The kind's built-ins, and the plugins outside packages register under its entry-point group."""
    table = KINDS[kind]
    found = built_ins(kind)
    base = table.resolve(table.base)
    for entry in entry_points(group=table.group):
        cls = entry.load()
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"entry point {entry.name} = {entry.value} ({table.group}) is not a {base.__name__} "
                            "subclass")
        if found.get(entry.name, cls) is not cls:
            raise ValueError(f"entry point {entry.name} = {entry.value} ({table.group}) takes the name of a "
                             f"built-in {kind}")
        found[entry.name] = cls
    return found


@dataclass(frozen=True)
class OptionHelp:
    """One option as `audit list KIND --options` prints it."""

    name: str
    default: str  # as a spec writes it; "(required)" for an option without a default
    types: str
    help: str


def describe_options(cls: type) -> list[OptionHelp]:
    """Every option of a plugin class, in the constructor's order, with its default, its types and its help."""
    helps = options_help(cls)
    described = []
    for name, parameter in constructor_parameters(cls).items():
        default = ("(required)" if parameter.default is inspect.Parameter.empty
                   else format_value(option_text(parameter.default)))
        described.append(OptionHelp(name, default, " | ".join(annotated_types(parameter)), helps.get(name, "")))
    return described


def check_plugin(kind: str, name: str, required: Mapping[str, object] | None = None,
                 varied: Mapping[str, object] | None = None) -> None:
    """Check a plugin against what cloak-audit relies on (scikit-learn's `check_estimator`); an outside package's
    CI runs it on its own plugin. `required`: the options the plugin cannot be built without; `varied`: a value
    other than the default for every other option. Raises AssertionError naming the first broken promise.

    It checks that the plugin is reached by its name (built-in or entry point) and derives from its kind's base
    class; that `audit list` has a summary for it and `audit list --options` a help line for every option; that
    `params()` gives back every constructor option as given; that its spec string builds the same plugin again;
    that `clone()` copies every option (cloning nested plugins) and changes only those it is asked to; and that
    each option changes its label, and its cache key unless it only says where work runs.
    """
    table = KINDS[kind]
    required, varied = dict(required or {}), dict(varied or {})
    cls = registered(kind).get(name)
    assert cls is not None, f"{kind} {name!r} is not registered (built-ins, or entry-point group {table.group})"
    build = table.resolve(table.build)
    assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring: `audit list {table.listing}` shows its first line"
    undocumented = sorted(set(constructor_parameters(cls)) - set(options_help(cls)))
    assert not undocumented, (f"{cls.__name__}'s constructor docstring has no `option: help` line for "
                              f"{', '.join(undocumented)} (`audit list {table.listing} --options` prints them)")

    def made(options: Mapping[str, object]) -> Plugin:
        return build(format_spec(name, options))

    def identities(plugin_class: type, values: Mapping[str, object]) -> dict[str, object]:
        """Options as cache keys see them: given spec text parsed as its `Nested` option parses it."""
        def value(key: str, given: object) -> object:
            nested = inspect.getattr_static(plugin_class, key, None)
            return nested.parse(given) if isinstance(nested, Nested) and isinstance(given, str) else given

        return {key: option_text(value(key, given), identity=True) for key, given in values.items()}

    plugin = made(required)
    base = table.resolve(table.base)
    assert isinstance(plugin, base), f"{name} builds a {type(plugin).__name__}, not a {base.__name__}"
    defaults = plugin.params()
    assert set(defaults) == set(type(plugin).parameters()), "params() must name every constructor option"
    assert set(defaults) == set(required) | set(varied), (
        f"give every option of {name} a value to check: missing {sorted(set(defaults) - set(required) - set(varied))}")
    assert repr(plugin).startswith(type(plugin).__name__ + "("), "repr() shows the class and its options"
    kind_of = type(plugin)
    changed = made({**required, **varied})
    assert identities(kind_of, changed.params()) == identities(kind_of, {**defaults, **varied}), (
        "the constructor stores each option as given")
    for text in (changed.spec, format_spec(changed.name, changed.params())):
        again = build(text)
        assert type(again) is type(changed) and identities(kind_of, again.params()) == identities(
            kind_of, changed.params()), f"{text} builds another plugin"
    twin = changed.clone()
    assert type(twin) is type(changed) and twin is not changed and identities(kind_of, twin.params()) == identities(
        kind_of, changed.params()), "clone()"
    shared = [k for k, v in changed.params().items() if isinstance(v, Plugin) and twin.params()[k] is v]
    assert not shared, f"clone() must clone nested plugins too (a fitted one must not be shared): {', '.join(shared)}"
    for key, value in varied.items():
        one = made({**required, key: value})
        assert identities(kind_of, plugin.clone(**{key: value}).params()) == identities(kind_of, one.params()), (
            f"clone({key}=...) changes {key} alone")
        assert one.label != plugin.label, f"{key}={value!r} does not change the label"
        if key in one.placement:  # where it runs, not what it computes: the cached result is the same
            assert one.cache_id == plugin.cache_id, f"{key}={value!r} changes the cache key"
        else:
            assert one.cache_id != plugin.cache_id, f"{key}={value!r} does not change the cache key"
