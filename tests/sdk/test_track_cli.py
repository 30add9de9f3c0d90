"""`mottrack track`, `mottrack bench`, the video `mottrack demo`, and the frame sources they read."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mottrack_sdk.cli.main import main
from mottrack_sdk.detector import default_model_path
from mottrack_sdk.io import read_mot_txt
from mottrack_sdk.io.frame_sources import ImageFolderReader, VideoFrameReader, open_frame_source
from mottrack_sdk.machine import cpu_info

NO_SHIPPED_MODEL = pytest.mark.skipif(default_model_path().is_file(), reason="the default model is shipped in this build")


@pytest.fixture(scope="module")
def video(sequence, tmp_path_factory):
    from mottrack_sdk.io.video import VideoWriter

    path = tmp_path_factory.mktemp("video") / "clip.avi"
    with VideoWriter(path, fps=20) as writer:
        for _, image in open_frame_source(sequence):
            writer.write(image)
    return path


def test_frame_sources(sequence, video, tmp_path):
    seq = open_frame_source(sequence)
    assert isinstance(seq, ImageFolderReader) and (seq.name, seq.fps, seq.frame_count) == ("SEQ-1", 25.0, 10)
    folder = open_frame_source(sequence / "img1", max_frames=3)
    assert folder.frame_count == 3 and [i for i, _ in folder] == [1, 2, 3]
    with open_frame_source(video, max_frames=4) as clip:
        frames = list(clip)
        assert clip.name == "clip" and clip.fps == pytest.approx(20) and clip.frame_count == 4
    assert [i for i, _ in frames] == [1, 2, 3, 4] and frames[0][1].shape == (360, 640, 3)
    assert isinstance(open_frame_source(str(video)), VideoFrameReader)
    with pytest.raises(FileNotFoundError, match="no such video"):
        open_frame_source(tmp_path / "nothing.mp4")
    with pytest.raises(FileNotFoundError, match="no images"):
        open_frame_source(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png: cannot read"):
        list(open_frame_source(tmp_path, on_error="stop"))
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="cannot open video"):
        open_frame_source(tmp_path / "bad.mp4")


def test_track_sequence_writes_results_video_and_summary(tiny_models, sequence, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["track", str(sequence), "--model", str(tiny_models.nms), "--out", str(out), "--save-video",
                 "--quiet", "--threads", "1"]) == 0
    rows = read_mot_txt(out / "SEQ-1.txt")
    assert len(rows) > 0 and rows.frame.min() == 1 and rows.frame.max() == 10
    import cv2

    capture = cv2.VideoCapture(str(out / "SEQ-1.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 10 and capture.get(cv2.CAP_PROP_FPS) == pytest.approx(25)
    summary = json.loads((out / "SEQ-1.summary.json").read_text())
    assert summary["frames"] == 10 and summary["tracks"] == len(np.unique(rows.track_id))
    assert set(summary["ms"]) == {"preprocess", "inference", "postprocess", "camera_motion", "association", "total"}
    assert set(summary["ms"]["inference"]) >= {"p50", "p90", "p99"}
    text = capsys.readouterr().out
    assert "done: 10 frames" in text and "inference" in text and "FPS" in text
    assert not list(out.glob(".*"))  # no temporary files left


def test_a_slow_birth_at_the_source_frame_rate_gets_a_note(tiny_models, sequence, tmp_path, capsys):
    from mottrack_sdk.cli.track_cmd import birth_delay_note

    assert birth_delay_note(6, 30.0) is None and birth_delay_note(2, 1.0) is None and birth_delay_note(6, None) is None
    assert "6 consecutive matched frames, 2.0 s at 3 fps" in birth_delay_note(6, 3.0)
    base = ["track", str(sequence), "--model", str(tiny_models.nms), "--quiet", "--threads", "1"]
    assert main(base + ["--out", str(tmp_path / "a"), "--set", "min_hits=20"]) == 0  # 20 frames at 25 fps: 0.8 s
    assert "--set min_hits=2" in capsys.readouterr().out
    assert main(base + ["--out", str(tmp_path / "b"), "--set", "min_hits=6"]) == 0  # 0.24 s: no note
    assert "note:" not in capsys.readouterr().out


def test_track_video_file_with_a_raw_heads_model(tiny_models, video, tmp_path):
    assert main(["track", str(video), "--model", str(tiny_models.raw), "--out", str(tmp_path), "--max-frames", "3",
                 "--name", "v", "--quiet"]) == 0
    assert read_mot_txt(tmp_path / "v.txt").frame.max() == 3


@pytest.mark.parametrize("argv, message", [
    (["track", "/nonexistent/clip.mp4", "--model", "{nms}"], "no such video, image folder or sequence"),
    (["track", "{seq}", "--model", "/nonexistent.onnx"], "--model /nonexistent.onnx: file not found"),
    (["track", "{seq}", "--model", "{nms}", "--backend", "tensorrt"], "runs on the onnxruntime backend"),
    (["bench", "--model", "{nms}", "--sizes", "64x64"], "nothing to benchmark"),
    (["bench", "--model", "{nms}", "--sizes", "big"], "--sizes must look like WIDTHxHEIGHT"),
])
def test_cli_errors_are_one_line(tiny_models, sequence, argv, message, capsys):
    argv = [a.format(nms=tiny_models.nms, seq=sequence) for a in argv]
    assert main(argv + ["--quiet"]) == 2
    assert message in capsys.readouterr().err


@NO_SHIPPED_MODEL
def test_track_without_a_model_says_none_is_shipped(sequence, capsys):
    assert main(["track", str(sequence), "--quiet"]) == 2
    assert "not shipped in this build yet" in capsys.readouterr().err


def test_bench_writes_records_and_a_chart(tiny_models, tmp_path, capsys):
    json_path, png = tmp_path / "bench.json", tmp_path / "bench.png"
    assert main(["bench", "--model", str(tiny_models.nms), "--model", str(tiny_models.raw), "--frames", "4",
                 "--warmup", "1", "--tracks", "6", "--frame-size", "640x360", "--sizes", "320x192,576x320",
                 "--threads", "1", "--json", str(json_path), "--plot", str(png), "--quiet"]) == 0
    records = json.loads(json_path.read_text())
    assert len(records) == 2 and {r["layout"] for r in records} == {"nms", "raw_heads"}
    for r in records:
        assert {"backend", "precision", "size", "fps", "ms"} <= set(r)
        assert (r["backend"], r["precision"], r["size"], r["detections"]) == ("onnxruntime", "fp32", "320x192", "scene")
        assert set(r["ms"]) == {"preprocess", "inference", "postprocess", "camera_motion", "association", "total"}
        assert all(set(v) >= {"p50", "p90", "p99"} for v in r["ms"].values())
        assert r["fps"] > 0 and r["ratio_to_paper"] == pytest.approx(r["fps"] / 34.6, rel=0.01)
        assert r["tracks_mean"] > 2  # the scene's people, tracked
        assert r["machine"] == cpu_info().to_json() and r["machine"]["logical_cpus"] == os.cpu_count()
    assert png.read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "no model for 576x320" in out and "x34.6" in out
    assert f"machine: {cpu_info().summary()}" in out


def test_bench_interleave_gives_each_model_the_same_frames_in_turns(tiny_models, tmp_path, capsys):
    """``--interleave N``: the models take turns in blocks of N frames (order flipped every round), each
    sees the whole frame sequence in order, and the records carry the block-time ratio to the first."""
    from mottrack_sdk import Tracker
    from mottrack_sdk.backends import OnnxRuntimeOptions
    from mottrack_sdk.benchmark import BenchFrames, run_interleaved

    frames = BenchFrames.render(9, 4, (320, 192))
    calls: list[tuple[int, int]] = []
    trackers = []
    for k, model in enumerate((tiny_models.nms, tiny_models.raw)):
        tracker = Tracker(model=model, backend_options=OnnxRuntimeOptions(intra_op_threads=1))
        tracker.load_model()
        update = tracker.update

        def logged(image, rgb=False, _k=k, _update=update):
            calls.append((_k, next(i for i in range(9) if np.array_equal(image, frames.image(i)))))
            return _update(image, rgb)
        tracker.update = logged
        trackers.append(tracker)
    records = run_interleaved(trackers, frames, 7, 2, ["scene", "scene"], 3)
    # warm-up (2 frames each, one model after the other), then rounds of 3 frames: 0 1 | 1 0 | 0 1
    assert [k for k, _ in calls] == [0, 0, 1, 1] + [0] * 3 + [1] * 3 + [1] * 3 + [0] * 3 + [0] + [1]
    for k in (0, 1):
        assert [i for j, i in calls if j == k] == list(range(9))
    assert [r.frames for r in records] == [7, 7]
    assert records[0].extra["interleaved"] == {"block": 3, "rounds": 3, "ratio_to_first": 1.0,
                                               "blocks_faster_than_first": 0}
    assert records[1].extra["interleaved"]["ratio_to_first"] > 0
    with pytest.raises(ValueError, match="block must be >= 1"):
        run_interleaved(trackers, frames, 7, 2, ["scene", "scene"], 0)

    json_path = tmp_path / "bench.json"
    assert main(["bench", "--model", str(tiny_models.nms), "--model", str(tiny_models.nms), "--frames", "4",
                 "--warmup", "1", "--tracks", "4", "--frame-size", "320x192", "--threads", "1", "--interleave", "2",
                 "--json", str(json_path), "--quiet"]) == 0
    out = json.loads(json_path.read_text())
    assert [r["interleaved"]["rounds"] for r in out] == [2, 2] and out[0]["interleaved"]["ratio_to_first"] == 1.0
    assert "median block-time ratio to the first model" in capsys.readouterr().out
    assert main(["bench", "--model", str(tiny_models.nms), "--interleave", "-1", "--quiet"]) == 2
    assert "--interleave" in capsys.readouterr().err


def test_demo_with_a_model_tracks_the_rendered_scene(tiny_models, tmp_path, capsys):
    pytest.importorskip("trackeval", reason="the demo scores with TrackEval")
    assert main(["demo", "--model", str(tiny_models.nms), "--frames", "6", "--objects", "5", "--frame-size",
                 "480x272", "--out", str(tmp_path), "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {"HOTA", "MOTA", "IDF1"} <= set(summary["metrics"]) and summary["timings"]["frames"] == 6
    assert summary["fps_table"]["machine"]["isa"] == cpu_info().isa
    assert (tmp_path / "SYNTH-demo.mp4").is_file() and (tmp_path / "results" / "SYNTH-demo.txt").is_file()
    out = capsys.readouterr().out
    assert "HOTA" in out and "x34.6" in out


@NO_SHIPPED_MODEL
def test_demo_falls_back_to_the_detection_level_demo(tmp_path, capsys):
    pytest.importorskip("trackeval", reason="the demo scores with TrackEval")
    assert main(["demo", "--frames", "20", "--objects", "4", "--out", str(tmp_path), "--quiet"]) == 0
    assert "no detection model is shipped" in capsys.readouterr().out
    assert "embeddings" in json.loads((tmp_path / "summary.json").read_text())
