"""MOTChallenge files and seqinfo.ini: round trips, real files, clear errors, atomic writes."""
from __future__ import annotations

import numpy as np
import pytest

from mottrack_sdk.io import (SeqInfo, atomic_write, find_sequences, read_mot_txt, read_seqinfo, write_detections,
                             write_gt, write_results, write_seqinfo)


def test_results_round_trip_sorted(tmp_path):
    path = tmp_path / "seq.txt"
    tlwh = np.array([[1.5, 2.25, 10, 20], [3, 4, 5, 6], [7, 8, 9, 10]])
    write_results(path, np.array([2, 1, 1]), np.array([1, 5, 2]), tlwh, np.array([0.5, 0.6, 0.7]))
    rows = read_mot_txt(path)
    assert rows.frame.tolist() == [1, 1, 2] and rows.track_id.tolist() == [2, 5, 1]
    np.testing.assert_allclose(rows.tlwh[2], [1.5, 2.25, 10, 20], atol=0.01)
    assert path.read_text().splitlines()[0].count(",") == 9  # 10 columns


def test_gt_and_detection_files_round_trip(tmp_path):
    write_gt(tmp_path / "gt.txt", np.array([1]), np.array([4]), np.array([[1, 2, 3, 4.0]]), np.array([0.75]))
    gt = read_mot_txt(tmp_path / "gt.txt")
    assert (gt.conf[0], gt.class_id[0], gt.visibility[0]) == (1, 1, 0.75)
    write_detections(tmp_path / "det.txt", np.array([3]), np.array([[1, 2, 3, 4.0]]), np.array([0.125]))
    det = read_mot_txt(tmp_path / "det.txt")
    assert det.track_id[0] == -1 and det.conf[0] == pytest.approx(0.125)
    np.testing.assert_allclose(det.xyxy[0], [1, 2, 4, 6])


def test_seqinfo_round_trip(tmp_path):
    info = SeqInfo("seq-a", 25.0, 120, 640, 360)
    write_seqinfo(tmp_path, info)
    assert read_seqinfo(tmp_path) == info


def test_real_mot17_files(mot17_root):
    gt = read_mot_txt(mot17_root / "MOT17-02" / "gt" / "gt.txt")
    det = read_mot_txt(mot17_root / "MOT17-02" / "det" / "det.txt")
    info = read_seqinfo(mot17_root / "MOT17-02")
    assert info.seq_length == 600 and info.frame_rate == 30
    assert gt.frame.max() <= 600 and set(np.unique(gt.class_id)) >= {1}
    assert len(det) == 7267 and (det.track_id == -1).all()
    assert [p.name for p in find_sequences(mot17_root)] == sorted(p.name for p in mot17_root.iterdir())


@pytest.mark.parametrize("content, match", [
    ("1,2,3\n", r":1: expected at least 6 columns"),
    ("1,2,3,4,5,6\n1,a,3,4,5,6\n", r":2: expected comma-separated numbers"),
    ("1,2,3,4,5,6\n1,2,3,4,5,nan\n", r":2: expected finite numbers, got NaN or inf"),
    ("1.5,2,3,4,5,6\n", r":1: expected whole numbers for frame, id and class"),
    ("1,1e300,3,4,5,6\n", r":1: expected whole numbers for frame, id and class"),
    ("1,2,3,4,5,6,1,2.5,1\n", r":1: expected whole numbers"),
    (b"1,2,3,4,5,6\n\xff\xfe,1\n", r":2: not UTF-8 text"),
])
def test_malformed_files_name_file_and_line(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=match) as info:
        read_mot_txt(path)
    assert "bad.txt" in str(info.value)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_mot_txt(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="is a folder"):
        read_mot_txt(tmp_path)
    with pytest.raises(FileNotFoundError, match="seqinfo.ini not found"):
        read_seqinfo(tmp_path)
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nname=x\n")
    with pytest.raises(ValueError, match="expected a \\[Sequence\\] section with frameRate"):
        read_seqinfo(tmp_path)
    with pytest.raises(FileNotFoundError, match="no sequence folders with gt/gt.txt"):
        find_sequences(tmp_path)


def test_empty_file_reads_as_no_rows(tmp_path):
    (tmp_path / "e.txt").write_text("")
    assert len(read_mot_txt(tmp_path / "e.txt")) == 0


def test_atomic_write_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


BOX = [[0.0, 0.0, 10.0, 20.0]]


@pytest.mark.parametrize("write, match", [
    (lambda p: write_results(p, [1], [1], [[np.nan, 0, 10, 10]]), "tlwh: expected finite numbers, row 0"),
    (lambda p: write_results(p, [1.7], [1], BOX), r"frame: expected whole numbers .* got 1\.7 at row 0"),
    (lambda p: write_results(p, [np.nan], [1], BOX), "frame: expected finite numbers, got nan"),
    (lambda p: write_results(p, [1, 2], [1, 2], [0, 0, 10, 10, 1, 1, 10, 10]),
     r"tlwh: expected shape \(2, 4\) .* got \(8,\)"),
    (lambda p: write_results(p, [1], [1], BOX, np.ones((1, 2))), r"score: expected shape \(1,\)"),
    (lambda p: write_results(p, [1], [2**60], BOX), "track_id: expected whole numbers"),
    (lambda p: write_gt(p, [1], [1], BOX, [np.nan]), "visibility: expected finite numbers"),
    (lambda p: write_detections(p, [1, 2], BOX, [0.5]), r"tlwh: expected shape \(2, 4\)"),
])
def test_writers_refuse_what_the_reader_would_refuse(tmp_path, write, match):
    path = tmp_path / "out.txt"
    with pytest.raises(ValueError, match=match) as info:
        write(path)
    assert str(path) in str(info.value) and not path.exists()


def test_a_seqinfo_value_is_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"name: expected one line of text, got 'a\\nframeRate=1'"):
        write_seqinfo(tmp_path, SeqInfo("a\nframeRate=1", 25.0, 10, 100, 100))
    assert not (tmp_path / "seqinfo.ini").exists()


@pytest.mark.parametrize("im_dir", ["/etc", "../other", ".."])
def test_a_seqinfo_image_folder_stays_inside_the_sequence(tmp_path, im_dir):
    (tmp_path / "seqinfo.ini").write_text(f"[Sequence]\nname=S\nimDir={im_dir}\nframeRate=25\nseqLength=3\n"
                                          "imWidth=64\nimHeight=48\n")
    with pytest.raises(ValueError, match=r"imDir= in .*seqinfo.ini .* is not one plain file or folder name"):
        read_seqinfo(tmp_path)


def test_an_overlong_line_is_refused_before_it_is_split(tmp_path):
    """A 4 MB line is refused from its first 4 kB: no list of two million fields is built."""
    import tracemalloc

    from mottrack_sdk.io.motchallenge import MAX_LINE_BYTES

    edge = tmp_path / "edge.txt"  # the longest line accepted (padding spaces are allowed), CRLF included
    edge.write_bytes(b"1,1,10,10,20,40" + b" " * (MAX_LINE_BYTES - 15) + b"\r\n2,1,10,10,20,40\r\n")
    assert read_mot_txt(edge).line.tolist() == [1, 2]
    path = tmp_path / "one_line.txt"
    path.write_text("1,1,10,10,20,40\n" + "1," * 2_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=rf"one_line.txt:2: line longer than {MAX_LINE_BYTES} bytes"):
            read_mot_txt(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"peak {peak / 2**20:.0f} MiB"
