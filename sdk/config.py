"""Typed options from plain mappings and YAML files, with errors that name the bad key.

Every options class in the project is a dataclass; :func:`options_from_dict` builds one from a
mapping (nested dataclasses included) and refuses unknown keys, so a typo in a YAML file is an
error instead of a silently ignored setting. A nested mapping lists changes over the field's own
default (``field(default_factory=...)``), so a partial section keeps every default it does not name.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
import reprlib
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

T = TypeVar("T")

__all__ = ["MAX_SIDE", "check_expanded_size", "options_from_dict", "options_from_yaml", "parse_size",
           "parse_yaml_value", "read_yaml", "short_repr"]

MAX_SIDE = 8192  # the largest image or network side parse_size accepts (8K video is 7680x4320)
MAX_YAML_BYTES = 1 << 20  # read_yaml: options files are a few KB
MAX_YAML_DEPTH = 64  # read_yaml: nesting levels (option files use a handful)
MAX_YAML_VALUES = 100_000  # read_yaml: values once aliases are expanded (a "billion laughs" file has 10**9)


class _ShortRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 3000:  # str() of an integer over 4300 digits raises ValueError
            return f"<an integer of about {int(x.bit_length() * 0.30103) + 1:,} digits>"
        return super().repr_int(x, level)


_SHORT = _ShortRepr()  # bounded reprs in messages (an aliased value can expand to 10**9 items)
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict = 3, 6, 6, 6
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 80, 80, 40


def short_repr(value: Any) -> str:
    """A repr of at most a few hundred characters, for error messages about values read from files."""
    return _SHORT.repr(value)


def parse_size(value: str | tuple[int, int] | list[int], what: str = "size", multiple: int = 1, minimum: int = 1,
               example: str = "1088x608", maximum: int = MAX_SIDE) -> tuple[int, int]:
    """``"1088x608"`` (or ``1088×608``, or a 2-sequence of integers) -> ``(width, height)``.

    The one reader of an image or network size in the project (CLI flags, option files, export
    options). ValueError names ``what`` (e.g. ``--size``) unless both sides are integers in
    [``minimum``, ``maximum``] and multiples of ``multiple`` (for a network input: its largest stride, 32).
    """
    if isinstance(value, str):
        parts = value.strip().lower().replace("\u00d7", "x").split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"{what} must look like WIDTHxHEIGHT (e.g. {example}), got {_SHORT.repr(value)}")
        width, height = (int(p) for p in parts)
    else:
        try:
            items = list(value)
            if len(items) != 2 or any(isinstance(v, bool) or int(v) != v for v in items):
                raise ValueError
            width, height = (int(v) for v in items)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{what} must be WIDTHxHEIGHT or (width, height) integers, "
                             f"got {_SHORT.repr(value)}") from None
    if width < minimum or height < minimum:
        raise ValueError(f"{what} {width}x{height}: width and height must be at least {minimum}")
    if width > maximum or height > maximum:
        raise ValueError(f"{what} {width}x{height}: width and height must be at most {maximum}")
    if width % multiple or height % multiple:
        raise ValueError(f"{what} {width}x{height}: width and height must be positive multiples of {multiple}, "
                         f"e.g. {example}")
    return width, height


def options_from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong value types raise ValueError, and
    so do the class's own checks, prefixed with ``where`` (the file and key)."""
    changes = _typed_changes(cls, data, where or cls.__name__)
    return _named(where, lambda: cls(**changes)) if where else cls(**changes)


def _typed_changes(cls: type, data: Mapping[str, Any] | None, label: str) -> dict[str, Any]:
    """``data``'s fields of dataclass ``cls``, each coerced to its type (errors name ``label.key``)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{label}: expected a mapping of options, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{label}: unknown option(s) {unknown}; known options: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    return {name: _field_value(fields[name], hints[name], value, f"{label}.{name}") for name, value in data.items()}


def _field_value(f: dataclasses.Field, hint: Any, value: Any, label: str) -> Any:
    """A nested mapping changes the field's default instance (e.g. ``TrackerOptions.for_model()``),
    not the class's defaults; everything else is coerced to ``hint``."""
    if isinstance(value, Mapping) and dataclasses.is_dataclass(hint) and f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
        if isinstance(default, hint):
            changes = _typed_changes(hint, value, label)
            return _named(label, lambda: dataclasses.replace(default, **changes))
    return _coerce(hint, value, label)


def _named(label: str, build: typing.Callable[[], T]) -> T:
    """``build()``, its dataclass checks' ValueError prefixed with ``label`` (the file and key)."""
    try:
        return build()
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None


def options_from_yaml(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Load ``cls`` from a YAML file (optionally one top-level ``section`` of it)."""
    path = Path(path)
    data = read_yaml(path) or {}
    if section is not None:
        if not isinstance(data, Mapping) or section not in data:
            raise ValueError(f"{path}: expected a top-level '{section}:' section")
        data = data[section]
    return options_from_dict(cls, data, where=f"{path}" + (f" [{section}]" if section else ""))


def read_yaml(path: str | Path, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """The data of a YAML file: ``yaml.safe_load``'s plain data (no Python objects), and no key given
    twice in one mapping (PyYAML keeps the last one silently, so ``seed: 5`` ... ``seed: 7`` would train
    with 7).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: naming the file, for a file over ``max_bytes``, text that is not UTF-8 or
            not valid YAML (the parser's message on one line; nesting deeper than :data:`MAX_YAML_DEPTH`
            included), or data that YAML aliases expand beyond :data:`MAX_YAML_VALUES` values.
    """
    import yaml  # PyYAML: small, only needed when a YAML file is read

    path = Path(path)
    if not path.is_file():
        from mottrack_sdk.io.path_components import special_file_kind

        kind = special_file_kind(path)
        if kind is not None:  # reading a FIFO would wait for a writer; a device never ends
            raise ValueError(f"{path}: is {kind}, expected a YAML file")
        raise FileNotFoundError(f"{path}: file not found" + (" (it is a folder)" if path.is_dir() else ""))
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path}: {size:,} bytes; an options file is at most {max_bytes:,} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason})") from None
    return _load_yaml_text(text, str(path))


def parse_yaml_value(text: str, label: str) -> Any:
    """One command-line value (``--set KEY=VALUE``'s VALUE) read as :func:`read_yaml` reads a file: plain
    data, YAML 1.2 numbers, bounded nesting and alias expansion. ValueError (one line) naming ``label``."""
    if len(text) > MAX_YAML_BYTES:
        raise ValueError(f"{label}: {len(text):,} characters; a value is at most {MAX_YAML_BYTES:,}")
    return _load_yaml_text(text, label)


def _load_yaml_text(text: str, label: str) -> Any:
    import yaml

    if _nesting(text) > MAX_YAML_DEPTH:  # PyYAML composes nesting by recursion: seconds, then RecursionError
        raise ValueError(f"{label}: not valid YAML (nested too deeply)")
    try:
        data = yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValueError(f"{label}: not valid YAML ({' '.join(str(exc).split())[:300]})") from None
    except RecursionError:  # deep nesting that _nesting's cheap count missed
        raise ValueError(f"{label}: not valid YAML (nested too deeply)") from None
    check_expanded_size(data, label)
    return data


def check_expanded_size(data: Any, label: str, limit: int = MAX_YAML_VALUES) -> None:
    """ValueError naming ``label`` when ``data`` (plain lists and dicts) holds more than ``limit`` values
    with every shared list or mapping counted each time it appears: YAML aliases (*name) or pickled
    shared references make a small file stand for 10**9 values, which a walk over it would visit."""
    if _expanded_size(data, limit) > limit:
        raise ValueError(f"{label}: holds more than {limit:,} values once its shared parts (YAML aliases, "
                         "references) are expanded; an options file is far smaller")


def _nesting(text: str) -> int:
    """An upper bound on the nesting depth of YAML ``text``, cheaply: open flow brackets (``[`` / ``{``,
    quoted ones counted too) or the indentation in two-space steps, whichever is deeper."""
    depth = deepest = 0
    for bracket in re.finditer(r"[\[\]{}]", text):
        depth = depth + 1 if bracket.group() in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    indent = max((len(line) - len(line.lstrip(" ")) for line in text.splitlines()), default=0)
    return max(deepest, indent // 2)


# Numbers as YAML 1.2's core schema writes them, not PyYAML's YAML 1.1: "5e-3" is a number (1.1 wants
# "5.0e-3" and reads "5e-3" as a string), while "1:30" (1.1: sexagesimal 90), "0x10", "010" (1.1: octal 8)
# and "1_000" stay strings, which the options' checks refuse by name instead of taking an unexpected
# number. At most 300 characters: a longer run of digits is text (str() of a 5,000-digit int raises).
_INT_TEXT = re.compile(r"^(?=.{1,300}$)[-+]?[0-9]+$")
_FLOAT_TEXT = re.compile(r"^(?=.{1,300}$)(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                         r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_INFINITIES = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}


@functools.cache
def _strict_loader() -> type:
    """:func:`read_yaml`'s loader: ``yaml.SafeLoader`` whose mappings refuse a repeated key, with YAML 1.2
    numbers (``_INT_TEXT`` / ``_FLOAT_TEXT``)."""
    import yaml

    class _StrictLoader(yaml.SafeLoader):
        pass

    int_tag, float_tag = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
    _StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (int_tag, float_tag)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    _StrictLoader.add_implicit_resolver(int_tag, _INT_TEXT, list("-+0123456789"))  # before float: "12" is an int
    _StrictLoader.add_implicit_resolver(float_tag, _FLOAT_TEXT, list("-+0123456789."))

    def number(kind: type) -> Any:
        def construct(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
            text = str(loader.construct_scalar(node))
            try:
                return _INFINITIES[text.lower()] if kind is float and text.lower() in _INFINITIES else kind(text)
            except ValueError:  # an explicit "!!int 0x10"
                raise yaml.constructor.ConstructorError(None, None, f"{_SHORT.repr(text)} is not a decimal "
                                                        f"{kind.__name__}", node.start_mark) from None
        return construct

    _StrictLoader.add_constructor(int_tag, number(int))
    _StrictLoader.add_constructor(float_tag, number(float))

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *base": its keys may be overridden
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: PyYAML refuses it itself
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"key {_SHORT.repr(key)} is given twice",
                                                        key_node.start_mark)
        return loader.construct_mapping(node, deep=True)

    _StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return _StrictLoader


def _expanded_size(root: Any, limit: int) -> int:
    """The number of values in ``root`` with every shared (aliased) list or mapping counted each time
    it appears, up to ``limit + 1`` (also for a structure that contains itself). Iterative, O(distinct
    collections)."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if not isinstance(node, (list, dict)):
            continue
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        key = id(node)
        if finished:
            total = 1 + sum(sizes[id(c)] if isinstance(c, (list, dict)) else 1 for c in children)
            sizes[key] = min(total, limit + 1)
            open_ids.discard(key)
        elif key in open_ids:
            return limit + 1  # it contains itself
        elif key not in sizes:
            open_ids.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children if isinstance(c, (list, dict)))
    return sizes.get(id(root), 1)


def _coerce(hint: Any, value: Any, label: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, label)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"{label}: unexpected value {_SHORT.repr(value)}")
    if dataclasses.is_dataclass(hint):
        return options_from_dict(hint, value, where=label)  # type: ignore[arg-type]
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ValueError(f"{label}: expected one of {list(choices)}, got {_SHORT.repr(value)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{label}: expected a list, got {_SHORT.repr(value)}")
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ValueError(f"{label}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(a, v, label) for a, v in zip(args, value))
        item = args[0] if args else Any
        return origin(_coerce(item, v, label) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{label}: expected true/false, got {_SHORT.repr(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{label}: expected an integer, got {_SHORT.repr(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{label}: expected a number, got {_SHORT.repr(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{label}: expected a string, got {_SHORT.repr(value)}")
        return value
    return value
