"""benchmarks/sweep_tracker_runtime.py: how the shipped model's tracker settings are chosen (grid
parsing, the selection rule, MOT17-mini as clips)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import sweep_tracker_runtime as sweep  # noqa: E402


def test_grid_values_keep_their_types_and_points_come_in_order():
    grid = sweep.parse_grid(["det_thresh=0.4,0.5", "min_hits=2,6", "low_score_thresh=none,0.2", "gating=false"])
    assert grid == {"det_thresh": [0.4, 0.5], "min_hits": [2, 6], "low_score_thresh": [None, 0.2], "gating": [False]}
    assert isinstance(grid["min_hits"][0], int)
    points = sweep.grid_points(grid)
    assert len(points) == 8
    assert points[0] == {"det_thresh": 0.4, "min_hits": 2, "low_score_thresh": None, "gating": False}
    assert points[1]["low_score_thresh"] == 0.2 and points[-1]["det_thresh"] == 0.5  # last key fastest


@pytest.mark.parametrize("items, message", [
    (["det_thresh"], r"--grid 'det_thresh': expected KEY=V1,V2"),
    (["=0.4"], "expected KEY=V1,V2"),
    (["det_thresh="], "expected KEY=V1,V2"),
    (["det_thresh=0.4", "det_thresh=0.5"], "det_thresh: given twice"),
    (["det_thresh=high"], r"det_thresh: 'high' is not a number"),
    (["no_such_option=1"], r"no_such_option.*unknown option"),
    (["min_hits=1"], r"min_hits: expected an integer in \[2"),
    (["det_thresh=0.1", "low_score_thresh=0.2"], r"\{'det_thresh': 0.1, 'low_score_thresh': 0.2\}.*low_score_thresh"),
])
def test_bad_grids_fail_before_any_frame_is_read(items, message):
    with pytest.raises(ValueError, match=message):
        sweep.parse_grid(items)


def _row(**sets):
    return {name: {"MOTA": mota, "IDF1": idf1} for name, (mota, idf1) in sets.items()}


def test_rule_is_the_mean_of_min_mota_idf1_first_on_a_tie():
    rows = [_row(a=(50.0, 70.0), b=(60.0, 40.0)),   # min 50, 40 -> 45
            _row(a=(55.0, 52.0), b=(39.0, 80.0)),   # 52, 39 -> 45.5
            _row(a=(52.0, 60.0), b=(39.0, 39.0))]   # 52, 39 -> 45.5 (tie: the earlier row wins)
    best = sweep.best_row(rows, ["a", "b"])
    assert [r["score"] for r in rows] == [45.0, 45.5, 45.5]
    assert best is rows[1]
    assert sweep.best_row(rows, ["a"]) is rows[1]  # only the sets named count


def test_mot17_mini_ground_truth_holds_only_the_clips_frames(mot17_mini_root):
    """Why the sweep tracks MOT17-mini as it is: TrackEval counts the ground truth of every frame up to
    seqLength, and these files hold rows of the clips' own frames only (no frame is counted as missed)."""
    from mottrack_sdk.io import find_sequences, read_mot_txt
    from mottrack_training.engine.validation import sequence_frames

    for seq in find_sequences(mot17_mini_root):
        frames = [f for f, _ in sequence_frames(seq)[0]]
        assert frames == list(range(1, len(frames) + 1))
        assert set(read_mot_txt(seq / "gt" / "gt.txt").frame.tolist()) <= set(frames)


def test_the_heat_map_is_written_and_needs_two_keys(tmp_path):
    grid = {"det_thresh": [0.4, 0.5], "min_hits": [2, 6], "low_score_thresh": [0.1, 0.2]}
    rows = [{**p, "a": {"MOTA": 10.0 * i, "IDF1": 90.0}} for i, p in enumerate(sweep.grid_points(grid))]
    best = sweep.best_row(rows, ["a"])
    result = {"grid": grid, "modes": {"float": {"rows": rows, "best": {k: best[k] for k in grid}}}}
    sweep.plot_scores(result, tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="at least two keys"):
        sweep.plot_scores({"grid": {"det_thresh": [0.4]}, "modes": {}}, tmp_path / "one.png")


def _stub_sequence(root, name):
    """A sequence folder ``root/name`` with a one-row gt.txt (enough for find_sequences)."""
    (root / name / "gt").mkdir(parents=True)
    (root / name / "gt" / "gt.txt").write_text("1,1,1,1,10,10,1,1,1\n")
    return root / name


def test_synthetic_folders_pool_and_refuse_the_held_out_seed(tmp_path):
    seq = _stub_sequence
    a = [seq(tmp_path / "val", "SYNTH-1-000"), seq(tmp_path / "val", "SYNTH-1-001")]
    b = [seq(tmp_path / "extra", "SYNTH-3-000")]
    pooled = sweep.synthetic_sequences([tmp_path / "val", tmp_path / "extra", tmp_path / "val"])
    assert [p.name for p in pooled] == [p.name for p in a + b]  # pooled once each, in order
    seq(tmp_path / "held", "SYNTH-2-000")
    with pytest.raises(ValueError, match=r"--synthetic .*held: SYNTH-2-000 is of the held-out seed 2"):
        sweep.synthetic_sequences([tmp_path / "val", tmp_path / "held"])
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(ValueError, match=r"--synthetic .*: no MOTChallenge sequences"):
            sweep.synthetic_sequences([folder])


def test_pooled_sequences_from_two_folders_are_scored_together(tmp_path):
    pytest.importorskip("trackeval", reason="scoring needs TrackEval (the eval extra)")
    import numpy as np

    from eval_default_model import score_tracks
    from mottrack_sdk.io import read_mot_txt
    from mottrack_sdk.scenes import SceneOptions, write_sequence

    seqs = [write_sequence(tmp_path / f"part{k}", SceneOptions(width=320, height=180, num_frames=4, seed=k, density=3),
                           f"SYNTH-{k}-000") for k in (1, 3)]
    perfect = {}
    for seq in seqs:  # the ground truth itself as the tracker's output
        gt = read_mot_txt(seq / "gt" / "gt.txt")
        keep = gt.conf > 0
        perfect[seq] = [(int(f), int(i), *map(float, box), 1.0)
                        for f, i, box in zip(gt.frame[keep], gt.track_id[keep], gt.tlwh[keep])]
    assert all(perfect.values()) and seqs[0].parent != seqs[1].parent
    scores = score_tracks(perfect, "MOT17")
    assert scores["MOTA"] == 100.0 and scores["IDF1"] == 100.0
    one = score_tracks({seqs[0]: perfect[seqs[0]], seqs[1]: []}, "MOT17")  # the second folder counts too
    assert one["MOTA"] < 100.0 and one["FN"] == sum(1 for _ in perfect[seqs[1]])
    twin = write_sequence(tmp_path / "part9", SceneOptions(width=320, height=180, num_frames=2, seed=9, density=1),
                          "SYNTH-1-000")
    with pytest.raises(ValueError, match="names must differ"):
        score_tracks({seqs[0]: [], twin: []}, "MOT17")
    assert np.isfinite(scores["HOTA"])


def test_eval_scores_extra_synthetic_seeds_each_on_its_own(tmp_path):
    from eval_default_model import _seed_sets

    seq = _stub_sequence
    five = [seq(tmp_path / "more", "SYNTH-5-000"), seq(tmp_path / "more", "SYNTH-5-001")]
    six = [seq(tmp_path / "more", "SYNTH-6-000")]
    three = [seq(tmp_path / "other", "SYNTH-3-000")]
    sets = _seed_sets([tmp_path / "more", tmp_path / "other"])
    assert list(sets) == [3, 5, 6] and sets[5] == five and sets[6] == six and sets[3] == three
    assert _seed_sets([]) == {}
    seq(tmp_path / "held", "SYNTH-2-000")
    with pytest.raises(ValueError, match=r"--synthetic .*held: seed 2 is the held-out set"):
        _seed_sets([tmp_path / "held"])
    seq(tmp_path / "real", "MOT17-02-FRCNN")
    with pytest.raises(ValueError, match=r"--synthetic .*real: expected SYNTH-<seed>-<i> sequences, found MOT17-02"):
        _seed_sets([tmp_path / "real"])
    with pytest.raises(ValueError, match=r"--synthetic .*missing: .*not found"):
        _seed_sets([tmp_path / "missing"])


def test_eval_gives_ap50_per_sequence_and_per_height_through_the_shipped_model(tmp_path):
    pytest.importorskip("trackeval", reason="scoring needs TrackEval (the eval extra)")
    pytest.importorskip("onnxruntime", reason="the shipped model runs on ONNX Runtime")
    from eval_default_model import HEIGHT_BUCKETS, _tracking
    from mottrack_sdk.detector import default_model_path
    from mottrack_sdk.io import read_mot_txt
    from mottrack_sdk.scenes import SceneOptions, write_sequence

    seqs = [write_sequence(tmp_path, SceneOptions(width=640, height=360, num_frames=3, seed=k, density=4),
                           f"SYNTH-{k}-000") for k in (1, 3)]
    out = _tracking(str(default_model_path(must_exist=True)), seqs, "MOT17", "float", 0.0)
    assert list(out["AP50_per_sequence"]) == ["SYNTH-1-000", "SYNTH-3-000"]
    heights = out["AP50_by_height"]
    assert list(heights) == ["<32", "32-64", "64-128", ">=128"] and len(HEIGHT_BUCKETS) == 4
    # every scored gt box falls in exactly one bucket, measured at the letterbox scale (640x360 -> 640x352)
    gts = [read_mot_txt(s / "gt" / "gt.txt") for s in seqs]
    scored = [g.tlwh[(g.conf == 1) & (g.class_id == 1), 3] * (352 / 360) for g in gts]
    all_heights = [h for part in scored for h in part]
    assert sum(v["gt"] for v in heights.values()) == len(all_heights) > 0
    assert heights["32-64"]["gt"] == sum(32 <= h < 64 for h in all_heights)
    assert all(0.0 <= v["AP50"] <= 100.0 if v["gt"] else v["AP50"] is None for v in heights.values())
    assert heights[">=128"] == {"AP50": None, "gt": 0}  # no figure that tall in a 360-px frame
    assert all(0.0 <= v <= 100.0 for v in out["AP50_per_sequence"].values())
