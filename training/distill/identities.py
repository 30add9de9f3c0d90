"""Fused teacher boxes -> ground-truth rows with identities and ignore regions, one sequence at a time.

Each fused box falls in one of three bands of its fused score (:class:`LabelThresholds`):

- ``score >= high``: a **positive** (gt ``conf = 1``);
- ``low <= score < high``: an **ignore region** (gt ``conf = 0``, MOT17's convention): the teachers are
  unsure, so training neither rewards nor punishes a detection there;
- ``score < low``: dropped (background).

Identities (``video`` mode): the project's own tracker (``mottrack_sdk.Tracker``, motion + IoU, or
re-ID embeddings when given) links the boxes; ``det_thresh = high`` starts tracks and boxes down to
``low`` may continue them (its low-score rescue). A box takes the id of the track it updated. The
tracker confirms a track at its second box, so the track's first box is given the id afterwards
(the unlabelled positive of the previous frame that overlaps the confirming box most, IoU >= 0.3).
Boxes on no confirmed track (a person seen in one frame only, a tracker miss) still get an id, a
fresh one that no other row of the sequence uses (numbered after the last track id, in frame order):
MOTChallenge gt needs an id on every row, and an ignore region's id is never trained on. In ``stills``
mode (unrelated images: no temporal link) every box gets its own id.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mottrack_sdk.tracking.matching import iou_matrix

__all__ = ["LabelRows", "LabelThresholds", "SequenceLabeler"]

BIRTH_IOU = 0.3  # a confirming box and the track's first box (one frame earlier) overlap at least this


@dataclass(frozen=True)
class LabelThresholds:
    """Fused-score bands: ``>= high`` positive, ``[low, high)`` ignore region, ``< low`` dropped.

    Defaults measured on the 39 MOT17-mini frames with the default (multi-scale) teachers: fused boxes
    ``>= 0.45`` are 93.9% people (recall 0.60; ``>= 0.5``: 95.3%, 0.57), boxes in ``[0.2, 0.45)`` are
    41% people (neither a safe positive nor a safe negative: ignored).
    """

    high: float = 0.45
    low: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 < self.low <= self.high <= 1.0:
            raise ValueError(f"thresholds: expected 0 < --low <= --high <= 1, got --low {self.low} --high {self.high}")


@dataclass(frozen=True)
class LabelRows:
    """Ground-truth rows of a sequence as columns (N rows), sorted by frame then id.

    frame: (N,) int64, 1-based; track_id: (N,) int64 >= 1; xyxy: (N, 4) float32 frame pixels;
    conf: (N,) int64, 1 = positive, 0 = ignore region; score: (N,) float32 fused teacher score.
    """

    frame: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    conf: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def tlwh(self) -> np.ndarray:
        return np.concatenate([self.xyxy[:, :2], self.xyxy[:, 2:] - self.xyxy[:, :2]], 1)


@dataclass
class _Frame:
    frame: int
    xyxy: np.ndarray
    score: np.ndarray
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # 0 = not assigned yet


class SequenceLabeler:
    """Collects one sequence's fused boxes frame by frame and assigns ids (see the module docstring).

    Args:
        thresholds: the score bands.
        mode: ``"video"`` (link boxes over time with the tracker) or ``"stills"`` (one id per box).
        frame_rate: frames per second of the labelled frames (after any stride), for the tracker's
            lost-track buffer.
    """

    def __init__(self, thresholds: LabelThresholds, mode: str = "video", frame_rate: float = 30.0) -> None:
        if mode not in ("video", "stills"):
            raise ValueError(f"mode must be 'video' or 'stills', got {mode!r}")
        self.thresholds, self.mode = thresholds, mode
        self._frames: list[_Frame] = []
        self._tracker = None
        if mode == "video":
            from mottrack_sdk import Tracker
            from mottrack_sdk.tracking.options import TrackerOptions

            # every box may carry an id: no output filters on area or aspect ratio
            options = TrackerOptions(det_thresh=thresholds.high, low_score_thresh=thresholds.low,
                                     frame_rate=frame_rate, min_box_area=0.0, max_aspect_ratio=None)
            self._tracker = Tracker(options)
        self._seen: set[int] = set()

    def add(self, frame: int, xyxy: np.ndarray, scores: np.ndarray, embeddings: np.ndarray | None = None) -> None:
        """Add frame ``frame`` (1-based, increasing): fused ``xyxy (N, 4)`` frame px, ``scores (N,)``,
        optional ``embeddings (N, D)`` for the tracker. Boxes under ``low`` or with no area are dropped."""
        if self._frames and frame <= self._frames[-1].frame:
            raise ValueError(f"frames must increase, got {frame} after {self._frames[-1].frame}")
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        keep = (scores >= self.thresholds.low) & (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        entry = _Frame(frame, xyxy[keep], scores[keep], np.zeros(int(keep.sum()), np.int64))
        if self._tracker is not None:
            emb = None if embeddings is None else np.asarray(embeddings, np.float32)[keep]
            self._link(entry, emb)
        self._frames.append(entry)

    def _link(self, entry: _Frame, embeddings: np.ndarray | None) -> None:
        tracks = self._tracker.update_detections(entry.xyxy, entry.score, embeddings)
        if not tracks or not len(entry.score):
            return
        # A returned track was updated by one of this frame's boxes, whose score it carries: match
        # on equal score first, then on overlap with the track's (Kalman posterior) box.
        t_boxes = np.array([t.xyxy for t in tracks], np.float64)
        t_scores = np.array([t.score for t in tracks], np.float64)
        iou = iou_matrix(t_boxes, entry.xyxy.astype(np.float64))
        same = np.abs(t_scores[:, None] - entry.score[None, :].astype(np.float64)) <= 1e-6
        affinity = np.where(same, 1.0 + iou, iou)
        for flat in np.argsort(-affinity, axis=None, kind="stable").tolist():
            ti, dj = divmod(flat, len(entry.score))
            if affinity[ti, dj] <= 0 or entry.ids[dj] or tracks[ti].track_id in entry.ids:
                continue
            entry.ids[dj] = tracks[ti].track_id
        for t in tracks:
            if t.track_id in self._seen:
                continue
            self._seen.add(t.track_id)
            if t.hits == 2 and self._frames and t.track_id in entry.ids:
                self._backfill_birth(t.track_id, entry.xyxy[list(entry.ids).index(t.track_id)])

    def _backfill_birth(self, track_id: int, confirming_xyxy: np.ndarray) -> None:
        prev = self._frames[-1]
        free = (prev.ids == 0) & (prev.score >= self.thresholds.high)  # tracks are born from positives
        if not free.any():
            return
        iou = iou_matrix(confirming_xyxy[None].astype(np.float64), prev.xyxy.astype(np.float64))[0]
        iou[~free] = -1.0
        j = int(np.argmax(iou))
        if iou[j] >= BIRTH_IOU:
            prev.ids[j] = track_id

    def rows(self) -> LabelRows:
        """All rows so far; boxes without a track id get fresh ids after the largest track id."""
        next_id = max((int(f.ids.max()) for f in self._frames if len(f.ids)), default=0) + 1
        self._first_fresh = next_id
        frames, ids, boxes, conf, scores = [], [], [], [], []
        for f in self._frames:
            ids_f = f.ids.copy()
            for j in np.flatnonzero(ids_f == 0).tolist():
                ids_f[j], next_id = next_id, next_id + 1
            frames.append(np.full(len(ids_f), f.frame, np.int64))
            ids.append(ids_f)
            boxes.append(f.xyxy)
            conf.append((f.score >= self.thresholds.high).astype(np.int64))
            scores.append(f.score)
        if not frames:
            return LabelRows(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), np.float32),
                             np.zeros(0, np.int64), np.zeros(0, np.float32))
        frame, track_id = np.concatenate(frames), np.concatenate(ids)
        order = np.lexsort((track_id, frame))
        return LabelRows(frame[order], track_id[order], np.concatenate(boxes)[order], np.concatenate(conf)[order],
                         np.concatenate(scores)[order])

    def counts(self) -> dict[str, int]:
        """Frames, positives, ignore regions, identities of positives (those from tracks, and single
        boxes with a fresh id) of the rows so far."""
        rows = self.rows()
        pos = rows.conf == 1
        ids = np.unique(rows.track_id[pos])
        return {"frames": len(self._frames), "frames_with_boxes": int(len(np.unique(rows.frame[pos]))),
                "boxes": int(pos.sum()), "ignore_boxes": int((~pos).sum()), "identities": int(len(ids)),
                "tracked_identities": int((ids < self._first_fresh).sum()),
                "untracked_boxes": int((rows.track_id[pos] >= self._first_fresh).sum())}
