"""Run the tracker over stored detections: MOTChallenge ``det.txt`` files and synthetic scenes.

Both produce result columns ready for :func:`mottrack_sdk.io.write_results`, plus the time spent
inside ``update_detections`` per frame (so CLI summaries and benchmarks report the tracker alone).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Literal

import numpy as np

from mottrack_sdk.io.motchallenge import (SeqInfo, check_rows, read_mot_txt, read_seqinfo, sequence_length, write_gt,
                                          write_results, write_seqinfo)
from mottrack_sdk.scenes.detection_scene import DetectionScene
from mottrack_sdk.tracker import Tracker
from mottrack_sdk.tracking.options import TrackerOptions

ScoreTransform = Literal["none", "sigmoid"]


@dataclass
class TrackingRun:
    """Result rows of one sequence and the tracker's time per frame."""

    frame: np.ndarray         # (R,) int64
    track_id: np.ndarray      # (R,) int64
    tlwh: np.ndarray          # (R, 4) float64
    score: np.ndarray         # (R,) float64
    frame_ms: np.ndarray      # (F,) float64, update_detections wall time per frame

    def write(self, path: str | Path) -> None:
        write_results(path, self.frame, self.track_id, self.tlwh, self.score)


def transform_scores(scores: np.ndarray, transform: ScoreTransform) -> np.ndarray:
    """Map detector scores to [0, 1] (``sigmoid`` suits DPM-style unbounded scores)."""
    if transform == "none":
        return scores
    if transform == "sigmoid":
        return 1.0 / (1.0 + np.exp(-scores))
    raise ValueError(f"score transform: expected 'none' or 'sigmoid', got {transform!r}")


def run_frames(tracker: Tracker, frames: Iterable[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]],
               progress: Callable[[int], None] | None = None) -> TrackingRun:
    """Track (frame, xyxy, scores, embeddings) tuples in frame order; frames may be skipped."""
    out_f, out_id, out_box, out_s, times = [], [], [], [], []
    for frame, xyxy, scores, emb in frames:
        t0 = time.perf_counter()
        ft = tracker.update_detections_arrays(xyxy, scores, emb)
        times.append((time.perf_counter() - t0) * 1e3)
        if len(ft.track_id):
            out_f.append(np.full(len(ft.track_id), frame))
            out_id.append(ft.track_id)
            out_box.append(np.concatenate([ft.xyxy[:, :2], ft.xyxy[:, 2:] - ft.xyxy[:, :2]], axis=1))
            out_s.append(ft.score)
        if progress:
            progress(1)
    cat = (lambda xs, shape: np.concatenate(xs) if xs else np.zeros(shape))
    return TrackingRun(cat(out_f, 0).astype(np.int64), cat(out_id, 0).astype(np.int64), cat(out_box, (0, 4)),
                       cat(out_s, 0), np.asarray(times))


def track_mot_detections(seq_dir: str | Path, options: TrackerOptions | None = None,
                         score_transform: ScoreTransform = "none",
                         progress: Callable[[int], None] | None = None) -> TrackingRun:
    """Track ``seq_dir/det/det.txt``; the frame rate and length come from ``seqinfo.ini`` if present
    (else 30 fps and the last detection's frame). A detection outside the sequence's frames is an
    error naming ``det.txt:line`` (no memory is sized by a frame number found in a file)."""
    seq_dir = Path(seq_dir)
    det_path = seq_dir / "det" / "det.txt"
    dets = read_mot_txt(det_path)
    length = sequence_length(seq_dir, dets, det_path)
    check_rows(dets, det_path, "det", length)
    frame_rate = read_seqinfo(seq_dir).frame_rate if (seq_dir / "seqinfo.ini").is_file() else 30.0
    options = (options or TrackerOptions()).replace(frame_rate=frame_rate)
    tracker = Tracker(options)
    scores = transform_scores(dets.conf, score_transform)
    xyxy = dets.xyxy
    order = np.argsort(dets.frame, kind="stable")
    bounds = np.searchsorted(dets.frame[order], np.arange(1, length + 2))

    def frames():
        for f in range(1, length + 1):
            idx = order[bounds[f - 1]:bounds[f]]
            keep = (xyxy[idx, 2] > xyxy[idx, 0]) & (xyxy[idx, 3] > xyxy[idx, 1])
            idx = idx[keep]
            yield f, xyxy[idx], scores[idx], None

    return run_frames(tracker, frames(), progress)


def track_scene(scene: DetectionScene, options: TrackerOptions | None = None, use_embeddings: bool = True,
                progress: Callable[[int], None] | None = None) -> TrackingRun:
    """Track a synthetic detection scene (embeddings from the scene when ``use_embeddings``)."""
    tracker = Tracker((options or TrackerOptions()).replace(frame_rate=float(scene.options.frame_rate)))
    frames = ((fr.frame, fr.det_xyxy, fr.det_scores, fr.det_embeddings if use_embeddings else None) for fr in scene)
    return run_frames(tracker, frames, progress)


def write_scene_ground_truth(scene: DetectionScene, seq_dir: str | Path, name: str) -> None:
    """Write a scene's ground truth as a MOTChallenge sequence (``gt/gt.txt`` + ``seqinfo.ini``)."""
    seq_dir = Path(seq_dir)
    f, ids, tlwh, vis = [], [], [], []
    for fr in scene:
        f.append(np.full(len(fr.gt_ids), fr.frame))
        ids.append(fr.gt_ids)
        tlwh.append(np.concatenate([fr.gt_xyxy[:, :2], fr.gt_xyxy[:, 2:] - fr.gt_xyxy[:, :2]], axis=1))
        vis.append(fr.gt_visibility)
    o = scene.options
    write_gt(seq_dir / "gt" / "gt.txt", np.concatenate(f), np.concatenate(ids), np.concatenate(tlwh),
             np.concatenate(vis))
    write_seqinfo(seq_dir, SeqInfo(name, float(o.frame_rate), o.num_frames, o.width, o.height))
