"""Bad input to the public API: a ValueError that names the argument and what was expected."""
from __future__ import annotations

import numpy as np
import pytest

from mottrack_sdk import Tracker, TrackerOptions

GOOD = np.array([[0, 0, 10, 20], [50, 50, 70, 90]], dtype=float)


@pytest.mark.parametrize("boxes, match", [
    (np.zeros((2, 3)), r"boxes_xyxy: expected shape \(N, 4\)"),
    (np.zeros(8), r"boxes_xyxy: expected shape \(N, 4\)"),
    (np.array([[0, 0, 10, np.nan], [0, 0, 1, 1]]), "boxes_xyxy: expected finite values, row 0"),
    (np.array([[0, 0, 10, 20], [0, 0, np.inf, 1]]), "boxes_xyxy: expected finite values, row 1"),
    (np.array([[10, 0, 5, 20], [0, 0, 1, 1]]), "boxes_xyxy: expected x2 > x1 and y2 > y1"),
    (np.array([["a", "b", "c", "d"]] * 2), "boxes_xyxy: .*real numeric dtype"),
    (np.ones((2, 4), bool), "boxes_xyxy: .*real numeric dtype"),
    ([[0, 0, 1], [0, 0, 1, 1]], "boxes_xyxy: expected"),
    (None, "boxes_xyxy: expected .* got None"),
])
def test_bad_boxes(boxes, match):
    with pytest.raises(ValueError, match=match):
        Tracker().update_detections(boxes, [0.9, 0.9])


@pytest.mark.parametrize("scores, match", [
    ([0.9], r"scores: expected shape \(2,\)"),
    ([0.9, np.nan], "scores: expected finite values"),
    (np.ones((2, 1)), r"scores: expected shape \(2,\)"),
    (["x", "y"], "scores: .*real numeric dtype"),
])
def test_bad_scores(scores, match):
    with pytest.raises(ValueError, match=match):
        Tracker().update_detections(GOOD, scores)


@pytest.mark.parametrize("emb, match", [
    (np.ones((3, 8)), r"embeddings: expected shape \(2, D\)"),
    (np.ones(8), r"embeddings: expected shape \(2, D\)"),
    (np.array([[1.0, np.nan], [1, 1]]), "embeddings: expected finite values"),
    (np.zeros((2, 8)), "embeddings: expected non-zero rows, row 0"),
])
def test_bad_embeddings(emb, match):
    with pytest.raises(ValueError, match=match):
        Tracker().update_detections(GOOD, [0.9, 0.9], emb)


def test_embedding_dimension_must_stay_the_same():
    tr = Tracker()
    tr.update_detections(GOOD, [0.9, 0.9], np.ones((2, 8)))
    with pytest.raises(ValueError, match="embeddings: expected dimension D=8"):
        tr.update_detections(GOOD, [0.9, 0.9], np.ones((2, 16)))


@pytest.mark.parametrize("classes, match", [
    ([0], r"classes: expected shape \(2,\)"),
    ([0.5, 1], "classes: expected integer class ids"),
    ([0, np.nan], "classes: expected finite values"),
])
def test_bad_classes(classes, match):
    with pytest.raises(ValueError, match=match):
        Tracker().update_detections(GOOD, [0.9, 0.9], classes=classes)


def test_integral_float_classes_and_int_boxes_are_accepted():
    out = Tracker().update_detections(GOOD.astype(np.int32), np.array([1, 1], np.float32), classes=[1.0, 2.0])
    assert [t.class_id for t in out] == [1, 2]


def test_a_rejected_frame_leaves_the_tracker_untouched():
    tr = Tracker()
    tr.update_detections(GOOD, [0.9, 0.9])
    with pytest.raises(ValueError):
        tr.update_detections(GOOD, [0.9])
    assert tr.frame_id == 1


@pytest.mark.parametrize("field, value, match", [
    ("det_thresh", float("nan"), "det_thresh: expected a finite number"),
    ("iou_thresh", 1.5, r"iou_thresh: expected a value in \[0.0, 1.0\]"),
    ("frame_rate", 0, r"frame_rate: expected a value in \(0.0"),
    ("track_buffer", -1, r"track_buffer: expected an integer in \[0, 2\*\*63 - 1\]"),
    ("track_buffer", 2.5, r"track_buffer: expected an integer in \[0, 2\*\*63 - 1\]"),
    ("track_buffer", 2**63, r"track_buffer: expected an integer in \[0, 2\*\*63 - 1\]"),
    ("low_score_thresh", 0.9, "low_score_thresh: expected <= det_thresh"),
    ("gating", "yes", "gating: expected True/False"),
])
def test_bad_options(field, value, match):
    with pytest.raises(ValueError, match=match):
        TrackerOptions(**{field: value})


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['det_tresh'\]"):
        Tracker(det_tresh=0.3)
    with pytest.raises(ValueError, match="options: expected a TrackerOptions"):
        Tracker({"det_thresh": 0.3})
