"""Writing one pseudo-labelled sequence in the MOTChallenge layout, all or nothing.

``DATASET/<seq>/`` holds ``img1/000001.jpg ...``, ``gt/gt.txt``, ``seqinfo.ini`` and
``pseudo_label.json`` (settings, teachers, counts, source, licence). Everything is written into
``DATASET/.<seq>.partial/`` and the folder is renamed to ``DATASET/<seq>`` when the sequence is
complete, so a sequence folder that exists is finished (its ``pseudo_label.json`` says
``"complete": true``): that is the done marker a resumed run skips on. A ``.partial`` folder left by
an interrupted run is removed and the sequence redone. Each file inside also goes through
``mottrack_sdk.io.atomic``.

gt rows: ``frame,id,left,top,width,height,conf,class,visibility`` with ``conf = 1, class = 1,
visibility = 1`` for positives and ``conf = 0, class = 1`` for ignore regions (MOT17's convention,
which ``mottrack_training.data.mot`` skips as targets).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.io import SeqInfo, atomic_write, write_json, write_seqinfo
from mottrack_sdk.io.motchallenge import _write_rows  # write_gt has no conf column: ignore rows need conf 0
from mottrack_training.distill.identities import LabelRows

__all__ = ["META_FILE", "MotSequenceWriter", "finished_meta", "finished_sources"]

META_FILE = "pseudo_label.json"


def finished_meta(seq_dir: Path) -> dict[str, Any] | None:
    """The ``pseudo_label.json`` of a finished sequence folder, or None when ``seq_dir`` does not exist.

    Raises:
        ValueError: ``seq_dir`` exists but was not finished by this tool (no complete marker).
    """
    if not seq_dir.exists():
        return None
    meta_path = seq_dir / META_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("complete") is not True:
        raise ValueError(f"--out: {seq_dir} exists but is not a finished pseudo-labelled sequence (no complete "
                         f"{META_FILE}); move it away or choose another --out")
    return meta


def finished_sources(root: Path) -> dict[str, str]:
    """Finished sequences under ``root``: name -> the resolved source path they were labelled from."""
    found = {}
    for meta_path in sorted(root.glob(f"*/{META_FILE}")) if root.is_dir() else []:
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("complete") is True:
                found[meta_path.parent.name] = str(meta["settings"]["source"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # not ours: finished_meta reports it if a source is headed there
    return found


class MotSequenceWriter:
    """``with MotSequenceWriter(root, name, quality) as w: w.add_image(bgr) ...; w.finish(rows, fps, meta)``.

    Images are JPEG (``jpeg_quality`` 1-100) named by their 1-based frame number. Every image of a
    sequence must have the size of the first one. Leaving the block without :meth:`finish` (an error,
    an interrupt) removes the partial folder.
    """

    def __init__(self, root: str | Path, name: str, jpeg_quality: int = 95) -> None:
        if not 1 <= int(jpeg_quality) <= 100:
            raise ValueError(f"--jpeg-quality must be in 1..100, got {jpeg_quality}")
        self.root = Path(root)
        self.name = name
        self.final_dir = self.root / name
        self.partial_dir = self.root / f".{name}.partial"
        self.jpeg_quality = int(jpeg_quality)
        self.frames = 0
        self.size: tuple[int, int] | None = None  # (width, height)
        self._finished = False

    def __enter__(self) -> "MotSequenceWriter":
        if self.partial_dir.exists():
            shutil.rmtree(self.partial_dir)  # an interrupted earlier run: redo the sequence
        (self.partial_dir / "img1").mkdir(parents=True)
        (self.partial_dir / "gt").mkdir()
        return self

    def add_image(self, image_bgr: np.ndarray, where: str = "") -> int:
        """Write the next frame (H, W, 3) uint8 BGR; returns its 1-based frame number."""
        import cv2

        height, width = image_bgr.shape[:2]
        if self.size is None:
            self.size = (width, height)
        elif self.size != (width, height):
            raise ValueError(f"{where or self.name}: image {self.frames + 1} is {width}x{height} but the sequence "
                             f"is {self.size[0]}x{self.size[1]}; a sequence has one image size (put images of "
                             "other sizes in another folder)")
        ok, data = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise ValueError(f"{where or self.name}: OpenCV could not encode frame {self.frames + 1} as JPEG")
        self.frames += 1
        with atomic_write(self.partial_dir / "img1" / f"{self.frames:06d}.jpg", "wb") as fh:
            fh.write(data.tobytes())
        return self.frames

    def finish(self, rows: LabelRows, frame_rate: float, meta: dict[str, Any]) -> Path:
        """Write gt.txt, seqinfo.ini and ``pseudo_label.json`` (``meta`` + ``complete``), then publish
        the folder as ``root/name``. Returns the sequence folder."""
        if self.size is None:
            raise ValueError(f"{self.name}: no frames were read from the source")
        n = len(rows)
        _write_rows(self.partial_dir / "gt" / "gt.txt", rows.frame, rows.track_id, rows.tlwh, rows.conf,
                    np.ones(n), np.ones(n), "{:.0f},{:.0f},{:.4f}")
        write_seqinfo(self.partial_dir / "seqinfo.ini",
                      SeqInfo(name=self.name, frame_rate=round(frame_rate, 4), seq_length=self.frames,
                              im_width=self.size[0], im_height=self.size[1]))
        write_json(self.partial_dir / META_FILE, {**meta, "complete": True})
        if self.final_dir.exists():  # only reached with overwrite: the caller decided to replace it
            shutil.rmtree(self.final_dir)
        os.replace(self.partial_dir, self.final_dir)
        self._finished = True
        return self.final_dir

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self._finished and self.partial_dir.exists():
            shutil.rmtree(self.partial_dir, ignore_errors=True)
