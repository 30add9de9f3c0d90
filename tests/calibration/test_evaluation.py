"""Scoring helpers of the calibration report: AP50, embedding cosine matching, host-side NMS."""
from __future__ import annotations

import numpy as np
import pytest

from mottrack_calibration.evaluation import FrameDetections, average_precision_50, embedding_cosines, greedy_nms


def _dets(boxes, scores, emb=None):
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    emb = np.eye(len(boxes), 4, dtype=np.float32) if emb is None else np.asarray(emb, np.float32)
    return FrameDetections(boxes, np.asarray(scores, np.float64), emb)


GT = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float64)


def test_perfect_detections_score_one():
    assert average_precision_50([_dets(GT, [0.9, 0.8])], [GT]) == pytest.approx(1.0)


def test_false_positive_ranked_first_halves_precision_at_first_hit():
    dets = _dets([[100, 100, 110, 110], [0, 0, 10, 10], [20, 20, 30, 30]], [0.95, 0.9, 0.8])
    # recall 0.5 at precision 1/2, recall 1 at precision 2/3 -> interpolated AP = 0.5*2/3 + 0.5*2/3
    assert average_precision_50([dets], [GT]) == pytest.approx(2 / 3)


def test_duplicates_count_as_false_positives_and_ignored_regions_do_not():
    dets = _dets([[0, 0, 10, 10], [0, 0, 10, 11], [50, 50, 60, 60]], [0.9, 0.8, 0.7])
    assert average_precision_50([dets], [GT[:1]]) == pytest.approx(1.0)  # FPs after the only hit: AP stays 1
    assert average_precision_50([dets], [GT]) == pytest.approx(0.5)
    ignore = [np.array([[50, 50, 60, 60]], np.float64)]
    assert average_precision_50([_dets([[50, 50, 60, 60], [0, 0, 10, 10]], [0.9, 0.5])], [GT[:1]], ignore) == 1.0
    assert np.isnan(average_precision_50([dets], [np.zeros((0, 4))]))


def test_embedding_cosines_match_boxes_by_iou():
    a = _dets(GT, [0.9, 0.8], [[1, 0, 0, 0], [0, 1, 0, 0]])
    b = _dets(GT[::-1] + 0.5, [0.8, 0.9], [[0, 0.6, 0.8, 0], [1, 0, 0, 0]])
    assert sorted(embedding_cosines([a], [b]).tolist()) == pytest.approx([0.6, 1.0])
    assert embedding_cosines([a], [_dets([[200, 200, 210, 210]], [0.9])]).size == 0


def test_host_nms():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [30, 30, 40, 40]], np.float64)
    assert greedy_nms(boxes, np.array([0.8, 0.9, 0.5]), 0.6, 10).tolist() == [1, 2]
    assert greedy_nms(boxes, np.array([0.8, 0.9, 0.5]), 0.6, 1).tolist() == [1]
