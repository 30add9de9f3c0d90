"""``Tracker.update(frame)``: frame checks, lazy model loading, stage timings, and the same tracks as the parts."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mottrack_sdk import Tracker, TrackerOptions
from mottrack_sdk.detector import DefaultModelMissingError, FrameDetector, StageTimings, check_frame, default_model_path
from mottrack_sdk.preprocessing import to_network_input


def test_tracker_without_frames_loads_no_model_or_runtime():
    code = ("import sys\nfrom mottrack_sdk import Tracker\nt = Tracker()\nt.update_detections([[0, 0, 10, 20]], [0.9])\n"
            "print(' '.join(m for m in ('onnxruntime', 'torch', 'tensorrt', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


@pytest.mark.skipif(default_model_path().is_file(), reason="the default model is shipped in this build")
def test_default_model_missing_says_how_to_pass_one():
    tracker = Tracker()  # constructing is fine: detection-only use needs no model
    with pytest.raises(DefaultModelMissingError, match=r"not shipped.*Tracker\(model="):
        tracker.update(np.zeros((64, 64, 3), np.uint8))
    assert isinstance(DefaultModelMissingError("x"), FileNotFoundError)


@pytest.mark.skipif(not default_model_path().is_file(), reason="no default model shipped in this build")
def test_the_shipped_demo_model_tracks_synthetic_people():
    from mottrack_sdk.scenes import SceneGenerator, SceneOptions

    tracker = Tracker()  # model=None: the shipped CSTrack-nano default model (INT8 QDQ ONNX)
    seen = 0
    for frame in SceneGenerator(SceneOptions(width=960, height=540, num_frames=6, seed=3)):
        tracks = tracker.update(frame.image_bgr)
        seen += len(tracks)
        assert set(tracker.last_timings.as_dict()) >= {"preprocess", "inference", "postprocess", "association"}
    assert seen > 0  # the first frame's tracks are confirmed at once (min_hits counts later births)


def test_constructor_errors_are_early_and_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        Tracker(model=tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match=r"Tracker\(model=\.\.\.\)"):
        Tracker("model.onnx")  # positional argument is the options
    with pytest.raises(ValueError, match="backend 'tensorflow' is unknown"):
        Tracker(backend="tensorflow")
    (tmp_path / "folder.onnx").mkdir()
    with pytest.raises(ValueError, match="folder.onnx: is a folder"):
        Tracker(model=tmp_path / "folder.onnx")
    with pytest.raises(ValueError, match="model: expected a path .* got int"):
        Tracker(model=123)
    (tmp_path / "m.weird").write_bytes(b"x")
    with pytest.raises(ValueError, match="cannot tell which backend runs a '.weird' file"):
        Tracker(model=tmp_path / "m.weird")
    (tmp_path / "m.engine").write_bytes(b"x")
    tracker = Tracker(model=tmp_path / "m.engine", backend="onnxruntime")
    with pytest.raises(ValueError, match="runs on the tensorrt backend, but backend='onnxruntime'"):
        tracker.load_model()
    (tmp_path / "m.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="m.onnx: not a loadable ONNX model"):
        Tracker(model=tmp_path / "m.onnx").update(np.zeros((8, 8, 3), np.uint8))


@pytest.mark.parametrize("frame, message", [
    (None, "got None"),
    (np.zeros((0, 10, 3), np.uint8), "non-empty"),
    (np.zeros((10, 10, 3), np.float32), r"dtype uint8.*got float32"),
    (np.zeros((10, 10), np.uint8), r"grayscale.*COLOR_GRAY2BGR"),
    (np.zeros((10, 10, 1), np.uint8), "grayscale"),
    (np.zeros((10, 10, 4), np.uint8), r"got 4.*COLOR_BGRA2BGR"),
    (np.zeros((10, 10, 3, 1), np.uint8), r"expected shape \(H, W, 3\)"),
    ([[1, 2, 3]], "numpy array, got list"),
    (np.zeros((7, 640, 3), np.uint8), "at least 8x8 pixels, got 640x7"),  # with or without camera-motion estimation
])
def test_bad_frames_are_refused_with_the_fix(frame, message):
    with pytest.raises(ValueError, match=message):
        check_frame(frame)


@pytest.mark.parametrize("rgb", ["no", 1, None, np.array([True, False])])
def test_rgb_must_be_true_or_false(rgb):
    with pytest.raises(ValueError, match="rgb: expected True .* or False"):
        check_frame(np.zeros((8, 8, 3), np.uint8), rgb=rgb)


def test_rgb_frames_are_flipped_to_bgr():
    rgb = np.random.default_rng(0).integers(0, 255, (8, 9, 3), dtype=np.uint8)
    bgr = check_frame(rgb, rgb=True)
    np.testing.assert_array_equal(bgr, rgb[:, :, ::-1])
    assert bgr.flags.c_contiguous
    assert check_frame(rgb) is rgb  # BGR: no copy


def test_update_tracks_frames_and_reports_stage_timings(tiny_models, scene_frames):
    tracker = Tracker(model=tiny_models.nms, min_box_area=0, max_aspect_ratio=None)
    assert tracker.detector is None and tracker.last_timings is None
    counts = []
    for frame in scene_frames[:4]:
        tracks = tracker.update(frame.image_bgr)
        counts.append(len(tracks))
        timings = tracker.last_timings
        assert isinstance(timings, StageTimings)
        assert all(getattr(timings, s) > 0 for s in StageTimings.STAGES)
        assert timings.total == pytest.approx(sum(timings.as_dict()[s] for s in StageTimings.STAGES))
        height, width = frame.image_bgr.shape[:2]
        boxes = tracker.last_detections.xyxy  # clipped to the frame (tracks are Kalman boxes and may leave it)
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert min(counts) > 0
    assert "cstrack_s fp32 320x192 (nms) on onnxruntime" in repr(tracker)


def test_update_equals_detector_plus_update_detections(tiny_models, scene_frames):
    """The frame API is exactly: shared preprocessing -> model -> decode -> update_detections with
    the frame (camera motion) on the model's settings (TrackerOptions.for_model + its metadata)."""
    detector = FrameDetector.from_model(tiny_models.nms)
    defaults = detector.metadata.tracker_defaults or {}
    by_parts, by_frames = Tracker(TrackerOptions.for_model(**defaults)), Tracker(model=tiny_models.nms)
    for frame in scene_frames[:4]:
        dets = detector.detect(frame.image_bgr)
        expected = by_parts.update_detections(dets.xyxy, dets.scores, dets.embeddings, frame=frame.image_bgr)
        assert by_frames.update(frame.image_bgr) == expected
    assert by_frames.options == by_parts.options
    # the detector's input is the shared preprocessing's, bit for bit
    batch, transform = detector.preprocess(scene_frames[0].image_bgr)
    ref_batch, (ref_transform,) = to_network_input(scene_frames[0].image_bgr, (320, 192), "letterbox", 127.5)
    np.testing.assert_array_equal(batch, ref_batch)
    assert transform == ref_transform


def test_camera_motion_starts_from_the_preprocessing_halving(tiny_models, scene_frames, monkeypatch):
    """Frames of 2x the input size or more: the estimator gets the detector's 2x halving (one read of
    the full frame less) and the tracks stay those of update_detections with the frame alone."""
    import cv2

    from mottrack_sdk.preprocessing import halve_area
    from mottrack_sdk.tracking.cmc import CameraMotionEstimator

    seen = []
    estimate = CameraMotionEstimator.estimate

    def spy(self, frame, exclude_xyxy=None, halved=None):
        seen.append(halved)
        return estimate(self, frame, exclude_xyxy, halved)

    monkeypatch.setattr(CameraMotionEstimator, "estimate", spy)
    detector = FrameDetector.from_model(tiny_models.nms)
    by_parts = Tracker(TrackerOptions.for_model(**(detector.metadata.tracker_defaults or {})))
    by_frames = Tracker(model=tiny_models.nms)
    for frame in scene_frames[:4]:
        big = cv2.resize(frame.image_bgr, (1280, 720), interpolation=cv2.INTER_LINEAR)
        dets = detector.detect(big)
        np.testing.assert_array_equal(detector.last_halved, halve_area(big))
        expected = by_parts.update_detections(dets.xyxy, dets.scores, dets.embeddings, frame=big)
        assert by_frames.update(big) == expected
        np.testing.assert_array_equal(seen[-1], halve_area(big))
        assert seen[-2] is None  # update_detections: no halving given, the estimator makes its own
    np.testing.assert_array_equal(by_frames.last_camera_warp, by_parts.last_camera_warp)
    by_frames.update(cv2.resize(scene_frames[4].image_bgr, (480, 270)))  # under 2x: nothing to share
    assert seen[-1] is None and by_frames.detector.last_halved is None


def test_raw_heads_model_gives_the_same_tracks_as_the_in_graph_tail(tiny_models, scene_frames):
    nms = Tracker(model=tiny_models.nms)
    raw = Tracker(model=tiny_models.raw, postprocess=tiny_models.postprocess())
    for frame in scene_frames[:4]:
        a, b = nms.update(frame.image_bgr), raw.update(frame.image_bgr)
        assert [t.track_id for t in a] == [t.track_id for t in b]
        np.testing.assert_allclose([t.xyxy for t in a], [t.xyxy for t in b], atol=0.05)


def test_frame_size_may_change_and_rgb_input_matches_bgr(tiny_models, scene_frames):
    bgr, rgb = Tracker(model=tiny_models.nms), Tracker(model=tiny_models.nms)
    import cv2

    for i, frame in enumerate(scene_frames[:4]):
        image = frame.image_bgr if i % 2 == 0 else cv2.resize(frame.image_bgr, (800, 450))
        a = bgr.update(image)
        b = rgb.update(np.ascontiguousarray(image[:, :, ::-1]), rgb=True)
        assert a == b
        assert bgr.last_detections is not None and len(bgr.last_detections.xyxy)
        if i % 2:  # boxes are in the resized frame's pixels
            assert bgr.last_detections.xyxy[:, 2].max() > 640


def test_reset_keeps_the_model_and_close_releases_it(tiny_models, scene_frames):
    tracker = Tracker(model=tiny_models.nms)
    tracker.update(scene_frames[0].image_bgr)
    tracker.update(scene_frames[1].image_bgr)
    detector = tracker.detector
    tracker.reset()
    assert tracker.frame_id == 0 and tracker.detector is detector
    tracker.close()
    assert tracker.detector is None and not detector.backend.is_loaded
    tracker.update(scene_frames[0].image_bgr)  # reopens
    assert tracker.detector is not None and tracker.frame_id == 1


def _with_tracker_defaults(source, out, defaults):
    onnx = pytest.importorskip("onnx")
    import dataclasses

    from mottrack_export.onnx_export import set_model_metadata
    from mottrack_sdk.model_metadata import read_model_metadata

    proto = onnx.load(str(source))
    set_model_metadata(proto, dataclasses.replace(read_model_metadata(source), tracker_defaults=defaults))
    onnx.save(proto, str(out))
    return out


def test_the_models_validated_tracker_settings_apply_unless_options_are_given(tiny_models, scene_frames, tmp_path):
    from mottrack_sdk.tracking import TrackerOptions

    # det_thresh 1.0: no detection of the model (scores < 1) may start a track
    model = _with_tracker_defaults(tiny_models.nms, tmp_path / "strict.onnx", {"det_thresh": 1.0, "track_buffer": 12})
    frames = [f.image_bgr for f in scene_frames[:4]]
    by_model = Tracker(model=model, min_box_area=0, max_aspect_ratio=None)
    assert by_model.options.det_thresh == 0.5  # library defaults until the model opens
    assert all(by_model.update(f) == [] for f in frames)
    assert (by_model.options.det_thresh, by_model.options.track_buffer) == (1.0, 12)
    overridden = Tracker(model=model, det_thresh=0.5, min_box_area=0, max_aspect_ratio=None)
    assert sum(len(overridden.update(f)) for f in frames) > 0  # keyword overrides win ...
    assert overridden.options.track_buffer == 12              # ... over the fields they name only
    explicit = Tracker(TrackerOptions(min_box_area=0, max_aspect_ratio=None), model=model)
    explicit.load_model()
    assert explicit.options == TrackerOptions(min_box_area=0, max_aspect_ratio=None)
    started = Tracker(model=model)
    started.update_detections(np.array([[0.0, 0.0, 10.0, 30.0]]), np.array([0.9]))
    started.load_model()  # tracks exist: the running tracker keeps its settings
    assert started.options.det_thresh == 0.5
    bad = _with_tracker_defaults(tiny_models.nms, tmp_path / "bad.onnx", {"no_such_option": 1})
    with pytest.raises(ValueError, match="no_such_option"):
        Tracker(model=bad).load_model()


def test_quantile_thresholds_asked_for_drop_the_models_crowd_drop(tiny_models, tmp_path):
    """A model validated with a crowd drop (fixed thresholds, like the shipped one) still opens when
    the user asks for quantile thresholds: its drop, on the fixed scale, is left out; asked for
    together with them it is refused by name."""
    model = _with_tracker_defaults(tiny_models.nms, tmp_path / "crowd.onnx", {"det_thresh": 0.4, "crowd_drop": 0.125})
    fixed = Tracker(model=model)
    fixed.load_model()
    assert (fixed.options.det_quantile, fixed.options.crowd_drop) == (None, 0.125)
    quantile = Tracker(model=model, det_quantile=0.2)
    quantile.load_model()
    assert (quantile.options.det_quantile, quantile.options.crowd_drop) == (0.2, 0.0)
    with pytest.raises(ValueError, match="crowd_drop"):
        Tracker(model=model, det_quantile=0.2, crowd_drop=0.1)


def test_torch_module_runs_through_the_frame_api(tiny_models, scene_frames):
    pytest.importorskip("torch", reason="PyTorch is not installed")
    from mottrack_sdk.backends import TorchOptions

    tracker = Tracker(model=tiny_models.network, backend_options=TorchOptions(input_size=tiny_models.size),
                      postprocess=tiny_models.postprocess())
    reference = Tracker(model=tiny_models.nms)
    for frame in scene_frames[:3]:
        a, b = tracker.update(frame.image_bgr), reference.update(frame.image_bgr)
        assert [t.track_id for t in a] == [t.track_id for t in b]
    assert tracker.detector.backend.name == "torch"


_MEMORY_PROBE = """
import sys
from mottrack_sdk import Tracker
from mottrack_sdk.scenes import SceneGenerator, SceneOptions

def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS"))

model, frames = sys.argv[1], int(sys.argv[2])
images = [f.image_bgr for f in SceneGenerator(SceneOptions(width=640, height=360, num_frames=8, seed=3, density=12))]
tracker = Tracker(model=model)
early = 0.0
for i in range(frames):
    tracker.update(images[i % len(images)])
    if i == frames // 5:
        early = rss_mb()
print(early, rss_mb())
"""


def resident_memory_over(model: str, frames: int) -> tuple[float, float]:
    """RSS (MB) of a fresh process after 20% of ``frames`` ``Tracker.update`` calls and at the end."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(model), str(frames)], capture_output=True,
                         text=True, check=True)
    early, late = (float(v) for v in out.stdout.split()[-2:])
    return early, late


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_resident_memory_is_flat_over_10000_frames(tiny_models):
    early, late = resident_memory_over(tiny_models.nms, 10_000)
    assert late - early < 8.0, f"RSS grew from {early:.1f} MB to {late:.1f} MB"
    assert late < 400.0


def test_backends_pad_default_matches_preprocessing():
    from mottrack_sdk.backends import tensorrt_backend, torch_backend
    from mottrack_sdk.preprocessing import DEFAULT_PAD_VALUE

    assert torch_backend.DEFAULT_PAD_VALUE == tensorrt_backend.DEFAULT_PAD_VALUE == DEFAULT_PAD_VALUE


def test_runtime_modules_import_without_opencv_or_inference_libraries():
    modules = ["mottrack_sdk.tracker", "mottrack_sdk.detector", "mottrack_sdk.postprocessing", "mottrack_sdk.benchmark",
               "mottrack_sdk.backends.onnxruntime_backend", "mottrack_sdk.backends.tensorrt_backend",
               "mottrack_sdk.backends.torch_backend", "mottrack_sdk.cli.main"]
    code = "import sys\n" + "\n".join(f"import {m}" for m in modules) + (
        "\nprint(' '.join(m for m in ('cv2', 'onnxruntime', 'torch', 'tensorrt', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
