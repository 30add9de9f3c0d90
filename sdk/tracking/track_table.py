"""Column-oriented storage of all live tracks (one numpy array per attribute).

A frame's bookkeeping is a few whole-array operations (gather, scatter, boolean select, append)
instead of a Python object per track. Removed tracks are dropped from every column at once, so
memory is bounded by the number of live tracks.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from mottrack_sdk.types import TrackState


@dataclass
class TrackTable:
    """All live tracks; row i of every column is track i. T = len(self)."""

    uid: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))        # internal, never reused
    track_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # public id, 0 until confirmed
    state: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))       # TrackState
    class_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    start_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    last_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # last detection
    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mean: np.ndarray = field(default_factory=lambda: np.zeros((0, 8)))              # Kalman state
    cov: np.ndarray = field(default_factory=lambda: np.zeros((0, 8, 8)))
    template: np.ndarray | None = None        # (T, D) float32 unit vectors (zero rows: none yet)
    has_template: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.uid)

    def _columns(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def keep(self, mask: np.ndarray) -> None:
        """Keep rows where ``mask`` is True; all others are removed for good."""
        if mask.all():
            return
        for name in self._columns():
            setattr(self, name, getattr(self, name)[mask])

    def append(self, other: "TrackTable") -> None:
        """Append the rows of ``other`` (new tracks)."""
        if len(other) == 0:
            return
        if self.template is None and other.template is not None:
            self.template = np.zeros((len(self), other.template.shape[1]), np.float32)
        if other.template is None and self.template is not None:
            other.template = np.zeros((len(other), self.template.shape[1]), np.float32)
        for name in self._columns():
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))

    def is_state(self, state: TrackState) -> np.ndarray:
        return self.state == np.int8(state)
