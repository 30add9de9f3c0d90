"""Column-oriented storage of all live tracks, packed into two 2-D arrays (plus templates).

A frame's bookkeeping is a few whole-array operations (gather, scatter, boolean select, append)
instead of a Python object per track. The attributes are packed by dtype and stored
attribute-major: every float64 attribute (Kalman mean, covariance blocks, score) is one row of a
``(FLOAT_WIDTH, T)`` array and every integer attribute one row of an ``(INT_WIDTH, T)`` int64 array.
At tracking sizes (tens to hundreds of tracks) each numpy call costs more in fixed overhead than in
work, so removing or appending tracks is three calls instead of twelve, and the Kalman update
gathers and scatters all attributes of the matched tracks in one call each; attribute-major keeps
every attribute (and every 4-row Kalman block) contiguous for the elementwise work.
Removed tracks are dropped from every array at once, so memory is bounded by the live tracks.

The named attributes of the previous layout (``uid``, ``state``, ``mean``, ...) remain available as
read-only properties (views; ``cov`` is rebuilt as (T, 8, 8)) for tests and inspection.
"""
from __future__ import annotations

import numpy as np

from mottrack_sdk.tracking.kalman import MEAN, PACKED_WIDTH, unpack_cov
from mottrack_sdk.types import TrackState

# float64 rows: the packed Kalman state (mean, covariance blocks; see kalman.py), then the score.
SCORE = PACKED_WIDTH
FLOAT_WIDTH = PACKED_WIDTH + 1
# int64 rows.
UID, TRACK_ID, CLASS_ID, START_FRAME, LAST_FRAME, HITS, STATE, HAS_TEMPLATE = range(8)
INT_WIDTH = 8


class TrackTable:
    """All live tracks; column t of ``f`` and ``i`` (row t of ``template``) is track t. T = len(self).

    ``f`` (FLOAT_WIDTH, T) float64, ``i`` (INT_WIDTH, T) int64 (rows named by the module
    constants), ``template`` (T, D) float32 unit vectors (zero rows: none yet) or None while no
    embedding has been seen. ``uid`` is internal and never reused; ``track_id`` is the public id,
    0 until the track is confirmed; ``last_frame`` is the frame of the last detection.
    """

    __slots__ = ("f", "i", "template")

    def __init__(self) -> None:
        self.f = np.zeros((FLOAT_WIDTH, 0))
        self.i = np.zeros((INT_WIDTH, 0), np.int64)
        self.template: np.ndarray | None = None

    def __len__(self) -> int:
        return self.i.shape[1]

    def keep(self, mask: np.ndarray) -> None:
        """Keep rows where ``mask`` is True; all others are removed for good."""
        # compress, not f[:, mask]: boolean indexing along axis 1 returns a Fortran-ordered array, and
        # every later row operation on it would stride through memory (2-3x slower)
        self.f = self.f.compress(mask, axis=1)
        self.i = self.i.compress(mask, axis=1)
        if self.template is not None:
            self.template = self.template[mask]

    def append(self, f: np.ndarray, i: np.ndarray, template: np.ndarray | None) -> None:
        """Append new tracks: ``f`` (FLOAT_WIDTH, K), ``i`` (INT_WIDTH, K), ``template`` (K, D) or
        None (no embedding for them)."""
        if template is not None and self.template is None:
            self.template = np.zeros((len(self), template.shape[1]), np.float32)
        if self.template is not None:
            if template is None:
                template = np.zeros((i.shape[1], self.template.shape[1]), np.float32)
            self.template = np.concatenate([self.template, template])
        self.f = np.concatenate([self.f, f], axis=1)
        self.i = np.concatenate([self.i, i], axis=1)

    # -- named read-only views (inspection and tests; the core works on the packed arrays) ----
    @property
    def uid(self) -> np.ndarray:
        return self.i[UID]

    @property
    def track_id(self) -> np.ndarray:
        return self.i[TRACK_ID]

    @property
    def state(self) -> np.ndarray:
        return self.i[STATE]

    @property
    def class_id(self) -> np.ndarray:
        return self.i[CLASS_ID]

    @property
    def score(self) -> np.ndarray:
        return self.f[SCORE]

    @property
    def start_frame(self) -> np.ndarray:
        return self.i[START_FRAME]

    @property
    def last_frame(self) -> np.ndarray:
        return self.i[LAST_FRAME]

    @property
    def hits(self) -> np.ndarray:
        return self.i[HITS]

    @property
    def has_template(self) -> np.ndarray:
        return self.i[HAS_TEMPLATE].astype(bool)

    @property
    def mean(self) -> np.ndarray:
        """(T, 8) Kalman means [cx, cy, a, h, vcx, vcy, va, vh] (a transposed view)."""
        return self.f[MEAN].T

    @property
    def cov(self) -> np.ndarray:
        """(T, 8, 8) Kalman covariances, rebuilt from the packed blocks (a copy)."""
        return unpack_cov(self.f)

    def is_state(self, state: TrackState) -> np.ndarray:
        return self.i[STATE] == int(state)
