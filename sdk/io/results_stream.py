"""MOTChallenge results written as tracking goes: bounded memory for runs of any length (cameras, streams).

:class:`StreamingResultsWriter` appends each frame's rows (the format of
:func:`mottrack_sdk.io.write_results`: ``frame,id,left,top,width,height,score,-1,-1,-1``, ids ascending
within a frame) to the results file itself and hands them to the OS at the first frame that comes
``flush_seconds`` or more after the last write (so at least every ``flush_seconds`` while frames arrive;
a source that stalls keeps its last rows pending until the next frame or the end), and when it closes.
Another process can follow the file during a run, and an interrupted run keeps what it tracked.

Unlike the project's other outputs this file is not renamed into place at the end (a camera run may
last days); instead it only ever ends at a line boundary: rows are collected as text and written in
whole-line chunks with unbuffered ``os.write`` calls, and the file is fsync'ed when the writer closes,
on success and on error alike.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULT_FLUSH_SECONDS", "StreamingResultsWriter"]

DEFAULT_FLUSH_SECONDS = 2.0
MAX_PENDING_BYTES = 1 << 20  # write earlier than flush_seconds when this much text is waiting


class StreamingResultsWriter:
    """``with StreamingResultsWriter(path) as w: w.add(frame_id, ids, xyxy, scores)`` (see the module docstring).

    ``path`` is created (or truncated) when the block starts, with ordinary permissions. ``rows``
    counts the rows written so far (pending text included)."""

    def __init__(self, path: str | Path, flush_seconds: float = DEFAULT_FLUSH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not flush_seconds > 0:
            raise ValueError(f"flush_seconds: expected a number of seconds > 0, got {flush_seconds}")
        self.path = Path(path)
        self.flush_seconds = float(flush_seconds)
        self._clock = clock
        self._fd: int | None = None
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._last_flush = 0.0
        self.rows = 0

    def __enter__(self) -> "StreamingResultsWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self._last_flush = self._clock()
        return self

    def add(self, frame_id: int, track_ids: np.ndarray, xyxy: np.ndarray, scores: np.ndarray) -> None:
        """One frame's tracks: ``track_ids (N,)`` int, ``xyxy (N, 4)`` pixels, ``scores (N,)``."""
        if self._fd is None:
            raise RuntimeError("StreamingResultsWriter: use it as a context manager")
        ids = np.asarray(track_ids, np.int64).reshape(-1)
        if len(ids):
            boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
            score = np.asarray(scores, np.float64).reshape(-1)
            if not len(boxes) == len(score) == len(ids):
                raise ValueError(f"{self.path}: frame {frame_id}: {len(ids)} ids, {len(boxes)} boxes, {len(score)} scores")
            order = np.argsort(ids, kind="stable")
            text = "".join(f"{frame_id},{i},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{s:.4f},-1,-1,-1\n"
                           for i, (x1, y1, x2, y2), s in zip(ids[order].tolist(), boxes[order].tolist(),
                                                           score[order].tolist()))
            self._pending.append(text)
            self._pending_bytes += len(text)
            self.rows += len(ids)
        if self._pending_bytes >= MAX_PENDING_BYTES or self._clock() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Hand every pending row to the OS now (whole lines)."""
        self._last_flush = self._clock()
        if self._fd is None or not self._pending:
            return
        data = memoryview("".join(self._pending).encode())
        self._pending, self._pending_bytes = [], 0
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def __exit__(self, *exc: Any) -> None:
        if self._fd is None:
            return
        try:
            self.flush()
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
