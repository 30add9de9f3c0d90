"""Names from input data never write outside the output folder: one helper refuses (or, asked to,
replaces) anything but a plain file / folder name; `mottrack calibrate` and `track-dets` use it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mottrack_sdk.cli.main import main
from mottrack_sdk.io import UnsafePathComponentError, safe_path_component

BAD = [
    ("..", "its parent"), (".", "a folder itself"), ("", "empty"), ("../../x", "path separator"),
    ("/abs/path", "an absolute path"), ("a\\b", "path separator"), ("C:\\x", "path separator"),
    ("a\x00b", "control character"), ("tab\there", "control character"), ("new\nline", "control character"),
    ("x" * 300, "longer than 255 bytes"), ("é" * 130, "longer than 255 bytes"),
]


@pytest.mark.parametrize("name, why", BAD, ids=repr)
def test_unsafe_names_are_refused_naming_where_they_came_from(name, why):
    with pytest.raises(UnsafePathComponentError, match=rf"name= in S/seqinfo\.ini: .*\(.*{why}") as info:
        safe_path_component(name, "name= in S/seqinfo.ini")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name, why", BAD, ids=repr)
def test_unsafe_names_can_be_replaced_instead(name, why):
    fixed = safe_path_component(name, "stream name", replace="_")
    assert safe_path_component(fixed, "fixed") == fixed  # a plain name now
    assert Path("/out", fixed).parent == Path("/out")


@pytest.mark.parametrize("name", ["MOT17-02-FRCNN", "TUD-Campus", "seq 1", "...", ".hidden", "名前", "a" * 255])
def test_plain_names_pass_unchanged(name):
    assert safe_path_component(name, "x") == name == safe_path_component(name, "x", replace="_")


def test_non_text_and_bad_replacements_are_refused():
    with pytest.raises(UnsafePathComponentError, match="expected a name"):
        safe_path_component(None, "x")
    with pytest.raises(UnsafePathComponentError, match="not a safe replacement"):
        safe_path_component("a/b", "x", replace="/")


def _sequence(root: Path, name: str) -> Path:
    seq = root / "S"
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "img1" / "000001.jpg").write_bytes(b"")  # only listed here, never decoded
    (seq / "gt" / "gt.txt").write_text("1,1,10,10,20,40,1,1,1\n")
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nimDir=img1\nframeRate=25\nseqLength=1\n"
                                     "imWidth=64\nimHeight=64\nimExt=.jpg\n")
    return seq


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/escaped-abs", ".."])
def test_calibrate_evaluation_folders_stay_inside_the_report(tmp_path, name):
    pytest.importorskip("onnxruntime")
    from mottrack_calibration.report import load_eval_sequences

    root = tmp_path / "data"
    _sequence(root, name)
    out = tmp_path / "report" / "eval" / "gt"
    with pytest.raises(UnsafePathComponentError, match=r"name= in .*seqinfo\.ini"):
        load_eval_sequences(root, out, None)
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - {p for p in root.rglob("*") if p.is_file()}
    assert written == set() and not Path("/tmp/escaped-abs").exists()


def test_calibrate_evaluation_folders_use_plain_names(tmp_path):
    pytest.importorskip("onnxruntime")
    from mottrack_calibration.report import load_eval_sequences

    root = tmp_path / "data"
    _sequence(root, "TUD-Campus")
    [seq] = load_eval_sequences(root, tmp_path / "gt", None)
    assert seq.name == "TUD-Campus" and (tmp_path / "gt" / "TUD-Campus" / "gt" / "gt.txt").is_file()


def test_track_dets_names_results_after_the_sequence_folder_even_for_dot(tmp_path, monkeypatch, capsys):
    seq = tmp_path / "MySeq"
    (seq / "det").mkdir(parents=True)
    (seq / "det" / "det.txt").write_text("1,-1,10,10,20,40,0.9,-1,-1,-1\n")
    monkeypatch.chdir(seq)
    assert main(["track-dets", "--det", ".", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["MySeq.txt"]
    assert np.loadtxt(tmp_path / "out" / "MySeq.txt", delimiter=",", ndmin=2).shape[1] == 10
