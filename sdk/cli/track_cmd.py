"""`mottrack track SOURCE`: frames in (video, images, MOTChallenge sequence, camera, stream), tracks out.

Writes ``OUT/<name>.txt`` (MOTChallenge results), optionally ``OUT/<name>.mp4`` (boxes, IDs and short
trails; written atomically) and ``OUT/<name>.summary.json``; shows a progress bar with the live FPS of
the pipeline and ends with a summary: frames, tracks, ms per stage.
"""
from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.cli.common import add_tracker_options, positive_int, progress_bar, tracker_request
from mottrack_sdk.cli.model_args import add_model_options, backend_options_from_args, resolve_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("track", help="track objects in a video, image folder, MOTChallenge sequence, camera or stream",
                       description="Runs Tracker.update(frame) on every frame of SOURCE and writes MOTChallenge "
                                   "results (and optionally an annotated video).")
    p.add_argument("source", metavar="SOURCE",
                   help="video file, image folder, MOTChallenge sequence folder, camera index (0) or stream URL")
    add_model_options(p)
    p.add_argument("--out", type=Path, default=Path("out/track"), help="output folder (default: out/track)")
    p.add_argument("--name", default=None, help="output file stem (default: from SOURCE)")
    p.add_argument("--save-video", action="store_true", help="also write OUT/<name>.mp4 with boxes, IDs and trails")
    p.add_argument("--max-frames", type=positive_int("--max-frames"), default=None, metavar="N",
                   help="stop after N frames (cameras and streams run until interrupted otherwise)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tracker_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mottrack_sdk.io.frame_sources import open_frame_source
    from mottrack_sdk.tracker import Tracker

    model = resolve_model(args.model)
    options, changes = tracker_request(args)
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out}: exists and is not a folder")
    source = open_frame_source(args.source, args.max_frames)
    if source.fps:
        changes = {"frame_rate": float(source.fps), **changes}
    tracker = Tracker(options, **changes, model=model, backend=args.backend, backend_options=backend_options_from_args(args, model))
    print(f"source: {source.description}\nmodel: {tracker.load_model().describe()}")  # model errors come first
    name = args.name or source.name
    track_source(tracker, source, args.out, name, args.out / f"{name}.mp4" if args.save_video else None, args.quiet)
    return 0


def track_source(tracker: Any, source: Any, out: Path, name: str, video: Path | None = None, quiet: bool = False,
                 rgb: bool = False) -> dict:
    """Track every frame of ``source`` (a FrameReader); write ``out/<name>.txt``, ``out/<name>.summary.json``
    and, if ``video`` is given, the annotated video there.

    Returns the summary (frames, tracks, ms per stage with p50/p90/p99/mean, FPS) and prints it. Ctrl-C stops
    reading (a camera or stream) and still writes what was tracked.
    """
    from mottrack_sdk.detector import StageTimings
    from mottrack_sdk.io import write_json, write_results
    from mottrack_sdk.io.video import VideoWriter
    from mottrack_sdk.visualization import TrackAnnotator

    rows: list[tuple[np.ndarray, ...]] = []
    stage_ms: list[StageTimings] = []
    live: list[int] = []
    annotator = TrackAnnotator(trail_length=30) if video is not None else None
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:  # the video is renamed into place unless an error occurs
        stack.enter_context(source)
        bar = stack.enter_context(progress_bar(source.frame_count, "track", not quiet))
        writer = stack.enter_context(VideoWriter(video, source.fps or 30.0)) if video is not None else None
        try:
            for frame_id, image in source:
                ft = tracker.update_arrays(image, rgb=rgb)
                stage_ms.append(tracker.last_timings)
                live.append(len(ft.track_id))
                if len(ft.track_id):
                    rows.append((np.full(len(ft.track_id), frame_id), ft.track_id, ft.xyxy, ft.score))
                if writer is not None and annotator is not None:
                    canvas = np.ascontiguousarray(image[:, :, ::-1]) if rgb else image
                    writer.write(annotator.draw(canvas, ft.track_id, ft.xyxy, f"frame {frame_id}"))
                bar.update(1)
                if frame_id % 10 == 0:
                    recent = stage_ms[-10:]
                    bar.set_postfix(fps=f"{1000.0 * len(recent) / sum(t.total for t in recent):.1f}")
        except KeyboardInterrupt:  # a camera or stream: stop and keep what was tracked
            print(f"\ninterrupted after {len(stage_ms)} frames")
    wall = time.perf_counter() - started
    frame, ids, xyxy, score = (np.concatenate(c) for c in zip(*rows)) if rows else (
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))
    tlwh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    write_results(out / f"{name}.txt", frame, ids, tlwh, score)
    summary = _summary(stage_ms, len(np.unique(ids)), wall, tracker.detector.describe())
    summary["tracks_per_frame_mean"] = round(float(np.mean(live)), 2) if live else 0.0
    write_json(out / f"{name}.summary.json", summary)
    _print_summary(summary, out, name, video)
    return summary


def _summary(stage_ms: list, tracks: int, wall_s: float, model: str) -> dict:
    from mottrack_sdk.benchmark import percentiles
    from mottrack_sdk.detector import StageTimings

    frames = len(stage_ms)
    ms = {s: percentiles([getattr(t, s) for t in stage_ms]) for s in StageTimings.STAGES}
    ms["total"] = percentiles([t.total for t in stage_ms])
    return {"model": model, "frames": frames, "tracks": tracks, "ms": ms,
            "pipeline_fps": round(1000.0 / ms["total"]["mean"], 2) if frames and ms["total"]["mean"] else 0.0,
            "wall_fps": round(frames / wall_s, 2) if wall_s > 0 else 0.0}


def _print_summary(summary: dict, out: Path, name: str, video: Path | None) -> None:
    ms = summary["ms"]
    stages = "  ".join(f"{s} {ms[s]['mean']:.2f}" for s in ("preprocess", "inference", "postprocess", "association"))
    print(f"done: {summary['frames']} frames, {summary['tracks']} tracks; mean ms/frame: {stages} "
          f"(total {ms['total']['mean']:.2f}); {summary['pipeline_fps']:.1f} FPS pipeline, "
          f"{summary['wall_fps']:.1f} FPS with decoding{' and video writing' if video else ''}")
    print(f"wrote {out / (name + '.txt')}" + (f", {video}" if video else "")
          + f", {out / (name + '.summary.json')}")
