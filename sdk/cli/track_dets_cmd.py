"""`mottrack track-dets`: track MOTChallenge det/det.txt files with the tracking core."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mottrack_sdk.cli.common import add_tracker_options, progress_bar, tracker_options_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("track-dets", help="track MOTChallenge detections (det/det.txt) into result files",
                       description="Runs Tracker.update_detections over every sequence of --det that has "
                                   "det/det.txt and writes OUT/<sequence>.txt in MOTChallenge format. Every "
                                   "det.txt is checked first: a frame outside the sequence (seqLength of its "
                                   "seqinfo.ini) is an error naming file:line.")
    p.add_argument("--det", type=Path, required=True, help="a sequence folder or a folder of sequences")
    p.add_argument("--out", type=Path, required=True, help="folder for <sequence>.txt result files")
    p.add_argument("--score-transform", choices=["none", "sigmoid"], default="none",
                   help="map detector scores to [0, 1] first (sigmoid for DPM scores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tracker_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mottrack_sdk.io.motchallenge import check_rows, find_sequences, read_mot_txt, sequence_length
    from mottrack_sdk.io.output_paths import InputPaths, check_input_folder, check_output_file, check_output_folder
    from mottrack_sdk.io.path_components import safe_path_component
    from mottrack_sdk.offline import track_mot_detections

    options = tracker_options_from_args(args)
    check_input_folder(args.det, f"--det {args.det}")
    seqs = find_sequences(args.det, require="det/det.txt")
    check_output_folder(args.out, "--out")
    total_frames, names = 0, {}
    for seq in seqs:  # every input checked before any work
        det_path = seq / "det" / "det.txt"
        dets = read_mot_txt(det_path)
        length = sequence_length(seq, dets, det_path)
        check_rows(dets, det_path, "det", length)
        total_frames += length
        names[seq] = safe_path_component(seq.name, f"sequence folder {seq}")
    inputs = InputPaths(seqs)  # resolved once: checking every output against every input stays linear
    for name in names.values():  # every output too: a file name that can be written and replaces no input
        check_output_file(args.out / f"{name}.txt", "--out", inputs=inputs)
    times = []
    with progress_bar(total_frames, "track-dets", not args.quiet) as bar:
        for seq in seqs:
            bar.set_postfix_str(names[seq])
            run_ = track_mot_detections(seq, options, args.score_transform, progress=bar.update)
            out = args.out / f"{names[seq]}.txt"
            run_.write(out)
            times.append(run_.frame_ms)
            print(f"{names[seq]}: {len(run_.frame_ms)} frames, {len(np.unique(run_.track_id))} tracks, "
                  f"{np.median(run_.frame_ms) * 1e3:.0f} µs/frame (median) -> {out}")
    all_ms = np.concatenate(times) if times else np.zeros(1)
    print(f"done: {len(seqs)} sequences, tracker {np.mean(all_ms) * 1e3:.0f} µs/frame (mean)")
    return 0
