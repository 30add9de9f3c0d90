"""Per-epoch validation on held-out MOTChallenge sequences: detection AP50 and HOTA / MOTA / IDF1.

For each sequence, frames are read in order and resized like the runtime does
(:func:`mottrack_sdk.preprocessing.resize_image`, ``val.resize_mode``), the model (eval mode, usually
the EMA weights) detects and embeds (:func:`~mottrack_training.engine.inference.detect`), boxes are
mapped back to frame pixels with the same :class:`~mottrack_sdk.preprocessing.ResizeTransform`, and

- AP50 (:class:`~mottrack_training.engine.metrics.DetectionAP`) scores every kept box against the
  pedestrian GT rows (conf 1, class 1 or unset, visibility >= ``val.ap_min_visibility``); other rows
  (distractors, ignored, too hidden) are ignore regions;
- the boxes above ``val.track_min_score`` with their embeddings go through
  :class:`mottrack_sdk.Tracker` (``update_detections``), results are written as MOTChallenge files
  and scored by :func:`mottrack_sdk.eval.evaluate_mot` (TrackEval).

Metrics are in percent. All sequences must share one parent folder (TrackEval's layout).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mottrack_sdk.io import read_mot_txt, read_seqinfo
from mottrack_sdk.io.frame_sources import read_image
from mottrack_sdk.preprocessing import normalize_chw, resize_image
from mottrack_training.engine.inference import detect
from mottrack_training.engine.metrics import DetectionAP
from mottrack_training.engine.options import ValOptions

__all__ = ["ValidationResult", "gt_split", "sequence_frames", "validate_sequences"]

PEDESTRIAN_CLASSES = (1, -1)  # -1: files without a class column


@dataclass
class ValidationResult:
    """``ap50``, ``hota``, ``mota``, ``idf1`` in percent; ``per_sequence`` TrackEval rows; timing."""

    ap50: float
    hota: float
    mota: float
    idf1: float
    frames: int
    seconds: float
    per_sequence: dict[str, dict[str, float]] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        return {"ap50": self.ap50, "hota": self.hota, "mota": self.mota, "idf1": self.idf1}


def gt_split(gt, frame: int, min_visibility: float) -> tuple[np.ndarray, np.ndarray]:
    """(scored pedestrian boxes, ignore boxes) of one frame, ``xyxy``: conf 1, class 1 or -1, visible enough."""
    rows = gt.at_frame(frame)
    scored = (rows.conf == 1) & np.isin(rows.class_id, PEDESTRIAN_CLASSES) \
        & ((rows.visibility >= min_visibility) | (rows.visibility == -1))
    return rows.xyxy[scored], rows.xyxy[~scored]


def sequence_frames(seq_dir: Path) -> tuple[list[tuple[int, Path]], float]:
    """``[(frame number, image path)]`` of a MOTChallenge sequence up to seqLength, and its frame rate."""
    info = read_seqinfo(seq_dir)
    files = sorted((seq_dir / info.im_dir).glob(f"*{info.im_ext}"))
    frames = [(int(p.stem), p) for p in files if p.stem.isdigit() and 1 <= int(p.stem) <= info.seq_length]
    return frames, float(info.frame_rate)


def validate_sequences(model: torch.nn.Module, sequences: Sequence[Path], options: ValOptions,
                       img_size: tuple[int, int], pad_value: float, results_dir: Path,
                       device: torch.device, amp: bool = False) -> ValidationResult:
    """Detect, score AP50, track and evaluate ``sequences``; result files go to ``results_dir``."""
    from mottrack_sdk.eval import evaluate_mot
    from mottrack_sdk.offline import run_frames
    from mottrack_sdk.tracker import Tracker

    sequences = [Path(s) for s in sequences]
    parents = {s.resolve().parent for s in sequences}
    if len(parents) != 1:
        raise ValueError(f"validation sequences must share one parent folder, got {sorted(map(str, parents))}")
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    ap = DetectionAP()
    total_frames = 0
    mot15_style = True  # every gt row without a class (-1): TrackEval's MOT15 rules (no class preprocessing)
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        for seq_dir in sequences:
            gt = read_mot_txt(seq_dir / "gt" / "gt.txt")
            mot15_style = mot15_style and bool(np.all(gt.class_id == -1))
            frames, frame_rate = sequence_frames(seq_dir)
            per_frame = []
            for first in range(0, len(frames), options.batch_size):
                chunk = frames[first:first + options.batch_size]
                images, transforms = [], []
                for _, path in chunk:
                    image, problem = read_image(path)
                    if image is None:
                        raise ValueError(f"{path}: validation image: {problem}")
                    resized, transform = resize_image(image, img_size, options.resize_mode, pad_value)
                    images.append(torch.from_numpy(normalize_chw(resized)))
                    transforms.append(transform)
                batch = torch.stack(images).to(device)
                dets = detect(model, batch, options.score_thresh, options.nms_iou, options.max_det,
                              options.max_candidates, amp)
                for (frame, _), det, transform in zip(chunk, dets, transforms):
                    xyxy = transform.network_to_frame_xyxy(det.xyxy, clip=True)
                    valid = (xyxy[:, 2] - xyxy[:, 0] >= 1.0) & (xyxy[:, 3] - xyxy[:, 1] >= 1.0)
                    xyxy, scores, emb = xyxy[valid], det.scores[valid], det.embeddings[valid]
                    gt_xyxy, ignore_xyxy = gt_split(gt, frame, options.ap_min_visibility)
                    ap.add(xyxy, scores, gt_xyxy, ignore_xyxy)
                    track = scores >= options.track_min_score
                    per_frame.append((frame, xyxy[track], scores[track], emb[track]))
            total_frames += len(frames)
            tracker = Tracker(options.tracker.replace(frame_rate=frame_rate))
            run_frames(tracker, per_frame).write(results_dir / f"{seq_dir.name}.txt")
    finally:
        model.train(was_training)
    evaluation = evaluate_mot(next(iter(parents)), results_dir, sequences=[s.name for s in sequences],
                              benchmark="MOT15" if mot15_style else "MOT17")
    combined = evaluation.combined
    return ValidationResult(ap50=100.0 * ap.ap50(), hota=float(combined["HOTA"]), mota=float(combined["MOTA"]),
                            idf1=float(combined["IDF1"]), frames=total_frames,
                            seconds=time.perf_counter() - start, per_sequence=evaluation.per_sequence)
