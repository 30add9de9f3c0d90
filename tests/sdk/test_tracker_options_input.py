"""Tracker options from the command line and from code: ``--tracker-config`` merges like ``--set`` (the
model's validated ``tracker_defaults`` survive), numpy scalars are numbers, and boxes or embeddings
whose arithmetic would overflow are refused naming the argument."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from mottrack_sdk import Tracker
from mottrack_sdk.cli.common import add_tracker_options, tracker_options_from_args, tracker_request
from mottrack_sdk.tracking.options import TrackerOptions


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_tracker_options(parser)
    return parser.parse_args(list(argv))


def test_tracker_config_is_a_set_of_changes_and_set_wins(tmp_path):
    config = tmp_path / "tracker.yaml"
    config.write_text("min_box_area: 50\niou_thresh: 0.6\n")
    options, changes = tracker_request(_args("--tracker-config", str(config), "--set", "iou_thresh=0.4"))
    assert options is None  # so that a model's tracker_defaults still apply
    assert changes == {"min_box_area": 50.0, "iou_thresh": 0.4} and type(changes["min_box_area"]) is float
    full = tracker_options_from_args(_args("--tracker-config", str(config)))
    assert full == TrackerOptions(min_box_area=50.0, iou_thresh=0.6)


def test_tracker_config_keeps_the_models_validated_det_thresh(tmp_path, monkeypatch):
    """A model validated with det_thresh 0.65 (its metadata tracker_defaults); a config file that does
    not mention det_thresh used to reset it to 0.5 (the file became a full TrackerOptions)."""
    from types import SimpleNamespace

    from mottrack_sdk.detector import FrameDetector

    model = SimpleNamespace(metadata=SimpleNamespace(tracker_defaults={"det_thresh": 0.65}), close=lambda: None)
    monkeypatch.setattr(FrameDetector, "from_model", staticmethod(lambda *args: model))
    (tmp_path / "m.onnx").write_bytes(b"")
    config = tmp_path / "tracker.yaml"
    config.write_text("min_box_area: 50\n")
    options, changes = tracker_request(_args("--tracker-config", str(config)))
    tracker = Tracker(options, **changes, model=tmp_path / "m.onnx")
    tracker.load_model()
    assert tracker.options.det_thresh == 0.65 and tracker.options.min_box_area == 50.0
    options, changes = tracker_request(_args("--tracker-config", str(config), "--set", "det_thresh=0.4"))
    tracker = Tracker(options, **changes, model=tmp_path / "m.onnx")
    tracker.load_model()
    assert tracker.options.det_thresh == 0.4  # an explicit change still wins


@pytest.mark.parametrize("text, message", [
    ("det_tresh: 0.4\n", "unknown tracker option"),
    ("iou_thresh: 7\n", "iou_thresh"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("a: [\n", "not valid YAML"),
    ("std_weight_position: .inf\n", "std_weight_position: expected a finite number"),
])
def test_bad_tracker_config_files_are_named(tmp_path, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        tracker_request(_args("--tracker-config", str(config)))
    assert str(config) in str(info.value)


def test_the_combination_of_file_and_set_is_checked(tmp_path):
    config = tmp_path / "tracker.yaml"
    config.write_text("det_thresh: 0.3\n")
    with pytest.raises(ValueError, match="low_score_thresh: expected <= det_thresh") as info:
        tracker_request(_args("--tracker-config", str(config), "--set", "low_score_thresh=0.4"))
    assert "lower it with det_thresh, or switch the low-score rescue off with None" in str(info.value)


def test_numpy_scalars_are_accepted_as_option_values():
    tracker = Tracker(det_thresh=np.float32(0.4), track_buffer=np.int64(10), gating=np.bool_(True))
    assert tracker.options.det_thresh == pytest.approx(0.4) and type(tracker.options.det_thresh) is float
    assert tracker.options.track_buffer == 10 and type(tracker.options.track_buffer) is int
    assert TrackerOptions().replace(iou_thresh=np.float64(0.3)).iou_thresh == 0.3


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the fast path's squares, then refused
@pytest.mark.parametrize("core", ["python", "auto"])
@pytest.mark.parametrize("boxes, embeddings, message", [
    ([[0.0, 0.0, 1e200, 1e200]], None, r"boxes_xyxy: expected coordinates within ±3.402823e\+38"),
    ([[-1e39, 0.0, 10.0, 10.0]], None, "float32 range"),
    ([[0.0, 0.0, 10.0, 10.0]], np.array([[3e38, 3e38]], np.float32), "embeddings: row 0 overflows float32"),
    ([[0.0, 0.0, 10.0, 10.0]], np.array([[1e-30, 1e-30]], np.float32), "embeddings: row 0 underflows float32"),
    ([[0.0, 0.0, 10.0, 10.0]], np.array([[1e300, 1.0]]), "embeddings: expected values within"),
])
def test_values_whose_arithmetic_overflows_are_refused(core, boxes, embeddings, message):
    tracker = Tracker(core=core)
    with pytest.raises(ValueError, match=message):
        tracker.update_detections(np.array(boxes), [0.9], embeddings)
    assert tracker.frame_id == 0
    # the largest float32 coordinates are still fine (and give finite tracks)
    big = np.array([[3.0e38, 3.0e38, 3.4e38, 3.4e38]])
    tracker.update_detections(big, [0.9])
    assert np.isfinite(tracker.update_detections_arrays(big, [0.9]).xyxy).all()


@pytest.mark.parametrize("item, message", [
    ("det_thresh=0x10", "expected a number, got '0x10'"),  # YAML 1.1 took it as 16
    ("det_thresh=1_000", "expected a number, got '1_000'"),  # ... as 1000
    ("track_buffer=1:30", "expected an integer, got '1:30'"),  # ... as 90 (sexagesimal)
    ("det_thresh=[", r"--set det_thresh: not valid YAML \([^\n]*\)$"),  # one line, not the parser's five
    ("min_hits=" + "9" * 5000, "expected an integer, got '9999"),  # not "Exceeds the limit (4300 digits)"
])
def test_set_values_are_numbers_as_written_or_named_errors(item, message):
    with pytest.raises(ValueError, match=message):
        tracker_request(_args("--set", item))


def test_set_takes_exponent_notation():
    _, changes = tracker_request(_args("--set", "det_thresh=5e-1", "--set", "std_weight_position=5E-2"))
    assert changes == {"det_thresh": 0.5, "std_weight_position": 0.05}
