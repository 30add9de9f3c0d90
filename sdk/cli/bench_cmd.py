"""`mottrack bench`: end-to-end FPS and per-stage latency (p50/p90/p99) per backend, precision and size.

Models have a static input size, so each size needs its own model: ``--model`` takes files or folders
(repeatable; every ``.onnx`` / ``.engine`` / ``.plan`` / ``.torchscript`` inside), each benchmarked at
its own size; ``--sizes`` keeps the sizes listed (and says which have no model). ``--interleave N``
makes several models take turns in blocks of N frames (order flipped every round), so that a shared
machine's slow and fast phases fall on all of them alike; each record then gives ``ratio_to_first``. Without ``--model``
the shipped default model(s) are used. A TorchScript model of the same size gives the ``ratio_to_torch_fp32``
column. Prints a table, writes ``--json`` (a list of records: backend, precision, size, fps, ms:
stage -> {p50, p90, p99, mean}, ...) and a ``--plot`` PNG.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mottrack_sdk.cli.common import add_tracker_options, positive_int, progress_bar, tracker_request
from mottrack_sdk.cli.model_args import add_onnxruntime_cpu_options
from mottrack_sdk.config import parse_size
from mottrack_sdk.scenes.options import SceneOptions, with_flag_names

MODEL_SUFFIXES = (".onnx", ".engine", ".plan", ".torchscript")
MAX_RUN_FRAMES = 10**6  # --warmup + --frames (frames are rendered once and replayed: benchmark.POOL_PIXELS)
_SCENE_FLAGS = {"density": "--tracks", "width": "--frame-size", "height": "--frame-size"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="end-to-end FPS and per-stage latency of the frame pipeline",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("--model", type=Path, action="append", default=[], metavar="PATH",
                   help="model file or folder of models (repeatable); default: the shipped model(s)")
    p.add_argument("--backend", default="auto", help="auto (by model), onnxruntime, tensorrt or torch")
    p.add_argument("--sizes", default=None, metavar="WxH,...", help="keep these sizes, e.g. 1088x608,864x480,576x320")
    p.add_argument("--threads", type=int, default=2, metavar="N", help="CPU threads per backend (default 2)")
    add_onnxruntime_cpu_options(p)
    p.add_argument("--cmc", choices=["auto", "off", "sparse_flow", "ecc"], default="auto",
                   help="camera-motion compensation (as `mottrack track --cmc`; timed as its own stage)")
    p.add_argument("--frames", type=positive_int("--frames"), default=100, help="timed frames per configuration (100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed frames first (10)")
    p.add_argument("--interleave", type=int, default=0, metavar="N",
                   help="models take turns in blocks of N timed frames (order flipped every round), for "
                        "comparisons on a busy or phase-changing machine; 0 (default): one model after the other")
    p.add_argument("--tracks", type=positive_int("--tracks"), default=50, help="people in the synthetic scene (50)")
    p.add_argument("--detections", choices=["auto", "model", "scene"], default="auto",
                   help="'scene': replace the network's outputs with the scene's ground truth (the network still "
                        "runs and is timed), for random-weight models; auto: scene for random-init models")
    p.add_argument("--frame-size", default="1920x1080", metavar="WxH", help="synthetic frame size (1920x1080)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the records as JSON (checked first)")
    p.add_argument("--plot", type=Path, default=None, metavar="FILE.png", help="write a PNG chart")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_tracker_options(p)
    p.set_defaults(func=run)


def find_models(paths: list[Path]) -> list[Path]:
    """Model files from files and folders (sorted, suffixes :data:`MODEL_SUFFIXES`)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in MODEL_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"--model {path}: not found")
    if not found:
        raise FileNotFoundError(f"--model {', '.join(map(str, paths))}: no models ({', '.join(MODEL_SUFFIXES)})")
    return found


def _default_models() -> list[Path]:
    from mottrack_sdk.detector import default_model_path

    folder = default_model_path().parent
    models = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    if not models:
        default_model_path(must_exist=True)  # raises the "not shipped yet, pass --model" error
    return models


def _detections(tracker: Any, wanted: str) -> str:
    """``--detections`` for one model: ``auto`` is ``scene`` for random-init weights, else ``model``."""
    if wanted != "auto":
        return wanted
    return "scene" if tracker.detector.metadata.weights_sha256 == "random-init" else "model"


def run(args: argparse.Namespace) -> int:
    from mottrack_sdk.benchmark import (BenchFrames, add_torch_ratios, plot_records, records_table, run_benchmark,
                                        run_interleaved)
    from mottrack_sdk.io import write_json
    from mottrack_sdk.machine import cpu_info
    from mottrack_sdk.tracker import Tracker

    from mottrack_sdk.cli.model_args import backend_options_from_args
    from mottrack_sdk.io.output_paths import check_output_file

    if args.json is not None:  # before any model loads or frame renders
        check_output_file(args.json, "--json")
    if args.plot is not None:
        check_output_file(args.plot, "--plot", suffixes=(".png",))
    models = find_models(args.model) if args.model else _default_models()
    wanted = [parse_size(s, "--sizes") for s in args.sizes.split(",")] if args.sizes else None
    frame_size = parse_size(args.frame_size, "--frame-size", example="1920x1080")
    if args.warmup < 0:
        raise ValueError(f"--warmup: expected >= 0, got {args.warmup}")
    if args.warmup + args.frames > MAX_RUN_FRAMES:
        raise ValueError(f"--warmup + --frames: expected at most {MAX_RUN_FRAMES:,} frames, got "
                         f"{args.warmup} + {args.frames}")
    try:  # the scene's limits, before any model loads
        SceneOptions(width=frame_size[0], height=frame_size[1], density=args.tracks)
    except ValueError as exc:
        raise with_flag_names(exc, _SCENE_FLAGS) from None
    if args.interleave < 0:
        raise ValueError(f"--interleave: expected a block of >= 1 frames (or 0: off), got {args.interleave}")
    options, changes = tracker_request(args)
    trackers = []
    for model in models:  # open every model first: errors before the long part
        tracker = Tracker(options, **changes, model=model, backend=args.backend, cmc=args.cmc,
                          backend_options=backend_options_from_args(args, model))
        size = tuple(tracker.load_model().input_size)
        if wanted is not None and size not in wanted:
            print(f"skip {model} ({size[0]}x{size[1]} not in --sizes)")
            tracker.close()
            continue
        trackers.append(tracker)
    if wanted is not None:
        have = {tuple(t.detector.input_size) for t in trackers}
        for w, h in wanted:
            if (w, h) not in have:
                print(f"no model for {w}x{h}: export one with `mottrack export --size {w}x{h}` and pass it with --model")
    if not trackers:
        raise ValueError("nothing to benchmark: no model matches --sizes")
    per_config = args.warmup + args.frames
    try:
        with progress_bar(BenchFrames.pool_size(per_config, frame_size), "rendering frames", not args.quiet) as bar:
            frames = BenchFrames.render(per_config, args.tracks, frame_size, progress=bar.update)
    except MemoryError:
        raise ValueError(f"--frame-size {frame_size[0]}x{frame_size[1]}: not enough memory to render the synthetic "
                         "frames; use a smaller --frame-size") from None
    modes = [_detections(t, args.detections) for t in trackers]
    if args.interleave and len(trackers) > 1:
        with progress_bar(per_config * len(trackers), f"{len(trackers)} models interleaved", not args.quiet) as bar:
            records = run_interleaved(trackers, frames, args.frames, args.warmup, modes, args.interleave,
                                      progress=bar.update)
        for tracker in trackers:
            tracker.close()
    else:
        records = []
        for tracker, mode in zip(trackers, modes):
            detector = tracker.detector
            label = (f"{detector.backend.name} {detector.metadata.precision} "
                     f"{detector.input_size[0]}x{detector.input_size[1]}")
            with progress_bar(per_config, label, not args.quiet) as bar:
                records.append(run_benchmark(tracker, frames, args.frames, args.warmup, mode, progress=bar.update))
            tracker.close()
    add_torch_ratios(records)
    print(records_table(records))
    if args.interleave and len(records) > 1:
        print(f"interleaved in blocks of {args.interleave} frames; median block-time ratio to the first model: "
              + ", ".join(f"{Path(r.model).name or r.size} {r.extra['interleaved']['ratio_to_first']:.3f}"
                         for r in records))
    print(f"machine: {cpu_info().summary()}")
    if args.json is not None:
        write_json(args.json, [r.to_json() for r in records])
        print(f"wrote {args.json}")
    if args.plot is not None:
        plot_records(records, args.plot)
        print(f"wrote {args.plot}")
    return 0
