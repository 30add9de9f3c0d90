"""Candidate pairs, pairwise costs and cost-limited assignment.

Costs are computed only for *candidate* pairs inside a per-track window (a sorted sweep along x,
then a bound on y; a dense test when tracks × detections is below a small constant), so the work
grows with the number of plausible pairs rather than with all T×M pairs. Assignment is
``lap.lapjv`` with ``cost_limit``; pairs that compete with no other pair are taken without it.

Shapes: T tracks, M detections, P candidate pairs given as index arrays ``ti`` (P,) into the tracks
and ``dj`` (P,) into the detections. ``*_rows`` helpers take boxes attribute-major, (4, N) rows
x1, y1, x2, y2 (see ``core``), and repeat the float operations of their row-major counterparts.

Bounded memory on hostile frames (the C++ core, ``bindings/src/matching.cpp``, applies the same two
rules with the same constants, so both cores still give the same tracks):

* :data:`MAX_WINDOW_PAIRS`: when the search windows of a frame hold more track × detection pairs
  than this (thousands of mutually overlapping boxes; no real video comes close), each track whose
  window holds more than ``K = MAX_WINDOW_PAIRS // T`` detections keeps the K of them nearest to it
  along x (:func:`nearest_blocks`). Memory then grows with the kept pairs, never with T × M.
* :data:`MAX_SOLVER_SIDE`: a set of competing pairs spanning more rows + columns than this (whose
  extended lapjv matrix would need (rows + cols)² doubles) is assigned greedily instead, lowest cost
  first, ties by track then detection index (:func:`greedy_assign`).

Bounded time comes before all of that: ``TrackerOptions.max_detections`` keeps a frame's highest
scores (:func:`highest_scores`), so a frame never brings more than that many detections (nor, over
a lost track's lifetime, more than that many new tracks a frame).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import lap
import numpy as np

_EMPTY = np.zeros(0, dtype=np.intp)
_FORBIDDEN = 1e6  # any value far above every cost limit (costs live in [0, ~1])
_SMALL = 8        # up to this many pairs, conflicts are found on Python lists
_DENSE_WINDOW = 4096  # window_pairs tests up to this many track × detection pairs densely
MAX_WINDOW_PAIRS = 1 << 20  # = kMaxWindowPairs (bindings/src/matching.hpp); see the module docstring
MAX_SOLVER_SIDE = 4096      # = kMaxSolverSide: rows + columns of one lapjv call


def sweep_pairs(track_cx: np.ndarray, half_width: np.ndarray, det_cx: np.ndarray,
                max_pairs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All (t, d) with |det_cx[d] − track_cx[t]| <= half_width[t], via one sort and two searchsorted.

    With ``max_pairs``, when there are more such pairs than that, a track with more than
    ``K = max_pairs // T`` (at least 1) keeps only its K nearest along x (:func:`nearest_blocks`).
    Cost O((T + M) log M + P). Returns (ti, dj) ordered by track.
    """
    if len(track_cx) == 0 or len(det_cx) == 0:
        return _EMPTY, _EMPTY
    # (method forms throughout: np.argsort/np.repeat/np.cumsum add a Python wrapper per call)
    order = det_cx.argsort(kind="stable")
    sorted_cx = det_cx.take(order)
    lo = sorted_cx.searchsorted(track_cx - half_width, side="left")
    counts = sorted_cx.searchsorted(track_cx + half_width, side="right")
    counts -= lo
    total = int(np.add.reduce(counts))
    if max_pairs is not None and total > max_pairs:
        lo, counts = nearest_blocks(sorted_cx, track_cx, lo, counts, max(1, max_pairs // len(track_cx)))
        total = int(np.add.reduce(counts))
    if total == 0:
        return _EMPTY, _EMPTY
    ti = np.arange(len(track_cx)).repeat(counts)
    # pair p of track t sits at sorted position lo[t] + (p − index of t's first pair)
    lo -= np.add.accumulate(counts)
    lo += counts
    dj = order.take(lo.repeat(counts) + np.arange(total))
    return ti, dj


def nearest_blocks(sorted_x: np.ndarray, x: np.ndarray, lo: np.ndarray, counts: np.ndarray,
                   k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut each window ``sorted_x[lo[t] : lo[t] + counts[t]]`` longer than ``k`` to the ``k``
    consecutive values nearest to ``x[t]``: the first start s with ``x − sorted_x[s] <=
    sorted_x[s + k] − x`` (a binary search, vectorised over the long windows; the C++ core runs the
    same search per track). Returns new (lo, counts) arrays."""
    over = (counts > k).nonzero()[0]
    if len(over) == 0:
        return lo, counts
    left = lo.take(over)
    right = left + counts.take(over) - k
    xo = x.take(over)
    active = (left < right).nonzero()[0]
    while len(active):
        l, r, xa = left.take(active), right.take(active), xo.take(active)
        mid = (l + r) // 2
        go_right = (xa - sorted_x.take(mid)) > (sorted_x.take(mid + k) - xa)
        left[active] = np.where(go_right, mid + 1, l)
        right[active] = np.where(go_right, r, mid)
        active = active.compress(left.take(active) < right.take(active))
    lo, counts = lo.copy(), counts.copy()
    lo[over] = left
    counts[over] = k
    return lo, counts


def window_pairs(track_x: np.ndarray, track_y: np.ndarray, radius_x: np.ndarray, radius_y: np.ndarray,
                 det_x: np.ndarray, det_y: np.ndarray, max_pairs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All (t, d) with |det_x[d] − track_x[t]| <= radius_x[t] and |det_y[d] − track_y[t]| <= radius_y[t].

    A :func:`sweep_pairs` along x (capped by ``max_pairs`` as there), then the y test on those
    candidates only. Ordered by track. Below ``_DENSE_WINDOW`` track × detection pairs (and
    ``max_pairs``) a dense test is used instead: its cost is then bounded by that constant and it
    makes 8 numpy calls where the sweep makes ~20. (The two may differ only for a pair exactly on
    the window boundary, through rounding.)
    """
    if len(track_x) * len(det_x) <= min(_DENSE_WINDOW, max_pairs if max_pairs is not None else _DENSE_WINDOW):
        near = np.subtract.outer(track_x, det_x)
        near = np.abs(near, out=near) <= radius_x[:, None]
        dy = np.subtract.outer(track_y, det_y)
        near &= np.abs(dy, out=dy) <= radius_y[:, None]
        return near.nonzero()
    ti, dj = sweep_pairs(track_x, radius_x, det_x, max_pairs)
    if len(ti):
        dy = det_y.take(dj)
        dy -= track_y.take(ti)
        k = (np.abs(dy, out=dy) <= radius_y.take(ti)).nonzero()[0]
        ti, dj = ti.take(k), dj.take(k)
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


def iou_rows(a: np.ndarray, b: np.ndarray, area_a: np.ndarray, area_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Attribute-major :func:`iou_pairs`: boxes as rows 0-3 (x1, y1, x2, y2) of ``a`` and ``b``
    (broadcasting), with their areas; the same operations, so bit-identical IoU values.

    Returns the IoU and the clipped intersection widths/heights (2, ...).
    """
    iwh = np.minimum(a[2:4], b[2:4])
    iwh -= np.maximum(a[:2], b[:2])
    np.maximum(iwh, 0.0, out=iwh)
    inter = iwh[0] * iwh[1]
    union = area_a + area_b
    union -= inter
    np.maximum(union, 1e-12, out=union)
    np.divide(inter, union, out=union)
    return union, iwh


def over_threshold_chunks(a: np.ndarray, b: np.ndarray, threshold: float,
                          max_pairs: int = MAX_WINDOW_PAIRS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All (i, j) with IoU(a[:, i], b[:, j]) > threshold >= 0, for (4, A) and (4, B) xyxy rows, in
    chunks (each an (i, j) pair of arrays) that look at about ``max_pairs`` candidates at a time.

    Densely (broadcast) up to ``_DENSE_WINDOW`` pairs, else on the pairs of a :func:`window_pairs`
    sweep over consecutive groups of ``a``'s columns: IoU > 0 implies overlap, i.e. centres closer
    than half the summed widths (heights), bounded with the largest box of ``b`` (inflated by 1e-9
    against rounding). Every pair is found, so the union of the chunks is exact; only memory is
    bounded.
    """
    wh_a, wh_b = a[2:] - a[:2], b[2:] - b[:2]
    area_a, area_b = wh_a[0] * wh_a[1], wh_b[0] * wh_b[1]
    if a.shape[1] * b.shape[1] <= _DENSE_WINDOW:
        iou = iou_rows(a[:, :, None], b[:, None, :], area_a[:, None], area_b)[0]
        yield (iou > threshold).nonzero()
        return
    rad = wh_a + np.maximum.reduce(wh_b, axis=1)[:, None]
    rad *= 0.5 * (1.0 + 1e-9)
    ca, cb = (a[:2] + a[2:]) * 0.5, (b[:2] + b[2:]) * 0.5
    groups = [(0, a.shape[1])] if a.shape[1] * b.shape[1] <= max_pairs else _row_groups(ca[0], rad[0], cb[0], max_pairs)
    for s, e in groups:
        i, j = window_pairs(ca[0, s:e], ca[1, s:e], rad[0, s:e], rad[1, s:e], cb[0], cb[1])
        i = i + s
        keep = (iou_rows(a.take(i, 1), b.take(j, 1), area_a.take(i), area_b.take(j))[0] > threshold).nonzero()[0]
        yield i.take(keep), j.take(keep)


def _row_groups(x: np.ndarray, radius: np.ndarray, det_x: np.ndarray, max_pairs: int) -> list[tuple[int, int]]:
    """Consecutive [start, end) ranges of tracks whose x windows hold about ``max_pairs`` detections
    together (a track whose window alone holds more gets a range of its own)."""
    sx = np.sort(det_x, kind="stable")
    counts = sx.searchsorted(x + radius, side="right") - sx.searchsorted(x - radius, side="left")
    cum = np.add.accumulate(counts)
    groups, start = [], 0
    while start < len(x):
        base = int(cum[start - 1]) if start else 0
        end = max(int(cum.searchsorted(base + max_pairs, side="right")), start + 1)
        groups.append((start, min(end, len(x))))
        start = groups[-1][1]
    return groups


def highest_scores(scores: np.ndarray, k: int) -> np.ndarray | None:
    """Indices, ascending, of the ``k`` highest of the finite ``scores`` (equal scores: the earlier
    rows first), or None when there are no more than ``k``. O(N): the k-th largest value by
    partition, then one pass (the C++ core's ``highest_scores`` selects the same rows)."""
    n = len(scores)
    if n <= k:
        return None
    kth = np.partition(scores, n - k)[n - k]
    keep = scores > kth
    keep[np.flatnonzero(scores == kth)[:k - np.count_nonzero(keep)]] = True
    return np.flatnonzero(keep)


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Dense IoU (A, B); for tests and small problems."""
    ai, bj = np.meshgrid(np.arange(len(a_xyxy)), np.arange(len(b_xyxy)), indexing="ij")
    return iou_pairs(a_xyxy, b_xyxy, ai.ravel(), bj.ravel()).reshape(len(a_xyxy), len(b_xyxy))


def assign_pairs(ti: np.ndarray, dj: np.ndarray, cost: np.ndarray, cost_limit: float,
                 n_tracks: int, n_dets: int, max_side: int = MAX_SOLVER_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one assignment over candidate pairs; pairs above ``cost_limit`` never match.

    Returns matched (track_idx, det_idx) arrays. See :func:`assign_admissible`.
    """
    ok = np.nonzero(cost <= cost_limit)[0]
    return assign_admissible(ti[ok], dj[ok], cost[ok], cost_limit, n_tracks, n_dets, max_side)


def assign_admissible(ti: np.ndarray, dj: np.ndarray, cost: np.ndarray, cost_limit: float,
                      n_tracks: int, n_dets: int, max_side: int = MAX_SOLVER_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """:func:`assign_pairs` for pairs already known to be within ``cost_limit`` (no duplicates).

    A pair alone on its row and its column is a connected component of its own, and the optimum
    of a component made of one admissible edge is that edge, so such pairs are taken directly.
    All other pairs go to one ``lap.lapjv(extend_cost=True, cost_limit=cost_limit)`` call on the
    dense matrix of just their rows and columns (other entries forbidden). In a crowd nearly every
    pair is alone, and lapjv's cost (about 10 µs even for 2×1, milliseconds for a sparse 200×200)
    is paid only for the few real conflicts.

    Exact ties are the one place where splitting could change lapjv's answer: a pair whose cost
    equals the limit is as good matched as not (lapjv decides), and equal costs inside a conflict
    can make the optimum non-unique (lapjv's pick may depend on the other rows). Then all pairs go
    to a single lapjv call on the matrix of all their rows and columns, as without the split.

    A lapjv call over more than ``max_side`` rows + columns becomes :func:`greedy_assign`.
    """
    p = len(ti)
    if p == 0:
        return ti, dj
    if p <= _SMALL:  # a handful of pairs: Python sets beat numpy calls
        tl, dl = ti.tolist(), dj.tolist()
        if max(cost.tolist()) >= cost_limit:
            return _solve_conflicts(ti, dj, cost, cost_limit, n_tracks, n_dets, max_side)
        row_deg, col_deg = Counter(tl), Counter(dl)
        if len(row_deg) == p == len(col_deg):
            return ti, dj  # every admissible pair is alone on its row and column: no conflict
        lone = np.array([row_deg[t] == 1 and col_deg[d] == 1 for t, d in zip(tl, dl)])
    else:
        if np.maximum.reduce(cost) >= cost_limit:
            return _solve_conflicts(ti, dj, cost, cost_limit, n_tracks, n_dets, max_side)
        row_deg = np.bincount(ti, minlength=n_tracks)
        col_deg = np.bincount(dj, minlength=n_dets)
        if np.count_nonzero(row_deg) == p == np.count_nonzero(col_deg):
            return ti, dj
        lone = (row_deg.take(ti) == 1) & (col_deg.take(dj) == 1)
    c = (~lone).nonzero()[0]
    conflict_cost = cost.take(c)
    if len(set(conflict_cost.tolist())) < len(c):  # equal costs: solve everything together
        return _solve_conflicts(ti, dj, cost, cost_limit, n_tracks, n_dets, max_side)
    rows, cols = _solve_conflicts(ti.take(c), dj.take(c), conflict_cost, cost_limit, n_tracks, n_dets, max_side)
    single = lone.nonzero()[0]
    return np.concatenate([ti.take(single), rows]), np.concatenate([dj.take(single), cols])


def _solve_conflicts(tc: np.ndarray, dc: np.ndarray, cost: np.ndarray, cost_limit: float,
                     n_tracks: int, n_dets: int, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """``lap.lapjv(extend_cost=True, cost_limit)`` on the pairs (tc[q], dc[q]) with ``cost[q]``.

    The dense matrix spans just their rows and columns in ascending order (what ``np.unique``
    would give), everything else forbidden. A few pairs are renumbered on Python lists (cheaper
    than a dozen numpy calls), more with a vectorised lookup table. Over ``max_side`` rows +
    columns: :func:`greedy_assign`.
    """
    if len(tc) <= 12 and len(set(tc.tolist())) * len(set(dc.tolist())) <= 64:
        tl, dl = tc.tolist(), dc.tolist()
        rows, cols = sorted(set(tl)), sorted(set(dl))
        if len(rows) + len(cols) > max_side:
            return greedy_assign(tc, dc, cost)
        row_of = {t: i for i, t in enumerate(rows)}
        col_of = {d: j for j, d in enumerate(cols)}
        dense_rows = [[_FORBIDDEN] * len(cols) for _ in rows]
        for t, d, c in zip(tl, dl, cost.tolist()):
            dense_rows[row_of[t]][col_of[d]] = c
        x, _ = lap.lapjv(np.array(dense_rows), extend_cost=True, cost_limit=cost_limit, return_cost=False)
        mt, md = [], []
        for i, j in enumerate(x.tolist()):
            if j >= 0:
                mt.append(rows[i])
                md.append(cols[j])
        return np.array(mt, np.intp), np.array(md, np.intp)
    row_of = np.zeros(n_tracks, np.intp)
    row_of[tc] = 1
    rows = row_of.nonzero()[0]
    row_of[rows] = np.arange(len(rows))
    col_of = np.zeros(n_dets, np.intp)
    col_of[dc] = 1
    cols = col_of.nonzero()[0]
    col_of[cols] = np.arange(len(cols))
    if len(rows) + len(cols) > max_side:
        return greedy_assign(tc, dc, cost)
    dense = np.empty((len(rows), len(cols)))
    dense.fill(_FORBIDDEN)
    dense[row_of.take(tc), col_of.take(dc)] = cost
    x, _ = lap.lapjv(dense, extend_cost=True, cost_limit=cost_limit, return_cost=False)
    r = (x >= 0).nonzero()[0]
    return rows.take(r), cols.take(x.take(r))


def greedy_assign(ti: np.ndarray, dj: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of admissible pairs, lowest cost first (ties: lower track, then lower
    detection index): the fallback for conflicts too large for a dense lapjv (O(P log P), O(P) memory).
    The C++ core sorts and scans the same way, so both cores pick the same pairs."""
    order = np.lexsort((dj, ti, cost)).tolist()
    tl, dl = ti.tolist(), dj.tolist()
    limit = min(len(set(tl)), len(set(dl)))
    row_used, col_used, mt, md = set(), set(), [], []
    for p in order:
        t, d = tl[p], dl[p]
        if t not in row_used and d not in col_used:
            row_used.add(t)
            col_used.add(d)
            mt.append(t)
            md.append(d)
            if len(mt) == limit:
                break
    return np.array(mt, np.intp), np.array(md, np.intp)
