"""Argument helpers shared by the runtime commands."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from mottrack_sdk.config import options_from_dict, options_from_yaml
from mottrack_sdk.tracking.options import TrackerOptions


def add_tracker_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("tracker options")
    g.add_argument("--tracker-config", type=Path, metavar="YAML",
                   help="YAML file of TrackerOptions fields (unknown keys are errors)")
    g.add_argument("--set", dest="tracker_set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one TrackerOptions field, e.g. --set det_thresh=0.4 (repeatable)")


def tracker_request(args: argparse.Namespace) -> tuple[TrackerOptions | None, dict[str, Any]]:
    """``(options, changes)`` for ``Tracker(options, **changes)``: the ``--tracker-config`` file (None
    without one, so the model's validated ``tracker_defaults`` apply) and the ``--set`` changes,
    checked by name here."""
    base = options_from_yaml(TrackerOptions, args.tracker_config) if args.tracker_config else None
    return base, tracker_changes(args.tracker_set, "--set", base)


def tracker_changes(items: list[str], flag: str, base: TrackerOptions | None = None) -> dict[str, Any]:
    """``["det_thresh=0.6", ...]`` -> ``{"det_thresh": 0.6}`` (values parsed as YAML), checked against
    :class:`TrackerOptions` (names and values, on top of ``base``); errors name ``flag``."""
    changes: dict[str, Any] = {}
    if not items:
        return changes
    import yaml

    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag}: expected KEY=VALUE, got {item!r}")
        changes[key.strip()] = yaml.safe_load(value)
    known = TrackerOptions.__dataclass_fields__
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ValueError(f"{flag}: unknown tracker option(s) {unknown}; known: {sorted(known)}")
    merged = {f: getattr(base or TrackerOptions(), f) for f in known}
    options_from_dict(TrackerOptions, {**merged, **changes}, where=flag)  # validates the values
    return changes


def tracker_options_from_args(args: argparse.Namespace) -> TrackerOptions:
    """The full :class:`TrackerOptions` of the arguments (for commands without a model)."""
    base, changes = tracker_request(args)
    base = base or TrackerOptions()
    return base.replace(**changes) if changes else base


def progress_bar(total: int, desc: str, enabled: bool = True) -> Any:
    """A tqdm bar on stderr (disabled with --quiet)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not enabled, leave=False, dynamic_ncols=True)


def positive_int(name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: expected a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name}: expected a number >= 1, got {value}")
        return value
    return parse
