"""`mottrack track` on long and damaged sources: results streamed as tracking goes, SIGINT / SIGTERM finish
every file (exit 130 / 143, no temporary file), bad frames skipped and counted or stopping the run,
outputs checked before any work, ordinary file permissions."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mottrack_sdk.cli.main import main
from mottrack_sdk.io import read_mot_txt
from mottrack_sdk.io.frame_sources import open_frame_source

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def long_video(sequence, tmp_path_factory):
    """600 frames (the sequence's 10, repeated): long enough to signal a run in the middle."""
    path = tmp_path_factory.mktemp("long") / "long.avi"
    frames = [image for _, image in open_frame_source(sequence)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 360))
    for i in range(600):
        writer.write(frames[i % len(frames)])
    writer.release()
    return path


def _ordinary_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _hidden(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_run_finishes_every_file_and_exits_128_plus_the_signal(tiny_models, long_video, tmp_path,
                                                                             signum, code):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "mottrack_sdk.cli.main", "track", str(long_video), "--model", str(tiny_models.nms),
            "--out", str(out), "--save-video", "--quiet", "--threads", "1", "--flush-seconds", "0.1"]
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731  (a background shell ignores it)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore)
    results = out / "long.txt"
    try:
        deadline = time.monotonic() + 120
        while not (results.is_file() and results.read_text().count("\n") >= 20):  # rows appear as tracking goes
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        streamed = read_mot_txt(results)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and f"interrupted by {signal.Signals(signum).name}" in stdout
    summary = json.loads((out / "long.summary.json").read_text())
    assert summary["interrupted"] == signal.Signals(signum).name and 0 < summary["frames"] < 600
    rows = read_mot_txt(results)
    assert len(rows) >= len(streamed) and rows.frame.max() <= summary["frames"]
    capture = cv2.VideoCapture(str(out / "long.mp4"))  # playable, one frame per tracked frame
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == summary["frames"] and capture.read()[0]
    assert _hidden(out) == []
    assert (out / "long.mp4").stat().st_mode & 0o777 == _ordinary_mode()


def test_results_are_written_in_whole_lines_at_least_every_flush_interval(tmp_path):
    from mottrack_sdk.io.results_stream import StreamingResultsWriter

    now = [0.0]
    path = tmp_path / "r.txt"
    box = np.array([[10.0, 20.0, 40.0, 80.0], [0.0, 0.0, 5.0, 5.0]])
    with StreamingResultsWriter(path, flush_seconds=2.0, clock=lambda: now[0]) as writer:
        writer.add(1, np.array([7, 3]), box, np.array([0.9, 0.5]))
        assert path.read_text() == ""  # collected, not yet due
        now[0] = 2.5
        writer.add(2, np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))
        assert path.read_text() == "1,3,0.00,0.00,5.00,5.00,0.5000,-1,-1,-1\n1,7,10.00,20.00,30.00,60.00,0.9000,-1,-1,-1\n"
        writer.add(3, np.array([3]), box[1:], np.array([0.25]))
    assert path.read_text().endswith("3,3,0.00,0.00,5.00,5.00,0.2500,-1,-1,-1\n") and writer.rows == 3
    assert path.stat().st_mode & 0o777 == _ordinary_mode()


def test_run_statistics_stay_bounded_with_exact_means():
    from mottrack_sdk.cli.track_stats import TrackRunStats
    from mottrack_sdk.detector import StageTimings

    stats = TrackRunStats(sample_frames=50)
    for i in range(1000):
        stats.add(StageTimings(1.0, float(i % 10), 0.5, 0.25), np.array([i % 7]))
    summary = stats.summary("m", wall_s=2.0)
    assert len(stats._samples) == 50 and summary["timing_sample_frames"] == 50
    assert summary["frames"] == 1000 and summary["tracks"] == 7 and summary["wall_fps"] == 500.0
    assert summary["ms"]["inference"]["mean"] == 4.5 and summary["ms"]["total"]["mean"] == 6.25
    assert 0 <= summary["ms"]["inference"]["p50"] <= 9


def test_a_corrupt_image_is_skipped_and_counted_or_stops_the_run_with_files_finished(tiny_models, sequence, tmp_path,
                                                                                        capsys):
    import shutil

    seq = tmp_path / "SEQ-1"
    shutil.copytree(sequence, seq)
    (seq / "img1" / "000004.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "out"
    common = ["--model", str(tiny_models.nms), "--quiet", "--threads", "1"]
    assert main(["track", str(seq), "--out", str(out), *common]) == 0
    summary = json.loads((out / "SEQ-1.summary.json").read_text())
    assert summary["frames"] == 9 and summary["skipped_frames"] == 1 and "000004.jpg" in summary["skipped_examples"][0]
    captured = capsys.readouterr()
    assert "000004.jpg: cannot read" in captured.err and "skipped 1 unreadable frame" in captured.out
    assert 4 not in read_mot_txt(out / "SEQ-1.txt").frame

    stop_out = tmp_path / "stop"
    assert main(["track", str(seq), "--out", str(stop_out), "--on-error", "stop", "--save-video", *common]) == 2
    err = capsys.readouterr().err
    assert "000004.jpg: cannot read" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    summary = json.loads((stop_out / "SEQ-1.summary.json").read_text())
    assert summary["frames"] == 3 and summary["stopped_by_error"]
    assert read_mot_txt(stop_out / "SEQ-1.txt").frame.max() == 3 and (stop_out / "SEQ-1.mp4").is_file()
    assert _hidden(stop_out) == []


@pytest.mark.parametrize("argv, message", [
    (["track", "{seq}", "--model", "/nonexistent.onnx", "--out", "{file}"], "--out {file}: exists and is not a folder"),
    (["track", "{seq}", "--model", "/nonexistent.onnx", "--out", "{file}/sub"], "is a file, so no folder"),
    (["track", "{seq}", "--model", "{nms}", "--out", "{tmp}/o", "--name", "../x"], "--name '../x': expected a plain"),
    (["track", "{seq}", "--model", "{nms}", "--out", "{tmp}/o", "--name", "d", "--save-video"],
     "--save-video {tmp}/o/d.mp4: is a folder"),
    (["bench", "--model", "/nonexistent.onnx", "--json", "{tmp}"], "--json {tmp}: is a folder"),
    (["bench", "--model", "/nonexistent.onnx", "--json", "{file}/b.json"], "is a file, so no folder"),
    (["bench", "--model", "/nonexistent.onnx", "--plot", "{tmp}/chart.svg"], "--plot {tmp}/chart.svg: expected a "
                                                                            "file name ending in .png"),
])
def test_outputs_are_checked_before_any_work(tiny_models, sequence, tmp_path, argv, message, capsys):
    (tmp_path / "o" / "d.mp4").mkdir(parents=True)
    (tmp_path / "afile").write_text("x")
    fill = {"seq": sequence, "nms": tiny_models.nms, "file": tmp_path / "afile", "tmp": tmp_path}
    argv = [a.format(**fill) for a in argv]
    assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert message.format(**fill) in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_output_folder_is_refused_up_front(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["track", "0", "--model", "/nonexistent.onnx", "--out", str(locked / "sub"), "--quiet"]) == 2
    finally:
        locked.chmod(0o700)
    assert "cannot write in" in capsys.readouterr().err


def test_videos_get_ordinary_permissions_and_leave_nothing_behind_on_error(tmp_path):
    from mottrack_sdk.io.video import VideoWriter

    frame = np.zeros((48, 64, 3), np.uint8)
    with VideoWriter(tmp_path / "v.mp4", fps=10) as writer:
        writer.write(frame)
        writer.write(frame)
    assert (tmp_path / "v.mp4").stat().st_mode & 0o777 == _ordinary_mode()  # before: 0600
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(tmp_path / "w.mp4") as writer:
            writer.write(frame)
            raise RuntimeError("boom")
    with VideoWriter(tmp_path / "empty.avi"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_a_failure_before_the_first_tracked_frame_leaves_no_empty_results(sequence, tmp_path):
    """A model that fails on the first frame (a bad input size, a broken graph) used to leave an empty
    OUT/<name>.txt (and video) behind the error."""
    from mottrack_sdk.cli.track_cmd import track_source

    class Failing:
        def update_arrays(self, image, rgb=False):
            raise ValueError("model m.onnx: cannot run this frame")

    out = tmp_path / "out"
    with pytest.raises(ValueError, match="cannot run this frame"):
        track_source(Failing(), open_frame_source(sequence), out, "seq", video=out / "seq.mp4", quiet=True)
    assert not [p for p in out.rglob("*") if p.is_file()]
