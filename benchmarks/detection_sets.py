"""Real detection sets for the tracker comparison and ablation (`compare_trackers.py`, `ablate_tracker.py`).

A :class:`DetectionSet` is every sequence's detections, frame by frame, with its scores mapped to
[0, 1] one way, plus where its ground truth lives. Sets (the issue-13 protocol):

* ``mot17-dpm-logistic``: MOT17 train, 7 sequences, public DPM detections, scores through a logistic;
* ``mot17-dpm-minmax``: the same detections, scores min-max normalised per sequence between the
  1st and 99th percentile, clipped to [0, 1];
* ``tud-campus-acf-minmax``: MOT15 TUD-Campus (71 frames, images available), official ACF
  detections, min-max as above (MOT15 rules: class -1 rows are pedestrians).

Detections with a non-positive width or height are dropped (the same for every tracker).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mottrack_sdk.io import find_sequences, read_mot_txt, read_seqinfo

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = ("mot17-dpm-logistic", "mot17-dpm-minmax", "tud-campus-acf-minmax")


@dataclass
class Sequence:
    name: str
    frame_rate: float
    frames: list[tuple[int, np.ndarray, np.ndarray]]   # (frame number, xyxy (N, 4), scores (N,))
    images: list[Path] | None = None                     # one per frame when the sequence has img1/


@dataclass
class DetectionSet:
    name: str
    gt_root: Path
    sequences: list[Sequence] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return sum(len(s.frames) for s in self.sequences)


def map_scores(scores: np.ndarray, mapping: str) -> np.ndarray:
    """``logistic``: 1 / (1 + exp(-s)); ``minmax``: (s - p1) / (p99 - p1) clipped to [0, 1]."""
    s = np.asarray(scores, np.float64)
    if mapping == "logistic":
        return 1.0 / (1.0 + np.exp(-s))
    if mapping == "minmax":
        lo, hi = np.percentile(s, [1.0, 99.0]) if len(s) else (0.0, 1.0)
        return np.clip((s - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    raise ValueError(f"score mapping: expected 'logistic' or 'minmax', got {mapping!r}")


def load_sequences(root: Path, mapping: str) -> list[Sequence]:
    out = []
    for seq in find_sequences(root, require="det/det.txt"):
        info = read_seqinfo(seq)
        det = read_mot_txt(seq / "det" / "det.txt")
        ok = (det.tlwh[:, 2] > 0) & (det.tlwh[:, 3] > 0)
        frame, xyxy, scores = det.frame[ok], det.xyxy[ok], map_scores(det.conf[ok], mapping)
        order = np.argsort(frame, kind="stable")
        frame, xyxy, scores = frame[order], xyxy[order], scores[order]
        bounds = np.searchsorted(frame, np.arange(1, info.seq_length + 2))
        frames = [(f, xyxy[bounds[f - 1]:bounds[f]], scores[bounds[f - 1]:bounds[f]])
                  for f in range(1, info.seq_length + 1)]
        img_dir, images = seq / info.im_dir, None
        if img_dir.is_dir():
            paths = [img_dir / f"{f:06d}{info.im_ext}" for f in range(1, info.seq_length + 1)]
            images = paths if all(p.is_file() for p in paths) else None
        out.append(Sequence(seq.name, float(info.frame_rate), frames, images))
    return out


def load_set(name: str, shared: Path = SHARED) -> DetectionSet:
    """One of :data:`SETS`; FileNotFoundError naming the folder when the data is absent."""
    if name.startswith("mot17-dpm-"):
        root = shared / "MOT17" / "train"
    elif name == "tud-campus-acf-minmax":
        root = shared / "MOT15" / "train" / "TUD-Campus"
    else:
        raise ValueError(f"detection set: expected one of {list(SETS)}, got {name!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: detection set {name} needs this folder")
    mapping = name.rsplit("-", 1)[1]
    return DetectionSet(name, root, load_sequences(root, mapping))
