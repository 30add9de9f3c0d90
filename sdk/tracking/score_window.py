"""Adaptive score thresholds: quantiles of the latest detection scores (``TrackerOptions.det_quantile``).

A detector's scores have its own scale (a logistic, a min-max normalisation, raw margins). With
``det_quantile`` set, a frame's high threshold is the ``det_quantile`` quantile and its low-score
floor the ``low_score_quantile`` quantile of the last ``score_window`` scores seen, this frame's
included; any monotone change of the scores then leaves every decision, hence every track, the same.
The quantile is an order statistic: element ``int(q * (n - 1))`` of the n scores in ascending
order, no interpolation, so the native core (``bindings/src/score_window.cpp``) finds the same value.
Scores enter a ring buffer in detection order; a frame with more than ``score_window`` scores writes
its last ``score_window``. With ``det_quantile`` None the thresholds are the fixed ``det_thresh`` /
``low_score_thresh``.

Crowds (``crowd_drop`` > 0, fixed thresholds only): both thresholds drop by ``crowd_drop`` x r, r the
clipped linear ramp from ``crowd_low`` to ``crowd_high`` of the mean count of detections scoring
``>= det_thresh`` over the last ``crowd_frames`` frames (this one included; fewer at the start of a
stream). The counts are integers and their sum is kept exactly, so the native core computes the
same doubles (``sum / frames``, then the ramp) and the same thresholds.
"""
from __future__ import annotations

import numpy as np

from mottrack_sdk.tracking.options import TrackerOptions


class ScoreWindow:
    """This stream's thresholds; :meth:`thresholds` once per frame (``hi``, ``lo``: the last ones)."""

    def __init__(self, options: TrackerOptions) -> None:
        self.options = options
        self.hi, self.lo = options.det_thresh, options.low_score_thresh
        self._buf = np.empty(options.score_window if options.det_quantile is not None else 0)
        self._pos = self._count = 0
        # crowd counts: a ring of the last crowd_frames counts, their position, number and exact sum
        self._crowd = np.zeros(options.crowd_frames if options.crowd_drop > 0 else 0, np.int64)
        self._crowd_pos = self._crowd_count = self._crowd_sum = 0

    def thresholds(self, scores: np.ndarray) -> tuple[float, float | None]:
        """Add this frame's ``scores``; return its (high, low) thresholds (low None: rescue off)."""
        o = self.options
        if o.det_quantile is None:
            if o.crowd_drop > 0:
                drop = self._crowd_drop(int(np.count_nonzero(scores >= o.det_thresh)))
                lo = o.low_score_thresh
                self.hi, self.lo = o.det_thresh - drop, None if lo is None else lo - drop
            return self.hi, self.lo
        buf, w = self._buf, len(self._buf)
        new = scores[-w:]
        k, pos = len(new), self._pos
        first = min(k, w - pos)
        buf[pos:pos + first] = new[:first]
        buf[:k - first] = new[first:]
        self._pos = (pos + k) % w
        self._count = size = min(self._count + k, w)
        if size == 0:
            self.hi, self.lo = o.det_thresh, o.low_score_thresh
        else:
            kh = int(o.det_quantile * (size - 1))
            if o.low_score_thresh is None:
                self.hi, self.lo = float(np.partition(buf[:size], kh)[kh]), None
            else:  # low_score_quantile <= det_quantile (TrackerOptions), so kl <= kh
                kl = int(o.low_score_quantile * (size - 1))
                part = np.partition(buf[:size], (kl, kh) if kl < kh else kh)
                self.hi, self.lo = float(part[kh]), float(part[kl])
        return self.hi, self.lo

    def _crowd_drop(self, confident: int) -> float:
        """Add this frame's count of confident detections; return how far the thresholds drop."""
        o, ring = self.options, self._crowd
        if self._crowd_count == len(ring):
            self._crowd_sum -= int(ring[self._crowd_pos])
        ring[self._crowd_pos] = confident
        self._crowd_sum += confident
        self._crowd_pos = (self._crowd_pos + 1) % len(ring)
        self._crowd_count = min(self._crowd_count + 1, len(ring))
        mean = self._crowd_sum / self._crowd_count
        return o.crowd_drop * min(max((mean - o.crowd_low) / (o.crowd_high - o.crowd_low), 0.0), 1.0)

    def snapshot(self) -> tuple:
        """The state, for :meth:`restore` after a frame that failed."""
        return (self._buf.copy() if len(self._buf) else self._buf, self._pos, self._count, self.hi, self.lo,
                self._crowd.copy() if len(self._crowd) else self._crowd, self._crowd_pos, self._crowd_count,
                self._crowd_sum)

    def restore(self, state: tuple) -> None:
        (self._buf, self._pos, self._count, self.hi, self.lo,
         self._crowd, self._crowd_pos, self._crowd_count, self._crowd_sum) = state
