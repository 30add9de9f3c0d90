"""MOTChallenge text formats and ``seqinfo.ini``.

Rows (comma separated, 1-based frames, boxes as tlwh in pixels):
- ground truth ``gt/gt.txt``: ``frame,id,left,top,width,height,conf,class,visibility``
  (scored rows: conf = 1 and class = 1; classes 2, 7, 8, 12 are distractors). MOT15 files have no
  class or visibility (``frame,id,l,t,w,h,1,-1,-1,-1``): class -1 is a pedestrian
  (:data:`PEDESTRIAN_CLASSES`);
- detections ``det/det.txt``: ``frame,-1,left,top,width,height,score,-1,-1,-1``;
- results ``<seq>.txt``: ``frame,id,left,top,width,height,score,-1,-1,-1``.

Reading checks the form (numbers, columns, whole frames / ids / classes, finite values);
:func:`check_rows` checks what a kind of file must hold (frames inside the sequence, ids, sizes,
one box per id and frame). Every error is a ``ValueError`` naming ``file:line``.
"""
from __future__ import annotations

import configparser
import math
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from mottrack_sdk.io.atomic import atomic_write
from mottrack_sdk.io.path_components import safe_path_component

PEDESTRIAN_CLASSES = (1, -1)  # class 1, or -1: a file without a class column (MOT15)
MAX_SEQUENCE_FRAMES = 1_000_000  # evaluators keep per-frame state: longer sequences are refused
_MAX_WHOLE = 2.0**53  # frames, ids and classes must be whole numbers that float64 holds exactly
# Ten numbers need under 300 characters; a longer line is refused before it is split into fields (so one
# 40 MB line costs kilobytes, not a list of millions of numbers).
MAX_LINE_BYTES = 4096


@dataclass(frozen=True)
class SeqInfo:
    """The ``[Sequence]`` section of ``seqinfo.ini``."""

    name: str
    frame_rate: float
    seq_length: int
    im_width: int
    im_height: int
    im_dir: str = "img1"
    im_ext: str = ".jpg"


@dataclass(frozen=True)
class MotRows:
    """Rows of a MOTChallenge text file as columns (N rows)."""

    frame: np.ndarray       # (N,) int64, 1-based
    track_id: np.ndarray    # (N,) int64 (-1 for detections)
    tlwh: np.ndarray        # (N, 4) float64
    conf: np.ndarray        # (N,) float64: gt 'consider' flag, detection/result score
    class_id: np.ndarray    # (N,) int64 (-1 where the file has none)
    visibility: np.ndarray  # (N,) float64 (-1 where the file has none)
    line: np.ndarray | None = None  # (N,) int64 line of each row in its file (None: not read from one)

    def __len__(self) -> int:
        return len(self.frame)

    def at_frame(self, frame: int) -> "MotRows":
        return self.select(self.frame == frame)

    def select(self, mask: np.ndarray) -> "MotRows":
        return MotRows(self.frame[mask], self.track_id[mask], self.tlwh[mask], self.conf[mask],
                       self.class_id[mask], self.visibility[mask], None if self.line is None else self.line[mask])

    def is_pedestrian(self) -> np.ndarray:
        """(N,) bool: class 1, or -1 (no class column: MOT15)."""
        return np.isin(self.class_id, PEDESTRIAN_CLASSES)

    @property
    def xyxy(self) -> np.ndarray:
        return np.concatenate([self.tlwh[:, :2], self.tlwh[:, :2] + self.tlwh[:, 2:]], axis=1)


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Read ``seqinfo.ini`` (``path`` may be the file or its sequence folder).

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file, for a missing ``[Sequence]`` section or key, a frame rate that is
            not a finite number > 0, a ``seqLength`` outside 1..``MAX_SEQUENCE_FRAMES`` or image sizes < 1.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "seqinfo.ini"
    if path.exists() and not path.is_file():  # e.g. a folder by that name: not "no seqinfo.ini"
        raise ValueError(f"{path}: is not a file (expected the sequence's [Sequence] settings)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: seqinfo.ini not found")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8-sig"), source=str(path))  # a BOM is allowed
        sec = parser["Sequence"]
        info = SeqInfo(name=sec.get("name", path.parent.name), frame_rate=float(sec["frameRate"]),
                       seq_length=int(sec["seqLength"]), im_width=int(sec["imWidth"]),
                       im_height=int(sec["imHeight"]), im_dir=sec.get("imDir", "img1"),
                       im_ext=sec.get("imExt", ".jpg"))
    except (KeyError, ValueError, configparser.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise ValueError(f"{path}: expected a [Sequence] section with frameRate, seqLength, imWidth, "
                         f"imHeight ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not (math.isfinite(info.frame_rate) and info.frame_rate > 0):
        raise ValueError(f"{path}: frameRate: expected a number > 0, got {info.frame_rate}")
    if not 1 <= info.seq_length <= MAX_SEQUENCE_FRAMES:
        raise ValueError(f"{path}: seqLength: expected 1 to {MAX_SEQUENCE_FRAMES:,} frames, got {info.seq_length}")
    if info.im_width < 1 or info.im_height < 1:
        raise ValueError(f"{path}: imWidth / imHeight: expected sizes >= 1, got {info.im_width} x {info.im_height}")
    safe_path_component(info.im_dir, f"imDir= in {path} (the image folder inside the sequence)")
    return info


def write_seqinfo(path: str | Path, info: SeqInfo) -> None:
    """Write ``seqinfo.ini`` atomically (``path`` may be the sequence folder)."""
    path = Path(path)
    if path.is_dir() or path.suffix != ".ini":
        path = path / "seqinfo.ini"
    for key, value in (("name", info.name), ("imDir", info.im_dir), ("imExt", info.im_ext)):
        if not isinstance(value, str) or any(c in value for c in "\r\n\x00"):
            raise ValueError(f"{path}: {key}: expected one line of text, got {value!r}")
    with atomic_write(path) as fh:
        fh.write(f"[Sequence]\nname={info.name}\nimDir={info.im_dir}\nframeRate={info.frame_rate:g}\n"
                 f"seqLength={info.seq_length}\nimWidth={info.im_width}\nimHeight={info.im_height}\n"
                 f"imExt={info.im_ext}\n")


def read_mot_txt(path: str | Path) -> MotRows:
    """Read a gt / det / results file: 6 to 10 comma-separated numbers per line; missing conf reads as 1,
    missing class and visibility as -1; blank lines are skipped; a UTF-8 byte-order mark at the start
    (as Windows editors write) is skipped. Empty file -> 0 rows.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file when it is a folder, and ``file:line`` for text that is not numbers,
            a line longer than :data:`MAX_LINE_BYTES`, too few columns, NaN or inf, or a frame / id / class
            that is not a whole number (within ±2**53).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder (expected a MOTChallenge text file)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MOTChallenge file not found")
    values, lines = array("d"), array("q")  # 8 bytes per number: memory stays a few times the file's size
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 2), b""), 1):
            if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
                raise ValueError(f"{path}:{lineno}: line longer than {MAX_LINE_BYTES} bytes; expected 6 to 10 "
                                 "comma-separated numbers per line")
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").strip()
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not UTF-8 text ({exc.reason}); expected a MOTChallenge "
                                 "text file") from None
            if not line:
                continue
            parts = line.replace(" ", "").split(",")
            try:
                row = [float(p) for p in parts]
            except ValueError:
                raise ValueError(f"{path}:{lineno}: expected comma-separated numbers, got {line[:80]!r}") from None
            if len(row) < 6:
                raise ValueError(f"{path}:{lineno}: expected at least 6 columns "
                                 f"(frame,id,left,top,width,height), got {len(row)}")
            values.extend(row[:9] if len(row) >= 9 else row + [1.0, -1.0, -1.0][len(row) - 6:])
            lines.append(lineno)
    arr = np.frombuffer(values, dtype=np.float64).reshape(-1, 9)
    line_of = np.frombuffer(lines, dtype=np.int64)
    bad = np.nonzero(~np.isfinite(arr).all(axis=1))[0]
    if len(bad):
        raise ValueError(f"{path}:{line_of[bad[0]]}: expected finite numbers, got NaN or inf")
    whole = arr[:, [0, 1, 7]]
    bad = np.nonzero(((whole != np.floor(whole)) | (np.abs(whole) > _MAX_WHOLE)).any(axis=1))[0]
    if len(bad):
        frame, track, cls = arr[bad[0], [0, 1, 7]]
        raise ValueError(f"{path}:{line_of[bad[0]]}: expected whole numbers for frame, id and class "
                         f"(up to 2**53), got {frame:g}, {track:g}, {cls:g}")
    return MotRows(frame=arr[:, 0].astype(np.int64), track_id=arr[:, 1].astype(np.int64),
                   tlwh=arr[:, 2:6].copy(), conf=arr[:, 6].copy(), class_id=arr[:, 7].astype(np.int64),
                   visibility=arr[:, 8].copy(), line=line_of.copy())


_F32_MAX = float(np.finfo(np.float32).max)  # the tracker's arithmetic (mottrack_sdk.tracking.validation)


def check_rows(rows: MotRows, path: str | Path, kind: Literal["gt", "det", "results"],
               seq_length: int | None = None) -> None:
    """What a ``kind`` of file must hold, beyond its form (see :func:`read_mot_txt`):

    - every kind: frames from 1 to ``seq_length`` (when given);
    - ``gt`` and ``results``: ids >= 0, widths and heights > 0, each id at most once per frame.

    Raises:
        ValueError: naming ``path:line`` of the first offending row.
    """
    if len(rows) == 0:
        return
    where = (lambda i: f"{path}:{rows.line[i]}") if rows.line is not None else (lambda i: f"{path} (row {i + 1})")
    upper = seq_length if seq_length is not None else np.iinfo(np.int64).max
    bad = np.nonzero((rows.frame < 1) | (rows.frame > upper))[0]
    if len(bad):
        limit = f"1..{seq_length} (the sequence's length)" if seq_length is not None else ">= 1"
        raise ValueError(f"{where(bad[0])}: frame {rows.frame[bad[0]]} is outside the sequence's frames {limit}")
    corners = np.concatenate([rows.tlwh[:, :2], rows.tlwh[:, :2] + rows.tlwh[:, 2:]], axis=1)
    bad = np.nonzero((np.abs(corners) > _F32_MAX).any(axis=1))[0]
    if len(bad):  # the tracker computes in float32: such a box would overflow it, far from this file
        raise ValueError(f"{where(bad[0])}: box coordinates beyond the float32 range (±{_F32_MAX:.4g}), got "
                         f"left/top/width/height {rows.tlwh[bad[0]].tolist()}")
    if kind == "det":
        return
    bad = np.nonzero(rows.track_id < 0)[0]
    if len(bad):
        raise ValueError(f"{where(bad[0])}: track id {rows.track_id[bad[0]]} is negative; expected ids >= 0 "
                         f"({'ground truth' if kind == 'gt' else 'results'} name each object with one id)")
    bad = np.nonzero((rows.tlwh[:, 2:] <= 0).any(axis=1))[0]
    if len(bad):
        raise ValueError(f"{where(bad[0])}: expected a positive width and height, got "
                         f"{rows.tlwh[bad[0], 2]:g} x {rows.tlwh[bad[0], 3]:g}")
    order = np.lexsort((rows.track_id, rows.frame))
    same = np.nonzero((np.diff(rows.frame[order]) == 0) & (np.diff(rows.track_id[order]) == 0))[0]
    if len(same):
        first, again = order[same[0]], order[same[0] + 1]
        raise ValueError(f"{where(max(first, again))}: track id {rows.track_id[again]} appears twice in frame "
                         f"{rows.frame[again]} (also {where(min(first, again))})")


def sequence_length(seq_dir: str | Path, rows: MotRows, path: str | Path) -> int:
    """The sequence's number of frames: ``seqLength`` of its ``seqinfo.ini`` when it has one, else the
    last frame in ``rows`` (read from ``path``; refused beyond ``MAX_SEQUENCE_FRAMES``)."""
    seq_dir = Path(seq_dir)
    if (seq_dir / "seqinfo.ini").exists():  # read_seqinfo refuses one that is not a file
        return read_seqinfo(seq_dir).seq_length
    if len(rows) == 0:
        return 1
    last = int(np.argmax(rows.frame))
    if rows.frame[last] > MAX_SEQUENCE_FRAMES:
        line = f":{rows.line[last]}" if rows.line is not None else ""
        raise ValueError(f"{path}{line}: frame {rows.frame[last]} is beyond {MAX_SEQUENCE_FRAMES:,}, the longest "
                         f"sequence accepted (without a seqinfo.ini the last frame sets the length)")
    return max(int(rows.frame[last]), 1)


def write_results(path: str | Path, frame: np.ndarray, track_id: np.ndarray, tlwh: np.ndarray,
                  score: np.ndarray | None = None) -> None:
    """Write tracking results ``frame,id,l,t,w,h,score,-1,-1,-1`` atomically, sorted by frame then id.

    Raises ValueError naming the argument for a column of another length or shape, non-finite values,
    or frames / ids that are not whole numbers (nothing is written then)."""
    n = len(_column(path, frame, "frame"))
    _write_rows(path, frame, track_id, tlwh, ("score", np.ones(n) if score is None else score),
                np.full(n, -1), np.full(n, -1), "{:.4f},-1,-1,-1")


def write_gt(path: str | Path, frame: np.ndarray, track_id: np.ndarray, tlwh: np.ndarray,
             visibility: np.ndarray) -> None:
    """Write ground truth ``frame,id,l,t,w,h,1,1,visibility`` (pedestrians) atomically (checks as
    :func:`write_results`)."""
    n = len(_column(path, frame, "frame"))
    _write_rows(path, frame, track_id, tlwh, ("conf", np.ones(n)), np.ones(n), ("visibility", visibility),
                "{:.0f},{:.0f},{:.4f}")


def write_detections(path: str | Path, frame: np.ndarray, tlwh: np.ndarray, score: np.ndarray) -> None:
    """Write detections ``frame,-1,l,t,w,h,score,-1,-1,-1`` atomically (checks as :func:`write_results`)."""
    n = len(_column(path, frame, "frame"))
    _write_rows(path, frame, np.full(n, -1), tlwh, ("score", score), np.full(n, -1), np.full(n, -1),
                "{:.5f},-1,-1,-1")


def _column(path: str | Path, value: object, name: str, n: int | None = None, whole: bool = False) -> np.ndarray:
    """``value`` as a finite float64 (N,) column (whole numbers within ±2**53 when ``whole``)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {name}: expected an array of numbers ({exc})") from None
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        raise ValueError(f"{path}: {name}: expected shape ({'N' if n is None else n},) (one value per row), "
                         f"got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if whole:
        bad |= (arr != np.floor(arr)) | (np.abs(arr) > _MAX_WHOLE)
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        kind = "whole numbers (up to 2**53)" if whole else "finite numbers"
        raise ValueError(f"{path}: {name}: expected {kind}, got {float(arr[i])!r} at row {i}")
    return arr


def _write_rows(path: str | Path, frame: object, track_id: object, tlwh: object, c7: object, c8: object,
                c9: object, tail_fmt: str) -> None:
    """Check every column (a column is an array, or ``(name, array)`` to name it in errors), then write."""
    f = _column(path, frame, "frame", whole=True)
    n = len(f)
    ids = _column(path, track_id, "track_id", n, whole=True)
    try:
        box = np.asarray(tlwh, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: tlwh: expected an ({n}, 4) array of numbers ({exc})") from None
    if box.shape != (n, 4) and not (n == 0 and box.size == 0):
        raise ValueError(f"{path}: tlwh: expected shape ({n}, 4) of [left, top, width, height], got {box.shape}")
    box = box.reshape(n, 4)
    if not np.isfinite(box).all():
        row = int(np.nonzero(~np.isfinite(box).all(1))[0][0])
        raise ValueError(f"{path}: tlwh: expected finite numbers, row {row} is {box[row].tolist()}")
    named = [c if isinstance(c, tuple) else ("column", c) for c in (c7, c8, c9)]
    cols = [_column(path, value, name, n) for name, value in named]
    frame_i, id_i = f.astype(np.int64), ids.astype(np.int64)
    line = "{},{},{:.2f},{:.2f},{:.2f},{:.2f}," + tail_fmt + "\n"
    order = np.lexsort((id_i, frame_i))
    with atomic_write(path) as fh:
        for i in order.tolist():
            fh.write(line.format(frame_i[i], id_i[i], *box[i], cols[0][i], cols[1][i], cols[2][i]))


def find_sequences(root: str | Path, require: str = "gt/gt.txt") -> list[Path]:
    """Sequence folders under ``root`` (or ``root`` itself) that contain ``require``, sorted by name.

    ``root`` itself is returned as an absolute path (without resolving links), so that its ``name`` is
    the sequence's folder name even for ``.`` or ``..``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: folder not found")
    if (root / require).is_file():
        return [Path(os.path.abspath(root))]
    seqs = sorted(p for p in root.iterdir() if (p / require).is_file())
    if not seqs:
        raise FileNotFoundError(f"{root}: no sequence folders with {require} found")
    return seqs
