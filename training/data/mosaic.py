"""Person-crop mosaics: many small real people per frame from a folder of single-person crops.

Why: the small model misses people a few dozen pixels tall, and the real footage it may learn from
holds few of them (the Intel clips' people are 70-370 px tall). A folder of person crops (one upright
person each, e.g. INRIA Person's 96x160 positives) tiled at small scales gives many small real people
per frame. The mosaics carry no labels of their own: ``mottrack pseudo-label MOSAICS --stills``
labels them with the teacher ensemble like any other footage (one identity per box, uncertain boxes
as ignore regions), so the boxes follow the people, not the crops.

Layout ("shelves"): rows whose heights are drawn log-uniformly in ``[min_height, max_height]`` fill
the frame from the top (a row takes all that is left when less than ``min_height`` would remain
below it); each row holds crops scaled to its height, left to right, the last one cut
by the frame's edge. Crops come in a seeded permutation of the folder (all before any repeats), each
mirrored with probability 0.5. The same crops, options and seed give the same files.

``mottrack mosaic CROPS --out DIR [--count N] [--size WxH] [--rows-px MIN,MAX] [--seed S]`` writes
``DIR/mosaic_00001.jpg`` ... through a temporary folder renamed at the end, so an interrupted run
leaves nothing. The names are numbered: label them with ``--stills`` (else the pseudo-labeller takes
consecutive numbers for a video's frames and links boxes over "time").
"""
from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from mottrack_sdk.io.frame_sources import read_image

MAX_CROP_ASPECT = 20  # a person crop is a few times taller than wide; a 60000x1 strip would be scaled to gigabytes

__all__ = ["MosaicOptions", "list_crops", "mosaic_layout", "write_mosaics"]

CROP_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class MosaicOptions:
    """Frame size (``width``, ``height``), how many frames (``count``), row heights in pixels
    (``min_height``..``max_height``, log-uniform), ``seed`` and the JPEG quality of the files."""

    width: int = 960
    height: int = 540
    count: int = 200
    min_height: int = 48
    max_height: int = 180
    seed: int = 0
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        limits = {"width": (16, 1 << 14), "height": (16, 1 << 14), "count": (1, 10**6), "min_height": (8, 1 << 14),
                  "max_height": (8, 1 << 14), "seed": (0, 2**63 - 1), "jpeg_quality": (1, 100)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"MosaicOptions.{name}: expected an integer in [{low}, {high}], got {value!r}")
        if self.min_height > self.max_height:
            raise ValueError(f"MosaicOptions.min_height: the smallest row height ({self.min_height}) must not exceed "
                             f"the largest ({self.max_height})")
        if self.max_height > self.height:
            raise ValueError(f"MosaicOptions.max_height: the largest row height ({self.max_height}) must not exceed "
                             f"the frame height ({self.height})")


def list_crops(folder: str | Path) -> list[Path]:
    """The crop images of ``folder`` (sorted by name); ``ValueError`` naming the folder when it is
    missing or holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"crops {folder}: not a folder")
    crops = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CROP_SUFFIXES)
    if not crops:
        raise ValueError(f"crops {folder}: no images ({', '.join(CROP_SUFFIXES)}) in it")
    return crops


def mosaic_layout(options: MosaicOptions, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Rows of one frame as (top, height) pixels, covering ``[0, options.height)`` exactly."""
    low, high = math.log(options.min_height), math.log(options.max_height)
    rows: list[tuple[int, int]] = []
    top = 0
    while top < options.height:
        h = int(round(math.exp(rng.uniform(low, high))))
        left = options.height - top  # always >= min_height (see below)
        if left - h < options.min_height:  # what would remain is too short for a row: take it all
            h = left
        rows.append((top, h))
        top += h
    return rows


class _CropStream:
    """Crops in a seeded permutation (all of them before any repeats), decoded on demand."""

    def __init__(self, crops: list[Path], rng: np.random.Generator) -> None:
        self.crops, self.rng = crops, rng
        self.order: list[int] = []

    def next(self) -> np.ndarray:
        if not self.order:
            self.order = list(self.rng.permutation(len(self.crops)))
        path = self.crops[self.order.pop()]
        image, problem = read_image(path)
        if image is None or image.size == 0:
            raise ValueError(f"crop {path}: not a readable image ({problem})")
        if max(image.shape[:2]) > MAX_CROP_ASPECT * min(image.shape[:2]):  # a 60000x1 strip grows to gigabytes
            raise ValueError(f"crop {path}: {image.shape[1]}x{image.shape[0]} pixels, expected a person crop "
                             f"(sides within {MAX_CROP_ASPECT}:1)")
        return image


def _frame(options: MosaicOptions, stream: _CropStream, rng: np.random.Generator) -> np.ndarray:
    canvas = np.empty((options.height, options.width, 3), np.uint8)
    for top, h in mosaic_layout(options, rng):
        x = 0
        while x < options.width:
            crop = stream.next()
            w = max(1, int(round(crop.shape[1] * h / crop.shape[0])))
            tile = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if h < crop.shape[0] else cv2.INTER_LINEAR)
            if rng.random() < 0.5:
                tile = tile[:, ::-1]
            take = min(w, options.width - x)
            canvas[top:top + h, x:x + take] = tile[:, :take]
            x += take
    return canvas


def write_mosaics(crops_folder: str | Path, out: str | Path, options: MosaicOptions | None = None,
                  progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write ``options.count`` mosaics of the crops in ``crops_folder`` to the new folder ``out``.

    Raises ``ValueError`` naming the argument: a crops folder that is missing, empty or holds an
    unreadable image, or an ``out`` that already exists (never overwritten or mixed). The files are
    written to a temporary folder beside ``out`` and renamed at the end.
    """
    options = options or MosaicOptions()
    crops = list_crops(crops_folder)
    out = Path(out)
    if out.exists():
        raise ValueError(f"--out {out}: already exists (choose a new folder)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        rng = np.random.default_rng(options.seed)
        stream = _CropStream(crops, rng)
        digits = max(5, len(str(options.count)))
        for i in range(options.count):
            image = _frame(options, stream, rng)
            path = tmp / f"mosaic_{i + 1:0{digits}d}.jpg"
            if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality]):
                raise OSError(f"{path}: could not write the JPEG")
            if progress is not None:
                progress(1)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(out.iterdir())
