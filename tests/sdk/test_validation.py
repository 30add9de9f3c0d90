"""Bad input to the public API: a ValueError that names the argument and what was expected."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from mottrack_sdk import Tracker, TrackerOptions
from mottrack_sdk.tracking.native import native_available

CORES = ["python"] + (["native"] if native_available() else [])

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
    (np.zeros((2, 0)), r"boxes_xyxy: expected shape \(N, 4\) .* got shape \(2, 0\)"),  # empty, but not "no boxes"
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
    (np.ones((2, 65537), np.float32), r"embeddings: expected dimension D in \[1, 65536\], got 65537"),
])
@pytest.mark.parametrize("core", CORES)
def test_bad_embeddings(emb, match, core):
    with pytest.raises(ValueError, match=match):
        Tracker(core=core).update_detections(GOOD, [0.9, 0.9], emb)


@pytest.mark.parametrize("argument", ["boxes_xyxy", "scores", "embeddings", "classes"])
@pytest.mark.parametrize("core", CORES)
def test_masked_arrays_are_refused_not_read_through_their_mask(argument, core):
    """np.asarray drops a mask: the masked values would be tracked as if they were data."""
    given = {"boxes_xyxy": GOOD, "scores": np.array([0.9, 0.9]), "embeddings": np.ones((2, 4), np.float32),
             "classes": np.array([1, 1])}
    mask = np.zeros_like(given[argument], bool)
    mask[1] = True  # the second row is masked
    given[argument] = np.ma.masked_array(given[argument], mask=mask)
    tracker = Tracker(core=core)
    with pytest.raises(ValueError, match=f"^{argument}: expected .*, got a masked array: fill or drop the masked rows"):
        tracker.update_detections(**given)
    assert tracker.frame_id == 0  # nothing tracked


def test_embedding_dimension_must_stay_the_same():
    tr = Tracker()
    tr.update_detections(GOOD, [0.9, 0.9], np.ones((2, 8)))
    with pytest.raises(ValueError, match="embeddings: expected dimension D=8"):
        tr.update_detections(GOOD, [0.9, 0.9], np.ones((2, 16)))


@pytest.mark.parametrize("classes, match", [
    ([0], r"classes: expected shape \(2,\)"),
    ([0.5, 1], "classes: expected integer class ids"),
    ([0, np.nan], "classes: expected finite values"),
    ([1e20, 1], r"classes: expected integers within int64 .* got 1e\+20 at index 0"),
    (np.array([2**64 - 1, 1], np.uint64), "classes: expected integers within int64 .* at index 0"),
])
@pytest.mark.parametrize("core", CORES)
def test_bad_classes(classes, match, core):
    with pytest.raises(ValueError, match=match):
        Tracker(core=core).update_detections(GOOD, [0.9, 0.9], classes=classes)


@pytest.mark.parametrize("boxes, scores", [([], []), (np.zeros((0, 4)), np.zeros(0))])
def test_no_boxes_is_an_empty_frame(boxes, scores):
    tr = Tracker()
    assert tr.update_detections(boxes, scores) == [] and tr.frame_id == 1


def test_float16_embeddings_give_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning in the float32 range check used to fire here
        Tracker().update_detections(GOOD, [0.9, 0.9], np.ones((2, 8), np.float16))


@pytest.mark.parametrize("core", CORES)
def test_a_lost_track_buffer_beyond_int64_saturates_on_both_cores(core):
    """frame_rate / 30 x track_buffer over 2**63 frames: kept 'for ever', not an OverflowError every frame."""
    options = TrackerOptions(frame_rate=1e300, track_buffer=2**63 - 1)
    assert options.max_time_lost == 2**63 - 1
    tr = Tracker(options, core=core)
    for _ in range(3):
        tr.update_detections(GOOD, [0.9, 0.9])
    assert len(tr.update_detections(np.zeros((0, 4)), [])) == 0 and tr.frame_id == 4


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
    ("std_weight_position", 1e200, r"std_weight_position: expected a value in \[1e-06, 1000000.0\]"),
    ("std_weight_velocity", 1e-300, r"std_weight_velocity: expected a value in \[1e-06, 1000000.0\]"),
])
def test_bad_options(field, value, match):
    with pytest.raises(ValueError, match=match):
        TrackerOptions(**{field: value})


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['det_tresh'\]"):
        Tracker(det_tresh=0.3)
    with pytest.raises(ValueError, match="options: expected a TrackerOptions"):
        Tracker({"det_thresh": 0.3})


def test_tracks_to_arrays_takes_tracks_only():
    from mottrack_sdk import tracks_to_arrays

    tracks = Tracker().update_detections(GOOD, [0.9, 0.9])
    assert tracks_to_arrays(iter(tracks))["track_id"].tolist() == [t.track_id for t in tracks]
    assert tracks_to_arrays(None)["xyxy"].shape == (0, 4)
    with pytest.raises(ValueError, match="tracks: expected a list of Track .* got int 1 in it"):
        tracks_to_arrays([1, 2])
