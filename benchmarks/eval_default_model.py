"""The shipped (or any exported) model end to end through the runtime, on real and synthetic ground truth.

    .venv/bin/python benchmarks/eval_default_model.py [--model sdk/assets/models/cstrack_nano_int8.onnx] \
        [--set det_thresh=0.45 ...] --json benchmarks/results/default_model_eval.json

What a user gets from ``Tracker(model=...).update(frame)``: frames are read from disk, preprocessed,
run through ONNX Runtime (the CPU INT8 adaptation included), decoded by the in-graph tail and tracked
with the model's own ``tracker_defaults`` (``--set KEY=VALUE``: a ``TrackerOptions`` change on top, as
``mottrack track --set`` does). Measured on

- ``../shared/data/MOT15/train/TUD-Campus`` (71 real frames, 8 people; MOT15 rules: class -1 rows
  are pedestrians): HOTA / MOTA / IDF1 by TrackEval;
- ``../shared/data/MOT17-mini/train`` (39 real frames of 7 sequences): detection AP50 of the boxes the
  model returns (score >= its in-graph floor), gt rows conf 1, class 1, visibility >= 0.25, others
  ignored, over all, per sequence and per person height as the network sees it (< 32, 32-64, 64-128,
  >= 128 px after the resize; COCO's area-range rule with heights); and HOTA / MOTA / IDF1 of tracking
  its 7 clips of 4-8 frames (MOT17 rules: dense real scenes; a clip's first frame confirms its tracks
  at once, later births rarely within 4-8 frames);
- held-out synthetic sequences (seed 2, ``.cache/synthetic/test-seed2``, written by
  ``mottrack package-weights``) when present: HOTA / MOTA / IDF1 and AP50;
- ``--synthetic DIR`` (repeatable): more synthetic sequences, each seed of them scored as its own
  set (``synthetic_seed<N>``), e.g. seeds written by ``mottrack synth --seed N`` to see how far one
  seed's score is from another's.

MOT17-mini and TUD-Campus are validation data of this project, never trained on.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def _backend_options(cpu_int8: str):
    from mottrack_sdk.backends.onnxruntime_backend import OnnxRuntimeOptions

    return OnnxRuntimeOptions(cpu_int8=cpu_int8)


# AP50 by person height as the network sees it (box height x the frame's resize scale), in pixels
HEIGHT_BUCKETS = ((0.0, 32.0), (32.0, 64.0), (64.0, 128.0), (128.0, float("inf")))


def _bucket_name(lo: float, hi: float) -> str:
    return f"<{hi:g}" if lo == 0 else (f">={lo:g}" if hi == float("inf") else f"{lo:g}-{hi:g}")


def network_scale(tracker, frame_shape: tuple[int, ...]) -> float:
    """Network pixels per frame pixel, vertically, of ``tracker``'s detector for a frame of ``frame_shape``."""
    md = tracker.detector.metadata
    (net_w, net_h), (h, w) = tracker.detector.input_size, frame_shape[:2]
    return net_h / h if md.resize_mode == "stretch" else min(net_w / w, net_h / h)


def _tracking(model: str, sequences: list[Path], benchmark: str, cpu_int8: str, min_visibility: float,
              changes: dict | None = None) -> dict:
    """HOTA / MOTA / IDF1 / IDSW / FP / FN of ``Tracker(model=..., **changes).update(frame)`` over
    ``sequences`` (the model's own ``tracker_defaults`` with ``changes`` on top), and AP50 of the
    detections those frames gave (``Tracker.last_detections``: the boxes the model returns; gt visible
    >= ``min_visibility``): over all, per sequence (``AP50_per_sequence``) and per person height in network pixels
    (``AP50_by_height``, :data:`HEIGHT_BUCKETS`, with how many gt boxes each holds; AP50 None for none)."""
    from mottrack_sdk import Tracker
    from mottrack_sdk.io import read_mot_txt
    from mottrack_training.engine.metrics import DetectionAP
    from mottrack_training.engine.validation import gt_split, sequence_frames

    ap = DetectionAP()
    by_height = {bucket: DetectionAP(bucket) for bucket in HEIGHT_BUCKETS}
    per_sequence, ap_per_sequence = {}, {}
    for seq in sequences:
        gt = read_mot_txt(seq / "gt" / "gt.txt")
        frames, frame_rate = sequence_frames(seq)
        tracker = Tracker(model=model, frame_rate=frame_rate, backend_options=_backend_options(cpu_int8),
                          **(changes or {}))
        rows, seq_ap = [], DetectionAP()
        for frame, path in frames:
            image = cv2.imread(str(path))
            rows += [(frame, t.track_id, *t.tlwh, t.score) for t in tracker.update(image)]
            dets, (gt_boxes, ignore) = tracker.last_detections, gt_split(gt, frame, min_visibility)
            scale = network_scale(tracker, image.shape)
            for acc in (ap, seq_ap, *by_height.values()):
                acc.add(dets.xyxy, dets.scores, gt_boxes, ignore, scale=scale)
        tracker.close()
        per_sequence[seq] = rows
        ap_per_sequence[seq.name] = round(100.0 * seq_ap.ap50(), 2)
    heights = {_bucket_name(*b): {"AP50": round(100.0 * acc.ap50(), 2) if acc.num_gt else None, "gt": acc.num_gt}
               for b, acc in by_height.items()}  # None: no person of that height
    return {**score_tracks(per_sequence, benchmark), "AP50": round(100.0 * ap.ap50(), 2),
            "AP50_per_sequence": ap_per_sequence, "AP50_by_height": heights}


def score_tracks(per_sequence: dict[Path, list[tuple]], benchmark: str) -> dict[str, float]:
    """HOTA / MOTA / IDF1 / IDSW / FP / FN (TrackEval, ``benchmark`` rules) of result rows
    ``(frame, id, left, top, width, height, score)`` per sequence folder. Folders from several parents
    (a pooled set) are linked under one ground-truth root; their names must differ."""
    from mottrack_sdk.eval import evaluate_mot
    from mottrack_sdk.io import write_results

    sequences = list(per_sequence)
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise ValueError(f"sequences: names must differ to be scored together, got {sorted(names)}")
    with tempfile.TemporaryDirectory() as tmp:
        results, gt_root = Path(tmp) / "results", sequences[0].parent
        results.mkdir()
        if len({s.parent for s in sequences}) > 1:
            gt_root = Path(tmp) / "gt"
            gt_root.mkdir()
            for seq in sequences:
                (gt_root / seq.name).symlink_to(seq.resolve(), target_is_directory=True)
        for seq, rows in per_sequence.items():
            arr = np.array(rows, np.float64).reshape(-1, 7)
            write_results(results / f"{seq.name}.txt", arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64),
                          arr[:, 2:6], arr[:, 6])
        combined = evaluate_mot(gt_root, results, sequences=names, benchmark=benchmark).combined
    return {k: round(float(combined[k]), 2) for k in ("HOTA", "MOTA", "IDF1", "IDSW", "FP", "FN")}


def synthetic_folder(folder: Path) -> list[tuple[Path, int | None]]:
    """The sequences under one ``--synthetic`` folder, each with its ``SYNTH-<seed>-<i>`` seed (None for
    other names); ValueError naming the folder when it holds none (or is missing)."""
    from mottrack_sdk.io import find_sequences
    from mottrack_sdk.scenes import sequence_base_seed

    try:
        found = find_sequences(folder)  # never empty: it raises for a folder without sequences
    except FileNotFoundError as exc:
        raise ValueError(f"--synthetic {folder}: no MOTChallenge sequences (folders with gt/gt.txt) there "
                         f"({exc})") from None
    return [(seq, sequence_base_seed(seq.name)) for seq in found]


def _seed_sets(folders: list[Path]) -> dict[int, list[Path]]:
    """``--synthetic`` folders -> {seed: its sequences}; ValueError naming the folder for seed 2 (the
    held-out set, scored anyway), a folder without sequences and a sequence of another name."""
    sets: dict[int, list[Path]] = {}
    for folder in folders:
        for seq, seed in synthetic_folder(folder):
            if seed is None:
                raise ValueError(f"--synthetic {folder}: expected SYNTH-<seed>-<i> sequences, found {seq.name}")
            if seed == 2:
                raise ValueError(f"--synthetic {folder}: seed 2 is the held-out set, scored without --synthetic")
            sets.setdefault(seed, []).append(seq)
    return dict(sorted(sets.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--cpu-int8", default="auto", help="ONNX Runtime CPU INT8 mode (auto, float, u8, u8_w7, as_is)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a TrackerOptions change over the model's tracker_defaults (repeatable)")
    parser.add_argument("--synthetic", action="append", type=Path, default=[], metavar="DIR",
                        help="more synthetic sequences (SYNTH-<seed>-<i>), scored per seed (repeatable)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from mottrack_sdk.cli.common import tracker_changes
    from mottrack_sdk.detector import default_model_path
    from mottrack_sdk.io import find_sequences, write_json

    try:
        changes = tracker_changes(args.set, "--set")
    except ValueError as exc:
        parser.error(str(exc))
    if "frame_rate" in changes:
        parser.error("--set frame_rate: each sequence's frame rate comes from its seqinfo.ini")
    try:
        extra = _seed_sets(args.synthetic)
    except ValueError as exc:
        parser.error(str(exc))
    model = str(args.model or default_model_path(must_exist=True))
    start = time.perf_counter()
    out: dict = {"model": model, "cpu_int8": args.cpu_int8, "date": time.strftime("%Y-%m-%d")}
    if changes:
        out["tracker_set"] = changes
    tud = SHARED / "MOT15" / "train" / "TUD-Campus"
    if tud.is_dir():
        out["tud_campus"] = _tracking(model, [tud], "MOT15", args.cpu_int8, 0.0, changes)
    mini = SHARED / "MOT17-mini" / "train"
    if mini.is_dir():
        out["mot17_mini"] = _tracking(model, find_sequences(mini), "MOT17", args.cpu_int8, 0.25, changes)  # 4-8 frame clips
    synthetic = REPO / ".cache" / "synthetic" / "test-seed2"
    if synthetic.is_dir():
        out["synthetic_seed2"] = _tracking(model, find_sequences(synthetic), "MOT17", args.cpu_int8, 0.0, changes)
    for seed, sequences in extra.items():
        out[f"synthetic_seed{seed}"] = _tracking(model, sequences, "MOT17", args.cpu_int8, 0.0, changes)
    out["seconds"] = round(time.perf_counter() - start, 1)
    for name, metrics in out.items():
        if isinstance(metrics, dict):
            flat = "  ".join(f"{k} {v}" for k, v in metrics.items() if not isinstance(v, dict))
            print(f"{name}: {flat}")
            if "AP50_by_height" in metrics:
                print("  AP50 by height in network px: " + "  ".join(
                    f"{k} {v['AP50']} ({v['gt']} gt)" for k, v in metrics["AP50_by_height"].items()))
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
