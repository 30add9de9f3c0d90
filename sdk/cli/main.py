"""`mottrack` entry point: one argparse tree, sub-commands registered by modules and plugins.

Each runtime command module under ``mottrack_sdk.cli`` exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (``args -> int`` exit code). Components that the runtime must never
import (training, export, calibration) contribute their commands through the ``mottrack.commands``
entry-point group; they are loaded only when the CLI starts, never by ``import mottrack_sdk``.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys
import warnings
from importlib.metadata import entry_points

from mottrack_sdk._version import __version__

# Runtime command modules, in the order `mottrack --help` lists them.
_RUNTIME_COMMANDS = ("track_cmd", "track_dets_cmd", "eval_cmd", "bench_cmd", "demo_cmd", "synth_cmd")


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mottrack", description="Real-time multi-object tracking SDK")
    parser.add_argument("--version", action="version", version=f"mottrack-sdk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _RUNTIME_COMMANDS:
        try:
            module = importlib.import_module(f"mottrack_sdk.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"mottrack_sdk.cli.{name}":
                continue  # command not part of this build
            raise
        module.register(sub)
    for ep in entry_points(group="mottrack.commands"):
        try:
            register = ep.load()
        except ImportError as exc:  # e.g. the [train] extra (torch) is not installed
            _add_unavailable(sub, ep.name, exc)
            continue
        register(sub)
    return parser


def _add_unavailable(sub: argparse._SubParsersAction, name: str, exc: ImportError) -> None:
    def fail(_args: argparse.Namespace) -> int:
        raise CliError(f"'{name}' commands need an optional dependency that is missing ({exc}); "
                       f"install the matching extra, e.g. pip install 'mottrack-sdk[train,export]'")
    p = sub.add_parser(name, help=f"(unavailable: {exc.name or exc})")
    p.set_defaults(func=fail)


_NEGATIVE_SIZE = re.compile(r"^-(\d+(\.\d*)?|\.\d+)[x,]")  # "-32x64", "-1,2": a size or a list, never an option


def _attach_negative_sizes(argv: list[str]) -> list[str]:
    """``--size -32x64`` as ``--size=-32x64`` (and a list such as ``--mix -1,2`` as ``--mix=-1,2``):
    argparse takes a value starting with '-' for an option and says only "expected one argument";
    attached, the value reaches the flag's own check, which names the flag and says why -32 is refused."""
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NEGATIVE_SIZE.match(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:
    """Warnings on a terminal as one line (``warning: ...``), not the library's file, line and code."""
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    previous = warnings.formatwarning  # restored: main() may run inside another program (tests, notebooks)
    warnings.formatwarning = _one_line_warning
    try:
        return _run(argv)
    finally:
        warnings.formatwarning = previous


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(_attach_negative_sizes(sys.argv[1:] if argv is None else list(argv)))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (CliError, ValueError, OSError, ImportError) as exc:  # ImportError: a missing optional runtime
        # (TensorRT, OpenVINO); OSError: a path the system refuses (a file where a folder must go, no
        # permission, a full disk), whose message names the path
        print(f"mottrack {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"mottrack {args.command}: error: out of memory (the input or the options ask for more than "
              "this machine has)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
