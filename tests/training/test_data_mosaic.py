"""Mosaic augmentation (``DataOptions.mosaic_prob``): cells, boxes that follow their frames, seeding, options."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch")

from mottrack_training.data import DataOptions, MotSequenceDataset  # noqa: E402

NET = (192, 128)
FRAME_W, FRAME_H = 200, 100


@pytest.fixture(scope="module")
def boxes_root(tmp_path_factory) -> Path:
    """One sequence of 6 black frames, each with one white labelled box at its own place."""
    seq = tmp_path_factory.mktemp("mosaic") / "BOXES"
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    rows = []
    for frame in range(1, 7):
        image = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
        x, y, w, h = 10 + 25 * frame, 5 + 8 * frame, 20 + 3 * frame, 40
        image[y:y + h, x:x + w] = 255
        cv2.imwrite(str(seq / "img1" / f"{frame:06d}.png"), image)
        rows.append(f"{frame},{frame},{x},{y},{w},{h},1,1,1.0\n")
    (seq / "gt" / "gt.txt").write_text("".join(rows))
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname=BOXES\nimDir=img1\nframeRate=10\nseqLength=6\n"
                                     f"imWidth={FRAME_W}\nimHeight={FRAME_H}\nimExt=.png\n")
    return seq


def _options(**changes) -> DataOptions:
    return DataOptions(img_size=NET, resize_mode="letterbox", pad_value=114.0, hsv_gains=(0.0, 0.0, 0.0), flip_prob=0.0,
                       min_visibility=0.0, min_box_px=0.0, **changes)


def _pixels(sample) -> np.ndarray:
    return (sample.image.numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)


def test_every_box_follows_its_frame_into_its_cell(boxes_root):
    dataset = MotSequenceDataset(boxes_root, _options(mosaic_prob=1.0, mosaic_max_grid=3))
    grids = set()
    for index in range(len(dataset)):
        sample = dataset[index]
        pixels = _pixels(sample)
        white = pixels[:, :, 0] > 200
        covered = np.zeros_like(white)
        targets = sample.targets.numpy()
        assert 4 <= len(targets) <= 9  # one box per frame, one frame per cell
        grids.add(int(round(np.sqrt(len(targets)))))
        for _, _, cx, cy, w, h in targets:
            x0, x1 = int(round((cx - w / 2) * NET[0])), int(round((cx + w / 2) * NET[0]))
            y0, y1 = int(round((cy - h / 2) * NET[1])), int(round((cy + h / 2) * NET[1]))
            inner = white[y0 + 1:y1 - 1, x0 + 1:x1 - 1]
            assert inner.size and inner.mean() > 0.9  # the box holds its white pixels
            covered[max(y0 - 1, 0):y1 + 1, max(x0 - 1, 0):x1 + 1] = True
        assert not (white & ~covered).any()  # and no white pixel is left without its box
        assert (pixels == 114).any()  # the cells are letterboxed: the 2:1 frames leave padding
        # the sample's own frame is the first cell (top left)
        own = dataset.records[index].labels[0]
        first = sample.targets[0].numpy()
        assert first[1] == own[1] and first[2] < 1 / 2 and first[3] < 1 / 2
    assert grids == {2, 3}


def test_grids_up_to_six_by_six(boxes_root):
    dataset = MotSequenceDataset(boxes_root, _options(mosaic_prob=1.0, mosaic_max_grid=6))
    counts = set()
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            targets = dataset[index].targets.numpy()
            counts.add(len(targets))
            assert (targets[:, 2:4] >= 0).all() and (targets[:, 2:4] <= 1).all()
    assert counts <= {4, 9, 16, 25, 36} and {25, 36} & counts


def test_mosaics_are_seeded_and_off_by_default(boxes_root):
    a = MotSequenceDataset(boxes_root, _options(mosaic_prob=1.0))
    b = MotSequenceDataset(boxes_root, _options(mosaic_prob=1.0))
    for i in range(len(a)):
        assert torch.equal(a[i].image, b[i].image) and torch.equal(a[i].targets, b[i].targets)
    a.set_epoch(1)
    assert any(not torch.equal(a[i].image, b[i].image) for i in range(len(a)))
    plain, off = MotSequenceDataset(boxes_root, _options()), MotSequenceDataset(boxes_root, _options(mosaic_prob=0.0))
    assert all(len(plain[i].targets) == 1 and torch.equal(plain[i].image, off[i].image) for i in range(len(plain)))
    half = MotSequenceDataset(boxes_root, _options(mosaic_prob=0.5))
    counts = [len(half[i].targets) for i in range(len(half))]
    assert set(counts) <= {1, 4} and 1 in counts and 4 in counts


def test_mosaic_options_are_checked():
    with pytest.raises(ValueError, match="mosaic_prob"):
        DataOptions(mosaic_prob=1.5)
    for bad in (1, 7, True, 2.0):
        with pytest.raises(ValueError, match="mosaic_max_grid must be an int from 2 to 6"):
            DataOptions(mosaic_max_grid=bad)


def test_a_bad_drawn_frame_leaves_its_cell_empty_under_skip_bad(boxes_root, tmp_path):
    import shutil

    seq = tmp_path / "BOXES"
    shutil.copytree(boxes_root, seq)
    (seq / "img1" / "000003.png").write_bytes(b"not a png")
    strict = MotSequenceDataset(seq, _options(mosaic_prob=1.0))
    lenient = MotSequenceDataset(seq, _options(mosaic_prob=1.0, skip_bad=True))
    drawn_bad = [i for i in range(len(lenient)) if i != 2]
    with pytest.warns(UserWarning, match="skipping bad image .*000003.png"):
        counts = [len(lenient[i].targets) for i in drawn_bad]
    assert lenient.skipped and all(s.path.endswith("000003.png") for s in lenient.skipped)
    assert min(counts) < 4  # a cell whose frame could not be read holds no box
    from mottrack_training.data import DataFileError

    with pytest.raises(DataFileError, match="000003.png"):
        [strict[i] for i in drawn_bad]
