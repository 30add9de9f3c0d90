"""`mottrack track SOURCE`: frames in (video, images, MOTChallenge sequence, camera, stream), tracks out.

Writes ``OUT/<name>.txt`` (MOTChallenge results, appended as tracking goes and handed to the OS at
least every ``--flush-seconds``), optionally ``OUT/<name>.mp4`` (boxes, IDs and short trails; written
atomically) and, when the run ends, ``OUT/<name>.summary.json``; shows a progress bar with the live
FPS of the pipeline and ends with a summary: frames, tracks, ms per stage, skipped frames.

Every output path is checked before the model loads. SIGINT (Ctrl-C) and SIGTERM stop the run
cleanly: the results so far, the summary and a playable video are written, no temporary file is left,
and the exit code is 130 / 143 (a second signal stops at once, still removing temporary files).
Unreadable frames follow ``--on-error`` (:mod:`mottrack_sdk.io.frame_sources`): ``skip`` (default)
warns and counts them; ``stop`` ends the run there, files finished, with a one-line error (exit 2).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.cli.common import add_tracker_options, positive_int, progress_bar, tracker_request
from mottrack_sdk.cli.model_args import add_model_options, backend_options_from_args, resolve_model
from mottrack_sdk.io.frame_sources import ON_ERROR_MODES
from mottrack_sdk.io.results_stream import DEFAULT_FLUSH_SECONDS


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--flush-seconds: expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"--flush-seconds: expected a number of seconds > 0, got {text!r}")
    return value


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
    p.add_argument("--on-error", choices=ON_ERROR_MODES, default="skip",
                   help="a corrupt image or undecodable video frame: skip it with a warning and count it in the "
                        "summary (default), or stop the run there (files finished, exit 2)")
    p.add_argument("--flush-seconds", type=_seconds, default=DEFAULT_FLUSH_SECONDS, metavar="S",
                   help=f"hand new result rows to OUT/<name>.txt at least every S seconds ({DEFAULT_FLUSH_SECONDS:g})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tracker_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mottrack_sdk.io.frame_sources import open_frame_source
    from mottrack_sdk.io.output_paths import check_output_folder, removed_if_left_empty
    from mottrack_sdk.io.path_components import safe_path_component
    from mottrack_sdk.tracker import Tracker

    check_output_folder(args.out, "--out")
    model = resolve_model(args.model)
    options, changes = tracker_request(args)
    source = open_frame_source(args.source, args.max_frames, on_error=args.on_error)
    # a name from the data (seqinfo name=, a URL) is made safe; one the user typed is refused below when unsafe
    name = args.name or safe_path_component(source.name, f"the name taken from SOURCE {args.source}", replace="_")
    video = args.out / f"{name}.mp4" if args.save_video else None
    _check_outputs(args.out, name, video, "--name" if args.name else "the name taken from SOURCE (pass --name)",
                   inputs=[args.source])
    if source.fps:
        changes = {"frame_rate": float(source.fps), **changes}
    tracker = Tracker(options, **changes, model=model, backend=args.backend, cmc=args.cmc, backend_options=backend_options_from_args(args, model))
    try:
        with removed_if_left_empty(args.out):  # e.g. no frame could be read: no empty --out left behind
            print(f"source: {source.description}\nmodel: {tracker.load_model().describe()}")  # model errors first
            note = birth_delay_note(tracker.options.min_hits, source.fps)
            if note:
                print(note)
            summary = track_source(tracker, source, args.out, name, video, args.quiet,
                                   flush_seconds=args.flush_seconds)
    except KeyboardInterrupt:  # a second Ctrl-C / SIGTERM, or one before tracking started
        print("\nstopped", file=sys.stderr)
        return 130
    return summary["exit_code"]


SLOW_BIRTH_SECONDS = 0.5  # a new track confirmed later than this gets a note (people cross a frame in ~2 s)


def birth_delay_note(min_hits: int, fps: float | None) -> str | None:
    """A one-line note when ``min_hits`` consecutive matches take more than ``SLOW_BIRTH_SECONDS`` at
    the source's frame rate (low-frame-rate video), with the option that shortens it; else None."""
    if not fps or fps <= 0 or min_hits <= 2 or min_hits / fps <= SLOW_BIRTH_SECONDS:
        return None
    return (f"note: a new track is confirmed after {min_hits} consecutive matched frames, {min_hits / fps:.1f} s at "
            f"{fps:g} fps; for low-frame-rate video pass --set min_hits=2 (or 3) to confirm tracks sooner")


def _check_outputs(out: Path, name: str, video: Path | None, name_flag: str, inputs: list[str]) -> None:
    """Every file the run writes is a plain file name that can be written and replaces no input."""
    from mottrack_sdk.io.output_paths import check_not_input, check_output_file

    if not name or name in (".", "..") or Path(name).name != name:
        raise ValueError(f"{name_flag} {name!r}: expected a plain file stem (no folders)")
    for path in (out / f"{name}.txt", out / f"{name}.summary.json", video):
        if path is not None:
            flag = "--out" if path is not video else "--save-video"
            check_output_file(path, flag)
            check_not_input(path, f"{flag} / {name_flag}", inputs)  # both name the file


def track_source(tracker: Any, source: Any, out: Path, name: str, video: Path | None = None, quiet: bool = False,
                 rgb: bool = False, flush_seconds: float = DEFAULT_FLUSH_SECONDS) -> dict:
    """Track every frame of ``source`` (a FrameReader); write ``out/<name>.txt`` as tracking goes, then
    ``out/<name>.summary.json`` and, if ``video`` is given, the annotated video there.

    Returns the summary (frames, tracks, ms per stage with p50/p90/p99/mean, FPS, skipped frames,
    ``interrupted``: the signal's name or None, ``exit_code``: 0 or 128 + signal) and prints it. SIGINT /
    SIGTERM end the loop and still finish every file. A FrameReadError (``on_error="stop"``) finishes the
    files the same way and is raised afterwards. A source of which no frame could be read raises
    ValueError (naming it and the first reason) and leaves no results file.
    """
    from mottrack_sdk.cli.stop_signals import StopSignals
    from mottrack_sdk.cli.track_stats import TrackRunStats, print_summary
    from mottrack_sdk.io import write_json
    from mottrack_sdk.io.frame_sources import FrameProblems, FrameReadError
    from mottrack_sdk.io.results_stream import StreamingResultsWriter
    from mottrack_sdk.io.video import VideoWriter
    from mottrack_sdk.visualization import TrackAnnotator

    stats = TrackRunStats()
    annotator = TrackAnnotator(trail_length=30) if video is not None else None
    results_path, summary_path = out / f"{name}.txt", out / f"{name}.summary.json"
    stopped_by: FrameReadError | None = None
    started = time.perf_counter()

    def remove_outputs() -> None:
        for path in (results_path, video):
            if path is not None:
                path.unlink(missing_ok=True)

    with StopSignals() as stop:
        try:
            with contextlib.ExitStack() as stack:  # closed in reverse: video renamed into place, results fsync'ed
                stack.enter_context(source)
                results = stack.enter_context(StreamingResultsWriter(results_path, flush_seconds))
                bar = stack.enter_context(progress_bar(source.frame_count, "track", not quiet))
                writer = stack.enter_context(VideoWriter(video, source.fps or 30.0)) if video is not None else None
                try:
                    for frame_id, image in source:
                        ft = tracker.update_arrays(image, rgb=rgb)
                        stats.add(tracker.last_timings, ft.track_id)
                        results.add(frame_id, ft.track_id, ft.xyxy, ft.score)
                        if writer is not None and annotator is not None:
                            canvas = np.ascontiguousarray(image[:, :, ::-1]) if rgb else image
                            writer.write(annotator.draw(canvas, ft.track_id, ft.xyxy, f"frame {frame_id}"))
                        bar.update(1)
                        if stats.frames % 10 == 0:
                            bar.set_postfix(fps=f"{stats.recent_fps:.1f}")
                        if stop.received:
                            break
                except FrameReadError as exc:
                    stopped_by = exc
        except BaseException:  # failed before a frame was tracked (the model, the first frame): no empty files
            if stats.frames == 0:
                remove_outputs()
            raise
        summary = stats.summary(tracker.detector.describe(), time.perf_counter() - started)
        problems = getattr(source, "problems", None) or FrameProblems()  # readers that predate it have none
        summary.update(problems.as_dict())
        summary.update(stopped_by_error=str(stopped_by) if stopped_by else None, interrupted=stop.name,
                       exit_code=stop.exit_code)
        if stats.frames == 0 and stopped_by is None and stop.name is None:  # nothing tracked: no empty "results"
            remove_outputs()
            why = problems.ended_early or (problems.examples[0] if problems.examples else "the source is empty")
            raise ValueError(f"SOURCE {source.description}: no frame could be read ({problems.skipped} unreadable; "
                             f"{why})")
        write_json(summary_path, summary)
    print_summary(summary, [results_path] + ([video] if video is not None and video.is_file() else []) + [summary_path])
    if stopped_by is not None:
        raise stopped_by
    return summary
