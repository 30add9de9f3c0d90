"""Which tracks make a sequence's false positives: per track, the frames whose box matches no ground truth.

    .venv/bin/python benchmarks/false_tracks.py [--model sdk/assets/models/cstrack_nano_int8.onnx] \
        [--sequence ../shared/data/MOT15/train/TUD-Campus] [--cpu-int8 auto] \
        --json benchmarks/results/tud_campus_false_tracks.json --png benchmarks/results/tud_campus_false_track.png

Runs ``Tracker(model=...)`` over the sequence as ``eval_default_model.py`` does and, for every output
box, checks whether a ground-truth box of that frame overlaps it at IoU >= 0.5 (the CLEAR-MOT
matching threshold; a simplification of TrackEval's Hungarian matching, enough to see who the false
positives belong to). Writes the tracks sorted by unmatched frames, and a picture of the track with the
most of them on its middle unmatched frame (red) beside the ground truth (green): MOTA counts a person
the annotation leaves out as false positives for every frame the tracker follows them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--sequence", type=Path, default=REPO.parent / "shared/data/MOT15/train/TUD-Campus")
    parser.add_argument("--cpu-int8", default="auto", help="ONNX Runtime CPU INT8 mode (auto, float, u8, u8_w7, as_is)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args()
    from eval_default_model import _backend_options  # benchmarks/ is the script's folder
    from mottrack_sdk import Tracker
    from mottrack_sdk.detector import default_model_path
    from mottrack_sdk.io import read_mot_txt, write_json
    from mottrack_sdk.tracking.matching import iou_matrix
    from mottrack_training.engine.validation import sequence_frames

    if not (args.sequence / "gt" / "gt.txt").is_file():
        parser.error(f"--sequence {args.sequence}: no gt/gt.txt there (a MOTChallenge sequence folder)")
    model = str(args.model or default_model_path(must_exist=True))
    gt = read_mot_txt(args.sequence / "gt" / "gt.txt")
    frames, frame_rate = sequence_frames(args.sequence)
    tracker = Tracker(model=model, frame_rate=frame_rate, backend_options=_backend_options(args.cpu_int8))
    tracks: dict[int, dict] = {}
    paths = dict(frames)
    for frame, path in frames:
        rows = gt.frame == frame
        gt_boxes = np.c_[gt.tlwh[rows, :2], gt.tlwh[rows, :2] + gt.tlwh[rows, 2:]]
        for t in tracker.update(cv2.imread(str(path))):
            box = np.array([t.tlwh[0], t.tlwh[1], t.tlwh[0] + t.tlwh[2], t.tlwh[1] + t.tlwh[3]])
            entry = tracks.setdefault(int(t.track_id), {"track_id": int(t.track_id), "frames": 0, "unmatched": []})
            entry["frames"] += 1
            if not (iou_matrix(box[None], gt_boxes) >= 0.5).any():
                entry["unmatched"].append([int(frame), *np.round(box, 1).tolist()])
    ranked = sorted(tracks.values(), key=lambda e: -len(e["unmatched"]))
    total = sum(len(e["unmatched"]) for e in ranked)
    for e in ranked[:8]:
        print(f"track {e['track_id']}: {len(e['unmatched'])} of {e['frames']} frames match no ground truth")
    print(f"{total} unmatched boxes in all")
    if args.json:
        write_json(args.json, {"model": model, "sequence": str(args.sequence), "cpu_int8": args.cpu_int8,
                               "unmatched_boxes": total, "tracks": [
                                   {"track_id": e["track_id"], "frames": e["frames"],
                                    "unmatched_frames": len(e["unmatched"]), "unmatched": e["unmatched"]}
                                   for e in ranked if e["unmatched"]]})
    if args.png and ranked and ranked[0]["unmatched"]:
        frame, *box = ranked[0]["unmatched"][len(ranked[0]["unmatched"]) // 2]
        image = cv2.imread(str(paths[frame]))
        rows = gt.frame == frame
        for x, y, w, h in gt.tlwh[rows].astype(int):
            cv2.rectangle(image, (x, y), (x + w, y + h), (0, 200, 0), 2)
        x1, y1, x2, y2 = (int(v) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), (0, 0, 255), 2)
        cv2.putText(image, f"track {ranked[0]['track_id']}: {len(ranked[0]['unmatched'])} frames, no ground truth",
                    (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 255), 1, cv2.LINE_AA)
        args.png.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.png), image)
        print(f"wrote {args.png} (frame {frame})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
