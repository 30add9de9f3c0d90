"""Plain data passed between stages: detections in, tracks out.

Box formats are in the field names: ``xyxy`` = (left, top, right, bottom), ``tlwh`` = (left, top,
width, height), both in frame pixels. Nothing here refers back into a tracker's internals.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import numpy as np

# The smallest frame side anything is done with: camera-motion estimation cannot match smaller frames,
# Tracker.update refuses them and the frame readers skip them.
MIN_FRAME_SIDE = 8


class TrackState(IntEnum):
    """Lifecycle of a track. Removed tracks are dropped, never retained."""

    TENTATIVE = 0  # born from a detection, not yet confirmed by a second match (not output)
    TRACKED = 1    # matched in the latest frame
    LOST = 2       # unmatched for up to the lost-track buffer, kept for re-identification


class Track(NamedTuple):
    """One confirmed track in one frame (an immutable record; cheap to build in bulk).

    ``xyxy`` is the Kalman posterior box in frame pixels; ``score`` the score of the detection
    that last updated it; ``hits`` the number of detections it has taken; ``age`` the frames since
    it was born; ``time_since_update`` the frames since its last detection (0 when TRACKED).
    """

    track_id: int
    xyxy: tuple[float, float, float, float]
    score: float
    class_id: int
    state: TrackState
    hits: int
    age: int
    time_since_update: int

    @property
    def tlwh(self) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = self.xyxy
        return (x1, y1, x2 - x1, y2 - y1)


@dataclass(frozen=True)
class Detections:
    """Column-oriented detections of one frame.

    xyxy: (N, 4) float32 boxes in frame pixels; scores: (N,) float32; embeddings: (N, D) float32
    (L2-normalised by the producer or the tracker) or None; classes: (N,) int64 or None
    (None = one class).
    """

    xyxy: np.ndarray
    scores: np.ndarray
    embeddings: np.ndarray | None = None
    classes: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"Detections.xyxy: expected shape (N, 4), got {self.xyxy.shape}")
        for name in ("scores", "embeddings", "classes"):
            col = getattr(self, name)
            if col is not None and len(col) != n:
                raise ValueError(f"Detections.{name}: expected {n} rows (one per box), got {len(col)}")

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls, embedding_dim: int | None = None) -> "Detections":
        emb = None if embedding_dim is None else np.zeros((0, embedding_dim), np.float32)
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), emb, None)

    def select(self, index: np.ndarray) -> "Detections":
        """Rows ``index`` (boolean mask or integer indices) as new Detections."""
        return Detections(
            self.xyxy[index],
            self.scores[index],
            None if self.embeddings is None else self.embeddings[index],
            None if self.classes is None else self.classes[index],
        )


def tracks_to_arrays(tracks: list[Track]) -> dict[str, np.ndarray]:
    """Stack tracks into columns: ``track_id`` (T,), ``xyxy`` (T, 4), ``score`` (T,), ``class_id`` (T,)."""
    try:
        tracks = [] if tracks is None else list(tracks)
    except TypeError:
        raise ValueError(f"tracks: expected a list of Track (what Tracker.update returns), got "
                         f"{type(tracks).__name__}") from None
    stray = next((t for t in tracks if not isinstance(t, Track)), None)
    if stray is not None:
        raise ValueError(f"tracks: expected a list of Track (what Tracker.update returns), got "
                         f"{type(stray).__name__} {stray!r:.60} in it")
    if not tracks:
        return {"track_id": np.zeros(0, np.int64), "xyxy": np.zeros((0, 4)),
                "score": np.zeros(0), "class_id": np.zeros(0, np.int64)}
    return {
        "track_id": np.array([t.track_id for t in tracks], np.int64),
        "xyxy": np.array([t.xyxy for t in tracks], np.float64),
        "score": np.array([t.score for t in tracks], np.float64),
        "class_id": np.array([t.class_id for t in tracks], np.int64),
    }
