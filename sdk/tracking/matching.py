"""Candidate pairs, pairwise costs and cost-limited assignment.

Costs are computed only for *candidate* pairs that a sorted sweep finds (centres within a
per-track half-width along x, then a bound on the other coordinates), so the work grows with the
number of plausible pairs rather than with all T×M pairs. Assignment is ``lap.lapjv`` with
``cost_limit`` on the rows/columns that have at least one admissible pair.

Shapes: T tracks, M detections, P candidate pairs given as index arrays ``ti`` (P,) into the tracks
and ``dj`` (P,) into the detections.
"""
from __future__ import annotations

import lap
import numpy as np

_EMPTY = np.zeros(0, dtype=np.intp)
_FORBIDDEN = 1e6  # any value far above every cost limit (costs live in [0, ~1])


def sweep_pairs(track_cx: np.ndarray, half_width: np.ndarray, det_cx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (t, d) with |det_cx[d] − track_cx[t]| <= half_width[t], via one sort and two searchsorted.

    Cost O((T + M) log M + P). Returns (ti, dj) ordered by track.
    """
    if len(track_cx) == 0 or len(det_cx) == 0:
        return _EMPTY, _EMPTY
    order = np.argsort(det_cx, kind="stable")
    sorted_cx = det_cx[order]
    lo = np.searchsorted(sorted_cx, track_cx - half_width, side="left")
    hi = np.searchsorted(sorted_cx, track_cx + half_width, side="right")
    counts = hi - lo
    total = int(counts.sum())
    if total == 0:
        return _EMPTY, _EMPTY
    ti = np.repeat(np.arange(len(track_cx)), counts)
    starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    dj = order[starts + np.arange(total)]
    return ti, dj


def overlap_pairs(tracks_xyxy: np.ndarray, dets_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs whose boxes may overlap (IoU > 0), found without a T×M matrix."""
    if len(tracks_xyxy) == 0 or len(dets_xyxy) == 0:
        return _EMPTY, _EMPTY
    t_cx = 0.5 * (tracks_xyxy[:, 0] + tracks_xyxy[:, 2])
    d_cx = 0.5 * (dets_xyxy[:, 0] + dets_xyxy[:, 2])
    max_dw = float((dets_xyxy[:, 2] - dets_xyxy[:, 0]).max())
    ti, dj = sweep_pairs(t_cx, 0.5 * (tracks_xyxy[:, 2] - tracks_xyxy[:, 0] + max_dw), d_cx)
    keep = (dets_xyxy[dj, 1] < tracks_xyxy[ti, 3]) & (dets_xyxy[dj, 3] > tracks_xyxy[ti, 1])
    keep &= (dets_xyxy[dj, 0] < tracks_xyxy[ti, 2]) & (dets_xyxy[dj, 2] > tracks_xyxy[ti, 0])
    return ti[keep], dj[keep]


def iou_pairs(a_xyxy: np.ndarray, b_xyxy: np.ndarray, ai: np.ndarray, bj: np.ndarray) -> np.ndarray:
    """IoU of the pairs (a[ai[p]], b[bj[p]]) -> (P,)."""
    a = a_xyxy[ai]
    b = b_xyxy[bj]
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-12)


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Dense IoU (A, B); for tests and small problems."""
    ai, bj = np.meshgrid(np.arange(len(a_xyxy)), np.arange(len(b_xyxy)), indexing="ij")
    return iou_pairs(a_xyxy, b_xyxy, ai.ravel(), bj.ravel()).reshape(len(a_xyxy), len(b_xyxy))


def assign_pairs(ti: np.ndarray, dj: np.ndarray, cost: np.ndarray, cost_limit: float,
                 n_tracks: int, n_dets: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one assignment over candidate pairs; pairs above ``cost_limit`` never match.

    Returns matched (track_idx, det_idx) arrays. Rows/columns without an admissible pair are left
    out of the solver; when no track or detection competes for another's partner the pairs are
    taken directly, otherwise ``lap.lapjv(extend_cost=True, cost_limit=cost_limit)`` decides.
    """
    ok = cost <= cost_limit
    ti, dj, cost = ti[ok], dj[ok], cost[ok]
    if len(ti) == 0:
        return _EMPTY, _EMPTY
    rows, row_inv = np.unique(ti, return_inverse=True)
    cols, col_inv = np.unique(dj, return_inverse=True)
    if len(rows) == len(ti) and len(cols) == len(ti):
        return ti, dj  # every admissible pair is alone on its row and column: no conflict
    dense = np.full((len(rows), len(cols)), _FORBIDDEN)
    dense[row_inv, col_inv] = cost
    _, x, _ = lap.lapjv(dense, extend_cost=True, cost_limit=cost_limit)
    matched = x >= 0
    r = np.nonzero(matched)[0]
    c = x[matched]
    return rows[r], cols[c]
