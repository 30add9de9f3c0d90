"""Calibration readers: even sampling, the runtime's preprocessing, ONNX Runtime's reader protocol."""
from __future__ import annotations

import numpy as np
import pytest

from mottrack_calibration.readers import (FrameCalibrationReader, ImageFolderSource, MotSequenceSource,
                                          PreprocessingSpec, VideoFileSource, evenly_spaced, open_frame_source)

SPEC = PreprocessingSpec("images", (64, 32), "letterbox", 127.5)


@pytest.mark.parametrize("total, count, expected", [(10, 3, [0, 4, 9]), (5, 5, [0, 1, 2, 3, 4]), (3, 10, [0, 1, 2]),
                                                    (0, 4, []), (1000, 4, [0, 333, 666, 999])])
def test_evenly_spaced(total, count, expected):
    assert evenly_spaced(total, count).tolist() == expected


def test_evenly_spaced_is_distinct_for_every_count():
    for count in range(2, 60):
        idx = evenly_spaced(57, count)
        assert len(np.unique(idx)) == len(idx) == min(count, 57) and idx[0] == 0 and idx[-1] == 56


def test_image_folder_reader_preprocesses_like_the_runtime(image_folder):
    import cv2
    from onnxruntime.quantization import CalibrationDataReader

    from mottrack_sdk.preprocessing import to_network_input

    source = open_frame_source(image_folder)
    assert isinstance(source, ImageFolderSource) and len(source) == 12  # recursive, images only
    reader = FrameCalibrationReader(source, SPEC, count=4)
    assert isinstance(reader, CalibrationDataReader) and len(reader) == 4
    items = list(reader)
    assert len(items) == 4 and reader.get_next() is None
    expected = to_network_input(cv2.imread(str(source.paths[int(reader.indices[1])])), (64, 32), "letterbox")[0]
    np.testing.assert_array_equal(items[1]["images"], expected)
    assert items[0]["images"].shape == (1, 3, 32, 64) and items[0]["images"].dtype == np.float32
    reader.rewind()
    np.testing.assert_array_equal(reader.get_next()["images"], items[0]["images"])


def test_mot_sequences_are_sampled_across_all_sequences(mot_root):
    source = open_frame_source(mot_root)
    assert isinstance(source, MotSequenceSource) and len(source) == 12 and source.has_ground_truth
    reader = FrameCalibrationReader(source, SPEC, count=3)
    assert reader.indices.tolist() == [0, 6, 11]
    assert isinstance(open_frame_source(mot_root / "SEQ-1"), MotSequenceSource)
    assert reader.fingerprint()["frames"] == 3


def test_video_frames(tmp_path, image_folder):
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 90))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG/AVI")
    frames = [cv2.imread(str(p)) for p in ImageFolderSource(image_folder).paths]
    for frame in frames:
        writer.write(frame)
    writer.release()
    source = open_frame_source(path)
    assert isinstance(source, VideoFileSource) and len(source) == 12
    got = list(source.read(np.array([0, 5, 11])))
    assert len(got) == 3 and got[0].shape == (90, 160, 3)
    assert np.abs(got[1].astype(int) - frames[5].astype(int)).mean() < 12  # JPEG-compressed copy of frame 5
    assert len(list(FrameCalibrationReader(source, SPEC, count=5))) == 5


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        open_frame_source(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a video file"):
        open_frame_source(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        open_frame_source(tmp_path / "empty")
    with pytest.raises(ValueError, match=">= 1"):
        FrameCalibrationReader(ImageFolderSource(tmp_path, [tmp_path / "notes.txt"]), SPEC, count=0)


def test_a_fifo_or_a_video_declaring_huge_frames_is_refused(tmp_path):
    """A FIFO used to give a NotADirectoryError traceback; a 43-byte GIF declaring 16000x16000 frames was
    decoded (3 GB) for calibration."""
    import os
    import struct

    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "frames")
        with pytest.raises(ValueError, match=r"frames: is a named pipe \(FIFO\)"):
            open_frame_source(tmp_path / "frames")
    header = b"GIF89a" + struct.pack("<HH", 16000, 16000) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00"
    (tmp_path / "bomb.mp4").write_bytes(header + image + b"\x3b")  # FFmpeg reads the content, not the suffix
    with pytest.raises(ValueError, match=r"bomb\.mp4: its frames are 16000x16000 pixels"):
        open_frame_source(tmp_path / "bomb.mp4")
