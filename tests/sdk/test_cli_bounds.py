"""`demo`, `bench` and `synth` refuse sizes that would not fit in memory up front, naming the flag typed,
in one line (exit 2, no traceback), and leave no empty output folder behind."""
from __future__ import annotations

import numpy as np
import pytest

from mottrack_sdk.cli.main import main
from mottrack_sdk.scenes.detection_scene import DetectionSceneOptions


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("field, value", [("num_objects", 1001), ("num_frames", 1_000_001), ("seed", -1),
                                          ("width", 0), ("num_objects", 2.5), ("num_frames", True)])
def test_detection_scene_options_are_bounded(field, value):
    """1000 objects: the demo peaks at 283 MB (an n x n visibility matrix per frame); 100000 asked 74.5 GiB."""
    with pytest.raises(ValueError, match=rf"DetectionSceneOptions\.{field} must be an int in \["):
        DetectionSceneOptions(**{field: value})
    DetectionSceneOptions(num_objects=1000, num_frames=1_000_000)  # the limits themselves are accepted


@pytest.mark.parametrize("argv, message", [
    (["--objects", "100000"], "--objects must be an int in [1, 1000], got 100000"),
    (["--frames", "1000000000"], "--frames must be an int in [1, 1000000], got 1000000000"),
    (["--objects", "1000", "--frames", "3000"], "--objects 1000 x --frames 3000 = 3,000,000 object-frames: "
                                                "expected at most 2,000,000"),
    (["--seed", "-1"], "--seed must be an int in [0, "),
])
def test_detection_level_demo_names_the_flag(tmp_path, capsys, argv, message):
    out = tmp_path / "demo"
    err = _one_line_error(["demo", "--detection-level", "--out", str(out), "--quiet", *argv], capsys)
    assert message in err and "DetectionSceneOptions" not in err
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--frames", "10000000"], "--frames must be an int in [1, 1000000]"),
    (["--density", "100000"], "--density must be an int in [0, 500]"),
    (["--fps", "100000"], "--fps must be an int in [1, 240]"),
    (["--seed", str(10**27)], "--seed: expected at most 922337203685477 with --sequences 1"),
])
def test_synth_names_the_flag_before_writing(tmp_path, capsys, argv, message):
    out = tmp_path / "synth"
    err = _one_line_error(["synth", "--out", str(out), "--no-progress", *argv], capsys)
    assert message in err and "SceneOptions" not in err
    assert not out.exists()


def test_synth_out_of_memory_is_one_line_and_leaves_no_empty_folder(tmp_path, capsys, monkeypatch):
    """--size 8192x8192 --density 500 needs more than 3 GB per frame (a MemoryError traceback before)."""
    import mottrack_sdk.scenes as scenes

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(scenes, "write_sequence", no_memory)
    out = tmp_path / "synth"
    err = _one_line_error(["synth", "--out", str(out), "--no-progress", "--size", "8192x8192", "--density", "500"],
                          capsys)
    assert "--size 8192x8192 with --density 500: not enough memory" in err
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--tracks", str(10**9)], "--tracks must be an int in [0, 500]"),
    (["--frame-size", "16x16"], "--frame-size must be an int in [32, 8192]"),
    (["--warmup", str(10**11)], "--warmup + --frames: expected at most 1,000,000 frames, got 100000000000 + 100"),
    (["--frames", "1000001", "--warmup", "0"], "--warmup + --frames: expected at most 1,000,000 frames"),
])
def test_bench_checks_the_run_before_loading_a_model(tmp_path, capsys, argv, message):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not loaded: the arguments are refused first")
    err = _one_line_error(["bench", "--model", str(model), "--quiet", *argv], capsys)
    assert message in err and "SceneOptions" not in err


def test_bench_keeps_a_bounded_pool_of_frames(monkeypatch):
    """--frames 10**6 used to JPEG-encode every frame first (about 360 kB each at 1080p, 100 GB+)."""
    from mottrack_sdk import benchmark
    from mottrack_sdk.benchmark import BenchFrames

    assert BenchFrames.pool_size(110) == 110  # the default run renders every frame it shows, as before
    assert BenchFrames.pool_size(10**6) == 500 == BenchFrames.pool_size(10**6, (64, 48))
    assert BenchFrames.pool_size(10**6, (8192, 8192)) == 15
    monkeypatch.setattr(benchmark, "POOL_FRAMES", 7)  # a small pool renders fast
    frames = BenchFrames.render(10**6, 3, (64, 48))
    n = len(frames.encoded)
    assert n == 7
    shown = [frames.index(i) for i in range(3 * n)]
    assert shown[:n] == list(range(n)) and max(shown) == n - 1
    assert all(abs(a - b) == 1 for a, b in zip(shown, shown[1:]))  # forward and back: no jump in the scene


def test_bench_frames_below_the_pool_are_those_rendered_before(tmp_path):
    """A run that fits the pool sees exactly the frames of a scene of its own length."""
    import cv2

    from mottrack_sdk.benchmark import BenchFrames
    from mottrack_sdk.scenes import SceneGenerator, SceneOptions

    frames = BenchFrames.render(5, 4, (96, 64))
    options = SceneOptions(width=96, height=64, num_frames=5, seed=11, density=4, noise=2.0)
    for i, frame in enumerate(SceneGenerator(options)):
        ok, data = cv2.imencode(".jpg", frame.image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok and np.array_equal(frames.encoded[i], data) and frames.index(i) == i


def test_bench_out_of_memory_is_one_line(tiny_models, capsys, monkeypatch):
    from mottrack_sdk.benchmark import BenchFrames

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(BenchFrames, "render", no_memory)
    err = _one_line_error(["bench", "--model", str(tiny_models.nms), "--quiet", "--threads", "1", "--frames", "1",
                           "--warmup", "0", "--frame-size", "8192x8192"], capsys)
    assert "--frame-size 8192x8192: not enough memory to render the synthetic frames" in err
