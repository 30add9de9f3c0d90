"""TrackEval-backed evaluation: perfect scores for ground truth, expected drops for perturbations."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mottrack_sdk.cli.main import main
from mottrack_sdk.eval import evaluate_mot
from mottrack_sdk.io import read_mot_txt, write_gt, write_results, write_seqinfo, SeqInfo


def _gt_as_results(gt_root, seq, out_dir, keep=None, ids=None):
    gt = read_mot_txt(gt_root / seq / "gt" / "gt.txt")
    m = (gt.conf == 1) & (gt.class_id == 1)
    if keep is not None:
        m &= keep(gt)
    track_ids = gt.track_id if ids is None else ids(gt)
    write_results(out_dir / f"{seq}.txt", gt.frame[m], track_ids[m], gt.tlwh[m], np.ones(int(m.sum())))
    return int(((gt.conf == 1) & (gt.class_id == 1)).sum())


@pytest.fixture()
def synthetic_gt(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "gt"
    frames, ids, tlwh = [], [], []
    for f in range(1, 51):
        for i in range(1, 6):
            frames.append(f)
            ids.append(i)
            tlwh.append([100 * i + 2 * f, 50 + rng.uniform(-1, 1), 40, 100])
    write_gt(root / "seq-a" / "gt" / "gt.txt", np.array(frames), np.array(ids), np.array(tlwh), np.ones(len(ids)))
    write_seqinfo(root / "seq-a", SeqInfo("seq-a", 30.0, 50, 1920, 1080))
    return root


def test_ground_truth_against_itself_scores_100(synthetic_gt, tmp_path):
    _gt_as_results(synthetic_gt, "seq-a", tmp_path / "res")
    combined = evaluate_mot(synthetic_gt, tmp_path / "res").combined
    assert combined["HOTA"] == pytest.approx(100) and combined["MOTA"] == pytest.approx(100)
    assert combined["IDF1"] == pytest.approx(100) and combined["IDSW"] == 0


def test_dropping_rows_lowers_mota_by_exactly_the_missed_fraction(synthetic_gt, tmp_path):
    n = _gt_as_results(synthetic_gt, "seq-a", tmp_path / "res", keep=lambda gt: gt.frame % 5 != 0)
    dropped = n // 5
    combined = evaluate_mot(synthetic_gt, tmp_path / "res").combined
    assert combined["FN"] == dropped and combined["FP"] == 0
    assert combined["MOTA"] == pytest.approx(100 * (1 - dropped / n))


def test_swapping_identities_half_way_counts_switches(synthetic_gt, tmp_path):
    # from frame 26 on, tracks 1 and 2 exchange ids: 2 switches, IDF1 drops, MOTA = 1 - 2/250
    def swapped(gt):
        ids = gt.track_id.copy()
        late = gt.frame >= 26
        ids[late & (gt.track_id == 1)] = 2
        ids[late & (gt.track_id == 2)] = 1
        return ids
    _gt_as_results(synthetic_gt, "seq-a", tmp_path / "res", ids=swapped)
    combined = evaluate_mot(synthetic_gt, tmp_path / "res").combined
    assert combined["IDSW"] == 2
    assert combined["MOTA"] == pytest.approx(100 * (1 - 2 / 250))
    assert combined["IDF1"] < 90


def test_real_mot17_ground_truth_scores_100(mot17_root, tmp_path):
    for seq in ("MOT17-05", "MOT17-09"):
        _gt_as_results(mot17_root, seq, tmp_path / "res")
    result = evaluate_mot(mot17_root, tmp_path / "res", sequences=["MOT17-05", "MOT17-09"])
    for name in ("MOT17-05", "MOT17-09", "COMBINED"):
        row = result.per_sequence[name]
        assert (row["HOTA"], row["MOTA"], row["IDF1"]) == pytest.approx((100, 100, 100))


def test_distractor_boxes_are_neither_matched_nor_counted(mot17_root, tmp_path):
    # add tracker boxes exactly on distractor gt rows (class 2/7/8/12): no FP may result
    seq = "MOT17-09"
    gt = read_mot_txt(mot17_root / seq / "gt" / "gt.txt")
    ped = (gt.conf == 1) & (gt.class_id == 1)
    distract = np.isin(gt.class_id, [2, 7, 8, 12])
    assert distract.any()
    keep = ped | distract
    ids = np.where(distract, gt.track_id + 100_000, gt.track_id)
    write_results(tmp_path / "res" / f"{seq}.txt", gt.frame[keep], ids[keep], gt.tlwh[keep])
    combined = evaluate_mot(mot17_root, tmp_path / "res", sequences=[seq]).combined
    assert combined["FP"] == 0 and combined["MOTA"] == pytest.approx(100)


def test_cli_eval_writes_json_and_reports_errors(synthetic_gt, tmp_path, capsys):
    _gt_as_results(synthetic_gt, "seq-a", tmp_path / "res")
    assert main(["eval", "--gt", str(synthetic_gt), "--results", str(tmp_path / "res"),
                 "--json", str(tmp_path / "m.json")]) == 0
    data = json.loads((tmp_path / "m.json").read_text())
    assert set(data) == {"seq-a", "COMBINED"} and data["COMBINED"]["MOTA"] == pytest.approx(100)
    assert {"HOTA", "MOTA", "IDF1"} <= set(data["seq-a"])
    assert main(["eval", "--gt", str(synthetic_gt), "--results", str(tmp_path / "none")]) == 2
    assert "--results" in capsys.readouterr().err


def test_duplicate_ids_in_a_frame_are_rejected(synthetic_gt, tmp_path):
    write_results(tmp_path / "res" / "seq-a.txt", np.array([1, 1]), np.array([3, 3]), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"seq-a\.txt:2: track id 3 appears twice in frame 1 \(also .*seq-a\.txt:1\)"):
        evaluate_mot(synthetic_gt, tmp_path / "res")
