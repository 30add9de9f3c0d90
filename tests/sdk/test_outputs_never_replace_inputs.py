"""No command writes over what it reads, and an unusable output path is one clear error before any work:
``check_not_input``, and its use by ``track`` (results, summary, ``--save-video``), ``track-dets``
and ``synth`` (which also writes each sequence whole or not at all)."""
from __future__ import annotations

import collections
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from mottrack_sdk.cli.main import main
from mottrack_sdk.io.output_paths import InputPaths, check_not_input


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("given", [list, InputPaths])  # paths, or resolved once for many checks: the same answers
def test_check_not_input(tmp_path, given):
    video, folder = tmp_path / "clip.mp4", tmp_path / "seq"
    video.write_bytes(b"v")
    (folder / "gt").mkdir(parents=True)
    (folder / "gt" / "gt.txt").write_text("1,1,1,1,1,1,1,1,1\n")
    with pytest.raises(ValueError, match=r"^--out .*clip.mp4: is the input .*clip.mp4, which would be overwritten"):
        check_not_input(tmp_path / "x" / ".." / "clip.mp4", "--out", given([video]))  # ".." resolved
    (tmp_path / "link.mp4").symlink_to(video)
    with pytest.raises(ValueError, match="is the input"):
        check_not_input(tmp_path / "link.mp4", "--out", given([video]))  # a link to the input
    with pytest.raises(ValueError, match=r"gt.txt: would overwrite a file inside the input .*seq"):
        check_not_input(folder / "gt" / "gt.txt", "--out", given([folder]))
    with pytest.raises(ValueError, match=r"gt.txt: would overwrite a file inside the input [^;]*seq; write"):
        check_not_input(folder / "gt" / "gt.txt", "--out", given([folder, folder / "gt" / "gt.txt"]))  # the first named
    with pytest.raises(ValueError, match=r"gt.txt: is the input .*gt.txt, which"):
        check_not_input(folder / "gt" / "gt.txt", "--out", given([folder / "gt" / "gt.txt", folder]))
    new = check_not_input(folder / "gt" / "new.txt", "--out", given([folder]))
    assert new == folder / "gt" / "new.txt"  # a new file inside an input folder
    cameras = ["0", "rtsp://cam/1"]  # inputs that are no paths: passed over
    assert check_not_input(tmp_path / "out.txt", "--out", given([video, folder, *cameras]))


def test_track_dets_resolves_each_path_once(tmp_path, monkeypatch, capsys):
    """Checking n outputs against n sequences resolves every path once (it resolved every input again for
    every output: n² calls, minutes for a few thousand sequences)."""
    root = tmp_path / "R"
    for i in range(12):
        (root / f"S{i:02d}" / "det").mkdir(parents=True)
        (root / f"S{i:02d}" / "det" / "det.txt").write_text("1,-1,10,10,20,40,0.9\n")
    calls, resolve = collections.Counter(), Path.resolve
    monkeypatch.setattr(Path, "resolve", lambda self, *a, **k: calls.update([str(self)]) or resolve(self, *a, **k))
    assert main(["track-dets", "--det", str(root), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert calls[str(root / "S00")] == 1 and max(calls.values()) == 1 and sum(calls.values()) == 24
    assert len(list((tmp_path / "out").iterdir())) == 12


def test_track_refuses_to_overwrite_its_source(capsys, tiny_models, sequence, tmp_path):
    seq = shutil.copytree(sequence, tmp_path / "SEQ-1")
    gt_before = _digest(seq / "gt" / "gt.txt")
    code = main(["track", str(seq), "--model", str(tiny_models.nms), "--out", str(seq / "gt"), "--name", "gt",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "would overwrite a file inside the input" in err and "Traceback" not in err
    assert _digest(seq / "gt" / "gt.txt") == gt_before and not (seq / "gt" / "gt.summary.json").exists()

    from mottrack_sdk.io.frame_sources import open_frame_source
    from mottrack_sdk.io.video import VideoWriter

    video = tmp_path / "vid.mp4"  # what --save-video --name vid writes into --out
    with VideoWriter(video, fps=20) as writer:
        for _, image in open_frame_source(seq, max_frames=3):
            writer.write(image)
    before = _digest(video)
    code = main(["track", str(video), "--model", str(tiny_models.nms), "--out", str(tmp_path), "--name", "vid",
                 "--save-video", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--save-video / --name" in err and "is the input" in err
    assert _digest(video) == before and not (tmp_path / "vid.txt").exists()


def test_track_fails_when_no_frame_could_be_read(capsys, tiny_models, tmp_path):
    """A source whose every frame is unreadable is an error (exit 2) naming it, not an empty success;
    no empty results file is left."""
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "000001.png").write_bytes(b"")
    (folder / "000002.jpg").write_text("not an image")
    code = main(["track", str(folder), "--model", str(tiny_models.nms), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "no frame could be read (2 unreadable; " in err and "000001.png" in err
    assert not (tmp_path / "o").exists()  # the --out this run would have made is not left behind empty


def test_track_dets_checks_every_output_before_tracking(capsys, tmp_path):
    root = tmp_path / "R"
    for name in ("A", "det"):  # a sequence named "det": its results would land on its own det/det.txt
        (root / name / "det").mkdir(parents=True)
        np.savetxt(root / name / "det" / "det.txt", [[1, -1, 10, 10, 20, 40, 0.9], [2, -1, 12, 10, 20, 40, 0.9]],
                   delimiter=",", fmt="%g")
        (root / name / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nframeRate=25\nseqLength=2\n"
                                                 "imWidth=100\nimHeight=100\n")
    before = _digest(root / "det" / "det" / "det.txt")
    assert main(["track-dets", "--det", str(root), "--out", str(root / "det" / "det"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "would overwrite a file inside the input" in err and _digest(root / "det" / "det" / "det.txt") == before
    assert not (root / "det" / "det" / "A.txt").exists()  # nothing written before the refusal

    out = tmp_path / "out"
    (out / "det.txt").mkdir(parents=True)  # one result path is a folder: refused before A.txt is written
    assert main(["track-dets", "--det", str(root), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "det.txt: is a folder" in err and "Traceback" not in err
    assert not (out / "A.txt").exists()


@pytest.mark.parametrize("out, message", [
    ("{tmp}/afile", "--out {tmp}/afile: exists and is not a folder"),
    ("{tmp}/afile/x", "{tmp}/afile is a file, so no folder can be created below it"),
    ("{tmp}/o", "--out (its sequence folder) {tmp}/o/SYNTH-0-000: exists and is not a folder"),
])
def test_synth_checks_its_folders_first(capsys, tmp_path, out, message):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "SYNTH-0-000").write_text("not a folder")
    code = main(["synth", "--out", out.format(tmp=tmp_path), "--frames", "2", "--size", "64x64", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and message.format(tmp=tmp_path) in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["SYNTH-0-000"]


def test_a_sequence_is_written_whole_or_not_at_all(tmp_path):
    from mottrack_sdk.scenes import SceneOptions, write_sequence

    options = SceneOptions(width=64, height=64, num_frames=4, seed=1, density=2)
    first = write_sequence(tmp_path, options, "S")
    frames = sorted(p.name for p in (first / "img1").iterdir())

    def stop(frame_id: int) -> None:
        if frame_id == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_sequence(tmp_path, options.with_changes(num_frames=9), "S", on_frame=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["S"]  # no partial folder left
    assert sorted(p.name for p in (first / "img1").iterdir()) == frames  # the earlier sequence intact
    with pytest.raises(KeyboardInterrupt):
        write_sequence(tmp_path, options, "T", on_frame=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["S"]
    again = write_sequence(tmp_path, options.with_changes(num_frames=3), "S")  # a finished one is replaced
    assert len(list((again / "img1").iterdir())) == 3 and sorted(p.name for p in tmp_path.iterdir()) == ["S"]
