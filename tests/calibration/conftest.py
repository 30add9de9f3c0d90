"""Fixtures of the calibration tests: the in-code tiny graph and small frame sources on disk."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_graph import write_tiny_model

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture()
def tiny_model(tmp_path) -> Path:
    return write_tiny_model(tmp_path / "tiny.onnx")


def _frames(count: int, seed: int, size=(160, 90)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):  # smooth-ish images: random blocks, so activations vary like real frames
        small = rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)
        import cv2

        out.append(cv2.resize(small, size, interpolation=cv2.INTER_LINEAR))
    return out


@pytest.fixture()
def image_folder(tmp_path) -> Path:
    import cv2

    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    for i, frame in enumerate(_frames(12, 1)):
        cv2.imwrite(str(folder / ("sub" if i % 2 else "") / f"{i:03d}.png"), frame)
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture()
def mot_root(tmp_path) -> Path:
    """Two MOTChallenge sequences of 6 frames with ground truth."""
    import cv2

    from mottrack_sdk.io import SeqInfo, write_gt, write_seqinfo

    root = tmp_path / "mot"
    for s in range(2):
        seq = root / f"SEQ-{s}"
        (seq / "img1").mkdir(parents=True)
        for i, frame in enumerate(_frames(6, 10 + s)):
            cv2.imwrite(str(seq / "img1" / f"{i + 1:06d}.jpg"), frame)
        write_seqinfo(seq, SeqInfo(f"SEQ-{s}", 30, 6, 160, 90))
        frames = np.repeat(np.arange(1, 7), 2)
        write_gt(seq / "gt" / "gt.txt", frames, np.tile([1, 2], 6), np.tile([[10, 10, 20, 50], [80, 20, 25, 60]], (6, 1)),
                 np.ones(12))
    return root
