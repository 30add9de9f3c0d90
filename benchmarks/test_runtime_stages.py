"""The frame pipeline per stage (pytest-benchmark): preprocess, inference, postprocess, association, end to end.

CSTrack-S with random weights (FP32 ONNX, in-graph NMS tail, exported here; needs PyTorch and
mottrack_export), ONNX Runtime CPU with 2 intra-op threads, 1920x1080 synthetic frames with 50 people.
Postprocessing and association use the scene's ground truth as the model's outputs (random weights
detect nothing useful), so they see 50 real, persistent objects.

    flock /tmp/mottrack-bench.lock .venv/bin/python -m pytest benchmarks/test_runtime_stages.py \\
        --benchmark-only --benchmark-json=benchmarks/results/runtime_stages.json
"""
from __future__ import annotations

import numpy as np
import pytest

from mottrack_sdk.benchmark import BenchFrames, SceneOutputs
from mottrack_sdk.detector import FrameDetector
from mottrack_sdk.preprocessing import to_network_input

SIZES = [(576, 320), (1088, 608)]
TRACKS = 50


@pytest.fixture(scope="module")
def frames() -> BenchFrames:
    return BenchFrames.render(40, TRACKS, (1920, 1080))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[tuple[int, int], dict[str, object]]:
    pytest.importorskip("torch", reason="the benchmark model is exported from PyTorch")
    from mottrack_export import ExportOptions, TorchModelFromConfig, export_onnx

    folder = tmp_path_factory.mktemp("models")
    out: dict[tuple[int, int], dict[str, object]] = {}
    for size in SIZES:
        loaded = TorchModelFromConfig("cstrack_s", seed=0)()
        paths = {}
        for layout, raw in (("nms", False), ("raw_heads", True)):
            paths[layout] = folder / f"cstrack_s_{size[0]}x{size[1]}_{layout}.onnx"
            export_onnx(loaded, paths[layout], ExportOptions(size=size, raw_heads=raw, verify_onnxruntime=False))
        out[size] = paths
    return out


def _detector(path, frames: BenchFrames, count: int) -> FrameDetector:
    from mottrack_sdk.backends import OnnxRuntimeBackend, OnnxRuntimeOptions

    inner = OnnxRuntimeBackend(path, OnnxRuntimeOptions(providers=("CPUExecutionProvider",), intra_op_threads=2))
    return FrameDetector(SceneOutputs(inner, frames, count).load())


@pytest.mark.parametrize("interpolation", ["auto", "area", "linear"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_preprocess(benchmark, frames, size, interpolation):
    """Letterbox + normalise a 1080p frame: 'auto' (what training, calibration and the runtime use: block
    average + linear when shrinking >= 2x, INTER_AREA otherwise), one-step INTER_AREA, INTER_LINEAR."""
    import cv2

    image = frames.image(0)
    flag = {"auto": "auto", "area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}[interpolation]
    benchmark(lambda: to_network_input(image, size, "letterbox", 127.5, flag))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_inference(benchmark, models, size):
    from mottrack_sdk.backends import OnnxRuntimeBackend, OnnxRuntimeOptions

    backend = OnnxRuntimeBackend(models[size]["nms"], OnnxRuntimeOptions(intra_op_threads=2)).load()
    batch = np.random.default_rng(0).random((1, 3, size[1], size[0]), dtype=np.float32)
    benchmark.pedantic(backend.infer, args=({"images": batch},), rounds=8, warmup_rounds=2)


@pytest.mark.parametrize("layout", ["nms", "raw_heads"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_postprocess(benchmark, models, frames, size, layout):
    """Decode 50 detections (raw_heads: host NMS over every candidate) and map them back to the frame."""
    detector = _detector(models[size][layout], frames, 1)
    outputs = detector.backend._prepared[0]
    _, transform = detector.preprocess(frames.image(0))
    detections = benchmark(detector.decoder, outputs, transform)
    assert len(detections) >= TRACKS * 0.8


def test_association(benchmark, models, frames):
    """update_detections with the ~50 decoded detections of consecutive frames (native core when built)."""
    from mottrack_sdk import Tracker

    detector = _detector(models[SIZES[0]]["nms"], frames, len(frames.encoded))
    _, transform = detector.preprocess(frames.image(0))
    dets = [detector.decoder(out, transform) for out in detector.backend._prepared]
    tracker = Tracker()
    for d in dets[:10]:
        tracker.update_detections(d.xyxy, d.scores, d.embeddings)
    state = {"i": 10}

    def step():
        d = dets[state["i"] % len(dets)]
        state["i"] += 1
        return tracker.update_detections(d.xyxy, d.scores, d.embeddings)

    benchmark.pedantic(step, rounds=25, warmup_rounds=0)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_end_to_end(benchmark, models, frames, size):
    """Tracker.update(frame): preprocess + ONNX Runtime + decode + association, 50 people."""
    from mottrack_sdk import Tracker

    count = len(frames.encoded)
    tracker = Tracker(model=_detector(models[size]["nms"], frames, count).backend)
    images = [frames.image(i) for i in range(count)]
    state = {"i": 0}

    def step():
        image = images[state["i"] % count]
        state["i"] += 1
        return tracker.update(image)

    benchmark.pedantic(step, rounds=8, warmup_rounds=2)
