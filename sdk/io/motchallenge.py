"""MOTChallenge text formats and ``seqinfo.ini``.

Rows (comma separated, 1-based frames, boxes as tlwh in pixels):
- ground truth ``gt/gt.txt``: ``frame,id,left,top,width,height,conf,class,visibility``
  (scored rows: conf = 1 and class = 1; classes 2, 7, 8, 12 are distractors);
- detections ``det/det.txt``: ``frame,-1,left,top,width,height,score,-1,-1,-1``;
- results ``<seq>.txt``: ``frame,id,left,top,width,height,score,-1,-1,-1``.
"""
from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mottrack_sdk.io.atomic import atomic_write


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

    def __len__(self) -> int:
        return len(self.frame)

    def at_frame(self, frame: int) -> "MotRows":
        return self.select(self.frame == frame)

    def select(self, mask: np.ndarray) -> "MotRows":
        return MotRows(self.frame[mask], self.track_id[mask], self.tlwh[mask], self.conf[mask],
                       self.class_id[mask], self.visibility[mask])

    @property
    def xyxy(self) -> np.ndarray:
        return np.concatenate([self.tlwh[:, :2], self.tlwh[:, :2] + self.tlwh[:, 2:]], axis=1)


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Read ``seqinfo.ini`` (``path`` may be the file or its sequence folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "seqinfo.ini"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: seqinfo.ini not found")
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
        sec = parser["Sequence"]
        return SeqInfo(name=sec.get("name", path.parent.name), frame_rate=float(sec["frameRate"]),
                       seq_length=int(sec["seqLength"]), im_width=int(sec["imWidth"]),
                       im_height=int(sec["imHeight"]), im_dir=sec.get("imDir", "img1"),
                       im_ext=sec.get("imExt", ".jpg"))
    except (KeyError, ValueError, configparser.Error) as exc:
        raise ValueError(f"{path}: expected a [Sequence] section with frameRate, seqLength, imWidth, "
                         f"imHeight ({exc})") from exc


def write_seqinfo(path: str | Path, info: SeqInfo) -> None:
    """Write ``seqinfo.ini`` atomically (``path`` may be the sequence folder)."""
    path = Path(path)
    if path.is_dir() or path.suffix != ".ini":
        path = path / "seqinfo.ini"
    with atomic_write(path) as fh:
        fh.write(f"[Sequence]\nname={info.name}\nimDir={info.im_dir}\nframeRate={info.frame_rate:g}\n"
                 f"seqLength={info.seq_length}\nimWidth={info.im_width}\nimHeight={info.im_height}\n"
                 f"imExt={info.im_ext}\n")


def read_mot_txt(path: str | Path) -> MotRows:
    """Read a gt / det / results file. Missing columns 8-9 read as -1. Empty file -> 0 rows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MOTChallenge file not found")
    rows: list[list[float]] = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.replace(" ", "").split(",")
            try:
                values = [float(p) for p in parts]
            except ValueError:
                raise ValueError(f"{path}:{lineno}: expected comma-separated numbers, got {line[:80]!r}") from None
            if len(values) < 6:
                raise ValueError(f"{path}:{lineno}: expected at least 6 columns "
                                 f"(frame,id,left,top,width,height), got {len(values)}")
            rows.append((values + [1.0, -1.0, -1.0, -1.0])[:9] if len(values) < 9 else values[:9])
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 9)
    if len(arr) and not np.isfinite(arr).all():
        raise ValueError(f"{path}: contains NaN or inf values")
    return MotRows(frame=arr[:, 0].astype(np.int64), track_id=arr[:, 1].astype(np.int64),
                   tlwh=arr[:, 2:6].copy(), conf=arr[:, 6].copy(), class_id=arr[:, 7].astype(np.int64),
                   visibility=arr[:, 8].copy())


def write_results(path: str | Path, frame: np.ndarray, track_id: np.ndarray, tlwh: np.ndarray,
                  score: np.ndarray | None = None) -> None:
    """Write tracking results ``frame,id,l,t,w,h,score,-1,-1,-1`` atomically, sorted by frame then id."""
    n = len(frame)
    score = np.ones(n) if score is None else score
    _write_rows(path, frame, track_id, tlwh, score, np.full(n, -1), np.full(n, -1), "{:.4f},-1,-1,-1")


def write_gt(path: str | Path, frame: np.ndarray, track_id: np.ndarray, tlwh: np.ndarray,
             visibility: np.ndarray) -> None:
    """Write ground truth ``frame,id,l,t,w,h,1,1,visibility`` (pedestrians) atomically."""
    n = len(frame)
    _write_rows(path, frame, track_id, tlwh, np.ones(n), np.ones(n), visibility, "{:.0f},{:.0f},{:.4f}")


def write_detections(path: str | Path, frame: np.ndarray, tlwh: np.ndarray, score: np.ndarray) -> None:
    """Write detections ``frame,-1,l,t,w,h,score,-1,-1,-1`` atomically."""
    n = len(frame)
    _write_rows(path, frame, np.full(n, -1), tlwh, score, np.full(n, -1), np.full(n, -1), "{:.5f},-1,-1,-1")


def _write_rows(path: str | Path, frame: np.ndarray, track_id: np.ndarray, tlwh: np.ndarray, c7: np.ndarray,
                c8: np.ndarray, c9: np.ndarray, tail_fmt: str) -> None:
    frame = np.asarray(frame, np.int64).reshape(-1)
    track_id = np.asarray(track_id, np.int64).reshape(-1)
    tlwh = np.asarray(tlwh, np.float64).reshape(-1, 4)
    cols = [np.asarray(c, np.float64).reshape(-1) for c in (c7, c8, c9)]
    if len({len(frame), len(track_id), len(tlwh), *map(len, cols)}) != 1:
        raise ValueError(f"{path}: every column must have one value per row "
                         f"(frame {len(frame)}, id {len(track_id)}, tlwh {len(tlwh)})")
    line = "{},{},{:.2f},{:.2f},{:.2f},{:.2f}," + tail_fmt + "\n"
    order = np.lexsort((track_id, frame))
    with atomic_write(path) as fh:
        for i in order.tolist():
            fh.write(line.format(frame[i], track_id[i], *tlwh[i], cols[0][i], cols[1][i], cols[2][i]))


def find_sequences(root: str | Path, require: str = "gt/gt.txt") -> list[Path]:
    """Sequence folders under ``root`` (or ``root`` itself) that contain ``require``, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: folder not found")
    if (root / require).is_file():
        return [root]
    seqs = sorted(p for p in root.iterdir() if (p / require).is_file())
    if not seqs:
        raise FileNotFoundError(f"{root}: no sequence folders with {require} found")
    return seqs
