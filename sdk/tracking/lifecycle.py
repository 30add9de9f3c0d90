"""After association: Kalman updates, the track lifecycle and the frame's output (the second half of
:class:`~mottrack_sdk.tracking.core.AssociationCore`'s frame; the native core's twin is
``bindings/src/association_lifecycle.cpp``).

:class:`TrackLifecycle` is a mixin: it works on the core's ``table``, ``options``, ``kf``,
``frame_id`` and ID counters, and the per-frame detection matrix the core builds (rows: box, xyah,
area, score). Tracks move tentative → tracked (after ``min_hits`` consecutive matches; the first
frame's at once) → lost (unmatched) → removed (after ``max_time_lost`` frames lost, or a tentative
track's first miss); tracked/lost duplicates lose the younger track.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mottrack_sdk.tracking.kalman import xyah_rows_to_xyxy
from mottrack_sdk.tracking.matching import over_threshold_chunks
from mottrack_sdk.tracking.track_table import (CLASS_ID, FLOAT_WIDTH, HAS_TEMPLATE, HITS, INT_WIDTH, LAST_FRAME,
                                               SCORE, START_FRAME, STATE, TRACK_ID, UID)
from mottrack_sdk.types import TrackState

if TYPE_CHECKING:
    from mottrack_sdk.tracking.kalman import KalmanBoxFilter
    from mottrack_sdk.tracking.options import TrackerOptions
    from mottrack_sdk.tracking.track_table import TrackTable

_TRACKED, _LOST, _TENTATIVE = int(TrackState.TRACKED), int(TrackState.LOST), int(TrackState.TENTATIVE)
# rows of the core's per-frame detection matrix (10, M)
_XYAH, _D_SCORE = slice(4, 8), 9


@dataclass(frozen=True)
class FrameTracks:
    """Confirmed, tracked, output-filtered tracks of one frame as columns (T rows)."""

    track_id: np.ndarray   # (T,) int64
    xyxy: np.ndarray       # (T, 4) float64, Kalman posterior, frame pixels (may be a transposed view)
    score: np.ndarray      # (T,) float64
    class_id: np.ndarray   # (T,) int64
    hits: np.ndarray       # (T,) int64
    age: np.ndarray        # (T,) int64 frames since birth


class TrackLifecycle:
    """The lifecycle half of ``AssociationCore`` (see the module docstring)."""

    table: TrackTable
    options: TrackerOptions
    kf: KalmanBoxFilter
    frame_id: int
    max_window_pairs: int
    _next_uid: int
    _next_id: int
    _multi_class: bool

    def _update_matched(self, match: np.ndarray, det: np.ndarray, embeddings: np.ndarray | None,
                        is_high: np.ndarray) -> None:
        """Kalman update, score, hits, state, template of every track that took a detection."""
        tab, o = self.table, self.options
        matched = match >= 0
        if not np.count_nonzero(matched):
            return
        # Every track goes through the update, the unmatched ones with a zero gain (left exactly
        # as they are; they read detection -1, any finite values do): fewer calls than a gather,
        # an update of the matched columns and a scatter.
        db = det.take(match, 1)
        self.kf.update_packed(tab.f, db[_XYAH], matched)
        np.copyto(tab.f[SCORE], db[_D_SCORE], where=matched)
        iv = tab.i
        state = iv[STATE]
        if embeddings is not None:
            rows = matched.nonzero()[0]
            d = match.take(rows)
            h = is_high.take(d).nonzero()[0]  # low-score detections never touch a template
            r, e = rows.take(h), embeddings[d.take(h)]
            if tab.template is None:
                tab.template = np.zeros((len(tab), e.shape[1]), np.float32)
            m = np.where(iv[HAS_TEMPLATE].take(r) != 0, o.template_momentum, 0.0).astype(np.float32)[:, None]
            new = tab.template[r]   # new = m·old + (1 − m)·e, re-normalised; in place on the gathered
            new *= m                # copy (the same float32 operations, fewer large temporaries)
            e = e * (1.0 - m)
            new += e
            # np.linalg.norm(new, axis=1, keepdims=True) is this, without its dispatch overhead
            new /= np.sqrt(np.add.reduce(np.multiply(new, new, out=e), axis=1, keepdims=True))
            tab.template[r] = new
            iv[HAS_TEMPLATE, r] = 1
        iv[HITS] += matched
        np.copyto(iv[LAST_FRAME], self.frame_id, where=matched)
        tentative = matched & (state == _TENTATIVE)
        if o.min_hits > 2:  # birth hysteresis: a tentative track needs min_hits consecutive matches
            waiting = tentative & (iv[HITS] < o.min_hits)
            tentative &= ~waiting
            matched &= ~waiting
        np.copyto(state, _TRACKED, where=matched)
        self._confirm(tentative.nonzero()[0])

    def _age_out(self) -> None:
        """Unmatched tracked -> lost; drop expired lost and unmatched tentative tracks.

        After :meth:`_update_matched` a track was matched this frame iff its last frame is this one,
        and every tentative track left is an unmatched one (a match makes it tracked).
        JDE predicts lost tracks with the height velocity vh set to 0: nothing but an update changes
        a velocity, so zeroing vh once, when a track becomes lost, is the same. Tentative tracks are
        born with vh = 0 and, with ``min_hits`` > 2, keep the velocity their updates give them while
        they wait for confirmation (JDE, with two-hit births, never updates a tentative track).
        """
        tab = self.table
        state, last = tab.i[STATE], tab.i[LAST_FRAME]
        lost_now = (state == _TRACKED) & (last < self.frame_id)
        state[lost_now] = _LOST
        np.copyto(tab.f[7], 0.0, where=lost_now)
        drop = (state == _LOST) & (last < self.frame_id - self.options.max_time_lost)
        drop |= (state == _TENTATIVE) & (last < self.frame_id)
        if np.count_nonzero(drop):
            tab.keep(~drop)

    def _spawn(self, dets: np.ndarray, det: np.ndarray, embeddings: np.ndarray | None,
               classes: np.ndarray | None) -> None:
        k = len(dets)
        if k == 0:
            return
        first = self.frame_id == 1  # JDE: tracks of the very first frame are confirmed at once
        db = det.take(dets, 1)
        f = self.kf.initiate_packed(db[_XYAH], FLOAT_WIDTH)
        f[SCORE] = db[_D_SCORE]
        iv = np.empty((INT_WIDTH, k), np.int64)
        # uid, track_id, class_id, start, last, hits, state, has_template
        iv[:] = np.array([0, 0, 0, self.frame_id, self.frame_id, 1, _TRACKED if first else _TENTATIVE,
                          embeddings is not None])[:, None]
        iv[UID] = np.arange(self._next_uid, self._next_uid + k)
        if classes is not None:
            iv[CLASS_ID] = classes.take(dets)
        self._next_uid += k
        start = len(self.table)
        self.table.append(f, iv, None if embeddings is None else embeddings[dets])
        if first:
            self._confirm(np.arange(start, start + k))

    def _confirm(self, rows: np.ndarray) -> None:
        """Give newly confirmed tracks public IDs: per instance, from 1, increasing, never reused.

        ``rows`` is ascending and tracks are stored in uid (birth) order, so IDs follow birth order.
        """
        if len(rows):
            self.table.i[TRACK_ID, rows] = np.arange(self._next_id, self._next_id + len(rows))
            self._next_id += len(rows)

    def _remove_duplicates(self) -> np.ndarray | None:
        """Tracked vs lost pairs with IoU above ``duplicate_iou``: the younger of the two goes.

        Returns the (4, T) posterior boxes of the remaining tracks when it computed them (else None).
        """
        tab = self.table
        is_lost = tab.i[STATE] == _LOST
        n_lost = np.count_nonzero(is_lost)
        if n_lost == 0 or n_lost == len(is_lost):
            return None
        lost, other = is_lost.nonzero()[0], (~is_lost).nonzero()[0]
        boxes = xyah_rows_to_xyxy(tab.f)
        start = tab.i[START_FRAME]
        keep = None
        # each pair's verdict depends on that pair alone, so the pairs can come in chunks
        for li, oj in over_threshold_chunks(boxes.take(lost, 1), boxes.take(other, 1), self.options.duplicate_iou,
                                            self.max_window_pairs):
            q, p = lost.take(li), other.take(oj)
            if self._multi_class and len(p):
                same = tab.i[CLASS_ID].take(p) == tab.i[CLASS_ID].take(q)
                q, p = q.compress(same), p.compress(same)
            if len(p):
                keep = np.ones(len(tab), bool) if keep is None else keep
                keep[np.where(start.take(p) < start.take(q), q, p)] = False  # the older has the earlier start
        if keep is None:
            return boxes
        tab.keep(keep)
        return boxes.compress(keep, axis=1)

    def _output(self, boxes: np.ndarray | None) -> FrameTracks:
        tab, o = self.table, self.options
        iv = tab.i
        rows = (iv[STATE] == _TRACKED).nonzero()[0]  # a tracked track is always confirmed (has an id)
        xyxy = xyah_rows_to_xyxy(tab.f.take(rows, 1)) if boxes is None else boxes.take(rows, 1)
        wh = xyxy[2:] - xyxy[:2]
        keep = wh[0] * wh[1] > o.min_box_area
        if o.max_aspect_ratio is not None:
            keep &= wh[0] / wh[1] <= o.max_aspect_ratio
        if np.count_nonzero(keep) < len(keep):
            rows, xyxy = rows.compress(keep), xyxy.compress(keep, axis=1)
        iv = iv.take(rows, 1)
        return FrameTracks(iv[TRACK_ID], xyxy.T, tab.f[SCORE].take(rows), iv[CLASS_ID], iv[HITS],
                           self.frame_id - iv[START_FRAME])
