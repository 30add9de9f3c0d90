"""`mottrack track-dets`: track MOTChallenge det/det.txt files with the tracking core."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mottrack_sdk.cli.common import add_tracker_options, progress_bar, tracker_options_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("track-dets", help="track MOTChallenge detections (det/det.txt) into result files",
                       description="Runs Tracker.update_detections over every sequence of --det that has "
                                   "det/det.txt and writes OUT/<sequence>.txt in MOTChallenge format.")
    p.add_argument("--det", type=Path, required=True, help="a sequence folder or a folder of sequences")
    p.add_argument("--out", type=Path, required=True, help="folder for <sequence>.txt result files")
    p.add_argument("--score-transform", choices=["none", "sigmoid"], default="none",
                   help="map detector scores to [0, 1] first (sigmoid for DPM scores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tracker_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mottrack_sdk.io.motchallenge import find_sequences, read_mot_txt
    from mottrack_sdk.offline import track_mot_detections

    options = tracker_options_from_args(args)
    seqs = find_sequences(args.det, require="det/det.txt")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out}: exists and is not a folder")
    total_frames = sum(int(read_mot_txt(s / "det" / "det.txt").frame.max(initial=0)) for s in seqs)
    times = []
    with progress_bar(total_frames, "track-dets", not args.quiet) as bar:
        for seq in seqs:
            bar.set_postfix_str(seq.name)
            run_ = track_mot_detections(seq, options, args.score_transform, progress=bar.update)
            run_.write(args.out / f"{seq.name}.txt")
            times.append(run_.frame_ms)
            print(f"{seq.name}: {len(run_.frame_ms)} frames, {len(np.unique(run_.track_id))} tracks, "
                  f"{np.median(run_.frame_ms) * 1e3:.0f} µs/frame (median) -> {args.out / (seq.name + '.txt')}")
    all_ms = np.concatenate(times) if times else np.zeros(1)
    print(f"done: {len(seqs)} sequences, tracker {np.mean(all_ms) * 1e3:.0f} µs/frame (mean)")
    return 0
