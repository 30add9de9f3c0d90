"""`mottrack demo`: the embedded default job, end to end on data the project generates itself.

With a detection model (the shipped CSTrack-nano default model, or ``--model``): renders the default
synthetic image scene (people walking, 1920x1080) as a MOTChallenge sequence, tracks it frame by frame
with ``Tracker.update``, writes the annotated video and the MOT results, prints TrackEval's HOTA / MOTA /
IDF1 against the scene's ground truth and the per-stage FPS table.

Without a model (this build ships none yet) or with ``--detection-level``: the detection-level demo, a
synthetic scene of noisy detections with appearance embeddings tracked with and without embeddings.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.cli.common import (add_tracker_options, positive_int, progress_bar, tracker_options_from_args,
                                     tracker_request)
from mottrack_sdk.cli.model_args import add_model_options, backend_options_from_args
from mottrack_sdk.scenes.options import with_flag_names

# Option fields -> the flags that set them, so that a refused value names what the user typed.
_SCENE_FLAGS = {"density": "--objects", "num_frames": "--frames", "seed": "--seed", "width": "--frame-size",
                "height": "--frame-size"}
_DETECTION_FLAGS = {"num_objects": "--objects", "num_frames": "--frames", "seed": "--seed"}
# The detection-level demo keeps every row (ground truth, two tracking runs, their evaluation): about
# 200 bytes per object and frame on top of ~115 MB (measured peak: 474 MB, 83 s at 300 x 6000).
MAX_OBJECT_FRAMES = 2_000_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate a synthetic scene, track it, and score it (no downloads)")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    p.add_argument("--objects", type=positive_int("--objects"), default=None,
                   help="people / objects at a time (video demo 20, detection-level 30)")
    p.add_argument("--frames", type=positive_int("--frames"), default=None,
                   help="frames (video demo 150, the default scene's length; detection-level 600)")
    p.add_argument("--seed", type=int, default=7, help="scene seed (7)")
    p.add_argument("--frame-size", default="1920x1080", metavar="WxH", help="video demo frame size (1920x1080)")
    p.add_argument("--detection-level", action="store_true",
                   help="run the detection-level demo (no model, no images) even when a model is available")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_model_options(p, "detection model for the video demo (default: the shipped CSTrack-nano model)")
    add_tracker_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mottrack_sdk.detector import default_model_path

    if args.detection_level:
        return run_detection_level(args)
    model = args.model
    if model is None:
        if not default_model_path().is_file():
            print(f"note: no detection model is shipped in this build yet ({default_model_path().name}); running the "
                  "detection-level demo instead. For the video demo pass one: mottrack demo --model cstrack_s.onnx\n")
            return run_detection_level(args)
        model = default_model_path()
    elif not Path(model).exists():
        raise FileNotFoundError(f"--model {model}: file not found")
    return run_video(args, Path(model))


def run_video(args: argparse.Namespace, model: Path) -> int:
    from mottrack_sdk.benchmark import BenchRecord, records_table
    from mottrack_sdk.config import parse_size
    from mottrack_sdk.cli.track_cmd import track_source
    from mottrack_sdk.eval import evaluate_mot
    from mottrack_sdk.io import write_json
    from mottrack_sdk.io.frame_sources import open_frame_source
    from mottrack_sdk.machine import cpu_info
    from mottrack_sdk.scenes import SceneOptions, write_sequence
    from mottrack_sdk.tracker import Tracker

    width, height = parse_size(args.frame_size, "--frame-size", example="1920x1080")
    default = SceneOptions()  # the default synthetic scene: 150 frames, 20 people, 1920x1080 @ 30 fps
    frames = args.frames or default.num_frames
    try:
        scene = default.with_changes(width=width, height=height, num_frames=frames, seed=args.seed,
                                     density=args.objects or default.density)
    except ValueError as exc:
        raise with_flag_names(exc, _SCENE_FLAGS) from None
    options, changes = tracker_request(args)
    tracker = Tracker(options, **{"frame_rate": float(scene.fps), **changes}, model=model, backend=args.backend, cmc=args.cmc, backend_options=backend_options_from_args(args, model))
    print(f"model: {tracker.load_model().describe()}")
    seq = "SYNTH-demo"
    gt_root, results = args.out / "gt", args.out / "results"
    print(f"scene: {scene.density} people, {frames} frames, {width}x{height} @ {scene.fps} fps, seed {args.seed}")
    with progress_bar(frames, "rendering scene", not args.quiet) as bar:
        write_sequence(gt_root, scene, seq, on_frame=lambda _: bar.update(1))
    summary = track_source(tracker, open_frame_source(gt_root / seq), results, seq, args.out / f"{seq}.mp4",
                           quiet=args.quiet)
    result = evaluate_mot(gt_root, results)
    print("\n" + result.table())
    md = tracker.detector.metadata
    record = BenchRecord(tracker.detector.backend.name, md.precision, f"{md.input_size[0]}x{md.input_size[1]}",
                         summary["pipeline_fps"], summary["ms"], frames=summary["frames"],
                         layout=md.output_layout, tracks_mean=summary["tracks_per_frame_mean"],
                         machine=cpu_info().to_json())
    record.ratio_to_paper = round(record.fps / 34.6, 3)
    record.outside_network_share = round(1 - summary["ms"]["inference"]["mean"] / summary["ms"]["total"]["mean"], 4)
    print("\n" + records_table([record]))
    print(f"machine: {cpu_info().summary()}")
    write_json(args.out / "summary.json", {"model": summary["model"], "metrics": result.combined,
                                           "timings": summary, "fps_table": record.to_json()})
    print(f"\nwrote {args.out / (seq + '.mp4')}, {results / (seq + '.txt')}, {gt_root / seq}, {args.out / 'summary.json'}")
    return 0


def run_detection_level(args: argparse.Namespace) -> int:
    from mottrack_sdk.eval import evaluate_mot
    from mottrack_sdk.io import write_json
    from mottrack_sdk.offline import track_scene, write_scene_ground_truth
    from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions

    objects, frames = args.objects or 30, args.frames or 600
    options = tracker_options_from_args(args)
    try:
        scene = DetectionScene(DetectionSceneOptions(num_objects=objects, num_frames=frames, seed=args.seed))
    except ValueError as exc:
        raise with_flag_names(exc, _DETECTION_FLAGS) from None
    if objects * frames > MAX_OBJECT_FRAMES:
        raise ValueError(f"--objects {objects} x --frames {frames} = {objects * frames:,} object-frames: expected at "
                         f"most {MAX_OBJECT_FRAMES:,} (the demo keeps every row in memory)")
    seq = "synthetic-01"
    print(f"scene: {objects} objects at a time, {frames} frames, 1920x1080 @ 30 fps, seed {args.seed}")
    write_scene_ground_truth(scene, args.out / "gt" / seq, seq)
    summary: dict[str, Any] = {}
    for mode, use_emb in (("embeddings", True), ("motion-only", False)):
        with progress_bar(frames, f"tracking ({mode})", not args.quiet) as bar:
            run_ = track_scene(scene, options, use_embeddings=use_emb, progress=bar.update)
        run_.write(args.out / "results" / mode / f"{seq}.txt")
        result = evaluate_mot(args.out / "gt", args.out / "results" / mode)
        ms = run_.frame_ms
        print(f"\n== {mode}: tracker {np.median(ms):.3f} ms/frame median, {np.percentile(ms, 99):.3f} ms p99 ==")
        print(result.table())
        summary[mode] = {"metrics": result.combined, "tracker_ms_median": float(np.median(ms)),
                         "tracker_ms_p99": float(np.percentile(ms, 99))}
    write_json(args.out / "summary.json", summary)
    print(f"\nwrote {args.out}/results/*/{seq}.txt, {args.out}/gt/{seq}, {args.out}/summary.json")
    return 0
