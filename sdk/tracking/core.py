"""The JDE / CSTrack association cascade over column-oriented track storage.

One :meth:`AssociationCore.step` per frame:

1. predict every track with the batch Kalman filter (lost tracks' height velocity zeroed, as JDE);
2. stage 1: confirmed tracks (tracked + lost) vs high-score detections, cost
   ``w·cosine(template, embedding) + (1 − w)·Mahalanobis²`` with the χ² gate (embedding mode), or
   ``1 − IoU`` under the same gate (motion-only mode);
3. stage 2 (embedding mode): remaining *tracked* tracks vs remaining high-score detections, 1 − IoU;
4. stage 2b, low-score rescue: remaining tracked tracks vs low-score detections, 1 − IoU
   (a low-score detection continues a track, it never starts one);
5. stage 3: tentative tracks vs remaining high-score detections, 1 − IoU;
6. updates, lifecycle (tracked → lost → removed after ``max_time_lost``), new tentative tracks,
   tracked/lost duplicate removal, public IDs for newly confirmed tracks.

Every stage only considers pairs of the same class and assigns with ``lap.lapjv`` under the
stage's cost limit. Inputs are validated by the caller (``Tracker``): float64 boxes with positive
sizes, finite scores, unit-norm float32 embeddings or None, int64 classes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mottrack_sdk.tracking.kalman import KalmanBoxFilter, mahalanobis_sq_pairs, xyah_to_xyxy, xyxy_to_xyah
from mottrack_sdk.tracking.matching import assign_pairs, iou_pairs, overlap_pairs, sweep_pairs
from mottrack_sdk.tracking.options import TrackerOptions
from mottrack_sdk.tracking.track_table import TrackTable
from mottrack_sdk.types import TrackState

_TRACKED, _LOST, _TENTATIVE = np.int8(TrackState.TRACKED), np.int8(TrackState.LOST), np.int8(TrackState.TENTATIVE)


@dataclass(frozen=True)
class FrameTracks:
    """Confirmed, tracked, output-filtered tracks of one frame as columns (T rows)."""

    track_id: np.ndarray   # (T,) int64
    xyxy: np.ndarray       # (T, 4) float64, Kalman posterior, frame pixels
    score: np.ndarray      # (T,) float64
    class_id: np.ndarray   # (T,) int64
    hits: np.ndarray       # (T,) int64
    age: np.ndarray        # (T,) int64 frames since birth


class AssociationCore:
    """Stateful per-stream association; see the module docstring for the cascade."""

    def __init__(self, options: TrackerOptions):
        self.options = options
        self.kf = KalmanBoxFilter(options.std_weight_position, options.std_weight_velocity)
        self.reset()

    def reset(self) -> None:
        self.table = TrackTable()
        self.frame_id = 0
        self._next_uid = 1
        self._next_id = 1

    # ------------------------------------------------------------------ per frame
    def step(self, xyxy: np.ndarray, scores: np.ndarray, embeddings: np.ndarray | None,
             classes: np.ndarray) -> FrameTracks:
        o, tab = self.options, self.table
        self.frame_id += 1
        if len(tab):
            mean = tab.mean.copy()
            mean[tab.state != _TRACKED, 7] = 0.0
            tab.mean, tab.cov = self.kf.predict(mean, tab.cov)
        det_xyah = xyxy_to_xyah(xyxy)
        track_xyxy = xyah_to_xyxy(tab.mean)
        high = np.nonzero(scores >= o.det_thresh)[0]
        low = (np.zeros(0, np.intp) if o.low_score_thresh is None
               else np.nonzero((scores >= o.low_score_thresh) & (scores < o.det_thresh))[0])

        match = np.full(len(tab), -1, np.intp)      # track row -> detection index
        taken = np.zeros(len(scores), bool)
        pool = np.nonzero(tab.state != _TENTATIVE)[0]
        use_embeddings = embeddings is not None and tab.template is not None

        # stage 1: appearance + motion (or IoU + motion)
        ti, dj, maha = self._gated_pairs(pool, high, det_xyah, classes)
        if use_embeddings:
            cos = 1.0 - np.einsum("pd,pd->p", tab.template[pool[ti]], embeddings[high[dj]])
            cost = o.fusion_weight * cos + (1.0 - o.fusion_weight) * maha
            limit = o.embedding_thresh
        else:
            cost = 1.0 - iou_pairs(track_xyxy, xyxy, pool[ti], high[dj])
            limit = o.motion_thresh
        self._commit(pool, high, ti, dj, cost, limit, match, taken)

        # stage 2: IoU for tracks that were tracked in the previous frame
        if use_embeddings:
            self._iou_stage(self._free_rows(pool, match, _TRACKED), high[~taken[high]],
                            track_xyxy, xyxy, classes, o.iou_thresh, match, taken)
        # stage 2b: low-score rescue
        self._iou_stage(self._free_rows(pool, match, _TRACKED), low,
                        track_xyxy, xyxy, classes, o.low_score_iou_thresh, match, taken)
        # stage 3: tentative tracks
        tentative = np.nonzero(tab.state == _TENTATIVE)[0]
        self._iou_stage(tentative, high[~taken[high]], track_xyxy, xyxy, classes,
                        o.tentative_iou_thresh, match, taken)

        self._update_matched(match, xyxy, det_xyah, scores, embeddings, high)
        self._age_out(match)
        self._spawn(high[~taken[high]], det_xyah, scores, embeddings, classes)
        self._remove_duplicates()
        return self._output()

    # ------------------------------------------------------------------ stages
    def _gated_pairs(self, rows: np.ndarray, dets: np.ndarray, det_xyah: np.ndarray,
                     classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate (row, det) pairs of the same class inside the χ² gate, with Mahalanobis²."""
        tab, o = self.table, self.options
        if len(rows) == 0 or len(dets) == 0:
            empty = np.zeros(0, np.intp)
            return empty, empty, np.zeros(0)
        z, s_inv, s_diag = self.kf.gating_inverse(tab.mean[rows], tab.cov[rows])
        dz = det_xyah[dets]
        if o.gating:
            radius = np.sqrt(o.gating_threshold * s_diag)
            ti, dj = sweep_pairs(z[:, 0], radius[:, 0], dz[:, 0])
            keep = np.abs(dz[dj, 1] - z[ti, 1]) <= radius[ti, 1]
            keep &= np.abs(dz[dj, 3] - z[ti, 3]) <= radius[ti, 3]
            keep &= tab.class_id[rows[ti]] == classes[dets[dj]]
            ti, dj = ti[keep], dj[keep]
        else:
            ti, dj = (a.ravel() for a in np.meshgrid(np.arange(len(rows)), np.arange(len(dets)), indexing="ij"))
            keep = tab.class_id[rows[ti]] == classes[dets[dj]]
            ti, dj = ti[keep], dj[keep]
        maha = mahalanobis_sq_pairs(z, s_inv, dz, ti, dj)
        if o.gating:
            inside = maha <= o.gating_threshold
            ti, dj, maha = ti[inside], dj[inside], maha[inside]
        return ti, dj, maha

    def _iou_stage(self, rows: np.ndarray, dets: np.ndarray, track_xyxy: np.ndarray, xyxy: np.ndarray,
                   classes: np.ndarray, limit: float, match: np.ndarray, taken: np.ndarray) -> None:
        if len(rows) == 0 or len(dets) == 0:
            return
        ti, dj = overlap_pairs(track_xyxy[rows], xyxy[dets])
        same = self.table.class_id[rows[ti]] == classes[dets[dj]]
        ti, dj = ti[same], dj[same]
        cost = 1.0 - iou_pairs(track_xyxy, xyxy, rows[ti], dets[dj])
        self._commit(rows, dets, ti, dj, cost, limit, match, taken)

    @staticmethod
    def _commit(rows: np.ndarray, dets: np.ndarray, ti: np.ndarray, dj: np.ndarray, cost: np.ndarray,
                limit: float, match: np.ndarray, taken: np.ndarray) -> None:
        mt, md = assign_pairs(ti, dj, cost, limit, len(rows), len(dets))
        match[rows[mt]] = dets[md]
        taken[dets[md]] = True

    def _free_rows(self, rows: np.ndarray, match: np.ndarray, state: np.int8) -> np.ndarray:
        return rows[(match[rows] < 0) & (self.table.state[rows] == state)]

    # ------------------------------------------------------------------ lifecycle
    def _update_matched(self, match: np.ndarray, xyxy: np.ndarray, det_xyah: np.ndarray, scores: np.ndarray,
                        embeddings: np.ndarray | None, high: np.ndarray) -> None:
        tab, o = self.table, self.options
        rows = np.nonzero(match >= 0)[0]
        if len(rows) == 0:
            return
        d = match[rows]
        tab.mean[rows], tab.cov[rows] = self.kf.update(tab.mean[rows], tab.cov[rows], det_xyah[d])
        if embeddings is not None:
            is_high = np.zeros(len(scores), bool)
            is_high[high] = True
            r, e = rows[is_high[d]], embeddings[d[is_high[d]]]
            if tab.template is None:
                tab.template = np.zeros((len(tab), e.shape[1]), np.float32)
            old = tab.template[r]
            m = np.where(tab.has_template[r], o.template_momentum, 0.0).astype(np.float32)[:, None]
            new = m * old + (1.0 - m) * e
            tab.template[r] = new / np.linalg.norm(new, axis=1, keepdims=True)
            tab.has_template[r] = True
        newly = rows[tab.state[rows] == _TENTATIVE]
        tab.state[rows] = _TRACKED
        tab.score[rows] = scores[d]
        tab.hits[rows] += 1
        tab.last_frame[rows] = self.frame_id
        self._confirm(newly)

    def _age_out(self, match: np.ndarray) -> None:
        tab = self.table
        unmatched = match < 0
        tab.state[unmatched & (tab.state == _TRACKED)] = _LOST
        expired = (tab.state == _LOST) & (self.frame_id - tab.last_frame > self.options.max_time_lost)
        tab.keep(~(expired | (unmatched & (tab.state == _TENTATIVE))))

    def _spawn(self, dets: np.ndarray, det_xyah: np.ndarray, scores: np.ndarray,
               embeddings: np.ndarray | None, classes: np.ndarray) -> None:
        k = len(dets)
        if k == 0:
            return
        mean, cov = self.kf.initiate(det_xyah[dets])
        first = self.frame_id == 1  # JDE: tracks of the very first frame are confirmed at once
        new = TrackTable(
            uid=np.arange(self._next_uid, self._next_uid + k, dtype=np.int64),
            track_id=np.zeros(k, np.int64),
            state=np.full(k, _TRACKED if first else _TENTATIVE, np.int8),
            class_id=classes[dets].copy(), score=scores[dets].astype(np.float64),
            start_frame=np.full(k, self.frame_id, np.int64), last_frame=np.full(k, self.frame_id, np.int64),
            hits=np.ones(k, np.int64), mean=mean, cov=cov,
            template=None if embeddings is None else embeddings[dets].astype(np.float32, copy=True),
            has_template=np.full(k, embeddings is not None),
        )
        self._next_uid += k
        start = len(self.table)
        self.table.append(new)
        if first:
            self._confirm(np.arange(start, start + k))

    def _confirm(self, rows: np.ndarray) -> None:
        """Give newly confirmed rows public IDs: per instance, from 1, increasing, never reused."""
        if len(rows):
            rows = rows[np.argsort(self.table.uid[rows])]
            self.table.track_id[rows] = np.arange(self._next_id, self._next_id + len(rows))
            self._next_id += len(rows)

    def _remove_duplicates(self) -> None:
        """Tracked vs lost pairs with IoU above ``duplicate_iou``: the younger of the two goes."""
        tab = self.table
        tracked = np.nonzero(tab.state != _LOST)[0]
        lost = np.nonzero(tab.state == _LOST)[0]
        if len(tracked) == 0 or len(lost) == 0:
            return
        boxes = xyah_to_xyxy(tab.mean)
        ti, lj = overlap_pairs(boxes[tracked], boxes[lost])
        p, q = tracked[ti], lost[lj]
        dup = (iou_pairs(boxes, boxes, p, q) > self.options.duplicate_iou) & (tab.class_id[p] == tab.class_id[q])
        if not dup.any():
            return
        p, q = p[dup], q[dup]
        age_p, age_q = self.frame_id - tab.start_frame[p], self.frame_id - tab.start_frame[q]
        drop = np.zeros(len(tab), bool)
        drop[np.where(age_p > age_q, q, p)] = True
        tab.keep(~drop)

    def _output(self) -> FrameTracks:
        tab, o = self.table, self.options
        out = (tab.state == _TRACKED) & (tab.track_id > 0)
        xyxy = xyah_to_xyxy(tab.mean[out])
        w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
        keep = w * h > o.min_box_area
        if o.max_aspect_ratio is not None:
            keep &= w / h <= o.max_aspect_ratio
        rows = np.nonzero(out)[0][keep]
        return FrameTracks(tab.track_id[rows], xyxy[keep], tab.score[rows], tab.class_id[rows],
                           tab.hits[rows], self.frame_id - tab.start_frame[rows])
