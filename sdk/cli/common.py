"""Argument helpers shared by the runtime commands."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from mottrack_sdk.config import options_from_dict, parse_yaml_value, read_yaml, short_repr
from mottrack_sdk.tracking.options import TrackerOptions, keyword_changes

_MAX_CONFIG_BYTES = 1 << 16  # a --tracker-config file is a short mapping


def add_tracker_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("tracker options")
    g.add_argument("--tracker-config", type=Path, metavar="YAML",
                   help="YAML file of TrackerOptions fields to change (unknown keys are errors); merged like "
                        "--set: the model's validated settings stay for every other field")
    g.add_argument("--set", dest="tracker_set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one TrackerOptions field, e.g. --set det_thresh=0.4 (repeatable; wins over "
                        "--tracker-config)")


def tracker_request(args: argparse.Namespace) -> tuple[TrackerOptions | None, dict[str, Any]]:
    """``(None, changes)`` for ``Tracker(None, **changes)``: the fields of the ``--tracker-config``
    file, then the ``--set`` changes on top, checked by name and value here. The options stay None
    so that a model's validated ``tracker_defaults`` still apply to every field not changed."""
    changes = tracker_config_changes(args.tracker_config) if args.tracker_config else {}
    changes.update(tracker_changes(args.tracker_set, "--set", changes))
    return None, changes


def tracker_config_changes(path: Path) -> dict[str, Any]:
    """The TrackerOptions fields set in the YAML file ``path`` (a mapping; unknown keys and bad values
    are errors naming the file), as typed values. Read by :func:`read_yaml`, capped at a short mapping's
    size."""
    where = f"--tracker-config {path}"
    if not Path(path).is_file():
        raise FileNotFoundError(f"{where}: " + ("is a folder (expected a YAML file)" if Path(path).is_dir()
                                                else "file not found"))
    try:
        data = read_yaml(path, max_bytes=_MAX_CONFIG_BYTES) or {}
    except ValueError as exc:  # its message starts with the file
        raise ValueError(f"--tracker-config {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of TrackerOptions fields, got {type(data).__name__}")
    return _checked(data, where)


def tracker_changes(items: list[str], flag: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``["det_thresh=0.6", ...]`` -> ``{"det_thresh": 0.6}`` (values parsed as YAML), checked against
    :class:`TrackerOptions` (names and values, on top of the changes ``base``); errors name ``flag``."""
    changes: dict[str, Any] = {}
    if not items:
        return changes
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag}: expected KEY=VALUE, got {short_repr(item)}")
        changes[key.strip()] = parse_yaml_value(value, f"{flag} {key.strip()[:40]}")
    checked = _checked({**(base or {}), **changes}, flag)
    return {k: checked[k] for k in changes}


def _checked(changes: dict[str, Any], where: str) -> dict[str, Any]:
    """``changes`` validated on top of ``TrackerOptions()`` (names and values; the combination too),
    returned with their typed values (an integer YAML value for a float field becomes a float)."""
    known = TrackerOptions.__dataclass_fields__
    unknown = sorted(str(k)[:40] for k in set(changes) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown tracker option(s) {unknown}; known: {sorted(known)}")
    for key, value in changes.items():  # every field is a scalar (and a nested YAML alias bomb is never expanded)
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise ValueError(f"{where}: {key}: expected a number, true/false or null, got a {type(value).__name__}")
    defaults = TrackerOptions()
    merged = {f: getattr(defaults, f) for f in known}
    try:  # validates the values, with det_quantile as Tracker(**changes) would take it
        options = options_from_dict(TrackerOptions, {**merged, **keyword_changes(changes)}, where=where)
    except ValueError as exc:
        raise ValueError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
    return {k: getattr(options, k) for k in changes}


def tracker_options_from_args(args: argparse.Namespace) -> TrackerOptions:
    """The full :class:`TrackerOptions` of the arguments (for commands without a model), taken as
    ``Tracker(**changes)`` takes them: a ``det_thresh`` or ``crowd_drop`` without ``det_quantile``
    means fixed thresholds."""
    base, changes = tracker_request(args)
    base = base or TrackerOptions()
    return base.replace(**keyword_changes(changes)) if changes else base


def progress_bar(total: int, desc: str, enabled: bool = True) -> Any:
    """A tqdm bar on stderr (disabled with --quiet)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not enabled, leave=False, dynamic_ncols=True)


def positive_int(name: str) -> Callable[[str], int]:
    """An argparse ``type=`` for whole numbers >= 1; argparse names the flag (``argument NAME: ...``)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
        return value
    parse.__name__ = name  # what argparse shows for a type error it raises itself
    return parse
