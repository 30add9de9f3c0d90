"""Typed options from plain mappings and YAML files, with errors that name the bad key.

Every options class in the project is a dataclass; :func:`options_from_dict` builds one from a
mapping (nested dataclasses included) and refuses unknown keys, so a typo in a YAML file is an
error instead of a silently ignored setting. A nested mapping lists changes over the field's own
default (``field(default_factory=...)``), so a partial section keeps every default it does not name.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

T = TypeVar("T")

__all__ = ["MAX_SIDE", "options_from_dict", "options_from_yaml", "parse_size", "read_yaml"]

MAX_SIDE = 8192  # the largest image or network side parse_size accepts (8K video is 7680x4320)


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
            raise ValueError(f"{what} must look like WIDTHxHEIGHT (e.g. {example}), got {value!r}")
        width, height = (int(p) for p in parts)
    else:
        try:
            items = list(value)
            if len(items) != 2 or any(isinstance(v, bool) or int(v) != v for v in items):
                raise ValueError
            width, height = (int(v) for v in items)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{what} must be WIDTHxHEIGHT or (width, height) integers, got {value!r}") from None
    if width < minimum or height < minimum:
        raise ValueError(f"{what} {width}x{height}: width and height must be at least {minimum}")
    if width > maximum or height > maximum:
        raise ValueError(f"{what} {width}x{height}: width and height must be at most {maximum}")
    if width % multiple or height % multiple:
        raise ValueError(f"{what} {width}x{height}: width and height must be positive multiples of {multiple}, "
                         f"e.g. {example}")
    return width, height


def options_from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong value types raise ValueError."""
    return cls(**_typed_changes(cls, data, where or cls.__name__))


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
            return dataclasses.replace(default, **_typed_changes(hint, value, label))
    return _coerce(hint, value, label)


def options_from_yaml(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Load ``cls`` from a YAML file (optionally one top-level ``section`` of it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"options file {path} does not exist")
    data = read_yaml(path) or {}
    if section is not None:
        if not isinstance(data, Mapping) or section not in data:
            raise ValueError(f"{path}: expected a top-level '{section}:' section")
        data = data[section]
    return options_from_dict(cls, data, where=f"{path}" + (f" [{section}]" if section else ""))


def read_yaml(path: str | Path) -> Any:
    """The data of a YAML file (``yaml.safe_load``: plain data only, no Python objects).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: naming the file, for text that is not UTF-8 or not valid YAML (the parser's
            message on one line).
    """
    import yaml  # PyYAML: small, only needed when a YAML file is read

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None


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
        raise ValueError(errors[0] if errors else f"{label}: unexpected value {value!r}")
    if dataclasses.is_dataclass(hint):
        return options_from_dict(hint, value, where=label)  # type: ignore[arg-type]
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ValueError(f"{label}: expected one of {list(choices)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{label}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ValueError(f"{label}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(a, v, label) for a, v in zip(args, value))
        item = args[0] if args else Any
        return origin(_coerce(item, v, label) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{label}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{label}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{label}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{label}: expected a string, got {value!r}")
        return value
    return value
