"""Write synthetic scenes as MOTChallenge sequences, each sequence atomically.

Layout of one sequence (``<root>/<name>/``)::

    img1/000001.jpg ...      frames, JPEG
    gt/gt.txt                frame,id,left,top,width,height,conf=1,class=1,visibility
    synthetic.json           the SceneOptions that produced the sequence (seed included)
    seqinfo.ini              [Sequence] name, imDir, frameRate, seqLength, imWidth, imHeight, imExt

``gt.txt`` and ``seqinfo.ini`` are written with :mod:`mottrack_sdk.io` (the project's one MOTChallenge
writer). A sequence is written in a hidden sibling folder (``.<name>.partial-*``) and renamed into place
when it is whole, so an interrupted or failed run leaves no half-written sequence under its name (and a
previous sequence of that name stays until then); ``seqinfo.ini`` is still written last.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from mottrack_sdk.io import SeqInfo, write_gt, write_json, write_seqinfo
from mottrack_sdk.scenes.generator import SceneGenerator
from mottrack_sdk.scenes.options import SceneOptions

__all__ = ["sequence_base_seed", "sequence_name", "sequence_seed", "write_sequence", "write_sequences"]

IMAGE_DIR = "img1"
IMAGE_EXT = ".jpg"
_SEEDS_PER_BASE = 10_000
_NAME = re.compile(r"SYNTH-(\d+)-")  # sequence_name's prefix


def sequence_seed(base_seed: int, index: int) -> int:
    """Seed of sequence ``index`` of a dataset generated with ``base_seed``: ``base * 10000 + index``.

    Distinct ``(base_seed, index)`` pairs (index < 10000) never share a seed, so a held-out set made
    with another ``base_seed`` never repeats a training sequence.
    """
    if base_seed < 0 or not 0 <= index < _SEEDS_PER_BASE:
        raise ValueError(f"need base_seed >= 0 and 0 <= index < {_SEEDS_PER_BASE}, got {base_seed}, {index}")
    return base_seed * _SEEDS_PER_BASE + index


def sequence_name(base_seed: int, index: int) -> str:
    """Folder name of sequence ``index`` of the dataset ``base_seed``, e.g. ``SYNTH-0-003``."""
    return f"SYNTH-{base_seed}-{index:03d}"


def sequence_base_seed(name: str) -> int | None:
    """The dataset seed in a :func:`sequence_name` folder name (``SYNTH-2-001`` -> 2); None for other names."""
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


def write_sequence(root: str | os.PathLike[str], options: SceneOptions, name: str | None = None,
                   on_frame: Callable[[int], None] | None = None) -> Path:
    """Render ``options`` and write it as ``<root>/<name>`` (default name ``SYNTH-seed<seed>``).

    ``on_frame(frame_id)`` is called after each frame is written (progress bars).
    Returns the sequence folder. Raises ``OSError`` if a file cannot be written or encoded.
    """
    name = name or f"SYNTH-seed{options.seed}"
    seq_dir = Path(root) / name
    # written in a hidden sibling folder and renamed into place at the end: an interrupted or failed run
    # leaves no half-written sequence (a previous one of that name stays until the new one is whole)
    Path(root).mkdir(parents=True, exist_ok=True)
    partial = Path(root) / f".{name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _write_frames(partial, options, name, on_frame)
        if seq_dir.is_dir():
            old = Path(root) / f".{name}.old-{uuid.uuid4().hex[:8]}"
            seq_dir.rename(old)
            partial.rename(seq_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(seq_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return seq_dir


def _write_frames(seq_dir: Path, options: SceneOptions, name: str, on_frame: Callable[[int], None] | None) -> None:
    """The frames, ground truth, options and seqinfo.ini of one sequence, in ``seq_dir``."""
    img_dir = seq_dir / IMAGE_DIR
    img_dir.mkdir(parents=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality]
    rows: list[np.ndarray] = []
    for frame in SceneGenerator(options):
        ok, encoded = cv2.imencode(IMAGE_EXT, frame.image_bgr, params)
        if not ok:
            raise OSError(f"cv2.imencode failed for frame {frame.frame_id} of {name}")
        (img_dir / f"{frame.frame_id:06d}{IMAGE_EXT}").write_bytes(np.asarray(encoded).tobytes())
        rows.append(frame.gt_rows())
        if on_frame is not None:
            on_frame(frame.frame_id)
    gt = np.concatenate(rows) if rows else np.zeros((0, 9))
    write_gt(seq_dir / "gt" / "gt.txt", gt[:, 0], gt[:, 1], gt[:, 2:6], gt[:, 8])
    write_json(seq_dir / "synthetic.json", {"generator": "mottrack_sdk.scenes", "options": asdict(options)})
    write_seqinfo(seq_dir / "seqinfo.ini", SeqInfo(
        name=name, frame_rate=options.fps, seq_length=options.num_frames, im_width=options.width,
        im_height=options.height, im_dir=IMAGE_DIR, im_ext=IMAGE_EXT))


def write_sequences(root: str | os.PathLike[str], count: int, base_seed: int = 0,
                    options: SceneOptions | None = None,
                    on_frame: Callable[[int], None] | None = None) -> list[Path]:
    """Write ``count`` sequences ``SYNTH-<base_seed>-000 ...`` with seeds from :func:`sequence_seed`.

    ``options`` gives everything but the seed (default :class:`SceneOptions`).
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    base = options or SceneOptions()
    return [write_sequence(root, base.with_changes(seed=sequence_seed(base_seed, i)), sequence_name(base_seed, i),
                           on_frame) for i in range(count)]
