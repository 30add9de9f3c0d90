"""The synthetic MOT scene generator: determinism, ground truth consistent with the pixels, CLI."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mottrack_sdk.cli.main import main as cli_main
from mottrack_sdk.io import read_mot_txt, read_seqinfo
from mottrack_sdk.scenes import (SceneGenerator, SceneOptions, sequence_base_seed, sequence_name, sequence_seed,
                                 write_sequence)

SMALL = dict(width=320, height=192, num_frames=4)


@pytest.fixture(scope="module")
def frames() -> list:
    """40 frames at 480x270, default density and look."""
    return list(SceneGenerator(SceneOptions(width=480, height=270, num_frames=40, seed=11)))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_writes_the_same_bytes(tmp_path):
    a = write_sequence(tmp_path / "a", SceneOptions(seed=5, **SMALL), name="S")
    b = write_sequence(tmp_path / "b", SceneOptions(seed=5, **SMALL), name="S")
    files_a, files_b = _files(a), _files(b)
    assert sorted(files_a) == ["gt/gt.txt", "img1/000001.jpg", "img1/000002.jpg", "img1/000003.jpg",
                               "img1/000004.jpg", "seqinfo.ini", "synthetic.json"]
    assert files_a == files_b
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporary files


def test_different_seeds_differ():
    one = next(iter(SceneGenerator(SceneOptions(seed=1, **SMALL))))
    two = next(iter(SceneGenerator(SceneOptions(seed=2, **SMALL))))
    assert not np.array_equal(one.image_bgr, two.image_bgr)
    assert one.tlwh.shape != two.tlwh.shape or not np.array_equal(one.tlwh, two.tlwh)


def test_iterating_twice_gives_identical_frames():
    gen = SceneGenerator(SceneOptions(seed=3, **SMALL))
    first, second = list(gen), list(gen)
    for a, b in zip(first, second):
        assert np.array_equal(a.image_bgr, b.image_bgr) and np.array_equal(a.tlwh, b.tlwh)


def test_written_sequence_matches_in_memory_frames(tmp_path):
    options = SceneOptions(seed=9, **SMALL)
    seq = write_sequence(tmp_path, options, name="SYN")
    info = read_seqinfo(seq)
    assert (info.name, info.seq_length, info.im_width, info.im_height, info.frame_rate, info.im_dir,
            info.im_ext) == ("SYN", 4, 320, 192, 30, "img1", ".jpg")
    gt = read_mot_txt(seq / "gt" / "gt.txt")
    rows = np.concatenate([f.gt_rows() for f in SceneGenerator(options)])
    assert len(gt) == len(rows) > 0
    order = np.lexsort((rows[:, 1], rows[:, 0]))
    assert np.array_equal(gt.frame, rows[order, 0]) and np.array_equal(gt.track_id, rows[order, 1])
    assert np.allclose(gt.tlwh, rows[order, 2:6], atol=0.01)
    assert np.allclose(gt.visibility, rows[order, 8], atol=1e-4)
    assert (gt.conf == 1).all() and (gt.class_id == 1).all()


def test_ground_truth_is_consistent(frames):
    w, h = 480, 270
    for f in frames:
        assert f.image_bgr.shape == (h, w, 3) and f.image_bgr.dtype == np.uint8
        assert len(np.unique(f.ids)) == len(f.ids)
        x, y, bw, bh = f.tlwh.T
        assert (x >= 0).all() and (y >= 0).all() and (x + bw <= w).all() and (y + bh <= h).all()
        assert (bw > 0).all() and (bh > 0).all()
        assert ((f.visibility > 0) & (f.visibility <= 1)).all()


def test_identities_persist_and_move_smoothly(frames):
    moves = []
    for prev, cur in zip(frames, frames[1:]):
        common, ip, ic = np.intersect1d(prev.ids, cur.ids, return_indices=True)
        assert len(common) >= 0.8 * len(cur.ids)  # most people stay from one frame to the next
        centre = lambda b: b[:, :2] + b[:, 2:] / 2  # noqa: E731
        moves.append(np.linalg.norm(centre(prev.tlwh[ip]) - centre(cur.tlwh[ic]), axis=1))
    moves = np.concatenate(moves)
    assert np.median(moves) < 3.0 and np.percentile(moves, 99) < 25.0  # pixels per frame at 480x270


def test_person_sizes_follow_the_height_range(frames):
    scale = 270 / 1080
    tlwh = np.concatenate([f.tlwh for f in frames])
    inside = (tlwh[:, 0] > 1) & (tlwh[:, 1] > 1) & (tlwh[:, 0] + tlwh[:, 2] < 479) & (tlwh[:, 1] + tlwh[:, 3] < 269)
    heights = tlwh[inside, 3]
    assert heights.min() >= 30 * scale - 1 and heights.max() <= 300 * scale + 1
    assert heights.max() / heights.min() > 3  # perspective: a real spread of sizes
    aspect = tlwh[inside, 2] / tlwh[inside, 3]
    assert 0.2 < np.median(aspect) < 0.6


def test_default_density_keeps_at_least_15_people_visible(frames):
    assert min(len(f.ids) for f in frames) >= 15


def test_appearance_groups_are_shared(frames):
    ids, groups = np.concatenate([f.ids for f in frames]), np.concatenate([f.groups for f in frames])
    per_id = dict(zip(ids.tolist(), groups.tolist()))
    assert len(set(per_id.values())) <= SceneOptions().palette_size < len(per_id)
    for f in frames:  # a person's group never changes
        assert all(per_id[i] == g for i, g in zip(f.ids.tolist(), f.groups.tolist()))


def test_boxes_cover_the_drawn_people():
    """Frames minus the same scene without people (same seed, density 0) change only at gt boxes."""
    base = dict(width=480, height=270, num_frames=3, seed=21)
    people = list(SceneGenerator(SceneOptions(**base)))
    empty = list(SceneGenerator(SceneOptions(density=0, **base)))
    for f, e in zip(people, empty):
        changed = np.abs(f.image_bgr.astype(int) - e.image_bgr.astype(int)).max(axis=2) > 40
        covered = np.zeros_like(changed)
        for x, y, bw, bh in f.tlwh.astype(int):
            pad_x, pad_y = int(0.3 * bh) + 2, int(0.06 * bh) + 2  # the ground shadow and blur spill over
            covered[max(y - 2, 0):y + bh + pad_y, max(x - pad_x, 0):x + bw + pad_x] = True
        assert changed.sum() > 0 and (changed & ~covered).sum() <= 0.01 * changed.sum()
        for (x, y, bw, bh), v in zip(f.tlwh.astype(int), f.visibility):
            if v > 0.5 and bh > 10:  # a visible person changed pixels inside its box
                assert changed[y:y + bh, x:x + bw].mean() > 0.1


def test_occlusion_lowers_visibility(frames):
    vis = np.concatenate([f.visibility for f in frames])
    assert (vis < 0.99).any() and (vis == 1.0).mean() > 0.5


def test_options_are_validated():
    with pytest.raises(ValueError, match="SceneOptions.width"):
        SceneOptions(width=0)
    with pytest.raises(ValueError, match="max_height_px"):
        SceneOptions(min_height_px=100, max_height_px=50)
    with pytest.raises(ValueError, match="unknown SceneOptions field"):
        SceneOptions().with_changes(colour="red")
    assert SceneOptions().with_changes(seed=4).seed == 4


def test_sequence_seeds_do_not_collide():
    seeds = {sequence_seed(base, i) for base in range(3) for i in range(50)}
    assert len(seeds) == 150
    assert sequence_name(1, 2) == "SYNTH-1-002"


def test_sequence_names_give_back_their_seed():
    assert [sequence_base_seed(sequence_name(b, i)) for b, i in ((0, 0), (2, 1), (17, 9999))] == [0, 2, 17]
    for other in ("SYNTH-seed4", "MOT17-02-FRCNN", "SYNTH--001", "xSYNTH-2-000", ""):
        assert sequence_base_seed(other) is None


def test_synth_command_writes_sequences(tmp_path, capsys):
    rc = cli_main(["synth", "--out", str(tmp_path), "--sequences", "2", "--seed", "4", "--frames", "2",
                   "--size", "160x96", "--density", "5", "--no-progress"])
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SYNTH-4-000", "SYNTH-4-001"]
    assert read_seqinfo(tmp_path / "SYNTH-4-001").im_width == 160


@pytest.mark.parametrize("args, message", [
    (["--size", "12x"], "--size"), (["--size", "10x10"], "--size"), (["--frames", "0"], "--frames"),
    (["--sequences", "0"], "--sequences"), (["--density", "-1"], "--density"), (["--seed", "-3"], "--seed"),
])
def test_synth_command_names_the_bad_argument(tmp_path, capsys, args, message):
    assert cli_main(["synth", "--out", str(tmp_path), "--no-progress", *args]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
