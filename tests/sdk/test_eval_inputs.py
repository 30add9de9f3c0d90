"""`mottrack eval` / `track-dets` on hostile or unusual input: memory never sized by an id or a frame
number found in a file, clear errors naming file:line, and MOT15 files (no class column) evaluated
with their class -1 rows as pedestrians."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mottrack_sdk.cli.main import main
from mottrack_sdk.eval import evaluate_mot
from mottrack_sdk.io import SeqInfo, read_mot_txt, write_gt, write_results, write_seqinfo
from mottrack_sdk.io.motchallenge import MAX_SEQUENCE_FRAMES

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytest.importorskip("trackeval", reason="evaluation needs TrackEval")


@pytest.fixture()
def gt_root(tmp_path) -> Path:
    """One 20-frame sequence of 3 pedestrians (class 1)."""
    frames, ids, tlwh = [], [], []
    for f in range(1, 21):
        for i in range(1, 4):
            frames.append(f)
            ids.append(i)
            tlwh.append([120.0 * i + 3 * f, 60.0, 40.0, 100.0])
    root = tmp_path / "gt"
    write_gt(root / "S" / "gt" / "gt.txt", np.array(frames), np.array(ids), np.array(tlwh), np.ones(len(ids)))
    write_seqinfo(root / "S", SeqInfo("S", 25.0, 20, 1280, 720))
    return root


def _results_from_gt(gt_root: Path, out: Path, id_offset: int = 0) -> Path:
    gt = read_mot_txt(gt_root / "S" / "gt" / "gt.txt")
    write_results(out / "S.txt", gt.frame, gt.track_id + id_offset, gt.tlwh)
    return out / "S.txt"


_HUGE_IDS = textwrap.dedent("""
    import resource, sys
    limit = 3 * 2**30  # a 2e9 id used to ask TrackEval for a 15 GB array
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from mottrack_sdk.eval import evaluate_mot
    combined = evaluate_mot(sys.argv[1], sys.argv[2]).combined
    print(round(combined["HOTA"], 3), round(combined["MOTA"], 3), round(combined["IDF1"], 3))
""")


def test_huge_ids_are_renumbered_and_score_as_usual(gt_root, tmp_path):
    _results_from_gt(gt_root, tmp_path / "res", id_offset=2_000_000_000)
    run = subprocess.run([sys.executable, "-c", _HUGE_IDS, str(gt_root), str(tmp_path / "res")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["100.0", "100.0", "100.0"]


def test_a_result_frame_beyond_the_sequence_is_named(gt_root, tmp_path):
    path = _results_from_gt(gt_root, tmp_path / "res")
    path.write_text(path.read_text() + "2000000000,1,10,10,20,40,1,-1,-1,-1\n")
    with pytest.raises(ValueError, match=r"S\.txt:61: frame 2000000000 is outside the sequence's frames 1\.\.20"):
        evaluate_mot(gt_root, tmp_path / "res")


def test_ground_truth_without_boxes_is_refused_not_scored(gt_root, tmp_path):
    _results_from_gt(gt_root, tmp_path / "res")
    (gt_root / "S" / "gt" / "gt.txt").write_text("")  # MOTA would come out as -100 x the result rows
    with pytest.raises(ValueError, match="the ground truth of S holds no boxes, so there is nothing to score"):
        evaluate_mot(gt_root, tmp_path / "res")


def test_files_with_a_utf8_byte_order_mark_score_like_their_plain_copies(gt_root, tmp_path):
    """Windows editors start text files with a BOM; TrackEval's reader would take it for part of frame 1."""
    path = _results_from_gt(gt_root, tmp_path / "res")
    rows = path.read_text().splitlines()
    path.write_text("\n".join(rows[: len(rows) // 2]) + "\n")  # half the boxes: a score below 100
    plain = evaluate_mot(gt_root, tmp_path / "res").combined
    assert 40 < plain["MOTA"] < 60
    for bommed in (path, gt_root / "S" / "gt" / "gt.txt", gt_root / "S" / "seqinfo.ini"):
        bommed.write_bytes(b"\xef\xbb\xbf" + bommed.read_bytes())
    assert read_mot_txt(path).frame[0] == 1
    assert evaluate_mot(gt_root, tmp_path / "res").combined == plain
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # the user's files are left as they are


def test_every_form_the_reader_accepts_scores_like_the_plain_file(gt_root, tmp_path):
    """TrackEval reads the rows as checked: 6 columns, blank lines and spaces used to break its reader."""
    path = _results_from_gt(gt_root, tmp_path / "res")
    rows = path.read_text().splitlines()[::2]  # every other box: a score below 100
    path.write_text("\n".join(rows) + "\n")
    plain = evaluate_mot(gt_root, tmp_path / "res").per_sequence
    six = [", ".join(r.split(",")[:6]) for r in rows]
    path.write_text("\n\n".join(six) + "\n\n")
    assert evaluate_mot(gt_root, tmp_path / "res").per_sequence == plain
    with pytest.raises(ValueError, match="sequences: expected a list of sequence names, got the string 'S'"):
        evaluate_mot(gt_root, tmp_path / "res", sequences="S")
    with pytest.raises(FileNotFoundError, match="results_dir .*nowhere: folder not found"):
        evaluate_mot(gt_root, tmp_path / "nowhere")  # the API names its own arguments, the CLI its flags


def test_negative_ids_are_refused_with_a_clear_message(gt_root, tmp_path):
    path = _results_from_gt(gt_root, tmp_path / "res")
    path.write_text(path.read_text() + "1,-5,10,10,20,40,1,-1,-1,-1\n")
    with pytest.raises(ValueError, match=r"S\.txt:61: track id -5 is negative"):
        evaluate_mot(gt_root, tmp_path / "res")


@pytest.mark.parametrize("row, message", [
    ("3,1,10,nan,20,40,1,1,1", r"gt\.txt:61: expected finite numbers"),
    ("3,9,10,10,-20,40,1,1,1", r"gt\.txt:61: expected a positive width and height, got -20 x 40"),
    ("3,one,10,10,20,40,1,1,1", r"gt\.txt:61: expected comma-separated numbers"),
    ("21,9,10,10,20,40,1,1,1", r"gt\.txt:61: frame 21 is outside the sequence's frames 1\.\.20"),
    ("3,1,10,10,20,40,1,1,1", r"gt\.txt:61: track id 1 appears twice in frame 3"),
    ("3,-2,10,10,20,40,1,1,1", r"gt\.txt:61: track id -2 is negative"),
    ("3,9,1e300,10,20,40,1,1,1", r"gt\.txt:61: box coordinates beyond the float32 range"),
    ("3,9,10,10,20,3.5e38,1,1,1", r"gt\.txt:61: box coordinates beyond the float32 range"),  # top + height
])
def test_malformed_ground_truth_is_named_with_its_line(gt_root, tmp_path, row, message):
    gt_file = gt_root / "S" / "gt" / "gt.txt"
    _results_from_gt(gt_root, tmp_path / "res")
    gt_file.write_text(gt_file.read_text() + row + "\n")
    with pytest.raises(ValueError, match=message):
        evaluate_mot(gt_root, tmp_path / "res")


def test_a_json_path_that_is_a_folder_is_refused_before_evaluating(gt_root, tmp_path, capsys):
    _results_from_gt(gt_root, tmp_path / "res")
    (tmp_path / "out.json").mkdir()
    code = main(["eval", "--gt", str(gt_root), "--results", str(tmp_path / "res"), "--json", str(tmp_path / "out.json")])
    err = capsys.readouterr()
    assert code == 2 and "--json" in err.err and "is a folder" in err.err and "Traceback" not in err.err
    assert "HOTA" not in err.out  # nothing evaluated


def test_track_dets_refuses_a_detection_frame_beyond_the_sequence(tmp_path, capsys):
    seq = tmp_path / "dets" / "S"
    (seq / "det").mkdir(parents=True)
    (seq / "det" / "det.txt").write_text("1,-1,10,10,20,40,0.9,-1,-1,-1\n2000000000,-1,10,10,20,40,0.9,-1,-1,-1\n")
    code = main(["track-dets", "--det", str(tmp_path / "dets"), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "det.txt:2: frame 2000000000 is beyond" in err and f"{MAX_SEQUENCE_FRAMES:,}" in err
    write_seqinfo(seq, SeqInfo("S", 25.0, 50, 640, 480))
    code = main(["track-dets", "--det", str(tmp_path / "dets"), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "det.txt:2: frame 2000000000 is outside the sequence's frames 1..50" in err
    assert not (tmp_path / "out" / "S.txt").exists()


def test_a_seqinfo_that_is_a_folder_is_refused_not_ignored(gt_root, tmp_path):
    _results_from_gt(gt_root, tmp_path / "res")
    (gt_root / "S" / "seqinfo.ini").unlink()
    (gt_root / "S" / "seqinfo.ini").mkdir()
    with pytest.raises(ValueError, match=r"seqinfo\.ini: is not a file"):
        evaluate_mot(gt_root, tmp_path / "res")


def test_a_hostile_seqinfo_length_is_refused(gt_root, tmp_path):
    _results_from_gt(gt_root, tmp_path / "res")
    (gt_root / "S" / "seqinfo.ini").write_text("[Sequence]\nname=S\nframeRate=25\nseqLength=2000000000\n"
                                               "imWidth=640\nimHeight=480\n")
    with pytest.raises(ValueError, match=r"seqinfo\.ini: seqLength: expected 1 to 1,000,000 frames"):
        evaluate_mot(gt_root, tmp_path / "res")


# -- MOT15 (no class column) ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tud_campus() -> Path:
    root = SHARED / "MOT15" / "train"
    if not (root / "TUD-Campus" / "gt" / "gt.txt").is_file():
        pytest.skip(f"MOT15 TUD-Campus not found at {root} (it lives in ../shared/data beside the repo)")
    return root


def test_mot15_rows_read_as_pedestrians(tud_campus):
    gt = read_mot_txt(tud_campus / "TUD-Campus" / "gt" / "gt.txt")
    assert len(gt) == 359 and (gt.class_id == -1).all() and gt.is_pedestrian().all()


@pytest.mark.parametrize("rules", ["auto", "MOT15"])
def test_mot15_ground_truth_against_itself_scores_100(tud_campus, tmp_path, rules):
    gt = read_mot_txt(tud_campus / "TUD-Campus" / "gt" / "gt.txt")
    write_results(tmp_path / "res" / "TUD-Campus.txt", gt.frame, gt.track_id, gt.tlwh)
    combined = evaluate_mot(tud_campus, tmp_path / "res", benchmark=rules).combined
    assert (combined["HOTA"], combined["MOTA"], combined["IDF1"]) == pytest.approx((100, 100, 100))
    assert combined["TP"] == 359
    with pytest.raises(ValueError, match=r"gt\.txt:1: class -1 is not a MOT17 class .*use --benchmark MOT15"):
        evaluate_mot(tud_campus, tmp_path / "res", benchmark="MOT17")


def test_mot15_detections_tracked_and_evaluated_from_the_command_line(tud_campus, tmp_path, capsys):
    assert main(["track-dets", "--det", str(tud_campus), "--out", str(tmp_path / "res"), "--quiet"]) == 0
    assert main(["eval", "--gt", str(tud_campus), "--results", str(tmp_path / "res"), "--benchmark", "MOT15",
                 "--json", str(tmp_path / "m.json")]) == 0
    import json

    combined = json.loads((tmp_path / "m.json").read_text())["COMBINED"]
    # ACF detections, motion + IoU only (measured: HOTA 31.9, MOTA 37.6, IDF1 46.6)
    assert 25 < combined["HOTA"] < 60 and 25 < combined["MOTA"] < 80 and 35 < combined["IDF1"] < 80
    assert combined["TP"] > 180 and combined["FP"] < 120


# -- seqLength far beyond the rows ---------------------------------------------------------------
def test_a_long_seqinfo_with_few_rows_costs_what_the_rows_cost(gt_root, tmp_path):
    """TrackEval used to keep state for every frame up to seqLength: 10**5 cost 14 s and 376 MB for
    20 frames of rows (10**6: minutes and 3 GB)."""
    import tracemalloc

    _results_from_gt(gt_root, tmp_path / "res")
    write_seqinfo(gt_root / "S", SeqInfo("S", 25.0, 100_000, 1280, 720))
    tracemalloc.start()
    try:
        combined = evaluate_mot(gt_root, tmp_path / "res").combined
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (combined["HOTA"], combined["MOTA"], combined["IDF1"]) == pytest.approx((100, 100, 100))
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def _perturbed_results(gt_path: Path, out: Path, last_frame: int) -> None:
    """Results that end before the gt, with shifted boxes, swapped ids, misses and false positives."""
    gt = read_mot_txt(gt_path)
    rng = np.random.default_rng(3)
    keep = (gt.frame <= last_frame) & (rng.random(len(gt)) > 0.15)
    ids = np.where(gt.frame > last_frame // 2, gt.track_id + 1000 * (gt.track_id % 2), gt.track_id)[keep]
    tlwh = gt.tlwh[keep] + rng.normal(0, 4, (int(keep.sum()), 4)) * [1, 1, 0, 0]
    frames = gt.frame[keep]
    fp = rng.integers(1, last_frame + 1, 10)
    write_results(out, np.concatenate([frames, fp]), np.concatenate([ids, 5000 + np.arange(10)]),
                  np.concatenate([tlwh, np.tile([[5.0, 5.0, 30.0, 80.0]], (10, 1))]))


def _scores_with_padding(monkeypatch, gt_root: Path, results: Path, frames: int) -> dict:
    """Metrics when TrackEval is told the sequence has ``frames`` frames (the rows end earlier)."""
    from mottrack_sdk.eval import mot_eval

    with monkeypatch.context() as patch:
        patch.setattr(mot_eval, "_frames_to_score", lambda gt, res: frames)
        return evaluate_mot(gt_root, results).per_sequence


def test_frames_after_the_last_row_change_no_metric(gt_root, tmp_path, monkeypatch):
    write_seqinfo(gt_root / "S", SeqInfo("S", 25.0, 400, 1280, 720))  # rows end at frame 20
    _perturbed_results(gt_root / "S" / "gt" / "gt.txt", tmp_path / "res" / "S.txt", last_frame=14)
    scored = evaluate_mot(gt_root, tmp_path / "res").per_sequence
    assert 0 < scored["S"]["HOTA"] < 100 and scored["S"]["FP"] > 0 and scored["S"]["IDSW"] > 0
    assert scored == _scores_with_padding(monkeypatch, gt_root, tmp_path / "res", 400)


def test_real_mot15_scores_do_not_depend_on_trailing_empty_frames(tud_campus, tmp_path, monkeypatch):
    _perturbed_results(tud_campus / "TUD-Campus" / "gt" / "gt.txt", tmp_path / "res" / "TUD-Campus.txt",
                       last_frame=50)
    scored = evaluate_mot(tud_campus, tmp_path / "res").per_sequence
    assert 0 < scored["COMBINED"]["HOTA"] < 100
    assert scored == _scores_with_padding(monkeypatch, tud_campus, tmp_path / "res", 5000)


def test_a_repeated_sequence_name_is_read_and_scored_once(gt_root, tmp_path, monkeypatch):
    """20 000 repeats of one --sequences name used to read and check its files 20 000 times."""
    import mottrack_sdk.eval.mot_eval as mot_eval

    _results_from_gt(gt_root, tmp_path / "res")
    reads = []
    monkeypatch.setattr(mot_eval, "read_mot_txt", lambda path: reads.append(path) or read_mot_txt(path))
    repeated = evaluate_mot(gt_root, tmp_path / "res", sequences=["S"] * 50).per_sequence
    assert len(reads) == 2 and list(repeated) == ["S", "COMBINED"]  # one gt file and one result file
    assert repeated == evaluate_mot(gt_root, tmp_path / "res", sequences=["S"]).per_sequence


def test_unknown_sequence_names_are_named_briefly(gt_root, tmp_path, capsys):
    _results_from_gt(gt_root, tmp_path / "res")
    code = main(["eval", "--gt", str(gt_root), "--results", str(tmp_path / "res"),
                 "--sequences", "S", *[f"X{i}" + "y" * 5000 for i in range(100)]])
    err = capsys.readouterr().err
    assert code == 2 and "--gt" in err and "no ground truth for 100 sequence(s): ['X0yyy" in err
    assert len(err) < 1000 and "Traceback" not in err
    with pytest.raises(ValueError, match=r"sequences: expected sequence names \(text\), got \[1\]"):
        evaluate_mot(gt_root, tmp_path / "res", sequences=["S", [1]])
