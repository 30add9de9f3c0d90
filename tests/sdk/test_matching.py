"""Candidate pairs are exact supersets of what matters; assignment equals lap.lapjv with a cost limit."""
from __future__ import annotations

import lap
import numpy as np
import pytest

from mottrack_sdk.tracking.matching import assign_pairs, highest_scores, iou_matrix, overlap_pairs, sweep_pairs


@pytest.mark.parametrize("seed", range(5))
def test_sweep_pairs_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    tc, hw, dc = rng.uniform(0, 100, 30), rng.uniform(0, 8, 30), rng.uniform(0, 100, 40)
    ti, dj = sweep_pairs(tc, hw, dc)
    brute = {(t, d) for t in range(30) for d in range(40) if abs(dc[d] - tc[t]) <= hw[t]}
    assert set(zip(ti.tolist(), dj.tolist())) == brute
    assert len(ti) == len(brute)  # no duplicates


@pytest.mark.parametrize("seed", range(5))
def test_overlap_pairs_contains_every_overlapping_pair(seed):
    rng = np.random.default_rng(seed)
    def boxes(n):
        xy = rng.uniform(0, 500, (n, 2))
        return np.concatenate([xy, xy + rng.uniform(5, 120, (n, 2))], axis=1)
    a, b = boxes(40), boxes(60)
    ti, dj = overlap_pairs(a, b)
    iou = iou_matrix(a, b)
    assert set(zip(ti.tolist(), dj.tolist())) == set(zip(*np.nonzero(iou > 0)))


def _dense_lapjv(cost: np.ndarray, limit: float) -> set[tuple[int, int]]:
    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=limit)
    return {(i, int(j)) for i, j in enumerate(x) if j >= 0}


@pytest.mark.parametrize("seed", range(20))
def test_assign_pairs_matches_dense_lapjv(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 25, 2)
    cost = rng.random((n, m))
    sparse = rng.random((n, m)) < 0.3
    ti, dj = np.nonzero(sparse)
    limit = 0.4
    mt, md = assign_pairs(ti, dj, cost[ti, dj], limit, n, m)
    dense = np.where(sparse, cost, 1e6)
    expected = _dense_lapjv(dense, limit)
    got = set(zip(mt.tolist(), md.tolist()))
    assert sum(cost[i, j] - limit for i, j in got) == pytest.approx(sum(cost[i, j] - limit for i, j in expected))
    assert all(cost[i, j] <= limit for i, j in got)
    assert len({i for i, _ in got}) == len(got) == len({j for _, j in got})


def test_assign_pairs_rejects_everything_above_the_limit():
    mt, md = assign_pairs(np.array([0, 1]), np.array([0, 1]), np.array([0.9, 0.41]), 0.4, 2, 2)
    assert len(mt) == len(md) == 0


def test_assign_pairs_resolves_a_conflict_by_total_cost():
    # track 0 prefers det 0 (0.1) but track 1 can only take det 0: optimum gives 0->1, 1->0
    ti, dj, c = np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([0.1, 0.2, 0.15])
    mt, md = assign_pairs(ti, dj, c, 0.5, 2, 2)
    assert dict(zip(mt.tolist(), md.tolist())) == {0: 1, 1: 0}


@pytest.mark.parametrize("seed", range(20))
def test_highest_scores_is_a_stable_sort_by_score(seed):
    """The k highest scores, equal ones taken from the earlier rows, returned in row order: the first
    k of a stable descending sort (many ties, -0.0 beside 0.0)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    scores = rng.choice([-0.0, 0.0, 0.25, 0.5, 0.5 + 1e-12, 1.0], n) if seed % 2 else rng.random(n)
    for k in range(1, n + 2):
        keep = highest_scores(scores, k)
        if k >= n:
            assert keep is None
            continue
        expected = np.sort(np.argsort(-scores, kind="stable")[:k])
        np.testing.assert_array_equal(keep, expected)


def test_highest_scores_takes_earlier_rows_among_equals():
    np.testing.assert_array_equal(highest_scores(np.array([0.5, 0.9, 0.5, 0.5, 0.1]), 3), [0, 1, 2])
    np.testing.assert_array_equal(highest_scores(np.array([0.1, 0.2, 0.3]), 1), [2])
