"""The runtime CLI: track-dets -> eval on real detections, demo, and one-line errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mottrack_sdk.cli.main import main
from mottrack_sdk.io import read_mot_txt


def test_track_dets_then_eval_on_real_dpm_detections(mot17_root, tmp_path, capsys):
    seq = tmp_path / "det" / "MOT17-05"
    (seq / "det").mkdir(parents=True)
    shutil.copy(mot17_root / "MOT17-05" / "det" / "det.txt", seq / "det" / "det.txt")
    shutil.copy(mot17_root / "MOT17-05" / "seqinfo.ini", seq / "seqinfo.ini")
    assert main(["track-dets", "--det", str(tmp_path / "det"), "--out", str(tmp_path / "res"),
                 "--score-transform", "sigmoid", "--quiet"]) == 0
    rows = read_mot_txt(tmp_path / "res" / "MOT17-05.txt")
    assert len(rows) > 1000 and rows.frame.max() <= 837
    assert main(["eval", "--gt", str(mot17_root), "--results", str(tmp_path / "res"), "--sequences", "MOT17-05",
                 "--json", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())["COMBINED"]
    # well above the IoU-only linking reference on DPM (README of ../shared/data), far below perfect
    assert 20 < m["MOTA"] < 60 and 25 < m["IDF1"] < 70
    assert "MOT17-05" in capsys.readouterr().out


def test_demo_runs_and_scores_the_generated_scene(tmp_path, capsys):
    assert main(["demo", "--detection-level", "--out", str(tmp_path), "--objects", "8", "--frames", "60",
                 "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["embeddings"]["metrics"]["MOTA"] > 60
    assert "HOTA" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["track-dets", "--det", "/nonexistent", "--out", "x"], "--det /nonexistent: folder not found"),
    (["track-dets", "--det", ".", "--out", "x", "--set", "nonsense"], "--set: expected KEY=VALUE"),
    (["track-dets", "--det", ".", "--out", "x", "--set", "iou_thresh=3"], "iou_thresh: expected a value in"),
    (["eval", "--gt", "/nonexistent", "--results", "."], "--gt /nonexistent: folder not found"),
    (["track", ".", "--model", ".", "--out", "x"], "--model .: is a folder (expected a model file"),
    (["track-dets", "--det", ".", "--out", "x", "--tracker-config", "."], "--tracker-config .: is a folder"),
    # a negative size reaches the size check (argparse alone said only "expected one argument")
    (["synth", "--size", "-32x64", "--out", "x"], "--size must look like WIDTHxHEIGHT (e.g. 1920x1080), got '-32x64'"),
])
def test_errors_are_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("kind, said", [("file", "is a file"), ("fifo", "is a named pipe (FIFO)"),
                                        ("/dev/zero", "is a device")])
@pytest.mark.parametrize("argv", [["track-dets", "--det", "{p}", "--out", "{tmp}/o"],
                                  ["eval", "--gt", "{p}", "--results", "{tmp}"],
                                  ["eval", "--gt", "{tmp}", "--results", "{p}"]])
def test_a_folder_flag_given_something_else_says_what_it_is(argv, kind, said, tmp_path, capsys):
    """Not "folder not found" for a path that exists (and a FIFO is never opened, so nothing blocks)."""
    path = tmp_path / kind if kind in ("file", "fifo") else kind
    if kind == "file":
        path.write_text("x")
    elif kind == "fifo":
        os.mkfifo(path)
    argv = [a.format(p=path, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    flag = argv[argv.index(str(path)) - 1]
    assert f"{flag} {path}: {said}, expected a folder" in err and "Traceback" not in err


def test_only_size_shaped_values_are_attached_to_their_flag():
    from mottrack_sdk.cli.main import _attach_negative_sizes

    assert _attach_negative_sizes(["export", "--size", "-32x64", "-v"]) == ["export", "--size=-32x64", "-v"]
    assert _attach_negative_sizes(["x", "--a=1", "-2x3"]) == ["x", "--a=1", "-2x3"]  # the flag has its value
    assert _attach_negative_sizes(["x", "--a", "-5", "-h"]) == ["x", "--a", "-5", "-h"]  # not a size


def test_warnings_are_one_line_without_the_library_source(tmp_path):
    """A RuntimeWarning from the library (e.g. a frame cut to max_detections) used to print the SDK's file,
    line number and source line."""
    from mottrack_sdk.io import write_results

    det = tmp_path / "S" / "det"
    det.mkdir(parents=True)
    (tmp_path / "S" / "seqinfo.ini").write_text("[Sequence]\nname=S\nimDir=img1\nframeRate=30\nseqLength=1\n"
                                                "imWidth=4000\nimHeight=4000\nimExt=.jpg\n")
    xy = np.random.default_rng(0).uniform(0, 3000, (1500, 2))
    write_results(det / "det.txt", np.ones(1500, int), np.full(1500, -1), np.concatenate([xy, np.full((1500, 2), 40.0)], 1),
                  np.full(1500, 0.9))
    run = subprocess.run([sys.executable, "-m", "mottrack_sdk.cli.main", "track-dets", "--det", str(tmp_path),
                          "--out", str(tmp_path / "out"), "--quiet"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "warning: a frame brought 1500 detections" in run.stderr and ".py:" not in run.stderr


def test_bad_numbers_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--objects", "0"])
    err = capsys.readouterr().err
    assert "argument --objects: expected a number >= 1" in err and "--objects: --objects" not in err


def test_commands_without_a_model_take_set_as_tracker_keywords(tmp_path):
    """--set det_thresh / crowd_drop without det_quantile means fixed thresholds, as Tracker(**changes)
    does (track-dets and the detection-level demo used to keep the quantile and ignore det_thresh)."""
    import argparse

    from mottrack_sdk.cli.common import tracker_options_from_args

    def options(*items, config=None):
        return tracker_options_from_args(argparse.Namespace(tracker_set=list(items), tracker_config=config))

    assert options().det_quantile == 0.15
    assert options("det_thresh=0.6").det_quantile is None and options("det_thresh=0.6").det_thresh == 0.6
    assert options("det_thresh=0.6", "det_quantile=0.3").det_quantile == 0.3
    crowd = options("crowd_drop=0.1")
    assert crowd.det_quantile is None and crowd.crowd_drop == 0.1
    (tmp_path / "t.yaml").write_text("det_thresh: 0.45\ncrowd_drop: 0.05\n")
    from_file = options(config=tmp_path / "t.yaml")
    assert (from_file.det_quantile, from_file.det_thresh, from_file.crowd_drop) == (None, 0.45, 0.05)


def test_tracker_changes_are_parsed_as_yaml_and_checked_by_name_and_value():
    from mottrack_sdk.cli.common import tracker_changes

    assert tracker_changes(["det_thresh=0.6", "low_score_thresh=null", "gating=false"], "--x") == {
        "det_thresh": 0.6, "low_score_thresh": None, "gating": False}
    assert tracker_changes([], "--x") == {}
    for bad, message in ((["det_thresh"], "--x: expected KEY=VALUE"), (["det_tresh=0.6"], "unknown tracker option"),
                         (["iou_thresh=7"], "iou_thresh")):
        with pytest.raises(ValueError, match=message):
            tracker_changes(bad, "--x")
