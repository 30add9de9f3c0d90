"""`mottrack` sub-commands contributed by ``mottrack_training`` (entry-point group ``mottrack.commands``).

``register(subparsers)`` adds:

- ``model-info --config NAME|PATH [--size WxH] [--json FILE]``: parameters and GFLOPs (2·MACs) per
  block (backbone, neck, REN, SAAN, Detect) and in total; the JSON has ``params`` (int), ``gflops``
  (float) and ``blocks`` (name -> {params, gflops}).

(``train`` will join here.) This module imports neither torch nor the model at import time: the main
CLI loads every plugin's ``register`` on start-up, and ``mottrack --help`` must stay fast.
Bad input raises ``ValueError``, which the main CLI prints as one line (exit code 2).
"""
from __future__ import annotations

import argparse

DEFAULT_SIZE = "1088x608"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the training component's commands to the ``mottrack`` argument parser."""
    info = subparsers.add_parser(
        "model-info",
        help="parameters and GFLOPs of a CSTrack network, per block",
        description="Print parameters and GFLOPs (2 x MACs of conv/linear/matmul, batch 1) of a CSTrack "
                    "network per block (backbone, neck, REN, SAAN, Detect) and in total.",
    )
    info.add_argument("--config", default="cstrack_s",
                      help="a shipped model config (cstrack, cstrack_s) or a path to a YAML file "
                           "(default: %(default)s)")
    info.add_argument("--size", default=DEFAULT_SIZE,
                      help="input WIDTHxHEIGHT in pixels, multiples of 32 (default: %(default)s)")
    info.add_argument("--json", metavar="FILE", default=None, help="also write the numbers to FILE (JSON)")
    info.set_defaults(func=run_model_info)


def parse_size(text: str) -> tuple[int, int]:
    """``"1088x608"`` -> (1088, 608) as (width, height); ``ValueError`` on anything else."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--size must look like WIDTHxHEIGHT (e.g. {DEFAULT_SIZE}), got {text!r}")
    width, height = (int(p) for p in parts)
    if width <= 0 or height <= 0 or width % 32 or height % 32:
        raise ValueError(f"--size {width}x{height}: width and height must be positive multiples of 32")
    return width, height


def run_model_info(args: argparse.Namespace) -> int:
    """Build the model on the ``meta`` device (no weights allocated), count, print, optionally save."""
    width, height = parse_size(args.size)
    import torch

    from mottrack_training.model.complexity import measure_complexity
    from mottrack_training.model.cstrack import build_model

    with torch.device("meta"):
        model = build_model(args.config)
    complexity = measure_complexity(model, width, height)
    print(complexity.format_table())
    if args.json:
        from mottrack_sdk.io import write_json

        write_json(args.json, complexity.to_json())
        print(f"wrote {args.json}")
    return 0
