"""Agreement of an exported model with the teacher ensemble on real footage it was never trained on.

    .venv/bin/mottrack pseudo-label ../shared/data/real/mot17_03_frames/img1 ../shared/data/real/prw_frames \
        ../shared/data/real/otb_crossing/img ../shared/data/real/cityscapes_stills --out .cache/pseudo/unseen_real
    .venv/bin/python benchmarks/real_footage_agreement.py [--model FILE] [--cpu-int8 MODE] \
        --json benchmarks/results/default_model_real_agreement.json

The project has two small labelled real sets (MOT17-mini, TUD-Campus); this measures more scenes
without labels: four sources of ``../shared/data/real`` the shipped weights never learned from (a night
street of MOT17-03, PRW campus cameras, OTB "Crossing", Cityscapes stills; research-use licences, used
here to measure only), labelled by ``mottrack pseudo-label`` (three teachers fused: fused score >= 0.45 a
positive, 0.2-0.45 an ignore region). Per source and in all: the model's boxes at each score threshold
matched to the teachers' (IoU 0.5, greedy by score, boxes on ignore regions not counted), precision,
recall, 1 - (FP + FN) / teacher boxes, and AP50. The teachers are not ground truth (AP50 0.75 on
MOT17-mini) and the student learned from the same teachers on other footage, so agreement flatters
it; what the numbers do show is how many boxes the student adds where no teacher sees a person (its
false positives on new scenes) as the threshold falls.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from eval_default_model import REPO, _backend_options  # benchmarks/ is the script's folder

LABELS = REPO / ".cache" / "pseudo" / "unseen_real"


def _counts(labels: np.ndarray, scores: np.ndarray, num_gt: int, thresholds: list[float]) -> list[dict]:
    """TP / FP / FN and rates at each threshold. Greedy matching in score order labels a box the same
    whichever lower-scored boxes exist, so one matching of every box serves all thresholds."""
    rows = []
    for t in thresholds:
        kept = scores >= t
        tp, fp = int(np.sum(kept & (labels == 1))), int(np.sum(kept & (labels == 0)))
        fn = num_gt - tp
        rows.append({"threshold": t, "TP": tp, "FP": fp, "FN": fn,
                     "precision": round(100.0 * tp / max(tp + fp, 1), 1),
                     "recall": round(100.0 * tp / max(num_gt, 1), 1),
                     "agreement": round(100.0 * (1.0 - (fp + fn) / max(num_gt, 1)), 1)})
    return rows


def _entry(labels: np.ndarray, scores: np.ndarray, num_gt: int, thresholds: list[float]) -> dict:
    """Teacher boxes, AP50 and the counts at each threshold of matched boxes (``match_detections``
    labels: 1 true, 0 false, -1 on an ignore region, not counted)."""
    from mottrack_training.engine.metrics import average_precision

    counted = labels >= 0
    ap = average_precision(scores[counted], labels[counted] == 1, num_gt)
    return {"teacher_boxes": num_gt, "AP50": round(100 * ap, 1), "by_threshold": _counts(labels, scores, num_gt, thresholds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--cpu-int8", default="auto", help="ONNX Runtime CPU INT8 mode (auto, float, u8, u8_w7, as_is)")
    parser.add_argument("--labels", type=Path, default=LABELS, help="teacher-labelled dataset (see the docstring)")
    parser.add_argument("--thresholds", default="0.3,0.35,0.4,0.45,0.5,0.55")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from mottrack_sdk.detector import FrameDetector, default_model_path
    from mottrack_sdk.io import find_sequences, read_mot_txt, write_json
    from mottrack_training.engine.metrics import match_detections
    from mottrack_training.engine.validation import gt_split, sequence_frames

    if not args.labels.is_dir():
        parser.error(f"--labels {args.labels}: not found; write it with the mottrack pseudo-label command in "
                     f"this script's docstring")
    try:
        thresholds = [float(v) for v in args.thresholds.split(",")]
    except ValueError:
        parser.error(f"--thresholds {args.thresholds!r}: expected comma-separated numbers")
    model = str(args.model or default_model_path(must_exist=True))
    detector = FrameDetector.from_model(model, backend_options=_backend_options(args.cpu_int8))
    out: dict = {"model": model, "cpu_int8": args.cpu_int8, "date": time.strftime("%Y-%m-%d"),
                 "labels": str(args.labels), "sources": {}}
    per_source = {}
    for seq in find_sequences(args.labels):
        gt = read_mot_txt(seq / "gt" / "gt.txt")
        labels, scores, num_gt = [], [], 0
        frames = sequence_frames(seq)[0]
        for frame, path in frames:
            dets = detector.detect(cv2.imread(str(path)))
            positives, ignore = gt_split(gt, frame, 0.0)
            labels.append(match_detections(dets.xyxy, dets.scores, positives, ignore))
            scores.append(dets.scores)
            num_gt += len(positives)
        per_source[seq.name] = (np.concatenate(labels), np.concatenate(scores), num_gt)
        out["sources"][seq.name] = {"frames": len(frames), **_entry(*per_source[seq.name], thresholds)}
    detector.close()
    all_labels, all_scores, all_gt = zip(*per_source.values())
    out["all"] = _entry(np.concatenate(all_labels), np.concatenate(all_scores), sum(all_gt), thresholds)
    for name, entry in [*out["sources"].items(), ("all", out["all"])]:
        print(f"{name}: {entry['teacher_boxes']} teacher boxes, AP50 {entry['AP50']}")
        for row in entry["by_threshold"]:
            print(f"  score >= {row['threshold']}: precision {row['precision']}  recall {row['recall']}  "
                  f"1-(FP+FN)/N {row['agreement']}  (FP {row['FP']}, FN {row['FN']})")
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
