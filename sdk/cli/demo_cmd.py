"""`mottrack demo`: the embedded default job, end to end on data the project generates itself.

Generates a synthetic detection-level scene (moving objects, noisy detections, misses, false
positives, occlusions, appearance embeddings), tracks it with and without embeddings, writes
MOTChallenge files and prints TrackEval's HOTA / MOTA / IDF1 against the scene's ground truth.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mottrack_sdk.cli.common import add_tracker_options, positive_int, progress_bar, tracker_options_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate a synthetic scene, track it, and score it (no downloads)")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    p.add_argument("--objects", type=positive_int("--objects"), default=30, help="objects at a time (30)")
    p.add_argument("--frames", type=positive_int("--frames"), default=600, help="frames (600)")
    p.add_argument("--seed", type=int, default=7, help="scene seed (7)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_tracker_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mottrack_sdk.eval import evaluate_mot
    from mottrack_sdk.io import write_json
    from mottrack_sdk.offline import track_scene, write_scene_ground_truth
    from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions

    options = tracker_options_from_args(args)
    scene = DetectionScene(DetectionSceneOptions(num_objects=args.objects, num_frames=args.frames, seed=args.seed))
    seq = "synthetic-01"
    print(f"scene: {args.objects} objects at a time, {args.frames} frames, 1920x1080 @ 30 fps, seed {args.seed}")
    write_scene_ground_truth(scene, args.out / "gt" / seq, seq)
    summary = {}
    for mode, use_emb in (("embeddings", True), ("motion-only", False)):
        with progress_bar(args.frames, f"tracking ({mode})", not args.quiet) as bar:
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
