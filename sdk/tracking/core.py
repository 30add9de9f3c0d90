"""The JDE / CSTrack association cascade over packed column-oriented track storage.

One :meth:`AssociationCore.step` per frame:

0. this frame's high / low score thresholds: fixed (lowered in a crowd with ``crowd_drop``), or
   quantiles of the latest scores (``det_quantile``; :class:`~mottrack_sdk.tracking.score_window.ScoreWindow`);
1. predict every track with the batch Kalman filter (lost tracks' height velocity zeroed, as JDE);
2. stage 1: confirmed tracks (tracked + lost) vs high-score detections, cost
   ``w·cosine(template, embedding) + (1 − w)·Mahalanobis²`` (embedding mode), or ``1 − IoU``
   (motion-only mode), with the χ² gate when ``gating`` is on;
3. stage 2 (embedding mode): remaining *tracked* tracks vs remaining high-score detections, 1 − IoU;
4. stage 2b, low-score rescue: remaining tracked tracks vs low-score detections, 1 − IoU
   (a low-score detection continues a track, it never starts one);
5. stage 3: tentative tracks vs remaining high-score detections, 1 − IoU;
6. updates, lifecycle (tracked → lost → removed after ``max_time_lost``; tentative → tracked
   after ``min_hits`` consecutive matches, dropped at a miss), new tentative tracks,
   tracked/lost duplicate removal, public IDs for newly confirmed tracks.

Every stage only considers pairs of the same class and assigns with ``lap.lapjv`` under the
stage's cost limit (:func:`~mottrack_sdk.tracking.matching.assign_admissible`). Inputs are
validated by the caller (``Tracker``): float64 boxes with positive sizes, finite scores, unit-norm
float32 embeddings or None, int64 classes or None (one class).

Why it is shaped this way: at tracking sizes (tens to hundreds of tracks) a numpy call costs 1-3 µs
of fixed overhead, far more than its arithmetic, so a frame is organised to make few calls:

* tracks and detections are attribute-major matrices (one row per attribute), so one ``take``
  gathers every attribute a candidate pair needs, and every elementwise operation runs over a
  contiguous row;
* the candidate pairs of *all* stages come from one search window per frame (covering both the
  χ² gate and any box overlap; :func:`~mottrack_sdk.tracking.matching.window_pairs`), and their
  IoU and Mahalanobis² are computed once; stages only select from those arrays. Only pairs inside
  the window are ever looked at, so the cost grows with the plausible pairs, not with T×M;
* the Kalman filter runs on packed per-coordinate 2×2 covariance blocks (see ``kalman``), and
  lapjv only sees the pairs that actually compete (see ``assign_admissible``);
* the IoU stages after stage 1 usually see a handful of candidates, and are then run on Python
  lists (identical logic; numpy above ``_SMALL`` candidates).

Hostile frames (thousands of mutually overlapping boxes) stay within bounded memory: the search
window is capped at ``MAX_WINDOW_PAIRS`` pairs, oversized conflicts are assigned greedily and
duplicate removal runs in chunks (see ``matching``). A frame that fails for any reason (an
exception, ``MemoryError``, ``KeyboardInterrupt``) leaves the tracker exactly as it was: its
tracks, IDs and ``frame_id`` (the frame is not counted).

Stage 1 keeps exactly the pairs inside the gate (Mahalanobis² <= threshold); an IoU stage keeps
pairs with 1 − IoU <= its limit, which for a limit below 1 already implies that the boxes overlap
(explicitly required at a limit of 1). All floating-point expressions repeat the reference ones
operation for operation (``iou_pairs``, ``xyxy_to_xyah``, ``xyah_to_xyxy``, the fused cost), so
results match the straightforward implementation to the last bit or, for the Kalman update, to
~1e-12.
"""
from __future__ import annotations

import math

import numpy as np

from mottrack_sdk.tracking.kalman import KalmanBoxFilter, xyah_rows_to_xyxy
from mottrack_sdk.tracking.lifecycle import FrameTracks, TrackLifecycle
from mottrack_sdk.tracking.matching import (MAX_SOLVER_SIDE, MAX_WINDOW_PAIRS, assign_admissible, highest_scores,
                                            iou_rows, window_pairs)
from mottrack_sdk.tracking.options import TrackerOptions
from mottrack_sdk.tracking.score_window import ScoreWindow
from mottrack_sdk.tracking.track_table import CLASS_ID, STATE, TrackTable
from mottrack_sdk.types import TrackState

_TRACKED, _TENTATIVE = int(TrackState.TRACKED), int(TrackState.TENTATIVE)
# rows of the per-frame detection matrix (10, M) and track matrix (14, T)
_BOX, _XYAH, _D_AREA, _D_SCORE = slice(0, 4), slice(4, 8), 8, 9
_S_INV, _T_AREA, _T_STATE = slice(8, 12), 12, 13
_SMALL = 16  # IoU-stage candidates up to this count are handled with Python lists


__all__ = ["AssociationCore", "FrameTracks"]


class AssociationCore(TrackLifecycle):
    """Stateful per-stream association; see the module docstring for the cascade (the updates and
    lifecycle after association: :class:`~mottrack_sdk.tracking.lifecycle.TrackLifecycle`).

    ``max_window_pairs`` / ``max_solver_side``: the memory bounds of ``matching`` (tests lower them
    to reach the capped paths with small frames; the native core takes the same two numbers).
    """

    def __init__(self, options: TrackerOptions, max_window_pairs: int = MAX_WINDOW_PAIRS,
                 max_solver_side: int = MAX_SOLVER_SIDE):
        self.options = options
        self.max_window_pairs, self.max_solver_side = int(max_window_pairs), int(max_solver_side)
        self.kf = KalmanBoxFilter(options.std_weight_position, options.std_weight_velocity)
        # IoU stages: (cost limit, track state, True: high-score / False: low-score detections)
        o = options
        self._iou_stages_motion = ((((o.low_score_iou_thresh, _TRACKED, False), )
                                    if o.low_score_thresh is not None else ())
                                   + ((o.tentative_iou_thresh, _TENTATIVE, True), ))
        self._iou_stages_embedding = ((o.iou_thresh, _TRACKED, True), ) + self._iou_stages_motion
        self._iou_limit_motion = max(stage[0] for stage in self._iou_stages_motion)
        self._iou_limit_embedding = max(stage[0] for stage in self._iou_stages_embedding)
        self.reset()

    @property
    def live_tracks(self) -> int:
        """Tracks held (tentative, tracked and lost)."""
        return len(self.table)

    def reset(self) -> None:
        self.table = TrackTable()
        self.frame_id = 0
        self._next_uid = 1
        self._next_id = 1
        self._multi_class = False  # becomes True once a non-zero class id is seen
        self._scores = ScoreWindow(self.options)  # this frame's high / low thresholds
        self._hi, self._lo = self._scores.hi, self._scores.lo

    def apply_camera_motion(self, warp: np.ndarray) -> None:
        """Move every track's Kalman state by the camera's (2, 3) similarity ``warp`` (previous
        frame -> this frame, pixels; see :mod:`~mottrack_sdk.tracking.cmc`). Call before ``step``."""
        from mottrack_sdk.tracking.cmc import warp_packed_state

        warp_packed_state(self.table.f, warp)  # checks the warp even without tracks, as the native core

    # ------------------------------------------------------------------ per frame
    def step(self, xyxy: np.ndarray, scores: np.ndarray, embeddings: np.ndarray | None,
             classes: np.ndarray | None) -> FrameTracks:
        """One frame; on any exception the tracker is restored to its state before the call."""
        tab = self.table
        # The packed arrays are changed in place (Kalman predict / update, states, templates); the
        # rest of the table is replaced, never changed. Templates change only with embeddings.
        saved = (tab.f.copy(), tab.i.copy(), tab.template if embeddings is None or tab.template is None
                 else tab.template.copy(), self.frame_id, self._next_uid, self._next_id, self._multi_class,
                 self._hi, self._lo, self._scores.snapshot())
        try:
            return self._step(xyxy, scores, embeddings, classes)
        except BaseException:
            (tab.f, tab.i, tab.template, self.frame_id, self._next_uid, self._next_id, self._multi_class,
             self._hi, self._lo, window) = saved
            self._scores.restore(window)
            self.table = tab
            raise

    def _step(self, xyxy: np.ndarray, scores: np.ndarray, embeddings: np.ndarray | None,
              classes: np.ndarray | None) -> FrameTracks:
        o, tab = self.options, self.table
        keep = highest_scores(scores, o.max_detections)
        if keep is not None:  # the time bound: a frame's highest scores only
            xyxy, scores = xyxy[keep], scores[keep]
            embeddings = None if embeddings is None else embeddings[keep]
            classes = None if classes is None else classes[keep]
        self.frame_id += 1
        n_det, n_trk = len(scores), len(tab)
        if classes is not None and not self._multi_class and np.count_nonzero(classes):
            self._multi_class = True  # until then every track and detection is class 0
        # detection matrix: box, xyah (as ``xyxy_to_xyah``), area (as ``iou_pairs``), score
        det = np.empty((10, n_det))
        det[_BOX] = xyxy.T
        wh = det[6:8]
        np.subtract(det[2:4], det[:2], out=wh)
        np.multiply(wh[0], wh[1], out=det[_D_AREA])
        np.multiply(wh, 0.5, out=det[4:6])
        det[4:6] += det[:2]
        max_wh = np.maximum.reduce(wh, axis=1) if n_det and n_trk else None
        det[6] /= det[7]
        det[_D_SCORE] = scores
        self._hi, self._lo = self._scores.thresholds(scores)
        is_high = scores >= self._hi
        taken = np.zeros(n_det, bool)
        if n_trk:
            match = np.empty(n_trk, np.intp)  # track -> detection index
            match.fill(-1)
            self.kf.predict_packed(tab.f)  # lost tracks have vh = 0 (see _age_out)
            if n_det:
                self._associate(det, max_wh, embeddings, classes, match, taken)
            self._update_matched(match, det, embeddings, is_high)
            self._age_out()
        self._spawn((is_high > taken).nonzero()[0], det, embeddings, classes)  # high and not taken
        return self._output(self._remove_duplicates())

    # ------------------------------------------------------------------ stages
    def _associate(self, det: np.ndarray, max_wh: np.ndarray, embeddings: np.ndarray | None,
                   classes: np.ndarray | None, match: np.ndarray, taken: np.ndarray) -> None:
        """Stages 1–3 on one set of candidate pairs; fills ``match`` and ``taken``."""
        o, tab = self.options, self.table
        f = tab.f
        # track matrix: predicted box, projected mean, 1/S (S is diagonal), area, state
        trk = np.empty((14, f.shape[1]))
        s = self.kf.innovation_packed(f)[1]
        np.divide(1.0, s, out=trk[_S_INV])
        trk[_XYAH] = f[:4]
        xyah_rows_to_xyxy(f, trk[_BOX])
        twh = trk[2:4] - trk[:2]
        np.multiply(twh[0], twh[1], out=trk[_T_AREA])
        trk[_T_STATE] = tab.i[STATE]
        # Search window per track: the χ² bound sqrt(g·S_kk) (inside the gate d_k²/S_kk <= g) or the
        # overlap bound (centres closer than half the summed widths, with the widest detection),
        # whichever is larger, inflated by 1e-9 so rounding never drops a pair from the window.
        # g is the gate, or without one the largest Mahalanobis² stage 1 can still accept: with
        # embeddings w·cos + (1 − w)·maha <= limit and cos >= c = 1 − max|t|·max|e| − 1e-3 (1e-3
        # covers float32 rounding) give maha <= (limit − w·c) / (1 − w); motion-only, an IoU limit
        # below 1 needs overlapping boxes (g = 0: the overlap bound alone).
        g = self._window_gate(embeddings if tab.template is not None else None)
        if g < np.inf:
            rad = s[:2]
            rad *= g
            np.sqrt(rad, out=rad)
            twh += max_wh[:, None]
            twh *= 0.5
            np.maximum(rad, twh, out=rad)
            rad *= 1.0 + 1e-9
        else:  # stage 1 then considers every pair
            rad = np.full((2, f.shape[1]), np.inf)
        ti, dj = window_pairs(f[0], f[1], rad[0], rad[1], det[4], det[5], self.max_window_pairs)
        if len(ti) == 0:
            return
        a, b = trk.take(ti, 1), det.take(dj, 1)
        iou, iwh = iou_rows(a, b, a[_T_AREA], b[_D_AREA])
        iou_cost = 1.0 - iou
        d = b[_XYAH] - a[_XYAH]                 # squared Mahalanobis distance Σ_k d_k·(1/S_kk)·d_k
        t = d * a[_S_INV]
        t *= d
        maha = np.add.reduce(t, axis=0)
        hi_p = b[_D_SCORE] >= self._hi
        same = None
        if self._multi_class:  # (int64 ids: compared as integers, not through the float matrices)
            same = tab.i[CLASS_ID].take(ti) == (0 if classes is None else classes.take(dj))

        # stage 1: confirmed tracks vs high-score detections inside the gate
        ok = a[_T_STATE] != _TENTATIVE
        ok &= hi_p
        if o.gating:
            ok &= maha <= o.gating_threshold
        if same is not None:
            ok &= same
        if embeddings is not None and tab.template is not None:
            k = ok.nonzero()[0]
            if len(k):
                t1, d1 = ti.take(k), dj.take(k)
                cos = 1.0 - np.einsum("pd,pd->p", tab.template[t1], embeddings[d1])
                cost = o.fusion_weight * cos + (1.0 - o.fusion_weight) * maha.take(k)
                k = (cost <= o.embedding_thresh).nonzero()[0]
                self._commit(t1.take(k), d1.take(k), cost.take(k), o.embedding_thresh, match, taken)
            stages, limit = self._iou_stages_embedding, self._iou_limit_embedding
        else:
            ok &= iou_cost <= o.motion_thresh
            k = ok.nonzero()[0]
            self._commit(ti.take(k), dj.take(k), iou_cost.take(k), o.motion_thresh, match, taken)
            stages, limit = self._iou_stages_motion, self._iou_limit_motion

        # IoU stages: keep the candidates still free and good enough for some stage
        ok = iou_cost <= limit
        ok &= match.take(ti) < 0
        ok &= ~taken.take(dj)
        if same is not None:
            ok &= same
        if limit >= 1.0:  # only then can 1 − IoU <= limit hold for boxes that do not overlap
            ok &= (iwh[0] > 0) & (iwh[1] > 0)
        k = ok.nonzero()[0]
        if len(k) > _SMALL:
            self._iou_stages(stages, ti.take(k), dj.take(k), iou_cost.take(k), a[_T_STATE].take(k),
                             b[_D_SCORE].take(k), match, taken)
        elif len(k):
            self._iou_stages_small(stages, ti.take(k).tolist(), dj.take(k).tolist(), iou_cost.take(k).tolist(),
                                   a[_T_STATE].take(k).tolist(), b[_D_SCORE].take(k).tolist(), match, taken)

    def _window_gate(self, embeddings: np.ndarray | None) -> float:
        """The Mahalanobis² bound of the search window (see ``_associate``); ``embeddings``: this
        frame's, when stage 1 uses appearance."""
        o = self.options
        gate = o.gating_threshold if o.gating else np.inf
        if embeddings is not None:
            if o.fusion_weight < 1.0 and not o.gating and len(embeddings):
                t = self.table.template
                if len(t) * len(embeddings) > self.max_window_pairs:
                    # the windows may be cut: the exact float64 norms, as the native core's cap_windows
                    tt = float(np.einsum("ij,ij->i", t, t, dtype=np.float64).max())
                    ee = float(np.einsum("ij,ij->i", embeddings, embeddings, dtype=np.float64).max())
                else:  # any bound >= the true one keeps every admissible pair: float32 sums (3x cheaper)
                    margin = 1.0 + 2e-7 * t.shape[1]  # above float32's accumulated rounding over D terms
                    tt = float(np.einsum("ij,ij->i", t, t).max()) * margin
                    ee = float(np.einsum("ij,ij->i", embeddings, embeddings).max()) * margin
                c = 1.0 - math.sqrt(tt) * math.sqrt(ee) - 1e-3
                gate = max(0.0, (o.embedding_thresh - o.fusion_weight * c) / (1.0 - o.fusion_weight))
        elif o.motion_thresh < 1.0:
            gate = 0.0
        return gate

    def _iou_stages(self, stages: tuple, ti: np.ndarray, dj: np.ndarray, cost: np.ndarray, state: np.ndarray,
                    score: np.ndarray, match: np.ndarray, taken: np.ndarray) -> None:
        o = self.options
        high = score >= self._hi
        low = None if self._lo is None else ~high & (score >= self._lo)
        committed = False
        for limit, row_state, use_high in stages:
            ok = (cost <= limit) & (state == row_state) & (high if use_high else low)
            if committed:  # an earlier IoU stage matched: drop the pairs it used up
                ok &= (match.take(ti) < 0) & ~taken.take(dj)
            k = ok.nonzero()[0]
            if len(k):
                committed = self._commit(ti.take(k), dj.take(k), cost.take(k), limit, match, taken) or committed

    def _iou_stages_small(self, stages: tuple, ti: list, dj: list, cost: list, state: list, score: list,
                          match: np.ndarray, taken: np.ndarray) -> None:
        """:meth:`_iou_stages` on Python lists (a few candidates: cheaper than numpy calls)."""
        hi_thr, lo_thr = self._hi, self._lo
        for limit, row_state, use_high in stages:
            sel = [p for p in range(len(ti))
                   if cost[p] <= limit and state[p] == row_state and match[ti[p]] < 0 and not taken[dj[p]]
                   and (score[p] >= hi_thr if use_high else lo_thr <= score[p] < hi_thr)]
            if not sel:
                continue
            rows, dets, costs = [ti[p] for p in sel], [dj[p] for p in sel], [cost[p] for p in sel]
            if len(set(rows)) == len(sel) == len(set(dets)) and max(costs) < limit:
                match[rows] = dets  # no conflict and no tie with the limit: lapjv would take them all
                taken[dets] = True
            else:
                self._commit(np.array(rows), np.array(dets), np.array(costs), limit, match, taken)

    def _commit(self, ti: np.ndarray, dj: np.ndarray, cost: np.ndarray, limit: float,
                match: np.ndarray, taken: np.ndarray) -> bool:
        """Assign admissible pairs (track row, detection); returns whether anything matched."""
        mt, md = assign_admissible(ti, dj, cost, limit, len(match), len(taken), self.max_solver_side)
        match[mt] = md
        taken[md] = True
        return len(mt) > 0
