"""``mottrack pseudo-label`` on hostile input: everything is checked before the teachers load (the
output folder, every source, finished sequences with other settings), a source is given once and a
rerun never adds copies, teacher input sizes are bounded, and Ctrl-C is one line with exit code 130."""
from __future__ import annotations

import os
import re
import signal

import pytest

from forged_images import forged_png
from mottrack_training.distill import PseudoLabelOptions, parse_teacher_specs, pseudo_label
from pseudo_label_fakes import BlockTeacher, make_frames, run


class CountingTeacher(BlockTeacher):
    """A BlockTeacher that counts its loads and frames (class-wide, reset per test)."""

    loads = 0
    frames = 0

    def _load(self) -> None:
        type(self).loads += 1

    def _detect(self, frame_bgr):
        type(self).frames += 1
        return super()._detect(frame_bgr)


@pytest.fixture()
def counting(teacher_file):
    CountingTeacher.loads = CountingTeacher.frames = 0

    def label(sources, out, **options):
        return pseudo_label([str(s) for s in sources], out, PseudoLabelOptions(**options), progress=False,
                            log=lambda _: None, teachers=[CountingTeacher(teacher_file, (128, 96), name="blocks")])

    return label


def _main(argv, capsys) -> tuple[int, str]:
    from mottrack_sdk.cli.main import main

    code = main(argv)
    return code, capsys.readouterr().err.strip()


# ---------------------------------------------------------------- F7: --out below a file

def test_an_out_below_a_file_is_refused_before_the_teachers_load(tmp_path, teacher_file, counting, capsys):
    src = make_frames(tmp_path / "good", n=2)
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub"
    with pytest.raises(ValueError, match=r"^--out .*sub: .*afile is a file, so no folder can be created below it$"):
        counting([src], out)
    assert CountingTeacher.loads == 0
    code, err = _main(["pseudo-label", str(src), "--out", str(out), "--teachers", f"{teacher_file}@128x96",
                       "--no-progress"], capsys)
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith(f"mottrack pseudo-label: error: --out {out}: ") and "is a file, so no folder" in err


# ---------------------------------------------------------------- F9: one source, one sequence

def test_the_same_source_given_twice_is_refused_naming_both_arguments(tmp_path, teacher_file, monkeypatch):
    src = make_frames(tmp_path / "good", n=2)
    (tmp_path / "link").symlink_to(src)
    monkeypatch.chdir(tmp_path)
    for first, second in (("good", "good"), ("good", "./good/"), ("good", str(src)), (str(src), "link")):
        with pytest.raises(ValueError, match=f"^SOURCE {second}: names the same folder as SOURCE {first}"):
            run([first, second], tmp_path / "ds", teacher_file)
    video = tmp_path / "clip.avi"
    video.write_bytes(b"x")
    with pytest.raises(ValueError, match="SOURCE ./clip.avi: names the same file as SOURCE clip.avi"):
        run([src, "clip.avi", "./clip.avi"], tmp_path / "ds", teacher_file)
    assert not (tmp_path / "ds").exists()


def test_a_rerun_resumes_and_sources_with_one_base_name_keep_their_names(tmp_path, counting):
    a = make_frames(tmp_path / "a" / "cam", n=2)
    b = make_frames(tmp_path / "b" / "cam", n=3)
    out = tmp_path / "ds"
    first = counting([a, b], out)
    assert [(r.sequence.name, r.counts["frames"]) for r in first] == [("cam", 2), ("cam-2", 3)]
    for order in ([a, b], [b, a]):  # the same command again, or the sources in another order
        again = counting(order, out)
        assert all(r.skipped for r in again)
        assert {r.source: r.sequence.name for r in again} == {str(a): "cam", str(b): "cam-2"}
    assert sorted(p.name for p in out.iterdir()) == ["cam", "cam-2"]


def test_a_dataset_with_copies_of_one_source_gets_no_more_copies(tmp_path, counting):
    """Earlier versions labelled ``good good`` twice (good, good-2): a rerun resumes on the source's own name."""
    import shutil

    src = make_frames(tmp_path / "good", n=2)
    out = tmp_path / "ds"
    counting([src], out)
    for copy in ("good-2", "good-3"):
        shutil.copytree(out / "good", out / copy)
    (report,) = counting([src], out)
    assert report.skipped and report.sequence == out / "good"
    assert sorted(p.name for p in out.iterdir()) == ["good", "good-2", "good-3"]


# ---------------------------------------------------------------- F10: every source checked first

@pytest.mark.parametrize("kind", ["fifo", "not a video", "no image decodes", "an image of another size"])
def test_a_bad_later_source_fails_before_any_labelling(tmp_path, counting, kind):
    good = make_frames(tmp_path / "good", n=2)
    if kind == "fifo":
        bad, message = tmp_path / "pipe.mp4", r"is a named pipe \(FIFO\)"
        os.mkfifo(bad)
    elif kind == "not a video":
        bad, message = tmp_path / "broken.mp4", "cannot open video"
        bad.write_bytes(b"\x00" * 1000)
    elif kind == "no image decodes":
        bad, message = tmp_path / "broken", r"not a single frame can be read \(.*0001.png: cannot read"
        bad.mkdir()
        for name in ("0001.png", "0002.png"):
            (bad / name).write_bytes(b"not a png")
    else:  # used to fail at its 5th frame, after the first 4 were labelled (and with --stride 2 too)
        bad = make_frames(tmp_path / "cam", n=6)
        make_frames(tmp_path / "other", n=1, size=(96, 128))  # the same sides turned: OpenCV's EXIF turn
        (tmp_path / "other" / "0001.png").rename(bad / "0003.png")
        make_frames(tmp_path / "big", n=1, size=(160, 96))
        (tmp_path / "big" / "0001.png").rename(bad / "0005.png")
        (bad / "0006.png").write_bytes(b"not a png: left to the reader, which skips it")
        forged_png(bad / "0002.png", 9000, 9000)  # over the frame cap: the reader skips it too
        message = r"image 0005.png is 160x96 but the first frame is 128x96; a sequence has one image size"
    with pytest.raises(ValueError, match=f"^SOURCE {bad}: .*{message}"):
        counting([good, bad], tmp_path / "ds")
    assert CountingTeacher.loads == 0 and CountingTeacher.frames == 0 and not (tmp_path / "ds").exists()


def test_a_finished_sequence_with_other_settings_fails_before_any_labelling(tmp_path, counting):
    old, new = make_frames(tmp_path / "old", n=2), make_frames(tmp_path / "new", n=2)
    out = tmp_path / "ds"
    counting([old], out, stride=1)
    CountingTeacher.loads = CountingTeacher.frames = 0
    with pytest.raises(ValueError, match="--out: .*old was labelled with other settings"):
        counting([new, old], out, stride=2)
    assert CountingTeacher.loads == 0 and CountingTeacher.frames == 0 and not (out / "new").exists()
    (tmp_path / "old" / "0001.png").write_bytes(b"gone bad")  # a finished source is not read again
    assert [r.skipped for r in counting([old, new], out, stride=1)] == [True, False]


# ---------------------------------------------------------------- F12: teacher sizes, Ctrl-C

def test_teacher_input_sizes_are_bounded_before_anything_loads(tmp_path, teacher_file, capsys):
    for spec in ("yolox@8192x8192", "pd0200@8192x8192", "pd0201@640x352+4128x2304"):
        with pytest.raises(ValueError, match=f"^--teachers: '{re.escape(spec)}': the size .* must be at most 4096$"):
            parse_teacher_specs(spec)
    assert parse_teacher_specs("yolox@4096x4096")[0].input_sizes == ((4096, 4096),)
    with pytest.raises(ValueError, match=r"input width and height must be in \[1, 4096\]"):
        BlockTeacher(teacher_file, (8192, 96))
    src = make_frames(tmp_path / "good", n=1)
    code, err = _main(["pseudo-label", str(src), "--out", str(tmp_path / "ds"), "--teachers", "pd0200@8192x8192",
                       "--max-frames", "1"], capsys)
    assert code == 2 and err.startswith("mottrack pseudo-label: error: --teachers: 'pd0200@8192x8192'")
    assert "openvino" not in err and not (tmp_path / "ds").exists()


def test_ctrl_c_stops_between_frames_with_one_line_and_exit_code_130(tmp_path, teacher_file, monkeypatch, capsys):
    """SIGINT on the 5th frame (the 2nd of the second source): the first sequence stays, the second is
    removed, and a rerun resumes."""
    from mottrack_training.distill import pipeline

    class Interrupting(BlockTeacher):
        frames = 0

        def _detect(self, frame_bgr):
            type(self).frames += 1
            if type(self).frames == 5:
                os.kill(os.getpid(), signal.SIGINT)
            return super()._detect(frame_bgr)

    monkeypatch.setattr(pipeline, "build_teachers",
                        lambda *args, **kwargs: [Interrupting(teacher_file, (128, 96), name="blocks")])
    one, two = make_frames(tmp_path / "one", n=3), make_frames(tmp_path / "two", n=3)
    out = tmp_path / "ds"
    argv = ["pseudo-label", str(one), str(two), "--out", str(out), "--teachers", "yolox@128x96", "--no-progress"]
    # a test run started in the background of a non-interactive shell inherits SIGINT ignored, which
    # StopSignals rightly leaves ignored: give this process Python's own handler for the test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, err = _main(argv, capsys)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped mottrack pseudo-label")
    finally:
        handler_after = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)
    assert code == 130 and "Traceback" not in err and len(err.splitlines()) == 1
    assert err.startswith("stopped (SIGINT): the finished sequences in") and "resume" in err
    assert sorted(p.name for p in out.iterdir()) == ["one"]  # no two, no .two.partial
    assert handler_after is signal.default_int_handler  # the handler was given back
    code, _ = _main(argv, capsys)
    assert code == 0 and sorted(p.name for p in out.iterdir()) == ["one", "two"]
