"""Frame sources: image-folder order and numbering, unreadable images and video frames (skip / stop),
videos that end before their declared length."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mottrack_sdk.io.frame_sources import FrameReadError, open_frame_source, order_image_files

cv2 = pytest.importorskip("cv2")


def _image(value: int, size=(64, 48)) -> np.ndarray:
    image = np.full((size[1], size[0], 3), value % 256, np.uint8)
    cv2.putText(image, str(value), (4, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return image


def _folder(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        cv2.imwrite(str(root / name), _image(10 * k))
    return root


@pytest.mark.parametrize("names, order, ids", [
    (["000010.jpg", "000002.jpg", "000001.jpg"], ["000001.jpg", "000002.jpg", "000010.jpg"], [1, 2, 10]),  # MOT
    (["10.jpg", "2.jpg", "1.jpg"], ["1.jpg", "2.jpg", "10.jpg"], [1, 2, 10]),
    (["frame_0.png", "frame_12.png", "frame_3.png"], ["frame_0.png", "frame_3.png", "frame_12.png"], [1, 4, 13]),
    (["b.jpg", "A.jpg", "c.jpg"], ["A.jpg", "b.jpg", "c.jpg"], [1, 2, 3]),              # no numbers: natural
    (["cam2_10.jpg", "cam2_9.jpg", "cam1_11.jpg"], ["cam1_11.jpg", "cam2_9.jpg", "cam2_10.jpg"], [1, 2, 3]),
    (["2.jpg", "01.png", "1.jpg"], ["1.jpg", "01.png", "2.jpg"], [1, 2, 3]),            # duplicate numbers
    (["1700000000001.jpg", "1700000000000.jpg"], ["1700000000000.jpg", "1700000000001.jpg"], [1, 2]),  # timestamps
])
def test_image_folders_are_numbered_by_the_integer_in_the_names_else_in_natural_order(names, order, ids):
    paths, frame_ids = order_image_files([Path(n) for n in names])
    assert [p.name for p in paths] == order and frame_ids == ids


def test_an_image_folder_reader_yields_frames_in_that_order(tmp_path):
    folder = _folder(tmp_path / "imgs", ["2.jpg", "10.jpg", "1.jpg"])
    with open_frame_source(folder) as reader:
        frames = list(reader)
    assert [i for i, _ in frames] == [1, 2, 10] and reader.frame_count == 3
    assert [int(f[0, 0, 0]) for _, f in frames] == [20, 0, 10]  # 1.jpg, 2.jpg, 10.jpg
    assert [i for i, _ in open_frame_source(folder, max_frames=2)] == [1, 2]


def test_a_folder_without_images_names_its_subfolders_that_have_some(tmp_path):
    root = tmp_path / "otb_crossing"
    _folder(root / "img", ["1.jpg", "2.jpg"])
    (root / "empty").mkdir()
    (root / "notes.txt").write_text("not a frame")
    with pytest.raises(FileNotFoundError, match=r"otb_crossing: no images .* found; its sub-folder\(s\) img hold "
                                                r"images: pass one of them$"):
        open_frame_source(root)
    with pytest.raises(FileNotFoundError, match=r"empty: no images \(.*\) found$"):  # nothing to point at
        open_frame_source(root / "empty")


def test_a_sequence_whose_seqinfo_disagrees_with_its_folder(tmp_path, capsys):
    seq = tmp_path / "S"
    _folder(seq / "img1", ["000001.jpg", "000002.jpg", "000003.jpg"])
    info = "[Sequence]\nname=S\nimDir={}\nframeRate=25\nseqLength={}\nimWidth=64\nimHeight=48\nimExt=.jpg\n"
    (seq / "seqinfo.ini").write_text(info.format("nothere", 3))
    with pytest.raises(FileNotFoundError, match=r"seqinfo.ini: imDir=nothere names no folder of .*S$"):
        open_frame_source(seq)
    (seq / "seqinfo.ini").write_text(info.format("img1", 2))
    assert [i for i, _ in open_frame_source(seq)] == [1, 2, 3]  # read, with a warning
    assert "seqLength=2, but" in capsys.readouterr().err
    (seq / "seqinfo.ini").write_text(info.format("img1", 3))
    open_frame_source(seq)
    assert capsys.readouterr().err == ""


def test_a_corrupt_image_is_skipped_with_a_warning_and_counted_or_stops_the_reader(tmp_path):
    folder = _folder(tmp_path / "imgs", [f"{i:06d}.jpg" for i in range(1, 6)])
    (folder / "000003.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    warnings: list[str] = []
    reader = open_frame_source(folder)
    reader.warn = warnings.append
    assert [i for i, _ in reader] == [1, 2, 4, 5]
    assert reader.problems.skipped == 1 and "000003.jpg: cannot read" in reader.problems.examples[0]
    assert len(warnings) == 1 and "000003.jpg" in warnings[0] and "skipped" in warnings[0]
    stop = open_frame_source(folder, on_error="stop")
    with pytest.raises(FrameReadError, match="000003.jpg: cannot read"):
        list(stop)
    with pytest.raises(ValueError, match="--on-error"):
        open_frame_source(folder, on_error="ignore")
    cv2.imwrite(str(folder / "000006.png"), np.zeros((1, 7, 3), np.uint8))  # too small for a frame: skipped too
    reader = open_frame_source(folder)
    reader.warn = warnings.append
    assert [i for i, _ in reader] == [1, 2, 4, 5] and reader.problems.skipped == 2
    assert "000006.png: 7x1 pixels, smaller than a frame can be (8x8)" in reader.problems.examples[1]


def _mjpeg_video(path: Path, count: int) -> list[int]:
    """An MJPEG .avi of ``count`` frames; returns the byte offsets of each frame's JPEG."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(count):
        writer.write(_image(10 * i))
    writer.release()
    data = path.read_bytes()
    starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]
    assert len(starts) == count
    return starts


def test_an_undecodable_video_frame_is_skipped_and_the_rest_is_read(tmp_path):
    path = tmp_path / "clip.avi"
    starts = _mjpeg_video(path, 12)
    data = bytearray(path.read_bytes())
    data[starts[4]:starts[5] - 8] = bytes(starts[5] - 8 - starts[4])  # frame 5's JPEG zeroed
    path.write_bytes(bytes(data))
    warnings: list[str] = []
    reader = open_frame_source(path)
    reader.warn = warnings.append
    ids = [i for i, _ in reader]
    assert ids == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12]  # before: [1, 2, 3, 4], silently
    assert reader.problems.skipped == 1 and reader.problems.ended_early is None
    assert "frame 5 of 12 cannot be decoded" in warnings[0]
    with pytest.raises(FrameReadError, match="frame 5 of 12"):
        list(open_frame_source(path, on_error="stop"))
    limited = open_frame_source(path, max_frames=8)
    assert [i for i, _ in limited] == [1, 2, 3, 4, 6, 7, 8] and limited.problems.skipped == 1


def test_a_video_that_ends_before_its_declared_length_says_so(tmp_path):
    path = tmp_path / "clip.avi"
    starts = _mjpeg_video(path, 12)
    path.write_bytes(path.read_bytes()[: starts[7] + 40])  # cut inside frame 8: the header still says 12
    for on_error in ("skip", "stop"):
        warnings: list[str] = []
        reader = open_frame_source(path, on_error=on_error)
        reader.warn = warnings.append
        assert [i for i, _ in reader] == list(range(1, 8))
        assert reader.problems.skipped == 0
        assert "ends after frame 7, before the 12 frames its header declares" in reader.problems.ended_early
        assert warnings == [f"warning: {reader.problems.ended_early}"]
    whole = tmp_path / "whole.avi"
    _mjpeg_video(whole, 6)
    reader = open_frame_source(whole)
    assert len(list(reader)) == 6 and reader.problems.as_dict() == {
        "skipped_frames": 0, "skipped_examples": [], "ended_early": None}
