"""`mottrack synth`: write synthetic MOTChallenge sequences (frames + gt) for training and evaluation.

    mottrack synth --out data/synth --sequences 4 --seed 0 --frames 300 --size 1920x1080 --density 20
    mottrack synth --out data/synth_cam --camera-pan 150 --camera-zoom 0.1 --camera-shake 3   # moving camera

Sequence ``i`` is written to ``<out>/SYNTH-<seed>-<iii>`` with seed ``seed * 10000 + i``, so sets made
with different ``--seed`` values never share a sequence (train on ``--seed 0``, hold out ``--seed 1``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mottrack_sdk import config
from mottrack_sdk.scenes import SceneOptions  # options only: OpenCV and tqdm load when the command runs
from mottrack_sdk.scenes.options import with_flag_names

__all__ = ["register", "run", "parse_size"]

# Flags that map straight onto a SceneOptions field, so its validation error can name the flag.
_FLAGS = {"camera_pan_px": "--camera-pan", "camera_zoom": "--camera-zoom", "camera_shake_px": "--camera-shake",
          "num_frames": "--frames", "density": "--density", "fps": "--fps", "width": "--size", "height": "--size"}


def register(subparsers: Any) -> None:
    """Add the ``synth`` sub-command to ``subparsers`` (an argparse sub-parser action)."""
    defaults = SceneOptions()
    p = subparsers.add_parser("synth", help="write synthetic MOTChallenge sequences",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="root folder; sequences are written as <out>/SYNTH-<seed>-<i>")
    p.add_argument("--sequences", type=int, default=1, help="number of sequences (default 1)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--frames", type=int, default=defaults.num_frames,
                   help=f"frames per sequence (default {defaults.num_frames})")
    p.add_argument("--size", default=f"{defaults.width}x{defaults.height}",
                   help=f"frame size WIDTHxHEIGHT (default {defaults.width}x{defaults.height})")
    p.add_argument("--density", type=int, default=defaults.density,
                   help=f"people in the scene at a time (default {defaults.density})")
    p.add_argument("--fps", type=int, default=defaults.fps, help=f"frame rate (default {defaults.fps})")
    p.add_argument("--camera-pan", type=float, default=defaults.camera_pan_px, metavar="PX_PER_S",
                   help="camera pan speed in px/s at 1080 rows, slowly changing direction (default 0: static)")
    p.add_argument("--camera-zoom", type=float, default=defaults.camera_zoom, metavar="AMPLITUDE",
                   help="slow zoom oscillation amplitude, e.g. 0.1 = +-10%% (default 0)")
    p.add_argument("--camera-shake", type=float, default=defaults.camera_shake_px, metavar="PX",
                   help="per-frame camera jitter std in px at 1080 rows (default 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    """``"1920x1080"`` -> ``(1920, 1080)``, any frame size of at least 32x32; ``ValueError`` naming ``--size``."""
    return config.parse_size(text, "--size", minimum=32, example="1920x1080")


def run(args: argparse.Namespace) -> int:
    """Validate the arguments, write the sequences with a progress bar, print where they went."""
    from tqdm import tqdm

    from mottrack_sdk.io.output_paths import check_output_folder, removed_if_left_empty
    from mottrack_sdk.scenes import sequence_name, sequence_seed, write_sequence

    if args.sequences < 1 or args.sequences > 9999:
        raise ValueError(f"--sequences must be in [1, 9999], got {args.sequences}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    if args.density < 0:
        raise ValueError(f"--density must be >= 0, got {args.density}")
    if args.fps < 1:
        raise ValueError(f"--fps must be >= 1, got {args.fps}")
    width, height = parse_size(args.size)
    try:
        base = SceneOptions(width=width, height=height, num_frames=args.frames, density=args.density,
                            fps=args.fps, camera_pan_px=args.camera_pan, camera_zoom=args.camera_zoom,
                            camera_shake_px=args.camera_shake)
    except ValueError as exc:  # e.g. a size beyond the generator's limits
        raise with_flag_names(exc, _FLAGS) from None
    last_seed = sequence_seed(args.seed, args.sequences - 1)  # the largest: checked before anything is written
    if last_seed > 2**63 - 1:
        raise ValueError(f"--seed: expected at most {(2**63 - 1 - (args.sequences - 1)) // 10000} with --sequences "
                         f"{args.sequences} (sequence seeds are seed * 10000 + i, at most 2**63 - 1), got {args.seed}")
    check_output_folder(args.out, "--out")
    for i in range(args.sequences):  # a sequence may replace an earlier one, never a file
        seq_dir = Path(args.out) / sequence_name(args.seed, i)
        if seq_dir.exists():
            check_output_folder(seq_dir, "--out (its sequence folder)")
    try:  # a failed first sequence leaves no empty --out folder
        with removed_if_left_empty(args.out), tqdm(total=args.sequences * args.frames, unit="frame", desc="synth",
                                                   disable=args.no_progress) as bar:
            for i in range(args.sequences):
                options = base.with_changes(seed=sequence_seed(args.seed, i))
                seq_dir = write_sequence(args.out, options, sequence_name(args.seed, i),
                                         on_frame=lambda _frame: bar.update(1))
                bar.write(f"wrote {seq_dir}")
    except KeyboardInterrupt:  # the sequence being written is removed; the finished ones stay
        print("\nstopped: the sequences listed above are complete", file=sys.stderr)
        return 130
    except MemoryError:  # the sequence being written is removed; the finished ones stay
        raise ValueError(f"--size {width}x{height} with --density {args.density}: not enough memory to render a "
                         "frame; use a smaller --size or --density") from None
    return 0
